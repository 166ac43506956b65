/*
 * Unit tests of the report module (include/radnode/report.h): each result
 * object (Comprehensive 3D SR on TID 1500, Secondary Capture, Encapsulated
 * PDF, Key Object Selection, HL7 ORU^R01) is built from the findings fixtures
 * in tests/data/report applied to a DX source made here, written as Part 10,
 * read back and checked attribute by attribute; UIDs must be the same on a
 * second build and change with the model; hostile findings give a clear error
 * or a valid object.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "radnode/report.h"

#define SRC_SOP "1.2.826.0.1.3680043.10.1078.99.1.1.1"
#define SRC_STUDY "1.2.826.0.1.3680043.10.1078.99.1"

static json_t *fixture(const char *name)
{
    const char *root = getenv("RN_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/report/%s", root ? root : ".", name);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j)
        fail_msg("cannot load %s: %s", path, je.text);
    return j;
}

/* A 48x64 DX hand "radiograph" (gradient), written and read back as Part 10. */
static RnDicomFile *make_source(const char *sop, const char *patient_name, const char *charset)
{
    RnError err = {0};
    RnDataset *ds = rn_dataset_create();
    if (charset)
        assert_int_equal(rn_dataset_set_string(ds, RN_TAG_SpecificCharacterSet, RN_VR_CS, charset,
                                               &err), 0);
    struct { RnTag tag; RnVR vr; const char *v; } s[] = {
        {RN_TAG_SOPClassUID, RN_VR_UI, "1.2.840.10008.5.1.4.1.1.1.1"},
        {RN_TAG_SOPInstanceUID, RN_VR_UI, sop},
        {RN_TAG_StudyInstanceUID, RN_VR_UI, SRC_STUDY},
        {RN_TAG_SeriesInstanceUID, RN_VR_UI, SRC_STUDY ".1"},
        {RN_TAG_PatientName, RN_VR_PN, patient_name},
        {RN_TAG_PatientID, RN_VR_LO, "RN-UNIT-7"},
        {RN_TAG_PatientBirthDate, RN_VR_DA, "20140301"},
        {RN_TAG_PatientSex, RN_VR_CS, "F"},
        {RN_TAG_StudyDate, RN_VR_DA, "20240512"},
        {RN_TAG_StudyTime, RN_VR_TM, "101500"},
        {RN_TAG_AccessionNumber, RN_VR_SH, "ACC7"},
        {RN_TAG_Modality, RN_VR_CS, "DX"},
        {RN_TAG_BodyPartExamined, RN_VR_CS, "HAND"},
        {RN_TAG_PhotometricInterpretation, RN_VR_CS, "MONOCHROME2"},
    };
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        assert_int_equal(rn_dataset_set_string(ds, s[i].tag, s[i].vr, s[i].v, &err), 0);
    const uint32_t rows = 64, cols = 48;
    assert_int_equal(rn_dataset_set_uint(ds, RN_TAG_SamplesPerPixel, RN_VR_US, 1, &err), 0);
    assert_int_equal(rn_dataset_set_uint(ds, RN_TAG_Rows, RN_VR_US, rows, &err), 0);
    assert_int_equal(rn_dataset_set_uint(ds, RN_TAG_Columns, RN_VR_US, cols, &err), 0);
    assert_int_equal(rn_dataset_set_uint(ds, RN_TAG_BitsAllocated, RN_VR_US, 16, &err), 0);
    assert_int_equal(rn_dataset_set_uint(ds, RN_TAG_BitsStored, RN_VR_US, 12, &err), 0);
    assert_int_equal(rn_dataset_set_uint(ds, RN_TAG_HighBit, RN_VR_US, 11, &err), 0);
    assert_int_equal(rn_dataset_set_uint(ds, RN_TAG_PixelRepresentation, RN_VR_US, 0, &err), 0);
    uint8_t *pix = malloc(rows * cols * 2);
    for (uint32_t i = 0; i < rows * cols; i++) {
        uint16_t v = (uint16_t)((i % cols) * 40 + (i / cols) * 20);
        pix[2 * i] = (uint8_t)v;
        pix[2 * i + 1] = (uint8_t)(v >> 8);
    }
    assert_int_equal(rn_dataset_set_bytes_take(ds, RN_TAG_PixelData, RN_VR_OW, pix, rows * cols * 2,
                                                &err), 0);
    RnDicomFile *f = rn_dicom_file_create_take(ds, RN_UID_EXPLICIT_VR_LE, &err);
    assert_non_null(f);
    RnBuf b = {0};
    assert_int_equal(rn_dicom_write_buffer(f, NULL, &b, &err), 0);
    rn_dicom_file_destroy(f);
    RnDicomFile *g = rn_dicom_read_memory(b.data, b.len, NULL, &err);
    rn_buf_free(&b);
    assert_non_null(g);
    return g;
}

static const RnReportOptions OPTS = {.content_datetime = "20240512120000"};

/* Writes ds as Part 10 and reads it back (what a PACS would receive). */
static RnDicomFile *roundtrip(const RnDataset *ds)
{
    RnError err = {0};
    RnDataset *copy = rn_dataset_clone(ds, &err);
    assert_non_null(copy);
    RnDicomFile *f = rn_dicom_file_create_take(copy, RN_UID_EXPLICIT_VR_LE, &err);
    assert_non_null(f);
    RnBuf b = {0};
    assert_int_equal(rn_dicom_write_buffer(f, NULL, &b, &err), 0);
    rn_dicom_file_destroy(f);
    RnDicomFile *g = rn_dicom_read_memory(b.data, b.len, NULL, &err);
    rn_buf_free(&b);
    if (!g)
        fail_msg("read back failed: %s", err.message);
    return g;
}

static void expect_str(const RnDataset *ds, RnTag tag, const char *want)
{
    char buf[512] = "";
    if (rn_dataset_get_string(ds, tag, 0, buf, sizeof buf, NULL))
        fail_msg("(%04X,%04X) missing, expected '%s'", RN_TAG_GROUP(tag), RN_TAG_ELEMENT(tag),
                 want);
    if (strcmp(buf, want))
        fail_msg("(%04X,%04X) is '%s', expected '%s'", RN_TAG_GROUP(tag), RN_TAG_ELEMENT(tag), buf,
                 want);
}

static const RnDataset *item(const RnDataset *ds, RnTag seq, size_t i)
{
    const RnElement *el = rn_dataset_get(ds, seq);
    assert_non_null(el);
    assert_true(rn_element_item_count(el) > i);
    return rn_element_item(el, i);
}

/* The content item of parent whose concept name has code value `code` (depth-first). */
static const RnDataset *find_concept(const RnDataset *parent, const char *code)
{
    const RnElement *cs = rn_dataset_get(parent, RN_TAG(0x0040, 0xA730));
    for (size_t i = 0; cs && i < rn_element_item_count(cs); i++) {
        const RnDataset *it = rn_element_item(cs, i);
        const RnElement *cn = rn_dataset_get(it, RN_TAG(0x0040, 0xA043));
        char v[65] = "";
        if (cn && rn_element_item_count(cn))
            rn_dataset_get_string(rn_element_item(cn, 0), RN_TAG(0x0008, 0x0100), 0, v, sizeof v,
                                  NULL);
        if (!strcmp(v, code))
            return it;
        const RnDataset *deeper = find_concept(it, code);
        if (deeper)
            return deeper;
    }
    return NULL;
}

static void test_sr_boneage(void **state)
{
    (void)state;
    json_t *f = fixture("boneage.json");
    RnReportSource src = {make_source(SRC_SOP, "Test^Child", NULL)};
    RnError err = {0};
    RnDataset *sr = rn_report_build_sr(f, &src, 1, &OPTS, &err);
    if (!sr)
        fail_msg("SR: %s", err.message);
    RnDicomFile *rf = roundtrip(sr);
    const RnDataset *ds = rn_dicom_file_dataset(rf);
    expect_str(ds, RN_TAG_SOPClassUID, "1.2.840.10008.5.1.4.1.1.88.34");
    expect_str(ds, RN_TAG_Modality, "SR");
    expect_str(ds, RN_TAG_StudyInstanceUID, SRC_STUDY);
    expect_str(ds, RN_TAG_PatientID, "RN-UNIT-7");
    expect_str(ds, RN_TAG_AccessionNumber, "ACC7");
    expect_str(ds, RN_TAG_SeriesNumber, "9901");
    expect_str(ds, RN_TAG(0x0040, 0xA491), "PARTIAL");
    expect_str(ds, RN_TAG(0x0040, 0xA493), "UNVERIFIED");
    expect_str(ds, RN_TAG(0x0040, 0xA496), "PRELIMINARY");
    expect_str(ds, RN_TAG_ContentDate, "20240512");
    /* No non-ASCII text: no Specific Character Set. */
    assert_false(rn_dataset_has(ds, RN_TAG_SpecificCharacterSet));
    /* Contributing Equipment names the algorithm, Processing Equipment (CID 7005). */
    const RnDataset *ce = item(ds, RN_TAG(0x0018, 0xA001), 0);
    expect_str(ce, RN_TAG_Manufacturer, "radnode");
    expect_str(ce, RN_TAG(0x0018, 0x1020), "1.0.0");
    expect_str(item(ce, RN_TAG(0x0040, 0xA170), 0), RN_TAG(0x0008, 0x0100), "109102");
    char device[RN_UID_MAX + 1];
    assert_int_equal(rn_dataset_get_string(ce, RN_TAG(0x0018, 0x1002), 0, device, sizeof device,
                                           NULL), 0);
    assert_true(rn_uid_is_valid(device));
    /* Evidence: the source image. */
    const RnDataset *ev = item(ds, RN_TAG(0x0040, 0xA375), 0);
    expect_str(ev, RN_TAG_StudyInstanceUID, SRC_STUDY);
    expect_str(item(item(ev, RN_TAG(0x0008, 0x1115), 0), RN_TAG(0x0008, 0x1199), 0),
               RN_TAG(0x0008, 0x1155), SRC_SOP);
    /* Template 1500, the measurement as NUM with UCUM units. */
    expect_str(item(ds, RN_TAG(0x0040, 0xA504), 0), RN_TAG(0x0040, 0xDB00), "1500");
    expect_str(item(ds, RN_TAG(0x0040, 0xA043), 0), RN_TAG(0x0008, 0x0100), "126000");
    const RnDataset *num = find_concept(ds, "85151-9");
    assert_non_null(num);
    expect_str(num, RN_TAG(0x0040, 0xA040), "NUM");
    const RnDataset *mv = item(num, RN_TAG(0x0040, 0xA300), 0);
    expect_str(mv, RN_TAG(0x0040, 0xA30A), "126.4");
    const RnDataset *unit = item(mv, RN_TAG(0x0040, 0x08EA), 0);
    expect_str(unit, RN_TAG(0x0008, 0x0100), "mo");
    expect_str(unit, RN_TAG(0x0008, 0x0102), "UCUM");
    const RnDataset *unc = find_concept(num, "371884006");
    assert_non_null(unc);
    expect_str(item(unc, RN_TAG(0x0040, 0xA300), 0), RN_TAG(0x0040, 0xA30A), "5.1");
    const RnDataset *code = find_concept(ds, "BA-INTERP");
    assert_non_null(code);
    expect_str(item(code, RN_TAG(0x0040, 0xA168), 0), RN_TAG(0x0008, 0x0100), "NORMAL");
    assert_non_null(find_concept(ds, "111001")); /* TID 4019 Algorithm Name */
    assert_non_null(find_concept(ds, "121012")); /* Device Observer UID */
    assert_non_null(find_concept(ds, "112040")); /* Tracking Unique Identifier */
    const RnDataset *proc = find_concept(ds, "121058");
    assert_non_null(proc);
    expect_str(item(proc, RN_TAG(0x0040, 0xA168), 0), RN_TAG(0x0008, 0x0100), "37362-1");
    /* The private scheme is declared. */
    expect_str(item(ds, RN_TAG(0x0008, 0x0110), 0), RN_TAG(0x0008, 0x0102), "99RADNODE");
    rn_dicom_file_destroy(rf);
    rn_dataset_destroy(sr);
    rn_dicom_file_destroy(src.file);
    json_decref(f);
}

static void get_uid(const RnDataset *ds, RnTag tag, char out[RN_UID_MAX + 1])
{
    assert_int_equal(rn_dataset_get_string(ds, tag, 0, out, RN_UID_MAX + 1, NULL), 0);
}

static void test_determinism(void **state)
{
    (void)state;
    json_t *f = fixture("boneage.json");
    RnReportSource src = {make_source(SRC_SOP, "Test^Child", NULL)};
    RnError err = {0};
    RnReportSet a = {0}, b = {0};
    RnReportOptions o = {.objects = RN_REPORT_ALL};
    assert_int_equal(rn_report_build(f, &src, 1, &o, &a, &err), 0);
    assert_int_equal(rn_report_build(f, &src, 1, &o, &b, &err), 0);
    assert_int_equal(a.count, 5);
    assert_int_equal(b.count, 5);
    for (size_t i = 0; i < a.count; i++) {
        assert_int_equal(a.objects[i].kind, b.objects[i].kind);
        assert_string_equal(a.objects[i].sop_instance_uid, b.objects[i].sop_instance_uid);
        assert_string_equal(a.objects[i].name, b.objects[i].name);
        for (size_t j = 0; j < i; j++)
            if (a.objects[i].dataset && a.objects[j].dataset)
                assert_string_not_equal(a.objects[i].sop_instance_uid,
                                        a.objects[j].sop_instance_uid);
        if (a.objects[i].dataset) {
            char s1[RN_UID_MAX + 1], s2[RN_UID_MAX + 1];
            get_uid(a.objects[i].dataset, RN_TAG_SeriesInstanceUID, s1);
            get_uid(b.objects[i].dataset, RN_TAG_SeriesInstanceUID, s2);
            assert_string_equal(s1, s2);
        }
    }
    /* Another model: new instance and device UIDs. */
    char sr1[RN_UID_MAX + 1], sr2[RN_UID_MAX + 1], d1[RN_UID_MAX + 1], d2[RN_UID_MAX + 1];
    assert_int_equal(rn_report_uid(f, &src, 1, RN_REPORT_SR, "instance", sr1, &err), 0);
    assert_int_equal(rn_report_uid(f, &src, 1, RN_REPORT_SR, "device", d1, &err), 0);
    assert_string_equal(sr1, a.objects[0].sop_instance_uid);
    json_object_set_new(json_object_get(json_object_get(f, "algorithm"), "model"), "sha256",
                        json_string("ffff"));
    assert_int_equal(rn_report_uid(f, &src, 1, RN_REPORT_SR, "instance", sr2, &err), 0);
    assert_int_equal(rn_report_uid(f, &src, 1, RN_REPORT_SR, "device", d2, &err), 0);
    assert_string_not_equal(sr1, sr2);
    assert_string_not_equal(d1, d2);
    /* Another source image: new UIDs. */
    RnReportSource other = {make_source(SRC_SOP ".2", "Test^Child", NULL)};
    assert_int_equal(rn_report_uid(f, &other, 1, RN_REPORT_SR, "instance", sr1, &err), 0);
    assert_string_not_equal(sr1, sr2);
    rn_report_set_free(&a);
    rn_report_set_free(&b);
    rn_dicom_file_destroy(src.file);
    rn_dicom_file_destroy(other.file);
    json_decref(f);
}

static void test_sc(void **state)
{
    (void)state;
    json_t *f = fixture("boneage.json");
    RnReportSource src = {make_source(SRC_SOP, "Test^Child", NULL)};
    RnError err = {0};
    RnDataset *sc = rn_report_build_sc(f, &src, 1, &OPTS, &err);
    if (!sc)
        fail_msg("SC: %s", err.message);
    RnDicomFile *rf = roundtrip(sc);
    const RnDataset *ds = rn_dicom_file_dataset(rf);
    expect_str(ds, RN_TAG_SOPClassUID, "1.2.840.10008.5.1.4.1.1.7");
    expect_str(ds, RN_TAG_StudyInstanceUID, SRC_STUDY);
    expect_str(ds, RN_TAG_PhotometricInterpretation, "RGB");
    expect_str(ds, RN_TAG(0x0028, 0x0301), "YES");
    expect_str(ds, RN_TAG(0x0008, 0x0064), "WSD");
    expect_str(item(ds, RN_TAG(0x0008, 0x2112), 0), RN_TAG(0x0008, 0x1155), SRC_SOP);
    int64_t rows = 0, cols = 0, spp = 0;
    assert_int_equal(rn_dataset_get_int(ds, RN_TAG_Rows, 0, &rows, NULL), 0);
    assert_int_equal(rn_dataset_get_int(ds, RN_TAG_Columns, 0, &cols, NULL), 0);
    assert_int_equal(rn_dataset_get_int(ds, RN_TAG_SamplesPerPixel, 0, &spp, NULL), 0);
    assert_int_equal(spp, 3);
    assert_true(rows > 64 && cols >= 48); /* image plus legend panel */
    size_t len = 0;
    const uint8_t *px = rn_element_value(rn_dataset_get(ds, RN_TAG_PixelData), &len);
    assert_non_null(px);
    assert_true(len >= (size_t)(rows * cols * 3));
    /* The overlay colour (bright yellow) and the legend's white text are present. */
    size_t yellow = 0, white = 0;
    for (size_t i = 0; i + 2 < (size_t)(rows * cols * 3); i += 3) {
        if (px[i] > 230 && px[i + 1] > 190 && px[i + 2] < 60)
            yellow++;
        if (px[i] > 240 && px[i + 1] > 240 && px[i + 2] > 240)
            white++;
    }
    assert_true(yellow > 20);
    assert_true(white > 100);
    rn_dicom_file_destroy(rf);
    rn_dataset_destroy(sc);
    rn_dicom_file_destroy(src.file);
    json_decref(f);
}

static void test_pdf(void **state)
{
    (void)state;
    json_t *f = fixture("lungct.json");
    RnReportSource src = {make_source(SRC_SOP, "Test^Child", NULL)};
    RnError err = {0};
    RnDataset *pdf = rn_report_build_pdf(f, &src, 1, &OPTS, &err);
    if (!pdf)
        fail_msg("PDF: %s", err.message);
    RnDicomFile *rf = roundtrip(pdf);
    const RnDataset *ds = rn_dicom_file_dataset(rf);
    expect_str(ds, RN_TAG_SOPClassUID, "1.2.840.10008.5.1.4.1.1.104.1");
    expect_str(ds, RN_TAG_Modality, "DOC");
    expect_str(ds, RN_TAG(0x0042, 0x0012), "application/pdf");
    expect_str(ds, RN_TAG(0x0028, 0x0301), "YES");
    expect_str(item(ds, RN_TAG(0x0040, 0xA043), 0), RN_TAG(0x0008, 0x0100), "18748-4");
    expect_str(item(ds, RN_TAG(0x0042, 0x0013), 0), RN_TAG(0x0008, 0x1155), SRC_SOP);
    size_t len = 0;
    const uint8_t *doc = rn_element_value(rn_dataset_get(ds, RN_TAG(0x0042, 0x0011)), &len);
    int64_t real = 0;
    assert_int_equal(rn_dataset_get_int(ds, RN_TAG(0x0042, 0x0015), 0, &real, NULL), 0);
    assert_non_null(doc);
    assert_true(len % 2 == 0 && (size_t)real <= len && len - (size_t)real <= 1);
    assert_memory_equal(doc, "%PDF-", 5);
    assert_non_null(memmem(doc, (size_t)real, "%%EOF", 5));
    rn_dicom_file_destroy(rf);
    rn_dataset_destroy(pdf);
    rn_dicom_file_destroy(src.file);
    json_decref(f);
}

static void test_kos_and_groups(void **state)
{
    (void)state;
    json_t *f = fixture("lungct.json");
    RnReportSource src = {make_source(SRC_SOP, "Test^Child", NULL)};
    RnError err = {0};
    RnDataset *kos = rn_report_build_kos(f, &src, 1, &OPTS, &err);
    if (!kos)
        fail_msg("KOS: %s", err.message);
    expect_str(kos, RN_TAG_SOPClassUID, "1.2.840.10008.5.1.4.1.1.88.59");
    expect_str(kos, RN_TAG_Modality, "KO");
    expect_str(item(kos, RN_TAG(0x0040, 0xA043), 0), RN_TAG(0x0008, 0x0100), "113000");
    expect_str(item(kos, RN_TAG(0x0040, 0xA504), 0), RN_TAG(0x0040, 0xDB00), "2010");
    assert_non_null(find_concept(kos, "113012"));
    rn_dataset_destroy(kos);
    /* Two nodules: two TID 1501 groups, two tracking UIDs. */
    RnDataset *sr = rn_report_build_sr(f, &src, 1, &OPTS, &err);
    assert_non_null(sr);
    const RnDataset *meas = find_concept(sr, "126010");
    assert_non_null(meas);
    assert_int_equal(rn_element_item_count(rn_dataset_get(meas, RN_TAG(0x0040, 0xA730))), 2);
    /* Nodule 1's finding site (its first measurement's) on its group, once; none on 2 */
    const RnDataset *g1 = item(meas, RN_TAG(0x0040, 0xA730), 0),
                    *g2 = item(meas, RN_TAG(0x0040, 0xA730), 1);
    const RnDataset *site = find_concept(g1, "363698007");
    assert_non_null(site);
    expect_str(site, RN_TAG(0x0040, 0xA010), "HAS CONCEPT MOD");
    expect_str(item(site, RN_TAG(0x0040, 0xA168), 0), RN_TAG(0x0008, 0x0100), "44714003");
    assert_null(find_concept(g2, "363698007"));
    rn_dataset_destroy(sr);
    /* and in the ORU as OBX-20 of that measurement's row */
    RnBuf b = {0};
    if (rn_report_build_oru(f, &src, 1, &OPTS, &b, &err))
        fail_msg("ORU: %s", err.message);
    rn_buf_append_byte(&b, 0);
    const char *obx = strstr((const char *)b.data, "\rOBX|1|NM|118565006^Volume^SCT|1|");
    assert_non_null(obx);
    const char *end = strchr(obx + 1, '\r');
    const char *at = strstr(obx, "|44714003^Upper lobe of left lung^SCT");
    assert_true(at && (!end || at < end));
    size_t bars = 0;
    for (const char *p = obx + 1; p < at; p++)
        bars += *p == '|';
    assert_int_equal(bars, 19); /* the 20th bar, at `at`, opens OBX-20 */
    rn_buf_free(&b);
    rn_dicom_file_destroy(src.file);
    json_decref(f);
}

static void test_chinese(void **state)
{
    (void)state;
    json_t *f = fixture("boneage_zh.json");
    const char *name = "Wang^XiaoMing=王^小明";
    RnReportSource src = {make_source(SRC_SOP, name, "ISO_IR 192")};
    RnError err = {0};
    RnReportOptions o = OPTS;
    o.language = "zh";
    RnDataset *sr = rn_report_build_sr(f, &src, 1, &o, &err);
    if (!sr)
        fail_msg("SR zh: %s", err.message);
    RnDicomFile *rf = roundtrip(sr);
    const RnDataset *ds = rn_dicom_file_dataset(rf);
    expect_str(ds, RN_TAG_SpecificCharacterSet, "ISO_IR 192");
    expect_str(ds, RN_TAG_PatientName, name);
    const RnDataset *tid = find_concept(ds, "112039");
    assert_non_null(tid);
    expect_str(tid, RN_TAG(0x0040, 0xA160), "骨龄");
    expect_str(item(find_concept(ds, "121049"), RN_TAG(0x0040, 0xA168), 0),
               RN_TAG(0x0008, 0x0100), "zh-CN");
    rn_dicom_file_destroy(rf);
    rn_dataset_destroy(sr);
    /* GB18030 when configured. */
    o.charset = "GB18030";
    RnDataset *pdf = rn_report_build_pdf(f, &src, 1, &o, &err);
    if (!pdf)
        fail_msg("PDF GB18030: %s", err.message);
    rf = roundtrip(pdf);
    ds = rn_dicom_file_dataset(rf);
    expect_str(ds, RN_TAG_SpecificCharacterSet, "GB18030");
    expect_str(ds, RN_TAG_PatientName, name);
    rn_dicom_file_destroy(rf);
    rn_dataset_destroy(pdf);
    rn_dicom_file_destroy(src.file);
    json_decref(f);
}

static void test_oru(void **state)
{
    (void)state;
    json_t *f = fixture("boneage.json");
    RnReportSource src = {make_source(SRC_SOP, "Test^Child", NULL)};
    RnError err = {0};
    RnBuf b = {0};
    if (rn_report_build_oru(f, &src, 1, &OPTS, &b, &err))
        fail_msg("ORU: %s", err.message);
    rn_buf_append_byte(&b, 0);
    const char *m = (const char *)b.data;
    assert_non_null(strstr(m, "|ORU^R01^ORU_R01|"));
    assert_non_null(strstr(m, "\rPID|1||RN-UNIT-7^^^^MR||Test^Child||20140301|F"));
    assert_non_null(strstr(m, "|ACC7|"));
    assert_non_null(strstr(m, "\rOBX|1|NM|85151-9^XR Bone age^LN|1|126.4|mo^months^UCUM|"));
    assert_non_null(strstr(m, "|CWE|BA-INTERP^Bone age interpretation^99RADNODE||NORMAL^"));
    assert_non_null(strstr(m, "|TX|19005-8^Impressions^LN|"));
    assert_non_null(strstr(m, "|RAD|P"));
    rn_buf_free(&b);
    rn_dicom_file_destroy(src.file);
    json_decref(f);
}

static int build_all(const char *json_text, RnReportSet *set, RnError *err)
{
    json_error_t je;
    json_t *f = json_loads(json_text, 0, &je);
    if (!f)
        fail_msg("bad test JSON: %s", je.text);
    RnReportSource src = {make_source(SRC_SOP, "Test^Child", NULL)};
    RnReportOptions o = {.objects = RN_REPORT_ALL};
    int rc = rn_report_build(f, &src, 1, &o, set, err);
    rn_dicom_file_destroy(src.file);
    json_decref(f);
    return rc;
}

static void expect_rejected(const char *json_text, const char *message_part)
{
    RnReportSet set = {0};
    RnError err = {0};
    int rc = build_all(json_text, &set, &err);
    if (rc == 0)
        fail_msg("accepted: %s", json_text);
    assert_int_equal(set.count, 0);
    if (!strstr(err.message, message_part))
        fail_msg("error '%s' does not mention '%s'", err.message, message_part);
}

#define M(body) "{\"analyzer\":\"x\",\"measurements\":[" body "]}"
#define CONCEPT "\"concept\":{\"scheme\":\"DCM\",\"value\":\"1\",\"meaning\":\"m\"}"
#define UNIT "\"unit\":{\"ucum\":\"mm\"}"

static void test_hostile(void **state)
{
    (void)state;
    expect_rejected("[]", "not a JSON object");
    expect_rejected("{}", "analyzer");
    expect_rejected("{\"analyzer\":\"x\",\"status\":\"maybe\"}", "status");
    expect_rejected(M("{" CONCEPT ",\"value\":\"12\"," UNIT "}"), "value is not a number");
    expect_rejected(M("{" CONCEPT ",\"value\":1e300," UNIT "}"), "out of range");
    expect_rejected(M("{" CONCEPT ",\"value\":1}"), "unit");
    expect_rejected(M("{" CONCEPT ",\"value\":1," UNIT ",\"finding_site\":\"lung\"}"),
                    "finding_site");
    expect_rejected(M("{\"concept\":{\"scheme\":\"DCM\",\"value\":\"12345678901234567\","
                      "\"meaning\":\"m\"},\"value\":1," UNIT "}"), "code value");
    expect_rejected(M("{\"concept\":{\"scheme\":\"D\\\\CM\",\"value\":\"1\",\"meaning\":\"m\"},"
                      "\"value\":1," UNIT "}"), "scheme");
    expect_rejected(M("{" CONCEPT ",\"value\":1," UNIT ",\"uncertainty\":-1}"), "negative");
    expect_rejected("{\"analyzer\":\"x\",\"overlays\":[{\"kind\":\"star\",\"points\":[[1,2]]}]}",
                    "unknown");
    expect_rejected("{\"analyzer\":\"x\",\"overlays\":[{\"kind\":\"box\",\"points\":[[1,2]]}]}",
                    "at least 2 points");
    /* Too many measurements: a limit, not a giant object. */
    RnBuf big = {0};
    rn_buf_append_str(&big, "{\"analyzer\":\"x\",\"measurements\":[");
    for (int i = 0; i < 300; i++)
        rn_buf_printf(&big, "%s{" CONCEPT ",\"value\":%d," UNIT "}", i ? "," : "", i);
    rn_buf_append_str(&big, "]}");
    rn_buf_append_byte(&big, 0);
    expect_rejected((const char *)big.data, "measurements");
    rn_buf_free(&big);

    /* Odd characters and far-away overlays still give valid objects. */
    RnReportSet set = {0};
    RnError err = {0};
    const char *odd =
        "{\"analyzer\":\"x\",\"measurements\":[{\"group\":\"a\\\\b\\u0001c\\n\"," CONCEPT
        ",\"value\":-0.000012345678901234," UNIT "}],"
        "\"overlays\":[{\"kind\":\"polyline\",\"points\":[[-1e6,5],[1e6,7]],\"label\":\"\\t\"},"
        "{\"kind\":\"circle\",\"points\":[[5,5]],\"radius\":1e9}],"
        "\"text\":{\"en\":[\"\\\\ back\\\\slash \\u00e9 \\ud83d\\ude00\"]}}";
    if (build_all(odd, &set, &err))
        fail_msg("odd findings rejected: %s", err.message);
    assert_int_equal(set.count, 5);
    const RnDataset *tid = find_concept(set.objects[0].dataset, "112039");
    assert_non_null(tid);
    /* UT keeps backslash and newline (no value delimiter in UT); control characters go. */
    expect_str(tid, RN_TAG(0x0040, 0xA160), "a\\bc\n");
    expect_str(set.objects[0].dataset, RN_TAG_SpecificCharacterSet, "ISO_IR 192");
    rn_report_set_free(&set);

    /* A refusal: SR, PDF and HL7 only. */
    json_t *r = fixture("refused.json");
    RnReportSource src = {make_source(SRC_SOP, "Test^Child", NULL)};
    RnReportOptions o = {.objects = RN_REPORT_ALL};
    assert_int_equal(rn_report_build(r, &src, 1, &o, &set, &err), 0);
    assert_int_equal(set.count, 3);
    assert_int_equal(set.objects[0].kind, RN_REPORT_SR);
    assert_int_equal(set.objects[1].kind, RN_REPORT_PDF);
    assert_int_equal(set.objects[2].kind, RN_REPORT_HL7);
    rn_report_set_free(&set);
    /* DICOM objects need a source. */
    assert_true(rn_report_build(r, NULL, 0, &o, &set, &err) < 0);
    rn_dicom_file_destroy(src.file);
    json_decref(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sr_boneage),  cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_sc),          cmocka_unit_test(test_pdf),
        cmocka_unit_test(test_kos_and_groups), cmocka_unit_test(test_chinese),
        cmocka_unit_test(test_oru),         cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
