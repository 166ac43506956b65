/*
 * Compute kernels of the nn module: convolution (the direct AVX2 kernel of
 * conv_direct.c when the CPU has it; otherwise im2col + GEMM, with direct loops
 * for 1x1 without padding and for depthwise), transposed convolution (GEMM +
 * col2im), max/average pooling, fused activations, and the small worker pool
 * that spreads independent tasks over threads. Everything works on 1 to 3
 * spatial dimensions seen as (D, H, W).
 *
 * Determinism: every output element is computed by exactly one task in a fixed
 * order, and OpenBLAS partitions sgemm over M/N (never K), so results do not
 * depend on scheduling.
 *
 * OpenBLAS vs oneDNN (issue 6; docs/nn.md, "OpenBLAS or oneDNN", has the tables): OpenBLAS
 * stays for large Gemm/MatMul and the im2col fallback; convolutions run on the direct kernel
 * or on oneDNN (conv_dnnl.c, libdnnl.so.2 opened on first use) by nn_conv_prefers_dnnl below.
 * bench/bench_conv_dnnl.c, one process, sides interleaved, medians of 11, 2-core AVX-512 VM
 * shared with other jobs, 1 thread, sum of the conv layers native -> oneDNN -> rule:
 *   resnet18s    batch 1  0.222 -> 0.109 -> 0.102 ms   batch 16   3.18 ->   1.37 ->   1.23 ms
 *   mobilenetv2s batch 1  0.413 -> 0.253 -> 0.240 ms   batch 16   6.62 ->   4.01 ->   3.76 ms
 *   unet2d       batch 1  0.710 -> 0.676 -> 0.590 ms   batch 16  12.27 ->  11.98 ->  10.29 ms
 *   cnn3d        batch 1  0.197 -> 0.256 -> 0.159 ms   batch 16   3.30 ->   5.19 ->   2.62 ms
 *   boneage-v2   batch 1  13.94 ->  7.20 ->  7.20 ms   batch 16 254.0  -> 153.1  -> 146.0  ms
 * Whole models under the rule (bench/bench_nn.sh, CPU time, batch 16): ResNet-like from
 * 0.56x to 1.2x-1.5x of PyTorch's throughput, MobileNetV2-like 1.15x-1.5x faster than before
 * but still about half of PyTorch at its best (it keeps blocked layouts between layers).
 */
#include "nn/nn_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- worker pool ---- */

struct NnPool {
    int workers; /* threads besides the caller */
    pthread_t *th;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    NnTaskFn fn;
    void *ctx;
    int64_t count;
    int64_t next; /* atomic */
    int active;
    unsigned gen;
    int stop;
};

static void pool_work(NnPool *p)
{
    for (;;) {
        int64_t i = __atomic_fetch_add(&p->next, 1, __ATOMIC_RELAXED);
        if (i >= p->count)
            break;
        p->fn(p->ctx, i);
    }
}

static void *pool_main(void *arg)
{
    NnPool *p = arg;
    unsigned seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->gen == seen)
            pthread_cond_wait(&p->wake, &p->mu);
        if (p->stop)
            break;
        seen = p->gen;
        pthread_mutex_unlock(&p->mu);
        pool_work(p);
        pthread_mutex_lock(&p->mu);
        if (--p->active == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

NnPool *nn_pool_create(int threads)
{
    NnPool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    if (threads > 1) {
        p->th = calloc((size_t)threads - 1, sizeof *p->th);
        if (!p->th) {
            nn_pool_destroy(p);
            return NULL;
        }
        for (int i = 0; i < threads - 1; i++) {
            if (pthread_create(&p->th[i], NULL, pool_main, p)) {
                nn_pool_destroy(p);
                return NULL;
            }
            p->workers++;
        }
    }
    return p;
}

void nn_pool_destroy(NnPool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->workers; i++)
        pthread_join(p->th[i], NULL);
    free(p->th);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p);
}

void nn_parallel_for(NnPool *p, int64_t count, NnTaskFn fn, void *ctx)
{
    if (!p || p->workers == 0 || count < 2) {
        for (int64_t i = 0; i < count; i++)
            fn(ctx, i);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->count = count;
    p->next = 0;
    p->active = p->workers;
    p->gen++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    pool_work(p);
    pthread_mutex_lock(&p->mu);
    while (p->active > 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

/* ---- activations ---- */

NN_HOT void nn_apply_act(float *y, int64_t n, NnAct act, float a, float b)
{
    switch (act) {
    case ACT_RELU:
        for (int64_t i = 0; i < n; i++)
            y[i] = y[i] > 0 ? y[i] : 0;
        break;
    case ACT_LEAKY:
        for (int64_t i = 0; i < n; i++)
            y[i] = y[i] >= 0 ? y[i] : y[i] * a;
        break;
    case ACT_CLIP:
        for (int64_t i = 0; i < n; i++)
            y[i] = y[i] < a ? a : y[i] > b ? b : y[i];
        break;
    default:
        break;
    }
}

typedef struct EpiCtx {
    float *y;
    const float *b;
    int64_t oc, plane;
    NnAct act;
    float a, bb;
} EpiCtx;

NN_HOT static void epilogue_task(void *vctx, int64_t i)
{
    EpiCtx *c = vctx;
    float *y = c->y + i * c->plane;
    if (c->b) {
        float bv = c->b[i % c->oc];
        for (int64_t k = 0; k < c->plane; k++)
            y[k] += bv;
    }
    nn_apply_act(y, c->plane, c->act, c->a, c->bb);
}

static void epilogue(RnNnModel *m, float *y, const float *b, int64_t n, int64_t oc, int64_t plane,
                     NnAct act, float a, float bb)
{
    if (!b && act == ACT_NONE)
        return;
    EpiCtx c = {y, b, oc, plane, act, a, bb};
    nn_parallel_for(m->pool, n * oc, epilogue_task, &c);
}

/* ---- im2col ---- */

typedef struct ColCtx {
    const NnConvGeom *g;
    const float *x; /* first channel of the group */
    float *col;
} ColCtx;

/* Range of output positions o with 0 <= o*s - p + k*d < in. */
static void valid_range(int64_t out, int64_t in, int64_t s, int64_t p, int64_t kd, int64_t *lo,
                        int64_t *hi)
{
    int64_t off = kd - p; /* i = o*s + off */
    int64_t l = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t h = in - off <= 0 ? 0 : (in - off + s - 1) / s;
    if (h > out)
        h = out;
    if (l > h)
        l = h;
    *lo = l;
    *hi = h;
}

NN_HOT static void im2col_task(void *vctx, int64_t c)
{
    const ColCtx *cx = vctx;
    const NnConvGeom *g = cx->g;
    int64_t osz = g->out[0] * g->out[1] * g->out[2];
    int64_t isz = g->in[0] * g->in[1] * g->in[2];
    const float *xc = cx->x + c * isz;
    for (int64_t kz = 0; kz < g->k[0]; kz++)
        for (int64_t ky = 0; ky < g->k[1]; ky++)
            for (int64_t kx = 0; kx < g->k[2]; kx++) {
                int64_t row = ((c * g->k[0] + kz) * g->k[1] + ky) * g->k[2] + kx;
                float *dst = cx->col + row * osz;
                int64_t xlo, xhi;
                valid_range(g->out[2], g->in[2], g->stride[2], g->pad[2], kx * g->dil[2], &xlo,
                            &xhi);
                int64_t xoff = kx * g->dil[2] - g->pad[2];
                for (int64_t oz = 0; oz < g->out[0]; oz++) {
                    int64_t iz = oz * g->stride[0] - g->pad[0] + kz * g->dil[0];
                    for (int64_t oy = 0; oy < g->out[1]; oy++) {
                        float *d = dst + (oz * g->out[1] + oy) * g->out[2];
                        int64_t iy = oy * g->stride[1] - g->pad[1] + ky * g->dil[1];
                        if (iz < 0 || iz >= g->in[0] || iy < 0 || iy >= g->in[1]) {
                            memset(d, 0, (size_t)g->out[2] * sizeof *d);
                            continue;
                        }
                        const float *s = xc + (iz * g->in[1] + iy) * g->in[2];
                        for (int64_t ox = 0; ox < xlo; ox++)
                            d[ox] = 0;
                        if (g->stride[2] == 1) {
                            memcpy(d + xlo, s + xlo + xoff, (size_t)(xhi - xlo) * sizeof *d);
                        } else {
                            for (int64_t ox = xlo; ox < xhi; ox++)
                                d[ox] = s[ox * g->stride[2] + xoff];
                        }
                        for (int64_t ox = xhi; ox < g->out[2]; ox++)
                            d[ox] = 0;
                    }
                }
            }
}

/* ---- depthwise (one input channel per group, one output channel each) ---- */

typedef struct DwCtx {
    const NnConvGeom *g;
    const float *x, *w, *b;
    float *y;
    NnAct act;
    float a, bb;
} DwCtx;

/* One kernel tap over the valid outputs [lo, hi) of a row; inlined with a
 * constant stride so that the loop vectorizes. */
static inline void dw_row(float *d, const float *s, float wv, int64_t lo, int64_t hi, int64_t st)
{
    for (int64_t ox = lo; ox < hi; ox++)
        d[ox] += wv * s[ox * st];
}

NN_HOT static void depthwise_task(void *vctx, int64_t i)
{
    const DwCtx *cx = vctx;
    const NnConvGeom *g = cx->g;
    int64_t c = i % g->c;
    int64_t osz = g->out[0] * g->out[1] * g->out[2];
    int64_t isz = g->in[0] * g->in[1] * g->in[2];
    int64_t kvol = g->k[0] * g->k[1] * g->k[2];
    const float *x = cx->x + i * isz, *w = cx->w + c * kvol;
    float *y = cx->y + i * osz;
    float bv = cx->b ? cx->b[c] : 0.0f;
    const int64_t sx = g->stride[2];
    /* the valid output range of each x tap, once (it does not depend on the row) */
    int64_t rlo[16], rhi[16];
    int nk = g->k[2] <= 16 ? (int)g->k[2] : 0;
    for (int kx = 0; kx < nk; kx++)
        valid_range(g->out[2], g->in[2], sx, g->pad[2], kx * g->dil[2], &rlo[kx], &rhi[kx]);
    for (int64_t k = 0; k < osz; k++)
        y[k] = bv;
    for (int64_t oz = 0; oz < g->out[0]; oz++)
        for (int64_t oy = 0; oy < g->out[1]; oy++) {
            float *d = y + (oz * g->out[1] + oy) * g->out[2];
            for (int64_t kz = 0; kz < g->k[0]; kz++) {
                int64_t iz = oz * g->stride[0] - g->pad[0] + kz * g->dil[0];
                if (iz < 0 || iz >= g->in[0])
                    continue;
                for (int64_t ky = 0; ky < g->k[1]; ky++) {
                    int64_t iy = oy * g->stride[1] - g->pad[1] + ky * g->dil[1];
                    if (iy < 0 || iy >= g->in[1])
                        continue;
                    const float *s = x + (iz * g->in[1] + iy) * g->in[2];
                    for (int64_t kx = 0; kx < g->k[2]; kx++) {
                        float wv = w[(kz * g->k[1] + ky) * g->k[2] + kx];
                        int64_t lo, hi, off = kx * g->dil[2] - g->pad[2];
                        if (kx < nk)
                            lo = rlo[kx], hi = rhi[kx];
                        else
                            valid_range(g->out[2], g->in[2], sx, g->pad[2], kx * g->dil[2], &lo,
                                        &hi);
                        if (sx == 1)
                            dw_row(d, s + off, wv, lo, hi, 1);
                        else if (sx == 2)
                            dw_row(d, s + off, wv, lo, hi, 2);
                        else
                            dw_row(d, s + off, wv, lo, hi, sx);
                    }
                }
            }
        }
    nn_apply_act(y, osz, cx->act, cx->a, cx->bb);
}

int nn_conv(RnNnModel *m, const NnConvGeom *g, const float *x, const float *w, const float *b,
            float *y, NnAct act, float a, float bb, RnError *err)
{
    int64_t kvol = g->k[0] * g->k[1] * g->k[2];
    int64_t cg = g->c / g->group, ocg = g->oc / g->group, K = cg * kvol;
    int64_t osz = g->out[0] * g->out[1] * g->out[2];
    int64_t isz = g->in[0] * g->in[1] * g->in[2];
    int rc = nn_conv_direct(m, g, x, w, b, y, act, a, bb, err);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    if (g->group == g->c && g->oc == g->c && g->group > 1) {
        DwCtx c = {g, x, w, b, y, act, a, bb};
        nn_parallel_for(m->pool, g->n * g->c, depthwise_task, &c);
        return 0;
    }
    int pointwise = kvol == 1;
    for (int i = 0; i < 3; i++)
        if (g->stride[i] != 1 || g->pad[i] != 0 || g->in[i] != g->out[i])
            pointwise = 0;
    float *col = NULL;
    if (!pointwise && !(col = nn_scratch(m, (size_t)(K * osz), err)))
        return err ? err->code : RN_ERR_NOMEM;
    for (int64_t n = 0; n < g->n; n++)
        for (int64_t gi = 0; gi < g->group; gi++) {
            const float *xg = x + (n * g->c + gi * cg) * isz;
            float *yg = y + (n * g->oc + gi * ocg) * osz;
            const float *bm = xg;
            if (!pointwise) {
                ColCtx c = {g, xg, col};
                nn_parallel_for(m->pool, cg, im2col_task, &c);
                bm = col;
            }
            nn_sgemm(m, 0, 0, ocg, osz, K, 1.0f, w + gi * ocg * K, K, bm, osz, 0.0f, yg, osz);
        }
    epilogue(m, y, b, g->n, g->oc, osz, act, a, bb);
    return 0;
}

/* ---- backend choice per convolution ---- */

/* The auto rule (RN_NN_BACKEND unset or "auto"), from the layer-by-layer measurement of
 * bench/bench_conv_dnnl.c on the parity models and boneage-v2 (docs/nn.md, "OpenBLAS or
 * oneDNN"). It depends on the geometry only, not on the batch: the same layers won at
 * batch 1 and 16, and a per-process timing would make results differ bit-wise between runs.
 * - Narrow outputs (W <= 4): the direct kernel computes rows in vectors of 8 and wastes half
 *   or more of each; oneDNN blocks over channels instead. oneDNN.
 * - Depthwise: oneDNN for W <= 8, and for strided ones up to W <= 16 (the direct kernel's
 *   phase-split copy of the input is a scalar gather); the direct kernel above.
 * - 1x1: the direct kernel (it reads the input in place), except strided 1x1 (shortcut
 *   projections, W <= 16), where its phase-split input copy dominates. oneDNN there.
 * - Other kernels: oneDNN when input and output channels per group are both >= 16 (its
 *   blocks of 16 channels are full; with 8 or fewer it computes padding, 0.35x-0.85x) or when
 *   W <= 8; the direct kernel otherwise (first layers with 1 to 8 channels, wide planes). */
int nn_conv_prefers_dnnl(const NnConvGeom *g)
{
    int64_t w = g->out[2], kvol = g->k[0] * g->k[1] * g->k[2];
    int64_t cg = g->c / g->group, ocg = g->oc / g->group;
    int depthwise = g->group > 1 && g->group == g->c && g->oc == g->c;
    int strided = g->stride[0] > 1 || g->stride[1] > 1 || g->stride[2] > 1;
    if (w <= 4)
        return 1;
    if (depthwise)
        return w <= 8 || (strided && w <= 16);
    if (kvol == 1)
        return strided && w <= 16;
    return (cg >= 16 && ocg >= 16) || w <= 8;
}

void nn_conv_backend_reset(RnNnModel *m)
{
    if (!m->dnnl_state)
        return;
    for (size_t i = 0; i < m->n_nodes; i++) {
        nn_dnnl_conv_destroy(m->dnnl_conv[i]);
        m->dnnl_conv[i] = NULL;
        m->dnnl_state[i] = 0;
    }
}

int nn_conv_node(RnNnModel *m, size_t idx, const NnConvGeom *g, int nsp, const float *x,
                 const float *w, const float *b, float *y, NnAct act, float a, float bb,
                 RnError *err)
{
    int want = m->conv_backend == NN_BACKEND_DNNL ||
               (m->conv_backend == NN_BACKEND_AUTO && m->conv_impl == NN_CONV_AUTO &&
                nn_conv_prefers_dnnl(g));
    if (!want || idx >= m->n_nodes)
        return nn_conv(m, g, x, w, b, y, act, a, bb, err);
    if (!m->dnnl_state) {
        m->dnnl_conv = calloc(m->n_nodes, sizeof *m->dnnl_conv);
        m->dnnl_state = calloc(m->n_nodes, 1);
        if (!m->dnnl_conv || !m->dnnl_state) {
            free(m->dnnl_conv), free(m->dnnl_state);
            m->dnnl_conv = NULL, m->dnnl_state = NULL;
            return rn_error_set(err, RN_ERR_NOMEM, "nn: out of memory");
        }
    }
    NnDnnlConv *c = m->dnnl_conv[idx];
    if (c && nn_dnnl_conv_threads(c) != m->threads) {
        nn_dnnl_conv_destroy(c);
        m->dnnl_conv[idx] = c = NULL;
        m->dnnl_state[idx] = 0;
    }
    if (m->dnnl_state[idx] == 0) {
        /* the first run of this plan: make the primitive (weights reordered once) or, where
         * the library is absent, refuses the geometry, or its blocked copies of input, output
         * and weights (channels padded to 16) would pass the model's memory limit, stay native
         * for this plan */
        RnError e2 = {0};
        int64_t kvol = g->k[0] * g->k[1] * g->k[2];
        int64_t cg = g->c / g->group, ocg = g->oc / g->group;
        double bytes =
            4.0 * ((double)g->n * ((g->c + 15) / 16 * 16) * g->in[0] * g->in[1] * g->in[2] +
                   (double)g->n * ((g->oc + 15) / 16 * 16) * g->out[0] * g->out[1] * g->out[2] +
                   (double)g->group * ((ocg + 15) / 16 * 16) * ((cg + 15) / 16 * 16) * kvol);
        if (m->mem_limit &&
            (bytes > (double)m->mem_limit || nn_mem_take(m, (size_t)bytes, &e2) < 0))
            c = NULL, rn_format(e2.message, sizeof e2.message, "over the memory limit");
        else
            c = nn_dnnl_conv_create(g, nsp, w, b, act, a, bb, m->threads, &e2);
        m->dnnl_conv[idx] = c;
        m->dnnl_state[idx] = c ? 1 : 2;
        if (!c)
            rn_debug("nn: node %s runs natively: %s", m->nodes[idx].name ? m->nodes[idx].name : "?",
                     e2.message);
    }
    if (m->dnnl_state[idx] == 1)
        return nn_dnnl_conv_run(c, x, y, err);
    return nn_conv(m, g, x, w, b, y, act, a, bb, err);
}

/* ---- transposed convolution ---- */

typedef struct Col2ImCtx {
    const NnConvGeom *g;
    const float *col;
    float *y;
} Col2ImCtx;

NN_HOT static void col2im_task(void *vctx, int64_t o)
{
    const Col2ImCtx *cx = vctx;
    const NnConvGeom *g = cx->g;
    /* g->in is the convolution input (spatial of x), g->out the result */
    int64_t isz = g->in[0] * g->in[1] * g->in[2];
    int64_t osz = g->out[0] * g->out[1] * g->out[2];
    float *y = cx->y + o * osz;
    memset(y, 0, (size_t)osz * sizeof *y);
    for (int64_t kz = 0; kz < g->k[0]; kz++)
        for (int64_t ky = 0; ky < g->k[1]; ky++)
            for (int64_t kx = 0; kx < g->k[2]; kx++) {
                int64_t row = ((o * g->k[0] + kz) * g->k[1] + ky) * g->k[2] + kx;
                const float *src = cx->col + row * isz;
                for (int64_t iz = 0; iz < g->in[0]; iz++) {
                    int64_t oz = iz * g->stride[0] - g->pad[0] + kz * g->dil[0];
                    if (oz < 0 || oz >= g->out[0])
                        continue;
                    for (int64_t iy = 0; iy < g->in[1]; iy++) {
                        int64_t oy = iy * g->stride[1] - g->pad[1] + ky * g->dil[1];
                        if (oy < 0 || oy >= g->out[1])
                            continue;
                        const float *s = src + (iz * g->in[1] + iy) * g->in[2];
                        float *d = y + (oz * g->out[1] + oy) * g->out[2];
                        for (int64_t ix = 0; ix < g->in[2]; ix++) {
                            int64_t ox = ix * g->stride[2] - g->pad[2] + kx * g->dil[2];
                            if (ox >= 0 && ox < g->out[2])
                                d[ox] += s[ix];
                        }
                    }
                }
            }
}

int nn_conv_transpose(RnNnModel *m, const NnConvGeom *g, const float *x, const float *w,
                      const float *b, float *y, NnAct act, float a, float bb, RnError *err)
{
    int64_t kvol = g->k[0] * g->k[1] * g->k[2];
    int64_t cg = g->c / g->group, ocg = g->oc / g->group;
    int64_t isz = g->in[0] * g->in[1] * g->in[2];
    int64_t osz = g->out[0] * g->out[1] * g->out[2];
    float *col = nn_scratch(m, (size_t)(ocg * kvol * isz), err);
    if (!col)
        return err ? err->code : RN_ERR_NOMEM;
    for (int64_t n = 0; n < g->n; n++)
        for (int64_t gi = 0; gi < g->group; gi++) {
            const float *xg = x + (n * g->c + gi * cg) * isz;
            const float *wg = w + gi * cg * ocg * kvol;
            nn_sgemm(m, 1, 0, ocg * kvol, isz, cg, 1.0f, wg, ocg * kvol, xg, isz, 0.0f, col, isz);
            Col2ImCtx c = {g, col, y + (n * g->oc + gi * ocg) * osz};
            nn_parallel_for(m->pool, ocg, col2im_task, &c);
        }
    epilogue(m, y, b, g->n, g->oc, osz, act, a, bb);
    return 0;
}

/* ---- pooling ---- */

typedef struct PoolCtx {
    const NnConvGeom *g;
    const float *x;
    float *y;
    int is_max, include_pad;
} PoolCtx;

/* Window of output o along one axis, clipped to the input: first tap lo, tap
 * count n (step dil), and the count with padding for count_include_pad. */
static inline void pool_window(const NnConvGeom *g, int d, int64_t o, int64_t *lo, int64_t *n,
                        int64_t *padded)
{
    int64_t s = o * g->stride[d] - g->pad[d];
    int64_t e = s + (g->k[d] - 1) * g->dil[d] + 1;
    int64_t pe = e < g->in[d] + g->pad_end[d] ? e : g->in[d] + g->pad_end[d];
    *padded = pe - s;
    int64_t first = s;
    int64_t last = e < g->in[d] ? e : g->in[d]; /* exclusive */
    if (g->dil[d] == 1) { /* the common case, without divisions */
        first = first < 0 ? 0 : first;
        *lo = first;
        *n = first < last ? last - first : 0;
        return;
    }
    if (first < 0)
        first += (-first + g->dil[d] - 1) / g->dil[d] * g->dil[d];
    *lo = first;
    *n = first < last ? (last - first + g->dil[d] - 1) / g->dil[d] : 0;
}

/* One window row into the outputs [xa, xb) of a row whose windows lie inside
 * the input along x. Inlined with a constant stride so the loop vectorizes;
 * max is written v > acc ? v : acc (maxps), in the same tap order as the
 * scalar border code, so results do not depend on which path computed them. */
static inline void pool_row(float *acc, const float *p, int64_t xa, int64_t xb, int64_t sx,
                            int is_max)
{
    if (is_max)
        for (int64_t ox = xa; ox < xb; ox++) {
            float v = p[ox * sx];
            acc[ox] = v > acc[ox] ? v : acc[ox];
        }
    else
        for (int64_t ox = xa; ox < xb; ox++)
            acc[ox] += p[ox * sx];
}

NN_HOT static void pool_task(void *vctx, int64_t i)
{
    const PoolCtx *cx = vctx;
    const NnConvGeom *g = cx->g;
    int64_t isz = g->in[0] * g->in[1] * g->in[2];
    int64_t osz = g->out[0] * g->out[1] * g->out[2];
    const float *x = cx->x + i * isz;
    float *y = cx->y + i * osz;
    const int64_t dz = g->dil[0] * g->in[1] * g->in[2], dy = g->dil[1] * g->in[2], dx = g->dil[2];
    const int64_t sx = g->stride[2], px = g->pad[2], span = (g->k[2] - 1) * dx + 1;
    /* outputs whose window lies inside the input along x: ox*sx - px >= 0 and
     * ox*sx - px + span <= in */
    int64_t xa = (px + sx - 1) / sx, xb = g->in[2] + px - span >= 0 ? (g->in[2] + px - span) / sx + 1 : 0;
    if (xb > g->out[2])
        xb = g->out[2];
    if (xa > xb)
        xa = xb;
    for (int64_t oz = 0; oz < g->out[0]; oz++) {
        int64_t zlo, zn, zp;
        pool_window(g, 0, oz, &zlo, &zn, &zp);
        for (int64_t oy = 0; oy < g->out[1]; oy++) {
            int64_t ylo, yn, yp;
            pool_window(g, 1, oy, &ylo, &yn, &yp);
            const float *base = x + (zlo * g->in[1] + ylo) * g->in[2];
            float *yrow = y + (oz * g->out[1] + oy) * g->out[2];
            for (int64_t ox = 0; ox < g->out[2]; ox++) {
                if (ox == xa && xb > xa) {
                    ox = xb - 1;
                    continue;
                }
                int64_t xlo, xn, xp;
                pool_window(g, 2, ox, &xlo, &xn, &xp);
                const float *p0 = base + xlo;
                float acc = cx->is_max ? -INFINITY : 0.0f;
                for (int64_t a = 0; a < zn; a++)
                    for (int64_t b = 0; b < yn; b++) {
                        const float *p = p0 + a * dz + b * dy;
                        if (cx->is_max) {
                            for (int64_t k = 0; k < xn; k++) {
                                float v = p[k * dx];
                                acc = v > acc ? v : acc;
                            }
                        } else {
                            for (int64_t k = 0; k < xn; k++)
                                acc += p[k * dx];
                        }
                    }
                if (!cx->is_max) {
                    int64_t cnt = cx->include_pad ? zp * yp * xp : zn * yn * xn;
                    acc = cnt > 0 ? acc / (float)cnt : 0.0f;
                }
                yrow[ox] = acc;
            }
            if (xb <= xa)
                continue;
            /* interior: every window has k[2] taps along x */
            for (int64_t ox = xa; ox < xb; ox++)
                yrow[ox] = cx->is_max ? -INFINITY : 0.0f;
            for (int64_t a = 0; a < zn; a++)
                for (int64_t b = 0; b < yn; b++)
                    for (int64_t k = 0; k < g->k[2]; k++) {
                        const float *p = base + a * dz + b * dy + k * dx - px;
                        if (sx == 1)
                            pool_row(yrow, p, xa, xb, 1, cx->is_max);
                        else if (sx == 2)
                            pool_row(yrow, p, xa, xb, 2, cx->is_max);
                        else
                            pool_row(yrow, p, xa, xb, sx, cx->is_max);
                    }
            if (!cx->is_max) {
                for (int64_t ox = xa; ox < xb; ox++) {
                    int64_t xlo, xn, xp;
                    pool_window(g, 2, ox, &xlo, &xn, &xp);
                    int64_t cnt = cx->include_pad ? zp * yp * xp : zn * yn * xn;
                    yrow[ox] = cnt > 0 ? yrow[ox] / (float)cnt : 0.0f;
                }
            }
        }
    }
}

typedef struct GapCtx {
    const float *x;
    float *y;
    int64_t plane;
    int is_max;
} GapCtx;

NN_HOT static void gap_task(void *vctx, int64_t i)
{
    const GapCtx *c = vctx;
    const float *x = c->x + i * c->plane;
    if (c->is_max) {
        float acc = -INFINITY;
        for (int64_t k = 0; k < c->plane; k++)
            acc = x[k] > acc ? x[k] : acc;
        c->y[i] = acc;
        return;
    }
    double acc = 0;
    for (int64_t k = 0; k < c->plane; k++)
        acc += x[k];
    c->y[i] = c->plane ? (float)(acc / (double)c->plane) : 0.0f;
}

void nn_pool(RnNnModel *m, const NnConvGeom *g, const float *x, float *y, int is_max,
             int count_include_pad)
{
    int64_t osz = g->out[0] * g->out[1] * g->out[2];
    if (osz == 1 && g->pad[0] + g->pad[1] + g->pad[2] == 0 && g->k[0] == g->in[0] &&
        g->k[1] == g->in[1] && g->k[2] == g->in[2] && g->dil[0] * g->dil[1] * g->dil[2] == 1) {
        GapCtx c = {x, y, g->in[0] * g->in[1] * g->in[2], is_max};
        nn_parallel_for(m->pool, g->n * g->c, gap_task, &c);
        return;
    }
    PoolCtx c = {g, x, y, is_max, count_include_pad};
    nn_parallel_for(m->pool, g->n * g->c, pool_task, &c);
}
