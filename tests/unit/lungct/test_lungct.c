/*
 * Lung nodule analyzer: doubling time, its 95 % interval and categories on fixed numbers, then
 * the merging of duplicate findings on fixed numbers, then the whole analyzer on a phantom pair
 * written by tools/phantom/make_ct_phantom.py (known nodules, a prior 180 days earlier, shifted
 * and rotated): every nodule >= 4 mm found (those on the pleura and on a vessel included, and
 * matched to their prior), the small solid spheres typed solid, no nodule reported twice,
 * volume error of solid nodules >= 6 mm, VDT against the truth; the false-positive classifier
 * on fixed feature vectors; and on the real CT of ../shared/data (lesion centroid inside the
 * annotated boxes, its volume within the boxes' inscribed ellipses, lung volume plausible).
 * The phantom part needs /usr/bin/python3 with numpy and pydicom and the real part the shared
 * data; each is skipped with a message when absent. Per-nodule figures are printed for the
 * record (docs/lungct.md).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "analyzers/lungct/lungct_internal.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const RnAnalyzer rn_analyzer_lungct;

static void test_vdt_and_classes(void **state)
{
    (void)state;
    /* doubling in 200 days */
    assert_true(fabs(rn_lungct_vdt(100, 200, 200) - 200) < 1e-9);
    assert_true(fabs(rn_lungct_vdt(100, 150, 365) - 365 * M_LN2 / log(1.5)) < 1e-9);
    assert_true(rn_lungct_vdt(100, 90, 100) == 0);
    assert_string_equal(rn_lungct_vdt_class(399), "fast");
    assert_string_equal(rn_lungct_vdt_class(500), "intermediate");
    assert_string_equal(rn_lungct_vdt_class(601), "slow");
    assert_true(rn_lungct_date_days("19700102") == 1);
    assert_true(rn_lungct_date_days("20240601") - rn_lungct_date_days("20231204") == 180);
    assert_true(rn_lungct_date_days("2024") < 0);
}

/* The 95 % intervals of a change and its VDT (rn_lungct_link), against figures worked by
 * hand: 100 +- 3 mm3 then 150 +- 4.5 mm3 in 180 days (3 % each: ln 1.5 +- 1.96 x 4.24 %). */
static void test_vdt_interval(void **state)
{
    (void)state;
    RnNodule p, c;
    memset(&p, 0, sizeof p);
    memset(&c, 0, sizeof c);
    p.volume_mm3 = 100;
    p.volume_sd_mm3 = 3;
    c.volume_mm3 = 150;
    c.volume_sd_mm3 = 4.5;
    rn_lungct_link(&c, &p, 0, 180);
    assert_true(fabs(c.vdt_days - 307.7) < 0.1);
    assert_true(fabs(c.vdt_ci95_days[0] - 255.34) < 0.01);
    assert_true(fabs(c.vdt_ci95_days[1] - 387.10) < 0.01);
    assert_true(fabs(c.change_ci95_percent[0] - 38.03) < 0.01);
    assert_true(fabs(c.change_ci95_percent[1] - 63.01) < 0.01);
    assert_true(c.growth_significant);
    assert_true(fabs(c.prior_volume_sd_mm3 - 3) < 1e-12);
    assert_true(fabs(c.change_sd_percent - 6.364) < 0.001); /* 1.5 x 4.243 % */
    /* +3 % against 3 % each: within the error; no upper bound to the VDT */
    c.volume_mm3 = 103;
    c.volume_sd_mm3 = 3;
    rn_lungct_link(&c, &p, 0, 180);
    assert_false(c.growth_significant);
    assert_true(c.change_ci95_percent[0] < 0 && c.change_ci95_percent[1] > 3);
    assert_true(fabs(c.vdt_ci95_days[0] - 1118.86) < 0.01);
    assert_true(c.vdt_ci95_days[1] == 0);
    /* no SD known: the interval is the value itself */
    c.volume_sd_mm3 = p.volume_sd_mm3 = 0;
    rn_lungct_link(&c, &p, 0, 180);
    assert_true(c.growth_significant);
    assert_true(fabs(c.vdt_ci95_days[0] - c.vdt_days) < 1e-9 &&
                fabs(c.vdt_ci95_days[1] - c.vdt_days) < 1e-9);
}

static void test_categories(void **state)
{
    (void)state;
    RnNodule n[2];
    memset(n, 0, sizeof n);
    RnNoduleList l = {.items = n, .count = 0};
    RnLungCategory lr, fl;
    rn_lungct_lungrads(&l, false, &lr, NULL);
    assert_string_equal(lr.code, "1");
    n[0].type = RN_NODULE_SOLID;
    n[0].mean_axis_mm = 7.0;
    n[0].volume_mm3 = 180;
    l.count = 1;
    rn_lungct_lungrads(&l, false, &lr, NULL);
    assert_string_equal(lr.code, "3");
    rn_lungct_fleischner(&l, &fl);
    assert_string_equal(fl.code, "S1-6-8");
    n[1].type = RN_NODULE_PART_SOLID;
    n[1].mean_axis_mm = 12;
    n[1].solid_long_axis_mm = 9;
    l.count = 2;
    rn_lungct_lungrads(&l, false, &lr, NULL);
    assert_string_equal(lr.code, "4B");
    assert_int_equal(lr.nodule, 1);
    assert_non_null(strstr(lr.rule, "solid component >= 8"));
    n[0].mean_axis_mm = 15.5;
    n[0].volume_mm3 = 1900;
    l.count = 1;
    rn_lungct_lungrads(&l, false, &lr, NULL);
    assert_string_equal(lr.code, "4B");
    rn_lungct_fleischner(&l, &fl);
    assert_string_equal(fl.code, "S1->8");
    /* follow-up: growth of more than 1.5 mm */
    n[0].mean_axis_mm = 7.0;
    n[0].prior_mean_axis_mm = 5.0;
    rn_lungct_lungrads(&l, true, &lr, NULL);
    assert_string_equal(lr.code, "4A");
}

/* A nodule of this type and mean diameter d (solid component s) with its prior's, days
 * before; without a prior when has_prior is false */
static RnNodule followed_up(RnNoduleType type, double d, double s, RnNoduleType prior_type,
                            double prior_d, double prior_s, double days, bool has_prior)
{
    RnNodule n;
    memset(&n, 0, sizeof n);
    n.type = type;
    n.prior_type = prior_type;
    n.has_prior = has_prior;
    n.mean_axis_mm = d;
    n.prior_mean_axis_mm = prior_d;
    n.solid_long_axis_mm = s;
    n.prior_solid_axis_mm = prior_s;
    n.interval_days = days;
    return n;
}

static const char *lungrads_of(RnNoduleType type, double d, double s, bool is_new,
                               RnNoduleType prior_type, double prior_s, bool has_prior)
{
    static RnLungCategory c;
    RnNodule n = followed_up(type, d, s, prior_type, d, prior_s, 0, has_prior);
    n.is_new = is_new;
    rn_lungct_lungrads_nodule(&n, has_prior, &c);
    return c.code;
}

/* Lung-RADS v2022 on follow-up: a part-solid nodule by its solid component, new (a new nodule,
 * or ground glass in the prior) or growing (> 1.5 mm); a ground-glass nodule >= 30 mm new,
 * at baseline or reaching 30 mm (3) against unchanged or slowly growing (2); a solid nodule
 * entering a higher size class without growth by its size. */
static void test_lungrads_followup(void **state)
{
    (void)state;
    const RnNoduleType PS = RN_NODULE_PART_SOLID, GG = RN_NODULE_GROUND_GLASS;
    assert_string_equal(lungrads_of(PS, 5, 2, true, PS, 0, true), "3");  /* new, < 6 mm */
    assert_string_equal(lungrads_of(PS, 8, 3, true, PS, 0, true), "4A"); /* new core < 4 */
    assert_string_equal(lungrads_of(PS, 8, 5, true, PS, 0, true), "4B"); /* new core >= 4 */
    /* ground glass in the prior: the core is new */
    assert_string_equal(lungrads_of(PS, 8, 3, false, GG, 0, true), "4A");
    assert_string_equal(lungrads_of(PS, 8, 4.5, false, GG, 0, true), "4B");
    /* the core grew 2 mm, then 1 mm */
    assert_string_equal(lungrads_of(PS, 9, 6, false, PS, 4, true), "4B");
    assert_string_equal(lungrads_of(PS, 9, 6, false, PS, 5, true), "4A"); /* 6-8 mm core */
    assert_string_equal(lungrads_of(PS, 9, 3.5, false, PS, 1.5, true), "4A"); /* grew, < 4 */
    assert_string_equal(lungrads_of(PS, 9, 3.5, false, PS, 3.0, true), "3");  /* stable */
    /* the baseline rules are unchanged */
    assert_string_equal(lungrads_of(PS, 5, 2, false, PS, 0, false), "2");
    assert_string_equal(lungrads_of(PS, 8, 3, false, PS, 0, false), "3");
    assert_string_equal(lungrads_of(GG, 32, 0, false, GG, 0, false), "3");
    assert_string_equal(lungrads_of(GG, 32, 0, true, GG, 0, true), "3");
    assert_string_equal(lungrads_of(GG, 32, 0, false, GG, 0, true), "2");
    assert_string_equal(lungrads_of(GG, 20, 0, true, GG, 0, true), "2");
    /* a nodule that enlarges into a higher size class without growth (<= 1.5 mm) goes by its
     * size; within its class it stays 2 */
    RnNodule n;
    RnLungCategory c;
    memset(&n, 0, sizeof n);
    n.type = RN_NODULE_SOLID;
    n.has_prior = true;
    n.interval_days = 365;
    n.mean_axis_mm = 8.2;
    n.prior_mean_axis_mm = 7.0;
    rn_lungct_lungrads_nodule(&n, true, &c);
    assert_string_equal(c.code, "4A");
    assert_non_null(strstr(c.rule, "without growth"));
    n.prior_mean_axis_mm = 8.1;
    rn_lungct_lungrads_nodule(&n, true, &c);
    assert_string_equal(c.code, "2");
    n.mean_axis_mm = 15.4; /* from 14.2 mm */
    n.prior_mean_axis_mm = 14.2;
    rn_lungct_lungrads_nodule(&n, true, &c);
    assert_string_equal(c.code, "4B");
    n.type = RN_NODULE_GROUND_GLASS;
    n.mean_axis_mm = 31;
    n.prior_mean_axis_mm = 29.5;
    rn_lungct_lungrads_nodule(&n, true, &c);
    assert_string_equal(c.code, "3");
    n.mean_axis_mm = 8.5; /* baseline wording kept */
    n.type = RN_NODULE_SOLID;
    rn_lungct_lungrads_nodule(&n, false, &c);
    assert_string_equal(c.code, "4A");
    assert_non_null(strstr(c.rule, "8 to < 15 mm at baseline"));
}

static const char *stepped_of(RnNoduleType type, double d, double prior_d, double s,
                              double prior_s, double days, RnLungCategory *c)
{
    RnNodule n = followed_up(type, d, s, type, prior_d, prior_s, days, true);
    rn_lungct_lungrads_nodule(&n, true, c);
    return c->code;
}

/* v2022's stepped management of stable nodules (4A at its 3-month CT -> 3, 3 at its 6-month CT
 * -> 2, 4B only by the work-up) and its growth: more than 1.5 mm within 12 months; more than
 * 1.5 mm only over a longer interval is slow growth, 4B for a solid nodule or a solid
 * component. */
static void test_lungrads_stepped(void **state)
{
    (void)state;
    const RnNoduleType S = RN_NODULE_SOLID, PS = RN_NODULE_PART_SOLID;
    RnLungCategory c;
    /* 10 mm solid (4A by the prior's size), stable */
    assert_string_equal(stepped_of(S, 10.0, 10.2, 0, 0, 30, &c), "4A");
    assert_non_null(strstr(c.rule, "before its 3-month CT"));
    assert_string_equal(stepped_of(S, 10.0, 10.2, 0, 0, 91, &c), "3");
    assert_non_null(strstr(c.rule, "3-month CT"));
    assert_string_equal(stepped_of(S, 10.0, 10.2, 0, 0, 365, &c), "2");
    /* decreased into a lower size class: still stepped from the prior's category */
    assert_string_equal(stepped_of(S, 7.0, 10.0, 0, 0, 91, &c), "3");
    /* 7 mm solid (3) */
    assert_string_equal(stepped_of(S, 7.0, 7.0, 0, 0, 91, &c), "3");
    assert_non_null(strstr(c.rule, "before its 6-month CT"));
    assert_string_equal(stepped_of(S, 7.0, 7.0, 0, 0, 182, &c), "2");
    /* 16 mm (4B) stays 4B; 5 mm (2) stays 2 */
    assert_string_equal(stepped_of(S, 16.0, 16.3, 0, 0, 365, &c), "4B");
    assert_non_null(strstr(c.rule, "work-up"));
    assert_string_equal(stepped_of(S, 5.0, 5.0, 0, 0, 91, &c), "2");
    /* growth: 6.0 -> 7.6 mm within 300 days grows; over 730 days it is 0.85 mm in the last 12
     * months (730.5 days, two years of 365.25) at a constant doubling time: slow growth */
    assert_float_equal(rn_lungct_growth_12_months(6.0, 7.6, 730.5), 7.6 * (1 - sqrt(6.0 / 7.6)),
                       1e-9);
    assert_float_equal(rn_lungct_growth_12_months(6.0, 7.6, 200), 1.6, 1e-9);
    assert_float_equal(rn_lungct_growth_12_months(6.0, 5.0, 900), -1.0, 1e-9);
    assert_string_equal(stepped_of(S, 7.6, 6.0, 0, 0, 300, &c), "4A");
    assert_string_equal(stepped_of(S, 7.6, 6.0, 0, 0, 730, &c), "4B");
    assert_non_null(strstr(c.rule, "slow-growing"));
    /* +1.4 mm is not growth at any interval: 7.4 mm stays in its size class, stepped from 3 */
    assert_string_equal(stepped_of(S, 7.4, 6.0, 0, 0, 730, &c), "2");
    /* a mean diameter +0.9 mm but a volume +33 %, beyond its error: not stepped down */
    RnNodule g = followed_up(S, 10.7, 0, S, 9.8, 0, 180, true);
    g.volume_change_percent = 33;
    g.growth_significant = true;
    rn_lungct_lungrads_nodule(&g, true, &c);
    assert_string_equal(c.code, "4A");
    assert_non_null(strstr(c.rule, "not stepped down"));
    g.growth_significant = false; /* within its error: stable */
    rn_lungct_lungrads_nodule(&g, true, &c);
    assert_string_equal(c.code, "3");
    /* part-solid: 10 mm, core 5 mm stable (3 by the prior's size) */
    assert_string_equal(stepped_of(PS, 10.0, 10.0, 5.2, 5.0, 182, &c), "2");
    assert_string_equal(stepped_of(PS, 10.0, 10.0, 5.2, 5.0, 91, &c), "3");
    /* core 7 mm (4A), stable at 3 months */
    assert_string_equal(stepped_of(PS, 12.0, 12.0, 7.2, 7.0, 100, &c), "3");
    /* the core from 3.0 to 4.6 mm over 900 days: slow growth */
    assert_string_equal(stepped_of(PS, 10.0, 10.0, 4.6, 3.0, 900, &c), "4B");
    assert_non_null(strstr(c.rule, "slow-growing part-solid"));
    /* the same within 12 months grows: 4B (growing core >= 4 mm) */
    assert_string_equal(stepped_of(PS, 10.0, 10.0, 4.6, 3.0, 300, &c), "4B");
    assert_non_null(strstr(c.rule, "growing solid component"));
}

static RnNodule followed(RnNoduleType type, double d, double s, double volume, double days)
{
    RnNodule n = followed_up(type, d, s, type, d, s, days, true);
    n.volume_mm3 = n.prior_volume_mm3 = volume;
    return n;
}

/* Fleischner 2017 with a prior CT: growth (volume +25 % beyond the error, or a subsolid
 * nodule's new or growing solid component), persistence of subsolid nodules, stability past
 * the last follow-up (solid: 18 months; subsolid: 5 years). */
static void test_fleischner_followup(void **state)
{
    (void)state;
    const RnNoduleType S = RN_NODULE_SOLID, PS = RN_NODULE_PART_SOLID,
                       GG = RN_NODULE_GROUND_GLASS;
    RnNodule n[2];
    RnNoduleList l = {.items = n, .count = 1};
    RnLungCategory fl;
    n[0] = followed(S, 7.0, 0, 180, 365);
    n[0].volume_change_percent = 10;
    rn_lungct_fleischner(&l, &fl);
    assert_string_equal(fl.code, "S1-6-8");
    assert_non_null(strstr(fl.rule, "no significant growth since the prior CT (365 days)"));
    n[0].interval_days = 600;
    rn_lungct_fleischner(&l, &fl);
    assert_string_equal(fl.code, "S-STABLE");
    n[0].volume_change_percent = 40; /* +40 %, within its error: not growth */
    rn_lungct_fleischner(&l, &fl);
    assert_string_equal(fl.code, "S-STABLE");
    n[0].growth_significant = true;
    rn_lungct_fleischner(&l, &fl);
    assert_string_equal(fl.code, "S-GROWING");
    assert_int_equal(fl.nodule, 0);
    /* a new solid nodule beside it: not stable past the follow-up */
    n[0].volume_change_percent = 0;
    n[0].growth_significant = false;
    n[1] = followed(S, 4.0, 0, 33, 600);
    n[1].is_new = true;
    l.count = 2;
    rn_lungct_fleischner(&l, &fl);
    assert_string_equal(fl.code, "SM-6-8");
    l.count = 1;
    /* subsolid: persistent, then stable for 5 years */
    n[0] = followed(GG, 8.0, 0, 270, 365);
    rn_lungct_fleischner(&l, &fl);
    assert_string_equal(fl.code, "GG1->=6-P");
    n[0].interval_days = 1900;
    rn_lungct_fleischner(&l, &fl);
    assert_string_equal(fl.code, "SS-STABLE");
    n[0] = followed(PS, 10.0, 7.0, 520, 120);
    rn_lungct_fleischner(&l, &fl);
    assert_string_equal(fl.code, "PS1-S>=6-P");
    n[0] = followed(PS, 10.0, 4.0, 520, 120);
    rn_lungct_fleischner(&l, &fl);
    assert_string_equal(fl.code, "PS1->=6-P");
    n[0].prior_solid_axis_mm = 2.0; /* the core grew 2 mm */
    rn_lungct_fleischner(&l, &fl);
    assert_string_equal(fl.code, "SS-GROWING");
    n[0].prior_type = GG; /* ground glass before: a new core */
    n[0].prior_solid_axis_mm = 0;
    rn_lungct_fleischner(&l, &fl);
    assert_string_equal(fl.code, "SS-GROWING");
    /* without a prior the baseline rules alone */
    n[0].has_prior = false;
    rn_lungct_fleischner(&l, &fl);
    assert_string_equal(fl.code, "PS1->=6");
}

static RnNodule nodule_at(double x, double y, double z, double volume, double long_axis)
{
    RnNodule n;
    memset(&n, 0, sizeof n);
    n.center_patient[0] = x;
    n.center_patient[1] = y;
    n.center_patient[2] = z;
    n.volume_mm3 = volume;
    n.long_axis_mm = long_axis;
    n.prior_index = -1;
    return n;
}

/* Two findings of one nodule (issue: nodule B reported twice 0.36 mm apart) are merged into the
 * larger; separate nodules, even close ones, are kept. */
static void test_merge_duplicates(void **state)
{
    (void)state;
    RnNodule items[5];
    items[0] = nodule_at(22.8, -8.3, 9.8, 157.9, 9.2);
    items[1] = nodule_at(22.5, -8.1, 9.8, 146.0, 7.6);
    items[2] = nodule_at(33.0, 12.0, -15.0, 268.0, 8.4);
    /* 5 mm from a 4 mm nodule: outside its 2 mm radius, another nodule */
    items[3] = nodule_at(38.0, 12.0, -15.0, 33.0, 4.0);
    /* a fragment 2 mm from a 12 mm nodule's centre (its radius: 6 mm) */
    items[4] = nodule_at(-25.0, 2.0, -8.0, 20.0, 3.5);
    RnNodule big = nodule_at(-25.0, 2.0, -10.0, 905.0, 12.2);
    RnNodule all[6];
    memcpy(all, items, sizeof items);
    all[5] = big;
    RnNoduleList l = {.items = all, .count = 6};
    assert_int_equal(rn_lungct_merge_duplicates(&l), 2);
    assert_int_equal(l.count, 4);
    /* the larger of each pair survives */
    bool b = false, g = false;
    for (size_t i = 0; i < l.count; i++) {
        b |= l.items[i].volume_mm3 == 157.9;
        g |= l.items[i].volume_mm3 == 905.0;
        assert_true(l.items[i].volume_mm3 != 146.0 && l.items[i].volume_mm3 != 20.0);
    }
    assert_true(b && g);
    /* no pair left closer than the larger one's radius */
    for (size_t i = 0; i < l.count; i++)
        for (size_t k = i + 1; k < l.count; k++) {
            double d = 0;
            for (int a = 0; a < 3; a++)
                d += pow(l.items[i].center_patient[a] - l.items[k].center_patient[a], 2);
            double r = 0.5 * fmax(l.items[i].long_axis_mm, l.items[k].long_axis_mm);
            assert_true(sqrt(d) >= r);
        }
}

/* Lists the .dcm files of a folder (sorted order is not needed). */
static size_t list_dcm(const char *dir, char ***out)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    *out = NULL;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".dcm"))
            continue;
        *out = realloc(*out, (n + 1) * sizeof **out);
        size_t sz = strlen(dir) + len + 2;
        (*out)[n] = malloc(sz);
        snprintf((*out)[n], sz, "%s/%s", dir, e->d_name);
        n++;
    }
    closedir(d);
    return n;
}

static void free_list(char **l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

static void test_phantom_pair(void **state)
{
    (void)state;
    const char *src = getenv("RN_SOURCE_DIR");
    char cmd[2048], dir[] = "/tmp/rn_lungct_XXXXXX";
    if (!src || access("/usr/bin/python3", X_OK) ||
        system("/usr/bin/python3 -c 'import numpy, pydicom' 2>/dev/null")) {
        fprintf(stderr, "SKIP phantom: RN_SOURCE_DIR unset or /usr/bin/python3 without numpy "
                        "and pydicom\n");
        skip();
    }
    assert_non_null(mkdtemp(dir));
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 %s/tools/phantom/make_ct_phantom.py %s/cur && "
             "/usr/bin/python3 %s/tools/phantom/make_ct_phantom.py %s/prior --prior --days 180",
             src, dir, src, dir);
    assert_int_equal(system(cmd), 0);
    char cur_dir[300], prior_dir[300], truth_path[320];
    snprintf(cur_dir, sizeof cur_dir, "%s/cur", dir);
    snprintf(prior_dir, sizeof prior_dir, "%s/prior", dir);
    snprintf(truth_path, sizeof truth_path, "%s/truth.json", cur_dir);
    char **cur = NULL, **prior = NULL;
    size_t nc = list_dcm(cur_dir, &cur), np = list_dcm(prior_dir, &prior);
    assert_true(nc == 60 && np == 60);
    RnAnalysisInput in = {.paths = (const char *const *)cur, .count = nc,
                          .prior_paths = (const char *const *)prior, .prior_count = np};
    RnError err = {0};
    double t0 = rn_time_now();
    json_t *f = rn_analyzer_lungct.run(&in, &err);
    double secs = rn_time_now() - t0;
    assert_non_null(f);
    assert_string_equal(json_string_value(json_object_get(f, "status")), "ok");
    json_t *truth = json_load_file(truth_path, 0, NULL);
    assert_non_null(truth);
    json_t *tn = json_object_get(truth, "nodules"), *nods = json_object_get(f, "nodules");
    size_t nt = json_array_size(tn), nf = json_array_size(nods);
    bool *used = calloc(nf ? nf : 1, sizeof *used);
    double sum_err6 = 0, sum_vdt = 0;
    int n6 = 0, nvdt = 0, missed4 = 0, missed_attached = 0, novdt = 0, bad_type = 0;
    int attached_unmatched = 0;
    fprintf(stderr, "phantom pair, 0.7 mm pixels, 1 mm slices, noise 15 HU, 180 days; %.1f s for "
                    "both scans\n", secs);
    fprintf(stderr, "%-3s %-38s %9s %9s %7s %6s %6s %7s\n", "id", "nodule", "true mm3",
                    "meas mm3", "err %", "VDT", "meas", "err %");
    for (size_t i = 0; i < nt; i++) {
        json_t *t = json_array_get(tn, i);
        json_t *c = json_object_get(t, "center_patient_mm");
        double tv = json_number_value(json_object_get(t, "volume_mm3"));
        double d0 = json_number_value(json_array_get(json_object_get(t, "diameters_mm"), 0));
        double d1 = json_number_value(json_array_get(json_object_get(t, "diameters_mm"), 1));
        const char *type = json_string_value(json_object_get(t, "type"));
        size_t best = SIZE_MAX;
        double bd = 1e9;
        for (size_t k = 0; k < nf; k++) {
            json_t *p = json_object_get(json_array_get(nods, k), "center_patient_mm");
            double dd = 0;
            for (int a = 0; a < 3; a++) {
                double q = json_number_value(json_array_get(p, a)) -
                           json_number_value(json_array_get(c, a));
                dd += q * q;
            }
            if (sqrt(dd) < bd && !used[k]) {
                bd = sqrt(dd);
                best = k;
            }
        }
        bool found = best != SIZE_MAX && bd <= fmax(4.0, d0 / 2);
        double mv = 0, e = 0, vdt = 0, ve = 0;
        if (found) {
            used[best] = true;
            json_t *o = json_array_get(nods, best);
            mv = json_number_value(json_object_get(o, "volume_mm3"));
            e = 100.0 * (mv - tv) / tv;
            vdt = json_number_value(json_object_get(o, "vdt_days"));
            double tvdt = json_number_value(json_object_get(t, "vdt_days"));
            if (vdt > 0 && d0 >= 5) {
                ve = 100.0 * (vdt - tvdt) / tvdt;
                sum_vdt += fabs(ve);
                nvdt++;
            } else if (d0 >= 5) {
                novdt++;
            }
            /* small solid spheres are solid, whatever their partial volume */
            const char *id = json_string_value(json_object_get(t, "id"));
            const char *got = json_string_value(json_object_get(o, "type"));
            if ((!strcmp(id, "A") || !strcmp(id, "F")) && strcmp(got, "solid"))
                bad_type++;
            /* nodules on the pleura and on a vessel are found in both scans and matched */
            if (strstr(json_string_value(json_object_get(t, "note")), "touching") &&
                strcmp(json_string_value(json_object_get(o, "status")), "matched"))
                attached_unmatched++;
            if (!strcmp(type, "solid") && d0 >= 6 && d1 >= 6 &&
                !json_is_true(json_object_get(o, "juxtapleural"))) {
                sum_err6 += fabs(e);
                n6++;
            }
        } else if (d0 >= 4 && strstr(json_string_value(json_object_get(t, "note")), "touching")) {
            missed_attached++;
        } else if (d0 >= 4) {
            missed4++;
        }
        fprintf(stderr, "%-3s %-38s %9.1f %9.1f %7.1f %6.0f %6.0f %7.1f%s\n",
                json_string_value(json_object_get(t, "id")),
                json_string_value(json_object_get(t, "note")), tv, mv, e,
                json_number_value(json_object_get(t, "vdt_days")), vdt, ve,
                found ? "" : "  MISSED");
    }
    size_t fp = 0, dup = 0;
    for (size_t k = 0; k < nf; k++)
        fp += !used[k];
    /* no two findings closer than the larger one's radius (one nodule reported twice) */
    for (size_t k = 0; k < nf; k++)
        for (size_t q = k + 1; q < nf; q++) {
            json_t *a = json_array_get(nods, k), *b = json_array_get(nods, q);
            json_t *ca = json_object_get(a, "center_patient_mm");
            json_t *cb = json_object_get(b, "center_patient_mm");
            double d = 0;
            for (int x = 0; x < 3; x++)
                d += pow(json_number_value(json_array_get(ca, x)) -
                             json_number_value(json_array_get(cb, x)),
                         2);
            double r = 0.5 * fmax(json_number_value(json_object_get(a, "long_axis_mm")),
                                  json_number_value(json_object_get(b, "long_axis_mm")));
            dup += sqrt(d) < r;
        }
    fprintf(stderr, "duplicates: %zu; A/F not solid: %d; attached not matched: %d\n", dup,
            bad_type, attached_unmatched);
    fprintf(stderr, "missed >= 4 mm: %d free, %d touching pleura or vessel; false "
                    "positives: %zu; mean |volume error| solid >= 6 mm (free): %.1f %% (n=%d); "
                    "mean |VDT error| >= 5 mm: %.1f %% (n=%d, %d without a VDT); lungs %.0f mL\n",
            missed4, missed_attached, fp, n6 ? sum_err6 / n6 : 0, n6, nvdt ? sum_vdt / nvdt : 0,
            nvdt, novdt,
            json_number_value(json_object_get(f, "lung_volume_ml")));
    assert_int_equal(missed4, 0);
    assert_int_equal(missed_attached, 0);
    assert_int_equal(attached_unmatched, 0);
    assert_int_equal(bad_type, 0);
    assert_int_equal(dup, 0);
    assert_true(n6 >= 3 && sum_err6 / n6 < 15.0);
    assert_true(nvdt >= 6 && sum_vdt / nvdt < 20.0);
    assert_true(fp <= 2);
    free(used);
    json_decref(truth);
    json_decref(f);
    free_list(cur, nc);
    free_list(prior, np);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_real_ct(void **state)
{
    (void)state;
    const char *data = getenv("RN_SHARED_DATA");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/ct-lung-pet-ct-dx-A0001/series-2", data ? data : "");
    char **files = NULL;
    size_t n = data ? list_dcm(dir, &files) : 0;
    if (!n) {
        fprintf(stderr, "SKIP real CT: %s not found (set RN_SHARED_DATA to ../shared/data)\n",
                dir);
        skip();
    }
    RnAnalysisInput in = {.paths = (const char *const *)files, .count = n};
    RnError err = {0};
    json_t *f = rn_analyzer_lungct.run(&in, &err);
    assert_non_null(f);
    assert_string_equal(json_string_value(json_object_get(f, "status")), "ok");
    double lv = json_number_value(json_object_get(f, "lung_volume_ml"));
    fprintf(stderr, "real CT: lungs %.0f mL, %zu nodules, confidence %s\n", lv,
            json_array_size(json_object_get(f, "nodules")),
            json_string_value(json_object_get(f, "confidence")));
    assert_true(lv > 2000 && lv < 8000);
    /* 5 mm slices: analysed with a warning (docs/lungct.md), low confidence */
    assert_string_equal(json_string_value(json_object_get(f, "confidence")), "low");
    /* Extent of the lesion from the annotations: an ellipse inscribed in each slice's box,
     * times the slice spacing, bounds the volume from above (a tumour does not fill its
     * boxes); the largest box diagonal bounds the long axis. */
    json_t *proto = json_object_get(json_object_get(f, "details"), "protocol");
    double px = json_number_value(json_array_get(json_object_get(proto, "pixel_spacing_mm"), 0));
    double thk = json_number_value(json_object_get(proto, "slice_spacing_mm"));
    double box_ml = 0, box_diag = 0;
    {
        char adir[1100];
        snprintf(adir, sizeof adir, "%s/ct-lung-pet-ct-dx-A0001/annotations", data);
        DIR *d = opendir(adir);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (!strstr(e->d_name, ".xml"))
                continue;
            char path[1400], buf[4096];
            snprintf(path, sizeof path, "%s/%s", adir, e->d_name);
            FILE *fx = fopen(path, "r");
            if (!fx)
                continue;
            size_t len = fread(buf, 1, sizeof buf - 1, fx);
            fclose(fx);
            buf[len] = 0;
            const char *keys[4] = {"<xmin>", "<ymin>", "<xmax>", "<ymax>"};
            int b[4];
            for (int q = 0; q < 4; q++) {
                const char *p = strstr(buf, keys[q]);
                b[q] = p ? atoi(p + strlen(keys[q])) : 0;
            }
            double w = (b[2] - b[0]) * px, h = (b[3] - b[1]) * px;
            box_ml += M_PI / 4 * w * h * thk / 1000.0;
            box_diag = fmax(box_diag, sqrt(w * w + h * h));
        }
        if (d)
            closedir(d);
    }
    assert_true(box_ml > 10);
    /* The lesion: a nodule whose centroid lies inside the annotated box of its key slice. */
    json_t *nods = json_object_get(f, "nodules");
    bool hit = false;
    for (size_t k = 0; k < json_array_size(nods) && !hit; k++) {
        json_t *o = json_array_get(nods, k);
        const char *uid = json_string_value(json_object_get(o, "key_sop_instance_uid"));
        json_t *cv = json_object_get(o, "center_voxel");
        double x = json_number_value(json_array_get(cv, 0)),
               y = json_number_value(json_array_get(cv, 1));
        char path[1400];
        snprintf(path, sizeof path, "%s/ct-lung-pet-ct-dx-A0001/annotations/%s.xml", data, uid);
        FILE *fx = fopen(path, "r");
        if (!fx)
            continue;
        char buf[4096];
        size_t len = fread(buf, 1, sizeof buf - 1, fx);
        fclose(fx);
        buf[len] = 0;
        int b[4] = {0, 0, 0, 0};
        const char *keys[4] = {"<xmin>", "<ymin>", "<xmax>", "<ymax>"};
        for (int q = 0; q < 4; q++) {
            const char *p = strstr(buf, keys[q]);
            b[q] = p ? atoi(p + strlen(keys[q])) : -1;
        }
        if (x >= b[0] && x <= b[2] && y >= b[1] && y <= b[3]) {
            hit = true;
            fprintf(stderr, "real CT lesion: %s volume %.0f mm3, axes %.1f x %.1f mm, %s, "
                            "centroid (%.0f, %.0f) in box [%d %d %d %d]\n",
                    json_string_value(json_object_get(o, "id")),
                    json_number_value(json_object_get(o, "volume_mm3")),
                    json_number_value(json_object_get(o, "long_axis_mm")),
                    json_number_value(json_object_get(o, "short_axis_mm")),
                    json_string_value(json_object_get(o, "type")), x, y, b[0], b[1], b[2], b[3]);
            /* not leaked into the mediastinum: at most the boxes' inscribed ellipses, at least
             * a third of them; its long axis within the largest box */
            double ml = json_number_value(json_object_get(o, "volume_mm3")) / 1000.0;
            double la = json_number_value(json_object_get(o, "long_axis_mm"));
            fprintf(stderr, "real CT lesion: %.1f mL for %.1f mL of inscribed box ellipses; long "
                            "axis %.1f mm, largest box diagonal %.1f mm\n", ml, box_ml, la,
                    box_diag);
            assert_true(ml <= box_ml && ml >= box_ml / 3);
            assert_true(la <= box_diag);
            /* in the left upper lobe (patient x > 0 in LPS), against the mediastinum: the
             * lung is that of the nearest lung voxel, not "unknown" */
            assert_string_equal(json_string_value(json_object_get(o, "lung")), "left");
        }
    }
    assert_true(hit);
    /* The tumour is the only finding of mass size (>= 4 mL): the right hilar vessel tree,
     * grown by the mass path in the 30 mm envelope, was a 32 mL finding until the mass bulk
     * rule. */
    size_t nmass = 0;
    for (size_t k = 0; k < json_array_size(nods); k++)
        nmass += json_number_value(json_object_get(json_array_get(nods, k), "volume_mm3")) >= 4000;
    fprintf(stderr, "real CT: %zu findings of >= 4 mL\n", nmass);
    assert_int_equal(nmass, 1);
    json_decref(f);
    free_list(files, n);
}

/* The shipped false-positive classifier on feature vectors of the training phantoms' 1.25 mm
 * scans: the median nodule candidate scores high, a vessel junction left by the stronger opening
 * and a vessel piece (tube ratio 1.6, elongation 2.9) score below the operating point, and the
 * score falls as a candidate gets more elongated or more tube-like. */
static void test_fp_classifier(void **state)
{
    (void)state;
    double nodule[RN_LUNGCT_NFEAT] = {5.466, 1.075, 3.0, 6.17, 0.913, 4.916,
                                      0, 0, 1.8, 0.889, 1.25, 0};
    double junction[RN_LUNGCT_NFEAT] = {3.65, 1.325, 1.28, 6.24, 0.254, 2.737,
                                        0, 4, 1.988, 0.956, 1.25, 1};
    double piece[RN_LUNGCT_NFEAT] = {4.096, 2.94, 1.603, 2.02, 0.685, 4.579,
                                     0, 1, 2.542, 0.824, 1.25, 0};
    double p = rn_lungct_fp_score(nodule);
    printf("classifier: nodule %.3f, junction %.3f, piece %.3f, threshold %.4f\n", p,
           rn_lungct_fp_score(junction), rn_lungct_fp_score(piece), RN_LUNGCT_FP_THRESHOLD);
    assert_true(p > 0 && p < 1);
    assert_true(p >= RN_LUNGCT_FP_THRESHOLD);
    assert_true(rn_lungct_fp_score(junction) < RN_LUNGCT_FP_THRESHOLD);
    assert_true(rn_lungct_fp_score(piece) < RN_LUNGCT_FP_THRESHOLD);
    double f[RN_LUNGCT_NFEAT];
    memcpy(f, nodule, sizeof f);
    f[1] = 2.5; /* elongation */
    assert_true(rn_lungct_fp_score(f) < p);
    memcpy(f, nodule, sizeof f);
    f[2] = 1.1; /* tube ratio */
    assert_true(rn_lungct_fp_score(f) < p);
}

/* The lobe of a point from fitted fissures (fixed surfaces): an oblique fissure y = 0.8 z
 * through the origin in each lung, the right horizontal one at z = 20; where a fissure was not
 * found, no lobe. */
static void test_lobe_of(void **state)
{
    (void)state;
    RnLobes lb;
    memset(&lb, 0, sizeof lb);
    for (int s = 1; s <= 2; s++) {
        lb.oblique[s].found = true;
        lb.oblique[s].c[1] = 0.8;
    }
    lb.horizontal.horizontal = true;
    lb.horizontal.found = true;
    lb.horizontal.c[0] = 20;
    const double behind[3] = {-60, 30, 10}, front_high[3] = {-60, -30, 40},
                 front_low[3] = {-60, -30, 5}, left_front[3] = {60, -30, 0};
    /* 30 - 8 = 22 mm along y behind the fissure: 22 / sqrt(1.64) mm */
    assert_true(fabs(rn_lungct_fissure_distance(&lb.oblique[1], behind, NULL) -
                     22 / sqrt(1.64)) < 1e-9);
    assert_string_equal(rn_lungct_lobe_of(&lb, 1, behind), "RLL");
    assert_string_equal(rn_lungct_lobe_of(&lb, 1, front_high), "RUL");
    assert_string_equal(rn_lungct_lobe_of(&lb, 1, front_low), "RML");
    assert_string_equal(rn_lungct_lobe_of(&lb, 2, left_front), "LUL");
    assert_string_equal(rn_lungct_lobe_of(&lb, 2, behind), "LLL");
    assert_null(rn_lungct_lobe_of(&lb, 0, behind));
    lb.horizontal.found = false; /* upper or middle cannot be told */
    assert_null(rn_lungct_lobe_of(&lb, 1, front_high));
    assert_string_equal(rn_lungct_lobe_of(&lb, 1, behind), "RLL");
    lb.oblique[2].found = false;
    assert_null(rn_lungct_lobe_of(&lb, 2, left_front));
    assert_string_equal(rn_lungct_lobe_name("RML"), "right middle lobe");
    assert_null(rn_lungct_lobe_name("XYZ"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vdt_and_classes),
        cmocka_unit_test(test_vdt_interval),
        cmocka_unit_test(test_categories),
        cmocka_unit_test(test_lungrads_followup),
        cmocka_unit_test(test_lungrads_stepped),
        cmocka_unit_test(test_fleischner_followup),
        cmocka_unit_test(test_merge_duplicates),
        cmocka_unit_test(test_lobe_of),
        cmocka_unit_test(test_fp_classifier),
        cmocka_unit_test(test_phantom_pair),
        cmocka_unit_test(test_real_ct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
