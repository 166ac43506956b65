/*
 * The bone-age analyzer (issue 7): for each DX, CR or SC hand radiograph it
 * routes, the Greulich-Pyle bone age from the model models/boneage-v2.onnx
 * (docs/boneage-model.md), with the chronological age, the difference, the
 * SDS against the Brush Foundation SD table and the interpretation, as a
 * findings object (docs/findings.md; codes in docs/boneage-analyzer.md).
 *
 * Inference: the preprocessed 256x256 input and RN_BONEAGE_TTA-1 copies
 * shifted by 8 pixels (the test-time augmentation of tools/boneage/evaluate.py)
 * run as one batch; the bone age is their mean and the uncertainty their
 * standard deviation, an estimate of the model's sensitivity to framing, not
 * a confidence interval. The sex comes from PatientSex; when it is unknown the
 * model runs under both assumptions and both estimates are reported, and no
 * SDS is given. Images it cannot assess are refused with a reason (a findings
 * object with "status": "refused"), never guessed.
 *
 * The model file's SHA-256 is computed when it is loaded and goes into every
 * result (algorithm.model), so a result always names the exact model.
 */
#include "analyzers/boneage/boneage_internal.h"
#include "radnode/analyzer.h"
#include "radnode/codec.h"
#include "radnode/nn.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BONEAGE_VERSION "1.0.0"
#define MODEL_FILE "boneage-v2.onnx"
#define MODEL_NAME "boneage-v2"
#define MODEL_VERSION "2"
#define ORIENT_FILE "boneage-orient-v2.onnx"
#define MODEL_MAX_BYTES ((size_t)256 << 20)

void rn_boneage_tta_shift(int k, int *dx, int *dy)
{
    /* (0,0), (+8,0), (-8,0), (0,+8), (0,-8): evaluate.SHIFTS */
    static const int s[RN_BONEAGE_TTA][2] = {{0, 0},
                                             {RN_BONEAGE_TTA_SHIFT, 0},
                                             {-RN_BONEAGE_TTA_SHIFT, 0},
                                             {0, RN_BONEAGE_TTA_SHIFT},
                                             {0, -RN_BONEAGE_TTA_SHIFT}};
    if (k < 0 || k >= RN_BONEAGE_TTA)
        k = 0;
    *dx = s[k][0];
    *dy = s[k][1];
}

typedef struct Model {
    RnNnModel *nn;
    char path[1024];
    char sha256[65];
    RnNnModel *orient; /* optional: the orientation check (ORIENT_FILE); NULL if absent */
    char orient_sha256[65];
    char orient_problem[256]; /* why it is not used, for the details */
} Model;

/* Reads an ONNX file, hashes it (SHA-256, hex into sha) and loads it. */
static RnNnModel *load_onnx(const char *path, char sha[65], int threads, RnError *err)
{
    size_t len = 0;
    uint8_t *bytes = rn_file_read_all(path, MODEL_MAX_BYTES, &len, err);
    if (!bytes)
        return NULL;
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    if (!EVP_Digest(bytes, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
        free(bytes);
        rn_error_set(err, RN_ERR_INVALID, "SHA-256 of the model failed");
        return NULL;
    }
    for (unsigned i = 0; i < 32; i++)
        snprintf(sha + 2 * i, 3, "%02x", md[i]);
    RnNnModel *nn = rn_nn_model_load_memory(bytes, len, err);
    free(bytes);
    if (nn && rn_nn_model_set_threads(nn, threads > 0 ? threads : 1, err) < 0) {
        rn_nn_model_destroy(nn);
        return NULL;
    }
    return nn;
}

static int model_open(const RnAnalysisInput *in, Model *m, RnError *err)
{
    memset(m, 0, sizeof *m);
    const char *dir = in->models_dir && in->models_dir[0] ? in->models_dir : "models";
    const char *over = getenv("RN_BONEAGE_MODEL"); /* development and tests only */
    if (over && over[0])
        rn_format(m->path, sizeof m->path, "%s", over);
    else
        rn_format(m->path, sizeof m->path, "%s/%s", dir, MODEL_FILE);
    m->nn = load_onnx(m->path, m->sha256, in->threads, err);
    if (!m->nn) {
        rn_error_prefix(err, "boneage: model %s: ", m->path);
        return err && err->code ? err->code : RN_ERR_PARSE;
    }
    /* The orientation check is optional: without it the geometric heuristics
     * alone decide, and the findings say so. */
    char op[1024];
    rn_format(op, sizeof op, "%s/%s", dir, ORIENT_FILE);
    RnError oe = {0};
    m->orient = load_onnx(op, m->orient_sha256, 1, &oe);
    if (!m->orient)
        rn_format(m->orient_problem, sizeof m->orient_problem, "%s: %s", ORIENT_FILE, oe.message);
    return 0;
}

/* The learned orientation check on the 256x256 network input (base): the
 * class of the 8 square symmetries and its probability. Returns 0, or < 0 on
 * an engine failure (err set). */
static int orient_check(Model *m, const uint8_t *base, RnBoneagePrep *p, RnError *err)
{
    enum { N = RN_BONEAGE_ORIENT_RES };
    uint8_t small[N * N];
    float x[N * N];
    if (rn_boneage_resize_spec(base, RN_BONEAGE_RES, RN_BONEAGE_RES, small, N, N, err) < 0)
        return -1;
    rn_boneage_normalise(small, (size_t)N * N, x);
    RnNnTensor in = {.name = "image", .ndim = 4, .shape = {1, 1, N, N}, .data = x};
    RnNnTensor out = {.name = "logits"};
    int rc = rn_nn_run(m->orient, &in, 1, &out, 1, err);
    if (rc < 0)
        return rc;
    /* 8 classes (the symmetries), or 9 with NOT_HAND last (boneage-orient-v2) */
    if (out.ndim != 2 || (out.shape[1] != 8 && out.shape[1] != 9) || !out.data)
        return rn_error_set(err, RN_ERR_INVALID, "boneage: orientation model output shape");
    const int classes = (int)out.shape[1];
    double mx = out.data[0], sum = 0;
    int best = 0;
    for (int c = 1; c < classes; c++)
        if (out.data[c] > mx)
            mx = out.data[c];
    for (int c = 0; c < classes; c++)
        sum += exp(out.data[c] - mx);
    for (int c = 1; c < 8; c++)
        if (out.data[c] > out.data[best])
            best = c;
    p->not_hand_p = classes == 9 ? exp(out.data[8] - mx) / sum : -1;
    p->orient_checked = true;
    p->orient_class = best;
    p->orient_p = exp(out.data[best] - mx) / sum;
    return 0;
}

/* Runs the TTA batch for one sex: mean and SD (population) of the passes. */
static int predict(Model *m, const float *batch, float male, double *mean, double *sd,
                   double passes[RN_BONEAGE_TTA], RnError *err)
{
    float sex[RN_BONEAGE_TTA];
    for (int k = 0; k < RN_BONEAGE_TTA; k++)
        sex[k] = male;
    RnNnTensor inputs[2] = {
        {.name = "image", .ndim = 4, .shape = {RN_BONEAGE_TTA, 1, RN_BONEAGE_RES, RN_BONEAGE_RES},
         .data = (float *)batch},
        {.name = "male", .ndim = 2, .shape = {RN_BONEAGE_TTA, 1}, .data = sex},
    };
    RnNnTensor out = {.name = "boneage_months"};
    int rc = rn_nn_run(m->nn, inputs, 2, &out, 1, err);
    if (rc < 0)
        return rc;
    if (out.ndim < 1 || out.shape[0] != RN_BONEAGE_TTA || !out.data)
        return rn_error_set(err, RN_ERR_INVALID, "boneage: model output has an unexpected shape");
    double s = 0, s2 = 0;
    for (int k = 0; k < RN_BONEAGE_TTA; k++) {
        double v = out.data[k * (out.ndim > 1 ? out.shape[1] : 1)];
        if (!isfinite(v))
            return rn_error_set(err, RN_ERR_INVALID, "boneage: model output is not finite");
        passes[k] = v;
        s += v;
    }
    *mean = s / RN_BONEAGE_TTA;
    for (int k = 0; k < RN_BONEAGE_TTA; k++)
        s2 += (passes[k] - *mean) * (passes[k] - *mean);
    *sd = sqrt(s2 / RN_BONEAGE_TTA);
    return 0;
}

static json_t *code(const char *scheme, const char *value, const char *meaning)
{
    return json_pack("{s:s, s:s, s:s}", "scheme", scheme, "value", value, "meaning", meaning);
}

static json_t *measurement(const char *group, json_t *concept, double value, const char *ucum,
                           const char *unit_meaning, json_t *qualifier, double uncertainty)
{
    json_t *m = json_pack("{s:s, s:o, s:f, s:{s:s, s:s}, s:o, s:i}", "group", group, "concept",
                          concept, "value", round(value * 100) / 100, "unit", "ucum", ucum,
                          "meaning", unit_meaning, "qualifier", qualifier ? qualifier : json_null(),
                          "source_index", 0);
    if (m && uncertainty >= 0)
        json_object_set_new(m, "uncertainty", json_real(round(uncertainty * 100) / 100));
    return m;
}

static const char *sex_word(RnBoneageSex s)
{
    return s == RN_BONEAGE_SEX_MALE ? "M" : s == RN_BONEAGE_SEX_FEMALE ? "F" : "U";
}

/* "10 years 6 months" / "10岁6个月" */
static void age_text(double months, char *en, size_t en_size, char *zh, size_t zh_size)
{
    int y, mo;
    rn_boneage_years_months(months, &y, &mo);
    rn_format(en, en_size, "%d year%s %d month%s", y, y == 1 ? "" : "s", mo, mo == 1 ? "" : "s");
    rn_format(zh, zh_size, "%d岁%d个月", y, mo);
}

typedef struct ImageFacts {
    const char *path;
    char sop_class[RN_UID_MAX + 1], sop[RN_UID_MAX + 1], series[RN_UID_MAX + 1];
    char patient_id[65], sex_cs[17], birth[32], study_date[32], patient_age[17], modality[17];
    RnBoneageSex sex;
    double chrono;
    RnBoneageAgeSource chrono_source;
    RnBoneageSide dicom_side;
    char side_where[32];
} ImageFacts;

static void read_facts(const RnDataset *ds, const char *path, ImageFacts *f)
{
    memset(f, 0, sizeof *f);
    f->path = path;
    rn_dataset_get_string(ds, RN_TAG_SOPClassUID, 0, f->sop_class, sizeof f->sop_class, NULL);
    rn_dataset_get_string(ds, RN_TAG_SOPInstanceUID, 0, f->sop, sizeof f->sop, NULL);
    rn_dataset_get_string(ds, RN_TAG_SeriesInstanceUID, 0, f->series, sizeof f->series, NULL);
    rn_dataset_get_string(ds, RN_TAG_PatientID, 0, f->patient_id, sizeof f->patient_id, NULL);
    rn_dataset_get_string(ds, RN_TAG_PatientSex, 0, f->sex_cs, sizeof f->sex_cs, NULL);
    rn_dataset_get_string(ds, RN_TAG_PatientBirthDate, 0, f->birth, sizeof f->birth, NULL);
    rn_dataset_get_string(ds, RN_TAG_PatientAge, 0, f->patient_age, sizeof f->patient_age, NULL);
    rn_dataset_get_string(ds, RN_TAG_Modality, 0, f->modality, sizeof f->modality, NULL);
    /* the study's date; the series or content date when the study date is absent */
    static const RnTag dates[] = {RN_TAG_StudyDate, RN_TAG_SeriesDate, RN_TAG_ContentDate};
    for (size_t i = 0; i < 3 && !f->study_date[0]; i++)
        rn_dataset_get_string(ds, dates[i], 0, f->study_date, sizeof f->study_date, NULL);
    f->sex = rn_boneage_parse_sex(f->sex_cs);
    f->chrono_source = rn_boneage_chrono_months(f->study_date, f->birth, f->patient_age,
                                                &f->chrono);
    f->dicom_side = rn_boneage_dicom_side(ds, f->side_where, sizeof f->side_where);
}

/* The common skeleton of a findings object. */
static json_t *skeleton(const RnAnalysisInput *in, const Model *m, const ImageFacts *f)
{
    json_t *j = json_pack(
        "{s:s, s:s, s:{s:s, s:s, s:s, s:{s:s, s:s, s:s}}, s:s?, s:[{s:s, s:s, s:s, s:s, s:i}],"
        " s:[], s:[], s:[], s:{s:[], s:[]}, s:[s], s:{},"
        " s:s, s:s, s:s, s:n, s:n, s:n, s:n, s:n}",
        "analyzer", "boneage", "analyzer_version", BONEAGE_VERSION, "algorithm", "name",
        "radnode bone age", "version", BONEAGE_VERSION, "manufacturer", "radnode", "model", "name",
        MODEL_NAME, "version", MODEL_VERSION, "sha256", m ? m->sha256 : "", "study_uid",
        in->study_uid, "sources", "path", f->path, "sop_class_uid", f->sop_class,
        "sop_instance_uid", f->sop, "series_uid", f->series, "frame", 1, "measurements", "codes",
        "overlays", "text", "en", "zh", "notes",
        "Preliminary: computer-assisted estimate, to be reviewed by a radiologist.", "details",
        /* flat summary (issue 7 item 6: `radnode analyze --json`) */
        "sop_instance_uid", f->sop, "patient_id", f->patient_id, "sex", sex_word(f->sex),
        "bone_age_months", "uncertainty_months", "chronological_age_months", "sds", "error");
    if (!j)
        return NULL;
    if (f->chrono_source != RN_BONEAGE_AGE_NONE)
        json_object_set_new(j, "chronological_age_months", json_real(round(f->chrono * 10) / 10));
    return j;
}

static json_t *refused(const RnAnalysisInput *in, const Model *m, const ImageFacts *f,
                       const char *code_value, const char *reason_en, const char *reason_zh)
{
    json_t *j = skeleton(in, m, f);
    if (!j)
        return NULL;
    char en[600], zh[600];
    rn_format(en, sizeof en, "Bone age not assessed: %s.", reason_en);
    rn_format(zh, sizeof zh, "未评估骨龄：%s。", reason_zh);
    json_object_set_new(j, "status", json_string("refused"));
    json_object_set_new(j, "refusal_reason", json_string(reason_en));
    json_object_set_new(j, "error", json_string(reason_en));
    json_object_set_new(j, "confidence", json_string("low"));
    json_array_append_new(json_object_get(json_object_get(j, "text"), "en"), json_string(en));
    json_array_append_new(json_object_get(json_object_get(j, "text"), "zh"), json_string(zh));
    json_array_append_new(json_object_get(j, "codes"),
                          json_pack("{s:o, s:o}", "concept",
                                    code("99RADNODE", "BA-REFUSAL", "Bone age not assessed"),
                                    "value", code("99RADNODE", code_value, reason_en)));
    return j;
}

static const char *zh_reason(const char *code_value)
{
    if (!strcmp(code_value, "NOT_HAND"))
        return "不是手部X线片";
    if (!strcmp(code_value, "TWO_HANDS"))
        return "一张图像中有两只手，每张图像只能有一只手";
    if (!strcmp(code_value, "ARTEFACT"))
        return "图像伪影严重（对比度过低或过度饱和）";
    if (!strcmp(code_value, "OUT_OF_RANGE"))
        return "预测骨龄超出 0-19 岁范围";
    return "图像无法读取";
}

static void details_orient(json_t *d, const Model *m, const RnBoneagePrep *p)
{
    if (!m->orient) {
        json_object_set_new(d, "orientation_check",
                            json_pack("{s:b, s:s}", "used", 0, "problem", m->orient_problem));
        return;
    }
    json_object_set_new(
        d, "orientation_check",
        json_pack("{s:b, s:s, s:s, s:i, s:i, s:b, s:f, s:f, s:b}", "used", p->orient_checked,
                  "model", ORIENT_FILE, "sha256", m->orient_sha256, "class", p->orient_class,
                  "rotation_ccw_degrees_seen", 90 * (p->orient_class / 2), "mirror_seen",
                  p->orient_class & 1, "probability", round(p->orient_p * 1000) / 1000,
                  "threshold", RN_BONEAGE_ORIENT_MIN_P, "corrected", p->orient_applied));
    if (p->not_hand_p >= 0)
        json_object_set_new(json_object_get(d, "orientation_check"), "not_hand_probability",
                            json_real(round(p->not_hand_p * 1000) / 1000));
}

static void details_prep(json_t *d, const RnBoneageRenderInfo *ri, const RnBoneagePrep *p,
                         const ImageFacts *f)
{
    static const char *voi[] = {"window", "identity (8-bit)", "percentiles 0.5/99.5", "colour luma"};
    static const char *sides[] = {"unknown", "left", "right"};
    json_object_set_new(d, "rendering", json_pack("{s:s, s:s, s:b}", "voi", voi[ri->voi],
                                                  "photometric", ri->photometric, "inverted",
                                                  ri->inverted));
    json_object_set_new(
        d, "preprocessing",
        json_pack("{s:[i,i,i,i], s:i, s:i, s:f, s:f, s:f, s:f, s:f, s:i, s:f}", "trimmed_tblr",
                  p->trim[0], p->trim[1], p->trim[2], p->trim[3], "markers_removed",
                  p->markers_removed, "threshold", p->threshold, "hand_fraction",
                  round(p->hand_fraction * 1000) / 1000, "second_object_fraction",
                  round(p->second_fraction * 1000) / 1000, "finger_rows",
                  round(p->finger_rows * 1000) / 1000, "contrast", p->contrast, "saturated",
                  round(p->saturated * 1000) / 1000, "rotation_cw_degrees", p->rotation,
                  "orientation_margin", round(p->orientation_margin * 100) / 100));
    json_object_set_new(d, "laterality",
                        json_pack("{s:s, s:f, s:s, s:s?, s:b}", "image", sides[p->image_side],
                                  "thumb_vote", round(p->side_votes * 100) / 100, "dicom",
                                  sides[f->dicom_side], "dicom_attribute",
                                  f->side_where[0] ? f->side_where : NULL, "mirrored",
                                  p->mirrored));
    json_t *pre = json_object_get(d, "preprocessing");
    if (p->film_crop)
        json_object_set_new(pre, "film_box_xyxy",
                            json_pack("[i,i,i,i]", p->film[0], p->film[1], p->film[2], p->film[3]));
    if (p->relaxed)
        json_object_set_new(pre, "film_scan_checks", json_true());
}

static json_t *analyse_image(const RnAnalysisInput *in, Model *m, const char *path, RnError *err)
{
    ImageFacts f;
    RnError e = {0};
    RnDicomFile *file = rn_dicom_read_file(path, NULL, &e);
    if (!file) {
        memset(&f, 0, sizeof f);
        f.path = path;
        return refused(in, m, &f, "UNREADABLE", "the file is not a readable DICOM image",
                       zh_reason("UNREADABLE"));
    }
    read_facts(rn_dicom_file_dataset(file), path, &f);
    static const char *not_radiographs[] = {"CT", "MR", "PT", "NM", "US", "MG", "XA", "RF",
                                            "SR", "DOC", "ECG", "SEG", "RTSTRUCT"};
    for (size_t i = 0; i < sizeof not_radiographs / sizeof not_radiographs[0]; i++)
        if (!strcmp(f.modality, not_radiographs[i])) {
            char why[96];
            rn_format(why, sizeof why, "not a hand radiograph (modality %s)", f.modality);
            rn_dicom_file_destroy(file);
            return refused(in, m, &f, "NOT_HAND", why, zh_reason("NOT_HAND"));
        }
    RnBoneageImage img = {0};
    RnBoneageRenderInfo ri;
    RnBoneagePrep *p = calloc(1, sizeof *p);
    uint8_t *u8 = malloc((size_t)RN_BONEAGE_RES * RN_BONEAGE_RES * (RN_BONEAGE_TTA + 1));
    float *batch = malloc(sizeof(float) * RN_BONEAGE_RES * RN_BONEAGE_RES * RN_BONEAGE_TTA);
    json_t *j = NULL;
    if (!p || !u8 || !batch) {
        rn_error_set(err, RN_ERR_NOMEM, "boneage: buffers");
        goto out;
    }
    double t0 = rn_time_now();
    if (rn_boneage_render(file, &img, &ri, &e) < 0) {
        j = refused(in, m, &f, "UNREADABLE", e.message, zh_reason("UNREADABLE"));
        goto out;
    }
    if (rn_boneage_prepare_ex(&img, f.dicom_side, m->orient != NULL, p, err) < 0)
        goto out;
    if (p->refusal) {
        j = refused(in, m, &f, p->refusal_code, p->refusal, zh_reason(p->refusal_code));
        if (j)
            details_prep(json_object_get(j, "details"), &ri, p, &f);
        goto out;
    }
    /* the specification: 299 -> 256, rounded; TTA shifts; normalisation */
    const size_t plane = (size_t)RN_BONEAGE_RES * RN_BONEAGE_RES;
    uint8_t *base = u8 + plane * RN_BONEAGE_TTA;
    if (rn_boneage_resize_spec(p->framed, RN_BONEAGE_FRAME, RN_BONEAGE_FRAME, base,
                               RN_BONEAGE_RES, RN_BONEAGE_RES, err) < 0)
        goto out;
    if (m->orient) {
        if (orient_check(m, base, p, err) < 0)
            goto out;
        if (p->not_hand_p >= RN_BONEAGE_NOT_HAND_P) {
            /* the learned check does not see a hand radiograph at all */
            j = refused(in, m, &f, "NOT_HAND",
                        "not a hand radiograph: the image does not look like a hand radiograph",
                        zh_reason("NOT_HAND"));
            if (j) {
                details_prep(json_object_get(j, "details"), &ri, p, &f);
                details_orient(json_object_get(j, "details"), m, p);
            }
            goto out;
        }
        if (p->geometry_problem && p->orient_p < RN_BONEAGE_ORIENT_RESCUE_P) {
            /* neither the outline nor the orientation model recognises a hand */
            j = refused(in, m, &f, "NOT_HAND", p->geometry_problem, zh_reason("NOT_HAND"));
            if (j) {
                details_prep(json_object_get(j, "details"), &ri, p, &f);
                details_orient(json_object_get(j, "details"), m, p);
            }
            goto out;
        }
        if (p->orient_p >= RN_BONEAGE_ORIENT_MIN_P) {
            /* confident: the model's view of the side overrides the thumb heuristic */
            if (p->orient_class != 0) {
                rn_boneage_undo_symmetry(base, RN_BONEAGE_RES, p->orient_class, u8);
                memcpy(base, u8, plane);
                p->orient_applied = true;
                if (p->orient_class & 1)
                    p->mirrored = !p->mirrored;
                p->rotation = (p->rotation + 90 * (p->orient_class / 2)) % 360;
            }
            p->image_side = p->mirrored ? RN_BONEAGE_SIDE_RIGHT : RN_BONEAGE_SIDE_LEFT;
        }
    }
    for (int k = 0; k < RN_BONEAGE_TTA; k++) {
        int dx, dy;
        rn_boneage_tta_shift(k, &dx, &dy);
        rn_boneage_shift(base, RN_BONEAGE_RES, RN_BONEAGE_RES, dx, dy, u8 + plane * k);
        rn_boneage_normalise(u8 + plane * k, plane, batch + plane * k);
    }
    double t1 = rn_time_now();
    /* one run per sex assumption */
    RnBoneageSex runs[2];
    int nruns = 0;
    if (f.sex == RN_BONEAGE_SEX_UNKNOWN) {
        runs[nruns++] = RN_BONEAGE_SEX_MALE;
        runs[nruns++] = RN_BONEAGE_SEX_FEMALE;
    } else {
        runs[nruns++] = f.sex;
    }
    double mean[2], sd[2], passes[2][RN_BONEAGE_TTA];
    for (int r = 0; r < nruns; r++)
        if (predict(m, batch, runs[r] == RN_BONEAGE_SEX_MALE ? 1.0f : 0.0f, &mean[r], &sd[r],
                    passes[r], err) < 0)
            goto out;
    double t2 = rn_time_now();
    for (int r = 0; r < nruns; r++)
        if (mean[r] < 0 || mean[r] > RN_BONEAGE_MAX_MONTHS) {
            char why[160];
            rn_format(why, sizeof why,
                      "the predicted bone age (%.0f months) is outside 0-19 years", mean[r]);
            j = refused(in, m, &f, "OUT_OF_RANGE", why, zh_reason("OUT_OF_RANGE"));
            if (j)
                details_prep(json_object_get(j, "details"), &ri, p, &f);
            goto out;
        }

    j = skeleton(in, m, &f);
    if (!j) {
        rn_error_set(err, RN_ERR_NOMEM, "boneage: findings");
        goto out;
    }
    json_t *ms = json_object_get(j, "measurements"), *codes = json_object_get(j, "codes");
    json_t *en = json_object_get(json_object_get(j, "text"), "en");
    json_t *zh = json_object_get(json_object_get(j, "text"), "zh");
    json_t *notes = json_object_get(j, "notes"), *det = json_object_get(j, "details");
    bool low = false, moderate = false;
    char a_en[64], a_zh[64], line[512];
    for (int r = 0; r < nruns; r++) {
        json_t *q = NULL;
        if (nruns == 2)
            q = runs[r] == RN_BONEAGE_SEX_MALE
                    ? code("99RADNODE", "BA-ASSUME-M", "Assuming male sex (PatientSex unknown)")
                    : code("99RADNODE", "BA-ASSUME-F", "Assuming female sex (PatientSex unknown)");
        json_array_append_new(ms, measurement(nruns == 2 ? (runs[r] == RN_BONEAGE_SEX_MALE
                                                                ? "Bone age (if male)"
                                                                : "Bone age (if female)")
                                                         : "Bone age",
                                              code("LN", "37362-1", "Bone age"), mean[r], "mo",
                                              "months", q, sd[r]));
        age_text(mean[r], a_en, sizeof a_en, a_zh, sizeof a_zh);
        if (nruns == 2) {
            rn_format(line, sizeof line, "Bone age (Greulich-Pyle), if %s: %s (%.1f months, "
                      "uncertainty %.1f months).", runs[r] == RN_BONEAGE_SEX_MALE ? "male" : "female",
                      a_en, mean[r], sd[r]);
            json_array_append_new(en, json_string(line));
            rn_format(line, sizeof line, "骨龄（Greulich-Pyle 图谱法），按%s计算：%s（%.1f 个月，不确定度 %.1f 个月）。",
                      runs[r] == RN_BONEAGE_SEX_MALE ? "男性" : "女性", a_zh, mean[r], sd[r]);
            json_array_append_new(zh, json_string(line));
        } else {
            rn_format(line, sizeof line,
                      "Bone age (Greulich-Pyle): %s (%.1f months, uncertainty %.1f months).",
                      a_en, mean[r], sd[r]);
            json_array_append_new(en, json_string(line));
            rn_format(line, sizeof line, "骨龄（Greulich-Pyle 图谱法）：%s（%.1f 个月，不确定度 %.1f 个月）。",
                      a_zh, mean[r], sd[r]);
            json_array_append_new(zh, json_string(line));
        }
        if (!rn_boneage_in_validated_range(mean[r], f.sex))
            low = true;
        if (sd[r] > 12)
            low = true;
        else if (sd[r] > 6)
            moderate = true;
    }
    if (nruns == 1) {
        json_object_set_new(j, "bone_age_months", json_real(round(mean[0] * 10) / 10));
        json_object_set_new(j, "uncertainty_months", json_real(round(sd[0] * 10) / 10));
    } else {
        json_object_set_new(j, "bone_age_months", json_null());
        json_object_set_new(j, "uncertainty_months", json_null());
        json_object_set_new(j, "bone_age_months_if_male", json_real(round(mean[0] * 10) / 10));
        json_object_set_new(j, "bone_age_months_if_female", json_real(round(mean[1] * 10) / 10));
        json_object_set_new(j, "uncertainty_months_if_male", json_real(round(sd[0] * 10) / 10));
        json_object_set_new(j, "uncertainty_months_if_female", json_real(round(sd[1] * 10) / 10));
        json_array_append_new(notes, json_string("PatientSex unknown: estimates for both sexes are "
                                                 "given; no SDS without the sex."));
        json_array_append_new(en, json_string("Sex unknown: both estimates are given; no SDS."));
        json_array_append_new(zh, json_string("性别未知：给出两种估计，不计算标准差分数。"));
        moderate = true;
    }

    /* chronological age, difference, SDS */
    if (f.chrono_source != RN_BONEAGE_AGE_NONE) {
        json_array_append_new(ms, measurement("Chronological age", code("LN", "30525-0", "Age"),
                                              f.chrono, "mo", "months", NULL, -1));
        age_text(f.chrono, a_en, sizeof a_en, a_zh, sizeof a_zh);
        rn_format(line, sizeof line, "Chronological age: %s (%s).", a_en,
                  f.chrono_source == RN_BONEAGE_AGE_DATES ? "study date minus birth date"
                                                          : "from PatientAge");
        json_array_append_new(en, json_string(line));
        rn_format(line, sizeof line, "实际年龄：%s（%s）。", a_zh,
                  f.chrono_source == RN_BONEAGE_AGE_DATES ? "检查日期减出生日期" : "来自 PatientAge");
        json_array_append_new(zh, json_string(line));
        if (f.chrono_source == RN_BONEAGE_AGE_PATIENT_AGE)
            json_array_append_new(notes, json_string("Chronological age from PatientAge (no birth "
                                                     "date): the midpoint of the stated unit."));
    } else {
        json_array_append_new(notes, json_string("Chronological age unknown (no birth date or "
                                                 "PatientAge): no difference and no SDS."));
        json_array_append_new(en, json_string("Chronological age unknown: no SDS."));
        json_array_append_new(zh, json_string("实际年龄未知：不计算标准差分数。"));
    }
    if (f.chrono_source != RN_BONEAGE_AGE_NONE && nruns == 1) {
        double diff = mean[0] - f.chrono, sds;
        json_array_append_new(ms, measurement("Bone age minus chronological age",
                                              code("99RADNODE", "BA-DIFF",
                                                   "Bone age minus chronological age"),
                                              diff, "mo", "months", NULL, sd[0]));
        if (rn_boneage_sds(mean[0], f.chrono, f.sex, &sds, NULL) == 0) {
            double sdref = rn_boneage_sd_months(f.chrono, f.sex);
            json_array_append_new(ms, measurement("Bone age SDS",
                                                  code("99RADNODE", "BA-SDS",
                                                       "Bone age standard deviation score"),
                                                  sds, "1", "standard deviation score", NULL,
                                                  sd[0] / sdref));
            RnBoneageInterp it = rn_boneage_interpret(sds);
            static const char *val[] = {"BA-DELAYED", "BA-NORMAL", "BA-ADVANCED"};
            static const char *mean_en[] = {"Delayed bone age (SDS below -2)",
                                            "Within normal limits (SDS -2 to +2)",
                                            "Advanced bone age (SDS above +2)"};
            static const char *mean_zh[] = {"骨龄落后（标准差分数低于 -2）",
                                            "在正常范围内（标准差分数 -2 至 +2）",
                                            "骨龄提前（标准差分数高于 +2）"};
            json_array_append_new(codes, json_pack("{s:o, s:o}", "concept",
                                                   code("99RADNODE", "BA-INTERP",
                                                        "Bone age interpretation"),
                                                   "value",
                                                   code("99RADNODE", val[it + 1], mean_en[it + 1])));
            json_object_set_new(j, "sds", json_real(round(sds * 100) / 100));
            json_object_set_new(j, "interpretation", json_string(val[it + 1] + 3));
            rn_format(line, sizeof line,
                      "Difference %+.1f months; SDS %+.2f (SD %.2f months, Brush Foundation, %s); %s.",
                      diff, sds, sdref, f.sex == RN_BONEAGE_SEX_MALE ? "boys" : "girls",
                      mean_en[it + 1]);
            json_array_append_new(en, json_string(line));
            rn_format(line, sizeof line, "差值 %+.1f 个月；标准差分数 %+.2f（标准差 %.2f 个月，Brush 基金会，%s）；%s。",
                      diff, sds, sdref, f.sex == RN_BONEAGE_SEX_MALE ? "男孩" : "女孩",
                      mean_zh[it + 1]);
            json_array_append_new(zh, json_string(line));
        }
    }

    /* validity range, laterality, orientation */
    for (int r = 0; r < nruns; r++)
        if (!rn_boneage_in_validated_range(mean[r], f.sex)) {
            json_array_append_new(notes, json_string("Bone age outside the validated range (boys "
                                                     "2.5-17 years, girls 2-15 years): low "
                                                     "confidence."));
            json_array_append_new(en, json_string("Outside the validated range: low confidence."));
            json_array_append_new(zh, json_string("超出验证范围（男 2.5-17 岁，女 2-15 岁）：可信度低。"));
            break;
        }
    if (p->mirrored) {
        json_array_append_new(notes, json_string("Right hand: the image was mirrored to be read "
                                                 "as a left hand (Greulich-Pyle uses the left)."));
        json_array_append_new(en, json_string("Right hand: mirrored for analysis."));
        json_array_append_new(zh, json_string("右手：已镜像后分析（图谱法使用左手）。"));
    }
    if (p->image_side == RN_BONEAGE_SIDE_UNKNOWN) {
        json_array_append_new(notes, json_string(f.dicom_side != RN_BONEAGE_SIDE_UNKNOWN
                                                     ? "Hand side not clear in the image: the "
                                                       "DICOM laterality was used."
                                                     : "Hand side not clear in the image and not "
                                                       "in the DICOM header: assumed left."));
        moderate = true;
    } else if (f.dicom_side != RN_BONEAGE_SIDE_UNKNOWN && f.dicom_side != p->image_side) {
        json_array_append_new(notes, json_string("The hand side seen in the image differs from the "
                                                 "DICOM laterality; the image was followed."));
        moderate = true;
    }
    if (p->rotation)
        json_array_append_new(notes, json_string("The image was rotated to bring the fingers up."));
    if (p->geometry_problem) {
        char note[300];
        rn_format(note, sizeof note, "The hand's outline was not recognised (%s); the "
                  "orientation model recognised the image and set its orientation.",
                  p->geometry_problem);
        json_array_append_new(notes, json_string(note));
        moderate = true;
    }
    if (p->orient_applied)
        json_array_append_new(notes, json_string("The orientation model corrected the hand's "
                                                 "orientation or side after the geometric "
                                                 "checks."));
    else if (m->orient && p->orient_checked && p->orient_p < RN_BONEAGE_ORIENT_MIN_P)
        moderate = true; /* the orientation model is unsure: say so through the confidence */
    if (p->orientation_margin < 0.5)
        moderate = true;

    json_object_set_new(j, "status", json_string("ok"));
    json_object_set_new(j, "refusal_reason", json_null());
    json_object_set_new(j, "confidence", json_string(low ? "low" : moderate ? "moderate" : "high"));
    json_array_append_new(json_object_get(j, "overlays"),
                          json_pack("{s:i, s:s, s:[[i,i],[i,i]], s:s}", "source_index", 0, "kind",
                                    "box", "points", p->box[0], p->box[1], p->box[2], p->box[3],
                                    "label", p->mirrored ? "right hand" : "hand"));
    details_prep(det, &ri, p, &f);
    details_orient(det, m, p);
    json_t *pl = json_array();
    for (int r = 0; r < nruns; r++) {
        json_t *a = json_array();
        for (int k = 0; k < RN_BONEAGE_TTA; k++)
            json_array_append_new(a, json_real(round(passes[r][k] * 100) / 100));
        json_array_append_new(pl, json_pack("{s:s, s:o}", "sex", sex_word(runs[r]), "passes", a));
    }
    json_object_set_new(det, "tta", json_pack("{s:s, s:o}", "shifts",
                                              "(0,0) (+8,0) (-8,0) (0,+8) (0,-8) px on 256",
                                              "predictions", pl));
    json_object_set_new(det, "sex_source", json_string(f.sex_cs[0] ? "PatientSex" : "absent"));
    json_object_set_new(det, "chronological_age_source",
                        json_string(f.chrono_source == RN_BONEAGE_AGE_DATES       ? "dates"
                                    : f.chrono_source == RN_BONEAGE_AGE_PATIENT_AGE ? "PatientAge"
                                                                                    : "unknown"));
    json_object_set_new(det, "timing_ms", json_pack("{s:f, s:f}", "preprocessing",
                                                    round((t1 - t0) * 1e4) / 10, "inference",
                                                    round((t2 - t1) * 1e4) / 10));
out:
    free(batch);
    free(u8);
    free(p);
    rn_boneage_image_free(&img);
    rn_dicom_file_destroy(file);
    return j;
}

static json_t *boneage_run(const RnAnalysisInput *in, RnError *err)
{
    if (!in || !in->count)
        return rn_error_set(err, RN_ERR_INVALID, "boneage: no input"), NULL;
    Model m;
    if (model_open(in, &m, err) < 0) {
        rn_nn_model_destroy(m.nn);
        rn_nn_model_destroy(m.orient);
        return NULL;
    }
    json_t *all = json_array();
    for (size_t i = 0; all && i < in->count; i++) {
        json_t *one = analyse_image(in, &m, in->paths[i], err);
        if (!one) {
            json_decref(all);
            all = NULL;
            break;
        }
        json_array_append_new(all, one);
    }
    rn_nn_model_destroy(m.nn);
    rn_nn_model_destroy(m.orient);
    if (all && json_array_size(all) == 1) {
        json_t *one = json_incref(json_array_get(all, 0));
        json_decref(all);
        return one;
    }
    return all;
}

const RnAnalyzer rn_analyzer_boneage = {
    .name = "boneage",
    .version = BONEAGE_VERSION,
    .description = "bone age (Greulich-Pyle) from a left-hand radiograph, with SDS",
    .run = boneage_run,
};
