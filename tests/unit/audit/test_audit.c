/*
 * Audit trail tests (PS3.15 A.5, RFC 5424/5425/5426): every event kind builds
 * a message that validates against the A.5.1 schema (xmllint --relaxng with
 * dicom_audit_message.rng); the syslog framing; delivery to a UDP receiver in
 * this process; and over TLS to a Python ssl server (certificate from openssl): messages recorded while the
 * repository is down return at once, stay in the log, survive a restart of
 * the writer and arrive once the server is up.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "radnode/audit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rn_audit_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "test -n \"$RN_KEEP\" || rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void fill_event(RnAuditEvent *ev, RnAuditEventKind kind)
{
    static const uint8_t query[] = {0x10, 0x00, 0x10, 0x00, 'P', 'N', 4, 0, 'D', 'O', 'E', '*'};
    memset(ev, 0, sizeof *ev);
    ev->kind = kind;
    ev->participants[0] = (RnAuditParticipant){.user_id = "RADNODE", .alt_user_id = "1234",
                                               .network_address = "127.0.0.1",
                                               .is_requestor = true,
                                               .role = RN_AUDIT_ROLE_SOURCE};
    ev->participants[1] = (RnAuditParticipant){.user_id = "PACS", .network_address = "pacs.local",
                                               .role = RN_AUDIT_ROLE_DESTINATION};
    ev->participant_count = 2;
    ev->studies[0] = (RnAuditStudy){.study_uid = "1.2.3.4", .accession = "ACC<1>&",
                                    .sop_class_uid = "1.2.840.10008.5.1.4.1.1.2", .instances = 3};
    ev->study_count = 1;
    ev->patient_id = "PID-42";
    ev->patient_name = "Doe^John \"Q\"";
    ev->outcome_description = "line one\nline two";
    if (kind == RN_AUDIT_QUERY) {
        ev->query = query;
        ev->query_len = sizeof query;
        ev->query_sop_class = "1.2.840.10008.5.1.4.1.2.2.1";
    }
    if (kind == RN_AUDIT_SECURITY_ALERT) {
        ev->alert_code = "110126";
        ev->alert_meaning = "Node Authentication";
        ev->alert_object = "dicom://10.0.0.9:104/UNKNOWN_AE";
        ev->outcome = RN_AUDIT_MINOR_FAILURE;
    }
}

static bool have(const char *tool)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", tool);
    return system(cmd) == 0;
}

static void test_messages_validate_against_schema(void **state)
{
    (void)state;
    const char *src = getenv("RN_SOURCE_DIR");
    char rng[512];
    snprintf(rng, sizeof rng, "%s/tests/unit/audit/dicom_audit_message.rng", src ? src : "..");
    bool check = have("xmllint") && access(rng, R_OK) == 0;
    if (!check)
        fprintf(stderr, "xmllint or %s missing: schema validation skipped\n", rng);
    static const struct {
        RnAuditEventKind kind;
        const char *event_id;
    } kinds[] = {
        {RN_AUDIT_APPLICATION_START, "110100"}, {RN_AUDIT_APPLICATION_STOP, "110100"},
        {RN_AUDIT_BEGIN_TRANSFERRING, "110102"}, {RN_AUDIT_INSTANCES_TRANSFERRED, "110104"},
        {RN_AUDIT_QUERY, "110112"}, {RN_AUDIT_EXPORT, "110106"}, {RN_AUDIT_LOGIN, "110114"},
        {RN_AUDIT_LOGOUT, "110114"}, {RN_AUDIT_SECURITY_ALERT, "110113"},
        {RN_AUDIT_INSTANCES_ACCESSED, "110103"},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        RnAuditEvent ev;
        fill_event(&ev, kinds[i].kind);
        RnBuf b = {0};
        RnError err = {0};
        assert_int_equal(rn_audit_message_xml(&ev, "RADNODE_AE", "HOSPITAL", 0, &b, &err), 0);
        assert_int_equal(rn_buf_append_byte(&b, 0), 0);
        const char *xml = (const char *)b.data;
        char want[64];
        snprintf(want, sizeof want, "<EventID csd-code=\"%s\"", kinds[i].event_id);
        assert_non_null(strstr(xml, want));
        assert_non_null(strstr(xml, "<ActiveParticipant UserID=\"RADNODE\""));
        assert_non_null(strstr(xml, "<AuditSourceIdentification AuditEnterpriseSiteID=\"HOSPITAL\""));
        assert_non_null(strstr(xml, "ParticipantObjectID=\"PID-42\""));
        assert_non_null(strstr(xml, "ACC&lt;1&gt;&amp;"));
        assert_null(strchr(xml, '\n')); /* one line per message in the log */
        if (check) {
            char path[512], cmd[1400];
            snprintf(path, sizeof path, "%s/msg%zu.xml", tmpdir, i);
            FILE *f = fopen(path, "w");
            assert_non_null(f);
            fputs(xml, f);
            fclose(f);
            snprintf(cmd, sizeof cmd, "xmllint --noout --relaxng '%s' '%s'", rng, path);
            assert_int_equal(system(cmd), 0);
        }
        rn_buf_free(&b);
    }
    /* A message without participants is refused, not written half-formed. */
    RnAuditEvent ev;
    fill_event(&ev, RN_AUDIT_EXPORT);
    ev.participant_count = 0;
    RnBuf b = {0};
    assert_int_not_equal(rn_audit_message_xml(&ev, "RADNODE_AE", NULL, 0, &b, NULL), 0);
    rn_buf_free(&b);
    /* And the schema check itself can fail: a message without EventID. */
    if (check) {
        char path[512], cmd[1400];
        snprintf(path, sizeof path, "%s/bad.xml", tmpdir);
        FILE *f = fopen(path, "w");
        fputs("<AuditMessage><EventIdentification EventDateTime=\"2024-01-01T00:00:00Z\" "
              "EventOutcomeIndicator=\"0\"/></AuditMessage>",
              f);
        fclose(f);
        snprintf(cmd, sizeof cmd, "xmllint --noout --relaxng '%s' '%s' 2>/dev/null", rng, path);
        assert_int_not_equal(system(cmd), 0);
    }
}

static void test_syslog_frame(void **state)
{
    (void)state;
    RnBuf b = {0};
    assert_int_equal(rn_audit_syslog_frame("<AuditMessage/>", 0, "host a", "radnode",
                                           1700000000.25, &b, NULL), 0);
    assert_int_equal(rn_buf_append_byte(&b, 0), 0);
    char want[128];
    snprintf(want, sizeof want, "<85>1 2023-11-14T22:13:20.250Z host_a radnode %ld DICOM+RFC3881 - "
                                "\xEF\xBB\xBF<AuditMessage/>", (long)getpid());
    assert_string_equal((const char *)b.data, want);
    rn_buf_free(&b);
    assert_int_equal(rn_audit_syslog_frame("<x/>", 8, "h", NULL, 1, &b, NULL), 0);
    assert_memory_equal(b.data, "<83>1 ", 6); /* serious failure: err */
    rn_buf_free(&b);
}

static size_t count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = 0;
    int c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static void test_udp_delivery(void **state)
{
    (void)state;
    int rx = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(rx >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(rx, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    getsockname(rx, (struct sockaddr *)&a, &al);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char log[512];
    snprintf(log, sizeof log, "%s/udp.log", tmpdir);
    RnAuditConfig cfg = {.log_path = log, .transport = RN_AUDIT_TRANSPORT_UDP, .host = "127.0.0.1",
                         .port = ntohs(a.sin_port), .source_id = "RADNODE_AE",
                         .retry_interval_s = 0.2, .no_fsync = true};
    RnError err = {0};
    RnAuditTrail *t = rn_audit_trail_create(&cfg, &err);
    assert_non_null(t);
    for (int i = 0; i < 3; i++) {
        RnAuditEvent ev;
        fill_event(&ev, i == 0 ? RN_AUDIT_APPLICATION_START : RN_AUDIT_INSTANCES_TRANSFERRED);
        assert_int_equal(rn_audit_trail_record(t, &ev, &err), 0);
    }
    assert_int_equal(rn_audit_trail_flush(t, 10, &err), 0);
    for (int i = 0; i < 3; i++) {
        char buf[65536];
        ssize_t n = recv(rx, buf, sizeof buf - 1, 0);
        assert_true(n > 0);
        buf[n] = '\0';
        assert_memory_equal(buf, "<85>1 ", 6);
        assert_non_null(strstr(buf, " DICOM+RFC3881 - \xEF\xBB\xBF<?xml"));
        assert_non_null(strstr(buf, "</AuditMessage>"));
        assert_null(strchr(buf, '\n')); /* one message per datagram, no trailer */
    }
    assert_int_equal(rn_audit_trail_sent(t), 3);
    rn_audit_trail_destroy(t);
    close(rx);
    assert_int_equal(count_lines(log), 3);
}

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(s, (struct sockaddr *)&a, sizeof a);
    socklen_t al = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &al);
    close(s);
    return ntohs(a.sin_port);
}

static void test_tls_spool_across_outage(void **state)
{
    (void)state;
    if (!have("openssl")) {
        skip();
        return;
    }
    char cmd[4096], key[300], crt[300], log[300], got[300], pidf[300];
    snprintf(key, sizeof key, "%s/key.pem", tmpdir);
    snprintf(crt, sizeof crt, "%s/crt.pem", tmpdir);
    snprintf(log, sizeof log, "%s/tls.log", tmpdir);
    snprintf(got, sizeof got, "%s/received.txt", tmpdir);
    snprintf(pidf, sizeof pidf, "%s/server.pid", tmpdir);
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout '%s' "
             "-out '%s' -days 1 -subj /CN=localhost -addext subjectAltName=DNS:localhost "
             ">/dev/null 2>&1",
             key, crt);
    assert_int_equal(system(cmd), 0);
    int port = free_port();
    RnAuditConfig cfg = {.log_path = log, .transport = RN_AUDIT_TRANSPORT_TLS, .host = "127.0.0.1",
                         .server_name = "localhost", .port = (unsigned)port, .ca_file = crt,
                         .source_id = "RADNODE_AE", .retry_interval_s = 0.2,
                         .io_timeout_s = 2, .no_fsync = true};
    RnError err = {0};
    /* Repository down: recording returns, messages wait in the log. */
    RnAuditTrail *t = rn_audit_trail_create(&cfg, &err);
    assert_non_null(t);
    for (int i = 0; i < 4; i++) {
        RnAuditEvent ev;
        fill_event(&ev, i % 2 ? RN_AUDIT_QUERY : RN_AUDIT_LOGIN);
        assert_int_equal(rn_audit_trail_record(t, &ev, &err), 0);
    }
    assert_int_not_equal(rn_audit_trail_flush(t, 0.5, &err), 0);
    assert_true(rn_audit_trail_pending(t) > 0);
    /* The node restarts before the repository is back. */
    rn_audit_trail_destroy(t);
    t = rn_audit_trail_create(&cfg, &err);
    assert_non_null(t);
    RnAuditEvent ev;
    fill_event(&ev, RN_AUDIT_SECURITY_ALERT);
    assert_int_equal(rn_audit_trail_record(t, &ev, &err), 0);
    assert_true(rn_audit_trail_pending(t) > 0);
    /* The repository comes up: a Python TLS server that appends what it
     * receives to a file (openssl s_server drops records at disconnect). */
    char py[300];
    snprintf(py, sizeof py, "%s/server.py", tmpdir);
    FILE *pyf = fopen(py, "w");
    assert_non_null(pyf);
    fputs("import socket, ssl, sys\n"
          "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
          "ctx.load_cert_chain(sys.argv[2], sys.argv[3])\n"
          "srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
          "srv.bind(('127.0.0.1', int(sys.argv[1]))); srv.listen(4)\n"
          "import threading\n"
          "lock = threading.Lock()\n"
          "def serve(c):\n"
          "    try:\n"
          "        s = ctx.wrap_socket(c, server_side=True)\n"
          "        while True:\n"
          "            d = s.recv(65536)\n"
          "            if not d: break\n"
          "            with lock, open(sys.argv[4], 'ab') as f: f.write(d)\n"
          "    except Exception as e:\n"
          "        sys.stderr.write('server: %r\\n' % e)\n"
          "    c.close()\n"
          "while True:\n"
          "    c, _ = srv.accept()\n"
          "    threading.Thread(target=serve, args=(c,), daemon=True).start()\n",
          pyf);
    fclose(pyf);
    snprintf(cmd, sizeof cmd,
             "python3 '%s' %d '%s' '%s' '%s' </dev/null >/dev/null 2>>'%s.err' & echo $! > '%s'", py,
             port, crt, key, got, got, pidf);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(rn_audit_trail_flush(t, 30, &err), 0);
    assert_int_equal(rn_audit_trail_pending(t), 0);
    rn_audit_trail_destroy(t);
    FILE *pf = fopen(pidf, "r");
    int pid = 0;
    assert_non_null(pf);
    assert_int_equal(fscanf(pf, "%d", &pid), 1);
    fclose(pf);
    /* The server may still be writing what it read (busy machines): wait for
     * five messages or 20 s; the count is asserted below either way. */
    for (int i = 0; i < 200; i++) {
        size_t n = 0, seen = 0;
        uint8_t *d = rn_file_read_all(got, 1 << 24, &n, NULL);
        for (size_t k = 0; d && k + 15 <= n; k++)
            seen += !memcmp(d + k, "</AuditMessage>", 15);
        free(d);
        if (seen >= 5)
            break;
        usleep(100 * 1000);
    }
    kill(pid, SIGTERM);
    /* Five RFC 5425 frames: "LEN SP <85>1 ...", LEN matching each message. */
    size_t len = 0;
    uint8_t *data = rn_file_read_all(got, 1 << 24, &len, &err);
    assert_non_null(data);
    size_t pos = 0, frames = 0, logins = 0, alerts = 0;
    while (pos < len) {
        char *end = NULL;
        unsigned long n = strtoul((const char *)data + pos, &end, 10);
        assert_non_null(end);
        assert_int_equal(*end, ' ');
        size_t start = (size_t)((uint8_t *)end - data) + 1;
        assert_true(start + n <= len);
        assert_memory_equal(data + start, "<8", 2);
        char *msg = rn_strndup((const char *)data + start, n);
        assert_non_null(strstr(msg, "</AuditMessage>"));
        logins += strstr(msg, "csd-code=\"110122\"") != NULL;
        alerts += strstr(msg, "csd-code=\"110126\"") != NULL;
        free(msg);
        frames++;
        pos = start + n;
    }
    free(data);
    assert_int_equal(frames, 5);
    assert_int_equal(logins, 2);
    assert_int_equal(alerts, 1);
    assert_int_equal(count_lines(log), 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages_validate_against_schema),
        cmocka_unit_test(test_syslog_frame),
        cmocka_unit_test(test_udp_delivery),
        cmocka_unit_test(test_tls_spool_across_outage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
