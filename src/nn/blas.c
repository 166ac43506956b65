/*
 * Single-precision GEMM for the nn module. OpenBLAS is not linked into
 * radnode: it is opened with dlopen("libopenblas.so.0") the first time a
 * model needs a GEMM large enough to be worth it. Linked in, its 36 MB library
 * (16000 symbol relocations for its per-CPU kernel tables), libgfortran and
 * libquadmath, its thread pool and its 128 MB buffer reservation were paid by
 * every radnode process, `radnode dump` included: about 7 ms of a 33 ms start
 * on the development machine (see docs/status.md, data layer).
 *
 * When the library cannot be opened (or for small products, where a call into
 * OpenBLAS costs more than the arithmetic), a built-in blocked GEMM computes
 * the same product; nn_blas_backend() says which one a process has, with the
 * dlopen error, so `radnode nn info` and the logs can tell an operator why a
 * model runs slowly.
 *
 * The library handle and its two function pointers are process-wide state:
 * written once under pthread_once, read-only afterwards (the one exception to
 * "no mutable globals" in this module, as a dynamic loader handle has to be).
 */
#include "nn/nn_internal.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* CBLAS enum values (cblas.h), fixed by the CBLAS standard. */
#define CBLAS_ROW_MAJOR 101
#define CBLAS_NO_TRANS 111
#define CBLAS_TRANS 112

typedef void (*SgemmFn)(int order, int ta, int tb, int m, int n, int k, float alpha,
                        const float *a, int lda, const float *b, int ldb, float beta, float *c,
                        int ldc);
typedef void (*SetThreadsFn)(int n);

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static SgemmFn blas_sgemm;
static SetThreadsFn blas_set_threads;
static char blas_desc[256];

static void blas_open(void)
{
    /* RTLD_LOCAL: OpenBLAS's symbols stay out of the global scope, so loading
     * it cannot change what other libraries (or an analyzer) resolve. */
    void *h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(blas_desc, sizeof blas_desc,
                 "built-in (libopenblas.so.0 not loaded: %s; install libopenblas0 for speed)",
                 e ? e : "unknown error");
        return;
    }
    SgemmFn g = (SgemmFn)dlsym(h, "cblas_sgemm");
    SetThreadsFn t = (SetThreadsFn)dlsym(h, "openblas_set_num_threads");
    if (!g) {
        snprintf(blas_desc, sizeof blas_desc,
                 "built-in (libopenblas.so.0 has no cblas_sgemm)");
        dlclose(h);
        return;
    }
    typedef char *(*ConfigFn)(void);
    ConfigFn cfg = (ConfigFn)dlsym(h, "openblas_get_config");
    snprintf(blas_desc, sizeof blas_desc, "OpenBLAS (%s)", cfg ? cfg() : "libopenblas.so.0");
    blas_set_threads = t;
    blas_sgemm = g; /* the handle stays open for the life of the process */
}

const char *nn_blas_backend(void)
{
    pthread_once(&blas_once, blas_open);
    return blas_desc;
}

/* C = alpha * op(A) * op(B) + beta * C, row-major. The fallback; it keeps
 * one row of C and walks B's rows (or A's and B's rows for a dot product when B
 * is transposed) so the inner loop is contiguous. */
NN_HOT static void gemm_builtin(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                                const float *a, int64_t lda, const float *b, int64_t ldb,
                                float beta, float *c, int64_t ldc)
{
    for (int64_t i = 0; i < M; i++) {
        float *ci = c + i * ldc;
        if (beta == 0.0f)
            memset(ci, 0, (size_t)N * sizeof *ci);
        else if (beta != 1.0f)
            for (int64_t j = 0; j < N; j++)
                ci[j] *= beta;
        if (!tb) {
            for (int64_t k = 0; k < K; k++) {
                float av = alpha * (ta ? a[k * lda + i] : a[i * lda + k]);
                const float *bk = b + k * ldb;
                for (int64_t j = 0; j < N; j++)
                    ci[j] += av * bk[j];
            }
        } else {
            for (int64_t j = 0; j < N; j++) {
                const float *bj = b + j * ldb;
                float s = 0.0f;
                if (ta)
                    for (int64_t k = 0; k < K; k++)
                        s += a[k * lda + i] * bj[k];
                else
                    for (int64_t k = 0; k < K; k++)
                        s += a[i * lda + k] * bj[k];
                ci[j] += alpha * s;
            }
        }
    }
}

void nn_sgemm(const RnNnModel *m, int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
              const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
              int64_t ldc)
{
    /* Below about 32k multiply-adds the built-in loop is faster than a call
     * into OpenBLAS (buffer packing, thread dispatch), and a model made only of
     * such products never loads the library. */
    int small = (double)M * (double)N * (double)K <= 32768.0;
    if (!small && !(m && m->gemm_builtin) && M <= INT32_MAX && N <= INT32_MAX && K <= INT32_MAX &&
        lda <= INT32_MAX && ldb <= INT32_MAX && ldc <= INT32_MAX) {
        pthread_once(&blas_once, blas_open);
        if (blas_sgemm) {
            if (blas_set_threads)
                blas_set_threads(m ? m->threads : 1);
            blas_sgemm(CBLAS_ROW_MAJOR, ta ? CBLAS_TRANS : CBLAS_NO_TRANS,
                       tb ? CBLAS_TRANS : CBLAS_NO_TRANS, (int)M, (int)N, (int)K, alpha, a,
                       (int)lda, b, (int)ldb, beta, c, (int)ldc);
            return;
        }
    }
    gemm_builtin(ta, tb, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
}
