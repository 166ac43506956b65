/*
 * Private parts of the operator HTTP API, shared by http.c (the daemon,
 * request parsing and routing), http_auth.c (accounts, sessions, brute-force
 * back-off), http_api.c (the JSON endpoints over the store's index) and
 * http_metrics.c (Prometheus text). Nothing here is used outside src/node/.
 *
 * Threads: libmicrohttpd runs handlers on a bounded pool (`[http] threads`);
 * every field of NodeHttp that changes after start is guarded by its `lock`,
 * and each request opens its own SQLite connection on the index.
 */
#ifndef RN_NODE_HTTP_INTERNAL_H
#define RN_NODE_HTTP_INTERNAL_H

#include "node/node_internal.h"
#include "radnode/audit.h"

#include <jansson.h>
#include <pthread.h>
#include <sys/types.h>

#define HTTP_MAX_SESSIONS 256
#define HTTP_MAX_BACKOFF 256
#define HTTP_MAX_ANALYZERS 16
#define HTTP_DURATION_BUCKETS 10
#define HTTP_MAX_URL 512

typedef struct HttpSession {
    unsigned char digest[32]; /* SHA-256 of the session token; the token itself is not kept */
    char user[64];
    RnHttpRole role;
    double expires; /* wall clock */
    bool used;
} HttpSession;

typedef struct HttpBackoff {
    char key[96]; /* "ip:ADDR" or "user:NAME" */
    int failures;
    double until; /* wall clock before which attempts are refused */
    double last;  /* last failure, for eviction and expiry */
} HttpBackoff;

typedef struct HttpAnalyzerStats {
    char analyzer[32];
    uint64_t buckets[HTTP_DURATION_BUCKETS]; /* cumulative counts per upper bound */
    uint64_t count, failures;
    double sum;
} HttpAnalyzerStats;

typedef struct NodeHttp {
    Node *node;
    struct MHD_Daemon *daemon;
    char *tls_cert_pem, *tls_key_pem; /* must outlive the daemon */
    RnAuditTrail *audit; /* the node's (Node.audit), borrowed */
    char db_path[512];
    char sessions_path[512]; /* the sessions' digests on disk; "" = in memory only */
    pthread_mutex_t lock; /* guards everything below */
    RnHttpAccount accounts[RN_NODE_MAX_ACCOUNTS];
    int account_count;
    struct timespec config_mtime; /* of cfg.path when the accounts were read */
    double config_checked;
    HttpSession sessions[HTTP_MAX_SESSIONS];
    HttpBackoff backoff[HTTP_MAX_BACKOFF];
    uint64_t responses[6]; /* by status class 1xx..5xx (index 1..5) */
    uint64_t login_failures, logins, throttled;
    HttpAnalyzerStats analyzers[HTTP_MAX_ANALYZERS];
    int analyzer_count;
} NodeHttp;

/* One request as the router sees it (independent of libmicrohttpd, so the
 * router is testable and fuzzable). */
typedef struct HttpRequest {
    const char *method;
    const char *url;           /* path only, already percent-decoded */
    const char *authorization; /* header value or NULL */
    const char *client;        /* peer address text */
    const char *body;
    size_t body_len;
    const char *(*query)(const struct HttpRequest *rq, const char *key); /* NULL if absent */
    void *ctx;
} HttpRequest;

typedef struct HttpReply {
    unsigned status;
    const char *type; /* static */
    char *body;       /* malloc'd */
    char allow[32];   /* Allow header for 405 */
    int retry_after;  /* seconds, for 429 */
    bool challenge;   /* WWW-Authenticate on 401 */
} HttpReply;

/* Who made a request, once authenticated. */
typedef struct HttpPrincipal {
    char user[64];
    RnHttpRole role;
    const char *via; /* "basic", "session", "token", "anonymous" */
    bool session;
    unsigned char session_digest[32];
} HttpPrincipal;

/* ---- Routing (http.c) --------------------------------------------------------- */
typedef enum HttpRoute {
    ROUTE_NONE = 0,
    ROUTE_HEALTH,
    ROUTE_READY,
    ROUTE_STATUS,
    ROUTE_METRICS,
    ROUTE_LOGIN,
    ROUTE_LOGOUT,
    ROUTE_WHOAMI,
    ROUTE_STUDIES,
    ROUTE_STUDY_SEARCH,
    ROUTE_STUDY,
    ROUTE_JOBS,
    ROUTE_JOB,
    ROUTE_JOB_RETRY,
    ROUTE_DEAD_LETTERS,
    ROUTE_EXPORTS,
    ROUTE_CONFIG,
    ROUTE_RESEARCH_EXPORTS,
} HttpRoute;

typedef struct HttpPath {
    HttpRoute route;
    const char *method; /* the one method the route answers */
    RnHttpRole role;    /* least role needed; RN_ROLE_NONE = public */
    char study_uid[65];
    int64_t job_id;
} HttpPath;

/* Checks the path's characters (no "..", "//", controls, or anything outside
 * [A-Za-z0-9._/-]) and finds the route. Returns 0 (path->route may be
 * ROUTE_NONE for an unknown but well-formed path) or -1 for a malformed path. */
int http_path_parse(const char *url, HttpPath *path);
/* Handles one complete request. The reply's body is malloc'd. */
void http_handle(NodeHttp *h, const HttpRequest *rq, HttpReply *out);
void http_reply_error(HttpReply *out, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void http_reply_json(HttpReply *out, unsigned status, json_t *o); /* steals o */

/* ---- Authentication (http_auth.c) ------------------------------------------- */
/* Reads the accounts of cfg into h (at start; a warning names each account
 * whose password hash is in the legacy scrypt form), loads the sessions kept
 * in sessions_path (set from the store's folder unless already set), and
 * re-reads the config file when it changed (at most once a second), so a
 * removed user or token stops working without a restart. */
void http_accounts_init(NodeHttp *h);
/* Authenticates the request. 0 = *who filled; otherwise the reply is set
 * (401, or 429 while the address or user is backing off). */
int http_authenticate(NodeHttp *h, const HttpRequest *rq, HttpPrincipal *who, HttpReply *out);
/* POST /api/login (Basic credentials) and /api/logout (a session). */
void http_login(NodeHttp *h, const HttpRequest *rq, const HttpPrincipal *who, HttpReply *out);
void http_logout(NodeHttp *h, const HttpRequest *rq, const HttpPrincipal *who, HttpReply *out);
/* Brute-force guard, exposed for the unit test: a failure for key at now;
 * seconds to wait before key may try again (0 = may try). */
void http_backoff_fail(NodeHttp *h, const char *key, double now);
double http_backoff_wait(NodeHttp *h, const char *key, double now);
void http_backoff_clear(NodeHttp *h, const char *key);
/* Records an audit event with the requesting user as the first participant. */
void http_audit(NodeHttp *h, const HttpRequest *rq, const char *user, RnAuditEvent *ev);
double http_wall_now(void);

/* ---- Endpoints (http_api.c) ---------------------------------------------------- */
void http_api_ready(NodeHttp *h, HttpReply *out);
void http_api_status(NodeHttp *h, HttpReply *out);
void http_api_studies(NodeHttp *h, const HttpRequest *rq, const HttpPrincipal *who, bool search,
                      HttpReply *out);
void http_api_study(NodeHttp *h, const HttpRequest *rq, const HttpPrincipal *who,
                    const char *study_uid, HttpReply *out);
void http_api_jobs(NodeHttp *h, const HttpRequest *rq, const char *fixed_state,
                   const char *kind_prefix, HttpReply *out);
void http_api_job(NodeHttp *h, int64_t id, HttpReply *out);
void http_api_job_retry(NodeHttp *h, const HttpRequest *rq, const HttpPrincipal *who, int64_t id,
                        HttpReply *out);
void http_api_exports(NodeHttp *h, const HttpRequest *rq, HttpReply *out);
void http_api_config(NodeHttp *h, const HttpRequest *rq, const HttpPrincipal *who, HttpReply *out);
/* POST /api/research-exports (research.c does the work). */
void http_api_research_export(NodeHttp *h, const HttpRequest *rq, const HttpPrincipal *who,
                              HttpReply *out);

/* ---- Metrics (http_metrics.c) ------------------------------------------------ */
extern const double http_duration_bounds[HTTP_DURATION_BUCKETS]; /* seconds, "le" labels */
void http_metrics(NodeHttp *h, HttpReply *out);
void http_count_response(NodeHttp *h, unsigned status);

#endif
