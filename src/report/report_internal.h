/*
 * Internals shared by the report builders (the files of src/report): the checked view
 * of one findings object (docs/findings.md), the modules every result object
 * shares (PS3.3 C.7.1.1 Patient, C.7.2.1 General Study, C.7.5.1 General
 * Equipment, C.12.1 SOP Common with Contributing Equipment), coded entries
 * (PS3.3 8.8 Code Sequence macro), SR content items (PS3.3 C.17.3), the
 * evidence sequences (C.17.2.3 Hierarchical SOP Instance Reference macro),
 * and text layout for the cairo renderings.
 */
#ifndef RN_REPORT_INTERNAL_H
#define RN_REPORT_INTERNAL_H

#include "radnode/report.h"

#include "report/cairo_lazy.h"

/* Limits that keep hostile findings from producing oversized objects. */
#define RN_REPORT_MAX_MEASUREMENTS 256
#define RN_REPORT_MAX_CODES 256
#define RN_REPORT_MAX_OVERLAYS 4096
#define RN_REPORT_MAX_POINTS 65536
#define RN_REPORT_MAX_TEXT_LINES 64
#define RN_REPORT_MAX_TEXT_CHARS 2000 /* per line */
#define RN_REPORT_MAX_SOURCES 4096

/* A coded entry (PS3.3 8.8): scheme <= 16 chars, value <= 16 chars (SH),
 * meaning <= 64 characters (LO). Strings point into the findings or static data. */
typedef struct RnCode {
    const char *scheme;
    const char *value;
    const char *meaning;
} RnCode;

typedef struct RnMeasurement {
    const char *group;        /* tracking identifier */
    RnCode concept;
    double value;
    const char *ucum;
    const char *unit_meaning;
    bool has_qualifier;
    RnCode qualifier;
    bool has_uncertainty;
    double uncertainty;
    bool has_site;
    RnCode site;       /* finding site (anatomy) of the measurement group */
    long source_index; /* -1 = none */
} RnMeasurement;

typedef struct RnCodedFinding {
    RnCode concept;
    RnCode value;
} RnCodedFinding;

typedef struct RnOverlayPoint {
    double x, y;
} RnOverlayPoint;

typedef struct RnOverlay {
    long source_index;
    const char *kind; /* box polyline polygon point circle */
    const RnOverlayPoint *points;
    size_t point_count;
    double radius;
    const char *label;
} RnOverlay;

/* The findings object, checked, plus everything derived once per build. */
typedef struct RnReportCtx {
    const json_t *findings;
    const RnReportSource *sources;
    size_t source_count;
    RnReportOptions opt;
    bool zh;
    const char *charset; /* "" when every string is ASCII */

    const char *analyzer, *analyzer_version;
    const char *alg_name, *alg_version, *alg_manufacturer;
    const char *model_name, *model_version, *model_sha;
    bool refused;
    const char *refusal_reason;
    const char *confidence;

    RnMeasurement *meas;
    size_t meas_count;
    RnCodedFinding *codes;
    size_t code_count;
    RnOverlay *overlays;
    size_t overlay_count;
    RnOverlayPoint *points; /* storage for all overlay points */
    const char **lines;     /* report text in the chosen language */
    size_t line_count;
    const char **notes;
    size_t note_count;

    /* Source identities, in source order, and the index of the primary one. */
    char (*sop_uid)[RN_UID_MAX + 1];
    char (*sop_class)[RN_UID_MAX + 1];
    char (*series_uid)[RN_UID_MAX + 1];
    char (*study_uid)[RN_UID_MAX + 1];
    char result_study_uid[RN_UID_MAX + 1];
    char *seed; /* analyzer \n version \n model sha \n sorted SOP UIDs */
    char date[9], time[7];
    RnCode procedure;
} RnReportCtx;

int rn_report_ctx_init(RnReportCtx *ctx, const json_t *findings, const RnReportSource *sources,
                       size_t source_count, const RnReportOptions *opt, RnError *err);
void rn_report_ctx_free(RnReportCtx *ctx);
const RnDataset *rn_report_ctx_primary(const RnReportCtx *ctx);
/* The source a findings source_index designates (-1 or unknown: the primary). */
size_t rn_report_ctx_source(const RnReportCtx *ctx, long source_index);
void rn_report_ctx_uid(const RnReportCtx *ctx, RnReportKind kind, const char *what,
                       char out[RN_UID_MAX + 1]);
const char *rn_report_kind_name(RnReportKind kind);

/* Localised fixed strings. */
typedef enum RnReportLabel {
    RN_L_TITLE, RN_L_PRELIMINARY, RN_L_PATIENT, RN_L_NAME, RN_L_ID, RN_L_BIRTH, RN_L_SEX,
    RN_L_STUDY, RN_L_DATE, RN_L_ACCESSION, RN_L_DESCRIPTION, RN_L_FINDINGS, RN_L_MEASUREMENT,
    RN_L_VALUE, RN_L_UNCERTAINTY, RN_L_CODES, RN_L_REPORT, RN_L_METHOD, RN_L_ALGORITHM,
    RN_L_MODEL, RN_L_REFERENCES, RN_L_REFUSED, RN_L_CONFIDENCE, RN_L_NONE, RN_L_COUNT
} RnReportLabel;
const char *rn_report_label(const RnReportCtx *ctx, RnReportLabel label);

/* Common modules: SOP Common (with Specific Character Set first, so text is
 * encoded in it), Patient, General Study, the result series, General
 * Equipment, Contributing Equipment. */
int rn_report_common(const RnReportCtx *ctx, RnDataset *ds, RnReportKind kind,
                     const char *sop_class, const char *modality, const char *series_description,
                     RnError *err);
/* Appends one Code Sequence item to seq in ds. */
int rn_report_add_code(RnDataset *ds, RnTag seq, const RnCode *code, RnError *err);
/* Sets a text element, truncated to max_chars characters (not bytes) and
 * cleaned: control characters (and backslash, unless multi-line) removed. */
int rn_report_set_text(RnDataset *ds, RnTag tag, RnVR vr, const char *utf8, size_t max_chars,
                       RnError *err);
/* Hierarchical SOP Instance Reference items (studies > series > instances)
 * for the sources; study_filter NULL = all studies, else only that one or
 * (exclude) all others. */
int rn_report_add_evidence(const RnReportCtx *ctx, RnDataset *ds, RnTag seq,
                           const char *study_filter, bool exclude, RnError *err);
/* Formats a number for DS (<= 16 characters). */
void rn_report_format_ds(double v, char out[32]);
/* Number for display with a sensible precision. */
void rn_report_format_value(double v, char *out, size_t cap);

/* SR content items (PS3.3 C.17.3) appended to parent's Content Sequence. */
RnDataset *rn_sr_item(RnDataset *parent, const char *relationship, const char *value_type,
                      const RnCode *concept, RnError *err);
RnDataset *rn_sr_text(RnDataset *parent, const char *rel, const RnCode *concept, const char *text,
                      RnError *err);
RnDataset *rn_sr_code(RnDataset *parent, const char *rel, const RnCode *concept,
                      const RnCode *value, RnError *err);
RnDataset *rn_sr_uidref(RnDataset *parent, const char *rel, const RnCode *concept,
                        const char *uid, RnError *err);
RnDataset *rn_sr_container(RnDataset *parent, const char *rel, const RnCode *concept,
                           RnError *err);
RnDataset *rn_sr_num(RnDataset *parent, const char *rel, const RnCode *concept, double value,
                     const RnCode *unit, RnError *err);
RnDataset *rn_sr_image(const RnReportCtx *ctx, RnDataset *parent, const char *rel,
                       const RnCode *concept, size_t source, RnError *err);
/* Root content: Value Type CONTAINER, template (DCMR, tid), SEPARATE. */
int rn_sr_root(RnDataset *ds, const RnCode *title, const char *tid, RnError *err);
/* TID 1002 observer type Device + TID 1004 device observer attributes. */
int rn_sr_device_observer(const RnReportCtx *ctx, RnDataset *parent, RnError *err);

/* Text layout for cairo: splits text into lines at most max_width wide
 * (breaking at spaces, or between characters for CJK). Returns the number of
 * lines stored in *lines (caller frees each and the array), or negative. */
long rn_report_wrap(cairo_t *cr, const char *text, double max_width, char ***lines);
void rn_report_lines_free(char **lines, long n);
/* The font family for the report language (a CJK font for zh). */
const char *rn_report_font(const RnReportCtx *ctx);

#endif
