/*
 * Shape inference for the supported ONNX operators (opsets 11-17): from the
 * shapes (and, for shape-carrying inputs such as Reshape's `shape`, the folded
 * values) of a node's inputs it sets the data type and dimensions of its
 * outputs, checking ranks, broadcasting and attribute values on the way, so a
 * model that does not fit its inputs fails at plan time with the node named.
 * The geometry helpers here are shared with the kernels in ops.c.
 */
#include "nn/nn_internal.h"

#include <stdio.h>

#include <math.h>
#include <string.h>

#define FAIL(code, ...)                                                                          \
    do {                                                                                         \
        char msg_[300];                                                                          \
        snprintf(msg_, sizeof msg_, __VA_ARGS__);                                                \
        return rn_error_set(err, code, "nn: node '%s' (%s): %s", n->name, n->op_type, msg_);     \
    } while (0)

static const NnTensor *input(const RnNnModel *m, const NnNode *n, size_t k)
{
    return k < n->n_in && n->in[k] >= 0 ? &m->tensors[n->in[k]] : NULL;
}

/* Requires the k-th input to hold a value known at plan time (initializer or folded). */
static int const_input(const RnNnModel *m, const NnNode *n, size_t k, int dtype,
                       const NnTensor **out, RnError *err)
{
    const NnTensor *t = input(m, n, k);
    *out = t;
    if (!t)
        return 0;
    if (!(t->is_init || t->is_folded) || !t->data)
        FAIL(RN_ERR_UNSUPPORTED, "input %zu ('%s') must be constant for the given input shapes",
             k, t->name);
    if (dtype && t->dtype != dtype)
        FAIL(RN_ERR_INVALID, "input %zu ('%s') has the wrong data type", k, t->name);
    return 0;
}

static int set_out(RnNnModel *m, const NnNode *n, size_t k, int dtype, int ndim,
                   const int64_t *dims, RnError *err)
{
    if (k >= n->n_out || n->out[k] < 0)
        return 0;
    if (ndim < 0 || ndim > RN_NN_MAX_DIMS)
        FAIL(RN_ERR_UNSUPPORTED, "output rank %d", ndim);
    int64_t count = 1;
    for (int d = 0; d < ndim; d++) {
        if (dims[d] < 0 || (dims[d] && count > NN_MAX_ELEMS / dims[d]))
            FAIL(RN_ERR_LIMIT, "output dimension %d is %lld", d, (long long)dims[d]);
        count *= dims[d];
    }
    NnTensor *t = &m->tensors[n->out[k]];
    t->dtype = dtype;
    t->ndim = ndim;
    memcpy(t->dims, dims, (size_t)ndim * sizeof *dims);
    return 0;
}

static int norm_axis(int64_t axis, int rank, int64_t *out)
{
    if (axis < -rank || axis >= rank)
        return -1;
    *out = axis < 0 ? axis + rank : axis;
    return 0;
}

int nn_conv_geom(const RnNnModel *m, const NnNode *n, NnConvGeom *g, RnError *err)
{
    const NnTensor *x = input(m, n, 0);
    const NnTensor *w = input(m, n, 1);
    int is_conv = n->op == OP_CONV, is_tr = n->op == OP_CONVTRANSPOSE;
    if (!x || x->dtype != NN_F32)
        FAIL(RN_ERR_INVALID, "missing or non-float input");
    if (x->ndim < 3 || x->ndim > 5)
        FAIL(RN_ERR_UNSUPPORTED, "input rank %d (1 to 3 spatial dims supported)", x->ndim);
    int ns = x->ndim - 2, off = 3 - ns;
    memset(g, 0, sizeof *g);
    for (int i = 0; i < 3; i++) {
        g->in[i] = g->out[i] = g->k[i] = g->stride[i] = g->dil[i] = 1;
        g->pad[i] = 0;
    }
    g->n = x->dims[0];
    g->c = x->dims[1];
    g->group = (is_conv || is_tr) ? nn_attr_int(n, "group", 1) : 1;
    if (g->group < 1 || g->c % g->group)
        FAIL(RN_ERR_INVALID, "group %lld does not divide %lld channels", (long long)g->group,
             (long long)g->c);
    const int64_t *ks = NULL, *st, *pd, *dl, *op = NULL, *osh = NULL;
    size_t nks = nn_attr_ints(n, "kernel_shape", &ks);
    size_t nst = nn_attr_ints(n, "strides", &st);
    size_t npd = nn_attr_ints(n, "pads", &pd);
    size_t ndl = nn_attr_ints(n, "dilations", &dl);
    size_t nop = is_tr ? nn_attr_ints(n, "output_padding", &op) : 0;
    size_t nosh = is_tr ? nn_attr_ints(n, "output_shape", &osh) : 0;
    if (is_conv || is_tr) {
        if (!w || w->dtype != NN_F32 || w->ndim != x->ndim)
            FAIL(RN_ERR_INVALID, "weight missing or of rank %d for input rank %d",
                 w ? w->ndim : -1, x->ndim);
        if (is_conv) {
            g->oc = w->dims[0];
            if (w->dims[1] * g->group != g->c || g->oc % g->group)
                FAIL(RN_ERR_INVALID, "weight [%lld,%lld,...] does not fit %lld channels, group %lld",
                     (long long)w->dims[0], (long long)w->dims[1], (long long)g->c,
                     (long long)g->group);
        } else {
            if (w->dims[0] != g->c)
                FAIL(RN_ERR_INVALID, "weight has %lld input channels, input %lld",
                     (long long)w->dims[0], (long long)g->c);
            g->oc = w->dims[1] * g->group;
        }
        const NnTensor *b = input(m, n, 2);
        if (b && (b->dtype != NN_F32 || nn_numel(b) != g->oc))
            FAIL(RN_ERR_INVALID, "bias has %lld values for %lld channels", (long long)nn_numel(b),
                 (long long)g->oc);
        if (nks && nks != (size_t)ns)
            FAIL(RN_ERR_INVALID, "kernel_shape has %zu values", nks);
        for (int i = 0; i < ns; i++)
            if (ks && ks[i] != w->dims[2 + i])
                FAIL(RN_ERR_INVALID, "kernel_shape does not match the weight");
        ks = w->dims + 2;
    } else if (n->op == OP_GLOBALAVGPOOL || n->op == OP_GLOBALMAXPOOL) {
        g->oc = g->c;
        for (int i = 0; i < ns; i++) {
            g->in[off + i] = g->k[off + i] = x->dims[2 + i];
            g->out[off + i] = 1;
        }
        return 0;
    } else {
        g->oc = g->c;
        if (nks != (size_t)ns)
            FAIL(RN_ERR_INVALID, "kernel_shape has %zu values for %d spatial dims", nks, ns);
    }
    if ((nst && nst != (size_t)ns) || (npd && npd != (size_t)(2 * ns)) ||
        (ndl && ndl != (size_t)ns) || (nop && nop != (size_t)ns) || (nosh && nosh != (size_t)ns))
        FAIL(RN_ERR_INVALID, "strides/pads/dilations do not match %d spatial dims", ns);
    const char *auto_pad = nn_attr_str(n, "auto_pad", "NOTSET");
    int ceil_mode = (int)nn_attr_int(n, "ceil_mode", 0);
    for (int i = 0; i < ns; i++) {
        int j = off + i;
        int64_t in = x->dims[2 + i], k = ks[i], s = nst ? st[i] : 1, d = ndl ? dl[i] : 1;
        int64_t pb = npd ? pd[i] : 0, pe = npd ? pd[ns + i] : 0;
        if (in < 1 || k < 1 || s < 1 || d < 1 || pb < 0 || pe < 0 || k > 1 << 20 ||
            s > 1 << 20 || d > 1 << 20 || pb > 1 << 20 || pe > 1 << 20)
            FAIL(RN_ERR_INVALID, "invalid size, kernel, stride, dilation or pad on axis %d", i);
        int64_t ek = (k - 1) * d + 1, out;
        if (is_tr) {
            int64_t opad = nop ? op[i] : 0;
            if (opad < 0 || opad >= s + d)
                FAIL(RN_ERR_INVALID, "output_padding %lld", (long long)opad);
            int64_t full = s * (in - 1) + opad + ek;
            if (nosh) {
                int64_t total = full - osh[i];
                if (total < 0)
                    FAIL(RN_ERR_INVALID, "output_shape too large");
                if (!strcmp(auto_pad, "SAME_UPPER")) {
                    pb = total / 2;
                } else {
                    pb = total - total / 2;
                }
                pe = total - pb;
            } else if (!strcmp(auto_pad, "SAME_UPPER") || !strcmp(auto_pad, "SAME_LOWER")) {
                int64_t total = full - in * s;
                if (total < 0)
                    total = 0;
                pb = !strcmp(auto_pad, "SAME_UPPER") ? total / 2 : total - total / 2;
                pe = total - pb;
            }
            out = full - pb - pe;
        } else if (!strcmp(auto_pad, "SAME_UPPER") || !strcmp(auto_pad, "SAME_LOWER")) {
            out = (in + s - 1) / s;
            int64_t total = (out - 1) * s + ek - in;
            if (total < 0)
                total = 0;
            pb = !strcmp(auto_pad, "SAME_LOWER") ? total - total / 2 : total / 2;
            pe = total - pb;
        } else {
            if (!strcmp(auto_pad, "VALID"))
                pb = pe = 0;
            else if (strcmp(auto_pad, "NOTSET"))
                FAIL(RN_ERR_UNSUPPORTED, "auto_pad '%s'", auto_pad);
            int64_t span = in + pb + pe - ek;
            if (span < 0)
                FAIL(RN_ERR_INVALID, "kernel larger than the padded input on axis %d", i);
            if (ceil_mode && !is_conv) {
                out = (span + s - 1) / s + 1;
                if ((out - 1) * s >= in + pb) /* the last window must start inside */
                    out--;
            } else {
                out = span / s + 1;
            }
        }
        if (out < 1)
            FAIL(RN_ERR_INVALID, "empty output on spatial axis %d", i);
        g->in[j] = in;
        g->out[j] = out;
        g->k[j] = k;
        g->stride[j] = s;
        g->dil[j] = d;
        g->pad[j] = pb;
        g->pad_end[j] = pe;
    }
    return 0;
}

int nn_resize_scales(const RnNnModel *m, const NnNode *n, float *scales, int64_t *out_dims,
                     RnError *err)
{
    const NnTensor *x = input(m, n, 0), *sc, *sz;
    if (!x || x->dtype != NN_F32)
        FAIL(RN_ERR_INVALID, "missing or non-float input");
    int rc;
    if ((rc = const_input(m, n, 2, NN_F32, &sc, err)) < 0 ||
        (rc = const_input(m, n, 3, NN_I64, &sz, err)) < 0)
        return rc;
    if (sc && nn_numel(sc) == 0)
        sc = NULL;
    if (sz && nn_numel(sz) == 0)
        sz = NULL;
    if (!sc == !sz)
        FAIL(RN_ERR_INVALID, "exactly one of scales and sizes must be given");
    if (nn_numel(sc ? sc : sz) != x->ndim)
        FAIL(RN_ERR_INVALID, "scales/sizes do not match rank %d", x->ndim);
    for (int d = 0; d < x->ndim; d++) {
        if (sc) {
            float s = ((const float *)sc->data)[d];
            if (!(s > 0) || s > 1e4f)
                FAIL(RN_ERR_INVALID, "scale %g on axis %d", (double)s, d);
            scales[d] = s;
            out_dims[d] = (int64_t)floor((double)x->dims[d] * (double)s);
        } else {
            int64_t v = ((const int64_t *)sz->data)[d];
            if (v < 0 || v > NN_MAX_ELEMS)
                FAIL(RN_ERR_INVALID, "size %lld on axis %d", (long long)v, d);
            out_dims[d] = v;
            scales[d] = x->dims[d] ? (float)v / (float)x->dims[d] : 1.0f;
        }
    }
    return 0;
}

int nn_slice_params(const RnNnModel *m, const NnNode *n, int64_t *start, int64_t *step,
                    int64_t *out_dims, RnError *err)
{
    const NnTensor *x = input(m, n, 0), *st, *en, *ax, *sp;
    int rc;
    if (!x)
        FAIL(RN_ERR_INVALID, "missing input");
    if ((rc = const_input(m, n, 1, NN_I64, &st, err)) < 0 ||
        (rc = const_input(m, n, 2, NN_I64, &en, err)) < 0 ||
        (rc = const_input(m, n, 3, NN_I64, &ax, err)) < 0 ||
        (rc = const_input(m, n, 4, NN_I64, &sp, err)) < 0)
        return rc;
    if (!st || !en || nn_numel(st) != nn_numel(en) || (ax && nn_numel(ax) != nn_numel(st)) ||
        (sp && nn_numel(sp) != nn_numel(st)) || nn_numel(st) > x->ndim)
        FAIL(RN_ERR_INVALID, "starts/ends/axes/steps do not agree");
    for (int d = 0; d < x->ndim; d++) {
        start[d] = 0;
        step[d] = 1;
        out_dims[d] = x->dims[d];
    }
    int seen[RN_NN_MAX_DIMS] = {0};
    for (int64_t i = 0; i < nn_numel(st); i++) {
        int64_t a = ax ? ((const int64_t *)ax->data)[i] : i;
        if (norm_axis(a, x->ndim, &a) || seen[a]++)
            FAIL(RN_ERR_INVALID, "bad or repeated axis");
        int64_t dim = x->dims[a];
        int64_t s = ((const int64_t *)st->data)[i], e = ((const int64_t *)en->data)[i];
        int64_t k = sp ? ((const int64_t *)sp->data)[i] : 1;
        if (k == 0 || k < -NN_MAX_ELEMS || k > NN_MAX_ELEMS)
            FAIL(RN_ERR_INVALID, "step 0");
        if (s < -NN_MAX_ELEMS)
            s = -NN_MAX_ELEMS;
        if (e < -NN_MAX_ELEMS)
            e = -NN_MAX_ELEMS;
        if (s > NN_MAX_ELEMS)
            s = NN_MAX_ELEMS;
        if (e > NN_MAX_ELEMS)
            e = NN_MAX_ELEMS;
        if (s < 0)
            s += dim;
        if (e < 0)
            e += dim;
        int64_t len;
        if (k > 0) {
            s = s < 0 ? 0 : s > dim ? dim : s;
            e = e < 0 ? 0 : e > dim ? dim : e;
            len = e > s ? (e - s + k - 1) / k : 0;
        } else {
            s = s < 0 ? -1 : s > dim - 1 ? dim - 1 : s;
            e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
            len = s > e ? (s - e + (-k) - 1) / (-k) : 0;
        }
        start[a] = s;
        step[a] = k;
        out_dims[a] = len;
    }
    return 0;
}

int nn_reduce_axes(const RnNnModel *m, const NnNode *n, int *mask, int *keepdims, RnError *err)
{
    const NnTensor *x = input(m, n, 0);
    if (!x)
        FAIL(RN_ERR_INVALID, "missing input");
    const int64_t *axes = NULL;
    size_t na = nn_attr_ints(n, "axes", &axes);
    const NnTensor *at = NULL;
    if (n->op == OP_REDUCESUM && m->opset >= 13) {
        int rc = const_input(m, n, 1, NN_I64, &at, err);
        if (rc < 0)
            return rc;
        if (at) {
            axes = at->data;
            na = (size_t)nn_numel(at);
        }
    }
    *keepdims = (int)nn_attr_int(n, "keepdims", 1);
    for (int d = 0; d < x->ndim; d++)
        mask[d] = na == 0 && !nn_attr_int(n, "noop_with_empty_axes", 0);
    for (size_t i = 0; i < na; i++) {
        int64_t a;
        if (norm_axis(axes[i], x->ndim, &a))
            FAIL(RN_ERR_INVALID, "axis %lld out of range", (long long)axes[i]);
        mask[a] = 1;
    }
    return 0;
}

static int broadcast(const RnNnModel *m, const NnNode *n, const NnTensor *a, const NnTensor *b,
                     int *ndim, int64_t *dims, RnError *err)
{
    int r = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->ndim), ib = i - (r - b->ndim);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1)
            FAIL(RN_ERR_INVALID, "shapes of '%s' and '%s' do not broadcast (axis %d: %lld vs %lld)",
                 a->name, b->name, i, (long long)da, (long long)db);
        dims[i] = da == 1 ? db : da;
    }
    (void)m;
    *ndim = r;
    return 0;
}

int nn_infer(RnNnModel *m, NnNode *n, RnError *err)
{
    static const int min_in[OP_COUNT] = {
        [OP_CONV] = 2, [OP_CONVTRANSPOSE] = 2, [OP_BATCHNORM] = 5, [OP_GEMM] = 2,
        [OP_MATMUL] = 2, [OP_ADD] = 2, [OP_SUB] = 2, [OP_MUL] = 2, [OP_DIV] = 2, [OP_POW] = 2,
        [OP_RESHAPE] = 2, [OP_RESIZE] = 1, [OP_PAD] = 2, [OP_SLICE] = 3, [OP_GATHER] = 2,
        [OP_EXPAND] = 2, [OP_CONCAT] = 1,
    };
    int need = min_in[n->op] ? min_in[n->op] : 1;
    if (n->op == OP_CONSTANT)
        need = 0;
    for (int k = 0; k < need; k++)
        if ((size_t)k >= n->n_in || n->in[k] < 0)
            FAIL(RN_ERR_INVALID, "needs at least %d inputs", need);
    for (size_t k = 0; k < n->n_in; k++)
        if (n->in[k] >= 0 && m->tensors[n->in[k]].ndim < 0)
            FAIL(RN_ERR_INVALID, "input '%s' has no known shape", m->tensors[n->in[k]].name);
    for (size_t k = 1; k < n->n_out; k++)
        if (n->out[k] >= 0 && n->op != OP_DROPOUT && n->op != OP_BATCHNORM)
            FAIL(RN_ERR_UNSUPPORTED, "optional output %zu", k);
    const NnTensor *x = input(m, n, 0);
    int64_t dims[RN_NN_MAX_DIMS];
    int ndim, rc;
    switch (n->op) {
    case OP_CONV:
    case OP_CONVTRANSPOSE:
    case OP_MAXPOOL:
    case OP_AVGPOOL:
    case OP_GLOBALAVGPOOL:
    case OP_GLOBALMAXPOOL: {
        NnConvGeom g;
        if ((rc = nn_conv_geom(m, n, &g, err)) < 0)
            return rc;
        dims[0] = g.n;
        dims[1] = g.oc;
        int ns = x->ndim - 2;
        for (int i = 0; i < ns; i++)
            dims[2 + i] = g.out[3 - ns + i];
        return set_out(m, n, 0, NN_F32, x->ndim, dims, err);
    }
    case OP_BATCHNORM:
        if (x->dtype != NN_F32 || x->ndim < 2)
            FAIL(RN_ERR_INVALID, "input must be float of rank >= 2");
        for (int k = 1; k < 5; k++) {
            const NnTensor *p = input(m, n, (size_t)k);
            if (p->dtype != NN_F32 || nn_numel(p) != x->dims[1])
                FAIL(RN_ERR_INVALID, "parameter %d has %lld values for %lld channels", k,
                     (long long)nn_numel(p), (long long)x->dims[1]);
        }
        for (size_t k = 1; k < n->n_out; k++)
            if (n->out[k] >= 0)
                FAIL(RN_ERR_UNSUPPORTED, "training-mode outputs");
        return set_out(m, n, 0, NN_F32, x->ndim, x->dims, err);
    case OP_RELU: case OP_LEAKYRELU: case OP_SIGMOID: case OP_TANH: case OP_HARDSIGMOID:
    case OP_HARDSWISH: case OP_ERF: case OP_GELU: case OP_ELU: case OP_EXP: case OP_LOG:
    case OP_SQRT: case OP_RECIPROCAL: case OP_SOFTMAX:
        if (x->dtype != NN_F32)
            FAIL(RN_ERR_UNSUPPORTED, "non-float input");
        if (n->op == OP_SOFTMAX) {
            int64_t a;
            if (norm_axis(nn_attr_int(n, "axis", m->opset >= 13 ? -1 : 1), x->ndim > 0 ? x->ndim : 1, &a))
                FAIL(RN_ERR_INVALID, "axis out of range");
        }
        if (n->op == OP_GELU && strcmp(nn_attr_str(n, "approximate", "none"), "none") &&
            strcmp(nn_attr_str(n, "approximate", "none"), "tanh"))
            FAIL(RN_ERR_UNSUPPORTED, "approximate='%s'", nn_attr_str(n, "approximate", ""));
        return set_out(m, n, 0, NN_F32, x->ndim, x->dims, err);
    case OP_NEG: case OP_ABS: case OP_IDENTITY: case OP_DROPOUT:
        if (n->op == OP_DROPOUT && n->n_out > 1 && n->out[1] >= 0)
            FAIL(RN_ERR_UNSUPPORTED, "mask output");
        return set_out(m, n, 0, x->dtype, x->ndim, x->dims, err);
    case OP_CLIP:
        if (x->dtype != NN_F32)
            FAIL(RN_ERR_UNSUPPORTED, "non-float input");
        for (size_t k = 1; k < 3; k++) {
            const NnTensor *t;
            if ((rc = const_input(m, n, k, NN_F32, &t, err)) < 0)
                return rc;
            if (t && nn_numel(t) != 1)
                FAIL(RN_ERR_INVALID, "min/max must be scalars");
        }
        return set_out(m, n, 0, NN_F32, x->ndim, x->dims, err);
    case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: case OP_POW: {
        const NnTensor *b = input(m, n, 1);
        if (x->dtype != b->dtype && n->op != OP_POW)
            FAIL(RN_ERR_INVALID, "inputs of different types");
        if (n->op == OP_POW && (x->dtype != NN_F32 || b->dtype != NN_F32))
            FAIL(RN_ERR_UNSUPPORTED, "non-float Pow");
        if ((rc = broadcast(m, n, x, b, &ndim, dims, err)) < 0)
            return rc;
        return set_out(m, n, 0, x->dtype, ndim, dims, err);
    }
    case OP_EXPAND: {
        const NnTensor *s;
        if ((rc = const_input(m, n, 1, NN_I64, &s, err)) < 0)
            return rc;
        NnTensor tmp = {0};
        tmp.name = "shape";
        tmp.ndim = (int)nn_numel(s);
        if (s->ndim != 1 || tmp.ndim > RN_NN_MAX_DIMS)
            FAIL(RN_ERR_INVALID, "bad shape input");
        for (int d = 0; d < tmp.ndim; d++)
            tmp.dims[d] = ((const int64_t *)s->data)[d];
        if ((rc = broadcast(m, n, x, &tmp, &ndim, dims, err)) < 0)
            return rc;
        return set_out(m, n, 0, x->dtype, ndim, dims, err);
    }
    case OP_GEMM: {
        const NnTensor *b = input(m, n, 1), *c = input(m, n, 2);
        if (x->ndim != 2 || b->ndim != 2 || x->dtype != NN_F32 || b->dtype != NN_F32)
            FAIL(RN_ERR_INVALID, "A and B must be float matrices");
        int ta = (int)nn_attr_int(n, "transA", 0), tb = (int)nn_attr_int(n, "transB", 0);
        int64_t M = ta ? x->dims[1] : x->dims[0], K = ta ? x->dims[0] : x->dims[1];
        int64_t K2 = tb ? b->dims[1] : b->dims[0], N = tb ? b->dims[0] : b->dims[1];
        if (K != K2)
            FAIL(RN_ERR_INVALID, "inner dimensions %lld and %lld differ", (long long)K,
                 (long long)K2);
        dims[0] = M;
        dims[1] = N;
        if (c) {
            NnTensor y = {0};
            y.name = "Y";
            y.ndim = 2;
            y.dims[0] = M;
            y.dims[1] = N;
            int64_t bd[RN_NN_MAX_DIMS];
            if (c->dtype != NN_F32 || c->ndim > 2 || (rc = broadcast(m, n, &y, c, &ndim, bd, err)) < 0 ||
                bd[0] != M || bd[1] != N)
                FAIL(RN_ERR_INVALID, "C does not broadcast to [M,N]");
        }
        return set_out(m, n, 0, NN_F32, 2, dims, err);
    }
    case OP_MATMUL: {
        const NnTensor *b = input(m, n, 1);
        if (x->dtype != NN_F32 || b->dtype != NN_F32 || x->ndim < 1 || b->ndim < 1)
            FAIL(RN_ERR_INVALID, "inputs must be float tensors of rank >= 1");
        int64_t K = x->dims[x->ndim - 1];
        int64_t K2 = b->ndim == 1 ? b->dims[0] : b->dims[b->ndim - 2];
        if (K != K2)
            FAIL(RN_ERR_INVALID, "inner dimensions %lld and %lld differ", (long long)K,
                 (long long)K2);
        NnTensor ba = {0}, bb = {0};
        ba.name = x->name;
        bb.name = b->name;
        ba.ndim = x->ndim > 2 ? x->ndim - 2 : 0;
        bb.ndim = b->ndim > 2 ? b->ndim - 2 : 0;
        memcpy(ba.dims, x->dims, sizeof(int64_t) * (size_t)ba.ndim);
        memcpy(bb.dims, b->dims, sizeof(int64_t) * (size_t)bb.ndim);
        if ((rc = broadcast(m, n, &ba, &bb, &ndim, dims, err)) < 0)
            return rc;
        if (x->ndim >= 2)
            dims[ndim++] = x->dims[x->ndim - 2];
        if (b->ndim >= 2)
            dims[ndim++] = b->dims[b->ndim - 1];
        return set_out(m, n, 0, NN_F32, ndim, dims, err);
    }
    case OP_CONCAT: {
        int64_t axis;
        if (norm_axis(nn_attr_int(n, "axis", 0), x->ndim, &axis))
            FAIL(RN_ERR_INVALID, "axis out of range");
        memcpy(dims, x->dims, sizeof dims);
        dims[axis] = 0;
        for (size_t k = 0; k < n->n_in; k++) {
            const NnTensor *t = input(m, n, k);
            if (!t)
                continue;
            if (t->ndim != x->ndim || t->dtype != x->dtype)
                FAIL(RN_ERR_INVALID, "input '%s' differs in rank or type", t->name);
            for (int d = 0; d < x->ndim; d++)
                if (d != axis && t->dims[d] != x->dims[d])
                    FAIL(RN_ERR_INVALID, "input '%s' differs on axis %d", t->name, d);
            dims[axis] += t->dims[axis];
        }
        return set_out(m, n, 0, x->dtype, x->ndim, dims, err);
    }
    case OP_RESHAPE: {
        const NnTensor *s;
        if ((rc = const_input(m, n, 1, NN_I64, &s, err)) < 0)
            return rc;
        ndim = (int)nn_numel(s);
        if (s->ndim != 1 || ndim > RN_NN_MAX_DIMS)
            FAIL(RN_ERR_UNSUPPORTED, "shape of %d dims", ndim);
        int allowzero = (int)nn_attr_int(n, "allowzero", 0), minus = -1;
        int64_t known = 1;
        for (int d = 0; d < ndim; d++) {
            int64_t v = ((const int64_t *)s->data)[d];
            if (v == 0 && !allowzero) {
                if (d >= x->ndim)
                    FAIL(RN_ERR_INVALID, "0 in shape beyond the input rank");
                v = x->dims[d];
            }
            if (v == -1) {
                if (minus >= 0)
                    FAIL(RN_ERR_INVALID, "two -1 in shape");
                minus = d;
                v = 1;
            } else if (v < 0) {
                FAIL(RN_ERR_INVALID, "negative dimension in shape");
            }
            dims[d] = v;
            if (v && known > NN_MAX_ELEMS / v)
                FAIL(RN_ERR_LIMIT, "shape too large");
            known *= v;
        }
        if (minus >= 0) {
            if (!known || nn_numel(x) % known)
                FAIL(RN_ERR_INVALID, "cannot infer -1");
            dims[minus] = nn_numel(x) / known;
            known *= dims[minus];
        }
        if (known != nn_numel(x))
            FAIL(RN_ERR_INVALID, "reshape of %lld elements to %lld", (long long)nn_numel(x),
                 (long long)known);
        return set_out(m, n, 0, x->dtype, ndim, dims, err);
    }
    case OP_FLATTEN: {
        int64_t axis, a = 1, b = 1;
        if (norm_axis(nn_attr_int(n, "axis", 1), x->ndim + 1, &axis))
            FAIL(RN_ERR_INVALID, "axis out of range");
        for (int d = 0; d < x->ndim; d++)
            *(d < axis ? &a : &b) *= x->dims[d];
        dims[0] = a;
        dims[1] = b;
        return set_out(m, n, 0, x->dtype, 2, dims, err);
    }
    case OP_SQUEEZE:
    case OP_UNSQUEEZE: {
        const int64_t *axes = NULL;
        size_t na = 0;
        if (m->opset >= 13) {
            const NnTensor *at;
            if ((rc = const_input(m, n, 1, NN_I64, &at, err)) < 0)
                return rc;
            if (at) {
                axes = at->data;
                na = (size_t)nn_numel(at);
            }
        } else {
            na = nn_attr_ints(n, "axes", &axes);
        }
        int mask[2 * RN_NN_MAX_DIMS + 1] = {0};
        int out_rank = n->op == OP_SQUEEZE ? x->ndim : x->ndim + (int)na;
        if (out_rank > RN_NN_MAX_DIMS || na > RN_NN_MAX_DIMS)
            FAIL(RN_ERR_UNSUPPORTED, "rank above %d", RN_NN_MAX_DIMS);
        if (n->op == OP_UNSQUEEZE && !na)
            FAIL(RN_ERR_INVALID, "no axes");
        for (size_t i = 0; i < na; i++) {
            int64_t a;
            if (norm_axis(axes[i], n->op == OP_SQUEEZE ? x->ndim : out_rank, &a) || mask[a]++)
                FAIL(RN_ERR_INVALID, "bad or repeated axis %lld", (long long)axes[i]);
        }
        ndim = 0;
        if (n->op == OP_SQUEEZE) {
            for (int d = 0; d < x->ndim; d++) {
                if (na ? mask[d] : x->dims[d] == 1) {
                    if (x->dims[d] != 1)
                        FAIL(RN_ERR_INVALID, "axis %d has size %lld", d, (long long)x->dims[d]);
                    continue;
                }
                dims[ndim++] = x->dims[d];
            }
        } else {
            for (int d = 0, k = 0; d < out_rank; d++)
                dims[ndim++] = mask[d] ? 1 : x->dims[k++];
        }
        return set_out(m, n, 0, x->dtype, ndim, dims, err);
    }
    case OP_TRANSPOSE: {
        const int64_t *perm;
        size_t np = nn_attr_ints(n, "perm", &perm);
        if (np && np != (size_t)x->ndim)
            FAIL(RN_ERR_INVALID, "perm has %zu values for rank %d", np, x->ndim);
        int seen[RN_NN_MAX_DIMS] = {0};
        for (int d = 0; d < x->ndim; d++) {
            int64_t p = np ? perm[d] : x->ndim - 1 - d;
            if (p < 0 || p >= x->ndim || seen[p]++)
                FAIL(RN_ERR_INVALID, "invalid perm");
            dims[d] = x->dims[p];
        }
        return set_out(m, n, 0, x->dtype, x->ndim, dims, err);
    }
    case OP_RESIZE: {
        float sc[RN_NN_MAX_DIMS];
        if (m->opset < 11)
            FAIL(RN_ERR_UNSUPPORTED, "opset < 11");
        if ((rc = nn_resize_scales(m, n, sc, dims, err)) < 0)
            return rc;
        const char *mode = nn_attr_str(n, "mode", "nearest");
        const char *ct = nn_attr_str(n, "coordinate_transformation_mode", "half_pixel");
        if (strcmp(mode, "nearest") && strcmp(mode, "linear"))
            FAIL(RN_ERR_UNSUPPORTED, "mode '%s'", mode);
        if (strcmp(ct, "half_pixel") && strcmp(ct, "align_corners") && strcmp(ct, "asymmetric") &&
            strcmp(ct, "pytorch_half_pixel"))
            FAIL(RN_ERR_UNSUPPORTED, "coordinate_transformation_mode '%s'", ct);
        int resized = 0;
        for (int d = 0; d < x->ndim; d++)
            if (dims[d] != x->dims[d] || sc[d] != 1.0f) {
                if (!strcmp(mode, "linear") && d < x->ndim - 3)
                    FAIL(RN_ERR_UNSUPPORTED, "linear resize of a leading axis");
                resized++;
            }
        return set_out(m, n, 0, NN_F32, x->ndim, dims, err);
    }
    case OP_PAD: {
        const NnTensor *p, *cv;
        if ((rc = const_input(m, n, 1, NN_I64, &p, err)) < 0 ||
            (rc = const_input(m, n, 2, 0, &cv, err)) < 0)
            return rc;
        if (nn_numel(p) != 2 * x->ndim)
            FAIL(RN_ERR_INVALID, "pads has %lld values for rank %d", (long long)nn_numel(p),
                 x->ndim);
        if (n->n_in > 3 && n->in[3] >= 0)
            FAIL(RN_ERR_UNSUPPORTED, "axes input");
        const char *mode = nn_attr_str(n, "mode", "constant");
        if (strcmp(mode, "constant") && strcmp(mode, "reflect") && strcmp(mode, "edge"))
            FAIL(RN_ERR_UNSUPPORTED, "mode '%s'", mode);
        for (int d = 0; d < x->ndim; d++) {
            int64_t pb = ((const int64_t *)p->data)[d], pe = ((const int64_t *)p->data)[x->ndim + d];
            if (pb < -NN_MAX_ELEMS || pb > NN_MAX_ELEMS || pe < -NN_MAX_ELEMS || pe > NN_MAX_ELEMS)
                FAIL(RN_ERR_INVALID, "pad out of range");
            dims[d] = x->dims[d] + pb + pe;
            if (dims[d] < 0)
                FAIL(RN_ERR_INVALID, "negative output size");
            if (!strcmp(mode, "reflect") && (pb >= x->dims[d] || pe >= x->dims[d]))
                FAIL(RN_ERR_INVALID, "reflect pad larger than the axis");
            if (strcmp(mode, "constant") && (pb > 0 || pe > 0) && x->dims[d] == 0)
                FAIL(RN_ERR_INVALID, "padding an empty axis");
        }
        return set_out(m, n, 0, x->dtype, x->ndim, dims, err);
    }
    case OP_SLICE: {
        int64_t st[RN_NN_MAX_DIMS], sp[RN_NN_MAX_DIMS];
        if ((rc = nn_slice_params(m, n, st, sp, dims, err)) < 0)
            return rc;
        return set_out(m, n, 0, x->dtype, x->ndim, dims, err);
    }
    case OP_REDUCEMEAN:
    case OP_REDUCESUM:
    case OP_REDUCEMAX: {
        int mask[RN_NN_MAX_DIMS], keep;
        if (x->dtype != NN_F32)
            FAIL(RN_ERR_UNSUPPORTED, "non-float input");
        if ((rc = nn_reduce_axes(m, n, mask, &keep, err)) < 0)
            return rc;
        ndim = 0;
        for (int d = 0; d < x->ndim; d++) {
            if (mask[d] && x->dims[d] == 0 && n->op == OP_REDUCEMAX)
                FAIL(RN_ERR_INVALID, "max of an empty axis");
            if (!mask[d])
                dims[ndim++] = x->dims[d];
            else if (keep)
                dims[ndim++] = 1;
        }
        return set_out(m, n, 0, NN_F32, ndim, dims, err);
    }
    case OP_SHAPE: {
        int64_t s = nn_attr_int(n, "start", 0), e = nn_attr_int(n, "end", x->ndim);
        if (s < 0)
            s += x->ndim;
        if (e < 0)
            e += x->ndim;
        s = s < 0 ? 0 : s > x->ndim ? x->ndim : s;
        e = e < 0 ? 0 : e > x->ndim ? x->ndim : e;
        dims[0] = e > s ? e - s : 0;
        return set_out(m, n, 0, NN_I64, 1, dims, err);
    }
    case OP_GATHER: {
        const NnTensor *ix = input(m, n, 1);
        int64_t axis;
        if (ix->dtype != NN_I64)
            FAIL(RN_ERR_INVALID, "indices must be integers");
        if (norm_axis(nn_attr_int(n, "axis", 0), x->ndim, &axis))
            FAIL(RN_ERR_INVALID, "axis out of range");
        if (x->ndim - 1 + ix->ndim > RN_NN_MAX_DIMS)
            FAIL(RN_ERR_UNSUPPORTED, "output rank");
        ndim = 0;
        for (int d = 0; d < axis; d++)
            dims[ndim++] = x->dims[d];
        for (int d = 0; d < ix->ndim; d++)
            dims[ndim++] = ix->dims[d];
        for (int d = (int)axis + 1; d < x->ndim; d++)
            dims[ndim++] = x->dims[d];
        return set_out(m, n, 0, x->dtype, ndim, dims, err);
    }
    case OP_CAST: {
        int64_t to = nn_attr_int(n, "to", 1);
        int dt = (to == 1 || to == 11) ? NN_F32
                 : (to == 7 || to == 6 || to == 9 || to == 2 || to == 3) ? NN_I64 : 0;
        if (!dt)
            FAIL(RN_ERR_UNSUPPORTED, "cast to type %lld", (long long)to);
        return set_out(m, n, 0, dt, x->ndim, x->dims, err);
    }
    case OP_CONSTANTOFSHAPE: {
        const NnTensor *s;
        if ((rc = const_input(m, n, 0, NN_I64, &s, err)) < 0)
            return rc;
        ndim = (int)nn_numel(s);
        if (s->ndim != 1 || ndim > RN_NN_MAX_DIMS)
            FAIL(RN_ERR_UNSUPPORTED, "shape of %d dims", ndim);
        memcpy(dims, s->data, (size_t)ndim * sizeof(int64_t));
        const NnAttr *v = nn_attr(n, "value");
        int dt = NN_F32;
        if (v && v->t_tensor >= 0) {
            const NnTensor *vt = &m->tensors[v->t_tensor];
            if (nn_numel(vt) != 1 || !vt->data)
                FAIL(RN_ERR_INVALID, "value must hold one element");
            dt = vt->dtype;
        }
        return set_out(m, n, 0, dt, ndim, dims, err);
    }
    case OP_CONSTANT:
        return 0;
    default:
        FAIL(RN_ERR_UNSUPPORTED, "no shape inference");
    }
}
