/*
 * Nodule candidates and their measurement.
 *
 * Candidates: a multi-scale Hessian "dot" filter (Li, Sone and Doi, Med Phys
 * 30:2040, 2003): at each scale sigma (1 to 16 mm, i.e. spheres of about 3.5
 * to 55 mm) the volume is smoothed with a Gaussian, and where all three
 * Hessian eigenvalues are negative (a bright blob) the response is
 * sigma^2 |l3|^2 / |l1| (|l1| >= |l2| >= |l3|), which is high for spheres and
 * near zero for tubes (vessels, l3 ~ 0) and plates (fissures). Coarse scales
 * run on block-averaged volumes so the cost does not grow with sigma. The
 * maxima of the response over space and scale inside the closed lung mask
 * are the candidates.
 *
 * Measurement: around each candidate, the parenchyma level P (median of the
 * aerated lung in the neighbourhood) and the nodule level M (median of a
 * first region grown at -725 HU) give the half-maximum threshold P + (M-P)/2,
 * which sits on the blurred edge of solid (about -410 HU) and ground-glass
 * (about -725 HU) nodules alike. The region is grown from the densest voxel
 * of the first region near the candidate, inside the closed lung mask less
 * its pleural rim (the wall's partial volume would carry it along the
 * pleura). Vessels are cut by an opening with a ball of 0.65 x the region's
 * inscribed radius (at most 3 mm); what the opening took of the nodule itself
 * (thick-slice caps, the digital ball's corners) comes back inside the
 * opened nodule's moment ellipsoid, enlarged by a pixel. The vessels cut off
 * are followed as cylinders (axis and radius fitted to each piece) into that
 * margin: there they are the vessel's, and their partial-volume rim leaves the
 * shell. A region that leaks along a vessel thinner than the nodule (by the
 * tube ratio below) but too thick for that ball is measured once more with
 * 0.85 x the inscribed radius (slices <= 1.5 mm). On a subsolid nodule, solid structures
 * passing through are cut by density. A candidate that is a piece of a tube
 * (followed at a quarter of its contrast it leaves the search ball, and what
 * continues is nearly as thick as the candidate) is dropped. Masses (grown in
 * the 30 mm envelope) are cut where their slice-area profile has a neck.
 * The volume is partial-volume corrected: interior voxels count 1, boundary
 * voxels and a 2 mm shell around the region count (HU - P) / (D - P), limited
 * to [-0.5, 1] so that zero-mean noise averages out instead of biasing the
 * sum; D is the interior median, or for small nodules (almost no interior on
 * thick slices) the central density corrected for the share of its slab that
 * the nodule fills (at least soft-tissue density, 30 HU, when that estimate
 * says solid); on a part-solid nodule the boundary's reference is the
 * density of the interior's outer layer (ground glass), not the core's, and
 * where the core's blur reaches that layer too (6-10 mm, thick slices), the
 * median of the first region (mostly ground glass).
 * Interior voxels still well below the nodule's density (a low threshold
 * reaches into the blur) get their partial-volume weight too. Voxels above
 * the threshold that belong to another structure are left out of the shell.
 * Against the pleura, the part of the nodule in the pleural rim comes back
 * inside the region's moment ellipsoid. A region that runs out of its search
 * ball is measured once more with a ball twice as large (a nodule larger
 * than its detection scale) before it is called a leak. Long and short axes are measured in
 * the axial plane (longest Feret diameter over the slices, the perpendicular
 * extent on that slice, pixel edge to edge), the type from the solid
 * (>= -300 HU) share, for small nodules from D. Findings whose centres lie
 * within the larger one's radius are merged.
 *
 * False-positive reduction (thresholds in docs/lungct.md): contrast M - P >=
 * 150 HU, equivalent diameter 2.5-100 mm, elongation <= 3, Hessian sphericity
 * |l3|/|l1| >= 0.2 at the detection scale, not a piece of a tube, and a
 * region that does not run out of its search ball (a vessel or the
 * mediastinum); a mass has at least 22 % of its voxels deeper than a fifth
 * of its equivalent radius (not a vessel tree).
 */
#include "lungct_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NSCALES 9
static const double SCALES_MM[NSCALES] = {1.0, 1.4, 2.0, 2.8, 4.0, 5.6, 8.0, 11.3, 16.0};
#define MIN_RESPONSE 12.0     /* HU-equivalent dot response */
#define MAX_CANDIDATES 400
#define MIN_CONTRAST_HU 150.0
/* Reported from 2.5 mm of equivalent diameter (8.2 mm3): a 3.2 mm ellipsoid of 3.2 x 2.6 x
 * 2.5 mm is 2.7 mm, and at 3.0 the free ones of the phantoms (seeds 1-20) went unreported, 9 of
 * 480 nodules, at no false positive saved (0.05-0.10 per scan either way, also at 40-80 HU of
 * noise and on 2.5-5 mm slices). At 0.625 mm they read within 1 %, their priors within 6 %;
 * VDT 275 -> 279 of 300. */
#define MIN_DIAMETER_MM 2.5
#define MAX_DIAMETER_MM 100.0
#define TARGETED_MIN_DIAMETER_MM 1.5 /* a prior counterpart measured at a given point */
#define TARGETED_SEARCH_MM 4.0  /* search radius around the registered point (at least) */
#define MAX_ELONGATION 3.0
#define MIN_SPHERICITY 0.2
#define SOLID_HU -300.0
#define OPEN_MAX_MM 3.0   /* largest ball that cuts vessels off a nodule */
#define OPEN_FRACTION 0.65 /* of the inscribed radius: the ball that cuts vessels off */
#define OPEN_FRACTION_STRONG 0.85 /* the same for a region that leaked along a thick vessel */
#define STRONG_MAX_SLICE_MM 1.5 /* the stronger opening on thin slices only (false positives) */
#define RESTORE_HU_MARGIN 50.0 /* above the 95th percentile of the opened nodule */
#define SMALL_INTERIOR_VOXELS 27 /* fewer interior voxels: density from partial_volume_density */
#define DENSITY_MAX_HU 100.0     /* soft tissue; calcium is not modelled */
#define SMALL_SOLID_REF_HU 30.0  /* soft tissue (muscle, blood, solid nodules: 20-50 HU) */
#define MASS_NECK_RISE 1.15 /* area rise after a fall that marks a neck (masses) */
#define VESSEL_RATIO 1.3  /* a nodule on a vessel is at least this much thicker */
#define VESSEL_FIT_MM 5.0 /* a cut-off vessel's axis is fitted within this of the nodule */
#define VESSEL_RIM_PX 1.0 /* its partial-volume rim beyond its radius, in pixels */
#define VESSEL_OUT 1      /* wk->vessel: the vessel's zone beyond the nodule's ellipsoid */
#define VESSEL_IN 2       /* the zone inside it (thin slices, nodule completed by symmetry) */
#define VESSEL_MERGE_COS 0.9 /* two pieces of one vessel: in line within about 25 degrees */
#define LEAK_BAND_MM 2.0 /* a leak's thickness is read this far inside the ball's edge */
#define VESSEL_MAX_SHARE 0.8 /* a cut-off vessel is thinner than this x the nodule's R_in */
#define FIRST_PASS_HU -725.0
#define NOISY_SHARE 0.1 /* noise above this share of the contrast: weights clipped above 1 */
#define INTERIOR_FULL 0.75 /* share of the contrast above which an interior voxel counts 1 */
#define EDGE_DENSITY_GAP_HU 30.0 /* interior median above its outer layer: a part-solid nodule */
#define CORE_MIN_VOXELS 4 /* solid voxels that make a solid core (part-solid) */
#define GG_CORE_DIST_MM 1.5 /* interior voxels this far from the core read the ground glass */
#define GG_MIN_VOXELS 8    /* of them, to take their median as the ground-glass level */
#define LEVEL_DEPTH_MM 1.4 /* subsolid voxels this far from the edge and core read the level */
#define LEVEL_MIN_VOXELS 20 /* of them, to take their median (else the 20 farthest) */
#define LEVEL_MIN_DEPTH_MM 1.25 /* ... where those lie this far at least */
#define CORE_BLUR_MM2 0.5  /* the core's squared distance counts this much less */
#define LEVEL_DEPTH_SIGMAS 2.6 /* ... and LEVEL_DEPTH_MM at least this many edge widths deep */
#define LEVEL_MAX_RISE 0.1 /* of the contrast: a deeper reading that rises more hit a core */
#define WIDE_MIN_VOXELS 8  /* dense shell voxels outside the 10 mm mask: measure in the 30 mm one */
#define WIDE_MAX_GAIN 1.3  /* ... and keep that measurement when it is at most this much larger */
#define MASS_BULK_DEPTH 0.2 /* of the equivalent radius: a mass's bulk lies deeper */
#define MASS_MIN_BULK 0.22  /* share of a mass's voxels in its bulk (a sphere: 0.51) */
#define PARENCHYMA_ROUNDS 3 /* of the symmetric window that centres the parenchyma's level */
/* the volume's uncertainty (volume_sd, noise_correlation) */
#define MEDIAN_VAR 1.5708   /* a median's variance x n over the noise's (pi / 2, Gaussian) */
#define CORR_XY 2           /* noise correlation read to this many pixels in-plane, */
#define CORR_Z 1            /* and slices */
#define CORR_NOISE_SDS 3.0  /* the parenchyma voxels that tell the noise's correlation */
/* the method's error at a nodule's surface, as a layer A / 6 mm thick (volume_sd) */
#define SURFACE_ERR_GROUND_GLASS 0.02 /* mm */
#define SURFACE_ERR_PART_SOLID 0.23
#define SURFACE_ERR_PLEURA 0.19
#define SURFACE_ERR_VESSEL 0.15
/* and its floor, a share of the volume */
#define ERR_FLOOR_SOLID 0.0005
#define ERR_FLOOR_SUBSOLID 0.005
#define ERR_FLOOR_PLEURA 0.012
#define ERR_FLOOR_VESSEL 0.003
#define RIM_RESTORE_PX 0.5 /* the pleural rim comes back within the nodule's ellipsoid + this */
#define ROI_MAX_MM 60.0
#define MASS_MIN_MM3 4000.0
#define MASS_RESPONSE 1e6 /* marks candidates of the mass path */
#define MASS_SCALE_MM 8.0 /* from this scale on, the 30 mm-closed envelope is searched */
#define MASS_SCALE_INDEX 6 /* SCALES_MM[6] == MASS_SCALE_MM */

const char *rn_lungct_type_name(RnNoduleType t)
{
    switch (t) {
    case RN_NODULE_SOLID: return "solid";
    case RN_NODULE_PART_SOLID: return "part-solid";
    default: return "ground-glass";
    }
}

void rn_lungct_nodules_free(RnNoduleList *l)
{
    if (!l)
        return;
    free(l->items);
    memset(l, 0, sizeof *l);
}

typedef struct Cand {
    size_t x, y, z; /* crop coordinates */
    float response;
    int scale;
    float sphericity; /* Hessian |l3|/|l1| at the detection scale */
} Cand;

static int cmp_cand(const void *a, const void *b)
{
    float x = ((const Cand *)a)->response, y = ((const Cand *)b)->response;
    return x > y ? -1 : x < y;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

static double dot_response(const double h[6], double sigma, double *sphericity)
{
    double e[3];
    rn_image_sym3_eigenvalues(h, e);
    *sphericity = 0;
    if (e[0] >= 0 || e[1] >= 0 || e[2] >= 0)
        return 0;
    *sphericity = fabs(e[2]) / fabs(e[0]);
    return sigma * sigma * e[2] * e[2] / fabs(e[0]);
}

/* Block average by (f, f, fz). */
static RnVolume *block_average(const RnVolume *v, size_t f, size_t fz, RnError *err)
{
    size_t mx = (v->nx + f - 1) / f, my = (v->ny + f - 1) / f, mz = (v->nz + fz - 1) / fz;
    double sp[3] = {v->spacing[0] * (double)f, v->spacing[1] * (double)f,
                    v->spacing[2] * (double)fz};
    RnVolume *c = rn_volume_create(mx, my, mz, sp, err);
    if (!c)
        return NULL;
    float *cnt = calloc(mx * my * mz, sizeof *cnt);
    if (!cnt) {
        rn_volume_destroy(c);
        rn_error_set(err, RN_ERR_NOMEM, "lungct: pyramid");
        return NULL;
    }
    for (size_t z = 0; z < v->nz; z++)
        for (size_t y = 0; y < v->ny; y++)
            for (size_t x = 0; x < v->nx; x++) {
                size_t j = rn_image_index(mx, my, x / f, y / f, z / fz);
                c->data[j] += v->data[rn_image_index(v->nx, v->ny, x, y, z)];
                cnt[j] += 1;
            }
    for (size_t j = 0; j < mx * my * mz; j++)
        c->data[j] /= cnt[j] > 0 ? cnt[j] : 1;
    free(cnt);
    return c;
}

/* Multi-scale dot filter on the crop: best response and scale per voxel in the mask. */
static int blob_filter(const RnVolume *w, const uint8_t *mask10, const uint8_t *mask30, float *best,
                       uint8_t *best_scale, float *best_sph, RnError *err)
{
    size_t nx = w->nx, ny = w->ny, nz = w->nz, n = nx * ny * nz;
    memset(best, 0, n * sizeof *best);
    memset(best_scale, 0, n);
    memset(best_sph, 0, n * sizeof *best_sph);
    for (int s = 0; s < NSCALES; s++) {
        double sigma = SCALES_MM[s];
        const uint8_t *mask = sigma >= MASS_SCALE_MM ? mask30 : mask10;
        size_t f = (size_t)floor(sigma / (1.5 * w->spacing[0]));
        size_t fz = (size_t)floor(sigma / (1.5 * w->spacing[2]));
        f = f < 1 ? 1 : f;
        fz = fz < 1 ? 1 : fz;
        RnVolume *c = f == 1 && fz == 1 ? rn_volume_clone(w, err) : block_average(w, f, fz, err);
        if (!c)
            return err ? err->code : RN_ERR_NOMEM;
        /* The block average already blurs by about a block / sqrt(12). */
        double sg[3];
        for (int a = 0; a < 3; a++) {
            double b = (a < 2 ? (double)f : (double)fz) * w->spacing[a];
            double s2 = sigma * sigma - (b * b - w->spacing[a] * w->spacing[a]) / 12.0;
            sg[a] = s2 > 0 ? sqrt(s2) : 0;
        }
        int rc = rn_image_gaussian(c, sg, c, err);
        if (rc) {
            rn_volume_destroy(c);
            return rc;
        }
        /* Which coarse voxels hold mask voxels. */
        size_t cn = c->nx * c->ny * c->nz;
        uint8_t *cm = calloc(cn, 1);
        float *cr = calloc(cn, sizeof *cr), *cs = calloc(cn, sizeof *cs);
        if (!cm || !cr || !cs) {
            free(cm);
            free(cr);
            free(cs);
            rn_volume_destroy(c);
            return rn_error_set(err, RN_ERR_NOMEM, "lungct: blob filter");
        }
        for (size_t z = 0; z < nz; z++)
            for (size_t y = 0; y < ny; y++)
                for (size_t x = 0; x < nx; x++)
                    if (mask[rn_image_index(nx, ny, x, y, z)])
                        cm[rn_image_index(c->nx, c->ny, x / f, y / f, z / fz)] = 1;
        for (size_t z = 0; z < c->nz; z++)
            for (size_t y = 0; y < c->ny; y++)
                for (size_t x = 0; x < c->nx; x++) {
                    size_t j = rn_image_index(c->nx, c->ny, x, y, z);
                    if (!cm[j])
                        continue;
                    double h[6], sph;
                    rn_image_hessian_at(c, x, y, z, h);
                    cr[j] = (float)dot_response(h, sigma, &sph);
                    cs[j] = (float)sph;
                }
        for (size_t z = 0; z < nz; z++)
            for (size_t y = 0; y < ny; y++)
                for (size_t x = 0; x < nx; x++) {
                    size_t i = rn_image_index(nx, ny, x, y, z);
                    if (!mask[i])
                        continue;
                    size_t j = rn_image_index(c->nx, c->ny, x / f, y / f, z / fz);
                    if (cr[j] > best[i]) {
                        best[i] = cr[j];
                        best_scale[i] = (uint8_t)s;
                        best_sph[i] = cs[j];
                    }
                }
        free(cm);
        free(cr);
        free(cs);
        rn_volume_destroy(c);
    }
    return 0;
}

/* ---- Measurement of one candidate -------------------------------------------- */

typedef struct Roi {
    size_t lo[3], n[3]; /* in crop coordinates */
} Roi;

static size_t roi_index(const Roi *r, size_t x, size_t y, size_t z)
{
    return (z * r->n[1] + y) * r->n[0] + x;
}

/* The 6-neighbours of ROI voxel i inside the ROI; returns their number. */
static int roi_neighbours(const Roi *r, size_t i, size_t nb[6])
{
    size_t x = i % r->n[0], y = (i / r->n[0]) % r->n[1], z = i / (r->n[0] * r->n[1]);
    int c = 0;
    if (x > 0) nb[c++] = i - 1;
    if (x + 1 < r->n[0]) nb[c++] = i + 1;
    if (y > 0) nb[c++] = i - r->n[0];
    if (y + 1 < r->n[1]) nb[c++] = i + r->n[0];
    if (z > 0) nb[c++] = i - r->n[0] * r->n[1];
    if (z + 1 < r->n[2]) nb[c++] = i + r->n[0] * r->n[1];
    return c;
}

/* Region grown (6-connected) from seed over voxels with allowed[i] set. */
static size_t grow(const Roi *r, const uint8_t *allowed, size_t seed, uint8_t *out, size_t *queue)
{
    size_t nr = r->n[0] * r->n[1] * r->n[2];
    memset(out, 0, nr);
    if (!allowed[seed])
        return 0;
    size_t head = 0, tail = 0;
    out[seed] = 1;
    queue[tail++] = seed;
    while (head < tail) {
        size_t i = queue[head++];
        size_t nb[6];
        int c = roi_neighbours(r, i, nb);
        for (int k = 0; k < c; k++)
            if (allowed[nb[k]] && !out[nb[k]]) {
                out[nb[k]] = 1;
                queue[tail++] = nb[k];
            }
    }
    return tail;
}

/* Fills the holes of mask: the voxels outside it that no path outside it joins to the ROI's
 * faces. Uses visited and queue (ROI-sized). */
static void fill_holes(const Roi *r, uint8_t *mask, uint8_t *visited, size_t *queue)
{
    size_t nr = r->n[0] * r->n[1] * r->n[2], head = 0, tail = 0;
    memset(visited, 0, nr);
    for (size_t j = 0; j < nr; j++) {
        size_t x = j % r->n[0], y = (j / r->n[0]) % r->n[1], z = j / (r->n[0] * r->n[1]);
        if (!mask[j] && (x == 0 || y == 0 || z == 0 || x + 1 == r->n[0] || y + 1 == r->n[1] ||
                         z + 1 == r->n[2])) {
            visited[j] = 1;
            queue[tail++] = j;
        }
    }
    while (head < tail) {
        size_t i = queue[head++];
        size_t nb[6];
        int c = roi_neighbours(r, i, nb);
        for (int k = 0; k < c; k++)
            if (!mask[nb[k]] && !visited[nb[k]]) {
                visited[nb[k]] = 1;
                queue[tail++] = nb[k];
            }
    }
    for (size_t j = 0; j < nr; j++)
        mask[j] = mask[j] || !visited[j];
}

static float median_of(float *vals, size_t n)
{
    if (!n)
        return 0;
    qsort(vals, n, sizeof *vals, cmp_float);
    return vals[n / 2];
}

typedef struct Work {
    const RnVolume *w;      /* HU crop */
    const uint8_t *lung10;  /* lung mask closed at 10 mm, on the crop */
    const uint8_t *lung30;  /* closed at 30 mm (large scales) */
    const uint8_t *lung;    /* the one in use for the current candidate */
    const uint8_t *grow10, *grow30; /* the same without the pleural rim: where regions grow */
    const uint8_t *grow;
    const uint8_t *side;    /* side map on the crop */
    int32_t *claimed;       /* crop: candidate number that owns a voxel */
    /* ROI scratch (sized for the largest ROI) */
    uint8_t *allowed, *region, *aux, *orig, *low;
    /* vessels cut off the current nodule, with their rims: VESSEL_OUT outside the nodule's
     * ellipsoid, VESSEL_IN inside it (where the nodule is read from its mirror image) */
    uint8_t *vessel;
    double sym_mu[3]; /* the centre of the nodule's symmetric completion, when sym_ok */
    bool sym_ok;
    float *dist, *dist2;
    float *vals;
    size_t *queue;
    size_t cap;
    int retry; /* measure() is running on an enlarged search ball */
    int strong; /* measure() is running with the stronger vessel-cutting opening */
    bool targeted; /* measuring at a given point (the prior's counterpart of a nodule) */
    bool wide; /* measure() is running in the 30 mm envelope for a nodule on the wall */
    size_t scan_nz; /* slices of the whole scan */
    const RnLungScan *scan;
    const RnLobes *lobes;   /* the fissures found (lungs->lobes), their profiles */
    bool fissures;          /* any found */
    /* owned by work_init / work_free */
    RnVolume *crop;
    uint8_t *own_lung, *own_lung30, *own_side, *own_grow10, *own_grow30;
} Work;

/* What a found fissure adds at ROI voxel j to its parenchyma (HU; the fissure's measured
 * profile), 0 without one: the phantom's fissure voxels read -720 HU on average and -680 to
 * -700 in their brightest tenth (parenchyma -843), above the first pass's threshold, and a
 * region grown across it followed it out of the nodule (seed 6's 6.4 mm ground-glass nodule,
 * which a fissure crosses, read +29 % and its prior was lost). */
static double fissure_hu(const Work *wk, const Roi *r, const size_t crop_lo[3], size_t j)
{
    if (!wk->fissures)
        return 0;
    size_t x = j % r->n[0] + r->lo[0], y = (j / r->n[0]) % r->n[1] + r->lo[1],
           z = j / (r->n[0] * r->n[1]) + r->lo[2];
    double vc[3] = {(double)(x + crop_lo[0]), (double)(y + crop_lo[1]), (double)(z + crop_lo[2])},
           p[3];
    rn_lungct_voxel_to_patient(wk->scan, vc, p);
    return rn_lungct_fissure_excess(wk->lobes, wk->side[rn_image_index(wk->w->nx, wk->w->ny, x,
                                                                        y, z)], p);
}

/* Feret diameters on one slice of the region; returns long axis (mm). */
static double slice_axes(const Roi *r, const uint8_t *reg, size_t z, const double sp[2],
                         double *short_axis, double pts[2][2], size_t *buf, size_t cap)
{
    size_t nb = 0, nxy = r->n[0] * r->n[1];
    const uint8_t *s = reg + z * nxy;
    for (size_t y = 0; y < r->n[1]; y++)
        for (size_t x = 0; x < r->n[0]; x++) {
            size_t i = y * r->n[0] + x;
            if (!s[i])
                continue;
            bool edge = x == 0 || y == 0 || x + 1 == r->n[0] || y + 1 == r->n[1] || !s[i - 1] ||
                        !s[i + 1] || !s[i - r->n[0]] || !s[i + r->n[0]];
            if (edge && nb < cap)
                buf[nb++] = i;
        }
    if (!nb)
        return 0;
    double best = -1;
    size_t ba = buf[0], bb = buf[0];
    for (size_t a = 0; a < nb; a++)
        for (size_t b = a + 1; b < nb; b++) {
            double dx = ((double)(buf[a] % r->n[0]) - (double)(buf[b] % r->n[0])) * sp[0];
            double dy = ((double)(buf[a] / r->n[0]) - (double)(buf[b] / r->n[0])) * sp[1];
            double d = dx * dx + dy * dy;
            if (d > best) {
                best = d;
                ba = buf[a];
                bb = buf[b];
            }
        }
    double L = sqrt(best > 0 ? best : 0);
    double ux = 1, uy = 0;
    if (L > 0) {
        ux = ((double)(bb % r->n[0]) - (double)(ba % r->n[0])) * sp[0] / L;
        uy = ((double)(bb / r->n[0]) - (double)(ba / r->n[0])) * sp[1] / L;
    }
    double lo = 1e30, hi = -1e30;
    for (size_t a = 0; a < nb; a++) {
        double px = (double)(buf[a] % r->n[0]) * sp[0], py = (double)(buf[a] / r->n[0]) * sp[1];
        double q = -uy * px + ux * py;
        lo = q < lo ? q : lo;
        hi = q > hi ? q : hi;
    }
    /* Pixel centres to pixel edges: add one pixel along each direction. */
    double pix_l = sqrt(ux * ux * sp[0] * sp[0] + uy * uy * sp[1] * sp[1]);
    double pix_s = sqrt(uy * uy * sp[0] * sp[0] + ux * ux * sp[1] * sp[1]);
    *short_axis = hi - lo + pix_s;
    pts[0][0] = (double)(ba % r->n[0]);
    pts[0][1] = (double)(ba / r->n[0]);
    pts[1][0] = (double)(bb % r->n[0]);
    pts[1][1] = (double)(bb / r->n[0]);
    return L + pix_l;
}


static float roi_hu(const Work *wk, const Roi *r, size_t j)
{
    size_t x = j % r->n[0], y = (j / r->n[0]) % r->n[1], z = j / (r->n[0] * r->n[1]);
    return wk->w->data[rn_image_index(wk->w->nx, wk->w->ny, x + r->lo[0], y + r->lo[1],
                                      z + r->lo[2])];
}

static double roi_dist2(const Roi *r, const double sp[3], size_t a, size_t b)
{
    double dx = ((double)(a % r->n[0]) - (double)(b % r->n[0])) * sp[0];
    double dy = ((double)((a / r->n[0]) % r->n[1]) - (double)((b / r->n[0]) % r->n[1])) * sp[1];
    double dz = ((double)(a / (r->n[0] * r->n[1])) - (double)(b / (r->n[0] * r->n[1]))) * sp[2];
    return dx * dx + dy * dy + dz * dz;
}

/* Inscribed radius (mm) of wk->region near the seed: the largest distance from a region voxel
 * within 1.5 blob radii (at least 3 mm) of the seed to the nearest voxel outside the region.
 * Distances run between voxel centres, so a line one voxel wide has radius one voxel. */
static double inscribed_radius(Work *wk, const Roi *r, size_t seed, double r_est, RnError *err)
{
    const double *sp = wk->w->spacing;
    RnMask m = {.nx = r->n[0], .ny = r->n[1], .nz = r->n[2], .data = wk->region};
    memcpy(m.spacing, sp, sizeof m.spacing);
    int rc = rn_image_distance_sq(&m, 0, wk->dist, err);
    if (rc)
        return rc;
    size_t nr = r->n[0] * r->n[1] * r->n[2];
    double lim = fmax(1.5 * r_est, 3.0), best = 0;
    for (size_t j = 0; j < nr; j++)
        if (wk->region[j] && wk->dist[j] < 1e29f && wk->dist[j] > best &&
            roi_dist2(r, sp, j, seed) <= lim * lim)
            best = wk->dist[j];
    return sqrt(best);
}

/* 1 when the candidate (wk->region, inscribed radius r_in) is a piece of a tube: the region
 * grown from the seed at t_low leaves the search ball, and where it continues, farther than
 * 2 mm (and one slice) from the candidate, its voxels at t_high (the candidate's threshold)
 * are nearly as thick as the candidate (r_in < VESSEL_RATIO x their inscribed radius).
 * 0 when not, negative on error. *thick: that inscribed radius (mm; 0 when the structure
 * does not leave the ball). */
static int vessel_piece(Work *wk, const Roi *r, size_t seed, const Cand *c, double roi_mm,
                        double t_low, double t_high, double r_in, double *thick, RnError *err)
{
    const double *sp = wk->w->spacing;
    *thick = 0;
    size_t nr = r->n[0] * r->n[1] * r->n[2];
    for (size_t j = 0; j < nr; j++)
        wk->allowed[j] = (wk->aux[j] && roi_hu(wk, r, j) >= t_low) || wk->region[j];
    size_t n = grow(r, wk->allowed, seed, wk->low, wk->queue);
    if (!n)
        return 0;
    bool leaves = false;
    double edge = roi_mm - 1.5 * sp[0] - (sp[2] > 3 ? sp[2] : 0);
    for (size_t j = 0; j < nr && !leaves; j++) {
        if (!wk->low[j])
            continue;
        double dx = ((double)(j % r->n[0] + r->lo[0]) - (double)c->x) * sp[0];
        double dy = ((double)((j / r->n[0]) % r->n[1] + r->lo[1]) - (double)c->y) * sp[1];
        double dz = ((double)(j / (r->n[0] * r->n[1]) + r->lo[2]) - (double)c->z) * sp[2];
        leaves = dx * dx + dy * dy + dz * dz > edge * edge;
    }
    if (!leaves)
        return 0;
    /* thickness of what continues, at the candidate's own threshold (at the lower one every
     * structure looks thicker, the more so across thick slices) */
    for (size_t j = 0; j < nr; j++)
        wk->low[j] = wk->low[j] && roi_hu(wk, r, j) >= t_high;
    RnMask ml = {.nx = r->n[0], .ny = r->n[1], .nz = r->n[2], .data = wk->low};
    RnMask mr = ml;
    mr.data = wk->region;
    memcpy(ml.spacing, sp, sizeof ml.spacing);
    memcpy(mr.spacing, sp, sizeof mr.spacing);
    int rc = rn_image_distance_sq(&ml, 0, wk->dist, err);
    if (!rc)
        rc = rn_image_distance_sq(&mr, 1, wk->dist2, err);
    if (rc)
        return rc;
    /* beyond 2 mm from the candidate and beyond its neighbouring slices (its own caps) */
    float away = (float)(fmax(2.0, 1.01 * sp[2]) * fmax(2.0, 1.01 * sp[2]));
    double att = 0;
    for (size_t j = 0; j < nr; j++)
        if (wk->low[j] && wk->dist2[j] > away && wk->dist[j] < 1e29f && wk->dist[j] > att)
            att = wk->dist[j];
    att = sqrt(att);
    *thick = att;
    return r_in < VESSEL_RATIO * att;
}

/* mask eroded in-plane by 1.5 pixels (the pleural rim removed). */
static int pleural_rim_removed(const uint8_t *mask, const RnVolume *w, uint8_t *out, RnError *err)
{
    RnMask in = {.nx = w->nx, .ny = w->ny, .nz = w->nz, .data = (uint8_t *)mask};
    RnMask o = in;
    o.data = out;
    /* in-plane only: the z spacing is made large so that no slice sees its neighbours */
    in.spacing[0] = o.spacing[0] = w->spacing[0];
    in.spacing[1] = o.spacing[1] = w->spacing[1];
    in.spacing[2] = o.spacing[2] = 1e3;
    double radius = 1.5 * fmax(w->spacing[0], w->spacing[1]) + 1e-3;
    int rc = rn_image_erode(&in, radius, &o, err);
    if (rc)
        return rc;
    /* The crop is the lungs' bounding box, so beyond its in-plane edges lies wall, never lung;
     * the distance transform sees no background there and kept the rim at the lungs'
     * lateral-, anterior- and posterior-most points (seed 15's 5.5 mm nodule on that wall
     * read +16 % at 1.25 mm). Voxels within the radius of the edge go as elsewhere. */
    size_t nx = w->nx, ny = w->ny;
    size_t kx = (size_t)(radius / w->spacing[0]), ky = (size_t)(radius / w->spacing[1]);
    for (size_t z = 0; z < w->nz; z++)
        for (size_t y = 0; y < ny; y++) {
            uint8_t *row = out + rn_image_index(nx, ny, 0, y, z);
            if (y < ky || y + ky >= ny) {
                memset(row, 0, nx);
                continue;
            }
            for (size_t x = 0; x < kx && x < nx; x++)
                row[x] = row[nx - 1 - x] = 0;
        }
    return 0;
}

/* Adds the outer product of p (3 coordinates) to a symmetric 3x3 matrix stored as xx, yy, zz,
 * xy, xz, yz. */
static void cov_add(double cov[6], const double p[3])
{
    cov[0] += p[0] * p[0];
    cov[1] += p[1] * p[1];
    cov[2] += p[2] * p[2];
    cov[3] += p[0] * p[1];
    cov[4] += p[0] * p[2];
    cov[5] += p[1] * p[2];
}

/* The moment ellipsoid of a mask (centre and axes in ROI millimetres). */
typedef struct Ell {
    double mu[3], vec[3][3], semi[3];
} Ell;

static void roi_pos_mm(const Roi *r, const double sp[3], size_t j, double p[3])
{
    p[0] = (double)(j % r->n[0]) * sp[0];
    p[1] = (double)((j / r->n[0]) % r->n[1]) * sp[1];
    p[2] = (double)(j / (r->n[0] * r->n[1])) * sp[2];
}

/* 0 when the mask has fewer than 4 voxels. */
static int ellipsoid_of(const Roi *r, const double sp[3], const uint8_t *mask, Ell *e)
{
    size_t nr = r->n[0] * r->n[1] * r->n[2], n = 0;
    double cov[6] = {0, 0, 0, 0, 0, 0}, p[3];
    memset(e, 0, sizeof *e);
    for (size_t j = 0; j < nr; j++)
        if (mask[j]) {
            roi_pos_mm(r, sp, j, p);
            for (int a = 0; a < 3; a++)
                e->mu[a] += p[a];
            n++;
        }
    if (n < 4)
        return 0;
    for (int a = 0; a < 3; a++)
        e->mu[a] /= (double)n;
    for (size_t j = 0; j < nr; j++)
        if (mask[j]) {
            roi_pos_mm(r, sp, j, p);
            for (int a = 0; a < 3; a++)
                p[a] -= e->mu[a];
            cov_add(cov, p);
        }
    for (int a = 0; a < 6; a++)
        cov[a] /= (double)n;
    /* voxel centres: each voxel also spans its own extent */
    for (int a = 0; a < 3; a++)
        cov[a] += sp[a] * sp[a] / 12.0;
    double ev[3];
    rn_image_sym3_eigenvalues(cov, ev);
    for (int k = 0; k < 3; k++) {
        rn_image_sym3_eigenvector(cov, ev[k], e->vec[k]);
        /* a solid ellipsoid of semi-axis a has variance a^2 / 5 along it */
        e->semi[k] = sqrt(5.0 * fabs(ev[k]));
    }
    return 1;
}

/* (Scaled distance)^2 of ROI voxel j from the ellipsoid's centre, the voxel first moved towards
 * the centre by margin[] (mm, per axis of the ROI): <= 1 inside the enlarged ellipsoid. */
static double ell_q(const Ell *e, const Roi *r, const double sp[3], size_t j,
                    const double margin[3])
{
    double p[3], q = 0;
    roi_pos_mm(r, sp, j, p);
    for (int a = 0; a < 3; a++) {
        p[a] -= e->mu[a];
        p[a] = p[a] > 0 ? fmax(0, p[a] - margin[a]) : fmin(0, p[a] + margin[a]);
    }
    for (int k = 0; k < 3; k++) {
        double t = (p[0] * e->vec[k][0] + p[1] * e->vec[k][1] + p[2] * e->vec[k][2]) /
                   fmax(e->semi[k], 1e-6);
        q += t * t;
    }
    return q;
}

/* Adds to wk->allowed the voxels of wk->orig inside the moment ellipsoid of wk->low, each
 * semi-axis enlarged in-plane by px_margin pixels (half a slice along z); the ellipsoid is
 * returned in *e (unenlarged). 0 when wk->low is too small to have one. On the wall (contact),
 * a voxel may be denser than the nodule by the wall's blur: the layer of a ground-glass nodule
 * that touches the wall reads -460 to -530 HU for a nodule of -600 (seed 10's 5.6 mm N02, its
 * cap -520 HU: the layer stayed out and the nodule read -9.5 % at 1.25 mm). There the cap is
 * at least halfway from the nodule's median to soft tissue, which still keeps the wall out. */
static int restore_in_ellipsoid(Work *wk, const Roi *r, double px_margin, bool contact, Ell *e)
{
    /* no denser than the nodule itself: a vessel on a ground-glass nodule is not restored */
    size_t nv = 0;
    size_t nr = r->n[0] * r->n[1] * r->n[2];
    for (size_t j = 0; j < nr; j++)
        if (wk->low[j])
            wk->vals[nv++] = roi_hu(wk, r, j);
    const double *sp = wk->w->spacing;
    if (nv < 4 || !ellipsoid_of(r, sp, wk->low, e))
        return 0;
    qsort(wk->vals, nv, sizeof *wk->vals, cmp_float);
    double hu_max = wk->vals[nv * 95 / 100] + RESTORE_HU_MARGIN;
    if (contact) /* halfway from the median to soft tissue */
        hu_max = fmax(hu_max, 0.5 * (wk->vals[nv / 2] + SMALL_SOLID_REF_HU));
    /* the margin: px_margin pixels in-plane, half a slice along z */
    double margin[3] = {px_margin * sp[0], px_margin * sp[1], 0.5 * sp[2]};
    for (size_t j = 0; j < nr; j++) {
        if (!wk->orig[j] || wk->allowed[j])
            continue;
        if (ell_q(e, r, sp, j, margin) <= 1.0 && roi_hu(wk, r, j) <= hu_max)
            wk->allowed[j] = 1;
    }
    return 1;
}

/* A vessel cut off a nodule: axis point mu, direction u, followed over [lo, hi] along u
 * (mm from mu), half-maximum radius rv. */
typedef struct Cyl {
    double mu[3], u[3], lo, hi, rv;
} Cyl;

#define MAX_CUT_VESSELS 8

/* Distance^2 (mm^2) of ROI voxel j from the cylinder's axis, or a huge value where j lies
 * beyond the followed stretch. */
static double cyl_d2(const Cyl *cy, const Roi *r, const double sp[3], size_t j)
{
    double p[3];
    roi_pos_mm(r, sp, j, p);
    double q[3] = {p[0] - cy->mu[0], p[1] - cy->mu[1], p[2] - cy->mu[2]};
    double t = q[0] * cy->u[0] + q[1] * cy->u[1] + q[2] * cy->u[2];
    if (t < cy->lo || t > cy->hi)
        return 1e30;
    double d2 = 0;
    for (int a = 0; a < 3; a++)
        d2 += (q[a] - t * cy->u[a]) * (q[a] - t * cy->u[a]);
    return d2;
}

/* 1 when ROI voxel j has a 6-neighbour where regions do not grow in the lungs (the pleural
 * rim, the wall, outside the lungs). */
static int next_to_wall(const Work *wk, const Roi *r, size_t j)
{
    size_t nx = wk->w->nx, ny = wk->w->ny, nz = wk->w->nz;
    size_t x = j % r->n[0] + r->lo[0], y = (j / r->n[0]) % r->n[1] + r->lo[1],
           z = j / (r->n[0] * r->n[1]) + r->lo[2];
    if (x == 0 || y == 0 || z == 0 || x + 1 >= nx || y + 1 >= ny || z + 1 >= nz)
        return 1;
    size_t gi = rn_image_index(nx, ny, x, y, z), st[3] = {1, nx, nx * ny};
    for (int a = 0; a < 3; a++)
        if (!wk->grow[gi - st[a]] || !wk->grow[gi + st[a]])
            return 1;
    return 0;
}

/* The voxel of mask nearest ROI voxel j (SIZE_MAX when the mask is empty); *d2: its distance
 * squared (mm^2). */
static size_t nearest_in(const Roi *r, const double sp[3], const uint8_t *mask, size_t j,
                         double *d2)
{
    size_t nr = r->n[0] * r->n[1] * r->n[2], best = SIZE_MAX;
    *d2 = 1e30;
    for (size_t k = 0; k < nr; k++) {
        double d = mask[k] ? roi_dist2(r, sp, k, j) : 1e30;
        if (d < *d2) {
            *d2 = d;
            best = k;
        }
    }
    return best;
}

/* The ROI voxel nearest point p (ROI mm); SIZE_MAX outside the ROI. */
static size_t voxel_at(const Roi *r, const double sp[3], const double p[3])
{
    size_t ix[3];
    for (int a = 0; a < 3; a++) {
        long v = lround(p[a] / sp[a]);
        if (v < 0 || v >= (long)r->n[a])
            return SIZE_MAX;
        ix[a] = (size_t)v;
    }
    return roi_index(r, ix[0], ix[1], ix[2]);
}

/* The ROI voxel nearest the point reflection of voxel j through mu (mm); SIZE_MAX outside. */
static size_t mirror_voxel(const Roi *r, const double sp[3], size_t j, const double mu[3])
{
    double p[3];
    roi_pos_mm(r, sp, j, p);
    for (int a = 0; a < 3; a++)
        p[a] = 2.0 * mu[a] - p[a];
    return voxel_at(r, sp, p);
}

/* The ROI voxels round the point reflection of voxel j through mu (mm) that lie outside the
 * cylinders' zone, in k, with their trilinear shares; returns how many (at most 8). */
static int clear_reflection(const Work *wk, const Roi *r, const double sp[3], size_t j,
                            const double mu[3], size_t k[8], double share[8])
{
    double p[3], f[3];
    long i0[3];
    int n = 0;
    roi_pos_mm(r, sp, j, p);
    for (int a = 0; a < 3; a++) {
        double v = (2.0 * mu[a] - p[a]) / sp[a];
        i0[a] = (long)floor(v);
        f[a] = v - (double)i0[a];
    }
    for (int c = 0; c < 8; c++) {
        long ix[3];
        double sh = 1;
        bool inside = true;
        for (int a = 0; a < 3; a++) {
            int hi = (c >> a) & 1;
            ix[a] = i0[a] + hi;
            sh *= hi ? f[a] : 1.0 - f[a];
            inside = inside && ix[a] >= 0 && ix[a] < (long)r->n[a];
        }
        if (!inside)
            continue;
        size_t q = roi_index(r, (size_t)ix[0], (size_t)ix[1], (size_t)ix[2]);
        if (wk->vessel[q])
            continue;
        k[n] = q;
        share[n++] = sh;
    }
    return n;
}

/* The weight field wts read at the point reflection of voxel j through mu (mm), interpolated
 * trilinearly over the 8 voxels round it that lie outside the cylinders' zone (their shares
 * renormalised); *near: the nearest of them, for the uncertainty's bookkeeping. Returns false
 * where none of them is outside the zone or inside the ROI. The nearest voxel alone shifted
 * the whole reflected set by the same fraction of a voxel (the reflection's offset from the
 * grid is one for every voxel): up to half a voxel outwards or inwards, which on a 6.4 mm
 * ground-glass nodule on a vessel (seed 14, 1.25 mm) lost 4 mm3 of its cap. */
static bool mirror_weight(const Work *wk, const Roi *r, const double sp[3], const float *wts,
                          size_t j, const double mu[3], double *weight, size_t *near)
{
    size_t k[8];
    double share[8], sw = 0, sv = 0, best = -1;
    int n = clear_reflection(wk, r, sp, j, mu, k, share);
    *near = SIZE_MAX;
    for (int i = 0; i < n; i++) {
        sw += share[i];
        sv += share[i] * wts[k[i]];
        if (share[i] > best) {
            best = share[i];
            *near = k[i];
        }
    }
    if (sw < 1e-6)
        return false;
    *weight = sv / sw;
    return true;
}

/* The share of the point reflection of voxel j through mu (mm) that lies outside the zone:
 * the trilinear shares of the 8 voxels round it that are outside it (in the ROI). The centre
 * of the symmetric completion weighs each voxel by it: counted whole where its nearest voxel
 * was outside, the set lost or kept a sliver along the zone's reflection by the offset of the
 * reflection from the grid (the same for every voxel), and the centre moved by a tenth of a
 * voxel (seed 14's 6.4 mm ground-glass nodule at 1.25 mm: 0.15 mm from the truth, away from
 * its vessel; -3.2 %, -1.3 % with the shares). */
static double mirror_clear_share(const Work *wk, const Roi *r, const double sp[3], size_t j,
                                 const double mu[3])
{
    size_t k[8];
    double share[8], clear = 0;
    int n = clear_reflection(wk, r, sp, j, mu, k, share);
    for (int i = 0; i < n; i++)
        clear += share[i];
    return clear;
}

/* The nodule under the vessels that run along it. The opened region keeps some of a vessel
 * where it meets the nodule, and its moment ellipsoid leans towards the vessel (a 5.8 mm
 * nodule on a 2.8 mm vessel read +19 %). A nodule is centrally symmetric: its voxels outside
 * the cylinders' zone (wk->vessel) are its own, and a voxel inside the zone is the nodule's
 * where its reflection through the centre is one of them (the cap the vessel covers mirrors
 * the nodule's far side; the vessel beside it mirrors parenchyma). Both sets are taken at the
 * nodule's own half maximum: the region was grown at a threshold that a first region holding
 * the vessel set (lower, so the region is larger than the nodule, and a vessel voxel beside
 * it would mirror into that margin). The centre is the mean of the nodule's own voxels whose
 * reflection lies outside the zone too, each by the share of its reflection that does
 * (mirror_clear_share), from three rounds: that set is symmetric about the
 * true centre, while the completed set takes in what of the vessel lies beyond the zone and
 * drew the centre 0.34 mm towards the vessel (the reflection then read the nodule's far side
 * too close in, +4.9 mm3 on that nodule at 1.25 mm). *e: the moment ellipsoid of the
 * completed set, its centre e->mu set to that centre. 0 when the zone holds two thirds of
 * the region or the centre (a vessel through the nodule): the caller keeps the opened
 * region's ellipsoid. (The zone of a vessel followed on both sides of a small prior nodule
 * held 56 % of its region.) Uses wk->allowed and wk->low. */
static int symmetric_nodule(Work *wk, const Roi *r, double P, Ell *e)
{
    const double *sp = wk->w->spacing;
    size_t nr = r->n[0] * r->n[1] * r->n[2], nreg = 0, nout = 0, k;
    for (size_t j = 0; j < nr; j++) {
        nreg += wk->region[j];
        if (wk->region[j] && !wk->vessel[j])
            wk->vals[nout++] = roi_hu(wk, r, j);
    }
    if (nout * 3 < nreg || nout < 8)
        return 0;
    qsort(wk->vals, nout, sizeof *wk->vals, cmp_float);
    double half = P + 0.5 * (wk->vals[nout * 9 / 10] - P), mu[3] = {0, 0, 0}, p[3];
    size_t n = 0;
    for (size_t j = 0; j < nr; j++) {
        wk->allowed[j] = wk->region[j] && !wk->vessel[j] && roi_hu(wk, r, j) >= half;
        if (wk->allowed[j]) {
            roi_pos_mm(r, sp, j, p);
            for (int a = 0; a < 3; a++)
                mu[a] += p[a];
            n++;
        }
    }
    if (n < 8)
        return 0;
    for (int a = 0; a < 3; a++)
        mu[a] /= (double)n;
    for (int round = 0; round < 3; round++) {
        size_t c = voxel_at(r, sp, mu);
        double m2[3] = {0, 0, 0}, sw = 0;
        if (c == SIZE_MAX || wk->vessel[c])
            return 0;
        n = 0;
        for (size_t j = 0; j < nr; j++) {
            if (!wk->allowed[j])
                continue;
            double w = mirror_clear_share(wk, r, sp, j, mu);
            if (w <= 0)
                continue;
            roi_pos_mm(r, sp, j, p);
            for (int a = 0; a < 3; a++)
                m2[a] += w * p[a];
            sw += w;
            n++;
        }
        if (!n)
            return 0;
        for (int a = 0; a < 3; a++)
            mu[a] = m2[a] / sw;
    }
    k = voxel_at(r, sp, mu);
    if (k == SIZE_MAX || wk->vessel[k])
        return 0;
    for (size_t j = 0; j < nr; j++)
        wk->low[j] = wk->allowed[j] ||
                     (wk->region[j] && roi_hu(wk, r, j) >= half &&
                      (k = mirror_voxel(r, sp, j, mu)) != SIZE_MAX && wk->allowed[k]);
    if (!ellipsoid_of(r, sp, wk->low, e))
        return 0;
    memcpy(e->mu, mu, sizeof mu);
    return 1;
}

/* Vessels cut off a nodule by the opening: the pieces of the region before the opening
 * (wk->orig) that are not in it now (wk->region), long and thinner than the nodule (inscribed
 * radius r_in). Each piece's axis is fitted near the nodule (principal axis of its voxels
 * within VESSEL_FIT_MM of the ellipsoid's surface) and its radius is its cross-section
 * (voxels / length). The cylinder is followed from the piece to the point of the axis nearest
 * the nodule's centre (a vessel along the nodule is cut on both sides, one ending at it on
 * one). A piece along the wall (a juxtapleural nodule's contact) is not a vessel. Marks in
 * wk->vessel the voxels outside the nodule's ellipsoid *e within a cylinder's radius plus
 * VESSEL_RIM_PX pixels (its partial-volume rim): they are the vessel's, not the nodule's,
 * which ends at its ellipsoid. Uses wk->allowed and wk->queue. Returns the number of vessels
 * followed. */
static int vessel_cylinders(Work *wk, const Roi *r, const Ell *e, double r_in, double P)
{
    const double *sp = wk->w->spacing;
    size_t nr = r->n[0] * r->n[1] * r->n[2];
    double vox = sp[0] * sp[1] * sp[2], zero[3] = {0, 0, 0}, p[3];
    double reach = 0;
    for (int k = 0; k < 3; k++)
        reach = e->semi[k] > reach ? e->semi[k] : reach;
    reach += VESSEL_FIT_MM;
    for (size_t j = 0; j < nr; j++)
        wk->allowed[j] = wk->orig[j] && !wk->region[j];
    Cyl cyl[MAX_CUT_VESSELS];
    int found = 0;
    for (size_t j0 = 0; j0 < nr && found < MAX_CUT_VESSELS; j0++) {
        if (!wk->allowed[j0])
            continue;
        size_t n = grow(r, wk->allowed, j0, wk->vessel, wk->queue);
        for (size_t i = 0; i < n; i++)
            wk->allowed[wk->queue[i]] = 0;
        /* the piece near the nodule */
        Cyl *cy = &cyl[found];
        double cov[6] = {0, 0, 0, 0, 0, 0};
        size_t m = 0, walled = 0;
        memset(cy, 0, sizeof *cy);
        for (size_t i = 0; i < n; i++) {
            roi_pos_mm(r, sp, wk->queue[i], p);
            double d2 = 0;
            for (int a = 0; a < 3; a++)
                d2 += (p[a] - e->mu[a]) * (p[a] - e->mu[a]);
            if (d2 > reach * reach)
                continue;
            wk->queue[m++] = wk->queue[i];
            for (int a = 0; a < 3; a++)
                cy->mu[a] += p[a];
            walled += next_to_wall(wk, r, wk->queue[i]);
        }
        if (m < 8 || walled * 5 > m)
            continue;
        for (int a = 0; a < 3; a++)
            cy->mu[a] /= (double)m;
        for (size_t i = 0; i < m; i++) {
            roi_pos_mm(r, sp, wk->queue[i], p);
            for (int a = 0; a < 3; a++)
                p[a] -= cy->mu[a];
            cov_add(cov, p);
        }
        double ev[3];
        rn_image_sym3_eigenvalues(cov, ev);
        rn_image_sym3_eigenvector(cov, ev[0], cy->u);
        double tmin = 1e30, tmax = -1e30;
        for (size_t i = 0; i < m; i++) {
            roi_pos_mm(r, sp, wk->queue[i], p);
            double t = (p[0] - cy->mu[0]) * cy->u[0] + (p[1] - cy->mu[1]) * cy->u[1] +
                       (p[2] - cy->mu[2]) * cy->u[2];
            tmin = t < tmin ? t : tmin;
            tmax = t > tmax ? t : tmax;
        }
        double len = tmax - tmin + sp[0];
        cy->rv = sqrt((double)m * vox / (M_PI * len));
        /* a tube: long for its width, and thinner than the nodule */
        if (len < 3.0 * cy->rv || len < 2.0 || cy->rv >= VESSEL_MAX_SHARE * r_in)
            continue;
        /* from the piece's far end to the axis point nearest the nodule's centre */
        double tc = (e->mu[0] - cy->mu[0]) * cy->u[0] + (e->mu[1] - cy->mu[1]) * cy->u[1] +
                    (e->mu[2] - cy->mu[2]) * cy->u[2];
        cy->lo = tc < tmin ? tc : tmin;
        cy->hi = tc > tmax ? tc : tmax;
        found++;
    }
    /* One vessel along the nodule is cut on both sides: its two pieces are short, and the
     * axis of each, fitted alone, was 4-9 degrees off on seed 5's 5.8 mm nodule, enough to
     * leave the vessel under the nodule (0.9 mm off the axis there) outside its zone. Two
     * pieces in line (each one's axis within VESSEL_MERGE_COS of the line through both
     * centroids) are one cylinder on that line, over both pieces. */
    for (int a = 0; a < found; a++)
        for (int b = a + 1; b < found; b++) {
            double dv[3], L = 0, ca = 0, cb = 0;
            for (int k = 0; k < 3; k++) {
                dv[k] = cyl[b].mu[k] - cyl[a].mu[k];
                L += dv[k] * dv[k];
            }
            L = sqrt(L);
            if (L < 1e-6)
                continue;
            for (int k = 0; k < 3; k++) {
                dv[k] /= L;
                ca += dv[k] * cyl[a].u[k];
                cb += dv[k] * cyl[b].u[k];
            }
            if (fabs(ca) < VESSEL_MERGE_COS || fabs(cb) < VESSEL_MERGE_COS)
                continue;
            Cyl m = {.rv = 0.5 * (cyl[a].rv + cyl[b].rv), .lo = 1e30, .hi = -1e30};
            memcpy(m.mu, cyl[a].mu, sizeof m.mu);
            memcpy(m.u, dv, sizeof m.u);
            const Cyl *pc[2] = {&cyl[a], &cyl[b]};
            for (int q = 0; q < 2; q++)
                for (int end = 0; end < 2; end++) {
                    double t0 = end ? pc[q]->hi : pc[q]->lo, t = 0;
                    for (int k = 0; k < 3; k++)
                        t += (pc[q]->mu[k] + t0 * pc[q]->u[k] - m.mu[k]) * m.u[k];
                    m.lo = t < m.lo ? t : m.lo;
                    m.hi = t > m.hi ? t : m.hi;
                }
            cyl[a] = m;
            cyl[b] = cyl[--found];
            b = a;
        }
    memset(wk->vessel, 0, nr);
    if (!found)
        return 0;
    /* the cylinders' zone: each vessel with its partial-volume rim */
    for (size_t j = 0; j < nr; j++)
        for (int k = 0; k < found && !wk->vessel[j]; k++) {
            double rad = cyl[k].rv + VESSEL_RIM_PX * sp[0];
            wk->vessel[j] = cyl_d2(&cyl[k], r, sp, j) <= rad * rad;
        }
    /* the nodule ends at its symmetric completion's ellipsoid, on thin slices: a reflection
     * through the centre lands within half a slice, which on 2.5 mm slices moved a prior
     * of 7.6 mm from +4 to -4 % (and its VDT out of 10 %) */
    Ell es;
    wk->sym_ok = sp[2] <= STRONG_MAX_SLICE_MM && symmetric_nodule(wk, r, P, &es);
    if (wk->sym_ok) {
        e = &es;
        memcpy(wk->sym_mu, es.mu, sizeof wk->sym_mu);
    }
    for (size_t j = 0; j < nr; j++)
        if (wk->vessel[j])
            wk->vessel[j] = ell_q(e, r, sp, j, zero) > 1.0 ? VESSEL_OUT
                            : wk->sym_ok                    ? VESSEL_IN
                                                            : 0;
    return found;
}

static size_t cpos_roi(const Roi *r, const Cand *c)
{
    return roi_index(r, c->x - r->lo[0], c->y - r->lo[1], c->z - r->lo[2]);
}

/* A nodule against the pleura: its region grew in the lung mask less the pleural rim, so the
 * slab of the nodule within the rim (1.5 pixels next to the wall) is missing, up to a fifth of
 * a small juxtapleural nodule's volume. The rim voxels at or above the threshold T that lie in
 * the region's moment ellipsoid, enlarged by half a pixel, come back: the nodule ends at the
 * wall, while the wall's own partial volume next to it, outside the ellipsoid, stays out (the
 * reason for the rim). With the ellipsoid enlarged by the rim's whole width (1.5 pixels), the
 * wall's partial volume beside the contact came back too: small juxtapleural nodules read
 * +4 to +10 %, and more in the smaller prior. Returns the number of voxels restored. */
static size_t restore_pleural_rim(Work *wk, const Roi *r, double T, size_t seed)
{
    size_t nx = wk->w->nx, ny = wk->w->ny, nr = r->n[0] * r->n[1] * r->n[2];
    size_t n = 0, touching = 0;
    for (size_t j = 0; j < nr; j++) {
        size_t x = j % r->n[0], y = (j / r->n[0]) % r->n[1], z = j / (r->n[0] * r->n[1]);
        size_t gi = rn_image_index(nx, ny, x + r->lo[0], y + r->lo[1], z + r->lo[2]);
        wk->orig[j] = wk->lung[gi] && !wk->grow[gi] && !wk->region[j] && wk->w->data[gi] >= T &&
                      !wk->claimed[gi];
        wk->low[j] = wk->region[j];
        n += wk->region[j];
    }
    for (size_t j = 0; j < nr && !touching; j++) {
        if (!wk->orig[j])
            continue;
        size_t x = j % r->n[0], y = (j / r->n[0]) % r->n[1];
        touching = (x > 0 && wk->region[j - 1]) || (x + 1 < r->n[0] && wk->region[j + 1]) ||
                   (y > 0 && wk->region[j - r->n[0]]) ||
                   (y + 1 < r->n[1] && wk->region[j + r->n[0]]);
    }
    if (!touching || n < 4)
        return 0;
    memcpy(wk->allowed, wk->region, nr);
    Ell e;
    restore_in_ellipsoid(wk, r, RIM_RESTORE_PX, true, &e);
    size_t m = grow(r, wk->allowed, seed, wk->region, wk->queue);
    return m > n ? m - n : 0;
}

/* The share of wk->region's voxels at least depth_mm from its boundary (in wk->dist), or a
 * negative error code. */
static double bulk_share(Work *wk, const Roi *r, double depth_mm, RnError *err)
{
    RnMask m = {.nx = r->n[0], .ny = r->n[1], .nz = r->n[2], .data = wk->region};
    memcpy(m.spacing, wk->w->spacing, sizeof m.spacing);
    int rc = rn_image_distance_sq(&m, 0, wk->dist, err);
    if (rc)
        return rc;
    size_t nr = r->n[0] * r->n[1] * r->n[2], n = 0, deep = 0;
    for (size_t j = 0; j < nr; j++)
        if (wk->region[j]) {
            n++;
            deep += wk->dist[j] >= depth_mm * depth_mm;
        }
    return n ? (double)deep / (double)n : 0;
}

/* Removes from wk->region the solid (>= SOLID_HU) structures that enter it and continue
 * outside it, with one in-plane voxel of rim; wk->allowed becomes the remaining region and
 * *seed a voxel of it (the nearest to `centre`). Returns 1 when something was removed, 0 when
 * not, -1 when nothing of the region is left. */
static long cut_dense_passages(Work *wk, const Roi *r, size_t *seed, size_t centre)
{
    const double *sp = wk->w->spacing;
    size_t nr = r->n[0] * r->n[1] * r->n[2];
    uint8_t *solid = wk->allowed, *comp = wk->low, *cut = wk->orig;
    for (size_t j = 0; j < nr; j++) {
        solid[j] = wk->aux[j] && roi_hu(wk, r, j) >= SOLID_HU;
        cut[j] = 0;
    }
    bool any = false;
    for (size_t j = 0; j < nr; j++) {
        if (!wk->region[j] || !solid[j] || cut[j] == 2)
            continue;
        size_t n = grow(r, solid, j, comp, wk->queue);
        bool outside = false;
        for (size_t k = 0; k < n; k++) {
            outside |= !wk->region[wk->queue[k]];
            cut[wk->queue[k]] = 2; /* visited */
        }
        if (!outside)
            continue;
        any = true;
        for (size_t k = 0; k < n; k++)
            cut[wk->queue[k]] = 3;
    }
    if (!any)
        return 0;
    memcpy(wk->allowed, wk->region, nr);
    for (size_t j = 0; j < nr; j++) {
        if (!wk->region[j])
            continue;
        size_t x = j % r->n[0], y = (j / r->n[0]) % r->n[1];
        bool near = false;
        for (int dy = -1; dy <= 1 && !near; dy++)
            for (int dx = -1; dx <= 1 && !near; dx++) {
                long xx = (long)x + dx, yy = (long)y + dy;
                if (xx >= 0 && yy >= 0 && xx < (long)r->n[0] && yy < (long)r->n[1])
                    near = cut[(size_t)((long)j + dy * (long)r->n[0] + dx)] == 3;
            }
        if (near)
            wk->allowed[j] = 0;
    }
    size_t best = SIZE_MAX;
    double bd = 1e30;
    for (size_t j = 0; j < nr; j++)
        if (wk->allowed[j]) {
            double d = roi_dist2(r, sp, j, centre);
            if (d < bd) {
                bd = d;
                best = j;
            }
        }
    if (best == SIZE_MAX)
        return -1;
    *seed = best;
    return 1;
}

/* Density (HU) of a small nodule in wk->region, partial-volume aware. The nodule is taken as a
 * sphere of the radius of its largest cross-section (in-plane sizes are reliable; the slice
 * thickness is not); the slab holding its centroid is filled by its chord only over part of the
 * thickness (a 4 mm sphere centred on a slice boundary fills 0.8 of each 2.5 mm slab), and the
 * contrast of the central voxels is divided by that share. Mi is returned when it is higher.
 * *var_unit (may be NULL): the estimate's variance per unit of the noise's, where it is not Mi
 * (0 where it is). */
static double partial_volume_density(Work *wk, const Roi *r, double P, double Mi,
                                     double *var_unit)
{
    const double *sp = wk->w->spacing;
    size_t nxy = r->n[0] * r->n[1], nr = nxy * r->n[2];
    double c[3] = {0, 0, 0}, n = 0;
    size_t best_area = 0;
    for (size_t z = 0; z < r->n[2]; z++) {
        size_t area = 0;
        for (size_t k = 0; k < nxy; k++)
            area += wk->region[z * nxy + k];
        best_area = area > best_area ? area : best_area;
    }
    for (size_t j = 0; j < nr; j++)
        if (wk->region[j]) {
            c[0] += (double)(j % r->n[0]);
            c[1] += (double)((j / r->n[0]) % r->n[1]);
            c[2] += (double)(j / nxy);
            n += 1;
        }
    if (var_unit)
        *var_unit = 0;
    if (n < 1 || !best_area)
        return Mi;
    for (int a = 0; a < 3; a++)
        c[a] /= n;
    double R = sqrt((double)best_area * sp[0] * sp[1] / M_PI);
    size_t zc = (size_t)lround(c[2]);
    zc = zc < r->n[2] ? zc : r->n[2] - 1;
    /* central voxels: within R/2 of the centroid on that slab; chord at R/3 from the axis */
    double sum = 0;
    size_t cnt = 0;
    for (size_t k = 0; k < nxy; k++) {
        size_t j = zc * nxy + k;
        if (!wk->region[j])
            continue;
        double dx = ((double)(k % r->n[0]) - c[0]) * sp[0];
        double dy = ((double)(k / r->n[0]) - c[1]) * sp[1];
        if (dx * dx + dy * dy <= 0.25 * R * R) {
            sum += roi_hu(wk, r, j);
            cnt++;
        }
    }
    if (!cnt)
        return Mi;
    double core = sum / (double)cnt;
    double h = R * sqrt(1.0 - 1.0 / 9.0);
    double zcen = c[2] * sp[2], lo = ((double)zc - 0.5) * sp[2], hi = ((double)zc + 0.5) * sp[2];
    double cover = fmin(hi, zcen + h) - fmax(lo, zcen - h);
    double f = cover / sp[2];
    f = f < 0.25 ? 0.25 : f > 1 ? 1 : f;
    double D = P + (core - P) / f;
    D = D > DENSITY_MAX_HU ? DENSITY_MAX_HU : D;
    if (var_unit && D > Mi)
        *var_unit = 1.0 / ((double)cnt * f * f);
    return D > Mi ? D : Mi;
}

/* wk->dist2: each ROI voxel's squared distance (mm^2) to the outside of wk->region. */
static int region_depth_sq(Work *wk, const Roi *r, RnError *err)
{
    RnMask cm = {.nx = r->n[0], .ny = r->n[1], .nz = r->n[2], .data = wk->region};
    memcpy(cm.spacing, wk->w->spacing, sizeof cm.spacing);
    return rn_image_distance_sq(&cm, 0, wk->dist2, err);
}

/* The LEVEL_MIN_VOXELS-th highest wk->dist2 over wk->region (wk->vals is scratch), or -1 when
 * the region holds fewer voxels. */
static float nth_deepest(Work *wk, const Roi *r)
{
    size_t nr = r->n[0] * r->n[1] * r->n[2], nf = 0;
    for (size_t j = 0; j < nr; j++)
        if (wk->region[j])
            wk->vals[nf++] = wk->dist2[j];
    if (nf < LEVEL_MIN_VOXELS)
        return -1.0f;
    qsort(wk->vals, nf, sizeof *wk->vals, cmp_float);
    return wk->vals[nf - LEVEL_MIN_VOXELS];
}

/* subsolid_level's first two rules (wk->dist holds the squared distance to the core where
 * core is set): the number of voxels read, 0 when too few lie far enough, or a negative error
 * code. */
static long far_level(Work *wk, const Roi *r, bool core, double f, double *level, RnError *err)
{
    size_t nr = r->n[0] * r->n[1] * r->n[2], nf = 0;
    int rc = region_depth_sq(wk, r, err); /* the squared depth, then score */
    if (rc)
        return rc;
    for (size_t j = 0; j < nr; j++) {
        if (!wk->region[j])
            continue;
        if (core)
            wk->dist2[j] = fminf(wk->dist2[j], wk->dist[j] - (float)CORE_BLUR_MM2);
        if (wk->dist2[j] >= (float)(LEVEL_DEPTH_MM * LEVEL_DEPTH_MM * f * f))
            wk->vals[nf++] = roi_hu(wk, r, j);
    }
    if (nf >= LEVEL_MIN_VOXELS) {
        *level = median_of(wk->vals, nf);
        return (long)nf;
    }
    float cut = nth_deepest(wk, r);
    if (cut < 0 || cut < (float)(LEVEL_MIN_DEPTH_MM * LEVEL_MIN_DEPTH_MM * f * f))
        return 0;
    nf = 0;
    for (size_t j = 0; j < nr; j++)
        if (wk->region[j] && wk->dist2[j] >= cut)
            wk->vals[nf++] = roi_hu(wk, r, j);
    *level = median_of(wk->vals, nf);
    return (long)nf;
}

/* The level of a small ground-glass nodule in a blurry image, where no LEVEL_MIN_VOXELS of it
 * lie deep enough for subsolid_level's scaled rules: its LEVEL_MIN_VOXELS deepest voxels, each
 * corrected for the share (P - L) Phi(-d / sigma) that a blurred plane edge d mm away takes
 * from it (sigma: edge_width), where they lie at least one sigma deep. Returns the number of
 * voxels read (0: the level is not set), or a negative error code. */
static long deblurred_level(Work *wk, const Roi *r, double P, double sigma, double *level,
                            RnError *err)
{
    size_t nr = r->n[0] * r->n[1] * r->n[2], nf = 0;
    int rc = region_depth_sq(wk, r, err);
    if (rc)
        return rc;
    float cut = nth_deepest(wk, r);
    if (cut < 0 || cut < (float)(sigma * sigma))
        return 0;
    for (size_t j = 0; j < nr; j++)
        if (wk->region[j] && wk->dist2[j] >= cut) {
            double share = 1.0 - 0.5 * erfc(sqrt((double)wk->dist2[j]) / (sigma * M_SQRT2));
            wk->vals[nf++] = (float)(P + (roi_hu(wk, r, j) - P) / share);
        }
    *level = median_of(wk->vals, nf);
    return (long)nf;
}

/* The level of a subsolid nodule's tissue (its ground glass), read where the blur of neither
 * its edge nor its solid core (core: a part-solid nodule) reaches. The interior's median reads
 * low, pulled down by the blurred edge (seed 2's 5.3 mm ground-glass nodule: -611 HU for -600,
 * every partial-volume weight x 1.045, and the volume with them), and the median of the
 * interior voxels GG_CORE_DIST_MM from the core also, since those lie next to the edge.
 * The level is the median of the region's voxels at least LEVEL_DEPTH_MM from its outside and
 * from the core, where there are LEVEL_MIN_VOXELS; the core's squared distance counts
 * CORE_BLUR_MM2 less, as its contrast with the ground glass is 2-3 x the ground glass's with
 * the parenchyma. A thin ring of ground glass round a core has fewer (seed 1's 6.8 mm prior of
 * a 2.4 mm core): then the LEVEL_MIN_VOXELS farthest from both, where they lie at least
 * LEVEL_MIN_DEPTH_MM from both (a voxel one 1.25 mm slice from the core, which may share the
 * core's slab, scores 1.03 mm: seed 5's flat 8.6 mm part-solid nodule read -574 HU at 1.25 mm,
 * its volume -3.8 %, with 1.0 mm); failing that, for a part-solid nodule, the interior voxels
 * GG_CORE_DIST_MM from the core (GG_MIN_VOXELS of them). Slices thicker than LEVEL_DEPTH_MM
 * go to that last rule at once: one slice is then deep enough, while its slab holds the edge
 * as well as the interior (the fixed phantom's 9.2 mm ground-glass prior at 2.5 mm read
 * +3.7 %, its VDT +27 %). The two depths from the edge are scaled by f (1: the blur they were
 * set on; more for a blurrier image, see edge_width; only a ground-glass nodule is read
 * again so). Returns the number of voxels read (0: the level is not set), or a negative error
 * code. */
static long subsolid_level(Work *wk, const Roi *r, bool core, double f, double *level,
                           RnError *err)
{
    size_t nr = r->n[0] * r->n[1] * r->n[2];
    RnMask cm = {.nx = r->n[0], .ny = r->n[1], .nz = r->n[2], .data = wk->low};
    memcpy(cm.spacing, wk->w->spacing, sizeof cm.spacing);
    int rc;
    if (core) { /* wk->dist: the squared distance to the core */
        for (size_t j = 0; j < nr; j++)
            wk->low[j] = wk->region[j] && roi_hu(wk, r, j) >= SOLID_HU;
        rc = rn_image_distance_sq(&cm, 1, wk->dist, err);
        if (rc)
            return rc;
    }
    if (wk->w->spacing[2] <= LEVEL_DEPTH_MM) {
        long nf = far_level(wk, r, core, f, level, err);
        if (nf)
            return nf;
    }
    if (!core)
        return 0;
    size_t st[3] = {1, r->n[0], r->n[0] * r->n[1]}, nf = 0;
    for (size_t j = 0; j < nr; j++) {
        if (!wk->region[j] || wk->dist[j] < GG_CORE_DIST_MM * GG_CORE_DIST_MM)
            continue;
        size_t x = j % r->n[0], y = (j / r->n[0]) % r->n[1], z = j / st[2];
        if (!x || !y || !z || x + 1 >= r->n[0] || y + 1 >= r->n[1] || z + 1 >= r->n[2])
            continue;
        bool interior = true;
        for (int a = 0; a < 3 && interior; a++)
            interior = wk->region[j - st[a]] && wk->region[j + st[a]];
        if (interior)
            wk->vals[nf++] = roi_hu(wk, r, j);
    }
    if (nf < GG_MIN_VOXELS)
        return 0;
    *level = median_of(wk->vals, nf);
    return (long)nf;
}

/* The width of a subsolid nodule's blurred edge (mm): the volume between its iso-surfaces at a
 * quarter and three quarters of the contrast L - P, over the area of the one at half, in the
 * shell (wk->allowed) less the vessels' zones and the pleural rim; for a Gaussian blur, its
 * sigma (the 25-75 % rise spans 1.349 sigmas). On the phantoms (0.5 mm in-plane blur) it
 * reads 0.35-0.48 mm at 0.625 mm slices and 0.41-0.54 at 1.25 mm, where the slab adds its
 * own; 0.67-0.71 with a 0.8 mm blur and 0.36-0.40 with 0.35. 0 where the shell holds too
 * little. */
static double edge_width(const Work *wk, const Roi *r, double P, double L)
{
    size_t nx = wk->w->nx, ny = wk->w->ny, nr = r->n[0] * r->n[1] * r->n[2];
    size_t n25 = 0, n50 = 0, n75 = 0;
    for (size_t j = 0; j < nr; j++) {
        if (!wk->allowed[j] || wk->vessel[j])
            continue;
        size_t gi = rn_image_index(nx, ny, j % r->n[0] + r->lo[0],
                                   (j / r->n[0]) % r->n[1] + r->lo[1],
                                   j / (r->n[0] * r->n[1]) + r->lo[2]);
        if (!wk->grow[gi])
            continue;
        double hv = wk->w->data[gi];
        n25 += hv >= P + 0.25 * (L - P);
        n50 += hv >= P + 0.5 * (L - P);
        n75 += hv >= P + 0.75 * (L - P);
    }
    if (n50 < 8)
        return 0;
    const double *sp = wk->w->spacing;
    double vox = sp[0] * sp[1] * sp[2];
    double area = cbrt(36.0 * M_PI) * pow((double)n50 * vox, 2.0 / 3.0); /* a sphere's */
    return (double)(n25 - n75) * vox / (1.349 * area);
}

/* Removes from wk->region the slices beyond a neck of its area profile (see the caller), going
 * both ways from its widest slice; *seed moves into what is left. Returns the number of slices
 * removed. */
static size_t cut_at_necks(Work *wk, const Roi *r, size_t *seed)
{
    size_t nxy = r->n[0] * r->n[1], nz = r->n[2], zs = 0, removed = 0;
    size_t *area = wk->queue; /* nz entries; the queue is free here */
    for (size_t z = 0; z < nz; z++) {
        area[z] = 0;
        for (size_t k = 0; k < nxy; k++)
            area[z] += wk->region[z * nxy + k];
        if (area[z] > area[zs])
            zs = z; /* the widest slice: the mass, not what it leaked into, is the larger */
    }
    for (int dir = -1; dir <= 1; dir += 2) {
        size_t amin = area[zs], zmin = zs;
        bool cut = false;
        for (long z = (long)zs + dir; z >= 0 && z < (long)nz && !cut; z += dir) {
            size_t a = area[z];
            if (a < amin) {
                amin = a;
                zmin = (size_t)z;
            } else if ((double)a > MASS_NECK_RISE * (double)amin + 4.0) {
                cut = true;
            }
        }
        if (!cut)
            continue;
        for (long z = (long)zmin; z >= 0 && z < (long)nz; z += dir) {
            memset(wk->region + (size_t)z * nxy, 0, nxy);
            removed++;
        }
    }
    if (removed && !wk->region[*seed]) {
        size_t nr = nxy * nz, best = *seed;
        double bd = 1e30;
        for (size_t j = 0; j < nr; j++)
            if (wk->region[j]) {
                double d = roi_dist2(r, wk->w->spacing, j, *seed);
                if (d < bd) {
                    bd = d;
                    best = j;
                }
            }
        *seed = best;
    }
    return removed;
}

/* Training hook for the false-positive classifier (tools/phantom/train_fp.py): with
 * RN_LUNGCT_FEATURES set to a file, the rules decide and every detected candidate that reaches
 * the decision is appended to it (centre in scan voxels, the rules' decision, features). */
static const char *fp_log_path(void)
{
    const char *p = getenv("RN_LUNGCT_FEATURES");
    return p && *p ? p : NULL;
}

static void fp_log(const double f[RN_LUNGCT_NFEAT], double x, double y, double z, bool keep)
{
    FILE *fh = fopen(fp_log_path(), "a");
    if (!fh)
        return;
    fprintf(fh, "%.2f %.2f %.2f %d", x, y, z, keep ? 1 : 0);
    for (int k = 0; k < RN_LUNGCT_NFEAT; k++)
        fprintf(fh, " %.5g", f[k]);
    fputc('\n', fh);
    fclose(fh);
}

/* Thickness (inscribed radius, mm) of what a leaking region (wk->region) holds near the edge
 * of its search ball: the structure it leaked along. Negative on error. */
static double leak_thickness(Work *wk, const Roi *r, const Cand *c, double roi_mm, RnError *err)
{
    const double *sp = wk->w->spacing;
    size_t nr = r->n[0] * r->n[1] * r->n[2];
    RnMask m = {.nx = r->n[0], .ny = r->n[1], .nz = r->n[2], .data = wk->region};
    memcpy(m.spacing, sp, sizeof m.spacing);
    int rc = rn_image_distance_sq(&m, 0, wk->dist, err);
    if (rc)
        return rc;
    double edge = roi_mm - 1.5 * sp[0] - (sp[2] > 3 ? sp[2] : 0) - LEAK_BAND_MM, best = 0;
    for (size_t j = 0; j < nr; j++) {
        if (!wk->region[j] || wk->dist[j] >= 1e29f || wk->dist[j] <= best)
            continue;
        double dx = ((double)(j % r->n[0] + r->lo[0]) - (double)c->x) * sp[0];
        double dy = ((double)((j / r->n[0]) % r->n[1] + r->lo[1]) - (double)c->y) * sp[1];
        double dz = ((double)(j / (r->n[0] * r->n[1]) + r->lo[2]) - (double)c->z) * sp[2];
        if (dx * dx + dy * dy + dz * dz > edge * edge)
            best = wk->dist[j];
    }
    return sqrt(best);
}

/* Mean HU of the voxel's 3 x 3 neighbourhood in-plane, over slices z - dzr .. z + dzr. */
static double box_mean(const RnVolume *w, size_t x, size_t y, size_t z, int dzr)
{
    double s = 0;
    int n = 0;
    for (int dz = -dzr; dz <= dzr; dz++)
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                long xx = (long)x + dx, yy = (long)y + dy, zz = (long)z + dz;
                if (xx < 0 || yy < 0 || zz < 0 || xx >= (long)w->nx || yy >= (long)w->ny ||
                    zz >= (long)w->nz)
                    continue;
                s += w->data[rn_image_index(w->nx, w->ny, (size_t)xx, (size_t)yy, (size_t)zz)];
                n++;
            }
    return n ? s / n : -1000.0;
}

/* The noise's correlation factor round the nodule: the variance of a sum of n neighbouring
 * voxels over n times one voxel's (1 for white noise; about 2 for the phantom's noise shaped as
 * after filtered back-projection), from the autocorrelation of the parenchyma voxels
 * (wk->aux, not wk->allowed, below T; a found fissure's sheet removed) to CORR_XY pixels and
 * CORR_Z slices. Only voxels within CORR_NOISE_SDS noise SDs of the level take part: the blurred
 * edges of vessels and of the wall below T are structure, not noise, and with them a nodule
 * among vessels read 5-67 (white noise, 1.0 away from them). wk->vals is scratch. */
static double noise_correlation(Work *wk, const Roi *r, const size_t crop_lo[3], double T,
                                double level, double noise)
{
    size_t nr = r->n[0] * r->n[1] * r->n[2];
    float *v = wk->vals;
    double var = 0;
    size_t n = 0;
    for (size_t j = 0; j < nr; j++) {
        v[j] = NAN;
        double hv = roi_hu(wk, r, j);
        if (wk->aux[j] && !wk->allowed[j] && hv < T) {
            double u = hv - fissure_hu(wk, r, crop_lo, j) - level;
            if (fabs(u) > CORR_NOISE_SDS * noise)
                continue;
            v[j] = (float)u;
            var += u * u;
            n++;
        }
    }
    if (n < 100 || var <= 0)
        return 1.0;
    var /= (double)n;
    double k = 1.0;
    for (int dz = 0; dz <= CORR_Z; dz++)
        for (int dy = dz ? -CORR_XY : 0; dy <= CORR_XY; dy++)
            for (int dx = dz || dy ? -CORR_XY : 1; dx <= CORR_XY; dx++) {
                if (dz >= (int)r->n[2] || abs(dy) >= (int)r->n[1] || abs(dx) >= (int)r->n[0])
                    continue;
                double c = 0;
                size_t m = 0;
                for (size_t z = 0; z + (size_t)dz < r->n[2]; z++)
                    for (size_t y = (size_t)(dy < 0 ? -dy : 0);
                         y < r->n[1] - (size_t)(dy > 0 ? dy : 0); y++)
                        for (size_t x = (size_t)(dx < 0 ? -dx : 0);
                             x < r->n[0] - (size_t)(dx > 0 ? dx : 0); x++) {
                            size_t j = roi_index(r, x, y, z);
                            size_t q = roi_index(r, (size_t)((long)x + dx),
                                                 (size_t)((long)y + dy), z + (size_t)dz);
                            if (!isnan(v[j]) && !isnan(v[q])) {
                                c += (double)v[j] * v[q];
                                m++;
                            }
                        }
                if (m >= 50)
                    k += 2.0 * c / (double)m / var;
            }
    return k < 1.0 ? 1.0 : k;
}

/* The volume's SD: the noise's (measure()) and the method's own error, a share of the volume
 * in two parts: one at the nodule's surface, A / d for a nodule of equivalent diameter d (a
 * layer A / 6 mm thick), and a floor F, whatever the size; both by where the nodule lies and
 * what it is made of, on slices up to 1.25 mm, and in proportion to the slice beyond. They were
 * set on the phantoms of seeds 1-10 (0.625 and 1.25 mm, 15 HU; eval_lungct.py): A so that the
 * error lies within 1.96 SD in 95 % of each kind's measurements, F from the nodules of 10 mm
 * and more; they are checked on seeds 11-20 and on noisier phantoms (docs/lungct.md). A free
 * solid nodule's error is the noise's and F 0.05 %; a ground-glass one's F 0.5 %, A 0.02 mm; a
 * part-solid one's A 0.23 mm (the thin ring of ground glass round its core); one on the pleura
 * F 1.2 %, A 0.19 mm (where the wall's blur meets the nodule's); one on a vessel F 0.3 %,
 * A 0.15 mm (the vessel's zone; the gross failures of the smallest ones, 24-42 % at 4 mm, are
 * beyond any such term and stay outside the interval). */
static double volume_sd(const RnNodule *n, double slice_mm)
{
    double a = 0, f = ERR_FLOOR_SOLID;
    if (n->type != RN_NODULE_SOLID) {
        a = n->type == RN_NODULE_PART_SOLID ? SURFACE_ERR_PART_SOLID : SURFACE_ERR_GROUND_GLASS;
        f = ERR_FLOOR_SUBSOLID;
    }
    if (n->juxtapleural) {
        a = fmax(a, SURFACE_ERR_PLEURA);
        f = fmax(f, ERR_FLOOR_PLEURA);
    }
    if (n->juxtavascular) {
        a = fmax(a, SURFACE_ERR_VESSEL);
        f = fmax(f, ERR_FLOOR_VESSEL);
    }
    double d = cbrt(6.0 * n->volume_mm3 / M_PI);
    double sys = hypot(f, a / d) * fmax(1.0, slice_mm / 1.25) * n->volume_mm3;
    return hypot(n->volume_noise_sd_mm3, sys);
}

/* Returns 1 when kept (nodule filled), 0 when rejected, negative on error. */
static int measure(Work *wk, const Cand *c, const size_t crop_lo[3], int id, RnNodule *nd,
                   RnError *err)
{
    const RnVolume *w = wk->w;
    size_t nx = w->nx, ny = w->ny;
    const double *sp = w->spacing;
    double sigma = SCALES_MM[c->scale], r_est = sigma * sqrt(3.0);
    wk->lung = sigma >= MASS_SCALE_MM || wk->wide ? wk->lung30 : wk->lung10;
    wk->grow = sigma >= MASS_SCALE_MM || wk->wide ? wk->grow30 : wk->grow10;
    double roi_mm = 3.0 * r_est < 8.0 ? 8.0 : 3.0 * r_est;
    roi_mm = roi_mm > ROI_MAX_MM ? ROI_MAX_MM : roi_mm;
    Roi r;
    size_t cpos[3] = {c->x, c->y, c->z}, wn[3] = {w->nx, w->ny, w->nz};
    for (int a = 0; a < 3; a++) {
        size_t h = (size_t)ceil(roi_mm / sp[a]);
        r.lo[a] = cpos[a] > h ? cpos[a] - h : 0;
        size_t hi = cpos[a] + h + 1 < wn[a] ? cpos[a] + h + 1 : wn[a];
        r.n[a] = hi - r.lo[a];
    }
    size_t nr = r.n[0] * r.n[1] * r.n[2];
    if (nr > wk->cap)
        return 0; /* cannot happen with ROI_MAX_MM: the scratch is sized for it */
    /* Ball and lung constraint; parenchyma level. */
    size_t np = 0;
    for (size_t z = 0; z < r.n[2]; z++)
        for (size_t y = 0; y < r.n[1]; y++)
            for (size_t x = 0; x < r.n[0]; x++) {
                size_t gi = rn_image_index(nx, ny, x + r.lo[0], y + r.lo[1], z + r.lo[2]);
                double dx = ((double)(x + r.lo[0]) - (double)c->x) * sp[0];
                double dy = ((double)(y + r.lo[1]) - (double)c->y) * sp[1];
                double dz = ((double)(z + r.lo[2]) - (double)c->z) * sp[2];
                bool in = dx * dx + dy * dy + dz * dz <= roi_mm * roi_mm && wk->lung[gi];
                wk->aux[roi_index(&r, x, y, z)] = in && wk->grow[gi];
                if (in && w->data[gi] < -600.0f)
                    wk->vals[np++] = w->data[gi];
            }
    double P = np > 20 ? median_of(wk->vals, np) : -850.0;
    /* the image noise there: 1.4826 x the median absolute deviation of the parenchyma */
    double noise = 0;
    if (np > 20) {
        for (size_t i = 0; i < np; i++)
            wk->vals[i] = fabsf(wk->vals[i] - (float)P);
        noise = 1.4826 * median_of(wk->vals, np);
    }
    P = P < -950 ? -950 : P > -700 ? -700 : P;
    /* Seed: brightest voxel within one voxel of the candidate. */
    size_t seed = roi_index(&r, c->x - r.lo[0], c->y - r.lo[1], c->z - r.lo[2]);
    float sv = -1e9f;
    for (int dz = -1; dz <= 1; dz++)
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                long x = (long)(c->x - r.lo[0]) + dx, y = (long)(c->y - r.lo[1]) + dy,
                     z = (long)(c->z - r.lo[2]) + dz;
                if (x < 0 || y < 0 || z < 0 || x >= (long)r.n[0] || y >= (long)r.n[1] ||
                    z >= (long)r.n[2])
                    continue;
                size_t j = roi_index(&r, (size_t)x, (size_t)y, (size_t)z);
                float hv = w->data[rn_image_index(nx, ny, (size_t)x + r.lo[0], (size_t)y + r.lo[1],
                                                  (size_t)z + r.lo[2])];
                if (wk->aux[j] && hv > sv) {
                    sv = hv;
                    seed = j;
                }
            }
    {
        size_t sx = seed % r.n[0], sy = (seed / r.n[0]) % r.n[1], sz = seed / (r.n[0] * r.n[1]);
        if (wk->claimed[rn_image_index(nx, ny, sx + r.lo[0], sy + r.lo[1], sz + r.lo[2])])
            return 0; /* inside a nodule already measured */
    }
    /* Two passes: region at -725 HU gives the nodule level M, then half maximum. */
    double T = FIRST_PASS_HU, M = 0;
    size_t count = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t j = 0; j < nr; j++) {
            size_t x = j % r.n[0], y = (j / r.n[0]) % r.n[1], z = j / (r.n[0] * r.n[1]);
            float hv = w->data[rn_image_index(nx, ny, x + r.lo[0], y + r.lo[1], z + r.lo[2])];
            wk->allowed[j] = wk->aux[j] && hv >= T;
            if (wk->allowed[j] && wk->fissures) {
                /* the fissure is in the voxel's parenchyma share only: with c the contrast
                 * (T is its half), the voxel holds (u - e) / (1 - e / c) above P; a voxel
                 * inside the nodule, where the fissure is not, keeps its value */
                double e = fissure_hu(wk, &r, crop_lo, j), c2 = 2.0 * (T - P);
                if (e > 0 && c2 > 0) {
                    double q = fmin(e / c2, 0.9);
                    wk->allowed[j] = (hv - P - e) / (1.0 - q) >= T - P;
                }
            }
        }
        count = grow(&r, wk->allowed, seed, wk->region, wk->queue);
        if (!count)
            return 0;
        size_t nv = 0;
        for (size_t j = 0; j < nr; j++)
            if (wk->region[j]) {
                size_t x = j % r.n[0], y = (j / r.n[0]) % r.n[1], z = j / (r.n[0] * r.n[1]);
                wk->vals[nv++] =
                    w->data[rn_image_index(nx, ny, x + r.lo[0], y + r.lo[1], z + r.lo[2])];
            }
        M = median_of(wk->vals, nv);
        if (pass == 0) {
            if (M - P < MIN_CONTRAST_HU)
                return 0;
            T = P + 0.5 * (M - P);
            T = T < -750 ? -750 : T > -400 ? -400 : T;
            /* The half-maximum region grows from the densest voxel of this first region near
             * the candidate: the first seed may sit in the partial-volume cap of a thick slice,
             * below the half maximum, with the nodule's body one slice away. */
            double lim = fmax(r_est, 2.0 * fmax(sp[0], sp[2]));
            float bv = -1e9f;
            size_t cj = roi_index(&r, c->x - r.lo[0], c->y - r.lo[1], c->z - r.lo[2]);
            for (size_t j = 0; j < nr; j++)
                if (wk->region[j] && roi_dist2(&r, sp, j, cj) <= lim * lim &&
                    roi_hu(wk, &r, j) > bv) {
                    bv = roi_hu(wk, &r, j);
                    seed = j;
                }
        }
    }
    if (M - P < MIN_CONTRAST_HU)
        return 0;
    /* The region's holes are the nodule's: noise takes voxels of a ground-glass nodule below
     * the threshold (at 80 HU one in sixteen), and an opening of a region full of holes kept
     * only the solid core of a 28.6 mm part-solid nodule (-81 %). */
    fill_holes(&r, wk->region, wk->low, wk->queue);
    /* Vessel separation. The thickness of the candidate is its inscribed radius R_in (the
     * largest distance from a region voxel near the seed to the background); an opening with
     * a ball of half that radius (at most OPEN_MAX_MM) cuts attached structures thinner than
     * the nodule itself (vessels, fissures) whatever the blob scale said. */
    RnMask rm = {.nx = r.n[0], .ny = r.n[1], .nz = r.n[2], .data = wk->region};
    memcpy(rm.spacing, sp, sizeof rm.spacing);
    double r_in = inscribed_radius(wk, &r, seed, r_est, err);
    if (r_in < 0)
        return (int)r_in;
    Ell ell;
    int have_ell = 0, ncyl = 0;
    memset(wk->vessel, 0, nr);
    wk->sym_ok = false;
    double ro = (wk->strong ? OPEN_FRACTION_STRONG : OPEN_FRACTION) * r_in;
    ro = ro > OPEN_MAX_MM ? OPEN_MAX_MM : ro;
    if (ro >= sp[0] * 1.2) {
        memcpy(wk->orig, wk->region, nr);
        int rc = rn_image_open(&rm, ro, &rm, err);
        if (rc)
            return rc;
        memcpy(wk->allowed, wk->region, nr);
        if (!wk->allowed[seed]) {
            /* keep the component nearest the seed */
            double bd;
            size_t bestj = nearest_in(&r, sp, wk->allowed, seed, &bd);
            /* within the blob radius, or the nodule's own thickness / one slice away (the
             * seed in a partial-volume cap of a thick slice) */
            double lim = fmax(r_est, fmax(r_in, 1.01 * sp[2]));
            if (bestj == SIZE_MAX || bd > lim * lim)
                return 0;
            seed = bestj;
        }
        /* What the opening took of the nodule itself comes back: the digital ball is not
         * round and, with slices thicker than its radius, cannot fit the first and last
         * slices of the nodule (small by partial volume). Every voxel of the region before
         * the opening that lies inside the moment ellipsoid of the opened nodule, enlarged by
         * one voxel (half a slice), is restored; attached vessels end at its surface. */
        {
            grow(&r, wk->allowed, seed, wk->low, wk->queue);
            have_ell = restore_in_ellipsoid(wk, &r, 1.0, false, &ell);
        }
        count = grow(&r, wk->allowed, seed, wk->region, wk->queue);
        if (!count)
            return 0;
        /* The vessel that the opening cut off continues into the restored margin and along
         * the nodule's surface: followed as a cylinder, it leaves the region outside the
         * nodule's ellipsoid, and its partial-volume rim leaves the shell. (A mass's
         * attachments are cut at the necks of its slice profile instead.) */
        if (have_ell && c->response < MASS_RESPONSE &&
            (ncyl = vessel_cylinders(wk, &r, &ell, r_in, P)) > 0) {
            for (size_t j = 0; j < nr; j++)
                wk->allowed[j] = wk->region[j] && wk->vessel[j] != VESSEL_OUT;
            /* the seed (the densest voxel) may lie in the vessel beside the nodule: the
             * region then grows from the nodule's voxel nearest it (it kept the vessel) */
            double bd;
            size_t s2 = wk->allowed[seed] ? seed : nearest_in(&r, sp, wk->allowed, seed, &bd);
            seed = s2 != SIZE_MAX ? s2 : seed; /* (none left: the region stays as it was) */
            if (wk->allowed[seed]) {
                count = grow(&r, wk->allowed, seed, wk->region, wk->queue);
                if (!count)
                    return 0;
            }
        }
    }
    /* A subsolid nodule with a vessel running along it: at the nodule's low threshold the
     * vessel, blurred, is as thick as the ball and survives the opening. It is told apart by
     * density: a solid structure that enters the region and continues outside it is a
     * vessel, and it goes with its partial-volume rim; a solid core (part-solid nodule) lies
     * inside. Subsolid is judged on the partial-volume-corrected density: a small solid
     * nodule on thick slices has a low median too. */
    if (M < SOLID_HU && partial_volume_density(wk, &r, P, M, NULL) < SOLID_HU) {
        long s2 = cut_dense_passages(wk, &r, &seed, cpos_roi(&r, c));
        if (s2 < 0)
            return 0;
        if (s2 > 0) {
            count = grow(&r, wk->allowed, seed, wk->region, wk->queue);
            if (!count)
                return 0;
        }
    }
    /* Vessel continuation: at a quarter of the contrast the structure is followed further.
     * When it runs out of the search ball (a tube passing through) and what continues is about
     * as thick as the candidate, the candidate is a piece of that tube (an oblique vessel cut
     * by thick slices, a bifurcation), not a nodule on it. */
    double tube_thick = 0;
    int tube = vessel_piece(wk, &r, seed, c, roi_mm, P + 0.25 * (M - P), T, r_in, &tube_thick,
                            err);
    if (tube < 0)
        return tube;
    /* The prior counterpart of a nodule on a vessel is smaller while the vessel is not: a
     * 5.1 mm prior on a 2.8 mm vessel is only 1.06 times as thick as the vessel (VESSEL_RATIO
     * is 1.3). Measured at the registered point, it is a nodule where the opening cut thinner
     * vessels off it and it is at least as thick as what continues. A vessel alone there (the
     * nodule is new) survives the opening, its ball being thinner than it: nothing is cut. */
    if (tube && wk->targeted && ncyl > 0 && r_in >= tube_thick)
        tube = 0;
    /* A piece of a tube is rejected (when features are written for training, it is measured on
     * so that they can be). */
    if (tube && !fp_log_path())
        return 0;
    /* Leak control for masses, grown in the 30 mm envelope where mediastinal structures (the
     * hilum, the aorta) lie next to them: a tumour is compact, so its cross-section area
     * along the slices rises to one maximum and falls (a convex body's does). Going away
     * from the seed's slice, where the area has fallen and rises again by more than
     * MASS_NECK_RISE, the region ran through a neck into another structure: it is cut at
     * the neck. */
    if (c->response >= MASS_RESPONSE) {
        size_t cut = cut_at_necks(wk, &r, &seed);
        if (cut) {
            memcpy(wk->allowed, wk->region, nr);
            count = grow(&r, wk->allowed, seed, wk->region, wk->queue);
            if (!count)
                return 0;
        }
    }
    restore_pleural_rim(wk, &r, T, seed);
    /* Leak: the region reaches the edge of its search ball. */
    size_t touching = 0;
    bool scan_end = false; /* the region reaches the first or last slice of the scan */
    for (size_t j = 0; j < nr; j++) {
        if (!wk->region[j])
            continue;
        size_t gz = j / (r.n[0] * r.n[1]) + r.lo[2] + crop_lo[2];
        scan_end = scan_end || gz == 0 || gz + 1 == wk->scan_nz;
        double dx = ((double)(j % r.n[0] + r.lo[0]) - (double)c->x) * sp[0];
        double dy = ((double)((j / r.n[0]) % r.n[1] + r.lo[1]) - (double)c->y) * sp[1];
        double dz = ((double)(j / (r.n[0] * r.n[1]) + r.lo[2]) - (double)c->z) * sp[2];
        double d = sqrt(dx * dx + dy * dy + dz * dz);
        if (d > roi_mm - 1.5 * sp[0] - (sp[2] > 3 ? sp[2] : 0))
            touching++;
    }
    /* Mass candidates (soft tissue in the 30 mm envelope) are kept, their extent marked as
     * limited by the search ball; blob candidates that leak are vessels or wall. */
    bool is_mass = c->response >= MASS_RESPONSE;
    if (touching > 2 && !is_mass) {
        if (tube)
            return 0; /* a piece of a tube that runs on: no retry */
        /* the thickness of what leaked, read before the retry below reuses the scratch */
        double att = 0;
        if (!wk->retry && !wk->strong && !scan_end) {
            att = leak_thickness(wk, &r, c, roi_mm, err);
            if (att < 0)
                return (int)att;
        }
        /* The candidate may be a detail of a nodule larger than its scale (a large
         * ground-glass nodule on the pleura, whose coarse-scale response the wall flattens):
         * measured once more with a search ball twice as large, a nodule is contained in
         * it, while a vessel or the wall leaks again. */
        if (!wk->retry && !wk->strong && c->scale + 2 < MASS_SCALE_INDEX) {
            Cand c2 = *c;
            c2.scale += 2;
            wk->retry = 1;
            int rc2 = measure(wk, &c2, crop_lo, id, nd, err);
            wk->retry = 0;
            if (rc2)
                return rc2;
        }
        /* A nodule on a vessel nearly as thick as the opening's ball: the vessel survived the
         * opening and carried the region out of the ball. Where what leaked is thinner than
         * the nodule (by VESSEL_RATIO, as for a piece of a tube), the candidate is measured
         * once more with a ball of OPEN_FRACTION_STRONG x its inscribed radius. A junction or a
         * crossing of vessels is not much thicker than its vessels and stays a leak, and so
         * does a vessel cut by the first or last slice of the scan, whose stub looks round. */
        if (!wk->retry && !wk->strong && att > 0 && r_in >= VESSEL_RATIO * att && !scan_end &&
            sp[2] <= STRONG_MAX_SLICE_MM) {
            wk->strong = 1;
            int rc3 = measure(wk, c, crop_lo, id, nd, err);
            wk->strong = 0;
            return rc3;
        }
        return 0;
    }
    /* Partial-volume volume, centroid, HU statistics, type. */
    double vox = sp[0] * sp[1] * sp[2];
    double vol = 0, wsum = 0, cx = 0, cy = 0, cz = 0, hs = 0, hs2 = 0;
    double hmin = 1e9, hmax = -1e9, solid_vox = 0;
    size_t nreg = 0, ninterior = 0, nsolid_int = 0;
    /* interior median (weight reference) */
    size_t nv = 0;
    for (size_t j = 0; j < nr; j++) {
        if (!wk->region[j])
            continue;
        size_t x = j % r.n[0], y = (j / r.n[0]) % r.n[1], z = j / (r.n[0] * r.n[1]);
        bool interior = x > 0 && y > 0 && z > 0 && x + 1 < r.n[0] && y + 1 < r.n[1] &&
                        z + 1 < r.n[2] && wk->region[j - 1] && wk->region[j + 1] &&
                        wk->region[j - r.n[0]] && wk->region[j + r.n[0]] &&
                        wk->region[j - r.n[0] * r.n[1]] && wk->region[j + r.n[0] * r.n[1]];
        if (interior)
            wk->vals[nv++] =
                w->data[rn_image_index(nx, ny, x + r.lo[0], y + r.lo[1], z + r.lo[2])];
    }
    double Mi = nv >= 8 ? median_of(wk->vals, nv) : M;
    /* A small nodule has (almost) no interior: every voxel shares the slice with parenchyma,
     * and its median says more about the slice thickness than about its density. Its density
     * is then estimated from the central voxels, corrected for the share of their slab that
     * the nodule fills (partial_volume_density). */
    double D = Mi;
    /* the level's variance per unit of the noise's (a median of n voxels: pi / 2n), for the
     * volume's uncertainty below; it follows every change of the level */
    double ref_var = MEDIAN_VAR / (double)(nv >= 8 ? nv : count);
    bool small = nv < SMALL_INTERIOR_VOXELS;
    if (small) {
        double pv_var = 0;
        D = partial_volume_density(wk, &r, P, Mi, &pv_var);
        ref_var = pv_var > 0 ? pv_var : ref_var;
    }
    /* A nodule whose density says solid is taken at soft-tissue density at least: on a small
     * nodule the estimate corrects for the slab but not for the in-plane blur (a 3 mm nodule
     * reads a few hundred HU low, which inflates every partial-volume weight, by 40 % at
     * -220 HU), and the interior median of a 5-8 mm nodule on thin slices is still pulled
     * down by the blur (+6 % volume at 0.625 mm). The type below still follows D. */
    double D_ref = D >= SOLID_HU && D < SMALL_SOLID_REF_HU ? SMALL_SOLID_REF_HU : D;
    double ref = D_ref - P < MIN_CONTRAST_HU ? MIN_CONTRAST_HU : D_ref - P;
    if (D_ref != D || D - P < MIN_CONTRAST_HU)
        ref_var = 0; /* a fixed level */
    bool gg_level = false; /* a ground-glass nodule's level was read (subsolid_level) */
    /* A part-solid nodule: its edge is ground glass, far less dense than the interior median
     * (the solid core pulls it up), and a boundary voxel is a mix of parenchyma and the edge's
     * tissue, not the core's. The reference is then the density of the interior's outer layer
     * (interior voxels next to a boundary voxel). */
    if (!small) {
        size_t ne = 0;
        for (size_t j = 0; j < nr; j++) {
            if (!wk->region[j])
                continue;
            size_t x = j % r.n[0], y = (j / r.n[0]) % r.n[1], z = j / (r.n[0] * r.n[1]);
            /* two voxels from the ROI's faces: the neighbours' neighbours are read below */
            if (x < 2 || y < 2 || z < 2 || x + 2 >= r.n[0] || y + 2 >= r.n[1] || z + 2 >= r.n[2])
                continue;
            size_t st[3] = {1, r.n[0], r.n[0] * r.n[1]};
            bool interior = true, outer = false;
            for (int a = 0; a < 3 && interior; a++)
                interior = wk->region[j - st[a]] && wk->region[j + st[a]];
            if (!interior)
                continue;
            for (int a = 0; a < 3 && !outer; a++) /* a neighbour that is not interior */
                for (int sgn = -1; sgn <= 1 && !outer; sgn += 2) {
                    size_t k = sgn < 0 ? j - st[a] : j + st[a];
                    for (int b = 0; b < 3 && !outer; b++)
                        outer = !wk->region[k - st[b]] || !wk->region[k + st[b]];
                }
            if (outer)
                wk->vals[ne++] = roi_hu(wk, &r, j);
        }
        double edge = ne >= 8 ? median_of(wk->vals, ne) : D;
        bool part_solid = false;
        if (D - edge > EDGE_DENSITY_GAP_HU && edge < SOLID_HU && edge - P >= MIN_CONTRAST_HU) {
            ref = edge - P;
            ref_var = MEDIAN_VAR / (double)ne;
            part_solid = true;
        }
        /* A part-solid nodule of 6-10 mm, or on thick slices: the core's blur reaches the
         * outer layer too (an 8.6 mm nodule at 1.25 mm: interior median -311 HU, outer layer
         * -395, for ground glass at -600), which would count the ground glass at half. The
         * median of the first region (grown at -725 HU, mostly ground glass) is then the
         * edge's level. A solid nodule's interior median is solid and keeps its reference; a
         * ground-glass nodule has no solid core (its interior median is above M only by the
         * blur M holds). */
        size_t ncore = 0;
        for (size_t j = 0; j < nr && ncore < CORE_MIN_VOXELS; j++)
            ncore += wk->region[j] && roi_hu(wk, &r, j) >= SOLID_HU;
        if (Mi < SOLID_HU && ncore >= CORE_MIN_VOXELS && M - P >= MIN_CONTRAST_HU && M - P < ref) {
            ref = M - P;
            ref_var = MEDIAN_VAR / (double)count;
            part_solid = true;
        }
        /* Both levels above are the blur's as much as the ground glass's: the outer layer is
         * pulled up by the core, the first region's median down by the blurred edge (seed 1's
         * 8 mm nodule of a 2.4 mm core, prior at 12 degrees of tilt: -634 HU for -600, every
         * partial weight x 1.16). Where enough of the region lies away from both, its median
         * is the level (-610 HU there; subsolid_level). A ground-glass nodule's level is read
         * there too, away from its edge. */
        double gg = 0;
        long nf = part_solid || D < SOLID_HU ? subsolid_level(wk, &r, part_solid, 1.0, &gg, err)
                                             : 0;
        if (nf < 0)
            return (int)nf;
        if (nf > 0 && gg < SOLID_HU && gg - P >= MIN_CONTRAST_HU) {
            ref = gg - P;
            ref_var = MEDIAN_VAR / (double)nf;
            gg_level = !part_solid;
        }
    }
    /* Shell: within 2 mm (and one slice) of the region. */
    double shell_mm = sp[2] > 2.0 ? sp[2] * 1.01 : 2.0;
    RnMask dm = {.nx = r.n[0], .ny = r.n[1], .nz = r.n[2], .data = wk->allowed};
    memcpy(dm.spacing, sp, sizeof dm.spacing);
    int rc = rn_image_dilate(&rm, shell_mm, &dm, err);
    if (rc)
        return rc;
    /* The depths at which the level was read hold for the blur they were set on (the phantoms'
     * 0.5 mm). A blurrier image (a smoother kernel) reaches deeper: with a 0.8 mm blur, seed 2's
     * three ground-glass nodules at 1.25 mm read +1.0 to +8.2 %, their levels 2-19 HU low. Where
     * the nodule's own edge is wider than LEVEL_DEPTH_MM / LEVEL_DEPTH_SIGMAS, the level is
     * read again with every distance scaled up to that, and kept if the rules still find it;
     * a ground-glass nodule too small for them has its deepest voxels corrected for the blur
     * instead (deblurred_level). The edge's blur takes less than LEVEL_MAX_RISE of the contrast
     * at the first depth: a level that rises more lies in a denser centre (seed 1's 6.75 mm
     * part-solid prior, its 2.4 mm core blurred below -300 HU and the nodule taken for ground
     * glass, read -36 % for -6 %), and the first is kept; so it is where the deeper reading is
     * lower (noise). Not for a part-solid nodule, whose level is read in its ring round the
     * core, nor for a small one (no interior; partial_volume_density): seed 2's 4.5 mm prior
     * at a 0.8 mm blur read +16.7 % with its deepest voxels deblurred, for +5.1 %. Nor in a
     * noisy image (as for the weights below), where noise moves voxels across the quarter and
     * three-quarter levels and widens the edge it measures. */
    if (gg_level && sp[2] <= LEVEL_DEPTH_MM && noise <= NOISY_SHARE * ref) {
        double ew = edge_width(wk, &r, P, P + ref);
        double f = LEVEL_DEPTH_SIGMAS * ew / LEVEL_DEPTH_MM;
        double gg = 0;
        long nf = f > 1.0 ? subsolid_level(wk, &r, false, f, &gg, err) : 0;
        if (nf == 0 && f > 1.0)
            nf = deblurred_level(wk, &r, P, ew, &gg, err);
        if (nf < 0)
            return (int)nf;
        if (nf > 0 && gg < SOLID_HU && gg - P >= ref &&
            gg - P <= (1.0 + LEVEL_MAX_RISE) * ref) {
            ref = gg - P;
            ref_var = MEDIAN_VAR / (double)nf;
        }
    }
    /* The parenchyma's level and noise for the weights, from the search ball's lung voxels
     * beyond the shell and below T. The first estimates (the ball's voxels below -600 HU) take
     * in the blurred edge of a large subsolid nodule: for a 12.1 mm part-solid nodule, -822
     * against -848 HU and a noise of 56 against 15 HU, so that every shell voxel weighed -0.1
     * (-66 mm3) and the noisy rules below applied to a clean image (-11 % in all). P itself,
     * which set T and is a classifier feature, stays. */
    double Pw = P;
    size_t npw = 0;
    {
        float *pv = wk->dist; /* scratch until the weights below */
        for (size_t j = 0; j < nr; j++) /* the parenchyma, less a fissure's sheet */
            if (wk->aux[j] && !wk->allowed[j] && roi_hu(wk, &r, j) < T)
                pv[npw++] = roi_hu(wk, &r, j) - (float)fissure_hu(wk, &r, crop_lo, j);
        if (npw >= 20) {
            qsort(pv, npw, sizeof *pv, cmp_float);
            Pw = pv[npw / 2];
            for (size_t i = 0; i < npw; i++)
                wk->vals[i] = fabsf(pv[i] - (float)Pw);
            noise = 1.4826 * median_of(wk->vals, npw);
            /* Cut at T, the noise's upper tail is missing and the median reads low: by 9 HU
             * at 80 HU of noise (T 100 HU above), which raised every shell voxel's weight by
             * 0.04 (seed 1's 6.1 mm ground-glass prior at 1.25 mm: +33 %, +19 % without the
             * bias). The median of a window symmetric about the level, [2 Pw - T, T), has no
             * such bias; a few rounds centre it. At 15 HU the cut is 7 noise SDs away. The
             * values are sorted, so each window is a run of them ending at the last. */
            for (int it = 0; it < PARENCHYMA_ROUNDS; it++) {
                float lo = (float)(2.0 * Pw - T);
                size_t a = 0, b = npw; /* first value >= lo */
                while (a < b) {
                    size_t m = a + (b - a) / 2;
                    if (pv[m] < lo)
                        a = m + 1;
                    else
                        b = m;
                }
                if (npw - a < 20)
                    break;
                Pw = pv[a + (npw - a) / 2];
            }
            ref += P - Pw;
        }
    }
    bool pleura = false;
    /* Noise decides on which side of the threshold a voxel falls, and the two sides must be
     * treated alike or the volume is biased (ground glass at 80 HU noise read -18 %: interior
     * voxels under the full-count mark, holes that strip their neighbours of the interior's
     * full count, weights clipped at 1 while low voxels keep their deficit, parenchyma above
     * the threshold excluded as a structure). Membership is therefore decided on the mean of
     * each voxel's neighbourhood (3 x 3, and the neighbouring slices where they are no thicker
     * than two pixels: the noise divided by 3 to 5, a linear edge profile kept): a voxel is
     * deep in the nodule where it and its six neighbours are in the region or in a hole noise
     * made (a voxel with its mean above the threshold and the region on at least five of its
     * six sides; a looser hole let a small nodule's surface layer count whole), and, where
     * the image is noisy (below), counts whole where its value or its mean is above the
     * full-count mark (the mean alone would lose the voxels just inside a small nodule's
     * edge, whose neighbourhood reaches outside it). Where the noise exceeds a tenth of the
     * contrast, another structure is above the threshold by its mean too, and the weights,
     * which keep the voxel's own value, are clipped only three times the noise above 1.
     * Below that, the clip at 1 costs little, a looser one let small nodules read 1-5 %
     * higher at 15 HU, and the mean's test let a pleural nodule's prior take in the wall's
     * rim (+9.5 -> +16.5 %). */
    int zr = sp[2] <= 2.0 * sp[0] ? 1 : 0;
    float *hwv = wk->dist2;
    for (size_t j = 0; j < nr; j++)
        if (wk->allowed[j])
            hwv[j] = (float)box_mean(w, j % r.n[0] + r.lo[0], (j / r.n[0]) % r.n[1] + r.lo[1],
                                     j / (r.n[0] * r.n[1]) + r.lo[2], zr);
    for (size_t j = 0; j < nr; j++) {
        size_t x = j % r.n[0], y = (j / r.n[0]) % r.n[1], z = j / (r.n[0] * r.n[1]), in = 0;
        wk->low[j] = wk->region[j];
        if (wk->region[j] || !wk->allowed[j] || !wk->aux[j] || wk->vessel[j] || hwv[j] < T ||
            x == 0 || y == 0 || z == 0 || x + 1 >= r.n[0] || y + 1 >= r.n[1] || z + 1 >= r.n[2])
            continue;
        size_t st[3] = {1, r.n[0], r.n[0] * r.n[1]};
        for (int a = 0; a < 3; a++)
            in += wk->region[j - st[a]] + wk->region[j + st[a]];
        wk->low[j] = in >= 5; /* a hole: the region all round */
    }
    bool noisy = noise > NOISY_SHARE * ref;
    double top = noisy ? 1.0 + 3.0 * noise / ref : 1.0;
    float *wts = wk->dist; /* each voxel's weight, summed below */
    for (size_t j = 0; j < nr; j++) {
        wts[j] = 0;
        if (!wk->allowed[j])
            continue;
        size_t x = j % r.n[0], y = (j / r.n[0]) % r.n[1], z = j / (r.n[0] * r.n[1]);
        size_t gi = rn_image_index(nx, ny, x + r.lo[0], y + r.lo[1], z + r.lo[2]);
        double hv = w->data[gi], hw = hwv[j], wt;
        hwv[j] = 0;
        bool inreg = wk->region[j];
        if (!inreg && wk->vessel[j] == VESSEL_OUT)
            continue; /* a vessel cut off the nodule, and its partial-volume rim */
        if (!inreg && (!wk->aux[j] || (hv >= T && (hw >= T || !noisy)))) {
            /* another structure (vessel, wall) or outside the lungs */
            if (!wk->lung[gi] && hv >= T)
                pleura = true;
            continue;
        }
        bool interior = inreg && x > 0 && y > 0 && z > 0 && x + 1 < r.n[0] && y + 1 < r.n[1] &&
                        z + 1 < r.n[2] && wk->region[j - 1] && wk->region[j + 1] &&
                        wk->region[j - r.n[0]] && wk->region[j + r.n[0]] &&
                        wk->region[j - r.n[0] * r.n[1]] && wk->region[j + r.n[0] * r.n[1]];
        if (interior) {
            ninterior++;
            if (hv >= SOLID_HU)
                nsolid_int++;
        }
        /* A voxel deep in the nodule (it and its six neighbours in the region or a hole) has
         * its partial-volume weight, (HU - Pw) / ref, as every voxel has: the blur moves part
         * of the nodule's mass from its outer interior into the shell, where the weights count
         * it, and the sum of the weights is the volume. Above the noise's reach over 1 (a
         * part-solid nodule's core against the ground-glass level) it counts 1. Counted whole
         * wherever above 0.75, the blurred interior was counted twice: free solid nodules read
         * +1.5 % (median; seed 2's 6.9 mm one +3.6 % at 0.625 mm, its weights' plain sum
         * -0.1 %). Where the noise exceeds a tenth of the contrast, a deep voxel counts 1
         * above the 0.75 mark by its value or its neighbourhood's mean (the noise rules
         * above), and its weight below it. */
        bool deep = wk->low[j] && x > 0 && y > 0 && z > 0 && x + 1 < r.n[0] &&
                    y + 1 < r.n[1] && z + 1 < r.n[2] && wk->low[j - 1] && wk->low[j + 1] &&
                    wk->low[j - r.n[0]] && wk->low[j + r.n[0]] && wk->low[j - r.n[0] * r.n[1]] &&
                    wk->low[j + r.n[0] * r.n[1]];
        double lin = (hv - Pw) / ref;
        bool linear = false;
        if (deep && !noisy)
            wt = (linear = lin <= 1.0 + 3.0 * noise / ref) ? lin : 1.0;
        else if (deep && fmax(hv, hw) - Pw >= INTERIOR_FULL * ref)
            wt = 1;
        else
            wt = (linear = lin >= -0.5 && lin <= top) ? lin : lin < -0.5 ? -0.5 : top;
        /* hwv now holds the weight's slope in the voxel's value (x ref): 1 where it is linear,
         * 0 where it is clipped or counts whole (the uncertainty below) */
        hwv[j] = linear ? 1.0f : 0.0f;
        if (wk->fissures && wt != 1.0) {
            /* A fissure through the shell adds its sheet to the parenchyma's share of each
             * voxel: with e the share the sheet gives a voxel of parenchyma (its measured
             * profile at the voxel's distance, over the contrast), a voxel weighing wt holds
             * (wt - e) / (1 - e) of nodule. Without it a 5-6 mm solid nodule 2.6-2.9 mm from
             * a fissure read +8 to +12 %, a ground-glass one the fissure crosses +29 %. */
            double e = fissure_hu(wk, &r, crop_lo, j) / ref;
            if (e > 0.005) {
                e = e > 0.9 ? 0.9 : e;
                wt = (wt - e) / (1.0 - e);
                hwv[j] /= (float)(1.0 - e);
            }
        }
        wts[j] = (float)wt;
        if (inreg) {
            nreg++;
            hs += hv;
            hs2 += hv * hv;
            hmin = hv < hmin ? hv : hmin;
            hmax = hv > hmax ? hv : hmax;
            if (hv >= SOLID_HU)
                solid_vox += 1;
        }
    }
    /* In a vessel's zone (its cylinder and rim, under the nodule's ellipsoid or beyond it),
     * the nodule is what its point reflection through the centre shows outside the zones:
     * the vessel and its partial-volume rim are not counted, and the nodule's own share of
     * those voxels (the cap under the vessel, its blurred edge) is. With the vessel counted
     * inside the ellipsoid, seed 5's 5.8 mm nodule on a 2.8 mm vessel read +16 % at
     * 1.25 mm. */
    /* For the uncertainty: sums over the voxels whose weight is linear in their value, of the
     * slope squared (the noise), of weight - 1 (the parenchyma's level, in every weight and in
     * the contrast) and of the weight (the nodule's level, in the contrast). A mirrored voxel
     * counts as if its noise were its own (its variance is then slightly under-counted). */
    double u_g2 = 0, u_p = 0, u_ref = 0;
    for (size_t j = 0; j < nr; j++) {
        double wt = wts[j];
        size_t js = j;
        if (wk->sym_ok && wk->vessel[j] && wk->allowed[j]) {
            double mw;
            size_t k;
            if (mirror_weight(wk, &r, sp, wts, j, wk->sym_mu, &mw, &k)) {
                wt = mw;
                js = k;
            }
        }
        if (wk->allowed[js] && hwv[js] > 0) {
            u_g2 += (double)hwv[js] * hwv[js];
            u_p += (wt - 1.0) * hwv[js];
            u_ref += wt;
        }
        vol += wt * vox;
        if (wt > 0) {
            wsum += wt;
            cx += wt * (double)(j % r.n[0] + r.lo[0]);
            cy += wt * (double)((j / r.n[0]) % r.n[1] + r.lo[1]);
            cz += wt * (double)(j / (r.n[0] * r.n[1]) + r.lo[2]);
        }
    }
    /* Dense voxels of the shell outside the lung mask but inside the 30 mm envelope: a nodule
     * on the wall wider than the mask's 10 mm closing fills, cut by it (seed 10's 16.6 mm
     * nodule read -5 %); measured again below in the envelope. */
    size_t wall_cut = 0;
    if (wk->lung == wk->lung10 && !wk->wide)
        for (size_t j = 0; j < nr; j++) {
            if (!wk->allowed[j] || wk->region[j])
                continue;
            size_t x = j % r.n[0], y = (j / r.n[0]) % r.n[1], z = j / (r.n[0] * r.n[1]);
            size_t gi = rn_image_index(nx, ny, x + r.lo[0], y + r.lo[1], z + r.lo[2]);
            wall_cut += !wk->lung10[gi] && wk->lung30[gi] && w->data[gi] >= T;
        }
    if (!nreg || wsum <= 0 || vol <= 0)
        return 0;
    double deq = cbrt(6.0 * vol / M_PI);
    /* a prior counterpart may be smaller than the smallest finding reported on its own */
    if (deq < (wk->targeted ? TARGETED_MIN_DIAMETER_MM : MIN_DIAMETER_MM) ||
        deq > MAX_DIAMETER_MM)
        return 0;
    /* Elongation from the covariance of the region (mm). */
    double mu[3] = {0, 0, 0}, cov[6] = {0, 0, 0, 0, 0, 0};
    for (size_t j = 0; j < nr; j++)
        if (wk->region[j]) {
            mu[0] += (double)(j % r.n[0]) * sp[0];
            mu[1] += (double)((j / r.n[0]) % r.n[1]) * sp[1];
            mu[2] += (double)(j / (r.n[0] * r.n[1])) * sp[2];
        }
    for (int a = 0; a < 3; a++)
        mu[a] /= (double)nreg;
    for (size_t j = 0; j < nr; j++)
        if (wk->region[j]) {
            double p[3] = {(double)(j % r.n[0]) * sp[0] - mu[0],
                           (double)((j / r.n[0]) % r.n[1]) * sp[1] - mu[1],
                           (double)(j / (r.n[0] * r.n[1])) * sp[2] - mu[2]};
            cov_add(cov, p);
        }
    for (int a = 0; a < 6; a++)
        cov[a] /= (double)nreg;
    /* thick slices: add the slice's own extent so a one-slice nodule is not "flat" */
    cov[2] += sp[2] * sp[2] / 12.0;
    double ev[3];
    rn_image_sym3_eigenvalues(cov, ev);
    double elong = ev[2] > 1e-9 ? sqrt(fabs(ev[0]) / fabs(ev[2])) : 99;
    /* False-positive reduction: the rules, then, for a detected candidate (not a mass, not a
     * prior's counterpart, which has no detection response), the classifier, which can only
     * remove. */
    double score = -1;
    {
        double var0 = hs2 / (double)nreg - (hs / (double)nreg) * (hs / (double)nreg);
        double f[RN_LUNGCT_NFEAT] = {
            log(vol),
            elong,
            tube_thick > 0 ? fmin(r_in / tube_thick, 3.0) : 3.0,
            (M - P) / 100.0,
            c->sphericity,
            log(c->response > 1 ? c->response : 1),
            pleura ? 1.0 : 0.0,
            (double)ncyl,
            (var0 > 0 ? sqrt(var0) : 0) / 100.0,
            fmin(r_in / (0.5 * deq), 2.0),
            sp[2],
            wk->strong ? 1.0 : 0.0,
        };
        bool keep = !tube && elong <= MAX_ELONGATION;
        /* A mass is bulky: a share of its voxels lies deeper than a fifth of its equivalent
         * radius (a sphere 0.51, a 3:1:1 ellipsoid 0.46, the phantoms' masses 0.61-0.64, the
         * lung tumour of the real CT 0.32), while a tree of hilar vessels, which the 30 mm
         * envelope lets the mass path grow into, is all surface (0.17 on that CT, 32 mL). */
        if (keep && c->response >= MASS_RESPONSE) {
            double bulk = bulk_share(wk, &r, MASS_BULK_DEPTH * 0.5 * deq, err);
            if (bulk < 0)
                return (int)bulk;
            keep = bulk >= MASS_MIN_BULK;
        }
        bool detected = c->response < MASS_RESPONSE && !wk->targeted;
        if (fp_log_path()) {
            if (detected)
                fp_log(f, cx / wsum + (double)crop_lo[0], cy / wsum + (double)crop_lo[1],
                       cz / wsum + (double)crop_lo[2], keep);
        } else if (detected && keep) {
            score = rn_lungct_fp_score(f);
            keep = score >= RN_LUNGCT_FP_THRESHOLD;
        }
        if (!keep)
            return 0;
    }
    /* Axes on the slice with the longest Feret diameter. */
    double best_l = 0, best_s = 0, pts[2][2] = {{0, 0}, {0, 0}};
    size_t key = 0;
    for (size_t z = 0; z < r.n[2]; z++) {
        double s_ax = 0, p2[2][2];
        double l_ax = slice_axes(&r, wk->region, z, sp, &s_ax, p2, wk->queue, wk->cap);
        if (l_ax > best_l) {
            best_l = l_ax;
            best_s = s_ax;
            key = z;
            memcpy(pts, p2, sizeof pts);
        }
    }
    /* The volume's uncertainty from the image noise (one SD): first order in each voxel's
     * value, through the linear weights, the parenchyma's level (a median of npw voxels) and
     * the nodule's (ref_var), with the noise's correlation round the nodule. */
    double kc = noise > 0 ? noise_correlation(wk, &r, crop_lo, T, Pw, noise) : 1.0;
    size_t np_level = npw >= 20 ? npw : np;
    double units = u_g2 + ref_var * u_ref * u_ref +
                   (np_level ? MEDIAN_VAR / (double)np_level * u_p * u_p : 0);
    memset(nd, 0, sizeof *nd);
    nd->volume_noise_sd_mm3 = noise * sqrt(kc * units) * vox / ref;
    nd->noise_hu = noise;
    nd->noise_correlation = kc;
    nd->center_voxel[0] = cx / wsum + (double)crop_lo[0];
    nd->center_voxel[1] = cy / wsum + (double)crop_lo[1];
    nd->center_voxel[2] = cz / wsum + (double)crop_lo[2];
    nd->volume_mm3 = vol;
    nd->volume_voxels_mm3 = (double)nreg * vox;
    nd->long_axis_mm = best_l;
    nd->short_axis_mm = best_s;
    nd->mean_axis_mm = round(5.0 * (best_l + best_s)) / 10.0;
    for (int k = 0; k < 2; k++) {
        nd->long_axis_pts[k][0] = pts[k][0] + (double)(r.lo[0] + crop_lo[0]);
        nd->long_axis_pts[k][1] = pts[k][1] + (double)(r.lo[1] + crop_lo[1]);
    }
    nd->key_slice = key + r.lo[2] + crop_lo[2];
    nd->hu_mean = hs / (double)nreg;
    double var = hs2 / (double)nreg - nd->hu_mean * nd->hu_mean;
    nd->hu_sd = var > 0 ? sqrt(var) : 0;
    nd->hu_min = hmin;
    nd->hu_max = hmax;
    nd->hu_core = D;
    nd->threshold_hu = T;
    nd->scale_mm = sigma;
    nd->response = c->response;
    nd->elongation = elong;
    nd->fp_score = score;
    nd->sphericity = c->sphericity;
    nd->juxtapleural = pleura;
    nd->juxtavascular = ncyl > 0;
    nd->limited = touching > 2;
    double solid_share = ninterior ? (double)nsolid_int / (double)ninterior
                                   : solid_vox / (double)nreg;
    nd->solid_fraction = solid_share;
    nd->solid_volume_mm3 = solid_vox * vox;
    if (small) /* too small to hold both a solid and a ground-glass part that can be told */
        nd->type = D >= SOLID_HU ? RN_NODULE_SOLID : RN_NODULE_GROUND_GLASS;
    else if (Mi >= SOLID_HU && solid_share >= 0.5)
        nd->type = RN_NODULE_SOLID;
    else if (cbrt(6.0 * nd->solid_volume_mm3 / M_PI) >= 3.0 && solid_share >= 0.02)
        nd->type = RN_NODULE_PART_SOLID;
    else
        nd->type = RN_NODULE_GROUND_GLASS;
    if (nd->type == RN_NODULE_PART_SOLID) {
        /* long axis of the solid component */
        for (size_t j = 0; j < nr; j++) {
            size_t x = j % r.n[0], y = (j / r.n[0]) % r.n[1], z = j / (r.n[0] * r.n[1]);
            wk->aux[j] = wk->region[j] &&
                         w->data[rn_image_index(nx, ny, x + r.lo[0], y + r.lo[1], z + r.lo[2])] >=
                             SOLID_HU;
        }
        double bl = 0;
        for (size_t z = 0; z < r.n[2]; z++) {
            double s_ax = 0, p2[2][2];
            double l_ax = slice_axes(&r, wk->aux, z, sp, &s_ax, p2, wk->queue, wk->cap);
            bl = l_ax > bl ? l_ax : bl;
        }
        nd->solid_long_axis_mm = bl;
    }
    nd->volume_sd_mm3 = volume_sd(nd, sp[2]);
    size_t cvx = (size_t)lround(cx / wsum), cvy = (size_t)lround(cy / wsum),
           cvz = (size_t)lround(cz / wsum);
    cvx = cvx < nx ? cvx : nx - 1;
    cvy = cvy < ny ? cvy : ny - 1;
    cvz = cvz < w->nz ? cvz : w->nz - 1;
    nd->side = wk->side[rn_image_index(nx, ny, cvx, cvy, cvz)];
    /* A mass against the wall or the mediastinum is not enclosed by its lung, whose fill did
     * not reach its centroid: the side of the nearest lung voxel in the ROI is its lung. */
    double best_d2 = 1e30;
    uint8_t near_side = 0;
    for (size_t j = 0; !nd->side && j < nr; j++) {
        size_t x = j % r.n[0] + r.lo[0], y = (j / r.n[0]) % r.n[1] + r.lo[1],
               z = j / (r.n[0] * r.n[1]) + r.lo[2];
        uint8_t sd = wk->side[rn_image_index(nx, ny, x, y, z)];
        double dx = ((double)x - cx / wsum) * sp[0], dy = ((double)y - cy / wsum) * sp[1],
               dz = ((double)z - cz / wsum) * sp[2], d2 = dx * dx + dy * dy + dz * dz;
        if (sd && d2 < best_d2) {
            best_d2 = d2;
            near_side = sd;
        }
    }
    if (!nd->side)
        nd->side = near_side;
    /* The measurement in the 30 mm envelope replaces this one when it succeeds and holds more,
     * by at most WIDE_MAX_GAIN (more is a leak along the wall or into the mediastinum). */
    if (wall_cut >= WIDE_MIN_VOXELS) {
        RnNodule first = *nd;
        uint8_t *first_region = malloc(nr);
        if (!first_region)
            return rn_error_set(err, RN_ERR_NOMEM, "lungct: measurement buffers");
        memcpy(first_region, wk->region, nr);
        wk->wide = true;
        int rcw = measure(wk, c, crop_lo, id, nd, err);
        wk->wide = false;
        if (rcw == 1 && nd->volume_mm3 >= first.volume_mm3 &&
            nd->volume_mm3 <= WIDE_MAX_GAIN * first.volume_mm3) {
            free(first_region);
            return 1; /* that measurement claimed its region */
        }
        if (rcw < 0) {
            free(first_region);
            return rcw;
        }
        *nd = first;
        memcpy(wk->region, first_region, nr);
        free(first_region);
    }
    /* Claim the region so later, weaker candidates inside it are skipped. */
    for (size_t j = 0; j < nr; j++)
        if (wk->region[j]) {
            size_t x = j % r.n[0], y = (j / r.n[0]) % r.n[1], z = j / (r.n[0] * r.n[1]);
            wk->claimed[rn_image_index(nx, ny, x + r.lo[0], y + r.lo[1], z + r.lo[2])] = id;
        }
    return 1;
}

/* Radius (mm) within which another finding is the same nodule: half the long axis, or the
 * equivalent-sphere radius when larger (a nodule measured across thick slices). */
static double same_nodule_radius(const RnNodule *n)
{
    double req = 0.5 * cbrt(6.0 * (n->volume_mm3 > 0 ? n->volume_mm3 : 0) / M_PI);
    return fmax(0.5 * n->long_axis_mm, req);
}

bool rn_lungct_same_nodule(const RnNodule *a, const RnNodule *b)
{
    double d2 = 0;
    for (int q = 0; q < 3; q++)
        d2 += (a->center_patient[q] - b->center_patient[q]) *
              (a->center_patient[q] - b->center_patient[q]);
    double rr = same_nodule_radius(a->volume_mm3 >= b->volume_mm3 ? a : b);
    return d2 < rr * rr;
}

size_t rn_lungct_merge_duplicates(RnNoduleList *l)
{
    size_t removed = 0;
    bool again = true;
    while (again) {
        again = false;
        for (size_t i = 0; i < l->count && !again; i++)
            for (size_t k = i + 1; k < l->count && !again; k++) {
                const RnNodule *a = &l->items[i], *b = &l->items[k];
                if (!rn_lungct_same_nodule(a, b))
                    continue;
                const RnNodule *big = a->volume_mm3 >= b->volume_mm3 ? a : b;
                /* the larger measurement holds the whole nodule; the other is a piece of it */
                size_t drop = big == a ? k : i;
                memmove(&l->items[drop], &l->items[drop + 1],
                        (l->count - drop - 1) * sizeof *l->items);
                l->count--;
                removed++;
                again = true;
            }
    }
    return removed;
}

/* The lungs' bounding box of the scan as a crop, the masks on it (closed at 10 and 30 mm,
 * each without its pleural rim, the side map), the claim map and the ROI scratch. */
static int work_init(const RnLungScan *scan, const RnLungs *lungs, Work *wk, RnError *err)
{
    memset(wk, 0, sizeof *wk);
    const RnVolume *v = scan->hu;
    RnVolume *w = rn_volume_crop(v, lungs->bbox_lo, lungs->bbox_hi, err);
    if (!w)
        return err ? err->code : RN_ERR_NOMEM;
    wk->crop = w;
    wk->scan_nz = v->nz;
    wk->scan = scan;
    wk->lobes = &lungs->lobes;
    wk->fissures = lungs->lobes.oblique[1].found || lungs->lobes.oblique[2].found;
    wk->w = w;
    size_t nx = w->nx, ny = w->ny, nz = w->nz, n = nx * ny * nz;
    const size_t *lo = lungs->bbox_lo;
    uint8_t *lung = wk->own_lung = malloc(n), *lung30 = wk->own_lung30 = malloc(n);
    uint8_t *side = wk->own_side = malloc(n);
    uint8_t *grow10 = wk->own_grow10 = malloc(n), *grow30 = wk->own_grow30 = malloc(n);
    wk->claimed = calloc(n, sizeof *wk->claimed);
    if (!lung || !lung30 || !grow10 || !grow30 || !side || !wk->claimed)
        return rn_error_set(err, RN_ERR_NOMEM, "lungct: detection buffers");
    for (size_t z = 0; z < nz; z++)
        for (size_t y = 0; y < ny; y++) {
            size_t gi = rn_image_index(v->nx, v->ny, lo[0], y + lo[1], z + lo[2]);
            memcpy(lung + rn_image_index(nx, ny, 0, y, z), lungs->mask->data + gi, nx);
            memcpy(side + rn_image_index(nx, ny, 0, y, z), lungs->side + gi, nx);
            memcpy(lung30 + rn_image_index(nx, ny, 0, y, z), lungs->mass_mask->data + gi, nx);
        }
    wk->lung10 = wk->lung = lung;
    wk->lung30 = lung30;
    /* The pleural rim: lung voxels within 1.5 pixels (in-plane) of the wall hold the wall's
     * partial volume, between the parenchyma and soft tissue, and would let a region grown at a
     * nodule's half-maximum run along the pleura. Regions grow without it; a juxtapleural
     * nodule loses one voxel at its contact, which the wall's share of the volume is anyway. */
    int rc;
    if ((rc = pleural_rim_removed(lung, w, grow10, err)) ||
        (rc = pleural_rim_removed(lung30, w, grow30, err)))
        return rc;
    wk->grow10 = wk->grow = grow10;
    wk->grow30 = grow30;
    wk->side = side;
    /* ROI scratch sized for the largest ROI. */
    size_t cap_roi = 1;
    for (int a = 0; a < 3; a++) {
        size_t d = 2 * (size_t)ceil(ROI_MAX_MM / w->spacing[a]) + 1;
        cap_roi *= d;
    }
    wk->cap = cap_roi;
    wk->allowed = malloc(cap_roi);
    wk->region = malloc(cap_roi);
    wk->aux = malloc(cap_roi);
    wk->vals = malloc(cap_roi * sizeof *wk->vals);
    wk->queue = malloc(cap_roi * sizeof *wk->queue);
    wk->orig = malloc(cap_roi);
    wk->low = malloc(cap_roi);
    wk->vessel = malloc(cap_roi);
    wk->dist = malloc(cap_roi * sizeof *wk->dist);
    wk->dist2 = malloc(cap_roi * sizeof *wk->dist2);
    if (!wk->allowed || !wk->region || !wk->aux || !wk->vals || !wk->queue || !wk->orig ||
        !wk->low || !wk->vessel || !wk->dist || !wk->dist2)
        return rn_error_set(err, RN_ERR_NOMEM, "lungct: measurement buffers");
    return 0;
}

static void work_free(Work *wk)
{
    free(wk->allowed);
    free(wk->region);
    free(wk->aux);
    free(wk->vals);
    free(wk->queue);
    free(wk->orig);
    free(wk->low);
    free(wk->vessel);
    free(wk->dist);
    free(wk->dist2);
    free(wk->claimed);
    free(wk->own_lung);
    free(wk->own_lung30);
    free(wk->own_grow10);
    free(wk->own_grow30);
    free(wk->own_side);
    rn_volume_destroy(wk->crop);
    memset(wk, 0, sizeof *wk);
}

int rn_lungct_detect(const RnLungScan *scan, const RnLungs *lungs, RnNoduleList *out,
                     RnError *err)
{
    memset(out, 0, sizeof *out);
    if (lungs->bbox_hi[0] <= lungs->bbox_lo[0])
        return 0;
    Work wk;
    int rc = work_init(scan, lungs, &wk, err);
    const RnVolume *w = wk.w;
    size_t nx = w ? w->nx : 0, ny = w ? w->ny : 0, nz = w ? w->nz : 0, n = nx * ny * nz;
    const size_t *lo = lungs->bbox_lo;
    uint8_t *lung = wk.own_lung, *lung30 = wk.own_lung30;
    uint8_t *bscale = NULL;
    float *best = NULL, *bsph = NULL;
    Cand *cands = NULL;
    if (rc)
        goto out;
    bscale = malloc(n);
    best = malloc(n * sizeof *best);
    bsph = malloc(n * sizeof *bsph);
    if (!bscale || !best || !bsph) {
        rc = rn_error_set(err, RN_ERR_NOMEM, "lungct: detection buffers");
        goto out;
    }
    if ((rc = blob_filter(w, lung, lung30, best, bscale, bsph, err)))
        goto out;
    /* Local maxima (26-neighbourhood) above the response floor. */
    size_t ncand = 0, cap = 1024;
    cands = malloc(cap * sizeof *cands);
    if (!cands) {
        rc = rn_error_set(err, RN_ERR_NOMEM, "lungct: candidates");
        goto out;
    }
    for (size_t z = 0; z < nz; z++)
        for (size_t y = 0; y < ny; y++)
            for (size_t x = 0; x < nx; x++) {
                size_t i = rn_image_index(nx, ny, x, y, z);
                float b = best[i];
                if (b < MIN_RESPONSE || bsph[i] < MIN_SPHERICITY)
                    continue;
                bool peak = true;
                for (int dz = -1; dz <= 1 && peak; dz++)
                    for (int dy = -1; dy <= 1 && peak; dy++)
                        for (int dx = -1; dx <= 1 && peak; dx++) {
                            long xx = (long)x + dx, yy = (long)y + dy, zz = (long)z + dz;
                            if ((!dx && !dy && !dz) || xx < 0 || yy < 0 || zz < 0 ||
                                xx >= (long)nx || yy >= (long)ny || zz >= (long)nz)
                                continue;
                            size_t j = rn_image_index(nx, ny, (size_t)xx, (size_t)yy, (size_t)zz);
                            /* ties: the first in scan order wins */
                            if (best[j] > b || (best[j] == b && j < i))
                                peak = false;
                        }
                if (!peak)
                    continue;
                if (ncand == cap) {
                    Cand *g = realloc(cands, 2 * cap * sizeof *g);
                    if (!g) {
                        rc = rn_error_set(err, RN_ERR_NOMEM, "lungct: candidates");
                        goto out;
                    }
                    cands = g;
                    cap *= 2;
                }
                cands[ncand++] = (Cand){x, y, z, b, bscale[i], bsph[i]};
            }
    qsort(cands, ncand, sizeof *cands, cmp_cand);
    /* Non-maximum suppression across scales: within 0.8 blob radius of a stronger one. */
    size_t kept = 0;
    for (size_t i = 0; i < ncand && kept < MAX_CANDIDATES; i++) {
        bool sup = false;
        for (size_t k = 0; k < kept && !sup; k++) {
            double dx = ((double)cands[i].x - (double)cands[k].x) * w->spacing[0];
            double dy = ((double)cands[i].y - (double)cands[k].y) * w->spacing[1];
            double dz = ((double)cands[i].z - (double)cands[k].z) * w->spacing[2];
            double rk = SCALES_MM[cands[k].scale] * sqrt(3.0);
            sup = dx * dx + dy * dy + dz * dz < 0.64 * rk * rk;
        }
        if (!sup)
            cands[kept++] = cands[i];
    }
    /* Lung masses against the wall or the mediastinum are no bright blob at any scale: soft
     * tissue (>= -300 HU) inside the 30 mm envelope, in components of at least 4 mL, is
     * offered as a candidate at its centroid (measured first, as the largest). */
    {
        RnMask tm = {.nx = nx, .ny = ny, .nz = nz, .data = lung30};
        memcpy(tm.spacing, w->spacing, sizeof tm.spacing);
        uint8_t *tissue = malloc(n);
        int32_t *lab = malloc(n * sizeof *lab);
        size_t *sizes = NULL;
        if (!tissue || !lab) {
            free(tissue);
            free(lab);
            rc = rn_error_set(err, RN_ERR_NOMEM, "lungct: mass candidates");
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            tissue[i] = lung30[i] && w->data[i] >= SOLID_HU;
        tm.data = tissue;
        long nl = rn_image_label(&tm, 6, lab, &sizes, err);
        double vox = w->spacing[0] * w->spacing[1] * w->spacing[2];
        for (long k = 1; nl > 0 && k <= nl && kept < MAX_CANDIDATES + 16; k++) {
            if ((double)sizes[k] * vox < MASS_MIN_MM3)
                continue;
            double m[3] = {0, 0, 0};
            for (size_t i = 0; i < n; i++)
                if (lab[i] == k) {
                    m[0] += (double)(i % nx);
                    m[1] += (double)((i / nx) % ny);
                    m[2] += (double)(i / (nx * ny));
                }
            size_t cx = (size_t)lround(m[0] / (double)sizes[k]);
            size_t cy = (size_t)lround(m[1] / (double)sizes[k]);
            size_t cz = (size_t)lround(m[2] / (double)sizes[k]);
            if (lab[rn_image_index(nx, ny, cx, cy, cz)] != k)
                continue; /* not compact (a vessel tree, a crescent) */
            double req = cbrt(3.0 * (double)sizes[k] * vox / (4.0 * M_PI));
            int sc = NSCALES - 1;
            while (sc > 0 && SCALES_MM[sc - 1] * sqrt(3.0) >= req)
                sc--;
            memmove(cands + 1, cands, kept * sizeof *cands);
            cands[0] = (Cand){cx, cy, cz, (float)MASS_RESPONSE, sc < 6 ? 6 : sc, 1.0f};
            kept++;
        }
        free(sizes);
        free(tissue);
        free(lab);
        if (nl < 0) {
            rc = (int)nl;
            goto out;
        }
    }
    out->candidates = kept;
    out->items = calloc(kept ? kept : 1, sizeof *out->items);
    if (!out->items) {
        rc = rn_error_set(err, RN_ERR_NOMEM, "lungct: findings");
        goto out;
    }
    for (size_t i = 0; i < kept; i++) {
        RnNodule nd;
        int m = measure(&wk, &cands[i], lo, (int)out->count + 1, &nd, err);
        if (m < 0) {
            rc = m;
            goto out;
        }
        if (!m) {
            out->rejected++;
            continue;
        }
        rn_lungct_voxel_to_patient(scan, nd.center_voxel, nd.center_patient);
        nd.prior_index = -1;
        out->items[out->count++] = nd;
    }
    out->merged = rn_lungct_merge_duplicates(out);
out:
    work_free(&wk);
    free(cands);
    free(bscale);
    free(best);
    free(bsph);
    if (rc)
        rn_lungct_nodules_free(out);
    return rc;
}

int rn_lungct_measure_at(const RnLungScan *scan, const RnLungs *lungs, const double (*pts)[3],
                         const double *radius_mm, size_t count, RnNodule *out, bool *found,
                         RnError *err)
{
    for (size_t i = 0; i < count; i++)
        found[i] = false;
    if (!count || lungs->bbox_hi[0] <= lungs->bbox_lo[0])
        return 0;
    Work wk;
    int rc = work_init(scan, lungs, &wk, err);
    if (rc) {
        work_free(&wk);
        return rc;
    }
    wk.targeted = true;
    const RnVolume *w = wk.w;
    const double *sp = w->spacing;
    const size_t *lo = lungs->bbox_lo;
    for (size_t i = 0; i < count && !rc; i++) {
        double v[3];
        rn_lungct_patient_to_voxel(scan, pts[i], v);
        double c[3] = {v[0] - (double)lo[0], v[1] - (double)lo[1], v[2] - (double)lo[2]};
        double rs = fmax(TARGETED_SEARCH_MM, radius_mm[i]);
        /* The densest spot (3x3x3 mean) of the lungs within rs of the point: up to three,
         * each at least 2 mm from the others, measured in turn until one is a nodule. */
        Cand tries[3];
        double score[3] = {-1e9, -1e9, -1e9};
        long h[3];
        for (int a = 0; a < 3; a++)
            h[a] = (long)ceil(rs / sp[a]);
        long wn[3] = {(long)w->nx, (long)w->ny, (long)w->nz};
        for (long z = lround(c[2]) - h[2]; z <= lround(c[2]) + h[2]; z++)
            for (long y = lround(c[1]) - h[1]; y <= lround(c[1]) + h[1]; y++)
                for (long x = lround(c[0]) - h[0]; x <= lround(c[0]) + h[0]; x++) {
                    if (x < 0 || y < 0 || z < 0 || x >= wn[0] || y >= wn[1] || z >= wn[2])
                        continue;
                    double dx = ((double)x - c[0]) * sp[0], dy = ((double)y - c[1]) * sp[1],
                           dz = ((double)z - c[2]) * sp[2];
                    if (dx * dx + dy * dy + dz * dz > rs * rs ||
                        !wk.lung10[rn_image_index(w->nx, w->ny, (size_t)x, (size_t)y, (size_t)z)])
                        continue;
                    double b = box_mean(w, (size_t)x, (size_t)y, (size_t)z, 1);
                    int slot = -1;
                    for (int k = 0; k < 3; k++) {
                        if (score[k] <= -1e9)
                            continue;
                        double ex = ((double)x - (double)tries[k].x) * sp[0],
                               ey = ((double)y - (double)tries[k].y) * sp[1],
                               ez = ((double)z - (double)tries[k].z) * sp[2];
                        if (ex * ex + ey * ey + ez * ez < 4.0) {
                            slot = b > score[k] ? k : 3; /* near a kept one: replace or skip */
                            break;
                        }
                    }
                    if (slot == 3)
                        continue;
                    if (slot < 0) { /* the weakest slot */
                        slot = 0;
                        for (int k = 1; k < 3; k++)
                            if (score[k] < score[slot])
                                slot = k;
                        if (b <= score[slot])
                            continue;
                    }
                    score[slot] = b;
                    tries[slot] = (Cand){(size_t)x, (size_t)y, (size_t)z, 0.0f, 0, 0.0f};
                }
        int sc = 0;
        while (sc + 1 < MASS_SCALE_INDEX && SCALES_MM[sc] * sqrt(3.0) < radius_mm[i])
            sc++;
        for (int t = 0; t < 3; t++) {
            int k = 0; /* the best remaining */
            for (int q = 1; q < 3; q++)
                if (score[q] > score[k])
                    k = q;
            if (score[k] <= -1e9)
                break;
            score[k] = -1e9;
            tries[k].scale = sc;
            RnNodule nd;
            int m = measure(&wk, &tries[k], lo, (int)i + 1, &nd, err);
            if (m < 0) {
                rc = m;
                break;
            }
            if (!m)
                continue;
            rn_lungct_voxel_to_patient(scan, nd.center_voxel, nd.center_patient);
            double d2 = 0;
            for (int a = 0; a < 3; a++)
                d2 += (nd.center_patient[a] - pts[i][a]) * (nd.center_patient[a] - pts[i][a]);
            if (d2 > rs * rs)
                continue; /* something else, beside the point */
            nd.prior_index = -1;
            out[i] = nd;
            found[i] = true;
            break;
        }
    }
    work_free(&wk);
    return rc;
}
