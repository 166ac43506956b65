/*
 * Who may use the operator HTTP API (issue 9, "HTTP access"):
 *
 *  - Users with passwords, stored only as scrypt hashes (RFC 7914 through
 *    OpenSSL's EVP_PBE_scrypt, a random 16-byte salt per user). They send
 *    HTTP Basic credentials (RFC 7617), once to POST /api/login for a session
 *    token, or on every request.
 *  - Sessions: 32 random bytes ("rns_" + hex) sent as a Bearer token
 *    (RFC 6750); only their SHA-256 is kept, in memory, and they expire after
 *    `session_ttl` seconds (and with the node).
 *  - API tokens for services: "rnt_" + 64 hex digits, configured as their
 *    SHA-256, with an optional expiry date; removing one from the file
 *    revokes it within a second (the file is re-read when it changes).
 *  - Every comparison of secrets is constant-time (CRYPTO_memcmp); an unknown
 *    user costs the same scrypt work as a known one.
 *  - Brute force: after `backoff_after` failures from one address or for one
 *    user, each further attempt must wait twice as long as the one before
 *    (up to `backoff_max`); attempts during the wait are answered 429 without
 *    looking at the password. A success clears the user's and address's count.
 *  - Failed and successful logins and logouts are PS3.15 A.5.3 User
 *    Authentication audit events; the log names the user and the address.
 */
#include "node/http_internal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#define SALT_BYTES 16
#define HASH_BYTES 32

double http_wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- Secrets ---------------------------------------------------------------------- */

static void to_hex(const unsigned char *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Decodes exactly `len` hex digits into len/2 bytes. */
static int from_hex(const char *s, size_t len, unsigned char *out)
{
    if (len % 2)
        return -1;
    for (size_t i = 0; i < len / 2; i++) {
        int hi = rn_hex_digit(s[2 * i]), lo = rn_hex_digit(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

typedef struct ScryptHash {
    uint64_t n, r, p;
    unsigned char salt[64];
    size_t salt_len;
    unsigned char hash[HASH_BYTES];
} ScryptHash;

static int parse_u64(const char **s, uint64_t *out)
{
    const char *p = *s;
    uint64_t v = 0;
    if (*p < '0' || *p > '9')
        return -1;
    while (*p >= '0' && *p <= '9') {
        if (v > 100000000ull)
            return -1;
        v = v * 10 + (uint64_t)(*p++ - '0');
    }
    if (*p != '$')
        return -1;
    *s = p + 1;
    *out = v;
    return 0;
}

/* "scrypt$N$r$p$<salt hex>$<hash hex>" */
static int scrypt_parse(const char *s, ScryptHash *h)
{
    if (strncmp(s, "scrypt$", 7))
        return -1;
    s += 7;
    if (parse_u64(&s, &h->n) || parse_u64(&s, &h->r) || parse_u64(&s, &h->p))
        return -1;
    /* N a power of two (RFC 7914 2), bounded so a configured hash cannot make
     * each login allocate gigabytes (128 * r * N bytes). */
    if (h->n < 1024 || h->n > (1u << 20) || (h->n & (h->n - 1)) || h->r < 1 || h->r > 32 ||
        h->p < 1 || h->p > 16 || 128 * h->r * h->n > (256ull << 20))
        return -1;
    const char *dollar = strchr(s, '$');
    if (!dollar)
        return -1;
    size_t sl = (size_t)(dollar - s);
    if (sl < 2 * 8 || sl > 2 * sizeof h->salt || from_hex(s, sl, h->salt))
        return -1;
    h->salt_len = sl / 2;
    const char *hs = dollar + 1;
    if (strlen(hs) != 2 * HASH_BYTES || from_hex(hs, 2 * HASH_BYTES, h->hash))
        return -1;
    return 0;
}

bool rn_http_secret_hash_valid(const char *hash, bool is_token)
{
    if (is_token) {
        unsigned char d[32];
        return !strncmp(hash, "sha256$", 7) && strlen(hash) == 7 + 64 &&
               from_hex(hash + 7, 64, d) == 0;
    }
    ScryptHash h;
    return scrypt_parse(hash, &h) == 0;
}

static int scrypt_derive(const char *password, const ScryptHash *h, unsigned char *out)
{
    uint64_t maxmem = 128 * h->r * h->n + (1u << 20) + 128 * h->r * h->p;
    return EVP_PBE_scrypt(password, strlen(password), h->salt, h->salt_len, h->n, h->r, h->p,
                          maxmem, out, HASH_BYTES) == 1
               ? 0
               : -1;
}

int rn_http_password_hash(const char *password, uint64_t n, char *out, size_t size, RnError *err)
{
    ScryptHash h = {.n = n ? n : RN_HTTP_SCRYPT_N_DEFAULT, .r = 8, .p = 1, .salt_len = SALT_BYTES};
    if (h.n < 1024 || h.n > (1u << 20) || (h.n & (h.n - 1)))
        return rn_error_set(err, RN_ERR_INVALID, "scrypt N must be a power of two, 1024..1048576");
    if (!password || !*password)
        return rn_error_set(err, RN_ERR_INVALID, "empty password");
    if (RAND_bytes(h.salt, SALT_BYTES) != 1)
        return rn_error_set(err, RN_ERR_IO, "no random bytes for the salt");
    unsigned char dk[HASH_BYTES];
    if (scrypt_derive(password, &h, dk))
        return rn_error_set(err, RN_ERR_NOMEM, "scrypt failed (memory?)");
    char salt_hex[2 * SALT_BYTES + 1], hash_hex[2 * HASH_BYTES + 1];
    to_hex(h.salt, SALT_BYTES, salt_hex);
    to_hex(dk, HASH_BYTES, hash_hex);
    OPENSSL_cleanse(dk, sizeof dk);
    int w = snprintf(out, size, "scrypt$%llu$%llu$%llu$%s$%s", (unsigned long long)h.n,
                     (unsigned long long)h.r, (unsigned long long)h.p, salt_hex, hash_hex);
    if (w < 0 || (size_t)w >= size)
        return rn_error_set(err, RN_ERR_LIMIT, "hash buffer too small");
    return 0;
}

bool rn_http_password_verify(const char *password, const char *hash)
{
    ScryptHash h;
    if (!password || !hash || scrypt_parse(hash, &h))
        return false;
    unsigned char dk[HASH_BYTES];
    if (scrypt_derive(password, &h, dk))
        return false;
    bool ok = CRYPTO_memcmp(dk, h.hash, HASH_BYTES) == 0;
    OPENSSL_cleanse(dk, sizeof dk);
    return ok;
}

void rn_http_token_hash(const char *token, char *out, size_t size)
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)token, strlen(token), d);
    char hex[2 * SHA256_DIGEST_LENGTH + 1];
    to_hex(d, sizeof d, hex);
    snprintf(out, size, "sha256$%s", hex);
}

bool rn_http_token_verify(const char *token, const char *hash)
{
    unsigned char want[32], got[32];
    if (!token || !hash || strncmp(hash, "sha256$", 7) || strlen(hash) != 7 + 64 ||
        from_hex(hash + 7, 64, want))
        return false;
    SHA256((const unsigned char *)token, strlen(token), got);
    return CRYPTO_memcmp(want, got, 32) == 0;
}

int rn_http_token_create(char *token, size_t token_size, char *hash, size_t hash_size, RnError *err)
{
    unsigned char r[32];
    if (token_size < 4 + 64 + 1 || hash_size < 7 + 64 + 1)
        return rn_error_set(err, RN_ERR_LIMIT, "token buffer too small");
    if (RAND_bytes(r, sizeof r) != 1)
        return rn_error_set(err, RN_ERR_IO, "no random bytes for the token");
    memcpy(token, "rnt_", 4);
    to_hex(r, sizeof r, token + 4);
    OPENSSL_cleanse(r, sizeof r);
    rn_http_token_hash(token, hash, hash_size);
    return 0;
}

/* ---- Accounts (re-read when the configuration file changes) ------------------------- */

void http_accounts_init(NodeHttp *h)
{
    const RnHttpConfig *c = &h->node->cfg.http;
    memcpy(h->accounts, c->accounts, sizeof h->accounts);
    h->account_count = c->account_count;
    struct stat st;
    if (h->node->cfg.path[0] && stat(h->node->cfg.path, &st) == 0)
        h->config_mtime = st.st_mtim;
    h->config_checked = rn_time_now();
}

/* Called with h->lock held. */
static void accounts_refresh(NodeHttp *h)
{
    const char *path = h->node->cfg.path;
    double now = rn_time_now();
    if (!path[0] || now - h->config_checked < 1.0)
        return;
    h->config_checked = now;
    struct stat st;
    if (stat(path, &st) != 0 || (st.st_mtim.tv_sec == h->config_mtime.tv_sec &&
                                 st.st_mtim.tv_nsec == h->config_mtime.tv_nsec))
        return;
    RnNodeConfig *fresh = rn_malloc(sizeof *fresh);
    RnError err = {0};
    if (!fresh)
        return;
    if (rn_node_config_load(path, fresh, &err)) {
        /* Keep the accounts we have: a half-edited file must not lock everyone out. */
        rn_errorlog("http: accounts not reloaded: %s", err.message);
    } else {
        memcpy(h->accounts, fresh->http.accounts, sizeof h->accounts);
        h->account_count = fresh->http.account_count;
        /* Sessions follow their account: gone or changed role takes effect now. */
        for (int i = 0; i < HTTP_MAX_SESSIONS; i++) {
            HttpSession *s = &h->sessions[i];
            if (!s->used)
                continue;
            bool keep = false;
            for (int a = 0; a < h->account_count; a++)
                if (!h->accounts[a].is_token && !strcmp(h->accounts[a].name, s->user)) {
                    s->role = h->accounts[a].role;
                    keep = true;
                }
            if (!keep)
                memset(s, 0, sizeof *s);
        }
        rn_info("http: %d accounts reloaded from %s", h->account_count, path);
    }
    h->config_mtime = st.st_mtim;
    free(fresh);
}

/* ---- Brute-force back-off ------------------------------------------------------------ */

static HttpBackoff *backoff_find(NodeHttp *h, const char *key, bool create, double now)
{
    HttpBackoff *free_slot = NULL, *oldest = NULL;
    for (int i = 0; i < HTTP_MAX_BACKOFF; i++) {
        HttpBackoff *b = &h->backoff[i];
        if (b->key[0] && !strcmp(b->key, key))
            return b;
        if (!b->key[0] && !free_slot)
            free_slot = b;
        if (b->key[0] && (!oldest || b->last < oldest->last))
            oldest = b;
    }
    if (!create)
        return NULL;
    HttpBackoff *b = free_slot;
    /* A full table forgets the entry idle longest; one still waiting is kept
     * unless every entry is, so an attacker cannot flush its own record by
     * filling the table with fresh keys only while others are quiet. */
    if (!b)
        b = oldest;
    memset(b, 0, sizeof *b);
    snprintf(b->key, sizeof b->key, "%s", key);
    b->last = now;
    return b;
}

void http_backoff_fail(NodeHttp *h, const char *key, double now)
{
    int after = h->node->cfg.http.backoff_after > 0 ? h->node->cfg.http.backoff_after : 5;
    int max = h->node->cfg.http.backoff_max > 0 ? h->node->cfg.http.backoff_max : 300;
    HttpBackoff *b = backoff_find(h, key, true, now);
    /* A day without failures forgives the past ones. */
    if (now - b->last > 86400)
        b->failures = 0;
    b->failures++;
    b->last = now;
    if (b->failures >= after) {
        int k = b->failures - after;
        double wait = k >= 20 ? max : (double)(1u << k);
        b->until = now + (wait > max ? max : wait);
    }
}

double http_backoff_wait(NodeHttp *h, const char *key, double now)
{
    HttpBackoff *b = backoff_find(h, key, false, now);
    return b && b->until > now ? b->until - now : 0;
}

void http_backoff_clear(NodeHttp *h, const char *key)
{
    HttpBackoff *b = backoff_find(h, key, false, 0);
    if (b)
        memset(b, 0, sizeof *b);
}

/* ---- Audit ---------------------------------------------------------------------------- */

void http_audit(NodeHttp *h, const HttpRequest *rq, const char *user, RnAuditEvent *ev)
{
    if (!h->audit)
        return;
    RnAuditEvent e = *ev;
    e.participant_count = 0;
    e.participants[e.participant_count++] = (RnAuditParticipant){
        .user_id = user && user[0] ? user : "(anonymous)",
        .network_address = rq && rq->client && rq->client[0] ? rq->client : NULL,
        .is_requestor = true,
    };
    e.participants[e.participant_count++] = (RnAuditParticipant){
        .user_id = h->node->cfg.ae_title,
        .alt_user_id = "radnode-http",
        .is_requestor = false,
        .role = RN_AUDIT_ROLE_APPLICATION,
    };
    RnError err = {0};
    if (rn_audit_trail_record(h->audit, &e, &err))
        rn_errorlog("http: audit record lost: %s", err.message);
}

static void audit_auth(NodeHttp *h, const HttpRequest *rq, const char *user, bool login,
                       int outcome, const char *why)
{
    RnAuditEvent ev = {.kind = login ? RN_AUDIT_LOGIN : RN_AUDIT_LOGOUT,
                       .outcome = outcome,
                       .outcome_description = why};
    http_audit(h, rq, user, &ev);
}

/* ---- Authentication ------------------------------------------------------------------- */

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decodes standard base64 (padding optional) into out (NUL-terminated);
 * -1 if malformed or longer than size - 1. */
static int b64_decode(const char *s, char *out, size_t size)
{
    size_t n = 0;
    unsigned acc = 0;
    int bits = 0;
    for (; *s && *s != '='; s++) {
        int v = b64_val((unsigned char)*s);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n + 1 >= size)
                return -1;
            out[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    while (*s == '=')
        s++;
    if (*s)
        return -1;
    out[n] = '\0';
    return memchr(out, '\0', n) ? -1 : 0; /* no NUL inside credentials */
}

static void reply_unauthorized(HttpReply *out, const char *why)
{
    http_reply_error(out, 401, "unauthorized", "%s", why);
    out->challenge = true;
}

static int refuse_throttled(NodeHttp *h, double wait, HttpReply *out)
{
    h->throttled++;
    http_reply_error(out, 429, "too_many_attempts", "too many failed logins; try again in %d s",
                     (int)wait + 1);
    out->retry_after = (int)wait + 1;
    return -1;
}

/* Called with h->lock held; releases it around the scrypt work. */
static int auth_basic(NodeHttp *h, const HttpRequest *rq, const char *b64, HttpPrincipal *who,
                      HttpReply *out, const char *ip_key)
{
    char cred[512];
    if (b64_decode(b64, cred, sizeof cred)) {
        pthread_mutex_unlock(&h->lock);
        reply_unauthorized(out, "malformed Basic credentials");
        return -1;
    }
    char *colon = strchr(cred, ':');
    if (!colon || colon == cred || colon - cred >= 64) {
        OPENSSL_cleanse(cred, sizeof cred);
        pthread_mutex_unlock(&h->lock);
        reply_unauthorized(out, "malformed Basic credentials");
        return -1;
    }
    *colon = '\0';
    const char *user = cred, *password = colon + 1;
    /* The name reaches the log and the audit trail: no control characters. */
    for (const char *c = user; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            OPENSSL_cleanse(cred, sizeof cred);
            pthread_mutex_unlock(&h->lock);
            reply_unauthorized(out, "malformed Basic credentials");
            return -1;
        }
    char user_key[96];
    snprintf(user_key, sizeof user_key, "user:%.63s", user);
    double now = http_wall_now();
    double wait = http_backoff_wait(h, user_key, now);
    if (wait > 0) {
        OPENSSL_cleanse(cred, sizeof cred);
        int rc = refuse_throttled(h, wait, out);
        pthread_mutex_unlock(&h->lock);
        return rc;
    }
    char hash[256] = "";
    RnHttpRole role = RN_ROLE_NONE;
    for (int i = 0; i < h->account_count; i++)
        if (!h->accounts[i].is_token && !strcmp(h->accounts[i].name, user)) {
            snprintf(hash, sizeof hash, "%s", h->accounts[i].secret_hash);
            role = h->accounts[i].role;
        }
    pthread_mutex_unlock(&h->lock);
    /* An unknown user costs the same scrypt work (no user enumeration by timing). */
    static const char dummy[] = "scrypt$16384$8$1$00000000000000000000000000000000$"
                                "0000000000000000000000000000000000000000000000000000000000000000";
    bool ok = rn_http_password_verify(password, hash[0] ? hash : dummy) && hash[0];
    OPENSSL_cleanse(colon + 1, strlen(colon + 1));
    pthread_mutex_lock(&h->lock);
    if (!ok) {
        now = http_wall_now();
        http_backoff_fail(h, ip_key, now);
        http_backoff_fail(h, user_key, now);
        h->login_failures++;
        pthread_mutex_unlock(&h->lock);
        rn_warn("http: failed login for \"%s\" from %s", user, rq->client);
        audit_auth(h, rq, user, true, RN_AUDIT_MINOR_FAILURE,
                   hash[0] ? "wrong password" : "unknown user");
        reply_unauthorized(out, "wrong user name or password");
        return -1;
    }
    http_backoff_clear(h, ip_key);
    http_backoff_clear(h, user_key);
    pthread_mutex_unlock(&h->lock);
    snprintf(who->user, sizeof who->user, "%.63s", user);
    who->role = role;
    who->via = "basic";
    return 0;
}

int http_authenticate(NodeHttp *h, const HttpRequest *rq, HttpPrincipal *who, HttpReply *out)
{
    memset(who, 0, sizeof *who);
    const char *a = rq->authorization;
    if (!a || !*a) {
        reply_unauthorized(out, "authentication required (Basic credentials or a Bearer token)");
        return -1;
    }
    char ip_key[96];
    snprintf(ip_key, sizeof ip_key, "ip:%s", rq->client ? rq->client : "?");
    pthread_mutex_lock(&h->lock);
    accounts_refresh(h);
    double now = http_wall_now();
    double wait = http_backoff_wait(h, ip_key, now);
    if (wait > 0) {
        int rc = refuse_throttled(h, wait, out);
        pthread_mutex_unlock(&h->lock);
        return rc;
    }
    if (!strncasecmp(a, "Basic ", 6)) {
        const char *b = a + 6;
        while (*b == ' ')
            b++;
        return auth_basic(h, rq, b, who, out, ip_key); /* unlocks */
    }
    if (strncasecmp(a, "Bearer ", 7)) {
        pthread_mutex_unlock(&h->lock);
        reply_unauthorized(out, "unsupported authorization scheme (use Basic or Bearer)");
        return -1;
    }
    const char *tok = a + 7;
    while (*tok == ' ')
        tok++;
    const char *why = "unknown or revoked token";
    int rc = -1;
    if (!strncmp(tok, "rns_", 4)) {
        unsigned char d[32];
        SHA256((const unsigned char *)tok, strlen(tok), d);
        for (int i = 0; i < HTTP_MAX_SESSIONS; i++) {
            HttpSession *s = &h->sessions[i];
            if (!s->used || CRYPTO_memcmp(s->digest, d, 32) != 0)
                continue;
            if (s->expires <= now) {
                why = "session expired; log in again";
                memset(s, 0, sizeof *s);
                break;
            }
            snprintf(who->user, sizeof who->user, "%s", s->user);
            who->role = s->role;
            who->via = "session";
            who->session = true;
            memcpy(who->session_digest, d, 32);
            rc = 0;
            break;
        }
    } else if (!strncmp(tok, "rnt_", 4)) {
        /* Every token hash is compared, so the time does not tell which one matched. */
        int match = -1;
        for (int i = 0; i < h->account_count; i++)
            if (h->accounts[i].is_token && rn_http_token_verify(tok, h->accounts[i].secret_hash))
                match = i;
        if (match >= 0) {
            const RnHttpAccount *acc = &h->accounts[match];
            if (acc->expires && (double)acc->expires <= now) {
                why = "token expired";
            } else {
                snprintf(who->user, sizeof who->user, "token:%s", acc->name);
                who->role = acc->role;
                who->via = "token";
                rc = 0;
            }
        }
    }
    if (rc) {
        http_backoff_fail(h, ip_key, now);
        h->login_failures++;
    }
    pthread_mutex_unlock(&h->lock);
    if (rc) {
        rn_warn("http: refused bearer token from %s: %s", rq->client, why);
        audit_auth(h, rq, "(bearer token)", true, RN_AUDIT_MINOR_FAILURE, why);
        reply_unauthorized(out, why);
    }
    return rc;
}

void http_login(NodeHttp *h, const HttpRequest *rq, const HttpPrincipal *who, HttpReply *out)
{
    if (strcmp(who->via, "basic")) {
        http_reply_error(out, 400, "bad_request", "log in with Basic credentials");
        return;
    }
    unsigned char r[32];
    if (RAND_bytes(r, sizeof r) != 1) {
        http_reply_error(out, 500, "internal", "no random bytes");
        return;
    }
    char token[4 + 64 + 1] = "rns_";
    to_hex(r, sizeof r, token + 4);
    OPENSSL_cleanse(r, sizeof r);
    int ttl = h->node->cfg.http.session_ttl > 0 ? h->node->cfg.http.session_ttl : 900;
    double now = http_wall_now();
    pthread_mutex_lock(&h->lock);
    HttpSession *slot = NULL;
    for (int i = 0; i < HTTP_MAX_SESSIONS; i++) {
        HttpSession *s = &h->sessions[i];
        if (s->used && s->expires <= now)
            memset(s, 0, sizeof *s);
        if (!s->used && !slot)
            slot = s;
    }
    if (!slot) { /* all in use: the one closest to expiry goes */
        slot = &h->sessions[0];
        for (int i = 1; i < HTTP_MAX_SESSIONS; i++)
            if (h->sessions[i].expires < slot->expires)
                slot = &h->sessions[i];
    }
    memset(slot, 0, sizeof *slot);
    SHA256((const unsigned char *)token, strlen(token), slot->digest);
    snprintf(slot->user, sizeof slot->user, "%s", who->user);
    slot->role = who->role;
    slot->expires = now + ttl;
    slot->used = true;
    h->logins++;
    pthread_mutex_unlock(&h->lock);
    rn_info("http: %s logged in from %s (%s)", who->user, rq->client, rn_http_role_name(who->role));
    audit_auth(h, rq, who->user, true, RN_AUDIT_SUCCESS, NULL);
    json_t *o = json_object();
    json_object_set_new(o, "token", json_string(token));
    json_object_set_new(o, "token_type", json_string("Bearer"));
    json_object_set_new(o, "expires_in", json_integer(ttl));
    json_object_set_new(o, "user", json_string(who->user));
    json_object_set_new(o, "role", json_string(rn_http_role_name(who->role)));
    OPENSSL_cleanse(token, sizeof token);
    http_reply_json(out, 200, o);
}

void http_logout(NodeHttp *h, const HttpRequest *rq, const HttpPrincipal *who, HttpReply *out)
{
    if (!who->session) {
        http_reply_error(out, 400, "bad_request", "only a session can log out");
        return;
    }
    pthread_mutex_lock(&h->lock);
    for (int i = 0; i < HTTP_MAX_SESSIONS; i++)
        if (h->sessions[i].used && !CRYPTO_memcmp(h->sessions[i].digest, who->session_digest, 32))
            memset(&h->sessions[i], 0, sizeof h->sessions[i]);
    pthread_mutex_unlock(&h->lock);
    audit_auth(h, rq, who->user, false, RN_AUDIT_SUCCESS, NULL);
    json_t *o = json_object();
    json_object_set_new(o, "logged_out", json_true());
    http_reply_json(out, 200, o);
}
