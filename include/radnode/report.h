/*
 * radnode report module: turns an analyzer's findings (docs/findings.md) into
 * the result objects a PACS and a RIS display (see docs/results.md):
 *  - Comprehensive 3D SR (PS3.3 A.35.13) on TID 1500 Measurement Report
 *    (PS3.16: TID 1204, 1001/1002/1004, 1501, 300, 4019), with the IHE
 *    Radiology AI Results (AIR) attributes: Contributing Equipment naming the
 *    algorithm, a device UID that changes with the model;
 *  - Secondary Capture (PS3.3 A.8.1) of the analysed image, findings drawn and
 *    a legend written on it (RGB, Burned In Annotation YES);
 *  - Encapsulated PDF (PS3.3 A.45.1): a one-page A4 report;
 *  - Key Object Selection (PS3.3 A.35.4, TID 2010) of the key images;
 *  - HL7 v2.5.1 ORU^R01 text (through include/radnode/hl7.h).
 *
 * Every UID is derived (rn_uid_derive) from the analyzer name and version,
 * the model's SHA-256, the sorted source SOP Instance UIDs and the object
 * kind, so running the same analysis again replaces instead of duplicating.
 *
 * Ownership: rn_report_build fills an RnReportSet whose objects the caller
 * releases with rn_report_set_free; the builders of single objects return
 * new datasets the caller destroys. Findings and sources are only read.
 */
#ifndef RADNODE_REPORT_H
#define RADNODE_REPORT_H

#include "radnode/dicom.h"

#include <jansson.h>

/* Object kinds, used as a bit mask in RnReportOptions.objects. */
typedef enum RnReportKind {
    RN_REPORT_SR = 1u << 0,  /* Comprehensive 3D SR, TID 1500 */
    RN_REPORT_SC = 1u << 1,  /* Secondary Capture with overlays and legend */
    RN_REPORT_PDF = 1u << 2, /* Encapsulated PDF */
    RN_REPORT_KOS = 1u << 3, /* Key Object Selection */
    RN_REPORT_HL7 = 1u << 4, /* HL7 v2.5.1 ORU^R01 (text, not DICOM) */
} RnReportKind;
#define RN_REPORT_DEFAULT (RN_REPORT_SR | RN_REPORT_SC | RN_REPORT_PDF)
#define RN_REPORT_ALL (RN_REPORT_DEFAULT | RN_REPORT_KOS | RN_REPORT_HL7)

/* Series numbers of the result series: base + 0 SR, +1 SC, +2 PDF, +3 KOS. */
#define RN_REPORT_SERIES_BASE 9901

typedef struct RnReportOptions {
    const char *language;      /* "en" (default) or "zh": text of SC legend, PDF, SR TEXT items */
    const char *institution;   /* Institution Name; NULL = copied from the source */
    const char *station_ae;    /* Station Name and Source AE Title; NULL = "RADNODE" */
    const char *charset;       /* for non-ASCII text: "ISO_IR 192" (default) or "GB18030" */
    unsigned objects;          /* RnReportKind mask; 0 = RN_REPORT_DEFAULT */
    int series_number_base;    /* 0 = RN_REPORT_SERIES_BASE */
    /* Content date and time "YYYYMMDDHHMMSS" (reproducible output in tests);
     * NULL = now. UIDs never depend on it. */
    const char *content_datetime;
    /* HL7 header (MSH-5, MSH-6; NULL = "RIS", none) */
    const char *hl7_receiving_application;
    const char *hl7_receiving_facility;
} RnReportOptions;

/* One source image, as read from its Part 10 file. The report module reads
 * attributes from its dataset and, for the Secondary Capture, decodes a frame. */
typedef struct RnReportSource {
    RnDicomFile *file;
} RnReportSource;

typedef struct RnReportObject {
    RnReportKind kind;
    RnDataset *dataset;                  /* DICOM objects (owned); NULL for HL7 */
    char *text;                          /* HL7: the message, segments ended by CR (owned) */
    size_t text_len;
    char sop_instance_uid[RN_UID_MAX + 1]; /* DICOM objects; HL7: "" */
    char name[64];                       /* file name the writer uses: "SR_<uid>.dcm", "ORU_....hl7" */
} RnReportObject;

typedef struct RnReportSet {
    RnReportObject *objects;
    size_t count;
} RnReportSet;

/* Builds every object asked for in opt->objects (opt may be NULL: defaults).
 * A findings object with "status": "refused" yields only the SR and the PDF
 * (stating the refusal) and the HL7 text. On error nothing is returned
 * (out is left empty) and err names the offending findings field. */
int rn_report_build(const json_t *findings, const RnReportSource *sources, size_t source_count,
                    const RnReportOptions *opt, RnReportSet *out, RnError *err);
void rn_report_set_free(RnReportSet *set);

/* Single builders (same inputs); each returns a new dataset the caller destroys. */
RnDataset *rn_report_build_sr(const json_t *findings, const RnReportSource *sources,
                              size_t source_count, const RnReportOptions *opt, RnError *err);
RnDataset *rn_report_build_sc(const json_t *findings, const RnReportSource *sources,
                              size_t source_count, const RnReportOptions *opt, RnError *err);
RnDataset *rn_report_build_pdf(const json_t *findings, const RnReportSource *sources,
                               size_t source_count, const RnReportOptions *opt, RnError *err);
RnDataset *rn_report_build_kos(const json_t *findings, const RnReportSource *sources,
                               size_t source_count, const RnReportOptions *opt, RnError *err);
/* The HL7 v2.5.1 ORU^R01 message (segments ended by CR) appended to out. */
int rn_report_build_oru(const json_t *findings, const RnReportSource *sources,
                        size_t source_count, const RnReportOptions *opt, RnBuf *out,
                        RnError *err);

/* Renders the one-page PDF alone (the bytes the Encapsulated PDF carries). */
int rn_report_render_pdf(const json_t *findings, const RnReportSource *sources,
                         size_t source_count, const RnReportOptions *opt, RnBuf *out,
                         RnError *err);

/* Deterministic UID of one result object (kind: one RnReportKind value;
 * what: "instance", "series", "device", or a tracking label). */
int rn_report_uid(const json_t *findings, const RnReportSource *sources, size_t source_count,
                  RnReportKind kind, const char *what, char out[RN_UID_MAX + 1], RnError *err);

/* Writes every object into dir (created if needed): DICOM objects as Part 10
 * files in Explicit VR Little Endian named by obj->name, HL7 text as is.
 * Existing files of the same name are replaced (same UIDs on a re-run). */
int rn_report_write(const RnReportSet *set, const char *dir, RnError *err);

#endif
