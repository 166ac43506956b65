/*
 * Lobes from the interlobar fissures (docs/lungct.md, "Lobes").
 *
 * A fissure is the visceral pleura between two lobes: a sheet 0.2-0.5 mm thick that a
 * thin-slice CT shows as a faint line, 100-250 HU above the parenchyma. Sheet voxels are
 * found by their Hessian after a 1 mm Gaussian smoothing: one strongly negative eigenvalue
 * (bright across the sheet) and two small ones (flat along it), where the smoothed value
 * is parenchyma-like (below SHEET_MAX_HU: not a vessel or a nodule) and at least
 * WALL_CLEAR_MM inside the lung (the pleura's own edge is a sheet too). The eigenvector of
 * the strong eigenvalue is the sheet's normal.
 *
 * Each lung's oblique (major) fissure runs from posterior-superior to anterior-inferior: in
 * the patient's coordinates (x left, y posterior, z superior) a surface y = f(x, z) rising
 * backwards by 0.3-2 mm per mm upwards. It is found by RANSAC over the sheet voxels whose
 * normal fits that, with planes through three of them (an inlier lies within INLIER_MM and
 * has the plane's normal within NORMAL_COS), then refined by weighted least squares on its
 * inliers as a surface cubic in z (a fissure's sagittal S) and quadratic in x. The right
 * lung's horizontal (minor) fissure, in front of the oblique one, is a plane z = g(x, y)
 * within 0.4 mm per mm of level, found the same way.
 *
 * A fissure counts as found only where its inliers cover enough of the surface that lies in
 * the lung (COVER_OBLIQUE / COVER_HORIZONTAL of its 6 x 6 mm cells, at least MIN_CELLS of
 * them): otherwise the lobe is not given, and the finding gives the lung only. On slices
 * thicker than MAX_SPACING_MM a fissure crossing them obliquely is smeared below the noise,
 * and nothing is tried.
 */
#include "lungct_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SPACING_MM 2.5
#define SMOOTH_MM 1.5
#define SHEET_MAX_HU -500.0f
#define SHEET_MIN_HU -980.0f
#define WALL_CLEAR_MM 5.0
#define PLATE_RATIO 0.5     /* |second eigenvalue| / |first| at most */
#define MIN_STRENGTH 9.0    /* -first eigenvalue, HU/mm^2, at the least */
#define NOISE_FACTOR 2.0    /* and this many robust SDs above the lung's median */
#define INLIER_MM 1.5
#define REFINE_MM 2.5
#define REFINE_ROUNDS 6
#define NORMAL_COS 0.90     /* 25.8 degrees */
#define RANSAC_ROUNDS 600
#define CELL_MM 6.0
#define COVER_OBLIQUE 0.6
#define COVER_HORIZONTAL 0.4
#define MIN_CELLS 30
#define CELL_HITS 3         /* inliers that make a cell covered */
#define MAX_CANDIDATES 400000

typedef struct Sheet {
    float p[3]; /* patient mm */
    float n[3]; /* unit normal */
    float w;    /* strength: -first eigenvalue */
    uint8_t side;
} Sheet;

typedef struct Lcg {
    uint64_t s;
} Lcg;

static size_t lcg_next(Lcg *g, size_t n)
{
    g->s = g->s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (size_t)((g->s >> 33) % n);
}

/* Solves the 3x3 system a x = b (Cramer); false when singular. */
static bool solve3(const double a[3][3], const double b[3], double x[3])
{
    double det = a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) -
                 a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) +
                 a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
    if (fabs(det) < 1e-9)
        return false;
    for (int k = 0; k < 3; k++) {
        double m[3][3];
        memcpy(m, a, sizeof m);
        for (int r = 0; r < 3; r++)
            m[r][k] = b[r];
        x[k] = (m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
                m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])) / det;
    }
    return true;
}

/* Weighted least squares with up to 6 terms (Gaussian elimination with partial pivoting on
 * the normal equations); false when singular. */
static bool lsq(double ata[6][6], double atb[6], int m, double c[6])
{
    for (int i = 0; i < m; i++) {
        int piv = i;
        for (int r = i + 1; r < m; r++)
            if (fabs(ata[r][i]) > fabs(ata[piv][i]))
                piv = r;
        if (fabs(ata[piv][i]) < 1e-12)
            return false;
        if (piv != i) {
            for (int k = 0; k < m; k++) {
                double t = ata[i][k];
                ata[i][k] = ata[piv][k];
                ata[piv][k] = t;
            }
            double t = atb[i];
            atb[i] = atb[piv];
            atb[piv] = t;
        }
        for (int r = i + 1; r < m; r++) {
            double f = ata[r][i] / ata[i][i];
            for (int k = i; k < m; k++)
                ata[r][k] -= f * ata[i][k];
            atb[r] -= f * atb[i];
        }
    }
    for (int i = m - 1; i >= 0; i--) {
        double s = atb[i];
        for (int k = i + 1; k < m; k++)
            s -= ata[i][k] * c[k];
        c[i] = s / ata[i][i];
    }
    return true;
}

/* A fissure surface: u = c0 + c1 a + c2 a^2 + c3 b + c4 b^2 + c5 a^3 where, for the oblique
 * fissure, (u, a, b) = (y, z - ref_z, x - ref_x) and, for the horizontal one, (z, y - ref_y,
 * x - ref_x); a plane has c2 = c4 = c5 = 0. */
static void surf_terms(const RnFissure *f, const double p[3], double *u, double *a, double *b)
{
    if (f->horizontal) {
        *u = p[2];
        *a = p[1] - f->ref[0];
    } else {
        *u = p[1];
        *a = p[2] - f->ref[0];
    }
    *b = p[0] - f->ref[1];
}

/* Signed distance (mm) of p from the surface: positive behind the oblique fissure (the lower
 * lobe) or above the horizontal one (the upper lobe); the unit normal in n where not NULL. */
double rn_lungct_fissure_distance(const RnFissure *f, const double p[3], double n[3])
{
    double u, a, b;
    surf_terms(f, p, &u, &a, &b);
    const double *c = f->c;
    double g = u - (c[0] + c[1] * a + c[2] * a * a + c[3] * b + c[4] * b * b + c[5] * a * a * a);
    double da = c[1] + 2 * c[2] * a + 3 * c[5] * a * a, db = c[3] + 2 * c[4] * b;
    double norm = sqrt(1 + da * da + db * db);
    if (n) {
        /* gradient of g in (x, y, z) */
        if (f->horizontal) {
            n[0] = -db / norm;
            n[1] = -da / norm;
            n[2] = 1 / norm;
        } else {
            n[0] = -db / norm;
            n[1] = 1 / norm;
            n[2] = -da / norm;
        }
    }
    return g / norm;
}

/* Is p (patient mm) in the lung `side` at least WALL_CLEAR_MM from its outside? */
static bool in_core(const RnLungScan *scan, const RnLungs *lungs, const uint8_t *core,
                    const size_t lo[3], const size_t dim[3], int side, const double p[3])
{
    double v[3];
    rn_lungct_patient_to_voxel(scan, p, v);
    long q[3];
    for (int k = 0; k < 3; k++) {
        q[k] = lround(v[k]) - (long)lo[k];
        if (q[k] < 0 || q[k] >= (long)dim[k])
            return false;
    }
    size_t ci = rn_image_index(dim[0], dim[1], (size_t)q[0], (size_t)q[1], (size_t)q[2]);
    size_t gi = rn_image_index(scan->hu->nx, scan->hu->ny, (size_t)q[0] + lo[0],
                               (size_t)q[1] + lo[1], (size_t)q[2] + lo[2]);
    return core[ci] && lungs->side[gi] == side;
}

typedef struct Fit {
    const RnLungScan *scan;
    const RnLungs *lungs;
    const uint8_t *core;
    size_t lo[3], dim[3];
    const Sheet *s;
    size_t *idx; /* the candidates of this fissure */
    size_t n;
    uint8_t *inl;
} Fit;

/* surf_terms of the fit's i-th candidate */
static void cand_terms(const Fit *ft, size_t i, const RnFissure *f, double *u, double *a,
                       double *b)
{
    const Sheet *s = &ft->s[ft->idx[i]];
    double p[3] = {s->p[0], s->p[1], s->p[2]};
    surf_terms(f, p, u, a, b);
}

static bool normal_agrees(const RnFissure *f, const Sheet *s)
{
    double p[3] = {s->p[0], s->p[1], s->p[2]}, m[3];
    rn_lungct_fissure_distance(f, p, m);
    return fabs(m[0] * s->n[0] + m[1] * s->n[1] + m[2] * s->n[2]) >= NORMAL_COS;
}

/* Marks the inliers within tol mm; returns their summed strength. */
static double inliers(Fit *ft, const RnFissure *f, double tol)
{
    double score = 0;
    for (size_t i = 0; i < ft->n; i++) {
        const Sheet *s = &ft->s[ft->idx[i]];
        double p[3] = {s->p[0], s->p[1], s->p[2]};
        ft->inl[i] = fabs(rn_lungct_fissure_distance(f, p, NULL)) <= tol && normal_agrees(f, s);
        score += ft->inl[i] ? s->w : 0;
    }
    return score;
}

static bool slope_ok(const RnFissure *f)
{
    if (f->horizontal)
        return fabs(f->c[1]) <= 0.4 && fabs(f->c[3]) <= 0.4;
    return f->c[1] >= 0.3 && f->c[1] <= 2.0 && fabs(f->c[3]) <= 0.6;
}

/* The share of the surface's 6 x 6 mm cells inside the lung's core that hold an inlier
 * (f->cells: how many lie inside). For the horizontal fissure only the part in front of
 * the oblique one (front) counts. */
static double coverage(Fit *ft, RnFissure *f, const RnFissure *front, int side)
{
    double amin = 1e9, amax = -1e9, bmin = 1e9, bmax = -1e9;
    for (size_t i = 0; i < ft->n; i++) {
        double u, a, b;
        cand_terms(ft, i, f, &u, &a, &b);
        amin = fmin(amin, a), amax = fmax(amax, a), bmin = fmin(bmin, b), bmax = fmax(bmax, b);
    }
    /* the lung's extent: widen the candidates' box by 60 mm each way, then test the core */
    amin -= 60, amax += 60, bmin -= 60, bmax += 60;
    size_t na = (size_t)((amax - amin) / CELL_MM) + 1, nb = (size_t)((bmax - bmin) / CELL_MM) + 1;
    if (na * nb > 200000)
        return 0;
    uint8_t *hit = calloc(na * nb, 1);
    if (!hit)
        return 0;
    for (size_t i = 0; i < ft->n; i++) {
        if (!ft->inl[i])
            continue;
        double u, a, b;
        cand_terms(ft, i, f, &u, &a, &b);
        size_t ia = (size_t)((a - amin) / CELL_MM), ib = (size_t)((b - bmin) / CELL_MM);
        if (ia < na && ib < nb && hit[ia * nb + ib] < 255)
            hit[ia * nb + ib]++;
    }
    size_t cells = 0, covered = 0;
    for (size_t ia = 0; ia < na; ia++)
        for (size_t ib = 0; ib < nb; ib++) {
            double a = amin + ((double)ia + 0.5) * CELL_MM, b = bmin + ((double)ib + 0.5) * CELL_MM;
            const double *c = f->c;
            double u = c[0] + c[1] * a + c[2] * a * a + c[3] * b + c[4] * b * b +
                       c[5] * a * a * a, p[3];
            if (f->horizontal)
                p[0] = b + f->ref[1], p[1] = a + f->ref[0], p[2] = u;
            else
                p[0] = b + f->ref[1], p[1] = u, p[2] = a + f->ref[0];
            if (!in_core(ft->scan, ft->lungs, ft->core, ft->lo, ft->dim, side, p))
                continue;
            if (front && rn_lungct_fissure_distance(front, p, NULL) >= 0)
                continue;
            cells++;
            covered += hit[ia * nb + ib] >= CELL_HITS;
        }
    free(hit);
    f->cells = cells;
    f->covered = covered;
    return cells ? (double)covered / (double)cells : 0;
}

/* RANSAC, then the refinement (cubic in z and quadratic in x for the oblique fissure, a plane
 * for the horizontal one). Returns whether a surface with enough inliers was fitted. */
static bool fit_surface(Fit *ft, RnFissure *f)
{
    if (ft->n < 30)
        return false;
    /* reference point: the candidates' mean, for a well-conditioned fit */
    double mean[3] = {0, 0, 0};
    for (size_t i = 0; i < ft->n; i++)
        for (int k = 0; k < 3; k++)
            mean[k] += ft->s[ft->idx[i]].p[k];
    for (int k = 0; k < 3; k++)
        mean[k] /= (double)ft->n;
    f->ref[0] = f->horizontal ? mean[1] : mean[2];
    f->ref[1] = mean[0];
    Lcg g = {.s = 0x5EEDF155u + ft->n};
    RnFissure best = *f, tr = *f;
    double best_score = -1;
    for (int it = 0; it < RANSAC_ROUNDS; it++) {
        double A[3][3], B[3];
        for (int r = 0; r < 3; r++) {
            double u, a, b;
            cand_terms(ft, lcg_next(&g, ft->n), f, &u, &a, &b);
            A[r][0] = 1, A[r][1] = a, A[r][2] = b, B[r] = u;
        }
        double x[3];
        if (!solve3(A, B, x))
            continue;
        memset(tr.c, 0, sizeof tr.c);
        tr.c[0] = x[0], tr.c[1] = x[1], tr.c[3] = x[2];
        if (!slope_ok(&tr))
            continue;
        double sc = inliers(ft, &tr, INLIER_MM);
        if (sc > best_score) {
            best_score = sc;
            best = tr;
        }
    }
    if (best_score <= 0)
        return false;
    *f = best;
    int m = f->horizontal ? 3 : 6; /* the horizontal plane: c0, c1, c3 (the rest 0) */
    for (int round = 0; round < REFINE_ROUNDS; round++) {
        inliers(ft, f, REFINE_MM);
        double ata[6][6] = {{0}}, atb[6] = {0};
        size_t k = 0;
        for (size_t i = 0; i < ft->n; i++) {
            if (!ft->inl[i])
                continue;
            const Sheet *s = &ft->s[ft->idx[i]];
            double u, a, b;
            cand_terms(ft, i, f, &u, &a, &b);
            double t[6] = {1, a, a * a, b, b * b, a * a * a};
            if (f->horizontal)
                t[2] = b; /* its third term is c3's: mapped below */
            for (int r = 0; r < m; r++) {
                for (int q = 0; q < m; q++)
                    ata[r][q] += s->w * t[r] * t[q];
                atb[r] += s->w * t[r] * u;
            }
            k++;
        }
        if (k < 20)
            break;
        double c[6] = {0};
        if (!lsq(ata, atb, m, c))
            break;
        RnFissure nf = *f;
        memset(nf.c, 0, sizeof nf.c);
        if (f->horizontal)
            nf.c[0] = c[0], nf.c[1] = c[1], nf.c[3] = c[2];
        else
            memcpy(nf.c, c, sizeof nf.c);
        if (!slope_ok(&nf))
            break;
        *f = nf;
    }
    size_t k = 0;
    inliers(ft, f, INLIER_MM);
    for (size_t i = 0; i < ft->n; i++)
        k += ft->inl[i];
    f->inliers = k;
    return k >= 30;
}

static int cmp_w(const void *a, const void *b)
{
    float x = ((const Sheet *)a)->w, y = ((const Sheet *)b)->w;
    return x < y ? 1 : x > y ? -1 : 0;
}

static int cmp_f(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* The fissure that decides at p for lung side, nearest first: fills up to 2 (the oblique one,
 * and the horizontal one where p lies in front of the oblique one). */
static int fissures_at(const RnLobes *lb, int side, const double p[3], const RnFissure *f[2])
{
    int n = 0;
    if ((side != 1 && side != 2) || !lb->oblique[side].found)
        return 0;
    f[n++] = &lb->oblique[side];
    if (side == 1 && lb->horizontal.found &&
        rn_lungct_fissure_distance(&lb->oblique[1], p, NULL) < 0)
        f[n++] = &lb->horizontal;
    return n;
}

/* Each found fissure's profile (RnFissure.excess): the raw HU of the lungs' core voxels below
 * SHEET_MAX_HU (no vessels), by distance from the surface, against those 5-10 mm from it. */
static void fissure_profiles(const RnLungScan *scan, const RnLungs *lungs, const uint8_t *core,
                             const size_t lo[3], const size_t dim[3], size_t st, RnLobes *out)
{
    RnFissure *fs[3] = {&out->oblique[1], &out->horizontal, &out->oblique[2]};
    double sum[3][RN_FISSURE_BINS] = {{0}}, cnt[3][RN_FISSURE_BINS] = {{0}};
    double rsum[3] = {0}, rcnt[3] = {0};
    const RnVolume *v = scan->hu;
    for (size_t z = 0; z < dim[2]; z++)
        for (size_t y = 0; y < dim[1]; y += st)
            for (size_t x = 0; x < dim[0]; x += st) {
                if (!core[rn_image_index(dim[0], dim[1], x, y, z)])
                    continue;
                size_t gi = rn_image_index(v->nx, v->ny, x + lo[0], y + lo[1], z + lo[2]);
                float hv = v->data[gi];
                if (hv > SHEET_MAX_HU || hv < SHEET_MIN_HU)
                    continue;
                double vox[3] = {(double)(x + lo[0]), (double)(y + lo[1]), (double)(z + lo[2])},
                       p[3];
                rn_lungct_voxel_to_patient(scan, vox, p);
                const RnFissure *at[2];
                int n = fissures_at(out, lungs->side[gi], p, at);
                for (int k = 0; k < n; k++) {
                    int fi = at[k] == fs[0] ? 0 : at[k] == fs[1] ? 1 : 2;
                    double d = fabs(rn_lungct_fissure_distance(at[k], p, NULL));
                    size_t b = (size_t)(d / RN_FISSURE_BIN_MM);
                    if (b < RN_FISSURE_BINS) {
                        sum[fi][b] += hv;
                        cnt[fi][b] += 1;
                    } else if (d >= 5.0 && d < 10.0) {
                        rsum[fi] += hv;
                        rcnt[fi] += 1;
                    }
                }
            }
    for (int fi = 0; fi < 3; fi++) {
        if (!fs[fi]->found || rcnt[fi] < 100)
            continue;
        double ref = rsum[fi] / rcnt[fi];
        for (int b = 0; b < RN_FISSURE_BINS; b++)
            fs[fi]->excess[b] =
                cnt[fi][b] >= 20 ? fmax(0.0, sum[fi][b] / cnt[fi][b] - ref) : 0.0;
    }
}

double rn_lungct_fissure_excess(const RnLobes *lb, int side, const double p[3])
{
    const RnFissure *at[2];
    int n = fissures_at(lb, side, p, at);
    double e = 0;
    for (int k = 0; k < n; k++) {
        double d = fabs(rn_lungct_fissure_distance(at[k], p, NULL)) / RN_FISSURE_BIN_MM - 0.5;
        if (d >= RN_FISSURE_BINS - 1)
            continue;
        d = d < 0 ? 0 : d;
        size_t b = (size_t)d;
        double t = d - (double)b;
        e += at[k]->excess[b] * (1 - t) + at[k]->excess[b + 1] * t;
    }
    return e;
}

int rn_lungct_lobes(const RnLungScan *scan, const RnLungs *lungs, RnLobes *out, RnError *err)
{
    memset(out, 0, sizeof *out);
    const RnVolume *v = scan->hu;
    if (v->spacing[2] > MAX_SPACING_MM) {
        rn_format(out->note, sizeof out->note,
                  "lobes not given: %.2f mm slices are too far apart to show the fissures "
                  "(at most %.1f mm)", v->spacing[2], MAX_SPACING_MM);
        return 0;
    }
    if (lungs->bbox_hi[0] <= lungs->bbox_lo[0]) {
        rn_format(out->note, sizeof out->note, "lobes not given: no lungs");
        return 0;
    }
    const size_t *lo = lungs->bbox_lo;
    size_t dim[3];
    for (int k = 0; k < 3; k++)
        dim[k] = lungs->bbox_hi[k] - lo[k];
    size_t nc = dim[0] * dim[1] * dim[2];
    int rc = 0;
    RnVolume *sm = rn_volume_crop(v, lungs->bbox_lo, lungs->bbox_hi, err);
    RnMask *cm = sm ? rn_mask_create(dim[0], dim[1], dim[2], v->spacing, err) : NULL;
    float *d2 = cm ? malloc(nc * sizeof *d2) : NULL;
    uint8_t *core = d2 ? malloc(nc) : NULL;
    Sheet *sh = core ? malloc(MAX_CANDIDATES * sizeof *sh) : NULL;
    float *resp = NULL;
    size_t *idx = NULL;
    uint8_t *inl = NULL;
    if (!sh) {
        rc = err && err->code ? err->code : rn_error_set(err, RN_ERR_NOMEM, "lungct: lobes");
        goto done;
    }
    for (size_t z = 0; z < dim[2]; z++)
        for (size_t y = 0; y < dim[1]; y++)
            for (size_t x = 0; x < dim[0]; x++)
                cm->data[rn_image_index(dim[0], dim[1], x, y, z)] = lungs->mask->data[
                    rn_image_index(v->nx, v->ny, x + lo[0], y + lo[1], z + lo[2])];
    if ((rc = rn_image_distance_sq(cm, 0, d2, err)))
        goto done;
    for (size_t i = 0; i < nc; i++)
        core[i] = cm->data[i] && d2[i] >= (float)(WALL_CLEAR_MM * WALL_CLEAR_MM);
    double sg[3] = {SMOOTH_MM, SMOOTH_MM, v->spacing[2] <= SMOOTH_MM ? SMOOTH_MM : 0};
    if ((rc = rn_image_gaussian(sm, sg, sm, err)))
        goto done;
    /* sheet voxels: every second pixel in-plane where pixels are under 0.75 mm (the smoothed
     * sheet is 2-3 mm wide), every slice */
    size_t st = v->spacing[0] < 0.75 ? 2 : 1, ns = 0, nresp = 0;
    size_t cap_resp = 0;
    for (size_t z = 1; z + 1 < dim[2]; z++)
        for (size_t y = 1; y + 1 < dim[1]; y += st)
            for (size_t x = 1; x + 1 < dim[0]; x += st)
                cap_resp += core[rn_image_index(dim[0], dim[1], x, y, z)];
    resp = malloc((cap_resp ? cap_resp : 1) * sizeof *resp);
    if (!resp) {
        rc = rn_error_set(err, RN_ERR_NOMEM, "lungct: lobes");
        goto done;
    }
    /* first pass: the noise of the strength over the lungs' core (its robust spread) */
    for (size_t z = 1; z + 1 < dim[2]; z++)
        for (size_t y = 1; y + 1 < dim[1]; y += st)
            for (size_t x = 1; x + 1 < dim[0]; x += st) {
                size_t ci = rn_image_index(dim[0], dim[1], x, y, z);
                if (!core[ci])
                    continue;
                double h[6], e[3];
                rn_image_hessian_at(sm, x, y, z, h);
                rn_image_sym3_eigenvalues(h, e);
                resp[nresp++] = (float)(-e[0]);
            }
    if (nresp < 1000) {
        rn_format(out->note, sizeof out->note, "lobes not given: too little lung");
        goto done;
    }
    qsort(resp, nresp, sizeof *resp, cmp_f);
    double med = resp[nresp / 2];
    for (size_t i = 0; i < nresp; i++)
        resp[i] = fabsf(resp[i] - (float)med);
    qsort(resp, nresp, sizeof *resp, cmp_f);
    double noise = 1.4826 * resp[nresp / 2];
    double thr = fmax(MIN_STRENGTH, med + NOISE_FACTOR * noise);
    out->strength_threshold = thr;
    for (size_t z = 1; z + 1 < dim[2]; z++)
        for (size_t y = 1; y + 1 < dim[1]; y += st)
            for (size_t x = 1; x + 1 < dim[0]; x += st) {
                size_t ci = rn_image_index(dim[0], dim[1], x, y, z);
                float hv = sm->data[ci];
                if (!core[ci] || hv > SHEET_MAX_HU || hv < SHEET_MIN_HU)
                    continue;
                double h[6], e[3];
                rn_image_hessian_at(sm, x, y, z, h);
                rn_image_sym3_eigenvalues(h, e);
                if (e[0] >= 0 || -e[0] < thr || fabs(e[1]) > PLATE_RATIO * fabs(e[0]))
                    continue;
                size_t gi = rn_image_index(v->nx, v->ny, x + lo[0], y + lo[1], z + lo[2]);
                double nv[3], vox[3] = {(double)(x + lo[0]), (double)(y + lo[1]),
                                        (double)(z + lo[2])}, p[3], np[3];
                rn_image_sym3_eigenvector(h, e[0], nv);
                rn_lungct_voxel_to_patient(scan, vox, p);
                for (int a = 0; a < 3; a++) /* voxel axes to patient directions */
                    np[a] = nv[0] * scan->axis[0][a] + nv[1] * scan->axis[1][a] +
                            nv[2] * scan->axis[2][a];
                if (ns == MAX_CANDIDATES) { /* keep the strongest */
                    qsort(sh, ns, sizeof *sh, cmp_w);
                    ns = MAX_CANDIDATES / 2;
                }
                Sheet *s = &sh[ns++];
                for (int a = 0; a < 3; a++)
                    s->p[a] = (float)p[a], s->n[a] = (float)np[a];
                s->w = (float)(-e[0]);
                s->side = lungs->side[gi];
            }
    out->sheet_voxels = ns;
    idx = malloc((ns ? ns : 1) * sizeof *idx);
    inl = malloc(ns ? ns : 1);
    if (!idx || !inl) {
        rc = rn_error_set(err, RN_ERR_NOMEM, "lungct: lobes");
        goto done;
    }
    Fit ft = {.scan = scan, .lungs = lungs, .core = core, .s = sh, .idx = idx, .inl = inl};
    memcpy(ft.lo, lo, sizeof ft.lo);
    memcpy(ft.dim, dim, sizeof ft.dim);
    for (int side = 1; side <= 2; side++) {
        RnFissure *o = &out->oblique[side];
        o->horizontal = false;
        ft.n = 0;
        for (size_t i = 0; i < ns; i++) {
            const Sheet *s = &sh[i];
            if (s->side != side)
                continue;
            double ny = s->n[1], nz = s->n[2], nx = s->n[0];
            if (ny < 0)
                ny = -ny, nz = -nz, nx = -nx;
            /* y = f(x, z) rising backwards: normal ~ (-f_x, 1, -f_z) with f_z in [0.3, 3] */
            if (ny < 1e-3 || -nz / ny < 0.25 || -nz / ny > 2.2 || fabs(nx) > 0.6)
                continue;
            idx[ft.n++] = i;
        }
        if (fit_surface(&ft, o))
            o->coverage = coverage(&ft, o, NULL, side);
        o->found = o->inliers >= 30 && o->cells >= MIN_CELLS && o->coverage >= COVER_OBLIQUE;
        if (side != 1 || !o->found)
            continue;
        RnFissure *hz = &out->horizontal;
        hz->horizontal = true;
        ft.n = 0;
        for (size_t i = 0; i < ns; i++) {
            const Sheet *s = &sh[i];
            double p[3] = {s->p[0], s->p[1], s->p[2]};
            if (s->side != 1 || fabs(s->n[2]) < 0.85 ||
                rn_lungct_fissure_distance(o, p, NULL) > -INLIER_MM * 2)
                continue;
            idx[ft.n++] = i;
        }
        if (fit_surface(&ft, hz))
            hz->coverage = coverage(&ft, hz, o, 1);
        hz->found = hz->inliers >= 30 && hz->cells >= MIN_CELLS &&
                    hz->coverage >= COVER_HORIZONTAL;
    }
    fissure_profiles(scan, lungs, core, lo, dim, st, out);
    if (!out->oblique[1].found || !out->oblique[2].found || !out->horizontal.found)
        rn_format(out->note, sizeof out->note, "fissures found: right oblique %s (%.0f %%), "
                  "horizontal %s (%.0f %%), left oblique %s (%.0f %%)",
                  out->oblique[1].found ? "yes" : "no", 100 * out->oblique[1].coverage,
                  out->horizontal.found ? "yes" : "no", 100 * out->horizontal.coverage,
                  out->oblique[2].found ? "yes" : "no", 100 * out->oblique[2].coverage);
done:
    rn_volume_destroy(sm);
    rn_mask_destroy(cm);
    free(d2);
    free(core);
    free(sh);
    free(resp);
    free(idx);
    free(inl);
    return rc;
}

const char *rn_lungct_lobe_of(const RnLobes *lb, int side, const double p[3])
{
    if (side == 2)
        return !lb->oblique[2].found ? NULL
               : rn_lungct_fissure_distance(&lb->oblique[2], p, NULL) > 0 ? "LLL" : "LUL";
    if (side != 1 || !lb->oblique[1].found)
        return NULL;
    if (rn_lungct_fissure_distance(&lb->oblique[1], p, NULL) > 0)
        return "RLL";
    if (!lb->horizontal.found)
        return NULL;
    return rn_lungct_fissure_distance(&lb->horizontal, p, NULL) > 0 ? "RUL" : "RML";
}

const RnLobeInfo *rn_lungct_lobe_info(const char *code)
{
    static const RnLobeInfo lobes[] = {
        {"RUL", "right upper lobe", "右肺上叶", "42400003", "Upper lobe of right lung"},
        {"RML", "right middle lobe", "右肺中叶", "72481006", "Middle lobe of right lung"},
        {"RLL", "right lower lobe", "右肺下叶", "266005", "Lower lobe of right lung"},
        {"LUL", "left upper lobe", "左肺上叶", "44714003", "Upper lobe of left lung"},
        {"LLL", "left lower lobe", "左肺下叶", "41224006", "Lower lobe of left lung"},
    };
    for (size_t i = 0; code && i < sizeof lobes / sizeof lobes[0]; i++)
        if (!strcmp(code, lobes[i].code))
            return &lobes[i];
    return NULL;
}

const char *rn_lungct_lobe_name(const char *code)
{
    const RnLobeInfo *li = rn_lungct_lobe_info(code);
    return li ? li->name : NULL;
}
