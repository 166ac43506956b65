/*
 * Lung segmentation on chest CT. Air is everything below -400 HU (halfway
 * between aerated lung, about -850, and soft tissue); air connected to the
 * border of its slice is outside the body and is dropped; the remaining 3D
 * components that are large (at least 15 % of the largest) are lung and
 * airway. The trachea is found as a small central air component in the most
 * superior slices and followed downward through the main bronchi at a
 * stricter -950 HU, stopping a branch where it leaks into the parenchyma
 * (its area jumps); it is removed. The lungs are then split into right and
 * left: two components by their patient x (LPS: +x is the patient's left),
 * or one joined component cut per slice at the thinnest column near the
 * midline. Each lung is filled slice by slice (vessels and nodules inside
 * it) and closed with a 10 mm ball so that nodules attached to the pleura
 * (up to about 20 mm) come back in; the candidate search runs in that mask.
 * A second closing with a 30 mm ball gives the envelope in which large-scale
 * candidates (lung masses against the chest wall or the mediastinum, whose
 * concavity a 10 mm ball cannot fill) are searched.
 * Both closings pad the volume with background first, so that a lung at the
 * edge of a tight field of view does not swallow the chest wall there.
 * Volumes are reported from the filled mask before closing.
 */
#include "lungct_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define AIR_HU -400.0f
#define AIRWAY_HU -950.0f
#define CLOSE_RADIUS_MM 10.0
#define MASS_CLOSE_RADIUS_MM 30.0
#define TRACHEA_MIN_MM2 40.0
#define TRACHEA_MAX_MM2 700.0

void rn_lungct_lungs_free(RnLungs *l)
{
    if (!l)
        return;
    rn_mask_destroy(l->mask);
    rn_mask_destroy(l->airway);
    rn_mask_destroy(l->mass_mask);
    free(l->side);
    memset(l, 0, sizeof *l);
}

/* 2D components of one slice of m (8-connected); labels per pixel. */
static long label_slice(const uint8_t *m, size_t nx, size_t ny, int32_t *labels, size_t *queue,
                        size_t **sizes_out, double **cx_out)
{
    memset(labels, 0, nx * ny * sizeof *labels);
    size_t cap = 16;
    size_t *sizes = calloc(cap, sizeof *sizes);
    double *cx = calloc(cap, sizeof *cx);
    long count = 0;
    if (!sizes || !cx) {
        free(sizes);
        free(cx);
        return -1;
    }
    for (size_t s = 0; s < nx * ny; s++) {
        if (!m[s] || labels[s])
            continue;
        count++;
        if ((size_t)count >= cap) {
            size_t *g = realloc(sizes, 2 * cap * sizeof *g);
            double *h = g ? realloc(cx, 2 * cap * sizeof *h) : NULL;
            if (g)
                sizes = g;
            if (!h) {
                free(sizes);
                free(cx);
                return -1;
            }
            cx = h;
            cap *= 2;
        }
        size_t head = 0, tail = 0;
        double sx = 0;
        queue[tail++] = s;
        labels[s] = (int32_t)count;
        while (head < tail) {
            size_t i = queue[head++];
            long x = (long)(i % nx), y = (long)(i / nx);
            sx += (double)x;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    long xx = x + dx, yy = y + dy;
                    if ((!dx && !dy) || xx < 0 || yy < 0 || xx >= (long)nx || yy >= (long)ny)
                        continue;
                    size_t j = (size_t)yy * nx + (size_t)xx;
                    if (m[j] && !labels[j]) {
                        labels[j] = (int32_t)count;
                        queue[tail++] = j;
                    }
                }
        }
        sizes[count] = tail;
        cx[count] = sx / (double)tail;
    }
    *sizes_out = sizes;
    *cx_out = cx;
    return count;
}

/* Follows the trachea and main bronchi downward from the most superior slice. */
static int find_airway(const RnLungScan *scan, const RnMask *lung, RnMask *airway, RnError *err)
{
    const RnVolume *v = scan->hu;
    size_t nx = v->nx, ny = v->ny, nz = v->nz, ns = nx * ny;
    double px_area = v->spacing[0] * v->spacing[1];
    int step = scan->axis[2][2] >= 0 ? -1 : 1; /* from superior to inferior */
    long zstart = step < 0 ? (long)nz - 1 : 0;
    uint8_t *cand = malloc(ns), *prev = calloc(ns, 1), *grown = malloc(ns);
    int32_t *labels = malloc(ns * sizeof *labels);
    size_t *queue = malloc(ns * sizeof *queue);
    int rc = 0;
    if (!cand || !prev || !grown || !labels || !queue) {
        rc = rn_error_set(err, RN_ERR_NOMEM, "lungct: airway buffers");
        goto out;
    }
    /* Body x extent from the lung mask's bounding box gives the midline. */
    size_t xmin = nx, xmax = 0;
    for (size_t i = 0; i < ns * nz; i++)
        if (lung->data[i]) {
            size_t x = i % nx;
            if (x < xmin) xmin = x;
            if (x > xmax) xmax = x;
        }
    if (xmax <= xmin)
        goto out;
    double mid = 0.5 * (double)(xmin + xmax), half = 0.2 * (double)(xmax - xmin) + 5.0;
    double trachea_area = 0;
    bool started = false;
    int misses = 0;
    for (long z = zstart; z >= 0 && z < (long)nz; z += step) {
        const float *hu = v->data + (size_t)z * ns;
        const uint8_t *lm = lung->data + (size_t)z * ns;
        for (size_t i = 0; i < ns; i++)
            cand[i] = lm[i] && hu[i] < (started ? AIRWAY_HU : AIR_HU);
        size_t *sizes = NULL;
        double *cx = NULL;
        long nc = label_slice(cand, nx, ny, labels, queue, &sizes, &cx);
        if (nc < 0) {
            rc = rn_error_set(err, RN_ERR_NOMEM, "lungct: airway labels");
            goto out;
        }
        memset(grown, 0, ns);
        bool any = false;
        if (!started) {
            /* The trachea: a small component near the midline. */
            long pick = 0;
            for (long c = 1; c <= nc; c++) {
                double a = (double)sizes[c] * px_area;
                if (a >= TRACHEA_MIN_MM2 && a <= TRACHEA_MAX_MM2 && fabs(cx[c] - mid) < half &&
                    (!pick || fabs(cx[c] - mid) < fabs(cx[pick] - mid)))
                    pick = c;
            }
            if (pick) {
                started = true;
                trachea_area = (double)sizes[pick] * px_area;
                for (size_t i = 0; i < ns; i++)
                    grown[i] = labels[i] == pick;
                any = true;
            }
        } else {
            /* Components overlapping the previous airway (dilated by ~4 mm), unless leaking. */
            int rad = (int)ceil(4.0 / v->spacing[0]);
            uint8_t *ok = calloc((size_t)nc + 1, 1);
            if (!ok) {
                free(sizes);
                free(cx);
                rc = rn_error_set(err, RN_ERR_NOMEM, "lungct: airway");
                goto out;
            }
            for (size_t i = 0; i < ns; i++) {
                if (!labels[i] || ok[labels[i]])
                    continue;
                long x = (long)(i % nx), y = (long)(i / nx);
                bool hit = false;
                for (int dy = -rad; dy <= rad && !hit; dy += 2)
                    for (int dx = -rad; dx <= rad && !hit; dx += 2) {
                        long xx = x + dx, yy = y + dy;
                        if (xx >= 0 && yy >= 0 && xx < (long)nx && yy < (long)ny &&
                            prev[(size_t)yy * nx + (size_t)xx])
                            hit = true;
                    }
                if (hit && (double)sizes[labels[i]] * px_area <= 1.6 * trachea_area + 20.0)
                    ok[labels[i]] = 1;
            }
            for (size_t i = 0; i < ns; i++)
                if (labels[i] && ok[labels[i]]) {
                    grown[i] = 1;
                    any = true;
                }
            free(ok);
        }
        free(sizes);
        free(cx);
        if (started) {
            /* A leak into the parenchyma (emphysema, noise below -950 HU): many pieces or an
             * area well above the trachea's. The slice is not airway and tracking ends. */
            size_t area = 0, pieces = 0;
            for (size_t i = 0; i < ns; i++)
                area += grown[i];
            for (long c = 1; c <= nc; c++) {
                bool used = false;
                for (size_t i = 0; i < ns && !used; i++)
                    used = grown[i] && labels[i] == c;
                pieces += used;
            }
            if (pieces > 4 || (double)area * px_area > 2.5 * trachea_area + 50.0)
                break;
            if (!any && ++misses > 1)
                break;
            if (any)
                misses = 0;
            memcpy(airway->data + (size_t)z * ns, grown, ns);
            if (any)
                memcpy(prev, grown, ns);
        }
    }
out:
    free(cand);
    free(prev);
    free(grown);
    free(labels);
    free(queue);
    return rc;
}

/* Closing with a ball of radius r mm, the volume padded with background first: without the
 * padding the dilation runs off the edge of the image and the erosion cannot bring it back, so
 * a lung that reaches the edge of a tight field of view would swallow the chest wall there.
 * The padded volume is cut down to the mask's bounding box widened by twice the pad (or to
 * the padding, whichever is nearer): the dilation stays within the box widened by the
 * radius, and the erosion's ball from there within twice that, so the result is the same as
 * on the whole padded image. One lung's box is about half the image: this closing was half
 * of the analyzer's CPU time. */
static int close_padded(const RnMask *in, double r, RnMask *out, RnError *err)
{
    size_t dim[3] = {in->nx, in->ny, in->nz}, lo[3] = {in->nx, in->ny, in->nz}, hi[3] = {0, 0, 0};
    for (size_t z = 0; z < in->nz; z++)
        for (size_t y = 0; y < in->ny; y++)
            for (size_t x = 0; x < in->nx; x++)
                if (in->data[rn_image_index(in->nx, in->ny, x, y, z)]) {
                    size_t q[3] = {x, y, z};
                    for (int a = 0; a < 3; a++) {
                        lo[a] = q[a] < lo[a] ? q[a] : lo[a];
                        hi[a] = q[a] + 1 > hi[a] ? q[a] + 1 : hi[a];
                    }
                }
    if (hi[0] <= lo[0]) {
        memset(out->data, 0, in->nx * in->ny * in->nz);
        return 0;
    }
    /* the box in image coordinates, [b0, b1), b0 possibly negative (padding) */
    long b0[3], b1[3];
    size_t n[3];
    for (int a = 0; a < 3; a++) {
        long p = (long)ceil(r / in->spacing[a]) + 1;
        b0[a] = (long)lo[a] - 2 * p > -p ? (long)lo[a] - 2 * p : -p;
        b1[a] = (long)hi[a] + 2 * p < (long)dim[a] + p ? (long)hi[a] + 2 * p : (long)dim[a] + p;
        n[a] = (size_t)(b1[a] - b0[a]);
    }
    RnMask *pad = rn_mask_create(n[0], n[1], n[2], in->spacing, err);
    if (!pad)
        return err && err->code ? err->code : RN_ERR_NOMEM;
    /* the part of the box inside the image: [c0, c1) in image coordinates */
    size_t c0[3], c1[3];
    for (int a = 0; a < 3; a++) {
        c0[a] = b0[a] > 0 ? (size_t)b0[a] : 0;
        c1[a] = b1[a] < (long)dim[a] ? (size_t)b1[a] : dim[a];
    }
    size_t len = c1[0] - c0[0];
    for (size_t z = c0[2]; z < c1[2]; z++)
        for (size_t y = c0[1]; y < c1[1]; y++)
            memcpy(pad->data + rn_image_index(n[0], n[1], (size_t)((long)c0[0] - b0[0]),
                                              (size_t)((long)y - b0[1]), (size_t)((long)z - b0[2])),
                   in->data + rn_image_index(in->nx, in->ny, c0[0], y, z), len);
    int rc = rn_image_close(pad, r, pad, err);
    if (!rc) /* out may be in: cleared only once the box is copied */
        memset(out->data, 0, in->nx * in->ny * in->nz);
    for (size_t z = c0[2]; !rc && z < c1[2]; z++)
        for (size_t y = c0[1]; y < c1[1]; y++)
            memcpy(out->data + rn_image_index(in->nx, in->ny, c0[0], y, z),
                   pad->data + rn_image_index(n[0], n[1], (size_t)((long)c0[0] - b0[0]),
                                              (size_t)((long)y - b0[1]), (size_t)((long)z - b0[2])),
                   len);
    rn_mask_destroy(pad);
    return rc;
}

int rn_lungct_segment(const RnLungScan *scan, RnLungs *lungs, RnError *err)
{
    memset(lungs, 0, sizeof *lungs);
    const RnVolume *v = scan->hu;
    size_t nx = v->nx, ny = v->ny, nz = v->nz, n = nx * ny * nz;
    double voxel_mm3 = v->spacing[0] * v->spacing[1] * v->spacing[2];
    RnMask *air = rn_mask_create(nx, ny, nz, v->spacing, err);
    RnMask *outside = air ? rn_mask_create(nx, ny, nz, v->spacing, err) : NULL;
    int32_t *labels = outside ? malloc(n * sizeof *labels) : NULL;
    size_t *sizes = NULL;
    int rc = 0;
    if (!labels) {
        rc = err && err->code ? err->code : rn_error_set(err, RN_ERR_NOMEM, "lungct: lung masks");
        goto fail;
    }
    rn_mask_threshold(v, -1e9f, AIR_HU, air, NULL);
    if ((rc = rn_image_flood_border_2d(air, outside, err)))
        goto fail;
    for (size_t i = 0; i < n; i++)
        air->data[i] = air->data[i] && !outside->data[i];
    long nc = rn_image_label(air, 6, labels, &sizes, err);
    if (nc < 0) {
        rc = (int)nc;
        goto fail;
    }
    size_t largest = 0;
    for (long c = 1; c <= nc; c++)
        if (sizes[c] > largest)
            largest = sizes[c];
    for (size_t i = 0; i < n; i++)
        air->data[i] = labels[i] && sizes[labels[i]] * 100 >= largest * 15 &&
                       (double)sizes[labels[i]] * voxel_mm3 > 2000.0;
    free(sizes);
    sizes = NULL;

    lungs->airway = rn_mask_create(nx, ny, nz, v->spacing, err);
    if (!lungs->airway || (rc = find_airway(scan, air, lungs->airway, err))) {
        rc = rc ? rc : RN_ERR_NOMEM;
        goto fail;
    }
    /* Remove the airway and one voxel of partial volume around it (in-plane). */
    RnMask *aw = outside; /* reuse */
    if ((rc = rn_image_dilate(lungs->airway, 1.5 * v->spacing[0], aw, err)))
        goto fail;
    for (size_t i = 0; i < n; i++)
        if (aw->data[i] && v->data[i] < AIR_HU)
            air->data[i] = 0;

    /* Components again: the lungs, now without the airway. */
    nc = rn_image_label(air, 6, labels, &sizes, err);
    if (nc < 0) {
        rc = (int)nc;
        goto fail;
    }
    size_t first = 0, second = 0;
    long c1 = 0, c2 = 0;
    for (long c = 1; c <= nc; c++) {
        if (sizes[c] > first) {
            second = first;
            c2 = c1;
            first = sizes[c];
            c1 = c;
        } else if (sizes[c] > second) {
            second = sizes[c];
            c2 = c;
        }
    }
    if (!c1) {
        free(sizes);
        sizes = NULL;
        lungs->side = calloc(n, 1);
        lungs->mask = rn_mask_create(nx, ny, nz, v->spacing, err);
        if (!lungs->side || !lungs->mask)
            rc = RN_ERR_NOMEM;
        rn_mask_destroy(air);
        rn_mask_destroy(outside);
        free(labels);
        return rc;
    }
    lungs->side = calloc(n, 1);
    if (!lungs->side) {
        rc = rn_error_set(err, RN_ERR_NOMEM, "lungct: side map");
        goto fail;
    }
    /* Which voxel x direction is the patient's left (+x in LPS)? */
    bool x_is_left = scan->axis[0][0] >= 0;
    bool two = c2 && second * 100 >= (first + second) * 15;
    if (two) {
        double m1 = 0, m2 = 0;
        for (size_t i = 0; i < n; i++) {
            if (labels[i] == c1) m1 += (double)(i % nx);
            else if (labels[i] == c2) m2 += (double)(i % nx);
        }
        m1 /= (double)first;
        m2 /= (double)second;
        bool c1_left = (m1 > m2) == x_is_left;
        for (size_t i = 0; i < n; i++) {
            if (labels[i] == c1) lungs->side[i] = c1_left ? 2 : 1;
            else if (labels[i] == c2) lungs->side[i] = c1_left ? 1 : 2;
        }
    } else {
        /* One joined component: cut each slice at its thinnest column near the middle. */
        size_t xmin = nx, xmax = 0;
        for (size_t i = 0; i < n; i++)
            if (labels[i] == c1) {
                size_t x = i % nx;
                if (x < xmin) xmin = x;
                if (x > xmax) xmax = x;
            }
        size_t *col = calloc(nx, sizeof *col);
        if (!col) {
            rc = rn_error_set(err, RN_ERR_NOMEM, "lungct: columns");
            goto fail;
        }
        size_t span = xmax - xmin, lo = xmin + span * 35 / 100, hi = xmin + span * 65 / 100;
        for (size_t z = 0; z < nz; z++) {
            memset(col, 0, nx * sizeof *col);
            for (size_t y = 0; y < ny; y++)
                for (size_t x = lo; x <= hi; x++)
                    col[x] += labels[rn_image_index(nx, ny, x, y, z)] == c1;
            size_t cut = lo;
            for (size_t x = lo; x <= hi; x++)
                if (col[x] < col[cut] ||
                    (col[x] == col[cut] && labs((long)x - (long)(xmin + xmax) / 2) <
                                               labs((long)cut - (long)(xmin + xmax) / 2)))
                    cut = x;
            for (size_t y = 0; y < ny; y++)
                for (size_t x = 0; x < nx; x++) {
                    size_t i = rn_image_index(nx, ny, x, y, z);
                    if (labels[i] == c1)
                        lungs->side[i] = ((x > cut) == x_is_left) ? 2 : 1;
                }
        }
        free(col);
        if (c2 && second * 100 >= first * 15)
            for (size_t i = 0; i < n; i++)
                if (labels[i] == c2)
                    lungs->side[i] = lungs->side[i] ? lungs->side[i] : 1;
    }
    free(sizes);
    sizes = NULL;

    /* Fill and close each lung separately (so the two never bridge). */
    lungs->mask = rn_mask_create(nx, ny, nz, v->spacing, err);
    lungs->mass_mask = lungs->mask ? rn_mask_create(nx, ny, nz, v->spacing, err) : NULL;
    if (!lungs->mass_mask) {
        rc = RN_ERR_NOMEM;
        goto fail;
    }
    for (int s = 1; s <= 2; s++) {
        for (size_t i = 0; i < n; i++)
            air->data[i] = lungs->side[i] == s;
        if ((rc = rn_image_fill_holes_2d(air, air, err)))
            goto fail;
        size_t filled = rn_mask_count(air);
        lungs->volume_ml[s] = (double)filled * voxel_mm3 / 1000.0;
        if ((rc = close_padded(air, MASS_CLOSE_RADIUS_MM, outside, err)) ||
            (rc = rn_image_fill_holes_2d(outside, outside, err)))
            goto fail;
        for (size_t i = 0; i < n; i++)
            lungs->mass_mask->data[i] |= outside->data[i];
        if ((rc = close_padded(air, CLOSE_RADIUS_MM, outside, err)))
            goto fail;
        if ((rc = rn_image_fill_holes_2d(outside, outside, err)))
            goto fail;
        for (size_t i = 0; i < n; i++)
            if (outside->data[i] && !lungs->mask->data[i]) {
                lungs->mask->data[i] = 1;
                if (!lungs->side[i] || lungs->side[i] == s)
                    lungs->side[i] = (uint8_t)s;
            }
    }
    lungs->volume_ml[0] = lungs->volume_ml[1] + lungs->volume_ml[2];
    size_t lo[3] = {nx, ny, nz}, hi[3] = {0, 0, 0};
    for (size_t z = 0; z < nz; z++)
        for (size_t y = 0; y < ny; y++)
            for (size_t x = 0; x < nx; x++)
                if (lungs->mass_mask->data[rn_image_index(nx, ny, x, y, z)]) {
                    size_t p[3] = {x, y, z};
                    for (int k = 0; k < 3; k++) {
                        if (p[k] < lo[k]) lo[k] = p[k];
                        if (p[k] + 1 > hi[k]) hi[k] = p[k] + 1;
                    }
                }
    memcpy(lungs->bbox_lo, lo, sizeof lo);
    memcpy(lungs->bbox_hi, hi, sizeof hi);
    rn_mask_destroy(air);
    rn_mask_destroy(outside);
    free(labels);
    return 0;
fail:
    free(sizes);
    rn_mask_destroy(air);
    rn_mask_destroy(outside);
    free(labels);
    rn_lungct_lungs_free(lungs);
    return rc ? rc : RN_ERR_NOMEM;
}
