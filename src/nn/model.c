/*
 * ONNX model lifecycle: loading (parse, validate, evaluate Constant nodes,
 * fold BatchNormalization into the preceding convolution, fuse Conv+Relu /
 * LeakyRelu / Clip), planning for a set of input shapes (shape inference,
 * constant folding of shape subgraphs such as Shape->Gather->Concat->Reshape,
 * a liveness-based memory plan that reuses buffers) and running the plan.
 *
 * The plan is cached per input shapes. Buffers: every intermediate tensor gets
 * a slot of one arena; a slot is reused as soon as the last reader of its
 * previous tensor has run (best fit by size). Reshape-like operators alias
 * their input instead of copying.
 */
#include "nn/nn_internal.h"

#include <stdio.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const op_names[OP_COUNT] = {
    [OP_CONV] = "Conv", [OP_CONVTRANSPOSE] = "ConvTranspose",
    [OP_BATCHNORM] = "BatchNormalization", [OP_RELU] = "Relu", [OP_LEAKYRELU] = "LeakyRelu",
    [OP_SIGMOID] = "Sigmoid", [OP_TANH] = "Tanh", [OP_CLIP] = "Clip",
    [OP_HARDSIGMOID] = "HardSigmoid", [OP_HARDSWISH] = "HardSwish", [OP_ERF] = "Erf",
    [OP_GELU] = "Gelu", [OP_ELU] = "Elu", [OP_EXP] = "Exp", [OP_LOG] = "Log", [OP_SQRT] = "Sqrt",
    [OP_NEG] = "Neg", [OP_ABS] = "Abs", [OP_RECIPROCAL] = "Reciprocal", [OP_MAXPOOL] = "MaxPool",
    [OP_AVGPOOL] = "AveragePool", [OP_GLOBALAVGPOOL] = "GlobalAveragePool",
    [OP_GLOBALMAXPOOL] = "GlobalMaxPool", [OP_GEMM] = "Gemm", [OP_MATMUL] = "MatMul",
    [OP_ADD] = "Add", [OP_SUB] = "Sub", [OP_MUL] = "Mul", [OP_DIV] = "Div", [OP_POW] = "Pow",
    [OP_CONCAT] = "Concat", [OP_RESHAPE] = "Reshape", [OP_FLATTEN] = "Flatten",
    [OP_SQUEEZE] = "Squeeze", [OP_UNSQUEEZE] = "Unsqueeze", [OP_TRANSPOSE] = "Transpose",
    [OP_SOFTMAX] = "Softmax", [OP_RESIZE] = "Resize", [OP_PAD] = "Pad", [OP_SLICE] = "Slice",
    [OP_CONSTANT] = "Constant", [OP_IDENTITY] = "Identity", [OP_DROPOUT] = "Dropout",
    [OP_REDUCEMEAN] = "ReduceMean", [OP_REDUCESUM] = "ReduceSum", [OP_REDUCEMAX] = "ReduceMax",
    [OP_SHAPE] = "Shape", [OP_GATHER] = "Gather", [OP_CAST] = "Cast",
    [OP_CONSTANTOFSHAPE] = "ConstantOfShape", [OP_EXPAND] = "Expand",
};

NnOp nn_op_from_name(const char *op_type)
{
    for (int i = 1; i < OP_COUNT; i++)
        if (op_names[i] && !strcmp(op_names[i], op_type))
            return (NnOp)i;
    return OP_UNKNOWN;
}

size_t nn_elem_size(int dtype) { return dtype == NN_I64 ? 8 : 4; }

int64_t nn_numel(const NnTensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->dims[i];
    return n;
}

/* ---- name table ---- */

static uint64_t hash_name(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static int hash_lookup(const RnNnModel *m, const char *name, size_t len)
{
    if (!m->hash_cap)
        return -1;
    size_t mask = m->hash_cap - 1;
    for (size_t i = hash_name(name, len) & mask;; i = (i + 1) & mask) {
        int idx = m->hash[i];
        if (idx < 0)
            return -1;
        const char *tn = m->tensors[idx].name;
        if (strlen(tn) == len && !memcmp(tn, name, len))
            return idx;
    }
}

static int hash_rebuild(RnNnModel *m, RnError *err)
{
    size_t cap = m->hash_cap ? m->hash_cap * 2 : 256;
    int *h = malloc(cap * sizeof *h);
    if (!h)
        return rn_error_set(err, RN_ERR_NOMEM, "nn: out of memory");
    for (size_t i = 0; i < cap; i++)
        h[i] = -1;
    for (size_t t = 0; t < m->n_tensors; t++) {
        const char *s = m->tensors[t].name;
        size_t i = hash_name(s, strlen(s)) & (cap - 1);
        while (h[i] >= 0)
            i = (i + 1) & (cap - 1);
        h[i] = (int)t;
    }
    free(m->hash);
    m->hash = h;
    m->hash_cap = cap;
    return 0;
}

int nn_tensor_find(const RnNnModel *m, const char *name)
{
    return hash_lookup(m, name, strlen(name));
}

int nn_tensor_intern(RnNnModel *m, const char *name, size_t len, RnError *err)
{
    int idx = hash_lookup(m, name, len);
    if (idx >= 0)
        return idx;
    if (memchr(name, 0, len))
        return rn_error_set(err, RN_ERR_PARSE, "onnx: tensor name with a NUL byte");
    if (m->n_tensors >= (size_t)NN_MAX_NODES * 8)
        return rn_error_set(err, RN_ERR_LIMIT, "onnx: too many tensors");
    if ((m->n_tensors + 1) * 2 > m->hash_cap && hash_rebuild(m, err))
        return RN_ERR_NOMEM;
    if (m->n_tensors == m->cap_tensors) {
        size_t nc = m->cap_tensors ? m->cap_tensors * 2 : 64;
        NnTensor *p = realloc(m->tensors, nc * sizeof *p);
        if (!p)
            return rn_error_set(err, RN_ERR_NOMEM, "nn: out of memory");
        m->tensors = p;
        m->cap_tensors = nc;
    }
    NnTensor *t = &m->tensors[m->n_tensors];
    memset(t, 0, sizeof *t);
    if (!(t->name = rn_strndup(name, len)))
        return rn_error_set(err, RN_ERR_NOMEM, "nn: out of memory");
    t->ndim = -1;
    t->producer = -1;
    t->alias = -1;
    t->slot = -1;
    t->last_use = -1;
    t->decl_ndim = -1;
    idx = (int)m->n_tensors++;
    size_t mask = m->hash_cap - 1;
    size_t i = hash_name(name, len) & mask;
    while (m->hash[i] >= 0)
        i = (i + 1) & mask;
    m->hash[i] = idx;
    return idx;
}

/* ---- attributes ---- */

const NnAttr *nn_attr(const NnNode *n, const char *name)
{
    for (size_t i = 0; i < n->n_attrs; i++)
        if (!strcmp(n->attrs[i].name, name))
            return &n->attrs[i];
    return NULL;
}

int64_t nn_attr_int(const NnNode *n, const char *name, int64_t def)
{
    const NnAttr *a = nn_attr(n, name);
    return a ? a->i : def;
}

float nn_attr_float(const NnNode *n, const char *name, float def)
{
    const NnAttr *a = nn_attr(n, name);
    return a ? a->f : def;
}

const char *nn_attr_str(const NnNode *n, const char *name, const char *def)
{
    const NnAttr *a = nn_attr(n, name);
    return a && a->s ? a->s : def;
}

size_t nn_attr_ints(const NnNode *n, const char *name, const int64_t **v)
{
    const NnAttr *a = nn_attr(n, name);
    *v = a ? a->ints : NULL;
    return a ? a->n : 0;
}

/* ---- destroy ---- */

static void plan_reset(RnNnModel *m)
{
    for (size_t i = 0; i < m->n_tensors; i++) {
        NnTensor *t = &m->tensors[i];
        if (t->is_init)
            continue;
        if (t->is_folded)
            free(t->data);
        t->data = NULL;
        t->is_folded = 0;
        t->ndim = -1;
        t->dtype = 0;
        t->alias = -1;
        t->slot = -1;
        t->last_use = -1;
    }
    for (size_t i = 0; i < m->n_nodes; i++)
        m->nodes[i].folded = 0;
    nn_conv_backend_reset(m); /* oneDNN primitives are made for one input shape */
    free(m->steps);
    m->steps = NULL;
    m->n_steps = 0;
    free(m->slot_size);
    m->slot_size = NULL;
    m->n_slots = 0;
    free(m->arena);
    m->arena = NULL;
    m->arena_bytes = m->unplanned_bytes = 0;
    m->mem_used = 0;
    m->planned = 0;
}

void rn_nn_model_destroy(RnNnModel *m)
{
    if (!m)
        return;
    plan_reset(m);
    for (size_t i = 0; i < m->n_tensors; i++) {
        if (m->tensors[i].is_init)
            free(m->tensors[i].data);
        free(m->tensors[i].name);
    }
    free(m->tensors);
    for (size_t i = 0; i < m->n_nodes; i++) {
        NnNode *n = &m->nodes[i];
        for (size_t a = 0; a < n->n_attrs; a++) {
            free(n->attrs[a].name);
            free(n->attrs[a].s);
            free(n->attrs[a].floats);
            free(n->attrs[a].ints);
        }
        free(n->attrs);
        free(n->in);
        free(n->out);
        free(n->op_type);
        free(n->name);
    }
    free(m->nodes);
    free(m->inputs);
    free(m->outputs);
    for (size_t i = 0; i < m->n_orig_ops; i++)
        free(m->orig_ops[i]);
    free(m->orig_ops);
    free(m->hash);
    free(m->scratch);
    free(m->dnnl_conv);
    free(m->dnnl_state);
    nn_pool_destroy(m->pool);
    free(m);
}

/* ---- load-time rewriting ---- */

static int set_constant(RnNnModel *m, NnNode *n, RnError *err)
{
    if (n->n_out != 1 || n->out[0] < 0)
        return rn_error_set(err, RN_ERR_PARSE, "nn: Constant node '%s' needs one output", n->name);
    NnTensor *o = &m->tensors[n->out[0]];
    const NnAttr *a = n->n_attrs == 1 ? &n->attrs[0] : NULL;
    if (!a)
        return rn_error_set(err, RN_ERR_PARSE, "nn: Constant node '%s' needs one attribute",
                            n->name);
    if (!strcmp(a->name, "value") && a->t_tensor >= 0) {
        NnTensor *src = &m->tensors[a->t_tensor];
        o->dtype = src->dtype;
        o->ndim = src->ndim;
        memcpy(o->dims, src->dims, sizeof o->dims);
        o->data = src->data; /* moves */
        src->data = NULL;
        src->is_init = 0;
        src->ndim = -1;
    } else if (!strcmp(a->name, "value_float") || !strcmp(a->name, "value_int")) {
        int is_f = a->name[6] == 'f';
        o->data = malloc(8);
        if (!o->data)
            return rn_error_set(err, RN_ERR_NOMEM, "nn: out of memory");
        o->dtype = is_f ? NN_F32 : NN_I64;
        o->ndim = 0;
        if (is_f)
            *(float *)o->data = a->f;
        else
            *(int64_t *)o->data = a->i;
    } else if (!strcmp(a->name, "value_floats") || !strcmp(a->name, "value_ints")) {
        int is_f = a->name[6] == 'f';
        o->data = malloc((a->n ? a->n : 1) * 8);
        if (!o->data)
            return rn_error_set(err, RN_ERR_NOMEM, "nn: out of memory");
        o->dtype = is_f ? NN_F32 : NN_I64;
        o->ndim = 1;
        o->dims[0] = (int64_t)a->n;
        if (a->n)
            memcpy(o->data, is_f ? (void *)a->floats : (void *)a->ints, a->n * (is_f ? 4 : 8));
    } else {
        return rn_error_set(err, RN_ERR_UNSUPPORTED, "nn: Constant node '%s': attribute '%s'",
                            n->name, a->name);
    }
    o->is_init = 1;
    n->dead = 1;
    return 0;
}

static void count_uses(const RnNnModel *m, int *uses)
{
    memset(uses, 0, m->n_tensors * sizeof *uses);
    for (size_t i = 0; i < m->n_nodes; i++) {
        const NnNode *n = &m->nodes[i];
        if (n->dead)
            continue;
        for (size_t k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0)
                uses[n->in[k]]++;
    }
    for (size_t i = 0; i < m->n_outputs; i++)
        uses[m->outputs[i]] += 1000000;
}

static int const_f32(const RnNnModel *m, const NnNode *n, size_t k, int64_t count)
{
    if (k >= n->n_in || n->in[k] < 0)
        return 0;
    const NnTensor *t = &m->tensors[n->in[k]];
    return t->is_init && t->dtype == NN_F32 && t->data && nn_numel(t) == count;
}

/* BatchNormalization after a Conv whose output feeds only it: scale the weights. */
static int fold_batchnorm(RnNnModel *m, int *uses, RnError *err)
{
    for (size_t i = 0; i < m->n_nodes; i++) {
        NnNode *bn = &m->nodes[i];
        if (bn->dead || bn->op != OP_BATCHNORM || bn->n_in < 5 || bn->in[0] < 0 ||
            bn->n_out < 1 || bn->out[0] < 0)
            continue;
        if (bn->n_out > 1 && (bn->out[1] >= 0 || (bn->n_out > 2 && bn->out[2] >= 0)))
            continue; /* training-mode outputs */
        int x = bn->in[0];
        int pi = m->tensors[x].producer;
        if (pi < 0 || uses[x] != 1)
            continue;
        NnNode *cv = &m->nodes[pi];
        if (cv->dead || cv->op != OP_CONV || cv->act != ACT_NONE || cv->n_in < 2 ||
            cv->in[1] < 0)
            continue;
        NnTensor *w = &m->tensors[cv->in[1]];
        if (!w->is_init || w->dtype != NN_F32 || w->ndim < 3 || uses[cv->in[1]] != 1)
            continue;
        int64_t oc = w->dims[0];
        if (!const_f32(m, bn, 1, oc) || !const_f32(m, bn, 2, oc) || !const_f32(m, bn, 3, oc) ||
            !const_f32(m, bn, 4, oc))
            continue;
        int has_b = cv->n_in > 2 && cv->in[2] >= 0;
        if (has_b && (!const_f32(m, cv, 2, oc) || uses[cv->in[2]] != 1))
            continue;
        const float *sc = m->tensors[bn->in[1]].data, *be = m->tensors[bn->in[2]].data;
        const float *mu = m->tensors[bn->in[3]].data, *va = m->tensors[bn->in[4]].data;
        float eps = nn_attr_float(bn, "epsilon", 1e-5f);
        float *b;
        if (!has_b) {
            char name[64];
            snprintf(name, sizeof name, "__bn_bias_%zu", i);
            int bi = nn_tensor_intern(m, name, strlen(name), err);
            if (bi < 0)
                return bi;
            cv = &m->nodes[pi]; /* tensors may have moved, nodes not */
            w = &m->tensors[cv->in[1]];
            NnTensor *bt = &m->tensors[bi];
            if (!(bt->data = calloc((size_t)oc, sizeof(float))))
                return rn_error_set(err, RN_ERR_NOMEM, "nn: out of memory");
            bt->is_init = 1;
            bt->dtype = NN_F32;
            bt->ndim = 1;
            bt->dims[0] = oc;
            int *p = realloc(cv->in, 3 * sizeof *p);
            if (!p)
                return rn_error_set(err, RN_ERR_NOMEM, "nn: out of memory");
            cv->in = p;
            cv->in[2] = bi;
            cv->n_in = 3;
            b = bt->data;
            sc = m->tensors[bn->in[1]].data;
            be = m->tensors[bn->in[2]].data;
            mu = m->tensors[bn->in[3]].data;
            va = m->tensors[bn->in[4]].data;
        } else {
            b = m->tensors[cv->in[2]].data;
        }
        int64_t per = nn_numel(w) / oc;
        float *wd = w->data;
        for (int64_t o = 0; o < oc; o++) {
            float s = sc[o] / sqrtf(va[o] + eps);
            for (int64_t k = 0; k < per; k++)
                wd[o * per + k] *= s;
            b[o] = (b[o] - mu[o]) * s + be[o];
        }
        cv->out[0] = bn->out[0];
        m->tensors[bn->out[0]].producer = (int)pi;
        bn->dead = 1;
        return 1; /* restart with fresh use counts */
    }
    return 0;
}

static int fuse_activations(RnNnModel *m, const int *uses)
{
    for (size_t i = 0; i < m->n_nodes; i++) {
        NnNode *a = &m->nodes[i];
        if (a->dead || a->n_in < 1 || a->in[0] < 0 || a->n_out != 1 || a->out[0] < 0)
            continue;
        NnAct act;
        float p = 0, q = 0;
        if (a->op == OP_RELU) {
            act = ACT_RELU;
        } else if (a->op == OP_LEAKYRELU) {
            act = ACT_LEAKY;
            p = nn_attr_float(a, "alpha", 0.01f);
        } else if (a->op == OP_CLIP) {
            act = ACT_CLIP;
            p = -INFINITY;
            q = INFINITY;
            if (a->n_in > 1 && a->in[1] >= 0) {
                if (!const_f32(m, a, 1, 1))
                    continue;
                p = *(float *)m->tensors[a->in[1]].data;
            }
            if (a->n_in > 2 && a->in[2] >= 0) {
                if (!const_f32(m, a, 2, 1))
                    continue;
                q = *(float *)m->tensors[a->in[2]].data;
            }
        } else {
            continue;
        }
        int x = a->in[0];
        int pi = m->tensors[x].producer;
        if (pi < 0 || uses[x] != 1)
            continue;
        NnNode *cv = &m->nodes[pi];
        if (cv->dead || (cv->op != OP_CONV && cv->op != OP_CONVTRANSPOSE) || cv->act != ACT_NONE)
            continue;
        cv->act = act;
        cv->act_a = p;
        cv->act_b = q;
        cv->out[0] = a->out[0];
        m->tensors[a->out[0]].producer = pi;
        a->dead = 1;
    }
    return 0;
}

static int validate(RnNnModel *m, RnError *err)
{
    for (size_t i = 0; i < m->n_inputs; i++) {
        NnTensor *t = &m->tensors[m->inputs[i]];
        if (t->is_input)
            return rn_error_set(err, RN_ERR_PARSE, "nn: input '%s' listed twice", t->name);
        t->is_input = 1;
    }
    for (size_t i = 0; i < m->n_nodes; i++) {
        NnNode *n = &m->nodes[i];
        n->op = nn_op_from_name(n->op_type);
        if (n->op == OP_UNKNOWN)
            return rn_error_set(err, RN_ERR_UNSUPPORTED,
                                "nn: unsupported operator '%s' in node '%s'", n->op_type,
                                n->name);
        for (size_t k = 0; k < n->n_in; k++) {
            int t = n->in[k];
            if (t < 0)
                continue;
            NnTensor *tt = &m->tensors[t];
            if (!tt->is_init && !tt->is_input && tt->producer < 0)
                return rn_error_set(err, RN_ERR_PARSE,
                                    "nn: node '%s' (%s) reads '%s', which is not defined before it",
                                    n->name, n->op_type, tt->name);
        }
        if (n->n_out < 1 || n->out[0] < 0)
            return rn_error_set(err, RN_ERR_PARSE, "nn: node '%s' (%s) has no output", n->name,
                                n->op_type);
        for (size_t k = 0; k < n->n_out; k++) {
            int t = n->out[k];
            if (t < 0)
                continue;
            NnTensor *tt = &m->tensors[t];
            if (tt->is_init || tt->is_input || tt->producer >= 0)
                return rn_error_set(err, RN_ERR_PARSE, "nn: node '%s' redefines '%s'", n->name,
                                    tt->name);
            tt->producer = (int)i;
        }
        if (n->op == OP_CONSTANT) {
            int rc = set_constant(m, n, err);
            if (rc < 0)
                return rc;
        }
    }
    if (!m->n_outputs)
        return rn_error_set(err, RN_ERR_PARSE, "nn: model has no outputs");
    for (size_t i = 0; i < m->n_outputs; i++) {
        NnTensor *t = &m->tensors[m->outputs[i]];
        if (!t->is_init && !t->is_input && t->producer < 0)
            return rn_error_set(err, RN_ERR_PARSE, "nn: output '%s' is never computed", t->name);
        t->is_output = 1;
    }
    return 0;
}

RnNnModel *rn_nn_model_load_memory(const uint8_t *data, size_t len, RnError *err)
{
    if (!data && len)
        return rn_error_set(err, RN_ERR_INVALID, "nn: no data"), NULL;
    RnNnModel *m = calloc(1, sizeof *m);
    if (!m)
        return rn_error_set(err, RN_ERR_NOMEM, "nn: out of memory"), NULL;
    m->threads = 1;
    /* RN_NN_BACKEND: which convolution backend (docs/nn.md, "OpenBLAS or oneDNN") */
    const char *be = getenv("RN_NN_BACKEND");
    if (!be || !*be || !strcmp(be, "auto"))
        m->conv_backend = NN_BACKEND_AUTO;
    else if (!strcmp(be, "native"))
        m->conv_backend = NN_BACKEND_NATIVE;
    else if (!strcmp(be, "dnnl"))
        m->conv_backend = NN_BACKEND_DNNL;
    else {
        free(m);
        return rn_error_set(err, RN_ERR_INVALID,
                            "nn: RN_NN_BACKEND=%.40s is not one of native, dnnl, auto", be),
               NULL;
    }
    int rc = nn_onnx_parse(m, data ? data : (const uint8_t *)"", len, err);
    if (rc >= 0) {
        m->orig_ops = calloc(m->n_nodes ? m->n_nodes : 1, sizeof *m->orig_ops);
        if (!m->orig_ops)
            rc = rn_error_set(err, RN_ERR_NOMEM, "nn: out of memory");
        for (size_t i = 0; rc >= 0 && i < m->n_nodes; i++) {
            if (!(m->orig_ops[i] = rn_strdup(m->nodes[i].op_type)))
                rc = rn_error_set(err, RN_ERR_NOMEM, "nn: out of memory");
            m->n_orig_ops = i + 1;
        }
    }
    if (rc >= 0)
        rc = validate(m, err);
    int *uses = NULL;
    while (rc >= 0) {
        free(uses);
        uses = malloc((m->n_tensors ? m->n_tensors : 1) * sizeof *uses);
        if (!uses) {
            rc = rn_error_set(err, RN_ERR_NOMEM, "nn: out of memory");
            break;
        }
        count_uses(m, uses);
        rc = fold_batchnorm(m, uses, err);
        if (rc == 0) {
            rc = fuse_activations(m, uses);
            break;
        }
    }
    free(uses);
    if (rc >= 0 && !(m->pool = nn_pool_create(1)))
        rc = rn_error_set(err, RN_ERR_NOMEM, "nn: out of memory");
    if (rc < 0) {
        rn_nn_model_destroy(m);
        return NULL;
    }
    return m;
}

RnNnModel *rn_nn_model_load_file(const char *path, RnError *err)
{
    size_t len;
    uint8_t *data = rn_file_read_all(path, NN_MAX_FILE, &len, err);
    if (!data) {
        rn_error_prefix(err, "loading %s: ", path);
        return NULL;
    }
    RnNnModel *m = rn_nn_model_load_memory(data, len, err);
    free(data);
    if (!m)
        rn_error_prefix(err, "loading %s: ", path);
    return m;
}

int rn_nn_model_set_threads(RnNnModel *m, int threads, RnError *err)
{
    if (!m || threads < 1 || threads > 256)
        return rn_error_set(err, RN_ERR_INVALID, "nn: thread count must be 1 to 256");
    if (threads == m->threads)
        return 0;
    NnPool *p = nn_pool_create(threads);
    if (!p)
        return rn_error_set(err, RN_ERR_NOMEM, "nn: cannot start %d threads", threads);
    nn_pool_destroy(m->pool);
    m->pool = p;
    m->threads = threads;
    return 0;
}

/* ---- getters ---- */

size_t rn_nn_model_input_count(const RnNnModel *m) { return m ? m->n_inputs : 0; }
size_t rn_nn_model_output_count(const RnNnModel *m) { return m ? m->n_outputs : 0; }

const char *rn_nn_model_input_name(const RnNnModel *m, size_t i)
{
    return m && i < m->n_inputs ? m->tensors[m->inputs[i]].name : NULL;
}

const char *rn_nn_model_output_name(const RnNnModel *m, size_t i)
{
    return m && i < m->n_outputs ? m->tensors[m->outputs[i]].name : NULL;
}

static int decl_shape(const NnTensor *t, int *ndim,
                            int64_t shape[RN_NN_MAX_DIMS])
{
    if (t->decl_ndim < 0)
        return RN_ERR_NOT_FOUND;
    *ndim = t->decl_ndim;
    for (int d = 0; d < t->decl_ndim; d++)
        shape[d] = t->decl_dims[d];
    return 0;
}

int rn_nn_model_input_shape(const RnNnModel *m, size_t i, int *ndim,
                            int64_t shape[RN_NN_MAX_DIMS])
{
    if (!m || i >= m->n_inputs)
        return RN_ERR_NOT_FOUND;
    return decl_shape(&m->tensors[m->inputs[i]], ndim, shape);
}

int rn_nn_model_output_shape(const RnNnModel *m, size_t i, int *ndim,
                            int64_t shape[RN_NN_MAX_DIMS])
{
    if (!m || i >= m->n_outputs)
        return RN_ERR_NOT_FOUND;
    return decl_shape(&m->tensors[m->outputs[i]], ndim, shape);
}

int rn_nn_model_opset(const RnNnModel *m) { return m ? m->opset : -1; }
size_t rn_nn_model_node_count(const RnNnModel *m) { return m ? m->n_orig_ops : 0; }
const char *rn_nn_model_node_op(const RnNnModel *m, size_t i)
{
    return m && i < m->n_orig_ops ? m->orig_ops[i] : NULL;
}
int64_t rn_nn_model_param_count(const RnNnModel *m) { return m ? m->n_params : 0; }

size_t rn_nn_model_arena_bytes(const RnNnModel *m, size_t *unplanned)
{
    if (unplanned)
        *unplanned = m ? m->unplanned_bytes : 0;
    return m ? m->arena_bytes : 0;
}

void rn_nn_model_set_memory_limit(RnNnModel *m, size_t bytes)
{
    if (m)
        m->mem_limit = bytes;
}

/* Accounts bytes against the memory limit. */
int nn_mem_take(RnNnModel *m, size_t bytes, RnError *err)
{
    if (m->mem_limit && (bytes > m->mem_limit || m->mem_used > m->mem_limit - bytes))
        return rn_error_set(err, RN_ERR_LIMIT, "nn: the plan needs more than the %zu bytes allowed",
                            m->mem_limit);
    m->mem_used += bytes;
    return 0;
}

float *nn_scratch(RnNnModel *m, size_t floats, RnError *err)
{
    if (floats <= m->scratch_len)
        return m->scratch;
    if (m->mem_limit && floats * sizeof(float) > m->mem_limit - (m->mem_used < m->mem_limit ? m->mem_used : m->mem_limit)) {
        rn_error_set(err, RN_ERR_LIMIT, "nn: kernel scratch exceeds the memory limit");
        return NULL;
    }
    free(m->scratch);
    m->scratch = malloc(floats * sizeof(float));
    m->scratch_len = m->scratch ? floats : 0;
    if (!m->scratch)
        rn_error_set(err, RN_ERR_NOMEM, "nn: cannot allocate %zu bytes of scratch",
                     floats * sizeof(float));
    return m->scratch;
}

/* ---- plan ---- */

static int root_of(const RnNnModel *m, int t)
{
    while (m->tensors[t].alias >= 0)
        t = m->tensors[t].alias;
    return t;
}

static int is_alias_op(NnOp op)
{
    return op == OP_RESHAPE || op == OP_FLATTEN || op == OP_SQUEEZE || op == OP_UNSQUEEZE ||
           op == OP_IDENTITY || op == OP_DROPOUT;
}

static int is_runtime(const NnTensor *t)
{
    return !t->is_init && !t->is_folded && !t->is_input;
}

static size_t tensor_bytes(const NnTensor *t)
{
    size_t b = (size_t)nn_numel(t) * nn_elem_size(t->dtype);
    return (b + 63) & ~(size_t)63;
}

static int plan(RnNnModel *m, const RnNnTensor *inputs, size_t n_inputs, RnError *err)
{
    plan_reset(m);
    for (size_t i = 0; i < m->n_inputs; i++) {
        NnTensor *t = &m->tensors[m->inputs[i]];
        const RnNnTensor *in = NULL;
        for (size_t k = 0; k < n_inputs; k++)
            if (!strcmp(inputs[k].name, t->name))
                in = &inputs[k];
        t->dtype = NN_F32;
        t->ndim = in->ndim;
        memcpy(t->dims, in->shape, sizeof t->dims);
    }
    m->steps = malloc((m->n_nodes ? m->n_nodes : 1) * sizeof *m->steps);
    if (!m->steps)
        return rn_error_set(err, RN_ERR_NOMEM, "nn: out of memory");
    for (size_t i = 0; i < m->n_nodes; i++) {
        NnNode *n = &m->nodes[i];
        if (n->dead)
            continue;
        int rc = nn_infer(m, n, err);
        if (rc < 0)
            return rc;
        int foldable = 1;
        for (size_t k = 0; k < n->n_in && foldable; k++) {
            if (n->in[k] < 0)
                continue;
            const NnTensor *t = &m->tensors[n->in[k]];
            if (!(t->is_init || t->is_folded) && !(n->op == OP_SHAPE && k == 0))
                foldable = 0;
        }
        if (foldable) {
            for (size_t k = 0; k < n->n_out; k++) {
                if (n->out[k] < 0)
                    continue;
                NnTensor *t = &m->tensors[n->out[k]];
                if ((rc = nn_mem_take(m, tensor_bytes(t), err)) < 0)
                    return rc;
                t->data = malloc(tensor_bytes(t) + 64);
                if (!t->data)
                    return rn_error_set(err, RN_ERR_NOMEM, "nn: out of memory");
                t->is_folded = 1;
            }
            if ((rc = nn_exec(m, n, err)) < 0)
                return rc;
            n->folded = 1;
            continue;
        }
        m->steps[m->n_steps++] = (int)i;
    }
    /* aliases and liveness */
    for (size_t s = 0; s < m->n_steps; s++) {
        NnNode *n = &m->nodes[m->steps[s]];
        if (is_alias_op(n->op) && n->in[0] >= 0)
            m->tensors[n->out[0]].alias = n->in[0];
        for (size_t k = 0; k < n->n_in; k++) {
            if (n->in[k] < 0)
                continue;
            int r = root_of(m, n->in[k]);
            if (is_runtime(&m->tensors[r]))
                m->tensors[r].last_use = (int)s;
        }
    }
    for (size_t i = 0; i < m->n_outputs; i++) {
        int r = root_of(m, m->outputs[i]);
        m->tensors[r].last_use = 1 << 30;
    }
    /* slots: best fit among free slots, grow the largest free one otherwise */
    size_t cap = 16;
    int *slot_free = malloc(cap * sizeof *slot_free);
    m->slot_size = malloc(cap * sizeof *m->slot_size);
    if (!slot_free || !m->slot_size) {
        free(slot_free);
        return rn_error_set(err, RN_ERR_NOMEM, "nn: out of memory");
    }
    for (size_t s = 0; s < m->n_steps; s++) {
        NnNode *n = &m->nodes[m->steps[s]];
        for (size_t k = 0; k < n->n_out; k++) {
            if (n->out[k] < 0)
                continue;
            NnTensor *t = &m->tensors[n->out[k]];
            if (t->alias >= 0)
                continue;
            size_t need = tensor_bytes(t);
            m->unplanned_bytes += need;
            int best = -1, largest = -1;
            for (size_t q = 0; q < m->n_slots; q++) {
                if (!slot_free[q])
                    continue;
                if (m->slot_size[q] >= need &&
                    (best < 0 || m->slot_size[q] < m->slot_size[best]))
                    best = (int)q;
                if (largest < 0 || m->slot_size[q] > m->slot_size[largest])
                    largest = (int)q;
            }
            if (best < 0 && largest >= 0) {
                best = largest;
                m->slot_size[best] = need;
            }
            if (best < 0) {
                if (m->n_slots == cap) {
                    cap *= 2;
                    int *a = realloc(slot_free, cap * sizeof *a);
                    if (a)
                        slot_free = a;
                    size_t *b = realloc(m->slot_size, cap * sizeof *b);
                    if (b)
                        m->slot_size = b;
                    if (!a || !b) {
                        free(slot_free);
                        return rn_error_set(err, RN_ERR_NOMEM, "nn: out of memory");
                    }
                }
                best = (int)m->n_slots++;
                m->slot_size[best] = need;
            }
            slot_free[best] = 0;
            t->slot = best;
        }
        /* outputs nobody reads are released at once, inputs after their last reader */
        for (size_t k = 0; k < n->n_out; k++)
            if (n->out[k] >= 0 && m->tensors[n->out[k]].alias < 0 &&
                m->tensors[n->out[k]].last_use < 0)
                slot_free[m->tensors[n->out[k]].slot] = 1;
        for (size_t k = 0; k < n->n_in; k++) {
            if (n->in[k] < 0)
                continue;
            NnTensor *r = &m->tensors[root_of(m, n->in[k])];
            if (is_runtime(r) && r->last_use == (int)s && r->slot >= 0)
                slot_free[r->slot] = 1;
        }
    }
    free(slot_free);
    size_t total = 0;
    for (size_t q = 0; q < m->n_slots; q++) {
        size_t sz = m->slot_size[q];
        m->slot_size[q] = total; /* now the offset */
        total += sz;
    }
    m->arena_bytes = total;
    int mrc = nn_mem_take(m, total, err);
    if (mrc < 0)
        return mrc;
    m->arena = aligned_alloc(64, total ? total : 64);
    if (!m->arena)
        return rn_error_set(err, RN_ERR_NOMEM, "nn: cannot allocate %zu bytes for the plan", total);
    for (size_t i = 0; i < m->n_tensors; i++) {
        NnTensor *t = &m->tensors[i];
        if (t->slot >= 0)
            t->data = (char *)m->arena + m->slot_size[t->slot];
    }
    for (size_t i = 0; i < m->n_inputs; i++) {
        m->plan_ndim[i] = m->tensors[m->inputs[i]].ndim;
        memcpy(m->plan_dims[i], m->tensors[m->inputs[i]].dims, sizeof m->plan_dims[i]);
    }
    m->planned = 1;
    return 0;
}

static int check_input(const NnTensor *t, const RnNnTensor *in, RnError *err)
{
    if (in->ndim < 0 || in->ndim > RN_NN_MAX_DIMS)
        return rn_error_set(err, RN_ERR_INVALID, "nn: input '%s' has %d dims", t->name, in->ndim);
    int64_t count = 1;
    for (int d = 0; d < in->ndim; d++) {
        if (in->shape[d] < 0 || (in->shape[d] && count > NN_MAX_ELEMS / in->shape[d]))
            return rn_error_set(err, RN_ERR_INVALID, "nn: input '%s' has an invalid shape",
                                t->name);
        count *= in->shape[d];
    }
    int bad = t->decl_ndim >= 0 && t->decl_ndim != in->ndim;
    for (int d = 0; !bad && t->decl_ndim >= 0 && d < in->ndim; d++)
        bad = t->decl_dims[d] >= 0 && t->decl_dims[d] != in->shape[d];
    if (bad) {
        char want[160] = "", got[160] = "";
        size_t o = 0;
        for (int d = 0; d < t->decl_ndim && o < sizeof want - 24; d++)
            o += (size_t)snprintf(want + o, sizeof want - o, d ? ",%lld" : "%lld",
                                  (long long)t->decl_dims[d]);
        o = 0;
        for (int d = 0; d < in->ndim && o < sizeof got - 24; d++)
            o += (size_t)snprintf(got + o, sizeof got - o, d ? ",%lld" : "%lld",
                                  (long long)in->shape[d]);
        return rn_error_set(err, RN_ERR_INVALID,
                            "nn: input '%s' has shape [%s], the model expects [%s] (-1: any)",
                            t->name, got, want);
    }
    if (!in->data && count)
        return rn_error_set(err, RN_ERR_INVALID, "nn: input '%s' has no data", t->name);
    return 0;
}

int rn_nn_run(RnNnModel *m, const RnNnTensor *inputs, size_t n_inputs, RnNnTensor *outputs,
              size_t n_outputs, RnError *err)
{
    if (!m || (n_inputs && !inputs) || (n_outputs && !outputs))
        return rn_error_set(err, RN_ERR_INVALID, "nn: invalid arguments");
    if (m->n_inputs > 16)
        return rn_error_set(err, RN_ERR_UNSUPPORTED, "nn: models with more than 16 inputs");
    int same = m->planned;
    for (size_t i = 0; i < m->n_inputs; i++) {
        NnTensor *t = &m->tensors[m->inputs[i]];
        const RnNnTensor *in = NULL;
        for (size_t k = 0; k < n_inputs; k++) {
            if (!inputs[k].name)
                return rn_error_set(err, RN_ERR_INVALID, "nn: input %zu has no name", k);
            if (!strcmp(inputs[k].name, t->name)) {
                if (in)
                    return rn_error_set(err, RN_ERR_INVALID, "nn: input '%s' given twice",
                                        t->name);
                in = &inputs[k];
            }
        }
        if (!in)
            return rn_error_set(err, RN_ERR_INVALID, "nn: input '%s' is missing", t->name);
        int rc = check_input(t, in, err);
        if (rc < 0)
            return rc;
        if (same && (m->plan_ndim[i] != in->ndim ||
                     memcmp(m->plan_dims[i], in->shape, (size_t)in->ndim * sizeof(int64_t))))
            same = 0;
    }
    if (n_inputs != m->n_inputs)
        return rn_error_set(err, RN_ERR_INVALID, "nn: %zu inputs given, the model has %zu",
                            n_inputs, m->n_inputs);
    for (size_t k = 0; k < n_outputs; k++)
        if (outputs[k].name && nn_tensor_find(m, outputs[k].name) < 0)
            return rn_error_set(err, RN_ERR_NOT_FOUND, "nn: the model has no output '%s'",
                                outputs[k].name);
    if (!same) {
        int rc = plan(m, inputs, n_inputs, err);
        if (rc < 0) {
            plan_reset(m);
            return rc;
        }
    }
    for (size_t i = 0; i < m->n_inputs; i++) {
        NnTensor *t = &m->tensors[m->inputs[i]];
        for (size_t k = 0; k < n_inputs; k++)
            if (!strcmp(inputs[k].name, t->name))
                t->data = inputs[k].data;
    }
    for (size_t s = 0; s < m->n_steps; s++) {
        NnNode *n = &m->nodes[m->steps[s]];
        if (is_alias_op(n->op)) {
            m->tensors[n->out[0]].data = m->tensors[n->in[0]].data;
            continue;
        }
        int rc = nn_exec(m, n, err);
        if (rc < 0)
            return rc;
    }
    for (size_t k = 0; k < n_outputs; k++) {
        int t;
        if (outputs[k].name) {
            t = nn_tensor_find(m, outputs[k].name);
        } else {
            if (k >= m->n_outputs)
                return rn_error_set(err, RN_ERR_INVALID, "nn: the model has %zu outputs",
                                    m->n_outputs);
            t = m->outputs[k];
        }
        NnTensor *tt = &m->tensors[t];
        if (!tt->is_output || tt->dtype != NN_F32 || !tt->data)
            return rn_error_set(err, RN_ERR_INVALID, "nn: '%s' is not a float output",
                                tt->name);
        outputs[k].ndim = tt->ndim;
        memcpy(outputs[k].shape, tt->dims, sizeof outputs[k].shape);
        outputs[k].data = tt->data;
    }
    return 0;
}
