/*
 * libFuzzer target for the RLE Lossless decoder (PS3.5 Annex G), through the
 * public codec registry; input layout in fuzz_codec_frame.h. A frame that
 * decodes is re-encoded with radnode's RLE encoder and must decode back to
 * the same bytes (abort otherwise).
 */
#include "fuzz_codec_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    RnImageInfo out;
    size_t fsize = 0;
    uint8_t *dst = fuzz_decode_frame(RN_UID_RLE_LOSSLESS, data, size, &out, &fsize);
    if (!dst)
        return 0;
    RnBuf enc = {0};
    if (rn_codec_encode_frame(RN_UID_RLE_LOSSLESS, &out, dst, fsize, &enc, NULL) == 0) {
        uint8_t *again = malloc(fsize);
        if (again) {
            if (rn_codec_decode_frame(RN_UID_RLE_LOSSLESS, &out, enc.data, enc.len, again, fsize,
                                      NULL, NULL) != 0 ||
                memcmp(again, dst, fsize) != 0)
                abort(); /* the encoder and decoder disagree */
            free(again);
        }
    }
    rn_buf_free(&enc);
    free(dst);
    return 0;
}
