/*
 * Internal structures of the nn module: the graph as loaded from ONNX (tensors,
 * nodes, attributes), the per-shape plan, and the kernel entry points shared
 * by onnx_pb.c (parser), model.c (load, fold, plan, run), shape.c (shape
 * inference), ops.c (operators) and kernels.c (convolution, pooling, GEMM).
 */
#ifndef RN_NN_INTERNAL_H
#define RN_NN_INTERNAL_H

#include "radnode/core.h"
#include "radnode/nn.h"

#define NN_F32 1
#define NN_I64 7

/* Safety limits for hostile files. */
#define NN_MAX_ELEMS ((int64_t)1 << 31)
#define NN_MAX_FILE ((size_t)1 << 31)
#define NN_MAX_NODES 100000
#define NN_MAX_NODE_IO 4096

/* The inner loops of the kernels are simple enough for the vectorizer, which -O2 (the
 * project's default) runs only with its "very cheap" cost model; ask for more
 * on the hot kernels with GCC. */
#if defined(__GNUC__) && !defined(__clang__)
#define NN_HOT __attribute__((optimize("O3")))
#else
#define NN_HOT
#endif

typedef enum NnOp {
    OP_UNKNOWN = 0,
    OP_CONV, OP_CONVTRANSPOSE, OP_BATCHNORM,
    OP_RELU, OP_LEAKYRELU, OP_SIGMOID, OP_TANH, OP_CLIP, OP_HARDSIGMOID, OP_HARDSWISH,
    OP_ERF, OP_GELU, OP_ELU, OP_EXP, OP_LOG, OP_SQRT, OP_NEG, OP_ABS, OP_RECIPROCAL,
    OP_MAXPOOL, OP_AVGPOOL, OP_GLOBALAVGPOOL, OP_GLOBALMAXPOOL,
    OP_GEMM, OP_MATMUL,
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_POW,
    OP_CONCAT, OP_RESHAPE, OP_FLATTEN, OP_SQUEEZE, OP_UNSQUEEZE, OP_TRANSPOSE,
    OP_SOFTMAX, OP_RESIZE, OP_PAD, OP_SLICE, OP_CONSTANT, OP_IDENTITY, OP_DROPOUT,
    OP_REDUCEMEAN, OP_REDUCESUM, OP_REDUCEMAX,
    OP_SHAPE, OP_GATHER, OP_CAST, OP_CONSTANTOFSHAPE, OP_EXPAND,
    OP_COUNT
} NnOp;

/* Activation fused into a Conv/ConvTranspose/Gemm epilogue. */
typedef enum NnAct { ACT_NONE = 0, ACT_RELU, ACT_LEAKY, ACT_CLIP } NnAct;

typedef struct NnAttr {
    char *name;
    int type;      /* AttributeProto.AttributeType: 1 FLOAT 2 INT 3 STRING 4 TENSOR 6 FLOATS 7 INTS */
    float f;
    int64_t i;
    char *s;
    float *floats;
    int64_t *ints;
    size_t n;      /* count of floats/ints */
    int t_tensor;  /* tensor index for TENSOR attributes, -1 otherwise */
} NnAttr;

typedef struct NnTensor {
    char *name;
    int dtype;     /* NN_F32 or NN_I64; 0 while unknown */
    int ndim;      /* -1 while unknown */
    int64_t dims[RN_NN_MAX_DIMS];
    void *data;    /* constant or folded values (owned), or the runtime buffer (borrowed) */
    int is_init;   /* initializer or Constant: value fixed at load */
    int is_folded; /* value computed at plan time (owned data) */
    int is_input;
    int is_output;
    int producer;  /* node index or -1 */
    /* declared shape (graph inputs/outputs) */
    int decl_ndim;
    int64_t decl_dims[RN_NN_MAX_DIMS];
    /* plan */
    int alias;     /* tensor whose buffer this one shares, or -1 */
    int slot;      /* arena slot, -1 none */
    int last_use;  /* plan step of the last reader */
} NnTensor;

typedef struct NnNode {
    NnOp op;
    char *op_type;
    char *name;
    int *in;       /* tensor indices, -1 for an omitted optional input */
    size_t n_in;
    int *out;
    size_t n_out;
    NnAttr *attrs;
    size_t n_attrs;
    int dead;      /* removed by folding or fusion at load */
    int folded;    /* evaluated at plan time */
    NnAct act;
    float act_a, act_b;
} NnNode;

typedef struct NnPool NnPool;
typedef struct NnDnnlConv NnDnnlConv;

/* Which convolution backend a model uses (RN_NN_BACKEND=native|dnnl|auto, read at load). */
enum { NN_BACKEND_AUTO = 0, NN_BACKEND_NATIVE, NN_BACKEND_DNNL };

struct RnNnModel {
    NnTensor *tensors;
    size_t n_tensors, cap_tensors;
    NnNode *nodes;
    size_t n_nodes, cap_nodes;
    int *inputs;   /* graph inputs that are not initializers */
    size_t n_inputs;
    int *outputs;
    size_t n_outputs;
    int opset;
    int64_t n_params;
    char **orig_ops; /* op_type per node as stored, for info */
    size_t n_orig_ops;
    /* name lookup (open addressing, power of two) */
    int *hash;
    size_t hash_cap;
    int threads;
    NnPool *pool;
    /* plan */
    int planned;
    int plan_ndim[16];
    int64_t plan_dims[16][RN_NN_MAX_DIMS];
    int *steps;    /* node indices executed at run time */
    size_t n_steps;
    size_t *slot_size;
    size_t n_slots;
    float *arena;
    size_t arena_bytes, unplanned_bytes;
    size_t mem_limit; /* 0: none */
    size_t mem_used;  /* folded bytes of the current plan */
    float *scratch;
    size_t scratch_len; /* floats */
    /* kernel choice, for tests that check every path against the same reference */
    int gemm_builtin;   /* 1: never use OpenBLAS */
    int conv_impl;      /* NN_CONV_AUTO, NN_CONV_GEMM (im2col + sgemm), NN_CONV_DIRECT */
    int conv_backend;   /* NN_BACKEND_*: native kernels, oneDNN, or the rule of nn_conv_node */
    /* per node of the current plan: its oneDNN primitive, or NULL; dnnl_state 0 untried,
     * 1 oneDNN, 2 native (rule, library absent or primitive refused) */
    NnDnnlConv **dnnl_conv;
    unsigned char *dnnl_state;
};

enum { NN_CONV_AUTO = 0, NN_CONV_GEMM, NN_CONV_DIRECT };

/* Model building (model.c). */
int nn_tensor_find(const RnNnModel *m, const char *name);
int nn_tensor_intern(RnNnModel *m, const char *name, size_t len, RnError *err);
const NnAttr *nn_attr(const NnNode *n, const char *name);
int64_t nn_attr_int(const NnNode *n, const char *name, int64_t def);
float nn_attr_float(const NnNode *n, const char *name, float def);
const char *nn_attr_str(const NnNode *n, const char *name, const char *def);
size_t nn_attr_ints(const NnNode *n, const char *name, const int64_t **v);
int64_t nn_numel(const NnTensor *t);
size_t nn_elem_size(int dtype);
NnOp nn_op_from_name(const char *op_type);

/* Parser (onnx_pb.c): fills m's tensors, nodes, inputs, outputs, opset. */
int nn_onnx_parse(RnNnModel *m, const uint8_t *data, size_t len, RnError *err);

/* Shape inference (shape.c): sets dtype and dims of n's outputs. */
int nn_infer(RnNnModel *m, NnNode *n, RnError *err);

/* Execution (ops.c): runs one node on the data pointers of its tensors. */
int nn_exec(RnNnModel *m, NnNode *n, RnError *err);
/* Counts bytes of the current plan against the model's memory limit (RN_ERR_LIMIT past it). */
int nn_mem_take(RnNnModel *m, size_t bytes, RnError *err);
/* Scratch floats for a node, grown as needed (owned by the model). */
float *nn_scratch(RnNnModel *m, size_t floats, RnError *err);

/* Worker pool (kernels.c): runs fn(ctx, i) for i in [0, count). */
typedef void (*NnTaskFn)(void *ctx, int64_t i);
NnPool *nn_pool_create(int threads);
void nn_pool_destroy(NnPool *p);
void nn_parallel_for(NnPool *p, int64_t count, NnTaskFn fn, void *ctx);

/* GEMM (blas.c): C = alpha * op(A) * op(B) + beta * C, row-major. OpenBLAS
 * (opened on first use) or the built-in loop; m may be NULL. */
void nn_sgemm(const RnNnModel *m, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
              float alpha, const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
              float *c, int64_t ldc);
/* Which GEMM this process uses ("OpenBLAS (...)" or "built-in (why)"); loads OpenBLAS. */
const char *nn_blas_backend(void);

/* Convolution and pooling over 1 to 3 spatial dims, seen as 3 (D, H, W). */
typedef struct NnConvGeom {
    int64_t n, c, oc, group;
    int64_t in[3], out[3], k[3], stride[3], pad[3], pad_end[3], dil[3];
} NnConvGeom;
/* Geometry of a Conv, ConvTranspose or pooling node from its attributes and the
 * shapes of its input (and weight). */
int nn_conv_geom(const RnNnModel *m, const NnNode *n, NnConvGeom *g, RnError *err);
/* Per-axis Resize scale (output / input coordinate ratio as ONNX defines it). */
int nn_resize_scales(const RnNnModel *m, const NnNode *n, float *scales, int64_t *out_dims,
                     RnError *err);
/* Per-axis Slice start and step (output dims come from shape inference). */
int nn_slice_params(const RnNnModel *m, const NnNode *n, int64_t *start, int64_t *step,
                    int64_t *out_dims, RnError *err);
/* Reduced axes as a mask, and whether they are kept. */
int nn_reduce_axes(const RnNnModel *m, const NnNode *n, int *mask, int *keepdims, RnError *err);
/* Conv node `idx` of the plan (nsp spatial dims): oneDNN when the backend rule picks it and
 * libdnnl.so.2 opens, else nn_conv. */
int nn_conv_node(RnNnModel *m, size_t idx, const NnConvGeom *g, int nsp, const float *x,
                 const float *w, const float *b, float *y, NnAct act, float a, float bb,
                 RnError *err);
/* Whether the auto rule gives a convolution to oneDNN (documented in kernels.c). */
int nn_conv_prefers_dnnl(const NnConvGeom *g);
void nn_conv_backend_reset(RnNnModel *m);
int nn_conv(RnNnModel *m, const NnConvGeom *g, const float *x, const float *w, const float *b,
            float *y, NnAct act, float a, float bb, RnError *err);
/* Direct convolution (conv_direct.c): returns 1 when it handled the call, 0 when
 * the geometry or the CPU is not supported (the caller falls back to im2col). */
int nn_conv_direct(RnNnModel *m, const NnConvGeom *g, const float *x, const float *w,
                   const float *b, float *y, NnAct act, float a, float bb, RnError *err);
/* oneDNN backend (conv_dnnl.c): libdnnl.so.2 opened on first use. */
const char *nn_dnnl_backend(void);
NnDnnlConv *nn_dnnl_conv_create(const NnConvGeom *g, int nsp, const float *w, const float *b,
                                NnAct act, float a, float bb, int threads, RnError *err);
int nn_dnnl_conv_run(NnDnnlConv *c, const float *x, float *y, RnError *err);
void nn_dnnl_conv_destroy(NnDnnlConv *c);
int nn_dnnl_conv_threads(const NnDnnlConv *c);
const char *nn_dnnl_conv_impl(const NnDnnlConv *c);
int nn_conv_transpose(RnNnModel *m, const NnConvGeom *g, const float *x, const float *w,
                      const float *b, float *y, NnAct act, float a, float bb, RnError *err);
void nn_pool(RnNnModel *m, const NnConvGeom *g, const float *x, float *y, int is_max,
             int count_include_pad);
void nn_apply_act(float *y, int64_t n, NnAct act, float a, float b);

#endif
