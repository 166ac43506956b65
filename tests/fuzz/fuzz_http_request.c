/*
 * libFuzzer target for the operator API's request handling (issue 9): path
 * checking and routing, the Authorization header (Basic base64, Bearer
 * session and API tokens), the brute-force table, and the JSON search body,
 * through http_handle exactly as libmicrohttpd hands a request over.
 *
 * Input: METHOD '\n' PATH '\n' AUTHORIZATION '\n' BODY. The node has one
 * operator ("fuzz", password "fuzz", the cheapest Argon2id cost) and no store, so
 * routes that reach the index answer with a store error; each run must end
 * with a well-formed reply.
 */
#include "node/http_internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *no_query(const HttpRequest *rq, const char *key)
{
    (void)rq;
    (void)key;
    return NULL;
}

static NodeHttp *fixture(void)
{
    static NodeHttp *h; /* built once: the password hash is not the thing under test */
    if (h)
        return h;
    Node *n = calloc(1, sizeof *n);
    h = calloc(1, sizeof *h);
    assert(n && h);
    rn_node_config_defaults(&n->cfg);
    n->cfg.http.public_status = false;
    RnHttpAccount *a = &n->cfg.http.accounts[0];
    snprintf(a->name, sizeof a->name, "fuzz");
    a->role = RN_ROLE_OPERATOR;
    rn_http_password_hash("fuzz", 1, 8, a->secret_hash, sizeof a->secret_hash, NULL); /* cheapest */
    RnHttpAccount *t = &n->cfg.http.accounts[1];
    snprintf(t->name, sizeof t->name, "svc");
    t->is_token = true;
    t->role = RN_ROLE_SERVICE;
    rn_http_token_hash("rnt_fuzz", t->secret_hash, sizeof t->secret_hash);
    n->cfg.http.account_count = 2;
    pthread_mutex_init(&n->cfg_lock, NULL);
    pthread_mutex_init(&n->wake_lock, NULL);
    pthread_cond_init(&n->wake, NULL);
    h->node = n;
    pthread_mutex_init(&h->lock, NULL);
    snprintf(h->db_path, sizeof h->db_path, "/nonexistent/radnode-fuzz/index.sqlite");
    http_accounts_init(h);
    rn_log_set_level(RN_LOG_ERROR);
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16384)
        return 0;
    NodeHttp *h = fixture();
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *fields[3] = {buf, "", ""};
    char *body = buf + strlen(buf); /* NUL bytes end the text fields early */
    char *p = buf;
    for (int i = 1; i <= 3; i++) {
        char *nl = strchr(p, '\n');
        if (!nl)
            break;
        *nl = '\0';
        p = nl + 1;
        if (i < 3)
            fields[i] = p;
        else
            body = p;
    }
    HttpRequest rq = {.method = fields[0],
                      .url = fields[1],
                      .authorization = fields[2][0] ? fields[2] : NULL,
                      .client = "192.0.2.1",
                      .body = body,
                      .body_len = strlen(body),
                      .query = no_query};
    HttpReply r = {0};
    http_handle(h, &rq, &r);
    assert(r.status >= 200 && r.status < 600 && r.body);
    if (r.status >= 400 && strcmp(r.type, "application/json") == 0)
        assert(strstr(r.body, "\"error\""));
    free(r.body);
    /* Keep the brute-force table from locking the fuzzer out of the valid seeds. */
    http_backoff_clear(h, "ip:192.0.2.1");
    http_backoff_clear(h, "user:fuzz");
    free(buf);
    return 0;
}
