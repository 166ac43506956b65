/*
 * Follow-up against the prior CT: rigid registration of the two lung masks,
 * nodule matching, volume change and volume doubling time.
 *
 * Registration maps prior patient coordinates into current ones (p' = R p +
 * t). It starts from the lung centroids (and the principal axes of the lung
 * masks when they agree within 20 degrees), then a coordinate search over
 * three translations and three rotations about the prior lung centroid
 * maximises the fraction of prior lung samples (about every 2 mm) that land
 * inside the current lungs, halving the steps (4 mm / 2 degrees down to
 * 0.25 mm / 0.125 degrees). Lungs move and breathe, so this aligns the lungs
 * as a whole; the matching tolerance below absorbs the rest.
 *
 * Matching: each prior nodule, moved by the registration, is paired with the
 * nearest current nodule within max(10 mm, its mean axis), closest pairs
 * first. VDT = t ln 2 / ln(V2 / V1) with t in days between the study dates
 * (PRODUCT.md, NELSON); classes < 400 (fast), 400-600 (intermediate), > 600
 * days (slow).
 */
#include "lungct_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double rn_lungct_vdt(double v1, double v2, double days)
{
    if (!(v1 > 0) || !(v2 > 0) || !(days > 0) || v2 <= v1)
        return 0;
    return days * M_LN2 / log(v2 / v1);
}

const char *rn_lungct_vdt_class(double vdt)
{
    if (vdt <= 0)
        return "none";
    return vdt < 400 ? "fast" : vdt <= 600 ? "intermediate" : "slow";
}

typedef struct Samples {
    double *p; /* 3 per sample, patient mm */
    size_t n;
    double centroid[3];
    double cov[6];
} Samples;

static int sample_mask(const RnLungScan *scan, const RnLungs *l, Samples *s, RnError *err)
{
    const RnMask *m = l->mask;
    size_t step[3];
    for (int a = 0; a < 3; a++) {
        double q = 2.0 / m->spacing[a];
        step[a] = q < 1 ? 1 : (size_t)q;
    }
    size_t cap = 0;
    for (size_t z = 0; z < m->nz; z += step[2])
        for (size_t y = 0; y < m->ny; y += step[1])
            for (size_t x = 0; x < m->nx; x += step[0])
                cap += m->data[rn_image_index(m->nx, m->ny, x, y, z)] != 0;
    memset(s, 0, sizeof *s);
    if (!cap)
        return 0;
    s->p = malloc(cap * 3 * sizeof *s->p);
    if (!s->p)
        return rn_error_set(err, RN_ERR_NOMEM, "lungct: registration samples");
    for (size_t z = 0; z < m->nz; z += step[2])
        for (size_t y = 0; y < m->ny; y += step[1])
            for (size_t x = 0; x < m->nx; x += step[0])
                if (m->data[rn_image_index(m->nx, m->ny, x, y, z)]) {
                    double v[3] = {(double)x, (double)y, (double)z};
                    rn_lungct_voxel_to_patient(scan, v, &s->p[3 * s->n]);
                    s->n++;
                }
    for (size_t i = 0; i < s->n; i++)
        for (int a = 0; a < 3; a++)
            s->centroid[a] += s->p[3 * i + a] / (double)s->n;
    for (size_t i = 0; i < s->n; i++) {
        double d[3] = {s->p[3 * i] - s->centroid[0], s->p[3 * i + 1] - s->centroid[1],
                       s->p[3 * i + 2] - s->centroid[2]};
        s->cov[0] += d[0] * d[0];
        s->cov[1] += d[1] * d[1];
        s->cov[2] += d[2] * d[2];
        s->cov[3] += d[0] * d[1];
        s->cov[4] += d[0] * d[2];
        s->cov[5] += d[1] * d[2];
    }
    for (int a = 0; a < 6; a++)
        s->cov[a] /= (double)s->n;
    return 0;
}

static void rot_from_angles(const double ang[3], double R[3][3])
{
    double cx = cos(ang[0]), sx = sin(ang[0]), cy = cos(ang[1]), sy = sin(ang[1]),
           cz = cos(ang[2]), sz = sin(ang[2]);
    /* R = Rz * Ry * Rx */
    R[0][0] = cz * cy;
    R[0][1] = cz * sy * sx - sz * cx;
    R[0][2] = cz * sy * cx + sz * sx;
    R[1][0] = sz * cy;
    R[1][1] = sz * sy * sx + cz * cx;
    R[1][2] = sz * sy * cx - cz * sx;
    R[2][0] = -sy;
    R[2][1] = cy * sx;
    R[2][2] = cy * cx;
}

static void matmul(double A[3][3], double B[3][3], double C[3][3])
{
    double T[3][3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            T[i][j] = A[i][0] * B[0][j] + A[i][1] * B[1][j] + A[i][2] * B[2][j];
    memcpy(C, T, sizeof T);
}

/* Transform: p' = R0 * Ra * (p - c) + c + t */
typedef struct Xf {
    double R0[3][3];
    double c[3];
    double par[6]; /* tx ty tz ax ay az */
} Xf;

static void xf_matrix(const Xf *x, double R[3][3], double t[3])
{
    double Ra[3][3];
    rot_from_angles(&x->par[3], Ra);
    matmul((double(*)[3])x->R0, Ra, R);
    for (int i = 0; i < 3; i++)
        t[i] = x->c[i] + x->par[i] - (R[i][0] * x->c[0] + R[i][1] * x->c[1] + R[i][2] * x->c[2]);
}

static double overlap(const RnLungScan *cur, const RnLungs *cl, const Samples *s, const Xf *x)
{
    double R[3][3], t[3];
    xf_matrix(x, R, t);
    const RnMask *m = cl->mask;
    size_t hit = 0;
    for (size_t i = 0; i < s->n; i++) {
        const double *p = &s->p[3 * i];
        double q[3], v[3];
        for (int a = 0; a < 3; a++)
            q[a] = R[a][0] * p[0] + R[a][1] * p[1] + R[a][2] * p[2] + t[a];
        rn_lungct_patient_to_voxel(cur, q, v);
        long ix = lround(v[0]), iy = lround(v[1]), iz = lround(v[2]);
        if (ix < 0 || iy < 0 || iz < 0 || ix >= (long)m->nx || iy >= (long)m->ny ||
            iz >= (long)m->nz)
            continue;
        hit += m->data[rn_image_index(m->nx, m->ny, (size_t)ix, (size_t)iy, (size_t)iz)] != 0;
    }
    return s->n ? (double)hit / (double)s->n : 0;
}

/* Eigenvectors (columns) of a covariance, by decreasing eigenvalue. */
static void principal_axes(const double cov[6], double E[3][3])
{
    double ev[3];
    rn_image_sym3_eigenvalues(cov, ev); /* covariance: all >= 0, sorted by magnitude */
    for (int k = 0; k < 3; k++) {
        double vec[3];
        rn_image_sym3_eigenvector(cov, ev[k], vec);
        for (int i = 0; i < 3; i++)
            E[i][k] = vec[i];
    }
}

int rn_lungct_register(const RnLungScan *cur, const RnLungs *cur_lungs, const RnLungScan *prior,
                       const RnLungs *prior_lungs, RnLungRegistration *reg, RnError *err)
{
    memset(reg, 0, sizeof *reg);
    for (int i = 0; i < 3; i++)
        reg->rot[i][i] = 1;
    Samples sp, sc;
    int rc = sample_mask(prior, prior_lungs, &sp, err);
    if (rc)
        return rc;
    if ((rc = sample_mask(cur, cur_lungs, &sc, err))) {
        free(sp.p);
        return rc;
    }
    if (!sp.n || !sc.n) {
        free(sp.p);
        free(sc.p);
        return 0;
    }
    Xf x;
    memset(&x, 0, sizeof x);
    for (int i = 0; i < 3; i++) {
        x.R0[i][i] = 1;
        x.c[i] = sp.centroid[i];
        x.par[i] = sc.centroid[i] - sp.centroid[i];
    }
    /* Principal axes: R0 = Ec * S * Ep^T with signs chosen closest to identity. */
    double Ep[3][3], Ec[3][3];
    principal_axes(sp.cov, Ep);
    principal_axes(sc.cov, Ec);
    for (int k = 0; k < 3; k++) {
        double d = Ep[0][k] * Ec[0][k] + Ep[1][k] * Ec[1][k] + Ep[2][k] * Ec[2][k];
        if (d < 0)
            for (int i = 0; i < 3; i++)
                Ec[i][k] = -Ec[i][k];
    }
    double Rpa[3][3];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            Rpa[i][j] = Ec[i][0] * Ep[j][0] + Ec[i][1] * Ep[j][1] + Ec[i][2] * Ep[j][2];
    double tr = Rpa[0][0] + Rpa[1][1] + Rpa[2][2];
    double det = Rpa[0][0] * (Rpa[1][1] * Rpa[2][2] - Rpa[1][2] * Rpa[2][1]) -
                 Rpa[0][1] * (Rpa[1][0] * Rpa[2][2] - Rpa[1][2] * Rpa[2][0]) +
                 Rpa[0][2] * (Rpa[1][0] * Rpa[2][1] - Rpa[1][1] * Rpa[2][0]);
    double angle = acos(fmax(-1.0, fmin(1.0, (tr - 1) / 2))) * 180.0 / M_PI;
    double best = overlap(cur, cur_lungs, &sp, &x);
    if (det > 0 && angle < 20.0) {
        Xf y = x;
        memcpy(y.R0, Rpa, sizeof Rpa);
        double o = overlap(cur, cur_lungs, &sp, &y);
        if (o > best) {
            best = o;
            x = y;
        }
    }
    double step_t = 4.0, step_a = 2.0 * M_PI / 180.0;
    int evals = 0;
    while (step_t >= 0.25 && evals < 600) {
        bool improved = false;
        for (int k = 0; k < 6; k++)
            for (int sgn = -1; sgn <= 1; sgn += 2) {
                Xf y = x;
                y.par[k] += sgn * (k < 3 ? step_t : step_a);
                double o = overlap(cur, cur_lungs, &sp, &y);
                evals++;
                if (o > best + 1e-9) {
                    best = o;
                    x = y;
                    improved = true;
                }
            }
        if (!improved) {
            step_t /= 2;
            step_a /= 2;
        }
    }
    xf_matrix(&x, reg->rot, reg->t);
    reg->overlap = best;
    reg->iterations = evals;
    free(sp.p);
    free(sc.p);
    return 0;
}

typedef struct Pair {
    size_t c, p;
    double d;
} Pair;

static int cmp_pair(const void *a, const void *b)
{
    double x = ((const Pair *)a)->d, y = ((const Pair *)b)->d;
    return x < y ? -1 : x > y;
}

void rn_lungct_link(RnNodule *c, const RnNodule *p, int prior_index, double days)
{
    c->is_new = false;
    c->interval_days = days;
    c->prior_index = prior_index;
    c->prior_volume_mm3 = p->volume_mm3;
    c->prior_volume_sd_mm3 = p->volume_sd_mm3;
    c->prior_type = p->type;
    c->prior_solid_axis_mm = p->type == RN_NODULE_PART_SOLID ? p->solid_long_axis_mm : 0;
    c->prior_mean_axis_mm = p->mean_axis_mm;
    memcpy(c->prior_center_patient, p->center_patient, sizeof c->prior_center_patient);
    c->volume_change_percent =
        p->volume_mm3 > 0 ? 100.0 * (c->volume_mm3 - p->volume_mm3) / p->volume_mm3 : 0;
    c->vdt_days = rn_lungct_vdt(p->volume_mm3, c->volume_mm3, days);
    c->growth_significant = false;
    c->change_sd_percent = 0;
    memset(c->change_ci95_percent, 0, sizeof c->change_ci95_percent);
    memset(c->vdt_ci95_days, 0, sizeof c->vdt_ci95_days);
    if (!(p->volume_mm3 > 0) || !(c->volume_mm3 > 0))
        return;
    /* ln(V2 / V1) is near normal with the variance of the two relative SDs */
    double s1 = p->volume_sd_mm3 / p->volume_mm3, s2 = c->volume_sd_mm3 / c->volume_mm3;
    double lr = log(c->volume_mm3 / p->volume_mm3), s = sqrt(s1 * s1 + s2 * s2);
    double lo = lr - RN_LUNGCT_CI95_Z * s, hi = lr + RN_LUNGCT_CI95_Z * s;
    c->change_sd_percent = 100.0 * exp(lr) * s;
    c->change_ci95_percent[0] = 100.0 * (exp(lo) - 1.0);
    c->change_ci95_percent[1] = 100.0 * (exp(hi) - 1.0);
    c->growth_significant = lo > 0;
    if (days > 0) {
        c->vdt_ci95_days[0] = hi > 0 ? days * M_LN2 / hi : 0;
        c->vdt_ci95_days[1] = lo > 0 ? days * M_LN2 / lo : 0;
    }
}

int rn_lungct_match(RnNoduleList *cur, const RnNoduleList *prior, const RnLungRegistration *reg,
                    double days, bool *prior_matched, RnError *err)
{
    for (size_t i = 0; i < prior->count; i++)
        prior_matched[i] = false;
    for (size_t i = 0; i < cur->count; i++) {
        cur->items[i].has_prior = true;
        cur->items[i].is_new = true;
        cur->items[i].interval_days = days;
        cur->items[i].prior_index = -1;
    }
    size_t np = cur->count * prior->count, n = 0;
    if (!np)
        return 0;
    Pair *pairs = malloc(np * sizeof *pairs);
    if (!pairs)
        return rn_error_set(err, RN_ERR_NOMEM, "lungct: matching");
    for (size_t p = 0; p < prior->count; p++) {
        const double *q = prior->items[p].center_patient;
        double m[3];
        for (int a = 0; a < 3; a++)
            m[a] = reg->rot[a][0] * q[0] + reg->rot[a][1] * q[1] + reg->rot[a][2] * q[2] +
                   reg->t[a];
        for (size_t c = 0; c < cur->count; c++) {
            const double *r = cur->items[c].center_patient;
            double d = sqrt((m[0] - r[0]) * (m[0] - r[0]) + (m[1] - r[1]) * (m[1] - r[1]) +
                            (m[2] - r[2]) * (m[2] - r[2]));
            double tol = fmax(10.0, cur->items[c].mean_axis_mm);
            if (d <= tol && cur->items[c].type == prior->items[p].type)
                pairs[n++] = (Pair){c, p, d};
            else if (d <= tol)
                pairs[n++] = (Pair){c, p, d + 5.0}; /* type may change (GGN gaining a core) */
        }
    }
    qsort(pairs, n, sizeof *pairs, cmp_pair);
    for (size_t k = 0; k < n; k++) {
        RnNodule *c = &cur->items[pairs[k].c];
        if (!c->is_new || prior_matched[pairs[k].p])
            continue;
        prior_matched[pairs[k].p] = true;
        rn_lungct_link(c, &prior->items[pairs[k].p], (int)pairs[k].p, days);
    }
    free(pairs);
    return 0;
}
