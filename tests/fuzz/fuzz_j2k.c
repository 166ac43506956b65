/*
 * libFuzzer target for the JPEG 2000 decoder (PS3.5 A.4.4, OpenJPEG), through the
 * public codec registry. Input: an 8-byte image description (rows and columns
 * as little-endian 16-bit values, samples per pixel, bits allocated, bits
 * stored, flags: bit 0 pixel representation, bit 1 planar configuration; the
 * layout tools/extract_codec_fixtures.py writes for the seeds) followed by
 * one compressed frame. Frames are capped at 4 MiB so runs stay fast.
 * Flag bit 2 with 3 samples sets YBR_RCT (the multiple component transform).
 */
#include "radnode/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_FRAME ((size_t)4 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    RnImageInfo in;
    memset(&in, 0, sizeof in);
    in.rows = rn_rd16le(data);
    in.columns = rn_rd16le(data + 2);
    in.samples_per_pixel = data[4];
    in.bits_allocated = data[5];
    in.bits_stored = data[6];
    in.high_bit = data[6] ? data[6] - 1u : 0;
    in.pixel_representation = data[7] & 1;
    in.planar_configuration = (data[7] >> 1) & 1;
    in.number_of_frames = 1;
    snprintf(in.photometric, sizeof in.photometric, "%s",
             in.samples_per_pixel == 3 ? ((data[7] & 4) ? "YBR_RCT" : "RGB") : "MONOCHROME2");
    const uint8_t *src = data + 8;
    size_t len = size - 8;
    RnImageInfo out;
    if (rn_codec_decode_frame(RN_UID_JPEG2000, &in, src, len, NULL, 0, &out, NULL) < 0)
        return 0;
    size_t fsize = rn_image_frame_size(&out);
    if (fsize == 0 || fsize > FUZZ_MAX_FRAME)
        return 0;
    uint8_t *dst = malloc(fsize);
    if (!dst)
        return 0;
    RnError err = {0};
    if (rn_codec_decode_frame(RN_UID_JPEG2000, &in, src, len, dst, fsize, &out, &err) == 0) {
        /* decoded: every byte of the frame was written (MSan/ASan would object otherwise) */
        volatile uint8_t sink = 0;
        for (size_t i = 0; i < fsize; i++)
            sink ^= dst[i];
        (void)sink;
    }
    free(dst);
    return 0;
}
