/*
 * The lung nodule analyzer (`lungct`, issue 8): assembles the CT volume,
 * segments the lungs, finds and measures nodules, compares them with the
 * prior CT when one is given (registration, matching, volume doubling time,
 * with the protocol differences of the two scans next to every VDT), assigns
 * Lung-RADS v2022 and Fleischner 2017 categories with the rule that drove
 * them, and returns the findings object of docs/findings.md: one TID 1500
 * measurement group per nodule (volume SCT 118565006, long axis SCT
 * 103339001, short axis SCT 103340004, mean diameter and VDT as 99RADNODE
 * codes listed in docs/lungct.md), coded categories, an outline per nodule
 * on its key slice, report text in English and Chinese. The top level also
 * carries the fields `radnode analyze --json` users read directly
 * (series_instance_uid, lung_volume_ml, nodules[...]). A scan that cannot be
 * assessed comes back as "status": "refused" with the reason (and "error").
 */
#include "lungct_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LCT_VERSION "0.1.0"
#define MAX_REPORTED 50     /* nodules listed */
#define MAX_GROUPS 20       /* nodules with a measurement group / overlay (report limits) */
#define MIN_LUNG_ML 50.0


static double r1(double x) { return round(x * 10.0) / 10.0; }
static double r2(double x) { return round(x * 100.0) / 100.0; }

static json_t *code(const char *scheme, const char *value, const char *meaning)
{
    return json_pack("{s:s, s:s, s:s}", "scheme", scheme, "value", value, "meaning", meaning);
}

/* The SNOMED CT code of a nodule's site: its lobe where the fissures gave it, else its
 * lung; NULL where neither is known. */
static json_t *site_code(const RnNodule *n)
{
    const RnLobeInfo *li = rn_lungct_lobe_info(n->lobe);
    if (li)
        return code("SCT", li->sct, li->sct_meaning);
    if (n->side == 1)
        return code("SCT", "3341006", "Right lung");
    if (n->side == 2)
        return code("SCT", "44029006", "Left lung");
    return NULL;
}

static json_t *protocol_json(const RnLungProtocol *p)
{
    json_t *o = json_object();
    json_object_set_new(o, "slice_thickness_mm",
                        p->slice_thickness > 0 ? json_real(r2(p->slice_thickness)) : json_null());
    json_object_set_new(o, "slice_spacing_mm", json_real(r2(p->slice_spacing)));
    json_object_set_new(o, "pixel_spacing_mm", json_pack("[f, f]", r2(p->pixel_spacing[0]) ,
                                                         r2(p->pixel_spacing[1])));
    json_object_set_new(o, "convolution_kernel", json_string(p->kernel));
    json_object_set_new(o, "kvp", p->kvp > 0 ? json_real(p->kvp) : json_null());
    json_object_set_new(o, "tube_current_ma",
                        p->tube_current > 0 ? json_real(p->tube_current) : json_null());
    json_object_set_new(o, "exposure_mas", p->exposure > 0 ? json_real(p->exposure) : json_null());
    json_object_set_new(o, "ctdi_vol_mgy", p->ctdi_vol > 0 ? json_real(p->ctdi_vol) : json_null());
    json_object_set_new(o, "contrast_agent", p->contrast[0] ? json_string(p->contrast) : json_null());
    json_object_set_new(o, "manufacturer", json_string(p->manufacturer));
    json_object_set_new(o, "model", json_string(p->model));
    json_object_set_new(o, "study_date", json_string(p->study_date));
    json_object_set_new(o, "series_description", json_string(p->series_description));
    return o;
}

/* Differences that change a nodule's measured edge and volume (PRODUCT.md). */
static json_t *protocol_differences(const RnLungProtocol *a, const RnLungProtocol *b)
{
    json_t *d = json_array();
    char s[200];
    double ta = a->slice_thickness > 0 ? a->slice_thickness : a->slice_spacing;
    double tb = b->slice_thickness > 0 ? b->slice_thickness : b->slice_spacing;
    if (fabs(ta - tb) > 0.25) {
        rn_format(s, sizeof s, "slice thickness %.2f mm (prior) vs %.2f mm (current)", tb, ta);
        json_array_append_new(d, json_string(s));
    }
    if (strcasecmp(a->kernel, b->kernel)) {
        rn_format(s, sizeof s, "reconstruction kernel '%s' (prior) vs '%s' (current)", b->kernel,
                  a->kernel);
        json_array_append_new(d, json_string(s));
    }
    if ((a->contrast[0] != 0) != (b->contrast[0] != 0) || strcasecmp(a->contrast, b->contrast)) {
        rn_format(s, sizeof s, "contrast '%s' (prior) vs '%s' (current)",
                  b->contrast[0] ? b->contrast : "none recorded",
                  a->contrast[0] ? a->contrast : "none recorded");
        json_array_append_new(d, json_string(s));
    }
    if (a->kvp > 0 && b->kvp > 0 && fabs(a->kvp - b->kvp) > 5) {
        rn_format(s, sizeof s, "tube voltage %.0f kV (prior) vs %.0f kV (current)", b->kvp, a->kvp);
        json_array_append_new(d, json_string(s));
    }
    double ea = a->exposure > 0 ? a->exposure : a->tube_current;
    double eb = b->exposure > 0 ? b->exposure : b->tube_current;
    if (ea > 0 && eb > 0 && fabs(ea - eb) > 0.3 * fmax(ea, eb)) {
        rn_format(s, sizeof s, "dose (tube current-time) %.0f (prior) vs %.0f (current)", eb, ea);
        json_array_append_new(d, json_string(s));
    }
    if (strcasecmp(a->manufacturer, b->manufacturer) || strcasecmp(a->model, b->model)) {
        rn_format(s, sizeof s, "scanner %s %s (prior) vs %s %s (current)", b->manufacturer,
                  b->model, a->manufacturer, a->model);
        json_array_append_new(d, json_string(s));
    }
    if (fabs(a->pixel_spacing[0] - b->pixel_spacing[0]) > 0.1) {
        rn_format(s, sizeof s, "pixel spacing %.2f mm (prior) vs %.2f mm (current)",
                  b->pixel_spacing[0], a->pixel_spacing[0]);
        json_array_append_new(d, json_string(s));
    }
    return d;
}

static const char *side_name(int s) { return s == 1 ? "right" : s == 2 ? "left" : "unknown"; }
static const char *side_zh(int s) { return s == 1 ? "右肺" : s == 2 ? "左肺" : "肺"; }
/* "right upper lobe" where the lobe is known, else "right lung" */
static const char *where_en(const RnNodule *n)
{
    const char *lobe = rn_lungct_lobe_name(n->lobe);
    return lobe ? lobe : n->side == 1 ? "right lung" : n->side == 2 ? "left lung" : "lung";
}

static const char *where_zh(const RnNodule *n)
{
    const RnLobeInfo *li = rn_lungct_lobe_info(n->lobe);
    return li ? li->name_zh : side_zh(n->side);
}

static const char *type_zh(RnNoduleType t)
{
    return t == RN_NODULE_SOLID ? "实性" : t == RN_NODULE_PART_SOLID ? "部分实性" : "磨玻璃";
}

static json_t *base_findings(const RnAnalysisInput *in, const RnLungScan *scan)
{
    json_t *f = json_object();
    json_object_set_new(f, "analyzer", json_string("lungct"));
    json_object_set_new(f, "analyzer_version", json_string(LCT_VERSION));
    json_object_set_new(f, "algorithm",
                        json_pack("{s:s, s:s, s:s}", "name", "radnode lung nodules (classical)",
                                  "version", LCT_VERSION, "manufacturer", "radnode"));
    const char *study = scan->study_uid[0] ? scan->study_uid : in->study_uid;
    json_object_set_new(f, "study_uid", study ? json_string(study) : json_null());
    json_object_set_new(f, "series_instance_uid", json_string(scan->series_uid));
    return f;
}

static json_t *refused(const RnAnalysisInput *in, const RnLungScan *scan, const char *reason)
{
    json_t *f = base_findings(in, scan);
    char en[400], zh[480];
    rn_format(en, sizeof en, "Lung nodule analysis not performed: %s.", reason);
    rn_format(zh, sizeof zh, "未进行肺结节分析：%s。", reason);
    json_object_set_new(f, "status", json_string("refused"));
    json_object_set_new(f, "refusal_reason", json_string(reason));
    json_object_set_new(f, "error", json_string(reason));
    json_object_set_new(f, "sources", json_array());
    json_object_set_new(f, "measurements", json_array());
    json_object_set_new(f, "codes", json_array());
    json_object_set_new(f, "overlays", json_array());
    json_object_set_new(f, "text", json_pack("{s:[s], s:[s]}", "en", en, "zh", zh));
    json_object_set_new(f, "confidence", json_string("low"));
    json_object_set_new(f, "notes", json_pack("[s]", "Preliminary: to be reviewed by a "
                                                     "radiologist."));
    json_object_set_new(f, "details",
                        json_pack("{s:o}", "protocol", protocol_json(&scan->proto)));
    return f;
}

static int cmp_volume(const void *a, const void *b)
{
    double x = ((const RnNodule *)a)->volume_mm3, y = ((const RnNodule *)b)->volume_mm3;
    return x > y ? -1 : x < y;
}

typedef struct Analysis {
    RnLungScan scan;
    RnLungs lungs;
    RnNoduleList nodules;
    double seconds;
} Analysis;

static void analysis_free(Analysis *a)
{
    rn_lungct_nodules_free(&a->nodules);
    rn_lungct_lungs_free(&a->lungs);
    rn_lungct_scan_free(&a->scan);
}

/* Returns 0 (analysed or refused: a->scan.refused), negative on internal error. */
static int analyse(const char *const *paths, size_t count, Analysis *a, RnError *err)
{
    memset(a, 0, sizeof *a);
    double t0 = rn_time_now();
    int rc = rn_lungct_scan_load(paths, count, &a->scan, err);
    if (rc || a->scan.refused)
        return rc;
    if ((rc = rn_lungct_segment(&a->scan, &a->lungs, err)))
        return rc;
    if (a->lungs.volume_ml[0] < MIN_LUNG_ML) {
        a->scan.refused = true;
        rn_format(a->scan.reason, sizeof a->scan.reason,
                  "no aerated lungs found (%.0f mL of lung): not a chest CT or the lungs are "
                  "outside the field of view", a->lungs.volume_ml[0]);
        return 0;
    }
    /* the fissures first: they give the lobes, and a nodule's measurement discounts them */
    if ((rc = rn_lungct_lobes(&a->scan, &a->lungs, &a->lungs.lobes, err)))
        return rc;
    if ((rc = rn_lungct_detect(&a->scan, &a->lungs, &a->nodules, err)))
        return rc;
    for (size_t i = 0; i < a->nodules.count; i++) {
        RnNodule *n = &a->nodules.items[i];
        n->lobe = rn_lungct_lobe_of(&a->lungs.lobes, n->side, n->center_patient);
    }
    qsort(a->nodules.items, a->nodules.count, sizeof *a->nodules.items, cmp_volume);
    a->seconds = rn_time_now() - t0;
    return 0;
}

static size_t source_for(json_t *sources, const RnLungScan *scan, size_t slice)
{
    const char *uid = scan->sop_uids[slice];
    for (size_t i = 0; i < json_array_size(sources); i++)
        if (!strcmp(json_string_value(json_object_get(json_array_get(sources, i),
                                                      "sop_instance_uid")), uid))
            return i;
    json_array_append_new(sources,
                          json_pack("{s:s, s:s, s:s, s:s, s:i, s:i}", "path", scan->paths[slice],
                                    "sop_class_uid", scan->sop_class_uid, "sop_instance_uid", uid,
                                    "series_uid", scan->series_uid, "frame", 1, "slice_index",
                                    (int)slice));
    return json_array_size(sources) - 1;
}

static void add_measurement(json_t *arr, const char *group, json_t *concept, double value,
                            const char *ucum, const char *unit_meaning, json_t *qualifier,
                            size_t source)
{
    json_t *m = json_pack("{s:s, s:o, s:f, s:{s:s, s:s}, s:I}", "group", group, "concept",
                          concept, "value", value, "unit", "ucum", ucum, "meaning", unit_meaning,
                          "source_index", (json_int_t)source);
    json_object_set_new(m, "qualifier", qualifier ? qualifier : json_null());
    json_array_append_new(arr, m);
}

static json_t *build(const RnAnalysisInput *in, Analysis *cur, Analysis *prior, bool have_prior,
                     const RnLungRegistration *reg, double days, const bool *prior_matched,
                     const char *prior_problem)
{
    const RnLungScan *scan = &cur->scan;
    RnNoduleList *l = &cur->nodules;
    json_t *f = base_findings(in, scan);
    json_t *sources = json_array(), *meas = json_array(), *codes = json_array(),
           *overlays = json_array(), *en = json_array(), *zh = json_array(),
           *nodules = json_array(), *notes = json_array();
    RnLungCategory study_lr, fl;
    RnLungCategory *per = calloc(l->count ? l->count : 1, sizeof *per);
    rn_lungct_lungrads(l, have_prior, &study_lr, per);
    rn_lungct_fleischner(l, &fl);
    json_t *diffs = have_prior ? protocol_differences(&scan->proto, &prior->scan.proto) : NULL;
    char line[600], linez[700];

    double thick = scan->proto.slice_thickness > 0 ? scan->proto.slice_thickness
                                                   : scan->proto.slice_spacing;
    const char *confidence = thick <= 1.25 ? "high" : thick <= LCT_THICKNESS_INTENDED_MM
                                                          ? "moderate" : "low";
    const char *vdt_conf = "high";
    size_t ndiff = diffs ? json_array_size(diffs) : 0;
    if (have_prior) {
        double tp = prior->scan.proto.slice_thickness > 0 ? prior->scan.proto.slice_thickness
                                                          : prior->scan.proto.slice_spacing;
        vdt_conf = ndiff == 0 && thick <= 1.25 && tp <= 1.25 ? "high"
                   : ndiff <= 1 && thick <= 2.5 && tp <= 2.5 ? "moderate" : "low";
        if (days < 30)
            vdt_conf = "low";
    }

    rn_format(line, sizeof line, "Chest CT, lungs %.0f mL (right %.0f mL, left %.0f mL); %zu lung "
                                 "nodule%s detected.", cur->lungs.volume_ml[0],
              cur->lungs.volume_ml[1], cur->lungs.volume_ml[2], l->count,
              l->count == 1 ? "" : "s");
    json_array_append_new(en, json_string(line));
    rn_format(linez, sizeof linez, "胸部CT，肺容积 %.0f mL（右 %.0f mL，左 %.0f mL）；检出肺结节 %zu 个。",
              cur->lungs.volume_ml[0], cur->lungs.volume_ml[1], cur->lungs.volume_ml[2],
              l->count);
    json_array_append_new(zh, json_string(linez));

    for (size_t i = 0; i < l->count && i < MAX_REPORTED; i++) {
        RnNodule *n = &l->items[i];
        char id[16], group[64];
        snprintf(id, sizeof id, "N%zu", i + 1);
        snprintf(group, sizeof group, "Lung nodule %s", id);
        size_t src = source_for(sources, scan, n->key_slice);
        json_t *o = json_object();
        json_object_set_new(o, "id", json_string(id));
        json_object_set_new(o, "center_patient_mm",
                            json_pack("[f, f, f]", r1(n->center_patient[0]),
                                      r1(n->center_patient[1]), r1(n->center_patient[2])));
        json_object_set_new(o, "center_voxel", json_pack("[f, f, f]", r1(n->center_voxel[0]),
                                                         r1(n->center_voxel[1]),
                                                         r1(n->center_voxel[2])));
        json_object_set_new(o, "volume_mm3", json_real(r1(n->volume_mm3)));
        json_object_set_new(o, "volume_threshold_mm3", json_real(r1(n->volume_voxels_mm3)));
        json_object_set_new(o, "volume_sd_mm3", json_real(r1(n->volume_sd_mm3)));
        json_object_set_new(o, "volume_ci95_mm3",
                            json_pack("[f, f]",
                                      r1(fmax(0, n->volume_mm3 -
                                                     RN_LUNGCT_CI95_Z * n->volume_sd_mm3)),
                                      r1(n->volume_mm3 + RN_LUNGCT_CI95_Z * n->volume_sd_mm3)));
        json_object_set_new(o, "measurement_noise",
                            json_pack("{s:f, s:f, s:f}", "hu", r1(n->noise_hu), "correlation",
                                      r2(n->noise_correlation), "volume_sd_mm3",
                                      r1(n->volume_noise_sd_mm3)));
        json_object_set_new(o, "long_axis_mm", json_real(r1(n->long_axis_mm)));
        json_object_set_new(o, "short_axis_mm", json_real(r1(n->short_axis_mm)));
        json_object_set_new(o, "mean_axis_mm", json_real(n->mean_axis_mm));
        json_object_set_new(o, "type", json_string(rn_lungct_type_name(n->type)));
        json_object_set_new(o, "solid_component_mm", json_real(r1(n->solid_long_axis_mm)));
        json_object_set_new(o, "solid_fraction", json_real(r2(n->solid_fraction)));
        json_object_set_new(o, "lung", json_string(side_name(n->side)));
        json_object_set_new(o, "lobe", n->lobe ? json_string(n->lobe) : json_null());
        json_object_set_new(o, "juxtapleural", json_boolean(n->juxtapleural));
        json_object_set_new(o, "juxtavascular", json_boolean(n->juxtavascular));
        json_object_set_new(o, "extent_limited", json_boolean(n->limited));
        json_object_set_new(o, "mass", json_boolean(n->long_axis_mm > 30.0));
        json_object_set_new(o, "hu", json_pack("{s:f, s:f, s:f, s:f, s:f}", "mean", r1(n->hu_mean),
                                               "sd", r1(n->hu_sd), "min", r1(n->hu_min), "max",
                                               r1(n->hu_max), "median", r1(n->hu_core)));
        json_object_set_new(o, "threshold_hu", json_real(r1(n->threshold_hu)));
        json_object_set_new(o, "key_slice_index", json_integer((json_int_t)n->key_slice));
        json_object_set_new(o, "key_sop_instance_uid", json_string(scan->sop_uids[n->key_slice]));
        json_object_set_new(o, "detection", json_pack("{s:f, s:f, s:f, s:f}", "scale_mm",
                                                      n->scale_mm, "response", r1(n->response),
                                                      "elongation", r2(n->elongation),
                                                      "sphericity", r2(n->sphericity)));
        /* the classifier's nodule probability; null where the rules decided (masses, a
         * prior's counterpart measured at the registered point) */
        json_object_set_new(json_object_get(o, "detection"), "classifier_score",
                            n->fp_score >= 0 ? json_real(r2(n->fp_score)) : json_null());
        json_object_set_new(o, "lung_rads", json_string(per[i].code));
        json_object_set_new(o, "lung_rads_rule", json_string(per[i].rule));
        if (have_prior) {
            json_object_set_new(o, "status", json_string(n->is_new ? "new" : "matched"));
            if (!n->is_new) {
                double vdt = n->vdt_days;
                json_object_set_new(o, "prior_found_by",
                                    json_string(n->prior_targeted
                                                    ? "measurement at the registered location"
                                                    : "detection"));
                json_object_set_new(o, "prior_volume_mm3", json_real(r1(n->prior_volume_mm3)));
                json_object_set_new(o, "prior_mean_axis_mm", json_real(n->prior_mean_axis_mm));
                json_object_set_new(o, "prior_center_patient_mm",
                                    json_pack("[f, f, f]", r1(n->prior_center_patient[0]),
                                              r1(n->prior_center_patient[1]),
                                              r1(n->prior_center_patient[2])));
                json_object_set_new(o, "prior_volume_sd_mm3",
                                    json_real(r1(n->prior_volume_sd_mm3)));
                json_object_set_new(o, "prior_type",
                                    json_string(rn_lungct_type_name(n->prior_type)));
                /* the prior's category by its own size (the baseline rules), from which v2022's
                 * stepped management starts; and growth by v2022's 12-month definition */
                json_object_set_new(o, "prior_lung_rads",
                                    json_string(rn_lungct_lungrads_prior(n)));
                json_object_set_new(o, "mean_diameter_change_mm",
                                    json_real(r1(n->mean_axis_mm - n->prior_mean_axis_mm)));
                json_object_set_new(o, "mean_diameter_change_12_months_mm",
                                    json_real(r1(rn_lungct_growth_12_months(
                                        n->prior_mean_axis_mm, n->mean_axis_mm, days))));
                json_object_set_new(o, "volume_change_percent",
                                    json_real(r1(n->volume_change_percent)));
                json_object_set_new(o, "volume_change_ci95_percent",
                                    json_pack("[f, f]", r1(n->change_ci95_percent[0]),
                                              r1(n->change_ci95_percent[1])));
                json_object_set_new(o, "growth_significant", json_boolean(n->growth_significant));
                json_object_set_new(o, "vdt_days", vdt > 0 ? json_real(round(vdt)) : json_null());
                json_object_set_new(
                    o, "vdt_ci95_days",
                    json_pack("[o, o]",
                              n->vdt_ci95_days[0] > 0 ? json_real(round(n->vdt_ci95_days[0]))
                                                      : json_null(),
                              n->vdt_ci95_days[1] > 0 ? json_real(round(n->vdt_ci95_days[1]))
                                                      : json_null()));
                json_object_set_new(o, "vdt_class",
                                    json_string(n->volume_change_percent >= 25
                                                    ? rn_lungct_vdt_class(vdt)
                                                    : "no significant growth (< 25 %)"));
                /* the classes the VDT's interval spans (unbounded: slow) */
                json_object_set_new(
                    o, "vdt_class_range",
                    vdt > 0 ? json_pack("[s, s]", rn_lungct_vdt_class(n->vdt_ci95_days[0]),
                                        n->vdt_ci95_days[1] > 0
                                            ? rn_lungct_vdt_class(n->vdt_ci95_days[1])
                                            : "slow")
                            : json_null());
                json_object_set_new(o, "vdt_confidence", json_string(vdt_conf));
                json_object_set_new(o, "protocol_differences", json_incref(diffs));
            } else {
                json_object_set_new(o, "prior_volume_mm3", json_null());
                json_object_set_new(o, "volume_change_percent", json_null());
                json_object_set_new(o, "vdt_days", json_null());
            }
        }
        json_array_append_new(nodules, o);

        if (i < MAX_GROUPS) {
            json_t *q = code("99RADNODE", n->type == RN_NODULE_SOLID ? "NOD-SOLID"
                                          : n->type == RN_NODULE_PART_SOLID ? "NOD-PARTSOLID"
                                                                            : "NOD-GGN",
                             n->type == RN_NODULE_SOLID ? "Solid nodule"
                             : n->type == RN_NODULE_PART_SOLID ? "Part-solid nodule"
                                                               : "Ground-glass nodule");
            add_measurement(meas, group, code("SCT", "118565006", "Volume"), r1(n->volume_mm3),
                            "mm3", "cubic millimeter", q, src);
            json_t *vm = json_array_get(meas, json_array_size(meas) - 1);
            /* its SD: the SR's TID 310 uncertainty, the ORU's second NM, the PDF's column */
            json_object_set_new(vm, "uncertainty", json_real(r1(n->volume_sd_mm3)));
            json_t *site = site_code(n);
            if (site)
                json_object_set_new(vm, "finding_site", site);
            add_measurement(meas, group, code("SCT", "103339001", "Long Axis"),
                            r1(n->long_axis_mm), "mm", "millimeter", NULL, src);
            add_measurement(meas, group, code("SCT", "103340004", "Short Axis"),
                            r1(n->short_axis_mm), "mm", "millimeter", NULL, src);
            add_measurement(meas, group,
                            code("99RADNODE", "MEAN-DIAM", "Mean of long and short axis"),
                            n->mean_axis_mm, "mm", "millimeter", NULL, src);
            if (have_prior && !n->is_new && n->vdt_days > 0) {
                add_measurement(meas, group,
                                code("99RADNODE", "VDT", "Volume doubling time"),
                                round(n->vdt_days), "d", "day", NULL, src);
                add_measurement(meas, group,
                                code("99RADNODE", "VDT-CI95-LOW",
                                     "Volume doubling time, 95 % interval lower bound"),
                                round(n->vdt_ci95_days[0]), "d", "day", NULL, src);
                if (n->vdt_ci95_days[1] > 0) /* unbounded: growth within the error */
                    add_measurement(meas, group,
                                    code("99RADNODE", "VDT-CI95-HIGH",
                                         "Volume doubling time, 95 % interval upper bound"),
                                    round(n->vdt_ci95_days[1]), "d", "day", NULL, src);
            }
            if (have_prior && !n->is_new) {
                add_measurement(meas, group,
                                code("99RADNODE", "VOL-CHANGE", "Volume change since prior"),
                                r1(n->volume_change_percent), "%", "percent", NULL, src);
                json_object_set_new(json_array_get(meas, json_array_size(meas) - 1),
                                    "uncertainty", json_real(r1(n->change_sd_percent)));
            }
            double px = scan->hu->spacing[0];
            /* the source image's own pixels: a tilted scan's slices were shifted on the grid */
            double sx = scan->shift_px ? scan->shift_px[n->key_slice][0] : 0,
                   sy = scan->shift_px ? scan->shift_px[n->key_slice][1] : 0;
            char label[64];
            snprintf(label, sizeof label, "%s %.1f mm", id, n->mean_axis_mm);
            json_array_append_new(
                overlays, json_pack("{s:I, s:s, s:[[f, f]], s:f, s:s}", "source_index",
                                    (json_int_t)src, "kind", "circle", "points",
                                    r1(n->center_voxel[0] - sx), r1(n->center_voxel[1] - sy),
                                    "radius",
                                    r1(fmax(n->long_axis_mm / 2.0 / px + 2.0, 3.0)), "label",
                                    label));
            json_array_append_new(
                overlays, json_pack("{s:I, s:s, s:[[f, f], [f, f]], s:s}", "source_index",
                                    (json_int_t)src, "kind", "polyline", "points",
                                    n->long_axis_pts[0][0] - sx, n->long_axis_pts[0][1] - sy,
                                    n->long_axis_pts[1][0] - sx, n->long_axis_pts[1][1] - sy,
                                    "label",
                                    "long axis"));
        }
        if (i < 20) {
            rn_format(line, sizeof line,
                      "%s: %s nodule, %s%s, %.0f mm3, %.1f x %.1f mm (mean %.1f mm)%s, "
                      "Lung-RADS %s.", id, rn_lungct_type_name(n->type), where_en(n),
                      n->juxtapleural ? " (juxtapleural)" : "", n->volume_mm3, n->long_axis_mm,
                      n->short_axis_mm, n->mean_axis_mm,
                      n->type == RN_NODULE_PART_SOLID ? ", solid component" : "", per[i].code);
            if (n->type == RN_NODULE_PART_SOLID) {
                char tmp[600];
                rn_format(tmp, sizeof tmp, "%s", line);
                char *p = strstr(tmp, ", solid component");
                if (p)
                    *p = 0;
                rn_format(line, sizeof line, "%s, solid component %.1f mm, Lung-RADS %s.", tmp,
                          n->solid_long_axis_mm, per[i].code);
            }
            json_array_append_new(en, json_string(line));
            rn_format(linez, sizeof linez, "%s：%s%s结节%s，体积 %.0f mm3，%.1f x %.1f mm（平均 %.1f mm），"
                                           "Lung-RADS %s。", id, where_zh(n),
                      type_zh(n->type), n->juxtapleural ? "（邻胸膜）" : "", n->volume_mm3,
                      n->long_axis_mm, n->short_axis_mm, n->mean_axis_mm, per[i].code);
            json_array_append_new(zh, json_string(linez));
            if (have_prior) {
                if (n->is_new) {
                    rn_format(line, sizeof line, "%s: new since the prior CT.", id);
                    rn_format(linez, sizeof linez, "%s：较前次CT新出现。", id);
                } else if (n->vdt_days > 0) {
                    /* the VDT's 95 % interval from the two volumes' uncertainty; without an
                     * upper bound, the growth is within the measurements' error */
                    char ci[120], ciz[120];
                    if (n->vdt_ci95_days[1] > 0) {
                        const char *c0 = rn_lungct_vdt_class(n->vdt_ci95_days[0]),
                                   *c1 = rn_lungct_vdt_class(n->vdt_ci95_days[1]);
                        char span[64] = ""; /* the classes it spans, where they differ */
                        if (strcmp(c0, c1))
                            rn_format(span, sizeof span, ", %s to %s", c0, c1);
                        rn_format(ci, sizeof ci, "95 %% interval %.0f-%.0f days%s",
                                  n->vdt_ci95_days[0], n->vdt_ci95_days[1], span);
                        rn_format(ciz, sizeof ciz, "95%% 区间 %.0f-%.0f 天", n->vdt_ci95_days[0],
                                  n->vdt_ci95_days[1]);
                    } else {
                        rn_format(ci, sizeof ci, "95 %% interval from %.0f days: growth within "
                                                 "the measurement error", n->vdt_ci95_days[0]);
                        rn_format(ciz, sizeof ciz, "95%% 区间 %.0f 天以上：增大未超出测量误差",
                                  n->vdt_ci95_days[0]);
                    }
                    rn_format(line, sizeof line, "%s: volume %.0f -> %.0f mm3 (%+.0f %%) in %.0f "
                                                 "days, VDT %.0f days (%s; %s; confidence %s%s).",
                              id, n->prior_volume_mm3, n->volume_mm3, n->volume_change_percent,
                              days, n->vdt_days,
                              n->volume_change_percent >= 25 ? rn_lungct_vdt_class(n->vdt_days)
                                                             : "growth < 25 %",
                              ci, vdt_conf, ndiff ? ", protocols differ" : "");
                    rn_format(linez, sizeof linez, "%s：体积 %.0f -> %.0f mm3（%+.0f%%），间隔 %.0f 天，"
                                                   "倍增时间 %.0f 天（%s；可信度 %s%s）。", id,
                              n->prior_volume_mm3, n->volume_mm3, n->volume_change_percent, days,
                              n->vdt_days, ciz, vdt_conf, ndiff ? "，两次扫描参数不同" : "");
                } else {
                    rn_format(line, sizeof line, "%s: volume %.0f -> %.0f mm3 (%+.0f %%): not "
                                                 "growing.", id, n->prior_volume_mm3,
                              n->volume_mm3, n->volume_change_percent);
                    rn_format(linez, sizeof linez, "%s：体积 %.0f -> %.0f mm3（%+.0f%%），未增大。",
                              id, n->prior_volume_mm3, n->volume_mm3, n->volume_change_percent);
                }
                json_array_append_new(en, json_string(line));
                json_array_append_new(zh, json_string(linez));
                if (!n->is_new && n->prior_type != n->type) {
                    /* a ground-glass nodule gaining a solid component is the change to see */
                    rn_format(line, sizeof line, "%s: %s in the prior CT, %s now.", id,
                              rn_lungct_type_name(n->prior_type), rn_lungct_type_name(n->type));
                    rn_format(linez, sizeof linez, "%s：前次CT为%s结节，本次为%s结节。", id,
                              type_zh(n->prior_type), type_zh(n->type));
                    json_array_append_new(en, json_string(line));
                    json_array_append_new(zh, json_string(linez));
                }
            }
        }
    }
    if (l->count > 20) {
        rn_format(line, sizeof line, "%zu further nodules are listed in the findings.",
                  l->count - 20);
        json_array_append_new(en, json_string(line));
        rn_format(linez, sizeof linez, "另有 %zu 个结节见结构化结果。", l->count - 20);
        json_array_append_new(zh, json_string(linez));
    }
    json_t *resolved = json_array();
    if (have_prior) {
        for (size_t p = 0; p < prior->nodules.count; p++)
            if (!prior_matched[p]) {
                const RnNodule *pn = &prior->nodules.items[p];
                json_array_append_new(resolved,
                                      json_pack("{s:[f, f, f], s:f, s:s}",
                                                "prior_center_patient_mm",
                                                r1(pn->center_patient[0]),
                                                r1(pn->center_patient[1]),
                                                r1(pn->center_patient[2]), "prior_volume_mm3",
                                                r1(pn->volume_mm3), "type",
                                                rn_lungct_type_name(pn->type)));
            }
        if (json_array_size(resolved)) {
            rn_format(line, sizeof line, "%zu nodule%s of the prior CT not found now "
                                         "(resolved).", json_array_size(resolved),
                      json_array_size(resolved) == 1 ? "" : "s");
            json_array_append_new(en, json_string(line));
            rn_format(linez, sizeof linez, "前次CT的 %zu 个结节本次未见（已吸收）。",
                      json_array_size(resolved));
            json_array_append_new(zh, json_string(linez));
        }
        if (ndiff) {
            char all[500] = "";
            for (size_t k = 0; k < ndiff; k++) {
                size_t used = strlen(all);
                rn_format(all + used, sizeof all - used, "%s%s", k ? "; " : "",
                          json_string_value(json_array_get(diffs, k)));
            }
            rn_format(line, sizeof line, "Scans differ (%s): volume changes and doubling times "
                                         "are less certain.", all);
            json_array_append_new(en, json_string(line));
            rn_format(linez, sizeof linez, "两次扫描条件不同（%s）：体积变化和倍增时间的可靠性降低。", all);
            json_array_append_new(zh, json_string(linez));
        }
    } else if (prior_problem) {
        rn_format(line, sizeof line, "Prior CT not compared: %s.", prior_problem);
        json_array_append_new(en, json_string(line));
        rn_format(linez, sizeof linez, "未与前次CT比较：%s。", prior_problem);
        json_array_append_new(zh, json_string(linez));
    }
    rn_format(line, sizeof line, "%s", study_lr.rule);
    json_array_append_new(en, json_string(line));
    rn_format(linez, sizeof linez, "Lung-RADS v2022 类别 %s（%s）。", study_lr.code, study_lr.rule);
    json_array_append_new(zh, json_string(linez));
    json_array_append_new(en, json_string(fl.rule));
    rn_format(linez, sizeof linez, "Fleischner 2017：%s", fl.rule);
    json_array_append_new(zh, json_string(linez));
    for (int k = 0; k < scan->nwarnings; k++) {
        rn_format(line, sizeof line, "Warning: %s.", scan->warnings[k]);
        json_array_append_new(en, json_string(line));
        rn_format(linez, sizeof linez, "警告：%s。", scan->warnings[k]);
        json_array_append_new(zh, json_string(linez));
    }
    json_array_append_new(en, json_string("Computer-assisted result, preliminary: to be reviewed "
                                          "by a radiologist."));
    json_array_append_new(zh, json_string("计算机辅助结果，仅供参考，须经放射科医师审核。"));

    char lrv[24], lrm[40];
    snprintf(lrv, sizeof lrv, "LR-%s", study_lr.code);
    snprintf(lrm, sizeof lrm, "Lung-RADS %s", study_lr.code);
    json_array_append_new(codes, json_pack("{s:o, s:o}", "concept",
                                           code("99RADNODE", "LUNGRADS",
                                                "Lung-RADS v2022 category"),
                                           "value", code("99RADNODE", lrv, lrm)));
    char flv[24], flm[64];
    snprintf(flv, sizeof flv, "FL-%s", fl.code);
    snprintf(flm, sizeof flm, "Fleischner 2017 %s", fl.code);
    json_array_append_new(codes, json_pack("{s:o, s:o}", "concept",
                                           code("99RADNODE", "FLEISCHNER",
                                                "Fleischner 2017 recommendation"),
                                           "value", code("99RADNODE", flv, flm)));
    if (json_array_size(sources) == 0)
        source_for(sources, scan, scan->nslices / 2);
    json_array_append_new(notes, json_string("Preliminary: to be reviewed by a radiologist."));
    json_array_append_new(notes, json_string("Classical image analysis (no learned model); "
                                             "operating point and validation in "
                                             "docs/lungct.md."));
    for (int k = 0; k < scan->nwarnings; k++)
        json_array_append_new(notes, json_string(scan->warnings[k]));

    json_object_set_new(f, "status", json_string("ok"));
    json_object_set_new(f, "refusal_reason", json_null());
    json_object_set_new(f, "lung_volume_ml", json_real(r1(cur->lungs.volume_ml[0])));
    json_object_set_new(f, "lung_volume_right_ml", json_real(r1(cur->lungs.volume_ml[1])));
    json_object_set_new(f, "lung_volume_left_ml", json_real(r1(cur->lungs.volume_ml[2])));
    json_object_set_new(f, "nodules", nodules);
    json_object_set_new(f, "lung_rads", json_pack("{s:s, s:s}", "category", study_lr.code,
                                                  "rule", study_lr.rule));
    json_object_set_new(f, "fleischner", json_pack("{s:s, s:s}", "category", fl.code, "rule",
                                                   fl.rule));
    json_object_set_new(f, "sources", sources);
    json_object_set_new(f, "measurements", meas);
    json_object_set_new(f, "codes", codes);
    json_object_set_new(f, "overlays", overlays);
    json_object_set_new(f, "text", json_pack("{s:o, s:o}", "en", en, "zh", zh));
    json_object_set_new(f, "confidence", json_string(confidence));
    json_object_set_new(f, "notes", notes);

    json_t *details = json_object();
    json_object_set_new(details, "protocol", protocol_json(&scan->proto));
    json_t *warn = json_array();
    for (int k = 0; k < scan->nwarnings; k++)
        json_array_append_new(warn, json_string(scan->warnings[k]));
    json_object_set_new(details, "warnings", warn);
    json_object_set_new(details, "slices", json_integer((json_int_t)scan->nslices));
    json_object_set_new(details, "voxel_spacing_mm",
                        json_pack("[f, f, f]", r2(scan->hu->spacing[0]), r2(scan->hu->spacing[1]),
                                  r2(scan->hu->spacing[2])));
    json_object_set_new(details, "candidates", json_integer((json_int_t)l->candidates));
    json_object_set_new(details, "candidates_rejected", json_integer((json_int_t)l->rejected));
    json_object_set_new(details, "duplicates_merged", json_integer((json_int_t)l->merged));
    json_object_set_new(details, "analysis_seconds", json_real(r2(cur->seconds)));
    {
        const RnLobes *lb = &cur->lungs.lobes;
        const RnFissure *fs[3] = {&lb->oblique[1], &lb->horizontal, &lb->oblique[2]};
        const char *names[3] = {"right_oblique", "right_horizontal", "left_oblique"};
        json_t *fj = json_object();
        for (int k = 0; k < 3; k++)
            json_object_set_new(fj, names[k], json_pack("{s:b, s:f}", "found", fs[k]->found,
                                                        "coverage", r2(fs[k]->coverage)));
        json_object_set_new(fj, "note", lb->note[0] ? json_string(lb->note) : json_null());
        json_object_set_new(details, "fissures", fj);
    }
    json_object_set_new(details, "operating_point",
                        json_sprintf("dot-filter response >= 12, sphericity >= 0.2, contrast >= "
                                     "150 HU, equivalent diameter 2.5-100 mm, region within its "
                                     "search ball; then the false-positive classifier, nodule "
                                     "probability >= %.4f (logistic regression trained on "
                                     "phantoms; see docs/lungct.md for sensitivity and false "
                                     "positives per scan)",
                                     RN_LUNGCT_FP_THRESHOLD));
    if (have_prior) {
        json_t *pr = json_object();
        json_object_set_new(pr, "series_instance_uid", json_string(prior->scan.series_uid));
        json_object_set_new(pr, "study_uid", json_string(prior->scan.study_uid));
        json_object_set_new(pr, "protocol", protocol_json(&prior->scan.proto));
        json_object_set_new(pr, "interval_days", json_real(days));
        json_object_set_new(pr, "nodules", json_integer((json_int_t)prior->nodules.count));
        json_object_set_new(pr, "resolved", json_incref(resolved));
        json_object_set_new(pr, "registration",
                            json_pack("{s:[[f,f,f],[f,f,f],[f,f,f]], s:[f,f,f], s:f, s:i}",
                                      "rotation", reg->rot[0][0], reg->rot[0][1], reg->rot[0][2],
                                      reg->rot[1][0], reg->rot[1][1], reg->rot[1][2],
                                      reg->rot[2][0], reg->rot[2][1], reg->rot[2][2],
                                      "translation_mm", r2(reg->t[0]), r2(reg->t[1]),
                                      r2(reg->t[2]), "lung_overlap", r2(reg->overlap),
                                      "evaluations", reg->iterations));
        json_object_set_new(pr, "protocol_differences", json_incref(diffs));
        json_object_set_new(pr, "vdt_confidence", json_string(vdt_conf));
        json_object_set_new(details, "prior", pr);
        json_object_set_new(f, "prior_series_instance_uid", json_string(prior->scan.series_uid));
        json_object_set_new(f, "interval_days", json_real(days));
        json_object_set_new(f, "resolved_nodules", json_incref(resolved));
        json_object_set_new(f, "protocol_differences", json_incref(diffs));
    } else if (prior_problem) {
        json_object_set_new(details, "prior_problem", json_string(prior_problem));
    }
    json_object_set_new(f, "details", details);
    json_decref(resolved);
    json_decref(diffs);
    free(per);
    return f;
}

/* Current nodules without a prior counterpart are looked for at their registered location in
 * the prior: a nodule that was there but below the prior's own size floor or contrast rules
 * (it grew into them) is measured there, so it gets a volume change and a VDT instead of
 * "new". Found counterparts are appended to prior->nodules and *matched grows with them. */
static int targeted_priors(Analysis *cur, Analysis *prior, const RnLungRegistration *reg,
                           double days, bool **matched, RnError *err)
{
    size_t nq = 0;
    for (size_t i = 0; i < cur->nodules.count; i++)
        nq += cur->nodules.items[i].is_new;
    if (!nq)
        return 0;
    double(*pts)[3] = malloc(nq * sizeof *pts);
    double *rad = malloc(nq * sizeof *rad);
    size_t *which = malloc(nq * sizeof *which);
    RnNodule *got = calloc(nq, sizeof *got);
    bool *found = calloc(nq, sizeof *found);
    size_t pc = prior->nodules.count;
    RnNodule *items = realloc(prior->nodules.items, (pc + nq) * sizeof *items);
    if (items)
        prior->nodules.items = items;
    bool *m2 = realloc(*matched, (pc + nq) * sizeof *m2);
    if (m2)
        *matched = m2;
    int rc = 0;
    if (!pts || !rad || !which || !got || !found || !items || !m2) {
        rc = rn_error_set(err, RN_ERR_NOMEM, "lungct: prior search");
        goto out;
    }
    size_t k = 0;
    for (size_t i = 0; i < cur->nodules.count; i++) {
        const RnNodule *n = &cur->nodules.items[i];
        if (!n->is_new)
            continue;
        /* current -> prior: q = R^T (p - t) */
        double d[3] = {n->center_patient[0] - reg->t[0], n->center_patient[1] - reg->t[1],
                       n->center_patient[2] - reg->t[2]};
        for (int a = 0; a < 3; a++)
            pts[k][a] = reg->rot[0][a] * d[0] + reg->rot[1][a] * d[1] + reg->rot[2][a] * d[2];
        rad[k] = 0.5 * fmax(n->long_axis_mm, cbrt(6.0 * n->volume_mm3 / M_PI));
        which[k++] = i;
    }
    if ((rc = rn_lungct_measure_at(&prior->scan, &prior->lungs, (const double(*)[3])pts, rad, nq,
                                   got, found, err)))
        goto out;
    for (k = 0; k < nq; k++) {
        if (!found[k])
            continue;
        /* the counterpart must not be a prior finding already matched to another nodule */
        bool taken = false;
        for (size_t p = 0; p < prior->nodules.count && !taken; p++)
            taken = rn_lungct_same_nodule(&prior->nodules.items[p], &got[k]);
        if (taken)
            continue;
        size_t p = prior->nodules.count++;
        prior->nodules.items[p] = got[k];
        (*matched)[p] = true;
        RnNodule *c = &cur->nodules.items[which[k]];
        rn_lungct_link(c, &prior->nodules.items[p], (int)p, days);
        c->prior_targeted = true;
    }
out:
    free(pts);
    free(rad);
    free(which);
    free(got);
    free(found);
    return rc;
}

static json_t *lungct_run(const RnAnalysisInput *in, RnError *err)
{
    Analysis cur, prior;
    memset(&prior, 0, sizeof prior);
    int rc = analyse(in->paths, in->count, &cur, err);
    if (rc) {
        analysis_free(&cur);
        return NULL;
    }
    if (cur.scan.refused) {
        json_t *f = refused(in, &cur.scan, cur.scan.reason);
        analysis_free(&cur);
        return f;
    }
    bool have_prior = false;
    bool *matched = NULL;
    double days = 0;
    RnLungRegistration reg;
    memset(&reg, 0, sizeof reg);
    char problem[400] = "";
    if (in->prior_count && in->prior_paths) {
        RnError pe = {0};
        rc = analyse(in->prior_paths, in->prior_count, &prior, &pe);
        if (rc) {
            rn_format(problem, sizeof problem, "prior CT could not be analysed (%s)", pe.message);
        } else if (prior.scan.refused) {
            rn_format(problem, sizeof problem, "prior CT refused: %s", prior.scan.reason);
        } else {
            long d1 = rn_lungct_date_days(cur.scan.proto.study_date);
            long d0 = rn_lungct_date_days(prior.scan.proto.study_date);
            if (d1 < 0 || d0 < 0)
                rn_format(problem, sizeof problem, "study dates missing, interval unknown");
            else if (d1 <= d0)
                rn_format(problem, sizeof problem, "the prior CT (%s) is not earlier than the "
                                                   "current one (%s)",
                          prior.scan.proto.study_date, cur.scan.proto.study_date);
            else {
                days = (double)(d1 - d0);
                matched = calloc(prior.nodules.count ? prior.nodules.count : 1, sizeof *matched);
                if (!matched ||
                    rn_lungct_register(&cur.scan, &cur.lungs, &prior.scan, &prior.lungs, &reg,
                                       err) ||
                    rn_lungct_match(&cur.nodules, &prior.nodules, &reg, days, matched, err) ||
                    targeted_priors(&cur, &prior, &reg, days, &matched, err)) {
                    if (!matched)
                        rn_error_set(err, RN_ERR_NOMEM, "lungct: matching");
                    free(matched);
                    analysis_free(&prior);
                    analysis_free(&cur);
                    return NULL;
                }
                have_prior = true;
            }
        }
    }
    json_t *f = build(in, &cur, &prior, have_prior, &reg, days, matched,
                      problem[0] ? problem : NULL);
    free(matched);
    analysis_free(&prior);
    analysis_free(&cur);
    if (!f)
        rn_error_set(err, RN_ERR_NOMEM, "lungct: cannot build findings");
    return f;
}

const RnAnalyzer rn_analyzer_lungct = {
    .name = "lungct",
    .version = LCT_VERSION,
    .description = "lung nodules on chest CT: detection, volumetry, doubling time against the "
                   "prior, Lung-RADS v2022 and Fleischner 2017",
    .run = lungct_run,
    /* The most recent earlier CT of the patient (any body part: BodyPartExamined
     * is often absent or site-specific on chest CT); a scout is not a prior. */
    .priors = {.count = 1, .modality = "CT", .min_instances = 10},
};
