/*
 * The node's operator API over HTTP or HTTPS (libmicrohttpd; issue 4 item 8
 * and issue 9 "HTTP access"). Bound to 127.0.0.1 unless `http_bind` says
 * otherwise; with `[http] tls_cert`/`tls_key` it speaks only HTTPS
 * (libmicrohttpd's TLS, TLS 1.2 or later).
 *
 *   GET  /health                 "ok" while the node runs       (no login)
 *   GET  /ready                  store, disk and DICOM checks    (no login)
 *   GET  /status                 counts                          (no login while public_status)
 *   GET  /metrics                Prometheus text                 service
 *   POST /api/login              Basic -> session token          any account
 *   POST /api/logout             ends the session                session
 *   GET  /api/whoami                                             service
 *   GET  /api/studies            list, filters, paging           viewer
 *   POST /api/studies/search     the same, patient keys in a JSON body (never in URLs)
 *   GET  /api/studies/{uid}      series, jobs, analysis state    viewer
 *   GET  /api/jobs[/{id}]        the queue                       viewer
 *   GET  /api/dead-letters       dead jobs                       viewer
 *   POST /api/jobs/{id}/retry    re-queue a dead or failed job   operator
 *   GET  /api/exports            export jobs by destination      viewer
 *   GET  /api/config             effective configuration, secrets redacted   operator
 *   POST /api/research-exports   de-identified research export, query in the body   operator
 *
 * Every error is {"error": {"status", "code", "message"}}. Request bodies are
 * bounded (`max_body_kb`, 413 beyond), paths are checked character by
 * character before routing (no "..", "//", percent-decoded or not; 400), and
 * no endpoint reads a file named by the request. Patient names and IDs never
 * appear in URLs this API asks for, nor in its log lines.
 */
#include "node/http_hooks.h"
#include "node/http_internal.h"
#include "node/mhd_lazy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Node.http holds this module's state (the daemon is inside it). Only this
 * file touches the field, through these two functions. */
static NodeHttp *api_of(Node *n)
{
    return n->http;
}
static void api_set(Node *n, NodeHttp *h)
{
    n->http = h;
}

/* ---- Replies ------------------------------------------------------------------------ */

void http_reply_json(HttpReply *out, unsigned status, json_t *o)
{
    out->status = status;
    out->type = "application/json";
    free(out->body);
    out->body = o ? json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    if (!out->body) {
        out->status = 500;
        out->body = rn_strdup("{\"error\":{\"status\":500,\"code\":\"internal\","
                              "\"message\":\"out of memory\"}}");
    }
}

void http_reply_error(HttpReply *out, unsigned status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *e = json_object();
    json_object_set_new(e, "status", json_integer(status));
    json_object_set_new(e, "code", json_string(code));
    json_object_set_new(e, "message", json_string(msg));
    json_t *o = json_object();
    json_object_set_new(o, "error", e);
    http_reply_json(out, status, o);
}

/* ---- Paths ---------------------------------------------------------------------------- */

static bool uid_ok(const char *s, size_t n)
{
    if (n == 0 || n > 64 || s[0] == '.' || s[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(isdigit((unsigned char)s[i]) || (s[i] == '.' && s[i + 1] != '.')))
            return false;
    return true;
}

static bool id_parse(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 18)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return v > 0;
}

int http_path_parse(const char *url, HttpPath *p)
{
    memset(p, 0, sizeof *p);
    size_t n = url ? strlen(url) : 0;
    if (n == 0 || n > HTTP_MAX_URL || url[0] != '/')
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)url[i];
        if (!(isalnum(c) || c == '/' || c == '.' || c == '-' || c == '_'))
            return -1;
    }
    if (strstr(url, "..") || strstr(url, "//") || strstr(url, "/./") ||
        (n >= 2 && !strcmp(url + n - 2, "/.")))
        return -1;
    /* One trailing slash is tolerated ("/api/jobs/"). */
    char path[HTTP_MAX_URL + 1];
    memcpy(path, url, n + 1);
    if (n > 1 && path[n - 1] == '/')
        path[--n] = '\0';
    static const struct {
        const char *path;
        HttpRoute route;
        const char *method;
        RnHttpRole role;
    } fixed[] = {
        {"/health", ROUTE_HEALTH, "GET", RN_ROLE_NONE},
        {"/ready", ROUTE_READY, "GET", RN_ROLE_NONE},
        {"/status", ROUTE_STATUS, "GET", RN_ROLE_SERVICE},
        {"/metrics", ROUTE_METRICS, "GET", RN_ROLE_SERVICE},
        {"/api/login", ROUTE_LOGIN, "POST", RN_ROLE_SERVICE},
        {"/api/logout", ROUTE_LOGOUT, "POST", RN_ROLE_SERVICE},
        {"/api/whoami", ROUTE_WHOAMI, "GET", RN_ROLE_SERVICE},
        {"/api/studies", ROUTE_STUDIES, "GET", RN_ROLE_VIEWER},
        {"/api/studies/search", ROUTE_STUDY_SEARCH, "POST", RN_ROLE_VIEWER},
        {"/api/jobs", ROUTE_JOBS, "GET", RN_ROLE_VIEWER},
        {"/api/dead-letters", ROUTE_DEAD_LETTERS, "GET", RN_ROLE_VIEWER},
        {"/api/exports", ROUTE_EXPORTS, "GET", RN_ROLE_VIEWER},
        {"/api/config", ROUTE_CONFIG, "GET", RN_ROLE_OPERATOR},
        {"/api/research-exports", ROUTE_RESEARCH_EXPORTS, "POST", RN_ROLE_OPERATOR},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (!strcmp(path, fixed[i].path)) {
            p->route = fixed[i].route;
            p->method = fixed[i].method;
            p->role = fixed[i].role;
            return 0;
        }
    static const char studies[] = "/api/studies/", jobs[] = "/api/jobs/";
    if (!strncmp(path, studies, sizeof studies - 1)) {
        const char *uid = path + sizeof studies - 1;
        size_t l = strlen(uid);
        if (uid_ok(uid, l)) {
            memcpy(p->study_uid, uid, l + 1);
            p->route = ROUTE_STUDY;
            p->method = "GET";
            p->role = RN_ROLE_VIEWER;
        }
        return 0;
    }
    if (!strncmp(path, jobs, sizeof jobs - 1)) {
        const char *id = path + sizeof jobs - 1;
        const char *slash = strchr(id, '/');
        size_t l = slash ? (size_t)(slash - id) : strlen(id);
        if (!id_parse(id, l, &p->job_id))
            return 0;
        if (!slash) {
            p->route = ROUTE_JOB;
            p->method = "GET";
            p->role = RN_ROLE_VIEWER;
        } else if (!strcmp(slash, "/retry")) {
            p->route = ROUTE_JOB_RETRY;
            p->method = "POST";
            p->role = RN_ROLE_OPERATOR;
        }
    }
    return 0;
}

/* ---- The router ------------------------------------------------------------------------ */

static void whoami(const HttpPrincipal *who, HttpReply *out)
{
    json_t *o = json_object();
    json_object_set_new(o, "user", json_string(who->user));
    json_object_set_new(o, "role", json_string(rn_http_role_name(who->role)));
    json_object_set_new(o, "via", json_string(who->via));
    http_reply_json(out, 200, o);
}

static void forbidden(NodeHttp *h, const HttpRequest *rq, const HttpPrincipal *who,
                      const HttpPath *p, HttpReply *out)
{
    rn_warn("http: %s (%s) may not %s %s", who->user, rn_http_role_name(who->role), rq->method,
            rq->url);
    RnAuditEvent ev = {.kind = RN_AUDIT_SECURITY_ALERT,
                       .outcome = RN_AUDIT_MINOR_FAILURE,
                       .outcome_description = "role does not allow it",
                       .alert_code = "110132",
                       .alert_meaning = "Use of Restricted Function",
                       .alert_object = rq->url};
    http_audit(h, rq, who->user, &ev);
    http_reply_error(out, 403, "forbidden", "role %s may not %s %s (needs %s)",
                     rn_http_role_name(who->role), rq->method, rq->url, rn_http_role_name(p->role));
}

void http_handle(NodeHttp *h, const HttpRequest *rq, HttpReply *out)
{
    HttpPath p;
    if (http_path_parse(rq->url, &p)) {
        http_reply_error(out, 400, "bad_path",
                         "malformed path (allowed: letters, digits, . - _ /; no \"..\" or \"//\")");
        return;
    }
    bool get = !strcmp(rq->method, "GET") || !strcmp(rq->method, "HEAD");
    if ((p.route == ROUTE_HEALTH || p.route == ROUTE_READY ||
         (p.route == ROUTE_STATUS && h->node->cfg.http.public_status)) &&
        get) {
        if (p.route == ROUTE_HEALTH) {
            out->status = 200;
            out->type = "text/plain";
            out->body = rn_strdup("ok\n");
        } else if (p.route == ROUTE_READY) {
            http_api_ready(h, out);
        } else {
            http_api_status(h, out);
        }
        return;
    }
    HttpPrincipal who;
    if (http_authenticate(h, rq, &who, out))
        return;
    if (p.route == ROUTE_NONE) {
        http_reply_error(out, 404, "not_found", "no such resource");
        return;
    }
    bool method_ok = !strcmp(rq->method, p.method) || (get && !strcmp(p.method, "GET"));
    if (!method_ok) {
        http_reply_error(out, 405, "method_not_allowed", "%s %s is not supported (use %s)",
                         rq->method, rq->url, p.method);
        snprintf(out->allow, sizeof out->allow, "%s", p.method);
        return;
    }
    if (who.role < p.role) {
        forbidden(h, rq, &who, &p, out);
        return;
    }
    switch (p.route) {
    case ROUTE_HEALTH:
    case ROUTE_READY:
        http_api_ready(h, out);
        break;
    case ROUTE_STATUS:
        http_api_status(h, out);
        break;
    case ROUTE_METRICS:
        http_metrics(h, out);
        break;
    case ROUTE_LOGIN:
        http_login(h, rq, &who, out);
        break;
    case ROUTE_LOGOUT:
        http_logout(h, rq, &who, out);
        break;
    case ROUTE_WHOAMI:
        whoami(&who, out);
        break;
    case ROUTE_STUDIES:
        http_api_studies(h, rq, &who, false, out);
        break;
    case ROUTE_STUDY_SEARCH:
        http_api_studies(h, rq, &who, true, out);
        break;
    case ROUTE_STUDY:
        http_api_study(h, rq, &who, p.study_uid, out);
        break;
    case ROUTE_JOBS:
        http_api_jobs(h, rq, NULL, NULL, out);
        break;
    case ROUTE_JOB:
        http_api_job(h, p.job_id, out);
        break;
    case ROUTE_JOB_RETRY:
        http_api_job_retry(h, rq, &who, p.job_id, out);
        break;
    case ROUTE_DEAD_LETTERS:
        http_api_jobs(h, rq, "dead", NULL, out);
        break;
    case ROUTE_EXPORTS:
        http_api_exports(h, rq, out);
        break;
    case ROUTE_CONFIG:
        http_api_config(h, rq, &who, out);
        break;
    case ROUTE_RESEARCH_EXPORTS:
        http_api_research_export(h, rq, &who, out);
        break;
    case ROUTE_NONE:
        break;
    }
}

/* ---- libmicrohttpd glue ------------------------------------------------------------------- */

typedef struct Conn {
    bool started;
    bool too_big;
    RnBuf body;
} Conn;

static const char *mhd_query(const HttpRequest *rq, const char *key)
{
    return MHD_lookup_connection_value((struct MHD_Connection *)rq->ctx, MHD_GET_ARGUMENT_KIND,
                                       key);
}

static enum MHD_Result send_reply(NodeHttp *h, struct MHD_Connection *c, HttpReply *r)
{
    const char *body = r->body ? r->body : "";
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", r->type ? r->type : "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (h->tls_cert_pem)
        MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
    if (r->challenge)
        MHD_add_response_header(resp, "WWW-Authenticate",
                                "Basic realm=\"radnode\", charset=\"UTF-8\"");
    if (r->allow[0])
        MHD_add_response_header(resp, "Allow", r->allow);
    if (r->retry_after > 0) {
        char s[16];
        snprintf(s, sizeof s, "%d", r->retry_after);
        MHD_add_response_header(resp, "Retry-After", s);
    }
    enum MHD_Result ret = MHD_queue_response(c, r->status ? r->status : 500, resp);
    MHD_destroy_response(resp);
    http_count_response(h, r->status);
    return ret;
}

static void client_address(struct MHD_Connection *c, char *out, size_t size)
{
    snprintf(out, size, "?");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)size);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)size);
}

static enum MHD_Result early(NodeHttp *h, struct MHD_Connection *c, unsigned status,
                             const char *code, const char *msg)
{
    HttpReply r = {0};
    http_reply_error(&r, status, code, "%s", msg);
    enum MHD_Result ret = send_reply(h, c, &r);
    free(r.body);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    (void)version;
    NodeHttp *h = cls;
    Conn *cn = *con_cls;
    size_t max_body = h->node->cfg.http.max_body > 0 ? (size_t)h->node->cfg.http.max_body : 65536;
    if (!cn) {
        cn = rn_calloc(1, sizeof *cn);
        if (!cn)
            return MHD_NO;
        *con_cls = cn;
        /* Refuse an announced oversized body before reading any of it. */
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(cl, &end, 10);
            if (errno || end == cl || v > max_body) {
                cn->too_big = true;
                return early(h, c, 413, "payload_too_large", "request body too large");
            }
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (!cn->too_big && cn->body.len + *upload_size <= max_body) {
            if (rn_buf_append(&cn->body, upload, *upload_size))
                return MHD_NO;
        } else {
            cn->too_big = true;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (cn->started)
        return MHD_YES;
    cn->started = true;
    if (cn->too_big)
        return early(h, c, 413, "payload_too_large", "request body too large");
    if (rn_buf_append_byte(&cn->body, 0))
        return MHD_NO;
    char client[64];
    client_address(c, client, sizeof client);
    HttpRequest rq = {
        .method = method,
        .url = url,
        .authorization = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"),
        .client = client,
        .body = (const char *)cn->body.data,
        .body_len = cn->body.len - 1,
        .query = mhd_query,
        .ctx = c,
    };
    HttpReply r = {0};
    http_handle(h, &rq, &r);
    /* The path is logged only when well-formed: it then holds no patient data
     * (UIDs and job numbers at most); query strings are never logged. */
    HttpPath p;
    bool clean = http_path_parse(url, &p) == 0;
    if (r.status >= 400 || strcmp(method, "GET"))
        rn_info("http: %s %s -> %u from %s", method, clean ? url : "(malformed path)", r.status,
                client);
    else
        rn_debug("http: %s %s -> %u from %s", method, url, r.status, client);
    enum MHD_Result ret = send_reply(h, c, &r);
    free(r.body);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    Conn *cn = *con_cls;
    if (cn) {
        rn_buf_free(&cn->body);
        free(cn);
    }
    *con_cls = NULL;
}

static void http_destroy(NodeHttp *h)
{
    if (!h)
        return;
    if (h->daemon)
        MHD_stop_daemon(h->daemon);
    /* h->audit is the node's (borrowed): serve.c destroys it. */
    if (h->tls_key_pem) {
        OPENSSL_cleanse(h->tls_key_pem, strlen(h->tls_key_pem));
        free(h->tls_key_pem);
    }
    free(h->tls_cert_pem);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

/* The audit trail is the node's (audit_dicom.c, created before the API
 * starts); the API records its events into it. */
static int open_audit(NodeHttp *h, RnError *err)
{
    h->audit = h->node->audit;
    if (!h->audit)
        return rn_error_set(err, RN_ERR_INVALID, "the node has no audit trail");
    return 0;
}

static int load_tls(NodeHttp *h, RnError *err)
{
    const RnHttpConfig *c = &h->node->cfg.http;
    if (!c->tls_cert[0])
        return 0;
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
        return rn_error_set(err, RN_ERR_UNSUPPORTED,
                            "this libmicrohttpd has no TLS; remove tls_cert/tls_key or install "
                            "a build with GnuTLS");
    size_t len;
    h->tls_cert_pem = (char *)rn_file_read_all(c->tls_cert, 1 << 20, &len, err);
    if (!h->tls_cert_pem) {
        rn_error_prefix(err, "[http] tls_cert: ");
        return RN_ERR_IO;
    }
    h->tls_key_pem = (char *)rn_file_read_all(c->tls_key, 1 << 20, &len, err);
    if (!h->tls_key_pem) {
        rn_error_prefix(err, "[http] tls_key: ");
        return RN_ERR_IO;
    }
    return 0;
}

int node_http_start(Node *n, RnError *err)
{
    if (rn_mhd_load(err))
        return err ? err->code : RN_ERR_UNSUPPORTED;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)n->cfg.http_port);
    if (inet_pton(AF_INET, n->cfg.http_bind, &addr.sin_addr) != 1)
        return rn_error_set(err, RN_ERR_INVALID, "http_bind \"%s\" is not an IPv4 address",
                            n->cfg.http_bind);
    NodeHttp *h = rn_calloc(1, sizeof *h);
    if (!h)
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    h->node = n;
    pthread_mutex_init(&h->lock, NULL);
    snprintf(h->db_path, sizeof h->db_path, "%s/index.sqlite", rn_store_root(n->store));
    http_accounts_init(h);
    n->started = rn_time_now();
    int rc = load_tls(h, err);
    if (!rc)
        rc = open_audit(h, err);
    if (rc) {
        http_destroy(h);
        return rc;
    }
    unsigned threads = n->cfg.http.threads > 0 ? (unsigned)n->cfg.http.threads : 4;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_AUTO;
    if (h->tls_cert_pem)
        flags |= MHD_USE_TLS;
    /* TLS 1.2 or later only, GnuTLS's secure defaults otherwise. */
    const char *prio = "SECURE:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";
    struct MHD_OptionItem tls_opts[] = {
        {h->tls_cert_pem ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, h->tls_cert_pem},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key_pem},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)prio},
        {MHD_OPTION_END, 0, NULL},
    };
    h->daemon = MHD_start_daemon(
        flags, (uint16_t)n->cfg.http_port, NULL, NULL, handle, h, MHD_OPTION_SOCK_ADDR, &addr,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT, 64u,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, 16u, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024, MHD_OPTION_NOTIFY_COMPLETED,
        completed, h, MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
    if (!h->daemon) {
        http_destroy(h);
        return rn_error_set(err, RN_ERR_NET, "cannot start the HTTP API on %s:%d%s",
                            n->cfg.http_bind, n->cfg.http_port,
                            n->cfg.http.tls_cert[0] ? " (check tls_cert and tls_key)" : "");
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    n->http_port = info ? info->port : n->cfg.http_port;
    api_set(n, h);
    int users = 0, tokens = 0;
    for (int i = 0; i < h->account_count; i++)
        h->accounts[i].is_token ? tokens++ : users++;
    rn_info("http: operator API on %s://%s:%d (%d users, %d tokens, /status %s)",
            h->tls_cert_pem ? "https" : "http", n->cfg.http_bind, n->http_port, users, tokens,
            n->cfg.http.public_status ? "public" : "needs a login");
    if (strcmp(n->cfg.http_bind, "127.0.0.1") && !h->tls_cert_pem)
        rn_warn("http: the API listens on %s without TLS: passwords and tokens cross the "
                "network in clear; set [http] tls_cert and tls_key",
                n->cfg.http_bind);
    return 0;
}

void node_http_stop(Node *n)
{
    http_destroy(api_of(n));
    api_set(n, NULL);
}

/* ---- Hooks for serve.c (http_hooks.h) ------------------------------------------------------- */

RnAuditTrail *node_http_audit_trail(Node *n)
{
    return n ? n->audit : NULL;
}

const char *node_http_scheme(Node *n)
{
    NodeHttp *h = n ? api_of(n) : NULL;
    return h && h->tls_cert_pem ? "https" : "http";
}

void node_http_observe_analysis(Node *n, const char *analyzer, double seconds, bool ok)
{
    NodeHttp *h = n ? api_of(n) : NULL;
    if (!h || !analyzer)
        return;
    pthread_mutex_lock(&h->lock);
    HttpAnalyzerStats *s = NULL;
    for (int i = 0; i < h->analyzer_count; i++)
        if (!strcmp(h->analyzers[i].analyzer, analyzer))
            s = &h->analyzers[i];
    if (!s && h->analyzer_count < HTTP_MAX_ANALYZERS) {
        s = &h->analyzers[h->analyzer_count++];
        snprintf(s->analyzer, sizeof s->analyzer, "%s", analyzer);
    }
    if (s) {
        for (int b = 0; b < HTTP_DURATION_BUCKETS; b++)
            if (seconds <= http_duration_bounds[b])
                s->buckets[b]++;
        s->count++;
        s->sum += seconds;
        if (!ok)
            s->failures++;
    }
    pthread_mutex_unlock(&h->lock);
}
