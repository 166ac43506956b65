/*
 * Internal interfaces of the lung nodule analyzer (src/analyzers/lungct):
 * the assembled CT scan with its patient geometry and protocol (volume.c),
 * lung segmentation (lungs.c), nodule candidates and measurement
 * (nodules.c), follow-up registration, matching and doubling time
 * (followup.c), Lung-RADS / Fleischner categories (categories.c), and the
 * findings object (lungct.c). docs/lungct.md describes the method, the
 * thresholds and their reasons.
 */
#ifndef RADNODE_LUNGCT_INTERNAL_H
#define RADNODE_LUNGCT_INTERNAL_H

#include "radnode/analyzer.h"
#include "radnode/image.h"

#include <stdbool.h>

/* Slice thickness rule (docs/lungct.md): up to 2.5 mm is the intended range
 * (LUNA16); above 2.5 and up to 5 mm the scan is analysed with a warning and
 * low confidence; above 5 mm it is refused. */
#define LCT_THICKNESS_INTENDED_MM 2.5
#define LCT_THICKNESS_MAX_MM 5.0
#define LCT_MIN_SLICES 10
#define LCT_MAX_SLICES 2000
#define LCT_MAX_WARNINGS 8

typedef struct RnLungProtocol {
    double slice_thickness;  /* (0018,0050), mm; 0 = absent */
    double slice_spacing;    /* measured from the positions, mm */
    double pixel_spacing[2]; /* row, column spacing, mm */
    double kvp;              /* (0018,0060) */
    double tube_current;     /* (0018,1151) mA */
    double exposure;         /* (0018,1152) mAs */
    double ctdi_vol;         /* (0018,9345) mGy */
    double gantry_tilt;      /* (0018,1120) degrees, as recorded (0 = absent) */
    char kernel[65];         /* (0018,1210) */
    char contrast[65];       /* (0018,0010) Contrast/Bolus Agent; "" = none recorded */
    char manufacturer[65];
    char model[65];
    char study_date[9];      /* YYYYMMDD */
    char series_description[65];
} RnLungProtocol;

typedef struct RnLungScan {
    RnVolume *hu;         /* HU, x = column, y = row, z = slice in ascending position */
    double origin[3];     /* patient position (mm) of voxel (0,0,0) */
    double axis[3][3];    /* patient direction of +x, +y, +z (unit vectors) */
    size_t nslices;
    char (*sop_uids)[RN_UID_MAX + 1]; /* per sorted slice */
    const char **paths;               /* per sorted slice, borrowed from the input */
    char series_uid[RN_UID_MAX + 1];
    char study_uid[RN_UID_MAX + 1];
    char sop_class_uid[RN_UID_MAX + 1];
    RnLungProtocol proto;
    bool refused;
    char reason[300];
    char warnings[LCT_MAX_WARNINGS][200];
    int nwarnings;
    /* Gantry tilt: slice i's pixels were shifted in-plane by shift_px[i] (columns, rows) onto
     * the orthogonal grid; its original pixel (x, y) is at (x, y) + shift_px[i] on the grid.
     * NULL without a tilt. */
    double (*shift_px)[2];
    double tilt_deg; /* the shear of the slice positions (0 without a tilt) */
    double tilt_step[2]; /* sideways mm along +x and +y per mm along the slice normal */
} RnLungScan;

/* Assembles the largest CT series among paths. A scan that cannot be assessed
 * is not an error: scan->refused is set with the reason. Negative on internal
 * failure (memory, every file unreadable). */
int rn_lungct_scan_load(const char *const *paths, size_t count, RnLungScan *scan, RnError *err);
void rn_lungct_scan_free(RnLungScan *scan);
/* Patient coordinates (mm) of a continuous voxel position. */
void rn_lungct_voxel_to_patient(const RnLungScan *scan, const double v[3], double p[3]);
void rn_lungct_patient_to_voxel(const RnLungScan *scan, const double p[3], double v[3]);
/* Days since 1970-01-01 for YYYYMMDD; negative when malformed. */
long rn_lungct_date_days(const char *yyyymmdd);
void rn_lungct_scan_warn(RnLungScan *scan, const char *msg);

/* ---- Lobes (lobes.c) ----------------------------------------------------------- */
#define RN_FISSURE_BINS 12
#define RN_FISSURE_BIN_MM 0.25

typedef struct RnFissure {
    bool horizontal; /* the right minor fissure z = g(x, y); else an oblique y = f(x, z) */
    bool found;
    double ref[2];   /* (z or y, x) of the reference point, patient mm */
    double c[6];     /* u = c0 + c1 a + c2 a^2 + c3 b + c4 b^2 + c5 a^3 (lobes.c) */
    size_t inliers;  /* sheet voxels within 1.5 mm with its normal */
    size_t cells, covered; /* its 6 x 6 mm cells inside the lung, and those with inliers */
    double coverage; /* covered / cells */
    /* the sheet's profile: mean HU above the parenchyma 5-10 mm from it, per 0.25 mm of
     * distance from the fitted surface (0-3 mm); what it adds to a nodule's shell */
    double excess[RN_FISSURE_BINS];
} RnFissure;

typedef struct RnLobes {
    RnFissure oblique[3]; /* [1] right, [2] left */
    RnFissure horizontal; /* right lung */
    size_t sheet_voxels;
    double strength_threshold; /* HU/mm^2 */
    char note[200];       /* why a lobe is not given ("" when every fissure was found) */
} RnLobes;

/* ---- Lungs ---------------------------------------------------------------- */
typedef struct RnLungs {
    RnMask *mask;    /* lungs, vessels and nodules filled (label 1 right, 2 left in `side`) */
    uint8_t *side;   /* per voxel: 0 none, 1 right lung, 2 left lung */
    RnMask *airway;  /* trachea and main bronchi removed from the lungs */
    RnMask *mass_mask; /* lungs closed with a 30 mm ball: search region of large scales */
    double volume_ml[3]; /* total, right, left */
    size_t bbox_lo[3], bbox_hi[3];
    RnLobes lobes;   /* the fissures (rn_lungct_lobes), before the nodules are measured */
} RnLungs;

int rn_lungct_segment(const RnLungScan *scan, RnLungs *lungs, RnError *err);
void rn_lungct_lungs_free(RnLungs *lungs);

/* ---- Lobes (lobes.c) ----------------------------------------------------------- */
int rn_lungct_lobes(const RnLungScan *scan, const RnLungs *lungs, RnLobes *out, RnError *err);
/* Signed distance (mm): positive behind an oblique fissure, above the horizontal one. */
double rn_lungct_fissure_distance(const RnFissure *f, const double p[3], double n[3]);
/* "RUL", "RML", "RLL", "LUL", "LLL" for a point (patient mm) of lung side (1 right, 2 left),
 * or NULL where the fissures that decide it were not found. */
const char *rn_lungct_lobe_of(const RnLobes *lb, int side, const double p[3]);
/* A lobe code's names: English, Chinese, and its SNOMED CT code and meaning; NULL for any
 * other code. */
typedef struct RnLobeInfo {
    const char *code, *name, *name_zh, *sct, *sct_meaning;
} RnLobeInfo;
const RnLobeInfo *rn_lungct_lobe_info(const char *code);
/* "right upper lobe" etc. for a code above; NULL otherwise. */
const char *rn_lungct_lobe_name(const char *code);
/* HU that the found fissures of lung side add at p (patient mm) by their measured profile;
 * 0 away from them or where none was found. */
double rn_lungct_fissure_excess(const RnLobes *lb, int side, const double p[3]);

/* ---- Nodules ---------------------------------------------------------------- */
typedef enum RnNoduleType {
    RN_NODULE_SOLID = 0,
    RN_NODULE_PART_SOLID,
    RN_NODULE_GROUND_GLASS,
} RnNoduleType;

#define RN_LUNGCT_CI95_Z 1.96 /* the normal quantile of a two-sided 95 % interval */

typedef struct RnNodule {
    double center_voxel[3];   /* HU-weighted centroid, voxel units */
    double center_patient[3]; /* mm */
    double volume_mm3;        /* partial-volume corrected */
    double volume_voxels_mm3; /* voxels at the threshold, no correction */
    double volume_noise_sd_mm3; /* the volume's SD from the image noise (measure()) */
    double volume_sd_mm3;     /* with the method's own error (rn_lungct_volume_sd) */
    double noise_hu, noise_correlation; /* the parenchyma's noise round the nodule */
    double long_axis_mm, short_axis_mm, mean_axis_mm; /* axial plane */
    double long_axis_pts[2][2]; /* key-slice pixel coordinates (column, row) of the long axis */
    size_t key_slice;         /* sorted slice index where the long axis lies */
    double solid_long_axis_mm; /* solid component (part-solid) */
    double solid_volume_mm3;
    double solid_fraction;
    RnNoduleType type;
    int side;                 /* 1 right, 2 left, 0 unknown */
    const char *lobe;         /* rn_lungct_lobe_of's code, NULL where not given */
    double hu_mean, hu_sd, hu_min, hu_max, hu_core;
    double threshold_hu;
    double scale_mm;          /* detection scale sigma */
    double response;          /* blob filter response */
    double elongation;        /* ratio of largest to smallest principal extent */
    double sphericity;        /* smallest / largest Hessian eigenvalue magnitude */
    double fp_score;          /* classifier's nodule probability; -1 where the rules decided */
    bool juxtapleural;
    bool juxtavascular;       /* vessels were cut off it (measure()) */
    bool limited;             /* extent cut by the search radius (mass against the mediastinum) */
    /* follow-up */
    bool has_prior, is_new;
    double interval_days; /* from the prior CT's study date to this one's */
    double prior_volume_mm3, prior_mean_axis_mm, volume_change_percent, vdt_days;
    double prior_volume_sd_mm3;
    double prior_solid_axis_mm; /* the prior's solid component (part-solid), 0 without one */
    RnNoduleType prior_type;
    double prior_center_patient[3];
    /* the 95 % intervals of the volume change and of the VDT from both volumes' SDs (the VDT's
     * upper bound 0 where the change's lower bound is not growth); growth_significant: the
     * change's interval lies above 0 */
    double change_ci95_percent[2], vdt_ci95_days[2];
    double change_sd_percent; /* the change's SD, (V2 / V1) x the two relative SDs */
    bool growth_significant;
    int prior_index;
    bool prior_targeted; /* the prior was measured at the registered point (not detected) */
} RnNodule;

typedef struct RnNoduleList {
    RnNodule *items;
    size_t count;
    size_t candidates;  /* blob maxima examined */
    size_t rejected;    /* removed by false-positive reduction */
    size_t merged;      /* duplicates merged into a larger finding of the same nodule */
} RnNoduleList;

int rn_lungct_detect(const RnLungScan *scan, const RnLungs *lungs, RnNoduleList *out,
                     RnError *err);
void rn_lungct_nodules_free(RnNoduleList *l);
/* Measures, as the detector measures a candidate, the nodule at each point (patient mm;
 * radius_mm: the size of what is looked for): the prior's counterpart of a current nodule that
 * the prior's own detection did not report (below its size floor or its contrast rules).
 * found[i] is false where no nodule lies within max(4 mm, radius_mm[i]) of the point. */
int rn_lungct_measure_at(const RnLungScan *scan, const RnLungs *lungs, const double (*pts)[3],
                         const double *radius_mm, size_t count, RnNodule *out, bool *found,
                         RnError *err);
/* Two findings whose centres lie closer than the larger one's radius (half its long axis, or
 * its equivalent-sphere radius) are one nodule: the smaller is dropped. Returns how many. */
size_t rn_lungct_merge_duplicates(RnNoduleList *l);
/* The two findings are one nodule by that rule. */
bool rn_lungct_same_nodule(const RnNodule *a, const RnNodule *b);
const char *rn_lungct_type_name(RnNoduleType t);

/* ---- False-positive classifier (fpmodel.c) -------------------------------------- */
/* Features of a measured candidate, in this order: log volume (mm3), elongation, tube ratio
 * (R_in over the inscribed radius of a structure it continues into; 3 when none), contrast
 * (M - P, 100 HU), Hessian sphericity, log dot response, juxtapleural (0/1), vessels cut off,
 * HU standard deviation (100 HU), R_in over the equivalent radius, slice spacing (mm),
 * measured with the stronger opening after a leak along a vessel (0/1). */
#define RN_LUNGCT_NFEAT 12
/* Nodule probability of a candidate (logistic regression, tools/phantom/train_fp.py). */
double rn_lungct_fp_score(const double f[RN_LUNGCT_NFEAT]);
extern const double RN_LUNGCT_FP_THRESHOLD;

/* ---- Follow-up ---------------------------------------------------------------- */
typedef struct RnLungRegistration {
    double rot[3][3];  /* prior patient -> current patient: p' = R p + t */
    double t[3];
    double overlap;    /* fraction of prior lung samples that land in the current lungs */
    int iterations;
} RnLungRegistration;

int rn_lungct_register(const RnLungScan *cur, const RnLungs *cur_lungs, const RnLungScan *prior,
                       const RnLungs *prior_lungs, RnLungRegistration *reg, RnError *err);
/* Matches prior nodules to current ones, fills the follow-up fields; returns
 * the number of resolved prior nodules via *resolved (indexes into prior). */
int rn_lungct_match(RnNoduleList *cur, const RnNoduleList *prior, const RnLungRegistration *reg,
                    double days, bool *prior_matched, RnError *err);
/* Fills c's follow-up fields from its prior counterpart p (prior list index prior_index). */
void rn_lungct_link(RnNodule *c, const RnNodule *p, int prior_index, double days);
/* VDT in days, or 0 when not computable (no growth, V1 <= 0). Infinite / negative growth -> 0. */
double rn_lungct_vdt(double v1, double v2, double days);
/* NELSON VDT class: "fast" (< 400 d), "intermediate" (400-600), "slow" (> 600). */
const char *rn_lungct_vdt_class(double vdt);

/* ---- Categories ---------------------------------------------------------------- */
typedef struct RnLungCategory {
    char code[16];       /* Lung-RADS "1", "2", "3", "4A", "4B"; Fleischner: rule id (<= 13) */
    char rule[400];      /* the rule text that drove it */
    int nodule;          /* index of the driving nodule, -1 none */
} RnLungCategory;

void rn_lungct_lungrads(const RnNoduleList *l, bool has_prior, RnLungCategory *study,
                        RnLungCategory *per_nodule);
/* Fleischner 2017 for the study; with a prior CT (the nodules' has_prior) by what the follow-up
 * shows: growth, persistence of subsolid nodules, stability past the last follow-up. */
void rn_lungct_fleischner(const RnNoduleList *l, RnLungCategory *study);
/* Per-nodule Lung-RADS category (v2022) by type and size; on follow-up by growth (more than
 * 1.5 mm of mean diameter within 12 months), slow growth, size thresholds and the stepped
 * management of stable nodules (n->interval_days). */
void rn_lungct_lungrads_nodule(const RnNodule *n, bool has_prior, RnLungCategory *c);
/* The category of a matched nodule's prior by the baseline rules (its type and size there);
 * NULL for a new nodule or without a prior. */
const char *rn_lungct_lungrads_prior(const RnNodule *n);
#define RN_LUNGCT_YEAR_DAYS 365.25
/* The mean diameter's increase in the last 12 months of an interval of `days` at a constant
 * doubling time (the largest of any 12 months); d2 - d1 for an interval up to 12 months. */
double rn_lungct_growth_12_months(double d1, double d2, double days);

#endif
