/*
 * `radnode decode FILE --raw OUT` writes all frames' decoded samples
 * (little-endian, interleaved: the bytes of the equivalent uncompressed Pixel
 * Data); `radnode decode FILE --png OUT.png [--frame N]` renders one frame
 * (1-based, default 1) through the Modality and VOI LUTs to an 8-bit PNG.
 */
#include "cli/commands.h"
#include "radnode/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
    fprintf(stderr, "usage: radnode decode FILE (--raw OUT | --png OUT.png) [--frame N]\n");
    return 2;
}

int rn_cmd_decode(int argc, char **argv)
{
    const char *in = NULL, *raw = NULL, *png = NULL;
    long frame = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--raw") && i + 1 < argc)
            raw = argv[++i];
        else if (!strcmp(argv[i], "--png") && i + 1 < argc)
            png = argv[++i];
        else if (!strcmp(argv[i], "--frame") && i + 1 < argc)
            frame = strtol(argv[++i], NULL, 10);
        else if (argv[i][0] == '-')
            return usage();
        else if (!in)
            in = argv[i];
        else
            return usage();
    }
    if (!in || (!raw && !png) || (frame < 0))
        return usage();
    RnError err = {0};
    RnDicomFile *f = rn_dicom_read_file(in, NULL, &err);
    if (!f) {
        fprintf(stderr, "radnode decode: %s\n", err.message);
        return 1;
    }
    int rc = 0;
    RnImageInfo info;
    if (raw) {
        size_t len = 0;
        uint8_t *data = frame > 0 ? rn_pixel_decode_frame(f, (uint32_t)(frame - 1), &info, &len, &err)
                                  : rn_pixel_decode_all(f, &info, &len, &err);
        if (!data || rn_file_write_atomic(raw, data, len, false, &err)) {
            fprintf(stderr, "radnode decode: %s: %s\n", in, err.message);
            rc = 1;
        }
        free(data);
    }
    if (png && rc == 0) {
        size_t len = 0;
        uint8_t *data = rn_pixel_decode_frame(f, (uint32_t)(frame > 0 ? frame - 1 : 0), &info,
                                              &len, &err);
        RnRendered img = {0};
        if (!data || rn_pixel_render(rn_dicom_file_dataset(f), &info, data, len, &img, &err) ||
            rn_png_write(png, &img, &err)) {
            fprintf(stderr, "radnode decode: %s: %s\n", in, err.message);
            rc = 1;
        }
        rn_rendered_free(&img);
        free(data);
    }
    rn_dicom_file_destroy(f);
    return rc;
}
