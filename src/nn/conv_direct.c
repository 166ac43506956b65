/*
 * Direct convolution for x86-64 with AVX2 and FMA (1 to 3 spatial dims,
 * groups, strides, dilations, padding), used instead of im2col + sgemm.
 *
 * Why: the models radnode runs have narrow layers (1 to 64 channels) on
 * volumes. im2col there writes kvol times the input (27x for a 3x3x3 kernel)
 * to memory and hands OpenBLAS products with M = 8..32 rows, where its packing
 * costs as much as the arithmetic; the small 3D CNN ran at 0.3x PyTorch.
 *
 * How: the input of one image is copied once into a zero-padded buffer, with
 * the W axis split into `stride` phases (phase p holds padded columns p,
 * p + s, p + 2s, ...), so that for every kernel tap the 8 outputs of a vector
 * read 8 consecutive floats and no bound is checked in the inner loop. Output
 * positions are cut into vectors of 8 consecutive columns of one row; a tile
 * is 3 such vectors times 4 output channels, 12 AVX registers of accumulators
 * (the register file holds 16). Weights are repacked per call as
 * [group][channel block][input channel][tap][4] so a tap's 4 weights are one
 * cache line's broadcasts. Bias is the accumulators' start value; the fused
 * activation (ReLU, LeakyReLU, Clip) is applied in registers.
 *
 * Determinism: each output is a sum over (input channel, tap) in a fixed
 * order by one task; results do not depend on the thread count.
 */
#include "nn/nn_internal.h"

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define DC_VL 8  /* floats per vector */
#define DC_OCB 4 /* output channels per tile */
#define DC_NV 3  /* vectors per tile */
#define DC_TILES_PER_TASK 8
#define NN_DC_PASS_BYTES ((int64_t)8 << 20) /* padded input copies per pass, at most */

typedef struct DcCtx {
    const NnConvGeom *g;
    int64_t cg, ocg, nocb, kvol, K;
    int64_t cs;            /* channel stride of the (padded) input */
    const int64_t *tapoff; /* kvol */
    const int64_t *vin, *vout, *vlen; /* per output vector */
    int64_t nvec, ntile, nchunk;
    const float *wpack;
    const float *w; /* weights as stored (depthwise) */
    const float *xin; /* the pass's first image's (padded) input */
    float *y;         /* the pass's first image's output */
    /* a pass covers several images (one parallel_for each for padding and compute): per
     * image, the strides of xin, y and x, and the compute tasks */
    int64_t xin_stride, y_stride, x_stride, img_tasks;
    const float *b;
    NnAct act;
    float a, bb;
    /* padding copy */
    const float *x;
    int64_t dp, hp, wq, sx, rw, pl;
} DcCtx;

/* The fused activation in registers, with nn_apply_act's exact semantics
 * (comparisons are false for NaN, which then passes as it does there). */
__attribute__((target("avx2,fma"))) static inline __m256 dc_act(__m256 t, NnAct act, __m256 va,
                                                                __m256 vb)
{
    const __m256 z = _mm256_setzero_ps();
    if (act == ACT_RELU) /* y > 0 ? y : 0 */
        return _mm256_and_ps(t, _mm256_cmp_ps(t, z, _CMP_GT_OQ));
    if (act == ACT_LEAKY) /* y >= 0 ? y : y * a */
        return _mm256_blendv_ps(_mm256_mul_ps(t, va), t, _mm256_cmp_ps(t, z, _CMP_GE_OQ));
    if (act == ACT_CLIP) { /* y < a ? a : y > b ? b : y */
        __m256 hi = _mm256_blendv_ps(t, vb, _mm256_cmp_ps(t, vb, _CMP_GT_OQ));
        return _mm256_blendv_ps(hi, va, _mm256_cmp_ps(t, va, _CMP_LT_OQ));
    }
    return t;
}

__attribute__((target("avx2,fma"))) static inline void dc_store(float *d, __m256 v, int64_t n)
{
    if (n == DC_VL) {
        _mm256_storeu_ps(d, v);
        return;
    }
    __m256i mask =
        _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    _mm256_maskstore_ps(d, mask, v);
}

__attribute__((target("avx2,fma"))) static void
dc_tile(const DcCtx *c, const float *xg, const float *wp, const int64_t *vi, int nv,
        float *const yv[DC_NV], const int64_t *vl, int ocn, const float *bias)
{
    __m256 a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23;
    a00 = _mm256_set1_ps(bias[0]);
    a01 = _mm256_set1_ps(bias[1]);
    a02 = _mm256_set1_ps(bias[2]);
    a03 = _mm256_set1_ps(bias[3]);
    a10 = a00, a11 = a01, a12 = a02, a13 = a03;
    a20 = a00, a21 = a01, a22 = a02, a23 = a03;
    const int64_t kvol = c->kvol, cs = c->cs;
    const int64_t *tap = c->tapoff;
    const int64_t v0 = vi[0], v1 = vi[nv > 1 ? 1 : 0], v2 = vi[nv > 2 ? 2 : 0];
    for (int64_t ci = 0; ci < c->cg; ci++) {
        const float *xc = xg + ci * cs;
        const float *p0 = xc + v0, *p1 = xc + v1, *p2 = xc + v2;
        for (int64_t t = 0; t < kvol; t++, wp += DC_OCB) {
            int64_t o = tap[t];
            __m256 x0 = _mm256_loadu_ps(p0 + o);
            __m256 x1 = _mm256_loadu_ps(p1 + o);
            __m256 x2 = _mm256_loadu_ps(p2 + o);
            __m256 w = _mm256_broadcast_ss(wp);
            a00 = _mm256_fmadd_ps(w, x0, a00);
            a10 = _mm256_fmadd_ps(w, x1, a10);
            a20 = _mm256_fmadd_ps(w, x2, a20);
            w = _mm256_broadcast_ss(wp + 1);
            a01 = _mm256_fmadd_ps(w, x0, a01);
            a11 = _mm256_fmadd_ps(w, x1, a11);
            a21 = _mm256_fmadd_ps(w, x2, a21);
            w = _mm256_broadcast_ss(wp + 2);
            a02 = _mm256_fmadd_ps(w, x0, a02);
            a12 = _mm256_fmadd_ps(w, x1, a12);
            a22 = _mm256_fmadd_ps(w, x2, a22);
            w = _mm256_broadcast_ss(wp + 3);
            a03 = _mm256_fmadd_ps(w, x0, a03);
            a13 = _mm256_fmadd_ps(w, x1, a13);
            a23 = _mm256_fmadd_ps(w, x2, a23);
        }
    }
    __m256 acc[DC_NV][DC_OCB] = {{a00, a01, a02, a03}, {a10, a11, a12, a13}, {a20, a21, a22, a23}};
    if (c->act != ACT_NONE) {
        const __m256 va = _mm256_set1_ps(c->a), vb = _mm256_set1_ps(c->bb);
        for (int v = 0; v < DC_NV; v++)
            for (int j = 0; j < DC_OCB; j++)
                acc[v][j] = dc_act(acc[v][j], c->act, va, vb);
    }
    const int64_t osz = c->g->out[0] * c->g->out[1] * c->g->out[2];
    for (int v = 0; v < nv; v++)
        for (int j = 0; j < ocn; j++)
            dc_store(yv[v] + j * osz, acc[v][j], vl[v]);
}

/* Depthwise: one channel's output vectors, 4 at a time for independent FMA chains. */
__attribute__((target("avx2,fma"))) static void dc_dw_task(void *vctx, int64_t i)
{
    const DcCtx *c = vctx;
    int64_t img = i / c->img_tasks;
    i %= c->img_tasks;
    int64_t ch = i / c->nchunk, chunk = i % c->nchunk;
    const int64_t osz = c->g->out[0] * c->g->out[1] * c->g->out[2], kvol = c->kvol;
    const float *xc = c->xin + img * c->xin_stride + ch * c->cs, *wc = c->w + ch * kvol;
    float *yc = c->y + img * c->y_stride + ch * osz;
    const int64_t *tap = c->tapoff;
    const __m256 bias = _mm256_set1_ps(c->b ? c->b[ch] : 0.0f);
    const __m256 va = _mm256_set1_ps(c->a), vb = _mm256_set1_ps(c->bb);
    int64_t v = chunk * DC_TILES_PER_TASK * DC_NV, v1 = v + DC_TILES_PER_TASK * DC_NV;
    if (v1 > c->nvec)
        v1 = c->nvec;
    for (; v + 4 <= v1; v += 4) {
        const float *p0 = xc + c->vin[v], *p1 = xc + c->vin[v + 1];
        const float *p2 = xc + c->vin[v + 2], *p3 = xc + c->vin[v + 3];
        __m256 a0 = bias, a1 = bias, a2 = bias, a3 = bias;
        for (int64_t t = 0; t < kvol; t++) {
            __m256 w = _mm256_broadcast_ss(wc + t);
            int64_t o = tap[t];
            a0 = _mm256_fmadd_ps(w, _mm256_loadu_ps(p0 + o), a0);
            a1 = _mm256_fmadd_ps(w, _mm256_loadu_ps(p1 + o), a1);
            a2 = _mm256_fmadd_ps(w, _mm256_loadu_ps(p2 + o), a2);
            a3 = _mm256_fmadd_ps(w, _mm256_loadu_ps(p3 + o), a3);
        }
        dc_store(yc + c->vout[v], dc_act(a0, c->act, va, vb), c->vlen[v]);
        dc_store(yc + c->vout[v + 1], dc_act(a1, c->act, va, vb), c->vlen[v + 1]);
        dc_store(yc + c->vout[v + 2], dc_act(a2, c->act, va, vb), c->vlen[v + 2]);
        dc_store(yc + c->vout[v + 3], dc_act(a3, c->act, va, vb), c->vlen[v + 3]);
    }
    for (; v < v1; v++) {
        const float *p0 = xc + c->vin[v];
        __m256 a0 = bias;
        for (int64_t t = 0; t < kvol; t++)
            a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(wc + t), _mm256_loadu_ps(p0 + tap[t]), a0);
        dc_store(yc + c->vout[v], dc_act(a0, c->act, va, vb), c->vlen[v]);
    }
}

static void dc_task(void *vctx, int64_t i)
{
    const DcCtx *c = vctx;
    int64_t img = i / c->img_tasks;
    i %= c->img_tasks;
    int64_t gb = i / c->nchunk, chunk = i % c->nchunk;
    int64_t gi = gb / c->nocb, blk = gb % c->nocb;
    int64_t oc0 = gi * c->ocg + blk * DC_OCB;
    int ocn = (int)(c->ocg - blk * DC_OCB < DC_OCB ? c->ocg - blk * DC_OCB : DC_OCB);
    const int64_t osz = c->g->out[0] * c->g->out[1] * c->g->out[2];
    float bias[DC_OCB] = {0, 0, 0, 0};
    for (int j = 0; c->b && j < ocn; j++)
        bias[j] = c->b[oc0 + j];
    const float *xg = c->xin + img * c->xin_stride + gi * c->cg * c->cs;
    const float *wp = c->wpack + gb * c->K * DC_OCB;
    float *yb = c->y + img * c->y_stride + oc0 * osz;
    int64_t t0 = chunk * DC_TILES_PER_TASK, t1 = t0 + DC_TILES_PER_TASK;
    if (t1 > c->ntile)
        t1 = c->ntile;
    for (int64_t t = t0; t < t1; t++) {
        int64_t v = t * DC_NV;
        int nv = (int)(c->nvec - v < DC_NV ? c->nvec - v : DC_NV);
        float *yv[DC_NV];
        for (int k = 0; k < nv; k++)
            yv[k] = yb + c->vout[v + k];
        dc_tile(c, xg, wp, c->vin + v, nv, yv, c->vlen + v, ocn, bias);
    }
}

/* Copies channel ci of an image of the pass into the padded, phase-split layout. */
NN_HOT static void dc_pad_task(void *vctx, int64_t i)
{
    const DcCtx *c = vctx;
    const NnConvGeom *g = c->g;
    int64_t img = i / g->c, ci = i % g->c;
    const float *x = c->x + img * c->x_stride + ci * g->in[0] * g->in[1] * g->in[2];
    float *d = (float *)c->xin + img * c->xin_stride + ci * c->cs;
    for (int64_t zp = 0; zp < c->dp; zp++) {
        int64_t iz = zp - g->pad[0];
        for (int64_t yp = 0; yp < c->hp; yp++) {
            int64_t iy = yp - g->pad[1];
            float *row = d + zp * c->pl + yp * c->rw;
            if (iz < 0 || iz >= g->in[0] || iy < 0 || iy >= g->in[1]) {
                memset(row, 0, (size_t)c->rw * sizeof *row);
                continue;
            }
            const float *s = x + (iz * g->in[1] + iy) * g->in[2];
            if (c->sx == 1) {
                int64_t lo = g->pad[2] < c->wq ? g->pad[2] : c->wq;
                int64_t hi = g->pad[2] + g->in[2] < c->wq ? g->pad[2] + g->in[2] : c->wq;
                memset(row, 0, (size_t)lo * sizeof *row);
                if (hi > lo)
                    memcpy(row + lo, s + (lo - g->pad[2]), (size_t)(hi - lo) * sizeof *row);
                memset(row + hi, 0, (size_t)(c->wq - hi) * sizeof *row);
                continue;
            }
            for (int64_t ph = 0; ph < c->sx; ph++) {
                /* columns j with 0 <= ph + j*sx - pad < in */
                float *r = row + ph * c->wq;
                int64_t off = ph - g->pad[2];
                int64_t lo = off >= 0 ? 0 : (-off + c->sx - 1) / c->sx;
                int64_t hi = g->in[2] - off <= 0 ? 0 : (g->in[2] - off + c->sx - 1) / c->sx;
                lo = lo < c->wq ? lo : c->wq;
                hi = hi < c->wq ? hi : c->wq;
                hi = hi > lo ? hi : lo;
                memset(r, 0, (size_t)lo * sizeof *r);
                const float *sp = s + off;
                for (int64_t j = lo; j < hi; j++)
                    r[j] = sp[j * c->sx];
                memset(r + hi, 0, (size_t)(c->wq - hi) * sizeof *r);
            }
        }
    }
}

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

int nn_conv_direct(RnNnModel *m, const NnConvGeom *g, const float *x, const float *w,
                   const float *b, float *y, NnAct act, float a, float bb, RnError *err)
{
    if (m->conv_impl == NN_CONV_GEMM)
        return 0;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        return 0;
    int64_t kvol = g->k[0] * g->k[1] * g->k[2];
    int64_t cg = g->c / g->group, ocg = g->oc / g->group, K = cg * kvol;
    int64_t osz = g->out[0] * g->out[1] * g->out[2];
    int64_t isz = g->in[0] * g->in[1] * g->in[2];
    if (osz == 0 || g->n == 0)
        return 1;
    /* a pointwise conv reads the input in place, as one long row per channel;
     * only when that row is whole vectors, as nothing lies past the tensor */
    int pointwise = kvol == 1 && osz % DC_VL == 0;
    for (int i = 0; i < 3; i++)
        if (g->stride[i] != 1 || g->pad[i] != 0 || g->in[i] != g->out[i])
            pointwise = 0;
    DcCtx c = {0};
    c.g = g;
    c.cg = cg;
    c.ocg = ocg;
    c.nocb = (ocg + DC_OCB - 1) / DC_OCB;
    c.kvol = kvol;
    c.K = K;
    c.b = b;
    c.act = act;
    c.a = a;
    c.bb = bb;
    /* geometry of the output as rows of vectors; a pointwise conv is one long row */
    int64_t od = g->out[0], oh = g->out[1], ow = g->out[2];
    if (pointwise) {
        od = oh = 1;
        ow = osz;
        c.cs = isz;
    } else {
        c.sx = g->stride[2];
        c.dp = (g->out[0] - 1) * g->stride[0] + (g->k[0] - 1) * g->dil[0] + 1;
        c.hp = (g->out[1] - 1) * g->stride[1] + (g->k[1] - 1) * g->dil[1] + 1;
        int64_t lx = (g->out[2] - 1) * c.sx + (g->k[2] - 1) * g->dil[2] + 1;
        c.wq = (lx + c.sx - 1) / c.sx;
        c.rw = c.sx * c.wq;
        c.pl = c.hp * c.rw;
        c.cs = c.dp * c.pl;
    }
    int64_t vpr = (ow + DC_VL - 1) / DC_VL;
    c.nvec = od * oh * vpr;
    c.ntile = (c.nvec + DC_NV - 1) / DC_NV;
    c.nchunk = (c.ntile + DC_TILES_PER_TASK - 1) / DC_TILES_PER_TASK;
    int depthwise = g->group == g->c && g->oc == g->c && g->group > 1;
    /* Images per pass: each pass costs two wake-ups of the worker pool, which on the 2-core
     * VM took longer than a small layer's arithmetic (a batch of 16 ran 5x slower on 2
     * threads than on 1, one pass per image); the padded copies of a pass are capped at
     * NN_DC_PASS_BYTES. Each output is still computed by one task in the same order. */
    int64_t per_pass =
        pointwise ? g->n : NN_DC_PASS_BYTES / 4 / (g->c * c.cs > 0 ? g->c * c.cs : 1);
    per_pass = per_pass < 1 ? 1 : per_pass > g->n ? g->n : per_pass;
    c.img_tasks = depthwise ? g->c * c.nchunk : g->group * c.nocb * c.nchunk;
    c.x_stride = g->c * isz;
    c.y_stride = g->oc * osz;
    c.xin_stride = pointwise ? g->c * isz : g->c * c.cs;
    /* scratch: padded input of a pass (plus one vector of slack for the lanes past a row's
     * end, which are loaded but never stored), packed weights, tables */
    size_t n_pad = pointwise ? 0 : round16((size_t)(per_pass * g->c * c.cs + 2 * DC_VL));
    size_t n_w = depthwise ? 0 : round16((size_t)(g->group * c.nocb * K * DC_OCB));
    size_t n_tab = round16((size_t)(kvol + 3 * c.nvec) * 2); /* int64 as 2 floats */
    float *s = nn_scratch(m, n_pad + n_w + n_tab, err);
    if (!s)
        return err ? err->code : RN_ERR_NOMEM;
    float *pad = s, *wpack = s + n_pad;
    int64_t *tab = (int64_t *)(void *)(s + n_pad + n_w);
    int64_t *tapoff = tab, *vin = tab + kvol, *vout = vin + c.nvec, *vlen = vout + c.nvec;
    if (!pointwise)
        memset(pad + per_pass * g->c * c.cs, 0, 2 * DC_VL * sizeof *pad);
    /* weights: [group][block][ci][tap][DC_OCB], zero rows past ocg */
    for (int64_t gi = 0; !depthwise && gi < g->group; gi++)
        for (int64_t blk = 0; blk < c.nocb; blk++) {
            float *d = wpack + (gi * c.nocb + blk) * K * DC_OCB;
            for (int64_t k = 0; k < K; k++)
                for (int j = 0; j < DC_OCB; j++) {
                    int64_t oc = blk * DC_OCB + j;
                    d[k * DC_OCB + j] = oc < ocg ? w[(gi * ocg + oc) * K + k] : 0.0f;
                }
        }
    if (pointwise) {
        tapoff[0] = 0;
    } else {
        for (int64_t kz = 0; kz < g->k[0]; kz++)
            for (int64_t ky = 0; ky < g->k[1]; ky++)
                for (int64_t kx = 0; kx < g->k[2]; kx++) {
                    int64_t ex = kx * g->dil[2];
                    tapoff[(kz * g->k[1] + ky) * g->k[2] + kx] =
                        kz * g->dil[0] * c.pl + ky * g->dil[1] * c.rw + (ex % c.sx) * c.wq +
                        ex / c.sx;
                }
    }
    int64_t v = 0;
    for (int64_t oz = 0; oz < od; oz++)
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox += DC_VL, v++) {
                vin[v] = pointwise ? ox
                                   : oz * g->stride[0] * c.pl + oy * g->stride[1] * c.rw + ox;
                vout[v] = (oz * oh + oy) * ow + ox;
                vlen[v] = ow - ox < DC_VL ? ow - ox : DC_VL;
            }
    c.tapoff = tapoff;
    c.vin = vin;
    c.vout = vout;
    c.vlen = vlen;
    c.wpack = wpack;
    c.w = w;
    for (int64_t n = 0; n < g->n; n += per_pass) {
        int64_t imgs = g->n - n < per_pass ? g->n - n : per_pass;
        c.x = x + n * c.x_stride;
        c.y = y + n * c.y_stride;
        if (pointwise) {
            c.xin = c.x;
        } else {
            c.xin = pad;
            nn_parallel_for(m->pool, imgs * g->c, dc_pad_task, &c);
        }
        nn_parallel_for(m->pool, imgs * c.img_tasks, depthwise ? dc_dw_task : dc_task, &c);
    }
    return 1;
}

#else

int nn_conv_direct(RnNnModel *m, const NnConvGeom *g, const float *x, const float *w,
                   const float *b, float *y, NnAct act, float a, float bb, RnError *err)
{
    (void)m, (void)g, (void)x, (void)w, (void)b, (void)y, (void)act, (void)a, (void)bb, (void)err;
    return 0;
}

#endif
