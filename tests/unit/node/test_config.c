/*
 * Node configuration and routing rules: the built-in defaults parse and
 * describe a working first run; a user's file overrides them; every error
 * names the file and line; routes match on the index attributes as a PACS
 * administrator expects (case-insensitive, lists, numeric thresholds).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "radnode/node.h"

#include <string.h>

static void test_defaults(void **state)
{
    (void)state;
    RnNodeConfig c;
    rn_node_config_defaults(&c);
    assert_string_equal(c.ae_title, "RADNODE");
    assert_int_equal(c.dicom_port, 11112);
    assert_string_equal(c.http_bind, "127.0.0.1");
    assert_int_equal(c.route_count, 2);
    assert_string_equal(c.routes[0].analyzer, "boneage");
    assert_true(c.routes[0].series_level);
    assert_int_equal(c.destination_count, 0);
    assert_true(c.min_free_bytes == 1024ull << 20);
}

static void test_user_file_and_errors(void **state)
{
    (void)state;
    RnNodeConfig c;
    rn_node_config_defaults(&c);
    const char *text = "[node]\nae_title = AI1\ndicom_port = 4100\nlanguage = zh\n"
                       "[access]\nallowed_calling_aes = PACS, CT1\n"
                       "[route hand-bone-age]\nanalyzer = boneage\nwhen = Modality = CR\n"
                       "[destination pacs]\ntype = dicom\nhost = 127.0.0.1\nport = 4242\n"
                       "ae_title = ORTHANC\n"
                       "[destination ris]\ntype = hl7\nhost = localhost\nport = 2575\n";
    RnError err = {0};
    assert_int_equal(rn_node_config_parse(text, "test.conf", &c, &err), 0);
    assert_string_equal(c.ae_title, "AI1");
    assert_int_equal(c.dicom_port, 4100);
    assert_string_equal(c.language, "zh");
    assert_int_equal(c.allowed_calling_ae_count, 2);
    assert_string_equal(c.allowed_calling_aes[1], "CT1");
    assert_int_equal(c.route_count, 2); /* same-named route replaced, not added */
    assert_int_equal(c.routes[0].condition_count, 1);
    assert_int_equal(c.destination_count, 2);
    assert_int_equal(c.destinations[1].type, RN_DEST_HL7);

    const char *bad[] = {
        "[node]\ndicom_port = 70000\n",
        "[node]\nae_titel = X\n",
        "[nodes]\n",
        "ae_title = X\n",
        "[route r]\nwhen = Modality = CT\n",
        "[route r]\nanalyzer = x\nwhen = SliceThickness <= thin\n",
        "[destination d]\ntype = dicom\nhost = h\nport = 1\n",
        "[node]\nlanguage = fr\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        RnNodeConfig d;
        rn_node_config_defaults(&d);
        RnError e = {0};
        assert_int_not_equal(rn_node_config_parse(bad[i], "bad.conf", &d, &e), 0);
        assert_non_null(strstr(e.message, "bad.conf"));
    }
}

static void test_routes(void **state)
{
    (void)state;
    RnNodeConfig c;
    rn_node_config_defaults(&c);
    RnInstanceInfo hand = {0};
    strcpy(hand.modality, "CR");
    strcpy(hand.body_part, "hand");
    RnInstanceInfo chest = {0};
    strcpy(chest.modality, "DX");
    strcpy(chest.body_part, "CHEST");
    RnInstanceInfo ct_thin = {0}, ct_thick = {0}, ct_unknown = {0};
    strcpy(ct_thin.modality, "CT");
    ct_thin.slice_thickness = 1.25;
    strcpy(ct_thick.modality, "CT");
    ct_thick.slice_thickness = 5;
    strcpy(ct_unknown.modality, "CT");
    assert_true(rn_route_matches(&c.routes[0], &hand));
    assert_false(rn_route_matches(&c.routes[0], &chest));
    assert_true(rn_route_matches(&c.routes[1], &ct_thin));
    assert_false(rn_route_matches(&c.routes[1], &ct_thick));
    assert_false(rn_route_matches(&c.routes[1], &ct_unknown));
    RnRouteCondition cond;
    RnError err = {0};
    assert_int_equal(rn_route_condition_parse("SeriesDescription ~ lung", &cond, &err), 0);
    RnRoute r = {.condition_count = 1};
    r.conditions[0] = cond;
    RnInstanceInfo s = {0};
    strcpy(s.series_description, "Thorax LUNG 1.0 B70f");
    assert_true(rn_route_matches(&r, &s));
    strcpy(s.series_description, "Abdomen");
    assert_false(rn_route_matches(&r, &s));
    assert_int_not_equal(rn_route_condition_parse("Modality ?? CT", &cond, &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_user_file_and_errors),
        cmocka_unit_test(test_routes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
