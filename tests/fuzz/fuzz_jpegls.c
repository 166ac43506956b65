/*
 * libFuzzer target for the JPEG-LS decoder (PS3.5 A.4.3, CharLS), through the
 * public codec registry; input layout in fuzz_codec_frame.h.
 */
#include "fuzz_codec_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    RnImageInfo out;
    size_t fsize = 0;
    uint8_t *dst = fuzz_decode_frame(RN_UID_JPEG_LS_NEAR_LOSSLESS, data, size, &out, &fsize);
    if (dst)
        fuzz_touch(dst, fsize);
    free(dst);
    return 0;
}
