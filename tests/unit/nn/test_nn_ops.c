/*
 * Operator and loader tests for the ONNX engine. Models are built here with a
 * small protobuf writer (the same wire format the loader parses), so every
 * operator class is checked against a naive reference in C: convolutions
 * (2D/3D, strides, pads, dilations, groups, depthwise, 1x1, transposed),
 * pooling, Gemm/MatMul with batch broadcasting, elementwise broadcasting,
 * data movement (Reshape, Transpose, Slice, Pad, Concat, Squeeze/Unsqueeze),
 * Resize, Softmax; plus the error paths: truncated and malformed models,
 * unknown operators, unsupported opsets, wrong input shapes, bad .npy files.
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
#include <unistd.h>

/* ---- protobuf writer ---- */

static void pb_varint(RnBuf *b, uint64_t v)
{
    while (v >= 0x80) {
        rn_buf_append_byte(b, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    rn_buf_append_byte(b, (uint8_t)v);
}

static void pb_key(RnBuf *b, int field, int wire) { pb_varint(b, (uint64_t)field << 3 | (uint64_t)wire); }

static void pb_bytes(RnBuf *b, int field, const void *data, size_t len)
{
    pb_key(b, field, 2);
    pb_varint(b, len);
    rn_buf_append(b, data, len);
}

static void pb_str(RnBuf *b, int field, const char *s) { pb_bytes(b, field, s, strlen(s)); }

static void pb_int(RnBuf *b, int field, int64_t v)
{
    pb_key(b, field, 0);
    pb_varint(b, (uint64_t)v);
}

static void pb_msg(RnBuf *b, int field, RnBuf *m)
{
    pb_bytes(b, field, m->data, m->len);
    rn_buf_free(m);
}

static void tensor_f32(RnBuf *out, int field, const char *name, int ndim, const int64_t *dims,
                       const float *v)
{
    RnBuf t = {0};
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        pb_int(&t, 1, dims[i]);
        n *= dims[i];
    }
    pb_int(&t, 2, 1);
    if (name)
        pb_str(&t, 8, name);
    pb_bytes(&t, 9, v, (size_t)n * 4);
    pb_msg(out, field, &t);
}

static void tensor_i64(RnBuf *out, int field, const char *name, int64_t n, const int64_t *v)
{
    RnBuf t = {0}, packed = {0};
    pb_int(&t, 1, n);
    pb_int(&t, 2, 7);
    pb_str(&t, 8, name);
    for (int64_t i = 0; i < n; i++)
        pb_varint(&packed, (uint64_t)v[i]);
    pb_bytes(&t, 7, packed.data, packed.len);
    rn_buf_free(&packed);
    pb_msg(out, field, &t);
}

typedef struct Attr {
    const char *name;
    int kind; /* 'i' int, 'f' float, 's' string, 'I' ints */
    int64_t i;
    float f;
    const char *s;
    const int64_t *ints;
    int n;
} Attr;

#define AI(nm, v) ((Attr){nm, 'i', v, 0, NULL, NULL, 0})
#define AF(nm, v) ((Attr){nm, 'f', 0, v, NULL, NULL, 0})
#define AS(nm, v) ((Attr){nm, 's', 0, 0, v, NULL, 0})
#define AINTS(nm, ...)                                                                           \
    ((Attr){nm, 'I', 0, 0, NULL, (const int64_t[]){__VA_ARGS__},                                 \
            (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t))})

typedef struct Builder {
    RnBuf g;
    int opset;
} Builder;

static void node(Builder *b, const char *op, const char *ins, const char *outs, int n_attrs,
                 const Attr *attrs)
{
    RnBuf nd = {0};
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s", ins);
    for (char *save = NULL, *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save))
        pb_str(&nd, 1, strcmp(t, "_") ? t : "");
    snprintf(tmp, sizeof tmp, "%s", outs);
    for (char *save = NULL, *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save))
        pb_str(&nd, 2, t);
    pb_str(&nd, 3, "node_under_test");
    pb_str(&nd, 4, op);
    for (int i = 0; i < n_attrs; i++) {
        RnBuf a = {0};
        pb_str(&a, 1, attrs[i].name);
        if (attrs[i].kind == 'i') {
            pb_int(&a, 3, attrs[i].i);
            pb_int(&a, 20, 2);
        } else if (attrs[i].kind == 'f') {
            uint8_t le[4];
            uint32_t u;
            memcpy(&u, &attrs[i].f, 4);
            rn_wr32le(le, u);
            pb_key(&a, 2, 5);
            rn_buf_append(&a, le, 4);
            pb_int(&a, 20, 1);
        } else if (attrs[i].kind == 's') {
            pb_str(&a, 4, attrs[i].s);
            pb_int(&a, 20, 3);
        } else {
            for (int k = 0; k < attrs[i].n; k++)
                pb_int(&a, 8, attrs[i].ints[k]);
            pb_int(&a, 20, 7);
        }
        pb_msg(&nd, 5, &a);
    }
    pb_msg(&b->g, 1, &nd);
}

static void value_info(Builder *b, int field, const char *name, int ndim, const int64_t *dims)
{
    RnBuf vi = {0}, tp = {0}, tt = {0}, sh = {0};
    for (int i = 0; i < ndim; i++) {
        RnBuf d = {0};
        if (dims[i] < 0)
            pb_str(&d, 2, "N");
        else
            pb_int(&d, 1, dims[i]);
        pb_msg(&sh, 1, &d);
    }
    pb_int(&tt, 1, 1);
    pb_msg(&tt, 2, &sh);
    pb_msg(&tp, 1, &tt);
    pb_str(&vi, 1, name);
    pb_msg(&vi, 2, &tp);
    pb_msg(&b->g, field, &vi);
}

static uint8_t *finish(Builder *b, size_t *len)
{
    RnBuf m = {0}, op = {0};
    pb_int(&m, 1, 8);
    pb_str(&m, 2, "radnode-test");
    pb_int(&op, 2, b->opset);
    pb_msg(&m, 8, &op);
    pb_msg(&m, 7, &b->g);
    return rn_buf_take(&m, len);
}

static RnNnModel *build(Builder *b, RnError *err)
{
    size_t len;
    uint8_t *d = finish(b, &len);
    RnNnModel *m = rn_nn_model_load_memory(d, len, err);
    free(d);
    return m;
}

/* Runs a one-input model and returns a copy of output 0 (and its shape). */
static float *run1(RnNnModel *m, int ndim, const int64_t *shape, const float *x, int *ondim,
                   int64_t *oshape)
{
    RnNnTensor in = {.name = "x", .ndim = ndim, .data = (float *)x};
    memcpy(in.shape, shape, (size_t)ndim * sizeof *shape);
    RnNnTensor out = {0};
    RnError err = {0};
    if (rn_nn_run(m, &in, 1, &out, 1, &err))
        fail_msg("run: %s", err.message);
    int64_t n = 1;
    for (int i = 0; i < out.ndim; i++)
        n *= out.shape[i];
    float *r = malloc((size_t)(n ? n : 1) * sizeof *r);
    memcpy(r, out.data, (size_t)n * sizeof *r);
    *ondim = out.ndim;
    memcpy(oshape, out.shape, sizeof(int64_t) * (size_t)out.ndim);
    return r;
}

static float frand(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static float *randv(int64_t n, uint32_t seed)
{
    float *v = malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++)
        v[i] = frand(&seed);
    return v;
}

static void near(const float *got, const float *want, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (fabsf(got[i] - want[i]) > 1e-4f * fmaxf(1.0f, fabsf(want[i])))
            fail_msg("element %lld: got %.7g want %.7g", (long long)i, (double)got[i],
                     (double)want[i]);
}

/* ---- convolution against a naive reference ---- */

static void conv_case(int nd, int64_t N, int64_t C, int64_t OC, int64_t group, const int64_t *in,
                      const int64_t *k, const int64_t *s, const int64_t *p, const int64_t *d,
                      int transposed, int relu)
{
    /* spatial dims padded to 3 */
    int64_t I[3] = {1, 1, 1}, K[3] = {1, 1, 1}, S[3] = {1, 1, 1}, P[3] = {0, 0, 0}, D[3] = {1, 1, 1}, O[3];
    for (int i = 0; i < nd; i++) {
        I[3 - nd + i] = in[i];
        K[3 - nd + i] = k[i];
        S[3 - nd + i] = s[i];
        P[3 - nd + i] = p[i];
        D[3 - nd + i] = d[i];
    }
    for (int i = 0; i < 3; i++)
        O[i] = transposed ? S[i] * (I[i] - 1) + (K[i] - 1) * D[i] + 1 - 2 * P[i]
                          : (I[i] + 2 * P[i] - (K[i] - 1) * D[i] - 1) / S[i] + 1;
    int64_t cg = C / group, ocg = OC / group, kvol = K[0] * K[1] * K[2];
    int64_t wdims[5] = {transposed ? C : OC, transposed ? ocg : cg, 0, 0, 0};
    for (int i = 0; i < nd; i++)
        wdims[2 + i] = k[i];
    int64_t nw = wdims[0] * wdims[1] * kvol, isz = I[0] * I[1] * I[2], osz = O[0] * O[1] * O[2];
    float *w = randv(nw, 11), *bias = randv(OC, 12), *x = randv(N * C * isz, 13);
    float *ref = calloc((size_t)(N * OC * osz), sizeof *ref);
    for (int64_t n = 0; n < N; n++)
        for (int64_t g = 0; g < group; g++)
            for (int64_t ic = 0; ic < cg; ic++)
                for (int64_t oc = 0; oc < ocg; oc++)
                    for (int64_t kz = 0; kz < K[0]; kz++)
                        for (int64_t ky = 0; ky < K[1]; ky++)
                            for (int64_t kx = 0; kx < K[2]; kx++) {
                                int64_t ci = g * cg + ic, co = g * ocg + oc;
                                float wv = transposed ? w[((ci * ocg + oc) * K[0] + kz) * K[1] * K[2] + ky * K[2] + kx]
                                                      : w[((co * cg + ic) * K[0] + kz) * K[1] * K[2] + ky * K[2] + kx];
                                int64_t A[3] = {transposed ? I[0] : O[0], transposed ? I[1] : O[1], transposed ? I[2] : O[2]};
                                for (int64_t a0 = 0; a0 < A[0]; a0++)
                                    for (int64_t a1 = 0; a1 < A[1]; a1++)
                                        for (int64_t a2 = 0; a2 < A[2]; a2++) {
                                            int64_t b0 = a0 * S[0] - P[0] + kz * D[0];
                                            int64_t b1 = a1 * S[1] - P[1] + ky * D[1];
                                            int64_t b2 = a2 * S[2] - P[2] + kx * D[2];
                                            int64_t B[3] = {transposed ? O[0] : I[0], transposed ? O[1] : I[1], transposed ? O[2] : I[2]};
                                            if (b0 < 0 || b0 >= B[0] || b1 < 0 || b1 >= B[1] || b2 < 0 || b2 >= B[2])
                                                continue;
                                            if (transposed)
                                                ref[(n * OC + co) * osz + (b0 * O[1] + b1) * O[2] + b2] +=
                                                    wv * x[(n * C + ci) * isz + (a0 * I[1] + a1) * I[2] + a2];
                                            else
                                                ref[(n * OC + co) * osz + (a0 * O[1] + a1) * O[2] + a2] +=
                                                    wv * x[(n * C + ci) * isz + (b0 * I[1] + b1) * I[2] + b2];
                                        }
                            }
    for (int64_t i = 0; i < N * OC * osz; i++) {
        ref[i] += bias[(i / osz) % OC];
        if (relu && ref[i] < 0)
            ref[i] = 0;
    }
    Builder b = {{0}, 13};
    tensor_f32(&b.g, 5, "w", nd + 2, wdims, w);
    tensor_f32(&b.g, 5, "b", 1, &OC, bias);
    int64_t pads[6], ks[3], ss[3], ds[3];
    for (int i = 0; i < nd; i++) {
        pads[i] = pads[nd + i] = p[i];
        ks[i] = k[i];
        ss[i] = s[i];
        ds[i] = d[i];
    }
    Attr at[5] = {AI("group", group),
                  {"kernel_shape", 'I', 0, 0, NULL, ks, nd},
                  {"strides", 'I', 0, 0, NULL, ss, nd},
                  {"pads", 'I', 0, 0, NULL, pads, 2 * nd},
                  {"dilations", 'I', 0, 0, NULL, ds, nd}};
    node(&b, transposed ? "ConvTranspose" : "Conv", "x,w,b", relu ? "c" : "y", 5, at);
    if (relu)
        node(&b, "Relu", "c", "y", 0, NULL);
    int64_t xdims[5] = {N, C, 0, 0, 0};
    for (int i = 0; i < nd; i++)
        xdims[2 + i] = in[i];
    value_info(&b, 11, "x", nd + 2, xdims);
    value_info(&b, 12, "y", 0, NULL);
    RnError err = {0};
    RnNnModel *m = build(&b, &err);
    if (!m)
        fail_msg("%s", err.message);
    /* every kernel path: direct (AVX2 where the CPU has it), im2col + OpenBLAS,
     * im2col + the built-in GEMM, oneDNN (where libdnnl.so.2 opens); 1 and 2 threads */
    int have_dnnl = !strncmp(nn_dnnl_backend(), "oneDNN", 6);
    for (int path = 0; path < 4; path++)
        for (int threads = 1; threads <= 2; threads++) {
            if (path == 3 && (transposed || !have_dnnl))
                continue;
            m->conv_impl = path == 0 || path == 3 ? NN_CONV_AUTO : NN_CONV_GEMM;
            m->gemm_builtin = path == 2;
            m->conv_backend = path == 3 ? NN_BACKEND_DNNL : NN_BACKEND_NATIVE;
            rn_nn_model_set_threads(m, threads, &err);
            int ond;
            int64_t osh[8];
            float *y = run1(m, nd + 2, xdims, x, &ond, osh);
            assert_int_equal(ond, nd + 2);
            assert_int_equal(osh[1], OC);
            near(y, ref, N * OC * osz);
            if (path == 3) {
                /* the primitive was made (not a silent native fallback), and reruns agree
                 * bit for bit */
                size_t conv = 0;
                while (conv < m->n_nodes && m->nodes[conv].op != OP_CONV)
                    conv++;
                assert_true(conv < m->n_nodes);
                assert_int_equal(m->dnnl_state[conv], 1);
                float *y2 = run1(m, nd + 2, xdims, x, &ond, osh);
                assert_memory_equal(y, y2, (size_t)(N * OC * osz) * sizeof *y);
                free(y2);
            }
            free(y);
        }
    if (have_dnnl && !transposed) {
        /* oneDNN's blocked copies count against the memory limit: with a limit just above
         * what the plan holds, the conv stays on the native kernels, with the same result */
        nn_conv_backend_reset(m);
        rn_nn_model_set_memory_limit(m, m->mem_used + 64);
        m->conv_backend = NN_BACKEND_DNNL;
        int ond;
        int64_t osh[8];
        float *y = run1(m, nd + 2, xdims, x, &ond, osh);
        near(y, ref, N * OC * osz);
        size_t conv = 0;
        while (m->nodes[conv].op != OP_CONV)
            conv++;
        assert_int_equal(m->dnnl_state[conv], 2);
        free(y);
        rn_nn_model_set_memory_limit(m, 0);
    }
    rn_nn_model_destroy(m);
    free(w);
    free(bias);
    free(x);
    free(ref);
}

static void test_conv2d(void **state)
{
    (void)state;
    const int64_t one[2] = {1, 1}, zero[2] = {0, 0};
    /* plain 3x3 pad 1 */
    conv_case(2, 2, 3, 5, 1, (int64_t[]){9, 7}, (int64_t[]){3, 3}, one, one, one, 0, 0);
    /* strides, asymmetric kernel, dilation, fused relu */
    conv_case(2, 1, 4, 6, 1, (int64_t[]){11, 10}, (int64_t[]){3, 2}, (int64_t[]){2, 3},
              (int64_t[]){2, 1}, (int64_t[]){2, 1}, 0, 1);
    /* groups */
    conv_case(2, 1, 6, 4, 2, (int64_t[]){8, 8}, (int64_t[]){3, 3}, one, one, one, 0, 0);
    /* depthwise, stride 2 */
    conv_case(2, 2, 5, 5, 5, (int64_t[]){9, 9}, (int64_t[]){3, 3}, (int64_t[]){2, 2}, one, one, 0, 1);
    /* depthwise with dilation 2, 5x5 */
    conv_case(2, 1, 3, 3, 3, (int64_t[]){12, 10}, (int64_t[]){5, 5}, one, (int64_t[]){4, 4},
              (int64_t[]){2, 2}, 0, 0);
    /* 1x1 pointwise */
    conv_case(2, 2, 8, 3, 1, (int64_t[]){5, 6}, one, one, zero, one, 0, 0);
    /* 1x1 on a plane of whole vectors (read in place by the direct kernel) */
    conv_case(2, 2, 5, 9, 1, (int64_t[]){4, 6}, one, one, zero, one, 0, 1);
    /* rows wider than a tile and not a multiple of 8, oc not a multiple of 4, stride 3 in x */
    conv_case(2, 1, 3, 7, 1, (int64_t[]){6, 37}, (int64_t[]){3, 5}, (int64_t[]){1, 3},
              (int64_t[]){1, 2}, one, 0, 1);
    /* groups of 2 outputs each */
    conv_case(2, 2, 4, 4, 2, (int64_t[]){7, 19}, (int64_t[]){3, 3}, one, one, one, 0, 0);
}

static void test_conv3d_and_transposed(void **state)
{
    (void)state;
    const int64_t one3[3] = {1, 1, 1};
    conv_case(3, 1, 2, 4, 1, (int64_t[]){5, 6, 7}, (int64_t[]){3, 3, 3}, (int64_t[]){1, 2, 1}, one3,
              one3, 0, 1);
    conv_case(3, 1, 4, 4, 2, (int64_t[]){6, 6, 6}, (int64_t[]){3, 3, 3}, one3, (int64_t[]){2, 2, 2},
              (int64_t[]){2, 2, 2}, 0, 0);
    /* transposed 2D: stride 2 kernel 2, and stride 2 kernel 3 pad 1, grouped */
    conv_case(2, 2, 4, 3, 1, (int64_t[]){5, 4}, (int64_t[]){2, 2}, (int64_t[]){2, 2},
              (int64_t[]){0, 0}, (int64_t[]){1, 1}, 1, 0);
    conv_case(2, 1, 4, 6, 2, (int64_t[]){4, 5}, (int64_t[]){3, 3}, (int64_t[]){2, 2},
              (int64_t[]){1, 1}, (int64_t[]){1, 1}, 1, 1);
    conv_case(3, 1, 2, 2, 1, (int64_t[]){3, 3, 3}, (int64_t[]){2, 2, 2}, (int64_t[]){2, 2, 2},
              (int64_t[]){0, 0, 0}, one3, 1, 0);
}

/* ---- elementwise broadcasting ---- */

static void test_broadcast(void **state)
{
    (void)state;
    const char *ops[4] = {"Add", "Sub", "Mul", "Div"};
    for (int o = 0; o < 4; o++) {
        Builder b = {{0}, 13};
        float bv[3] = {1.5f, -2.0f, 4.0f};
        int64_t bd[2] = {3, 1};
        tensor_f32(&b.g, 5, "b", 2, bd, bv);
        node(&b, ops[o], "x,b", "y", 0, NULL);
        value_info(&b, 11, "x", 3, (int64_t[]){2, 1, 4});
        value_info(&b, 12, "y", 0, NULL);
        RnError err = {0};
        RnNnModel *m = build(&b, &err);
        assert_non_null(m);
        float *x = randv(8, 3);
        int ond;
        int64_t osh[8];
        float *y = run1(m, 3, (int64_t[]){2, 1, 4}, x, &ond, osh);
        assert_int_equal(ond, 3);
        assert_int_equal(osh[0], 2);
        assert_int_equal(osh[1], 3);
        assert_int_equal(osh[2], 4);
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++)
                for (int k = 0; k < 4; k++) {
                    float a = x[i * 4 + k], c = bv[j];
                    float want = o == 0 ? a + c : o == 1 ? a - c : o == 2 ? a * c : a / c;
                    near(&y[(i * 3 + j) * 4 + k], &want, 1);
                }
        free(x);
        free(y);
        rn_nn_model_destroy(m);
    }
    /* shapes that do not broadcast: the error names the node */
    Builder b = {{0}, 13};
    float bv[3] = {1, 2, 3};
    tensor_f32(&b.g, 5, "b", 1, (int64_t[]){3}, bv);
    node(&b, "Add", "x,b", "y", 0, NULL);
    value_info(&b, 11, "x", 2, (int64_t[]){2, 4});
    value_info(&b, 12, "y", 0, NULL);
    RnError err = {0};
    RnNnModel *m = build(&b, &err);
    assert_non_null(m);
    float x[8] = {0};
    RnNnTensor in = {.name = "x", .ndim = 2, .shape = {2, 4}, .data = x};
    RnNnTensor out = {0};
    assert_int_equal(rn_nn_run(m, &in, 1, &out, 1, &err), RN_ERR_INVALID);
    assert_non_null(strstr(err.message, "node_under_test"));
    assert_non_null(strstr(err.message, "broadcast"));
    rn_nn_model_destroy(m);
}

/* ---- Gemm and batched MatMul ---- */

static void test_gemm_matmul(void **state)
{
    (void)state;
    /* Gemm transA transB alpha beta with C of shape [N] */
    Builder b = {{0}, 13};
    float *bw = randv(5 * 3, 4), cv[5] = {1, 2, 3, 4, 5};
    tensor_f32(&b.g, 5, "B", 2, (int64_t[]){5, 3}, bw);
    tensor_f32(&b.g, 5, "C", 1, (int64_t[]){5}, cv);
    Attr at[4] = {AI("transA", 1), AI("transB", 1), AF("alpha", 0.5f), AF("beta", 2.0f)};
    node(&b, "Gemm", "x,B,C", "y", 4, at);
    value_info(&b, 11, "x", 2, (int64_t[]){3, 2});
    value_info(&b, 12, "y", 0, NULL);
    RnError err = {0};
    RnNnModel *m = build(&b, &err);
    assert_non_null(m);
    float *x = randv(6, 5);
    int ond;
    int64_t osh[8];
    float *y = run1(m, 2, (int64_t[]){3, 2}, x, &ond, osh);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 5; j++) {
            float s = 0;
            for (int k = 0; k < 3; k++)
                s += x[k * 2 + i] * bw[j * 3 + k];
            float want = 0.5f * s + 2.0f * cv[j];
            near(&y[i * 5 + j], &want, 1);
        }
    free(x);
    free(y);
    free(bw);
    rn_nn_model_destroy(m);

    /* MatMul [2,1,3,4] x [3,4,5] -> [2,3,3,5] */
    Builder c = {{0}, 13};
    float *w = randv(3 * 4 * 5, 6);
    tensor_f32(&c.g, 5, "w", 3, (int64_t[]){3, 4, 5}, w);
    node(&c, "MatMul", "x,w", "y", 0, NULL);
    value_info(&c, 11, "x", 4, (int64_t[]){2, 1, 3, 4});
    value_info(&c, 12, "y", 0, NULL);
    m = build(&c, &err);
    assert_non_null(m);
    x = randv(2 * 3 * 4, 7);
    y = run1(m, 4, (int64_t[]){2, 1, 3, 4}, x, &ond, osh);
    assert_int_equal(ond, 4);
    assert_int_equal(osh[0], 2);
    assert_int_equal(osh[1], 3);
    for (int a = 0; a < 2; a++)
        for (int bb = 0; bb < 3; bb++)
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 5; j++) {
                    float s = 0;
                    for (int k = 0; k < 4; k++)
                        s += x[(a * 3 + i) * 4 + k] * w[(bb * 4 + k) * 5 + j];
                    near(&y[((a * 3 + bb) * 3 + i) * 5 + j], &s, 1);
                }
    free(x);
    free(y);
    free(w);
    rn_nn_model_destroy(m);
}

/* ---- pooling ---- */

static void test_pooling(void **state)
{
    (void)state;
    float x[25];
    for (int i = 0; i < 25; i++)
        x[i] = (float)i;
    /* AveragePool 3x3 stride 2 pad 1, count_include_pad, ceil_mode */
    Builder b = {{0}, 13};
    Attr at[5] = {AINTS("kernel_shape", 3, 3), AINTS("strides", 2, 2), AINTS("pads", 1, 1, 1, 1),
                  AI("count_include_pad", 1), AI("ceil_mode", 1)};
    node(&b, "AveragePool", "x", "y", 5, at);
    value_info(&b, 11, "x", 4, (int64_t[]){1, 1, 5, 5});
    value_info(&b, 12, "y", 0, NULL);
    RnError err = {0};
    RnNnModel *m = build(&b, &err);
    assert_non_null(m);
    int ond;
    int64_t osh[8];
    float *y = run1(m, 4, (int64_t[]){1, 1, 5, 5}, x, &ond, osh);
    assert_int_equal(osh[2], 3);
    assert_int_equal(osh[3], 3);
    /* top-left window covers rows -1..1, cols -1..1: (0+1+5+6)/9 */
    float want0 = 12.0f / 9.0f;
    near(&y[0], &want0, 1);
    /* centre window rows 1..3 cols 1..3 */
    float want4 = (6 + 7 + 8 + 11 + 12 + 13 + 16 + 17 + 18) / 9.0f;
    near(&y[4], &want4, 1);
    free(y);
    rn_nn_model_destroy(m);
    /* MaxPool 2x2 stride 2 with ceil_mode on 5x5 -> 3x3, last window partial */
    Builder c = {{0}, 13};
    Attr mt[3] = {AINTS("kernel_shape", 2, 2), AINTS("strides", 2, 2), AI("ceil_mode", 1)};
    node(&c, "MaxPool", "x", "y", 3, mt);
    value_info(&c, 11, "x", 4, (int64_t[]){1, 1, 5, 5});
    value_info(&c, 12, "y", 0, NULL);
    m = build(&c, &err);
    assert_non_null(m);
    y = run1(m, 4, (int64_t[]){1, 1, 5, 5}, x, &ond, osh);
    float want[9] = {6, 8, 9, 16, 18, 19, 21, 23, 24};
    near(y, want, 9);
    free(y);
    rn_nn_model_destroy(m);
}

/* ---- data movement ---- */

static RnNnModel *one_node(int opset, const char *op, const char *ins, int n_attrs, const Attr *at,
                           const int64_t *xshape, int xnd, void (*inits)(Builder *))
{
    Builder b = {{0}, opset};
    if (inits)
        inits(&b);
    node(&b, op, ins, "y", n_attrs, at);
    value_info(&b, 11, "x", xnd, xshape);
    value_info(&b, 12, "y", 0, NULL);
    RnError err = {0};
    RnNnModel *m = build(&b, &err);
    if (!m)
        fail_msg("%s", err.message);
    return m;
}

static void init_reshape(Builder *b) { tensor_i64(&b->g, 5, "s", 3, (const int64_t[]){0, -1, 2}); }
static void init_slice(Builder *b)
{
    tensor_i64(&b->g, 5, "st", 2, (const int64_t[]){-1, 1});
    tensor_i64(&b->g, 5, "en", 2, (const int64_t[]){-100, 100});
    tensor_i64(&b->g, 5, "ax", 2, (const int64_t[]){1, 0});
    tensor_i64(&b->g, 5, "sp", 2, (const int64_t[]){-2, 1});
}
static void init_pad(Builder *b) { tensor_i64(&b->g, 5, "p", 4, (const int64_t[]){0, 2, 0, 1}); }
static void init_axes(Builder *b) { tensor_i64(&b->g, 5, "a", 2, (const int64_t[]){0, -1}); }
static void init_resize(Builder *b)
{
    float s[4] = {1, 1, 2, 2};
    tensor_f32(&b->g, 5, "sc", 1, (const int64_t[]){4}, s);
}

static void test_data_movement(void **state)
{
    (void)state;
    float x[12];
    for (int i = 0; i < 12; i++)
        x[i] = (float)i;
    int ond;
    int64_t osh[8];
    /* Reshape with 0 and -1 */
    RnNnModel *m = one_node(13, "Reshape", "x,s", 0, NULL, (int64_t[]){2, 3, 2}, 3, init_reshape);
    float *y = run1(m, 3, (int64_t[]){2, 3, 2}, x, &ond, osh);
    assert_int_equal(ond, 3);
    assert_int_equal(osh[0], 2);
    assert_int_equal(osh[1], 3);
    assert_int_equal(osh[2], 2);
    near(y, x, 12);
    free(y);
    rn_nn_model_destroy(m);
    /* Transpose [3,4] -> [4,3] */
    m = one_node(13, "Transpose", "x", 1, (Attr[]){AINTS("perm", 1, 0)}, (int64_t[]){3, 4}, 2, NULL);
    y = run1(m, 2, (int64_t[]){3, 4}, x, &ond, osh);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++)
            assert_true(y[i * 3 + j] == x[j * 4 + i]);
    free(y);
    rn_nn_model_destroy(m);
    /* Slice [3,4]: axis 1 from -1 backwards step -2, axis 0 from 1 */
    m = one_node(13, "Slice", "x,st,en,ax,sp", 0, NULL, (int64_t[]){3, 4}, 2, init_slice);
    y = run1(m, 2, (int64_t[]){3, 4}, x, &ond, osh);
    assert_int_equal(osh[0], 2);
    assert_int_equal(osh[1], 2);
    float want_s[4] = {7, 5, 11, 9};
    near(y, want_s, 4);
    free(y);
    rn_nn_model_destroy(m);
    /* Pad reflect and edge on [2,3]: 2 before, 1 after on axis 1 */
    const char *modes[2] = {"reflect", "edge"};
    const float want_p[2][12] = {{2, 1, 0, 1, 2, 1, 5, 4, 3, 4, 5, 4},
                                 {0, 0, 0, 1, 2, 2, 3, 3, 3, 4, 5, 5}};
    for (int k = 0; k < 2; k++) {
        m = one_node(13, "Pad", "x,p", 1, (Attr[]){AS("mode", modes[k])}, (int64_t[]){2, 3}, 2,
                     init_pad);
        y = run1(m, 2, (int64_t[]){2, 3}, x, &ond, osh);
        assert_int_equal(osh[1], 6);
        near(y, want_p[k], 12);
        free(y);
        rn_nn_model_destroy(m);
    }
    /* Unsqueeze: opset 13 input form and opset 11 attribute form */
    m = one_node(13, "Unsqueeze", "x,a", 0, NULL, (int64_t[]){3, 4}, 2, init_axes);
    y = run1(m, 2, (int64_t[]){3, 4}, x, &ond, osh);
    assert_int_equal(ond, 4);
    assert_int_equal(osh[0], 1);
    assert_int_equal(osh[3], 1);
    free(y);
    rn_nn_model_destroy(m);
    m = one_node(11, "Squeeze", "x", 1, (Attr[]){AINTS("axes", 0, 2)}, (int64_t[]){1, 12, 1}, 3,
                 NULL);
    y = run1(m, 3, (int64_t[]){1, 12, 1}, x, &ond, osh);
    assert_int_equal(ond, 1);
    assert_int_equal(osh[0], 12);
    free(y);
    rn_nn_model_destroy(m);
    /* Softmax along the last axis sums to 1 */
    m = one_node(13, "Softmax", "x", 0, NULL, (int64_t[]){3, 4}, 2, NULL);
    y = run1(m, 2, (int64_t[]){3, 4}, x, &ond, osh);
    for (int i = 0; i < 3; i++) {
        float s = y[i * 4] + y[i * 4 + 1] + y[i * 4 + 2] + y[i * 4 + 3], one = 1.0f;
        near(&s, &one, 1);
        assert_true(y[i * 4 + 3] > y[i * 4]);
    }
    free(y);
    rn_nn_model_destroy(m);
    /* Resize: nearest asymmetric floor, and linear align_corners */
    m = one_node(13, "Resize", "x,_,sc", 3,
                 (Attr[]){AS("mode", "nearest"), AS("coordinate_transformation_mode", "asymmetric"),
                          AS("nearest_mode", "floor")},
                 (int64_t[]){1, 1, 2, 2}, 4, init_resize);
    y = run1(m, 4, (int64_t[]){1, 1, 2, 2}, x, &ond, osh);
    float want_n[16] = {0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3};
    near(y, want_n, 16);
    free(y);
    rn_nn_model_destroy(m);
    m = one_node(13, "Resize", "x,_,sc", 2,
                 (Attr[]){AS("mode", "linear"), AS("coordinate_transformation_mode", "align_corners")},
                 (int64_t[]){1, 1, 2, 2}, 4, init_resize);
    y = run1(m, 4, (int64_t[]){1, 1, 2, 2}, x, &ond, osh);
    float want_l[4] = {0, 1.0f / 3, 2.0f / 3, 1};
    near(y, want_l, 4);
    float corner = 3;
    near(&y[15], &corner, 1);
    free(y);
    rn_nn_model_destroy(m);
}

/* ---- errors ---- */

static uint8_t *small_model(size_t *len, const char *op, int opset)
{
    Builder b = {{0}, opset};
    float w[4] = {1, 2, 3, 4};
    tensor_f32(&b.g, 5, "w", 2, (int64_t[]){2, 2}, w);
    node(&b, "MatMul", "x,w", "h", 0, NULL);
    node(&b, op, "h", "y", 0, NULL);
    value_info(&b, 11, "x", 2, (int64_t[]){-1, 2});
    value_info(&b, 12, "y", 0, NULL);
    return finish(&b, len);
}

static void test_errors(void **state)
{
    (void)state;
    RnError err = {0};
    size_t len;
    uint8_t *d = small_model(&len, "Relu", 13);
    /* RN_NN_BACKEND: a value that is not a backend is refused, by name */
    setenv("RN_NN_BACKEND", "gpu", 1);
    assert_null(rn_nn_model_load_memory(d, len, &err));
    assert_int_equal(err.code, RN_ERR_INVALID);
    assert_non_null(strstr(err.message, "RN_NN_BACKEND=gpu"));
    static const char *const names[] = {"native", "dnnl", "auto", ""};
    static const int backends[] = {NN_BACKEND_NATIVE, NN_BACKEND_DNNL, NN_BACKEND_AUTO,
                                   NN_BACKEND_AUTO};
    for (int i = 0; i < 4; i++) {
        setenv("RN_NN_BACKEND", names[i], 1);
        RnNnModel *mb = rn_nn_model_load_memory(d, len, &err);
        assert_non_null(mb);
        assert_int_equal(mb->conv_backend, backends[i]);
        rn_nn_model_destroy(mb);
    }
    unsetenv("RN_NN_BACKEND");
    RnNnModel *m = rn_nn_model_load_memory(d, len, &err);
    assert_non_null(m);
    /* wrong input shape: rank and fixed dimension */
    float x[6] = {0};
    RnNnTensor in = {.name = "x", .ndim = 2, .shape = {3, 3}, .data = x};
    RnNnTensor out = {0};
    assert_int_equal(rn_nn_run(m, &in, 1, &out, 1, &err), RN_ERR_INVALID);
    assert_non_null(strstr(err.message, "'x'"));
    in.ndim = 3;
    in.shape[0] = 1;
    in.shape[1] = 3;
    in.shape[2] = 2;
    assert_int_equal(rn_nn_run(m, &in, 1, &out, 1, &err), RN_ERR_INVALID);
    /* missing and unknown inputs */
    assert_int_equal(rn_nn_run(m, &in, 0, &out, 1, &err), RN_ERR_INVALID);
    in.name = "nope";
    assert_int_equal(rn_nn_run(m, &in, 1, &out, 1, &err), RN_ERR_INVALID);
    rn_nn_model_destroy(m);
    /* every truncation fails cleanly */
    for (size_t cut = 0; cut < len; cut++) {
        RnNnModel *t = rn_nn_model_load_memory(d, cut, &err);
        if (t) { /* a cut on a field boundary can leave a valid but different model */
            rn_nn_model_destroy(t);
            continue;
        }
        assert_true(err.code == RN_ERR_TRUNCATED || err.code == RN_ERR_PARSE ||
                    err.code == RN_ERR_UNSUPPORTED);
    }
    /* corrupted bytes never crash */
    for (size_t i = 0; i < len; i++) {
        uint8_t save = d[i];
        d[i] ^= 0xff;
        RnNnModel *t = rn_nn_model_load_memory(d, len, &err);
        rn_nn_model_destroy(t);
        d[i] = save;
    }
    free(d);
    /* unknown operator, named with its node */
    d = small_model(&len, "FancyAttention", 13);
    assert_null(rn_nn_model_load_memory(d, len, &err));
    assert_int_equal(err.code, RN_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.message, "FancyAttention"));
    assert_non_null(strstr(err.message, "node_under_test"));
    free(d);
    /* unsupported opset */
    d = small_model(&len, "Relu", 9);
    assert_null(rn_nn_model_load_memory(d, len, &err));
    assert_int_equal(err.code, RN_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.message, "opset 9"));
    free(d);
    /* not a model at all */
    assert_null(rn_nn_model_load_memory((const uint8_t *)"hello world", 11, &err));
    assert_null(rn_nn_model_load_memory(NULL, 0, &err));
    assert_null(rn_nn_model_load_file("/nonexistent/model.onnx", &err));
    assert_true(err.code == RN_ERR_IO || err.code == RN_ERR_NOT_FOUND);
    assert_non_null(strstr(err.message, "/nonexistent/model.onnx"));
    rn_nn_model_destroy(NULL);
}

static void test_npy(void **state)
{
    (void)state;
    char path[] = "/tmp/rn_nn_npy_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    float v[6] = {1, -2, 3.5f, 4, 5, 6};
    int64_t shape[3] = {1, 2, 3};
    RnError err = {0};
    assert_int_equal(rn_nn_npy_write_file(path, 3, shape, v, &err), 0);
    int nd;
    int64_t sh[RN_NN_MAX_DIMS];
    float *r = rn_nn_npy_read_file(path, &nd, sh, &err);
    assert_non_null(r);
    assert_int_equal(nd, 3);
    assert_memory_equal(sh, shape, sizeof shape);
    assert_memory_equal(r, v, sizeof v);
    free(r);
    unlink(path);
    /* scalar, v2 header */
    const char dict[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (), }\n";
    uint8_t buf[128];
    memcpy(buf, "\x93NUMPY\x02\x00", 8);
    rn_wr32le(buf + 8, (uint32_t)(sizeof dict - 1));
    memcpy(buf + 12, dict, sizeof dict - 1);
    size_t hl = 12 + sizeof dict - 1;
    memcpy(buf + hl, v, 4);
    r = rn_nn_npy_parse(buf, hl + 4, &nd, sh, &err);
    if (!r)
        fail_msg("%s", err.message);
    assert_int_equal(nd, 0);
    assert_true(r[0] == 1.0f);
    free(r);
    /* the data is one float short */
    assert_null(rn_nn_npy_parse(buf, hl + 3, &nd, sh, &err));
    assert_int_equal(err.code, RN_ERR_TRUNCATED);
    /* wrong dtype, truncated data, bad magic */
    const char f8[] = "\x93NUMPY\x01\x00\x3c\x00{'descr': '<f8', 'fortran_order': False, 'shape': "
                      "(2,), }         \n";
    assert_null(rn_nn_npy_parse((const uint8_t *)f8, sizeof f8 - 1, &nd, sh, &err));
    assert_int_equal(err.code, RN_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.message, "<f8"));
    assert_null(rn_nn_npy_parse((const uint8_t *)"NUMPY", 5, &nd, sh, &err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d),       cmocka_unit_test(test_conv3d_and_transposed),
        cmocka_unit_test(test_broadcast),    cmocka_unit_test(test_gemm_matmul),
        cmocka_unit_test(test_pooling),      cmocka_unit_test(test_data_movement),
        cmocka_unit_test(test_errors),       cmocka_unit_test(test_npy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
