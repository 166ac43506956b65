/*
 * Shared by the codec fuzz targets (fuzz_rle, fuzz_jpegls, fuzz_j2k): the
 * input is an 8-byte image description (rows and columns as little-endian
 * 16-bit values, samples per pixel, bits allocated, bits stored, flags: bit 0
 * pixel representation, bit 1 planar configuration, bit 2 with 3 samples
 * YBR_RCT; the layout tools/extract_codec_fixtures.py writes for the seeds)
 * followed by one compressed frame, decoded through the public codec registry.
 * Frames are capped at 4 MiB so runs stay fast.
 */
#ifndef RN_FUZZ_CODEC_FRAME_H
#define RN_FUZZ_CODEC_FRAME_H

#include "radnode/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_FRAME ((size_t)4 << 20)

/* Decodes the frame of a fuzz input in transfer syntax ts into a new buffer
 * (caller frees) of *fsize bytes described by *out; NULL when the input is too
 * short, does not decode, or its frame exceeds FUZZ_MAX_FRAME. */
static inline uint8_t *fuzz_decode_frame(const char *ts, const uint8_t *data, size_t size,
                                  RnImageInfo *out, size_t *fsize)
{
    if (size < 8)
        return NULL;
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
    if (rn_codec_decode_frame(ts, &in, src, len, NULL, 0, out, NULL) < 0)
        return NULL;
    *fsize = rn_image_frame_size(out);
    if (*fsize == 0 || *fsize > FUZZ_MAX_FRAME)
        return NULL;
    uint8_t *dst = malloc(*fsize);
    if (!dst)
        return NULL;
    RnError err = {0};
    if (rn_codec_decode_frame(ts, &in, src, len, dst, *fsize, out, &err) != 0) {
        free(dst);
        return NULL;
    }
    return dst;
}

/* Reads every decoded byte, so ASan/MSan object if the decoder left any unwritten. */
static inline void fuzz_touch(const uint8_t *p, size_t n)
{
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < n; i++)
        sink ^= p[i];
    (void)sink;
}

#endif
