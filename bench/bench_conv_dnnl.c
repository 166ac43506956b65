/*
 * radnode's own convolutions against oneDNN (libdnnl.so.2), layer by layer and
 * whole models, in one process with the two sides interleaved.
 *
 *   bench_conv_dnnl [--repeat R] [--threads T] [--batch B] [--layers] MODEL.onnx...
 *
 * Per model and per Conv node of its plan at batch B: the node's geometry, its
 * weights (after BatchNorm folding) and a random input (fixed seed) are run
 * through (a) nn_conv, the native path (direct AVX2 kernel, or im2col + GEMM
 * without AVX2), and (b) the oneDNN backend of src/nn/conv_dnnl.c: a primitive
 * made with format_tag any, weights reordered once when it is made (not timed),
 * the NCHW -> blocked reorder of the input and the blocked -> NCHW reorder of the
 * output timed with the convolution, since radnode's tensors are NCHW. Outputs
 * must agree within 1e-4 relative (or 1e-5 absolute). Each repetition times one
 * call of each side, alternating which goes first, so that load from other jobs
 * on a shared machine falls on both; medians are printed with the ratio.
 *
 * Then whole models through rn_nn_run with the native backend, the oneDNN backend
 * for every conv, and the auto rule (nn_conv_prefers_dnnl), interleaved likewise.
 *
 * Built by CMake only when dnnl.h is found; radnode itself never links libdnnl
 * (conv_dnnl.c opens it with dlopen), and neither does this program.
 */
#include "nn/nn_internal.h"
#include "radnode/nn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static float frand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

/* Largest relative error where |ref| > 1e-5, and whether all elements agree. */
static int agree(const float *a, const float *ref, int64_t n, double *worst)
{
    int ok = 1;
    *worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]), r = fabs((double)ref[i]);
        if (d > 1e-5 && d > 1e-4 * r)
            ok = 0;
        if (r > 1e-5 && d / r > *worst)
            *worst = d / r;
    }
    return ok;
}

typedef struct Inputs {
    RnNnTensor t[8];
    size_t n;
} Inputs;

/* Every model input at this batch: declared shape with the first dim set to the batch and
 * other unknown dims 1; random values from a fixed seed. */
static int make_inputs(const RnNnModel *m, int batch, unsigned seed, Inputs *in)
{
    memset(in, 0, sizeof *in);
    in->n = rn_nn_model_input_count(m);
    if (in->n > 8)
        return -1;
    for (size_t k = 0; k < in->n; k++) {
        RnNnTensor *t = &in->t[k];
        t->name = rn_nn_model_input_name(m, k);
        if (rn_nn_model_input_shape(m, k, &t->ndim, t->shape) || t->ndim < 1)
            return -1;
        t->shape[0] = batch;
        int64_t cnt = 1;
        for (int i = 0; i < t->ndim; i++) {
            if (t->shape[i] < 1)
                t->shape[i] = 1;
            cnt *= t->shape[i];
        }
        t->data = malloc((size_t)cnt * sizeof *t->data);
        if (!t->data)
            return -1;
        for (int64_t i = 0; i < cnt; i++)
            t->data[i] = frand(&seed);
    }
    return 0;
}

static void free_inputs(Inputs *in)
{
    for (size_t k = 0; k < in->n; k++)
        free(in->t[k].data);
}

static const char *kind(const NnConvGeom *g)
{
    static char buf[64];
    int dw = g->group > 1 && g->group == g->c;
    snprintf(buf, sizeof buf, "%s%lldx%lld%s s%lld", dw ? "dw" : "", (long long)g->k[1],
             (long long)g->k[2], g->k[0] > 1 ? "x3d" : "", (long long)g->stride[2]);
    return buf;
}

typedef struct Totals {
    double native, dnnl, best, autosum;
} Totals;

static int bench_layers(const char *path, int batch, int threads, int repeat, int print_layers,
                        Totals *tot, int *bad)
{
    RnError err = {0};
    RnNnModel *m = rn_nn_model_load_file(path, &err);
    if (!m || rn_nn_model_set_threads(m, threads, &err)) {
        fprintf(stderr, "%s: %s\n", path, err.message);
        return -1;
    }
    /* plan (and run once) at this batch so every tensor has its shape */
    Inputs ins;
    unsigned seed = 1;
    if (make_inputs(m, batch, 3, &ins)) {
        fprintf(stderr, "%s: no declared input shape\n", path);
        return -1;
    }
    RnNnTensor to = {0};
    m->conv_backend = NN_BACKEND_NATIVE;
    if (rn_nn_run(m, ins.t, ins.n, &to, 1, &err)) {
        fprintf(stderr, "%s: %s\n", path, err.message);
        return -1;
    }
    for (size_t s = 0; s < m->n_steps; s++) {
        NnNode *n = &m->nodes[m->steps[s]];
        if (n->op != OP_CONV)
            continue;
        NnConvGeom g;
        if (nn_conv_geom(m, n, &g, &err))
            continue;
        const NnTensor *xt = &m->tensors[n->in[0]];
        const float *w = m->tensors[n->in[1]].data;
        const float *b = n->n_in > 2 && n->in[2] >= 0 ? m->tensors[n->in[2]].data : NULL;
        int64_t isz = g.n * g.c * g.in[0] * g.in[1] * g.in[2];
        int64_t osz = g.n * g.oc * g.out[0] * g.out[1] * g.out[2];
        float *x = malloc((size_t)isz * sizeof *x);
        float *y0 = malloc((size_t)osz * sizeof *y0), *y1 = malloc((size_t)osz * sizeof *y1);
        for (int64_t i = 0; i < isz; i++)
            x[i] = frand(&seed);
        NnDnnlConv *dc =
            nn_dnnl_conv_create(&g, xt->ndim - 2, w, b, n->act, n->act_a, n->act_b, threads, &err);
        if (!dc) {
            fprintf(stderr, "%s: %s\n", path, err.message);
            return -1;
        }
        /* warm-up, and the outputs compared */
        nn_conv(m, &g, x, w, b, y0, n->act, n->act_a, n->act_b, &err);
        nn_dnnl_conv_run(dc, x, y1, &err);
        double worst;
        int ok = agree(y1, y0, osz, &worst);
        if (!ok)
            (*bad)++;
        double *tn = malloc((size_t)repeat * sizeof *tn), *td = malloc((size_t)repeat * sizeof *td);
        for (int r = 0; r < repeat; r++) {
            for (int side = 0; side < 2; side++) {
                int dnnl = (side + r) % 2; /* alternate which side goes first */
                double t0 = now_ms();
                if (dnnl)
                    nn_dnnl_conv_run(dc, x, y1, &err);
                else
                    nn_conv(m, &g, x, w, b, y0, n->act, n->act_a, n->act_b, &err);
                if (dnnl)
                    td[r] = now_ms() - t0;
                else
                    tn[r] = now_ms() - t0;
            }
        }
        double mn = median(tn, repeat), md = median(td, repeat);
        tot->native += mn;
        tot->dnnl += md;
        tot->best += mn < md ? mn : md;
        tot->autosum += nn_conv_prefers_dnnl(&g) ? md : mn;
        if (print_layers)
            printf("  %-28.28s %-12s c%-4lld oc%-4lld %3lldx%-3lld native %8.3f dnnl %8.3f "
                   "x %5.2f %s%s rel %.1e %s\n",
                   n->name ? n->name : "?", kind(&g), (long long)g.c, (long long)g.oc,
                   (long long)g.out[1], (long long)g.out[2], mn, md, mn / md,
                   nn_conv_prefers_dnnl(&g) ? "auto=dnnl " : "auto=native", "", worst,
                   ok ? "" : "DISAGREE");
        free(tn), free(td), free(x), free(y0), free(y1);
        nn_dnnl_conv_destroy(dc);
    }
    free_inputs(&ins);
    rn_nn_model_destroy(m);
    return 0;
}

static int bench_model(const char *path, int batch, int threads, int repeat, double med[3],
                       double cmed[3])
{
    RnError err = {0};
    RnNnModel *ms[3];
    static const int be[3] = {NN_BACKEND_NATIVE, NN_BACKEND_DNNL, NN_BACKEND_AUTO};
    double *t[3], *c[3];
    for (int k = 0; k < 3; k++) {
        if (!(ms[k] = rn_nn_model_load_file(path, &err)) ||
            rn_nn_model_set_threads(ms[k], threads, &err)) {
            fprintf(stderr, "%s: %s\n", path, err.message);
            return -1;
        }
        ms[k]->conv_backend = be[k];
        t[k] = malloc((size_t)repeat * sizeof *t[k]);
        c[k] = malloc((size_t)repeat * sizeof *c[k]);
    }
    Inputs ins;
    if (make_inputs(ms[0], batch, 7, &ins)) {
        fprintf(stderr, "%s: no declared input shape\n", path);
        return -1;
    }
    RnNnTensor to[3] = {{0}};
    for (int k = 0; k < 3; k++) /* warm-up: plans, primitives, weight reorders */
        if (rn_nn_run(ms[k], ins.t, ins.n, &to[k], 1, &err)) {
            fprintf(stderr, "%s: %s\n", path, err.message);
            return -1;
        }
    int64_t on = 1;
    for (int i = 0; i < to[0].ndim; i++)
        on *= to[0].shape[i];
    double worst;
    int ok = agree(to[1].data, to[0].data, on, &worst);
    for (int r = 0; r < repeat; r++)
        for (int j = 0; j < 3; j++) {
            int k = (j + r) % 3;
            double t0 = now_ms(), c0 = cpu_ms();
            rn_nn_run(ms[k], ins.t, ins.n, &to[k], 1, &err);
            t[k][r] = now_ms() - t0;
            c[k][r] = cpu_ms() - c0;
        }
    for (int k = 0; k < 3; k++) {
        med[k] = median(t[k], repeat);
        cmed[k] = median(c[k], repeat);
        free(t[k]);
        free(c[k]);
        rn_nn_model_destroy(ms[k]);
    }
    free_inputs(&ins);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    int repeat = 15, threads = 1, batch = 1, layers = 0, i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--layers"))
            layers = 1;
        else {
            fprintf(stderr, "usage: bench_conv_dnnl [--repeat R] [--threads T] [--batch B] "
                            "[--layers] MODEL.onnx...\n");
            return 2;
        }
    }
    if (i >= argc || repeat < 1 || threads < 1 || batch < 1) {
        fprintf(stderr, "usage: bench_conv_dnnl [--repeat R] [--threads T] [--batch B] "
                        "[--layers] MODEL.onnx...\n");
        return 2;
    }
    printf("oneDNN: %s; GEMM: %s; batch %d, threads %d, repeat %d (medians, ms)\n",
           nn_dnnl_backend(), nn_blas_backend(), batch, threads, repeat);
    int bad = 0;
    for (; i < argc; i++) {
        const char *name = strrchr(argv[i], '/') ? strrchr(argv[i], '/') + 1 : argv[i];
        Totals tot = {0};
        if (layers)
            printf("%s\n", name);
        if (bench_layers(argv[i], batch, threads, repeat, layers, &tot, &bad))
            return 1;
        double med[3], cmed[3];
        int rc = bench_model(argv[i], batch, threads, repeat, med, cmed);
        if (rc < 0)
            return 1;
        bad += rc;
        printf("%-18s b%-3d t%d convs: native %8.3f dnnl %8.3f (x %5.2f) best-of %8.3f auto %8.3f"
               "\n  model wall: native %9.3f dnnl %9.3f auto %9.3f (auto x %5.2f)"
               " | cpu: native %9.3f dnnl %9.3f auto %9.3f (auto x %5.2f)%s\n",
               name, batch, threads, tot.native, tot.dnnl, tot.native / tot.dnnl, tot.best,
               tot.autosum, med[0], med[1], med[2], med[0] / med[2], cmed[0], cmed[1], cmed[2],
               cmed[0] / cmed[2], rc ? " MODEL OUTPUTS DISAGREE" : "");
    }
    if (bad)
        printf("%d disagreement(s) beyond 1e-4 relative\n", bad);
    return bad ? 1 : 0;
}
