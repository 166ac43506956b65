/*
 * MLLP transport for HL7 v2, as specified by "HL7 Version 3 Standard:
 * Transport Specification - MLLP, Release 2" (the framing HL7 v2.5.1 Appendix
 * C.4 describes): a message travels as <SB=0x0B> payload <EB=0x1C><CR=0x0D>
 * over TCP, and release 2's reliable-delivery rule is that the receiver
 * acknowledges only what it has taken responsibility for.
 *
 * The client opens one connection per message, sends it and waits for the
 * acknowledgment with a deadline; the ACK code comes back as data, while
 * network failures come back as errors for the caller's retry logic.
 *
 * The listener is a bounded pool of worker threads; each worker accepts and
 * serves one connection at a time with blocking I/O under poll() deadlines
 * (idle time between messages, total time for one message) and a maximum
 * message size. Each message goes to the handler, which returns only after
 * the message is durable; AA is sent only then (acknowledged means durable),
 * AE or AR otherwise, so the sender keeps the message and retries.
 */
#include "hl7_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- Framing ------------------------------------------------------------------------ */

int rn_hl7_mllp_frame(const uint8_t *payload, size_t len, RnBuf *out, RnError *err)
{
    if (memchr(payload, RN_HL7_MLLP_START, len) || memchr(payload, RN_HL7_MLLP_END, len))
        return rn_error_set(err, RN_ERR_INVALID,
                            "message holds an MLLP block character (0x0B or 0x1C)");
    if (rn_buf_reserve(out, len + 3) != 0)
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    rn_buf_append_byte(out, RN_HL7_MLLP_START);
    rn_buf_append(out, payload, len);
    rn_buf_append_byte(out, RN_HL7_MLLP_END);
    rn_buf_append_byte(out, RN_HL7_MLLP_CR);
    return 0;
}

int rn_hl7_mllp_deframe(const uint8_t *buf, size_t len, size_t max_payload, const uint8_t **payload,
                        size_t *payload_len, size_t *consumed, RnError *err)
{
    size_t p = 0;
    while (p < len && (buf[p] == '\r' || buf[p] == '\n'))
        p++;
    if (p == len)
        return 0;
    if (buf[p] != RN_HL7_MLLP_START) {
        rn_error_set(err, RN_ERR_PARSE,
                     "MLLP: byte 0x%02x outside a frame (expected start block 0x0B)", buf[p]);
        return RN_ERR_PARSE;
    }
    size_t start = p + 1;
    const uint8_t *eb = memchr(buf + start, RN_HL7_MLLP_END, len - start);
    size_t plen = eb ? (size_t)(eb - (buf + start)) : len - start;
    if (plen > max_payload) {
        rn_error_set(err, RN_ERR_LIMIT, "MLLP: message exceeds %zu bytes", max_payload);
        return RN_ERR_LIMIT;
    }
    if (!eb || (size_t)(eb - buf) + 1 >= len)
        return 0;
    if (eb[1] != RN_HL7_MLLP_CR) {
        rn_error_set(err, RN_ERR_PARSE, "MLLP: end block 0x1C not followed by CR");
        return RN_ERR_PARSE;
    }
    *payload = buf + start;
    *payload_len = plen;
    *consumed = (size_t)(eb - buf) + 2;
    return 1;
}

/* ---- Socket helpers --------------------------------------------------------------- */

static int remaining_ms(double deadline)
{
    double left = deadline - rn_time_now();
    if (left <= 0)
        return 0;
    if (left > 86400.0)
        return 86400000;
    return (int)(left * 1000.0) + 1;
}

/* Waits for events on fd until the deadline: 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short events, double deadline)
{
    for (;;) {
        int ms = remaining_ms(deadline);
        if (ms == 0)
            return 0;
        struct pollfd pfd = {.fd = fd, .events = events};
        int r = poll(&pfd, 1, ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            continue; /* re-check the deadline */
        return 1;
    }
}

static int send_all(int fd, const uint8_t *p, size_t len, double deadline, RnError *err)
{
    while (len) {
        int w = wait_fd(fd, POLLOUT, deadline);
        if (w == 0)
            return rn_error_set(err, RN_ERR_TIMEOUT, "MLLP: send timed out");
        if (w < 0)
            return rn_error_set(err, RN_ERR_NET, "MLLP: poll: %s", strerror(errno));
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        if (n < 0)
            return rn_error_set(err, RN_ERR_NET, "MLLP: send: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void set_socket_timeouts(int fd, int ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static int connect_to(const char *host, uint16_t port, int timeout_ms, RnError *err)
{
    char service[8];
    snprintf(service, sizeof service, "%u", (unsigned)port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, service, &hints, &res);
    if (gai != 0)
        return rn_error_set(err, RN_ERR_NET, "MLLP: cannot resolve %s: %s", host,
                            gai_strerror(gai));
    int fd = -1, last = 0;
    double deadline = rn_time_now() + timeout_ms / 1000.0;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            last = errno;
            continue;
        }
        int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc != 0 && errno == EINPROGRESS) {
            int w = wait_fd(fd, POLLOUT, deadline);
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (w == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
                rc = 0;
            else
                errno = w == 0 ? ETIMEDOUT : (soerr ? soerr : errno);
        }
        if (rc != 0) {
            last = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return rn_error_set(err, last == ETIMEDOUT ? RN_ERR_TIMEOUT : RN_ERR_NET,
                            "MLLP: cannot connect to %s:%u: %s", host, (unsigned)port,
                            strerror(last));
    /* Back to blocking mode; every wait below is bounded by poll(). */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    set_socket_timeouts(fd, timeout_ms);
    return fd;
}

/* ---- Client ------------------------------------------------------------------------- */

int rn_hl7_mllp_send(const char *host, uint16_t port, const uint8_t *message, size_t len,
                     const RnHl7ClientOptions *opts, RnHl7Ack *ack, RnError *err)
{
    RnHl7ClientOptions o = opts ? *opts : (RnHl7ClientOptions){0};
    if (o.connect_timeout_ms <= 0)
        o.connect_timeout_ms = 10000;
    if (o.ack_timeout_ms <= 0)
        o.ack_timeout_ms = 30000;
    if (o.max_ack_bytes == 0)
        o.max_ack_bytes = 1024 * 1024;
    if (!host || !message || !ack)
        return rn_error_set(err, RN_ERR_INVALID, "MLLP send: missing argument");
    memset(ack, 0, sizeof *ack);

    /* The ACK must name this message's control ID (MSA-2 = MSH-10, 2.9.2). */
    RnHl7Message *m = rn_hl7_parse(message, len, NULL, err);
    if (!m) {
        rn_error_prefix(err, "MLLP send: outgoing message: ");
        return RN_ERR_INVALID;
    }
    char *control = rn_hl7_get_dup(m, "MSH-10", err);
    rn_hl7_message_destroy(m);
    if (!control)
        return RN_ERR_NOMEM;
    if (!control[0]) {
        free(control);
        return rn_error_set(err, RN_ERR_INVALID, "MLLP send: message has no MSH-10 control ID");
    }
    RnBuf frame = {0}, in = {0};
    int fd = -1;
    int rc = rn_hl7_mllp_frame(message, len, &frame, err);
    if (rc == 0) {
        fd = connect_to(host, port, o.connect_timeout_ms, err);
        if (fd < 0)
            rc = fd;
    }
    if (rc == 0) {
        double deadline = rn_time_now() + o.ack_timeout_ms / 1000.0;
        rc = send_all(fd, frame.data, frame.len, deadline, err);
        deadline = rn_time_now() + o.ack_timeout_ms / 1000.0;
        while (rc == 0) {
            const uint8_t *payload;
            size_t plen, used;
            int d =
                rn_hl7_mllp_deframe(in.data, in.len, o.max_ack_bytes, &payload, &plen, &used, err);
            if (d < 0) {
                rc = RN_ERR_PARSE;
                rn_error_prefix(err, "acknowledgment from %s:%u: ", host, (unsigned)port);
                break;
            }
            if (d == 1) {
                rc = rn_hl7_ack_parse(payload, plen, ack, err);
                if (rc == 0) {
                    /* Compare the full MSA-2, not the copy truncated to fit RnHl7Ack. */
                    RnHl7Message *am = rn_hl7_parse(payload, plen, NULL, NULL);
                    char *msa2 = am ? rn_hl7_get_dup(am, "MSA-2", NULL) : NULL;
                    if (!msa2 || strcmp(msa2, control) != 0)
                        rc = rn_error_set(err, RN_ERR_PARSE,
                                          "acknowledgment from %s:%u is for message '%s', not "
                                          "'%s'",
                                          host, (unsigned)port, msa2 ? msa2 : "?", control);
                    free(msa2);
                    rn_hl7_message_destroy(am);
                } else {
                    rc = RN_ERR_PARSE;
                }
                break;
            }
            int w = wait_fd(fd, POLLIN, deadline);
            if (w == 0) {
                rc = rn_error_set(err, RN_ERR_TIMEOUT, "no acknowledgment from %s:%u within %d ms",
                                  host, (unsigned)port, o.ack_timeout_ms);
                break;
            }
            if (w < 0 || rn_buf_reserve(&in, 65536) != 0) {
                rc = rn_error_set(err, RN_ERR_NET, "MLLP: receive failed");
                break;
            }
            ssize_t n = recv(fd, in.data + in.len, 65536, 0);
            if (n < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (n < 0) {
                rc = rn_error_set(err, RN_ERR_NET, "MLLP: receive from %s:%u: %s", host,
                                  (unsigned)port, strerror(errno));
                break;
            }
            if (n == 0) {
                rc = rn_error_set(err, RN_ERR_NET,
                                  "%s:%u closed the connection before acknowledging", host,
                                  (unsigned)port);
                break;
            }
            in.len += (size_t)n;
        }
    }
    if (fd >= 0)
        close(fd);
    free(control);
    rn_buf_free(&frame);
    rn_buf_free(&in);
    return rc;
}

/* ---- Listener ---------------------------------------------------------------------- */

struct RnHl7Listener {
    RnHl7ListenerOptions opts; /* strings point into the copies below */
    char *bind_address, *application, *facility;
    int fd;
    uint16_t port;
    atomic_bool stopping;
    pthread_t *workers;
    struct Worker *worker_args; /* one per thread, freed after the joins */
    size_t nworkers;
    /* lock guards active[] (the connection each worker serves, -1 when idle; stop()
     * shuts them down to interrupt blocking reads) and stats. */
    pthread_mutex_t lock;
    int *active;
    RnHl7ListenerStats stats;
};

typedef struct Worker {
    RnHl7Listener *l;
    size_t slot;
} Worker;

static void count(RnHl7Listener *l, uint64_t *field)
{
    pthread_mutex_lock(&l->lock);
    (*field)++;
    pthread_mutex_unlock(&l->lock);
}

static void peer_name(int fd, char *out, size_t cap)
{
    struct sockaddr_storage ss = {0};
    socklen_t sl = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
            port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
            port = ntohs(a->sin6_port);
        }
    }
    snprintf(out, cap, "%s:%u", host, port);
}

/* Counts the outcome (before sending, so a sender that has its ACK sees the count)
 * and sends the ACK. */
static int send_ack(RnHl7Listener *l, int fd, RnHl7Message *ack, RnHl7AckCode code,
                    const char *peer)
{
    count(l, code == RN_HL7_ACK_AA   ? &l->stats.accepted
             : code == RN_HL7_ACK_AE ? &l->stats.errors
                                     : &l->stats.rejected);
    RnBuf s = {0}, f = {0};
    RnError err = {0};
    int rc = ack ? rn_hl7_serialize(ack, &s, &err) : RN_ERR_NOMEM;
    if (rc == 0)
        rc = rn_hl7_mllp_frame(s.data, s.len, &f, &err);
    if (rc == 0) {
        double deadline = rn_time_now() + l->opts.idle_timeout_ms / 1000.0;
        rc = send_all(fd, f.data, f.len, deadline, &err);
    }
    if (rc != 0)
        rn_warn("hl7: %s: cannot send %s: %s", peer, rn_hl7_ack_code_name(code), err.message);
    rn_buf_free(&s);
    rn_buf_free(&f);
    return rc;
}

static RnHl7AckOptions ack_options(const RnHl7Listener *l, const char *text, int condition)
{
    RnHl7AckOptions o = {.application = l->application,
                         .facility = l->facility,
                         .text = text,
                         .error_condition = condition};
    return o;
}

/* One message: parse, hand to the handler, acknowledge. Returns <0 to drop the connection. */
static int handle(RnHl7Listener *l, int fd, const uint8_t *payload, size_t len, const char *peer)
{
    count(l, &l->stats.messages);
    RnError err = {0};
    RnHl7Limits lim = {.max_message_bytes = l->opts.max_message_bytes};
    RnHl7Message *msg = rn_hl7_parse(payload, len, &lim, &err);
    RnHl7AckCode code;
    RnHl7Message *ack;
    if (!msg) {
        /* 2.9.2.1: a message that fails validation is rejected. */
        rn_warn("hl7: %s: rejecting an unparsable message: %s", peer, err.message);
        code = RN_HL7_ACK_AR;
        RnHl7AckOptions o = ack_options(l, err.message, RN_HL7_ERRC_SEGMENT_SEQUENCE);
        ack = rn_hl7_ack_build_unparsed(payload, len, code, &o, NULL);
    } else {
        RnError herr = {0};
        int rc = l->opts.handler(l->opts.user, msg, payload, len, &herr);
        int cond = 0;
        if (rc == 0) {
            code = RN_HL7_ACK_AA;
        } else if (rc == RN_ERR_PARSE || rc == RN_ERR_INVALID || rc == RN_ERR_NOT_FOUND) {
            code = RN_HL7_ACK_AE; /* error in the content: resending it will not help */
            cond = RN_HL7_ERRC_DATA_TYPE;
        } else if (rc == RN_ERR_UNSUPPORTED) {
            code = RN_HL7_ACK_AR;
            cond = RN_HL7_ERRC_UNSUPPORTED_MESSAGE_TYPE;
        } else {
            code = RN_HL7_ACK_AR; /* 2.9.2.2: not stored for reasons unrelated to content */
            cond = RN_HL7_ERRC_APPLICATION_INTERNAL;
        }
        if (rc != 0 && !herr.message[0])
            snprintf(herr.message, sizeof herr.message, "%s", rn_error_code_name(rc));
        char control[64] = "";
        rn_hl7_get(msg, "MSH-10", control, sizeof control, NULL);
        if (rc == 0)
            rn_info("hl7: %s: message %s stored, AA", peer, control);
        else
            rn_warn("hl7: %s: message %s not accepted, %s: %s", peer, control,
                    rn_hl7_ack_code_name(code), herr.message);
        RnHl7AckOptions o = ack_options(l, rc ? herr.message : NULL, cond);
        ack = rn_hl7_ack_build(msg, code, &o, &err);
        if (!ack) /* e.g. an MSH-10 too odd to echo: still answer */
            ack = rn_hl7_ack_build_unparsed(payload, len, code, &o, NULL);
        rn_hl7_message_destroy(msg);
    }
    int rc = send_ack(l, fd, ack, code, peer);
    rn_hl7_message_destroy(ack);
    return rc;
}

static void serve(RnHl7Listener *l, int fd)
{
    char peer[80];
    peer_name(fd, peer, sizeof peer);
    rn_debug("hl7: connection from %s", peer);
    RnBuf in = {0};
    const size_t max = l->opts.max_message_bytes;
    double frame_deadline = 0; /* set while a frame is incomplete */
    bool discarding = false;   /* skipping an oversized message up to its end block */
    uint8_t head[512];         /* its first bytes, to echo its MSH-10 in the AR */
    size_t head_len = 0;
    while (!atomic_load(&l->stopping)) {
        if (discarding) {
            uint8_t *eb = in.len ? memchr(in.data, RN_HL7_MLLP_END, in.len) : NULL;
            if (eb && (size_t)(eb - in.data) + 1 < in.len) {
                size_t used = (size_t)(eb - in.data) + 2;
                memmove(in.data, in.data + used, in.len - used);
                in.len -= used;
                discarding = false;
                frame_deadline = 0;
                count(l, &l->stats.messages);
                char text[96];
                snprintf(text, sizeof text, "message exceeds the limit of %zu bytes", max);
                rn_warn("hl7: %s: rejecting a message: %s", peer, text);
                RnHl7AckOptions o = ack_options(l, text, RN_HL7_ERRC_APPLICATION_INTERNAL);
                RnHl7Message *ack =
                    rn_hl7_ack_build_unparsed(head, head_len, RN_HL7_ACK_AR, &o, NULL);
                int rc = send_ack(l, fd, ack, RN_HL7_ACK_AR, peer);
                rn_hl7_message_destroy(ack);
                if (rc != 0)
                    break;
                continue;
            }
            /* Keep only a trailing end block whose CR has not arrived yet. */
            bool keep = in.len && in.data[in.len - 1] == RN_HL7_MLLP_END;
            in.len = 0;
            if (keep)
                in.data[in.len++] = RN_HL7_MLLP_END;
        } else {
            const uint8_t *payload = NULL;
            size_t plen = 0, used = 0;
            RnError err = {0};
            int d = rn_hl7_mllp_deframe(in.data, in.len, max, &payload, &plen, &used, &err);
            if (d == 1 && in.data) {
                int rc = handle(l, fd, payload, plen, peer);
                memmove(in.data, in.data + used, in.len - used);
                in.len -= used;
                frame_deadline = 0;
                if (rc != 0)
                    break;
                continue;
            }
            if (d == RN_ERR_LIMIT && in.data) {
                const uint8_t *sb = memchr(in.data, RN_HL7_MLLP_START, in.len);
                size_t off = sb ? (size_t)(sb - in.data) + 1 : 0;
                head_len = in.len - off < sizeof head ? in.len - off : sizeof head;
                memcpy(head, in.data + off, head_len);
                /* Drop up to the start block; the discarding branch looks for the end. */
                memmove(in.data, in.data + off, in.len - off);
                in.len -= off;
                discarding = true;
                if (frame_deadline == 0)
                    frame_deadline = rn_time_now() + l->opts.message_timeout_ms / 1000.0;
                continue;
            } else if (d < 0) {
                rn_warn("hl7: %s: closing the connection: %s", peer, err.message);
                break;
            }
            if (in.len && frame_deadline == 0)
                frame_deadline = rn_time_now() + l->opts.message_timeout_ms / 1000.0;
        }
        double deadline = rn_time_now() + l->opts.idle_timeout_ms / 1000.0;
        if (frame_deadline > 0 && frame_deadline < deadline)
            deadline = frame_deadline;
        int w = wait_fd(fd, POLLIN, deadline);
        if (w == 0) {
            if (frame_deadline > 0 || discarding)
                rn_warn("hl7: %s: message not completed in time, closing", peer);
            else
                rn_debug("hl7: %s: idle, closing", peer);
            break;
        }
        if (w < 0 || rn_buf_reserve(&in, 65536) != 0)
            break;
        ssize_t n = recv(fd, in.data + in.len, 65536, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            break;
        in.len += (size_t)n;
    }
    rn_buf_free(&in);
    rn_debug("hl7: %s: connection closed", peer);
}

static void *worker_main(void *arg)
{
    Worker *w = arg;
    RnHl7Listener *l = w->l;
    while (!atomic_load(&l->stopping)) {
        struct pollfd pfd = {.fd = l->fd, .events = POLLIN};
        int r = poll(&pfd, 1, 250); /* wakes to notice stop() */
        if (r <= 0)
            continue;
        int cfd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                struct timespec ts = {0, 100 * 1000 * 1000};
                nanosleep(&ts, NULL);
            }
            continue; /* EAGAIN: another worker took it */
        }
        pthread_mutex_lock(&l->lock);
        bool stop = atomic_load(&l->stopping);
        if (!stop) {
            l->active[w->slot] = cfd;
            l->stats.connections++;
        }
        pthread_mutex_unlock(&l->lock);
        if (stop) {
            close(cfd);
            break;
        }
        int one = 1;
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        set_socket_timeouts(cfd, l->opts.idle_timeout_ms);
        serve(l, cfd);
        pthread_mutex_lock(&l->lock);
        l->active[w->slot] = -1;
        pthread_mutex_unlock(&l->lock);
        close(cfd);
    }
    return NULL;
}

static void listener_free(RnHl7Listener *l)
{
    if (l->fd >= 0)
        close(l->fd);
    pthread_mutex_destroy(&l->lock);
    free(l->bind_address);
    free(l->application);
    free(l->facility);
    free(l->workers);
    free(l->worker_args);
    free(l->active);
    free(l);
}

static char *dup_opt(const char *s, bool *fail)
{
    if (!s)
        return NULL;
    char *d = rn_strdup(s);
    if (!d)
        *fail = true;
    return d;
}

RnHl7Listener *rn_hl7_listener_start(const RnHl7ListenerOptions *opts, RnError *err)
{
    if (!opts || !opts->handler) {
        rn_error_set(err, RN_ERR_INVALID, "HL7 listener: a handler is required");
        return NULL;
    }
    RnHl7Listener *l = calloc(1, sizeof *l);
    if (!l) {
        rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    l->fd = -1;
    pthread_mutex_init(&l->lock, NULL);
    atomic_init(&l->stopping, false);
    l->opts = *opts;
    if (l->opts.max_connections == 0)
        l->opts.max_connections = 8;
    if (l->opts.idle_timeout_ms <= 0)
        l->opts.idle_timeout_ms = 60000;
    if (l->opts.message_timeout_ms <= 0)
        l->opts.message_timeout_ms = 120000;
    if (l->opts.max_message_bytes == 0)
        l->opts.max_message_bytes = RN_HL7_DEFAULT_MAX_MESSAGE_BYTES;
    bool fail = false;
    l->bind_address = dup_opt(opts->bind_address ? opts->bind_address : "0.0.0.0", &fail);
    l->application = dup_opt(opts->application, &fail);
    l->facility = dup_opt(opts->facility, &fail);
    l->opts.bind_address = l->bind_address;
    l->opts.application = l->application;
    l->opts.facility = l->facility;
    size_t n = l->opts.max_connections;
    if (n > 1024) {
        rn_error_set(err, RN_ERR_INVALID, "HL7 listener: at most 1024 connections");
        listener_free(l);
        return NULL;
    }
    l->workers = calloc(n, sizeof *l->workers);
    l->active = malloc(n * sizeof *l->active);
    Worker *ws = calloc(n, sizeof *ws);
    l->worker_args = ws;
    if (fail || !l->workers || !l->active || !ws) {
        rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        listener_free(l);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        l->active[i] = -1;

    char service[8];
    snprintf(service, sizeof service, "%u", (unsigned)l->opts.port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(l->bind_address, service, &hints, &res);
    if (gai != 0) {
        rn_error_set(err, RN_ERR_NET, "HL7 listener: cannot resolve %s: %s", l->bind_address,
                     gai_strerror(gai));
        listener_free(l);
        return NULL;
    }
    l->fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (l->fd < 0 || setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(l->fd, res->ai_addr, res->ai_addrlen) != 0 || listen(l->fd, 64) != 0) {
        rn_error_set(err, RN_ERR_NET, "HL7 listener: cannot listen on %s:%u: %s", l->bind_address,
                     (unsigned)l->opts.port, strerror(errno));
        freeaddrinfo(res);
        listener_free(l);
        return NULL;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss = {0};
    socklen_t sl = sizeof ss;
    if (getsockname(l->fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 a6;
            memcpy(&a6, &ss, sizeof a6);
            l->port = ntohs(a6.sin6_port);
        } else {
            struct sockaddr_in a4;
            memcpy(&a4, &ss, sizeof a4);
            l->port = ntohs(a4.sin_port);
        }
    }
    for (size_t i = 0; i < n; i++) {
        ws[i].l = l;
        ws[i].slot = i;
        if (pthread_create(&l->workers[i], NULL, worker_main, &ws[i]) != 0) {
            rn_error_set(err, RN_ERR_NOMEM, "HL7 listener: cannot start thread %zu", i);
            atomic_store(&l->stopping, true);
            for (size_t k = 0; k < i; k++)
                pthread_join(l->workers[k], NULL);
            listener_free(l);
            return NULL;
        }
        l->nworkers++;
    }
    rn_info("hl7: MLLP listener on %s:%u (%zu connections, max message %zu bytes)", l->bind_address,
            (unsigned)l->port, n, l->opts.max_message_bytes);
    return l;
}

uint16_t rn_hl7_listener_port(const RnHl7Listener *listener)
{
    return listener ? listener->port : 0;
}

void rn_hl7_listener_stop(RnHl7Listener *l)
{
    if (!l)
        return;
    atomic_store(&l->stopping, true);
    /* Interrupt blocked reads; a handler already running completes first. */
    pthread_mutex_lock(&l->lock);
    for (size_t i = 0; i < l->opts.max_connections; i++)
        if (l->active[i] >= 0)
            shutdown(l->active[i], SHUT_RDWR);
    pthread_mutex_unlock(&l->lock);
    for (size_t i = 0; i < l->nworkers; i++)
        pthread_join(l->workers[i], NULL);
    rn_info("hl7: MLLP listener on port %u stopped", (unsigned)l->port);
    listener_free(l);
}

void rn_hl7_listener_stats(RnHl7Listener *l, RnHl7ListenerStats *stats)
{
    memset(stats, 0, sizeof *stats);
    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    *stats = l->stats;
    pthread_mutex_unlock(&l->lock);
}
