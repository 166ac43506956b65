/*
 * Audit trail per DICOM PS3.15 A.5 (Audit Trail Message Format Profile): the
 * XML audit messages of A.5.3 (application activity, begin transferring,
 * instances transferred, instances accessed, query, export, user
 * authentication, security alert)
 * and their transport as RFC 5424 syslog messages over TLS (RFC 5425,
 * octet-counting framing) or UDP (RFC 5426) to the hospital's audit
 * repository.
 *
 * Every message is first appended to a local append-only log (one syslog
 * message per line, fsync'd), which is also the send queue: a background
 * thread delivers the log from a persisted cursor, so a caller never waits on
 * the network, and messages written while the repository is down are sent
 * when it is back (and after a restart). The log holds real patient IDs and
 * names, as the standard intends; it is created with mode 0600.
 */
#ifndef RADNODE_AUDIT_H
#define RADNODE_AUDIT_H

#include "radnode/core.h"

typedef enum RnAuditEventKind {
    RN_AUDIT_APPLICATION_START = 0, /* 110100 Application Activity / 110120 Application Start */
    RN_AUDIT_APPLICATION_STOP,      /* 110100 / 110121 Application Stop */
    RN_AUDIT_BEGIN_TRANSFERRING,    /* 110102 Begin Transferring DICOM Instances */
    RN_AUDIT_INSTANCES_TRANSFERRED, /* 110104 DICOM Instances Transferred */
    RN_AUDIT_QUERY,                 /* 110112 Query */
    RN_AUDIT_EXPORT,                /* 110106 Export */
    RN_AUDIT_LOGIN,                 /* 110114 User Authentication / 110122 Login */
    RN_AUDIT_LOGOUT,                /* 110114 / 110123 Logout */
    RN_AUDIT_SECURITY_ALERT,        /* 110113 Security Alert (type given by the caller) */
    RN_AUDIT_INSTANCES_ACCESSED,    /* 110103 DICOM Instances Accessed (e.g. a study viewed) */
} RnAuditEventKind;

/* EventOutcomeIndicator (A.5.1) */
enum {
    RN_AUDIT_SUCCESS = 0,
    RN_AUDIT_MINOR_FAILURE = 4,
    RN_AUDIT_SERIOUS_FAILURE = 8,
    RN_AUDIT_MAJOR_FAILURE = 12,
};

/* Role of an active participant (PS3.16 CID 402). */
typedef enum RnAuditRole {
    RN_AUDIT_ROLE_NONE = 0,
    RN_AUDIT_ROLE_APPLICATION,          /* 110150 Application */
    RN_AUDIT_ROLE_APPLICATION_LAUNCHER, /* 110151 Application Launcher */
    RN_AUDIT_ROLE_DESTINATION,          /* 110152 Destination Role ID */
    RN_AUDIT_ROLE_SOURCE,               /* 110153 Source Role ID */
    RN_AUDIT_ROLE_DESTINATION_MEDIA,    /* 110154 Destination Media */
} RnAuditRole;

typedef struct RnAuditParticipant {
    const char *user_id;          /* AE title, user name or process name (required) */
    const char *alt_user_id;      /* e.g. process ID */
    const char *user_name;
    const char *network_address;  /* IP address or host name */
    bool is_requestor;
    RnAuditRole role;
} RnAuditParticipant;

typedef struct RnAuditStudy {
    const char *study_uid;
    const char *accession;        /* may be NULL */
    const char *sop_class_uid;    /* may be NULL */
    unsigned instances;
} RnAuditStudy;

#define RN_AUDIT_MAX_PARTICIPANTS 4
#define RN_AUDIT_MAX_STUDIES 8

typedef struct RnAuditEvent {
    RnAuditEventKind kind;
    int outcome;                  /* RN_AUDIT_SUCCESS ... */
    const char *outcome_description;
    char action;                  /* C R U D E; 0 = the usual one for the kind */
    /* Security Alert type (CID 403), e.g. "110126" "Node Authentication",
     * "110128" "Network Configuration", "110132" "Use of Restricted Function". */
    const char *alert_code;
    const char *alert_meaning;
    const char *alert_object;     /* what the alert is about (URI, AE title, user) */
    RnAuditParticipant participants[RN_AUDIT_MAX_PARTICIPANTS];
    size_t participant_count;
    RnAuditStudy studies[RN_AUDIT_MAX_STUDIES];
    size_t study_count;
    const char *patient_id;       /* real ID: the audit log is the place for it */
    const char *patient_name;
    /* Query: the query dataset bytes (base64-encoded into the message) and its SOP class. */
    const uint8_t *query;
    size_t query_len;
    const char *query_sop_class;
    const char *query_transfer_syntax; /* of the query bytes: ParticipantObjectDetail
                                          "TransferSyntax" (A.5.3.12); may be NULL */
} RnAuditEvent;

/* Builds the XML AuditMessage (one line, no newline). event_time: seconds
 * since the epoch (0 = now). */
int rn_audit_message_xml(const RnAuditEvent *ev, const char *source_id, const char *site_id,
                         double event_time, RnBuf *out, RnError *err);
/* Builds the RFC 5424 message: <PRI>1 TIMESTAMP HOST APP PROCID DICOM+RFC3881 - BOM xml;
 * facility authpriv (10), severity from the outcome (notice, warning, err, crit). */
int rn_audit_syslog_frame(const char *xml, int outcome, const char *hostname,
                          const char *app_name, double event_time, RnBuf *out, RnError *err);

/* ---- The audit trail writer ------------------------------------------------------- */
typedef enum RnAuditTransport {
    RN_AUDIT_TRANSPORT_NONE = 0, /* local log only */
    RN_AUDIT_TRANSPORT_UDP,      /* RFC 5426: best effort, no delivery feedback */
    RN_AUDIT_TRANSPORT_TLS,      /* RFC 5425 */
} RnAuditTransport;

typedef struct RnAuditConfig {
    const char *log_path;        /* required; the cursor lives in log_path + ".cursor" */
    RnAuditTransport transport;
    const char *host;            /* audit repository */
    unsigned port;               /* 0 = 6514 for TLS, 514 for UDP */
    const char *ca_file;         /* TLS: trusted CAs (required for TLS) */
    const char *cert_file;       /* TLS: client certificate (ATNA mutual authentication) */
    const char *key_file;
    const char *server_name;     /* TLS: name checked in the certificate; NULL = host */
    const char *source_id;       /* AuditSourceID, e.g. the node's AE title */
    const char *site_id;         /* AuditEnterpriseSiteID, may be NULL */
    const char *app_name;        /* syslog APP-NAME; NULL = "radnode" */
    double retry_interval_s;     /* 0 = 5 s */
    double io_timeout_s;         /* connect/send timeout; 0 = 5 s */
    bool no_fsync;               /* tests only: skip the fsync of each append */
} RnAuditConfig;

typedef struct RnAuditTrail RnAuditTrail;

RnAuditTrail *rn_audit_trail_create(const RnAuditConfig *cfg, RnError *err);
/* Stops the sender (waits at most the I/O timeout); undelivered messages stay in the log. */
void rn_audit_trail_destroy(RnAuditTrail *t);
/* Builds the message, appends it durably to the log and wakes the sender.
 * Never waits on the network. */
int rn_audit_trail_record(RnAuditTrail *t, const RnAuditEvent *ev, RnError *err);
/* Waits up to timeout_s for every logged message to be delivered; 0 when all
 * are, RN_ERR_TIMEOUT otherwise. */
int rn_audit_trail_flush(RnAuditTrail *t, double timeout_s, RnError *err);
/* Bytes of the log not yet delivered, and messages delivered since creation. */
uint64_t rn_audit_trail_pending(RnAuditTrail *t);
uint64_t rn_audit_trail_sent(RnAuditTrail *t);

#endif
