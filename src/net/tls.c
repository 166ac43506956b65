/*
 * DICOM TLS (PS3.15 B.12 "BCP 195 TLS Secure Transport Connection Profile"):
 * the TLS implementation of the connection vtable, over OpenSSL. TLS 1.2 is
 * the minimum; TLS 1.2 cipher suites are restricted to the BCP 195 (RFC 9325)
 * recommendations (ECDHE with AES-GCM or ChaCha20-Poly1305); TLS 1.3 suites
 * are OpenSSL's defaults, all of which BCP 195 allows. Mutual authentication
 * (both sides presenting certificates checked against configured trust
 * anchors) is on when verify_peer is set. As in DCMTK, peers are identified
 * by certificate, not by host name.
 *
 * Reads and writes stay blocking; the socket carries SO_RCVTIMEO/SO_SNDTIMEO
 * equal to the connection timeout, so a stalled handshake or record ends in a
 * timeout instead of a hung worker.
 */
#include "net/net_internal.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

struct RnTlsContext {
    SSL_CTX *ctx;
};

#define BCP195_TLS12_CIPHERS                                                                    \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:" \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"   \
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384"

static int ssl_error(RnError *err, int code, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "";
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return rn_error_set(err, code, "%s%s%s", what, buf[0] ? ": " : "", buf);
}

RnTlsContext *rn_tls_context_create(const RnTlsConfig *cfg, bool server, RnError *err)
{
    RnTlsContext *t = rn_calloc(1, sizeof *t);
    if (!t) {
        rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    t->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!t->ctx) {
        ssl_error(err, RN_ERR_NOMEM, "SSL_CTX_new");
        free(t);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(t->ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                    SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(t->ctx, SSL_MODE_AUTO_RETRY);
    const char *ciphers = cfg && cfg->ciphers ? cfg->ciphers : BCP195_TLS12_CIPHERS;
    if (!SSL_CTX_set_cipher_list(t->ctx, ciphers)) {
        ssl_error(err, RN_ERR_INVALID, "TLS cipher list");
        goto fail;
    }
    if (cfg && cfg->cert_file &&
        SSL_CTX_use_certificate_chain_file(t->ctx, cfg->cert_file) != 1) {
        ssl_error(err, RN_ERR_IO, "loading TLS certificate");
        goto fail;
    }
    if (cfg && cfg->key_file) {
        if (SSL_CTX_use_PrivateKey_file(t->ctx, cfg->key_file, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(t->ctx) != 1) {
            ssl_error(err, RN_ERR_IO, "loading TLS private key");
            goto fail;
        }
    }
    if (server && (!cfg || !cfg->cert_file || !cfg->key_file)) {
        rn_error_set(err, RN_ERR_INVALID, "a TLS server needs a certificate and a key");
        goto fail;
    }
    if (cfg && cfg->ca_file && SSL_CTX_load_verify_locations(t->ctx, cfg->ca_file, NULL) != 1) {
        ssl_error(err, RN_ERR_IO, "loading TLS trust anchors");
        goto fail;
    }
    if (cfg && cfg->verify_peer) {
        if (!cfg->ca_file) {
            rn_error_set(err, RN_ERR_INVALID, "peer verification needs trust anchors (ca_file)");
            goto fail;
        }
        SSL_CTX_set_verify(t->ctx,
                           SSL_VERIFY_PEER | (server ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
                           NULL);
    } else {
        SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
    }
    return t;
fail:
    SSL_CTX_free(t->ctx);
    free(t);
    return NULL;
}

void rn_tls_context_destroy(RnTlsContext *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->ctx);
    free(t);
}

static int tls_failure(RnConn *c, SSL *ssl, int ret, RnError *err, const char *what)
{
    int e = SSL_get_error(ssl, ret);
    if (e == SSL_ERROR_ZERO_RETURN)
        return 0;
    if (e == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        ERR_clear_error();
        return rn_error_set(err, RN_ERR_TIMEOUT, "%s: TLS %s timed out", c->peer, what);
    }
    if (e == SSL_ERROR_SYSCALL && ret == 0) {
        ERR_clear_error();
        return rn_error_set(err, RN_ERR_TRUNCATED, "%s: connection closed during TLS %s",
                            c->peer, what);
    }
    char msg[96];
    snprintf(msg, sizeof msg, "%s: TLS %s failed", c->peer, what);
    return ssl_error(err, RN_ERR_NET, msg);
}

static ssize_t tls_read(RnConn *c, void *buf, size_t len, RnError *err)
{
    SSL *ssl = c->tls;
    int rc = rn_conn_wait_(c, POLLIN, err);
    if (rc)
        return rc;
    int n = SSL_read(ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    if (n > 0)
        return n;
    return tls_failure(c, ssl, n, err, "read");
}

static ssize_t tls_write(RnConn *c, const void *buf, size_t len, RnError *err)
{
    SSL *ssl = c->tls;
    int n = SSL_write(ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    if (n > 0)
        return n;
    int rc = tls_failure(c, ssl, n, err, "write");
    return rc ? rc : rn_error_set(err, RN_ERR_NET, "%s: TLS connection closed", c->peer);
}

static size_t tls_pending(RnConn *c)
{
    return c->tls ? (size_t)SSL_pending((SSL *)c->tls) : 0;
}

static void tls_close(RnConn *c)
{
    SSL *ssl = c->tls;
    if (ssl) {
        /* One close_notify, no wait for the peer's (PS3.15 B.12 does not
         * require the bidirectional shutdown). */
        SSL_shutdown(ssl);
        SSL_free(ssl);
        c->tls = NULL;
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static const RnConnOps tls_ops = {
    .name = "tls", .read = tls_read, .write = tls_write, .pending = tls_pending,
    .close = tls_close,
};

int rn_tls_attach_(RnConn *c, RnTlsContext *ctx, bool server, const char *host, RnError *err)
{
    if (c->timeout_ms > 0) {
        struct timeval tv = {.tv_sec = c->timeout_ms / 1000,
                             .tv_usec = (c->timeout_ms % 1000) * 1000};
        setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    SSL *ssl = SSL_new(ctx->ctx);
    if (!ssl)
        return ssl_error(err, RN_ERR_NOMEM, "SSL_new");
    SSL_set_fd(ssl, c->fd);
    if (!server && host)
        SSL_set_tlsext_host_name(ssl, host);
    int ret = server ? SSL_accept(ssl) : SSL_connect(ssl);
    if (ret != 1) {
        int rc = tls_failure(c, ssl, ret, err, "handshake");
        SSL_free(ssl);
        return rc ? rc : rn_error_set(err, RN_ERR_NET, "%s: TLS handshake failed", c->peer);
    }
    c->tls = ssl;
    c->ops = &tls_ops;
    return 0;
}
