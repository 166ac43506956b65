/*
 * Operator execution: one function per ONNX operator class, working on the
 * data pointers the plan gave the node's tensors (shapes were inferred and
 * checked in shape.c). Elementwise arithmetic follows numpy broadcasting
 * (ONNX "multidirectional broadcasting"), with dimensions coalesced so the
 * inner loop is as long as possible. Data-movement operators (Concat,
 * Transpose, Slice, Pad, Gather, Expand) work on 4- or 8-byte elements, so the
 * int64 shape subgraphs that exporters emit can be folded with the same code.
 */
#include "nn/nn_internal.h"

#include <stdio.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(code, ...)                                                                          \
    do {                                                                                         \
        char msg_[300];                                                                          \
        snprintf(msg_, sizeof msg_, __VA_ARGS__);                                                \
        return rn_error_set(err, code, "nn: node '%s' (%s): %s", n->name, n->op_type, msg_);     \
    } while (0)

static NnTensor *T(RnNnModel *m, const NnNode *n, size_t k)
{
    return k < n->n_in && n->in[k] >= 0 ? &m->tensors[n->in[k]] : NULL;
}

/* ---- broadcasting iteration ---- */

typedef struct Bcast {
    int r;
    int64_t dims[RN_NN_MAX_DIMS], sa[RN_NN_MAX_DIMS], sb[RN_NN_MAX_DIMS];
} Bcast;

static void bcast_strides(const NnTensor *t, int r, const int64_t *odims, int64_t *st)
{
    int64_t s = 1;
    for (int i = r - 1; i >= 0; i--) {
        int ti = i - (r - t->ndim);
        int64_t d = ti >= 0 ? t->dims[ti] : 1;
        st[i] = (d == 1 && odims[i] != 1) ? 0 : s;
        s *= d;
    }
}

static void bcast_init(Bcast *b, const NnTensor *out, const NnTensor *x, const NnTensor *y)
{
    int r = out->ndim;
    int64_t sa[RN_NN_MAX_DIMS], sb[RN_NN_MAX_DIMS] = {0};
    bcast_strides(x, r, out->dims, sa);
    if (y)
        bcast_strides(y, r, out->dims, sb);
    /* drop size-1 axes, merge axes that are contiguous in both inputs */
    b->r = 0;
    for (int i = 0; i < r; i++) {
        if (out->dims[i] == 1)
            continue;
        int k = b->r;
        if (k > 0 && b->sa[k - 1] == sa[i] * out->dims[i] && b->sb[k - 1] == sb[i] * out->dims[i]) {
            b->dims[k - 1] *= out->dims[i];
            b->sa[k - 1] = sa[i];
            b->sb[k - 1] = sb[i];
            continue;
        }
        b->dims[k] = out->dims[i];
        b->sa[k] = sa[i];
        b->sb[k] = sb[i];
        b->r++;
    }
    if (b->r == 0) {
        b->r = 1;
        b->dims[0] = 1;
        b->sa[0] = b->sb[0] = 1;
    }
}

/* Calls body(oa, ob, len, sa, sb, out_off) for each inner run. */
#define BCAST_LOOP(b, total, BODY)                                                               \
    do {                                                                                         \
        int64_t idx_[RN_NN_MAX_DIMS] = {0};                                                      \
        int64_t inner_ = (b).dims[(b).r - 1], isa_ = (b).sa[(b).r - 1], isb_ = (b).sb[(b).r - 1]; \
        int64_t oa_ = 0, ob_ = 0;                                                                \
        for (int64_t oo_ = 0; oo_ < (total); oo_ += inner_) {                                    \
            BODY(oa_, ob_, inner_, isa_, isb_, oo_);                                             \
            for (int d_ = (b).r - 2; d_ >= 0; d_--) {                                            \
                idx_[d_]++;                                                                      \
                oa_ += (b).sa[d_];                                                               \
                ob_ += (b).sb[d_];                                                               \
                if (idx_[d_] < (b).dims[d_])                                                     \
                    break;                                                                       \
                oa_ -= (b).sa[d_] * (b).dims[d_];                                                \
                ob_ -= (b).sb[d_] * (b).dims[d_];                                                \
                idx_[d_] = 0;                                                                    \
            }                                                                                    \
        }                                                                                        \
    } while (0)

NN_HOT static int exec_binary(RnNnModel *m, NnNode *n, RnError *err)
{
    NnTensor *a = T(m, n, 0), *b = T(m, n, 1), *o = &m->tensors[n->out[0]];
    int64_t total = nn_numel(o);
    if (!total)
        return 0;
    Bcast bc;
    bcast_init(&bc, o, a, b);
    NnOp op = n->op;
    if (o->dtype == NN_F32) {
        const float *pa = a->data, *pb = b->data;
        float *po = o->data;
#define FBODY(oa, ob, len, sa, sb, oo)                                                           \
    do {                                                                                         \
        const float *x_ = pa + oa, *y_ = pb + ob;                                                \
        float *z_ = po + oo;                                                                     \
        switch (op) {                                                                            \
        case OP_ADD:                                                                             \
            for (int64_t i = 0; i < len; i++)                                                    \
                z_[i] = x_[i * sa] + y_[i * sb];                                                 \
            break;                                                                               \
        case OP_SUB:                                                                             \
            for (int64_t i = 0; i < len; i++)                                                    \
                z_[i] = x_[i * sa] - y_[i * sb];                                                 \
            break;                                                                               \
        case OP_MUL:                                                                             \
            for (int64_t i = 0; i < len; i++)                                                    \
                z_[i] = x_[i * sa] * y_[i * sb];                                                 \
            break;                                                                               \
        case OP_DIV:                                                                             \
            for (int64_t i = 0; i < len; i++)                                                    \
                z_[i] = x_[i * sa] / y_[i * sb];                                                 \
            break;                                                                               \
        default:                                                                                 \
            for (int64_t i = 0; i < len; i++)                                                    \
                z_[i] = powf(x_[i * sa], y_[i * sb]);                                            \
            break;                                                                               \
        }                                                                                        \
    } while (0)
        BCAST_LOOP(bc, total, FBODY);
#undef FBODY
        return 0;
    }
    const int64_t *pa = a->data, *pb = b->data;
    int64_t *po = o->data;
    int bad = 0;
#define IBODY(oa, ob, len, sa, sb, oo)                                                           \
    do {                                                                                         \
        for (int64_t i = 0; i < len; i++) {                                                      \
            int64_t x_ = pa[oa + i * sa], y_ = pb[ob + i * sb];                                  \
            uint64_t ux_ = (uint64_t)x_, uy_ = (uint64_t)y_;                                     \
            int64_t r_;                                                                          \
            if (op == OP_ADD)                                                                    \
                r_ = (int64_t)(ux_ + uy_);                                                       \
            else if (op == OP_SUB)                                                               \
                r_ = (int64_t)(ux_ - uy_);                                                       \
            else if (op == OP_MUL)                                                               \
                r_ = (int64_t)(ux_ * uy_);                                                       \
            else if (y_ == 0 || (y_ == -1 && x_ == INT64_MIN))                                   \
                r_ = 0, bad = 1;                                                                 \
            else                                                                                 \
                r_ = x_ / y_;                                                                    \
            po[oo + i] = r_;                                                                     \
        }                                                                                        \
    } while (0)
    BCAST_LOOP(bc, total, IBODY);
#undef IBODY
    if (bad)
        FAIL(RN_ERR_INVALID, "integer division by zero");
    return 0;
}

static int exec_expand(RnNnModel *m, NnNode *n)
{
    NnTensor *a = T(m, n, 0), *o = &m->tensors[n->out[0]];
    int64_t total = nn_numel(o);
    if (!total)
        return 0;
    Bcast bc;
    bcast_init(&bc, o, a, NULL);
    size_t es = nn_elem_size(o->dtype);
    const char *pa = a->data;
    char *po = o->data;
#define EBODY(oa, ob, len, sa, sb, oo)                                                           \
    do {                                                                                         \
        (void)(ob);                                                                              \
        (void)(sb);                                                                              \
        for (int64_t i = 0; i < len; i++)                                                        \
            memcpy(po + (size_t)(oo + i) * es, pa + (size_t)(oa + i * sa) * es, es);             \
    } while (0)
    BCAST_LOOP(bc, total, EBODY);
#undef EBODY
    return 0;
}

/* ---- unary ---- */

NN_HOT static int exec_unary(RnNnModel *m, NnNode *n, RnError *err)
{
    NnTensor *x = T(m, n, 0), *o = &m->tensors[n->out[0]];
    int64_t cnt = nn_numel(x);
    if (x->dtype == NN_I64) {
        const int64_t *s = x->data;
        int64_t *d = o->data;
        for (int64_t i = 0; i < cnt; i++)
            d[i] = n->op == OP_NEG ? (int64_t)(0 - (uint64_t)s[i])
                                   : (s[i] < 0 ? (int64_t)(0 - (uint64_t)s[i]) : s[i]);
        return 0;
    }
    const float *s = x->data;
    float *d = o->data;
    float alpha, beta;
    switch (n->op) {
    case OP_RELU:
        for (int64_t i = 0; i < cnt; i++)
            d[i] = s[i] > 0 ? s[i] : 0;
        break;
    case OP_LEAKYRELU:
        alpha = nn_attr_float(n, "alpha", 0.01f);
        for (int64_t i = 0; i < cnt; i++)
            d[i] = s[i] >= 0 ? s[i] : s[i] * alpha;
        break;
    case OP_ELU:
        alpha = nn_attr_float(n, "alpha", 1.0f);
        for (int64_t i = 0; i < cnt; i++)
            d[i] = s[i] >= 0 ? s[i] : alpha * expm1f(s[i]);
        break;
    case OP_SIGMOID:
        for (int64_t i = 0; i < cnt; i++)
            d[i] = 1.0f / (1.0f + expf(-s[i]));
        break;
    case OP_TANH:
        for (int64_t i = 0; i < cnt; i++)
            d[i] = tanhf(s[i]);
        break;
    case OP_HARDSIGMOID:
        alpha = nn_attr_float(n, "alpha", 0.2f);
        beta = nn_attr_float(n, "beta", 0.5f);
        for (int64_t i = 0; i < cnt; i++) {
            float v = alpha * s[i] + beta;
            d[i] = v < 0 ? 0 : v > 1 ? 1 : v;
        }
        break;
    case OP_HARDSWISH:
        for (int64_t i = 0; i < cnt; i++) {
            float v = s[i] / 6.0f + 0.5f;
            d[i] = s[i] * (v < 0 ? 0 : v > 1 ? 1 : v);
        }
        break;
    case OP_ERF:
        for (int64_t i = 0; i < cnt; i++)
            d[i] = erff(s[i]);
        break;
    case OP_GELU:
        if (!strcmp(nn_attr_str(n, "approximate", "none"), "tanh")) {
            for (int64_t i = 0; i < cnt; i++) {
                float v = s[i];
                d[i] = 0.5f * v * (1.0f + tanhf(0.7978845608f * (v + 0.044715f * v * v * v)));
            }
        } else {
            for (int64_t i = 0; i < cnt; i++)
                d[i] = 0.5f * s[i] * (1.0f + erff(s[i] * 0.70710678118654752f));
        }
        break;
    case OP_EXP:
        for (int64_t i = 0; i < cnt; i++)
            d[i] = expf(s[i]);
        break;
    case OP_LOG:
        for (int64_t i = 0; i < cnt; i++)
            d[i] = logf(s[i]);
        break;
    case OP_SQRT:
        for (int64_t i = 0; i < cnt; i++)
            d[i] = sqrtf(s[i]);
        break;
    case OP_NEG:
        for (int64_t i = 0; i < cnt; i++)
            d[i] = -s[i];
        break;
    case OP_ABS:
        for (int64_t i = 0; i < cnt; i++)
            d[i] = fabsf(s[i]);
        break;
    case OP_RECIPROCAL:
        for (int64_t i = 0; i < cnt; i++)
            d[i] = 1.0f / s[i];
        break;
    case OP_CLIP: {
        NnTensor *lo = T(m, n, 1), *hi = T(m, n, 2);
        alpha = lo ? *(const float *)lo->data : -INFINITY;
        beta = hi ? *(const float *)hi->data : INFINITY;
        for (int64_t i = 0; i < cnt; i++)
            d[i] = s[i] < alpha ? alpha : s[i] > beta ? beta : s[i];
        break;
    }
    default:
        FAIL(RN_ERR_UNSUPPORTED, "not a unary operator");
    }
    return 0;
}

/* ---- matrix products ---- */

static int exec_gemm(RnNnModel *m, NnNode *n)
{
    NnTensor *a = T(m, n, 0), *b = T(m, n, 1), *c = T(m, n, 2), *o = &m->tensors[n->out[0]];
    int ta = (int)nn_attr_int(n, "transA", 0), tb = (int)nn_attr_int(n, "transB", 0);
    float alpha = nn_attr_float(n, "alpha", 1.0f), beta = nn_attr_float(n, "beta", 1.0f);
    int64_t M = o->dims[0], N = o->dims[1], K = ta ? a->dims[0] : a->dims[1];
    float *y = o->data;
    float b0 = 0.0f;
    if (c && beta != 0.0f) {
        int64_t cs0 = c->ndim == 2 && c->dims[0] != 1 ? (c->ndim == 2 ? c->dims[1] : 0) : 0;
        int64_t cs1 = (c->ndim >= 1 && c->dims[c->ndim - 1] != 1) ? 1 : 0;
        const float *cd = c->data;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++)
                y[i * N + j] = beta * cd[i * cs0 + j * cs1];
        b0 = 1.0f;
    }
    if (M && N)
        nn_sgemm(m, ta, tb, M, N, K, alpha, a->data, a->dims[1], b->data, b->dims[1], b0, y, N);
    return 0;
}

static int exec_matmul(RnNnModel *m, NnNode *n)
{
    NnTensor *a = T(m, n, 0), *b = T(m, n, 1), *o = &m->tensors[n->out[0]];
    int64_t K = a->dims[a->ndim - 1];
    int64_t M = a->ndim >= 2 ? a->dims[a->ndim - 2] : 1;
    int64_t N = b->ndim >= 2 ? b->dims[b->ndim - 1] : 1;
    int ra = a->ndim > 2 ? a->ndim - 2 : 0, rb = b->ndim > 2 ? b->ndim - 2 : 0;
    int r = ra > rb ? ra : rb;
    const float *pa = a->data, *pb = b->data;
    float *po = o->data;
    if (!M || !N)
        return 0;
    if (rb == 0) { /* one B for every batch: fold the batch into M */
        int64_t batch = 1;
        for (int i = 0; i < ra; i++)
            batch *= a->dims[i];
        if (K == 0) {
            memset(po, 0, (size_t)(batch * M * N) * sizeof *po);
            return 0;
        }
        nn_sgemm(m, 0, 0, batch * M, N, K, 1.0f, pa, K, pb, N, 0.0f, po, N);
        return 0;
    }
    int64_t bd[RN_NN_MAX_DIMS], sa[RN_NN_MAX_DIMS], sb[RN_NN_MAX_DIMS], batch = 1;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - ra), ib = i - (r - rb);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        bd[i] = da > db ? da : db;
        batch *= bd[i];
    }
    int64_t s_a = M * K, s_b = K * N;
    for (int i = r - 1; i >= 0; i--) {
        int ia = i - (r - ra), ib = i - (r - rb);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        sa[i] = da == 1 ? 0 : s_a;
        sb[i] = db == 1 ? 0 : s_b;
        s_a *= da;
        s_b *= db;
    }
    for (int64_t bi = 0; bi < batch; bi++) {
        int64_t rem = bi, oa = 0, ob = 0;
        for (int i = r - 1; i >= 0; i--) {
            int64_t idx = rem % bd[i];
            rem /= bd[i];
            oa += idx * sa[i];
            ob += idx * sb[i];
        }
        if (K == 0)
            memset(po + bi * M * N, 0, (size_t)(M * N) * sizeof *po);
        else
            nn_sgemm(m, 0, 0, M, N, K, 1.0f, pa + oa, K, pb + ob, N, 0.0f, po + bi * M * N, N);
    }
    return 0;
}

/* ---- data movement ---- */

static void strides_of(const NnTensor *t, int64_t *st)
{
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        st[i] = s;
        s *= t->dims[i];
    }
}

/* Copies out[idx] = in[base + sum idx[d]*istr[d]] over the output's dims. */
static void strided_copy(void *out, const void *in, int ndim, const int64_t *odims,
                         int64_t base, const int64_t *istr, size_t es)
{
    int64_t total = 1;
    for (int d = 0; d < ndim; d++)
        total *= odims[d];
    if (!total)
        return;
    int64_t idx[RN_NN_MAX_DIMS] = {0};
    int64_t inner = ndim ? odims[ndim - 1] : 1, is = ndim ? istr[ndim - 1] : 0, off = base;
    char *o = out;
    const char *s = in;
    for (int64_t oo = 0; oo < total; oo += inner) {
        if (es == 4) {
            float *d4 = (float *)(o + (size_t)oo * 4);
            const float *s4 = (const float *)s + off;
            for (int64_t i = 0; i < inner; i++)
                d4[i] = s4[i * is];
        } else {
            int64_t *d8 = (int64_t *)(o + (size_t)oo * 8);
            const int64_t *s8 = (const int64_t *)s + off;
            for (int64_t i = 0; i < inner; i++)
                d8[i] = s8[i * is];
        }
        for (int d = ndim - 2; d >= 0; d--) {
            idx[d]++;
            off += istr[d];
            if (idx[d] < odims[d])
                break;
            off -= istr[d] * odims[d];
            idx[d] = 0;
        }
    }
}

static int exec_transpose(RnNnModel *m, NnNode *n)
{
    NnTensor *x = T(m, n, 0), *o = &m->tensors[n->out[0]];
    const int64_t *perm;
    size_t np = nn_attr_ints(n, "perm", &perm);
    int64_t xs[RN_NN_MAX_DIMS], is[RN_NN_MAX_DIMS];
    strides_of(x, xs);
    for (int d = 0; d < x->ndim; d++)
        is[d] = xs[np ? perm[d] : x->ndim - 1 - d];
    strided_copy(o->data, x->data, o->ndim, o->dims, 0, is, nn_elem_size(x->dtype));
    return 0;
}

static int exec_slice(RnNnModel *m, NnNode *n, RnError *err)
{
    NnTensor *x = T(m, n, 0), *o = &m->tensors[n->out[0]];
    int64_t st[RN_NN_MAX_DIMS], sp[RN_NN_MAX_DIMS], od[RN_NN_MAX_DIMS], xs[RN_NN_MAX_DIMS];
    int rc = nn_slice_params(m, n, st, sp, od, err);
    if (rc < 0)
        return rc;
    strides_of(x, xs);
    int64_t base = 0, is[RN_NN_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) {
        if (o->dims[d])
            base += st[d] * xs[d];
        is[d] = sp[d] * xs[d];
    }
    strided_copy(o->data, x->data, o->ndim, o->dims, base, is, nn_elem_size(x->dtype));
    return 0;
}

static int exec_concat(RnNnModel *m, NnNode *n)
{
    NnTensor *o = &m->tensors[n->out[0]];
    int64_t axis = nn_attr_int(n, "axis", 0);
    if (axis < 0)
        axis += o->ndim;
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++)
        outer *= o->dims[d];
    for (int d = (int)axis + 1; d < o->ndim; d++)
        inner *= o->dims[d];
    size_t es = nn_elem_size(o->dtype);
    size_t orow = (size_t)(o->dims[axis] * inner) * es, off = 0;
    for (size_t k = 0; k < n->n_in; k++) {
        NnTensor *t = T(m, n, k);
        if (!t)
            continue;
        size_t row = (size_t)(t->dims[axis] * inner) * es;
        for (int64_t i = 0; i < outer; i++)
            memcpy((char *)o->data + (size_t)i * orow + off, (char *)t->data + (size_t)i * row,
                   row);
        off += row;
    }
    return 0;
}

static int exec_gather(RnNnModel *m, NnNode *n, RnError *err)
{
    NnTensor *x = T(m, n, 0), *ix = T(m, n, 1), *o = &m->tensors[n->out[0]];
    int64_t axis = nn_attr_int(n, "axis", 0);
    if (axis < 0)
        axis += x->ndim;
    int64_t outer = 1, inner = 1, len = x->dims[axis], ni = nn_numel(ix);
    for (int d = 0; d < axis; d++)
        outer *= x->dims[d];
    for (int d = (int)axis + 1; d < x->ndim; d++)
        inner *= x->dims[d];
    size_t es = nn_elem_size(x->dtype), chunk = (size_t)inner * es;
    const int64_t *id = ix->data;
    for (int64_t i = 0; i < outer; i++)
        for (int64_t j = 0; j < ni; j++) {
            int64_t k = id[j] < 0 ? id[j] + len : id[j];
            if (k < 0 || k >= len)
                FAIL(RN_ERR_INVALID, "index %lld out of range [0,%lld)", (long long)id[j],
                     (long long)len);
            memcpy((char *)o->data + (size_t)(i * ni + j) * chunk,
                   (const char *)x->data + (size_t)(i * len + k) * chunk, chunk);
        }
    return 0;
}

/* Source index of padded position i along an axis of length len: edge and
 * reflect map it inside; constant mode sets *outside. */
static int64_t pad_index(int64_t i, int64_t len, int md, int *outside)
{
    if (i >= 0 && i < len)
        return i;
    if (md == 0) {
        *outside = 1;
        return 0;
    }
    if (md == 2)
        return i < 0 ? 0 : len - 1;
    /* reflect without repeating the edge; pads < len (checked) */
    if (len == 1)
        return 0;
    int64_t period = 2 * (len - 1);
    i = ((i % period) + period) % period;
    return i >= len ? period - i : i;
}

static int exec_pad(RnNnModel *m, NnNode *n)
{
    NnTensor *x = T(m, n, 0), *p = T(m, n, 1), *cv = T(m, n, 2), *o = &m->tensors[n->out[0]];
    const char *mode = nn_attr_str(n, "mode", "constant");
    int md = !strcmp(mode, "reflect") ? 1 : !strcmp(mode, "edge") ? 2 : 0;
    const int64_t *pads = p->data;
    int r = x->ndim;
    size_t es = nn_elem_size(x->dtype);
    int64_t total = nn_numel(o), xs[RN_NN_MAX_DIMS];
    strides_of(x, xs);
    float fv = 0;
    int64_t iv = 0;
    if (cv && nn_numel(cv) >= 1) {
        if (cv->dtype == NN_F32)
            fv = *(const float *)cv->data, iv = (int64_t)fv;
        else
            iv = *(const int64_t *)cv->data, fv = (float)iv;
    }
    if (r == 0 || total == 0) {
        if (total)
            memcpy(o->data, x->data, es);
        return 0;
    }
    /* Row by row along the last axis: the source offset of the outer indices
     * once per row, then the row's inside part in one copy and its padding
     * element by element. */
    int64_t olast = o->dims[r - 1], xlast = x->dims[r - 1], plast = pads[r - 1];
    int64_t jlo = plast < 0 ? 0 : plast > olast ? olast : plast;
    int64_t jhi = plast + xlast < jlo ? jlo : plast + xlast > olast ? olast : plast + xlast;
    int64_t idx[RN_NN_MAX_DIMS] = {0};
    for (int64_t oo = 0; oo < total; oo += olast) {
        int64_t off = 0;
        int outside = 0;
        for (int d = 0; d < r - 1 && !outside; d++) {
            int64_t i = pad_index(idx[d] - pads[d], x->dims[d], md, &outside);
            off += i * xs[d];
        }
        for (int64_t j = 0; j < olast; j++) {
            if (!outside && j == jlo && jhi > jlo) {
                memcpy((char *)o->data + (size_t)(oo + j) * es,
                       (const char *)x->data + (size_t)(off + j - plast) * es,
                       (size_t)(jhi - jlo) * es);
                j = jhi - 1;
                continue;
            }
            int out = outside;
            int64_t i = out ? 0 : pad_index(j - plast, xlast, md, &out);
            if (es == 4)
                ((float *)o->data)[oo + j] = out ? fv : ((const float *)x->data)[off + i];
            else
                ((int64_t *)o->data)[oo + j] = out ? iv : ((const int64_t *)x->data)[off + i];
        }
        for (int d = r - 2; d >= 0; d--) {
            if (++idx[d] < o->dims[d])
                break;
            idx[d] = 0;
        }
    }
    return 0;
}

/* ---- Resize: separable, one axis at a time ---- */

static int exec_resize(RnNnModel *m, NnNode *n, RnError *err)
{
    NnTensor *x = T(m, n, 0), *o = &m->tensors[n->out[0]];
    float sc[RN_NN_MAX_DIMS];
    int64_t od[RN_NN_MAX_DIMS];
    int rc = nn_resize_scales(m, n, sc, od, err);
    if (rc < 0)
        return rc;
    int linear = !strcmp(nn_attr_str(n, "mode", "nearest"), "linear");
    const char *ct = nn_attr_str(n, "coordinate_transformation_mode", "half_pixel");
    const char *nm = nn_attr_str(n, "nearest_mode", "round_prefer_floor");
    int r = x->ndim;
    int64_t cur[RN_NN_MAX_DIMS], cur_total = nn_numel(x), maxlen = 1, max_total = cur_total;
    memcpy(cur, x->dims, sizeof cur);
    int axes[RN_NN_MAX_DIMS], na = 0;
    for (int d = 0; d < r; d++) {
        if (od[d] == x->dims[d] && sc[d] == 1.0f)
            continue;
        axes[na++] = d;
        if (od[d] > maxlen)
            maxlen = od[d];
    }
    if (!na || !nn_numel(o)) {
        if (nn_numel(o))
            memcpy(o->data, x->data, (size_t)nn_numel(o) * sizeof(float));
        return 0;
    }
    for (int k = 0; k < na; k++) {
        cur[axes[k]] = od[axes[k]];
        int64_t t = 1;
        for (int d = 0; d < r; d++)
            t *= cur[d];
        if (t > max_total)
            max_total = t;
    }
    memcpy(cur, x->dims, sizeof cur);
    /* scratch: lo, hi, w per output index, then two ping-pong buffers */
    float *s = nn_scratch(m, (size_t)(3 * maxlen + 2 * max_total), err);
    if (!s)
        return err ? err->code : RN_ERR_NOMEM;
    int64_t *lo = malloc((size_t)maxlen * 2 * sizeof *lo);
    if (!lo)
        FAIL(RN_ERR_NOMEM, "out of memory");
    int64_t *hi = lo + maxlen;
    float *w = s, *buf[2] = {s + 3 * maxlen, s + 3 * maxlen + max_total};
    const float *src = x->data;
    for (int k = 0; k < na; k++) {
        int d = axes[k];
        int64_t in = cur[d], out = od[d];
        float scale = sc[d];
        for (int64_t j = 0; j < out; j++) {
            float xo;
            if (!strcmp(ct, "align_corners"))
                xo = out > 1 ? (float)j * (float)(in - 1) / (float)(out - 1) : 0.0f;
            else if (!strcmp(ct, "asymmetric"))
                xo = (float)j / scale;
            else if (!strcmp(ct, "pytorch_half_pixel") && out <= 1)
                xo = 0.0f;
            else
                xo = ((float)j + 0.5f) / scale - 0.5f;
            if (linear) {
                if (xo < 0)
                    xo = 0;
                if (xo > (float)(in - 1))
                    xo = (float)(in - 1);
                int64_t l = (int64_t)floorf(xo);
                lo[j] = l;
                hi[j] = l + 1 < in ? l + 1 : in - 1;
                w[j] = xo - (float)l;
            } else {
                float f;
                if (!strcmp(nm, "floor"))
                    f = floorf(xo);
                else if (!strcmp(nm, "ceil"))
                    f = ceilf(xo);
                else if (!strcmp(nm, "round_prefer_ceil"))
                    f = floorf(xo + 0.5f);
                else
                    f = (xo - floorf(xo) == 0.5f) ? floorf(xo) : roundf(xo);
                int64_t l = (int64_t)f;
                l = l < 0 ? 0 : l >= in ? in - 1 : l;
                lo[j] = hi[j] = l;
                w[j] = 0;
            }
        }
        int64_t outer = 1, inner = 1;
        for (int q = 0; q < d; q++)
            outer *= cur[q];
        for (int q = d + 1; q < r; q++)
            inner *= cur[q];
        float *dst = k == na - 1 ? (float *)o->data : buf[k & 1];
        for (int64_t i = 0; i < outer; i++)
            for (int64_t j = 0; j < out; j++) {
                const float *a = src + (i * in + lo[j]) * inner, *b = src + (i * in + hi[j]) * inner;
                float *z = dst + (i * out + j) * inner, wv = w[j];
                if (wv == 0.0f)
                    memcpy(z, a, (size_t)inner * sizeof *z);
                else
                    for (int64_t q = 0; q < inner; q++)
                        z[q] = a[q] + (b[q] - a[q]) * wv;
            }
        cur[d] = out;
        src = dst;
    }
    free(lo);
    (void)cur_total;
    return 0;
}

/* ---- softmax, reductions, normalisation ---- */

static int exec_softmax(RnNnModel *m, NnNode *n)
{
    NnTensor *x = T(m, n, 0), *o = &m->tensors[n->out[0]];
    int64_t axis = nn_attr_int(n, "axis", m->opset >= 13 ? -1 : 1);
    if (axis < 0)
        axis += x->ndim;
    int64_t outer = 1, len = 1, inner = 1;
    for (int d = 0; d < x->ndim; d++) {
        if (d < axis)
            outer *= x->dims[d];
        else if (d == axis || m->opset < 13)
            len *= x->dims[d];
        else
            inner *= x->dims[d];
    }
    const float *s = x->data;
    float *d = o->data;
    for (int64_t i = 0; i < outer; i++)
        for (int64_t k = 0; k < inner; k++) {
            const float *a = s + i * len * inner + k;
            float *z = d + i * len * inner + k;
            float mx = -INFINITY, sum = 0;
            for (int64_t j = 0; j < len; j++)
                mx = a[j * inner] > mx ? a[j * inner] : mx;
            for (int64_t j = 0; j < len; j++) {
                z[j * inner] = expf(a[j * inner] - mx);
                sum += z[j * inner];
            }
            for (int64_t j = 0; j < len; j++)
                z[j * inner] /= sum;
        }
    return 0;
}

static int exec_reduce(RnNnModel *m, NnNode *n, RnError *err)
{
    NnTensor *x = T(m, n, 0), *o = &m->tensors[n->out[0]];
    int mask[RN_NN_MAX_DIMS], keep;
    int rc = nn_reduce_axes(m, n, mask, &keep, err);
    if (rc < 0)
        return rc;
    int64_t ost[RN_NN_MAX_DIMS], s = 1, count = 1;
    for (int d = x->ndim - 1; d >= 0; d--) {
        ost[d] = mask[d] ? 0 : s;
        if (!mask[d])
            s *= x->dims[d];
        else
            count *= x->dims[d];
    }
    int64_t on = nn_numel(o), total = nn_numel(x);
    float *out = o->data;
    double *acc = calloc((size_t)(on ? on : 1), sizeof *acc);
    if (!acc)
        FAIL(RN_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < on; i++)
        acc[i] = n->op == OP_REDUCEMAX ? -INFINITY : 0.0;
    const float *in = x->data;
    int64_t idx[RN_NN_MAX_DIMS] = {0}, off = 0;
    for (int64_t i = 0; i < total; i++) {
        if (n->op == OP_REDUCEMAX)
            acc[off] = in[i] > acc[off] ? in[i] : acc[off];
        else
            acc[off] += in[i];
        for (int d = x->ndim - 1; d >= 0; d--) {
            off += ost[d];
            if (++idx[d] < x->dims[d])
                break;
            off -= ost[d] * x->dims[d];
            idx[d] = 0;
        }
    }
    for (int64_t i = 0; i < on; i++)
        out[i] = (float)(n->op == OP_REDUCEMEAN ? (count ? acc[i] / (double)count : NAN) : acc[i]);
    free(acc);
    return 0;
}

static int exec_batchnorm(RnNnModel *m, NnNode *n)
{
    NnTensor *x = T(m, n, 0), *o = &m->tensors[n->out[0]];
    const float *sc = T(m, n, 1)->data, *b = T(m, n, 2)->data, *mu = T(m, n, 3)->data,
                *va = T(m, n, 4)->data;
    float eps = nn_attr_float(n, "epsilon", 1e-5f);
    int64_t N = x->dims[0], C = x->dims[1], inner = (N > 0 && C > 0) ? nn_numel(x) / (N * C) : 0;
    const float *s = x->data;
    float *d = o->data;
    for (int64_t i = 0; i < N; i++)
        for (int64_t c = 0; c < C; c++) {
            float k = sc[c] / sqrtf(va[c] + eps), q = b[c] - mu[c] * k;
            const float *a = s + (i * C + c) * inner;
            float *z = d + (i * C + c) * inner;
            for (int64_t j = 0; j < inner; j++)
                z[j] = a[j] * k + q;
        }
    return 0;
}

static int exec_cast(RnNnModel *m, NnNode *n)
{
    NnTensor *x = T(m, n, 0), *o = &m->tensors[n->out[0]];
    int64_t cnt = nn_numel(x), to = nn_attr_int(n, "to", 1);
    for (int64_t i = 0; i < cnt; i++) {
        if (x->dtype == NN_F32 && o->dtype == NN_F32) {
            ((float *)o->data)[i] = ((const float *)x->data)[i];
        } else if (x->dtype == NN_F32) {
            float v = ((const float *)x->data)[i];
            int64_t iv = to == 9 ? (v != 0) : (v != v || fabsf(v) > 9.2e18f) ? 0 : (int64_t)v;
            ((int64_t *)o->data)[i] = iv;
        } else if (o->dtype == NN_F32) {
            ((float *)o->data)[i] = (float)((const int64_t *)x->data)[i];
        } else {
            int64_t v = ((const int64_t *)x->data)[i];
            ((int64_t *)o->data)[i] = to == 9 ? (v != 0) : to == 6 ? (int32_t)v : v;
        }
    }
    return 0;
}

int nn_exec(RnNnModel *m, NnNode *n, RnError *err)
{
    NnTensor *x = T(m, n, 0);
    NnTensor *o = n->n_out ? &m->tensors[n->out[0]] : NULL;
    switch (n->op) {
    case OP_CONV:
    case OP_CONVTRANSPOSE: {
        NnConvGeom g;
        int rc = nn_conv_geom(m, n, &g, err);
        if (rc < 0)
            return rc;
        NnTensor *b = T(m, n, 2);
        if (n->op == OP_CONV)
            return nn_conv_node(m, (size_t)(n - m->nodes), &g, x->ndim - 2, x->data,
                                T(m, n, 1)->data, b ? b->data : NULL, o->data, n->act, n->act_a,
                                n->act_b, err);
        return nn_conv_transpose(m, &g, x->data, T(m, n, 1)->data, b ? b->data : NULL, o->data,
                                 n->act, n->act_a, n->act_b, err);
    }
    case OP_MAXPOOL:
    case OP_AVGPOOL:
    case OP_GLOBALAVGPOOL:
    case OP_GLOBALMAXPOOL: {
        NnConvGeom g;
        int rc = nn_conv_geom(m, n, &g, err);
        if (rc < 0)
            return rc;
        nn_pool(m, &g, x->data, o->data, n->op == OP_MAXPOOL || n->op == OP_GLOBALMAXPOOL,
                (int)nn_attr_int(n, "count_include_pad", 0));
        return 0;
    }
    case OP_BATCHNORM:
        return exec_batchnorm(m, n);
    case OP_RELU: case OP_LEAKYRELU: case OP_SIGMOID: case OP_TANH: case OP_CLIP:
    case OP_HARDSIGMOID: case OP_HARDSWISH: case OP_ERF: case OP_GELU: case OP_ELU: case OP_EXP:
    case OP_LOG: case OP_SQRT: case OP_NEG: case OP_ABS: case OP_RECIPROCAL:
        return exec_unary(m, n, err);
    case OP_GEMM:
        return exec_gemm(m, n);
    case OP_MATMUL:
        return exec_matmul(m, n);
    case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: case OP_POW:
        return exec_binary(m, n, err);
    case OP_EXPAND:
        return exec_expand(m, n);
    case OP_CONCAT:
        return exec_concat(m, n);
    case OP_RESHAPE: case OP_FLATTEN: case OP_SQUEEZE: case OP_UNSQUEEZE: case OP_IDENTITY:
    case OP_DROPOUT:
        if (o->data != x->data && nn_numel(o))
            memcpy(o->data, x->data, (size_t)nn_numel(o) * nn_elem_size(o->dtype));
        return 0;
    case OP_TRANSPOSE:
        return exec_transpose(m, n);
    case OP_SOFTMAX:
        return exec_softmax(m, n);
    case OP_RESIZE:
        return exec_resize(m, n, err);
    case OP_PAD:
        return exec_pad(m, n);
    case OP_SLICE:
        return exec_slice(m, n, err);
    case OP_REDUCEMEAN: case OP_REDUCESUM: case OP_REDUCEMAX:
        return exec_reduce(m, n, err);
    case OP_SHAPE: {
        int64_t s = nn_attr_int(n, "start", 0);
        if (s < 0)
            s += x->ndim;
        s = s < 0 ? 0 : s > x->ndim ? x->ndim : s;
        for (int64_t i = 0; i < o->dims[0]; i++)
            ((int64_t *)o->data)[i] = x->dims[s + i];
        return 0;
    }
    case OP_GATHER:
        return exec_gather(m, n, err);
    case OP_CAST:
        return exec_cast(m, n);
    case OP_CONSTANTOFSHAPE: {
        const NnAttr *v = nn_attr(n, "value");
        const NnTensor *vt = v && v->t_tensor >= 0 ? &m->tensors[v->t_tensor] : NULL;
        int64_t cnt = nn_numel(o);
        for (int64_t i = 0; i < cnt; i++) {
            if (o->dtype == NN_F32)
                ((float *)o->data)[i] = vt ? *(const float *)vt->data : 0.0f;
            else
                ((int64_t *)o->data)[i] = vt ? *(const int64_t *)vt->data : 0;
        }
        return 0;
    }
    default:
        FAIL(RN_ERR_UNSUPPORTED, "no kernel");
    }
}
