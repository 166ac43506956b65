/*
 * `radnode serve`: the node's main loop (PRODUCT.md, "What radnode is").
 *
 *   DICOM SCP --C-STORE--> ingest (stream to tmp, header check, rn_store_put:
 *   durable before success) --> study assembly (quiet period, generations)
 *   --> routing --> analyze jobs --> worker threads that run each analysis
 *   in a child process (radnode analyze, with rlimits and a wall-clock
 *   timeout) --> export jobs (C-STORE of the result objects to each DICOM
 *   destination, ORU^R01 over MLLP to each HL7 destination) with retries and
 *   exponential back-off; nothing is dropped: a job that fails too often is
 *   marked dead and stays visible in the status API and the log.
 *
 * Threads: the SCP's pool, one assembler, `workers` analysis workers, one
 * exporter, the HTTP daemon, and the main thread, which only waits for
 * signals (SIGTERM/SIGINT stop, SIGHUP reloads routes and destinations).
 * Shared mutable state: the store (its own lock) and the routes and
 * destinations (guarded by Node.cfg_lock).
 */
#include "node/http_hooks.h"
#include "node/node_audit.h"
#include "node/node_internal.h"
#include "node/privdrop.h"

#if defined(__SANITIZE_ADDRESS__)
#define RN_ASAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RN_ASAN_BUILD 1
#endif
#endif
#include "radnode/hl7.h"

#include <dirent.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- Ingest: the SCP's store handler ------------------------------------------ */

typedef struct Incoming {
    Node *node;
    int fd;
    char tmp[512];
    char calling_ae[17];
    char sop_instance[RN_UID_MAX + 1];
    char sop_class[RN_UID_MAX + 1];
    char ts[RN_UID_MAX + 1];
    bool failed;
    void *assoc; /* the association's audit state (audit_dicom.c) */
} Incoming;

static int ingest_begin(void *user, const RnStoreRequest *rq, void **instance, RnError *err)
{
    Node *n = user;
    if (!rn_store_has_space(n->store))
        return rn_error_set(err, RN_ERR_LIMIT, "free disk space below the configured floor");
    Incoming *in = rn_calloc(1, sizeof *in);
    if (!in)
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    in->node = n;
    snprintf(in->calling_ae, sizeof in->calling_ae, "%s", rq->calling_ae ? rq->calling_ae : "");
    snprintf(in->sop_instance, sizeof in->sop_instance, "%s", rq->sop_instance);
    snprintf(in->sop_class, sizeof in->sop_class, "%s", rq->sop_class);
    snprintf(in->ts, sizeof in->ts, "%s", rq->transfer_syntax);
    in->assoc = rq->assoc_user;
    if (rn_store_tmp_path(n->store, in->tmp, sizeof in->tmp, err)) {
        free(in);
        return err ? err->code : RN_ERR_INVALID;
    }
    in->fd = open(in->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (in->fd < 0) {
        int e = errno;
        rn_error_set(err, RN_ERR_IO, "cannot create %s: %s", in->tmp, strerror(e));
        free(in);
        return RN_ERR_IO;
    }
    RnBuf hdr = {0};
    int rc = rn_net_part10_header(rq->sop_class, rq->sop_instance, rq->transfer_syntax,
                                  rq->calling_ae, &hdr, err);
    if (!rc && write(in->fd, hdr.data, hdr.len) != (ssize_t)hdr.len)
        rc = rn_error_set(err, RN_ERR_IO, "write %s: %s", in->tmp, strerror(errno));
    rn_buf_free(&hdr);
    if (rc) {
        close(in->fd);
        unlink(in->tmp);
        free(in);
        return rc;
    }
    *instance = in;
    return 0;
}

static int ingest_data(void *instance, const uint8_t *data, size_t len, RnError *err)
{
    Incoming *in = instance;
    while (len > 0) {
        ssize_t w = write(in->fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            in->failed = true;
            return rn_error_set(err, RN_ERR_IO, "write %s: %s", in->tmp,
                                w < 0 ? strerror(errno) : "no progress");
        }
        data += w;
        len -= (size_t)w;
    }
    return 0;
}

static uint16_t ingest_end(void *instance, bool complete, char *comment, size_t comment_size)
{
    Incoming *in = instance;
    Node *n = in->node;
    uint16_t status = RN_STATUS_SUCCESS;
    /* Data first (rn_store_put syncs it again, which is then nearly free):
     * the fsyncs of concurrent associations overlap here. */
    if (complete && !in->failed && fdatasync(in->fd) != 0)
        in->failed = true;
    close(in->fd);
    if (!complete || in->failed) {
        unlink(in->tmp);
        free(in);
        return RN_STATUS_OUT_OF_RESOURCES;
    }
    /* Header only: the ingest path never decodes (or even reads) pixel data. */
    RnError err = {0};
    RnReadOptions ro = {.stop_before = RN_TAG_PixelData};
    RnDicomFile *f = rn_dicom_read_file(in->tmp, &ro, &err);
    RnInstanceInfo info;
    char reason[700];
    if (!f) {
        rn_format(reason, sizeof reason, "from %s: unreadable data set: %s", in->calling_ae,
                 err.message);
        goto quarantine;
    }
    if (rn_instance_info_from_dataset(rn_dicom_file_dataset(f), in->ts, &info, &err)) {
        rn_format(reason, sizeof reason, "from %s: %s", in->calling_ae, err.message);
        rn_dicom_file_destroy(f);
        goto quarantine;
    }
    rn_dicom_file_destroy(f);
    if (strcmp(info.sop_uid, in->sop_instance) != 0) {
        rn_format(reason, sizeof reason,
                 "from %s: data set SOP Instance UID %s differs from the command's %s",
                 in->calling_ae, info.sop_uid, in->sop_instance);
        goto quarantine;
    }
    snprintf(info.calling_ae, sizeof info.calling_ae, "%s", in->calling_ae);
    RnPutResult res;
    if (rn_store_put(n->store, in->tmp, &info, &res, &err)) {
        rn_errorlog("ingest: %s from %s not stored: %s", in->sop_instance, in->calling_ae,
                    err.message);
        rn_format(comment, comment_size, "%.60s", err.message);
        unlink(in->tmp);
        free(in);
        return err.code == RN_ERR_LIMIT ? RN_STATUS_OUT_OF_RESOURCES
                                        : RN_STATUS_PROCESSING_FAILURE;
    }
    rn_debug("ingest: stored %s (%s) of study %s from %s", info.sop_uid, info.modality,
             info.study_uid, in->calling_ae);
    node_audit_stored(n, in->assoc, &info);
    free(in);
    return status;
quarantine:
    rn_warn("ingest: quarantined instance %s: %s", in->sop_instance, reason);
    if (rn_store_quarantine(n->store, in->tmp, reason, &err))
        unlink(in->tmp);
    rn_format(comment, comment_size, "%.60s", reason);
    free(in);
    /* PS3.4 B.2.3: A900 data set does not match SOP class; C000 cannot understand. */
    return RN_STATUS_CANNOT_UNDERSTAND;
}

/* ---- Query/Retrieve SCP: answers from the index ------------------------------------
 * C-FIND matches come from rn_store_find; C-MOVE and C-GET send the stored
 * files. A C-MOVE destination must be one of the configured DICOM
 * destinations (matched by its AE title), like a PACS knows its peers. */

typedef struct FindEmit {
    Node *node;
    RnQrResponder *r;
    int matches;
    int send_rc;
} FindEmit;

static int find_emit(RnDataset *rsp, void *user)
{
    FindEmit *f = user;
    /* PS3.4 C.4.1.1.3.2: where the match can be retrieved from. */
    rn_dataset_set_string(rsp, RN_TAG(0x0008, 0x0054), RN_VR_AE, f->node->cfg.ae_title, NULL);
    RnError err = {0};
    int rc = rn_qr_send_match(f->r, rsp, &err);
    if (rc < 0)
        rn_warn("C-FIND response not sent: %s", err.message);
    f->send_rc = rc;
    f->matches += rc == 0;
    return rc != 0;
}

static uint16_t qr_find(void *user, const RnQrRequest *rq, RnQrResponder *r, char *comment,
                        size_t comment_size)
{
    Node *n = user;
    FindEmit f = {.node = n, .r = r};
    node_audit_query(n, rq);
    RnError err = {0};
    int rc = rn_store_find(n->store, (RnQrLevel)rn_qr_level_parse(rq->level), rq->identifier,
                           find_emit, &f, &err);
    if (rc) {
        rn_warn("C-FIND from %s (%s): %s", rq->calling_ae, rq->level, err.message);
        rn_format(comment, comment_size, "%.60s", err.message);
        /* PS3.4 C.4.1.1.4: A900 identifier does not match SOP class; C000 unable to process. */
        return rc == RN_ERR_INVALID ? RN_STATUS_IDENTIFIER_MISMATCH : RN_STATUS_CANNOT_UNDERSTAND;
    }
    rn_info("C-FIND %s level from %s: %d match%s%s", rq->level, rq->calling_ae, f.matches,
            f.matches == 1 ? "" : "es", f.send_rc == 1 ? " (cancelled)" : "");
    return RN_STATUS_SUCCESS;
}

typedef struct RetrieveList {
    Node *node;
    RnQrResponder *r;
    int rc;
    RnError err;
    void *assoc; /* the association's audit state */
} RetrieveList;

static int retrieve_add(const RnInstanceInfo *info, void *user)
{
    RetrieveList *l = user;
    char path[1100];
    if (rn_store_abs_path(l->node->store, info, path, sizeof path) != 0)
        return 0;
    l->rc = rn_qr_add_instance(l->r, path, info->sop_class_uid, info->sop_uid,
                               info->transfer_syntax, &l->err);
    if (l->rc == 0)
        node_audit_retrieve_add(l->node, l->assoc, info);
    return l->rc != 0;
}

static uint16_t qr_retrieve(void *user, const RnQrRequest *rq, RnQrResponder *r, char *comment,
                            size_t comment_size)
{
    Node *n = user;
    RetrieveList l = {.node = n, .r = r, .assoc = rq->assoc_user};
    RnError err = {0};
    int rc = rn_store_retrieve(n->store, (RnQrLevel)rn_qr_level_parse(rq->level), rq->identifier,
                               retrieve_add, &l, &err);
    if (!rc && l.rc) {
        rc = l.rc;
        err = l.err;
    }
    if (rc) {
        rn_warn("%s from %s (%s): %s",
                rq->command_field == RN_DIMSE_C_MOVE_RQ ? "C-MOVE" : "C-GET", rq->calling_ae,
                rq->level, err.message);
        rn_format(comment, comment_size, "%.60s", err.message);
        /* A900 identifier does not match; A701 unable to calculate the matches. */
        return rc == RN_ERR_INVALID ? RN_STATUS_IDENTIFIER_MISMATCH : 0xA701;
    }
    node_audit_retrieve_begin(n, rq);
    return RN_STATUS_SUCCESS;
}

static bool qr_destination(void *user, const char *ae_title, RnQrDestination *out)
{
    Node *n = user;
    bool found = false;
    pthread_mutex_lock(&n->cfg_lock);
    for (int i = 0; i < n->cfg.destination_count && !found; i++) {
        const RnDestination *d = &n->cfg.destinations[i];
        if (d->type != RN_DEST_DICOM || strcmp(d->ae_title, ae_title) != 0)
            continue;
        snprintf(out->host, sizeof out->host, "%s", d->host);
        out->port = d->port;
        out->tls = d->tls ? n->tls_client : NULL;
        found = true;
    }
    pthread_mutex_unlock(&n->cfg_lock);
    return found;
}

/* ---- Study assembly and routing ------------------------------------------------ */

typedef struct SeriesRep {
    RnInstanceInfo info;
    int count;
} SeriesRep;

typedef struct Collect {
    SeriesRep *series;
    size_t n, cap;
} Collect;

static int collect_series(const RnInstanceInfo *info, void *user)
{
    Collect *c = user;
    /* radnode's own results, sent back with the study by the PACS, are never analysed. */
    if (!strcmp(info->manufacturer, "radnode"))
        return 0;
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->series[i].info.series_uid, info->series_uid)) {
            c->series[i].count++;
            return 0;
        }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        SeriesRep *p = realloc(c->series, cap * sizeof *p);
        if (!p)
            return 1;
        c->series = p;
        c->cap = cap;
    }
    c->series[c->n].info = *info;
    c->series[c->n].count = 1;
    c->n++;
    return 0;
}

static int route_study(const char *study_uid, int64_t generation, void *user)
{
    Node *n = user;
    RnError err = {0};
    /* A prior fetched from the PACS, or a re-sent copy of a study retention deleted. */
    if (node_priors_fetched(n, study_uid) || node_retention_resent(n, study_uid))
        return 0;
    Collect c = {0};
    if (rn_store_study_instances(n->store, study_uid, collect_series, &c, &err)) {
        rn_errorlog("assembly: study %s: %s", study_uid, err.message);
        free(c.series);
        return 1;
    }
    pthread_mutex_lock(&n->cfg_lock);
    int jobs = 0, rc = 0;
    for (int r = 0; r < n->cfg.route_count && rc == 0; r++) {
        const RnRoute *route = &n->cfg.routes[r];
        bool study_added = false;
        for (size_t s = 0; s < c.n && rc == 0; s++) {
            if (!rn_route_matches(route, &c.series[s].info))
                continue;
            if (!route->series_level && study_added)
                continue;
            RnJob j = {0};
            snprintf(j.kind, sizeof j.kind, "analyze");
            snprintf(j.target, sizeof j.target, "%s", route->analyzer);
            snprintf(j.study_uid, sizeof j.study_uid, "%s", study_uid);
            j.generation = generation;
            if (route->series_level)
                snprintf(j.payload, sizeof j.payload, "%s", c.series[s].info.series_uid);
            int64_t id = 0;
            if (rn_store_job_add(n->store, &j, &id, &err)) {
                rn_errorlog("assembly: cannot queue %s for %s: %s", route->analyzer, study_uid,
                            err.message);
                rc = 1;
                break;
            }
            study_added = true;
            if (id) {
                jobs++;
                rn_info("route %s: study %s series %s (%s, %d instances) -> %s (job %lld)",
                        route->name, study_uid, c.series[s].info.series_uid,
                        c.series[s].info.modality, c.series[s].count, route->analyzer,
                        (long long)id);
            }
        }
    }
    pthread_mutex_unlock(&n->cfg_lock);
    if (rc == 0 && jobs == 0)
        rn_info("assembly: study %s (generation %lld, %zu series) matches no route", study_uid,
                (long long)generation, c.n);
    free(c.series);
    return rc;
}

static void *assembler_main(void *arg)
{
    Node *n = arg;
    while (!atomic_load(&n->stop)) {
        RnError err = {0};
        if (rn_store_take_stable_studies(n->store, n->cfg.quiet_period, route_study, n, &err))
            rn_errorlog("assembly: %s", err.message);
        node_retention_tick(n);
        node_sleep(n, 0.5);
    }
    return NULL;
}

/* ---- Analysis workers ----------------------------------------------------------- */

void node_sleep(Node *n, double seconds)
{
    pthread_mutex_lock(&n->wake_lock);
    if (!atomic_load(&n->stop)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double t = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + seconds;
        ts.tv_sec = (time_t)t;
        ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
        pthread_cond_timedwait(&n->wake, &n->wake_lock, &ts);
    }
    pthread_mutex_unlock(&n->wake_lock);
}

static void job_dir(const Node *n, int64_t id, char *out, size_t size)
{
    snprintf(out, size, "%s/jobs/%lld", n->cfg.data_dir, (long long)id);
}

/* Last lines of a job's log, for the job's error column. */
static void log_tail(const char *path, char *out, size_t size)
{
    out[0] = '\0';
    size_t len;
    char *t = (char *)rn_file_read_all(path, 16u << 20, &len, NULL);
    if (!t)
        return;
    size_t start = len > size - 1 ? len - (size - 1) : 0;
    snprintf(out, size, "%s", t + start);
    for (char *p = out; *p; p++)
        if (*p == '\n')
            *p = ' ';
    free(t);
}

/* Runs `radnode analyze` on the job's inputs in a child process with limits.
 * Returns 0 when it exited 0; fills why otherwise. */
static int run_analysis(Node *n, const RnJob *job, const char *dir, char *why, size_t why_size)
{
    char out_dir[1100], log_path[1100], json_path[1100];
    /* Inputs: the series folder (series-level route), or every series of the
     * study except radnode's own results (study-level route). */
    Collect c = {0};
    RnError qerr = {0};
    if (rn_store_study_instances(n->store, job->study_uid, collect_series, &c, &qerr)) {
        rn_format(why, why_size, "listing study %s: %s", job->study_uid, qerr.message);
        free(c.series);
        return -1;
    }
    size_t nin = 0;
    char **inputs = rn_calloc(c.n + 1, sizeof *inputs);
    for (size_t s = 0; inputs && s < c.n; s++) {
        if (job->payload[0] && strcmp(job->payload, c.series[s].info.series_uid) != 0)
            continue;
        size_t need = strlen(n->cfg.data_dir) + strlen(job->study_uid) +
                      strlen(c.series[s].info.series_uid) + 16;
        inputs[nin] = malloc(need);
        if (inputs[nin])
            snprintf(inputs[nin++], need, "%s/instances/%s/%s", n->cfg.data_dir, job->study_uid,
                     c.series[s].info.series_uid);
    }
    char prior[1200] = "";
    /* The prior the analyzer asks for: from the store, else the PACS (priors.c). */
    bool has_prior = node_priors_for_job(n, job, prior, sizeof prior);
    free(c.series);
    if (!inputs || nin == 0) {
        rn_format(why, why_size, "no input series left for %s in study %s", job->target,
                  job->study_uid);
        for (size_t i = 0; inputs && i < nin; i++)
            free(inputs[i]);
        free(inputs);
        return -1;
    }
    snprintf(out_dir, sizeof out_dir, "%s/out", dir);
    snprintf(log_path, sizeof log_path, "%s/job.log", dir);
    snprintf(json_path, sizeof json_path, "%s/findings.jsonl", dir);
    RnError err = {0};
    char *fixed[] = {n->self_exe, "analyze", "--analyzer", (char *)job->target, "--out", out_dir,
                     "--json", "--lang", n->cfg.language, "--models", n->cfg.models_dir,
                     "--objects", "sr,sc,pdf,hl7", "--station", n->cfg.ae_title};
    size_t nfixed = sizeof fixed / sizeof fixed[0];
    char **argv = rn_calloc(nfixed + nin + 3, sizeof *argv);
    if (!argv || rn_mkdirs(out_dir, &err)) {
        rn_format(why, why_size, "%s", argv ? err.message : "out of memory");
        for (size_t i = 0; i < nin; i++)
            free(inputs[i]);
        free(inputs);
        free(argv);
        return -1;
    }
    memcpy(argv, fixed, sizeof fixed);
    if (has_prior) {
        argv[nfixed++] = "--prior";
        argv[nfixed++] = prior;
    }
    memcpy(argv + nfixed, inputs, nin * sizeof *inputs);
    int out_fd = open(json_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out_fd < 0 || log_fd < 0) {
        rn_format(why, why_size, "cannot open job files in %s", dir);
        if (out_fd >= 0)
            close(out_fd);
        if (log_fd >= 0)
            close(log_fd);
        for (size_t i = 0; i < nin; i++)
            free(inputs[i]);
        free(inputs);
        free(argv);
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        /* Child: only async-signal-safe calls until exec. */
#ifndef RN_ASAN_BUILD
        /* Under AddressSanitizer the shadow memory reservation (terabytes of
         * address space) cannot live with an address-space limit, so sanitizer
         * builds run analyses without it (time limits still apply). */
        struct rlimit as = {(rlim_t)n->cfg.job_memory_mb << 20, (rlim_t)n->cfg.job_memory_mb << 20};
        setrlimit(RLIMIT_AS, &as);
#endif
        struct rlimit cpu = {(rlim_t)n->cfg.job_timeout * 2, (rlim_t)n->cfg.job_timeout * 2 + 5};
        setrlimit(RLIMIT_CPU, &cpu);
        struct rlimit core = {0, 0};
        setrlimit(RLIMIT_CORE, &core);
        dup2(out_fd, 1);
        dup2(log_fd, 2);
        sigset_t none;
        sigemptyset(&none);
        pthread_sigmask(SIG_SETMASK, &none, NULL);
        execv(n->self_exe, argv);
        _exit(127);
    }
    close(out_fd);
    close(log_fd);
    for (size_t i = 0; i < nin; i++)
        free(inputs[i]);
    free(inputs);
    free(argv);
    if (pid < 0) {
        rn_format(why, why_size, "fork failed: %s", strerror(errno));
        return -1;
    }
    double deadline = rn_time_now() + n->cfg.job_timeout;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR) {
            rn_format(why, why_size, "waitpid: %s", strerror(errno));
            return -1;
        }
        if (rn_time_now() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            rn_format(why, why_size, "analysis exceeded the %d s time limit and was killed",
                     n->cfg.job_timeout);
            return -1;
        }
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    char tail[300];
    log_tail(log_path, tail, sizeof tail);
    if (WIFSIGNALED(status))
        rn_format(why, why_size, "analysis process killed by signal %d (%s); log: %s",
                 WTERMSIG(status), strsignal(WTERMSIG(status)), tail);
    else
        rn_format(why, why_size, "analysis exited with status %d; log: %s", WEXITSTATUS(status),
                 tail);
    return -1;
}

static void queue_exports(Node *n, const RnJob *job, const char *dir)
{
    pthread_mutex_lock(&n->cfg_lock);
    for (int d = 0; d < n->cfg.destination_count; d++) {
        RnJob e = {0};
        snprintf(e.kind, sizeof e.kind, "%s",
                 n->cfg.destinations[d].type == RN_DEST_DICOM ? "export-dicom" : "export-hl7");
        snprintf(e.target, sizeof e.target, "%s", n->cfg.destinations[d].name);
        snprintf(e.study_uid, sizeof e.study_uid, "%s", job->study_uid);
        e.generation = job->generation;
        snprintf(e.payload, sizeof e.payload, "%s/out", dir);
        RnError err = {0};
        int64_t id = 0;
        if (rn_store_job_add(n->store, &e, &id, &err))
            rn_errorlog("job %lld: cannot queue export to %s: %s", (long long)job->id,
                        n->cfg.destinations[d].name, err.message);
        else if (id)
            rn_info("job %lld: export %lld to %s queued", (long long)job->id, (long long)id,
                    n->cfg.destinations[d].name);
    }
    pthread_mutex_unlock(&n->cfg_lock);
}

static void *worker_main(void *arg)
{
    Node *n = arg;
    while (!atomic_load(&n->stop)) {
        RnJob job;
        RnError err = {0};
        int got = rn_store_job_claim(n->store, "analyze", &job, &err);
        if (got < 0)
            rn_errorlog("worker: %s", err.message);
        if (got != 1) {
            node_sleep(n, 0.5);
            continue;
        }
        char dir[600];
        job_dir(n, job.id, dir, sizeof dir);
        if (rn_mkdirs(dir, &err)) {
            rn_store_job_fail(n->store, job.id, err.message, n->cfg.max_attempts,
                              n->cfg.retry_base, n->cfg.retry_max, NULL);
            continue;
        }
        rn_info("job %lld: %s on study %s %s (attempt %d)", (long long)job.id, job.target,
                job.study_uid, job.payload, job.attempts);
        char why[512];
        double t0 = rn_time_now();
        bool analysed = run_analysis(n, &job, dir, why, sizeof why) == 0;
        node_http_observe_analysis(n, job.target, rn_time_now() - t0, analysed);
        if (analysed) {
            rn_info("job %lld: done in %.1f s", (long long)job.id, rn_time_now() - t0);
            /* Exports are queued before the job is marked done: a crash between
             * the two re-runs the analysis, whose results have the same UIDs. */
            queue_exports(n, &job, dir);
            rn_store_job_done(n->store, job.id, NULL);
        } else {
            rn_warn("job %lld: failed: %s", (long long)job.id, why);
            rn_store_job_fail(n->store, job.id, why, n->cfg.max_attempts, n->cfg.retry_base,
                              n->cfg.retry_max, NULL);
        }
    }
    return NULL;
}

/* At start: one clear message per destination that cannot be reached now
 * (a TCP connection within 3 s), naming the configuration line. Not fatal:
 * exports to it are queued and retried until it answers. */
static void check_destinations(const RnNodeConfig *cfg)
{
    for (int i = 0; i < cfg->destination_count; i++) {
        const RnDestination *d = &cfg->destinations[i];
        char port[16], why[200] = "";
        snprintf(port, sizeof port, "%d", d->port);
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
        int g = getaddrinfo(d->host, port, &hints, &ai);
        if (g != 0) {
            rn_format(why, sizeof why, "host name not resolved (%s)", gai_strerror(g));
        } else {
            int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            int rc = fd < 0 ? -1 : connect(fd, ai->ai_addr, ai->ai_addrlen);
            if (rc != 0 && fd >= 0 && errno == EINPROGRESS) {
                struct pollfd pf = {.fd = fd, .events = POLLOUT};
                int soerr = 0;
                socklen_t len = sizeof soerr;
                if (poll(&pf, 1, 3000) == 1 &&
                    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0)
                    rc = 0;
                else
                    errno = soerr ? soerr : ETIMEDOUT;
            }
            if (rc != 0)
                rn_format(why, sizeof why, "%s", strerror(errno));
            if (fd >= 0)
                close(fd);
            freeaddrinfo(ai);
        }
        if (why[0])
            rn_warn("%s:%d: destination %s (%s:%d) cannot be reached now: %s; its results are "
                    "queued and retried until it answers",
                    cfg->path[0] ? cfg->path : "(defaults)", d->line, d->name, d->host, d->port,
                    why);
    }
}

/* ---- Exports --------------------------------------------------------------------- */

static const RnDestination *find_destination(const Node *n, const char *name, RnDestination *copy)
{
    for (int i = 0; i < n->cfg.destination_count; i++)
        if (!strcmp(n->cfg.destinations[i].name, name)) {
            *copy = n->cfg.destinations[i];
            return copy;
        }
    return NULL;
}

/* Lists the files with a suffix in a folder (sorted). */
static int list_files(const char *dir, const char *suffix, char ***out, size_t *count)
{
    *out = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    struct dirent *e;
    size_t cap = 0;
    size_t sl = strlen(suffix);
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || l < sl || strcmp(e->d_name + l - sl, suffix))
            continue;
        if (*count == cap) {
            cap = cap ? cap * 2 : 8;
            char **p = realloc(*out, cap * sizeof *p);
            if (!p)
                break;
            *out = p;
        }
        size_t need = strlen(dir) + l + 2;
        char *full = malloc(need);
        if (!full)
            break;
        snprintf(full, need, "%s/%s", dir, e->d_name);
        (*out)[(*count)++] = full;
    }
    closedir(d);
    for (size_t i = 1; i < *count; i++)
        for (size_t j = i; j > 0 && strcmp((*out)[j - 1], (*out)[j]) > 0; j--) {
            char *t = (*out)[j];
            (*out)[j] = (*out)[j - 1];
            (*out)[j - 1] = t;
        }
    return 0;
}

static void free_list(char **l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

static int export_dicom(Node *n, const RnDestination *d, const char *dir, char *why, size_t ws)
{
    char **files;
    size_t count;
    if (list_files(dir, ".dcm", &files, &count)) {
        rn_format(why, ws, "cannot list %s", dir);
        return -1;
    }
    if (count == 0) {
        free_list(files, count);
        return 0;
    }
    RnAssocParams proposal = {0};
    RnError err = {0};
    int rc = 0;
    /* One context per SOP class, proposing the file's own syntax then explicit/implicit LE. */
    for (size_t i = 0; i < count && rc == 0; i++) {
        RnFileProbe probe;
        if (rn_net_probe_file(files[i], &probe, &err)) {
            rn_format(why, ws, "%s", err.message);
            rc = -1;
            break;
        }
        bool have = false;
        for (size_t c = 0; c < proposal.context_count; c++)
            if (!strcmp(proposal.contexts[c].abstract_syntax, probe.sop_class))
                have = true;
        if (have)
            continue;
        const char *ts[3] = {probe.transfer_syntax, RN_UID_EXPLICIT_VR_LE, RN_UID_IMPLICIT_VR_LE};
        size_t nts = strcmp(probe.transfer_syntax, RN_UID_EXPLICIT_VR_LE) ? 3 : 2;
        if (nts == 2) {
            ts[1] = RN_UID_IMPLICIT_VR_LE;
        }
        if (rn_assoc_params_add_context(&proposal, probe.sop_class, ts, nts, &err) < 0) {
            rn_format(why, ws, "%s", err.message);
            rc = -1;
        }
    }
    RnAssoc *a = NULL;
    if (rc == 0) {
        RnScuOptions o = {.host = d->host,
                          .port = d->port,
                          .calling_ae = d->calling_ae[0] ? d->calling_ae : n->cfg.ae_title,
                          .called_ae = d->ae_title,
                          .tls = d->tls ? n->tls_client : NULL};
        RnAssocReject rj = {0};
        a = rn_assoc_request(&o, &proposal, &rj, &err);
        if (!a) {
            rn_format(why, ws, "association with %s (%s:%d) failed: %s", d->name, d->host, d->port,
                     err.message);
            rc = -1;
        }
    }
    for (size_t i = 0; i < count && rc == 0; i++) {
        uint16_t status = 0xFFFF;
        if (rn_scu_store_file(a, files[i], NULL, 0, &status, &err)) {
            rn_format(why, ws, "C-STORE of %s to %s failed: %s", files[i], d->name, err.message);
            rc = -1;
        } else if (status != RN_STATUS_SUCCESS && (status & 0xF000) != 0xB000) {
            rn_format(why, ws, "%s refused %s with status 0x%04X", d->name, files[i], status);
            rc = -1;
        }
    }
    if (a) {
        if (rc == 0)
            rn_assoc_release(a, NULL);
        else
            rn_assoc_abort(a);
    }
    rn_assoc_params_clear(&proposal);
    if (rc == 0)
        rn_info("export: %zu object%s stored to %s (%s:%d)", count, count == 1 ? "" : "s",
                d->name, d->host, d->port);
    free_list(files, count);
    return rc;
}

static int export_hl7(const RnDestination *d, const char *dir, char *why, size_t ws)
{
    char **files;
    size_t count;
    if (list_files(dir, ".hl7", &files, &count)) {
        rn_format(why, ws, "cannot list %s", dir);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        size_t len;
        RnError err = {0};
        uint8_t *msg = rn_file_read_all(files[i], 16u << 20, &len, &err);
        if (!msg) {
            rn_format(why, ws, "%s", err.message);
            rc = -1;
            break;
        }
        RnHl7Ack ack;
        if (rn_hl7_mllp_send(d->host, (uint16_t)d->port, msg, len, NULL, &ack, &err)) {
            rn_format(why, ws, "MLLP to %s (%s:%d): %s", d->name, d->host, d->port, err.message);
            rc = -1;
        } else if (!rn_hl7_ack_code_accepted(ack.code)) {
            rn_format(why, ws, "%s answered %s: %s", d->name, rn_hl7_ack_code_name(ack.code),
                     ack.text);
            rc = -1;
        } else {
            rn_info("export: ORU^R01 %s acknowledged by %s", files[i], d->name);
        }
        free(msg);
    }
    free_list(files, count);
    return rc;
}

static void *exporter_main(void *arg)
{
    Node *n = arg;
    while (!atomic_load(&n->stop)) {
        RnJob job;
        RnError err = {0};
        int got = rn_store_job_claim(n->store, "export-dicom", &job, &err);
        if (got == 0)
            got = rn_store_job_claim(n->store, "export-hl7", &job, &err);
        if (got != 1) {
            if (got < 0)
                rn_errorlog("exporter: %s", err.message);
            node_sleep(n, 0.5);
            continue;
        }
        RnDestination d;
        pthread_mutex_lock(&n->cfg_lock);
        const RnDestination *dp = find_destination(n, job.target, &d);
        pthread_mutex_unlock(&n->cfg_lock);
        char why[600] = "";
        int rc;
        if (!dp) {
            rn_format(why, sizeof why, "destination \"%s\" is no longer configured", job.target);
            rc = -1;
        } else if (!strcmp(job.kind, "export-dicom")) {
            rc = export_dicom(n, dp, job.payload, why, sizeof why);
        } else {
            rc = export_hl7(dp, job.payload, why, sizeof why);
        }
        if (rc == 0) {
            rn_store_job_done(n->store, job.id, NULL);
            node_audit_export(n, dp, job.study_uid, job.payload);
        } else {
            rn_warn("export %lld to %s failed (attempt %d): %s", (long long)job.id, job.target,
                    job.attempts, why);
            rn_store_job_fail(n->store, job.id, why, n->cfg.max_attempts, n->cfg.retry_base,
                              n->cfg.retry_max, NULL);
            RnJob after;
            if (rn_store_job_get(n->store, job.id, &after, NULL) == 0 &&
                after.state == RN_JOB_DEAD)
                rn_errorlog("export %lld to %s is DEAD after %d attempts: %s; results are kept "
                            "in %s and wait for an operator",
                            (long long)job.id, job.target, after.attempts, why, job.payload);
        }
    }
    return NULL;
}

/* ---- Serve ----------------------------------------------------------------------------- */

static int resolve_self(Node *n, RnError *err)
{
    ssize_t l = readlink("/proc/self/exe", n->self_exe, sizeof n->self_exe - 1);
    if (l <= 0)
        return rn_error_set(err, RN_ERR_IO, "cannot find the radnode executable: %s",
                            strerror(errno));
    n->self_exe[l] = '\0';
    return 0;
}

static void apply_log_level(const char *lvl)
{
    rn_log_set_level(!strcmp(lvl, "debug")  ? RN_LOG_DEBUG
                     : !strcmp(lvl, "warn")  ? RN_LOG_WARN
                     : !strcmp(lvl, "error") ? RN_LOG_ERROR
                                             : RN_LOG_INFO);
}

int rn_node_serve(const RnNodeConfig *cfg, RnError *err)
{
    Node *n = rn_calloc(1, sizeof *n);
    if (!n)
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    n->cfg = *cfg;
    pthread_mutex_init(&n->cfg_lock, NULL);
    pthread_mutex_init(&n->wake_lock, NULL);
    pthread_cond_init(&n->wake, NULL);
    apply_log_level(cfg->log_level);
    int rc = resolve_self(n, err);
    if (rc)
        goto out;
    /* Signals are taken by the main thread only (sigwait below). */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Root is given up before the store is opened (src/node/privdrop.c). */
    NodePrivDrop drop;
    rc = node_privdrop_begin(cfg, &drop, err);
    if (rc)
        goto out;

    RnStoreConfig sc = {.root = cfg->data_dir,
                        .min_free_bytes = cfg->min_free_bytes,
                        .duplicates = cfg->duplicates};
    n->store = rn_store_open(&sc, err);
    if (!n->store) {
        rc = err ? err->code : RN_ERR_IO;
        goto out;
    }
    int recovered = rn_store_job_recover(n->store, NULL);
    if (recovered > 0)
        rn_warn("recovered %d job%s left running by a previous run; they run again", recovered,
                recovered == 1 ? "" : "s");
    /* The node's audit trail (the HTTP API borrows it) and DICOM TLS: audit_dicom.c. */
    rc = node_audit_open(n, err);
    if (!rc)
        rc = node_security_open(n, err);
    if (rc)
        goto out;

    const char *aes[RN_NODE_MAX_LIST + 1] = {0}, *hosts[RN_NODE_MAX_LIST + 1] = {0};
    for (int i = 0; i < cfg->allowed_calling_ae_count; i++)
        aes[i] = cfg->allowed_calling_aes[i];
    for (int i = 0; i < cfg->allowed_host_count; i++)
        hosts[i] = cfg->allowed_hosts[i];
    RnScpConfig scp = {
        .ae_title = cfg->ae_title,
        .bind_address = cfg->bind_address,
        .port = cfg->dicom_port,
        .max_associations = cfg->max_associations,
        .allowed_calling_aes = cfg->allowed_calling_ae_count ? aes : NULL,
        .allowed_hosts = cfg->allowed_host_count ? hosts : NULL,
        .store = {.begin = ingest_begin, .data = ingest_data, .end = ingest_end, .user = n},
        .qr = {.find = qr_find,
               .retrieve = qr_retrieve,
               .destination = qr_destination,
               .user = n},
    };
    node_security_scp_config(n, &scp);
    n->scp = rn_scp_start(&scp, err);
    if (!n->scp) {
        rc = err ? err->code : RN_ERR_NET;
        goto out;
    }
    if (cfg->http_port && node_http_start(n, err) != 0) {
        rc = err ? err->code : RN_ERR_NET;
        goto out;
    }
    rc = node_privdrop_finish(&drop, err); /* the ports are bound */
    if (rc)
        goto out;
    pthread_create(&n->assembler, NULL, assembler_main, n);
    n->worker_count = cfg->workers;
    n->workers = rn_calloc((size_t)cfg->workers, sizeof(pthread_t));
    for (int i = 0; i < cfg->workers; i++)
        pthread_create(&n->workers[i], NULL, worker_main, n);
    pthread_create(&n->exporter, NULL, exporter_main, n);
    n->threads_started = true;

    printf("radnode %s serving: AE title %s, DICOM port %d", RN_VERSION, cfg->ae_title,
           rn_scp_port(n->scp));
    if (cfg->http_port)
        printf(", status API %s://%s:%d/status", node_http_scheme(n), cfg->http_bind,
               n->http_port);
    printf(", data in %s, config %s\n", cfg->data_dir,
           cfg->path[0] ? cfg->path : "(built-in defaults)");
    for (int i = 0; i < cfg->route_count; i++)
        printf("  route %s -> %s\n", cfg->routes[i].name, cfg->routes[i].analyzer);
    for (int i = 0; i < cfg->destination_count; i++)
        printf("  destination %s: %s %s:%d %s\n", cfg->destinations[i].name,
               cfg->destinations[i].type == RN_DEST_DICOM ? "DICOM" : "HL7",
               cfg->destinations[i].host, cfg->destinations[i].port,
               cfg->destinations[i].ae_title);
    fflush(stdout);
    check_destinations(cfg);

    for (;;) {
        int sig = 0;
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            if (!cfg->path[0]) {
                rn_info("SIGHUP: running on built-in defaults, nothing to reload");
                continue;
            }
            RnNodeConfig fresh;
            RnError lerr = {0};
            if (rn_node_config_load(cfg->path, &fresh, &lerr)) {
                rn_errorlog("SIGHUP: configuration not reloaded: %s", lerr.message);
                continue;
            }
            pthread_mutex_lock(&n->cfg_lock);
            memcpy(n->cfg.routes, fresh.routes, sizeof fresh.routes);
            n->cfg.route_count = fresh.route_count;
            memcpy(n->cfg.destinations, fresh.destinations, sizeof fresh.destinations);
            n->cfg.destination_count = fresh.destination_count;
            pthread_mutex_unlock(&n->cfg_lock);
            rn_info("SIGHUP: reloaded %d routes and %d destinations from %s", fresh.route_count,
                    fresh.destination_count, cfg->path);
            continue;
        }
        rn_info("signal %d: shutting down", sig);
        break;
    }
out:
    atomic_store(&n->stop, true);
    pthread_mutex_lock(&n->wake_lock);
    pthread_cond_broadcast(&n->wake);
    pthread_mutex_unlock(&n->wake_lock);
    if (n->scp)
        rn_scp_stop(n->scp);
    node_http_stop(n);
    if (n->threads_started) {
        pthread_join(n->assembler, NULL);
        for (int i = 0; i < n->worker_count; i++)
            pthread_join(n->workers[i], NULL);
        pthread_join(n->exporter, NULL);
    }
    free(n->workers);
    if (n->store) {
        uint64_t puts = 0, groups = 0;
        rn_store_commit_stats(n->store, &puts, &groups);
        if (puts)
            rn_info("ingest: %llu instances committed in %llu groups", (unsigned long long)puts,
                    (unsigned long long)groups);
    }
    node_audit_close(n);
    node_security_close(n);
    rn_store_close(n->store);
    pthread_mutex_destroy(&n->cfg_lock);
    pthread_mutex_destroy(&n->wake_lock);
    pthread_cond_destroy(&n->wake);
    free(n);
    if (rc == 0)
        rn_info("stopped cleanly");
    return rc;
}
