/*
 * libFuzzer target for the ONNX loader (src/nn/onnx_pb.c and model.c): any
 * byte string must load or fail with an error, never crash or leak. A loaded
 * model is also run once on a small input for each of its inputs (declared
 * dimensions, unknown ones set to 1, capped in size), which exercises shape
 * inference, folding and the memory plan on hostile graphs.
 */
#include "radnode/nn.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    RnError err = {0};
    RnNnModel *m = rn_nn_model_load_memory(data, size, &err);
    if (!m)
        return 0;
    rn_nn_model_set_memory_limit(m, (size_t)256 << 20);
    size_t n = rn_nn_model_input_count(m);
    RnNnTensor in[4];
    float *buf[4] = {0};
    int ok = n <= 4;
    for (size_t i = 0; ok && i < n; i++) {
        memset(&in[i], 0, sizeof in[i]);
        in[i].name = rn_nn_model_input_name(m, i);
        if (rn_nn_model_input_shape(m, i, &in[i].ndim, in[i].shape) != 0) {
            ok = 0;
            break;
        }
        int64_t count = 1;
        for (int d = 0; d < in[i].ndim; d++) {
            if (in[i].shape[d] < 0)
                in[i].shape[d] = 1;
            if (in[i].shape[d] > 64)
                ok = 0;
            count *= in[i].shape[d];
        }
        if (!ok || count > 4096)
            break;
        buf[i] = calloc((size_t)(count ? count : 1), sizeof(float));
        in[i].data = buf[i];
        ok = buf[i] != NULL;
    }
    if (ok) {
        RnNnTensor out = {0};
        (void)rn_nn_run(m, in, n, &out, rn_nn_model_output_count(m) ? 1 : 0, &err);
    }
    for (size_t i = 0; i < 4; i++)
        free(buf[i]);
    rn_nn_model_destroy(m);
    return 0;
}
