/*
 * Optional oneDNN (Debian's libdnnl2) backend for Conv. Like OpenBLAS
 * (blas.c), oneDNN is not linked into radnode: libdnnl.so.2 is opened with
 * dlopen through rn_lazy_bind the first time a model plans a convolution that
 * the backend rule gives to oneDNN, and radnode runs unchanged (on the direct
 * AVX2 kernel or im2col) where the library is absent. Only the headers
 * (libdnnl-dev) are needed at build time; without them this file compiles to
 * stubs that say so.
 *
 * Why: measured with bench/bench_conv_dnnl.c (numbers in docs/nn.md,
 * "OpenBLAS or oneDNN"), oneDNN's AVX-512 convolutions on blocked layouts
 * (nChw16c) beat the 4x3 AVX2 register tile of conv_direct.c on layers with
 * 16 or more channels and on narrow planes, at batch 1 as at 16, reorders
 * included; the direct kernel stays faster on first layers (1 to 8 channels),
 * wide thin layers and most 1x1 convs. kernels.c's nn_conv_prefers_dnnl holds
 * the rule.
 *
 * How: one primitive per Conv node and plan (input shape and thread count),
 * made at its first run: the convolution with `format_tag any` for source,
 * weights and destination, so oneDNN picks its fastest layout, a reorder of the
 * NCHW input into that layout and one back into NCHW for the output (skipped
 * when a layout is already plain), and the weights reordered once when the
 * primitive is made. Bias and the fused activation (ReLU, LeakyReLU, Clip) run
 * in oneDNN's epilogue (an eltwise post-op).
 *
 * Determinism: oneDNN's forward convolution sums each output in a fixed order
 * chosen when the primitive is made for a thread count (no atomics), so
 * reruns of a plan are bit-identical; they differ from the native kernel only
 * by float rounding (the parity tests hold both to the same references).
 *
 * Threads: libdnnl2 in Debian uses OpenMP (libgomp); the calling thread's
 * omp_set_num_threads gets the model's thread count before each run.
 */
#include "nn/nn_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_include)
#if __has_include(<dnnl.h>)
#define NN_HAVE_DNNL_H 1
#endif
#endif

#ifdef NN_HAVE_DNNL_H
#include <dnnl.h>

/* Bound from libdnnl.so.2 on first use; process-wide, written once under the
 * lazy-binding lock and read-only afterwards (as blas.c's handles). */
static struct {
    dnnl_status_t (*engine_create)(dnnl_engine_t *, dnnl_engine_kind_t, size_t);
    dnnl_status_t (*stream_create)(dnnl_stream_t *, dnnl_engine_t, unsigned);
    dnnl_status_t (*stream_destroy)(dnnl_stream_t);
    dnnl_status_t (*stream_wait)(dnnl_stream_t);
    dnnl_status_t (*md_init_by_tag)(dnnl_memory_desc_t *, int, const dnnl_dims_t, dnnl_data_type_t,
                                    dnnl_format_tag_t);
    int (*md_equal)(const dnnl_memory_desc_t *, const dnnl_memory_desc_t *);
    dnnl_status_t (*conv_desc_init)(dnnl_convolution_desc_t *, dnnl_prop_kind_t, dnnl_alg_kind_t,
                                    const dnnl_memory_desc_t *, const dnnl_memory_desc_t *,
                                    const dnnl_memory_desc_t *, const dnnl_memory_desc_t *,
                                    const dnnl_dims_t, const dnnl_dims_t, const dnnl_dims_t,
                                    const dnnl_dims_t);
    dnnl_status_t (*pd_create)(dnnl_primitive_desc_t *, const_dnnl_op_desc_t,
                               const_dnnl_primitive_attr_t, dnnl_engine_t,
                               const_dnnl_primitive_desc_t);
    const dnnl_memory_desc_t *(*pd_query_md)(const_dnnl_primitive_desc_t, dnnl_query_t, int);
    dnnl_status_t (*pd_query)(const_dnnl_primitive_desc_t, dnnl_query_t, int, void *);
    dnnl_status_t (*pd_destroy)(dnnl_primitive_desc_t);
    dnnl_status_t (*reorder_pd_create)(dnnl_primitive_desc_t *, const dnnl_memory_desc_t *,
                                       dnnl_engine_t, const dnnl_memory_desc_t *, dnnl_engine_t,
                                       const_dnnl_primitive_attr_t);
    dnnl_status_t (*prim_create)(dnnl_primitive_t *, const_dnnl_primitive_desc_t);
    dnnl_status_t (*prim_execute)(const_dnnl_primitive_t, dnnl_stream_t, int,
                                  const dnnl_exec_arg_t *);
    dnnl_status_t (*prim_destroy)(dnnl_primitive_t);
    dnnl_status_t (*mem_create)(dnnl_memory_t *, const dnnl_memory_desc_t *, dnnl_engine_t, void *);
    dnnl_status_t (*mem_set_handle)(dnnl_memory_t, void *);
    dnnl_status_t (*mem_destroy)(dnnl_memory_t);
    dnnl_status_t (*attr_create)(dnnl_primitive_attr_t *);
    dnnl_status_t (*attr_destroy)(dnnl_primitive_attr_t);
    dnnl_status_t (*attr_set_post_ops)(dnnl_primitive_attr_t, const_dnnl_post_ops_t);
    dnnl_status_t (*po_create)(dnnl_post_ops_t *);
    dnnl_status_t (*po_destroy)(dnnl_post_ops_t);
    dnnl_status_t (*po_append_eltwise)(dnnl_post_ops_t, float, dnnl_alg_kind_t, float, float);
    const dnnl_version_t *(*version)(void);
    void (*omp_set_num_threads)(int); /* from libgomp, a dependency of libdnnl */
} D;

static const char *const dnnl_names[] = {
    "dnnl_engine_create",
    "dnnl_stream_create",
    "dnnl_stream_destroy",
    "dnnl_stream_wait",
    "dnnl_memory_desc_init_by_tag",
    "dnnl_memory_desc_equal",
    "dnnl_dilated_convolution_forward_desc_init",
    "dnnl_primitive_desc_create",
    "dnnl_primitive_desc_query_md",
    "dnnl_primitive_desc_query",
    "dnnl_primitive_desc_destroy",
    "dnnl_reorder_primitive_desc_create",
    "dnnl_primitive_create",
    "dnnl_primitive_execute",
    "dnnl_primitive_destroy",
    "dnnl_memory_create",
    "dnnl_memory_set_data_handle",
    "dnnl_memory_destroy",
    "dnnl_primitive_attr_create",
    "dnnl_primitive_attr_destroy",
    "dnnl_primitive_attr_set_post_ops",
    "dnnl_post_ops_create",
    "dnnl_post_ops_destroy",
    "dnnl_post_ops_append_eltwise",
    "dnnl_version",
    "omp_set_num_threads",
};
static void *const dnnl_slots[] = {
    &D.engine_create,  &D.stream_create,       &D.stream_destroy,
    &D.stream_wait,    &D.md_init_by_tag,      &D.md_equal,
    &D.conv_desc_init, &D.pd_create,           &D.pd_query_md,
    &D.pd_query,       &D.pd_destroy,          &D.reorder_pd_create,
    &D.prim_create,    &D.prim_execute,        &D.prim_destroy,
    &D.mem_create,     &D.mem_set_handle,      &D.mem_destroy,
    &D.attr_create,    &D.attr_destroy,        &D.attr_set_post_ops,
    &D.po_create,      &D.po_destroy,          &D.po_append_eltwise,
    &D.version,        &D.omp_set_num_threads,
};
_Static_assert(sizeof dnnl_names / sizeof dnnl_names[0] == sizeof dnnl_slots / sizeof dnnl_slots[0],
               "one slot per name");

static RnLazyLib dnnl_lib = {
    "libdnnl.so.2", dnnl_names, dnnl_slots, sizeof dnnl_names / sizeof dnnl_names[0],
    false,          false,      {0}};
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static dnnl_engine_t engine;
static char dnnl_desc[320];

static void engine_open(void)
{
    /* libgomp's workers spin after each parallel region unless told otherwise; beside the
     * model's own worker pool, on a machine with as many busy threads as cores, a spinning
     * worker holds the core the other side needs and a 2-thread run took 10 to 50 times
     * longer (bench/bench_conv_dnnl.c, 2 cores under load). Passive waiting unless the
     * operator set a policy; libgomp reads it when libdnnl.so.2 loads it, just below, and
     * this runs once, on the first convolution given to oneDNN. */
    setenv("OMP_WAIT_POLICY", "passive", 0);
    if (rn_lazy_bind(&dnnl_lib, NULL) != 0) {
        rn_format(dnnl_desc, sizeof dnnl_desc, "not used (%s; install libdnnl2)", dnnl_lib.problem);
        return;
    }
    if (D.engine_create(&engine, dnnl_cpu, 0) != dnnl_success) {
        engine = NULL;
        rn_format(dnnl_desc, sizeof dnnl_desc, "not used (libdnnl.so.2: no CPU engine)");
        return;
    }
    const dnnl_version_t *v = D.version();
    rn_format(dnnl_desc, sizeof dnnl_desc, "oneDNN %d.%d.%d (libdnnl.so.2)", v->major, v->minor,
              v->patch);
}

const char *nn_dnnl_backend(void)
{
    pthread_once(&engine_once, engine_open);
    return dnnl_desc;
}

/* OpenMP threads for a primitive. With AddressSanitizer (GCC 12's runtime, glibc 2.36),
 * LeakSanitizer's exit-time scan reads a bogus dynamic-TLS range of libgomp's worker threads
 * and dies ("Tracer caught signal 11", google/sanitizers#1322 and #1342), failing every
 * sanitizer-built process that ran a conv on 2 oneDNN threads; such builds run oneDNN on the
 * calling thread only (the same code, without worker threads). */
static int omp_threads(int threads)
{
#if defined(__SANITIZE_ADDRESS__)
    (void)threads;
    return 1;
#else
    return threads;
#endif
}

struct NnDnnlConv {
    int threads;
    dnnl_stream_t stream;
    dnnl_primitive_t conv, src_reorder, dst_reorder;
    dnnl_memory_t user_src, src, weights, bias, dst, user_dst;
    char impl[64];
};

void nn_dnnl_conv_destroy(NnDnnlConv *c)
{
    if (!c)
        return;
    dnnl_primitive_t prims[] = {c->conv, c->src_reorder, c->dst_reorder};
    for (size_t i = 0; i < 3; i++)
        if (prims[i])
            D.prim_destroy(prims[i]);
    dnnl_memory_t mems[] = {c->user_src, c->src, c->weights, c->bias, c->dst, c->user_dst};
    for (size_t i = 0; i < 6; i++)
        if (mems[i])
            D.mem_destroy(mems[i]);
    if (c->stream)
        D.stream_destroy(c->stream);
    free(c);
}

int nn_dnnl_conv_threads(const NnDnnlConv *c)
{
    return c ? c->threads : 0;
}
const char *nn_dnnl_conv_impl(const NnDnnlConv *c)
{
    return c ? c->impl : "";
}

/* A reorder primitive from `from` to `to`, or NULL (and 0) when they are the same layout. */
static int make_reorder(const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to,
                        dnnl_primitive_t *out)
{
    *out = NULL;
    if (D.md_equal(from, to))
        return 0;
    dnnl_primitive_desc_t pd;
    if (D.reorder_pd_create(&pd, from, engine, to, engine, NULL) != dnnl_success)
        return -1;
    dnnl_status_t s = D.prim_create(out, pd);
    D.pd_destroy(pd);
    return s == dnnl_success ? 0 : -1;
}

#define DN_CHECK(call, what)                                                                       \
    do {                                                                                           \
        if ((call) != dnnl_success) {                                                              \
            rn_error_set(err, RN_ERR_UNSUPPORTED, "nn: oneDNN %s failed", what);                   \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

NnDnnlConv *nn_dnnl_conv_create(const NnConvGeom *g, int nsp, const float *w, const float *b,
                                NnAct act, float a, float bb, int threads, RnError *err)
{
    pthread_once(&engine_once, engine_open);
    if (!engine) {
        rn_error_set(err, RN_ERR_UNSUPPORTED, "nn: oneDNN %s", dnnl_desc);
        return NULL;
    }
    if (nsp < 1 || nsp > 3) {
        rn_error_set(err, RN_ERR_UNSUPPORTED, "nn: oneDNN conv with %d spatial dims", nsp);
        return NULL;
    }
    static const dnnl_format_tag_t act_tag[] = {0, dnnl_ncw, dnnl_nchw, dnnl_ncdhw};
    static const dnnl_format_tag_t w_tag[] = {0, dnnl_oiw, dnnl_oihw, dnnl_oidhw};
    static const dnnl_format_tag_t gw_tag[] = {0, dnnl_goiw, dnnl_goihw, dnnl_goidhw};
    NnDnnlConv *c = calloc(1, sizeof *c);
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_t wre = NULL;
    dnnl_memory_t user_w = NULL;
    if (!c) {
        rn_error_set(err, RN_ERR_NOMEM, "nn: out of memory");
        return NULL;
    }
    c->threads = threads;
    int off = 3 - nsp, nd = nsp + 2;
    dnnl_dims_t sd = {g->n, g->c}, dd = {g->n, g->oc}, wd, bd = {g->oc};
    dnnl_dims_t st, dl, pl, pr;
    int wnd;
    if (g->group > 1) {
        wnd = nd + 1;
        wd[0] = g->group, wd[1] = g->oc / g->group, wd[2] = g->c / g->group;
    } else {
        wnd = nd;
        wd[0] = g->oc, wd[1] = g->c;
    }
    for (int i = 0; i < nsp; i++) {
        sd[2 + i] = g->in[off + i];
        dd[2 + i] = g->out[off + i];
        wd[wnd - nsp + i] = g->k[off + i];
        st[i] = g->stride[off + i];
        dl[i] = g->dil[off + i] - 1; /* oneDNN counts dilation from 0 */
        pl[i] = g->pad[off + i];
        pr[i] = g->pad_end[off + i];
    }
    dnnl_memory_desc_t src_u, dst_u, w_u, b_md, src_any, dst_any, w_any;
    DN_CHECK(D.md_init_by_tag(&src_u, nd, sd, dnnl_f32, act_tag[nsp]), "source descriptor");
    DN_CHECK(D.md_init_by_tag(&dst_u, nd, dd, dnnl_f32, act_tag[nsp]), "output descriptor");
    DN_CHECK(D.md_init_by_tag(&w_u, wnd, wd, dnnl_f32, g->group > 1 ? gw_tag[nsp] : w_tag[nsp]),
             "weights descriptor");
    DN_CHECK(D.md_init_by_tag(&b_md, 1, bd, dnnl_f32, dnnl_a), "bias descriptor");
    DN_CHECK(D.md_init_by_tag(&src_any, nd, sd, dnnl_f32, dnnl_format_tag_any), "source");
    DN_CHECK(D.md_init_by_tag(&dst_any, nd, dd, dnnl_f32, dnnl_format_tag_any), "output");
    DN_CHECK(D.md_init_by_tag(&w_any, wnd, wd, dnnl_f32, dnnl_format_tag_any), "weights");
    dnnl_convolution_desc_t cd;
    DN_CHECK(D.conv_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &src_any,
                              &w_any, b ? &b_md : NULL, &dst_any, st, dl, pl, pr),
             "convolution descriptor");
    DN_CHECK(D.attr_create(&attr), "attribute");
    if (act != ACT_NONE) {
        DN_CHECK(D.po_create(&po), "post-ops");
        if (act == ACT_RELU)
            DN_CHECK(D.po_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f), "ReLU");
        else if (act == ACT_LEAKY)
            DN_CHECK(D.po_append_eltwise(po, 1.0f, dnnl_eltwise_relu, a, 0.0f), "LeakyReLU");
        else
            DN_CHECK(D.po_append_eltwise(po, 1.0f, dnnl_eltwise_clip, a, bb), "Clip");
        DN_CHECK(D.attr_set_post_ops(attr, po), "post-ops");
    }
    /* The primitive's implementation depends on the thread count it is made for. */
    D.omp_set_num_threads(omp_threads(threads));
    DN_CHECK(D.pd_create(&pd, &cd, attr, engine, NULL), "convolution primitive descriptor");
    const char *impl = NULL;
    if (D.pd_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
        rn_format(c->impl, sizeof c->impl, "%s", impl);
    const dnnl_memory_desc_t *src_md = D.pd_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *dst_md = D.pd_query_md(pd, dnnl_query_dst_md, 0);
    const dnnl_memory_desc_t *w_md = D.pd_query_md(pd, dnnl_query_weights_md, 0);
    DN_CHECK(D.prim_create(&c->conv, pd), "convolution primitive");
    DN_CHECK(D.stream_create(&c->stream, engine, dnnl_stream_default_flags), "stream");
    if (make_reorder(&src_u, src_md, &c->src_reorder) ||
        make_reorder(dst_md, &dst_u, &c->dst_reorder)) {
        rn_error_set(err, RN_ERR_UNSUPPORTED, "nn: oneDNN reorder failed");
        goto fail;
    }
    /* user memories get their data pointer per run; the blocked ones are owned */
    DN_CHECK(D.mem_create(&c->user_src, &src_u, engine, DNNL_MEMORY_NONE), "memory");
    DN_CHECK(D.mem_create(&c->user_dst, &dst_u, engine, DNNL_MEMORY_NONE), "memory");
    if (c->src_reorder)
        DN_CHECK(D.mem_create(&c->src, src_md, engine, DNNL_MEMORY_ALLOCATE), "memory");
    if (c->dst_reorder)
        DN_CHECK(D.mem_create(&c->dst, dst_md, engine, DNNL_MEMORY_ALLOCATE), "memory");
    if (b) {
        DN_CHECK(D.mem_create(&c->bias, &b_md, engine, DNNL_MEMORY_NONE), "memory");
        DN_CHECK(D.mem_set_handle(c->bias, (void *)b), "memory");
    }
    /* weights: reordered once, here (the model keeps the plain copy for the native path) */
    DN_CHECK(D.mem_create(&user_w, &w_u, engine, (void *)w), "memory");
    if (make_reorder(&w_u, w_md, &wre)) {
        rn_error_set(err, RN_ERR_UNSUPPORTED, "nn: oneDNN weight reorder failed");
        goto fail;
    }
    if (wre) {
        DN_CHECK(D.mem_create(&c->weights, w_md, engine, DNNL_MEMORY_ALLOCATE), "memory");
        dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, user_w}, {DNNL_ARG_TO, c->weights}};
        DN_CHECK(D.prim_execute(wre, c->stream, 2, args), "weight reorder");
        DN_CHECK(D.stream_wait(c->stream), "weight reorder");
        D.prim_destroy(wre);
        wre = NULL;
        D.mem_destroy(user_w);
    } else {
        c->weights = user_w;
    }
    user_w = NULL;
    D.pd_destroy(pd);
    D.attr_destroy(attr);
    if (po)
        D.po_destroy(po);
    return c;
fail:
    if (wre)
        D.prim_destroy(wre);
    if (user_w)
        D.mem_destroy(user_w);
    if (pd)
        D.pd_destroy(pd);
    if (attr)
        D.attr_destroy(attr);
    if (po)
        D.po_destroy(po);
    nn_dnnl_conv_destroy(c);
    return NULL;
}

int nn_dnnl_conv_run(NnDnnlConv *c, const float *x, float *y, RnError *err)
{
    D.omp_set_num_threads(omp_threads(c->threads));
    if (D.mem_set_handle(c->user_src, (void *)x) != dnnl_success ||
        D.mem_set_handle(c->user_dst, y) != dnnl_success)
        return rn_error_set(err, RN_ERR_UNSUPPORTED, "nn: oneDNN memory handle failed");
    dnnl_memory_t src = c->src_reorder ? c->src : c->user_src;
    dnnl_memory_t dst = c->dst_reorder ? c->dst : c->user_dst;
    dnnl_status_t s = dnnl_success;
    if (c->src_reorder) {
        dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, c->user_src}, {DNNL_ARG_TO, src}};
        s = D.prim_execute(c->src_reorder, c->stream, 2, args);
    }
    if (s == dnnl_success) {
        dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, src},
                                   {DNNL_ARG_WEIGHTS, c->weights},
                                   {DNNL_ARG_DST, dst},
                                   {DNNL_ARG_BIAS, c->bias}};
        s = D.prim_execute(c->conv, c->stream, c->bias ? 4 : 3, args);
    }
    if (s == dnnl_success && c->dst_reorder) {
        dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, dst}, {DNNL_ARG_TO, c->user_dst}};
        s = D.prim_execute(c->dst_reorder, c->stream, 2, args);
    }
    if (s == dnnl_success)
        s = D.stream_wait(c->stream);
    if (s != dnnl_success)
        return rn_error_set(err, RN_ERR_UNSUPPORTED, "nn: oneDNN convolution failed (status %d)",
                            (int)s);
    return 0;
}

#else /* no <dnnl.h> at build time */

const char *nn_dnnl_backend(void)
{
    return "not built (libdnnl-dev was absent at build time)";
}

NnDnnlConv *nn_dnnl_conv_create(const NnConvGeom *g, int nsp, const float *w, const float *b,
                                NnAct act, float a, float bb, int threads, RnError *err)
{
    (void)g, (void)nsp, (void)w, (void)b, (void)act, (void)a, (void)bb, (void)threads;
    rn_error_set(err, RN_ERR_UNSUPPORTED, "nn: oneDNN %s", nn_dnnl_backend());
    return NULL;
}

int nn_dnnl_conv_run(NnDnnlConv *c, const float *x, float *y, RnError *err)
{
    (void)c, (void)x, (void)y;
    return rn_error_set(err, RN_ERR_UNSUPPORTED, "nn: oneDNN not built");
}

void nn_dnnl_conv_destroy(NnDnnlConv *c)
{
    (void)c;
}
int nn_dnnl_conv_threads(const NnDnnlConv *c)
{
    (void)c;
    return 0;
}
const char *nn_dnnl_conv_impl(const NnDnnlConv *c)
{
    (void)c;
    return "";
}

#endif
