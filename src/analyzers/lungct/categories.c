/*
 * Follow-up categories: ACR Lung-RADS v2022 (screening) and the Fleischner
 * Society 2017 guidelines (incidental nodules). Sizes are the mean of long
 * and short axis to 0.1 mm (Lung-RADS) and the volume (Fleischner: < 100,
 * 100-250, > 250 mm3 for solid nodules). Each category carries the rule text
 * that produced it, so the radiologist sees why. On follow-up: v2022's growth (more than
 * 1.5 mm within 12 months), slow growth and stepped management, and Fleischner's growth,
 * persistence and stability. Simplifications (documented
 * in docs/lungct.md): no lobe-specific, perifissural, airway or atypical-cyst
 * rules; the patient's risk is unknown to radnode, so Fleischner gives both
 * the low- and the high-risk recommendation.
 */
#include "lungct_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void set(RnLungCategory *c, const char *code, int nodule, const char *rule)
{
    snprintf(c->code, sizeof c->code, "%s", code);
    rn_format(c->rule, sizeof c->rule, "%s", rule);
    c->nodule = nodule;
}

static int rank(const char *code)
{
    static const char *order[] = {"0", "1", "2", "3", "4A", "4B", "4X"};
    for (int i = 0; i < 7; i++)
        if (!strcmp(code, order[i]))
            return i;
    return 0;
}

/* A solid nodule's size class in Lung-RADS (0: < 6 mm, 1: 6 to < 8, 2: 8 to < 15, 3: >= 15) */
static int solid_size_class(double d)
{
    return d < 6 ? 0 : d < 8 ? 1 : d < 15 ? 2 : 3;
}

/* The category of each solid size class by the baseline rules */
static const char *const SOLID_CODES[] = {"2", "3", "4A", "4B"};

/* Its category by size alone (the baseline rules), the rule naming when */
static void solid_by_size(RnLungCategory *c, double d, const char *when)
{
    const char *const *codes = SOLID_CODES;
    static const char *sizes[] = {"< 6 mm", "6 to < 8 mm", "8 to < 15 mm", ">= 15 mm"};
    int k = solid_size_class(d);
    char rule[sizeof c->rule];
    rn_format(rule, sizeof rule, "Lung-RADS v2022 %s: solid nodule %s %s", codes[k], sizes[k],
              when);
    set(c, codes[k], -1, rule);
}

/* The category a nodule of this type and size has by the baseline rules (the prior's own
 * category as far as radnode can know it: it does not read the prior's report) */
static const char *baseline_code(RnNoduleType type, double d, double s)
{
    if (type == RN_NODULE_SOLID)
        return SOLID_CODES[solid_size_class(d)];
    if (type == RN_NODULE_PART_SOLID)
        return d < 6 ? "2" : s < 6 ? "3" : s < 8 ? "4A" : "4B";
    return d < 30 ? "2" : "3";
}

const char *rn_lungct_lungrads_prior(const RnNodule *n)
{
    if (!n->has_prior || n->is_new)
        return NULL;
    return baseline_code(n->prior_type, n->prior_mean_axis_mm, n->prior_solid_axis_mm);
}

double rn_lungct_growth_12_months(double d1, double d2, double days)
{
    if (!(d1 > 0) || !(d2 > d1) || !(days > RN_LUNGCT_YEAR_DAYS))
        return d2 - d1;
    /* a constant doubling time: d(t) = d1 (d2 / d1)^(t / days); the last 12 months hold the
     * largest increase of any 12 months */
    return d2 * (1.0 - pow(d1 / d2, RN_LUNGCT_YEAR_DAYS / days));
}

/* Growth by v2022's definition: more than 1.5 mm within 12 months (1); more than 1.5 mm only
 * over a longer interval, slow growth (2); neither (0). */
static int growth_of(double d1, double d2, double days)
{
    if (d2 - d1 <= 1.5)
        return 0;
    return rn_lungct_growth_12_months(d1, d2, days) > 1.5 ? 1 : 2;
}

/* v2022's stepped management of a nodule stable or decreased since the prior CT, whose
 * category by the prior's size was prior_code: a 4A one at its 3-month CT becomes 3, a 3 one at
 * its 6-month CT becomes 2; an interval that spans both steps (9 months) gives 2. Each
 * follow-up is accepted from five sixths of its interval on (2.5, 5 and 7.5 months). A 4B
 * nodule stays 4B: v2022 lowers it to 2 only when the diagnostic work-up shows it benign. A
 * nodule whose volume grew by 25 % or more beyond its measurement error is not stable, whatever
 * its diameters say: it keeps its category. */
static void stepped(RnLungCategory *c, const RnNodule *n, const char *prior_code,
                    const char *what, double days)
{
    char rule[sizeof c->rule], change[96];
    double months = days / (RN_LUNGCT_YEAR_DAYS / 12.0);
    rn_format(change, sizeof change, "mean diameter %+.1f mm over %.0f days",
              n->mean_axis_mm - n->prior_mean_axis_mm, days);
    if (strcmp(prior_code, "2") && n->volume_change_percent >= 25 && n->growth_significant) {
        /* the diameters say stable, the volume says it grew (NELSON's 25 %, beyond the
         * measurement error): it is not stepped down */
        rn_format(rule, sizeof rule, "Lung-RADS v2022 %s: %s %s by the prior's size, %s (not "
                                     "growth) but volume %+.0f %%: not stepped down", prior_code,
                  what, prior_code, change, n->volume_change_percent);
        set(c, prior_code, -1, rule);
        return;
    }
    if (!strcmp(prior_code, "4B")) {
        rn_format(rule, sizeof rule, "Lung-RADS v2022 4B: %s 4B by the prior's size, without "
                                     "growth (%s); 2 only when the diagnostic work-up has shown "
                                     "it benign", what, change);
        set(c, "4B", -1, rule);
    } else if (!strcmp(prior_code, "4A")) {
        const char *code = months >= 7.5 ? "2" : months >= 2.5 ? "3" : "4A";
        rn_format(rule, sizeof rule, "Lung-RADS v2022 %s: %s 4A by the prior's size, without "
                                     "growth (%s): %s", code, what, change,
                  months >= 7.5   ? "stepped down at the 3- and 6-month CTs"
                  : months >= 2.5 ? "stepped down at its 3-month CT"
                                  : "before its 3-month CT");
        set(c, code, -1, rule);
    } else if (!strcmp(prior_code, "3")) {
        const char *code = months >= 5 ? "2" : "3";
        rn_format(rule, sizeof rule, "Lung-RADS v2022 %s: %s 3 by the prior's size, without "
                                     "growth (%s): %s", code, what, change,
                  months >= 5 ? "stepped down at its 6-month CT" : "before its 6-month CT");
        set(c, code, -1, rule);
    } else {
        rn_format(rule, sizeof rule, "Lung-RADS v2022 2: %s without growth (%s)", what, change);
        set(c, "2", -1, rule);
    }
}

/* v2022's slow-growing solid or part-solid nodule: 4B; what grew from d1 to d2 mm */
static void slow_growth(RnLungCategory *c, const char *what, double d1, double d2, double days)
{
    char rule[sizeof c->rule];
    rn_format(rule, sizeof rule, "Lung-RADS v2022 4B: slow-growing %s +%.1f mm over %.0f days "
                                 "(%.1f mm in 12 months at its doubling time)",
              what, d2 - d1, days, rn_lungct_growth_12_months(d1, d2, days));
    set(c, "4B", -1, rule);
}

void rn_lungct_lungrads_nodule(const RnNodule *n, bool has_prior, RnLungCategory *c)
{
    double d = n->mean_axis_mm, s = n->solid_long_axis_mm, days = n->interval_days;
    bool matched = has_prior && !n->is_new;
    int growth = matched ? growth_of(n->prior_mean_axis_mm, d, days) : 0;
    bool growing = growth == 1;
    bool is_new = has_prior && n->is_new;
    c->nodule = -1;
    if (n->type == RN_NODULE_SOLID) {
        if (growing) {
            if (d < 8) set(c, "4A", -1, "Lung-RADS v2022 4A: growing solid nodule < 8 mm");
            else set(c, "4B", -1, "Lung-RADS v2022 4B: growing solid nodule >= 8 mm");
        } else if (is_new) {
            if (d < 4) set(c, "2", -1, "Lung-RADS v2022 2: new solid nodule < 4 mm");
            else if (d < 6) set(c, "3", -1, "Lung-RADS v2022 3: new solid nodule 4 to < 6 mm");
            else if (d < 8) set(c, "4A", -1, "Lung-RADS v2022 4A: new solid nodule 6 to < 8 mm");
            else set(c, "4B", -1, "Lung-RADS v2022 4B: new solid nodule >= 8 mm");
        } else if (growth == 2) {
            slow_growth(c, "solid nodule, mean diameter", n->prior_mean_axis_mm, d, days);
        } else if (has_prior && solid_size_class(d) > solid_size_class(n->prior_mean_axis_mm)) {
            /* the size thresholds apply to a nodule that enlarges into a higher size class,
             * growth or not */
            solid_by_size(c, d, "reached without growth (mean diameter increase <= 1.5 mm)");
        } else if (has_prior) {
            stepped(c, n, rn_lungct_lungrads_prior(n), "solid nodule", days);
        } else {
            solid_by_size(c, d, "at baseline");
        }
    } else if (n->type == RN_NODULE_PART_SOLID) {
        /* its solid component is new (a new nodule, or ground glass in the prior) or grows
         * (its long axis by more than 1.5 mm within 12 months; more slowly, over a longer
         * interval, it is slow growth) */
        bool solid_new = is_new || (matched && n->prior_type == RN_NODULE_GROUND_GLASS);
        int solid_growth = matched && n->prior_type == RN_NODULE_PART_SOLID
                               ? growth_of(n->prior_solid_axis_mm, s, days)
                               : 0;
        bool solid_growing = solid_growth == 1;
        const char *size_code = baseline_code(n->type, d, s);
        const char *prior_code = rn_lungct_lungrads_prior(n);
        if ((solid_new || solid_growing) && s >= 4)
            set(c, "4B", -1, solid_new ? "Lung-RADS v2022 4B: part-solid nodule with a new solid "
                                         "component >= 4 mm"
                                       : "Lung-RADS v2022 4B: part-solid nodule with a growing "
                                         "solid component >= 4 mm");
        else if (is_new && d < 6)
            set(c, "3", -1, "Lung-RADS v2022 3: new part-solid nodule < 6 mm total mean "
                            "diameter");
        else if ((solid_new || solid_growing) && d >= 6)
            set(c, "4A", -1, solid_new ? "Lung-RADS v2022 4A: part-solid nodule >= 6 mm with a "
                                         "new solid component < 4 mm"
                                       : "Lung-RADS v2022 4A: part-solid nodule >= 6 mm with a "
                                         "growing solid component < 4 mm");
        else if (solid_growth == 2)
            slow_growth(c, "part-solid nodule, solid component", n->prior_solid_axis_mm, s, days);
        else if (matched && prior_code && rank(size_code) <= rank(prior_code))
            stepped(c, n, prior_code, "part-solid nodule", days);
        else if (d < 6)
            set(c, "2", -1, "Lung-RADS v2022 2: part-solid nodule < 6 mm total mean diameter");
        else if (s < 6)
            set(c, "3", -1, "Lung-RADS v2022 3: part-solid nodule >= 6 mm with solid component "
                            "< 6 mm");
        else if (s < 8)
            set(c, "4A", -1, "Lung-RADS v2022 4A: part-solid nodule with solid component 6 to "
                             "< 8 mm");
        else
            set(c, "4B", -1, "Lung-RADS v2022 4B: part-solid nodule with solid component >= 8 "
                             "mm");
    } else {
        if (d < 30)
            set(c, "2", -1, "Lung-RADS v2022 2: ground-glass nodule < 30 mm");
        else if (!has_prior)
            set(c, "3", -1, "Lung-RADS v2022 3: ground-glass nodule >= 30 mm at baseline");
        else if (is_new)
            set(c, "3", -1, "Lung-RADS v2022 3: new ground-glass nodule >= 30 mm");
        else if (n->prior_mean_axis_mm < 30)
            set(c, "3", -1, "Lung-RADS v2022 3: ground-glass nodule reaching 30 mm");
        else
            set(c, "2", -1, growth ? "Lung-RADS v2022 2: ground-glass nodule >= 30 mm, slowly "
                                     "growing"
                                   : "Lung-RADS v2022 2: ground-glass nodule >= 30 mm, "
                                     "unchanged");
    }
}

void rn_lungct_lungrads(const RnNoduleList *l, bool has_prior, RnLungCategory *study,
                        RnLungCategory *per_nodule)
{
    set(study, "1", -1, "Lung-RADS v2022 1: no lung nodules detected");
    for (size_t i = 0; i < l->count; i++) {
        RnLungCategory c;
        rn_lungct_lungrads_nodule(&l->items[i], has_prior, &c);
        c.nodule = (int)i;
        if (per_nodule)
            per_nodule[i] = c;
        if (rank(c.code) > rank(study->code))
            *study = c;
    }
}

static void fleischner_baseline(const RnNoduleList *l, RnLungCategory *study);

/* Growth on follow-up for Fleischner 2017, which gives no threshold of its own: a volume
 * 25 % larger (NELSON's) beyond the measurement error, or a part-solid nodule's solid
 * component new (ground glass in the prior) or grown by more than 1.5 mm (Lung-RADS'). */
static bool fleischner_growth(const RnNodule *n)
{
    if (!n->has_prior || n->is_new)
        return false;
    if (n->volume_change_percent >= 25 && n->growth_significant)
        return true;
    return n->type == RN_NODULE_PART_SOLID &&
           (n->prior_type == RN_NODULE_GROUND_GLASS ||
            (n->prior_type == RN_NODULE_PART_SOLID &&
             n->solid_long_axis_mm - n->prior_solid_axis_mm > 1.5));
}

/* Fleischner 2017 with a prior CT: growth of a solid nodule, or of a subsolid one or its solid
 * component, is suspicious; a subsolid nodule seen before is persistent, which its schedule
 * asks the first follow-up to show; solid nodules stable for 18 months or more have had the
 * guideline's last follow-up (18-24 months) and need no further CT, subsolid ones for 5 years.
 * The baseline recommendation stays for the rest, with the interval added. */
static void fleischner_followup(const RnNoduleList *l, RnLungCategory *study)
{
    int grow_s = -1, grow_ss = -1;
    bool any = false, solid_new = false, sub_new = false;
    double days = 0;
    for (size_t i = 0; i < l->count; i++) {
        const RnNodule *n = &l->items[i];
        if (!n->has_prior)
            continue;
        any = true;
        days = n->interval_days;
        bool solid = n->type == RN_NODULE_SOLID;
        if (n->is_new) {
            solid_new |= solid;
            sub_new |= !solid;
            continue;
        }
        if (!fleischner_growth(n))
            continue;
        int *g = solid ? &grow_s : &grow_ss;
        if (*g < 0 || n->volume_mm3 > l->items[*g].volume_mm3)
            *g = (int)i;
    }
    if (!any)
        return;
    double months = days / (RN_LUNGCT_YEAR_DAYS / 12.0);
    char rule[sizeof study->rule];
    if (grow_s >= 0) {
        const RnNodule *n = &l->items[grow_s];
        rn_format(rule, sizeof rule, "Fleischner 2017, growing solid nodule (volume %+.0f %% "
                                     "over %.0f days, beyond the measurement error): growth is "
                                     "suspicious; PET/CT, tissue sampling or resection to be "
                                     "considered", n->volume_change_percent, days);
        set(study, "S-GROWING", grow_s, rule);
        return;
    }
    if (grow_ss >= 0) {
        const RnNodule *n = &l->items[grow_ss];
        rn_format(rule, sizeof rule, "Fleischner 2017, subsolid nodule growing or with a new or "
                                     "growing solid component (volume %+.0f %% over %.0f days): "
                                     "resection to be considered", n->volume_change_percent,
                  days);
        set(study, "SS-GROWING", grow_ss, rule);
        return;
    }
    int d = study->nodule;
    if (d < 0)
        return;
    const RnNodule *n = &l->items[d];
    if (n->type == RN_NODULE_SOLID) {
        if (!n->is_new && !solid_new && months >= 18) {
            rn_format(rule, sizeof rule, "Fleischner 2017, solid nodule(s) stable over %.0f "
                                         "months, past the last follow-up of the guideline "
                                         "(18-24 months): no further follow-up", months);
            set(study, "S-STABLE", d, rule);
            return;
        }
    } else if (!n->is_new) {
        bool single = !strncmp(study->code, "GG1", 3) || !strncmp(study->code, "PS1", 3) ||
                      !strncmp(study->code, "SS1", 3);
        if (!sub_new && months >= 57) { /* five years, less the three months' window */
            rn_format(rule, sizeof rule, "Fleischner 2017, subsolid nodule(s) stable over %.0f "
                                         "months (5 years): no further follow-up", months);
            set(study, "SS-STABLE", d, rule);
            return;
        }
        if (single && n->type == RN_NODULE_GROUND_GLASS && n->mean_axis_mm >= 6) {
            rn_format(rule, sizeof rule, "Fleischner 2017, single ground-glass nodule >= 6 mm, "
                                         "persistent (seen %.0f days before): CT every 2 years "
                                         "until 5 years", days);
            set(study, "GG1->=6-P", d, rule);
            return;
        }
        if (single && n->type == RN_NODULE_PART_SOLID && n->mean_axis_mm >= 6) {
            if (n->solid_long_axis_mm >= 6) {
                rn_format(rule, sizeof rule, "Fleischner 2017, single part-solid nodule, "
                                             "persistent (seen %.0f days before), solid "
                                             "component >= 6 mm: highly suspicious; PET/CT, "
                                             "biopsy or resection to be considered", days);
                set(study, "PS1-S>=6-P", d, rule);
            } else {
                rn_format(rule, sizeof rule, "Fleischner 2017, single part-solid nodule >= 6 "
                                             "mm, persistent (seen %.0f days before), solid "
                                             "component < 6 mm: annual CT for 5 years", days);
                set(study, "PS1->=6-P", d, rule);
            }
            return;
        }
    }
    char rest[sizeof study->rule];
    rn_format(rest, sizeof rest, "%s; %s", study->rule,
              n->is_new ? "the nodule is new since the prior CT"
                        : "no significant growth since the prior CT");
    rn_format(rule, sizeof rule, "%s (%.0f days)", rest, days);
    rn_format(study->rule, sizeof study->rule, "%s", rule);
}

void rn_lungct_fleischner(const RnNoduleList *l, RnLungCategory *study)
{
    fleischner_baseline(l, study);
    fleischner_followup(l, study);
}

static void fleischner_baseline(const RnNoduleList *l, RnLungCategory *study)
{
    size_t nsolid = 0, nsub = 0;
    int big_solid = -1, big_sub = -1;
    for (size_t i = 0; i < l->count; i++) {
        const RnNodule *n = &l->items[i];
        if (n->type == RN_NODULE_SOLID) {
            nsolid++;
            if (big_solid < 0 || n->volume_mm3 > l->items[big_solid].volume_mm3)
                big_solid = (int)i;
        } else {
            nsub++;
            if (big_sub < 0 || n->mean_axis_mm > l->items[big_sub].mean_axis_mm)
                big_sub = (int)i;
        }
    }
    if (!nsolid && !nsub) {
        set(study, "none", -1, "Fleischner 2017: no nodule detected; not applicable");
        return;
    }
    if (nsolid) {
        double v = l->items[big_solid].volume_mm3;
        bool single = nsolid == 1;
        if (v < 100)
            set(study, single ? "S1-<6" : "SM-<6", big_solid,
                single ? "Fleischner 2017, single solid nodule < 6 mm (< 100 mm3): low risk, no "
                         "routine follow-up; high risk, optional CT at 12 months"
                       : "Fleischner 2017, multiple solid nodules < 6 mm (< 100 mm3): low risk, "
                         "no routine follow-up; high risk, optional CT at 12 months");
        else if (v <= 250)
            set(study, single ? "S1-6-8" : "SM-6-8", big_solid,
                single ? "Fleischner 2017, single solid nodule 6-8 mm (100-250 mm3): low risk, CT "
                         "at 6-12 months, then consider CT at 18-24 months; high risk, CT at "
                         "6-12 months, then CT at 18-24 months"
                       : "Fleischner 2017, multiple solid nodules 6-8 mm (100-250 mm3): CT at "
                         "3-6 months, then consider (low risk) or perform (high risk) CT at "
                         "18-24 months");
        else
            set(study, single ? "S1->8" : "SM->8", big_solid,
                single ? "Fleischner 2017, single solid nodule > 8 mm (> 250 mm3): consider CT at "
                         "3 months, PET/CT, or tissue sampling"
                       : "Fleischner 2017, multiple solid nodules, largest > 8 mm (> 250 mm3): CT "
                         "at 3-6 months, then consider CT at 18-24 months; management guided by "
                         "the most suspicious nodule");
        if (v > 100 || !nsub)
            return;
    }
    const RnNodule *n = &l->items[big_sub];
    bool single = nsub == 1;
    if (n->mean_axis_mm < 6)
        set(study, single ? "SS1-<6" : "SSM-<6", big_sub,
            single ? "Fleischner 2017, single subsolid nodule < 6 mm: no routine follow-up"
                   : "Fleischner 2017, multiple subsolid nodules < 6 mm: CT at 3-6 months; if "
                     "stable, consider CT at 2 and 4 years");
    else if (!single)
        set(study, "SSM->=6", big_sub,
            "Fleischner 2017, multiple subsolid nodules, one >= 6 mm: CT at 3-6 months; "
            "subsequent management based on the most suspicious nodule");
    else if (n->type == RN_NODULE_GROUND_GLASS)
        set(study, "GG1->=6", big_sub,
            "Fleischner 2017, single ground-glass nodule >= 6 mm: CT at 6-12 months to confirm "
            "persistence, then CT every 2 years until 5 years");
    else
        set(study, "PS1->=6", big_sub,
            "Fleischner 2017, single part-solid nodule >= 6 mm: CT at 3-6 months to confirm "
            "persistence; if unchanged and solid component < 6 mm, annual CT for 5 years");
}
