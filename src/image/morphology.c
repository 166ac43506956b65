/*
 * Binary morphology on 3D masks (include/radnode/image.h). Dilation and
 * erosion by a ball of radius r mm come from the exact squared Euclidean
 * distance transform of Felzenszwalb and Huttenlocher ("Distance Transforms
 * of Sampled Functions", Theory of Computing 8, 2012): one lower-envelope
 * pass per axis, scaled by the axis spacing, so the cost is linear in the
 * voxel count whatever the radius, and anisotropic CT voxels get a true ball
 * in millimetres. Slice-wise flooding from the border and hole filling serve
 * the usual "outside air" and "fill the vessels back in" steps.
 */
#include "radnode/image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DT_INF 1e30

/* 1D squared distance: d[i] = min_j (s (i - j))^2 + f[j]; v, z scratch of n and n+1. */
static void edt_1d(const double *f, double *d, size_t n, double s, size_t *v, double *zb)
{
    double s2 = s * s;
    long k = -1;
    for (size_t q = 0; q < n; q++) {
        if (f[q] >= DT_INF)
            continue;
        double fq = f[q] / s2 + (double)q * (double)q;
        while (k >= 0) {
            double fv = f[v[k]] / s2 + (double)v[k] * (double)v[k];
            double x = (fq - fv) / (2.0 * (double)q - 2.0 * (double)v[k]);
            if (x <= zb[k]) {
                k--;
                continue;
            }
            k++;
            v[k] = q;
            zb[k] = x;
            break;
        }
        if (k < 0) {
            k = 0;
            v[0] = q;
            zb[0] = -DT_INF;
        }
        zb[k + 1] = DT_INF;
    }
    if (k < 0) {
        for (size_t q = 0; q < n; q++)
            d[q] = DT_INF;
        return;
    }
    long j = 0;
    for (size_t q = 0; q < n; q++) {
        while (j < k && zb[j + 1] < (double)q)
            j++;
        double dq = (double)q - (double)v[j];
        d[q] = s2 * dq * dq + f[v[j]];
    }
}

int rn_image_distance_sq(const RnMask *m, uint8_t target, float *out, RnError *err)
{
    size_t nx = m->nx, ny = m->ny, nz = m->nz, n = nx * ny * nz;
    size_t nmax = nx > ny ? (nx > nz ? nx : nz) : (ny > nz ? ny : nz);
    double *f = malloc(nmax * sizeof *f), *d = malloc(nmax * sizeof *d);
    double *zb = malloc((nmax + 1) * sizeof *zb);
    size_t *v = malloc(nmax * sizeof *v);
    if (!f || !d || !zb || !v) {
        free(f);
        free(d);
        free(zb);
        free(v);
        return rn_error_set(err, RN_ERR_NOMEM, "image: distance transform buffers");
    }
    for (size_t i = 0; i < n; i++)
        out[i] = (m->data[i] != 0) == (target != 0) ? 0.0f : (float)DT_INF;
    size_t dims[3] = {nx, ny, nz}, strides[3] = {1, nx, nx * ny};
    for (int axis = 0; axis < 3; axis++) {
        size_t len = dims[axis], stride = strides[axis];
        for (size_t i = 0; i < n; i++) {
            /* visit each line once: start voxels have coordinate 0 along the axis */
            if ((i / stride) % len != 0)
                continue;
            for (size_t q = 0; q < len; q++) {
                double x = out[i + q * stride];
                f[q] = x >= DT_INF * 0.5 ? DT_INF : x;
            }
            edt_1d(f, d, len, m->spacing[axis], v, zb);
            for (size_t q = 0; q < len; q++)
                out[i + q * stride] = d[q] >= DT_INF * 0.5 ? (float)DT_INF : (float)d[q];
        }
    }
    free(f);
    free(d);
    free(zb);
    free(v);
    return 0;
}

static int same_dims(const RnMask *a, const RnMask *b, RnError *err)
{
    if (a->nx != b->nx || a->ny != b->ny || a->nz != b->nz)
        return rn_error_set(err, RN_ERR_INVALID, "image: mask sizes differ");
    return 0;
}

int rn_image_dilate(const RnMask *in, double radius_mm, RnMask *out, RnError *err)
{
    if (same_dims(in, out, err))
        return RN_ERR_INVALID;
    size_t n = in->nx * in->ny * in->nz;
    float *dist = malloc(n * sizeof *dist);
    if (!dist)
        return rn_error_set(err, RN_ERR_NOMEM, "image: dilation buffer");
    int rc = rn_image_distance_sq(in, 1, dist, err);
    float r2 = (float)(radius_mm * radius_mm) + 1e-4f;
    for (size_t i = 0; !rc && i < n; i++)
        out->data[i] = dist[i] <= r2;
    free(dist);
    return rc;
}

int rn_image_erode(const RnMask *in, double radius_mm, RnMask *out, RnError *err)
{
    if (same_dims(in, out, err))
        return RN_ERR_INVALID;
    size_t n = in->nx * in->ny * in->nz;
    float *dist = malloc(n * sizeof *dist);
    if (!dist)
        return rn_error_set(err, RN_ERR_NOMEM, "image: erosion buffer");
    int rc = rn_image_distance_sq(in, 0, dist, err);
    float r2 = (float)(radius_mm * radius_mm) + 1e-4f;
    for (size_t i = 0; !rc && i < n; i++)
        out->data[i] = dist[i] > r2;
    free(dist);
    return rc;
}

int rn_image_close(const RnMask *in, double radius_mm, RnMask *out, RnError *err)
{
    int rc = rn_image_dilate(in, radius_mm, out, err);
    return rc ? rc : rn_image_erode(out, radius_mm, out, err);
}

int rn_image_open(const RnMask *in, double radius_mm, RnMask *out, RnError *err)
{
    int rc = rn_image_erode(in, radius_mm, out, err);
    return rc ? rc : rn_image_dilate(out, radius_mm, out, err);
}

int rn_image_flood_border_2d(const RnMask *in, RnMask *out, RnError *err)
{
    if (same_dims(in, out, err))
        return RN_ERR_INVALID;
    if (in == out)
        return rn_error_set(err, RN_ERR_INVALID, "image: flood output may not be its input");
    size_t nx = in->nx, ny = in->ny, ns = nx * ny;
    size_t *queue = malloc(ns * sizeof *queue);
    if (!queue)
        return rn_error_set(err, RN_ERR_NOMEM, "image: flood queue");
    memset(out->data, 0, ns * in->nz);
    for (size_t z = 0; z < in->nz; z++) {
        const uint8_t *src = in->data + z * ns;
        uint8_t *dst = out->data + z * ns;
        size_t head = 0, tail = 0;
        for (size_t y = 0; y < ny; y++)
            for (size_t x = 0; x < nx; x++) {
                if (x && y && x + 1 < nx && y + 1 < ny)
                    continue;
                size_t i = y * nx + x;
                if (src[i] && !dst[i]) {
                    dst[i] = 1;
                    queue[tail++] = i;
                }
            }
        while (head < tail) {
            size_t i = queue[head++], x = i % nx, y = i / nx;
            size_t nb[4];
            int c = 0;
            if (x > 0) nb[c++] = i - 1;
            if (x + 1 < nx) nb[c++] = i + 1;
            if (y > 0) nb[c++] = i - nx;
            if (y + 1 < ny) nb[c++] = i + nx;
            for (int k = 0; k < c; k++)
                if (src[nb[k]] && !dst[nb[k]]) {
                    dst[nb[k]] = 1;
                    queue[tail++] = nb[k];
                }
        }
    }
    free(queue);
    return 0;
}

int rn_image_fill_holes_2d(const RnMask *in, RnMask *out, RnError *err)
{
    if (same_dims(in, out, err))
        return RN_ERR_INVALID;
    size_t n = in->nx * in->ny * in->nz;
    RnMask *bg = rn_mask_create(in->nx, in->ny, in->nz, in->spacing, err);
    RnMask *outside = bg ? rn_mask_create(in->nx, in->ny, in->nz, in->spacing, err) : NULL;
    if (!outside) {
        rn_mask_destroy(bg);
        return err ? err->code : RN_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++)
        bg->data[i] = !in->data[i];
    int rc = rn_image_flood_border_2d(bg, outside, err);
    for (size_t i = 0; !rc && i < n; i++)
        out->data[i] = !outside->data[i];
    rn_mask_destroy(bg);
    rn_mask_destroy(outside);
    return rc;
}

long rn_image_label(const RnMask *m, int connectivity, int32_t *labels, size_t **sizes,
                    RnError *err)
{
    int maxnz, planar = 0;
    switch (connectivity) {
    case 6: maxnz = 1; break;
    case 18: maxnz = 2; break;
    case 26: maxnz = 3; break;
    case 4: maxnz = 1; planar = 1; break;
    case 8: maxnz = 2; planar = 1; break;
    default: return rn_error_set(err, RN_ERR_INVALID, "image: connectivity %d", connectivity);
    }
    int off[26][3], noff = 0;
    for (int dz = -1; dz <= 1; dz++)
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                int nzc = (dx != 0) + (dy != 0) + (dz != 0);
                if (!nzc || nzc > maxnz || (planar && dz))
                    continue;
                off[noff][0] = dx;
                off[noff][1] = dy;
                off[noff][2] = dz;
                noff++;
            }
    size_t nx = m->nx, ny = m->ny, nz = m->nz, n = nx * ny * nz;
    size_t *queue = malloc(n * sizeof *queue);
    size_t cap = 64, *sz = calloc(cap, sizeof *sz);
    if (!queue || !sz) {
        free(queue);
        free(sz);
        return rn_error_set(err, RN_ERR_NOMEM, "image: labelling buffers");
    }
    memset(labels, 0, n * sizeof *labels);
    long count = 0;
    for (size_t s = 0; s < n; s++) {
        if (!m->data[s] || labels[s])
            continue;
        if (count >= INT32_MAX - 1) {
            free(queue);
            free(sz);
            return rn_error_set(err, RN_ERR_LIMIT, "image: too many components");
        }
        int32_t lab = (int32_t)++count;
        if ((size_t)count >= cap) {
            size_t *g = realloc(sz, 2 * cap * sizeof *g);
            if (!g) {
                free(queue);
                free(sz);
                return rn_error_set(err, RN_ERR_NOMEM, "image: labelling sizes");
            }
            memset(g + cap, 0, cap * sizeof *g);
            sz = g;
            cap *= 2;
        }
        size_t head = 0, tail = 0;
        queue[tail++] = s;
        labels[s] = lab;
        while (head < tail) {
            size_t i = queue[head++];
            size_t x = i % nx, y = (i / nx) % ny, z = i / (nx * ny);
            for (int k = 0; k < noff; k++) {
                long xx = (long)x + off[k][0], yy = (long)y + off[k][1], zz = (long)z + off[k][2];
                if (xx < 0 || yy < 0 || zz < 0 || xx >= (long)nx || yy >= (long)ny ||
                    zz >= (long)nz)
                    continue;
                size_t j = rn_image_index(nx, ny, (size_t)xx, (size_t)yy, (size_t)zz);
                if (m->data[j] && !labels[j]) {
                    labels[j] = lab;
                    queue[tail++] = j;
                }
            }
        }
        sz[count] = tail;
    }
    free(queue);
    if (sizes)
        *sizes = sz;
    else
        free(sz);
    return count;
}
