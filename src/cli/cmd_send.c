/*
 * `radnode send HOST PORT FILE|DIR...`: C-STORE SCU (PS3.4 Annex B). Files
 * are probed for SOP class and transfer syntax, shared out over N parallel
 * associations, and each association proposes, per SOP class, one context
 * per compressed transfer syntax present plus one uncompressed context (PS3.8
 * 9.3.2.2), at most 128 contexts, so files the peer cannot take in their own
 * syntax can fall back to uncompressed (converted by rn_scu_store_file).
 */
#include "cli/commands.h"
#include "radnode/net_cli.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct SendFile {
    char *path;
    char sop_class[RN_NET_UID_MAX + 1];
    char ts[RN_NET_UID_MAX + 1];
} SendFile;

typedef struct FileList {
    SendFile *v;
    size_t n, cap;
} FileList;

typedef struct Worker {
    const RnNetCliOptions *o;
    const char *host;
    int port;
    RnTlsContext *tls;
    SendFile **files;
    size_t n;
    size_t sent, failed, skipped;
    pthread_t thread;
} Worker;

static int add_file(FileList *l, const char *path)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        SendFile *nv = rn_realloc(l->v, cap * sizeof *nv);
        if (!nv)
            return -1;
        l->v = nv;
        l->cap = cap;
    }
    SendFile *f = &l->v[l->n];
    memset(f, 0, sizeof *f);
    if (!(f->path = rn_strdup(path)))
        return -1;
    l->n++;
    return 0;
}

static int collect(FileList *l, const char *path, int depth)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "radnode send: %s: not found\n", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return add_file(l, path);
    if (depth > 32)
        return 0;
    DIR *d = opendir(path);
    if (!d)
        return -1;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) && !rc) {
        if (e->d_name[0] == '.')
            continue;
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        char *sub = rn_malloc(len);
        if (!sub) {
            rc = -1;
            break;
        }
        snprintf(sub, len, "%s/%s", path, e->d_name);
        rc = collect(l, sub, depth + 1);
        free(sub);
    }
    closedir(d);
    return rc;
}

/* SOP class and transfer syntax: from the meta, else from the data set. */
static int probe(SendFile *f, RnError *err)
{
    RnFileProbe p;
    bool meta = rn_net_probe_file(f->path, &p, NULL) == 0;
    RnReadOptions ro = {.stop_before = RN_TAG_PixelData, .defer_threshold = 4096};
    RnDicomFile *df = rn_dicom_read_file(f->path, &ro, err);
    if (!df && !meta)
        return -1;
    if (meta) {
        strcpy(f->sop_class, p.sop_class);
        strcpy(f->ts, p.transfer_syntax);
    } else {
        snprintf(f->ts, sizeof f->ts, "%s", rn_dicom_file_transfer_syntax(df));
    }
    /* The data set's own SOP Class UID wins over the meta's (as the C-STORE
     * command uses it). */
    char uid[RN_NET_UID_MAX + 1];
    int rc = 0;
    if (df && rn_dataset_get_string(rn_dicom_file_dataset(df), RN_TAG_SOPClassUID, 0, uid,
                                    sizeof uid, NULL) == 0 && uid[0])
        strcpy(f->sop_class, uid);
    else if (!meta)
        rc = rn_error_set(err, RN_ERR_PARSE, "no SOP Class UID");
    rn_dicom_file_destroy(df);
    return rc;
}

static bool uncompressed(const char *ts)
{
    return !strcmp(ts, RN_UID_EXPLICIT_VR_LE) || !strcmp(ts, RN_UID_IMPLICIT_VR_LE) ||
           !strcmp(ts, RN_UID_EXPLICIT_VR_BE);
}

static bool has_context(const RnAssocParams *p, const char *as, const char *ts)
{
    for (size_t i = 0; i < p->context_count; i++)
        if (!strcmp(p->contexts[i].abstract_syntax, as) &&
            !strcmp(p->contexts[i].transfer_syntaxes[0], ts))
            return true;
    return false;
}

/* Adds what file f needs; returns -1 when the proposal would exceed 128. */
static int propose_for(RnAssocParams *p, const SendFile *f)
{
    static const char *const unc[] = {RN_UID_EXPLICIT_VR_LE, RN_UID_IMPLICIT_VR_LE,
                                      RN_UID_EXPLICIT_VR_BE};
    /* Deflated files go out inflated: several SCPs accept the deflated
     * syntax but fail on it, and inflating costs little. */
    bool need_own = !uncompressed(f->ts) && strcmp(f->ts, RN_UID_DEFLATED_EXPLICIT_VR_LE) &&
                    !has_context(p, f->sop_class, f->ts);
    bool need_unc = !has_context(p, f->sop_class, unc[0]);
    if (p->context_count + need_own + need_unc > RN_PC_MAX)
        return -1;
    if (need_own) {
        const char *ts[] = {f->ts};
        rn_assoc_params_add_context(p, f->sop_class, ts, 1, NULL);
    }
    if (need_unc)
        rn_assoc_params_add_context(p, f->sop_class, unc, 3, NULL);
    return 0;
}

static void *worker_main(void *arg)
{
    Worker *w = arg;
    RnError err = {0};
    size_t i = 0;
    while (i < w->n) {
        /* One association per batch of files whose contexts fit in 128. */
        RnAssocParams p = {0};
        size_t end = i;
        while (end < w->n && propose_for(&p, w->files[end]) == 0)
            end++;
        RnScuOptions so;
        rn_net_cli_scu(w->o, w->host, w->port, w->tls, &so);
        RnAssoc *a = rn_assoc_request(&so, &p, NULL, &err);
        rn_assoc_params_clear(&p);
        if (!a) {
            fprintf(stderr, "radnode send: %s\n", err.message);
            w->failed += end - i;
            i = end;
            continue;
        }
        for (; i < end; i++) {
            uint16_t status = 0;
            const char *path = w->files[i]->path;
            int rc = rn_scu_store_file(a, path, NULL, 0, &status, &err);
            if (rc == RN_ERR_UNSUPPORTED) {
                fprintf(stderr, "radnode send: skipped %s\n", err.message);
                w->skipped++;
                continue;
            }
            if (rc) {
                fprintf(stderr, "radnode send: %s: %s\n", path, err.message);
                w->failed++;
                if (rn_assoc_state(a) != RN_STA6) {
                    /* The association is gone: the next batch starts afresh. */
                    rn_assoc_destroy(a);
                    a = NULL;
                    i++;
                    break;
                }
                continue;
            }
            const char *cat = rn_dimse_status_category(status);
            if (!strcmp(cat, "success") || !strcmp(cat, "warning")) {
                w->sent++;
                if (w->o->verbose || status != RN_STATUS_SUCCESS)
                    printf("%s: status 0x%04X (%s)\n", path, status, cat);
            } else {
                fprintf(stderr, "radnode send: %s: status 0x%04X (%s)\n", path, status, cat);
                w->failed++;
            }
        }
        if (a && rn_assoc_release(a, &err))
            fprintf(stderr, "radnode send: release: %s\n", err.message);
    }
    return NULL;
}

static void usage(void)
{
    printf("usage: radnode send [options] HOST PORT FILE|DIR...\n\n"
           "Sends DICOM files (folders recursively) with C-STORE.\n\n"
           "options:\n  --associations N    parallel associations (default 1)\n%s",
           rn_net_cli_usage());
}

int rn_cmd_send(int argc, char **argv)
{
    RnNetCliOptions o;
    rn_net_cli_init(&o);
    RnError err = {0};
    int nassoc = 1;
    char **pos = rn_calloc((size_t)argc, sizeof *pos);
    int npos = 0;
    if (!pos)
        return 1;
    for (int i = 1; i < argc; i++) {
        int r = rn_net_cli_option(&o, argc, argv, &i, &err);
        if (r < 0) {
            fprintf(stderr, "radnode send: %s\n", err.message);
            free(pos);
            return 2;
        }
        if (r)
            continue;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage();
            free(pos);
            return 0;
        }
        if (!strcmp(argv[i], "--associations") && i + 1 < argc) {
            nassoc = atoi(argv[++i]);
            if (nassoc < 1 || nassoc > 64) {
                fprintf(stderr, "radnode send: --associations must be 1..64\n");
                free(pos);
                return 2;
            }
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "radnode send: unknown option '%s'\n", argv[i]);
            free(pos);
            return 2;
        }
        pos[npos++] = argv[i];
    }
    int port;
    if (npos < 3 || rn_net_cli_port(pos[1], false, &port)) {
        usage();
        free(pos);
        return 2;
    }
    FileList files = {0};
    int rc = 0;
    for (int i = 2; i < npos; i++)
        if (collect(&files, pos[i], 0))
            rc = 1;
    size_t unreadable = 0;
    SendFile **ok = rn_calloc(files.n ? files.n : 1, sizeof *ok);
    size_t nok = 0;
    for (size_t i = 0; ok && i < files.n; i++) {
        if (probe(&files.v[i], &err)) {
            fprintf(stderr, "radnode send: skipped %s: not DICOM (%s)\n", files.v[i].path,
                    err.message);
            unreadable++;
        } else {
            ok[nok++] = &files.v[i];
        }
    }
    RnTlsContext *tls = rn_net_cli_tls(&o, false, &err);
    if (!tls && o.tls) {
        fprintf(stderr, "radnode send: %s\n", err.message);
        rc = 1;
        nok = 0;
    }
    if ((size_t)nassoc > nok)
        nassoc = nok ? (int)nok : 1;
    Worker *w = rn_calloc((size_t)nassoc, sizeof *w);
    double t0 = rn_time_now();
    size_t sent = 0, failed = 0, skipped = unreadable;
    if (w && nok) {
        /* Contiguous shares keep a series' SOP classes together. */
        for (int k = 0; k < nassoc; k++) {
            size_t b = nok * (size_t)k / (size_t)nassoc, e = nok * (size_t)(k + 1) / (size_t)nassoc;
            w[k] = (Worker){.o = &o, .host = pos[0], .port = port, .tls = tls,
                            .files = ok + b, .n = e - b};
        }
        for (int k = 1; k < nassoc; k++)
            if (pthread_create(&w[k].thread, NULL, worker_main, &w[k]) != 0)
                worker_main(&w[k]);
        worker_main(&w[0]);
        for (int k = 1; k < nassoc; k++)
            if (w[k].thread)
                pthread_join(w[k].thread, NULL);
        for (int k = 0; k < nassoc; k++) {
            sent += w[k].sent;
            failed += w[k].failed;
            skipped += w[k].skipped;
        }
    }
    double dt = rn_time_now() - t0;
    printf("radnode send: %zu sent, %zu failed, %zu skipped in %.2f s (%.1f instances/s)\n", sent,
           failed, skipped, dt, dt > 0 ? sent / dt : 0.0);
    /* Skipped files (not DICOM, no acceptable context) are reported, not failures. */
    if (failed)
        rc = 1;
    free(w);
    free(ok);
    for (size_t i = 0; i < files.n; i++)
        free(files.v[i].path);
    free(files.v);
    free(pos);
    rn_tls_context_destroy(tls);
    return rc;
}
