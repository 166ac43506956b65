/*
 * radnode nn: loads ONNX models (protobuf wire format, opsets 11-17, parsed
 * without generated code) and runs them on the CPU in float32, NCHW layout.
 *
 * A model is loaded once and run many times. Shapes are inferred for the input
 * shapes of a run; the plan (folded shape subgraphs, buffer reuse) is cached and
 * rebuilt only when the input shapes change. A model is not thread-safe: run it
 * from one thread at a time (it uses its own worker count for the kernels).
 * Results are deterministic for a given model, input and thread count.
 */
#ifndef RADNODE_NN_H
#define RADNODE_NN_H

#include "radnode/core.h"

#define RN_NN_MAX_DIMS 8

typedef struct RnNnModel RnNnModel;

/* A float32 tensor in C order. As an input, `data` is read only. As an output,
 * the run fills ndim, shape and data; data is borrowed from the model and stays
 * valid until the next rn_nn_run or rn_nn_model_destroy. */
typedef struct RnNnTensor {
    const char *name;
    int ndim;
    int64_t shape[RN_NN_MAX_DIMS];
    float *data;
} RnNnTensor;

/* Loads a model. Errors: RN_ERR_IO, RN_ERR_PARSE / RN_ERR_TRUNCATED (malformed
 * protobuf), RN_ERR_UNSUPPORTED (operator, opset or data type; the message
 * names the operator and node), RN_ERR_LIMIT (sizes beyond the safety limits). */
RnNnModel *rn_nn_model_load_file(const char *path, RnError *err);
RnNnModel *rn_nn_model_load_memory(const uint8_t *data, size_t len, RnError *err);
void rn_nn_model_destroy(RnNnModel *model);

/* Worker threads for the kernels (1 by default, at most 256). */
int rn_nn_model_set_threads(RnNnModel *model, int threads, RnError *err);

/* Caps the bytes a plan may allocate (folded constants, the arena, kernel
 * scratch); 0, the default, means no cap beyond the per-tensor safety limit.
 * A run whose plan would exceed it fails with RN_ERR_LIMIT. */
void rn_nn_model_set_memory_limit(RnNnModel *model, size_t bytes);

size_t rn_nn_model_input_count(const RnNnModel *model);
size_t rn_nn_model_output_count(const RnNnModel *model);
/* Borrowed names; NULL when i is out of range. */
const char *rn_nn_model_input_name(const RnNnModel *model, size_t i);
const char *rn_nn_model_output_name(const RnNnModel *model, size_t i);
/* Declared shape from the model; symbolic or unknown dimensions are -1.
 * Returns 0, or RN_ERR_NOT_FOUND when i is out of range or no shape is declared. */
int rn_nn_model_input_shape(const RnNnModel *model, size_t i, int *ndim,
                            int64_t shape[RN_NN_MAX_DIMS]);
int rn_nn_model_output_shape(const RnNnModel *model, size_t i, int *ndim,
                             int64_t shape[RN_NN_MAX_DIMS]);

/* Facts for `radnode nn info`, about the model as stored (before folding). */
int rn_nn_model_opset(const RnNnModel *model);
size_t rn_nn_model_node_count(const RnNnModel *model);
const char *rn_nn_model_node_op(const RnNnModel *model, size_t i);
int64_t rn_nn_model_param_count(const RnNnModel *model);

/* Runs the model. Every model input must be given exactly once, by name. Each
 * output names a model output (NULL: the i-th model output). Errors name the
 * offending input or node: RN_ERR_INVALID for wrong shapes. */
int rn_nn_run(RnNnModel *model, const RnNnTensor *inputs, size_t n_inputs, RnNnTensor *outputs,
              size_t n_outputs, RnError *err);

/* Bytes of intermediate buffers in the current plan (after reuse), and what
 * they would take without reuse. 0 before the first run. */
size_t rn_nn_model_arena_bytes(const RnNnModel *model, size_t *unplanned_bytes);

/* NumPy .npy files (format 1.0/2.0/3.0), float32 little endian, C order, any
 * shape. rn_nn_npy_parse reads from memory and returns a new array the caller
 * frees with free(); read_file does the same for a file. */
float *rn_nn_npy_parse(const uint8_t *buf, size_t len, int *ndim, int64_t shape[RN_NN_MAX_DIMS],
                       RnError *err);
float *rn_nn_npy_read_file(const char *path, int *ndim, int64_t shape[RN_NN_MAX_DIMS],
                           RnError *err);
int rn_nn_npy_write_file(const char *path, int ndim, const int64_t *shape, const float *data,
                         RnError *err);

#endif
