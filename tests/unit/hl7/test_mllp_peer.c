/*
 * MLLP transport tests (HL7 MLLP release 2 framing, HL7 v2.5.1 2.9.2
 * acknowledgments) and the command-line peer used by
 * tests/integration/test_hl7_mllp.sh.
 *
 * Without arguments it runs cmocka tests over 127.0.0.1 with both ends in
 * process: framing, client -> listener with AA/AE/AR, oversized and garbage
 * messages, several messages on one connection, idle and per-message
 * timeouts, client errors (refused, silent peer, peer closing, ACK for
 * another message), concurrent senders against a bounded pool, and stop()
 * with connections open.
 *
 * With arguments it is a small tool:
 *   --send HOST PORT FILE [ACK_TIMEOUT_MS]  send FILE (segments may end in LF)
 *       and print "ACK <code> <MSA-2> <text>"; exit 0 for AA/CA, 2 for other
 *       codes, 1 on error ("ERROR <NET|TIMEOUT|PARSE|...>: <message>").
 *   --listen HOST PORT DIR  run the listener; each message with a PID segment
 *       is stored durably as DIR/<MSH-10>.hl7 (rn_file_write_atomic) before AA;
 *       messages without PID get AE. Prints "LISTENING <port>"; stops on
 *       SIGTERM or SIGINT.
 *   --oru FILE [CONTROL_ID]  write the sample ORU^R01 (tests/unit/hl7/hl7_sample.h).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "unit/hl7/hl7_sample.h"

/* ---- The storing handler (shared by the tests and --listen) ----------------------- */

typedef struct Store {
    char dir[256];
    int force_rc; /* tests: return this instead of storing when non-zero */
} Store;

static int store_handler(void *user, const RnHl7Message *msg, const uint8_t *raw, size_t len,
                         RnError *err)
{
    Store *s = user;
    if (s->force_rc)
        return rn_error_set(err, s->force_rc, "forced failure %s", rn_error_code_name(s->force_rc));
    if (rn_hl7_segment_occurrences(msg, "PID") == 0)
        return rn_error_set(err, RN_ERR_INVALID, "no PID segment");
    char id[64];
    if (rn_hl7_get(msg, "MSH-10", id, sizeof id, err) <= 0)
        return rn_error_set(err, RN_ERR_INVALID, "no MSH-10 control ID");
    for (char *p = id; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            *p = '_';
    char path[512];
    snprintf(path, sizeof path, "%s/%s.hl7", s->dir, id);
    return rn_file_write_atomic(path, raw, len, true, err);
}

/* ---- Helpers ------------------------------------------------------------------------ */

static char *sample_wire(const char *control_id, size_t *len)
{
    SampleOru s;
    sample_oru(&s, control_id);
    RnError err = {0};
    RnHl7Message *m = rn_hl7_oru_build(&s.oru, &err);
    assert_non_null(m);
    RnBuf b = {0};
    assert_int_equal(rn_hl7_serialize(m, &b, &err), 0);
    rn_hl7_message_destroy(m);
    return (char *)rn_buf_take(&b, len);
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[600];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static size_t count_files(const char *dir)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.' && strstr(e->d_name, ".hl7") && !strstr(e->d_name, ".tmp."))
            n++;
    if (d)
        closedir(d);
    return n;
}

typedef struct Fixture {
    Store store;
    RnHl7Listener *l;
    uint16_t port;
} Fixture;

static void fixture_start(Fixture *f, const RnHl7ListenerOptions *base)
{
    memset(f, 0, sizeof *f);
    snprintf(f->store.dir, sizeof f->store.dir, "/tmp/rn_hl7_test_XXXXXX");
    assert_non_null(mkdtemp(f->store.dir));
    RnHl7ListenerOptions o = base ? *base : (RnHl7ListenerOptions){0};
    o.bind_address = "127.0.0.1";
    o.handler = store_handler;
    o.user = &f->store;
    RnError err = {0};
    f->l = rn_hl7_listener_start(&o, &err);
    if (!f->l)
        fail_msg("listener: %s", err.message);
    f->port = rn_hl7_listener_port(f->l);
    assert_true(f->port != 0);
}

static void fixture_stop(Fixture *f)
{
    rn_hl7_listener_stop(f->l);
    remove_dir(f->store.dir);
}

static int raw_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* Reads one framed reply (or returns false on EOF/timeout). */
static bool raw_read_ack(int fd, RnBuf *in, RnHl7Ack *ack)
{
    for (;;) {
        const uint8_t *p;
        size_t plen, used;
        int d = rn_hl7_mllp_deframe(in->data, in->len, 1 << 20, &p, &plen, &used, NULL);
        if (d == 1 && in->data) {
            RnError err = {0};
            int rc = rn_hl7_ack_parse(p, plen, ack, &err);
            if (rc != 0)
                fail_msg("bad ACK: %s", err.message);
            memmove(in->data, in->data + used, in->len - used);
            in->len -= used;
            return true;
        }
        assert_true(d == 0);
        rn_buf_reserve(in, 4096);
        ssize_t n = recv(fd, in->data + in->len, 4096, 0);
        if (n <= 0)
            return false;
        in->len += (size_t)n;
    }
}

static void raw_send(int fd, const void *p, size_t n)
{
    assert_int_equal(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* ---- Tests -------------------------------------------------------------------------- */

static void test_framing(void **state)
{
    (void)state;
    RnBuf b = {0};
    RnError err = {0};
    assert_int_equal(rn_hl7_mllp_frame((const uint8_t *)"MSH|x", 5, &b, &err), 0);
    assert_int_equal(b.len, 8);
    assert_memory_equal(b.data, "\x0bMSH|x\x1c\r", 8);
    assert_int_equal(rn_hl7_mllp_frame((const uint8_t *)"a\x1c", 2, &b, &err), RN_ERR_INVALID);
    rn_buf_free(&b);

    const uint8_t *p;
    size_t plen, used;
    const char *two = "\r\n\x0b"
                      "ab\x1c\r\x0b"
                      "cd\x1c\r";
    assert_int_equal(rn_hl7_mllp_deframe((const uint8_t *)two, 12, 100, &p, &plen, &used, &err), 1);
    assert_int_equal(plen, 2);
    assert_memory_equal(p, "ab", 2);
    assert_int_equal(used, 7);
    assert_int_equal(
        rn_hl7_mllp_deframe((const uint8_t *)two + used, 5, 100, &p, &plen, &used, &err), 1);
    assert_memory_equal(p, "cd", 2);
    /* Incomplete: 0 for every prefix. */
    for (size_t n = 0; n < 7; n++)
        assert_int_equal(rn_hl7_mllp_deframe((const uint8_t *)two, n, 100, &p, &plen, &used, &err),
                         0);
    assert_int_equal(rn_hl7_mllp_deframe((const uint8_t *)"x\x0b", 2, 100, &p, &plen, &used, &err),
                     RN_ERR_PARSE);
    assert_int_equal(rn_hl7_mllp_deframe((const uint8_t *)"\x0b"
                                                          "ab\x1cX",
                                         5, 100, &p, &plen, &used, &err),
                     RN_ERR_PARSE);
    assert_int_equal(rn_hl7_mllp_deframe((const uint8_t *)"\x0b"
                                                          "abcdef",
                                         7, 4, &p, &plen, &used, &err),
                     RN_ERR_LIMIT);
    assert_int_equal(rn_hl7_mllp_deframe((const uint8_t *)"\x0b"
                                                          "abcd\x1c\r",
                                         7, 4, &p, &plen, &used, &err),
                     1);
    assert_int_equal(
        rn_hl7_mllp_deframe((const uint8_t *)"\x0b\x1c\r", 3, 4, &p, &plen, &used, &err), 1);
    assert_int_equal(plen, 0);
}

static void test_loopback_aa(void **state)
{
    (void)state;
    Fixture f;
    RnHl7ListenerOptions o = {.max_connections = 2};
    fixture_start(&f, &o);
    size_t len;
    char *wire = sample_wire("LOOP-1", &len);
    RnHl7Ack ack;
    RnError err = {0};
    int rc = rn_hl7_mllp_send("127.0.0.1", f.port, (uint8_t *)wire, len, NULL, &ack, &err);
    if (rc != 0)
        fail_msg("send: %s", err.message);
    assert_int_equal(ack.code, RN_HL7_ACK_AA);
    assert_string_equal(ack.control_id, "LOOP-1");
    /* Acknowledged means stored: the file is there, byte for byte. */
    char path[512];
    snprintf(path, sizeof path, "%s/LOOP-1.hl7", f.store.dir);
    size_t flen;
    uint8_t *stored = rn_file_read_all(path, 1 << 20, &flen, &err);
    assert_non_null(stored);
    assert_int_equal(flen, len);
    assert_memory_equal(stored, wire, len);
    free(stored);
    /* "localhost" resolves too. */
    free(wire);
    wire = sample_wire("LOOP-2", &len);
    assert_int_equal(rn_hl7_mllp_send("localhost", f.port, (uint8_t *)wire, len, NULL, &ack, &err),
                     0);
    assert_int_equal(ack.code, RN_HL7_ACK_AA);
    free(wire);
    RnHl7ListenerStats st;
    rn_hl7_listener_stats(f.l, &st);
    assert_int_equal(st.messages, 2);
    assert_int_equal(st.accepted, 2);
    assert_int_equal(count_files(f.store.dir), 2);
    fixture_stop(&f);
}

static void test_loopback_errors(void **state)
{
    (void)state;
    Fixture f;
    fixture_start(&f, NULL);
    RnError err = {0};
    RnHl7Ack ack;
    /* Content error: AE with the handler's text, nothing stored. */
    const char *nopid = "MSH|^~\\&|SND|F|RADNODE|R|20240101||ORU^R01|NOPID-1|P|2.5.1\rOBR|1\r";
    assert_int_equal(rn_hl7_mllp_send("127.0.0.1", f.port, (const uint8_t *)nopid, strlen(nopid),
                                      NULL, &ack, &err),
                     0);
    assert_int_equal(ack.code, RN_HL7_ACK_AE);
    assert_string_equal(ack.control_id, "NOPID-1");
    assert_string_equal(ack.text, "no PID segment");
    assert_int_equal(ack.error_condition, RN_HL7_ERRC_DATA_TYPE);
    /* Storage failure: AR 207, so the sender retries later. */
    size_t len;
    char *wire = sample_wire("FAIL-1", &len);
    f.store.force_rc = RN_ERR_IO;
    assert_int_equal(rn_hl7_mllp_send("127.0.0.1", f.port, (uint8_t *)wire, len, NULL, &ack, &err),
                     0);
    assert_int_equal(ack.code, RN_HL7_ACK_AR);
    assert_int_equal(ack.error_condition, RN_HL7_ERRC_APPLICATION_INTERNAL);
    assert_non_null(strstr(ack.text, "forced failure"));
    f.store.force_rc = RN_ERR_UNSUPPORTED;
    assert_int_equal(rn_hl7_mllp_send("127.0.0.1", f.port, (uint8_t *)wire, len, NULL, &ack, &err),
                     0);
    assert_int_equal(ack.code, RN_HL7_ACK_AR);
    assert_int_equal(ack.error_condition, RN_HL7_ERRC_UNSUPPORTED_MESSAGE_TYPE);
    f.store.force_rc = 0;
    assert_int_equal(count_files(f.store.dir), 0);
    free(wire);
    RnHl7ListenerStats st;
    rn_hl7_listener_stats(f.l, &st);
    assert_int_equal(st.errors, 1);
    assert_int_equal(st.rejected, 2);
    fixture_stop(&f);
}

static void test_oversized_and_garbage(void **state)
{
    (void)state;
    Fixture f;
    RnHl7ListenerOptions o = {.max_message_bytes = 300};
    fixture_start(&f, &o);
    RnError err = {0};
    RnHl7Ack ack;
    size_t len;
    char *wire = sample_wire("BIG-1", &len);
    assert_true(len > 300);
    /* The listener skips to the end block and rejects, echoing MSH-10 from the head. */
    assert_int_equal(rn_hl7_mllp_send("127.0.0.1", f.port, (uint8_t *)wire, len, NULL, &ack, &err),
                     0);
    assert_int_equal(ack.code, RN_HL7_ACK_AR);
    assert_string_equal(ack.control_id, "BIG-1");
    assert_non_null(strstr(ack.text, "limit"));
    free(wire);

    int fd = raw_connect(f.port);
    RnBuf in = {0};
    /* Not HL7 at all: AR with an empty MSA-2; the connection stays usable. */
    raw_send(fd, "\x0bhello\x1c\r", 8);
    assert_true(raw_read_ack(fd, &in, &ack));
    assert_int_equal(ack.code, RN_HL7_ACK_AR);
    assert_string_equal(ack.control_id, "");
    /* Two messages in one write, the second split across writes: two ACKs in order. */
    const char *m1 = "\x0bMSH|^~\\&|A|B|C|D|2024||ADT^A01|R-1|P|2.5.1\rPID|1||1\x1c\r"
                     "\x0bMSH|^~\\&|A|B|C|D|2024||ADT^A01|R-2|P|2.5.1\r";
    raw_send(fd, m1, strlen(m1));
    raw_send(fd, "PID|1||2\r\x1c", 10);
    raw_send(fd, "\r", 1);
    assert_true(raw_read_ack(fd, &in, &ack));
    assert_int_equal(ack.code, RN_HL7_ACK_AA);
    assert_string_equal(ack.control_id, "R-1");
    assert_true(raw_read_ack(fd, &in, &ack));
    assert_string_equal(ack.control_id, "R-2");
    /* An oversized message split over many writes on the same connection. */
    raw_send(fd, "\x0bMSH|^~\\&|A|B|C|D|2024||ADT^A01|R-3|P|2.5.1\r", 44);
    char filler[200];
    memset(filler, 'x', sizeof filler);
    for (int i = 0; i < 5; i++)
        raw_send(fd, filler, sizeof filler);
    raw_send(fd, "\x1c", 1);
    raw_send(fd, "\r", 1);
    assert_true(raw_read_ack(fd, &in, &ack));
    assert_int_equal(ack.code, RN_HL7_ACK_AR);
    assert_string_equal(ack.control_id, "R-3");
    /* Bytes outside a frame: the listener closes the connection. */
    raw_send(fd, "junk", 4);
    assert_false(raw_read_ack(fd, &in, &ack));
    close(fd);
    rn_buf_free(&in);
    assert_int_equal(count_files(f.store.dir), 2);
    fixture_stop(&f);
}

/* ---- A scripted fake peer for the client's failure cases -------------------------- */

typedef enum FakeMode { FAKE_SILENT, FAKE_CLOSE, FAKE_WRONG_ID, FAKE_GARBAGE } FakeMode;

typedef struct Fake {
    int fd;
    uint16_t port;
    FakeMode mode;
    pthread_t thread;
} Fake;

static void *fake_main(void *arg)
{
    Fake *f = arg;
    int c = accept(f->fd, NULL, NULL);
    if (c < 0)
        return NULL;
    /* Read until the end of the frame. */
    uint8_t buf[65536];
    size_t have = 0;
    struct pollfd pfd = {.fd = c, .events = POLLIN};
    while (have < sizeof buf && poll(&pfd, 1, 3000) > 0) {
        ssize_t n = recv(c, buf + have, sizeof buf - have, 0);
        if (n <= 0)
            break;
        have += (size_t)n;
        if (have >= 2 && buf[have - 2] == 0x1C && buf[have - 1] == 0x0D)
            break;
    }
    const char *reply = NULL;
    if (f->mode == FAKE_WRONG_ID)
        reply = "\x0bMSH|^~\\&|R|F|S|F|2024||ACK^R01^ACK|A1|P|2.5.1\rMSA|AA|SOMEONE-ELSE\r\x1c\r";
    else if (f->mode == FAKE_GARBAGE)
        reply = "\x0bnot an ack\x1c\r";
    if (reply)
        send(c, reply, strlen(reply), MSG_NOSIGNAL);
    if (f->mode == FAKE_SILENT) /* wait for the client to give up */
        while (poll(&pfd, 1, 3000) > 0 && recv(c, buf, sizeof buf, 0) > 0)
            ;
    close(c);
    return NULL;
}

static void fake_start(Fake *f, FakeMode mode)
{
    f->mode = mode;
    f->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(f->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(f->fd, 4), 0);
    socklen_t sl = sizeof a;
    getsockname(f->fd, (struct sockaddr *)&a, &sl);
    f->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void fake_stop(Fake *f)
{
    pthread_join(f->thread, NULL);
    close(f->fd);
}

static void test_client_failures(void **state)
{
    (void)state;
    size_t len;
    char *wire = sample_wire("CLI-1", &len);
    RnError err = {0};
    RnHl7Ack ack;
    RnHl7ClientOptions o = {.connect_timeout_ms = 2000, .ack_timeout_ms = 400};

    /* Refused: a port nobody listens on. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(s, (struct sockaddr *)&a, sizeof a);
    socklen_t sl = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &sl);
    uint16_t dead = ntohs(a.sin_port);
    close(s);
    assert_int_equal(rn_hl7_mllp_send("127.0.0.1", dead, (uint8_t *)wire, len, &o, &ack, &err),
                     RN_ERR_NET);
    assert_non_null(strstr(err.message, "connect"));
    assert_int_equal(
        rn_hl7_mllp_send("no-such-host.invalid", 2575, (uint8_t *)wire, len, &o, &ack, &err),
        RN_ERR_NET);

    Fake f;
    fake_start(&f, FAKE_SILENT);
    double t0 = rn_time_now();
    assert_int_equal(rn_hl7_mllp_send("127.0.0.1", f.port, (uint8_t *)wire, len, &o, &ack, &err),
                     RN_ERR_TIMEOUT);
    assert_true(rn_time_now() - t0 < 3.0);
    fake_stop(&f);

    fake_start(&f, FAKE_CLOSE);
    assert_int_equal(rn_hl7_mllp_send("127.0.0.1", f.port, (uint8_t *)wire, len, &o, &ack, &err),
                     RN_ERR_NET);
    assert_non_null(strstr(err.message, "closed"));
    fake_stop(&f);

    fake_start(&f, FAKE_WRONG_ID);
    assert_int_equal(rn_hl7_mllp_send("127.0.0.1", f.port, (uint8_t *)wire, len, &o, &ack, &err),
                     RN_ERR_PARSE);
    assert_non_null(strstr(err.message, "SOMEONE-ELSE"));
    fake_stop(&f);

    fake_start(&f, FAKE_GARBAGE);
    assert_int_equal(rn_hl7_mllp_send("127.0.0.1", f.port, (uint8_t *)wire, len, &o, &ack, &err),
                     RN_ERR_PARSE);
    fake_stop(&f);

    /* Invalid outgoing messages never reach the network. */
    assert_int_equal(
        rn_hl7_mllp_send("127.0.0.1", dead, (const uint8_t *)"hello", 5, &o, &ack, &err),
        RN_ERR_INVALID);
    const char *noid = "MSH|^~\\&|A|B|C|D|2024||ORU^R01||P|2.5.1\r";
    assert_int_equal(
        rn_hl7_mllp_send("127.0.0.1", dead, (const uint8_t *)noid, strlen(noid), &o, &ack, &err),
        RN_ERR_INVALID);
    free(wire);
}

typedef struct Sender {
    uint16_t port;
    int id;
    int ok;
} Sender;

static void *sender_main(void *arg)
{
    Sender *s = arg;
    for (int i = 0; i < 10; i++) {
        char cid[32];
        snprintf(cid, sizeof cid, "T%d-%d", s->id, i);
        size_t len;
        char *wire = sample_wire(cid, &len);
        RnHl7Ack ack;
        RnHl7ClientOptions o = {.ack_timeout_ms = 10000};
        if (rn_hl7_mllp_send("127.0.0.1", s->port, (uint8_t *)wire, len, &o, &ack, NULL) == 0 &&
            ack.code == RN_HL7_ACK_AA && strcmp(ack.control_id, cid) == 0)
            s->ok++;
        free(wire);
    }
    return NULL;
}

static void test_concurrent_senders(void **state)
{
    (void)state;
    Fixture f;
    RnHl7ListenerOptions o = {.max_connections = 2};
    fixture_start(&f, &o);
    pthread_t t[4];
    Sender s[4];
    for (int i = 0; i < 4; i++) {
        s[i] = (Sender){.port = f.port, .id = i};
        pthread_create(&t[i], NULL, sender_main, &s[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(s[i].ok, 10);
    }
    assert_int_equal(count_files(f.store.dir), 40);
    RnHl7ListenerStats st;
    rn_hl7_listener_stats(f.l, &st);
    if (st.connections != 40 || st.accepted != 40 || st.messages != 40)
        fail_msg("connections %llu messages %llu accepted %llu", (unsigned long long)st.connections,
                 (unsigned long long)st.messages, (unsigned long long)st.accepted);
    assert_int_equal(st.accepted, 40);
    fixture_stop(&f);
}

static void test_timeouts_and_stop(void **state)
{
    (void)state;
    Fixture f;
    RnHl7ListenerOptions o = {
        .max_connections = 3, .idle_timeout_ms = 400, .message_timeout_ms = 300};
    fixture_start(&f, &o);
    RnBuf in = {0};
    RnHl7Ack ack;
    /* Idle connection: closed after the idle timeout. */
    int fd = raw_connect(f.port);
    double t0 = rn_time_now();
    assert_false(raw_read_ack(fd, &in, &ack));
    double idle = rn_time_now() - t0;
    assert_true(idle >= 0.3 && idle < 3.0);
    close(fd);
    /* A message that never ends (slow sender): closed after the message timeout even
     * though bytes keep arriving within the idle timeout. */
    fd = raw_connect(f.port);
    t0 = rn_time_now();
    raw_send(fd, "\x0bMSH", 4);
    bool closed = false;
    for (int i = 0; i < 20 && !closed; i++) {
        usleep(100 * 1000);
        closed = send(fd, "x", 1, MSG_NOSIGNAL) < 0;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (!closed && poll(&pfd, 1, 0) == 1) {
            char c;
            closed = recv(fd, &c, 1, 0) <= 0;
        }
    }
    assert_true(closed);
    assert_true(rn_time_now() - t0 < 2.0);
    close(fd);
    /* stop() with open idle connections returns promptly. */
    int a = raw_connect(f.port), b = raw_connect(f.port);
    usleep(100 * 1000);
    t0 = rn_time_now();
    fixture_stop(&f);
    assert_true(rn_time_now() - t0 < 2.0);
    close(a);
    close(b);
    rn_buf_free(&in);
    rn_hl7_listener_stop(NULL);
}

static void test_listener_options(void **state)
{
    (void)state;
    RnError err = {0};
    RnHl7ListenerOptions o = {0};
    assert_null(rn_hl7_listener_start(&o, &err));
    assert_int_equal(err.code, RN_ERR_INVALID);
    assert_null(rn_hl7_listener_start(NULL, &err));
    Store st = {0};
    o.handler = store_handler;
    o.user = &st;
    o.bind_address = "256.1.1.1";
    assert_null(rn_hl7_listener_start(&o, &err));
    assert_int_equal(err.code, RN_ERR_NET);
    /* Port in use. */
    o.bind_address = "127.0.0.1";
    RnHl7Listener *l = rn_hl7_listener_start(&o, &err);
    assert_non_null(l);
    o.port = rn_hl7_listener_port(l);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(o.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_not_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    close(fd);
    rn_hl7_listener_stop(l);
}

/* ---- Command-line peer ------------------------------------------------------------- */

/* A stable token for scripts: NET, TIMEOUT, PARSE, ... */
static const char *code_token(int rc)
{
    switch (rc) {
    case RN_ERR_NET:
        return "NET";
    case RN_ERR_TIMEOUT:
        return "TIMEOUT";
    case RN_ERR_PARSE:
        return "PARSE";
    case RN_ERR_INVALID:
        return "INVALID";
    case RN_ERR_LIMIT:
        return "LIMIT";
    case RN_ERR_IO:
        return "IO";
    case RN_ERR_NOMEM:
        return "NOMEM";
    default:
        return "OTHER";
    }
}

static int cli_send(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s --send HOST PORT FILE [ACK_TIMEOUT_MS]\n", argv[0]);
        return 1;
    }
    RnError err = {0};
    size_t len;
    uint8_t *data = rn_file_read_all(argv[4], RN_HL7_DEFAULT_MAX_MESSAGE_BYTES, &len, &err);
    if (!data) {
        printf("ERROR %s: %s\n", code_token(err.code), err.message);
        return 1;
    }
    /* Normalise LF segment ends to CR by parsing and serialising. */
    RnHl7Message *m = rn_hl7_parse(data, len, NULL, &err);
    free(data);
    RnBuf wire = {0};
    if (!m || rn_hl7_serialize(m, &wire, &err) != 0) {
        printf("ERROR %s: %s\n", code_token(err.code), err.message);
        rn_hl7_message_destroy(m);
        return 1;
    }
    rn_hl7_message_destroy(m);
    RnHl7ClientOptions o = {.ack_timeout_ms = argc > 5 ? atoi(argv[5]) : 0};
    RnHl7Ack ack;
    int rc =
        rn_hl7_mllp_send(argv[2], (uint16_t)atoi(argv[3]), wire.data, wire.len, &o, &ack, &err);
    rn_buf_free(&wire);
    if (rc != 0) {
        printf("ERROR %s: %s\n", code_token(rc), err.message);
        return 1;
    }
    printf("ACK %s %s %s\n", rn_hl7_ack_code_name(ack.code), ack.control_id, ack.text);
    return rn_hl7_ack_code_accepted(ack.code) ? 0 : 2;
}

static int cli_listen(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s --listen HOST PORT DIR\n", argv[0]);
        return 1;
    }
    Store st = {0};
    snprintf(st.dir, sizeof st.dir, "%s", argv[4]);
    RnError err = {0};
    if (rn_mkdirs(st.dir, &err) != 0) {
        fprintf(stderr, "ERROR: %s\n", err.message);
        return 1;
    }
    /* Block the stop signals in every thread; the main thread waits for them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    RnHl7ListenerOptions o = {.bind_address = argv[2],
                              .port = (uint16_t)atoi(argv[3]),
                              .max_connections = 4,
                              .idle_timeout_ms = 30000,
                              .handler = store_handler,
                              .user = &st};
    RnHl7Listener *l = rn_hl7_listener_start(&o, &err);
    if (!l) {
        fprintf(stderr, "ERROR: %s\n", err.message);
        return 1;
    }
    printf("LISTENING %u\n", (unsigned)rn_hl7_listener_port(l));
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    RnHl7ListenerStats stats;
    rn_hl7_listener_stats(l, &stats);
    rn_hl7_listener_stop(l);
    printf("STOPPED messages=%llu accepted=%llu errors=%llu rejected=%llu\n",
           (unsigned long long)stats.messages, (unsigned long long)stats.accepted,
           (unsigned long long)stats.errors, (unsigned long long)stats.rejected);
    return 0;
}

static int cli_oru(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s --oru FILE [CONTROL_ID]\n", argv[0]);
        return 1;
    }
    SampleOru s;
    sample_oru(&s, argc > 3 ? argv[3] : NULL);
    RnError err = {0};
    RnHl7Message *m = rn_hl7_oru_build(&s.oru, &err);
    RnBuf b = {0};
    int rc = m ? rn_hl7_serialize(m, &b, &err) : -1;
    if (rc == 0)
        rc = rn_file_write_atomic(argv[2], b.data, b.len, false, &err);
    rn_hl7_message_destroy(m);
    rn_buf_free(&b);
    if (rc != 0) {
        fprintf(stderr, "ERROR: %s\n", err.message);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--send") == 0)
        return cli_send(argc, argv);
    if (argc > 1 && strcmp(argv[1], "--listen") == 0)
        return cli_listen(argc, argv);
    if (argc > 1 && strcmp(argv[1], "--oru") == 0)
        return cli_oru(argc, argv);
    rn_log_set_level(RN_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framing),           cmocka_unit_test(test_loopback_aa),
        cmocka_unit_test(test_loopback_errors),   cmocka_unit_test(test_oversized_and_garbage),
        cmocka_unit_test(test_client_failures),   cmocka_unit_test(test_concurrent_senders),
        cmocka_unit_test(test_timeouts_and_stop), cmocka_unit_test(test_listener_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
