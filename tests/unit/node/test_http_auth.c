/*
 * The operator API's security pieces without sockets: Argon2id password
 * hashes (checked against hashes made by the reference implementation's
 * `argon2` command) and legacy scrypt ones (made by Python's hashlib), token
 * hashes, the [http]/[audit]/[user]/[token] configuration, path
 * checking and routing (traversal refused), the brute-force back-off, and
 * the router's answers for missing, wrong, expired and insufficient
 * credentials (401, 429, 403) and for sessions (login, use, logout, expiry,
 * kept across a restart as digests only).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "node/http_internal.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A cheap Argon2id cost keeps the test fast; the format and code are the same. */
/* Salt and hash of the reference hash ref1 below. */
#define SH "$c29tZXNhbHQxMjM0$1I0Ud8+syZBUHuvBfEnYgEjbmCFbFTzGNeKBlPCpIvU"
#define TEST_OPS 1
#define TEST_MEM 64 /* KiB */

static void test_password_hash(void **state)
{
    (void)state;
    char h1[256], h2[256];
    RnError err = {0};
    const char *pw = "correct horse";
    assert_int_equal(rn_http_password_hash(pw, TEST_OPS, TEST_MEM, h1, sizeof h1, &err), 0);
    assert_int_equal(rn_http_password_hash(pw, TEST_OPS, TEST_MEM, h2, sizeof h2, &err), 0);
    assert_true(!strncmp(h1, "$argon2id$v=19$m=64,t=1,p=1$", 28));
    assert_string_not_equal(h1, h2); /* per-hash random salt */
    assert_true(rn_http_secret_hash_valid(h1, false));
    assert_false(rn_http_password_hash_is_legacy(h1));
    assert_true(rn_http_password_verify("correct horse", h1));
    assert_true(rn_http_password_verify("correct horse", h2));
    assert_false(rn_http_password_verify("correct horsE", h1));
    assert_false(rn_http_password_verify("correct horse ", h1));
    assert_false(rn_http_password_verify("", h1));
    /* The default cost is libsodium's "interactive" one. */
    assert_int_equal(rn_http_password_hash("pw", 0, 0, h2, sizeof h2, &err), 0);
    assert_true(!strncmp(h2, "$argon2id$v=19$m=65536,t=2,p=1$", 31));

    /* Hashes made by the reference implementation (Debian's argon2 command:
     * printf %s 'correct horse' | argon2 somesalt1234 -id -t 2 -k 256 -p 1 -e,
     * and with othersalt5678 -t 1 -k 128 -p 2), and a legacy scrypt hash made
     * by Python's hashlib.scrypt (n=1024, r=8, p=1) for "legacy pw". */
    static const char ref1[] =
        "$argon2id$v=19$m=256,t=2,p=1" SH;
    static const char ref2[] =
        "$argon2id$v=19$m=128,t=1,p=2$b3RoZXJzYWx0NTY3OA$"
        "UFwW9mWfVTBXsaaEz0xcO0XuHyQJC6luqZAGijzumuo";
    static const char legacy[] = "scrypt$1024$8$1$00112233445566778899aabbccddeeff$"
                                 "8915b549a3e078dd844cc66b92c1cf0eabdfb3b9bffa21c4c245de172dcb652c";
    assert_true(rn_http_secret_hash_valid(ref1, false));
    assert_true(rn_http_password_verify("correct horse", ref1));
    assert_false(rn_http_password_verify("correct horsf", ref1));
    assert_true(rn_http_password_verify("correct horse", ref2));
    assert_false(rn_http_password_verify("correct", ref2));
    assert_true(rn_http_secret_hash_valid(legacy, false));
    assert_true(rn_http_password_hash_is_legacy(legacy));
    assert_true(rn_http_password_verify("legacy pw", legacy));
    assert_false(rn_http_password_verify("legacy pW", legacy));
    /* One changed character of the stored hash, salt or cost: no match. */
    char t[256];
    snprintf(t, sizeof t, "%s", ref1);
    t[strlen(t) - 1] = 'V';
    assert_false(rn_http_password_verify("correct horse", t));
    snprintf(t, sizeof t, "%s", ref1);
    t[strlen("$argon2id$v=19$m=256,t=2,p=1$") + 2] = 'A';
    assert_false(rn_http_password_verify("correct horse", t));
    assert_false(rn_http_password_verify(
        "correct horse",
        "$argon2id$v=19$m=256,t=3,p=1" SH));

    /* Malformed or abusive hashes are refused, never "verified". */
    const char *bad[] = {
        "",
        "scrypt$",
        "plain",
        "$argon2id$",
        /* argon2i and argon2d, an old version, an unknown one */
        "$argon2i$v=19$m=256,t=2,p=1" SH,
        "$argon2d$v=19$m=256,t=2,p=1" SH,
        "$argon2id$v=16$m=256,t=2,p=1" SH,
        "$argon2id$m=256,t=2,p=1" SH,
        /* 4 GiB of memory per login, 1000 passes, no pass, no lane, 8 KiB for 2 lanes */
        "$argon2id$v=19$m=4194304,t=2,p=1" SH,
        "$argon2id$v=19$m=256,t=1000,p=1" SH,
        "$argon2id$v=19$m=256,t=0,p=1" SH,
        "$argon2id$v=19$m=256,t=2,p=0" SH,
        "$argon2id$v=19$m=8,t=2,p=2" SH,
        /* signs, spaces, reordered or missing parameters */
        "$argon2id$v=19$m=+256,t=2,p=1" SH,
        "$argon2id$v=19$m= 256,t=2,p=1" SH,
        "$argon2id$v=19$t=2,m=256,p=1" SH,
        "$argon2id$v=19$m=256,t=2" SH,
        "$argon2id$v=19$m=99999999999,t=2,p=1" SH,
        /* salt too short, a non-base64 character, padding, no hash, too short, trailing field */
        "$argon2id$v=19$m=256,t=2,p=1$c29tZQ$1I0Ud8+syZBUHuvBfEnYgEjbmCFbFTzGNeKBlPCpIvU",
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbH*xMjM0$1I0Ud8+syZBUHuvBfEnYgEjbmCFbFTzGNeKBlPCpIvU",
        "$argon2id$v=19$m=256,t=2,p=1" SH "=",
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQxMjM0$",
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQxMjM0$1I0Ud8+syZBUHuvBf",
        "$argon2id$v=19$m=256,t=2,p=1" SH "$x",
        /* longer than libsodium's crypto_pwhash_STRBYTES */
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQxMjM0c29tZXNhbHQxMjM0c29tZXNhbHQxMjM0c29tZXNhbHQx"
        "$1I0Ud8+syZBUHuvBfEnYgEjbmCFbFTzGNeKBlPCpIvU1I0Ud8+syZBUHuvBfEnYgEjbmCFbFTzGNeKBlPCpIvU",
        "scrypt$1000$8$1$00112233445566778899aabbccddeeff$00",
        "scrypt$1048576$32$16$00112233445566778899aabbccddeeff$"
        "0000000000000000000000000000000000000000000000000000000000000000",
        "scrypt$1024$8$1$0011$0000000000000000000000000000000000000000000000000000000000000000",
        "scrypt$1024$8$1$00112233445566778899aabbccddeefg$"
        "0000000000000000000000000000000000000000000000000000000000000000",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_false(rn_http_secret_hash_valid(bad[i], false));
        assert_false(rn_http_password_verify("x", bad[i]));
    }
    assert_int_not_equal(rn_http_password_hash("x", 17, TEST_MEM, h1, sizeof h1, &err), 0);
    assert_int_not_equal(rn_http_password_hash("x", 1, 4, h1, sizeof h1, &err), 0);
    assert_int_not_equal(rn_http_password_hash("x", 1, (1u << 20) + 1, h1, sizeof h1, &err), 0);
    assert_int_not_equal(rn_http_password_hash("", TEST_OPS, TEST_MEM, h1, sizeof h1, &err), 0);
    assert_int_not_equal(rn_http_password_hash("x", TEST_OPS, TEST_MEM, h1, 40, &err), 0);
}

static void test_tokens(void **state)
{
    (void)state;
    char tok[80], hash[80], tok2[80], hash2[80];
    assert_int_equal(rn_http_token_create(tok, sizeof tok, hash, sizeof hash, NULL), 0);
    assert_int_equal(rn_http_token_create(tok2, sizeof tok2, hash2, sizeof hash2, NULL), 0);
    assert_int_equal(strlen(tok), 68);
    assert_true(!strncmp(tok, "rnt_", 4));
    assert_string_not_equal(tok, tok2);
    assert_true(rn_http_secret_hash_valid(hash, true));
    assert_true(rn_http_token_verify(tok, hash));
    assert_false(rn_http_token_verify(tok2, hash));
    assert_false(rn_http_token_verify(tok, "sha256$00"));
    assert_null(strstr(hash, tok + 4)); /* the stored form does not hold the token */
}

static void test_config_accounts(void **state)
{
    (void)state;
    char ph[256], tok[80], th[80];
    assert_int_equal(rn_http_password_hash("pw-operator", TEST_OPS, TEST_MEM, ph, sizeof ph, NULL),
                     0);
    assert_int_equal(rn_http_token_create(tok, sizeof tok, th, sizeof th, NULL), 0);
    char text[2048];
    snprintf(text, sizeof text,
             "[http]\npublic_status = no\nsession_ttl = 60\nmax_body_kb = 8\nbackoff_after = 3\n"
             "[audit]\nlog = /tmp/x.log\ntransport = udp\nhost = 127.0.0.1\nport = 5514\n"
             "[user admin]\nrole = operator\npassword_hash = %s\n"
             "[token prom]\nrole = service\nhash = %s\nexpires = 2001-02-03\n",
             ph, th);
    RnNodeConfig *c = malloc(sizeof *c);
    assert_non_null(c);
    rn_node_config_defaults(c);
    assert_false(c->http.public_status); /* /status needs a login unless configured */
    assert_int_equal(c->http.session_ttl, 900);
    assert_int_equal(c->http.max_body, 64 * 1024);
    assert_int_equal(c->http.account_count, 0);
    RnError err = {0};
    assert_int_equal(rn_node_config_parse(text, "t.conf", c, &err), 0);
    assert_false(c->http.public_status);
    assert_int_equal(c->http.max_body, 8192);
    assert_int_equal(c->http.backoff_after, 3);
    assert_int_equal(c->audit.transport, RN_AUDIT_TRANSPORT_UDP);
    assert_int_equal(c->audit.port, 5514);
    assert_int_equal(c->http.account_count, 2);
    assert_string_equal(c->http.accounts[0].name, "admin");
    assert_int_equal(c->http.accounts[0].role, RN_ROLE_OPERATOR);
    assert_false(c->http.accounts[0].is_token);
    assert_true(c->http.accounts[1].is_token);
    assert_int_equal(c->http.accounts[1].expires, 981244799); /* 2001-02-03T23:59:59Z */

    struct {
        const char *text;
        const char *must; /* in the message */
    } bad[] = {
        {"[user a]\nrole = viewer\n", "needs role and password_hash"},
        {"[user a]\nrole = boss\npassword_hash = x\n", "b.conf:2:"},
        {"[user a]\nrole = viewer\npassword_hash = scrypt$1$2$3$secretvalue$x\n", "b.conf:3:"},
        {"[user a]\nrole = viewer\npassword_hash = $argon2id$v=19$m=4194304,t=1,p=1$"
         "c2VjcmV0dmFsdWU$secretvalue\n",
         "b.conf:3: invalid password_hash (expected $argon2id$"},
        {"[node]\nuser = -x\n", "b.conf:2:"},
        {"[node]\ngroup = a b\n", "b.conf:2:"},
        {"[node]\nallow_root = maybe\n", "b.conf:2:"},
        {"[user a:b]\nrole = viewer\n", "may not contain"},
        {"[token t]\nrole = service\nhash = sha256$abc\n", "invalid hash"},
        {"[token t]\nrole = service\npassword_hash = x\n", "unknown key"},
        {"[http]\ntls_cert = /x.pem\n", "both tls_cert and tls_key"},
        {"[http]\nmax_body_kb = 0\n", "b.conf:2:"},
        {"[audit]\ntransport = tls\nhost = h\n", "ca_file"},
        {"[audit]\ntransport = udp\n", "needs a host"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rn_node_config_defaults(c);
        RnError e = {0};
        assert_int_not_equal(rn_node_config_parse(bad[i].text, "b.conf", c, &e), 0);
        if (!strstr(e.message, bad[i].must))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, e.message, bad[i].must);
        assert_null(strstr(e.message, "secretvalue")); /* hashes never echoed */
    }
    /* [node] user, group and the root policy (default: warn). */
    rn_node_config_defaults(c);
    assert_string_equal(c->user, "");
    assert_int_equal(c->allow_root, RN_ALLOW_ROOT_WARN);
    assert_int_equal(rn_node_config_parse("[node]\nuser = radnode\ngroup = radnode-data\n"
                                          "allow_root = no\n",
                                          "u.conf", c, &err),
                     0);
    assert_string_equal(c->user, "radnode");
    assert_string_equal(c->group, "radnode-data");
    assert_int_equal(c->allow_root, RN_ALLOW_ROOT_NO);
    assert_int_equal(rn_node_config_parse("[node]\nallow_root = yes\n", "u.conf", c, &err), 0);
    assert_int_equal(c->allow_root, RN_ALLOW_ROOT_YES);
    /* The same account twice is an error, not a silent override. */
    rn_node_config_defaults(c);
    snprintf(text, sizeof text, "[user a]\nrole = viewer\npassword_hash = %s\n[user a]\n", ph);
    assert_int_not_equal(rn_node_config_parse(text, "d.conf", c, &err), 0);
    assert_non_null(strstr(err.message, "defined twice"));
    free(c);
}

static void test_paths(void **state)
{
    (void)state;
    HttpPath p;
    const char *refused[] = {"",
                             "api/jobs",
                             "/api/studies/../../etc/passwd",
                             "/api/studies/1.2.3/..",
                             "/..",
                             "//etc/passwd",
                             "/api/jobs/1/./retry",
                             "/api/studies/1.2%2e%2e",
                             "/api/studies/1.2 3",
                             "/api/studies/\\1",
                             "/status?x",
                             "/api/jobs/1/.",
                             "/a\x01"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if (http_path_parse(refused[i], &p) != -1)
            fail_msg("path \"%s\" accepted", refused[i]);
    char longp[HTTP_MAX_URL + 8];
    memset(longp, 'a', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 1] = '\0';
    assert_int_equal(http_path_parse(longp, &p), -1);

    assert_int_equal(http_path_parse("/api/studies/1.2.840.113619.2.5", &p), 0);
    assert_int_equal(p.route, ROUTE_STUDY);
    assert_string_equal(p.study_uid, "1.2.840.113619.2.5");
    assert_int_equal(http_path_parse("/api/studies/1..2", &p), -1);
    assert_int_equal(http_path_parse("/api/studies/abc", &p), 0);
    assert_int_equal(p.route, ROUTE_NONE);
    assert_int_equal(http_path_parse("/api/jobs/42/retry", &p), 0);
    assert_int_equal(p.route, ROUTE_JOB_RETRY);
    assert_int_equal(p.job_id, 42);
    assert_int_equal(p.role, RN_ROLE_OPERATOR);
    assert_string_equal(p.method, "POST");
    assert_int_equal(http_path_parse("/api/jobs/0", &p), 0);
    assert_int_equal(p.route, ROUTE_NONE);
    assert_int_equal(http_path_parse("/api/jobs/", &p), 0);
    assert_int_equal(p.route, ROUTE_JOBS);
    assert_int_equal(http_path_parse("/api/config", &p), 0);
    assert_int_equal(p.role, RN_ROLE_OPERATOR);
    assert_int_equal(http_path_parse("/metrics", &p), 0);
    assert_int_equal(p.role, RN_ROLE_SERVICE);
    assert_int_equal(http_path_parse("/health", &p), 0);
    assert_int_equal(p.role, RN_ROLE_NONE);
}

/* ---- The router with a node that has accounts but no store --------------------------- */

typedef struct Fixture {
    Node node;
    NodeHttp h;
    char viewer_basic[128], operator_basic[128], token[80];
} Fixture;

static const char *no_query(const HttpRequest *rq, const char *key)
{
    (void)rq;
    (void)key;
    return NULL;
}

static void b64(const char *in, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(in), o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned char)in[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned char)in[i + 2];
        out[o++] = t[(v >> 18) & 63];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = i + 1 < n ? t[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? t[v & 63] : '=';
    }
    out[o] = '\0';
}

static int setup(void **state)
{
    Fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    rn_node_config_defaults(&f->node.cfg);
    RnHttpConfig *c = &f->node.cfg.http;
    c->backoff_after = 3;
    c->backoff_max = 8;
    RnHttpAccount *a = c->accounts;
    snprintf(a[0].name, sizeof a[0].name, "viewer");
    a[0].role = RN_ROLE_VIEWER;
    rn_http_password_hash("view-pw", TEST_OPS, TEST_MEM, a[0].secret_hash,
                          sizeof a[0].secret_hash, NULL);
    snprintf(a[1].name, sizeof a[1].name, "admin");
    a[1].role = RN_ROLE_OPERATOR;
    rn_http_password_hash("admin-pw", TEST_OPS, TEST_MEM, a[1].secret_hash,
                          sizeof a[1].secret_hash, NULL);
    snprintf(a[2].name, sizeof a[2].name, "prom");
    a[2].is_token = true;
    a[2].role = RN_ROLE_SERVICE;
    rn_http_token_create(f->token, sizeof f->token, a[2].secret_hash, sizeof a[2].secret_hash,
                         NULL);
    snprintf(a[3].name, sizeof a[3].name, "old");
    a[3].is_token = true;
    a[3].role = RN_ROLE_OPERATOR;
    a[3].expires = 1000;
    rn_http_token_hash("rnt_expired", a[3].secret_hash, sizeof a[3].secret_hash);
    c->account_count = 4;
    f->h.node = &f->node;
    pthread_mutex_init(&f->h.lock, NULL);
    http_accounts_init(&f->h);
    char b[64];
    b64("viewer:view-pw", b);
    snprintf(f->viewer_basic, sizeof f->viewer_basic, "Basic %s", b);
    b64("admin:admin-pw", b);
    snprintf(f->operator_basic, sizeof f->operator_basic, "Basic %s", b);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;
    pthread_mutex_destroy(&f->h.lock);
    free(f);
    return 0;
}

static unsigned call(Fixture *f, const char *method, const char *url, const char *auth,
                     const char *client, char **body)
{
    HttpRequest rq = {.method = method,
                      .url = url,
                      .authorization = auth,
                      .client = client ? client : "127.0.0.1",
                      .body = "",
                      .query = no_query};
    HttpReply r = {0};
    http_handle(&f->h, &rq, &r);
    if (body)
        *body = r.body;
    else
        free(r.body);
    return r.status;
}

static void test_router_auth(void **state)
{
    Fixture *f = *state;
    char *body = NULL;
    assert_int_equal(call(f, "GET", "/health", NULL, NULL, NULL), 200);
    /* No credentials: 401 with the error shape, also for unknown paths. */
    assert_int_equal(call(f, "GET", "/api/whoami", NULL, NULL, &body), 401);
    json_t *j = json_loads(body, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "error"), "status")),
                     401);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                        "unauthorized");
    json_decref(j);
    free(body);
    assert_int_equal(call(f, "GET", "/api/nothing", NULL, NULL, NULL), 401);
    assert_int_equal(call(f, "GET", "/api/studies/../../etc/passwd", NULL, NULL, NULL), 400);
    assert_int_equal(call(f, "GET", "/api/whoami", "Digest x", NULL, NULL), 401);
    assert_int_equal(call(f, "GET", "/api/whoami", "Basic !!!", NULL, NULL), 401);

    assert_int_equal(call(f, "GET", "/api/whoami", f->viewer_basic, NULL, &body), 200);
    j = json_loads(body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "role")), "viewer");
    json_decref(j);
    free(body);
    assert_int_equal(call(f, "GET", "/api/nothing", f->viewer_basic, NULL, NULL), 404);
    assert_int_equal(call(f, "DELETE", "/api/whoami", f->viewer_basic, NULL, NULL), 405);
    /* Roles: a viewer may not retry or read the configuration; a service token
     * may read metrics' route but not studies. */
    assert_int_equal(call(f, "POST", "/api/jobs/1/retry", f->viewer_basic, NULL, NULL), 403);
    assert_int_equal(call(f, "GET", "/api/config", f->viewer_basic, NULL, NULL), 403);
    char bearer[128];
    snprintf(bearer, sizeof bearer, "Bearer %s", f->token);
    assert_int_equal(call(f, "GET", "/api/whoami", bearer, NULL, NULL), 200);
    assert_int_equal(call(f, "GET", "/api/studies", bearer, NULL, NULL), 403);
    assert_int_equal(call(f, "GET", "/api/whoami", "Bearer rnt_expired", NULL, &body), 401);
    assert_non_null(strstr(body, "expired"));
    free(body);
    assert_int_equal(call(f, "GET", "/api/whoami", "Bearer rnt_0000", "10.0.0.77", NULL), 401);
}

static void test_sessions(void **state)
{
    Fixture *f = *state;
    char *body = NULL;
    assert_int_equal(call(f, "POST", "/api/login", f->operator_basic, NULL, &body), 200);
    json_t *j = json_loads(body, 0, NULL);
    free(body);
    assert_non_null(j);
    const char *tok = json_string_value(json_object_get(j, "token"));
    assert_non_null(tok);
    assert_true(!strncmp(tok, "rns_", 4));
    assert_string_equal(json_string_value(json_object_get(j, "role")), "operator");
    char bearer[128];
    snprintf(bearer, sizeof bearer, "Bearer %s", tok);
    json_decref(j);
    assert_int_equal(call(f, "GET", "/api/whoami", bearer, NULL, &body), 200);
    assert_non_null(strstr(body, "\"session\""));
    free(body);
    /* A session token cannot open another session; it logs out. */
    assert_int_equal(call(f, "POST", "/api/login", bearer, NULL, NULL), 400);
    assert_int_equal(call(f, "POST", "/api/logout", bearer, NULL, NULL), 200);
    assert_int_equal(call(f, "GET", "/api/whoami", bearer, NULL, NULL), 401);
    /* Expiry. */
    assert_int_equal(call(f, "POST", "/api/login", f->viewer_basic, NULL, &body), 200);
    j = json_loads(body, 0, NULL);
    free(body);
    snprintf(bearer, sizeof bearer, "Bearer %s", json_string_value(json_object_get(j, "token")));
    json_decref(j);
    assert_int_equal(call(f, "GET", "/api/whoami", bearer, NULL, NULL), 200);
    for (int i = 0; i < HTTP_MAX_SESSIONS; i++)
        if (f->h.sessions[i].used)
            f->h.sessions[i].expires = http_wall_now() - 1;
    assert_int_equal(call(f, "GET", "/api/whoami", bearer, NULL, &body), 401);
    assert_non_null(strstr(body, "expired"));
    free(body);
}

/* Sessions survive a restart (a fresh NodeHttp reading the same file), as
 * digests only; logout removes one; an expired one stays refused; one of an
 * account that is gone, and malformed lines, are dropped. */
static void restart(Fixture *f, const char *path)
{
    pthread_mutex_destroy(&f->h.lock);
    memset(&f->h, 0, sizeof f->h);
    f->h.node = &f->node;
    snprintf(f->h.sessions_path, sizeof f->h.sessions_path, "%s", path);
    pthread_mutex_init(&f->h.lock, NULL);
    http_accounts_init(&f->h);
}

static char *login_token(Fixture *f, const char *basic, char *bearer, size_t size)
{
    char *body = NULL;
    assert_int_equal(call(f, "POST", "/api/login", basic, NULL, &body), 200);
    json_t *j = json_loads(body, 0, NULL);
    free(body);
    assert_non_null(j);
    snprintf(bearer, size, "Bearer %s", json_string_value(json_object_get(j, "token")));
    json_decref(j);
    return bearer + 7;
}

static void test_sessions_persist(void **state)
{
    Fixture *f = *state;
    char dir[] = "/tmp/rn_sessions_XXXXXX", path[128];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/http-sessions", dir);
    restart(f, path);
    char keep[128], gone[128], *body = NULL;
    const char *keep_tok = login_token(f, f->operator_basic, keep, sizeof keep);
    login_token(f, f->viewer_basic, gone, sizeof gone);
    assert_int_equal(call(f, "POST", "/api/logout", gone, NULL, NULL), 200);

    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    size_t len = 0;
    char *text = (char *)rn_file_read_all(path, 1 << 20, &len, NULL);
    assert_non_null(text);
    assert_null(strstr(text, keep_tok + 4)); /* never the token itself */
    unsigned char d[32];
    SHA256((const unsigned char *)keep_tok, strlen(keep_tok), d);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    assert_non_null(strstr(text, hex));
    free(text);

    restart(f, path);
    assert_int_equal(call(f, "GET", "/api/whoami", keep, NULL, &body), 200);
    json_t *j = json_loads(body, 0, NULL);
    free(body);
    assert_string_equal(json_string_value(json_object_get(j, "via")), "session");
    assert_string_equal(json_string_value(json_object_get(j, "role")), "operator");
    json_decref(j);
    assert_int_equal(call(f, "GET", "/api/whoami", gone, NULL, NULL), 401);

    /* A file with an expired session, one of an unknown account, and junk. */
    static const char expired_tok[] =
        "rns_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    static const char ghost_tok[] =
        "rns_fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
    char exp_hex[65], ghost_hex[65];
    SHA256((const unsigned char *)expired_tok, strlen(expired_tok), d);
    for (int i = 0; i < 32; i++)
        snprintf(exp_hex + 2 * i, 3, "%02x", d[i]);
    SHA256((const unsigned char *)ghost_tok, strlen(ghost_tok), d);
    for (int i = 0; i < 32; i++)
        snprintf(ghost_hex + 2 * i, 3, "%02x", d[i]);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp, "# x\n%s 1000.5 admin\n%s 99999999999 ghost\nzz 1 admin\n%s nan admin\n%s\n\n",
            exp_hex, ghost_hex, hex, hex);
    fclose(fp);
    restart(f, path);
    assert_int_equal(call(f, "GET", "/api/whoami", "Bearer rns_0123456789abcdef0123456789abcdef"
                                                   "0123456789abcdef0123456789abcdef",
                          NULL, &body),
                     401);
    assert_non_null(strstr(body, "expired"));
    free(body);
    char ghost_bearer[96];
    snprintf(ghost_bearer, sizeof ghost_bearer, "Bearer %s", ghost_tok);
    assert_int_equal(call(f, "GET", "/api/whoami", ghost_bearer, NULL, NULL), 401);
    assert_int_equal(call(f, "GET", "/api/whoami", keep, NULL, NULL), 401); /* junk lines only */
    unlink(path);
    rmdir(dir);
}

static void test_backoff(void **state)
{
    Fixture *f = *state;
    double t = 1e9;
    const char *k = "ip:192.0.2.1";
    for (int i = 0; i < 2; i++) {
        http_backoff_fail(&f->h, k, t);
        assert_true(http_backoff_wait(&f->h, k, t) == 0);
    }
    double expect[] = {1, 2, 4, 8, 8, 8};
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        http_backoff_fail(&f->h, k, t);
        assert_true(http_backoff_wait(&f->h, k, t) == expect[i]);
    }
    assert_true(http_backoff_wait(&f->h, k, t + 9) == 0);
    assert_true(http_backoff_wait(&f->h, "ip:192.0.2.2", t) == 0);
    http_backoff_clear(&f->h, k);
    assert_true(http_backoff_wait(&f->h, k, t) == 0);

    /* Through the router: wrong passwords from one address, then 429 even for
     * the right password, with Retry-After; another address is unaffected. */
    char wrong[96], b[64];
    b64("admin:nope", b);
    snprintf(wrong, sizeof wrong, "Basic %s", b);
    for (int i = 0; i < 3; i++)
        assert_int_equal(call(f, "GET", "/api/whoami", wrong, "198.51.100.7", NULL), 401);
    HttpRequest rq = {.method = "GET",
                      .url = "/api/whoami",
                      .authorization = f->operator_basic,
                      .client = "198.51.100.7",
                      .query = no_query};
    HttpReply r = {0};
    http_handle(&f->h, &rq, &r);
    assert_int_equal(r.status, 429);
    assert_true(r.retry_after >= 1);
    free(r.body);
    /* The user "admin" is backing off too, from any address. */
    assert_int_equal(call(f, "GET", "/api/whoami", f->operator_basic, "203.0.113.9", NULL), 429);
    assert_int_equal(call(f, "GET", "/api/whoami", f->viewer_basic, "203.0.113.9", NULL), 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_password_hash),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_config_accounts),
        cmocka_unit_test(test_paths),
        cmocka_unit_test_setup_teardown(test_router_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sessions_persist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backoff, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
