/*
 * The audit trail: DICOM PS3.15 A.5 audit messages (XML per the schema of
 * A.5.1, events of A.5.3) framed as RFC 5424 syslog messages (MSGID
 * "DICOM+RFC3881", facility authpriv, UTF-8 BOM before the XML) and delivered
 * over TLS with octet-counting framing (RFC 5425) or over UDP, one message per
 * datagram (RFC 5426).
 *
 * Durability before delivery: rn_audit_trail_record appends the framed
 * message as one line to a local append-only log (O_APPEND, mode 0600, fsync)
 * and signals the sender thread; that is all the caller waits for. The log is
 * the queue: the sender reads it from a cursor (bytes delivered, persisted in
 * <log>.cursor) and advances the cursor after each delivered batch. When the
 * repository is down the sender retries every retry interval and the log
 * keeps growing; nothing is dropped, and after a restart the undelivered tail
 * is sent again (at-least-once). Over TLS a peer that closed the connection is
 * detected before writing; a message written into a connection that dies in
 * flight can still be lost, as RFC 5425 has no acknowledgement. UDP gives no
 * delivery feedback at all and is offered for repositories that only speak it.
 *
 * Locking: `lock` guards log_size, cursor, sent, stop and the log fd's
 * appends; the sender does its network I/O without holding it.
 */
#include "radnode/audit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* ---- XML ---------------------------------------------------------------------------- */

/* Escapes for attribute values and text; control characters become character
 * references (newlines included, so that a message stays on one line). */
static int xml_escaped(RnBuf *b, const char *s)
{
    int rc = 0;
    for (; s && *s && !rc; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '&': rc = rn_buf_append_str(b, "&amp;"); break;
        case '<': rc = rn_buf_append_str(b, "&lt;"); break;
        case '>': rc = rn_buf_append_str(b, "&gt;"); break;
        case '"': rc = rn_buf_append_str(b, "&quot;"); break;
        case '\'': rc = rn_buf_append_str(b, "&apos;"); break;
        default:
            if (c == '\n' || c == '\r' || c == '\t')
                rc = rn_buf_printf(b, "&#%u;", c);
            else if (c < 0x20)
                rc = rn_buf_append_byte(b, '?'); /* not allowed in XML 1.0 at all */
            else
                rc = rn_buf_append_byte(b, c);
        }
    }
    return rc;
}

static int attr(RnBuf *b, const char *name, const char *value)
{
    if (!value)
        return 0;
    int rc = rn_buf_printf(b, " %s=\"", name);
    if (!rc)
        rc = xml_escaped(b, value);
    if (!rc)
        rc = rn_buf_append_byte(b, '"');
    return rc;
}

static int coded(RnBuf *b, const char *element, const char *code, const char *system,
                 const char *meaning)
{
    int rc = rn_buf_printf(b, "<%s", element);
    if (!rc)
        rc = attr(b, "csd-code", code);
    if (!rc)
        rc = attr(b, "codeSystemName", system);
    if (!rc)
        rc = attr(b, "originalText", meaning);
    if (!rc)
        rc = rn_buf_append_str(b, "/>");
    return rc;
}

static void format_time(double t, bool xsd, char *out, size_t size)
{
    if (t <= 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        t = (double)ts.tv_sec + ts.tv_nsec / 1e9;
    }
    time_t sec = (time_t)t;
    int ms = (int)((t - (double)sec) * 1000.0);
    if (ms > 999)
        ms = 999;
    struct tm tm;
    gmtime_r(&sec, &tm);
    (void)xsd; /* xsd:dateTime and the RFC 5424 TIMESTAMP share this form */
    rn_format(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
              tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

static const char *role_code(RnAuditRole r, const char **meaning)
{
    switch (r) {
    case RN_AUDIT_ROLE_APPLICATION: *meaning = "Application"; return "110150";
    case RN_AUDIT_ROLE_APPLICATION_LAUNCHER: *meaning = "Application Launcher"; return "110151";
    case RN_AUDIT_ROLE_DESTINATION: *meaning = "Destination Role ID"; return "110152";
    case RN_AUDIT_ROLE_SOURCE: *meaning = "Source Role ID"; return "110153";
    case RN_AUDIT_ROLE_DESTINATION_MEDIA: *meaning = "Destination Media"; return "110154";
    default: *meaning = NULL; return NULL;
    }
}

static int base64(RnBuf *b, const uint8_t *data, size_t len)
{
    size_t cap = 4 * ((len + 2) / 3) + 1;
    if (rn_buf_reserve(b, cap))
        return RN_ERR_NOMEM;
    int n = EVP_EncodeBlock(b->data + b->len, data, (int)len);
    if (n < 0)
        return RN_ERR_INVALID;
    b->len += (size_t)n;
    return 0;
}

int rn_audit_message_xml(const RnAuditEvent *ev, const char *source_id, const char *site_id,
                         double event_time, RnBuf *out, RnError *err)
{
    if (!ev || !source_id || !source_id[0])
        return rn_error_set(err, RN_ERR_INVALID, "audit message needs an event and a source ID");
    if (ev->participant_count == 0 || ev->participant_count > RN_AUDIT_MAX_PARTICIPANTS ||
        ev->study_count > RN_AUDIT_MAX_STUDIES)
        return rn_error_set(err, RN_ERR_INVALID,
                            "audit message needs 1-%d active participants and at most %d studies",
                            RN_AUDIT_MAX_PARTICIPANTS, RN_AUDIT_MAX_STUDIES);
    if (ev->outcome != 0 && ev->outcome != 4 && ev->outcome != 8 && ev->outcome != 12)
        return rn_error_set(err, RN_ERR_INVALID, "outcome %d is not 0, 4, 8 or 12", ev->outcome);
    const char *id = NULL, *id_meaning = NULL, *type = NULL, *type_meaning = NULL;
    char action = 'E';
    switch (ev->kind) {
    case RN_AUDIT_APPLICATION_START:
    case RN_AUDIT_APPLICATION_STOP:
        id = "110100", id_meaning = "Application Activity";
        type = ev->kind == RN_AUDIT_APPLICATION_START ? "110120" : "110121";
        type_meaning = ev->kind == RN_AUDIT_APPLICATION_START ? "Application Start"
                                                               : "Application Stop";
        break;
    case RN_AUDIT_BEGIN_TRANSFERRING:
        id = "110102", id_meaning = "Begin Transferring DICOM Instances";
        break;
    case RN_AUDIT_INSTANCES_TRANSFERRED:
        id = "110104", id_meaning = "DICOM Instances Transferred", action = 'R';
        break;
    case RN_AUDIT_INSTANCES_ACCESSED:
        /* A.5.3.4: action R for reading (U/D when an operator changes or deletes). */
        id = "110103", id_meaning = "DICOM Instances Accessed", action = 'R';
        break;
    case RN_AUDIT_QUERY:
        id = "110112", id_meaning = "Query";
        break;
    case RN_AUDIT_EXPORT:
        id = "110106", id_meaning = "Export", action = 'R';
        break;
    case RN_AUDIT_LOGIN:
    case RN_AUDIT_LOGOUT:
        id = "110114", id_meaning = "User Authentication";
        type = ev->kind == RN_AUDIT_LOGIN ? "110122" : "110123";
        type_meaning = ev->kind == RN_AUDIT_LOGIN ? "Login" : "Logout";
        break;
    case RN_AUDIT_SECURITY_ALERT:
        id = "110113", id_meaning = "Security Alert";
        if (!ev->alert_code || !ev->alert_meaning)
            return rn_error_set(err, RN_ERR_INVALID, "a security alert needs its type code");
        type = ev->alert_code, type_meaning = ev->alert_meaning;
        break;
    default:
        return rn_error_set(err, RN_ERR_INVALID, "unknown audit event kind %d", (int)ev->kind);
    }
    if (ev->action) {
        if (!strchr("CRUDE", ev->action))
            return rn_error_set(err, RN_ERR_INVALID, "action '%c' is not C, R, U, D or E",
                                ev->action);
        action = ev->action;
    }
    char when[40], act[2] = {action, 0}, outcome[4];
    format_time(event_time, true, when, sizeof when);
    rn_format(outcome, sizeof outcome, "%d", ev->outcome);

    RnBuf *b = out;
    int rc = rn_buf_append_str(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?><AuditMessage>");
    /* EventIdentification: EventID, EventTypeCode*, EventOutcomeDescription? (A.5.1 order) */
    rc = rc ? rc : rn_buf_append_str(b, "<EventIdentification");
    rc = rc ? rc : attr(b, "EventActionCode", act);
    rc = rc ? rc : attr(b, "EventDateTime", when);
    rc = rc ? rc : attr(b, "EventOutcomeIndicator", outcome);
    rc = rc ? rc : rn_buf_append_byte(b, '>');
    rc = rc ? rc : coded(b, "EventID", id, "DCM", id_meaning);
    if (type)
        rc = rc ? rc : coded(b, "EventTypeCode", type, "DCM", type_meaning);
    if (ev->outcome_description) {
        rc = rc ? rc : rn_buf_append_str(b, "<EventOutcomeDescription>");
        rc = rc ? rc : xml_escaped(b, ev->outcome_description);
        rc = rc ? rc : rn_buf_append_str(b, "</EventOutcomeDescription>");
    }
    rc = rc ? rc : rn_buf_append_str(b, "</EventIdentification>");
    for (size_t i = 0; i < ev->participant_count && !rc; i++) {
        const RnAuditParticipant *p = &ev->participants[i];
        if (!p->user_id || !p->user_id[0]) {
            rn_buf_free(b);
            return rn_error_set(err, RN_ERR_INVALID, "active participant %zu has no user ID", i);
        }
        rc = rn_buf_append_str(b, "<ActiveParticipant");
        rc = rc ? rc : attr(b, "UserID", p->user_id);
        rc = rc ? rc : attr(b, "AlternativeUserID", p->alt_user_id);
        rc = rc ? rc : attr(b, "UserName", p->user_name);
        rc = rc ? rc : attr(b, "UserIsRequestor", p->is_requestor ? "true" : "false");
        if (p->network_address) {
            /* 2 = IP address, 1 = machine name */
            struct in6_addr a6;
            struct in_addr a4;
            bool ip = inet_pton(AF_INET, p->network_address, &a4) == 1 ||
                      inet_pton(AF_INET6, p->network_address, &a6) == 1;
            rc = rc ? rc : attr(b, "NetworkAccessPointID", p->network_address);
            rc = rc ? rc : attr(b, "NetworkAccessPointTypeCode", ip ? "2" : "1");
        }
        rc = rc ? rc : rn_buf_append_byte(b, '>');
        const char *meaning;
        const char *code = role_code(p->role, &meaning);
        if (code)
            rc = rc ? rc : coded(b, "RoleIDCode", code, "DCM", meaning);
        rc = rc ? rc : rn_buf_append_str(b, "</ActiveParticipant>");
    }
    rc = rc ? rc : rn_buf_append_str(b, "<AuditSourceIdentification");
    rc = rc ? rc : attr(b, "AuditEnterpriseSiteID", site_id);
    rc = rc ? rc : attr(b, "AuditSourceID", source_id);
    /* 4 = application server process */
    rc = rc ? rc : rn_buf_append_str(b, "><AuditSourceTypeCode csd-code=\"4\"/>"
                                        "</AuditSourceIdentification>");
    /* Participant objects: studies (A.5.3 "Study"), the patient, the query, the alert object.
     * Consecutive entries of the same study UID are one object with one SOPClass each. */
    for (size_t i = 0; i < ev->study_count && !rc; i++) {
        const RnAuditStudy *s = &ev->studies[i];
        if (!s->study_uid)
            continue;
        bool first = i == 0 || !ev->studies[i - 1].study_uid ||
                     strcmp(ev->studies[i - 1].study_uid, s->study_uid) != 0;
        bool last = i + 1 == ev->study_count || !ev->studies[i + 1].study_uid ||
                    strcmp(ev->studies[i + 1].study_uid, s->study_uid) != 0;
        if (first) {
            rc = rn_buf_append_str(b, "<ParticipantObjectIdentification");
            rc = rc ? rc : attr(b, "ParticipantObjectID", s->study_uid);
            rc = rc ? rc : attr(b, "ParticipantObjectTypeCode", "2");
            rc = rc ? rc : attr(b, "ParticipantObjectTypeCodeRole", "3");
            rc = rc ? rc : rn_buf_append_byte(b, '>');
            rc = rc ? rc : coded(b, "ParticipantObjectIDTypeCode", "110180", "DCM",
                                 "Study Instance UID");
            /* The schema text of A.5.1 makes a name or a query mandatory; the
             * accession number (or the UID again) names the study. */
            rc = rc ? rc : rn_buf_append_str(b, "<ParticipantObjectName>");
            rc = rc ? rc : xml_escaped(b, s->accession && s->accession[0] ? s->accession
                                                                          : s->study_uid);
            rc = rc ? rc : rn_buf_append_str(b, "</ParticipantObjectName><ParticipantObjectDescription>");
            if (s->accession && s->accession[0]) {
                rc = rc ? rc : rn_buf_append_str(b, "<Accession");
                rc = rc ? rc : attr(b, "Number", s->accession);
                rc = rc ? rc : rn_buf_append_str(b, "/>");
            }
        }
        if (s->sop_class_uid && s->sop_class_uid[0]) {
            char n[24];
            rn_format(n, sizeof n, "%u", s->instances);
            rc = rc ? rc : rn_buf_append_str(b, "<SOPClass");
            rc = rc ? rc : attr(b, "UID", s->sop_class_uid);
            rc = rc ? rc : attr(b, "NumberOfInstances", n);
            rc = rc ? rc : rn_buf_append_str(b, "/>");
        }
        if (last)
            rc = rc ? rc : rn_buf_append_str(b, "</ParticipantObjectDescription>"
                                                "</ParticipantObjectIdentification>");
    }
    if (!rc && ev->patient_id && ev->patient_id[0]) {
        rc = rn_buf_append_str(b, "<ParticipantObjectIdentification");
        rc = rc ? rc : attr(b, "ParticipantObjectID", ev->patient_id);
        rc = rc ? rc : attr(b, "ParticipantObjectTypeCode", "1");
        rc = rc ? rc : attr(b, "ParticipantObjectTypeCodeRole", "1");
        rc = rc ? rc : rn_buf_append_byte(b, '>');
        rc = rc ? rc : coded(b, "ParticipantObjectIDTypeCode", "2", "RFC-3881", "Patient Number");
        rc = rc ? rc : rn_buf_append_str(b, "<ParticipantObjectName>");
        rc = rc ? rc : xml_escaped(b, ev->patient_name && ev->patient_name[0] ? ev->patient_name
                                                                              : ev->patient_id);
        rc = rc ? rc : rn_buf_append_str(b, "</ParticipantObjectName>"
                                            "</ParticipantObjectIdentification>");
    }
    if (!rc && ev->kind == RN_AUDIT_QUERY && ev->query_sop_class) {
        rc = rn_buf_append_str(b, "<ParticipantObjectIdentification");
        rc = rc ? rc : attr(b, "ParticipantObjectID", ev->query_sop_class);
        rc = rc ? rc : attr(b, "ParticipantObjectTypeCode", "2");
        rc = rc ? rc : attr(b, "ParticipantObjectTypeCodeRole", "24");
        rc = rc ? rc : rn_buf_append_byte(b, '>');
        rc = rc ? rc : coded(b, "ParticipantObjectIDTypeCode", "110181", "DCM", "SOP Class UID");
        rc = rc ? rc : rn_buf_append_str(b, "<ParticipantObjectQuery>");
        rc = rc ? rc : base64(b, ev->query ? ev->query : (const uint8_t *)"", ev->query_len);
        rc = rc ? rc : rn_buf_append_str(b, "</ParticipantObjectQuery>");
        if (ev->query_transfer_syntax && ev->query_transfer_syntax[0]) {
            /* A.5.3.12: the transfer syntax of the encoded query, a ValuePair
             * whose value is base64Binary (A.5.1). */
            rc = rc ? rc : rn_buf_append_str(b, "<ParticipantObjectDetail type=\"TransferSyntax\""
                                                " value=\"");
            rc = rc ? rc : base64(b, (const uint8_t *)ev->query_transfer_syntax,
                                  strlen(ev->query_transfer_syntax));
            rc = rc ? rc : rn_buf_append_str(b, "\"/>");
        }
        rc = rc ? rc : rn_buf_append_str(b, "</ParticipantObjectIdentification>");
    }
    if (!rc && ev->alert_object && ev->alert_object[0]) {
        rc = rn_buf_append_str(b, "<ParticipantObjectIdentification");
        rc = rc ? rc : attr(b, "ParticipantObjectID", ev->alert_object);
        rc = rc ? rc : attr(b, "ParticipantObjectTypeCode", "2");
        rc = rc ? rc : attr(b, "ParticipantObjectTypeCodeRole", "13");
        rc = rc ? rc : rn_buf_append_byte(b, '>');
        rc = rc ? rc : coded(b, "ParticipantObjectIDTypeCode", "12", "RFC-3881", "URI");
        rc = rc ? rc : rn_buf_append_str(b, "<ParticipantObjectName>");
        rc = rc ? rc : xml_escaped(b, ev->alert_object);
        rc = rc ? rc : rn_buf_append_str(b, "</ParticipantObjectName>"
                                            "</ParticipantObjectIdentification>");
    }
    rc = rc ? rc : rn_buf_append_str(b, "</AuditMessage>");
    if (rc)
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory building an audit message");
    return 0;
}

int rn_audit_syslog_frame(const char *xml, int outcome, const char *hostname,
                          const char *app_name, double event_time, RnBuf *out, RnError *err)
{
    /* Facility 10 (security/authorization); severity by outcome (A.5 / IHE ATNA). */
    int severity = outcome == 0 ? 5 : outcome == 4 ? 4 : outcome == 8 ? 3 : 2;
    char when[40];
    format_time(event_time, false, when, sizeof when);
    char host[256];
    if (hostname && hostname[0])
        rn_format(host, sizeof host, "%s", hostname);
    else if (gethostname(host, sizeof host) != 0 || !host[0])
        rn_format(host, sizeof host, "-");
    host[255] = '\0';
    /* RFC 5424 6.2: header fields are printable US-ASCII without spaces. */
    for (char *p = host; *p; p++)
        if (*p <= 32 || *p >= 127)
            *p = '_';
    int rc = rn_buf_printf(out, "<%d>1 %s %s %s %ld DICOM+RFC3881 - \xEF\xBB\xBF%s", 10 * 8 + severity,
                           when, host, app_name && app_name[0] ? app_name : "radnode",
                           (long)getpid(), xml);
    if (rc)
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    return 0;
}

/* ---- The writer ---------------------------------------------------------------------- */

struct RnAuditTrail {
    RnAuditConfig cfg;
    char *log_path, *cursor_path, *host, *ca_file, *cert_file, *key_file, *server_name,
        *source_id, *site_id, *app_name;
    char hostname[256];
    int log_fd;
    pthread_mutex_t lock;
    pthread_cond_t wake;     /* new data or stop */
    pthread_cond_t progress; /* the cursor moved */
    uint64_t log_size;       /* guarded by lock */
    uint64_t cursor;         /* guarded by lock */
    uint64_t sent;           /* guarded by lock */
    bool stop;               /* guarded by lock */
    bool thread_started;
    pthread_t thread;
    /* Sender-thread state (only the thread touches these). */
    int sock;
    SSL_CTX *ssl_ctx;
    SSL *ssl;
};

static char *dup_or_null(const char *s) { return s ? rn_strdup(s) : NULL; }

static int read_cursor(const char *path, uint64_t *out)
{
    *out = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? 0 : RN_ERR_IO;
    unsigned long long v = 0;
    int n = fscanf(f, "%llu", &v);
    fclose(f);
    if (n == 1)
        *out = v;
    return 0;
}

/* Closes gracefully: unread input (TLS 1.3 session tickets) at close() would
 * make the kernel send a reset, and a reset makes the repository's kernel
 * discard messages it has received but not yet read. So: consume what is
 * pending, send close_notify, half-close, and read until the peer closes
 * (bounded by the socket timeout). */
static void close_conn(RnAuditTrail *t)
{
    if (t->ssl) {
        uint8_t junk[512];
        int flags = fcntl(t->sock, F_GETFL);
        fcntl(t->sock, F_SETFL, flags | O_NONBLOCK);
        for (int i = 0; i < 16 && SSL_read(t->ssl, junk, sizeof junk) > 0; i++)
            ;
        fcntl(t->sock, F_SETFL, flags);
        ERR_clear_error();
        SSL_shutdown(t->ssl);
        SSL_free(t->ssl);
        t->ssl = NULL;
        shutdown(t->sock, SHUT_WR);
        for (int i = 0; i < 64 && recv(t->sock, junk, sizeof junk, 0) > 0; i++)
            ;
    }
    if (t->sock >= 0) {
        close(t->sock);
        t->sock = -1;
    }
}

static void set_timeouts(int fd, double s)
{
    struct timeval tv = {.tv_sec = (time_t)s, .tv_usec = (suseconds_t)((s - (double)(time_t)s) * 1e6)};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

/* Connects within the I/O timeout (non-blocking connect + poll). */
static int connect_to(RnAuditTrail *t, int socktype)
{
    unsigned port = t->cfg.port ? t->cfg.port
                                : (t->cfg.transport == RN_AUDIT_TRANSPORT_TLS ? 6514 : 514);
    char ports[8];
    rn_format(ports, sizeof ports, "%u", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = socktype}, *res = NULL;
    if (getaddrinfo(t->host, ports, &hints, &res) != 0 || !res)
        return -1;
    int fd = -1;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
        if (fd < 0)
            continue;
        int r = connect(fd, a->ai_addr, a->ai_addrlen);
        if (r != 0 && errno == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (poll(&p, 1, (int)(t->cfg.io_timeout_s * 1000)) == 1 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
                r = 0;
        }
        if (r != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return -1;
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    set_timeouts(fd, t->cfg.io_timeout_s);
    return fd;
}

static int open_conn(RnAuditTrail *t)
{
    if (t->cfg.transport == RN_AUDIT_TRANSPORT_UDP) {
        /* A connected UDP socket reports ICMP port unreachable as ECONNREFUSED
         * on a later send: the only outage signal RFC 5426 transport gives. */
        t->sock = connect_to(t, SOCK_DGRAM);
        return t->sock >= 0 ? 0 : -1;
    }
    t->sock = connect_to(t, SOCK_STREAM);
    if (t->sock < 0)
        return -1;
    t->ssl = SSL_new(t->ssl_ctx);
    if (!t->ssl) {
        close_conn(t);
        return -1;
    }
    SSL_set_fd(t->ssl, t->sock);
    const char *name = t->server_name ? t->server_name : t->host;
    SSL_set_tlsext_host_name(t->ssl, name);
    /* RFC 5425 5.2: the server is authenticated by its certificate. */
    SSL_set1_host(t->ssl, name);
    if (SSL_connect(t->ssl) != 1) {
        unsigned long e = ERR_get_error();
        const char *why = e ? ERR_reason_error_string(e) : NULL;
        rn_debug("audit: TLS handshake with %s failed: %s", t->host, why ? why : "unknown");
        ERR_clear_error();
        close_conn(t);
        return -1;
    }
    return 0;
}

/* A TLS peer that went away leaves the socket readable with EOF or an alert:
 * checked before each batch so that messages are not written into a dead
 * connection. Readable can also mean TLS 1.3 session tickets, which a
 * non-blocking SSL_read consumes (answering WANT_READ when nothing else is
 * there). */
static bool conn_alive(RnAuditTrail *t)
{
    if (t->sock < 0)
        return false;
    if (t->cfg.transport == RN_AUDIT_TRANSPORT_UDP)
        return true;
    struct pollfd p = {.fd = t->sock, .events = POLLIN};
    if (poll(&p, 1, 0) == 0)
        return true;
    int flags = fcntl(t->sock, F_GETFL);
    fcntl(t->sock, F_SETFL, flags | O_NONBLOCK);
    bool alive = true;
    for (int i = 0; i < 16; i++) {
        uint8_t junk[256];
        int n = SSL_read(t->ssl, junk, sizeof junk);
        if (n > 0)
            continue; /* the repository sends nothing in RFC 5425: ignore */
        int e = SSL_get_error(t->ssl, n);
        alive = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
        break;
    }
    ERR_clear_error();
    fcntl(t->sock, F_SETFL, flags);
    return alive;
}

static int send_all(RnAuditTrail *t, const uint8_t *data, size_t len)
{
    if (t->cfg.transport == RN_AUDIT_TRANSPORT_UDP) {
        ssize_t n = send(t->sock, data, len, MSG_NOSIGNAL);
        return n == (ssize_t)len ? 0 : -1;
    }
    size_t off = 0;
    while (off < len) {
        int n = SSL_write(t->ssl, data + off, (int)(len - off > 1 << 20 ? 1 << 20 : len - off));
        if (n <= 0)
            return -1;
        off += (size_t)n;
    }
    return 0;
}

/* Sends the log from `from` to `end`, moving the cursor after each message;
 * returns 0 when all of it went. */
static int deliver(RnAuditTrail *t, int rfd, uint64_t from, uint64_t end)
{
    size_t chunk = 256 * 1024;
    uint8_t *buf = rn_malloc(chunk);
    if (!buf)
        return -1;
    uint64_t pos = from;
    int rc = 0;
    while (pos < end && rc == 0) {
        size_t want = end - pos < chunk ? (size_t)(end - pos) : chunk;
        ssize_t n = pread(rfd, buf, want, (off_t)pos);
        if (n <= 0) {
            rc = -1;
            break;
        }
        size_t start = 0;
        for (size_t i = 0; i < (size_t)n && rc == 0; i++) {
            if (buf[i] != '\n')
                continue;
            size_t mlen = i - start;
            if (mlen > 0) {
                RnBuf frame = {0};
                const uint8_t *msg = buf + start;
                if (t->cfg.transport == RN_AUDIT_TRANSPORT_TLS) {
                    /* RFC 5425 4.3: MSG-LEN SP SYSLOG-MSG */
                    if (rn_buf_printf(&frame, "%zu ", mlen) || rn_buf_append(&frame, msg, mlen))
                        rc = -1;
                    msg = frame.data;
                    mlen = frame.len;
                }
                if (rc == 0 && send_all(t, msg, mlen) != 0)
                    rc = -1;
                rn_buf_free(&frame);
                if (rc)
                    break;
            }
            start = i + 1;
            pthread_mutex_lock(&t->lock);
            t->cursor = pos + start;
            if (mlen > 0)
                t->sent++;
            pthread_cond_broadcast(&t->progress);
            pthread_mutex_unlock(&t->lock);
        }
        if (rc)
            break;
        if (start == 0) {
            if ((size_t)n < chunk)
                break; /* no complete line (cannot happen: appends are whole lines) */
            /* One message longer than the chunk: read it with a bigger buffer. */
            uint8_t *nb = rn_realloc(buf, chunk * 2);
            if (!nb) {
                rc = -1;
                break;
            }
            buf = nb;
            chunk *= 2;
            continue;
        }
        pos += start;
    }
    free(buf);
    return rc;
}

static void persist_cursor(RnAuditTrail *t, uint64_t cursor)
{
    char text[32];
    rn_format(text, sizeof text, "%llu\n", (unsigned long long)cursor);
    RnError err = {0};
    if (rn_file_write_atomic(t->cursor_path, text, strlen(text), !t->cfg.no_fsync, &err))
        rn_warn("audit: cannot save the delivery cursor: %s", err.message);
}

static void *sender_main(void *arg)
{
    RnAuditTrail *t = arg;
    /* SIGPIPE from a write to a closed TLS socket must not kill the node. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    int rfd = open(t->log_path, O_RDONLY | O_CLOEXEC);
    pthread_mutex_lock(&t->lock);
    while (!t->stop) {
        if (t->cursor >= t->log_size) {
            pthread_cond_wait(&t->wake, &t->lock);
            continue;
        }
        uint64_t from = t->cursor, end = t->log_size;
        pthread_mutex_unlock(&t->lock);
        int ok = -1;
        if (rfd < 0)
            rfd = open(t->log_path, O_RDONLY | O_CLOEXEC);
        if (!conn_alive(t)) {
            close_conn(t);
            open_conn(t);
        }
        if (t->sock >= 0 && rfd >= 0)
            ok = deliver(t, rfd, from, end);
        pthread_mutex_lock(&t->lock);
        uint64_t cur = t->cursor;
        pthread_mutex_unlock(&t->lock);
        if (cur != from)
            persist_cursor(t, cur);
        pthread_mutex_lock(&t->lock);
        if (ok != 0) {
            close_conn(t);
            /* Repository down: wait, interruptible by stop. */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            double when = (double)ts.tv_sec + ts.tv_nsec / 1e9 + t->cfg.retry_interval_s;
            ts.tv_sec = (time_t)when;
            ts.tv_nsec = (long)((when - (double)ts.tv_sec) * 1e9);
            while (!t->stop && pthread_cond_timedwait(&t->wake, &t->lock, &ts) != ETIMEDOUT)
                ;
        }
    }
    pthread_mutex_unlock(&t->lock);
    close_conn(t);
    if (rfd >= 0)
        close(rfd);
    return NULL;
}

void rn_audit_trail_destroy(RnAuditTrail *t)
{
    if (!t)
        return;
    if (t->thread_started) {
        pthread_mutex_lock(&t->lock);
        t->stop = true;
        pthread_cond_broadcast(&t->wake);
        pthread_mutex_unlock(&t->lock);
        pthread_join(t->thread, NULL);
    }
    if (t->log_fd >= 0)
        close(t->log_fd);
    if (t->ssl_ctx)
        SSL_CTX_free(t->ssl_ctx);
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->wake);
    pthread_cond_destroy(&t->progress);
    free(t->log_path);
    free(t->cursor_path);
    free(t->host);
    free(t->ca_file);
    free(t->cert_file);
    free(t->key_file);
    free(t->server_name);
    free(t->source_id);
    free(t->site_id);
    free(t->app_name);
    free(t);
}

static int setup_tls(RnAuditTrail *t, RnError *err)
{
    t->ssl_ctx = SSL_CTX_new(TLS_client_method());
    if (!t->ssl_ctx)
        return rn_error_set(err, RN_ERR_NOMEM, "SSL_CTX_new failed");
    /* BCP 195 as in PS3.15 B.12: TLS 1.2 or later. */
    SSL_CTX_set_min_proto_version(t->ssl_ctx, TLS1_2_VERSION);
    if (!t->ca_file)
        return rn_error_set(err, RN_ERR_INVALID, "audit over TLS needs a CA file");
    if (SSL_CTX_load_verify_locations(t->ssl_ctx, t->ca_file, NULL) != 1)
        return rn_error_set(err, RN_ERR_INVALID, "audit: cannot load CA file %s", t->ca_file);
    SSL_CTX_set_verify(t->ssl_ctx, SSL_VERIFY_PEER, NULL);
    if (t->cert_file) {
        if (SSL_CTX_use_certificate_chain_file(t->ssl_ctx, t->cert_file) != 1 ||
            SSL_CTX_use_PrivateKey_file(t->ssl_ctx, t->key_file ? t->key_file : t->cert_file,
                                        SSL_FILETYPE_PEM) != 1)
            return rn_error_set(err, RN_ERR_INVALID, "audit: cannot load client certificate %s",
                                t->cert_file);
    }
    return 0;
}

RnAuditTrail *rn_audit_trail_create(const RnAuditConfig *cfg, RnError *err)
{
    if (!cfg || !cfg->log_path || !cfg->source_id) {
        rn_error_set(err, RN_ERR_INVALID, "audit trail needs a log path and a source ID");
        return NULL;
    }
    if (cfg->transport != RN_AUDIT_TRANSPORT_NONE && !cfg->host) {
        rn_error_set(err, RN_ERR_INVALID, "audit transport needs a repository host");
        return NULL;
    }
    RnAuditTrail *t = rn_calloc(1, sizeof *t);
    if (!t) {
        rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    t->cfg = *cfg;
    t->log_fd = -1;
    t->sock = -1;
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->wake, NULL);
    pthread_cond_init(&t->progress, NULL);
    if (t->cfg.retry_interval_s <= 0)
        t->cfg.retry_interval_s = 5;
    if (t->cfg.io_timeout_s <= 0)
        t->cfg.io_timeout_s = 5;
    size_t lp = strlen(cfg->log_path);
    t->log_path = rn_strdup(cfg->log_path);
    t->cursor_path = rn_malloc(lp + 8);
    t->host = dup_or_null(cfg->host);
    t->ca_file = dup_or_null(cfg->ca_file);
    t->cert_file = dup_or_null(cfg->cert_file);
    t->key_file = dup_or_null(cfg->key_file);
    t->server_name = dup_or_null(cfg->server_name);
    t->source_id = rn_strdup(cfg->source_id);
    t->site_id = dup_or_null(cfg->site_id);
    t->app_name = rn_strdup(cfg->app_name ? cfg->app_name : "radnode");
    if (!t->log_path || !t->cursor_path || !t->source_id || !t->app_name) {
        rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        rn_audit_trail_destroy(t);
        return NULL;
    }
    memcpy(t->cursor_path, cfg->log_path, lp);
    memcpy(t->cursor_path + lp, ".cursor", 8);
    if (gethostname(t->hostname, sizeof t->hostname) != 0)
        rn_format(t->hostname, sizeof t->hostname, "-");
    t->hostname[sizeof t->hostname - 1] = '\0';
    t->log_fd = open(t->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    struct stat st;
    if (t->log_fd < 0 || fstat(t->log_fd, &st) != 0) {
        rn_error_set(err, RN_ERR_IO, "audit log %s: %s", t->log_path, strerror(errno));
        rn_audit_trail_destroy(t);
        return NULL;
    }
    t->log_size = (uint64_t)st.st_size;
    if (read_cursor(t->cursor_path, &t->cursor) != 0) {
        rn_error_set(err, RN_ERR_IO, "audit cursor %s: %s", t->cursor_path, strerror(errno));
        rn_audit_trail_destroy(t);
        return NULL;
    }
    if (t->cursor > t->log_size)
        t->cursor = t->log_size; /* log replaced: never skip what is there */
    if (cfg->transport == RN_AUDIT_TRANSPORT_NONE) {
        t->cursor = t->log_size;
        return t;
    }
    if (cfg->transport == RN_AUDIT_TRANSPORT_TLS && setup_tls(t, err)) {
        rn_audit_trail_destroy(t);
        return NULL;
    }
    if (pthread_create(&t->thread, NULL, sender_main, t) != 0) {
        rn_error_set(err, RN_ERR_NOMEM, "cannot start the audit sender thread");
        rn_audit_trail_destroy(t);
        return NULL;
    }
    t->thread_started = true;
    return t;
}

int rn_audit_trail_record(RnAuditTrail *t, const RnAuditEvent *ev, RnError *err)
{
    if (!t || !ev)
        return rn_error_set(err, RN_ERR_INVALID, "no audit trail or event");
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double now = (double)ts.tv_sec + ts.tv_nsec / 1e9;
    RnBuf xml = {0}, line = {0};
    int rc = rn_audit_message_xml(ev, t->source_id, t->site_id, now, &xml, err);
    if (!rc && rn_buf_append_byte(&xml, 0))
        rc = rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    if (!rc)
        rc = rn_audit_syslog_frame((const char *)xml.data, ev->outcome, t->hostname, t->app_name,
                                   now, &line, err);
    rn_buf_free(&xml);
    if (!rc && rn_buf_append_byte(&line, '\n'))
        rc = rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    if (rc) {
        rn_buf_free(&line);
        return rc;
    }
    pthread_mutex_lock(&t->lock);
    /* One write() per message on an O_APPEND fd: lines never interleave. */
    size_t off = 0;
    while (off < line.len && rc == 0) {
        ssize_t n = write(t->log_fd, line.data + off, line.len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            rc = rn_error_set(err, RN_ERR_IO, "audit log %s: %s", t->log_path, strerror(errno));
        else
            off += (size_t)n;
    }
    if (rc == 0 && !t->cfg.no_fsync && fdatasync(t->log_fd) != 0)
        rc = rn_error_set(err, RN_ERR_IO, "audit log %s: fsync: %s", t->log_path, strerror(errno));
    t->log_size += off;
    if (t->cfg.transport == RN_AUDIT_TRANSPORT_NONE)
        t->cursor = t->log_size;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    rn_buf_free(&line);
    return rc;
}

int rn_audit_trail_flush(RnAuditTrail *t, double timeout_s, RnError *err)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double when = (double)ts.tv_sec + ts.tv_nsec / 1e9 + timeout_s;
    ts.tv_sec = (time_t)when;
    ts.tv_nsec = (long)((when - (double)ts.tv_sec) * 1e9);
    pthread_mutex_lock(&t->lock);
    int rc = 0;
    pthread_cond_signal(&t->wake);
    while (t->cursor < t->log_size) {
        if (pthread_cond_timedwait(&t->progress, &t->lock, &ts) == ETIMEDOUT) {
            rc = rn_error_set(err, RN_ERR_TIMEOUT, "%llu bytes of audit log not delivered",
                              (unsigned long long)(t->log_size - t->cursor));
            break;
        }
    }
    pthread_mutex_unlock(&t->lock);
    return rc;
}

uint64_t rn_audit_trail_pending(RnAuditTrail *t)
{
    pthread_mutex_lock(&t->lock);
    uint64_t v = t->log_size - t->cursor;
    pthread_mutex_unlock(&t->lock);
    return v;
}

uint64_t rn_audit_trail_sent(RnAuditTrail *t)
{
    pthread_mutex_lock(&t->lock);
    uint64_t v = t->sent;
    pthread_mutex_unlock(&t->lock);
    return v;
}
