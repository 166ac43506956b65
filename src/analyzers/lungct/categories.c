/*
 * Follow-up categories: ACR Lung-RADS v2022 (screening) and the Fleischner
 * Society 2017 guidelines (incidental nodules). Sizes are the mean of long
 * and short axis to 0.1 mm (Lung-RADS) and the volume (Fleischner: < 100,
 * 100-250, > 250 mm3 for solid nodules). Each category carries the rule text
 * that produced it, so the radiologist sees why. Simplifications (documented
 * in docs/lungct.md): no lobe-specific, perifissural, airway or atypical-cyst
 * rules; the patient's risk is unknown to radnode, so Fleischner gives both
 * the low- and the high-risk recommendation.
 */
#include "lungct_internal.h"

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

/* Its category by size alone (the baseline rules), the rule naming when */
static void solid_by_size(RnLungCategory *c, double d, const char *when)
{
    static const char *codes[] = {"2", "3", "4A", "4B"};
    static const char *sizes[] = {"< 6 mm", "6 to < 8 mm", "8 to < 15 mm", ">= 15 mm"};
    int k = solid_size_class(d);
    char rule[sizeof c->rule];
    rn_format(rule, sizeof rule, "Lung-RADS v2022 %s: solid nodule %s %s", codes[k], sizes[k],
              when);
    set(c, codes[k], -1, rule);
}

void rn_lungct_lungrads_nodule(const RnNodule *n, bool has_prior, RnLungCategory *c)
{
    double d = n->mean_axis_mm, s = n->solid_long_axis_mm;
    bool growing = has_prior && !n->is_new && n->mean_axis_mm - n->prior_mean_axis_mm > 1.5;
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
        } else if (has_prior && solid_size_class(d) > solid_size_class(n->prior_mean_axis_mm)) {
            /* the size thresholds apply to a nodule that enlarges into a higher size class,
             * growth or not */
            solid_by_size(c, d, "reached without growth (mean diameter increase <= 1.5 mm)");
        } else if (has_prior) {
            set(c, "2", -1, "Lung-RADS v2022 2: solid nodule stable or slowly growing "
                            "(mean diameter increase <= 1.5 mm)");
        } else {
            solid_by_size(c, d, "at baseline");
        }
    } else if (n->type == RN_NODULE_PART_SOLID) {
        /* its solid component is new (a new nodule, or ground glass in the prior) or grows
         * (its long axis by more than 1.5 mm) */
        bool matched = has_prior && !n->is_new;
        bool solid_new = is_new || (matched && n->prior_type == RN_NODULE_GROUND_GLASS);
        bool solid_growing = matched && n->prior_type == RN_NODULE_PART_SOLID &&
                             s - n->prior_solid_axis_mm > 1.5;
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
            set(c, "2", -1, growing ? "Lung-RADS v2022 2: ground-glass nodule >= 30 mm, slowly "
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

void rn_lungct_fleischner(const RnNoduleList *l, RnLungCategory *study)
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
