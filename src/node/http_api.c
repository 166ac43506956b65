/*
 * The JSON endpoints of the operator API (the routes are listed in http.c).
 *
 * Data comes from the store's SQLite index through a connection each request
 * opens itself, read-only, so the HTTP threads never hold the store's lock
 * the ingest path needs; WAL lets these reads run beside the writers. The
 * one write, re-queueing a dead or failed job, is a single guarded UPDATE on
 * its own read-write connection (SQLite serialises it with the store's own
 * transactions) followed by a wake-up of the node's workers.
 *
 * Studies are searched by attributes that are not identifying in a URL
 * (modality, dates, accession number, Study Instance UID); searching by
 * patient ID or name is POST /api/studies/search with the keys in the body,
 * so they stay out of URLs, proxies' logs and browser histories. Every
 * study listing or view is a PS3.15 A.5.3 audit event (Query, or DICOM
 * Instances Accessed), naming the user and the studies or patient.
 */
#include "node/http_internal.h"
#include "node/http_hooks.h"
#include "radnode/research.h"

#include <ctype.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STUDY_ROOT_FIND "1.2.840.10008.5.1.4.1.2.2.1"

/* ---- Helpers ---------------------------------------------------------------------------- */

static sqlite3 *db_open(NodeHttp *h, bool write, HttpReply *out)
{
    sqlite3 *db = NULL;
    int flags = (write ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY) | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(h->db_path, &db, flags, NULL) != SQLITE_OK) {
        rn_errorlog("http: cannot open the index %s: %s", h->db_path,
                    db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        http_reply_error(out, 503, "store_unavailable", "the store's index cannot be opened");
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static void db_failed(sqlite3 *db, HttpReply *out)
{
    rn_errorlog("http: index query failed: %s", sqlite3_errmsg(db));
    http_reply_error(out, 500, "store_error", "the store's index could not be read");
}

static json_t *iso_time(double t)
{
    if (t <= 0)
        return json_null();
    time_t s = (time_t)t;
    struct tm tm;
    gmtime_r(&s, &tm);
    char b[32];
    strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(b);
}

static json_t *col_str(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    /* jansson refuses invalid UTF-8; a stored value that is not is shown empty. */
    json_t *s = json_string(t ? (const char *)t : "");
    return s ? s : json_string("");
}

static const char *arg(const HttpRequest *rq, json_t *body, const char *key)
{
    if (body) {
        json_t *v = json_object_get(body, key);
        return json_is_string(v) ? json_string_value(v) : NULL;
    }
    return rq->query ? rq->query(rq, key) : NULL;
}

/* A non-negative integer argument within [0, max]; -1 when malformed. */
static int64_t int_arg(const HttpRequest *rq, json_t *body, const char *key, int64_t def,
                       int64_t max)
{
    if (body) {
        json_t *v = json_object_get(body, key);
        if (!v)
            return def;
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
            return -1;
        return json_integer_value(v);
    }
    const char *s = rq->query ? rq->query(rq, key) : NULL;
    if (!s)
        return def;
    if (!*s || strlen(s) > 12)
        return -1;
    int64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v > max ? -1 : v;
}

static bool text_ok(const char *s, size_t max, const char *extra)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && !strchr(extra, c))
            return false;
    }
    return true;
}

typedef struct Where {
    char sql[1024];
    const char *params[12];
    int n;
} Where;

static void where_add(Where *w, const char *clause, const char *param)
{
    size_t l = strlen(w->sql);
    snprintf(w->sql + l, sizeof w->sql - l, "%s%s",
             w->n || strstr(w->sql, "WHERE") ? " AND " : " WHERE ", clause);
    if (param)
        w->params[w->n++] = param;
}

static void bind_where(sqlite3_stmt *st, const Where *w)
{
    for (int i = 0; i < w->n; i++)
        sqlite3_bind_text(st, i + 1, w->params[i], -1, SQLITE_STATIC);
}

static const char *analysis_state(sqlite3 *db, const char *study_uid, json_t *counts)
{
    sqlite3_stmt *st = NULL;
    int by[5] = {0};
    if (sqlite3_prepare_v2(db,
                           "SELECT state, COUNT(*) FROM jobs WHERE study_uid=? AND "
                           "kind='analyze' GROUP BY state",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, study_uid, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW) {
            int s = sqlite3_column_int(st, 0);
            if (s >= 0 && s < 5)
                by[s] = sqlite3_column_int(st, 1);
        }
    }
    sqlite3_finalize(st);
    if (counts)
        for (int s = 0; s < 5; s++)
            json_object_set_new(counts, rn_job_state_name((RnJobState)s), json_integer(by[s]));
    if (by[RN_JOB_RUNNING])
        return "running";
    if (by[RN_JOB_QUEUED] || by[RN_JOB_FAILED])
        return "pending";
    if (by[RN_JOB_DEAD])
        return "dead";
    if (by[RN_JOB_DONE])
        return "done";
    return "none";
}

static json_t *job_json(sqlite3_stmt *st)
{
    json_t *o = json_object();
    int64_t id = sqlite3_column_int64(st, 0);
    int state = sqlite3_column_int(st, 6);
    json_object_set_new(o, "id", json_integer(id));
    json_object_set_new(o, "kind", col_str(st, 1));
    json_object_set_new(o, "target", col_str(st, 2));
    json_object_set_new(o, "study_uid", col_str(st, 3));
    json_object_set_new(o, "generation", json_integer(sqlite3_column_int64(st, 4)));
    json_object_set_new(o, "payload", col_str(st, 5));
    json_object_set_new(o, "state", json_string(rn_job_state_name((RnJobState)state)));
    json_object_set_new(o, "attempts", json_integer(sqlite3_column_int(st, 7)));
    json_object_set_new(o, "next_run_at",
                        state == RN_JOB_FAILED ? iso_time(sqlite3_column_double(st, 8))
                                               : json_null());
    json_object_set_new(o, "last_error", col_str(st, 9));
    json_object_set_new(o, "created", iso_time(sqlite3_column_double(st, 10)));
    json_object_set_new(o, "updated", iso_time(sqlite3_column_double(st, 11)));
    if (state == RN_JOB_DEAD || state == RN_JOB_FAILED) {
        char url[64];
        snprintf(url, sizeof url, "/api/jobs/%lld/retry", (long long)id);
        json_object_set_new(o, "retry", json_string(url));
    }
    return o;
}

#define JOB_COLUMNS                                                                                \
    "id, kind, target, study_uid, generation, payload, state, attempts, next_run_at, "             \
    "last_error, created, updated"

static int state_parse(const char *s)
{
    for (int i = 0; i < 5; i++)
        if (!strcmp(s, rn_job_state_name((RnJobState)i)))
            return i;
    return -1;
}

/* ---- /ready, /status ---------------------------------------------------------------------- */

void http_api_ready(NodeHttp *h, HttpReply *out)
{
    Node *n = h->node;
    json_t *checks = json_object();
    bool store = false;
    HttpReply tmp = {0};
    sqlite3 *db = db_open(h, false, &tmp);
    free(tmp.body);
    if (db) {
        sqlite3_stmt *st = NULL;
        store = sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM jobs WHERE state=1", -1, &st, NULL) ==
                    SQLITE_OK &&
                sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
        sqlite3_close(db);
    }
    bool disk = n->store && rn_store_has_space(n->store);
    bool dicom = n->scp && rn_scp_port(n->scp) > 0 && !atomic_load(&n->stop);
    json_object_set_new(checks, "store", json_boolean(store));
    json_object_set_new(checks, "disk_space", json_boolean(disk));
    json_object_set_new(checks, "dicom_listener", json_boolean(dicom));
    json_object_set_new(checks, "audit_log", json_boolean(h->audit != NULL));
    bool ready = store && disk && dicom && h->audit;
    json_t *o = json_object();
    json_object_set_new(o, "ready", json_boolean(ready));
    json_object_set_new(o, "checks", checks);
    http_reply_json(out, ready ? 200 : 503, o);
}

void http_api_status(NodeHttp *h, HttpReply *out)
{
    Node *n = h->node;
    json_t *o = json_object();
    json_object_set_new(o, "version", json_string(RN_VERSION));
    json_object_set_new(o, "ae_title", json_string(n->cfg.ae_title));
    json_object_set_new(o, "dicom_port", json_integer(n->scp ? rn_scp_port(n->scp) : 0));
    json_object_set_new(o, "uptime_s", json_real(rn_time_now() - n->started));
    int64_t count = 0;
    if (n->store)
        rn_store_instance_count(n->store, NULL, &count, NULL);
    json_object_set_new(o, "instances", json_integer(count));
    json_t *jobs = json_object();
    for (int s = RN_JOB_QUEUED; s <= RN_JOB_DEAD; s++) {
        int64_t c = 0;
        if (n->store)
            rn_store_job_count(n->store, (RnJobState)s, &c, NULL);
        json_object_set_new(jobs, rn_job_state_name((RnJobState)s), json_integer(c));
    }
    json_object_set_new(o, "jobs", jobs);
    RnScpStats st = {0};
    if (n->scp) /* NULL only in tests that drive the router without a node */
        rn_scp_stats(n->scp, &st);
    json_t *scp = json_object();
    json_object_set_new(scp, "associations", json_integer((json_int_t)st.associations));
    json_object_set_new(scp, "rejected", json_integer((json_int_t)st.rejected));
    json_object_set_new(scp, "stored", json_integer((json_int_t)st.stored));
    json_object_set_new(scp, "store_failures", json_integer((json_int_t)st.store_failures));
    json_object_set_new(scp, "active", json_integer(st.active));
    json_object_set_new(o, "dicom", scp);
    json_object_set_new(o, "disk_ok", json_boolean(n->store && rn_store_has_space(n->store)));
    http_reply_json(out, 200, o);
}

/* ---- Studies ------------------------------------------------------------------------------ */

static void audit_query(NodeHttp *h, const HttpRequest *rq, const HttpPrincipal *who,
                        json_t *filters, const char *patient_id)
{
    char *q = json_dumps(filters, JSON_COMPACT | JSON_SORT_KEYS);
    RnAuditEvent ev = {.kind = RN_AUDIT_QUERY,
                       .outcome = RN_AUDIT_SUCCESS,
                       .query = (const uint8_t *)(q ? q : "{}"),
                       .query_len = q ? strlen(q) : 2,
                       .query_sop_class = STUDY_ROOT_FIND,
                       .patient_id = patient_id};
    http_audit(h, rq, who->user, &ev);
    free(q);
}

void http_api_studies(NodeHttp *h, const HttpRequest *rq, const HttpPrincipal *who, bool search,
                      HttpReply *out)
{
    json_t *body = NULL;
    if (search) {
        json_error_t jerr;
        body = json_loadb(rq->body ? rq->body : "", rq->body_len, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(body)) {
            json_decref(body);
            http_reply_error(out, 400, "bad_json", "the body must be a JSON object: %s", jerr.text);
            return;
        }
        static const char *known[] = {"patient_id", "patient_name", "modality",
                                      "accession",  "study_uid",    "date_from",
                                      "date_to",    "limit",        "offset"};
        const char *key;
        json_t *v;
        json_object_foreach(body, key, v)
        {
            bool ok = false;
            for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
                ok |= !strcmp(key, known[i]);
            if (!ok) {
                http_reply_error(out, 400, "bad_request", "unknown search key \"%.64s\"", key);
                json_decref(body);
                return;
            }
        }
    } else if (rq->query && (rq->query(rq, "patient_id") || rq->query(rq, "patient_name"))) {
        http_reply_error(out, 400, "bad_request",
                         "patient keys are not accepted in URLs; POST them to "
                         "/api/studies/search");
        return;
    }
    int64_t limit = int_arg(rq, body, "limit", 50, 500);
    int64_t offset = int_arg(rq, body, "offset", 0, 1000000000);
    if (limit < 0 || offset < 0) {
        http_reply_error(out, 400, "bad_request", "limit (0..500) and offset must be integers");
        json_decref(body);
        return;
    }
    Where w = {.sql = ""};
    json_t *filters = json_object();
    const char *v;
    const char *patient_id = NULL;
    char like[200];
    if ((v = arg(rq, body, "modality"))) {
        if (!text_ok(v, 16, "_")) {
            http_reply_error(out, 400, "bad_request", "modality: up to 16 letters or digits");
            goto bad;
        }
        where_add(&w,
                  "EXISTS (SELECT 1 FROM instances i WHERE i.study_uid=s.study_uid AND "
                  "i.modality=?)",
                  v);
        json_object_set_new(filters, "modality", json_string(v));
    }
    if ((v = arg(rq, body, "accession"))) {
        if (!text_ok(v, 16, "-_./ ")) {
            http_reply_error(out, 400, "bad_request", "accession: up to 16 characters");
            goto bad;
        }
        where_add(&w, "s.accession_number=?", v);
        json_object_set_new(filters, "accession", json_string(v));
    }
    if ((v = arg(rq, body, "study_uid"))) {
        if (!text_ok(v, 64, ".")) {
            http_reply_error(out, 400, "bad_request", "study_uid: digits and dots");
            goto bad;
        }
        where_add(&w, "s.study_uid=?", v);
        json_object_set_new(filters, "study_uid", json_string(v));
    }
    const char *dates[2] = {"date_from", "date_to"};
    for (int i = 0; i < 2; i++)
        if ((v = arg(rq, body, dates[i]))) {
            if (strlen(v) != 8 || !text_ok(v, 8, "")) {
                http_reply_error(out, 400, "bad_request", "%s: YYYYMMDD", dates[i]);
                goto bad;
            }
            where_add(&w, i == 0 ? "s.study_date>=?" : "s.study_date<=?", v);
            json_object_set_new(filters, dates[i], json_string(v));
        }
    if (search && (v = arg(rq, body, "patient_id"))) {
        if (!*v || strlen(v) > 64) {
            http_reply_error(out, 400, "bad_request", "patient_id: 1..64 characters");
            goto bad;
        }
        where_add(&w, "s.patient_id=?", v);
        json_object_set_new(filters, "patient_id", json_string(v));
        patient_id = v;
    }
    if (search && (v = arg(rq, body, "patient_name"))) {
        /* DICOM-style wildcards: * any run, ? one character; LIKE's own are escaped. */
        size_t o = 0;
        for (const char *p = v; *p && o + 3 < sizeof like; p++) {
            if (*p == '%' || *p == '_' || *p == '\\')
                like[o++] = '\\', like[o++] = *p;
            else
                like[o++] = *p == '*' ? '%' : *p == '?' ? '_' : *p;
        }
        like[o] = '\0';
        if (!*v || strlen(v) > 190) {
            http_reply_error(out, 400, "bad_request", "patient_name: 1..190 characters");
            goto bad;
        }
        where_add(&w, "s.patient_name LIKE ? ESCAPE '\\'", like);
        json_object_set_new(filters, "patient_name", json_string(v));
    }
    sqlite3 *db = db_open(h, false, out);
    if (!db)
        goto bad;
    char sql[2048];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM studies s%s", w.sql);
    sqlite3_stmt *st = NULL;
    int64_t total = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        db_failed(db, out);
        sqlite3_close(db);
        goto bad;
    }
    bind_where(st, &w);
    if (sqlite3_step(st) == SQLITE_ROW)
        total = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    snprintf(sql, sizeof sql,
             "SELECT s.study_uid, s.patient_id, s.patient_name, s.patient_sex, s.study_date, "
             "s.accession_number, s.study_description, s.last_received, s.generation, "
             "(SELECT COUNT(*) FROM instances i WHERE i.study_uid=s.study_uid), "
             "(SELECT COUNT(DISTINCT series_uid) FROM instances i WHERE i.study_uid=s.study_uid), "
             "(SELECT GROUP_CONCAT(DISTINCT modality) FROM instances i WHERE "
             "i.study_uid=s.study_uid) "
             "FROM studies s%s ORDER BY s.last_received DESC, s.study_uid LIMIT %lld OFFSET %lld",
             w.sql, (long long)limit, (long long)offset);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        db_failed(db, out);
        sqlite3_close(db);
        goto bad;
    }
    bind_where(st, &w);
    json_t *list = json_array();
    while (sqlite3_step(st) == SQLITE_ROW) {
        json_t *s = json_object();
        const char *uid = (const char *)sqlite3_column_text(st, 0);
        json_object_set_new(s, "study_uid", col_str(st, 0));
        json_object_set_new(s, "patient_id", col_str(st, 1));
        json_object_set_new(s, "patient_name", col_str(st, 2));
        json_object_set_new(s, "patient_sex", col_str(st, 3));
        json_object_set_new(s, "study_date", col_str(st, 4));
        json_object_set_new(s, "accession_number", col_str(st, 5));
        json_object_set_new(s, "study_description", col_str(st, 6));
        json_object_set_new(s, "last_received", iso_time(sqlite3_column_double(st, 7)));
        json_object_set_new(s, "generation", json_integer(sqlite3_column_int64(st, 8)));
        json_object_set_new(s, "instances", json_integer(sqlite3_column_int64(st, 9)));
        json_object_set_new(s, "series", json_integer(sqlite3_column_int64(st, 10)));
        json_t *mods = json_array();
        const char *m = (const char *)sqlite3_column_text(st, 11);
        if (m) {
            char buf[256];
            snprintf(buf, sizeof buf, "%s", m);
            char *save = NULL;
            for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
                if (*t)
                    json_array_append_new(mods, json_string(t));
        }
        json_object_set_new(s, "modalities", mods);
        json_object_set_new(s, "analysis", json_string(analysis_state(db, uid ? uid : "", NULL)));
        char url[128];
        snprintf(url, sizeof url, "/api/studies/%s", uid ? uid : "");
        json_object_set_new(s, "href", json_string(url));
        json_array_append_new(list, s);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    json_t *o = json_object();
    json_object_set_new(o, "total", json_integer(total));
    json_object_set_new(o, "offset", json_integer(offset));
    json_object_set_new(o, "limit", json_integer(limit));
    json_object_set_new(o, "studies", list);
    json_object_set_new(filters, "limit", json_integer(limit));
    json_object_set_new(filters, "offset", json_integer(offset));
    audit_query(h, rq, who, filters, patient_id);
    json_decref(filters);
    json_decref(body);
    http_reply_json(out, 200, o);
    return;
bad:
    json_decref(filters);
    json_decref(body);
}

void http_api_study(NodeHttp *h, const HttpRequest *rq, const HttpPrincipal *who,
                    const char *study_uid, HttpReply *out)
{
    sqlite3 *db = db_open(h, false, out);
    if (!db)
        return;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT study_uid, patient_id, patient_name, patient_birth_date, "
                           "patient_sex, study_date, accession_number, study_description, "
                           "last_received, generation, handed_generation FROM studies WHERE "
                           "study_uid=?",
                           -1, &st, NULL) != SQLITE_OK) {
        db_failed(db, out);
        sqlite3_close(db);
        return;
    }
    sqlite3_bind_text(st, 1, study_uid, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        sqlite3_close(db);
        http_reply_error(out, 404, "not_found", "no study %s", study_uid);
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "study_uid", col_str(st, 0));
    json_object_set_new(o, "patient_id", col_str(st, 1));
    json_object_set_new(o, "patient_name", col_str(st, 2));
    json_object_set_new(o, "patient_birth_date", col_str(st, 3));
    json_object_set_new(o, "patient_sex", col_str(st, 4));
    json_object_set_new(o, "study_date", col_str(st, 5));
    json_object_set_new(o, "accession_number", col_str(st, 6));
    json_object_set_new(o, "study_description", col_str(st, 7));
    json_object_set_new(o, "last_received", iso_time(sqlite3_column_double(st, 8)));
    json_object_set_new(o, "generation", json_integer(sqlite3_column_int64(st, 9)));
    int64_t gen = sqlite3_column_int64(st, 9), handed = sqlite3_column_int64(st, 10);
    /* Assembly: waiting for the quiet period, or handed to routing. */
    json_object_set_new(o, "assembly", json_string(handed >= gen ? "stable" : "receiving"));
    char patient_id[65], patient_name[200], accession[17];
    const char *t1 = (const char *)sqlite3_column_text(st, 1);
    const char *t2 = (const char *)sqlite3_column_text(st, 2);
    const char *t6 = (const char *)sqlite3_column_text(st, 6);
    rn_format(patient_id, sizeof patient_id, "%s", t1 ? t1 : "");
    rn_format(patient_name, sizeof patient_name, "%s", t2 ? t2 : "");
    rn_format(accession, sizeof accession, "%s", t6 ? t6 : "");
    sqlite3_finalize(st);

    json_t *series = json_array();
    unsigned instances = 0;
    char sop_class[65] = "";
    if (sqlite3_prepare_v2(db,
                           "SELECT series_uid, MIN(modality), MIN(body_part), "
                           "MIN(series_description), COUNT(*), MIN(sop_class_uid), "
                           "MAX(manufacturer='radnode'), MAX(received) FROM instances WHERE "
                           "study_uid=? GROUP BY series_uid ORDER BY MIN(received)",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, study_uid, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW) {
            json_t *s = json_object();
            json_object_set_new(s, "series_uid", col_str(st, 0));
            json_object_set_new(s, "modality", col_str(st, 1));
            json_object_set_new(s, "body_part", col_str(st, 2));
            json_object_set_new(s, "series_description", col_str(st, 3));
            json_object_set_new(s, "instances", json_integer(sqlite3_column_int64(st, 4)));
            json_object_set_new(s, "sop_class_uid", col_str(st, 5));
            json_object_set_new(s, "radnode_result", json_boolean(sqlite3_column_int(st, 6)));
            json_object_set_new(s, "last_received", iso_time(sqlite3_column_double(st, 7)));
            instances += (unsigned)sqlite3_column_int64(st, 4);
            if (!sop_class[0] && sqlite3_column_text(st, 5))
                snprintf(sop_class, sizeof sop_class, "%s",
                         (const char *)sqlite3_column_text(st, 5));
            json_array_append_new(series, s);
        }
    }
    sqlite3_finalize(st);
    json_object_set_new(o, "series", series);
    json_object_set_new(o, "instances", json_integer(instances));

    json_t *jobs = json_array();
    if (sqlite3_prepare_v2(db, "SELECT " JOB_COLUMNS " FROM jobs WHERE study_uid=? ORDER BY id", -1,
                           &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, study_uid, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW)
            json_array_append_new(jobs, job_json(st));
    }
    sqlite3_finalize(st);
    json_object_set_new(o, "jobs", jobs);
    json_t *counts = json_object();
    json_object_set_new(o, "analysis", json_string(analysis_state(db, study_uid, counts)));
    json_object_set_new(o, "analysis_jobs", counts);
    sqlite3_close(db);

    RnAuditEvent ev = {.kind = RN_AUDIT_INSTANCES_ACCESSED,
                       .outcome = RN_AUDIT_SUCCESS,
                       .study_count = 1,
                       .patient_id = patient_id,
                       .patient_name = patient_name};
    ev.studies[0] = (RnAuditStudy){.study_uid = study_uid,
                                   .accession = accession,
                                   .sop_class_uid = sop_class[0] ? sop_class : NULL,
                                   .instances = instances};
    http_audit(h, rq, who->user, &ev);
    http_reply_json(out, 200, o);
}

/* ---- Jobs, dead letters, exports ---------------------------------------------------------- */

void http_api_jobs(NodeHttp *h, const HttpRequest *rq, const char *fixed_state,
                   const char *kind_prefix, HttpReply *out)
{
    int64_t limit = int_arg(rq, NULL, "limit", 100, 1000);
    int64_t offset = int_arg(rq, NULL, "offset", 0, 1000000000);
    if (limit < 0 || offset < 0) {
        http_reply_error(out, 400, "bad_request", "limit (0..1000) and offset must be integers");
        return;
    }
    Where w = {.sql = ""};
    char state_txt[4];
    const char *state = fixed_state ? fixed_state : arg(rq, NULL, "state");
    if (state) {
        int s = state_parse(state);
        if (s < 0) {
            http_reply_error(out, 400, "bad_request",
                             "state: one of queued, running, done, failed, dead");
            return;
        }
        snprintf(state_txt, sizeof state_txt, "%d", s);
        where_add(&w, "state=?", state_txt);
    }
    const char *kind = arg(rq, NULL, "kind");
    if (kind) {
        if (!text_ok(kind, 31, "-_")) {
            http_reply_error(out, 400, "bad_request", "kind: e.g. analyze, export-dicom");
            return;
        }
        where_add(&w, "kind=?", kind);
    }
    if (kind_prefix)
        where_add(&w, "kind LIKE 'export-%'", NULL);
    const char *study = arg(rq, NULL, "study_uid");
    if (study) {
        if (!text_ok(study, 64, ".")) {
            http_reply_error(out, 400, "bad_request", "study_uid: digits and dots");
            return;
        }
        where_add(&w, "study_uid=?", study);
    }
    const char *target = arg(rq, NULL, "target");
    if (target) {
        if (!text_ok(target, 63, "-_.")) {
            http_reply_error(out, 400, "bad_request", "target: an analyzer or destination name");
            return;
        }
        where_add(&w, "target=?", target);
    }
    sqlite3 *db = db_open(h, false, out);
    if (!db)
        return;
    char sql[2048];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM jobs%s", w.sql);
    sqlite3_stmt *st = NULL;
    int64_t total = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        db_failed(db, out);
        sqlite3_close(db);
        return;
    }
    bind_where(st, &w);
    if (sqlite3_step(st) == SQLITE_ROW)
        total = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    snprintf(sql, sizeof sql,
             "SELECT " JOB_COLUMNS " FROM jobs%s ORDER BY id DESC LIMIT %lld "
             "OFFSET %lld",
             w.sql, (long long)limit, (long long)offset);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        db_failed(db, out);
        sqlite3_close(db);
        return;
    }
    bind_where(st, &w);
    json_t *list = json_array();
    while (sqlite3_step(st) == SQLITE_ROW)
        json_array_append_new(list, job_json(st));
    sqlite3_finalize(st);
    json_t *o = json_object();
    json_object_set_new(o, "total", json_integer(total));
    json_object_set_new(o, "offset", json_integer(offset));
    json_object_set_new(o, "limit", json_integer(limit));
    json_object_set_new(o, "jobs", list);
    if (kind_prefix) {
        /* Per destination: what is configured and how its exports stand. */
        json_t *dests = json_array();
        Node *n = h->node;
        pthread_mutex_lock(&n->cfg_lock);
        for (int i = 0; i < n->cfg.destination_count; i++) {
            const RnDestination *d = &n->cfg.destinations[i];
            json_t *j = json_object();
            json_object_set_new(j, "name", json_string(d->name));
            json_object_set_new(j, "type", json_string(d->type == RN_DEST_DICOM ? "dicom" : "hl7"));
            json_object_set_new(j, "host", json_string(d->host));
            json_object_set_new(j, "port", json_integer(d->port));
            json_array_append_new(dests, j);
        }
        pthread_mutex_unlock(&n->cfg_lock);
        size_t i;
        json_t *j;
        json_array_foreach(dests, i, j)
        {
            json_t *counts = json_object();
            for (int s = 0; s < 5; s++)
                json_object_set_new(counts, rn_job_state_name((RnJobState)s), json_integer(0));
            if (sqlite3_prepare_v2(db,
                                   "SELECT state, COUNT(*) FROM jobs WHERE kind LIKE 'export-%' "
                                   "AND target=? GROUP BY state",
                                   -1, &st, NULL) == SQLITE_OK) {
                sqlite3_bind_text(st, 1, json_string_value(json_object_get(j, "name")), -1,
                                  SQLITE_STATIC);
                while (sqlite3_step(st) == SQLITE_ROW)
                    json_object_set_new(counts,
                                        rn_job_state_name((RnJobState)sqlite3_column_int(st, 0)),
                                        json_integer(sqlite3_column_int64(st, 1)));
            }
            sqlite3_finalize(st);
            json_object_set_new(j, "jobs", counts);
        }
        json_object_set_new(o, "destinations", dests);
    }
    sqlite3_close(db);
    http_reply_json(out, 200, o);
}

void http_api_exports(NodeHttp *h, const HttpRequest *rq, HttpReply *out)
{
    http_api_jobs(h, rq, NULL, "export-", out);
}

static int job_fetch(sqlite3 *db, int64_t id, json_t **out)
{
    sqlite3_stmt *st = NULL;
    *out = NULL;
    if (sqlite3_prepare_v2(db, "SELECT " JOB_COLUMNS " FROM jobs WHERE id=?", -1, &st, NULL) !=
        SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW)
        *out = job_json(st);
    sqlite3_finalize(st);
    return 0;
}

void http_api_job(NodeHttp *h, int64_t id, HttpReply *out)
{
    sqlite3 *db = db_open(h, false, out);
    if (!db)
        return;
    json_t *j;
    if (job_fetch(db, id, &j))
        db_failed(db, out);
    else if (!j)
        http_reply_error(out, 404, "not_found", "no job %lld", (long long)id);
    else
        http_reply_json(out, 200, j);
    sqlite3_close(db);
}

void http_api_job_retry(NodeHttp *h, const HttpRequest *rq, const HttpPrincipal *who, int64_t id,
                        HttpReply *out)
{
    sqlite3 *db = db_open(h, true, out);
    if (!db)
        return;
    sqlite3_stmt *st = NULL;
    /* A dead job gets its full attempt budget again; a failed one just runs now. */
    if (sqlite3_prepare_v2(db,
                           "UPDATE jobs SET attempts=CASE WHEN state=4 THEN 0 ELSE attempts END, "
                           "state=0, next_run_at=0, updated=? WHERE id=? AND state IN (3,4)",
                           -1, &st, NULL) != SQLITE_OK) {
        db_failed(db, out);
        sqlite3_close(db);
        return;
    }
    sqlite3_bind_double(st, 1, http_wall_now());
    sqlite3_bind_int64(st, 2, id);
    int step = sqlite3_step(st);
    sqlite3_finalize(st);
    if (step != SQLITE_DONE) {
        db_failed(db, out);
        sqlite3_close(db);
        return;
    }
    bool changed = sqlite3_changes(db) == 1;
    json_t *j = NULL;
    if (job_fetch(db, id, &j)) {
        db_failed(db, out);
        sqlite3_close(db);
        return;
    }
    sqlite3_close(db);
    char object[160];
    snprintf(object, sizeof object, "job:%lld", (long long)id);
    if (!j) {
        http_reply_error(out, 404, "not_found", "no job %lld", (long long)id);
        return;
    }
    if (!changed) {
        http_reply_error(out, 409, "conflict",
                         "job %lld is %s; only dead or failed jobs can be "
                         "retried",
                         (long long)id, json_string_value(json_object_get(j, "state")));
        json_decref(j);
        return;
    }
    snprintf(object, sizeof object, "job:%lld %s %s", (long long)id,
             json_string_value(json_object_get(j, "kind")),
             json_string_value(json_object_get(j, "target")));
    rn_info("http: %s re-queued job %lld (%s)", who->user, (long long)id, object);
    RnAuditEvent ev = {.kind = RN_AUDIT_SECURITY_ALERT,
                       .outcome = RN_AUDIT_SUCCESS,
                       .outcome_description = "dead-letter retry",
                       .alert_code = "110132",
                       .alert_meaning = "Use of Restricted Function",
                       .alert_object = object};
    http_audit(h, rq, who->user, &ev);
    /* Workers and the exporter sleep on this condition: the job runs now. */
    Node *n = h->node;
    pthread_mutex_lock(&n->wake_lock);
    pthread_cond_broadcast(&n->wake);
    pthread_mutex_unlock(&n->wake_lock);
    http_reply_json(out, 200, j);
}

/* ---- Effective configuration ------------------------------------------------------------ */

static json_t *str_list(const char *base, size_t item, int count)
{
    json_t *a = json_array();
    for (int i = 0; i < count; i++)
        json_array_append_new(a, json_string(base + (size_t)i * item));
    return a;
}

void http_api_config(NodeHttp *h, const HttpRequest *rq, const HttpPrincipal *who, HttpReply *out)
{
    Node *n = h->node;
    const RnNodeConfig *c = &n->cfg;
    static const char *ops[] = {"=", "!=", "in", "~", "<", "<=", ">", ">=", "present"};
    json_t *o = json_object();
    json_object_set_new(o, "source", json_string(c->path[0] ? c->path : "(built-in defaults)"));
    json_t *node = json_object();
    json_object_set_new(node, "ae_title", json_string(c->ae_title));
    json_object_set_new(node, "bind", json_string(c->bind_address));
    json_object_set_new(node, "dicom_port", json_integer(c->dicom_port));
    json_object_set_new(node, "http_bind", json_string(c->http_bind));
    json_object_set_new(node, "http_port", json_integer(c->http_port));
    json_object_set_new(node, "hl7_port", json_integer(c->hl7_port));
    json_object_set_new(node, "data_dir", json_string(c->data_dir));
    json_object_set_new(node, "models_dir", json_string(c->models_dir));
    json_object_set_new(node, "max_associations", json_integer(c->max_associations));
    json_object_set_new(node, "quiet_period", json_real(c->quiet_period));
    json_object_set_new(node, "workers", json_integer(c->workers));
    json_object_set_new(node, "job_timeout", json_integer(c->job_timeout));
    json_object_set_new(node, "job_memory_mb", json_integer(c->job_memory_mb));
    json_object_set_new(node, "max_attempts", json_integer(c->max_attempts));
    json_object_set_new(node, "retry_base", json_real(c->retry_base));
    json_object_set_new(node, "retry_max", json_real(c->retry_max));
    json_object_set_new(node, "language", json_string(c->language));
    json_object_set_new(node, "min_free_mb", json_integer((json_int_t)(c->min_free_bytes >> 20)));
    json_object_set_new(node, "duplicates",
                        json_string(c->duplicates == RN_DUP_REPLACE      ? "replace"
                                    : c->duplicates == RN_DUP_KEEP_FIRST ? "keep_first"
                                                                         : "reject"));
    json_object_set_new(node, "retention_days", json_integer(c->retention_days));
    json_object_set_new(node, "retention_seconds", json_real(c->retention_seconds));
    json_object_set_new(node, "keep_unrouted", json_boolean(c->keep_unrouted));
    json_object_set_new(node, "log_level", json_string(c->log_level));
    json_object_set_new(o, "node", node);
    json_t *access = json_object();
    json_object_set_new(access, "allowed_calling_aes",
                        str_list(&c->allowed_calling_aes[0][0], 17, c->allowed_calling_ae_count));
    json_object_set_new(access, "allowed_hosts",
                        str_list(&c->allowed_hosts[0][0], 64, c->allowed_host_count));
    json_object_set_new(o, "access", access);
    json_t *http = json_object();
    json_object_set_new(http, "public_status", json_boolean(c->http.public_status));
    json_object_set_new(http, "tls", json_boolean(c->http.tls_cert[0] != 0));
    json_object_set_new(http, "tls_cert", json_string(c->http.tls_cert));
    json_object_set_new(http, "tls_key", json_string(c->http.tls_key[0] ? "<redacted>" : ""));
    json_object_set_new(http, "session_ttl", json_integer(c->http.session_ttl));
    json_object_set_new(http, "max_body_kb", json_integer(c->http.max_body / 1024));
    json_object_set_new(http, "backoff_after", json_integer(c->http.backoff_after));
    json_object_set_new(http, "backoff_max", json_integer(c->http.backoff_max));
    json_object_set_new(http, "threads", json_integer(c->http.threads));
    json_object_set_new(o, "http", http);
    json_t *audit = json_object();
    static const char *transports[] = {"none", "udp", "tls"};
    json_object_set_new(audit, "log", json_string(c->audit.log_path));
    json_object_set_new(
        audit, "transport",
        json_string(
            transports[c->audit.transport >= 0 && c->audit.transport < 3 ? c->audit.transport
                                                                         : 0]));
    json_object_set_new(audit, "host", json_string(c->audit.host));
    json_object_set_new(audit, "port", json_integer(c->audit.port));
    json_object_set_new(audit, "ca_file", json_string(c->audit.ca_file));
    json_object_set_new(audit, "cert_file", json_string(c->audit.cert_file));
    json_object_set_new(audit, "key_file", json_string(c->audit.key_file[0] ? "<redacted>" : ""));
    json_object_set_new(audit, "site_id", json_string(c->audit.site_id));
    json_object_set_new(o, "audit", audit);
    static const char *const deid_profiles[] = {"basic", "research", "teaching"};
    unsigned rp = (unsigned)c->research.profile;
    json_object_set_new(
        o, "research",
        json_pack("{s:s, s:s, s:s, s:i, s:b}", "export_root", c->research.export_root,
                  "secret_file", c->research.secret_file[0] ? "<redacted>" : "", "profile",
                  rp < 3 ? deid_profiles[rp] : "?", "blank_regions", c->research.region_count,
                  "refuse_burned_in", c->research.refuse_burned_in));
    /* Accounts as the API enforces them now (the file may have been re-read). */
    json_t *accounts = json_array();
    pthread_mutex_lock(&h->lock);
    for (int i = 0; i < h->account_count; i++) {
        const RnHttpAccount *a = &h->accounts[i];
        json_t *j = json_object();
        json_object_set_new(j, "name", json_string(a->name));
        json_object_set_new(j, "type", json_string(a->is_token ? "token" : "user"));
        json_object_set_new(j, "role", json_string(rn_http_role_name(a->role)));
        json_object_set_new(j, a->is_token ? "hash" : "password_hash", json_string("<redacted>"));
        if (a->is_token)
            json_object_set_new(j, "expires", iso_time((double)a->expires));
        json_array_append_new(accounts, j);
    }
    pthread_mutex_unlock(&h->lock);
    json_object_set_new(o, "accounts", accounts);
    json_t *routes = json_array(), *dests = json_array();
    pthread_mutex_lock(&n->cfg_lock);
    for (int i = 0; i < c->route_count; i++) {
        const RnRoute *r = &c->routes[i];
        json_t *j = json_object();
        json_object_set_new(j, "name", json_string(r->name));
        json_object_set_new(j, "analyzer", json_string(r->analyzer));
        json_object_set_new(j, "level", json_string(r->series_level ? "series" : "study"));
        json_t *when = json_array();
        for (int k = 0; k < r->condition_count; k++) {
            const RnRouteCondition *cd = &r->conditions[k];
            char text[400];
            snprintf(text, sizeof text, "%s %s%s%s", cd->attribute,
                     (unsigned)cd->op < 9 ? ops[cd->op] : "?", cd->op == RN_OP_PRESENT ? "" : " ",
                     cd->value);
            json_array_append_new(when, json_string(text));
        }
        json_object_set_new(j, "when", when);
        json_array_append_new(routes, j);
    }
    for (int i = 0; i < c->destination_count; i++) {
        const RnDestination *d = &c->destinations[i];
        json_t *j = json_object();
        json_object_set_new(j, "name", json_string(d->name));
        json_object_set_new(j, "type", json_string(d->type == RN_DEST_DICOM ? "dicom" : "hl7"));
        json_object_set_new(j, "host", json_string(d->host));
        json_object_set_new(j, "port", json_integer(d->port));
        if (d->type == RN_DEST_DICOM) {
            json_object_set_new(j, "ae_title", json_string(d->ae_title));
            json_object_set_new(j, "calling_ae", json_string(d->calling_ae));
        } else {
            json_object_set_new(j, "receiving_application", json_string(d->receiving_application));
            json_object_set_new(j, "receiving_facility", json_string(d->receiving_facility));
        }
        json_object_set_new(j, "tls", json_boolean(d->tls));
        json_array_append_new(dests, j);
    }
    pthread_mutex_unlock(&n->cfg_lock);
    json_object_set_new(o, "routes", routes);
    json_object_set_new(o, "destinations", dests);
    RnAuditEvent ev = {.kind = RN_AUDIT_SECURITY_ALERT,
                       .outcome = RN_AUDIT_SUCCESS,
                       .outcome_description = "configuration viewed",
                       .alert_code = "110132",
                       .alert_meaning = "Use of Restricted Function",
                       .alert_object = "/api/config"};
    http_audit(h, rq, who->user, &ev);
    http_reply_json(out, 200, o);
}

/* ---- Research export ------------------------------------------------------------------------ */

/* The query's keys are in the JSON body (a patient ID never goes into a URL).
 * The export runs in this request's thread: it is meant for the selections a
 * research protocol names, not for bulk copies of the store. */
void http_api_research_export(NodeHttp *h, const HttpRequest *rq, const HttpPrincipal *who,
                              HttpReply *out)
{
    json_error_t jerr;
    json_t *body = json_loadb(rq->body ? rq->body : "", rq->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(body)) {
        json_decref(body);
        http_reply_error(out, 400, "bad_json", "the body must be a JSON object: %s", jerr.text);
        return;
    }
    static const char *known[] = {"name",     "patient_id", "modality", "date_from",
                                  "date_to",  "accession",  "analyzer", "study_uid"};
    const char *vals[sizeof known / sizeof known[0]] = {0};
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        size_t i = 0;
        while (i < sizeof known / sizeof known[0] && strcmp(key, known[i]))
            i++;
        if (i == sizeof known / sizeof known[0] || !json_is_string(v)) {
            http_reply_error(out, 400, "bad_request",
                             i == sizeof known / sizeof known[0] ? "unknown key \"%.64s\""
                                                                 : "\"%.64s\" must be a string",
                             key);
            json_decref(body);
            return;
        }
        vals[i] = json_string_value(v);
    }
    RnResearchQuery q = {.patient_id = vals[1], .modality = vals[2], .date_from = vals[3],
                         .date_to = vals[4], .accession = vals[5], .analyzer = vals[6],
                         .study_uid = vals[7]};
    RnResearchSummary sum;
    RnError err = {0};
    int rc = rn_research_export(&h->node->cfg, vals[0], &q, node_http_audit_trail(h->node),
                                who->user, rq->client, &sum, &err);
    json_decref(body);
    if (rc) {
        unsigned status = rc == RN_ERR_INVALID ? 400 : rc == RN_ERR_NOT_FOUND ? 404
                          : rc == RN_ERR_UNSUPPORTED ? 409 : 500;
        if (status == 500)
            rn_errorlog("http: research export failed: %s", err.message);
        http_reply_error(out, status,
                         status == 400   ? "bad_request"
                         : status == 404 ? "no_match"
                         : status == 409 ? "disabled"
                                         : "export_failed",
                         "%s", err.message);
        return;
    }
    json_t *o = json_pack("{s:s, s:i, s:i, s:i, s:i}", "path", sum.path, "studies",
                          (int)sum.studies, "instances", (int)sum.instances, "results",
                          (int)sum.results, "left_out", (int)sum.left_out);
    http_reply_json(out, 201, o);
}
