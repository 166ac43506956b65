/*
 * Linear filters on 3D volumes (include/radnode/image.h): separable Gaussian
 * smoothing with the standard deviation given in mm per axis (so anisotropic
 * CT voxels are smoothed isotropically in space), the Hessian by central
 * differences, and the closed-form eigenvalues of a symmetric 3x3 matrix
 * (Smith, CACM 1961), which the blob and tube filters of the analyzers use.
 */
#include "radnode/image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Normalised kernel of radius ceil(3 sigma) voxels; NULL with *radius 0 for no smoothing. */
static double *gauss_kernel(double sigma_vox, size_t *radius)
{
    *radius = 0;
    if (!(sigma_vox > 0.05))
        return NULL;
    size_t r = (size_t)ceil(3.0 * sigma_vox);
    if (r > 4096)
        r = 4096;
    double *k = malloc((2 * r + 1) * sizeof *k);
    if (!k)
        return NULL;
    double s = 0;
    for (size_t i = 0; i <= 2 * r; i++) {
        double d = (double)i - (double)r;
        k[i] = exp(-0.5 * d * d / (sigma_vox * sigma_vox));
        s += k[i];
    }
    for (size_t i = 0; i <= 2 * r; i++)
        k[i] /= s;
    *radius = r;
    return k;
}

/* Convolves n samples spaced `stride` apart in place, borders replicated. */
static void convolve_line(float *p, size_t n, size_t stride, const double *k, size_t r, double *line,
                          double *tmp)
{
    for (size_t i = 0; i < n; i++)
        line[i] = p[i * stride];
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (size_t j = 0; j <= 2 * r; j++) {
            long q = (long)i + (long)j - (long)r;
            q = q < 0 ? 0 : q >= (long)n ? (long)n - 1 : q;
            s += k[j] * line[q];
        }
        tmp[i] = s;
    }
    for (size_t i = 0; i < n; i++)
        p[i * stride] = (float)tmp[i];
}

int rn_image_gaussian(const RnVolume *in, const double sigma_mm[3], RnVolume *out, RnError *err)
{
    if (out->nx != in->nx || out->ny != in->ny || out->nz != in->nz)
        return rn_error_set(err, RN_ERR_INVALID, "image: gaussian output size differs");
    size_t nx = in->nx, ny = in->ny, nz = in->nz;
    if (out != in)
        memcpy(out->data, in->data, nx * ny * nz * sizeof *out->data);
    size_t nmax = nx > ny ? (nx > nz ? nx : nz) : (ny > nz ? ny : nz);
    double *line = malloc(nmax * sizeof *line), *tmp = malloc(nmax * sizeof *tmp);
    if (!line || !tmp) {
        free(line);
        free(tmp);
        return rn_error_set(err, RN_ERR_NOMEM, "image: gaussian buffers");
    }
    int rc = 0;
    for (int axis = 0; axis < 3 && !rc; axis++) {
        size_t r;
        double *k = gauss_kernel(sigma_mm[axis] / in->spacing[axis], &r);
        if (!k)
            continue;
        float *d = out->data;
        if (axis == 0) {
            for (size_t z = 0; z < nz; z++)
                for (size_t y = 0; y < ny; y++)
                    convolve_line(d + rn_image_index(nx, ny, 0, y, z), nx, 1, k, r, line, tmp);
        } else if (axis == 1) {
            for (size_t z = 0; z < nz; z++)
                for (size_t x = 0; x < nx; x++)
                    convolve_line(d + rn_image_index(nx, ny, x, 0, z), ny, nx, k, r, line, tmp);
        } else {
            for (size_t y = 0; y < ny; y++)
                for (size_t x = 0; x < nx; x++)
                    convolve_line(d + rn_image_index(nx, ny, x, y, 0), nz, nx * ny, k, r, line,
                                  tmp);
        }
        free(k);
    }
    free(line);
    free(tmp);
    return rc;
}

void rn_image_hessian_at(const RnVolume *v, size_t x, size_t y, size_t z, double h[6])
{
    size_t nx = v->nx, ny = v->ny, nz = v->nz;
    size_t xm = x ? x - 1 : 0, xp = x + 1 < nx ? x + 1 : x;
    size_t ym = y ? y - 1 : 0, yp = y + 1 < ny ? y + 1 : y;
    size_t zm = z ? z - 1 : 0, zp = z + 1 < nz ? z + 1 : z;
    double sx = v->spacing[0], sy = v->spacing[1], sz = v->spacing[2];
#define V(i, j, k) ((double)v->data[rn_image_index(nx, ny, (i), (j), (k))])
    double c = V(x, y, z);
    h[0] = (V(xp, y, z) - 2 * c + V(xm, y, z)) / (sx * sx);
    h[1] = (V(x, yp, z) - 2 * c + V(x, ym, z)) / (sy * sy);
    h[2] = (V(x, y, zp) - 2 * c + V(x, y, zm)) / (sz * sz);
    h[3] = (V(xp, yp, z) - V(xp, ym, z) - V(xm, yp, z) + V(xm, ym, z)) / (4 * sx * sy);
    h[4] = (V(xp, y, zp) - V(xp, y, zm) - V(xm, y, zp) + V(xm, y, zm)) / (4 * sx * sz);
    h[5] = (V(x, yp, zp) - V(x, yp, zm) - V(x, ym, zp) + V(x, ym, zm)) / (4 * sy * sz);
#undef V
}

void rn_image_sym3_eigenvalues(const double h[6], double eig[3])
{
    double a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5];
    double p1 = d * d + e * e + f * f;
    double l[3];
    if (p1 < 1e-30 * (a * a + b * b + c * c + 1e-300)) {
        l[0] = a;
        l[1] = b;
        l[2] = c;
    } else {
        double q = (a + b + c) / 3.0;
        double p2 = (a - q) * (a - q) + (b - q) * (b - q) + (c - q) * (c - q) + 2 * p1;
        double p = sqrt(p2 / 6.0);
        double B[6] = {(a - q) / p, (b - q) / p, (c - q) / p, d / p, e / p, f / p};
        double detB = B[0] * (B[1] * B[2] - B[5] * B[5]) - B[3] * (B[3] * B[2] - B[5] * B[4]) +
                      B[4] * (B[3] * B[5] - B[1] * B[4]);
        double r = detB / 2.0;
        double phi = r <= -1 ? M_PI / 3.0 : r >= 1 ? 0.0 : acos(r) / 3.0;
        l[0] = q + 2 * p * cos(phi);
        l[2] = q + 2 * p * cos(phi + 2.0 * M_PI / 3.0);
        l[1] = 3 * q - l[0] - l[2];
    }
    /* sort by decreasing magnitude */
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++)
            if (fabs(l[j]) > fabs(l[i])) {
                double t = l[i];
                l[i] = l[j];
                l[j] = t;
            }
    memcpy(eig, l, sizeof l);
}

void rn_image_sym3_eigenvector(const double h[6], double eigenvalue, double vec[3])
{
    /* Rows of (H - l I); the eigenvector is the largest cross product of two rows. */
    double r0[3] = {h[0] - eigenvalue, h[3], h[4]};
    double r1[3] = {h[3], h[1] - eigenvalue, h[5]};
    double r2[3] = {h[4], h[5], h[2] - eigenvalue};
    const double *rows[3][2] = {{r0, r1}, {r0, r2}, {r1, r2}};
    double best = -1;
    vec[0] = 1;
    vec[1] = vec[2] = 0;
    for (int i = 0; i < 3; i++) {
        const double *u = rows[i][0], *w = rows[i][1];
        double c[3] = {u[1] * w[2] - u[2] * w[1], u[2] * w[0] - u[0] * w[2],
                       u[0] * w[1] - u[1] * w[0]};
        double n = c[0] * c[0] + c[1] * c[1] + c[2] * c[2];
        if (n > best) {
            best = n;
            double s = n > 0 ? 1.0 / sqrt(n) : 0;
            vec[0] = c[0] * s;
            vec[1] = c[1] * s;
            vec[2] = c[2] * s;
        }
    }
    if (best <= 1e-300) {
        vec[0] = 1;
        vec[1] = vec[2] = 0;
    }
}
