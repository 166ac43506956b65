/*
 * [security] of the node configuration (issue 9): the default profile needs
 * nothing; profile = production refuses, with one message naming the file
 * and line, a configuration without allowed calling AE titles or addresses,
 * without the DICOM TLS certificate, key and trust anchors, or with a DICOM
 * destination that is not tls = yes; a TLS destination needs tls_ca in any
 * profile; unknown profile names are errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "radnode/node.h"

#include <stdio.h>
#include <string.h>

static const char GOOD[] = "[access]\n"                       /* 1 */
                           "allowed_calling_aes = CT1, MR1\n" /* 2 */
                           "allowed_hosts = 10.0.0.5\n"       /* 3 */
                           "[security]\n"                     /* 4 */
                           "profile = production\n"           /* 5 */
                           "tls_cert = /etc/radnode/node.pem\n"
                           "tls_key = /etc/radnode/node.key\n"
                           "tls_ca = /etc/radnode/ca.pem\n"
                           "[destination pacs]\n" /* 9 */
                           "type = dicom\n"
                           "host = 10.0.0.6\n"
                           "port = 2762\n"
                           "ae_title = PACS\n"
                           "tls = yes\n";

static int parse(const char *text, RnError *err)
{
    RnNodeConfig c;
    rn_node_config_defaults(&c);
    return rn_node_config_parse(text, "t.conf", &c, err);
}

/* GOOD with the first occurrence of `from` replaced by `to`. */
static int parse_changed(const char *from, const char *to, RnError *err)
{
    char text[2048];
    const char *at = strstr(GOOD, from);
    assert_non_null(at);
    snprintf(text, sizeof text, "%.*s%s%s", (int)(at - GOOD), GOOD, to, at + strlen(from));
    return parse(text, err);
}

static void test_default_profile(void **state)
{
    (void)state;
    RnNodeConfig c;
    rn_node_config_defaults(&c);
    assert_false(c.security.production);
    assert_string_equal(c.security.tls_cert, "");
    RnError err = {0};
    assert_int_equal(rn_node_config_parse("[security]\nprofile = default\n", "t.conf", &c, &err),
                     0);
    assert_false(c.security.production);
}

static void test_production_complete(void **state)
{
    (void)state;
    RnNodeConfig c;
    rn_node_config_defaults(&c);
    RnError err = {0};
    assert_int_equal(rn_node_config_parse(GOOD, "t.conf", &c, &err), 0);
    assert_true(c.security.production);
    assert_int_equal(c.security.profile_line, 5);
    assert_string_equal(c.security.tls_ca, "/etc/radnode/ca.pem");
    assert_true(c.destinations[0].tls);
}

static void test_production_requirements(void **state)
{
    (void)state;
    static const struct {
        const char *from, *to, *message;
    } cases[] = {
        {"allowed_calling_aes = CT1, MR1", "allowed_calling_aes =",
         "t.conf:5: profile = production needs [access] allowed_calling_aes"},
        {"allowed_hosts = 10.0.0.5",
         "allowed_hosts =", "t.conf:5: profile = production needs [access] allowed_hosts"},
        {"tls_cert = /etc/radnode/node.pem\ntls_key = /etc/radnode/node.key\n", "",
         "t.conf:5: profile = production needs [security] tls_cert and tls_key"},
        {"tls_ca = /etc/radnode/ca.pem",
         "tls_ca =", "t.conf:5: profile = production needs [security] tls_ca"},
        {"tls = yes", "tls = no",
         "t.conf:9: profile = production (line 5) needs tls = yes for DICOM destination \"pacs\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        RnError err = {0};
        assert_int_not_equal(parse_changed(cases[i].from, cases[i].to, &err), 0);
        if (!strstr(err.message, cases[i].message))
            fail_msg("case %zu: \"%s\" does not contain \"%s\"", i, err.message, cases[i].message);
    }
}

static void test_tls_destination_needs_ca(void **state)
{
    (void)state;
    RnError err = {0};
    assert_int_not_equal(parse("[destination pacs]\ntype = dicom\nhost = h\nport = 104\n"
                               "ae_title = PACS\ntls = yes\n",
                               &err),
                         0);
    assert_non_null(strstr(err.message, "t.conf:1: destination \"pacs\" has tls = yes"));
    assert_int_not_equal(parse("[security]\nprofile = strict\n", &err), 0);
    assert_non_null(strstr(err.message, "t.conf:2"));
    assert_int_not_equal(parse("[security]\ntls_cert = /a.pem\n", &err), 0);
    assert_non_null(strstr(err.message, "needs both tls_cert and tls_key"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_profile),
        cmocka_unit_test(test_production_complete),
        cmocka_unit_test(test_production_requirements),
        cmocka_unit_test(test_tls_destination_needs_ca),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
