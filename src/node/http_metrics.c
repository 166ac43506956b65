/*
 * GET /metrics: the node's figures in the Prometheus text exposition format
 * (version 0.0.4: "# HELP" and "# TYPE" lines, then `name{labels} value`).
 *
 * Counters since start come from the DICOM SCP and this API; the queue's
 * figures come from the store's index (read-only, like the JSON endpoints),
 * so they survive restarts: jobs by kind and state, failed export attempts
 * per destination, and the turnaround of finished analyses (queued to done).
 * The time each analysis process ran is recorded by serve.c through
 * node_http_observe_analysis (http_hooks.h). No label carries patient data:
 * labels are analyzer, destination, job kind and state names.
 */
#include "node/http_internal.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const double http_duration_bounds[HTTP_DURATION_BUCKETS] = {1,  2,   5,   10,  30,
                                                            60, 120, 300, 600, 1800};

void http_count_response(NodeHttp *h, unsigned status)
{
    unsigned cls = status / 100;
    if (cls < 1 || cls > 5)
        return;
    pthread_mutex_lock(&h->lock);
    h->responses[cls]++;
    pthread_mutex_unlock(&h->lock);
}

/* Label values: backslash, double quote and newline escaped (exposition format). */
static void label(RnBuf *b, const char *v)
{
    for (const char *p = v; *p; p++) {
        if (*p == '\\' || *p == '"')
            rn_buf_append_byte(b, '\\'), rn_buf_append_byte(b, (uint8_t)*p);
        else if (*p == '\n')
            rn_buf_append_str(b, "\\n");
        else
            rn_buf_append_byte(b, (uint8_t)*p);
    }
}

static void head(RnBuf *b, const char *name, const char *type, const char *help)
{
    rn_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void metric(RnBuf *b, const char *name, const char *type, const char *help, double v)
{
    head(b, name, type, help);
    rn_buf_printf(b, "%s %.17g\n", name, v);
}

static void histogram_line(RnBuf *b, const char *name, const char *lname, const char *lvalue,
                           const uint64_t *buckets, uint64_t count, double sum)
{
    for (int i = 0; i < HTTP_DURATION_BUCKETS; i++) {
        rn_buf_printf(b, "%s_bucket{%s=\"", name, lname);
        label(b, lvalue);
        rn_buf_printf(b, "\",le=\"%g\"} %llu\n", http_duration_bounds[i],
                      (unsigned long long)buckets[i]);
    }
    rn_buf_printf(b, "%s_bucket{%s=\"", name, lname);
    label(b, lvalue);
    rn_buf_printf(b, "\",le=\"+Inf\"} %llu\n%s_sum{%s=\"", (unsigned long long)count, name, lname);
    label(b, lvalue);
    rn_buf_printf(b, "\"} %.17g\n%s_count{%s=\"", sum, name, lname);
    label(b, lvalue);
    rn_buf_printf(b, "\"} %llu\n", (unsigned long long)count);
}

static void queue_metrics(NodeHttp *h, RnBuf *b)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(h->db_path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        sqlite3_close(db);
        return;
    }
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM studies", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        metric(b, "radnode_studies", "gauge", "Studies in the index.",
               (double)sqlite3_column_int64(st, 0));
    sqlite3_finalize(st);
    st = NULL;
    /* Retention (retention.c): one retention_log row per study whose inputs were deleted. */
    if (sqlite3_prepare_v2(db,
                           "SELECT COUNT(*), COALESCE(SUM(instances),0), COALESCE(SUM(bytes),0) "
                           "FROM retention_log",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        metric(b, "radnode_retention_studies_deleted_total", "counter",
               "Studies whose input instances the retention policy deleted.",
               (double)sqlite3_column_int64(st, 0));
        metric(b, "radnode_retention_instances_deleted_total", "counter",
               "Input instances deleted by the retention policy.",
               (double)sqlite3_column_int64(st, 1));
        metric(b, "radnode_retention_bytes_deleted_total", "counter",
               "Bytes of input instances deleted by the retention policy.",
               (double)sqlite3_column_int64(st, 2));
    }
    sqlite3_finalize(st);

    head(b, "radnode_jobs", "gauge", "Jobs in the persistent queue by kind and state.");
    /* Every state of the usual kinds appears, so a dashboard sees 0, not a gap. */
    static const char *kinds[] = {"analyze", "export-dicom", "export-hl7"};
    int64_t by[3][5] = {{0}};
    if (sqlite3_prepare_v2(db, "SELECT kind, state, COUNT(*) FROM jobs GROUP BY kind, state", -1,
                           &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *k = (const char *)sqlite3_column_text(st, 0);
            int s = sqlite3_column_int(st, 1);
            int64_t c = sqlite3_column_int64(st, 2);
            bool known = false;
            for (int i = 0; i < 3 && k; i++)
                if (!strcmp(k, kinds[i]) && s >= 0 && s < 5) {
                    by[i][s] = c;
                    known = true;
                }
            if (!known && k) {
                rn_buf_printf(b, "radnode_jobs{kind=\"");
                label(b, k);
                rn_buf_printf(b, "\",state=\"%s\"} %lld\n", rn_job_state_name((RnJobState)s),
                              (long long)c);
            }
        }
    }
    sqlite3_finalize(st);
    for (int i = 0; i < 3; i++)
        for (int s = 0; s < 5; s++)
            rn_buf_printf(b, "radnode_jobs{kind=\"%s\",state=\"%s\"} %lld\n", kinds[i],
                          rn_job_state_name((RnJobState)s), (long long)by[i][s]);

    head(b, "radnode_export_failed_attempts", "gauge",
         "Failed delivery attempts of the export jobs in the queue, per destination "
         "(an operator retry of a dead job resets its count).");
    /* attempts counts claims; a done or running job's last claim did not fail. */
    if (sqlite3_prepare_v2(db,
                           "SELECT target, SUM(CASE WHEN state IN (1,2) THEN MAX(attempts-1,0) "
                           "ELSE attempts END), SUM(state=4) FROM jobs WHERE kind LIKE 'export-%' "
                           "GROUP BY target ORDER BY target",
                           -1, &st, NULL) == SQLITE_OK) {
        RnBuf dead = {0};
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *t = (const char *)sqlite3_column_text(st, 0);
            rn_buf_printf(b, "radnode_export_failed_attempts{destination=\"");
            label(b, t ? t : "");
            rn_buf_printf(b, "\"} %lld\n", (long long)sqlite3_column_int64(st, 1));
            rn_buf_printf(&dead, "radnode_export_dead_letters{destination=\"");
            label(&dead, t ? t : "");
            rn_buf_printf(&dead, "\"} %lld\n", (long long)sqlite3_column_int64(st, 2));
        }
        head(b, "radnode_export_dead_letters", "gauge",
             "Export jobs that failed too often and wait for an operator, per destination.");
        if (dead.len)
            rn_buf_append(b, dead.data, dead.len);
        rn_buf_free(&dead);
    }
    sqlite3_finalize(st);

    head(b, "radnode_analysis_turnaround_seconds", "histogram",
         "Time from queueing to completion of finished analysis jobs, per analyzer.");
    char sql[1024] = "SELECT target, COUNT(*), SUM(updated-created)";
    for (int i = 0; i < HTTP_DURATION_BUCKETS; i++) {
        size_t l = strlen(sql);
        snprintf(sql + l, sizeof sql - l, ", SUM(updated-created <= %g)", http_duration_bounds[i]);
    }
    size_t l = strlen(sql);
    snprintf(sql + l, sizeof sql - l,
             " FROM jobs WHERE kind='analyze' AND state=2 GROUP BY target ORDER BY target");
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            uint64_t buckets[HTTP_DURATION_BUCKETS];
            for (int i = 0; i < HTTP_DURATION_BUCKETS; i++)
                buckets[i] = (uint64_t)sqlite3_column_int64(st, 3 + i);
            const char *t = (const char *)sqlite3_column_text(st, 0);
            histogram_line(b, "radnode_analysis_turnaround_seconds", "analyzer", t ? t : "",
                           buckets, (uint64_t)sqlite3_column_int64(st, 1),
                           sqlite3_column_double(st, 2));
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

void http_metrics(NodeHttp *h, HttpReply *out)
{
    Node *n = h->node;
    RnBuf b = {0};
    head(&b, "radnode_info", "gauge", "The running radnode.");
    rn_buf_printf(&b, "radnode_info{version=\"%s\",ae_title=\"", RN_VERSION);
    label(&b, n->cfg.ae_title);
    rn_buf_printf(&b, "\"} 1\n");
    metric(&b, "radnode_uptime_seconds", "gauge", "Seconds since the node started.",
           rn_time_now() - n->started);
    RnScpStats st = {0};
    if (n->scp) /* NULL only in tests that drive the router without a node */
        rn_scp_stats(n->scp, &st);
    metric(&b, "radnode_dicom_associations_total", "counter",
           "DICOM associations accepted since start.", (double)st.associations);
    metric(&b, "radnode_dicom_associations_rejected_total", "counter",
           "DICOM associations rejected (unknown AE title or address, no common context).",
           (double)st.rejected);
    metric(&b, "radnode_dicom_associations_aborted_total", "counter", "DICOM associations aborted.",
           (double)st.aborted);
    metric(&b, "radnode_dicom_associations_active", "gauge", "DICOM associations open now.",
           (double)st.active);
    metric(&b, "radnode_dicom_instances_received_total", "counter",
           "Instances received and stored (C-STORE success) since start.", (double)st.stored);
    metric(&b, "radnode_dicom_store_failures_total", "counter",
           "C-STORE requests answered with a failure status since start.",
           (double)st.store_failures);
    metric(&b, "radnode_dicom_echoes_total", "counter", "C-ECHO requests served since start.",
           (double)st.echoes);
    int64_t count = 0;
    if (n->store)
        rn_store_instance_count(n->store, NULL, &count, NULL);
    metric(&b, "radnode_instances", "gauge", "Instances in the store.", (double)count);
    metric(&b, "radnode_disk_space_ok", "gauge",
           "1 while free space is above min_free_mb (new instances accepted).",
           n->store && rn_store_has_space(n->store) ? 1 : 0);
    queue_metrics(h, &b);

    HttpAnalyzerStats an[HTTP_MAX_ANALYZERS];
    uint64_t resp[6], fails, logins, throttled;
    pthread_mutex_lock(&h->lock);
    int nan = h->analyzer_count;
    memcpy(an, h->analyzers, sizeof an);
    memcpy(resp, h->responses, sizeof resp);
    fails = h->login_failures;
    logins = h->logins;
    throttled = h->throttled;
    pthread_mutex_unlock(&h->lock);
    head(&b, "radnode_analysis_duration_seconds", "histogram",
         "Run time of analysis processes since start, per analyzer.");
    for (int i = 0; i < nan; i++)
        histogram_line(&b, "radnode_analysis_duration_seconds", "analyzer", an[i].analyzer,
                       an[i].buckets, an[i].count, an[i].sum);
    head(&b, "radnode_analysis_failures_total", "counter",
         "Analysis processes that failed (exit status, signal, time limit) since start.");
    for (int i = 0; i < nan; i++) {
        rn_buf_printf(&b, "radnode_analysis_failures_total{analyzer=\"");
        label(&b, an[i].analyzer);
        rn_buf_printf(&b, "\"} %llu\n", (unsigned long long)an[i].failures);
    }
    head(&b, "radnode_http_responses_total", "counter",
         "Operator API responses since start by status class.");
    for (int c = 1; c <= 5; c++)
        rn_buf_printf(&b, "radnode_http_responses_total{code=\"%dxx\"} %llu\n", c,
                      (unsigned long long)resp[c]);
    metric(&b, "radnode_http_login_failures_total", "counter",
           "Failed authentications (wrong password, unknown user, bad or expired token).",
           (double)fails);
    metric(&b, "radnode_http_logins_total", "counter", "Sessions opened by POST /api/login.",
           (double)logins);
    metric(&b, "radnode_http_throttled_total", "counter",
           "Authentication attempts refused with 429 during a brute-force back-off.",
           (double)throttled);
    if (h->audit)
        metric(&b, "radnode_audit_pending_bytes", "gauge",
               "Audit log bytes not yet delivered to the audit repository.",
               (double)rn_audit_trail_pending(h->audit));
    if (rn_buf_append_byte(&b, 0)) {
        rn_buf_free(&b);
        http_reply_error(out, 500, "internal", "out of memory");
        return;
    }
    out->status = 200;
    out->type = "text/plain; version=0.0.4; charset=utf-8";
    out->body = (char *)rn_buf_take(&b, NULL);
}
