/*
 * libFuzzer target for the character set converters: the first byte picks a
 * Specific Character Set (single, multi-byte, ISO 2022 combinations) and a
 * VR; the rest is decoded to UTF-8 and, when that succeeds, encoded back.
 */
#include "radnode/charset.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *sets[] = {
        "",           "ISO_IR 100", "ISO_IR 192",  "GB18030",   "GBK",         "ISO_IR 13",
        "ISO_IR 166", "ISO_IR 144", "ISO_IR 127",  "ISO_IR 126", "ISO_IR 138", "ISO_IR 148",
        "\\ISO 2022 IR 87",         "ISO 2022 IR 13\\ISO 2022 IR 87",
        "\\ISO 2022 IR 149",        "ISO 2022 IR 6\\ISO 2022 IR 58",
        "ISO 2022 IR 100\\ISO 2022 IR 126", "\\ISO 2022 IR 87\\ISO 2022 IR 159",
    };
    static const RnVR vrs[] = {RN_VR_PN, RN_VR_LO, RN_VR_LT, RN_VR_SH, RN_VR_UT, RN_VR_ST};
    if (size < 1)
        return 0;
    const char *cs = sets[data[0] % (sizeof sets / sizeof sets[0])];
    RnVR vr = vrs[(data[0] / 32) % (sizeof vrs / sizeof vrs[0])];
    size_t len = 0;
    char *utf8 = rn_charset_decode(cs, vr, data + 1, size - 1, &len, NULL);
    if (utf8) {
        RnBuf out = {0};
        rn_charset_encode(cs, vr, utf8, &out, NULL);
        rn_buf_free(&out);
        free(utf8);
    }
    return 0;
}
