/*
 * libFuzzer target for de-identification (PS3.15 Annex E, src/dicom/deid.c):
 * any byte string is read as a Part 10 file and, if it parses, de-identified
 * with the research profile, both with a blanking region (decode, blank,
 * re-encode) and without, then written out. Must never crash, hang or leak;
 * refusals are fine.
 */
#include "radnode/deid.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    RnDeidOptions opt;
    memset(&opt, 0, sizeof opt);
    memcpy(opt.secret, "fuzz-secret-0123456789", 22);
    opt.secret_len = 22;
    rn_deid_options_set_profile(&opt, RN_DEID_PROFILE_RESEARCH);
    for (int pass = 0; pass < 2; pass++) {
        RnDicomFile *f = rn_dicom_read_memory(data, size, NULL, NULL);
        if (!f)
            return 0;
        opt.region_count = (size_t)pass;
        opt.regions[0] = (RnDeidRegion){1, 1, 4, 4};
        RnDeidResult res;
        RnDicomFile *out = rn_deid_file(f, &opt, &res, NULL);
        rn_dicom_file_destroy(f);
        if (out) {
            RnBuf b = {0};
            rn_dicom_write_buffer(out, NULL, &b, NULL);
            rn_buf_free(&b);
            rn_dicom_file_destroy(out);
        }
    }
    return 0;
}
