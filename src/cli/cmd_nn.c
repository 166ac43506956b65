/*
 * `radnode nn`: inspect and run ONNX models with the nn module.
 *
 *   radnode nn info MODEL.onnx
 *   radnode nn run MODEL.onnx --in NAME=FILE.npy ... [--out NAME=FILE.npy ...]
 *                  [--threads N] [--repeat K] [--warmup W]
 *
 * `run` reads float32 .npy inputs, runs the model and writes the outputs named
 * with --out (all outputs are summarised on stdout). --repeat times K runs
 * after W warm-up runs and prints the mean and best latency on stderr, which
 * is what bench/bench_nn.sh uses.
 */
#include "cli/commands.h"
#include "radnode/nn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_IO 16

static void usage(void)
{
    fprintf(stderr, "usage: radnode nn info MODEL.onnx\n"
                    "       radnode nn run MODEL.onnx --in NAME=FILE.npy ... "
                    "[--out NAME=FILE.npy ...] [--threads N] [--repeat K] [--warmup W]\n");
}

static void print_shape(int ndim, const int64_t *shape)
{
    printf("[");
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            printf("%s?", d ? "," : "");
        else
            printf("%s%lld", d ? "," : "", (long long)shape[d]);
    }
    printf("]");
}

static int cmd_info(const char *path)
{
    RnError err = {0};
    RnNnModel *m = rn_nn_model_load_file(path, &err);
    if (!m) {
        fprintf(stderr, "radnode nn: %s\n", err.message);
        return 1;
    }
    printf("model:      %s\nopset:      %d\n", path, rn_nn_model_opset(m));
    int ndim;
    int64_t shape[RN_NN_MAX_DIMS];
    for (size_t i = 0; i < rn_nn_model_input_count(m); i++) {
        printf("input:      %s ", rn_nn_model_input_name(m, i));
        if (rn_nn_model_input_shape(m, i, &ndim, shape) == 0)
            print_shape(ndim, shape);
        else
            printf("(shape not declared)");
        printf(" float32\n");
    }
    for (size_t i = 0; i < rn_nn_model_output_count(m); i++) {
        printf("output:     %s ", rn_nn_model_output_name(m, i));
        if (rn_nn_model_output_shape(m, i, &ndim, shape) == 0)
            print_shape(ndim, shape);
        else
            printf("(shape not declared)");
        printf("\n");
    }
    size_t nn = rn_nn_model_node_count(m);
    printf("nodes:      %zu\nparameters: %lld\noperators:\n", nn,
           (long long)rn_nn_model_param_count(m));
    /* distinct ops in order of first appearance, with counts */
    for (size_t i = 0; i < nn; i++) {
        const char *op = rn_nn_model_node_op(m, i);
        int first = 1;
        for (size_t k = 0; k < i && first; k++)
            if (!strcmp(rn_nn_model_node_op(m, k), op))
                first = 0;
        if (!first)
            continue;
        size_t count = 0;
        for (size_t k = i; k < nn; k++)
            count += !strcmp(rn_nn_model_node_op(m, k), op);
        printf("  %-22s %zu\n", op, count);
    }
    rn_nn_model_destroy(m);
    return 0;
}

/* Splits NAME=FILE; a bare FILE gets name NULL. */
static void split_arg(char *arg, char **name, char **file)
{
    char *eq = strchr(arg, '=');
    if (!eq) {
        *name = NULL;
        *file = arg;
        return;
    }
    *eq = 0;
    *name = arg;
    *file = eq + 1;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int cmd_run(int argc, char **argv)
{
    const char *path = argv[0];
    char *in_name[MAX_IO], *in_file[MAX_IO], *out_name[MAX_IO], *out_file[MAX_IO];
    int n_in = 0, n_out = 0, threads = 1, repeat = 0, warmup = 1;
    for (int i = 1; i < argc; i++) {
        int last = i + 1 >= argc;
        if (!strcmp(argv[i], "--in") && !last && n_in < MAX_IO) {
            split_arg(argv[++i], &in_name[n_in], &in_file[n_in]);
            n_in++;
        } else if (!strcmp(argv[i], "--out") && !last && n_out < MAX_IO) {
            split_arg(argv[++i], &out_name[n_out], &out_file[n_out]);
            n_out++;
        } else if (!strcmp(argv[i], "--threads") && !last) {
            if (parse_int(argv[++i], 1, 256, &threads)) {
                fprintf(stderr, "radnode nn: --threads needs 1 to 256\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--repeat") && !last) {
            if (parse_int(argv[++i], 1, 1000000, &repeat)) {
                fprintf(stderr, "radnode nn: --repeat needs a positive count\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--warmup") && !last) {
            if (parse_int(argv[++i], 0, 1000000, &warmup)) {
                fprintf(stderr, "radnode nn: --warmup needs a count\n");
                return 2;
            }
        } else {
            usage();
            return 2;
        }
    }
    RnError err = {0};
    RnNnModel *m = rn_nn_model_load_file(path, &err);
    if (!m) {
        fprintf(stderr, "radnode nn: %s\n", err.message);
        return 1;
    }
    int rc = 1;
    RnNnTensor ins[MAX_IO];
    RnNnTensor outs[MAX_IO];
    memset(ins, 0, sizeof ins);
    memset(outs, 0, sizeof outs);
    size_t n_model_out = rn_nn_model_output_count(m);
    if (n_model_out > MAX_IO) {
        fprintf(stderr, "radnode nn: the model has more than %d outputs\n", MAX_IO);
        goto out;
    }
    if (rn_nn_model_set_threads(m, threads, &err)) {
        fprintf(stderr, "radnode nn: %s\n", err.message);
        goto out;
    }
    for (int i = 0; i < n_in; i++) {
        if (!in_name[i]) {
            if (rn_nn_model_input_count(m) != 1 || n_in != 1) {
                fprintf(stderr, "radnode nn: give inputs as NAME=FILE.npy\n");
                goto out;
            }
            in_name[i] = (char *)rn_nn_model_input_name(m, 0);
        }
        ins[i].name = in_name[i];
        ins[i].data = rn_nn_npy_read_file(in_file[i], &ins[i].ndim, ins[i].shape, &err);
        if (!ins[i].data) {
            fprintf(stderr, "radnode nn: %s\n", err.message);
            goto out;
        }
    }
    for (size_t i = 0; i < n_model_out; i++)
        outs[i].name = rn_nn_model_output_name(m, i);
    for (int i = 0; i < warmup || (!repeat && i < 1); i++) {
        if (rn_nn_run(m, ins, (size_t)n_in, outs, n_model_out, &err)) {
            fprintf(stderr, "radnode nn: %s\n", err.message);
            goto out;
        }
    }
    if (repeat) {
        /* wall time, and CPU time of the process (all threads): on a shared machine the
         * CPU time is what the run costs, wall time also counts waiting for a core */
        double *t = malloc((size_t)repeat * 2 * sizeof *t), sum = 0;
        if (!t)
            goto out;
        double *c = t + repeat;
        for (int r = 0; r < repeat; r++) {
            double t0 = rn_time_now(), c0 = cpu_now();
            if (rn_nn_run(m, ins, (size_t)n_in, outs, n_model_out, &err)) {
                fprintf(stderr, "radnode nn: %s\n", err.message);
                free(t);
                goto out;
            }
            t[r] = rn_time_now() - t0;
            c[r] = cpu_now() - c0;
            sum += t[r];
        }
        qsort(t, (size_t)repeat, sizeof *t, cmp_double);
        qsort(c, (size_t)repeat, sizeof *c, cmp_double);
        size_t unplanned, arena = rn_nn_model_arena_bytes(m, &unplanned);
        fprintf(stderr, "timing: runs=%d median_ms=%.4f mean_ms=%.4f best_ms=%.4f cpu_ms=%.4f "
                        "threads=%d arena_bytes=%zu unplanned_bytes=%zu\n",
                repeat, 1e3 * t[repeat / 2], 1e3 * sum / repeat, 1e3 * t[0], 1e3 * c[repeat / 2],
                threads, arena, unplanned);
        free(t);
    }
    for (size_t i = 0; i < n_model_out; i++) {
        int64_t cnt = 1;
        for (int d = 0; d < outs[i].ndim; d++)
            cnt *= outs[i].shape[d];
        printf("%s ", outs[i].name);
        print_shape(outs[i].ndim, outs[i].shape);
        printf(":");
        for (int64_t k = 0; k < cnt && k < 6; k++)
            printf(" %.6g", (double)outs[i].data[k]);
        printf(cnt > 6 ? " ...\n" : "\n");
    }
    for (int i = 0; i < n_out; i++) {
        size_t k = 0;
        if (out_name[i]) {
            while (k < n_model_out && strcmp(outs[k].name, out_name[i]))
                k++;
        } else if (n_model_out != 1) {
            fprintf(stderr, "radnode nn: give outputs as NAME=FILE.npy\n");
            goto out;
        }
        if (k == n_model_out) {
            fprintf(stderr, "radnode nn: the model has no output '%s'\n", out_name[i]);
            goto out;
        }
        if (rn_nn_npy_write_file(out_file[i], outs[k].ndim, outs[k].shape, outs[k].data, &err)) {
            fprintf(stderr, "radnode nn: %s\n", err.message);
            goto out;
        }
    }
    rc = 0;
out:
    for (int i = 0; i < n_in; i++)
        free(ins[i].data);
    rn_nn_model_destroy(m);
    return rc;
}

int rn_cmd_nn(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "info"))
        return cmd_info(argv[2]);
    if (argc >= 3 && !strcmp(argv[1], "run"))
        return cmd_run(argc - 2, argv + 2);
    usage();
    return 2;
}
