/*
 * De-identification unit tests (PS3.15 Annex E): the Table E.1-1 rules are
 * checked attribute by attribute for the Basic Profile and for the research
 * options (every table attribute with a string VR is put in a dataset, the
 * profile applied, and the result compared with the rule's action); keyed
 * pseudonyms, UID maps and date shifts are stable and secret-dependent; date
 * arithmetic across months, leap years and partial DT values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "radnode/deid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void secret(RnDeidOptions *o, const char *s)
{
    memset(o, 0, sizeof *o);
    o->secret_len = strlen(s);
    memcpy(o->secret, s, o->secret_len);
}

static void test_table_sorted_and_found(void **state)
{
    (void)state;
    size_t n = 0;
    for (const RnDeidRule *r = rn_deid_rule_at(0), *prev = NULL; r; prev = r, r = rn_deid_rule_at(++n)) {
        if (prev)
            assert_true(prev->tag < r->tag);
        assert_ptr_equal(rn_deid_rule_find(r->tag), r);
    }
    assert_true(n > 400);
    assert_null(rn_deid_rule_find(RN_TAG_Rows));
    assert_string_equal(rn_deid_rule_find(RN_TAG_PatientName)->basic, "Z");
    assert_string_equal(rn_deid_rule_find(RN_TAG_SOPInstanceUID)->basic, "U");
}

static const char *value_for(RnVR vr)
{
    switch (vr) {
    case RN_VR_DA: return "20040119";
    case RN_VR_DT: return "20040119101010";
    case RN_VR_TM: return "101010";
    case RN_VR_UI: return "1.3.6.1.4.1.5962.99.1";
    case RN_VR_PN: return "Doe^Jane";
    case RN_VR_AS: return "012Y";
    case RN_VR_IS: return "42";
    case RN_VR_DS: return "42.5";
    case RN_VR_CS: return "SECRETCS";
    case RN_VR_AE: return "SECRETAE";
    case RN_VR_SH: case RN_VR_LO: case RN_VR_ST: case RN_VR_LT: case RN_VR_UT: case RN_VR_UC:
        return "Secret value";
    default: return NULL;
    }
}

/* Expected outcome of a rule under the options, mirroring E.3's precedence:
 * Modified Dates C shifts dates; an option's K keeps; C cleans (text kept
 * when nothing identifying is in it); X removes; else the Basic action. */
static void check_profile(RnDeidProfile profile)
{
    RnDeidOptions o;
    secret(&o, "unit-test-secret-0123456789");
    rn_deid_options_set_profile(&o, profile);
    RnDataset *ds = rn_dataset_create();
    RnError err = {0};
    assert_int_equal(rn_dataset_set_string(ds, RN_TAG_SOPClassUID, RN_VR_UI,
                                           "1.2.840.10008.5.1.4.1.1.2", &err), 0);
    size_t checked = 0;
    for (size_t i = 0; rn_deid_rule_at(i); i++) {
        const RnDeidRule *r = rn_deid_rule_at(i);
        const RnDictEntry *e = rn_dict_find_tag(r->tag);
        if (!e || RN_TAG_GROUP(r->tag) <= 0x0002 || r->tag == RN_TAG_PatientID)
            continue;
        const char *v = value_for(e->vr);
        if (v)
            assert_int_equal(rn_dataset_set_string(ds, r->tag, e->vr, v, &err), 0);
    }
    assert_int_equal(rn_dataset_set_string(ds, RN_TAG_PatientID, RN_VR_LO, "PID1", &err), 0);
    RnDeidResult res;
    assert_int_equal(rn_deid_dataset(ds, &o, &res, &err), 0);
    int shift = 0;
    assert_int_equal(rn_deid_date_shift_days(&o, "id:PID1", &shift, &err), 0);
    for (size_t i = 0; rn_deid_rule_at(i); i++) {
        const RnDeidRule *r = rn_deid_rule_at(i);
        const RnDictEntry *e = rn_dict_find_tag(r->tag);
        if (!e || RN_TAG_GROUP(r->tag) <= 0x0002 || !value_for(e->vr))
            continue;
        const char *orig = value_for(e->vr);
        bool present = rn_dataset_has(ds, r->tag);
        char got[256] = "";
        if (present)
            rn_dataset_get_string(ds, r->tag, 0, got, sizeof got, NULL);
        char ctx[160];
        snprintf(ctx, sizeof ctx, "%s (%04X,%04X) %s", r->name, RN_TAG_GROUP(r->tag),
                 RN_TAG_ELEMENT(r->tag), r->basic);
        char keep = '-', clean = '-', rem = '-';
        const char cols[] = {o.retain_patient_characteristics ? r->patient_characteristics : '-',
                             o.retain_device_identity ? r->device_identity : '-',
                             o.retain_uids ? r->uids : '-',
                             o.clean_descriptors ? r->clean_descriptors : '-',
                             o.clean_structured_content ? r->clean_structured_content : '-'};
        for (size_t k = 0; k < sizeof cols; k++) {
            keep = cols[k] == 'K' ? 'K' : keep;
            clean = cols[k] == 'C' ? 'C' : clean;
            rem = cols[k] == 'X' ? 'X' : rem;
        }
        if (r->tag == RN_TAG_PatientName || r->tag == RN_TAG_PatientID) {
            assert_string_equal(got, res.pseudonym);
        } else if (o.retain_modified_dates && r->modified_dates == 'C') {
            if (e->vr == RN_VR_DA || e->vr == RN_VR_DT) {
                char want[64];
                assert_int_equal(rn_deid_shift_date_value(orig, e->vr, shift, want, sizeof want,
                                                          NULL), 0);
                if (strcmp(got, want))
                    fail_msg("%s: date '%s', want '%s'", ctx, got, want);
            } else if (strcmp(got, orig)) {
                fail_msg("%s: time '%s' should be kept", ctx, got);
            }
        } else if (keep == 'K') {
            if (strcmp(got, orig))
                fail_msg("%s: kept value '%s' != '%s'", ctx, got, orig);
        } else if (clean == 'C' && e->vr != RN_VR_PN) {
            /* Cleaned: the text stays, identifying parts overwritten with X
             * (here the same string sits in identifying attributes too). */
            bool same_shape = strlen(got) == strlen(orig);
            for (size_t k = 0; same_shape && got[k]; k++)
                same_shape = got[k] == orig[k] || got[k] == 'X';
            if (!same_shape)
                fail_msg("%s: cleaned value '%s' from '%s'", ctx, got, orig);
        } else if (rem == 'X' || !strcmp(r->basic, "X")) {
            if (present && !(r->tag == RN_TAG(0x300A, 0x00B2) && !got[0]))
                fail_msg("%s: should be removed, is '%s'", ctx, got);
        } else if (!strcmp(r->basic, "Z") || !strcmp(r->basic, "X/Z")) {
            if (!present || got[0])
                fail_msg("%s: should be empty, is %s '%s'", ctx, present ? "" : "absent", got);
        } else if (!strcmp(r->basic, "U")) {
            if (!present || !strcmp(got, orig) || !rn_uid_is_valid(got))
                fail_msg("%s: UID '%s' not replaced", ctx, got);
        } else { /* D and the D-including compound actions */
            if (!present || !got[0] || !strcmp(got, orig))
                fail_msg("%s: dummy expected, got '%s'", ctx, got);
        }
        checked++;
    }
    assert_true(checked > 300);
    char v[64];
    assert_int_equal(rn_dataset_get_string(ds, RN_TAG(0x0012, 0x0062), 0, v, sizeof v, NULL), 0);
    assert_string_equal(v, "YES");
    rn_dataset_destroy(ds);
}

static void test_basic_profile_table(void **state)
{
    (void)state;
    check_profile(RN_DEID_PROFILE_BASIC);
}

static void test_research_profile_table(void **state)
{
    (void)state;
    check_profile(RN_DEID_PROFILE_RESEARCH);
}

static void test_teaching_profile_table(void **state)
{
    (void)state;
    check_profile(RN_DEID_PROFILE_TEACHING);
}

static void test_keyed_values(void **state)
{
    (void)state;
    RnDeidOptions a, b;
    secret(&a, "hospital-A-secret-key-0001");
    secret(&b, "hospital-B-secret-key-0002");
    char p1[RN_DEID_PSEUDONYM_MAX], p2[RN_DEID_PSEUDONYM_MAX], p3[RN_DEID_PSEUDONYM_MAX];
    assert_int_equal(rn_deid_pseudonym(&a, "12345", p1, NULL), 0);
    assert_int_equal(rn_deid_pseudonym(&a, "12345", p2, NULL), 0);
    assert_int_equal(rn_deid_pseudonym(&b, "12345", p3, NULL), 0);
    assert_string_equal(p1, p2);
    assert_string_not_equal(p1, p3);
    assert_int_equal(strlen(p1), 19);
    assert_memory_equal(p1, "RN-", 3);
    char u1[RN_UID_MAX + 1], u2[RN_UID_MAX + 1], u3[RN_UID_MAX + 1];
    assert_int_equal(rn_deid_map_uid(&a, "1.2.3.4", u1, NULL), 0);
    assert_int_equal(rn_deid_map_uid(&a, "1.2.3.4", u2, NULL), 0);
    assert_int_equal(rn_deid_map_uid(&b, "1.2.3.4", u3, NULL), 0);
    assert_string_equal(u1, u2);
    assert_string_not_equal(u1, u3);
    assert_true(rn_uid_is_valid(u1));
    int d1, d2;
    assert_int_equal(rn_deid_date_shift_days(&a, "12345", &d1, NULL), 0);
    assert_int_equal(rn_deid_date_shift_days(&a, "12345", &d2, NULL), 0);
    assert_int_equal(d1, d2);
    assert_true(d1 <= -366 && d1 >= -3652);
    RnDeidOptions none;
    memset(&none, 0, sizeof none);
    assert_int_not_equal(rn_deid_pseudonym(&none, "12345", p1, NULL), 0);
}

static void test_date_shift(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(rn_deid_shift_date_value("20040301", RN_VR_DA, -1, out, sizeof out, NULL), 0);
    assert_string_equal(out, "20040229");
    assert_int_equal(rn_deid_shift_date_value("20000101", RN_VR_DA, -365, out, sizeof out, NULL), 0);
    assert_string_equal(out, "19990101");
    assert_int_equal(rn_deid_shift_date_value("20040119\\20040120", RN_VR_DA, 10, out, sizeof out,
                                              NULL), 0);
    assert_string_equal(out, "20040129\\20040130");
    assert_int_equal(rn_deid_shift_date_value("20040101-20040201", RN_VR_DA, -1, out, sizeof out,
                                              NULL), 0);
    assert_string_equal(out, "20031231-20040131");
    assert_int_equal(rn_deid_shift_date_value("20040119101010.5+0100", RN_VR_DT, -19, out,
                                              sizeof out, NULL), 0);
    assert_string_equal(out, "20031231101010.5+0100");
    assert_int_equal(rn_deid_shift_date_value("2004", RN_VR_DT, -1, out, sizeof out, NULL), 0);
    assert_string_equal(out, "2003");
    assert_int_not_equal(rn_deid_shift_date_value("yesterday", RN_VR_DA, 1, out, sizeof out, NULL),
                         0);
    assert_int_not_equal(rn_deid_shift_date_value("20041301", RN_VR_DA, 1, out, sizeof out, NULL), 0);
}

static void test_sequences_private_and_text(void **state)
{
    (void)state;
    RnDeidOptions o;
    secret(&o, "unit-test-secret-0123456789");
    rn_deid_options_set_profile(&o, RN_DEID_PROFILE_RESEARCH);
    RnDataset *ds = rn_dataset_create();
    RnError err = {0};
    rn_dataset_set_string(ds, RN_TAG_PatientName, RN_VR_PN, "Smith^Alice", &err);
    rn_dataset_set_string(ds, RN_TAG_PatientID, RN_VR_LO, "MRN77881", &err);
    rn_dataset_set_string(ds, RN_TAG_StudyDescription, RN_VR_LO, "CT chest for Smith MRN77881",
                          &err);
    rn_dataset_set_string(ds, RN_TAG(0x0029, 0x0010), RN_VR_LO, "VENDOR", &err);
    rn_dataset_set_string(ds, RN_TAG(0x0029, 0x1001), RN_VR_LO, "Smith^Alice", &err);
    RnDataset *item = rn_dataset_add_item(ds, RN_TAG(0x0040, 0xA730), &err);
    rn_dataset_set_string(item, RN_TAG(0x0040, 0xA040), RN_VR_CS, "TEXT", &err);
    rn_dataset_set_string(item, RN_TAG(0x0040, 0xA160), RN_VR_UT, "Alice Smith, nodule stable",
                          &err);
    rn_dataset_set_string(item, RN_TAG(0x0040, 0xA123), RN_VR_PN, "Doctor^Who", &err);
    rn_dataset_set_string(item, RN_TAG(0x0008, 0x1155), RN_VR_UI, "1.2.3.99", &err);
    assert_int_equal(rn_deid_dataset(ds, &o, NULL, &err), 0);
    assert_false(rn_dataset_has(ds, RN_TAG(0x0029, 0x0010)));
    assert_false(rn_dataset_has(ds, RN_TAG(0x0029, 0x1001)));
    char v[256];
    rn_dataset_get_string(ds, RN_TAG_StudyDescription, 0, v, sizeof v, NULL);
    assert_string_equal(v, "CT chest for XXXXX XXXXXXXX");
    const RnElement *seq = rn_dataset_get(ds, RN_TAG(0x0040, 0xA730));
    assert_non_null(seq);
    assert_int_equal(rn_element_item_count(seq), 1);
    const RnDataset *it = rn_element_item(seq, 0);
    rn_dataset_get_string(it, RN_TAG(0x0040, 0xA160), 0, v, sizeof v, NULL);
    assert_string_equal(v, "XXXXX XXXXX, nodule stable");
    rn_dataset_get_string(it, RN_TAG(0x0040, 0xA123), 0, v, sizeof v, NULL);
    assert_string_equal(v, "ANONYMOUS");
    char want[RN_UID_MAX + 1];
    rn_deid_map_uid(&o, "1.2.3.99", want, NULL);
    rn_dataset_get_string(it, RN_TAG(0x0008, 0x1155), 0, v, sizeof v, NULL);
    assert_string_equal(v, want);
    rn_dataset_destroy(ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_sorted_and_found),
        cmocka_unit_test(test_basic_profile_table),
        cmocka_unit_test(test_research_profile_table),
        cmocka_unit_test(test_teaching_profile_table),
        cmocka_unit_test(test_keyed_values),
        cmocka_unit_test(test_date_shift),
        cmocka_unit_test(test_sequences_private_and_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
