/*
 * Part 10 reading and writing against real files: every readable file of
 * Debian's pydicom test data round-trips byte for byte through read + write
 * in its own transfer syntax; re-encoding between the uncompressed transfer
 * syntaxes (implicit LE, explicit LE, explicit BE, deflated) gives back the
 * same elements; hostile inputs (truncations at every length, corrupted
 * lengths) are rejected with a message naming the offset, never a crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dicom/dataset_internal.h"

#include <dirent.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEST_FILES "/usr/lib/python3/dist-packages/pydicom/data/test_files"

/* Files that are deliberately malformed or not canonical, so no byte-exact round trip. */
static bool round_trip_exempt(const char *name)
{
    static const char *exempt[] = {
        "SC_rgb_jpeg.dcm", /* implicit VR dataset labelled explicit: rewritten as labelled */
        NULL,
    };
    for (int i = 0; exempt[i]; i++)
        if (!strcmp(name, exempt[i]))
            return true;
    return false;
}

static int list_files(char names[][256], int max)
{
    DIR *d = opendir(TEST_FILES);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        size_t l = strlen(e->d_name);
        if (l > 4 && !strcmp(e->d_name + l - 4, ".dcm"))
            snprintf(names[n++], 256, "%s", e->d_name);
    }
    closedir(d);
    return n;
}

static void test_round_trip_pydicom_files(void **state)
{
    (void)state;
    static char names[256][256];
    int n = list_files(names, 256);
    if (n <= 0) {
        print_message("skipped: %s not present (install python3-pydicom)\n", TEST_FILES);
        skip();
    }
    int tried = 0, same = 0;
    for (int i = 0; i < n; i++) {
        char path[512];
        rn_format(path, sizeof path, "%s/%s", TEST_FILES, names[i]);
        RnError err = {0};
        RnDicomFile *f = rn_dicom_read_file(path, NULL, &err);
        if (!f)
            continue; /* rejection is checked against dcmdump by the integration test */
        if (round_trip_exempt(names[i]) || !rn_dicom_file_has_preamble(f)) {
            rn_dicom_file_destroy(f);
            continue;
        }
        tried++;
        size_t len;
        uint8_t *orig = rn_file_read_all(path, 1u << 30, &len, &err);
        assert_non_null(orig);
        RnBuf out = {0};
        RnWriteOptions wo = {.keep_meta = true};
        int rc = rn_dicom_write_buffer(f, &wo, &out, &err);
        if (rc)
            print_message("%s: write failed: %s\n", names[i], err.message);
        assert_int_equal(rc, 0);
        const RnTransferSyntax *ts = rn_transfer_syntax_find(rn_dicom_file_transfer_syntax(f));
        if (ts && ts->deflated) {
            /* zlib output differs between settings: compare the inflated datasets. */
            RnDicomFile *back = rn_dicom_read_memory(out.data, out.len, NULL, &err);
            assert_non_null(back);
            RnBuf a = {0}, b = {0};
            assert_int_equal(rn_dataset_encode(rn_dicom_file_dataset(f), true, false, false, &a, &err), 0);
            assert_int_equal(rn_dataset_encode(rn_dicom_file_dataset(back), true, false, false, &b, &err), 0);
            if (a.len == b.len && memcmp(a.data, b.data, a.len) == 0)
                same++;
            else
                print_message("%s: inflated dataset differs\n", names[i]);
            rn_buf_free(&a);
            rn_buf_free(&b);
            rn_dicom_file_destroy(back);
        } else if (out.len == len && memcmp(out.data, orig, len) == 0) {
            same++;
        } else {
            size_t k = 0;
            while (k < len && k < out.len && out.data[k] == orig[k])
                k++;
            print_message("%s: differs at byte %zu (sizes %zu / %zu)\n", names[i], k, len, out.len);
        }
        rn_buf_free(&out);
        free(orig);
        rn_dicom_file_destroy(f);
    }
    print_message("round trip: %d of %d files byte-identical\n", same, tried);
    assert_true(tried > 40);
    assert_int_equal(same, tried);
}

/* Compares two datasets element by element, values normalised to little endian. */
static void assert_same_dataset(const RnDataset *a, const RnDataset *b, const char *what)
{
    size_t na = rn_dataset_count(a), nb = rn_dataset_count(b), ia = 0, ib = 0;
    while (ia < na || ib < nb) {
        const RnElement *ea = ia < na ? rn_dataset_at(a, ia) : NULL;
        const RnElement *eb = ib < nb ? rn_dataset_at(b, ib) : NULL;
        /* Group lengths are dropped on re-encoding. */
        if (ea && RN_TAG_ELEMENT(ea->tag) == 0) {
            ia++;
            continue;
        }
        if (eb && RN_TAG_ELEMENT(eb->tag) == 0) {
            ib++;
            continue;
        }
        if (!ea || !eb || ea->tag != eb->tag) {
            print_message("%s: element mismatch at (%04X,%04X) vs (%04X,%04X)\n", what,
                          ea ? RN_TAG_GROUP(ea->tag) : 0, ea ? RN_TAG_ELEMENT(ea->tag) : 0,
                          eb ? RN_TAG_GROUP(eb->tag) : 0, eb ? RN_TAG_ELEMENT(eb->tag) : 0);
            fail();
        }
        assert_int_equal(ea->item_count, eb->item_count);
        for (size_t k = 0; k < ea->item_count; k++)
            assert_same_dataset(ea->items[k], eb->items[k], what);
        assert_int_equal(ea->frag_count, eb->frag_count);
        if (ea->vr != RN_VR_SQ && !ea->encapsulated) {
            assert_int_equal(ea->value_len, eb->value_len);
            uint8_t *va = malloc(ea->value_len + 1), *vb = malloc(eb->value_len + 1);
            memcpy(va, ea->value, ea->value_len);
            memcpy(vb, eb->value, eb->value_len);
            if (ea->big_endian)
                rn_value_swap(ea->vr, va, ea->value_len);
            /* b's VR may come from the dictionary (implicit): swap with a's VR. */
            if (eb->big_endian)
                rn_value_swap(ea->vr, vb, eb->value_len);
            if (memcmp(va, vb, ea->value_len) != 0) {
                print_message("%s: value of (%04X,%04X) differs\n", what, RN_TAG_GROUP(ea->tag),
                              RN_TAG_ELEMENT(ea->tag));
                fail();
            }
            free(va);
            free(vb);
        }
        ia++;
        ib++;
    }
}

static void test_reencode_uncompressed(void **state)
{
    (void)state;
    const char *files[] = {"CT_small.dcm", "MR_small.dcm", "MR_small_bigendian.dcm",
                           "rtplan.dcm", "rtstruct.dcm", "image_dfl.dcm", "ExplVR_BigEnd.dcm",
                           "nested_priv_SQ.dcm", "SC_rgb.dcm"};
    const char *syntaxes[] = {RN_UID_IMPLICIT_VR_LE, RN_UID_EXPLICIT_VR_LE, RN_UID_EXPLICIT_VR_BE,
                              RN_UID_DEFLATED_EXPLICIT_VR_LE};
    int done = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[512];
        rn_format(path, sizeof path, "%s/%s", TEST_FILES, files[i]);
        RnError err = {0};
        RnDicomFile *orig = rn_dicom_read_file(path, NULL, &err);
        if (!orig)
            continue;
        for (size_t s = 0; s < 4; s++) {
            RnDicomFile *src = rn_dicom_read_file(path, NULL, &err);
            assert_non_null(src);
            RnBuf out = {0};
            RnWriteOptions wo = {.transfer_syntax = syntaxes[s]};
            int rc = rn_dicom_write_buffer(src, &wo, &out, &err);
            if (rc)
                print_message("%s -> %s: %s\n", files[i], syntaxes[s], err.message);
            assert_int_equal(rc, 0);
            RnDicomFile *back = rn_dicom_read_memory(out.data, out.len, NULL, &err);
            if (!back)
                print_message("%s -> %s: re-read failed: %s\n", files[i], syntaxes[s], err.message);
            assert_non_null(back);
            assert_string_equal(rn_dicom_file_transfer_syntax(back), syntaxes[s]);
            char what[256];
            snprintf(what, sizeof what, "%s -> %s", files[i], syntaxes[s]);
            assert_same_dataset(rn_dicom_file_dataset(orig), rn_dicom_file_dataset(back), what);
            rn_dicom_file_destroy(back);
            rn_dicom_file_destroy(src);
            rn_buf_free(&out);
            done++;
        }
        rn_dicom_file_destroy(orig);
    }
    if (done == 0)
        skip();
    assert_true(done >= 20);
}

/* Builds a small explicit VR LE file in memory with a nested sequence and pixel data. */
static RnBuf make_sample(void)
{
    RnDataset *ds = rn_dataset_create();
    RnError err = {0};
    assert_int_equal(rn_dataset_set_string(ds, RN_TAG_SOPClassUID, 0, "1.2.840.10008.5.1.4.1.1.7", &err), 0);
    assert_int_equal(rn_dataset_set_string(ds, RN_TAG_SOPInstanceUID, 0, "1.2.3.4", &err), 0);
    assert_int_equal(rn_dataset_set_string(ds, RN_TAG_PatientName, 0, "Doe^John", &err), 0);
    RnDataset *item = rn_dataset_add_item(ds, RN_TAG(0x0008, 0x1140), &err);
    assert_non_null(item);
    assert_int_equal(rn_dataset_set_string(item, RN_TAG(0x0008, 0x1150), 0, "1.2.3", &err), 0);
    RnDataset *inner = rn_dataset_add_item(item, RN_TAG(0x0008, 0x9215), &err);
    assert_non_null(inner);
    assert_int_equal(rn_dataset_set_string(inner, RN_TAG(0x0008, 0x0100), 0, "121322", &err), 0);
    assert_int_equal(rn_dataset_set_uint(ds, RN_TAG_Rows, 0, 2, &err), 0);
    assert_int_equal(rn_dataset_set_uint(ds, RN_TAG_Columns, 0, 2, &err), 0);
    uint8_t px[8] = {1, 0, 2, 0, 3, 0, 4, 0};
    assert_int_equal(rn_dataset_set_bytes(ds, RN_TAG_PixelData, RN_VR_OW, px, 8, &err), 0);
    RnDicomFile *f = rn_dicom_file_create_take(ds, RN_UID_EXPLICIT_VR_LE, &err);
    assert_non_null(f);
    RnBuf out = {0};
    assert_int_equal(rn_dicom_write_buffer(f, NULL, &out, &err), 0);
    rn_dicom_file_destroy(f);
    return out;
}

static void test_truncation_never_crashes(void **state)
{
    (void)state;
    RnBuf sample = make_sample();
    RnError err = {0};
    RnDicomFile *f = rn_dicom_read_memory(sample.data, sample.len, NULL, &err);
    assert_non_null(f);
    char name[64];
    assert_int_equal(rn_dataset_get_string(rn_dicom_file_dataset(f), RN_TAG_PatientName, 0, name,
                                           sizeof name, &err), 0);
    assert_string_equal(name, "Doe^John");
    rn_dicom_file_destroy(f);
    int rejected = 0;
    /* Every truncation inside the dataset must be rejected with an offset in the message. */
    for (size_t cut = 133; cut < sample.len; cut++) {
        RnError e2 = {0};
        RnDicomFile *g = rn_dicom_read_memory(sample.data, cut, NULL, &e2);
        if (!g) {
            rejected++;
            assert_non_null(strstr(e2.message, "offset"));
        }
        rn_dicom_file_destroy(g);
    }
    assert_true(rejected > 0);
    /* Corrupt every length byte position with 0xFF and make sure nothing crashes. */
    for (size_t pos = 132; pos < sample.len; pos++) {
        uint8_t *copy = malloc(sample.len);
        memcpy(copy, sample.data, sample.len);
        copy[pos] ^= 0xFF;
        RnError e3 = {0};
        RnDicomFile *g = rn_dicom_read_memory(copy, sample.len, NULL, &e3);
        if (!g)
            assert_true(strlen(e3.message) > 0);
        rn_dicom_file_destroy(g);
        free(copy);
    }
    rn_buf_free(&sample);
}

static void test_deep_nesting_is_bounded(void **state)
{
    (void)state;
    /* 1000 nested undefined-length sequences: must fail on the depth limit, not the stack. */
    RnBuf b = {0};
    for (int i = 0; i < 1000; i++) {
        uint8_t hdr[] = {0x08, 0x00, 0x40, 0x11, 'S', 'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
                         0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF};
        rn_buf_append(&b, hdr, sizeof hdr);
    }
    RnError err = {0};
    RnDataset *ds = rn_dataset_read(b.data, b.len, RN_UID_EXPLICIT_VR_LE, &err);
    assert_null(ds);
    assert_int_equal(err.code, RN_ERR_LIMIT);
    assert_non_null(strstr(err.message, "nested"));
    rn_buf_free(&b);
}

static void test_lazy_header_read(void **state)
{
    (void)state;
    /* A file with a 64 MB pixel data element: reading it must borrow, not copy, the value. */
    char path[] = "/tmp/rn_lazy_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    RnDataset *ds = rn_dataset_create();
    RnError err = {0};
    rn_dataset_set_string(ds, RN_TAG_SOPClassUID, 0, "1.2.840.10008.5.1.4.1.1.7", &err);
    rn_dataset_set_string(ds, RN_TAG_SOPInstanceUID, 0, "1.2.3.5", &err);
    size_t big = 64u << 20;
    uint8_t *px = calloc(1, big);
    assert_int_equal(rn_dataset_set_bytes_take(ds, RN_TAG_PixelData, RN_VR_OB, px, big, &err), 0);
    RnDicomFile *f = rn_dicom_file_create_take(ds, RN_UID_EXPLICIT_VR_LE, &err);
    assert_int_equal(rn_dicom_write_file(f, path, NULL, &err), 0);
    rn_dicom_file_destroy(f);
    close(fd);
    RnDicomFile *g = rn_dicom_read_file(path, NULL, &err);
    assert_non_null(g);
    const RnElement *el = rn_dataset_get(rn_dicom_file_dataset(g), RN_TAG_PixelData);
    assert_non_null(el);
    assert_true(rn_element_is_deferred(el));
    rn_dicom_file_destroy(g);
    RnReadOptions ro = {.stop_before = RN_TAG_PixelData};
    g = rn_dicom_read_file(path, &ro, &err);
    assert_non_null(g);
    assert_false(rn_dataset_has(rn_dicom_file_dataset(g), RN_TAG_PixelData));
    rn_dicom_file_destroy(g);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_pydicom_files),
        cmocka_unit_test(test_reencode_uncompressed),
        cmocka_unit_test(test_truncation_never_crashes),
        cmocka_unit_test(test_deep_nesting_is_bounded),
        cmocka_unit_test(test_lazy_header_read),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
