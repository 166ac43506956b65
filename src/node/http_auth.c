/*
 * Who may use the operator HTTP API (issue 9, "HTTP access"):
 *
 *  - Users with passwords, stored only as Argon2id hashes (RFC 9106 through
 *    libsodium's crypto_pwhash_str, a random 16-byte salt per user, the PHC
 *    string form). Hashes in the older scrypt form (RFC 7914 through
 *    OpenSSL's EVP_PBE_scrypt) still verify, and the node names each such
 *    account in a warning at start. Users send HTTP Basic credentials
 *    (RFC 7617), once to POST /api/login for a session token, or on every
 *    request.
 *  - Sessions: 32 random bytes ("rns_" + hex) sent as a Bearer token
 *    (RFC 6750); only their SHA-256 is kept, with the user and the expiry,
 *    in memory and in <data_dir>/http-sessions (mode 0600, rewritten
 *    atomically at each login and logout), so they survive a restart; they
 *    expire after `session_ttl` seconds.
 *  - API tokens for services: "rnt_" + 64 hex digits, configured as their
 *    SHA-256, with an optional expiry date; removing one from the file
 *    revokes it within a second (the file is re-read when it changes).
 *  - Every comparison of secrets is constant-time (CRYPTO_memcmp, and
 *    libsodium's own in crypto_pwhash_str_verify); an unknown user costs the
 *    same password-hash work as a known one.
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
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

/* Length of an unpadded standard base64 run (the PHC string alphabet) at s,
 * -1 if it holds another character before the end or the next '$'. */
static long b64_run(const char *s, const char **end)
{
    const char *p = s;
    while (*p && *p != '$') {
        unsigned char c = (unsigned char)*p;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return -1;
        p++;
    }
    *end = p;
    return p - s;
}

/* 1 to 8 decimal digits (no sign, no space) at *s. */
static int digits(const char **s, unsigned long *out)
{
    const char *p = *s;
    unsigned long v = 0;
    while (*p >= '0' && *p <= '9' && p - *s < 9)
        v = v * 10 + (unsigned long)(*p++ - '0');
    if (p == *s || p - *s > 8)
        return -1;
    *s = p;
    *out = v;
    return 0;
}

/* "$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt b64>$<hash b64>" with the
 * cost bounded, so a configured hash cannot make each login allocate more than
 * RN_HTTP_ARGON2_MEM_KIB_MAX or run for minutes; libsodium then parses it again. */
static int argon2_parse(const char *s, unsigned *ops, unsigned *mem_kib)
{
    static const char head[] = "$argon2id$v=19$m=";
    if (strncmp(s, head, sizeof head - 1) || strlen(s) >= crypto_pwhash_STRBYTES)
        return -1;
    const char *c = s + sizeof head - 1;
    unsigned long m, t, p;
    if (digits(&c, &m) || strncmp(c, ",t=", 3) || (c += 3, digits(&c, &t)) ||
        strncmp(c, ",p=", 3) || (c += 3, digits(&c, &p)) || *c != '$')
        return -1;
    /* Lanes are computed one after the other by libsodium: m and t set the cost.
     * RFC 9106 3.1: at least 8 KiB per lane. */
    if (m > RN_HTTP_ARGON2_MEM_KIB_MAX || t < 1 || t > RN_HTTP_ARGON2_OPS_MAX || p < 1 || p > 16 ||
        m < 8 * p)
        return -1;
    const char *salt = c + 1, *end;
    long sl = b64_run(salt, &end);
    if (sl < 11 || sl > 86 || *end != '$') /* 8..64 bytes of salt */
        return -1;
    long hl = b64_run(end + 1, &end);
    if (hl < 22 || hl > 86 || *end) /* 16..64 bytes of hash */
        return -1;
    *ops = (unsigned)t;
    *mem_kib = (unsigned)m;
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
    unsigned ops, mem;
    return argon2_parse(hash, &ops, &mem) == 0 || scrypt_parse(hash, &h) == 0;
}

bool rn_http_password_hash_is_legacy(const char *hash)
{
    ScryptHash h;
    return hash && scrypt_parse(hash, &h) == 0;
}

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_status = -1;

static void sodium_start(void) { sodium_status = sodium_init() < 0 ? -1 : 0; }

/* libsodium must be initialised once before use (sodium_init itself is
 * thread-safe; pthread_once keeps its result). */
static int sodium_ready(void)
{
    pthread_once(&sodium_once, sodium_start);
    return sodium_status;
}

static int scrypt_derive(const char *password, const ScryptHash *h, unsigned char *out)
{
    uint64_t maxmem = 128 * h->r * h->n + (1u << 20) + 128 * h->r * h->p;
    return EVP_PBE_scrypt(password, strlen(password), h->salt, h->salt_len, h->n, h->r, h->p,
                          maxmem, out, HASH_BYTES) == 1
               ? 0
               : -1;
}

int rn_http_password_hash(const char *password, unsigned ops, unsigned mem_kib, char *out,
                          size_t size, RnError *err)
{
    if (!ops)
        ops = RN_HTTP_ARGON2_OPS_DEFAULT;
    if (!mem_kib)
        mem_kib = RN_HTTP_ARGON2_MEM_KIB_DEFAULT;
    if (ops > RN_HTTP_ARGON2_OPS_MAX || mem_kib < 8 || mem_kib > RN_HTTP_ARGON2_MEM_KIB_MAX)
        return rn_error_set(err, RN_ERR_INVALID,
                            "Argon2id cost out of range (passes 1..%d, memory 8 KiB..%u MiB)",
                            RN_HTTP_ARGON2_OPS_MAX, RN_HTTP_ARGON2_MEM_KIB_MAX >> 10);
    if (!password || !*password)
        return rn_error_set(err, RN_ERR_INVALID, "empty password");
    if (sodium_ready())
        return rn_error_set(err, RN_ERR_IO, "libsodium could not be initialised");
    char str[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str_alg(str, password, strlen(password), ops, (size_t)mem_kib << 10,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        return rn_error_set(err, RN_ERR_NOMEM, "Argon2id failed (out of memory?)");
    int w = snprintf(out, size, "%s", str);
    if (w < 0 || (size_t)w >= size)
        return rn_error_set(err, RN_ERR_LIMIT, "hash buffer too small");
    return 0;
}

bool rn_http_password_verify(const char *password, const char *hash)
{
    if (!password || !hash)
        return false;
    unsigned ops, mem;
    if (argon2_parse(hash, &ops, &mem) == 0) {
        /* libsodium takes a char[crypto_pwhash_STRBYTES]: give it exactly that. */
        char str[crypto_pwhash_STRBYTES] = {0};
        memcpy(str, hash, strlen(hash)); /* shorter than STRBYTES (argon2_parse) */
        return sodium_ready() == 0 &&
               crypto_pwhash_str_verify(str, password, strlen(password)) == 0;
    }
    ScryptHash h;
    if (scrypt_parse(hash, &h))
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

/* ---- Sessions on disk ------------------------------------------------------------------ */

/* The file holds one line per session: "<SHA-256 hex of the token> <expiry,
 * unix seconds> <user>"; never the token itself. The role is not kept: it is
 * the account's when the file is read, and a session whose account is gone is
 * dropped. Called with h->lock held (or before the server runs). */
static void sessions_save(NodeHttp *h)
{
    if (!h->sessions_path[0])
        return;
    size_t cap = 64 + (size_t)HTTP_MAX_SESSIONS * (64 + 24 + 64 + 4), len = 0;
    char *text = rn_malloc(cap);
    if (!text) {
        rn_errorlog("http: sessions not saved: out of memory");
        return;
    }
    len += (size_t)snprintf(text, cap, "# radnode sessions: sha256(token) expiry user\n");
    double now = http_wall_now();
    for (int i = 0; i < HTTP_MAX_SESSIONS; i++) {
        const HttpSession *s = &h->sessions[i];
        if (!s->used || s->expires <= now)
            continue;
        char hex[65];
        to_hex(s->digest, 32, hex);
        len += (size_t)snprintf(text + len, cap - len, "%s %.3f %s\n", hex, s->expires, s->user);
    }
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", h->sessions_path);
    /* 0600 whatever the umask; written whole, then renamed over the old file. */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    bool ok = fd >= 0 && fchmod(fd, 0600) == 0 && write(fd, text, len) == (ssize_t)len &&
              fsync(fd) == 0;
    int e = errno;
    if (fd >= 0 && close(fd) != 0)
        ok = false;
    if (ok && rename(tmp, h->sessions_path) != 0) {
        e = errno;
        ok = false;
    }
    if (!ok) {
        unlink(tmp);
        rn_errorlog("http: sessions not saved to %s: %s", h->sessions_path, strerror(e));
    }
    free(text);
}

static const RnHttpAccount *user_account(const NodeHttp *h, const char *user)
{
    for (int a = 0; a < h->account_count; a++)
        if (!h->accounts[a].is_token && !strcmp(h->accounts[a].name, user))
            return &h->accounts[a];
    return NULL;
}

/* Reads the file written by sessions_save. Malformed lines are skipped with a
 * warning (the file is the node's own, but every byte read is checked). */
static void sessions_load(NodeHttp *h)
{
    size_t len = 0;
    RnError err = {0};
    uint8_t *data = rn_file_read_all(h->sessions_path, 1 << 20, &len, &err);
    if (!data) {
        if (access(h->sessions_path, F_OK) == 0)
            rn_errorlog("http: sessions not restored: %s", err.message);
        return;
    }
    char *text = (char *)data;
    int n = 0, bad = 0, gone = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#')
            continue;
        unsigned char d[32];
        char *sp = strchr(line, ' ');
        char *end = NULL;
        double expires = sp ? strtod(sp + 1, &end) : 0;
        const char *user = end && *end == ' ' ? end + 1 : NULL;
        if (!sp || sp - line != 64 || from_hex(line, 64, d) || !user || !*user ||
            strlen(user) >= sizeof h->sessions[0].user || !(expires > 0) ||
            n >= HTTP_MAX_SESSIONS) {
            bad++;
            continue;
        }
        const RnHttpAccount *acc = user_account(h, user);
        if (!acc) {
            gone++;
            continue;
        }
        HttpSession *s = &h->sessions[n++];
        memcpy(s->digest, d, 32);
        snprintf(s->user, sizeof s->user, "%s", user);
        s->role = acc->role;
        s->expires = expires; /* an expired one stays, to be refused as expired */
        s->used = true;
    }
    free(data);
    if (bad)
        rn_warn("http: %d malformed lines in %s skipped", bad, h->sessions_path);
    rn_info("http: %d sessions restored from %s (%d of removed accounts dropped)", n,
            h->sessions_path, gone);
}

/* ---- Accounts (re-read when the configuration file changes) ------------------------- */

void http_accounts_init(NodeHttp *h)
{
    const RnHttpConfig *c = &h->node->cfg.http;
    memcpy(h->accounts, c->accounts, sizeof h->accounts);
    h->account_count = c->account_count;
    for (int i = 0; i < h->account_count; i++)
        if (!h->accounts[i].is_token && rn_http_password_hash_is_legacy(h->accounts[i].secret_hash))
            rn_warn("http: user \"%s\" has a legacy scrypt password hash; make an Argon2id one "
                    "with `radnode passwd %s` and replace its password_hash",
                    h->accounts[i].name, h->accounts[i].name);
    struct stat st;
    if (h->node->cfg.path[0] && stat(h->node->cfg.path, &st) == 0)
        h->config_mtime = st.st_mtim;
    h->config_checked = rn_time_now();
    if (!h->sessions_path[0] && h->node->store)
        snprintf(h->sessions_path, sizeof h->sessions_path, "%s/http-sessions",
                 rn_store_root(h->node->store));
    if (h->sessions_path[0])
        sessions_load(h);
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
        sessions_save(h);
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
    char hash[256] = "", dummy[256] = "";
    RnHttpRole role = RN_ROLE_NONE;
    for (int i = 0; i < h->account_count; i++)
        if (!h->accounts[i].is_token) {
            if (!strcmp(h->accounts[i].name, user)) {
                snprintf(hash, sizeof hash, "%s", h->accounts[i].secret_hash);
                role = h->accounts[i].role;
            } else if (!dummy[0]) {
                snprintf(dummy, sizeof dummy, "%s", h->accounts[i].secret_hash);
            }
        }
    pthread_mutex_unlock(&h->lock);
    /* An unknown user costs the same work as a known one (no user enumeration
     * by timing): the password is checked against another account's hash, of
     * the same cost when the accounts share one, and the result thrown away. */
    static const char fallback[] =
        "$argon2id$v=19$m=65536,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    bool ok = rn_http_password_verify(password, hash[0] ? hash : dummy[0] ? dummy : fallback) &&
              hash[0];
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
    sessions_save(h);
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
    sessions_save(h);
    pthread_mutex_unlock(&h->lock);
    audit_auth(h, rq, who->user, false, RN_AUDIT_SUCCESS, NULL);
    json_t *o = json_object();
    json_object_set_new(o, "logged_out", json_true());
    http_reply_json(out, 200, o);
}
