/*
 * libFuzzer target for the JPEG decoders (ISO/IEC 10918-1 as used by PS3.5
 * A.4.1), through the public codec API: lossless process 14 and 12-bit
 * extended DCT (radnode's own code) and 8-bit DCT (libjpeg-turbo). The first
 * input byte picks the dataset attributes (bits allocated, photometric, pixel
 * representation); the rest is the JPEG stream, whose frame header supplies
 * rows, columns and samples. A frame that decodes is re-encoded with the SV1
 * encoder and must decode back to the same bytes.
 */
#include "radnode/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TS_SV1 "1.2.840.10008.1.2.4.70"

/* Finds the SOFn segment (B.2.2) and returns a pointer to its parameters. */
static const uint8_t *find_sof(const uint8_t *p, size_t n)
{
    size_t i = 2;
    if (n < 4 || p[0] != 0xFF || p[1] != 0xD8)
        return NULL;
    while (i + 1 < n && p[i] == 0xFF) {
        while (i + 1 < n && p[i + 1] == 0xFF)
            i++;
        if (i + 1 >= n)
            return NULL;
        uint8_t m = p[i + 1];
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD8)) {
            i += 2;
            continue;
        }
        if (i + 4 > n)
            return NULL;
        size_t l = rn_rd16be(p + i + 2);
        if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC)
            return i + 10 <= n ? p + i + 4 : NULL;
        if (l < 2)
            return NULL;
        i += 2 + l;
    }
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const photometric[] = {"RGB", "YBR_FULL_422", "YBR_FULL"};
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    data++;
    size--;
    const uint8_t *sof = find_sof(data, size);
    if (!sof)
        return 0;
    uint32_t precision = sof[0], rows = rn_rd16be(sof + 1), cols = rn_rd16be(sof + 3), nc = sof[5];
    /* Keep each run small; the size limit itself is the caller's (frame vs dataset). */
    if ((uint64_t)rows * cols * nc > (1u << 22))
        return 0;
    RnImageInfo in = {.rows = rows,
                      .columns = cols,
                      .samples_per_pixel = nc,
                      .bits_allocated = (precision > 8 || (flags & 1)) ? 16 : 8,
                      .bits_stored = precision >= 2 && precision <= 16 ? precision : 8,
                      .pixel_representation = (flags >> 3) & 1,
                      .number_of_frames = 1};
    in.high_bit = in.bits_stored - 1;
    snprintf(in.photometric, sizeof in.photometric, "%s",
             nc == 3 ? photometric[((flags >> 1) & 3) % 3] : "MONOCHROME2");
    RnImageInfo out;
    RnError err = {0};
    if (rn_codec_decode_frame(TS_SV1, &in, data, size, NULL, 0, &out, &err) != 0)
        return 0;
    size_t n = (size_t)rows * cols * nc * (in.bits_allocated / 8);
    uint8_t *dst = malloc(n), *again = malloc(n);
    if (dst && again && rn_codec_decode_frame(TS_SV1, &in, data, size, dst, n, &out, &err) == 0) {
        RnBuf enc = {0};
        if (rn_codec_encode_frame(TS_SV1, &out, dst, n, &enc, &err) == 0) {
            if (rn_codec_decode_frame(TS_SV1, &out, enc.data, enc.len, again, n, NULL, &err) != 0 ||
                memcmp(dst, again, n) != 0)
                abort(); /* the encoder must be lossless for any samples */
        }
        rn_buf_free(&enc);
    }
    free(dst);
    free(again);
    return 0;
}
