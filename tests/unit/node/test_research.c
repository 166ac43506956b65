/*
 * Research export (src/node/research.c, [research] in config.c): the
 * configuration section's keys and refusals, the export name and query
 * checks, and the refusals of rn_research_export that need no store
 * (disabled, bad name, existing name, missing secret). The export itself is
 * tested end to end in tests/integration/test_research_export.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "radnode/research.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int parse(RnNodeConfig *c, const char *text, RnError *err)
{
    rn_node_config_defaults(c);
    return rn_node_config_parse(text, "t.conf", c, err);
}

static void test_config(void **state)
{
    (void)state;
    static RnNodeConfig c;
    RnError err = {0};
    rn_node_config_defaults(&c);
    assert_string_equal(c.research.export_root, "");
    assert_int_equal(c.research.profile, RN_DEID_PROFILE_RESEARCH);
    assert_int_equal(parse(&c,
                           "[research]\nexport_root = /srv/x\nsecret_file = /etc/k\n"
                           "profile = teaching\nretain_modified_dates = yes\n"
                           "clean_descriptors = no\nblank = 0,0,10,20\nblank = 5,5,1,1\n"
                           "refuse_burned_in = yes\n",
                           &err),
                     0);
    assert_string_equal(c.research.export_root, "/srv/x");
    assert_int_equal(c.research.profile, RN_DEID_PROFILE_TEACHING);
    assert_int_equal(c.research.retain_modified_dates, 1);
    assert_int_equal(c.research.clean_descriptors, -1);
    assert_int_equal(c.research.retain_patient_characteristics, 0);
    assert_int_equal(c.research.region_count, 2);
    assert_int_equal(c.research.regions[0].height, 20);
    assert_true(c.research.refuse_burned_in);

    const struct {
        const char *text, *msg;
    } bad[] = {
        {"[research]\nexport_root = /srv/../etc\nsecret_file = /k\n", "without \"..\""},
        {"[research]\nexport_root = /srv/..\nsecret_file = /k\n", "without \"..\""},
        {"[research]\nexport_root = relative/dir\nsecret_file = /k\n", "absolute"},
        {"[research]\nexport_root = /srv/x\n", "needs secret_file"},
        {"[research]\nprofile = everything\n", "t.conf:2: invalid value"},
        {"[research]\nblank = 1,2,0,4\n", "t.conf:2: invalid value"},
        {"[research]\nexport = /srv\n", "t.conf:2: unknown key"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        assert_int_not_equal(parse(&c, bad[i].text, &err), 0);
        if (!strstr(err.message, bad[i].msg))
            fail_msg("%s: message \"%s\" lacks \"%s\"", bad[i].text, err.message, bad[i].msg);
    }
    /* "..." and "a..b" are names, not parent references. */
    assert_int_equal(parse(&c, "[research]\nexport_root = /srv/a..b/...\nsecret_file = /k\n", &err),
                     0);
}

static void test_checks(void **state)
{
    (void)state;
    RnError err = {0};
    assert_int_equal(rn_research_name_check("study-2026_q3.v1", &err), 0);
    const char *bad_names[] = {"", "..", "../x", ".hidden", "a/b", "a b", NULL,
                               "x123456789012345678901234567890123456789012345678901234567890abcd"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++)
        assert_int_equal(rn_research_name_check(bad_names[i], &err), RN_ERR_INVALID);

    RnResearchQuery q = {0};
    assert_int_equal(rn_research_query_check(&q, &err), RN_ERR_INVALID);
    assert_non_null(strstr(err.message, "at least one filter"));
    q.modality = "CT";
    assert_int_equal(rn_research_query_check(&q, &err), 0);
    q.date_from = "2026-01-01";
    assert_int_equal(rn_research_query_check(&q, &err), RN_ERR_INVALID);
    assert_non_null(strstr(err.message, "date_from"));
    q.date_from = "20260101";
    q.modality = "CT' OR 1=1 --";
    assert_int_equal(rn_research_query_check(&q, &err), RN_ERR_INVALID);
    q.modality = "CT";
    q.study_uid = "1.2.*";
    assert_int_equal(rn_research_query_check(&q, &err), RN_ERR_INVALID);
    q.study_uid = NULL;
    q.analyzer = "boneage";
    q.patient_id = "P\\Q";
    assert_int_equal(rn_research_query_check(&q, &err), RN_ERR_INVALID);
}

static void test_export_refusals(void **state)
{
    (void)state;
    static RnNodeConfig c;
    RnError err = {0};
    RnResearchQuery q = {.modality = "CT"};
    RnResearchSummary sum;
    rn_node_config_defaults(&c);
    assert_int_equal(rn_research_export(&c, "x", &q, NULL, "t", NULL, &sum, &err),
                     RN_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.message, "disabled"));

    char root[] = "/tmp/rn_research_unit.XXXXXX";
    assert_non_null(mkdtemp(root));
    char path[256];
    snprintf(c.research.export_root, sizeof c.research.export_root, "%s", root);
    snprintf(c.research.secret_file, sizeof c.research.secret_file, "%s/no-such-key", root);
    snprintf(c.data_dir, sizeof c.data_dir, "%s/data", root);
    assert_int_equal(rn_research_export(&c, "../up", &q, NULL, "t", NULL, &sum, &err),
                     RN_ERR_INVALID);
    snprintf(path, sizeof path, "%s/taken", root);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(rn_research_export(&c, "taken", &q, NULL, "t", NULL, &sum, &err),
                     RN_ERR_INVALID);
    assert_non_null(strstr(err.message, "exists already"));
    snprintf(path, sizeof path, "%s/link", root);
    assert_int_equal(symlink("/tmp", path), 0);
    assert_int_equal(rn_research_export(&c, "link", &q, NULL, "t", NULL, &sum, &err),
                     RN_ERR_INVALID);
    /* No key: refused before anything is written. */
    assert_int_not_equal(rn_research_export(&c, "fresh", &q, NULL, "t", NULL, &sum, &err), 0);
    assert_non_null(strstr(err.message, "secret_file"));
    snprintf(path, sizeof path, "%s/fresh", root);
    assert_int_equal(access(path, F_OK), -1);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_checks),
        cmocka_unit_test(test_export_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
