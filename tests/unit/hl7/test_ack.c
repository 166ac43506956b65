/*
 * Unit tests for HL7 v2.5.1 original-mode acknowledgments (chapter 2, 2.9.2,
 * MSA 2.14.8, ERR 2.14.5): building AA/AE/AR for a message, the best-effort
 * AR for unparsable bytes, interpreting received ACKs (codes as data, text and
 * error condition, pre-2.5 ERR-1), and the time stamp and control ID helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "radnode/hl7.h"

static const char ORU[] =
    "MSH|^~\\&|RIS^1.2.3^ISO|HOSP|RADNODE|RAD|20240101120000||ORU^R01^ORU_R01|"
    "CTRL-77|P|2.5.1||||||UNICODE UTF-8\r"
    "PID|1||42\r";

static void expect(const RnHl7Message *m, const char *path, const char *want)
{
    char buf[512];
    RnError err = {0};
    if (rn_hl7_get(m, path, buf, sizeof buf, &err) < 0)
        fail_msg("%s: %s", path, err.message);
    if (strcmp(buf, want) != 0)
        fail_msg("%s: '%s', want '%s'", path, buf, want);
}

static RnHl7Message *parse_str(const char *s)
{
    RnError err = {0};
    RnHl7Message *m = rn_hl7_parse((const uint8_t *)s, strlen(s), NULL, &err);
    if (!m)
        fail_msg("%s", err.message);
    return m;
}

static void test_build_aa(void **state)
{
    (void)state;
    RnHl7Message *orig = parse_str(ORU);
    RnError err = {0};
    RnHl7AckOptions o = {.control_id = "ACK-1", .timestamp = "20240101120001"};
    RnHl7Message *ack = rn_hl7_ack_build(orig, RN_HL7_ACK_AA, &o, &err);
    assert_non_null(ack);
    expect(ack, "MSH-3", "RADNODE");
    expect(ack, "MSH-4", "RAD");
    expect(ack, "MSH-5", "RIS");
    expect(ack, "MSH-5-2", "1.2.3"); /* HD components copied as they were */
    expect(ack, "MSH-6", "HOSP");
    expect(ack, "MSH-7", "20240101120001");
    expect(ack, "MSH-9-1", "ACK");
    expect(ack, "MSH-9-2", "R01");
    expect(ack, "MSH-9-3", "ACK");
    expect(ack, "MSH-10", "ACK-1");
    expect(ack, "MSH-11", "P");
    expect(ack, "MSH-12", "2.5.1");
    expect(ack, "MSH-18", "UNICODE UTF-8");
    expect(ack, "MSA-1", "AA");
    expect(ack, "MSA-2", "CTRL-77");
    assert_int_equal(rn_hl7_segment_occurrences(ack, "ERR"), 0);

    /* Serialised and read back as an ACK. */
    RnBuf out = {0};
    assert_int_equal(rn_hl7_serialize(ack, &out, &err), 0);
    RnHl7Ack a;
    assert_int_equal(rn_hl7_ack_parse(out.data, out.len, &a, &err), 0);
    assert_int_equal(a.code, RN_HL7_ACK_AA);
    assert_string_equal(a.control_id, "CTRL-77");
    assert_string_equal(a.ack_control_id, "ACK-1");
    assert_int_equal(a.error_condition, 0);
    assert_string_equal(a.text, "");
    assert_true(rn_hl7_ack_code_accepted(a.code));
    rn_buf_free(&out);
    rn_hl7_message_destroy(ack);

    /* Defaults: generated control ID and time stamp, overridden sender. */
    RnHl7AckOptions o2 = {.application = "NODE^X", .facility = "F"};
    ack = rn_hl7_ack_build(orig, RN_HL7_ACK_AA, &o2, &err);
    assert_non_null(ack);
    char buf[64];
    assert_int_equal(rn_hl7_get(ack, "MSH-10", buf, sizeof buf, &err), 20);
    assert_int_equal(rn_hl7_get(ack, "MSH-7", buf, sizeof buf, &err), 19);
    assert_true(rn_hl7_timestamp_valid(buf));
    expect(ack, "MSH-3", "NODE^X");
    expect(ack, "MSH-4", "F");
    rn_hl7_message_destroy(ack);
    rn_hl7_message_destroy(orig);
}

static void test_build_errors(void **state)
{
    (void)state;
    RnHl7Message *orig = parse_str(ORU);
    RnError err = {0};
    RnHl7AckOptions o = {.text = "disk full | retry later", .error_condition = 0};
    RnHl7Message *ack = rn_hl7_ack_build(orig, RN_HL7_ACK_AR, &o, &err);
    assert_non_null(ack);
    expect(ack, "MSA-1", "AR");
    expect(ack, "MSA-2", "CTRL-77");
    expect(ack, "MSA-3", "disk full | retry later");
    expect(ack, "ERR-3-1", "207");
    expect(ack, "ERR-3-2", "Application internal error");
    expect(ack, "ERR-3-3", "HL70357");
    expect(ack, "ERR-4", "E");
    expect(ack, "ERR-8", "disk full | retry later");
    RnBuf out = {0};
    assert_int_equal(rn_hl7_serialize(ack, &out, &err), 0);
    RnHl7Ack a;
    assert_int_equal(rn_hl7_ack_parse(out.data, out.len, &a, &err), 0);
    assert_int_equal(a.code, RN_HL7_ACK_AR);
    assert_false(rn_hl7_ack_code_accepted(a.code));
    assert_int_equal(a.error_condition, 207);
    assert_string_equal(a.text, "disk full | retry later");
    rn_buf_free(&out);
    rn_hl7_message_destroy(ack);

    /* MSA-3 is ST(80): long text is cut there but kept whole in ERR-8. */
    char longtext[200];
    memset(longtext, 'x', sizeof longtext - 1);
    longtext[sizeof longtext - 1] = 0;
    RnHl7AckOptions o2 = {.text = longtext, .error_condition = RN_HL7_ERRC_REQUIRED_FIELD_MISSING};
    ack = rn_hl7_ack_build(orig, RN_HL7_ACK_AE, &o2, &err);
    assert_non_null(ack);
    char buf[300];
    assert_int_equal(rn_hl7_get(ack, "MSA-3", buf, sizeof buf, &err), 80);
    assert_int_equal(rn_hl7_get(ack, "ERR-8", buf, sizeof buf, &err), 199);
    expect(ack, "ERR-3-1", "101");
    expect(ack, "ERR-3-2", "Required field missing");
    rn_hl7_message_destroy(ack);

    assert_null(rn_hl7_ack_build(orig, (RnHl7AckCode)17, NULL, &err));
    assert_int_equal(err.code, RN_ERR_INVALID);
    assert_null(rn_hl7_ack_build(NULL, RN_HL7_ACK_AA, NULL, &err));
    rn_hl7_message_destroy(orig);
}

static void test_build_unparsed(void **state)
{
    (void)state;
    RnError err = {0};
    const char *junk = "MSH|^~\\&|A|B|C|D|2024||ORU^R01|ID-5|P|2.5.1\rPID|\x01|bad";
    RnHl7Message *ack =
        rn_hl7_ack_build_unparsed((const uint8_t *)junk, strlen(junk), RN_HL7_ACK_AR, NULL, &err);
    assert_non_null(ack);
    expect(ack, "MSA-1", "AR");
    expect(ack, "MSA-2", "ID-5");
    expect(ack, "MSH-9-1", "ACK");
    rn_hl7_message_destroy(ack);

    const char *cases[] = {"garbage", "", "MSH|^~\\&|A|B|C|D|2024||X|ID\\E\\6|P",
                           "MSH|^~\\&|A|B|C|D|2024||X|123456789012345678901|P"};
    for (size_t i = 0; i < 4; i++) {
        ack = rn_hl7_ack_build_unparsed((const uint8_t *)cases[i], strlen(cases[i]), RN_HL7_ACK_AR,
                                        NULL, &err);
        assert_non_null(ack);
        expect(ack, "MSA-2", "");
        rn_hl7_message_destroy(ack);
    }
    ack = rn_hl7_ack_build_unparsed(NULL, 0, RN_HL7_ACK_AE, NULL, &err);
    assert_non_null(ack);
    rn_hl7_message_destroy(ack);
}

static void test_parse_acks(void **state)
{
    (void)state;
    RnHl7Ack a;
    RnError err = {0};
    const char *ca = "MSH|^~\\&|R|F|S|F|2024||ACK|A9|P|2.5.1\rMSA|CA|M1\r";
    assert_int_equal(rn_hl7_ack_parse((const uint8_t *)ca, strlen(ca), &a, &err), 0);
    assert_int_equal(a.code, RN_HL7_ACK_CA);
    assert_true(rn_hl7_ack_code_accepted(a.code));
    assert_string_equal(a.control_id, "M1");

    /* A v2.3-style error: ERR-1 with the code in its 4th component; LF line ends. */
    const char *old = "MSH|^~\\&|R|F|S|F|2024||ACK^R01|A9|P|2.3\nMSA|AE|M2\n"
                      "ERR|^^^102&Data type error&HL70357\n";
    assert_int_equal(rn_hl7_ack_parse((const uint8_t *)old, strlen(old), &a, &err), 0);
    assert_int_equal(a.code, RN_HL7_ACK_AE);
    assert_int_equal(a.error_condition, 102);
    assert_string_equal(a.text, "Data type error");

    /* python3-hl7's create_ack() form. */
    const char *py = "MSH|^~\\&|RIS|RAD|RADNODE|HOSP|20240101||ACK^R01^ACK|X|P|2.5.1\rMSA|AR|M3";
    assert_int_equal(rn_hl7_ack_parse((const uint8_t *)py, strlen(py), &a, &err), 0);
    assert_int_equal(a.code, RN_HL7_ACK_AR);
    assert_string_equal(a.control_id, "M3");

    const char *bad[] = {
        "",
        "not hl7",
        "MSH|^~\\&|R|F|S|F|2024||ACK|A9|P|2.5.1\r",             /* no MSA */
        "MSH|^~\\&|R|F|S|F|2024||ACK|A9|P|2.5.1\rMSA|OK|M1\r",  /* bad code */
        "MSH|^~\\&|R|F|S|F|2024||ACK|A9|P|2.5.1\rMSA||M1\r",    /* empty code */
        "MSH|^~\\&|R|F|S|F|2024||ACK|A9|P|2.5.1\rMSA|AAA|M1\r", /* bad code */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = rn_hl7_ack_parse((const uint8_t *)bad[i], strlen(bad[i]), &a, &err);
        if (rc != RN_ERR_PARSE)
            fail_msg("case %zu: rc %d", i, rc);
    }
    RnHl7AckCode c;
    assert_int_equal(rn_hl7_ack_code_parse("CR", &c, &err), 0);
    assert_int_equal(c, RN_HL7_ACK_CR);
    assert_int_equal(rn_hl7_ack_code_parse("aa", &c, &err), RN_ERR_PARSE);
    assert_int_equal(rn_hl7_ack_code_parse(NULL, &c, &err), RN_ERR_PARSE);
    assert_string_equal(rn_hl7_ack_code_name(RN_HL7_ACK_CE), "CE");
    assert_string_equal(rn_hl7_ack_code_name((RnHl7AckCode)99), "??");
}

static void test_timestamps_and_ids(void **state)
{
    (void)state;
    const char *good[] = {"2024",
                          "202403",
                          "20240315",
                          "2024031510",
                          "202403151030",
                          "20240315103000",
                          "20240315103000.1",
                          "20240315103000.1234",
                          "20240315103000+0800",
                          "20240315-0500",
                          "20240315103000.12-0130"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!rn_hl7_timestamp_valid(good[i]))
            fail_msg("rejected %s", good[i]);
    const char *bad[] = {"",
                         "202",
                         "20241",
                         "20241315",
                         "20240132",
                         "2024031525",
                         "202403151060",
                         "20240315.1",
                         "20240315103000.",
                         "20240315103000.12345",
                         "20240315+08",
                         "20240315+08000",
                         "2024-03-15",
                         "20240315 1030",
                         NULL};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (rn_hl7_timestamp_valid(bad[i]))
            fail_msg("accepted %s", bad[i] ? bad[i] : "NULL");
    char ts[32];
    RnError err = {0};
    assert_int_equal(rn_hl7_timestamp_now(ts, sizeof ts, &err), 0);
    assert_true(rn_hl7_timestamp_valid(ts));
    assert_int_equal(rn_hl7_timestamp_now(ts, 10, &err), RN_ERR_INVALID);
    char a[32], b[32];
    assert_int_equal(rn_hl7_control_id_generate(a, sizeof a, &err), 0);
    assert_int_equal(rn_hl7_control_id_generate(b, sizeof b, &err), 0);
    assert_int_equal(strlen(a), RN_HL7_MAX_CONTROL_ID);
    assert_string_not_equal(a, b);
    assert_memory_equal(a, "RN", 2);
    assert_int_equal(rn_hl7_control_id_generate(a, 20, &err), RN_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_aa),           cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_build_unparsed),     cmocka_unit_test(test_parse_acks),
        cmocka_unit_test(test_timestamps_and_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
