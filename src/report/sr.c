/*
 * Structured reports of the findings: the Comprehensive 3D SR Storage object
 * (PS3.3 A.35.13: SR Document Series C.17.1, SR Document General C.17.2, SR
 * Document Content C.17.3) carrying a TID 1500 Measurement Report (PS3.16):
 * TID 1204 Language of Content, TID 1001/1002/1004 device observer context,
 * Procedure Reported, TID 1600 Image Library, TID 1501 Measurement Groups
 * with TID 4108 tracking identifiers, TID 4019 Algorithm Identification and
 * TID 300 measurements (NUM with UCUM units, TID 310 uncertainty, TID 320
 * source image), the root Qualitative Evaluations; and the Key Object
 * Selection Document (PS3.3 A.35.4, TID 2010) of the key images.
 */
#include "report/report_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SOP_CLASS_COMPREHENSIVE_3D_SR "1.2.840.10008.5.1.4.1.1.88.34"
#define SOP_CLASS_KOS "1.2.840.10008.5.1.4.1.1.88.59"

#define TAG_RelationshipType RN_TAG(0x0040, 0xA010)
#define TAG_ValueType RN_TAG(0x0040, 0xA040)
#define TAG_ConceptNameCodeSequence RN_TAG(0x0040, 0xA043)
#define TAG_ContinuityOfContent RN_TAG(0x0040, 0xA050)
#define TAG_TextValue RN_TAG(0x0040, 0xA160)
#define TAG_ConceptCodeSequence RN_TAG(0x0040, 0xA168)
#define TAG_UID RN_TAG(0x0040, 0xA124)
#define TAG_MeasuredValueSequence RN_TAG(0x0040, 0xA300)
#define TAG_MeasurementUnitsCodeSequence RN_TAG(0x0040, 0x08EA)
#define TAG_NumericValue RN_TAG(0x0040, 0xA30A)
#define TAG_FloatingPointValue RN_TAG(0x0040, 0xA161)
#define TAG_ContentSequence RN_TAG(0x0040, 0xA730)
#define TAG_ReferencedSOPSequence RN_TAG(0x0008, 0x1199)
#define TAG_ReferencedFrameNumber RN_TAG(0x0008, 0x1160)
#define TAG_ContentTemplateSequence RN_TAG(0x0040, 0xA504)
#define TAG_MappingResource RN_TAG(0x0008, 0x0105)
#define TAG_TemplateIdentifier RN_TAG(0x0040, 0xDB00)

static const RnCode C_LANGUAGE = {"DCM", "121049", "Language of Content Item and Descendants"};
static const RnCode C_EN = {"RFC5646", "en", "English"};
static const RnCode C_ZH = {"RFC5646", "zh-CN", "Chinese (China)"};
static const RnCode C_OBSERVER_TYPE = {"DCM", "121005", "Observer Type"};
static const RnCode C_DEVICE = {"DCM", "121007", "Device"};
static const RnCode C_DEVICE_UID = {"DCM", "121012", "Device Observer UID"};
static const RnCode C_DEVICE_NAME = {"DCM", "121013", "Device Observer Name"};
static const RnCode C_DEVICE_MANUFACTURER = {"DCM", "121014", "Device Observer Manufacturer"};
static const RnCode C_DEVICE_MODEL = {"DCM", "121015", "Device Observer Model Name"};
static const RnCode C_PROCEDURE_REPORTED = {"DCM", "121058", "Procedure reported"};
static const RnCode C_REPORT = {"DCM", "126000", "Imaging Measurement Report"};
static const RnCode C_IMAGE_LIBRARY = {"DCM", "111028", "Image Library"};
static const RnCode C_IMAGE_LIBRARY_GROUP = {"DCM", "126200", "Image Library Group"};
static const RnCode C_MEASUREMENTS = {"DCM", "126010", "Imaging Measurements"};
static const RnCode C_GROUP = {"DCM", "125007", "Measurement Group"};
static const RnCode C_TRACKING_ID = {"DCM", "112039", "Tracking Identifier"};
static const RnCode C_TRACKING_UID = {"DCM", "112040", "Tracking Unique Identifier"};
static const RnCode C_FINDING_SITE = {"SCT", "363698007", "Finding Site"};
static const RnCode C_ALG_NAME = {"DCM", "111001", "Algorithm Name"};
static const RnCode C_ALG_VERSION = {"DCM", "111003", "Algorithm Version"};
static const RnCode C_ALG_PARAMETERS = {"DCM", "111002", "Algorithm Parameters"};
static const RnCode C_UNCERTAINTY = {"SCT", "371884006", "+/-, range of measurement uncertainty"};
static const RnCode C_SOURCE = {"DCM", "121112", "Source of Measurement"};
static const RnCode C_QUALITATIVE = {"UMLS", "C0034375", "Qualitative Evaluations"};
static const RnCode C_COMMENT = {"DCM", "121106", "Comment"};
static const RnCode C_IMPRESSION = {"DCM", "121073", "Impression"};
static const RnCode C_OF_INTEREST = {"DCM", "113000", "Of Interest"};
static const RnCode C_KEY_DESCRIPTION = {"DCM", "113012", "Key Object Description"};

/* ---- Content items (PS3.3 C.17.3, Table C.17-6 and the value type macros) ---- */

RnDataset *rn_sr_item(RnDataset *parent, const char *relationship, const char *value_type,
                      const RnCode *concept, RnError *err)
{
    RnDataset *it = rn_dataset_add_item(parent, TAG_ContentSequence, err);
    if (!it)
        return NULL;
    if (rn_dataset_set_string(it, TAG_RelationshipType, RN_VR_CS, relationship, err) ||
        rn_dataset_set_string(it, TAG_ValueType, RN_VR_CS, value_type, err) ||
        (concept && rn_report_add_code(it, TAG_ConceptNameCodeSequence, concept, err)))
        return NULL;
    return it;
}

RnDataset *rn_sr_text(RnDataset *parent, const char *rel, const RnCode *concept, const char *text,
                      RnError *err)
{
    RnDataset *it = rn_sr_item(parent, rel, "TEXT", concept, err);
    /* TEXT is UT: no length limit in the VR; radnode keeps a line to 4096 characters. */
    if (it && rn_report_set_text(it, TAG_TextValue, RN_VR_UT, text && text[0] ? text : "-", 4096,
                                 err))
        return NULL;
    return it;
}

RnDataset *rn_sr_code(RnDataset *parent, const char *rel, const RnCode *concept,
                      const RnCode *value, RnError *err)
{
    RnDataset *it = rn_sr_item(parent, rel, "CODE", concept, err);
    if (it && rn_report_add_code(it, TAG_ConceptCodeSequence, value, err))
        return NULL;
    return it;
}

RnDataset *rn_sr_uidref(RnDataset *parent, const char *rel, const RnCode *concept,
                        const char *uid, RnError *err)
{
    RnDataset *it = rn_sr_item(parent, rel, "UIDREF", concept, err);
    if (it && rn_dataset_set_string(it, TAG_UID, RN_VR_UI, uid, err))
        return NULL;
    return it;
}

RnDataset *rn_sr_container(RnDataset *parent, const char *rel, const RnCode *concept,
                           RnError *err)
{
    RnDataset *it = rn_sr_item(parent, rel, "CONTAINER", concept, err);
    if (it && rn_dataset_set_string(it, TAG_ContinuityOfContent, RN_VR_CS, "SEPARATE", err))
        return NULL;
    return it;
}

RnDataset *rn_sr_num(RnDataset *parent, const char *rel, const RnCode *concept, double value,
                     const RnCode *unit, RnError *err)
{
    RnDataset *it = rn_sr_item(parent, rel, "NUM", concept, err);
    if (!it)
        return NULL;
    RnDataset *mv = rn_dataset_add_item(it, TAG_MeasuredValueSequence, err);
    char ds[32];
    rn_report_format_ds(value, ds);
    if (!mv || rn_report_add_code(mv, TAG_MeasurementUnitsCodeSequence, unit, err) ||
        rn_dataset_set_string(mv, TAG_NumericValue, RN_VR_DS, ds, err))
        return NULL;
    /* PS3.3 C.18.1: the exact binary value when the DS string rounds it. */
    if (strtod(ds, NULL) != value &&
        rn_dataset_set_double(mv, TAG_FloatingPointValue, RN_VR_FD, value, err))
        return NULL;
    return it;
}

RnDataset *rn_sr_image(const RnReportCtx *ctx, RnDataset *parent, const char *rel,
                       const RnCode *concept, size_t source, RnError *err)
{
    RnDataset *it = rn_sr_item(parent, rel, "IMAGE", concept, err);
    if (!it)
        return NULL;
    RnDataset *ref = rn_dataset_add_item(it, TAG_ReferencedSOPSequence, err);
    if (!ref ||
        rn_dataset_set_string(ref, RN_TAG(0x0008, 0x1150), RN_VR_UI, ctx->sop_class[source], err) ||
        rn_dataset_set_string(ref, RN_TAG(0x0008, 0x1155), RN_VR_UI, ctx->sop_uid[source], err))
        return NULL;
    /* A multi-frame source: the frame the findings name (PS3.3 C.17.3.2.1 Image Reference). */
    const RnDataset *ds = rn_dicom_file_dataset(ctx->sources[source].file);
    int64_t frames = 1;
    if (rn_dataset_get_int(ds, RN_TAG_NumberOfFrames, 0, &frames, NULL) == 0 && frames > 1) {
        json_t *srcs = json_object_get(ctx->findings, "sources");
        json_int_t frame = 1;
        for (size_t i = 0; json_is_array(srcs) && i < json_array_size(srcs); i++) {
            json_t *s = json_array_get(srcs, i);
            const char *u = json_string_value(json_object_get(s, "sop_instance_uid"));
            if (u && !strcmp(u, ctx->sop_uid[source]) &&
                json_is_integer(json_object_get(s, "frame")))
                frame = json_integer_value(json_object_get(s, "frame"));
        }
        if (frame >= 1 && frame <= frames &&
            rn_dataset_set_int(ref, TAG_ReferencedFrameNumber, RN_VR_IS, frame, err))
            return NULL;
    }
    return it;
}

int rn_sr_root(RnDataset *ds, const RnCode *title, const char *tid, RnError *err)
{
    int rc;
    if ((rc = rn_dataset_set_string(ds, TAG_ValueType, RN_VR_CS, "CONTAINER", err)) ||
        (rc = rn_report_add_code(ds, TAG_ConceptNameCodeSequence, title, err)) ||
        (rc = rn_dataset_set_string(ds, TAG_ContinuityOfContent, RN_VR_CS, "SEPARATE", err)))
        return rc;
    RnDataset *t = rn_dataset_add_item(ds, TAG_ContentTemplateSequence, err);
    if (!t)
        return RN_ERR_NOMEM;
    if ((rc = rn_dataset_set_string(t, TAG_MappingResource, RN_VR_CS, "DCMR", err)) ||
        (rc = rn_dataset_set_string(t, TAG_TemplateIdentifier, RN_VR_CS, tid, err)))
        return rc;
    return 0;
}

int rn_sr_device_observer(const RnReportCtx *ctx, RnDataset *parent, RnError *err)
{
    char uid[RN_UID_MAX + 1];
    rn_report_ctx_uid(ctx, 0, "device", uid);
    char name[160];
    snprintf(name, sizeof name, "%s %s", ctx->alg_name, ctx->alg_version);
    const char *model = ctx->model_name ? ctx->model_name : ctx->alg_name;
    if (!rn_sr_code(parent, "HAS OBS CONTEXT", &C_OBSERVER_TYPE, &C_DEVICE, err) ||
        !rn_sr_uidref(parent, "HAS OBS CONTEXT", &C_DEVICE_UID, uid, err) ||
        !rn_sr_text(parent, "HAS OBS CONTEXT", &C_DEVICE_NAME, name, err) ||
        !rn_sr_text(parent, "HAS OBS CONTEXT", &C_DEVICE_MANUFACTURER, ctx->alg_manufacturer,
                    err) ||
        !rn_sr_text(parent, "HAS OBS CONTEXT", &C_DEVICE_MODEL, model, err))
        return err && err->code ? err->code : RN_ERR_NOMEM;
    return 0;
}

/* ---- TID 1500 ---------------------------------------------------------------------- */

static int algorithm_identification(const RnReportCtx *ctx, RnDataset *parent, RnError *err)
{
    /* TID 4019; the model identity goes in Algorithm Parameters (111002). */
    if (!rn_sr_text(parent, "HAS CONCEPT MOD", &C_ALG_NAME, ctx->alg_name, err) ||
        !rn_sr_text(parent, "HAS CONCEPT MOD", &C_ALG_VERSION, ctx->alg_version, err))
        return RN_ERR_NOMEM;
    if (ctx->model_name || ctx->model_sha) {
        char p[300];
        snprintf(p, sizeof p, "model=%s version=%s sha256=%s",
                 ctx->model_name ? ctx->model_name : "-",
                 ctx->model_version ? ctx->model_version : "-",
                 ctx->model_sha ? ctx->model_sha : "-");
        if (!rn_sr_text(parent, "HAS CONCEPT MOD", &C_ALG_PARAMETERS, p, err))
            return RN_ERR_NOMEM;
    }
    return 0;
}

static int measurement_groups(const RnReportCtx *ctx, RnDataset *measurements, RnError *err)
{
    /* One TID 1501 group per distinct "group" label, in order of first appearance. */
    for (size_t i = 0; i < ctx->meas_count; i++) {
        bool first = true;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(ctx->meas[j].group, ctx->meas[i].group))
                first = false;
        if (!first)
            continue;
        RnDataset *g = rn_sr_container(measurements, "CONTAINS", &C_GROUP, err);
        if (!g)
            return RN_ERR_NOMEM;
        char what[300], tuid[RN_UID_MAX + 1];
        snprintf(what, sizeof what, "tracking\n%s", ctx->meas[i].group);
        rn_report_ctx_uid(ctx, RN_REPORT_SR, what, tuid);
        if (!rn_sr_text(g, "HAS OBS CONTEXT", &C_TRACKING_ID, ctx->meas[i].group, err) ||
            !rn_sr_uidref(g, "HAS OBS CONTEXT", &C_TRACKING_UID, tuid, err))
            return RN_ERR_NOMEM;
        int rc = algorithm_identification(ctx, g, err);
        if (rc)
            return rc;
        /* TID 1501's Finding Site: the group's anatomy, from its first measurement that has
         * one (the lung, or the lobe where the fissures gave it) */
        for (size_t k = i; k < ctx->meas_count; k++)
            if (!strcmp(ctx->meas[k].group, ctx->meas[i].group) && ctx->meas[k].has_site) {
                if (!rn_sr_code(g, "HAS CONCEPT MOD", &C_FINDING_SITE, &ctx->meas[k].site, err))
                    return RN_ERR_NOMEM;
                break;
            }
        for (size_t k = i; k < ctx->meas_count; k++) {
            const RnMeasurement *m = &ctx->meas[k];
            if (strcmp(m->group, ctx->meas[i].group))
                continue;
            RnCode unit = {"UCUM", m->ucum, m->unit_meaning};
            RnDataset *num = rn_sr_num(g, "CONTAINS", &m->concept, m->value, &unit, err);
            if (!num)
                return RN_ERR_NOMEM;
            if (m->has_qualifier &&
                !rn_sr_code(num, "HAS CONCEPT MOD", &(RnCode){"DCM", "121401", "Derivation"},
                            &m->qualifier, err))
                return RN_ERR_NOMEM;
            if (m->has_uncertainty &&
                !rn_sr_num(num, "HAS PROPERTIES", &C_UNCERTAINTY, m->uncertainty, &unit, err))
                return RN_ERR_NOMEM;
            if (ctx->source_count &&
                !rn_sr_image(ctx, num, "INFERRED FROM", &C_SOURCE,
                             rn_report_ctx_source(ctx, m->source_index), err))
                return RN_ERR_NOMEM;
        }
    }
    return 0;
}

RnDataset *rn_report_build_sr(const json_t *findings, const RnReportSource *sources,
                              size_t source_count, const RnReportOptions *opt, RnError *err)
{
    RnReportCtx ctx;
    RnDataset *ds = NULL;
    int rc = rn_report_ctx_init(&ctx, findings, sources, source_count, opt, err);
    if (rc)
        goto done;
    if (!ctx.source_count) {
        rc = rn_error_set(err, RN_ERR_INVALID, "the SR needs at least one source image");
        goto done;
    }
    ds = rn_dataset_create();
    if (!ds) {
        rc = rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        goto done;
    }
    char desc[80];
    snprintf(desc, sizeof desc, "%s results (preliminary)", ctx.alg_name);
    if ((rc = rn_report_common(&ctx, ds, RN_REPORT_SR, SOP_CLASS_COMPREHENSIVE_3D_SR, "SR", desc,
                               err)))
        goto done;
    /* SR Document Series: Referenced Performed Procedure Step Sequence is type 2. */
    if ((rc = rn_dataset_set_sequence(ds, RN_TAG(0x0008, 0x1111), err)))
        goto done;
    /* SR Document General (C.17.2): an unverified, partial, preliminary AI result. */
    if ((rc = rn_dataset_set_string(ds, RN_TAG(0x0040, 0xA491), RN_VR_CS, "PARTIAL", err)) ||
        (rc = rn_dataset_set_string(ds, RN_TAG(0x0040, 0xA493), RN_VR_CS, "UNVERIFIED", err)) ||
        (rc = rn_dataset_set_string(ds, RN_TAG(0x0040, 0xA496), RN_VR_CS, "PRELIMINARY", err)) ||
        (rc = rn_report_add_code(ds, RN_TAG(0x0040, 0xA372), &ctx.procedure, err)) ||
        (rc = rn_report_add_evidence(&ctx, ds, RN_TAG(0x0040, 0xA375), ctx.result_study_uid,
                                     false, err)))
        goto done;
    bool other = false;
    for (size_t i = 0; i < ctx.source_count; i++)
        if (strcmp(ctx.study_uid[i], ctx.result_study_uid))
            other = true;
    if (other && (rc = rn_report_add_evidence(&ctx, ds, RN_TAG(0x0040, 0xA385),
                                              ctx.result_study_uid, true, err)))
        goto done;

    /* SR Document Content: TID 1500. */
    if ((rc = rn_sr_root(ds, &C_REPORT, "1500", err)))
        goto done;
    rc = RN_ERR_NOMEM;
    if (!rn_sr_code(ds, "HAS CONCEPT MOD", &C_LANGUAGE, ctx.zh ? &C_ZH : &C_EN, err))
        goto done;
    if ((rc = rn_sr_device_observer(&ctx, ds, err)))
        goto done;
    rc = RN_ERR_NOMEM;
    if (!rn_sr_code(ds, "HAS CONCEPT MOD", &C_PROCEDURE_REPORTED, &ctx.procedure, err))
        goto done;
    RnDataset *lib = rn_sr_container(ds, "CONTAINS", &C_IMAGE_LIBRARY, err);
    RnDataset *lg = lib ? rn_sr_container(lib, "CONTAINS", &C_IMAGE_LIBRARY_GROUP, err) : NULL;
    if (!lg)
        goto done;
    for (size_t i = 0; i < ctx.source_count; i++) {
        bool dup = false;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(ctx.sop_uid[i], ctx.sop_uid[j]))
                dup = true;
        if (!dup && !rn_sr_image(&ctx, lg, "CONTAINS", NULL, i, err))
            goto done;
    }
    RnDataset *meas = rn_sr_container(ds, "CONTAINS", &C_MEASUREMENTS, err);
    if (!meas)
        goto done;
    if ((rc = measurement_groups(&ctx, meas, err)))
        goto done;
    rc = RN_ERR_NOMEM;
    if (ctx.code_count || ctx.refused || ctx.line_count) {
        RnDataset *q = rn_sr_container(ds, "CONTAINS", &C_QUALITATIVE, err);
        if (!q)
            goto done;
        for (size_t i = 0; i < ctx.code_count; i++)
            if (!rn_sr_code(q, "CONTAINS", &ctx.codes[i].concept, &ctx.codes[i].value, err))
                goto done;
        if (ctx.refused) {
            char t[1200];
            snprintf(t, sizeof t, "%s: %s", rn_report_label(&ctx, RN_L_REFUSED),
                     ctx.refusal_reason ? ctx.refusal_reason : "-");
            if (!rn_sr_text(q, "CONTAINS", &C_IMPRESSION, t, err))
                goto done;
        }
        for (size_t i = 0; i < ctx.line_count; i++)
            if (!rn_sr_text(q, "CONTAINS", &C_IMPRESSION, ctx.lines[i], err))
                goto done;
    }
    if (!rn_sr_text(ds, "CONTAINS", &C_COMMENT, rn_report_label(&ctx, RN_L_PRELIMINARY), err))
        goto done;
    rc = 0;
done:
    rn_report_ctx_free(&ctx);
    if (rc) {
        if (err && !err->code)
            rn_error_set(err, rc, "building the SR failed");
        rn_dataset_destroy(ds);
        return NULL;
    }
    return ds;
}

/* ---- Key Object Selection (TID 2010) ----------------------------------------------- */

RnDataset *rn_report_build_kos(const json_t *findings, const RnReportSource *sources,
                               size_t source_count, const RnReportOptions *opt, RnError *err)
{
    RnReportCtx ctx;
    RnDataset *ds = NULL;
    bool *key = NULL;
    int rc = rn_report_ctx_init(&ctx, findings, sources, source_count, opt, err);
    if (rc)
        goto done;
    if (!ctx.source_count) {
        rc = rn_error_set(err, RN_ERR_INVALID, "Key Object Selection needs a source image");
        goto done;
    }
    /* Key images: the sources that measurements or overlays point at (all when none do). */
    key = rn_calloc(ctx.source_count, sizeof *key);
    ds = rn_dataset_create();
    if (!key || !ds) {
        rc = rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        goto done;
    }
    bool any = false;
    for (size_t i = 0; i < ctx.meas_count; i++)
        if (ctx.meas[i].source_index >= 0)
            key[rn_report_ctx_source(&ctx, ctx.meas[i].source_index)] = any = true;
    for (size_t i = 0; i < ctx.overlay_count; i++)
        if (ctx.overlays[i].source_index >= 0)
            key[rn_report_ctx_source(&ctx, ctx.overlays[i].source_index)] = any = true;
    for (size_t i = 0; i < ctx.source_count; i++) {
        if (!any)
            key[i] = true;
        /* Only images of the result study go into its Current Requested Procedure Evidence. */
        if (strcmp(ctx.study_uid[i], ctx.result_study_uid))
            key[i] = false;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(ctx.sop_uid[i], ctx.sop_uid[j]))
                key[i] = false;
    }
    char desc[80];
    snprintf(desc, sizeof desc, "%s key images", ctx.alg_name);
    if ((rc = rn_report_common(&ctx, ds, RN_REPORT_KOS, SOP_CLASS_KOS, "KO", desc, err)) ||
        (rc = rn_dataset_set_sequence(ds, RN_TAG(0x0008, 0x1111), err)) ||
        (rc = rn_report_add_evidence(&ctx, ds, RN_TAG(0x0040, 0xA375), ctx.result_study_uid,
                                     false, err)) ||
        (rc = rn_sr_root(ds, &C_OF_INTEREST, "2010", err)))
        goto done;
    rc = RN_ERR_NOMEM;
    if (!rn_sr_code(ds, "HAS CONCEPT MOD", &C_LANGUAGE, ctx.zh ? &C_ZH : &C_EN, err))
        goto done;
    if ((rc = rn_sr_device_observer(&ctx, ds, err)))
        goto done;
    rc = RN_ERR_NOMEM;
    char text[1100];
    snprintf(text, sizeof text, "%s %s: %s", ctx.alg_name, ctx.alg_version,
             ctx.line_count ? ctx.lines[0] : rn_report_label(&ctx, RN_L_PRELIMINARY));
    if (!rn_sr_text(ds, "CONTAINS", &C_KEY_DESCRIPTION, text, err))
        goto done;
    for (size_t i = 0; i < ctx.source_count; i++)
        if (key[i] && !rn_sr_image(&ctx, ds, "CONTAINS", NULL, i, err))
            goto done;
    rc = 0;
done:
    free(key);
    rn_report_ctx_free(&ctx);
    if (rc) {
        if (err && !err->code)
            rn_error_set(err, rc, "building the Key Object Selection failed");
        rn_dataset_destroy(ds);
        return NULL;
    }
    return ds;
}
