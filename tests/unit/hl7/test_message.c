/*
 * Unit tests for the HL7 v2 message model (HL7 v2.5.1 chapter 2, 2.5 message
 * construction, 2.7 escape sequences): parsing with CR, LF and CRLF segment
 * ends, non-default delimiters, escape decoding, access by path, setting with
 * escaping, serialisation round trips, and errors for malformed input and
 * exceeded limits.
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

static const char ADT[] =
    "MSH|^~\\&|HIS|HOSP|RADNODE|RAD|20240101120000||ADT^A01^ADT_A01|MSG00001|P|2.5.1\r"
    "EVN|A01|20240101120000\r"
    "PID|1||123456^^^HOSP^MR~987^^^NATIONAL^NI||Doe^John^Q||19800101|M\r"
    "PV1|1|I\r";

static RnHl7Message *parse_str(const char *s, RnError *err)
{
    return rn_hl7_parse((const uint8_t *)s, strlen(s), NULL, err);
}

static void expect(const RnHl7Message *m, const char *path, const char *want)
{
    char buf[512];
    RnError err = {0};
    int n = rn_hl7_get(m, path, buf, sizeof buf, &err);
    if (n < 0)
        fail_msg("%s: %s", path, err.message);
    assert_string_equal(buf, want);
    assert_int_equal(n, (int)strlen(want));
}

static void test_parse_basic(void **state)
{
    (void)state;
    RnError err = {0};
    RnHl7Message *m = parse_str(ADT, &err);
    assert_non_null(m);
    assert_int_equal(rn_hl7_segment_count(m), 4);
    assert_string_equal(rn_hl7_segment_name(m, 0), "MSH");
    assert_string_equal(rn_hl7_segment_name(m, 2), "PID");
    assert_null(rn_hl7_segment_name(m, 4));
    expect(m, "MSH-1", "|");
    expect(m, "MSH-2", "^~\\&");
    expect(m, "MSH-3", "HIS");
    expect(m, "MSH-9", "ADT");
    expect(m, "MSH-9-2", "A01");
    expect(m, "MSH-10", "MSG00001");
    expect(m, "MSH-12", "2.5.1");
    expect(m, "PID-3", "123456");
    expect(m, "PID-3-4", "HOSP");
    expect(m, "PID-3[2]-1", "987");
    expect(m, "PID-3[2]-4", "NATIONAL");
    expect(m, "PID-5-2", "John");
    expect(m, "PID-8", "M");
    expect(m, "PV1-2", "I");
    assert_int_equal(rn_hl7_repetition_count(m, "PID-3"), 2);
    assert_int_equal(rn_hl7_repetition_count(m, "PID-4"), 0);
    /* Absent field, component, repetition: empty, not an error. */
    expect(m, "PID-30", "");
    expect(m, "PID-5-7", "");
    expect(m, "PID-3[3]-1", "");
    expect(m, "PID-3-4-2", "");
    /* Absent segment: not found. */
    char buf[8];
    assert_int_equal(rn_hl7_get(m, "OBX-5", buf, sizeof buf, &err), RN_ERR_NOT_FOUND);
    assert_int_equal(rn_hl7_get(m, "PID[2]-3", buf, sizeof buf, &err), RN_ERR_NOT_FOUND);
    /* Too small a buffer. */
    assert_int_equal(rn_hl7_get(m, "MSH-10", buf, 4, &err), RN_ERR_LIMIT);
    assert_int_equal(rn_hl7_segment_occurrences(m, "PID"), 1);
    assert_string_equal(rn_hl7_segment_field_raw(m, 2, 3), "123456^^^HOSP^MR~987^^^NATIONAL^NI");
    assert_string_equal(rn_hl7_segment_field_raw(m, 2, 99), "");
    rn_hl7_message_destroy(m);
}

static void test_line_endings(void **state)
{
    (void)state;
    const char *variants[] = {
        "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|X1|P|2.5.1\nPID|1||42\n",
        "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|X1|P|2.5.1\r\nPID|1||42\r\n",
        "\r\n\nMSH|^~\\&|A|B|C|D|20240101||ADT^A01|X1|P|2.5.1\r\r\n\nPID|1||42",
        "\xEF\xBB\xBFMSH|^~\\&|A|B|C|D|20240101||ADT^A01|X1|P|2.5.1\rPID|1||42\r",
    };
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        RnError err = {0};
        RnHl7Message *m = parse_str(variants[i], &err);
        if (!m)
            fail_msg("variant %zu: %s", i, err.message);
        assert_int_equal(rn_hl7_segment_count(m), 2);
        expect(m, "PID-3", "42");
        expect(m, "MSH-10", "X1");
        RnBuf out = {0};
        assert_int_equal(rn_hl7_serialize(m, &out, &err), 0);
        const char *canon = "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|X1|P|2.5.1\rPID|1||42\r";
        assert_int_equal(out.len, strlen(canon));
        assert_memory_equal(out.data, canon, out.len);
        rn_buf_free(&out);
        rn_hl7_message_destroy(m);
    }
}

static void test_odd_delimiters(void **state)
{
    (void)state;
    /* field '#', component '$', repetition '%', escape '!', subcomponent '@' */
    const char *s = "MSH#$%!@#APP#FAC###20240101##ORU$R01#ID7#P#2.5.1\r"
                    "OBX#1#ST#CODE$Text$LN##a!F!b!S!c!T!d!R!e!E!f|^~\\&\r"
                    "PID#1##id1@ns1$$$auth%id2\r";
    RnError err = {0};
    RnHl7Message *m = parse_str(s, &err);
    if (!m)
        fail_msg("%s", err.message);
    const RnHl7Encoding *e = rn_hl7_message_encoding(m);
    assert_int_equal(e->field, '#');
    assert_int_equal(e->component, '$');
    assert_int_equal(e->repetition, '%');
    assert_int_equal(e->escape, '!');
    assert_int_equal(e->subcomponent, '@');
    expect(m, "MSH-1", "#");
    expect(m, "MSH-2", "$%!@");
    expect(m, "MSH-9-2", "R01");
    expect(m, "OBX-3-3", "LN");
    expect(m, "OBX-5", "a#b$c@d%e!f|^~\\&");
    expect(m, "PID-3-1-2", "ns1");
    expect(m, "PID-3-4", "auth");
    expect(m, "PID-3[2]", "id2");
    /* Setting escapes with this message's delimiters. */
    assert_int_equal(rn_hl7_set(m, "OBX-5", "x#y$z", &err), 0);
    assert_string_equal(rn_hl7_segment_field_raw(m, 1, 5), "x!F!y!S!z");
    RnBuf out = {0};
    assert_int_equal(rn_hl7_serialize(m, &out, &err), 0);
    RnHl7Message *m2 = rn_hl7_parse(out.data, out.len, NULL, &err);
    assert_non_null(m2);
    expect(m2, "OBX-5", "x#y$z");
    rn_buf_free(&out);
    rn_hl7_message_destroy(m2);
    rn_hl7_message_destroy(m);
}

static void test_escapes(void **state)
{
    (void)state;
    const char *s = "MSH|^~\\&|A||||||ORU^R01|1|P|2.5.1\r"
                    "OBX|1|FT|C||\\F\\\\S\\\\T\\\\R\\\\E\\|line1\\.br\\line2|\\X0D0A\\|"
                    "\\H\\bold\\N\\|\\X41\\|\\Xzz\\|\\X4\\|open\\esc|\\\\|\\Z99\\\r";
    RnError err = {0};
    RnHl7Message *m = parse_str(s, &err);
    if (!m)
        fail_msg("%s", err.message);
    expect(m, "OBX-5", "|^&~\\");
    expect(m, "OBX-6", "line1\\.br\\line2"); /* formatting commands are passed through */
    expect(m, "OBX-7", "\r\n");
    expect(m, "OBX-8", "bold");
    expect(m, "OBX-9", "A");
    expect(m, "OBX-10", "\\Xzz\\");   /* invalid hex: literal */
    expect(m, "OBX-11", "\\X4\\");    /* odd number of digits: literal */
    expect(m, "OBX-12", "open\\esc"); /* unterminated: literal */
    expect(m, "OBX-13", "\\\\");
    expect(m, "OBX-14", "\\Z99\\");

    /* rn_hl7_escape / unescape round trip, control characters as hex data. */
    RnHl7Encoding enc;
    rn_hl7_encoding_default(&enc);
    const char *text = "a|b^c&d~e\\f\rg\nh\x0bi\x1cj\tk";
    RnBuf b = {0}, d = {0};
    assert_int_equal(rn_hl7_escape(&enc, text, strlen(text), &b, &err), 0);
    rn_buf_append_byte(&b, 0);
    assert_string_equal((char *)b.data,
                        "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\X0D\\g\\X0A\\h\\X0B\\i\\X1C\\j\tk");
    assert_int_equal(rn_hl7_unescape(&enc, (char *)b.data, b.len - 1, &d, &err), 0);
    assert_int_equal(d.len, strlen(text));
    assert_memory_equal(d.data, text, d.len);
    rn_buf_free(&b);
    rn_buf_free(&d);
    rn_hl7_message_destroy(m);
}

static void test_set_and_serialize(void **state)
{
    (void)state;
    RnError err = {0};
    RnHl7Message *m = rn_hl7_message_create(NULL, &err);
    assert_non_null(m);
    assert_int_equal(rn_hl7_set(m, "MSH-9-1", "ORU", &err), 0);
    assert_int_equal(rn_hl7_set(m, "MSH-9-2", "R01", &err), 0);
    assert_int_equal(rn_hl7_set(m, "MSH-10", "C1", &err), 0);
    assert_int_equal(rn_hl7_add_segment(m, "PID", &err), 1);
    assert_int_equal(rn_hl7_set(m, "PID-5-2", "Ann^Marie", &err), 0);
    assert_int_equal(rn_hl7_set(m, "PID-5-1", "O'Neil & Sons", &err), 0);
    assert_int_equal(rn_hl7_set(m, "PID-3[2]-4-2", "1.2.3", &err), 0);
    assert_int_equal(rn_hl7_add_segment(m, "OBX", &err), 1);
    assert_int_equal(rn_hl7_add_segment(m, "OBX", &err), 2);
    assert_int_equal(rn_hl7_set(m, "OBX[2]-5", "second", &err), 0);
    assert_int_equal(rn_hl7_set_raw(m, "OBX-5", "a^b~c", &err), 0);
    RnBuf out = {0};
    assert_int_equal(rn_hl7_serialize(m, &out, &err), 0);
    rn_buf_append_byte(&out, 0);
    assert_string_equal((char *)out.data, "MSH|^~\\&|||||||ORU^R01|C1\r"
                                          "PID|||~^^^&1.2.3||O'Neil \\T\\ Sons^Ann\\S\\Marie\r"
                                          "OBX|||||a^b~c\r"
                                          "OBX|||||second\r");
    RnHl7Message *m2 = rn_hl7_parse(out.data, out.len - 1, NULL, &err);
    assert_non_null(m2);
    expect(m2, "PID-5-1", "O'Neil & Sons");
    expect(m2, "PID-5-2", "Ann^Marie");
    expect(m2, "PID-3[2]-4-2", "1.2.3");
    expect(m2, "OBX-5[2]", "c");
    expect(m2, "OBX[2]-5", "second");
    /* Replacing a component keeps the others; clearing trailing ones drops delimiters. */
    assert_int_equal(rn_hl7_set(m2, "PID-5-2", "", &err), 0);
    assert_string_equal(rn_hl7_segment_field_raw(m2, 1, 5), "O'Neil \\T\\ Sons");
    /* Errors. */
    assert_int_equal(rn_hl7_set(m2, "MSH-1", "#", &err), RN_ERR_INVALID);
    assert_int_equal(rn_hl7_set(m2, "MSH-2", "abcd", &err), RN_ERR_INVALID);
    assert_int_equal(rn_hl7_set(m2, "ZZZ-1", "x", &err), RN_ERR_NOT_FOUND);
    assert_int_equal(rn_hl7_set_raw(m2, "OBX-5", "a|b", &err), RN_ERR_INVALID);
    assert_int_equal(rn_hl7_set_raw(m2, "OBX-5", "a\rb", &err), RN_ERR_INVALID);
    assert_int_equal(rn_hl7_set_raw(m2, "OBX-5-1", "a", &err), RN_ERR_INVALID);
    assert_int_equal(rn_hl7_set_raw(m2, "OBX-5[2]", "a", &err), RN_ERR_INVALID);
    assert_int_equal(rn_hl7_add_segment(m2, "MSH", &err), RN_ERR_INVALID);
    assert_int_equal(rn_hl7_add_segment(m2, "pid", &err), RN_ERR_INVALID);
    assert_int_equal(rn_hl7_add_segment(m2, "PIDX", &err), RN_ERR_INVALID);
    rn_buf_free(&out);
    rn_hl7_message_destroy(m2);
    rn_hl7_message_destroy(m);
    rn_hl7_message_destroy(NULL);
}

static void test_paths(void **state)
{
    (void)state;
    RnHl7Path p;
    RnError err = {0};
    assert_int_equal(rn_hl7_path_parse("OBX[12]-5[3]-2-4", &p, &err), 0);
    assert_string_equal(p.segment, "OBX");
    assert_int_equal(p.occurrence, 12);
    assert_int_equal(p.field, 5);
    assert_int_equal(p.repetition, 3);
    assert_int_equal(p.component, 2);
    assert_int_equal(p.subcomponent, 4);
    assert_int_equal(rn_hl7_path_parse("PID-5", &p, &err), 0);
    assert_int_equal(p.occurrence, 1);
    assert_int_equal(p.component, 1);
    const char *bad[] = {
        "",      "PI",       "PID",     "PID-",     "PID-0",           "PID-5-", "PID-5-1-1-1",
        "pid-5", "PID[0]-1", "PID[1-1", "PID-5[x]", "PID-99999999999", "PID-5 "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (rn_hl7_path_parse(bad[i], &p, &err) != RN_ERR_INVALID)
            fail_msg("path '%s' accepted", bad[i]);
    }
    assert_int_equal(rn_hl7_path_parse(NULL, &p, &err), RN_ERR_INVALID);
}

static void expect_error(const char *input, size_t len, int code, const char *needle)
{
    RnError err = {0};
    RnHl7Message *m = rn_hl7_parse((const uint8_t *)input, len, NULL, &err);
    if (m) {
        rn_hl7_message_destroy(m);
        fail_msg("accepted: %.40s", input);
    }
    if (err.code != code)
        fail_msg("'%.40s': code %d (%s), want %d", input, err.code, err.message, code);
    if (needle && !strstr(err.message, needle))
        fail_msg("'%.40s': message '%s' lacks '%s'", input, err.message, needle);
}

static void test_malformed(void **state)
{
    (void)state;
    expect_error("", 0, RN_ERR_PARSE, "MSH");
    expect_error("\r\n\r\n", 4, RN_ERR_PARSE, "MSH");
    expect_error("PID|1||42\r", 10, RN_ERR_PARSE, "MSH");
    expect_error("MSH|^~\r", 7, RN_ERR_PARSE, NULL);
    expect_error("MSH|^~\\|A|B\r", 12, RN_ERR_PARSE, "4 are required");
    expect_error("MSH|^^\\&|A|B\r", 13, RN_ERR_PARSE, "twice");
    expect_error("MSH|^~\\&x|A|B\r", 14, RN_ERR_PARSE, NULL);
    expect_error("MSH|^~\\&#!|A\r", 13, RN_ERR_PARSE, "more than 5");
    expect_error("MSHA^~\\&|A|B\r", 13, RN_ERR_PARSE, "delimiter");
    expect_error("MSH|^~\\&|A\rPIDX|1\r", 18, RN_ERR_PARSE, "segment 2");
    expect_error("MSH|^~\\&|A\rpid|1\r", 17, RN_ERR_PARSE, "segment 2");
    expect_error("MSH|^~\\&|A\rPI\r", 14, RN_ERR_PARSE, "segment 2");
    expect_error("MSH|^~\\&|A\rMSH|^~\\&|B\r", 22, RN_ERR_PARSE, "second MSH");
    const char nul[] = "MSH|^~\\&|A\rPID|1\0|2\r";
    expect_error(nul, sizeof nul - 1, RN_ERR_PARSE, "NUL");

    /* Limits. */
    RnBuf b = {0};
    rn_buf_append_str(&b, "MSH|^~\\&|A\r");
    for (int i = 0; i < 20; i++)
        rn_buf_append_str(&b, "NTE|1|L|x\r");
    RnError err = {0};
    RnHl7Limits lim = {.max_segments = 10};
    assert_null(rn_hl7_parse(b.data, b.len, &lim, &err));
    assert_int_equal(err.code, RN_ERR_LIMIT);
    RnHl7Limits lim2 = {.max_message_bytes = 50};
    assert_null(rn_hl7_parse(b.data, b.len, &lim2, &err));
    assert_int_equal(err.code, RN_ERR_LIMIT);
    RnHl7Limits lim3 = {.max_fields = 2};
    assert_null(rn_hl7_parse(b.data, b.len, &lim3, &err));
    assert_int_equal(err.code, RN_ERR_LIMIT);
    RnHl7Message *m = rn_hl7_parse(b.data, b.len, NULL, &err);
    assert_non_null(m);
    assert_int_equal(rn_hl7_segment_occurrences(m, "NTE"), 20);
    rn_hl7_message_destroy(m);
    rn_buf_free(&b);

    /* Default size limit. */
    size_t big = RN_HL7_DEFAULT_MAX_MESSAGE_BYTES + 1;
    uint8_t *huge = malloc(big);
    assert_non_null(huge);
    memset(huge, 'A', big);
    memcpy(huge, "MSH|^~\\&|", 9);
    assert_null(rn_hl7_parse(huge, big, NULL, &err));
    assert_int_equal(err.code, RN_ERR_LIMIT);
    free(huge);
    assert_null(rn_hl7_parse(NULL, 0, NULL, &err));
}

static void test_round_trip_exact(void **state)
{
    (void)state;
    RnError err = {0};
    RnHl7Message *m = parse_str(ADT, &err);
    assert_non_null(m);
    RnBuf out = {0};
    assert_int_equal(rn_hl7_serialize(m, &out, &err), 0);
    assert_int_equal(out.len, strlen(ADT));
    assert_memory_equal(out.data, ADT, out.len);
    rn_buf_free(&out);
    rn_hl7_message_destroy(m);

    /* A bare MSH, trailing empty fields, and a 5th encoding character survive. */
    const char *s = "MSH|^~\\&#|A||B|||\rZZ1\rZZ2|||\r";
    m = parse_str(s, &err);
    if (!m)
        fail_msg("%s", err.message);
    expect(m, "MSH-2", "^~\\&#");
    assert_int_equal(rn_hl7_serialize(m, &out, &err), 0);
    assert_int_equal(out.len, strlen(s));
    assert_memory_equal(out.data, s, out.len);
    rn_buf_free(&out);
    rn_hl7_message_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_basic),       cmocka_unit_test(test_line_endings),
        cmocka_unit_test(test_odd_delimiters),    cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_set_and_serialize), cmocka_unit_test(test_paths),
        cmocka_unit_test(test_malformed),         cmocka_unit_test(test_round_trip_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
