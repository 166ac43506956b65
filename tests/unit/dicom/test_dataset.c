/*
 * The dataset model: typed setters and getters (text through the Specific
 * Character Set, numbers per VR, multi-valued elements), sequences and
 * nesting, insertion order, removal, cloning, and a Part 10 write/read
 * round trip of a dataset built in memory with a Chinese patient name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "radnode/dicom.h"

#include <stdlib.h>
#include <string.h>

static void test_strings_and_numbers(void **state)
{
    (void)state;
    RnDataset *ds = rn_dataset_create();
    RnError err = {0};
    char buf[128];
    assert_int_equal(rn_dataset_set_string(ds, RN_TAG_ImageType, 0, "ORIGINAL\\PRIMARY\\AXIAL", &err), 0);
    assert_int_equal(rn_dataset_get_string(ds, RN_TAG_ImageType, 2, buf, sizeof buf, &err), 0);
    assert_string_equal(buf, "AXIAL");
    assert_int_equal(rn_element_vm(rn_dataset_get(ds, RN_TAG_ImageType)), 3);
    assert_int_equal(rn_dataset_get_string(ds, RN_TAG_ImageType, 3, buf, sizeof buf, &err), RN_ERR_NOT_FOUND);
    /* Odd-length values are padded (space; NUL for UI) and the padding is not returned. */
    assert_int_equal(rn_dataset_set_string(ds, RN_TAG_Modality, 0, "CTX", &err), 0);
    size_t len;
    rn_element_value(rn_dataset_get(ds, RN_TAG_Modality), &len);
    assert_int_equal(len, 4);
    assert_int_equal(rn_dataset_get_string(ds, RN_TAG_Modality, 0, buf, sizeof buf, &err), 0);
    assert_string_equal(buf, "CTX");
    assert_int_equal(rn_dataset_set_string(ds, RN_TAG_SOPInstanceUID, 0, "1.2.345", &err), 0);
    const uint8_t *v = rn_element_value(rn_dataset_get(ds, RN_TAG_SOPInstanceUID), &len);
    assert_int_equal(len, 8);
    assert_int_equal(v[7], 0);
    /* Numbers: binary VRs and decimal strings. */
    assert_int_equal(rn_dataset_set_uint(ds, RN_TAG_Rows, 0, 512, &err), 0);
    int64_t iv;
    assert_int_equal(rn_dataset_get_int(ds, RN_TAG_Rows, 0, &iv, &err), 0);
    assert_int_equal(iv, 512);
    assert_int_equal(rn_dataset_set_double(ds, RN_TAG_SliceThickness, 0, 1.25, &err), 0);
    double dv;
    assert_int_equal(rn_dataset_get_double(ds, RN_TAG_SliceThickness, 0, &dv, &err), 0);
    assert_true(dv == 1.25);
    assert_int_equal(rn_dataset_set_string(ds, RN_TAG_PixelSpacing, 0, " 0.5\\0.75 ", &err), 0);
    assert_int_equal(rn_dataset_get_double(ds, RN_TAG_PixelSpacing, 1, &dv, &err), 0);
    assert_true(dv == 0.75);
    assert_int_equal(rn_dataset_set_int(ds, RN_TAG_RescaleIntercept, 0, -1024, &err), 0);
    assert_int_equal(rn_dataset_get_int(ds, RN_TAG_RescaleIntercept, 0, &iv, &err), 0);
    assert_int_equal(iv, -1024);
    /* A DS holding a non-number is a parse error naming the tag. */
    assert_int_equal(rn_dataset_set_string(ds, RN_TAG_WindowCenter, 0, "abc", &err), 0);
    assert_int_equal(rn_dataset_get_double(ds, RN_TAG_WindowCenter, 0, &dv, &err), RN_ERR_PARSE);
    assert_non_null(strstr(err.message, "(0028,1050)"));
    /* Elements are kept in ascending tag order whatever the insertion order. */
    for (size_t i = 1; i < rn_dataset_count(ds); i++)
        assert_true(rn_element_tag(rn_dataset_at(ds, i - 1)) < rn_element_tag(rn_dataset_at(ds, i)));
    assert_int_equal(rn_dataset_remove(ds, RN_TAG_Rows), 0);
    assert_false(rn_dataset_has(ds, RN_TAG_Rows));
    assert_int_equal(rn_dataset_remove(ds, RN_TAG_Rows), RN_ERR_NOT_FOUND);
    rn_dataset_destroy(ds);
}

static void test_sequences_and_clone(void **state)
{
    (void)state;
    RnDataset *ds = rn_dataset_create();
    RnError err = {0};
    for (int i = 0; i < 3; i++) {
        RnDataset *item = rn_dataset_add_item(ds, RN_TAG(0x0008, 0x1115), &err);
        assert_non_null(item);
        assert_ptr_equal(rn_dataset_parent(item), ds);
        assert_int_equal(rn_dataset_set_uint(item, RN_TAG_InstanceNumber, RN_VR_IS, (uint64_t)i + 1, &err), 0);
    }
    const RnElement *seq = rn_dataset_get(ds, RN_TAG(0x0008, 0x1115));
    assert_int_equal(rn_element_item_count(seq), 3);
    RnDataset *copy = rn_dataset_clone(ds, &err);
    assert_non_null(copy);
    rn_dataset_destroy(ds);
    seq = rn_dataset_get(copy, RN_TAG(0x0008, 0x1115));
    int64_t n;
    assert_int_equal(rn_dataset_get_int(rn_element_item(seq, 2), RN_TAG_InstanceNumber, 0, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_ptr_equal(rn_dataset_parent(rn_element_item(seq, 0)), copy);
    rn_dataset_destroy(copy);
    rn_dataset_destroy(NULL);
}

static void test_chinese_name_round_trip(void **state)
{
    (void)state;
    const char *sets[] = {"ISO_IR 192", "GB18030", "GBK"};
    for (int s = 0; s < 3; s++) {
        RnDataset *ds = rn_dataset_create();
        RnError err = {0};
        assert_int_equal(rn_dataset_set_string(ds, RN_TAG_SpecificCharacterSet, 0, sets[s], &err), 0);
        assert_int_equal(rn_dataset_set_string(ds, RN_TAG_SOPClassUID, 0, "1.2.840.10008.5.1.4.1.1.7", &err), 0);
        assert_int_equal(rn_dataset_set_string(ds, RN_TAG_SOPInstanceUID, 0, "1.2.3", &err), 0);
        assert_int_equal(rn_dataset_set_string(ds, RN_TAG_PatientName, 0, "Wang^XiaoDong=王^小东=", &err), 0);
        /* Items inherit the character set of their parent. */
        RnDataset *item = rn_dataset_add_item(ds, RN_TAG(0x0040, 0xA730), &err);
        assert_int_equal(rn_dataset_set_string(item, RN_TAG(0x0040, 0xA160), RN_VR_UT, "骨龄 10 岁", &err), 0);
        RnDicomFile *f = rn_dicom_file_create_take(ds, RN_UID_EXPLICIT_VR_LE, &err);
        assert_non_null(f);
        RnBuf out = {0};
        assert_int_equal(rn_dicom_write_buffer(f, NULL, &out, &err), 0);
        rn_dicom_file_destroy(f);
        RnDicomFile *g = rn_dicom_read_memory(out.data, out.len, NULL, &err);
        assert_non_null(g);
        char name[128];
        assert_int_equal(rn_dataset_get_string(rn_dicom_file_dataset(g), RN_TAG_PatientName, 0, name, sizeof name, &err), 0);
        assert_string_equal(name, "Wang^XiaoDong=王^小东=");
        const RnElement *sq = rn_dataset_get(rn_dicom_file_dataset(g), RN_TAG(0x0040, 0xA730));
        char text[128];
        assert_int_equal(rn_dataset_get_string(rn_element_item(sq, 0), RN_TAG(0x0040, 0xA160), 0, text, sizeof text, &err), 0);
        assert_string_equal(text, "骨龄 10 岁");
        if (s > 0) {
            /* In GB18030/GBK the bytes on disk are not UTF-8. */
            assert_null(memmem(out.data, out.len, "王", strlen("王")));
        }
        rn_dicom_file_destroy(g);
        rn_buf_free(&out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings_and_numbers),
        cmocka_unit_test(test_sequences_and_clone),
        cmocka_unit_test(test_chinese_name_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
