/*
 * Unit tests for the ORU^R01 builder (HL7 v2.5.1 chapter 7, 7.3.1): the
 * sample bone age result is built, serialised, parsed back and checked field
 * by field against the profile in docs/hl7.md (MSH, PID, ORC, OBR, NTE, OBX
 * NM/CWE/TX/ST/FT); invalid or hostile content is refused with an error that
 * names the field, never turned into a malformed message.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "unit/hl7/hl7_sample.h"

static void expect(const RnHl7Message *m, const char *path, const char *want)
{
    char buf[1024];
    RnError err = {0};
    if (rn_hl7_get(m, path, buf, sizeof buf, &err) < 0)
        fail_msg("%s: %s", path, err.message);
    if (strcmp(buf, want) != 0)
        fail_msg("%s: '%s', want '%s'", path, buf, want);
}

/* Builds, serialises and re-parses, so every check reads what a RIS would read. */
static RnHl7Message *build_and_reparse(const RnHl7Oru *oru, RnBuf *wire)
{
    RnError err = {0};
    RnHl7Message *m = rn_hl7_oru_build(oru, &err);
    if (!m)
        fail_msg("build: %s", err.message);
    assert_int_equal(rn_hl7_serialize(m, wire, &err), 0);
    rn_hl7_message_destroy(m);
    RnHl7Message *p = rn_hl7_parse(wire->data, wire->len, NULL, &err);
    if (!p)
        fail_msg("reparse: %s", err.message);
    return p;
}

static void test_sample_oru(void **state)
{
    (void)state;
    SampleOru s;
    sample_oru(&s, "ORU-0001");
    RnBuf wire = {0};
    RnHl7Message *m = build_and_reparse(&s.oru, &wire);
    /* Segment order of ORU_R01. */
    const char *order[] = {"MSH", "PID", "ORC", "OBR", "NTE", "NTE",
                           "OBX", "OBX", "OBX", "OBX", "OBX", "OBX"};
    assert_int_equal(rn_hl7_segment_count(m), 12);
    for (size_t i = 0; i < 12; i++)
        assert_string_equal(rn_hl7_segment_name(m, i), order[i]);
    /* No raw line feeds or MLLP block characters in the wire form. */
    assert_null(memchr(wire.data, '\n', wire.len));
    assert_null(memchr(wire.data, 0x1C, wire.len));
    assert_null(memchr(wire.data, 0x0B, wire.len));

    expect(m, "MSH-3", "RADNODE");
    expect(m, "MSH-4", "HOSP");
    expect(m, "MSH-5", "RIS");
    expect(m, "MSH-6", "RADIOLOGY");
    expect(m, "MSH-7", "20240315104500+0800");
    expect(m, "MSH-9-1", "ORU");
    expect(m, "MSH-9-2", "R01");
    expect(m, "MSH-9-3", "ORU_R01");
    expect(m, "MSH-10", "ORU-0001");
    expect(m, "MSH-11", "P");
    expect(m, "MSH-12", "2.5.1");
    expect(m, "MSH-18", "UNICODE UTF-8");

    expect(m, "PID-1", "1");
    expect(m, "PID-3-1", SAMPLE_PATIENT_ID);
    expect(m, "PID-3-4", SAMPLE_AUTHORITY);
    expect(m, "PID-3-5", "MR");
    expect(m, "PID-5-1", SAMPLE_FAMILY);
    expect(m, "PID-5-2", SAMPLE_GIVEN);
    expect(m, "PID-7", "20130301");
    expect(m, "PID-8", "M");

    expect(m, "ORC-1", "RE");
    expect(m, "ORC-2-1", SAMPLE_PLACER);
    expect(m, "ORC-2-2", "RIS");
    expect(m, "ORC-3-1", SAMPLE_FILLER);
    expect(m, "OBR-1", "1");
    expect(m, "OBR-2-1", SAMPLE_PLACER);
    expect(m, "OBR-3-1", SAMPLE_FILLER);
    expect(m, "OBR-3-2", "PACS");
    expect(m, "OBR-4-1", "RN-XR-HAND");
    expect(m, "OBR-4-3", "99RADNODE");
    expect(m, "OBR-7", "20240315101500");
    expect(m, "OBR-18", SAMPLE_ACCESSION);
    expect(m, "OBR-22", "20240315104500+0800");
    expect(m, "OBR-24", "RAD");
    expect(m, "OBR-25", "P");

    expect(m, "NTE-1", "1");
    expect(m, "NTE-2", "L");
    expect(m, "NTE-3", RN_HL7_PRELIMINARY_NOTE);
    expect(m, "NTE-4", "RE");
    expect(m, "NTE[2]-1", "2");
    expect(m, "NTE[2]-3", "Left hand radiograph; one image analysed.");

    expect(m, "OBX-1", "1");
    expect(m, "OBX-2", "NM");
    expect(m, "OBX-3-1", "RN-BA-001");
    expect(m, "OBX-3-2", "Bone age (Greulich-Pyle)");
    expect(m, "OBX-3-3", "99RADNODE");
    expect(m, "OBX-5", "126.0");
    expect(m, "OBX-6-1", "mo");
    expect(m, "OBX-6-2", "month");
    expect(m, "OBX-6-3", "UCUM");
    expect(m, "OBX-11", "P");
    expect(m, "OBX-14", "20240315103000");
    expect(m, "OBX-18", "radnode-boneage 0.1.0");
    expect(m, "OBX[2]-5", "132.0");
    expect(m, "OBX[3]-5", "-0.83");
    expect(m, "OBX[3]-6", "");
    expect(m, "OBX[3]-7", "-2 to 2");
    expect(m, "OBX[4]-2", "CWE");
    expect(m, "OBX[4]-5-1", "RN-A-02");
    expect(m, "OBX[4]-5-2", "Bone age within normal range");
    expect(m, "OBX[4]-5-3", "99RADNODE");
    expect(m, "OBX[5]-2", "TX");
    assert_int_equal(rn_hl7_repetition_count(m, "OBX[5]-5"), 2);
    expect(m, "OBX[5]-5[1]", SAMPLE_TX_LINE1);
    expect(m, "OBX[5]-5[2]", SAMPLE_TX_LINE2);
    expect(m, "OBX[6]-2", "ST");
    expect(m, "OBX[6]-5", "radnode boneage 0.1.0 (model 2024-03)");
    for (int i = 1; i <= 6; i++) {
        char path[32];
        snprintf(path, sizeof path, "OBX[%d]-11", i);
        expect(m, path, "P");
    }
    rn_buf_free(&wire);
    rn_hl7_message_destroy(m);
}

static void test_defaults_and_ft(void **state)
{
    (void)state;
    RnHl7Observation obs[3] = {
        {.type = RN_HL7_VALUE_FT,
         .identifier = {"R1", NULL, NULL},
         .text = "first | line\r\nsecond ^ line\nthird\\line"},
        {.type = RN_HL7_VALUE_NM,
         .identifier = {"N1", NULL, NULL},
         .number = -0.0001,
         .decimals = 2,
         .result_status = "F"},
        {.type = RN_HL7_VALUE_NM,
         .identifier = {"N2", NULL, NULL},
         .number = 1234.5678,
         .decimals = 0},
    };
    RnHl7Oru oru = {.patient = {.id = "P1"},
                    .order = {.accession_number = "A1",
                              .service = {NULL, "Lung CT", NULL},
                              .observation_datetime = "20240101"},
                    .observations = obs,
                    .observation_count = 3};
    RnBuf wire = {0};
    RnHl7Message *m = build_and_reparse(&oru, &wire);
    char buf[64];
    expect(m, "MSH-3", "RADNODE");
    assert_int_equal(rn_hl7_get(m, "MSH-10", buf, sizeof buf, NULL), 20);
    assert_int_equal(rn_hl7_get(m, "MSH-7", buf, sizeof buf, NULL), 19);
    assert_true(rn_hl7_timestamp_valid(buf));
    expect(m, "OBR-22", buf); /* defaults to the message time */
    expect(m, "PID-3-5", "MR");
    expect(m, "OBR-2", "");
    expect(m, "OBR-4-2", "Lung CT");
    expect(m, "OBR-18", "A1");
    assert_int_equal(rn_hl7_segment_occurrences(m, "NTE"), 1);
    /* FT: line breaks as \.br\, other characters escaped. */
    expect(m, "OBX-5", "first | line\\.br\\second ^ line\\.br\\third\\line");
    const char *raw = rn_hl7_segment_field_raw(m, 4 + 1, 5);
    assert_string_equal(raw, "first \\F\\ line\\.br\\second \\S\\ line\\.br\\third\\E\\line");
    expect(m, "OBX[2]-5", "0.00"); /* never "-0.00" */
    expect(m, "OBX[2]-11", "F");
    expect(m, "OBX[3]-5", "1235");
    rn_buf_free(&wire);
    rn_hl7_message_destroy(m);
}

static void expect_invalid(const RnHl7Oru *oru, const char *needle)
{
    RnError err = {0};
    RnHl7Message *m = rn_hl7_oru_build(oru, &err);
    if (m) {
        rn_hl7_message_destroy(m);
        fail_msg("accepted (expected error about %s)", needle);
    }
    assert_int_equal(err.code, RN_ERR_INVALID);
    if (!strstr(err.message, needle))
        fail_msg("error '%s' does not name '%s'", err.message, needle);
}

static void test_invalid_content(void **state)
{
    (void)state;
    SampleOru s;
    RnHl7Oru o;
#define RESET()                                                                                    \
    do {                                                                                           \
        sample_oru(&s, "C1");                                                                      \
        o = s.oru;                                                                                 \
    } while (0)
    RESET();
    o.patient.id = NULL;
    expect_invalid(&o, "PID-3");
    RESET();
    o.patient.sex = "X";
    expect_invalid(&o, "PID-8");
    RESET();
    o.patient.birth_date = "2013-03-01";
    expect_invalid(&o, "PID-7");
    RESET();
    o.header.control_id = "123456789012345678901";
    expect_invalid(&o, "MSH-10");
    RESET();
    o.header.control_id = "has space";
    expect_invalid(&o, "MSH-10");
    RESET();
    o.header.timestamp = "yesterday";
    expect_invalid(&o, "MSH-7");
    RESET();
    o.header.processing_id = "X";
    expect_invalid(&o, "MSH-11");
    RESET();
    o.order.placer_order_number = o.order.filler_order_number = o.order.accession_number = NULL;
    expect_invalid(&o, "ORC/OBR");
    RESET();
    o.order.service = (RnHl7Coded){0};
    expect_invalid(&o, "OBR-4");
    RESET();
    o.order.observation_datetime = NULL;
    expect_invalid(&o, "OBR-7");
    RESET();
    o.order.result_status = "Q";
    expect_invalid(&o, "OBR-25");
    RESET();
    s.obs[0].number = NAN;
    expect_invalid(&o, "observation 1");
    RESET();
    s.obs[1].number = INFINITY;
    expect_invalid(&o, "observation 2");
    RESET();
    s.obs[0].decimals = 12;
    expect_invalid(&o, "observation 1");
    RESET();
    s.obs[5].text = "two\nlines";
    expect_invalid(&o, "ST value must be one line");
    RESET();
    s.obs[4].text = "";
    expect_invalid(&o, "observation 5");
    RESET();
    s.obs[3].coded = (RnHl7Coded){0};
    expect_invalid(&o, "observation 4");
    RESET();
    s.obs[2].identifier.code = NULL;
    expect_invalid(&o, "OBX-3");
    RESET();
    s.obs[2].type = (RnHl7ValueType)42;
    expect_invalid(&o, "value type");
    RESET();
    s.obs[2].result_status = "Z";
    expect_invalid(&o, "OBX-11");
    RESET();
    s.obs[0].observation_datetime = "2024031";
    expect_invalid(&o, "OBX-14");
    RESET();
    o.patient.family_name = "bad \xC3\x28 utf8";
    expect_invalid(&o, "UTF-8");
    RESET();
    s.obs[4].text = "ok\n\xED\xA0\x80 surrogate";
    expect_invalid(&o, "UTF-8");
    RESET();
    s.notes[0] = "two\nlines";
    expect_invalid(&o, "NTE-3");
    RESET();
    o.observation_count = 100000;
    expect_invalid(&o, "OBX");
    RESET();
    o.observations = NULL;
    expect_invalid(&o, "OBX");
#undef RESET
    RnError err = {0};
    assert_null(rn_hl7_oru_build(NULL, &err));
    assert_int_equal(err.code, RN_ERR_INVALID);
}

static void test_hostile_text(void **state)
{
    (void)state;
    /* Delimiters, control characters and MLLP block bytes in every free-text input
     * end up escaped; the message parses back to the same text. */
    const char *nasty = "A|B^C~D\\E&F\rMSH|^~\\&|EVIL\x0b\x1c\x1c\r\x01";
    SampleOru s;
    sample_oru(&s, "C2");
    s.oru.patient.family_name = nasty;
    s.oru.order.accession_number = nasty;
    s.notes[0] = "note | with ^ delimiters";
    s.obs[4].text = nasty; /* TX: no LF, so one line; its CRs travel as \X0D\ */
    RnBuf wire = {0};
    RnHl7Message *m = build_and_reparse(&s.oru, &wire);
    assert_int_equal(rn_hl7_segment_count(m), 12);
    assert_null(memchr(wire.data, 0x1C, wire.len));
    assert_null(memchr(wire.data, 0x0B, wire.len));
    expect(m, "PID-5-1", nasty);
    expect(m, "OBR-18", nasty);
    expect(m, "NTE[2]-3", "note | with ^ delimiters");
    expect(m, "OBX[5]-5", nasty);
    rn_buf_free(&wire);
    rn_hl7_message_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_oru),
        cmocka_unit_test(test_defaults_and_ft),
        cmocka_unit_test(test_invalid_content),
        cmocka_unit_test(test_hostile_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
