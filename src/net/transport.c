/*
 * Transport for the Upper Layer (PS3.8 9.1.2: TCP as the transport service,
 * one TCP connection per association). A connection is a blocking socket with
 * TCP_NODELAY and a timeout on every read and write, implemented with poll()
 * so that a slow or silent peer costs at most the timeout. Plain TCP and TLS
 * (tls.c) are two implementations of the same RnConnOps vtable.
 */
#include "net/net_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int rn_conn_wait_(RnConn *c, short events, RnError *err)
{
    if (events == POLLIN && c->ops->pending && c->ops->pending(c) > 0)
        return 0;
    struct pollfd pfd = {.fd = c->fd, .events = events};
    for (;;) {
        int n = poll(&pfd, 1, c->timeout_ms > 0 ? c->timeout_ms : -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return rn_error_set(err, RN_ERR_NET, "%s: poll: %s", c->peer, strerror(errno));
        if (n == 0)
            return rn_error_set(err, RN_ERR_TIMEOUT, "%s: timed out after %d ms", c->peer,
                                c->timeout_ms);
        return 0;
    }
}

static ssize_t tcp_read(RnConn *c, void *buf, size_t len, RnError *err)
{
    for (;;) {
        int rc = rn_conn_wait_(c, POLLIN, err);
        if (rc)
            return rc;
        ssize_t n = recv(c->fd, buf, len, 0);
        if (n >= 0)
            return n;
        if (errno == EINTR || errno == EAGAIN)
            continue;
        return rn_error_set(err, RN_ERR_NET, "%s: recv: %s", c->peer, strerror(errno));
    }
}

static ssize_t tcp_write(RnConn *c, const void *buf, size_t len, RnError *err)
{
    for (;;) {
        int rc = rn_conn_wait_(c, POLLOUT, err);
        if (rc)
            return rc;
        ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
        if (n > 0)
            return n;
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        return rn_error_set(err, RN_ERR_NET, "%s: send: %s", c->peer,
                            n < 0 ? strerror(errno) : "no progress");
    }
}

static void tcp_close(RnConn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static const RnConnOps tcp_ops = {
    .name = "tcp", .read = tcp_read, .write = tcp_write, .pending = NULL, .close = tcp_close,
};

void rn_conn_describe_(RnConn *c)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char host[64] = "?", port[16] = "?";
    memset(&ss, 0, sizeof ss);
    if (getpeername(c->fd, (struct sockaddr *)&ss, &sl) == 0 &&
        (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)) {
        if (getnameinfo((struct sockaddr *)&ss, sl, host, sizeof host, port, sizeof port,
                        NI_NUMERICHOST | NI_NUMERICSERV) != 0)
            snprintf(host, sizeof host, "?");
    } else {
        snprintf(host, sizeof host, "local");
        snprintf(port, sizeof port, "%d", c->fd);
    }
    snprintf(c->peer_address, sizeof c->peer_address, "%s", host);
    snprintf(c->peer, sizeof c->peer, "%s:%s", host, port);
}

static void tune_socket(int fd)
{
    int one = 1;
    /* Small PDUs (DIMSE responses) must not wait for Nagle. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
}

static RnConn *conn_new(int fd, int timeout_ms)
{
    RnConn *c = rn_calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->ops = &tcp_ops;
    c->fd = fd;
    c->timeout_ms = timeout_ms;
    tune_socket(fd);
    rn_conn_describe_(c);
    return c;
}

RnConn *rn_conn_accept_take(int fd, RnTlsContext *tls, int timeout_ms, RnError *err)
{
    RnConn *c = conn_new(fd, timeout_ms);
    if (!c) {
        close(fd);
        rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (tls && rn_tls_attach_(c, tls, true, NULL, err)) {
        rn_conn_destroy(c);
        return NULL;
    }
    return c;
}

/* Non-blocking connect bounded by the timeout, then back to blocking mode. */
static int connect_timeout(int fd, const struct sockaddr *sa, socklen_t sl, int timeout_ms)
{
    int flags = fcntl(fd, F_GETFL, 0);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    int rc = connect(fd, sa, sl);
    if (rc != 0 && errno != EINPROGRESS)
        return -1;
    if (rc != 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int n;
        do
            n = poll(&pfd, 1, timeout_ms > 0 ? timeout_ms : -1);
        while (n < 0 && errno == EINTR);
        if (n <= 0) {
            errno = n == 0 ? ETIMEDOUT : errno;
            return -1;
        }
        int soerr = 0;
        socklen_t el = sizeof soerr;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &el);
        if (soerr) {
            errno = soerr;
            return -1;
        }
    }
    fcntl(fd, F_SETFL, flags);
    return 0;
}

RnConn *rn_conn_connect(const char *host, int port, RnTlsContext *tls, int timeout_ms,
                        RnError *err)
{
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, portstr, &hints, &res);
    if (gai != 0) {
        rn_error_set(err, RN_ERR_NET, "%s: %s", host, gai_strerror(gai));
        return NULL;
    }
    int fd = -1, last_errno = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        if (connect_timeout(fd, ai->ai_addr, ai->ai_addrlen, timeout_ms) == 0)
            break;
        last_errno = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        rn_error_set(err, RN_ERR_NET, "connect to %s:%d: %s", host, port, strerror(last_errno));
        return NULL;
    }
    RnConn *c = conn_new(fd, timeout_ms);
    if (!c) {
        close(fd);
        rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (tls && rn_tls_attach_(c, tls, false, host, err)) {
        rn_conn_destroy(c);
        return NULL;
    }
    return c;
}

void rn_conn_destroy(RnConn *c)
{
    if (!c)
        return;
    c->ops->close(c);
    free(c);
}

void rn_conn_set_timeout(RnConn *c, int timeout_ms) { c->timeout_ms = timeout_ms; }

int rn_conn_read_full(RnConn *c, void *buf, size_t len, RnError *err)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = c->ops->read(c, p, len, err);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return rn_error_set(err, RN_ERR_TRUNCATED, "%s: connection closed by peer", c->peer);
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int rn_conn_write_all(RnConn *c, const void *buf, size_t len, RnError *err)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = c->ops->write(c, p, len, err);
        if (n < 0)
            return (int)n;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

const char *rn_conn_peer(const RnConn *c) { return c->peer; }
const char *rn_conn_peer_address(const RnConn *c) { return c->peer_address; }
bool rn_conn_is_tls(const RnConn *c) { return c->tls != NULL; }
