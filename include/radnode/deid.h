/*
 * De-identification of DICOM datasets per DICOM PS3.15 Annex E: the Basic
 * Application Level Confidentiality Profile (E.2) with the options a research
 * or teaching export needs (E.3): Retain Patient Characteristics, Retain
 * Longitudinal Temporal Information with Modified Dates, Clean Descriptors,
 * Clean Structured Content, Retain Device Identity, Retain UIDs, and Clean
 * Pixel Data by blanking configured regions of images with burned-in
 * annotation.
 *
 * Replacement values come from a keyed hash (HMAC-SHA256) under a secret the
 * hospital holds, so that the same patient gets the same pseudonym and the same
 * date shift in every study, the same UID always maps to the same new UID
 * (references between objects survive), and another hospital's secret gives
 * unrelated values. Nothing of the original identity can be computed back
 * without the secret.
 */
#ifndef RADNODE_DEID_H
#define RADNODE_DEID_H

#include "radnode/dicom.h"

/* ---- PS3.15 Table E.1-1 ---------------------------------------------------- */
typedef struct RnDeidRule {
    RnTag tag;
    const char *basic; /* Basic Profile action: "X", "Z", "D", "U", "X/Z", "X/D", "X/Z/D",
                          "Z/D", "X/Z/U*" */
    /* Option columns: 'K' keep, 'C' clean, 'X' remove, '-' as the Basic Profile. */
    char patient_characteristics;
    char modified_dates;
    char device_identity;
    char uids;
    char clean_descriptors;
    char clean_structured_content;
    char institution_identity;
    const char *name;
} RnDeidRule;

/* The rule for a tag, NULL when the table has none. Rules are in tag order. */
const RnDeidRule *rn_deid_rule_find(RnTag tag);
/* Iterates the table: NULL past the end. */
const RnDeidRule *rn_deid_rule_at(size_t index);

/* ---- Options ----------------------------------------------------------------- */
typedef enum RnDeidProfile {
    RN_DEID_PROFILE_BASIC = 0, /* Basic Profile only */
    /* Basic + Retain Patient Characteristics + Retain Longitudinal Temporal
     * Information with Modified Dates + Clean Descriptors + Clean Structured Content */
    RN_DEID_PROFILE_RESEARCH,
    /* Basic + Retain Patient Characteristics + Clean Descriptors + Clean Structured Content */
    RN_DEID_PROFILE_TEACHING,
} RnDeidProfile;

/* A rectangle of an image, in pixels, to blank (Clean Pixel Data). */
typedef struct RnDeidRegion {
    uint32_t x, y, width, height;
} RnDeidRegion;

#define RN_DEID_SECRET_MIN 16
#define RN_DEID_SECRET_MAX 256
#define RN_DEID_MAX_REGIONS 32

typedef struct RnDeidOptions {
    bool retain_patient_characteristics;
    bool retain_modified_dates;
    bool clean_descriptors;
    bool clean_structured_content;
    bool retain_device_identity;
    bool retain_uids;
    /* Burned-in annotation (BurnedInAnnotation YES, or an SOP class that
     * usually carries it: Secondary Capture, ultrasound, encapsulated
     * documents): with regions, the regions are blanked in every frame and
     * the pixel data re-encoded as native Explicit VR Little Endian; without
     * regions, or with refuse_burned_in, the instance is refused. */
    RnDeidRegion regions[RN_DEID_MAX_REGIONS];
    size_t region_count;
    bool refuse_burned_in;
    /* The hospital's secret (HMAC-SHA256 key). */
    uint8_t secret[RN_DEID_SECRET_MAX];
    size_t secret_len;
} RnDeidOptions;

/* Sets the option flags of a profile (the secret and regions are kept). */
void rn_deid_options_set_profile(RnDeidOptions *opt, RnDeidProfile profile);
/* "basic", "research", "teaching". */
int rn_deid_profile_parse(const char *name, RnDeidProfile *out, RnError *err);
/* Reads the secret from a file: at least RN_DEID_SECRET_MIN bytes (a trailing
 * newline is dropped); the file must not be readable or writable by group or
 * others, as for an SSH key. */
int rn_deid_secret_load(const char *path, RnDeidOptions *opt, RnError *err);

/* ---- Keyed replacement values ------------------------------------------------ */
#define RN_DEID_PSEUDONYM_MAX 32
/* "RN-" + 16 upper-case hex digits of HMAC-SHA256(secret, "patient\0" + PatientID). */
int rn_deid_pseudonym(const RnDeidOptions *opt, const char *patient_id,
                      char out[RN_DEID_PSEUDONYM_MAX], RnError *err);
/* 2.25 UID derived from HMAC-SHA256(secret, "uid\0" + uid). */
int rn_deid_map_uid(const RnDeidOptions *opt, const char *uid, char out[RN_UID_MAX + 1],
                    RnError *err);
/* Per-patient date offset in days, between -3652 and -366 (always into the past). */
int rn_deid_date_shift_days(const RnDeidOptions *opt, const char *patient_id, int *days,
                            RnError *err);
/* Shifts a DA (YYYYMMDD) or the date part of a DT value by days; out holds the
 * shifted value (same length). */
int rn_deid_shift_date_value(const char *value, RnVR vr, int days, char *out, size_t size,
                             RnError *err);

/* ---- Applying the profile ---------------------------------------------------- */
typedef struct RnDeidResult {
    char pseudonym[RN_DEID_PSEUDONYM_MAX];
    char patient_age[8];  /* AS of the output, "" if none */
    char patient_sex[4];  /* CS of the output, "" if none */
    char modality[17];
    char study_uid[RN_UID_MAX + 1];
    char series_uid[RN_UID_MAX + 1];
    char sop_instance_uid[RN_UID_MAX + 1];
    bool pixels_blanked;
    bool dates_shifted;
} RnDeidResult;

/* De-identifies a dataset in place (recursively through sequences). Pixel data
 * is not looked at: use rn_deid_file for whole instances. */
int rn_deid_dataset(RnDataset *ds, const RnDeidOptions *opt, RnDeidResult *res, RnError *err);

/* De-identifies a whole instance read from a file: the burned-in annotation
 * policy, then the dataset. Returns a new Part 10 file object (new meta, empty
 * preamble) the caller destroys; NULL with err->code RN_ERR_UNSUPPORTED when
 * the policy refuses the instance (err->message says why). `in` is left
 * without its dataset. */
RnDicomFile *rn_deid_file(RnDicomFile *in, const RnDeidOptions *opt, RnDeidResult *res,
                          RnError *err);

#endif
