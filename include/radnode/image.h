/*
 * radnode image operations: a 3D scalar volume and a 3D binary mask on a
 * regular grid with anisotropic spacing (mm), and the generic operations the
 * analyzers build on: cropping and trilinear resampling, separable Gaussian
 * smoothing, Hessian eigenvalues (for blob and tube filters), the exact
 * Euclidean distance transform (Felzenszwalb-Huttenlocher, anisotropic), the
 * morphology derived from it (dilation, erosion, closing, opening with a
 * ball of a radius in mm), slice-wise hole filling and border flooding, and
 * connected-component labelling.
 *
 * Layout: x (columns) varies fastest, then y (rows), then z (slices); index =
 * (z * ny + y) * nx + x. Spacing is in mm along x, y, z. Nothing here knows
 * about DICOM: the patient geometry stays with the caller.
 *
 * Ownership: _create returns an object the caller releases with _destroy
 * (destroy(NULL) is a no-op). Operations that write into an `out` object
 * require it to have the input's dimensions; they may alias the input where
 * stated.
 */
#ifndef RADNODE_IMAGE_H
#define RADNODE_IMAGE_H

#include "radnode/core.h"

/* Upper bound on the voxels of one volume (about 1.1 G voxels = 4.3 GB of floats). */
#define RN_VOLUME_MAX_VOXELS ((size_t)1 << 30)

typedef struct RnVolume {
    size_t nx, ny, nz;
    double spacing[3]; /* mm along x, y, z */
    float *data;       /* nx * ny * nz values, owned */
} RnVolume;

typedef struct RnMask {
    size_t nx, ny, nz;
    double spacing[3];
    uint8_t *data; /* 0 or 1, owned */
} RnMask;

static inline size_t rn_image_index(size_t nx, size_t ny, size_t x, size_t y, size_t z)
{
    return (z * ny + y) * nx + x;
}

/* Zero-filled volume / mask; NULL when a dimension is 0, a spacing is not
 * positive, the voxel count exceeds RN_VOLUME_MAX_VOXELS, or memory is short. */
RnVolume *rn_volume_create(size_t nx, size_t ny, size_t nz, const double spacing[3], RnError *err);
void rn_volume_destroy(RnVolume *v);
RnVolume *rn_volume_clone(const RnVolume *v, RnError *err);
/* Sub-volume [lo, hi) (clamped to the volume; NULL if empty). */
RnVolume *rn_volume_crop(const RnVolume *v, const size_t lo[3], const size_t hi[3], RnError *err);
/* Trilinear resampling onto a grid of the given spacing covering the same
 * extent (voxel centres aligned at the first voxel); outside samples clamp. */
RnVolume *rn_volume_resample(const RnVolume *v, const double spacing[3], RnError *err);
/* Trilinear sample at a continuous voxel position (clamped at the border). */
float rn_volume_sample(const RnVolume *v, double x, double y, double z);

RnMask *rn_mask_create(size_t nx, size_t ny, size_t nz, const double spacing[3], RnError *err);
void rn_mask_destroy(RnMask *m);
RnMask *rn_mask_clone(const RnMask *m, RnError *err);
size_t rn_mask_count(const RnMask *m);
/* Sets m to (v >= lo && v < hi). m must have v's dimensions. */
int rn_mask_threshold(const RnVolume *v, float lo, float hi, RnMask *m, RnError *err);

/* Separable Gaussian smoothing with standard deviations in mm along x, y, z
 * (0 = none along that axis); kernels truncated at 3 sigma, borders
 * replicated. out may be in. */
int rn_image_gaussian(const RnVolume *in, const double sigma_mm[3], RnVolume *out, RnError *err);

/* Eigenvalues of a symmetric 3x3 matrix given as (xx, yy, zz, xy, xz, yz),
 * sorted by decreasing magnitude: |eig[0]| >= |eig[1]| >= |eig[2]|. */
void rn_image_sym3_eigenvalues(const double h[6], double eig[3]);
/* Eigenvector of a symmetric 3x3 matrix for a given eigenvalue (unit length). */
void rn_image_sym3_eigenvector(const double h[6], double eigenvalue, double vec[3]);
/* Hessian (second derivatives per mm^2, central differences, borders
 * replicated) of v at voxel (x, y, z), as (xx, yy, zz, xy, xz, yz). */
void rn_image_hessian_at(const RnVolume *v, size_t x, size_t y, size_t z, double h[6]);

/* Squared Euclidean distance in mm^2 from every voxel to the nearest voxel
 * whose mask value equals `target` (0 on such voxels); a very large value
 * (>= 1e30) when there is none. out holds nx*ny*nz floats. */
int rn_image_distance_sq(const RnMask *m, uint8_t target, float *out, RnError *err);

/* Morphology with a ball of radius r mm (anisotropic spacing respected).
 * Dilation treats the outside of the volume as background; erosion treats it
 * as foreground, so a structure cut by the volume's edge is not eroded from
 * that edge. out may be in. */
int rn_image_dilate(const RnMask *in, double radius_mm, RnMask *out, RnError *err);
int rn_image_erode(const RnMask *in, double radius_mm, RnMask *out, RnError *err);
int rn_image_close(const RnMask *in, double radius_mm, RnMask *out, RnError *err);
int rn_image_open(const RnMask *in, double radius_mm, RnMask *out, RnError *err);

/* Per axial slice (z): marks in out the voxels of `in` that are 4-connected
 * within the slice to the slice's border. out may not be in. */
int rn_image_flood_border_2d(const RnMask *in, RnMask *out, RnError *err);
/* Per axial slice: fills the background regions not connected to the slice
 * border (holes). out may be in. */
int rn_image_fill_holes_2d(const RnMask *in, RnMask *out, RnError *err);

/* Connected components of the foreground, connectivity 6, 18 or 26 (3D) or 4,
 * 8 (within each slice only). labels (nx*ny*nz) get 0 for background and
 * 1..count for components, numbered in scan order; sizes (optional) receives
 * a new array of count+1 voxel counts (sizes[0] = 0) the caller frees.
 * Returns the number of components, or a negative error. */
long rn_image_label(const RnMask *m, int connectivity, int32_t *labels, size_t **sizes,
                    RnError *err);

#endif
