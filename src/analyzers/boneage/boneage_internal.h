/*
 * Internal interface of the bone-age analyzer (src/analyzers/boneage/), shared
 * by its files and its unit tests (tests/unit/boneage/). Nothing here is
 * public API.
 *
 *  - gp_sd_table.c: the Greulich-Pyle / Brush Foundation SD table, SD
 *    interpolation, SDS and interpretation;
 *  - clinical.c: chronological age (StudyDate - PatientBirthDate, else
 *    PatientAge), sex, age formatting, the age-range check;
 *  - preprocess.c: 8-bit rendering of a DX/CR/SC frame, border and marker
 *    removal, hand localisation, plausibility checks, orientation (fingers
 *    up), laterality (left hand), the training framing (299x299) and the
 *    network input (256x256 float), exactly as tools/boneage/common.py;
 *  - boneage.c: the analyzer (model, test-time augmentation, findings JSON).
 */
#ifndef RADNODE_BONEAGE_INTERNAL_H
#define RADNODE_BONEAGE_INTERNAL_H

#include "radnode/core.h"
#include "radnode/dicom.h"

/* ---- clinical constants ---------------------------------------------------- */
#define RN_BONEAGE_FRAME 299      /* training framing: whole image squashed to 299x299 */
#define RN_BONEAGE_RES 256        /* network input size */
#define RN_BONEAGE_MAX_MONTHS 228 /* 19 years: beyond this the result is refused */
#define RN_BONEAGE_TTA 5          /* test-time augmentation passes */
#define RN_BONEAGE_TTA_SHIFT 8    /* pixels of the 256 grid (tools/boneage/evaluate.py) */

typedef enum RnBoneageSex { RN_BONEAGE_SEX_UNKNOWN = 0, RN_BONEAGE_SEX_MALE, RN_BONEAGE_SEX_FEMALE } RnBoneageSex;

typedef enum RnBoneageInterp {
    RN_BONEAGE_DELAYED = -1, /* SDS < -2 */
    RN_BONEAGE_NORMAL = 0,   /* -2 <= SDS <= +2 */
    RN_BONEAGE_ADVANCED = 1, /* SDS > +2 */
} RnBoneageInterp;

/* ---- gp_sd_table.c ------------------------------------------------------------ */
/* SD of skeletal age (months) at a chronological age (months) for a sex (male or
 * female; unknown is invalid): linear between the table's rows, clamped to the
 * first and last row of that sex. Returns a negative value for an invalid sex or
 * a non-finite age. */
double rn_boneage_sd_months(double chrono_months, RnBoneageSex sex);
/* SDS = (bone age - chronological age) / SD(chronological age, sex). 0 or RN_ERR_INVALID. */
int rn_boneage_sds(double bone_age_months, double chrono_months, RnBoneageSex sex, double *sds,
                   RnError *err);
RnBoneageInterp rn_boneage_interpret(double sds);
/* Table access for documentation and tests. */
size_t rn_boneage_sd_table_rows(void);
/* Row i: age, SD male, SD female (negative when the source gives none). 0 or RN_ERR_INVALID. */
int rn_boneage_sd_table_row(size_t i, double *age_months, double *sd_male, double *sd_female);

/* ---- clinical.c ---------------------------------------------------------------- */
/* DA "YYYYMMDD" (also the ACR-NEMA form "YYYY.MM.DD"), checked for a real
 * calendar date. 0 or RN_ERR_PARSE. */
int rn_boneage_parse_date(const char *da, int *year, int *month, int *day, RnError *err);
/* Days from 0001-01-01 (proleptic Gregorian) for a valid date. */
long rn_boneage_day_number(int year, int month, int day);
/* PatientAge (AS) "nnnD|W|M|Y" to months: the midpoint of the stated unit
 * (e.g. "010Y" -> 126 months, "006M" -> 6.5) since an age in whole units
 * means "completed units". 0 or RN_ERR_PARSE. */
int rn_boneage_parse_patient_age(const char *as, double *months, RnError *err);

typedef enum RnBoneageAgeSource {
    RN_BONEAGE_AGE_NONE = 0,
    RN_BONEAGE_AGE_DATES,       /* StudyDate (or Series/Content date) - PatientBirthDate */
    RN_BONEAGE_AGE_PATIENT_AGE, /* PatientAge */
} RnBoneageAgeSource;

/* Chronological age in months (days / (365.25 / 12)) from the dates when both
 * are valid and the study is not before the birth, else from PatientAge; any
 * argument may be NULL or empty. Returns the source used (NONE: *months untouched). */
RnBoneageAgeSource rn_boneage_chrono_months(const char *study_date, const char *birth_date,
                                            const char *patient_age, double *months);
/* PatientSex (CS) "M"/"F" (case and spaces ignored), anything else unknown. */
RnBoneageSex rn_boneage_parse_sex(const char *cs);
/* Whole months, rounded, split into years and months (negative -> 0). */
void rn_boneage_years_months(double months, int *years, int *rest_months);
/* Whether a bone age lies in the range the method is validated for (BoneXpert-like:
 * boys 2.5-17 y, girls 2-15 y; unknown sex: 2-17 y). */
bool rn_boneage_in_validated_range(double bone_age_months, RnBoneageSex sex);

/* ---- preprocess.c --------------------------------------------------------------- */
typedef struct RnBoneageImage {
    uint32_t width, height;
    uint8_t *pixels; /* width*height 8-bit gray, owned */
} RnBoneageImage;

int rn_boneage_image_init(RnBoneageImage *im, uint32_t width, uint32_t height, RnError *err);
void rn_boneage_image_free(RnBoneageImage *im);

typedef enum RnBoneageVoi {
    RN_BONEAGE_VOI_WINDOW = 0,  /* VOI LUT or window from the dataset */
    RN_BONEAGE_VOI_IDENTITY,    /* 8-bit stored values used as they are */
    RN_BONEAGE_VOI_PERCENTILES, /* 0.5 / 99.5 percentiles of the modality values */
    RN_BONEAGE_VOI_COLOR,       /* colour image converted to luma */
} RnBoneageVoi;

typedef struct RnBoneageRenderInfo {
    RnBoneageVoi voi;
    bool inverted; /* MONOCHROME1 */
    char photometric[17];
} RnBoneageRenderInfo;

/* Frame 1 of a DX/CR/SC file to 8-bit gray, bone bright: Modality LUT, VOI LUT
 * or window when the dataset has one, identity for 8-bit data without one,
 * robust percentiles otherwise; MONOCHROME1 inverted; colour to luma. */
int rn_boneage_render(RnDicomFile *f, RnBoneageImage *out, RnBoneageRenderInfo *info,
                      RnError *err);

/* Laterality hint from the DICOM attributes. */
typedef enum RnBoneageSide { RN_BONEAGE_SIDE_UNKNOWN = 0, RN_BONEAGE_SIDE_LEFT, RN_BONEAGE_SIDE_RIGHT } RnBoneageSide;
/* ImageLaterality, Laterality, then words in SeriesDescription, ProtocolName,
 * StudyDescription ("R", "RT", "RIGHT", "L", "LT", "LEFT", "左", "右"). */
RnBoneageSide rn_boneage_dicom_side(const RnDataset *ds, char *where, size_t where_size);

typedef struct RnBoneagePrep {
    /* result */
    const char *refusal; /* NULL when usable; else a static English reason */
    const char *refusal_code;
    uint8_t framed[RN_BONEAGE_FRAME * RN_BONEAGE_FRAME]; /* corrected, squashed to 299x299 */
    /* what was done */
    uint32_t trim[4];          /* rows/columns removed: top, bottom, left, right */
    int rotation;              /* clockwise degrees applied: 0, 90, 180, 270 */
    bool mirrored;             /* right hand mirrored to look like a left hand */
    RnBoneageSide image_side;  /* side seen in the image (thumb) */
    double side_votes;         /* thumb-side vote margin, -1..1 (>0: left hand) */
    double orientation_margin; /* score of the best orientation minus the second */
    int markers_removed;
    int threshold;        /* foreground threshold on the analysis copy (8-bit) */
    double hand_fraction; /* hand area / image area */
    double second_fraction; /* second-largest object / hand */
    double finger_rows;   /* fraction of the hand's rows crossing >= 3 fingers */
    double contrast;      /* p99 - p1 of the 8-bit image */
    double saturated;     /* fraction of hand pixels at 0 or 255 */
    uint32_t box[4];      /* hand bounding box in source pixels: x0, y0, x1, y1 (inclusive) */
    /* learned orientation and "not a hand" check (models/boneage-orient-v2.onnx) */
    bool orient_checked;   /* the orientation model ran */
    int orient_class;      /* 2k + m: the input looked like rot90_ccw^k(mirror^m(upright left)) */
    double orient_p;       /* its softmax probability */
    bool orient_applied;   /* confident and not the identity: the input was corrected */
    double not_hand_p;     /* the check's probability of "not a hand radiograph"; -1: no such class */
    const char *geometry_problem; /* defer_shape: why the outline was not trusted, else NULL */
    bool film_crop;   /* a film scan: the hand was found inside the film, not the whole image */
    uint32_t film[4]; /* that film's inner box in source pixels: x0, y0, x1, y1 (inclusive) */
    bool relaxed;     /* read with the relaxed film-scan checks (see preprocess.c) */
} RnBoneagePrep;

/* Everything from the 8-bit image to the 299x299 framing. side_hint is used
 * when the image does not show the side clearly. A refusal is not an error:
 * prep->refusal is set and 0 returned. */
int rn_boneage_prepare(const RnBoneageImage *img, RnBoneageSide side_hint, RnBoneagePrep *prep,
                       RnError *err);
/* As rn_boneage_prepare; with defer_shape, an outline that does not look like a hand (no forearm
 * at an edge, no fingers) is not refused: the image is framed unrotated, the problem is left in
 * prep->geometry_problem, and the caller must confirm the image with the orientation model. */
#define RN_BONEAGE_ORIENT_RESCUE_P 0.9 /* the orientation model's probability needed then */
int rn_boneage_prepare_ex(const RnBoneageImage *img, RnBoneageSide side_hint, bool defer_shape,
                          RnBoneagePrep *prep, RnError *err);

/* PIL-compatible bilinear resize (Image.resize(..., BILINEAR): triangle filter
 * widened by the reduction factor, 22-bit fixed point, horizontal pass then
 * vertical, 8-bit intermediate): how the 299 px training images were made. */
int rn_boneage_resize_pil(const uint8_t *src, uint32_t sw, uint32_t sh, uint8_t *dst, uint32_t dw,
                          uint32_t dh, RnError *err);
/* The training specification (tools/boneage/common.py resize_u8): bilinear,
 * half-pixel centres, no antialiasing, double precision, x then y, rounded. */
int rn_boneage_resize_spec(const uint8_t *src, uint32_t sw, uint32_t sh, uint8_t *dst, uint32_t dw,
                           uint32_t dh, RnError *err);
/* The 8 symmetries of a square n x n image. Class c = 2k + m names the transform
 * T_c(x) = rot90_ccw^k(m ? mirror_lr(x) : x) (numpy: np.rot90(np.fliplr(x) if m else x, k),
 * tools/boneage/train_orient.py). rn_boneage_symmetry writes T_c(in), rn_boneage_undo_symmetry
 * writes T_c^-1(in). in and out must not overlap. */
#define RN_BONEAGE_ORIENT_RES 64
#define RN_BONEAGE_ORIENT_MIN_P 0.8 /* act on the orientation model only above this */
#define RN_BONEAGE_NOT_HAND_P 0.5   /* refuse when its "not a hand" class is at least this */
void rn_boneage_symmetry(const uint8_t *in, uint32_t n, int cls, uint8_t *out);
void rn_boneage_undo_symmetry(const uint8_t *in, uint32_t n, int cls, uint8_t *out);
/* (v / 255 - 0.5) / 0.25 in float32, n values. */
void rn_boneage_normalise(const uint8_t *u8, size_t n, float *out);
/* out[y][x] = in[y - dy][x - dx], 0 outside (tools/boneage/evaluate.py shift_u8). */
void rn_boneage_shift(const uint8_t *in, uint32_t w, uint32_t h, int dx, int dy, uint8_t *out);
/* Rotates clockwise by 0/90/180/270 degrees and then mirrors left-right when
 * asked; out gets new pixels (its old content is freed). */
int rn_boneage_transform(const RnBoneageImage *in, int rotation, bool mirror, RnBoneageImage *out,
                         RnError *err);

/* ---- boneage.c ------------------------------------------------------------------ */
/* Test-time augmentation shift of pass k (0..RN_BONEAGE_TTA-1). */
void rn_boneage_tta_shift(int k, int *dx, int *dy);

#endif
