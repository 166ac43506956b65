/*
 * Parity of the ONNX engine with PyTorch: every model listed in
 * tests/data/nn/manifest.txt (exported by tools/nn/gen_models.py with torch's
 * ONNX exporter, with PyTorch's own output saved next to it) is run and must
 * match within 1e-4 relative or 1e-5 absolute error per element. Also checks
 * that results are bit-identical across runs (for oneDNN also across model loads), and that a
 * batch of two gives each sample's reference output (re-planning on a new
 * input shape).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "nn/nn_internal.h"
#include "radnode/nn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_IO 8

typedef struct Case {
    char model[256];
    int n_in, n_out;
    char in_name[MAX_IO][64], in_file[MAX_IO][256];
    char out_name[MAX_IO][64], out_file[MAX_IO][256];
} Case;

static char data_dir[1024];

static void find_data_dir(void)
{
    const char *src = getenv("RN_SOURCE_DIR");
    if (src)
        snprintf(data_dir, sizeof data_dir, "%s/tests/data/nn", src);
    else
        snprintf(data_dir, sizeof data_dir, "tests/data/nn");
}

static int load_cases(Case *cases, int max)
{
    char path[1300];
    snprintf(path, sizeof path, "%s/manifest.txt", data_dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[4096];
    int n = 0;
    while (n < max && fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        Case *c = &cases[n];
        memset(c, 0, sizeof *c);
        char *save = NULL, *tok = strtok_r(line, " \t\n", &save);
        if (!tok)
            continue;
        snprintf(c->model, sizeof c->model, "%s", tok);
        while ((tok = strtok_r(NULL, " \t\n", &save))) {
            char *name = strtok_r(NULL, " \t\n", &save);
            char *file = strtok_r(NULL, " \t\n", &save);
            if (!name || !file)
                break;
            if (!strcmp(tok, "in") && c->n_in < MAX_IO) {
                snprintf(c->in_name[c->n_in], 64, "%s", name);
                snprintf(c->in_file[c->n_in++], 256, "%s", file);
            } else if (!strcmp(tok, "out") && c->n_out < MAX_IO) {
                snprintf(c->out_name[c->n_out], 64, "%s", name);
                snprintf(c->out_file[c->n_out++], 256, "%s", file);
            }
        }
        n++;
    }
    fclose(f);
    return n;
}

static float *read_npy(const char *file, int *ndim, int64_t *shape)
{
    char path[1300];
    snprintf(path, sizeof path, "%s/%s", data_dir, file);
    RnError err = {0};
    float *d = rn_nn_npy_read_file(path, ndim, shape, &err);
    if (!d)
        fail_msg("%s", err.message);
    return d;
}

static int64_t count_of(int ndim, const int64_t *shape)
{
    int64_t c = 1;
    for (int i = 0; i < ndim; i++)
        c *= shape[i];
    return c;
}

static double compare(const char *what, const float *got, const float *want, int64_t n)
{
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        double rel = d / fmax(fabs((double)want[i]), 1e-30);
        if (d > 1e-5 && rel > 1e-4)
            fail_msg("%s: element %lld is %.9g, PyTorch %.9g (abs %.3g rel %.3g)", what,
                     (long long)i, (double)got[i], (double)want[i], d, rel);
        if (d > 1e-5 && rel > worst)
            worst = rel;
    }
    return worst;
}

typedef struct Loaded {
    RnNnModel *m;
    RnNnTensor in[MAX_IO];
    float *ref[MAX_IO];
    int ref_ndim[MAX_IO];
    int64_t ref_shape[MAX_IO][RN_NN_MAX_DIMS];
} Loaded;

static void load(const Case *c, Loaded *l)
{
    char path[1300];
    snprintf(path, sizeof path, "%s/%s", data_dir, c->model);
    RnError err = {0};
    memset(l, 0, sizeof *l);
    l->m = rn_nn_model_load_file(path, &err);
    if (!l->m)
        fail_msg("%s", err.message);
    for (int i = 0; i < c->n_in; i++) {
        l->in[i].name = c->in_name[i];
        l->in[i].data = read_npy(c->in_file[i], &l->in[i].ndim, l->in[i].shape);
    }
    for (int i = 0; i < c->n_out; i++)
        l->ref[i] = read_npy(c->out_file[i], &l->ref_ndim[i], l->ref_shape[i]);
}

static void unload(const Case *c, Loaded *l)
{
    for (int i = 0; i < c->n_in; i++)
        free(l->in[i].data);
    for (int i = 0; i < c->n_out; i++)
        free(l->ref[i]);
    rn_nn_model_destroy(l->m);
}

/* The case's batch-1 inputs repeated `batch` times along axis 0 (malloc'd data, freed by the
 * caller); 0 when an input has no batch axis of 1. */
static int repeat_batch(const Case *c, const Loaded *l, RnNnTensor *out, int batch)
{
    for (int i = 0; i < c->n_in; i++)
        if (l->in[i].ndim < 1 || l->in[i].shape[0] != 1)
            return 0;
    for (int i = 0; i < c->n_in; i++) {
        int64_t n = count_of(l->in[i].ndim, l->in[i].shape);
        out[i] = l->in[i];
        out[i].shape[0] = batch;
        out[i].data = malloc((size_t)(batch * n) * sizeof(float));
        assert_non_null(out[i].data);
        for (int k = 0; k < batch; k++)
            memcpy(out[i].data + k * n, l->in[i].data, (size_t)n * sizeof(float));
    }
    return 1;
}

static void check_case_on(const Case *c, int threads, int conv_impl, int gemm_builtin,
                          int backend)
{
    Loaded l;
    load(c, &l);
    RnError err = {0};
    l.m->conv_backend = backend;
    l.m->conv_impl = conv_impl;
    l.m->gemm_builtin = gemm_builtin;
    assert_int_equal(rn_nn_model_set_threads(l.m, threads, &err), 0);
    RnNnTensor out[MAX_IO];
    memset(out, 0, sizeof out);
    for (int i = 0; i < c->n_out; i++)
        out[i].name = c->out_name[i];
    if (rn_nn_run(l.m, l.in, (size_t)c->n_in, out, (size_t)c->n_out, &err))
        fail_msg("%s: %s", c->model, err.message);
    for (int i = 0; i < c->n_out; i++) {
        assert_int_equal(out[i].ndim, l.ref_ndim[i]);
        assert_memory_equal(out[i].shape, l.ref_shape[i], sizeof(int64_t) * (size_t)out[i].ndim);
        int64_t n = count_of(out[i].ndim, out[i].shape);
        double worst = compare(c->model, out[i].data, l.ref[i], n);
        print_message("%-20s threads=%d conv=%s gemm=%s output %-8s max rel err (where abs > "
                      "1e-5) %.3g\n",
                      c->model, threads,
                      backend == NN_BACKEND_DNNL ? "oneDNN"
                      : conv_impl == NN_CONV_GEMM ? "im2col"
                                                  : "auto",
                      gemm_builtin ? "built-in" : "auto", c->out_name[i], worst);
        /* a second run gives bit-identical results */
        float *first = malloc((size_t)n * sizeof *first);
        assert_non_null(first);
        memcpy(first, out[i].data, (size_t)n * sizeof *first);
        assert_int_equal(rn_nn_run(l.m, l.in, (size_t)c->n_in, out, (size_t)c->n_out, &err), 0);
        assert_memory_equal(first, out[i].data, (size_t)n * sizeof *first);
        free(first);
    }
    if (backend == NN_BACKEND_DNNL) /* every conv ran on oneDNN, none fell back */
        for (size_t s = 0; s < l.m->n_steps; s++)
            if (l.m->nodes[l.m->steps[s]].op == OP_CONV)
                assert_int_equal(l.m->dnnl_state[l.m->steps[s]], 1);
    unload(c, &l);
}

static void check_case(const Case *c, int threads)
{
    check_case_on(c, threads, NN_CONV_AUTO, 0, NN_BACKEND_AUTO);
}

static Case cases[32];
static int n_cases;

/* The fallback paths against the same references: im2col with OpenBLAS, and
 * im2col with the built-in GEMM (what runs where libopenblas.so.0 is absent). */
static void test_parity_fallbacks(void **state)
{
    (void)state;
    for (int i = 0; i < n_cases; i++) {
        check_case_on(&cases[i], 1, NN_CONV_GEMM, 0, NN_BACKEND_NATIVE);
        check_case_on(&cases[i], 2, NN_CONV_GEMM, 1, NN_BACKEND_NATIVE);
    }
}

static int have_dnnl(void)
{
    if (strncmp(nn_dnnl_backend(), "oneDNN", 6)) {
        print_message("oneDNN backend not tested: %s\n", nn_dnnl_backend());
        return 0;
    }
    return 1;
}

/* Every conv on oneDNN (RN_NN_BACKEND=dnnl), 1 and 2 threads, against the same references. */
static void test_parity_dnnl(void **state)
{
    (void)state;
    if (!have_dnnl())
        return;
    for (int i = 0; i < n_cases; i++) {
        check_case_on(&cases[i], 1, NN_CONV_AUTO, 0, NN_BACKEND_DNNL);
        check_case_on(&cases[i], 2, NN_CONV_AUTO, 0, NN_BACKEND_DNNL);
    }
}

static void test_parity_1thread(void **state)
{
    (void)state;
    assert_true(n_cases >= 5);
    for (int i = 0; i < n_cases; i++)
        check_case(&cases[i], 1);
}

static void test_parity_2threads(void **state)
{
    (void)state;
    for (int i = 0; i < n_cases; i++)
        check_case(&cases[i], 2);
}

/* Batch of two copies of the reference input: each half matches PyTorch's output. */
static void test_batch_replan(void **state)
{
    (void)state;
    for (int ci = 0; ci < n_cases; ci++) {
        const Case *c = &cases[ci];
        Loaded l;
        load(c, &l);
        RnNnTensor in2[MAX_IO];
        if (!repeat_batch(c, &l, in2, 2)) {
            unload(c, &l);
            continue;
        }
        RnError err = {0};
        RnNnTensor out[MAX_IO];
        memset(out, 0, sizeof out);
        for (int i = 0; i < c->n_out; i++)
            out[i].name = c->out_name[i];
        /* batch 1, then 2, then 1 again: plans are rebuilt each time */
        assert_int_equal(rn_nn_run(l.m, l.in, (size_t)c->n_in, out, (size_t)c->n_out, &err), 0);
        if (rn_nn_run(l.m, in2, (size_t)c->n_in, out, (size_t)c->n_out, &err))
            fail_msg("%s batch 2: %s", c->model, err.message);
        for (int i = 0; i < c->n_out; i++) {
            int64_t n = count_of(l.ref_ndim[i], l.ref_shape[i]);
            assert_int_equal(out[i].shape[0], 2);
            compare(c->model, out[i].data, l.ref[i], n);
            compare(c->model, out[i].data + n, l.ref[i], n);
        }
        assert_int_equal(rn_nn_run(l.m, l.in, (size_t)c->n_in, out, (size_t)c->n_out, &err), 0);
        for (int i = 0; i < c->n_out; i++)
            compare(c->model, out[i].data, l.ref[i], count_of(l.ref_ndim[i], l.ref_shape[i]));
        size_t unplanned, arena = rn_nn_model_arena_bytes(l.m, &unplanned);
        assert_true(arena <= unplanned);
        for (int i = 0; i < c->n_in; i++)
            free(in2[i].data);
        unload(c, &l);
    }
}

/* Output 0 of a case's reference input with a backend and thread count (malloc'd copy). */
static float *output_with(const Case *c, int threads, int backend, int64_t *n)
{
    Loaded l;
    load(c, &l);
    RnError err = {0};
    l.m->conv_backend = backend;
    assert_int_equal(rn_nn_model_set_threads(l.m, threads, &err), 0);
    RnNnTensor out[MAX_IO];
    memset(out, 0, sizeof out);
    out[0].name = c->out_name[0];
    if (rn_nn_run(l.m, l.in, (size_t)c->n_in, out, 1, &err))
        fail_msg("%s: %s", c->model, err.message);
    *n = count_of(out[0].ndim, out[0].shape);
    float *r = malloc((size_t)*n * sizeof *r);
    assert_non_null(r);
    memcpy(r, out[0].data, (size_t)*n * sizeof *r);
    unload(c, &l);
    return r;
}

/* oneDNN's results are deterministic for a thread count (nn.h's promise): a model loaded
 * again gets new primitives and the same bits. Unlike the native kernels', they can differ
 * in the last bits between 1 and 2 threads (oneDNN splits some reductions by thread count);
 * both are within the parity tolerance (test_parity_dnnl). */
static void test_dnnl_determinism(void **state)
{
    (void)state;
    if (!have_dnnl())
        return;
    for (int i = 0; i < n_cases; i++) {
        float *by_threads[2];
        int64_t n[2];
        for (int t = 1; t <= 2; t++) {
            int64_t n2;
            float *a = output_with(&cases[i], t, NN_BACKEND_DNNL, &n[t - 1]);
            float *b = output_with(&cases[i], t, NN_BACKEND_DNNL, &n2);
            assert_int_equal(n[t - 1], n2);
            assert_memory_equal(a, b, (size_t)n2 * sizeof *a);
            free(b);
            by_threads[t - 1] = a;
        }
        print_message("%-20s oneDNN: 1 and 2 threads %s\n", cases[i].model,
                      memcmp(by_threads[0], by_threads[1], (size_t)n[0] * sizeof(float))
                          ? "differ in the last bits"
                          : "bit-identical");
        free(by_threads[0]);
        free(by_threads[1]);
    }
}

/* A batch of four under the auto rule: the convs the rule gives to oneDNN run there (where
 * libdnnl.so.2 opens), and every sample still matches PyTorch's output. */
static void test_batch4_auto(void **state)
{
    (void)state;
    int dnnl = have_dnnl();
    for (int ci = 0; ci < n_cases; ci++) {
        const Case *c = &cases[ci];
        Loaded l;
        load(c, &l);
        l.m->conv_backend = NN_BACKEND_AUTO;
        RnNnTensor in4[MAX_IO];
        if (!repeat_batch(c, &l, in4, 4)) {
            unload(c, &l);
            continue;
        }
        RnError err = {0};
        RnNnTensor out[MAX_IO];
        memset(out, 0, sizeof out);
        for (int i = 0; i < c->n_out; i++)
            out[i].name = c->out_name[i];
        assert_int_equal(rn_nn_model_set_threads(l.m, 2, &err), 0);
        if (rn_nn_run(l.m, in4, (size_t)c->n_in, out, (size_t)c->n_out, &err))
            fail_msg("%s batch 4: %s", c->model, err.message);
        for (int i = 0; i < c->n_out; i++) {
            int64_t n = count_of(l.ref_ndim[i], l.ref_shape[i]);
            assert_int_equal(out[i].shape[0], 4);
            for (int k = 0; k < 4; k++)
                compare(c->model, out[i].data + k * n, l.ref[i], n);
        }
        /* which convs ran on oneDNN: exactly those the rule picks */
        int used = 0;
        for (size_t s = 0; s < l.m->n_steps; s++) {
            NnNode *nd = &l.m->nodes[l.m->steps[s]];
            if (nd->op != OP_CONV)
                continue;
            NnConvGeom g;
            assert_int_equal(nn_conv_geom(l.m, nd, &g, &err), 0);
            size_t idx = (size_t)l.m->steps[s];
            int state_ = l.m->dnnl_state ? l.m->dnnl_state[idx] : 0;
            if (dnnl && nn_conv_prefers_dnnl(&g))
                assert_int_equal(state_, 1);
            else
                assert_int_not_equal(state_, 1);
            used += state_ == 1;
        }
        print_message("%-20s batch 4 auto: %d conv(s) on oneDNN\n", c->model, used);
        for (int i = 0; i < c->n_in; i++)
            free(in4[i].data);
        unload(c, &l);
    }
}

int main(void)
{
    find_data_dir();
    n_cases = load_cases(cases, 32);
    if (n_cases < 0) {
        fprintf(stderr, "cannot read %s/manifest.txt (set RN_SOURCE_DIR)\n", data_dir);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity_1thread),
        cmocka_unit_test(test_parity_2threads),
        cmocka_unit_test(test_parity_fallbacks),
        cmocka_unit_test(test_batch_replan),
        cmocka_unit_test(test_parity_dnnl),
        cmocka_unit_test(test_dnnl_determinism),
        cmocka_unit_test(test_batch4_auto),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
