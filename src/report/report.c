/*
 * The report module's common ground: reading and checking one findings
 * object (docs/findings.md) so that hostile input gives a clear error and
 * never a malformed object, deterministic UIDs (rn_uid_derive over analyzer,
 * version, model SHA-256, sorted source SOP Instance UIDs and object kind),
 * the modules every result object shares (PS3.3 C.7.1.1 Patient, C.7.2.1
 * General Study, C.7.1.3 Clinical Trial-free Patient Study subset, C.7.5.1
 * General Equipment, C.12.1 SOP Common and its Contributing Equipment
 * Sequence as the IHE AI Results profile asks), the Code Sequence macro
 * (PS3.3 Table 8.8-1), the Hierarchical SOP Instance Reference macro (PS3.3
 * C.17.2.3), the set of result objects and the Part 10 writer (PS3.10 7.1,
 * Explicit VR Little Endian).
 */
#include "report/report_internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ---- Localised labels -------------------------------------------------------- */

static const char *const LABELS_EN[RN_L_COUNT] = {
    [RN_L_TITLE] = "Imaging analysis report",
    [RN_L_PRELIMINARY] = "PRELIMINARY - to be reviewed by a radiologist",
    [RN_L_PATIENT] = "Patient",
    [RN_L_NAME] = "Name",
    [RN_L_ID] = "Patient ID",
    [RN_L_BIRTH] = "Birth date",
    [RN_L_SEX] = "Sex",
    [RN_L_STUDY] = "Study",
    [RN_L_DATE] = "Study date",
    [RN_L_ACCESSION] = "Accession",
    [RN_L_DESCRIPTION] = "Description",
    [RN_L_FINDINGS] = "Findings",
    [RN_L_MEASUREMENT] = "Measurement",
    [RN_L_VALUE] = "Value",
    [RN_L_UNCERTAINTY] = "Uncertainty",
    [RN_L_CODES] = "Coded findings",
    [RN_L_REPORT] = "Report",
    [RN_L_METHOD] = "Method",
    [RN_L_ALGORITHM] = "Algorithm",
    [RN_L_MODEL] = "Model",
    [RN_L_REFERENCES] = "References (SOP Instance UIDs)",
    [RN_L_REFUSED] = "Not assessed",
    [RN_L_CONFIDENCE] = "Confidence",
    [RN_L_NONE] = "none",
};

static const char *const LABELS_ZH[RN_L_COUNT] = {
    [RN_L_TITLE] = "影像分析报告",
    [RN_L_PRELIMINARY] = "初步结果 - 需经放射科医师审核",
    [RN_L_PATIENT] = "患者",
    [RN_L_NAME] = "姓名",
    [RN_L_ID] = "患者编号",
    [RN_L_BIRTH] = "出生日期",
    [RN_L_SEX] = "性别",
    [RN_L_STUDY] = "检查",
    [RN_L_DATE] = "检查日期",
    [RN_L_ACCESSION] = "检查号",
    [RN_L_DESCRIPTION] = "检查描述",
    [RN_L_FINDINGS] = "测量结果",
    [RN_L_MEASUREMENT] = "测量项目",
    [RN_L_VALUE] = "数值",
    [RN_L_UNCERTAINTY] = "不确定度",
    [RN_L_CODES] = "分类结果",
    [RN_L_REPORT] = "报告",
    [RN_L_METHOD] = "方法",
    [RN_L_ALGORITHM] = "算法",
    [RN_L_MODEL] = "模型",
    [RN_L_REFERENCES] = "引用图像 (SOP Instance UID)",
    [RN_L_REFUSED] = "未评估",
    [RN_L_CONFIDENCE] = "置信度",
    [RN_L_NONE] = "无",
};

const char *rn_report_label(const RnReportCtx *ctx, RnReportLabel label)
{
    if ((unsigned)label >= RN_L_COUNT)
        return "";
    return ctx->zh ? LABELS_ZH[label] : LABELS_EN[label];
}

const char *rn_report_font(const RnReportCtx *ctx)
{
    /* Noto Sans CJK SC covers Latin too, so one face serves a Chinese page. */
    return ctx->zh ? "Noto Sans CJK SC" : "DejaVu Sans";
}

const char *rn_report_kind_name(RnReportKind kind)
{
    switch (kind) {
    case RN_REPORT_SR: return "SR";
    case RN_REPORT_SC: return "SC";
    case RN_REPORT_PDF: return "PDF";
    case RN_REPORT_KOS: return "KO";
    case RN_REPORT_HL7: return "ORU";
    }
    return "?";
}

/* ---- Findings: reading and checking ----------------------------------------- */

static bool utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80 ? 0 : (*p & 0xE0) == 0xC0 ? 1 : (*p & 0xF0) == 0xE0 ? 2
                : (*p & 0xF8) == 0xF0 ? 3 : -1;
        if (n < 0)
            return false;
        p++;
        for (int i = 0; i < n; i++, p++)
            if ((*p & 0xC0) != 0x80)
                return false;
    }
    return true;
}

static bool has_non_ascii(const char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s >= 0x80)
            return true;
    return false;
}

static bool json_non_ascii(const json_t *j, int depth)
{
    if (depth > 32)
        return false;
    if (json_is_string(j))
        return has_non_ascii(json_string_value(j));
    if (json_is_array(j)) {
        for (size_t i = 0; i < json_array_size(j); i++)
            if (json_non_ascii(json_array_get(j, i), depth + 1))
                return true;
    } else if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v) {
            if (has_non_ascii(k) || json_non_ascii(v, depth + 1))
                return true;
        }
    }
    return false;
}

/* Optional string member: NULL when absent or null; error when of another type. */
static int get_str(const json_t *obj, const char *key, const char *where, size_t max_bytes,
                   const char **out, RnError *err)
{
    *out = NULL;
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return rn_error_set(err, RN_ERR_INVALID, "findings: %s.%s is not a string", where, key);
    const char *s = json_string_value(v);
    if (!utf8_valid(s))
        return rn_error_set(err, RN_ERR_INVALID, "findings: %s.%s is not UTF-8", where, key);
    if (strlen(s) > max_bytes)
        return rn_error_set(err, RN_ERR_LIMIT, "findings: %s.%s is longer than %zu bytes", where,
                            key, max_bytes);
    *out = s;
    return 0;
}

static int get_num(const json_t *v, const char *where, double *out, RnError *err)
{
    if (!json_is_number(v))
        return rn_error_set(err, RN_ERR_INVALID, "findings: %s is not a number", where);
    double d = json_number_value(v);
    if (!isfinite(d) || fabs(d) > 1e15)
        return rn_error_set(err, RN_ERR_INVALID, "findings: %s is out of range", where);
    *out = d;
    return 0;
}

static bool code_chars_ok(const char *s, bool scheme)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c >= 0x7F || c == '\\')
            return false;
        if (scheme && !(isalnum(c) || c == '_' || c == '-' || c == '.' || c == ' '))
            return false;
    }
    return true;
}

/* A code object {"scheme","value","meaning"} (PS3.3 8.8: SH, SH, LO). */
static int get_code(const json_t *v, const char *where, RnCode *code, RnError *err)
{
    if (!json_is_object(v))
        return rn_error_set(err, RN_ERR_INVALID, "findings: %s is not a code object", where);
    int rc;
    if ((rc = get_str(v, "scheme", where, 64, &code->scheme, err)) ||
        (rc = get_str(v, "value", where, 64, &code->value, err)) ||
        (rc = get_str(v, "meaning", where, 1024, &code->meaning, err)))
        return rc;
    if (!code->scheme || !code->value || !code->meaning || !code->scheme[0] || !code->value[0] ||
        !code->meaning[0])
        return rn_error_set(err, RN_ERR_INVALID,
                            "findings: %s needs a non-empty scheme, value and meaning", where);
    if (strlen(code->scheme) > 16 || !code_chars_ok(code->scheme, true))
        return rn_error_set(err, RN_ERR_INVALID,
                            "findings: %s.scheme '%.20s' is not a coding scheme designator", where,
                            code->scheme);
    if (strlen(code->value) > 16 || !code_chars_ok(code->value, false))
        return rn_error_set(err, RN_ERR_INVALID,
                            "findings: %s.value '%.20s' is not a code value (<= 16 ASCII "
                            "characters)", where, code->value);
    return 0;
}

static int check_text(const char *s, const char *where, RnError *err)
{
    if (!utf8_valid(s))
        return rn_error_set(err, RN_ERR_INVALID, "findings: %s is not UTF-8", where);
    if (strlen(s) > RN_REPORT_MAX_TEXT_CHARS * 4)
        return rn_error_set(err, RN_ERR_LIMIT, "findings: %s is too long", where);
    return 0;
}

static int read_measurements(RnReportCtx *ctx, RnError *err)
{
    json_t *arr = json_object_get(ctx->findings, "measurements");
    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return rn_error_set(err, RN_ERR_INVALID, "findings: measurements is not an array");
    size_t n = json_array_size(arr);
    if (n > RN_REPORT_MAX_MEASUREMENTS)
        return rn_error_set(err, RN_ERR_LIMIT, "findings: %zu measurements (at most %d)", n,
                            RN_REPORT_MAX_MEASUREMENTS);
    ctx->meas = rn_calloc(n ? n : 1, sizeof *ctx->meas);
    if (!ctx->meas)
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(arr, i);
        RnMeasurement *o = &ctx->meas[i];
        char where[64];
        snprintf(where, sizeof where, "measurements[%zu]", i);
        if (!json_is_object(m))
            return rn_error_set(err, RN_ERR_INVALID, "findings: %s is not an object", where);
        int rc;
        char w2[80];
        snprintf(w2, sizeof w2, "%s.concept", where);
        if ((rc = get_code(json_object_get(m, "concept"), w2, &o->concept, err)))
            return rc;
        snprintf(w2, sizeof w2, "%s.value", where);
        if ((rc = get_num(json_object_get(m, "value"), w2, &o->value, err)))
            return rc;
        if ((rc = get_str(m, "group", where, 256, &o->group, err)))
            return rc;
        if (!o->group || !o->group[0])
            o->group = o->concept.meaning;
        json_t *unit = json_object_get(m, "unit");
        if (!json_is_object(unit))
            return rn_error_set(err, RN_ERR_INVALID, "findings: %s.unit is missing", where);
        snprintf(w2, sizeof w2, "%s.unit", where);
        if ((rc = get_str(unit, "ucum", w2, 16, &o->ucum, err)) ||
            (rc = get_str(unit, "meaning", w2, 256, &o->unit_meaning, err)))
            return rc;
        if (!o->ucum || !o->ucum[0] || !code_chars_ok(o->ucum, false))
            return rn_error_set(err, RN_ERR_INVALID, "findings: %s.unit.ucum is not a UCUM code",
                                where);
        if (!o->unit_meaning || !o->unit_meaning[0])
            o->unit_meaning = o->ucum;
        json_t *q = json_object_get(m, "qualifier");
        if (q && !json_is_null(q)) {
            snprintf(w2, sizeof w2, "%s.qualifier", where);
            if ((rc = get_code(q, w2, &o->qualifier, err)))
                return rc;
            o->has_qualifier = true;
        }
        json_t *fs = json_object_get(m, "finding_site");
        if (fs && !json_is_null(fs)) {
            snprintf(w2, sizeof w2, "%s.finding_site", where);
            if ((rc = get_code(fs, w2, &o->site, err)))
                return rc;
            o->has_site = true;
        }
        json_t *u = json_object_get(m, "uncertainty");
        if (u && !json_is_null(u)) {
            snprintf(w2, sizeof w2, "%s.uncertainty", where);
            if ((rc = get_num(u, w2, &o->uncertainty, err)))
                return rc;
            if (o->uncertainty < 0)
                return rn_error_set(err, RN_ERR_INVALID, "findings: %s is negative", w2);
            o->has_uncertainty = true;
        }
        json_t *si = json_object_get(m, "source_index");
        o->source_index = -1;
        if (si && !json_is_null(si)) {
            if (!json_is_integer(si) || json_integer_value(si) < 0 ||
                json_integer_value(si) > RN_REPORT_MAX_SOURCES)
                return rn_error_set(err, RN_ERR_INVALID, "findings: %s.source_index is invalid",
                                    where);
            o->source_index = (long)json_integer_value(si);
        }
    }
    ctx->meas_count = n;
    return 0;
}

static int read_codes(RnReportCtx *ctx, RnError *err)
{
    json_t *arr = json_object_get(ctx->findings, "codes");
    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return rn_error_set(err, RN_ERR_INVALID, "findings: codes is not an array");
    size_t n = json_array_size(arr);
    if (n > RN_REPORT_MAX_CODES)
        return rn_error_set(err, RN_ERR_LIMIT, "findings: too many codes (%zu)", n);
    ctx->codes = rn_calloc(n ? n : 1, sizeof *ctx->codes);
    if (!ctx->codes)
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *c = json_array_get(arr, i);
        char where[64];
        int rc;
        snprintf(where, sizeof where, "codes[%zu].concept", i);
        if ((rc = get_code(json_object_get(c, "concept"), where, &ctx->codes[i].concept, err)))
            return rc;
        snprintf(where, sizeof where, "codes[%zu].value", i);
        if ((rc = get_code(json_object_get(c, "value"), where, &ctx->codes[i].value, err)))
            return rc;
    }
    ctx->code_count = n;
    return 0;
}

static int read_overlays(RnReportCtx *ctx, RnError *err)
{
    json_t *arr = json_object_get(ctx->findings, "overlays");
    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return rn_error_set(err, RN_ERR_INVALID, "findings: overlays is not an array");
    size_t n = json_array_size(arr);
    if (n > RN_REPORT_MAX_OVERLAYS)
        return rn_error_set(err, RN_ERR_LIMIT, "findings: too many overlays (%zu)", n);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *pts = json_object_get(json_array_get(arr, i), "points");
        total += json_is_array(pts) ? json_array_size(pts) : 0;
    }
    if (total > RN_REPORT_MAX_POINTS)
        return rn_error_set(err, RN_ERR_LIMIT, "findings: too many overlay points (%zu)", total);
    ctx->overlays = rn_calloc(n ? n : 1, sizeof *ctx->overlays);
    ctx->points = rn_calloc(total ? total : 1, sizeof *ctx->points);
    if (!ctx->overlays || !ctx->points)
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(arr, i);
        RnOverlay *ov = &ctx->overlays[i];
        char where[64];
        snprintf(where, sizeof where, "overlays[%zu]", i);
        if (!json_is_object(o))
            return rn_error_set(err, RN_ERR_INVALID, "findings: %s is not an object", where);
        int rc;
        if ((rc = get_str(o, "kind", where, 16, &ov->kind, err)) ||
            (rc = get_str(o, "label", where, 256, &ov->label, err)))
            return rc;
        size_t min_points;
        if (!ov->kind)
            return rn_error_set(err, RN_ERR_INVALID, "findings: %s.kind is missing", where);
        if (!strcmp(ov->kind, "box"))
            min_points = 2;
        else if (!strcmp(ov->kind, "polyline"))
            min_points = 2;
        else if (!strcmp(ov->kind, "polygon"))
            min_points = 3;
        else if (!strcmp(ov->kind, "point") || !strcmp(ov->kind, "circle"))
            min_points = 1;
        else
            return rn_error_set(err, RN_ERR_INVALID, "findings: %s.kind '%s' is unknown", where,
                                ov->kind);
        json_t *pts = json_object_get(o, "points");
        if (!json_is_array(pts) || json_array_size(pts) < min_points)
            return rn_error_set(err, RN_ERR_INVALID, "findings: %s needs at least %zu points",
                                where, min_points);
        ov->points = ctx->points + used;
        for (size_t k = 0; k < json_array_size(pts); k++) {
            json_t *p = json_array_get(pts, k);
            char w2[96];
            snprintf(w2, sizeof w2, "%s.points[%zu]", where, k);
            if (!json_is_array(p) || json_array_size(p) != 2)
                return rn_error_set(err, RN_ERR_INVALID, "findings: %s is not [x, y]", w2);
            if ((rc = get_num(json_array_get(p, 0), w2, &ctx->points[used].x, err)) ||
                (rc = get_num(json_array_get(p, 1), w2, &ctx->points[used].y, err)))
                return rc;
            used++;
        }
        ov->point_count = json_array_size(pts);
        ov->radius = 0;
        json_t *r = json_object_get(o, "radius");
        if (!strcmp(ov->kind, "circle")) {
            if ((rc = get_num(r, "circle radius", &ov->radius, err)))
                return rc;
            if (ov->radius <= 0)
                return rn_error_set(err, RN_ERR_INVALID, "findings: %s.radius must be > 0", where);
        }
        json_t *si = json_object_get(o, "source_index");
        ov->source_index = json_is_integer(si) && json_integer_value(si) >= 0
                               ? (long)json_integer_value(si) : -1;
    }
    ctx->overlay_count = n;
    return 0;
}

static int read_string_array(const json_t *arr, const char *where, const char ***out, size_t *count,
                             RnError *err)
{
    *count = 0;
    if (!arr || json_is_null(arr))
        return 0;
    if (!json_is_array(arr))
        return rn_error_set(err, RN_ERR_INVALID, "findings: %s is not an array", where);
    size_t n = json_array_size(arr);
    if (n > RN_REPORT_MAX_TEXT_LINES)
        return rn_error_set(err, RN_ERR_LIMIT, "findings: %s has %zu lines (at most %d)", where,
                            n, RN_REPORT_MAX_TEXT_LINES);
    *out = rn_calloc(n ? n : 1, sizeof **out);
    if (!*out)
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(arr, i);
        if (!json_is_string(s))
            return rn_error_set(err, RN_ERR_INVALID, "findings: %s[%zu] is not a string", where,
                                i);
        int rc = check_text(json_string_value(s), where, err);
        if (rc)
            return rc;
        (*out)[i] = json_string_value(s);
    }
    *count = n;
    return 0;
}

static int read_text(RnReportCtx *ctx, RnError *err)
{
    json_t *text = json_object_get(ctx->findings, "text");
    if (text && !json_is_null(text) && !json_is_object(text))
        return rn_error_set(err, RN_ERR_INVALID, "findings: text is not an object");
    json_t *lines = text ? json_object_get(text, ctx->zh ? "zh" : "en") : NULL;
    if (!lines && text)
        lines = json_object_get(text, "en");
    int rc = read_string_array(lines, "text", &ctx->lines, &ctx->line_count, err);
    if (rc)
        return rc;
    return read_string_array(json_object_get(ctx->findings, "notes"), "notes", &ctx->notes,
                             &ctx->note_count, err);
}

/* ---- Sources ------------------------------------------------------------------ */

static int get_uid(const RnDataset *ds, RnTag tag, const char *what, size_t i,
                   char out[RN_UID_MAX + 1], RnError *err)
{
    if (rn_dataset_get_string(ds, tag, 0, out, RN_UID_MAX + 1, NULL) || !out[0] ||
        !rn_uid_is_valid(out))
        return rn_error_set(err, RN_ERR_INVALID, "source %zu: no valid %s", i, what);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const RnDataset *rn_report_ctx_primary(const RnReportCtx *ctx)
{
    for (size_t i = 0; i < ctx->source_count; i++)
        if (!strcmp(ctx->study_uid[i], ctx->result_study_uid))
            return rn_dicom_file_dataset(ctx->sources[i].file);
    return ctx->source_count ? rn_dicom_file_dataset(ctx->sources[0].file) : NULL;
}

size_t rn_report_ctx_source(const RnReportCtx *ctx, long source_index)
{
    json_t *srcs = json_object_get(ctx->findings, "sources");
    if (source_index >= 0 && json_is_array(srcs) && (size_t)source_index < json_array_size(srcs)) {
        const char *uid =
            json_string_value(json_object_get(json_array_get(srcs, (size_t)source_index),
                                              "sop_instance_uid"));
        for (size_t i = 0; uid && i < ctx->source_count; i++)
            if (!strcmp(ctx->sop_uid[i], uid))
                return i;
    }
    if (source_index >= 0 && (size_t)source_index < ctx->source_count)
        return (size_t)source_index;
    for (size_t i = 0; i < ctx->source_count; i++)
        if (!strcmp(ctx->study_uid[i], ctx->result_study_uid))
            return i;
    return 0;
}

static void procedure_for(RnReportCtx *ctx)
{
    /* Procedure Reported (TID 1500 row 5, CID 100 extensible): see docs/results.md. */
    char modality[17] = "", body[17] = "";
    const RnDataset *ds = rn_report_ctx_primary(ctx);
    if (ds) {
        rn_dataset_get_string(ds, RN_TAG_Modality, 0, modality, sizeof modality, NULL);
        rn_dataset_get_string(ds, RN_TAG_BodyPartExamined, 0, body, sizeof body, NULL);
    }
    bool xr = !strcmp(modality, "DX") || !strcmp(modality, "CR") || !strcmp(modality, "RG") ||
              !strcmp(modality, "PX");
    bool hand = !strcmp(body, "HAND") || !strcmp(body, "WRIST");
    bool chest = !strcmp(body, "CHEST") || !strcmp(body, "LUNG") || !strcmp(body, "THORAX");
    static const RnCode ct_chest = {"LN", "24627-2", "CT Chest"};
    static const RnCode ct_any = {"LN", "25045-6", "CT unspecified body region"};
    static const RnCode xr_boneage = {"LN", "37362-1", "XR Bones Views for bone age"};
    static const RnCode imaging = {"SCT", "363679005", "Imaging procedure"};
    if (!strcmp(modality, "CT"))
        ctx->procedure = chest ? ct_chest : ct_any;
    else if ((xr && hand) || (!modality[0] && ctx->analyzer && !strcmp(ctx->analyzer, "boneage")))
        ctx->procedure = xr_boneage;
    else if (!modality[0] && ctx->analyzer && !strcmp(ctx->analyzer, "lungct"))
        ctx->procedure = ct_chest;
    else
        ctx->procedure = imaging;
    json_t *p = json_object_get(ctx->findings, "procedure");
    RnCode c;
    if (p && get_code(p, "procedure", &c, NULL) == 0)
        ctx->procedure = c;
}

static const RnTag COPIED_TEXT[] = {
    RN_TAG_PatientName, RN_TAG_PatientID, RN_TAG_StudyDescription, RN_TAG_ReferringPhysicianName,
    RN_TAG_AccessionNumber, RN_TAG(0x0008, 0x0080) /* InstitutionName */, RN_TAG_StudyID,
    RN_TAG(0x0010, 0x0021) /* IssuerOfPatientID */,
};

static int init_sources(RnReportCtx *ctx, RnError *err)
{
    size_t n = ctx->source_count;
    if (n > RN_REPORT_MAX_SOURCES)
        return rn_error_set(err, RN_ERR_LIMIT, "too many sources (%zu)", n);
    size_t m = n ? n : 1;
    ctx->sop_uid = rn_calloc(m, sizeof *ctx->sop_uid);
    ctx->sop_class = rn_calloc(m, sizeof *ctx->sop_class);
    ctx->series_uid = rn_calloc(m, sizeof *ctx->series_uid);
    ctx->study_uid = rn_calloc(m, sizeof *ctx->study_uid);
    if (!ctx->sop_uid || !ctx->sop_class || !ctx->series_uid || !ctx->study_uid)
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (!ctx->sources[i].file)
            return rn_error_set(err, RN_ERR_INVALID, "source %zu is NULL", i);
        const RnDataset *ds = rn_dicom_file_dataset(ctx->sources[i].file);
        int rc;
        if ((rc = get_uid(ds, RN_TAG_SOPInstanceUID, "SOP Instance UID", i, ctx->sop_uid[i], err)) ||
            (rc = get_uid(ds, RN_TAG_SOPClassUID, "SOP Class UID", i, ctx->sop_class[i], err)) ||
            (rc = get_uid(ds, RN_TAG_SeriesInstanceUID, "Series Instance UID", i,
                          ctx->series_uid[i], err)) ||
            (rc = get_uid(ds, RN_TAG_StudyInstanceUID, "Study Instance UID", i, ctx->study_uid[i],
                          err)))
            return rc;
    }
    /* The results go into the study the findings name when a source is in it, else the
     * first source's study. */
    const char *fs = json_string_value(json_object_get(ctx->findings, "study_uid"));
    ctx->result_study_uid[0] = 0;
    for (size_t i = 0; fs && i < n; i++)
        if (!strcmp(ctx->study_uid[i], fs))
            snprintf(ctx->result_study_uid, sizeof ctx->result_study_uid, "%s", fs);
    if (!ctx->result_study_uid[0] && n)
        memcpy(ctx->result_study_uid, ctx->study_uid[0], sizeof ctx->result_study_uid);
    if (!ctx->result_study_uid[0] && fs && rn_uid_is_valid(fs))
        snprintf(ctx->result_study_uid, sizeof ctx->result_study_uid, "%s", fs);

    /* Seed of every derived UID: analyzer, version, model, sorted source instances. */
    const char **uids = rn_calloc(m, sizeof *uids);
    if (!uids)
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        uids[k++] = ctx->sop_uid[i];
    json_t *srcs = json_object_get(ctx->findings, "sources");
    if (!k && json_is_array(srcs)) {
        size_t ns = json_array_size(srcs);
        const char **more = ns ? rn_realloc(uids, ns * sizeof *uids) : uids;
        if (!more) {
            free(uids);
            return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        }
        uids = more;
        for (size_t i = 0; i < ns; i++) {
            const char *u =
                json_string_value(json_object_get(json_array_get(srcs, i), "sop_instance_uid"));
            if (u && strlen(u) <= RN_UID_MAX)
                uids[k++] = u;
        }
    }
    qsort(uids, k, sizeof *uids, cmp_str);
    RnBuf b = {0};
    int rc = rn_buf_printf(&b, "radnode-result\n%s\n%s\n%s\n", ctx->analyzer,
                           ctx->analyzer_version, ctx->model_sha ? ctx->model_sha : "");
    for (size_t i = 0; !rc && i < k; i++)
        if (i == 0 || strcmp(uids[i], uids[i - 1]))
            rc = rn_buf_printf(&b, "%s\n", uids[i]);
    if (!rc)
        rc = rn_buf_append_byte(&b, 0);
    free(uids);
    if (rc) {
        rn_buf_free(&b);
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    }
    ctx->seed = (char *)rn_buf_take(&b, NULL);
    return 0;
}

static bool sources_non_ascii(const RnReportCtx *ctx)
{
    const RnDataset *ds = rn_report_ctx_primary(ctx);
    if (!ds)
        return false;
    for (size_t i = 0; i < sizeof COPIED_TEXT / sizeof COPIED_TEXT[0]; i++) {
        char *s = rn_dataset_get_string_all(ds, COPIED_TEXT[i], NULL);
        bool na = has_non_ascii(s);
        free(s);
        if (na)
            return true;
    }
    return false;
}

int rn_report_ctx_init(RnReportCtx *ctx, const json_t *findings, const RnReportSource *sources,
                       size_t source_count, const RnReportOptions *opt, RnError *err)
{
    memset(ctx, 0, sizeof *ctx);
    if (opt)
        ctx->opt = *opt;
    if (!ctx->opt.language)
        ctx->opt.language = "en";
    if (strcmp(ctx->opt.language, "en") && strcmp(ctx->opt.language, "zh"))
        return rn_error_set(err, RN_ERR_INVALID, "report language '%s' (use en or zh)",
                            ctx->opt.language);
    ctx->zh = !strcmp(ctx->opt.language, "zh");
    if (!ctx->opt.station_ae)
        ctx->opt.station_ae = "RADNODE";
    if (!ctx->opt.charset)
        ctx->opt.charset = "ISO_IR 192";
    if (strcmp(ctx->opt.charset, "ISO_IR 192") && strcmp(ctx->opt.charset, "GB18030"))
        return rn_error_set(err, RN_ERR_INVALID, "report charset '%s' (use ISO_IR 192 or GB18030)",
                            ctx->opt.charset);
    if (!ctx->opt.objects)
        ctx->opt.objects = RN_REPORT_DEFAULT;
    if (ctx->opt.series_number_base <= 0)
        ctx->opt.series_number_base = RN_REPORT_SERIES_BASE;
    ctx->findings = findings;
    ctx->sources = sources;
    ctx->source_count = sources ? source_count : 0;
    if (!json_is_object(findings))
        return rn_error_set(err, RN_ERR_INVALID, "findings is not a JSON object");

    int rc;
    const char *status;
    json_t *alg = json_object_get(findings, "algorithm");
    json_t *model = json_is_object(alg) ? json_object_get(alg, "model") : NULL;
    if ((rc = get_str(findings, "analyzer", "findings", 64, &ctx->analyzer, err)) ||
        (rc = get_str(findings, "analyzer_version", "findings", 64, &ctx->analyzer_version, err)) ||
        (rc = get_str(findings, "status", "findings", 16, &status, err)) ||
        (rc = get_str(findings, "refusal_reason", "findings", 1024, &ctx->refusal_reason, err)) ||
        (rc = get_str(findings, "confidence", "findings", 16, &ctx->confidence, err)))
        return rc;
    if (alg && !json_is_null(alg) && !json_is_object(alg))
        return rn_error_set(err, RN_ERR_INVALID, "findings: algorithm is not an object");
    if (alg && ((rc = get_str(alg, "name", "algorithm", 64, &ctx->alg_name, err)) ||
                (rc = get_str(alg, "version", "algorithm", 64, &ctx->alg_version, err)) ||
                (rc = get_str(alg, "manufacturer", "algorithm", 64, &ctx->alg_manufacturer, err))))
        return rc;
    if (model && ((rc = get_str(model, "name", "algorithm.model", 64, &ctx->model_name, err)) ||
                  (rc = get_str(model, "version", "algorithm.model", 64, &ctx->model_version,
                                err)) ||
                  (rc = get_str(model, "sha256", "algorithm.model", 128, &ctx->model_sha, err))))
        return rc;
    if (!ctx->analyzer || !ctx->analyzer[0])
        return rn_error_set(err, RN_ERR_INVALID, "findings: analyzer is missing");
    if (!ctx->analyzer_version)
        ctx->analyzer_version = "";
    if (!ctx->alg_name || !ctx->alg_name[0])
        ctx->alg_name = ctx->analyzer;
    if (!ctx->alg_version || !ctx->alg_version[0])
        ctx->alg_version = ctx->analyzer_version[0] ? ctx->analyzer_version : "unknown";
    if (!ctx->alg_manufacturer || !ctx->alg_manufacturer[0])
        ctx->alg_manufacturer = "radnode";
    if (!status || !strcmp(status, "ok"))
        ctx->refused = false;
    else if (!strcmp(status, "refused"))
        ctx->refused = true;
    else
        return rn_error_set(err, RN_ERR_INVALID, "findings: status '%s' (ok or refused)", status);

    if ((rc = read_measurements(ctx, err)) || (rc = read_codes(ctx, err)) ||
        (rc = read_overlays(ctx, err)) || (rc = read_text(ctx, err)) ||
        (rc = init_sources(ctx, err)))
        return rc;
    procedure_for(ctx);

    /* Only what the objects carry counts: the other language's text and "details" do not. */
    bool non_ascii = ctx->zh || sources_non_ascii(ctx);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)findings, key, val) {
        if (strcmp(key, "text") && strcmp(key, "details") && strcmp(key, "sources") &&
            json_non_ascii(val, 0))
            non_ascii = true;
    }
    for (size_t i = 0; i < ctx->line_count; i++)
        non_ascii = non_ascii || has_non_ascii(ctx->lines[i]);
    non_ascii = non_ascii ||
                     has_non_ascii(ctx->opt.institution) || has_non_ascii(ctx->opt.station_ae);
    ctx->charset = non_ascii ? ctx->opt.charset : "";

    if (ctx->opt.content_datetime) {
        const char *t = ctx->opt.content_datetime;
        size_t len = strlen(t);
        for (size_t i = 0; i < len; i++)
            if (!isdigit((unsigned char)t[i]))
                len = 0;
        if (len != 14)
            return rn_error_set(err, RN_ERR_INVALID, "content date-time '%s' is not "
                                "YYYYMMDDHHMMSS", t);
        memcpy(ctx->date, t, 8);
        memcpy(ctx->time, t + 8, 6);
    } else {
        time_t now = time(NULL);
        struct tm tmv;
        localtime_r(&now, &tmv);
        strftime(ctx->date, sizeof ctx->date, "%Y%m%d", &tmv);
        strftime(ctx->time, sizeof ctx->time, "%H%M%S", &tmv);
    }
    return 0;
}

void rn_report_ctx_free(RnReportCtx *ctx)
{
    if (!ctx)
        return;
    free(ctx->meas);
    free(ctx->codes);
    free(ctx->overlays);
    free(ctx->points);
    free(ctx->lines);
    free(ctx->notes);
    free(ctx->sop_uid);
    free(ctx->sop_class);
    free(ctx->series_uid);
    free(ctx->study_uid);
    free(ctx->seed);
    memset(ctx, 0, sizeof *ctx);
}

void rn_report_ctx_uid(const RnReportCtx *ctx, RnReportKind kind, const char *what,
                       char out[RN_UID_MAX + 1])
{
    RnBuf b = {0};
    if (!strcmp(what, "device"))
        /* The device observer / contributing equipment: one per algorithm and model. */
        rn_buf_printf(&b, "radnode-device\n%s\n%s\n%s\n%s", ctx->alg_manufacturer, ctx->alg_name,
                      ctx->alg_version, ctx->model_sha ? ctx->model_sha : "");
    else
        rn_buf_printf(&b, "%s%s\n%s", ctx->seed ? ctx->seed : "", rn_report_kind_name(kind),
                      what);
    rn_buf_append_byte(&b, 0);
    rn_uid_derive(b.data ? (const char *)b.data : "radnode", out);
    rn_buf_free(&b);
}

int rn_report_uid(const json_t *findings, const RnReportSource *sources, size_t source_count,
                  RnReportKind kind, const char *what, char out[RN_UID_MAX + 1], RnError *err)
{
    RnReportCtx ctx;
    int rc = rn_report_ctx_init(&ctx, findings, sources, source_count, NULL, err);
    if (!rc)
        rn_report_ctx_uid(&ctx, kind, what, out);
    rn_report_ctx_free(&ctx);
    return rc;
}

/* ---- Dataset helpers ------------------------------------------------------------- */

int rn_report_set_text(RnDataset *ds, RnTag tag, RnVR vr, const char *utf8, size_t max_chars,
                       RnError *err)
{
    bool multiline = vr == RN_VR_LT || vr == RN_VR_ST || vr == RN_VR_UT;
    RnBuf b = {0};
    size_t chars = 0;
    const unsigned char *p = (const unsigned char *)(utf8 ? utf8 : "");
    int rc = 0;
    while (*p && chars < max_chars && !rc) {
        size_t n = *p < 0x80 ? 1 : (*p & 0xE0) == 0xC0 ? 2 : (*p & 0xF0) == 0xE0 ? 3 : 4;
        size_t avail = strnlen((const char *)p, n);
        if (avail < n)
            break;
        unsigned char c = *p;
        bool drop = n == 1 && (c < 0x20 || c == 0x7F || (!multiline && c == '\\'));
        if (n == 1 && multiline && (c == '\n' || c == '\r' || c == '\t'))
            drop = false;
        if (!drop) {
            rc = rn_buf_append(&b, p, n);
            chars++;
        }
        p += n;
    }
    if (!rc)
        rc = rn_buf_append_byte(&b, 0);
    if (rc) {
        rn_buf_free(&b);
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    }
    /* Leading/trailing spaces are padding in most VRs: trim trailing ones. */
    char *s = (char *)b.data;
    size_t len = strlen(s);
    while (len && s[len - 1] == ' ')
        s[--len] = 0;
    rc = rn_dataset_set_string(ds, tag, vr, s, err);
    rn_buf_free(&b);
    return rc;
}

int rn_report_add_code(RnDataset *ds, RnTag seq, const RnCode *code, RnError *err)
{
    RnDataset *item = rn_dataset_add_item(ds, seq, err);
    if (!item)
        return RN_ERR_NOMEM;
    int rc;
    if ((rc = rn_dataset_set_string(item, RN_TAG(0x0008, 0x0100), RN_VR_SH, code->value, err)) ||
        (rc = rn_dataset_set_string(item, RN_TAG(0x0008, 0x0102), RN_VR_SH, code->scheme, err)) ||
        (rc = rn_report_set_text(item, RN_TAG(0x0008, 0x0104), RN_VR_LO, code->meaning, 64, err)))
        return rc;
    return 0;
}

void rn_report_format_ds(double v, char out[32])
{
    for (int prec = 16; prec > 0; prec--) {
        snprintf(out, 32, "%.*g", prec, v);
        if (strlen(out) <= 16)
            break;
    }
}

void rn_report_format_value(double v, char *out, size_t cap)
{
    double a = fabs(v);
    int decimals = a >= 1000 ? 0 : a >= 100 ? 1 : a >= 1 ? 2 : 3;
    if (v == floor(v) && a < 1e9)
        decimals = 0;
    snprintf(out, cap, "%.*f", decimals, v);
}

static int copy_text(const RnDataset *src, RnDataset *dst, RnTag tag, RnVR vr, size_t max_chars,
                     bool always, RnError *err)
{
    char *s = src ? rn_dataset_get_string_all(src, tag, NULL) : NULL;
    int rc = 0;
    if (s || always)
        rc = rn_report_set_text(dst, tag, vr, s ? s : "", max_chars, err);
    free(s);
    return rc;
}

static int copy_pn(const RnDataset *src, RnDataset *dst, RnTag tag, RnError *err)
{
    /* PN: keep the component and group delimiters (^ =) but no backslash. */
    char *s = src ? rn_dataset_get_string_all(src, tag, NULL) : NULL;
    if (s) {
        char *bs = strchr(s, '\\');
        if (bs)
            *bs = 0; /* first value only */
    }
    int rc = rn_report_set_text(dst, tag, RN_VR_PN, s ? s : "", 64 * 3, err);
    free(s);
    return rc;
}

static int copy_simple(const RnDataset *src, RnDataset *dst, RnTag tag, RnVR vr, bool always,
                       RnError *err)
{
    char buf[65] = "";
    bool have = src && rn_dataset_get_string(src, tag, 0, buf, sizeof buf, NULL) == 0;
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == '\\' || (unsigned char)*p >= 0x7F)
            *p = ' ';
    if (!have && !always)
        return 0;
    return rn_dataset_set_string(dst, tag, vr, have ? buf : "", err);
}

static int add_contributing_equipment(const RnReportCtx *ctx, RnDataset *ds, RnError *err)
{
    /* PS3.3 C.12.1.1.5 Contributing Equipment; IHE AIR: the algorithm is the equipment. */
    RnDataset *it = rn_dataset_add_item(ds, RN_TAG(0x0018, 0xA001), err);
    if (!it)
        return RN_ERR_NOMEM;
    char device_uid[RN_UID_MAX + 1];
    rn_report_ctx_uid(ctx, 0, "device", device_uid);
    char versions[160];
    snprintf(versions, sizeof versions, "%s\\%s", ctx->alg_version,
             ctx->model_version ? ctx->model_version : ctx->alg_version);
    static const RnCode processing = {"DCM", "109102", "Processing Equipment"};
    char model[130];
    snprintf(model, sizeof model, "%s%s%s", ctx->alg_name, ctx->model_name ? " " : "",
             ctx->model_name ? ctx->model_name : "");
    char desc[256];
    snprintf(desc, sizeof desc, "%s %s; model %s %s sha256 %s", ctx->alg_name, ctx->alg_version,
             ctx->model_name ? ctx->model_name : "-", ctx->model_version ? ctx->model_version : "-",
             ctx->model_sha ? ctx->model_sha : "-");
    char dt[15];
    snprintf(dt, sizeof dt, "%s%s", ctx->date, ctx->time);
    int rc;
    if ((rc = rn_report_set_text(it, RN_TAG(0x0008, 0x0070), RN_VR_LO, ctx->alg_manufacturer, 64,
                                 err)) ||
        (rc = rn_report_set_text(it, RN_TAG(0x0008, 0x1010), RN_VR_SH, ctx->opt.station_ae, 16,
                                 err)) ||
        (rc = rn_report_set_text(it, RN_TAG(0x0008, 0x1090), RN_VR_LO, model, 64, err)) ||
        (rc = rn_dataset_set_string(it, RN_TAG(0x0018, 0x1002), RN_VR_UI, device_uid, err)) ||
        (rc = rn_dataset_set_string(it, RN_TAG(0x0018, 0x1020), RN_VR_LO, versions, err)) ||
        (rc = rn_report_add_code(it, RN_TAG(0x0040, 0xA170), &processing, err)) ||
        (rc = rn_dataset_set_string(it, RN_TAG(0x0018, 0xA002), RN_VR_DT, dt, err)) ||
        (rc = rn_report_set_text(it, RN_TAG(0x0018, 0xA003), RN_VR_ST, desc, 1024, err)))
        return rc;
    return 0;
}

static bool is_private(const RnCode *c)
{
    return c->scheme && c->scheme[0] == '9' && c->scheme[1] == '9';
}

static bool uses_private_scheme(const RnReportCtx *ctx)
{
    for (size_t i = 0; i < ctx->meas_count; i++)
        if (is_private(&ctx->meas[i].concept) ||
            (ctx->meas[i].has_qualifier && is_private(&ctx->meas[i].qualifier)) ||
            (ctx->meas[i].has_site && is_private(&ctx->meas[i].site)))
            return true;
    for (size_t i = 0; i < ctx->code_count; i++)
        if (is_private(&ctx->codes[i].concept) || is_private(&ctx->codes[i].value))
            return true;
    return is_private(&ctx->procedure);
}

int rn_report_common(const RnReportCtx *ctx, RnDataset *ds, RnReportKind kind,
                     const char *sop_class, const char *modality, const char *series_description,
                     RnError *err)
{
    const RnDataset *src = rn_report_ctx_primary(ctx);
    char uid[RN_UID_MAX + 1], series[RN_UID_MAX + 1];
    rn_report_ctx_uid(ctx, kind, "instance", uid);
    rn_report_ctx_uid(ctx, kind, "series", series);
    int series_number = ctx->opt.series_number_base +
                        (kind == RN_REPORT_SR ? 0 : kind == RN_REPORT_SC ? 1
                         : kind == RN_REPORT_PDF ? 2 : 3);
    int rc = 0;
    /* PS3.5 6.1.2.5: Specific Character Set first, so later text is encoded in it. */
    if (ctx->charset[0])
        rc = rn_dataset_set_string(ds, RN_TAG_SpecificCharacterSet, RN_VR_CS, ctx->charset, err);
    if (rc)
        return rc;
    if ((rc = rn_dataset_set_string(ds, RN_TAG_SOPClassUID, RN_VR_UI, sop_class, err)) ||
        (rc = rn_dataset_set_string(ds, RN_TAG_SOPInstanceUID, RN_VR_UI, uid, err)) ||
        (rc = rn_dataset_set_string(ds, RN_TAG(0x0008, 0x0012), RN_VR_DA, ctx->date, err)) ||
        (rc = rn_dataset_set_string(ds, RN_TAG(0x0008, 0x0013), RN_VR_TM, ctx->time, err)) ||
        (rc = rn_dataset_set_string(ds, RN_TAG_ContentDate, RN_VR_DA, ctx->date, err)) ||
        (rc = rn_dataset_set_string(ds, RN_TAG_ContentTime, RN_VR_TM, ctx->time, err)) ||
        (rc = rn_dataset_set_string(ds, RN_TAG_SeriesDate, RN_VR_DA, ctx->date, err)) ||
        (rc = rn_dataset_set_string(ds, RN_TAG(0x0008, 0x0031), RN_VR_TM, ctx->time, err)))
        return rc;
    /* Patient (C.7.1.1), General Study (C.7.2.1), Patient Study (C.7.2.2, if present). */
    if ((rc = copy_pn(src, ds, RN_TAG_PatientName, err)) ||
        (rc = copy_text(src, ds, RN_TAG_PatientID, RN_VR_LO, 64, true, err)) ||
        (rc = copy_text(src, ds, RN_TAG(0x0010, 0x0021), RN_VR_LO, 64, false, err)) ||
        (rc = copy_simple(src, ds, RN_TAG_PatientBirthDate, RN_VR_DA, true, err)) ||
        (rc = copy_simple(src, ds, RN_TAG_PatientSex, RN_VR_CS, true, err)) ||
        (rc = copy_simple(src, ds, RN_TAG_PatientAge, RN_VR_AS, false, err)) ||
        (rc = copy_simple(src, ds, RN_TAG(0x0010, 0x1020), RN_VR_DS, false, err)) ||
        (rc = copy_simple(src, ds, RN_TAG(0x0010, 0x1030), RN_VR_DS, false, err)) ||
        (rc = rn_dataset_set_string(ds, RN_TAG_StudyInstanceUID, RN_VR_UI, ctx->result_study_uid,
                                    err)) ||
        (rc = copy_simple(src, ds, RN_TAG_StudyDate, RN_VR_DA, true, err)) ||
        (rc = copy_simple(src, ds, RN_TAG_StudyTime, RN_VR_TM, true, err)) ||
        (rc = copy_pn(src, ds, RN_TAG_ReferringPhysicianName, err)) ||
        (rc = copy_text(src, ds, RN_TAG_StudyID, RN_VR_SH, 16, true, err)) ||
        (rc = copy_text(src, ds, RN_TAG_AccessionNumber, RN_VR_SH, 16, true, err)) ||
        (rc = copy_text(src, ds, RN_TAG_StudyDescription, RN_VR_LO, 64, false, err)))
        return rc;
    /* The result series (C.7.3.1 / C.17.1 / C.17.6.1 / A.45.1 series modules). */
    if ((rc = rn_dataset_set_string(ds, RN_TAG_Modality, RN_VR_CS, modality, err)) ||
        (rc = rn_dataset_set_string(ds, RN_TAG_SeriesInstanceUID, RN_VR_UI, series, err)) ||
        (rc = rn_dataset_set_int(ds, RN_TAG_SeriesNumber, RN_VR_IS, series_number, err)) ||
        (rc = rn_dataset_set_int(ds, RN_TAG_InstanceNumber, RN_VR_IS, 1, err)) ||
        (rc = rn_report_set_text(ds, RN_TAG_SeriesDescription, RN_VR_LO, series_description, 64,
                                 err)))
        return rc;
    /* General Equipment (C.7.5.1). */
    const char *institution = ctx->opt.institution;
    if ((rc = rn_dataset_set_string(ds, RN_TAG_Manufacturer, RN_VR_LO, "radnode", err)) ||
        (institution
             ? (rc = rn_report_set_text(ds, RN_TAG(0x0008, 0x0080), RN_VR_LO, institution, 64,
                                        err))
             : (rc = copy_text(src, ds, RN_TAG(0x0008, 0x0080), RN_VR_LO, 64, false, err))) ||
        (rc = rn_report_set_text(ds, RN_TAG(0x0008, 0x1010), RN_VR_SH, ctx->opt.station_ae, 16,
                                 err)) ||
        (rc = rn_dataset_set_string(ds, RN_TAG(0x0008, 0x1090), RN_VR_LO, "radnode", err)) ||
        (rc = rn_dataset_set_string(ds, RN_TAG(0x0018, 0x1020), RN_VR_LO, RN_VERSION, err)))
        return rc;
    if ((rc = add_contributing_equipment(ctx, ds, err)))
        return rc;
    /* PS3.3 C.12.1.1.7: the private coding scheme is identified in the object. */
    if (uses_private_scheme(ctx)) {
        RnDataset *cs = rn_dataset_add_item(ds, RN_TAG(0x0008, 0x0110), err);
        if (!cs)
            return RN_ERR_NOMEM;
        if ((rc = rn_dataset_set_string(cs, RN_TAG(0x0008, 0x0102), RN_VR_SH, "99RADNODE", err)) ||
            (rc = rn_dataset_set_string(cs, RN_TAG(0x0008, 0x0115), RN_VR_ST,
                                        "radnode private codes (docs/results.md)", err)) ||
            (rc = rn_dataset_set_string(cs, RN_TAG(0x0008, 0x0116), RN_VR_ST, "radnode", err)))
            return rc;
    }
    return 0;
}

int rn_report_add_evidence(const RnReportCtx *ctx, RnDataset *ds, RnTag seq,
                           const char *study_filter, bool exclude, RnError *err)
{
    size_t n = ctx->source_count;
    for (size_t i = 0; i < n; i++) {
        /* One item per study, at its first source. */
        bool first = true;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(ctx->study_uid[j], ctx->study_uid[i]))
                first = false;
        if (!first)
            continue;
        if (study_filter && (strcmp(ctx->study_uid[i], study_filter) == 0) == exclude)
            continue;
        RnDataset *st = rn_dataset_add_item(ds, seq, err);
        if (!st || rn_dataset_set_string(st, RN_TAG_StudyInstanceUID, RN_VR_UI, ctx->study_uid[i],
                                         err))
            return RN_ERR_NOMEM;
        for (size_t s = i; s < n; s++) {
            if (strcmp(ctx->study_uid[s], ctx->study_uid[i]))
                continue;
            bool sfirst = true;
            for (size_t j = i; j < s; j++)
                if (!strcmp(ctx->study_uid[j], ctx->study_uid[i]) &&
                    !strcmp(ctx->series_uid[j], ctx->series_uid[s]))
                    sfirst = false;
            if (!sfirst)
                continue;
            RnDataset *se = rn_dataset_add_item(st, RN_TAG(0x0008, 0x1115), err);
            if (!se || rn_dataset_set_string(se, RN_TAG_SeriesInstanceUID, RN_VR_UI,
                                             ctx->series_uid[s], err))
                return RN_ERR_NOMEM;
            for (size_t k = s; k < n; k++) {
                if (strcmp(ctx->study_uid[k], ctx->study_uid[i]) ||
                    strcmp(ctx->series_uid[k], ctx->series_uid[s]))
                    continue;
                bool dup = false;
                for (size_t j = s; j < k; j++)
                    if (!strcmp(ctx->sop_uid[j], ctx->sop_uid[k]))
                        dup = true;
                if (dup)
                    continue;
                RnDataset *in = rn_dataset_add_item(se, RN_TAG(0x0008, 0x1199), err);
                if (!in ||
                    rn_dataset_set_string(in, RN_TAG(0x0008, 0x1150), RN_VR_UI, ctx->sop_class[k],
                                          err) ||
                    rn_dataset_set_string(in, RN_TAG(0x0008, 0x1155), RN_VR_UI, ctx->sop_uid[k],
                                          err))
                    return RN_ERR_NOMEM;
            }
        }
    }
    return 0;
}

/* ---- Object set and writer -------------------------------------------------------- */

static int set_push(RnReportSet *set, RnReportKind kind, RnDataset *ds, char *text, size_t len,
                    RnError *err)
{
    RnReportObject *grown = rn_realloc(set->objects, (set->count + 1) * sizeof *grown);
    if (!grown)
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    set->objects = grown;
    RnReportObject *o = &set->objects[set->count++];
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->dataset = ds;
    o->text = text;
    o->text_len = len;
    if (ds) {
        rn_dataset_get_string(ds, RN_TAG_SOPInstanceUID, 0, o->sop_instance_uid,
                              sizeof o->sop_instance_uid, NULL);
        /* Short names keep to PS3.10-friendly characters; the UID suffix keeps them unique. */
        size_t ul = strlen(o->sop_instance_uid);
        snprintf(o->name, sizeof o->name, "%s_%s.dcm", rn_report_kind_name(kind),
                 o->sop_instance_uid + (ul > 20 ? ul - 20 : 0));
    }
    return 0;
}

void rn_report_set_free(RnReportSet *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->count; i++) {
        rn_dataset_destroy(set->objects[i].dataset);
        free(set->objects[i].text);
    }
    free(set->objects);
    set->objects = NULL;
    set->count = 0;
}

int rn_report_build(const json_t *findings, const RnReportSource *sources, size_t source_count,
                    const RnReportOptions *opt, RnReportSet *out, RnError *err)
{
    out->objects = NULL;
    out->count = 0;
    if (rn_cairo_load(err)) /* the SC and PDF renderers draw with cairo */
        return err ? err->code : RN_ERR_UNSUPPORTED;
    RnReportCtx ctx;
    int rc = rn_report_ctx_init(&ctx, findings, sources, source_count, opt, err);
    unsigned want = ctx.opt.objects;
    bool refused = ctx.refused;
    char sr_uid[RN_UID_MAX + 1] = "";
    if (!rc)
        rn_report_ctx_uid(&ctx, RN_REPORT_HL7, "message", sr_uid);
    rn_report_ctx_free(&ctx);
    if (rc)
        return rc;
    if (!source_count && (want & ~(unsigned)RN_REPORT_HL7))
        return rn_error_set(err, RN_ERR_INVALID, "DICOM results need at least one source image");
    static const RnReportKind order[] = {RN_REPORT_SR, RN_REPORT_SC, RN_REPORT_PDF, RN_REPORT_KOS};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        if (!(want & order[i]))
            continue;
        if (refused && (order[i] == RN_REPORT_SC || order[i] == RN_REPORT_KOS))
            continue;
        RnDataset *ds = NULL;
        switch (order[i]) {
        case RN_REPORT_SR: ds = rn_report_build_sr(findings, sources, source_count, opt, err); break;
        case RN_REPORT_SC: ds = rn_report_build_sc(findings, sources, source_count, opt, err); break;
        case RN_REPORT_PDF:
            ds = rn_report_build_pdf(findings, sources, source_count, opt, err);
            break;
        default: ds = rn_report_build_kos(findings, sources, source_count, opt, err); break;
        }
        if (!ds || set_push(out, order[i], ds, NULL, 0, err)) {
            rn_dataset_destroy(ds);
            rn_report_set_free(out);
            rn_error_prefix(err, "building %s: ", rn_report_kind_name(order[i]));
            return err ? (err->code ? err->code : RN_ERR_INVALID) : RN_ERR_INVALID;
        }
    }
    if (want & RN_REPORT_HL7) {
        RnBuf b = {0};
        rc = rn_report_build_oru(findings, sources, source_count, opt, &b, err);
        if (!rc)
            rc = rn_buf_append_byte(&b, 0);
        size_t len = b.len ? b.len - 1 : 0;
        char *text = rc ? NULL : (char *)rn_buf_take(&b, NULL);
        rn_buf_free(&b);
        if (rc && rc != RN_ERR_NOMEM && out->count > 0) {
            /* Without order identifiers the RIS cannot attach a result: the DICOM
             * objects still go to the PACS, and the job log says why no ORU^R01. */
            rn_warn("no ORU^R01 made: %s", err ? err->message : "");
            free(text);
            rn_error_clear(err);
            return 0;
        }
        if (rc || set_push(out, RN_REPORT_HL7, NULL, text, len, err)) {
            free(text);
            rn_report_set_free(out);
            rn_error_prefix(err, "building ORU^R01: ");
            return rc ? rc : RN_ERR_NOMEM;
        }
        size_t ul = strlen(sr_uid);
        snprintf(out->objects[out->count - 1].name, sizeof out->objects[0].name, "ORU_%s.hl7",
                 sr_uid + (ul > 20 ? ul - 20 : 0));
    }
    return 0;
}

int rn_report_write(const RnReportSet *set, const char *dir, RnError *err)
{
    int rc = rn_mkdirs(dir, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < set->count; i++) {
        const RnReportObject *o = &set->objects[i];
        size_t plen = strlen(dir) + strlen(o->name) + 2;
        char *path = rn_malloc(plen);
        if (!path)
            return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        snprintf(path, plen, "%s/%s", dir, o->name);
        if (o->dataset) {
            RnDataset *copy = rn_dataset_clone(o->dataset, err);
            RnDicomFile *f = copy ? rn_dicom_file_create_take(copy, RN_UID_EXPLICIT_VR_LE, err)
                                  : NULL;
            if (!f) {
                rn_dataset_destroy(copy);
                free(path);
                return err && err->code ? err->code : RN_ERR_NOMEM;
            }
            RnWriteOptions wo = {.transfer_syntax = RN_UID_EXPLICIT_VR_LE};
            rc = rn_dicom_write_file(f, path, &wo, err);
            rn_dicom_file_destroy(f);
        } else {
            rc = rn_file_write_atomic(path, o->text, o->text_len, false, err);
        }
        if (rc) {
            rn_error_prefix(err, "writing %s: ", path);
            free(path);
            return rc;
        }
        free(path);
    }
    return 0;
}
