/*
 * Unit tests for the UID registry (PS3.6 Annex A), the transfer syntax table
 * (PS3.5 Section 10, Annex A) and UID generation and validation (PS3.5 9.1,
 * B.2): registry lookups by UID and keyword, every registry entry round-trips,
 * every registered transfer syntax is known, generated UIDs are unique and
 * valid, derived UIDs are deterministic.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "radnode/dicom.h"

static void test_registry_lookups(void **state)
{
    (void)state;
    const RnUidEntry *u = rn_uid_find("1.2.840.10008.5.1.4.1.1.2");
    assert_non_null(u);
    assert_string_equal(u->name, "CT Image Storage");
    assert_string_equal(u->keyword, "CTImageStorage");
    assert_string_equal(u->type, "SOP Class");
    assert_ptr_equal(rn_uid_find_keyword("CTImageStorage"), u);

    u = rn_uid_find(RN_UID_EXPLICIT_VR_LE);
    assert_non_null(u);
    assert_string_equal(u->name, "Explicit VR Little Endian");
    assert_string_equal(u->keyword, "ExplicitVRLittleEndian");
    assert_string_equal(u->type, "Transfer Syntax");

    u = rn_uid_find(RN_UID_VERIFICATION);
    assert_non_null(u);
    assert_string_equal(u->keyword, "Verification");

    u = rn_uid_find(RN_UID_EXPLICIT_VR_BE);
    assert_non_null(u);
    assert_string_equal(u->name, "Explicit VR Big Endian (Retired)");

    u = rn_uid_find("1.2.840.10008.1.2.4.201");
    assert_non_null(u);
    assert_string_equal(u->keyword, "HTJ2KLossless");

    assert_null(rn_uid_find(NULL));
    assert_null(rn_uid_find(""));
    assert_null(rn_uid_find("1.2.840.10008.5.1.4.1.1.2 "));
    assert_null(rn_uid_find("1.2.3.4"));
    assert_null(rn_uid_find_keyword(NULL));
    assert_null(rn_uid_find_keyword(""));
    assert_null(rn_uid_find_keyword("ctimagestorage"));
}

static void test_every_registry_entry_round_trips(void **state)
{
    (void)state;
    size_t n = 0;
    for (const RnUidEntry *u; (u = rn_uid_at(n)) != NULL; n++) {
        assert_true(rn_uid_is_valid(u->uid));
        assert_true(u->name[0] != '\0');
        assert_true(u->type[0] != '\0');
        if (rn_uid_find(u->uid) != u)
            fail_msg("UID %s does not find its entry", u->uid);
        if (u->keyword[0] && rn_uid_find_keyword(u->keyword) != u)
            fail_msg("UID keyword %s does not find its entry", u->keyword);
    }
    assert_true(n >= 450);
    assert_null(rn_uid_at(n));
    assert_null(rn_uid_at((size_t)-1));
}

static void test_transfer_syntaxes(void **state)
{
    (void)state;
    static const char *const in_header[] = {
        RN_UID_IMPLICIT_VR_LE,        RN_UID_EXPLICIT_VR_LE,    RN_UID_DEFLATED_EXPLICIT_VR_LE,
        RN_UID_EXPLICIT_VR_BE,        RN_UID_JPEG_BASELINE,     RN_UID_JPEG_EXTENDED,
        RN_UID_JPEG_LOSSLESS,         RN_UID_JPEG_LOSSLESS_SV1, RN_UID_JPEG_LS_LOSSLESS,
        RN_UID_JPEG_LS_NEAR_LOSSLESS, RN_UID_JPEG2000_LOSSLESS, RN_UID_JPEG2000,
        RN_UID_RLE_LOSSLESS,
    };
    for (size_t i = 0; i < sizeof in_header / sizeof in_header[0]; i++) {
        const RnTransferSyntax *ts = rn_transfer_syntax_find(in_header[i]);
        assert_non_null(ts);
        assert_string_equal(ts->uid, in_header[i]);
    }

    /* Every transfer syntax of the registry is known, under the registry's
     * name, except the retired non-dataset encodings (MIME, XML). */
    size_t registered = 0;
    for (size_t i = 0; rn_uid_at(i); i++) {
        const RnUidEntry *u = rn_uid_at(i);
        if (strcmp(u->type, "Transfer Syntax") != 0)
            continue;
        if (!strcmp(u->uid, "1.2.840.10008.1.2.6.1") || !strcmp(u->uid, "1.2.840.10008.1.2.6.2"))
            continue;
        registered++;
        const RnTransferSyntax *ts = rn_transfer_syntax_find(u->uid);
        if (!ts)
            fail_msg("transfer syntax %s (%s) missing", u->uid, u->name);
        assert_string_equal(ts->name, u->name);
        /* Only Implicit VR LE (and retired Papyrus 3) are implicit; only BE is big endian. */
        assert_int_equal(ts->explicit_vr, strstr(u->name, "Implicit") == NULL);
        assert_int_equal(ts->big_endian, strstr(u->name, "Big Endian") != NULL);
    }
    assert_true(registered >= 50);

    const RnTransferSyntax *ts = rn_transfer_syntax_implicit_le();
    assert_string_equal(ts->uid, RN_UID_IMPLICIT_VR_LE);
    assert_false(ts->explicit_vr);
    assert_false(ts->encapsulated);
    ts = rn_transfer_syntax_explicit_le();
    assert_string_equal(ts->uid, RN_UID_EXPLICIT_VR_LE);
    assert_true(ts->explicit_vr);
    assert_false(ts->big_endian || ts->deflated || ts->encapsulated || ts->lossy);
    assert_ptr_equal(rn_transfer_syntax_find(RN_UID_EXPLICIT_VR_LE), ts);

    ts = rn_transfer_syntax_find(RN_UID_EXPLICIT_VR_BE);
    assert_true(ts->big_endian && ts->explicit_vr && !ts->encapsulated);
    ts = rn_transfer_syntax_find(RN_UID_DEFLATED_EXPLICIT_VR_LE);
    assert_true(ts->deflated && !ts->encapsulated);
    ts = rn_transfer_syntax_find(RN_UID_JPEG_BASELINE);
    assert_true(ts->encapsulated && ts->lossy);
    ts = rn_transfer_syntax_find(RN_UID_JPEG_LOSSLESS_SV1);
    assert_true(ts->encapsulated && !ts->lossy);
    ts = rn_transfer_syntax_find(RN_UID_JPEG_LS_NEAR_LOSSLESS);
    assert_true(ts->lossy);
    ts = rn_transfer_syntax_find(RN_UID_RLE_LOSSLESS);
    assert_true(ts->encapsulated && !ts->lossy);
    ts = rn_transfer_syntax_find("1.2.840.10008.1.2.4.201");
    assert_true(ts->encapsulated && !ts->lossy);
    ts = rn_transfer_syntax_find("1.2.840.10008.1.2.4.203");
    assert_true(ts->encapsulated && ts->lossy);
    ts = rn_transfer_syntax_find("1.2.840.10008.1.2.4.107");
    assert_true(ts->encapsulated && ts->lossy);
    ts = rn_transfer_syntax_find("1.2.840.10008.1.2.4.94");
    assert_false(ts->encapsulated);
    ts = rn_transfer_syntax_find("1.2.840.10008.1.2.8.1");
    assert_true(ts->encapsulated && !ts->deflated && !ts->lossy);

    assert_null(rn_transfer_syntax_find(NULL));
    assert_null(rn_transfer_syntax_find(""));
    assert_null(rn_transfer_syntax_find("1.2.840.10008.1.2.4"));
    assert_null(rn_transfer_syntax_find("1.2.840.10008.5.1.4.1.1.2"));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static void test_generate(void **state)
{
    (void)state;
    enum { N = 2000 };
    char(*uids)[RN_UID_MAX + 1] = calloc(N, sizeof *uids);
    assert_non_null(uids);
    for (size_t i = 0; i < N; i++) {
        rn_uid_generate(uids[i]);
        assert_true(rn_uid_is_valid(uids[i]));
        assert_memory_equal(uids[i], "2.25.", 5);
        assert_true(strlen(uids[i]) <= 44);
    }
    qsort(uids, N, sizeof *uids, cmp_str);
    for (size_t i = 1; i < N; i++)
        assert_string_not_equal(uids[i - 1], uids[i]);
    free(uids);
}

static void test_derive(void **state)
{
    (void)state;
    char a[RN_UID_MAX + 1], b[RN_UID_MAX + 1], c[RN_UID_MAX + 1];
    rn_uid_derive("radnode", a);
    rn_uid_derive("radnode", b);
    assert_string_equal(a, b);
    /* SHA-256("radnode"), first 16 bytes, UUID version 8 and variant bits set,
     * as a decimal integer (computed independently with Python's hashlib). */
    assert_string_equal(a, "2.25.253722402623979768980781440832058205740");
    rn_uid_derive("radnode.", c);
    assert_string_not_equal(a, c);
    assert_true(rn_uid_is_valid(c));
    rn_uid_derive("", a);
    assert_string_equal(a, "2.25.302652579918966106791432553938847512868");
    rn_uid_derive(NULL, b);
    assert_string_equal(a, b);
    rn_uid_derive("1.2.840.113619.2.55.3.604688119.969.1268071029.320|lungct", a);
    assert_true(rn_uid_is_valid(a));
}

static void test_is_valid(void **state)
{
    (void)state;
    assert_true(rn_uid_is_valid("1.2.840.10008.1.2.1"));
    assert_true(rn_uid_is_valid("0"));
    assert_true(rn_uid_is_valid("0.0"));
    assert_true(rn_uid_is_valid("1.0.2"));
    assert_true(rn_uid_is_valid("1.20.300"));
    assert_true(rn_uid_is_valid("2.25.0"));

    assert_false(rn_uid_is_valid(NULL));
    assert_false(rn_uid_is_valid(""));
    assert_false(rn_uid_is_valid("."));
    assert_false(rn_uid_is_valid(".1"));
    assert_false(rn_uid_is_valid("1."));
    assert_false(rn_uid_is_valid("1..2"));
    assert_false(rn_uid_is_valid("1.02"));
    assert_false(rn_uid_is_valid("00"));
    assert_false(rn_uid_is_valid("01.2"));
    assert_false(rn_uid_is_valid("1.2.a"));
    assert_false(rn_uid_is_valid("1.2.3 "));
    assert_false(rn_uid_is_valid(" 1.2.3"));
    assert_false(rn_uid_is_valid("1.-2"));
    assert_false(rn_uid_is_valid("1,2"));

    /* 64 characters is the limit (PS3.5 9.1). */
    char buf[80];
    memset(buf, '1', sizeof buf);
    buf[1] = '.';
    buf[64] = '\0';
    assert_true(rn_uid_is_valid(buf));
    buf[64] = '1';
    buf[65] = '\0';
    assert_false(rn_uid_is_valid(buf));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_lookups),
        cmocka_unit_test(test_every_registry_entry_round_trips),
        cmocka_unit_test(test_transfer_syntaxes),
        cmocka_unit_test(test_generate),
        cmocka_unit_test(test_derive),
        cmocka_unit_test(test_is_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
