/*
 * 3D volumes and masks (include/radnode/image.h): allocation with a bound on
 * the voxel count, cloning, cropping, thresholding and trilinear resampling.
 * Every size product is checked for overflow before allocation, because the
 * dimensions come from DICOM headers (Rows, Columns, number of slices).
 */
#include "radnode/image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int check_dims(size_t nx, size_t ny, size_t nz, const double spacing[3], RnError *err)
{
    if (!nx || !ny || !nz)
        return rn_error_set(err, RN_ERR_INVALID, "image: empty dimension %zux%zux%zu", nx, ny, nz);
    if (nx > RN_VOLUME_MAX_VOXELS / ny || nx * ny > RN_VOLUME_MAX_VOXELS / nz)
        return rn_error_set(err, RN_ERR_LIMIT, "image: %zux%zux%zu voxels exceed the limit", nx,
                            ny, nz);
    for (int a = 0; a < 3; a++)
        if (!(spacing[a] > 0.0) || !isfinite(spacing[a]))
            return rn_error_set(err, RN_ERR_INVALID, "image: spacing %d is not positive", a);
    return 0;
}

RnVolume *rn_volume_create(size_t nx, size_t ny, size_t nz, const double spacing[3], RnError *err)
{
    if (check_dims(nx, ny, nz, spacing, err))
        return NULL;
    RnVolume *v = rn_calloc(1, sizeof *v);
    float *d = rn_calloc(nx * ny * nz, sizeof *d);
    if (!v || !d) {
        free(v);
        free(d);
        rn_error_set(err, RN_ERR_NOMEM, "image: cannot allocate %zux%zux%zu volume", nx, ny, nz);
        return NULL;
    }
    v->nx = nx;
    v->ny = ny;
    v->nz = nz;
    memcpy(v->spacing, spacing, sizeof v->spacing);
    v->data = d;
    return v;
}

void rn_volume_destroy(RnVolume *v)
{
    if (!v)
        return;
    free(v->data);
    free(v);
}

RnVolume *rn_volume_clone(const RnVolume *v, RnError *err)
{
    RnVolume *c = rn_volume_create(v->nx, v->ny, v->nz, v->spacing, err);
    if (c)
        memcpy(c->data, v->data, v->nx * v->ny * v->nz * sizeof *c->data);
    return c;
}

RnVolume *rn_volume_crop(const RnVolume *v, const size_t lo[3], const size_t hi[3], RnError *err)
{
    size_t n[3] = {v->nx, v->ny, v->nz}, a[3], b[3];
    for (int k = 0; k < 3; k++) {
        a[k] = lo[k] < n[k] ? lo[k] : n[k];
        b[k] = hi[k] < n[k] ? hi[k] : n[k];
        if (b[k] <= a[k]) {
            rn_error_set(err, RN_ERR_INVALID, "image: empty crop along axis %d", k);
            return NULL;
        }
    }
    RnVolume *c = rn_volume_create(b[0] - a[0], b[1] - a[1], b[2] - a[2], v->spacing, err);
    if (!c)
        return NULL;
    for (size_t z = 0; z < c->nz; z++)
        for (size_t y = 0; y < c->ny; y++)
            memcpy(&c->data[rn_image_index(c->nx, c->ny, 0, y, z)],
                   &v->data[rn_image_index(v->nx, v->ny, a[0], y + a[1], z + a[2])],
                   c->nx * sizeof *c->data);
    return c;
}

static double clampd(double x, double lo, double hi) { return x < lo ? lo : x > hi ? hi : x; }

float rn_volume_sample(const RnVolume *v, double x, double y, double z)
{
    x = clampd(x, 0, (double)(v->nx - 1));
    y = clampd(y, 0, (double)(v->ny - 1));
    z = clampd(z, 0, (double)(v->nz - 1));
    size_t x0 = (size_t)x, y0 = (size_t)y, z0 = (size_t)z;
    size_t x1 = x0 + 1 < v->nx ? x0 + 1 : x0, y1 = y0 + 1 < v->ny ? y0 + 1 : y0,
           z1 = z0 + 1 < v->nz ? z0 + 1 : z0;
    double fx = x - (double)x0, fy = y - (double)y0, fz = z - (double)z0;
#define V(i, j, k) ((double)v->data[rn_image_index(v->nx, v->ny, (i), (j), (k))])
    double c00 = V(x0, y0, z0) * (1 - fx) + V(x1, y0, z0) * fx;
    double c10 = V(x0, y1, z0) * (1 - fx) + V(x1, y1, z0) * fx;
    double c01 = V(x0, y0, z1) * (1 - fx) + V(x1, y0, z1) * fx;
    double c11 = V(x0, y1, z1) * (1 - fx) + V(x1, y1, z1) * fx;
#undef V
    double c0 = c00 * (1 - fy) + c10 * fy, c1 = c01 * (1 - fy) + c11 * fy;
    return (float)(c0 * (1 - fz) + c1 * fz);
}

RnVolume *rn_volume_resample(const RnVolume *v, const double spacing[3], RnError *err)
{
    size_t n[3] = {v->nx, v->ny, v->nz}, m[3];
    for (int k = 0; k < 3; k++) {
        if (!(spacing[k] > 0.0)) {
            rn_error_set(err, RN_ERR_INVALID, "image: resampling spacing %d is not positive", k);
            return NULL;
        }
        double extent = (double)(n[k] - 1) * v->spacing[k];
        double cnt = floor(extent / spacing[k] + 1e-6) + 1.0;
        if (cnt > (double)RN_VOLUME_MAX_VOXELS) {
            rn_error_set(err, RN_ERR_LIMIT, "image: resampled grid too large");
            return NULL;
        }
        m[k] = (size_t)cnt;
    }
    RnVolume *r = rn_volume_create(m[0], m[1], m[2], spacing, err);
    if (!r)
        return NULL;
    for (size_t z = 0; z < m[2]; z++)
        for (size_t y = 0; y < m[1]; y++)
            for (size_t x = 0; x < m[0]; x++)
                r->data[rn_image_index(m[0], m[1], x, y, z)] =
                    rn_volume_sample(v, (double)x * spacing[0] / v->spacing[0],
                                     (double)y * spacing[1] / v->spacing[1],
                                     (double)z * spacing[2] / v->spacing[2]);
    return r;
}

RnMask *rn_mask_create(size_t nx, size_t ny, size_t nz, const double spacing[3], RnError *err)
{
    if (check_dims(nx, ny, nz, spacing, err))
        return NULL;
    RnMask *m = rn_calloc(1, sizeof *m);
    uint8_t *d = rn_calloc(nx * ny * nz, 1);
    if (!m || !d) {
        free(m);
        free(d);
        rn_error_set(err, RN_ERR_NOMEM, "image: cannot allocate %zux%zux%zu mask", nx, ny, nz);
        return NULL;
    }
    m->nx = nx;
    m->ny = ny;
    m->nz = nz;
    memcpy(m->spacing, spacing, sizeof m->spacing);
    m->data = d;
    return m;
}

void rn_mask_destroy(RnMask *m)
{
    if (!m)
        return;
    free(m->data);
    free(m);
}

RnMask *rn_mask_clone(const RnMask *m, RnError *err)
{
    RnMask *c = rn_mask_create(m->nx, m->ny, m->nz, m->spacing, err);
    if (c)
        memcpy(c->data, m->data, m->nx * m->ny * m->nz);
    return c;
}

size_t rn_mask_count(const RnMask *m)
{
    size_t n = m->nx * m->ny * m->nz, c = 0;
    for (size_t i = 0; i < n; i++)
        c += m->data[i] != 0;
    return c;
}

int rn_mask_threshold(const RnVolume *v, float lo, float hi, RnMask *m, RnError *err)
{
    if (m->nx != v->nx || m->ny != v->ny || m->nz != v->nz)
        return rn_error_set(err, RN_ERR_INVALID, "image: mask and volume sizes differ");
    size_t n = v->nx * v->ny * v->nz;
    for (size_t i = 0; i < n; i++)
        m->data[i] = v->data[i] >= lo && v->data[i] < hi;
    return 0;
}
