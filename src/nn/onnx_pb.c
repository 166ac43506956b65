/*
 * ONNX model parser on the protobuf wire format (no generated code): varints,
 * fixed32/64 and length-delimited fields, read with bounds checks against the
 * real end of every enclosing message. It walks ModelProto -> GraphProto ->
 * NodeProto / TensorProto (initializers, raw_data or typed repeated fields,
 * packed or not) / ValueInfoProto / AttributeProto (onnx.proto3, IR 3-9) and
 * fills the model's tensor and node tables. Data types other than float,
 * double, int64, int32, int8, uint8, bool are rejected; external data,
 * subgraph attributes and sparse initializers are unsupported.
 */
#include "nn/nn_internal.h"

#include <stdio.h>

#include <stdlib.h>
#include <string.h>

typedef struct PbReader {
    const uint8_t *p;
    const uint8_t *end;
} PbReader;

typedef struct PbField {
    uint32_t num;
    int wire;
    uint64_t v;          /* varint / fixed value */
    const uint8_t *data; /* length-delimited payload */
    size_t len;
} PbField;

static int pb_varint(PbReader *r, uint64_t *out, RnError *err)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->p >= r->end)
            return rn_error_set(err, RN_ERR_TRUNCATED, "onnx: truncated varint");
        uint8_t b = *r->p++;
        if (shift == 63 && (b & 0x7e))
            return rn_error_set(err, RN_ERR_PARSE, "onnx: varint overflows 64 bits");
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return rn_error_set(err, RN_ERR_PARSE, "onnx: varint longer than 10 bytes");
}

/* Reads the next field; returns 1 on a field, 0 at the end, negative on error. */
static int pb_next(PbReader *r, PbField *f, RnError *err)
{
    if (r->p >= r->end)
        return 0;
    uint64_t key = 0;
    int rc = pb_varint(r, &key, err);
    if (rc < 0)
        return rc;
    f->num = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    if (f->num == 0 || key >> 32)
        return rn_error_set(err, RN_ERR_PARSE, "onnx: invalid field number");
    switch (f->wire) {
    case 0:
        if ((rc = pb_varint(r, &f->v, err)) < 0)
            return rc;
        return 1;
    case 1:
        if ((size_t)(r->end - r->p) < 8)
            return rn_error_set(err, RN_ERR_TRUNCATED, "onnx: truncated fixed64 field %u", f->num);
        f->v = rn_rd64le(r->p);
        r->p += 8;
        return 1;
    case 5:
        if ((size_t)(r->end - r->p) < 4)
            return rn_error_set(err, RN_ERR_TRUNCATED, "onnx: truncated fixed32 field %u", f->num);
        f->v = rn_rd32le(r->p);
        r->p += 4;
        return 1;
    case 2: {
        uint64_t len;
        if ((rc = pb_varint(r, &len, err)) < 0)
            return rc;
        if (len > (uint64_t)(r->end - r->p))
            return rn_error_set(err, RN_ERR_TRUNCATED,
                                "onnx: field %u claims %llu bytes, %zu left", f->num,
                                (unsigned long long)len, (size_t)(r->end - r->p));
        f->data = r->p;
        f->len = (size_t)len;
        r->p += len;
        return 1;
    }
    default:
        return rn_error_set(err, RN_ERR_PARSE, "onnx: unsupported wire type %d (field %u)",
                            f->wire, f->num);
    }
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem, RnError *err)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 8;
    while (nc < need)
        nc *= 2;
    void *p = realloc(*arr, nc * elem);
    if (!p)
        return rn_error_set(err, RN_ERR_NOMEM, "onnx: out of memory");
    *arr = p;
    *cap = nc;
    return 0;
}

/* Appends int64 values of a repeated varint field, packed (wire 2) or not (wire 0). */
static int pb_ints(const PbField *f, int64_t **arr, size_t *n, size_t *cap, RnError *err)
{
    if (f->wire == 0) {
        if (grow((void **)arr, cap, *n + 1, sizeof **arr, err))
            return RN_ERR_NOMEM;
        (*arr)[(*n)++] = (int64_t)f->v;
        return 0;
    }
    if (f->wire != 2)
        return rn_error_set(err, RN_ERR_PARSE, "onnx: bad wire type for repeated int64");
    PbReader r = {f->data, f->data + f->len};
    while (r.p < r.end) {
        uint64_t v;
        int rc = pb_varint(&r, &v, err);
        if (rc < 0)
            return rc;
        if (grow((void **)arr, cap, *n + 1, sizeof **arr, err))
            return RN_ERR_NOMEM;
        (*arr)[(*n)++] = (int64_t)v;
    }
    return 0;
}

/* Appends float values of a repeated float field (fixed32, packed or not). */
static int pb_floats(const PbField *f, float **arr, size_t *n, size_t *cap, RnError *err)
{
    size_t count;
    const uint8_t *p;
    uint8_t one[4];
    if (f->wire == 5) {
        rn_wr32le(one, (uint32_t)f->v);
        p = one;
        count = 1;
    } else if (f->wire == 2) {
        if (f->len % 4)
            return rn_error_set(err, RN_ERR_PARSE, "onnx: packed floats not a multiple of 4");
        p = f->data;
        count = f->len / 4;
    } else {
        return rn_error_set(err, RN_ERR_PARSE, "onnx: bad wire type for repeated float");
    }
    if (grow((void **)arr, cap, *n + count, sizeof **arr, err))
        return RN_ERR_NOMEM;
    for (size_t i = 0; i < count; i++) {
        uint32_t u = rn_rd32le(p + 4 * i);
        memcpy(&(*arr)[*n + i], &u, 4);
    }
    *n += count;
    return 0;
}

static int pb_doubles(const PbField *f, double **arr, size_t *n, size_t *cap, RnError *err)
{
    size_t count;
    const uint8_t *p;
    uint8_t one[8];
    if (f->wire == 1) {
        rn_wr32le(one, (uint32_t)f->v);
        rn_wr32le(one + 4, (uint32_t)(f->v >> 32));
        p = one;
        count = 1;
    } else if (f->wire == 2) {
        if (f->len % 8)
            return rn_error_set(err, RN_ERR_PARSE, "onnx: packed doubles not a multiple of 8");
        p = f->data;
        count = f->len / 8;
    } else {
        return rn_error_set(err, RN_ERR_PARSE, "onnx: bad wire type for repeated double");
    }
    if (grow((void **)arr, cap, *n + count, sizeof **arr, err))
        return RN_ERR_NOMEM;
    for (size_t i = 0; i < count; i++) {
        uint64_t u = rn_rd64le(p + 8 * i);
        memcpy(&(*arr)[*n + i], &u, 8);
    }
    *n += count;
    return 0;
}

static int expect_wire(const PbField *f, int wire, const char *what, RnError *err)
{
    if (f->wire != wire)
        return rn_error_set(err, RN_ERR_PARSE, "onnx: %s has wire type %d, expected %d", what,
                            f->wire, wire);
    return 0;
}

/* TensorProto -> a tensor of the model (by name; anonymous ones get a synthetic name). */
static int parse_tensor(RnNnModel *m, const uint8_t *data, size_t len, const char *anon,
                        int force_anon, int *out_idx, RnError *err)
{
    PbReader r = {data, data + len};
    PbField f;
    int rc;
    int64_t *dims = NULL, *i64 = NULL;
    size_t n_dims = 0, cap_dims = 0, n_i64 = 0, cap_i64 = 0;
    float *f32 = NULL;
    size_t n_f32 = 0, cap_f32 = 0;
    double *f64 = NULL;
    size_t n_f64 = 0, cap_f64 = 0;
    const uint8_t *raw = NULL, *name = NULL;
    size_t raw_len = 0, name_len = 0;
    int has_raw = 0;
    int64_t dtype = 0;
    int location = 0;
    while ((rc = pb_next(&r, &f, err)) > 0) {
        switch (f.num) {
        case 1:
            rc = pb_ints(&f, &dims, &n_dims, &cap_dims, err);
            break;
        case 2:
            if (!(rc = expect_wire(&f, 0, "TensorProto.data_type", err)))
                dtype = (int64_t)f.v;
            break;
        case 3:
            rc = rn_error_set(err, RN_ERR_UNSUPPORTED, "onnx: segmented tensors are unsupported");
            break;
        case 4:
            rc = pb_floats(&f, &f32, &n_f32, &cap_f32, err);
            break;
        case 5: /* int32_data: int32, int8, uint8, bool, float16 bits */
        case 7:
        case 11:
            rc = pb_ints(&f, &i64, &n_i64, &cap_i64, err);
            break;
        case 6:
            rc = rn_error_set(err, RN_ERR_UNSUPPORTED, "onnx: string tensors are unsupported");
            break;
        case 8:
            if (!(rc = expect_wire(&f, 2, "TensorProto.name", err))) {
                name = f.data;
                name_len = f.len;
            }
            break;
        case 9:
            if (!(rc = expect_wire(&f, 2, "TensorProto.raw_data", err))) {
                raw = f.data;
                raw_len = f.len;
                has_raw = 1;
            }
            break;
        case 10:
            rc = pb_doubles(&f, &f64, &n_f64, &cap_f64, err);
            break;
        case 14:
            location = (int)f.v;
            break;
        default:
            break;
        }
        if (rc < 0)
            goto out;
    }
    if (rc < 0)
        goto out;
    if (location == 1) {
        rc = rn_error_set(err, RN_ERR_UNSUPPORTED, "onnx: tensor '%.*s' uses external data",
                          (int)name_len, name ? (const char *)name : "");
        goto out;
    }
    if (n_dims > RN_NN_MAX_DIMS) {
        rc = rn_error_set(err, RN_ERR_UNSUPPORTED, "onnx: tensor '%.*s' has %zu dims (max %d)",
                          (int)name_len, name ? (const char *)name : "", n_dims, RN_NN_MAX_DIMS);
        goto out;
    }
    int64_t count = 1;
    for (size_t i = 0; i < n_dims; i++) {
        if (dims[i] < 0 || (dims[i] > 0 && count > NN_MAX_ELEMS / dims[i])) {
            rc = rn_error_set(err, RN_ERR_LIMIT, "onnx: tensor '%.*s' has invalid dims",
                              (int)name_len, name ? (const char *)name : "");
            goto out;
        }
        count *= dims[i];
    }
    int idx;
    if (name && name_len && !force_anon)
        idx = nn_tensor_intern(m, (const char *)name, name_len, err);
    else
        idx = nn_tensor_intern(m, anon, strlen(anon), err);
    if (idx < 0) {
        rc = idx;
        goto out;
    }
    NnTensor *t = &m->tensors[idx];
    if (t->is_init) {
        rc = rn_error_set(err, RN_ERR_PARSE, "onnx: tensor '%s' defined twice", t->name);
        goto out;
    }
    int internal;
    size_t esz; /* bytes per element in raw_data */
    switch (dtype) {
    case 1: internal = NN_F32; esz = 4; break;
    case 11: internal = NN_F32; esz = 8; break;
    case 7: internal = NN_I64; esz = 8; break;
    case 6: internal = NN_I64; esz = 4; break;
    case 2: case 3: case 9: internal = NN_I64; esz = 1; break;
    default:
        rc = rn_error_set(err, RN_ERR_UNSUPPORTED, "onnx: tensor '%s' has unsupported data type %lld",
                          t->name, (long long)dtype);
        goto out;
    }
    void *buf = malloc((size_t)(count ? count : 1) * 8);
    if (!buf) {
        rc = rn_error_set(err, RN_ERR_NOMEM, "onnx: out of memory for tensor '%s'", t->name);
        goto out;
    }
    float *fo = buf;
    int64_t *io = buf;
    if (has_raw) {
        if ((uint64_t)raw_len != (uint64_t)count * esz) {
            free(buf);
            rc = rn_error_set(err, RN_ERR_PARSE,
                              "onnx: tensor '%s' raw_data has %zu bytes, expected %lld", t->name,
                              raw_len, (long long)count * (long long)esz);
            goto out;
        }
        for (int64_t i = 0; i < count; i++) {
            const uint8_t *p = raw + (size_t)i * esz;
            if (dtype == 1) {
                uint32_t u = rn_rd32le(p);
                memcpy(&fo[i], &u, 4);
            } else if (dtype == 11) {
                uint64_t u = rn_rd64le(p);
                double d;
                memcpy(&d, &u, 8);
                fo[i] = (float)d;
            } else if (dtype == 7) {
                io[i] = (int64_t)rn_rd64le(p);
            } else if (dtype == 6) {
                io[i] = (int32_t)rn_rd32le(p);
            } else if (dtype == 3) {
                io[i] = (int8_t)p[0];
            } else {
                io[i] = p[0];
            }
        }
    } else {
        size_t have = dtype == 1 ? n_f32 : dtype == 11 ? n_f64 : n_i64;
        if ((uint64_t)have != (uint64_t)count) {
            free(buf);
            rc = rn_error_set(err, RN_ERR_PARSE, "onnx: tensor '%s' has %zu values, expected %lld",
                              t->name, have, (long long)count);
            goto out;
        }
        for (int64_t i = 0; i < count; i++) {
            if (dtype == 1)
                fo[i] = f32[i];
            else if (dtype == 11)
                fo[i] = (float)f64[i];
            else if (dtype == 3)
                io[i] = (int8_t)i64[i];
            else if (dtype == 2 || dtype == 9)
                io[i] = (uint8_t)i64[i];
            else if (dtype == 6)
                io[i] = (int32_t)i64[i];
            else
                io[i] = i64[i];
        }
    }
    t->data = buf;
    t->dtype = internal;
    t->ndim = (int)n_dims;
    for (size_t i = 0; i < n_dims; i++)
        t->dims[i] = dims[i];
    t->is_init = 1;
    *out_idx = idx;
    rc = 0;
out:
    free(dims);
    free(i64);
    free(f32);
    free(f64);
    return rc;
}

static int parse_attr(RnNnModel *m, NnAttr *a, const uint8_t *data, size_t len, const char *node,
                      RnError *err)
{
    PbReader r = {data, data + len};
    PbField f;
    int rc;
    size_t cap_i = 0, cap_f = 0, n_i = 0, n_f = 0;
    memset(a, 0, sizeof *a);
    a->t_tensor = -1;
    while ((rc = pb_next(&r, &f, err)) > 0) {
        switch (f.num) {
        case 1:
            if ((rc = expect_wire(&f, 2, "AttributeProto.name", err)))
                return rc;
            free(a->name);
            if (!(a->name = rn_strndup((const char *)f.data, f.len)))
                return rn_error_set(err, RN_ERR_NOMEM, "onnx: out of memory");
            break;
        case 2:
            if ((rc = expect_wire(&f, 5, "AttributeProto.f", err)))
                return rc;
            {
                uint32_t u = (uint32_t)f.v;
                memcpy(&a->f, &u, 4);
            }
            break;
        case 3:
            if ((rc = expect_wire(&f, 0, "AttributeProto.i", err)))
                return rc;
            a->i = (int64_t)f.v;
            break;
        case 4:
            if ((rc = expect_wire(&f, 2, "AttributeProto.s", err)))
                return rc;
            free(a->s);
            if (!(a->s = rn_strndup((const char *)f.data, f.len)))
                return rn_error_set(err, RN_ERR_NOMEM, "onnx: out of memory");
            break;
        case 5: {
            if ((rc = expect_wire(&f, 2, "AttributeProto.t", err)))
                return rc;
            char anon[64];
            snprintf(anon, sizeof anon, "__attr_tensor_%zu", m->n_tensors);
            if ((rc = parse_tensor(m, f.data, f.len, anon, 1, &a->t_tensor, err)) < 0)
                return rc;
            break;
        }
        case 7:
            if ((rc = pb_floats(&f, &a->floats, &n_f, &cap_f, err)) < 0)
                return rc;
            a->n = n_f;
            break;
        case 8:
            if ((rc = pb_ints(&f, &a->ints, &n_i, &cap_i, err)) < 0)
                return rc;
            a->n = n_i;
            break;
        case 20:
            a->type = (int)f.v;
            break;
        case 6:
        case 11:
            /* subgraphs: kept out; the operators that use them are unsupported */
            break;
        default:
            break;
        }
    }
    if (rc < 0)
        return rc;
    if (!a->name)
        return rn_error_set(err, RN_ERR_PARSE, "onnx: node '%s' has an attribute without name",
                            node);
    return 0;
}

static int parse_node(RnNnModel *m, const uint8_t *data, size_t len, RnError *err)
{
    if (m->n_nodes >= NN_MAX_NODES)
        return rn_error_set(err, RN_ERR_LIMIT, "onnx: more than %d nodes", NN_MAX_NODES);
    if (grow((void **)&m->nodes, &m->cap_nodes, m->n_nodes + 1, sizeof *m->nodes, err))
        return RN_ERR_NOMEM;
    NnNode *n = &m->nodes[m->n_nodes++];
    memset(n, 0, sizeof *n);
    PbReader r = {data, data + len};
    PbField f;
    int rc;
    size_t cap_in = 0, cap_out = 0, cap_attr = 0;
    char *domain = NULL;
    /* names first: inputs/outputs are interned as they come */
    while ((rc = pb_next(&r, &f, err)) > 0) {
        if (f.num == 1 || f.num == 2) {
            if ((rc = expect_wire(&f, 2, "NodeProto.input/output", err)))
                return rc;
            int **arr = f.num == 1 ? &n->in : &n->out;
            size_t *cnt = f.num == 1 ? &n->n_in : &n->n_out;
            size_t *cap = f.num == 1 ? &cap_in : &cap_out;
            if (*cnt >= NN_MAX_NODE_IO)
                return rn_error_set(err, RN_ERR_LIMIT, "onnx: node with too many inputs");
            if (grow((void **)arr, cap, *cnt + 1, sizeof **arr, err))
                return RN_ERR_NOMEM;
            int idx = -1;
            if (f.len) {
                idx = nn_tensor_intern(m, (const char *)f.data, f.len, err);
                if (idx < 0)
                    return idx;
            }
            (*arr)[(*cnt)++] = idx;
        } else if (f.num == 3 || f.num == 4 || f.num == 7) {
            if ((rc = expect_wire(&f, 2, "NodeProto string", err)))
                return rc;
            char *s = rn_strndup((const char *)f.data, f.len);
            if (!s)
                return rn_error_set(err, RN_ERR_NOMEM, "onnx: out of memory");
            char **dst = f.num == 3 ? &n->name : f.num == 4 ? &n->op_type : &domain;
            free(*dst);
            *dst = s;
        } else if (f.num == 5) {
            if ((rc = expect_wire(&f, 2, "NodeProto.attribute", err)))
                return rc;
            if (n->n_attrs >= 1024)
                return rn_error_set(err, RN_ERR_LIMIT, "onnx: node with too many attributes");
            if (grow((void **)&n->attrs, &cap_attr, n->n_attrs + 1, sizeof *n->attrs, err))
                return RN_ERR_NOMEM;
            NnAttr *a = &n->attrs[n->n_attrs++];
            if ((rc = parse_attr(m, a, f.data, f.len, n->name ? n->name : "?", err)) < 0)
                return rc;
        }
    }
    if (rc < 0) {
        free(domain);
        return rc;
    }
    if (!n->op_type) {
        free(domain);
        return rn_error_set(err, RN_ERR_PARSE, "onnx: node %zu has no op_type", m->n_nodes - 1);
    }
    if (!n->name) {
        char buf[32];
        snprintf(buf, sizeof buf, "#%zu", m->n_nodes - 1);
        if (!(n->name = rn_strdup(buf))) {
            free(domain);
            return rn_error_set(err, RN_ERR_NOMEM, "onnx: out of memory");
        }
    }
    if (domain && domain[0] && strcmp(domain, "ai.onnx")) {
        rc = rn_error_set(err, RN_ERR_UNSUPPORTED,
                          "onnx: unsupported operator '%s' of domain '%s' in node '%s'",
                          n->op_type, domain, n->name);
        free(domain);
        return rc;
    }
    free(domain);
    return 0;
}

/* ValueInfoProto: name and (optionally) a tensor type with a shape. */
static int parse_value_info(RnNnModel *m, const uint8_t *data, size_t len, int *out_idx,
                            RnError *err)
{
    PbReader r = {data, data + len};
    PbField f;
    int rc;
    const uint8_t *name = NULL, *type = NULL;
    size_t name_len = 0, type_len = 0;
    while ((rc = pb_next(&r, &f, err)) > 0) {
        if (f.num == 1 && f.wire == 2) {
            name = f.data;
            name_len = f.len;
        } else if (f.num == 2 && f.wire == 2) {
            type = f.data;
            type_len = f.len;
        }
    }
    if (rc < 0)
        return rc;
    if (!name || !name_len)
        return rn_error_set(err, RN_ERR_PARSE, "onnx: graph input/output without a name");
    int idx = nn_tensor_intern(m, (const char *)name, name_len, err);
    if (idx < 0)
        return idx;
    NnTensor *t = &m->tensors[idx];
    t->decl_ndim = -1;
    *out_idx = idx;
    if (!type)
        return 0;
    /* TypeProto.tensor_type(1) -> elem_type(1), shape(2) -> dim(1) -> dim_value(1) */
    PbReader tr = {type, type + type_len};
    while ((rc = pb_next(&tr, &f, err)) > 0) {
        if (f.num != 1 || f.wire != 2)
            continue;
        PbReader rr = {f.data, f.data + f.len};
        PbField g;
        while ((rc = pb_next(&rr, &g, err)) > 0) {
            if (g.num != 2 || g.wire != 2)
                continue;
            t->decl_ndim = 0;
            PbReader sr = {g.data, g.data + g.len};
            PbField d;
            while ((rc = pb_next(&sr, &d, err)) > 0) {
                if (d.num != 1 || d.wire != 2)
                    continue;
                if (t->decl_ndim >= RN_NN_MAX_DIMS)
                    return rn_error_set(err, RN_ERR_UNSUPPORTED,
                                        "onnx: '%s' has more than %d dims", t->name,
                                        RN_NN_MAX_DIMS);
                int64_t v = -1;
                PbReader dr = {d.data, d.data + d.len};
                PbField e;
                while ((rc = pb_next(&dr, &e, err)) > 0)
                    if (e.num == 1 && e.wire == 0)
                        v = (int64_t)e.v;
                if (rc < 0)
                    return rc;
                t->decl_dims[t->decl_ndim++] = v < 0 ? -1 : v;
            }
            if (rc < 0)
                return rc;
        }
        if (rc < 0)
            return rc;
    }
    return rc < 0 ? rc : 0;
}

static int add_index(int **arr, size_t *n, int idx, RnError *err)
{
    int *p = realloc(*arr, (*n + 1) * sizeof *p);
    if (!p)
        return rn_error_set(err, RN_ERR_NOMEM, "onnx: out of memory");
    *arr = p;
    p[(*n)++] = idx;
    return 0;
}

static int parse_graph(RnNnModel *m, const uint8_t *data, size_t len, RnError *err)
{
    PbReader r = {data, data + len};
    PbField f;
    int rc;
    int *ins = NULL;
    size_t n_ins = 0;
    while ((rc = pb_next(&r, &f, err)) > 0) {
        int idx;
        switch (f.num) {
        case 1:
            if (!(rc = expect_wire(&f, 2, "GraphProto.node", err)))
                rc = parse_node(m, f.data, f.len, err);
            break;
        case 5:
            if (!(rc = expect_wire(&f, 2, "GraphProto.initializer", err))) {
                char anon[64];
                snprintf(anon, sizeof anon, "__init_%zu", m->n_tensors);
                rc = parse_tensor(m, f.data, f.len, anon, 0, &idx, err);
                if (!rc)
                    m->n_params += nn_numel(&m->tensors[idx]);
            }
            break;
        case 11:
        case 12:
            if (!(rc = expect_wire(&f, 2, "GraphProto.input/output", err)))
                rc = parse_value_info(m, f.data, f.len, &idx, err);
            if (!rc)
                rc = f.num == 11 ? add_index(&ins, &n_ins, idx, err)
                                 : add_index(&m->outputs, &m->n_outputs, idx, err);
            break;
        case 15:
            rc = rn_error_set(err, RN_ERR_UNSUPPORTED, "onnx: sparse initializers are unsupported");
            break;
        default:
            break;
        }
        if (rc < 0)
            break;
    }
    if (rc >= 0) {
        /* IR < 4 lists initializers among the inputs: those are not model inputs. */
        for (size_t i = 0; i < n_ins && rc >= 0; i++)
            if (!m->tensors[ins[i]].is_init)
                rc = add_index(&m->inputs, &m->n_inputs, ins[i], err);
    }
    free(ins);
    return rc < 0 ? rc : 0;
}

int nn_onnx_parse(RnNnModel *m, const uint8_t *data, size_t len, RnError *err)
{
    PbReader r = {data, data + len};
    PbField f;
    int rc;
    const uint8_t *graph = NULL;
    size_t graph_len = 0;
    int have_ir = 0;
    m->opset = -1;
    while ((rc = pb_next(&r, &f, err)) > 0) {
        if (f.num == 1 && f.wire == 0) {
            have_ir = 1;
        } else if (f.num == 7) {
            if ((rc = expect_wire(&f, 2, "ModelProto.graph", err)))
                return rc;
            graph = f.data;
            graph_len = f.len;
        } else if (f.num == 8) {
            if ((rc = expect_wire(&f, 2, "ModelProto.opset_import", err)))
                return rc;
            PbReader o = {f.data, f.data + f.len};
            PbField g;
            int is_default = 1;
            int64_t version = -1;
            while ((rc = pb_next(&o, &g, err)) > 0) {
                if (g.num == 1 && g.wire == 2)
                    is_default = g.len == 0 || (g.len == 7 && !memcmp(g.data, "ai.onnx", 7));
                else if (g.num == 2 && g.wire == 0)
                    version = (int64_t)g.v;
            }
            if (rc < 0)
                return rc;
            if (is_default)
                m->opset = version > 1000 ? 1000 : (int)version;
        }
    }
    if (rc < 0)
        return rc;
    if (!have_ir || !graph)
        return rn_error_set(err, RN_ERR_PARSE, "onnx: not an ONNX model (no ir_version or graph)");
    if (m->opset < 0)
        return rn_error_set(err, RN_ERR_PARSE, "onnx: model has no ai.onnx opset_import");
    if (m->opset < 11 || m->opset > 17)
        return rn_error_set(err, RN_ERR_UNSUPPORTED,
                            "onnx: opset %d is unsupported (supported: 11 to 17)", m->opset);
    return parse_graph(m, graph, graph_len, err);
}
