/*
 * Generic image operations (include/radnode/image.h): connected components
 * with 6 and 26 connectivity, the distance transform against brute force,
 * ball morphology (closing fills a gap, opening cuts a thin bridge), slice
 * hole filling, Gaussian mass preservation, and the Hessian of a Gaussian
 * blob (three negative eigenvalues of equal size) against a tube (one near
 * zero), which is what the nodule filter relies on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "radnode/image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double SP[3] = {1.0, 1.0, 1.0};
#define IDX(m, x, y, z) rn_image_index((m)->nx, (m)->ny, (x), (y), (z))

static void test_label(void **state)
{
    (void)state;
    RnMask *m = rn_mask_create(8, 8, 4, SP, NULL);
    assert_non_null(m);
    m->data[IDX(m, 1, 1, 1)] = 1;
    m->data[IDX(m, 2, 2, 2)] = 1; /* diagonal: joined only with 26-connectivity */
    m->data[IDX(m, 6, 6, 0)] = 1;
    m->data[IDX(m, 6, 7, 0)] = 1;
    int32_t *lab = malloc(8 * 8 * 4 * sizeof *lab);
    size_t *sizes = NULL;
    assert_int_equal(rn_image_label(m, 6, lab, &sizes, NULL), 3);
    assert_int_equal(sizes[1], 2); /* scan order: the pair in slice 0 comes first */
    free(sizes);
    assert_int_equal(rn_image_label(m, 26, lab, &sizes, NULL), 2);
    assert_int_equal(lab[IDX(m, 1, 1, 1)], lab[IDX(m, 2, 2, 2)]);
    free(sizes);
    assert_true(rn_image_label(m, 5, lab, NULL, NULL) < 0);
    free(lab);
    rn_mask_destroy(m);
}

static void test_distance(void **state)
{
    (void)state;
    double sp[3] = {0.7, 0.7, 2.5};
    RnMask *m = rn_mask_create(12, 10, 6, sp, NULL);
    m->data[IDX(m, 3, 4, 1)] = 1;
    m->data[IDX(m, 9, 2, 4)] = 1;
    float *d = malloc(12 * 10 * 6 * sizeof *d);
    assert_int_equal(rn_image_distance_sq(m, 1, d, NULL), 0);
    for (size_t z = 0; z < 6; z++)
        for (size_t y = 0; y < 10; y++)
            for (size_t x = 0; x < 12; x++) {
                double best = 1e30;
                size_t pts[2][3] = {{3, 4, 1}, {9, 2, 4}};
                for (int k = 0; k < 2; k++) {
                    double dx = ((double)x - (double)pts[k][0]) * sp[0];
                    double dy = ((double)y - (double)pts[k][1]) * sp[1];
                    double dz = ((double)z - (double)pts[k][2]) * sp[2];
                    best = fmin(best, dx * dx + dy * dy + dz * dz);
                }
                assert_true(fabs(d[IDX(m, x, y, z)] - best) < 1e-3);
            }
    free(d);
    rn_mask_destroy(m);
}

static void test_morphology(void **state)
{
    (void)state;
    RnMask *m = rn_mask_create(30, 30, 1, SP, NULL), *o = rn_mask_create(30, 30, 1, SP, NULL);
    /* two squares joined by a one-pixel bridge */
    for (size_t y = 5; y < 15; y++)
        for (size_t x = 2; x < 12; x++) {
            m->data[IDX(m, x, y, 0)] = 1;
            m->data[IDX(m, x + 15, y, 0)] = 1;
        }
    for (size_t x = 12; x < 17; x++)
        m->data[IDX(m, x, 9, 0)] = 1;
    assert_int_equal(rn_image_open(m, 2.0, o, NULL), 0);
    assert_int_equal(o->data[IDX(o, 14, 9, 0)], 0); /* bridge cut */
    assert_int_equal(o->data[IDX(o, 6, 9, 0)], 1);  /* squares kept */
    /* closing fills a 2-pixel gap, then hole filling fills an enclosed hole */
    memset(m->data, 0, 900);
    for (size_t y = 5; y < 25; y++)
        for (size_t x = 5; x < 25; x++)
            m->data[IDX(m, x, y, 0)] = !(x == 14 || x == 15) || y < 8;
    assert_int_equal(rn_image_close(m, 2.0, o, NULL), 0);
    assert_int_equal(o->data[IDX(o, 14, 15, 0)], 1);
    memset(m->data, 0, 900);
    for (size_t y = 5; y < 25; y++)
        for (size_t x = 5; x < 25; x++)
            m->data[IDX(m, x, y, 0)] = !(x > 10 && x < 15 && y > 10 && y < 15);
    assert_int_equal(rn_image_fill_holes_2d(m, o, NULL), 0);
    assert_int_equal(o->data[IDX(o, 12, 12, 0)], 1);
    assert_int_equal(o->data[IDX(o, 2, 2, 0)], 0);
    rn_mask_destroy(m);
    rn_mask_destroy(o);
}

static void test_hessian_blob_vs_tube(void **state)
{
    (void)state;
    RnVolume *v = rn_volume_create(31, 31, 31, SP, NULL), *t = rn_volume_create(31, 31, 31, SP,
                                                                               NULL);
    double sum = 0;
    for (size_t z = 0; z < 31; z++)
        for (size_t y = 0; y < 31; y++)
            for (size_t x = 0; x < 31; x++) {
                double dx = (double)x - 15, dy = (double)y - 15, dz = (double)z - 15;
                v->data[IDX(v, x, y, z)] = (float)(1000.0 * (dx * dx + dy * dy + dz * dz <= 16));
                t->data[IDX(t, x, y, z)] = (float)(1000.0 * (dx * dx + dy * dy <= 4));
                sum += v->data[IDX(v, x, y, z)];
            }
    double sg[3] = {2.3, 2.3, 2.3};
    assert_int_equal(rn_image_gaussian(v, sg, v, NULL), 0);
    assert_int_equal(rn_image_gaussian(t, sg, t, NULL), 0);
    double after = 0;
    for (size_t i = 0; i < 31 * 31 * 31; i++)
        after += v->data[i];
    assert_true(fabs(after - sum) / sum < 0.01); /* the blob is far from the border */
    double h[6], e[3];
    rn_image_hessian_at(v, 15, 15, 15, h);
    rn_image_sym3_eigenvalues(h, e);
    assert_true(e[0] < 0 && e[1] < 0 && e[2] < 0);
    assert_true(fabs(e[2]) / fabs(e[0]) > 0.9);
    rn_image_hessian_at(t, 15, 15, 15, h);
    rn_image_sym3_eigenvalues(h, e);
    assert_true(e[0] < 0 && e[1] < 0);
    assert_true(fabs(e[2]) / fabs(e[0]) < 0.05);
    /* eigenvalues of a known matrix, sorted by magnitude */
    double m[6] = {2, 3, -7, 0, 0, 0};
    rn_image_sym3_eigenvalues(m, e);
    assert_true(fabs(e[0] + 7) < 1e-9 && fabs(e[1] - 3) < 1e-9 && fabs(e[2] - 2) < 1e-9);
    rn_volume_destroy(v);
    rn_volume_destroy(t);
}

static void test_create_limits_and_resample(void **state)
{
    (void)state;
    double bad[3] = {1, 0, 1};
    RnError err = {0};
    assert_null(rn_volume_create(4, 4, 4, bad, &err));
    assert_null(rn_volume_create(1u << 20, 1u << 20, 2, SP, &err));
    assert_int_equal(err.code, RN_ERR_LIMIT);
    RnVolume *v = rn_volume_create(5, 5, 5, SP, NULL);
    for (size_t i = 0; i < 125; i++)
        v->data[i] = (float)(i % 5); /* x ramp */
    double sp2[3] = {0.5, 1.0, 2.0};
    RnVolume *r = rn_volume_resample(v, sp2, NULL);
    assert_non_null(r);
    assert_int_equal(r->nx, 9);
    assert_int_equal(r->nz, 3);
    assert_true(fabs(r->data[IDX(r, 3, 0, 0)] - 1.5f) < 1e-5);
    rn_volume_destroy(r);
    rn_volume_destroy(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label),
        cmocka_unit_test(test_distance),
        cmocka_unit_test(test_morphology),
        cmocka_unit_test(test_hessian_blob_vs_tube),
        cmocka_unit_test(test_create_limits_and_resample),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
