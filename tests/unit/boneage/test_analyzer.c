/*
 * Tests of the bone-age analyzer end to end on DX files written here (a
 * synthetic hand): the findings follow docs/findings.md and carry the flat
 * fields of `radnode analyze --json`; MONOCHROME1 and a rotated, mirrored
 * copy give the same bone age; unknown sex gives both estimates and no SDS;
 * PatientAge is used without a birth date; two hands, a chest-like gradient
 * and pydicom's CT_small (when installed) are refused with a reason. The
 * figures are not clinical (a synthetic image); what is checked is the
 * plumbing and the invariances.
 *
 * Needs a model with the boneage-v2 interface: $RN_BONEAGE_MODEL, else
 * models/boneage-v2.onnx in the source tree, else /tmp/smoke.onnx; skipped
 * when there is none.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "radnode/analyzer.h"
#include "unit/boneage/boneage_fixtures.h"

#include <unistd.h>

extern const RnAnalyzer rn_analyzer_boneage;

typedef struct Ctx {
    char dir[64];
    char models[1024];
    bool have_model;
} Ctx;

static int setup(void **state)
{
    Ctx *c = calloc(1, sizeof *c);
    snprintf(c->dir, sizeof c->dir, "/tmp/rn_boneage_an_XXXXXX");
    if (!mkdtemp(c->dir))
        return -1;
    const char *src = getenv("RN_SOURCE_DIR");
    snprintf(c->models, sizeof c->models, "%s/models", src ? src : ".");
    char p[1100];
    snprintf(p, sizeof p, "%s/boneage-v2.onnx", c->models);
    const char *env = getenv("RN_BONEAGE_MODEL");
    if (env && access(env, R_OK) == 0)
        c->have_model = true;
    else if (access(p, R_OK) == 0)
        c->have_model = true;
    else if (access("/tmp/smoke.onnx", R_OK) == 0) {
        setenv("RN_BONEAGE_MODEL", "/tmp/smoke.onnx", 1);
        c->have_model = true;
    }
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    Ctx *c = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", c->dir);
    if (system(cmd) != 0)
        return -1;
    free(c);
    return 0;
}

static json_t *analyse(Ctx *c, const char *path)
{
    const char *paths[1] = {path};
    RnAnalysisInput in = {.study_uid = "1.2.3", .paths = paths, .count = 1,
                          .models_dir = c->models, .threads = 1};
    RnError e = {0};
    json_t *j = rn_analyzer_boneage.run(&in, &e);
    if (!j)
        fail_msg("boneage: %s", e.message);
    assert_true(json_is_object(j));
    return j;
}

static double num(const json_t *j, const char *key)
{
    json_t *v = json_object_get(j, key);
    assert_true(json_is_number(v));
    return json_number_value(v);
}

static void hand_ok_and_invariant(void **state)
{
    Ctx *c = *state;
    if (!c->have_model) {
        skip();
        return;
    }
    uint8_t *px = malloc(HAND_W * HAND_H);
    synth_hand(px);
    char p0[128], p1[128], p2[128];
    snprintf(p0, sizeof p0, "%s/m2.dcm", c->dir);
    snprintf(p1, sizeof p1, "%s/m1.dcm", c->dir);
    snprintf(p2, sizeof p2, "%s/rot.dcm", c->dir);
    assert_int_equal(write_dx(p0, px, HAND_W, HAND_H, DICOM_MONO2_8, "M", "20140101", NULL), 0);
    assert_int_equal(write_dx(p1, px, HAND_W, HAND_H, DICOM_MONO1_8, "M", "20140101", NULL), 0);
    /* rotated 90 degrees clockwise and mirrored: a right hand lying sideways */
    RnBoneageImage a = {HAND_W, HAND_H, px}, t = {0};
    assert_int_equal(rn_boneage_transform(&a, 90, true, &t, NULL), 0);
    assert_int_equal(write_dx(p2, t.pixels, t.width, t.height, DICOM_MONO2_8, "M", "20140101",
                              NULL), 0);
    rn_boneage_image_free(&t);

    json_t *j0 = analyse(c, p0), *j1 = analyse(c, p1), *j2 = analyse(c, p2);
    assert_string_equal(json_string_value(json_object_get(j0, "status")), "ok");
    assert_string_equal(json_string_value(json_object_get(j0, "analyzer")), "boneage");
    assert_string_equal(json_string_value(json_object_get(j0, "sex")), "M");
    assert_string_equal(json_string_value(json_object_get(j0, "patient_id")), "BA-UNIT");
    assert_true(json_is_null(json_object_get(j0, "error")));
    double ba = num(j0, "bone_age_months");
    assert_true(ba >= 0 && ba <= RN_BONEAGE_MAX_MONTHS);
    assert_true(num(j0, "uncertainty_months") >= 0);
    /* 2014-01-01 .. 2024-01-15: 3666 days */
    assert_true(fabs(num(j0, "chronological_age_months") - round(3666 / 30.4375 * 10) / 10) < 1e-9);
    assert_true(json_is_number(json_object_get(j0, "sds")));
    const char *sha = json_string_value(
        json_object_get(json_object_get(json_object_get(j0, "algorithm"), "model"), "sha256"));
    assert_non_null(sha);
    assert_int_equal(strlen(sha), 64);
    assert_true(json_array_size(json_object_get(j0, "measurements")) >= 4);
    assert_int_equal(json_array_size(json_object_get(j0, "overlays")), 1);
    assert_true(json_array_size(json_object_get(json_object_get(j0, "text"), "zh")) >= 2);
    /* invariances: MONOCHROME1, rotation + mirror */
    assert_true(num(j1, "bone_age_months") == ba);
    assert_true(num(j2, "bone_age_months") == ba);
    json_t *lat = json_object_get(json_object_get(j2, "details"), "laterality");
    json_t *lat0 = json_object_get(json_object_get(j0, "details"), "laterality");
    /* The mirrored copy gets the opposite side decision. Which one is "left" for this cartoon
     * hand is up to the learned check when it is installed (boneage-orient-v2 calls the cartoon
     * a right hand with p 0.88; the geometric thumb rule, tested in test_preprocess, a left). */
    assert_true(json_is_true(json_object_get(lat, "mirrored")) !=
                json_is_true(json_object_get(lat0, "mirrored")));
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(j2, "details"), "preprocessing"),
                         "rotation_cw_degrees")),
                     90); /* mirror(rot90(x)) = rot270(mirror(x)): turn 90 back, then mirror */
    json_decref(j0);
    json_decref(j1);
    json_decref(j2);
    free(px);
}

static void unknown_sex_and_patient_age(void **state)
{
    Ctx *c = *state;
    if (!c->have_model) {
        skip();
        return;
    }
    uint8_t *px = malloc(HAND_W * HAND_H);
    synth_hand(px);
    char p[128];
    snprintf(p, sizeof p, "%s/u.dcm", c->dir);
    assert_int_equal(write_dx(p, px, HAND_W, HAND_H, DICOM_MONO2_8, NULL, NULL, "009Y"), 0);
    json_t *j = analyse(c, p);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "ok");
    assert_string_equal(json_string_value(json_object_get(j, "sex")), "U");
    assert_true(json_is_null(json_object_get(j, "bone_age_months")));
    assert_true(json_is_null(json_object_get(j, "sds")));
    assert_true(json_is_number(json_object_get(j, "bone_age_months_if_male")));
    assert_true(json_is_number(json_object_get(j, "bone_age_months_if_female")));
    assert_true(num(j, "chronological_age_months") == 114.0); /* 9.5 years */
    /* two bone-age measurements (male and female assumption), qualified */
    size_t n_ba = 0;
    json_t *m;
    size_t i;
    json_array_foreach(json_object_get(j, "measurements"), i, m)
    {
        const char *v = json_string_value(json_object_get(json_object_get(m, "concept"), "value"));
        if (v && !strcmp(v, "37362-1")) {
            n_ba++;
            assert_true(json_is_object(json_object_get(m, "qualifier")));
        }
    }
    assert_int_equal(n_ba, 2);
    json_decref(j);
    free(px);
}

static void refusals(void **state)
{
    Ctx *c = *state;
    if (!c->have_model) {
        skip();
        return;
    }
    uint8_t *one = malloc(HAND_W * HAND_H), *two = malloc(2 * HAND_W * HAND_H);
    synth_hand(one);
    for (uint32_t y = 0; y < HAND_H; y++) {
        memcpy(two + (size_t)y * 2 * HAND_W, one + (size_t)y * HAND_W, HAND_W);
        memcpy(two + (size_t)y * 2 * HAND_W + HAND_W, one + (size_t)y * HAND_W, HAND_W);
    }
    char p[128];
    snprintf(p, sizeof p, "%s/two.dcm", c->dir);
    assert_int_equal(write_dx(p, two, 2 * HAND_W, HAND_H, DICOM_MONO2_8, "F", NULL, NULL), 0);
    json_t *j = analyse(c, p);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "refused");
    assert_non_null(strstr(json_string_value(json_object_get(j, "refusal_reason")), "two hands"));
    assert_true(json_is_string(json_object_get(j, "error")));
    json_decref(j);

    synth_gradient(one, HAND_W, HAND_H);
    snprintf(p, sizeof p, "%s/chest.dcm", c->dir);
    assert_int_equal(write_dx(p, one, HAND_W, HAND_H, DICOM_MONO2_8, "F", NULL, NULL), 0);
    j = analyse(c, p);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "refused");
    assert_non_null(strstr(json_string_value(json_object_get(j, "refusal_reason")), "not a hand"));
    json_decref(j);

    const char *ct = "/usr/lib/python3/dist-packages/pydicom/data/test_files/CT_small.dcm";
    if (access(ct, R_OK) == 0) {
        j = analyse(c, ct);
        assert_string_equal(json_string_value(json_object_get(j, "status")), "refused");
        json_decref(j);
    }
    free(one);
    free(two);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hand_ok_and_invariant),
        cmocka_unit_test(unknown_sex_and_patient_age),
        cmocka_unit_test(refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
