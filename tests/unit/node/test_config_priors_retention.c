/*
 * The [priors] section and the retention keys: defaults (no fetching, keep
 * everything), a source naming a DICOM destination or a host/port/AE, the
 * period units of `retention` (s, m, h, d, fractions) next to the older
 * `retention_days`, and the errors for a source that is no DICOM destination
 * or a fetch without a source; the lungct analyzer's prior rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "radnode/analyzer.h"
#include "radnode/node.h"

#include <string.h>

static void test_defaults(void **state)
{
    (void)state;
    RnNodeConfig c;
    rn_node_config_defaults(&c);
    assert_false(c.priors.fetch);
    assert_int_equal(c.priors.timeout, 120);
    assert_int_equal(c.retention_days, 0);
    assert_true(c.retention_seconds == 0);
}

static void test_priors_section(void **state)
{
    (void)state;
    RnNodeConfig c;
    rn_node_config_defaults(&c);
    const char *text = "[destination pacs]\ntype = dicom\nhost = 127.0.0.1\nport = 4242\n"
                       "ae_title = ORTHANC\n"
                       "[priors]\nfetch = yes\nsource = pacs\ntimeout = 30\n"
                       "move_destination = AI1\n";
    RnError err = {0};
    assert_int_equal(rn_node_config_parse(text, "t.conf", &c, &err), 0);
    assert_true(c.priors.fetch);
    assert_string_equal(c.priors.source, "pacs");
    assert_int_equal(c.priors.timeout, 30);
    assert_string_equal(c.priors.move_destination, "AI1");

    rn_node_config_defaults(&c);
    assert_int_equal(rn_node_config_parse("[priors]\nfetch = yes\nhost = pacs.local\nport = 104\n"
                                          "ae_title = PACS\n",
                                          "t.conf", &c, &err),
                     0);
    assert_string_equal(c.priors.host, "pacs.local");
    assert_int_equal(c.priors.port, 104);

    struct {
        const char *text, *message;
    } bad[] = {
        {"[priors]\nfetch = yes\n", "needs source"},
        {"[priors]\nfetch = yes\nsource = nowhere\n", "\"nowhere\" is not a [destination]"},
        {"[destination ris]\ntype = hl7\nhost = h\nport = 2575\n[priors]\nfetch = yes\n"
         "source = ris\n",
         "\"ris\" is not a [destination] of type dicom"},
        {"[priors]\nfetch = maybe\n", "t.conf:2: invalid value \"maybe\" for fetch"},
        {"[priors]\ntimeout = 0\n", "t.conf:2: invalid value"},
        {"[priors]\nae_title = ABCDEFGHIJKLMNOPQ\n", "t.conf:2: invalid value"},
        {"[priors]\nsauce = pacs\n", "t.conf:2: unknown key \"sauce\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rn_node_config_defaults(&c);
        RnError e = {0};
        assert_int_not_equal(rn_node_config_parse(bad[i].text, "t.conf", &c, &e), 0);
        if (!strstr(e.message, bad[i].message))
            fail_msg("case %zu: \"%s\" does not contain \"%s\"", i, e.message, bad[i].message);
    }
}

static void test_retention_units(void **state)
{
    (void)state;
    struct {
        const char *text;
        double seconds;
        int days;
    } ok[] = {
        {"[node]\nretention_days = 7\n", 7 * 86400.0, 7},
        {"[node]\nretention_days = 0.5\n", 43200.0, 0},
        {"[node]\nretention = 30s\n", 30.0, 0},
        {"[node]\nretention = 15m\n", 900.0, 0},
        {"[node]\nretention = 1.5h\n", 5400.0, 0},
        {"[node]\nretention = 30d\n", 30 * 86400.0, 30},
        {"[node]\nretention = 2\n", 2 * 86400.0, 2},
        {"[node]\nretention = 0\n", 0, 0},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        RnNodeConfig c;
        rn_node_config_defaults(&c);
        RnError err = {0};
        assert_int_equal(rn_node_config_parse(ok[i].text, "t.conf", &c, &err), 0);
        assert_true(c.retention_seconds == ok[i].seconds);
        assert_int_equal(c.retention_days, ok[i].days);
    }
    const char *bad[] = {"[node]\nretention = 7w\n",   "[node]\nretention = -1d\n",
                         "[node]\nretention = d\n",    "[node]\nretention =\n",
                         "[node]\nretention = 1e9d\n", "[node]\nretention_days = x\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        RnNodeConfig c;
        rn_node_config_defaults(&c);
        RnError err = {0};
        assert_int_not_equal(rn_node_config_parse(bad[i], "t.conf", &c, &err), 0);
        assert_non_null(strstr(err.message, "t.conf:2: invalid value"));
    }
}

static void test_analyzer_rule(void **state)
{
    (void)state;
    const RnPriorRule *r = rn_analyzer_prior_rule("lungct");
    if (!rn_analyzer_find("lungct"))
        skip();
    assert_non_null(r);
    assert_int_equal(r->count, 1);
    assert_string_equal(r->modality, "CT");
    assert_true(r->min_instances >= 2);
    assert_null(rn_analyzer_prior_rule("echo"));
    assert_null(rn_analyzer_prior_rule("no-such-analyzer"));
    assert_null(rn_analyzer_prior_rule(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_priors_section),
        cmocka_unit_test(test_retention_units),
        cmocka_unit_test(test_analyzer_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
