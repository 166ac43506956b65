/*
 * libFuzzer target for the RLE Lossless decoder (PS3.5 Annex G), through the
 * public codec registry. Input: an 8-byte image description (rows and columns
 * as little-endian 16-bit values, samples per pixel, bits allocated, bits
 * stored, flags: bit 0 pixel representation, bit 1 planar configuration; the
 * layout tools/extract_codec_fixtures.py writes for the seeds) followed by
 * one compressed frame. Frames are capped at 4 MiB so runs stay fast.
 * A frame that decodes is re-encoded with radnode's RLE encoder and must
 * decode back to the same bytes (abort otherwise).
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
    if (rn_codec_decode_frame(RN_UID_RLE_LOSSLESS, &in, src, len, NULL, 0, &out, NULL) < 0)
        return 0;
    size_t fsize = rn_image_frame_size(&out);
    if (fsize == 0 || fsize > FUZZ_MAX_FRAME)
        return 0;
    uint8_t *dst = malloc(fsize);
    if (!dst)
        return 0;
    RnError err = {0};
    if (rn_codec_decode_frame(RN_UID_RLE_LOSSLESS, &in, src, len, dst, fsize, &out, &err) == 0) {
        RnBuf enc = {0};
        if (rn_codec_encode_frame(RN_UID_RLE_LOSSLESS, &out, dst, fsize, &enc, NULL) == 0) {
            uint8_t *again = malloc(fsize);
            if (again) {
                if (rn_codec_decode_frame(RN_UID_RLE_LOSSLESS, &out, enc.data, enc.len, again,
                                          fsize, NULL, NULL) != 0 ||
                    memcmp(again, dst, fsize) != 0)
                    abort(); /* the encoder and decoder disagree */
                free(again);
            }
        }
        rn_buf_free(&enc);
    }
    free(dst);
    return 0;
}
