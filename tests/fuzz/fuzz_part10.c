/*
 * libFuzzer target for the Part 10 / dataset parser: any byte string is read
 * as a file; if it parses, it is dumped through every getter, re-encoded in
 * each uncompressed transfer syntax and read back. Must never crash, hang or
 * leak, whatever the input.
 */
#include "radnode/dicom.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const RnDataset *ds, int depth)
{
    if (depth > 70)
        return;
    for (size_t i = 0; i < rn_dataset_count(ds); i++) {
        const RnElement *el = rn_dataset_at(ds, i);
        char buf[128];
        rn_dataset_get_string(ds, rn_element_tag(el), 0, buf, sizeof buf, NULL);
        free(rn_dataset_get_string_all(ds, rn_element_tag(el), NULL));
        int64_t v;
        double d;
        rn_dataset_get_int(ds, rn_element_tag(el), 0, &v, NULL);
        rn_dataset_get_double(ds, rn_element_tag(el), 0, &d, NULL);
        for (size_t k = 0; k < rn_element_item_count(el); k++)
            walk(rn_element_item(el, k), depth + 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    RnError err = {0};
    RnDicomFile *f = rn_dicom_read_memory(data, size, NULL, &err);
    if (!f)
        return 0;
    walk(rn_dicom_file_dataset(f), 0);
    RnImageInfo info;
    if (rn_image_info_from_dataset(rn_dicom_file_dataset(f), &info, NULL) == 0 &&
        info.number_of_frames < 64) {
        for (uint32_t i = 0; i < info.number_of_frames; i++) {
            const uint8_t *fr;
            size_t len;
            bool owned;
            if (rn_dicom_file_frame(f, i, &fr, &len, &owned, NULL) == 0 && owned)
                free((void *)fr);
        }
    }
    static const char *syntaxes[] = {RN_UID_IMPLICIT_VR_LE, RN_UID_EXPLICIT_VR_LE,
                                     RN_UID_EXPLICIT_VR_BE, RN_UID_DEFLATED_EXPLICIT_VR_LE};
    for (int s = 0; s < 4; s++) {
        RnBuf out = {0};
        RnWriteOptions wo = {.transfer_syntax = syntaxes[s]};
        if (rn_dicom_write_buffer(f, &wo, &out, NULL) == 0) {
            RnDicomFile *g = rn_dicom_read_memory(out.data, out.len, NULL, NULL);
            rn_dicom_file_destroy(g);
        }
        rn_buf_free(&out);
    }
    rn_dicom_file_destroy(f);
    return 0;
}
