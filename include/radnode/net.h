/*
 * radnode DICOM networking: the Upper Layer protocol of PS3.8 (PDUs of 9.3,
 * the state machine of 9.2 with its ARTIM timer, association negotiation of
 * 7.1 and Annex D), DIMSE message exchange of PS3.7 (command sets in implicit
 * VR little endian, 6.3 and 9-10), the SCP server and SCU client built on
 * them, and DICOM TLS (PS3.15 B.12) over OpenSSL.
 *
 * Layers, bottom up:
 *   RnConn        a byte stream (plain TCP or TLS) behind a small vtable;
 *   RnPdu*        encode/parse of the seven PDU types and their items;
 *   RnUlFsm       the PS3.8 state table (Table 9-10);
 *   RnAssoc       one association: negotiation, P-DATA fragmentation and
 *                 reassembly within the negotiated maximum PDU length;
 *   RnDimse*      DIMSE commands and data sets on an association;
 *   RnScp / rn_scu_*  the server (bounded thread pool, one association per
 *                 thread) and the client operations.
 *
 * Ownership: _create/_destroy pairs, destroy(NULL) is a no-op. DIMSE
 * statuses are data (uint16_t), never errors.
 */
#ifndef RADNODE_NET_H
#define RADNODE_NET_H

#include "radnode/core.h"
#include "radnode/dicom.h"

#include <sys/types.h>

/* ---- Limits and defaults ----------------------------------------------------- */
#define RN_AE_MAX 16                  /* AE titles are 16 characters (PS3.5 6.2 AE) */
#define RN_NET_UID_MAX 64             /* UIDs are at most 64 characters */
#define RN_PC_MAX 128                 /* odd presentation context IDs 1..255 */
#define RN_PC_TS_MAX 32               /* transfer syntaxes kept per proposed context */
#define RN_ROLE_MAX 128
#define RN_EXTNEG_MAX 64
#define RN_EXTNEG_INFO_MAX 64
#define RN_PDU_DEFAULT_MAX 262144     /* maximum P-DATA-TF length we announce */
#define RN_PDU_MIN 4096               /* smallest P-DATA-TF we accept to produce */
#define RN_PDU_ASSOC_MAX (1u << 20)   /* bound on an A-ASSOCIATE-RQ/AC body */
#define RN_COMMAND_MAX 65536          /* bound on a reassembled DIMSE command set */

#define RN_UID_APPLICATION_CONTEXT "1.2.840.10008.3.1.1.1"

/* ---- Transport ----------------------------------------------------------------
 * A connection is a blocking socket with a timeout for every read and write.
 * Plain TCP and TLS implement the same operations (a vtable, as in Redis'
 * connection.c), so everything above is transport-agnostic. */
typedef struct RnConn RnConn;

typedef struct RnTlsConfig {
    const char *cert_file; /* PEM certificate (chain) of this node; required for a server */
    const char *key_file;  /* PEM private key */
    const char *ca_file;   /* PEM trust anchors for the peer's certificate */
    bool verify_peer;      /* require and verify the peer's certificate (mutual authentication) */
    const char *ciphers;   /* OpenSSL cipher list for TLS 1.2; NULL = BCP 195 defaults */
} RnTlsConfig;

typedef struct RnTlsContext RnTlsContext;
/* server true: an acceptor context (needs cert and key). */
RnTlsContext *rn_tls_context_create(const RnTlsConfig *cfg, bool server, RnError *err);
void rn_tls_context_destroy(RnTlsContext *ctx);

/* Opens a TCP connection (TLS handshake when tls != NULL). timeout_ms bounds the
 * connect and every later read/write; 0 = no timeout. */
RnConn *rn_conn_connect(const char *host, int port, RnTlsContext *tls, int timeout_ms,
                        RnError *err);
/* Wraps an accepted socket (takes ownership of fd, also on failure). */
RnConn *rn_conn_accept_take(int fd, RnTlsContext *tls, int timeout_ms, RnError *err);
void rn_conn_destroy(RnConn *c);
void rn_conn_set_timeout(RnConn *c, int timeout_ms);
/* Reads exactly len bytes. RN_ERR_TIMEOUT on timeout, RN_ERR_TRUNCATED on EOF. */
int rn_conn_read_full(RnConn *c, void *buf, size_t len, RnError *err);
int rn_conn_write_all(RnConn *c, const void *buf, size_t len, RnError *err);
const char *rn_conn_peer(const RnConn *c);   /* "address:port" */
const char *rn_conn_peer_address(const RnConn *c); /* "address" */
bool rn_conn_is_tls(const RnConn *c);

/* ---- PDUs (PS3.8 9.3) ----------------------------------------------------------- */
enum {
    RN_PDU_ASSOCIATE_RQ = 0x01,
    RN_PDU_ASSOCIATE_AC = 0x02,
    RN_PDU_ASSOCIATE_RJ = 0x03,
    RN_PDU_P_DATA_TF = 0x04,
    RN_PDU_RELEASE_RQ = 0x05,
    RN_PDU_RELEASE_RP = 0x06,
    RN_PDU_ABORT = 0x07,
};

/* Presentation context results (PS3.8 9.3.3.2). */
enum {
    RN_PC_ACCEPTANCE = 0,
    RN_PC_USER_REJECTION = 1,
    RN_PC_NO_REASON = 2,
    RN_PC_ABSTRACT_SYNTAX_NOT_SUPPORTED = 3,
    RN_PC_TRANSFER_SYNTAXES_NOT_SUPPORTED = 4,
};

typedef struct RnPresentationContext {
    uint8_t id;     /* odd, 1..255 */
    uint8_t result; /* in an AC */
    char abstract_syntax[RN_NET_UID_MAX + 1]; /* empty in an AC */
    char transfer_syntaxes[RN_PC_TS_MAX][RN_NET_UID_MAX + 1];
    size_t ts_count; /* proposed (RQ) or the one accepted (AC: 1) */
    /* Role selection as negotiated for this context's abstract syntax. */
    bool scu_role, scp_role;
} RnPresentationContext;

typedef struct RnRoleSelection {
    char sop_class[RN_NET_UID_MAX + 1];
    uint8_t scu_role, scp_role;
} RnRoleSelection;

typedef struct RnExtendedNegotiation {
    char sop_class[RN_NET_UID_MAX + 1];
    uint8_t info[RN_EXTNEG_INFO_MAX];
    uint16_t info_len;
} RnExtendedNegotiation;

/* User identity negotiation (PS3.7 D.3.3.7). */
enum {
    RN_IDENTITY_USERNAME = 1,
    RN_IDENTITY_USERNAME_PASSCODE = 2,
    RN_IDENTITY_KERBEROS = 3,
    RN_IDENTITY_SAML = 4,
    RN_IDENTITY_JWT = 5,
};

/* Everything an A-ASSOCIATE-RQ or -AC carries (PS3.8 9.3.2, 9.3.3, Annex D).
 * Zero-initialise, fill, and release with rn_assoc_params_clear. */
typedef struct RnAssocParams {
    uint16_t protocol_version;
    char called_ae[RN_AE_MAX + 1];
    char calling_ae[RN_AE_MAX + 1];
    char application_context[RN_NET_UID_MAX + 1];
    RnPresentationContext *contexts; /* owned; context_count entries */
    size_t context_count;
    uint32_t max_pdu_length; /* 0 = unlimited */
    char implementation_class_uid[RN_NET_UID_MAX + 1];
    char implementation_version[RN_AE_MAX + 1];
    bool has_async_window;
    uint16_t max_ops_invoked, max_ops_performed;
    RnRoleSelection roles[RN_ROLE_MAX];
    size_t role_count;
    RnExtendedNegotiation extneg[RN_EXTNEG_MAX];
    size_t extneg_count;
    /* User identity: RQ fields, and the AC server response. */
    bool has_identity;
    uint8_t identity_type;
    bool identity_response_requested;
    uint8_t *identity_primary; /* owned */
    uint16_t identity_primary_len;
    uint8_t *identity_secondary; /* owned */
    uint16_t identity_secondary_len;
    bool has_identity_response;
    uint8_t *identity_response; /* owned */
    uint16_t identity_response_len;
} RnAssocParams;

void rn_assoc_params_clear(RnAssocParams *p);
/* Appends a presentation context proposing ts_count transfer syntaxes; the id
 * is chosen (next odd number). Returns the id, or negative on error. */
int rn_assoc_params_add_context(RnAssocParams *p, const char *abstract_syntax,
                                const char *const *ts, size_t ts_count, RnError *err);
int rn_assoc_params_add_role(RnAssocParams *p, const char *sop_class, bool scu, bool scp,
                             RnError *err);
const RnPresentationContext *rn_assoc_params_context(const RnAssocParams *p, uint8_t id);

/* A-ASSOCIATE-RJ (PS3.8 9.3.4) and A-ABORT (9.3.8) fields. */
typedef struct RnAssocReject {
    uint8_t result; /* 1 permanent, 2 transient */
    uint8_t source; /* 1 service-user, 2 provider (ACSE), 3 provider (presentation) */
    uint8_t reason;
} RnAssocReject;

typedef struct RnAbort {
    uint8_t source; /* 0 service-user, 2 service-provider */
    uint8_t reason;
} RnAbort;

/* One presentation data value of a P-DATA-TF (PS3.8 9.3.5.1, Annex E). */
typedef struct RnPdv {
    uint8_t pc_id;
    bool command; /* message control header bit 0 */
    bool last;    /* bit 1 */
    const uint8_t *data; /* borrowed from the PDU */
    size_t len;
} RnPdv;

/* Encoders append a whole PDU (6-byte header included) to out. */
int rn_pdu_encode_associate(uint8_t type, const RnAssocParams *p, RnBuf *out, RnError *err);
int rn_pdu_encode_reject(const RnAssocReject *rj, RnBuf *out, RnError *err);
int rn_pdu_encode_abort(const RnAbort *ab, RnBuf *out, RnError *err);
int rn_pdu_encode_release(uint8_t type, RnBuf *out, RnError *err);
/* Parsers take the PDU body (after the 6-byte header) and never read past len. */
int rn_pdu_parse_associate(uint8_t type, const uint8_t *body, size_t len, RnAssocParams *out,
                           RnError *err);
int rn_pdu_parse_reject(const uint8_t *body, size_t len, RnAssocReject *out, RnError *err);
int rn_pdu_parse_abort(const uint8_t *body, size_t len, RnAbort *out, RnError *err);
/* Iterates the PDVs of a P-DATA-TF body: *pos starts at 0. Returns 1 with a
 * PDV, 0 at the end, negative if malformed. */
int rn_pdu_next_pdv(const uint8_t *body, size_t len, size_t *pos, RnPdv *out, RnError *err);
const char *rn_pdu_type_name(uint8_t type);
const char *rn_reject_reason_str(const RnAssocReject *rj);

/* ---- Upper Layer state machine (PS3.8 9.2, Table 9-10) ------------------------ */
typedef enum RnUlState {
    RN_STA1 = 1, RN_STA2, RN_STA3, RN_STA4, RN_STA5, RN_STA6, RN_STA7,
    RN_STA8, RN_STA9, RN_STA10, RN_STA11, RN_STA12, RN_STA13,
} RnUlState;

typedef enum RnUlEvent {
    RN_EVT1 = 1, /* A-ASSOCIATE request (local user) */
    RN_EVT2,     /* transport connect confirmation */
    RN_EVT3,     /* A-ASSOCIATE-AC PDU received */
    RN_EVT4,     /* A-ASSOCIATE-RJ PDU received */
    RN_EVT5,     /* transport connection indication */
    RN_EVT6,     /* A-ASSOCIATE-RQ PDU received */
    RN_EVT7,     /* A-ASSOCIATE response (accept) */
    RN_EVT8,     /* A-ASSOCIATE response (reject) */
    RN_EVT9,     /* P-DATA request */
    RN_EVT10,    /* P-DATA-TF PDU received */
    RN_EVT11,    /* A-RELEASE request */
    RN_EVT12,    /* A-RELEASE-RQ PDU received */
    RN_EVT13,    /* A-RELEASE-RP PDU received */
    RN_EVT14,    /* A-RELEASE response */
    RN_EVT15,    /* A-ABORT request */
    RN_EVT16,    /* A-ABORT PDU received */
    RN_EVT17,    /* transport connection closed */
    RN_EVT18,    /* ARTIM timer expired */
    RN_EVT19,    /* unrecognized or invalid PDU received */
} RnUlEvent;

typedef enum RnUlAction {
    RN_ACT_INVALID = 0, /* no entry in the table: treated as a protocol error */
    RN_AE1, RN_AE2, RN_AE3, RN_AE4, RN_AE5, RN_AE6, RN_AE7, RN_AE8,
    RN_DT1, RN_DT2,
    RN_AR1, RN_AR2, RN_AR3, RN_AR4, RN_AR5, RN_AR6, RN_AR7, RN_AR8, RN_AR9, RN_AR10,
    RN_AA1, RN_AA2, RN_AA3, RN_AA4, RN_AA5, RN_AA6, RN_AA7, RN_AA8,
} RnUlAction;

typedef struct RnUlFsm {
    RnUlState state;
    bool requestor;      /* this side sent the A-ASSOCIATE-RQ (decides AR-8) */
    bool artim_running;
    double artim_deadline; /* rn_time_now() based */
    double artim_timeout_s;
} RnUlFsm;

void rn_ul_fsm_init(RnUlFsm *fsm, bool requestor, double artim_timeout_s);
/* The action of Table 9-10 for (state, event); RN_ACT_INVALID if none. */
RnUlAction rn_ul_fsm_lookup(RnUlState state, RnUlEvent event);
/* Applies an event: returns its action and moves to the next state (AE-6 and
 * AR-8 depend on a decision: pass accept for AE-6; AR-8 uses fsm->requestor).
 * ARTIM is started/stopped as the action says. */
RnUlAction rn_ul_fsm_step(RnUlFsm *fsm, RnUlEvent event, bool accept);
const char *rn_ul_action_name(RnUlAction a);
/* Maps a received PDU type to its event (Evt19 for unknown types). */
RnUlEvent rn_ul_event_for_pdu(uint8_t type);

/* ---- Association ------------------------------------------------------------------ */
typedef struct RnAssoc RnAssoc;

typedef struct RnAssocTimeouts {
    int artim_ms;   /* ARTIM: waiting for A-ASSOCIATE-RQ / release close (default 30 s) */
    int dimse_ms;   /* waiting for the next DIMSE message (default 60 s, 0 = none) */
    int network_ms; /* connect and each read/write within a PDU (default 30 s) */
} RnAssocTimeouts;

/* Outcome codes beyond RnError for association-level events. */
enum {
    RN_ASSOC_RELEASED = 1, /* peer released: the association is over */
    RN_ASSOC_ABORTED = 2,  /* peer aborted, or the provider aborted */
};

typedef struct RnScuOptions {
    const char *host;
    int port;
    const char *calling_ae;  /* default "RADNODE" */
    const char *called_ae;   /* default "ANY-SCP" */
    uint32_t max_pdu_length; /* we receive; default RN_PDU_DEFAULT_MAX */
    RnAssocTimeouts timeouts;
    RnTlsContext *tls;       /* NULL = plain TCP */
} RnScuOptions;

/* Requests an association with the proposed contexts (and roles, identity...)
 * of proposal; the AE titles, max PDU and implementation items are filled in
 * from opt. On an A-ASSOCIATE-RJ returns NULL with RN_ERR_NET and the reason. */
RnAssoc *rn_assoc_request(const RnScuOptions *opt, const RnAssocParams *proposal,
                          RnAssocReject *reject, RnError *err);
/* Orderly release (A-RELEASE-RQ/RP) and destroy. */
int rn_assoc_release(RnAssoc *a, RnError *err);
/* A-ABORT (service-user) and destroy. */
void rn_assoc_abort(RnAssoc *a);
/* Closes without any PDU (after release/abort completed). */
void rn_assoc_destroy(RnAssoc *a);

/* Negotiated values. */
const RnAssocParams *rn_assoc_request_params(const RnAssoc *a);
const RnAssocParams *rn_assoc_accepted_params(const RnAssoc *a);
/* The id of an accepted context for abstract syntax (preferring transfer syntax ts
 * when given), 0 if none. */
uint8_t rn_assoc_find_context(const RnAssoc *a, const char *abstract_syntax, const char *ts);
/* Accepted transfer syntax and abstract syntax of a context id (NULL if not accepted). */
const char *rn_assoc_context_ts(const RnAssoc *a, uint8_t pc_id);
const char *rn_assoc_context_abstract(const RnAssoc *a, uint8_t pc_id);
RnUlState rn_assoc_state(const RnAssoc *a);
RnConn *rn_assoc_conn(RnAssoc *a);
uint32_t rn_assoc_peer_max_pdu(const RnAssoc *a);

/* Sends one message fragment stream: data split into PDVs so that each
 * P-DATA-TF stays within the peer's maximum PDU length (PS3.8 9.3.5).
 * last marks the final fragment of the command or data set. */
int rn_assoc_send_pdv(RnAssoc *a, uint8_t pc_id, bool command, const uint8_t *data, size_t len,
                      bool last, RnError *err);

/* Receives the next PDV (reading P-DATA-TF PDUs as needed). Returns 0 with a
 * PDV borrowed until the next call, RN_ASSOC_RELEASED after a peer
 * A-RELEASE-RQ (answered with -RP), RN_ASSOC_ABORTED after an A-ABORT (or a
 * protocol error, which sends one), negative on error/timeout. timeout_ms < 0
 * uses the network timeout. */
int rn_assoc_recv_pdv(RnAssoc *a, RnPdv *pdv, int timeout_ms, RnError *err);

/* ---- DIMSE (PS3.7) ---------------------------------------------------------------- */
enum {
    RN_DIMSE_C_STORE_RQ = 0x0001, RN_DIMSE_C_STORE_RSP = 0x8001,
    RN_DIMSE_C_GET_RQ = 0x0010, RN_DIMSE_C_GET_RSP = 0x8010,
    RN_DIMSE_C_FIND_RQ = 0x0020, RN_DIMSE_C_FIND_RSP = 0x8020,
    RN_DIMSE_C_MOVE_RQ = 0x0021, RN_DIMSE_C_MOVE_RSP = 0x8021,
    RN_DIMSE_C_ECHO_RQ = 0x0030, RN_DIMSE_C_ECHO_RSP = 0x8030,
    RN_DIMSE_C_CANCEL_RQ = 0x0FFF,
};
#define RN_DIMSE_NO_DATASET 0x0101
#define RN_DIMSE_PRIORITY_MEDIUM 0x0000

/* Statuses (PS3.7 Annex C) are data. */
enum {
    RN_STATUS_SUCCESS = 0x0000,
    RN_STATUS_CANCEL = 0xFE00,
    RN_STATUS_PENDING = 0xFF00,
    RN_STATUS_PENDING_WARNING = 0xFF01,
    RN_STATUS_SOP_CLASS_NOT_SUPPORTED = 0x0122,
    RN_STATUS_OUT_OF_RESOURCES = 0xA700,
    RN_STATUS_MOVE_OUT_OF_RESOURCES_SUBOPS = 0xA702,
    RN_STATUS_MOVE_DESTINATION_UNKNOWN = 0xA801,
    RN_STATUS_DATASET_MISMATCH = 0xA900,
    RN_STATUS_IDENTIFIER_MISMATCH = 0xA900, /* C-FIND/MOVE/GET (PS3.4 C.4.1.1.4) */
    RN_STATUS_CANNOT_UNDERSTAND = 0xC000,
    RN_STATUS_SUBOPS_WARNING = 0xB000,
    RN_STATUS_PROCESSING_FAILURE = 0x0110,
    RN_STATUS_UNRECOGNIZED_OPERATION = 0x0211,
};
/* "success", "pending", "warning", "cancel", "failure". */
const char *rn_dimse_status_category(uint16_t status);

/* Presence bits of RnDimseCommand fields. */
enum {
    RN_CMD_AFFECTED_SOP_CLASS = 1u << 0,
    RN_CMD_REQUESTED_SOP_CLASS = 1u << 1,
    RN_CMD_MESSAGE_ID = 1u << 2,
    RN_CMD_MESSAGE_ID_RESPONDED = 1u << 3,
    RN_CMD_MOVE_DESTINATION = 1u << 4,
    RN_CMD_PRIORITY = 1u << 5,
    RN_CMD_STATUS = 1u << 6,
    RN_CMD_ERROR_COMMENT = 1u << 7,
    RN_CMD_AFFECTED_SOP_INSTANCE = 1u << 8,
    RN_CMD_REQUESTED_SOP_INSTANCE = 1u << 9,
    RN_CMD_SUBOP_COUNTS = 1u << 10, /* the four (0000,102x) elements */
    RN_CMD_MOVE_ORIGINATOR = 1u << 11,
    RN_CMD_ERROR_ID = 1u << 12,
    RN_CMD_OFFENDING_ELEMENT = 1u << 13,
};

/* A command set (PS3.7 Annex E): the fields radnode uses, with presence bits. */
typedef struct RnDimseCommand {
    uint32_t present;
    uint16_t command_field;
    uint16_t message_id;
    uint16_t message_id_responded;
    uint16_t data_set_type; /* RN_DIMSE_NO_DATASET or anything else = present */
    uint16_t priority;
    uint16_t status;
    uint16_t error_id;
    uint32_t offending_element;
    char affected_sop_class[RN_NET_UID_MAX + 1];
    char requested_sop_class[RN_NET_UID_MAX + 1];
    char affected_sop_instance[RN_NET_UID_MAX + 1];
    char requested_sop_instance[RN_NET_UID_MAX + 1];
    char move_destination[RN_AE_MAX + 1];
    char move_originator_ae[RN_AE_MAX + 1];
    uint16_t move_originator_id;
    uint16_t remaining, completed, failed, warning;
    char error_comment[65];
} RnDimseCommand;

bool rn_dimse_has_dataset(const RnDimseCommand *cmd);
/* Encodes with the (0000,0000) group length, implicit VR LE (PS3.7 6.3.1). */
int rn_dimse_command_encode(const RnDimseCommand *cmd, RnBuf *out, RnError *err);
int rn_dimse_command_decode(const uint8_t *data, size_t len, RnDimseCommand *out, RnError *err);
const char *rn_dimse_command_name(uint16_t command_field);

/* Receives the next command set. *pc_id is its presentation context. Returns 0,
 * RN_ASSOC_RELEASED, RN_ASSOC_ABORTED or negative. */
int rn_dimse_recv_command(RnAssoc *a, RnDimseCommand *cmd, uint8_t *pc_id, int timeout_ms,
                          RnError *err);
/* Streams the data set that follows a command to sink, fragment by fragment
 * (memory bounded by the PDU length). A sink error stops consuming but the rest
 * of the data set is still drained so the association stays usable; the sink's
 * error is returned. */
typedef int (*RnDataSink)(void *ctx, const uint8_t *data, size_t len, RnError *err);
int rn_dimse_recv_dataset(RnAssoc *a, uint8_t pc_id, RnDataSink sink, void *ctx, RnError *err);
/* Convenience: into a buffer bounded by max_len. */
int rn_dimse_recv_dataset_buf(RnAssoc *a, uint8_t pc_id, RnBuf *out, size_t max_len,
                              RnError *err);
int rn_dimse_send_command(RnAssoc *a, uint8_t pc_id, const RnDimseCommand *cmd, RnError *err);
int rn_dimse_send_dataset(RnAssoc *a, uint8_t pc_id, const uint8_t *data, size_t len,
                          RnError *err);
/* Streams a data set from a source that fills buf and returns the bytes read
 * (0 at the end, negative on error). */
typedef ssize_t (*RnDataSource)(void *ctx, uint8_t *buf, size_t cap, RnError *err);
int rn_dimse_send_dataset_stream(RnAssoc *a, uint8_t pc_id, RnDataSource src, void *ctx,
                                 RnError *err);
/* Message IDs for requests on this association. */
uint16_t rn_assoc_next_message_id(RnAssoc *a);

/* ---- Storage helpers (PS3.4 Annex B, PS3.10 7.1) ---------------------------------- */
/* Storage SOP classes of the UID registry (type "SOP Class", name containing
 * "Storage"); rn_net_storage_class_at iterates, NULL past the end. Falls back to a
 * built-in list of the common ones when the registry is not linked in. */
const char *rn_net_storage_class_at(size_t index);
bool rn_net_is_storage_class(const char *uid);
/* Transfer syntaxes radnode accepts, in preference order (uncompressed first). */
const char *rn_net_transfer_syntax_at(size_t index);

/* What a Part 10 file is, read from its meta (group 0002) alone. */
typedef struct RnFileProbe {
    char sop_class[RN_NET_UID_MAX + 1];
    char sop_instance[RN_NET_UID_MAX + 1];
    char transfer_syntax[RN_NET_UID_MAX + 1];
    uint64_t dataset_offset; /* first byte after the meta */
    uint64_t file_size;
} RnFileProbe;
int rn_net_probe_file(const char *path, RnFileProbe *out, RnError *err);

/* Writes the Part 10 preamble and meta (PS3.10 7.1) into out. */
int rn_net_part10_header(const char *sop_class, const char *sop_instance, const char *ts,
                         const char *source_ae, RnBuf *out, RnError *err);

/* ---- SCP server -------------------------------------------------------------------- */
typedef struct RnScp RnScp;

/* An incoming C-STORE as the store handler sees it. */
typedef struct RnStoreRequest {
    const char *calling_ae;
    const char *called_ae;
    const char *peer;
    const char *sop_class;
    const char *sop_instance;
    const char *transfer_syntax;
    uint16_t message_id;
    const char *move_originator_ae; /* NULL unless a C-MOVE sub-operation */
    void *assoc_user;               /* RnScpConfig.on_event's value for this association */
} RnStoreRequest;

/* Consumer of received instances: begin, then data chunks in order, then end
 * with complete=false when the transfer failed (the consumer discards). end
 * returns the DIMSE status to answer. */
typedef struct RnStoreHandler {
    int (*begin)(void *user, const RnStoreRequest *rq, void **instance, RnError *err);
    int (*data)(void *instance, const uint8_t *data, size_t len, RnError *err);
    uint16_t (*end)(void *instance, bool complete, char *comment, size_t comment_size);
    void *user;
} RnStoreHandler;

/* C-FIND SCP hook: called once per request with the identifier (bytes in the
 * context's transfer syntax); it calls rn_scp_find_respond for each match
 * (identifier bytes, same transfer syntax) and returns the final status. */
typedef struct RnFindResponder RnFindResponder;
typedef struct RnFindRequest {
    const char *calling_ae;
    const char *sop_class; /* information model */
    const char *transfer_syntax;
    const uint8_t *identifier;
    size_t identifier_len;
} RnFindRequest;
typedef uint16_t (*RnFindHandler)(void *user, const RnFindRequest *rq, RnFindResponder *r);
/* Sends one pending response; returns 1 if the SCU cancelled (stop matching),
 * 0 to go on, negative on error. */
int rn_scp_find_respond(RnFindResponder *r, const uint8_t *identifier, size_t len, RnError *err);

/* ---- Query/Retrieve SCP (PS3.4 C.4, PS3.7 9.1.2-9.1.4) --------------------------------
 * The SCP receives and parses the identifier, checks the information model
 * and the Query/Retrieve Level (failures answered with 0xA900 / 0xC000), and
 * asks a provider for matches (C-FIND) or for the instances to send
 * (C-MOVE, C-GET); it runs the C-STORE sub-operations itself (on a new
 * association to the move destination, or on the same association for
 * C-GET with the contexts and SCP role the SCU proposed), sends pending
 * responses with the sub-operation counts, honours C-CANCEL and reports
 * failed instances in the Failed SOP Instance UID List. */
typedef struct RnQrRequest {
    const char *calling_ae;
    const char *called_ae;
    const char *peer;
    uint16_t command_field;       /* RN_DIMSE_C_FIND_RQ, _C_MOVE_RQ or _C_GET_RQ */
    const char *sop_class;        /* the information model */
    bool patient_root;            /* else Study Root */
    const char *level;            /* "PATIENT", "STUDY", "SERIES" or "IMAGE", valid for the model */
    const RnDataset *identifier;  /* parsed; borrowed for the call */
    const char *move_destination; /* C-MOVE only */
    /* The identifier as received (bytes in transfer_syntax), e.g. for a
     * PS3.15 A.5.3.12 Query audit message; borrowed for the call. */
    const uint8_t *identifier_bytes;
    size_t identifier_len;
    const char *transfer_syntax;
    void *assoc_user;             /* RnScpConfig.on_event's value for this association */
} RnQrRequest;

typedef struct RnQrResponder RnQrResponder;
/* C-FIND: sends one pending response carrying match. Returns 1 when the SCU
 * cancelled (stop matching), 0 to go on, negative on error. */
int rn_qr_send_match(RnQrResponder *r, const RnDataset *match, RnError *err);
/* C-MOVE/C-GET: one Part 10 file to send as a sub-operation. */
int rn_qr_add_instance(RnQrResponder *r, const char *path, const char *sop_class,
                       const char *sop_instance, const char *transfer_syntax, RnError *err);

/* Where a C-MOVE destination listens. */
typedef struct RnQrDestination {
    char host[256];
    int port;
    RnTlsContext *tls; /* borrowed; NULL = plain TCP */
} RnQrDestination;

typedef struct RnQrProvider {
    /* C-FIND: rn_qr_send_match per match; returns the final status
     * (0x0000, or a failure with a comment). NULL = no C-FIND SCP. */
    uint16_t (*find)(void *user, const RnQrRequest *rq, RnQrResponder *r, char *comment,
                     size_t comment_size);
    /* C-MOVE/C-GET: rn_qr_add_instance per instance; returns 0x0000 or a
     * failure status. NULL = no C-MOVE/C-GET SCP. */
    uint16_t (*retrieve)(void *user, const RnQrRequest *rq, RnQrResponder *r, char *comment,
                         size_t comment_size);
    /* C-MOVE: the address of a known AE title; false = unknown (0xA801).
     * NULL = no C-MOVE SCP. */
    bool (*destination)(void *user, const char *ae_title, RnQrDestination *out);
    void *user;
} RnQrProvider;

/* What happened on the SCP, for an observer such as an audit trail (the SCP
 * knows nothing of what is done with it). Strings are borrowed for the call. */
typedef enum RnScpEventKind {
    RN_SCP_EVENT_ACCEPTED = 1, /* an association was accepted (A-ASSOCIATE-AC sent) */
    RN_SCP_EVENT_REFUSED,      /* a connection or association was refused: address not
                                  allowed, calling or called AE title, TLS handshake, protocol */
    RN_SCP_EVENT_ENDED,        /* an accepted association is over (released or aborted) */
    RN_SCP_EVENT_RETRIEVE_DONE, /* the C-STORE sub-operations of a C-MOVE/C-GET finished */
} RnScpEventKind;

typedef struct RnScpEvent {
    RnScpEventKind kind;
    const char *peer;         /* "address:port" */
    const char *peer_address; /* numeric address */
    const char *calling_ae;   /* "" when no A-ASSOCIATE-RQ was read */
    const char *called_ae;
    bool tls;                 /* the connection is TLS */
    void *assoc_user;         /* ENDED, RETRIEVE_DONE: what on_event returned for ACCEPTED */
    /* REFUSED: why, in words ("calling AE title not recognized", ...). */
    const char *reason;
    /* ENDED: how, and what was done on the association. */
    bool aborted;
    uint64_t stored, store_failures, echoes, finds, moves, gets;
    /* RETRIEVE_DONE */
    uint16_t command_field;          /* RN_DIMSE_C_MOVE_RQ or RN_DIMSE_C_GET_RQ */
    const char *move_destination;    /* C-MOVE: AE title; NULL for C-GET */
    const char *destination_address; /* C-MOVE: host of the destination; NULL for C-GET */
    unsigned completed, failed, warning;
    bool cancelled;
} RnScpEvent;

/* Called on the association's own thread: must not block. For ACCEPTED the
 * value returned becomes the association's assoc_user (in RnStoreRequest,
 * RnQrRequest and its later events, ENDED last); other kinds ignore it. */
typedef void *(*RnScpEventFn)(void *user, const RnScpEvent *ev);

/* Presentation context policy and access control. */
typedef struct RnScpConfig {
    const char *ae_title;        /* our AE title (default "RADNODE") */
    const char *bind_address;    /* default "0.0.0.0" */
    int port;                    /* 0 = ephemeral (see rn_scp_port) */
    int max_associations;        /* worker threads (default 32) */
    int max_pending;             /* accepted connections queued for a worker (default 256) */
    uint32_t max_pdu_length;     /* we receive (default RN_PDU_DEFAULT_MAX) */
    RnAssocTimeouts timeouts;
    bool require_called_ae;      /* reject RQs whose called AE is not ae_title */
    const char *const *allowed_calling_aes; /* NULL-terminated; NULL = any */
    const char *const *allowed_hosts;       /* NULL-terminated numeric addresses; NULL = any */
    /* Abstract syntaxes accepted; NULL = Verification + every storage class
     * (+ the C-FIND models when find is set). */
    const char *const *abstract_syntaxes;
    bool accept_any_abstract;    /* catch-all: any abstract syntax with a known TS */
    /* Transfer syntaxes in preference order; NULL = rn_net_transfer_syntax_at. */
    const char *const *transfer_syntaxes;
    RnTlsContext *tls;           /* borrowed; NULL = plain TCP */
    RnStoreHandler store;        /* NULL begin = C-STORE answered with 0x0122... */
    RnFindHandler find;          /* NULL = no C-FIND SCP (unless qr.find) */
    void *find_user;
    RnQrProvider qr;             /* Query/Retrieve SCP; takes precedence over find */
    RnScpEventFn on_event;       /* NULL = no observer */
    void *event_user;
} RnScpConfig;

/* Binds and starts the listener and the pool (non-blocking call). */
RnScp *rn_scp_start(const RnScpConfig *cfg, RnError *err);
int rn_scp_port(const RnScp *s);
/* Stops accepting, lets running associations finish (bounded by their
 * timeouts), joins every thread and frees the server. */
void rn_scp_stop(RnScp *s);
/* Counters for tests and the node's status page. */
typedef struct RnScpStats {
    uint64_t associations, rejected, aborted, stored, store_failures, echoes, finds;
    int active;
    uint64_t moves, gets; /* C-MOVE and C-GET requests served */
} RnScpStats;
void rn_scp_stats(RnScp *s, RnScpStats *out);

/* Serves one association on an accepted connection (used by the pool; exposed
 * for tests and fuzzing). Takes ownership of conn. */
void rn_scp_serve_conn(const RnScpConfig *cfg, RnConn *conn, RnScpStats *stats);

/* A store handler writing Part 10 files to dir/<SOPInstanceUID>.dcm: the data
 * set streams into a temp file that is fsync'ed and renamed before success is
 * answered (durable). */
typedef struct RnStoreDir RnStoreDir;
RnStoreDir *rn_store_dir_create(const char *dir, const char *ae_title, bool durable,
                                RnError *err);
void rn_store_dir_destroy(RnStoreDir *d);
RnStoreHandler rn_store_dir_handler(RnStoreDir *d);

/* ---- SCU operations (PS3.4 Annexes A, B, C) ---------------------------------------- */
/* C-ECHO on an association with a Verification context; *status is the DIMSE status. */
int rn_scu_echo(RnAssoc *a, uint16_t *status, RnError *err);

/* C-STORE of a Part 10 file: the file's own transfer syntax when accepted,
 * else a conversion (uncompressed targets; encapsulated sources only when a
 * decoder is available). Returns RN_ERR_UNSUPPORTED when no accepted context
 * can carry it. */
int rn_scu_store_file(RnAssoc *a, const char *path, const char *move_originator_ae,
                      uint16_t move_originator_id, uint16_t *status, RnError *err);

/* Called for each C-FIND/C-MOVE/C-GET response; identifier only for C-FIND
 * pending responses (bytes in ts). Return nonzero to send a C-CANCEL. */
typedef int (*RnScuResponseFn)(void *user, const RnDimseCommand *rsp, const uint8_t *identifier,
                               size_t len, const char *ts);

/* identifier: bytes in the context's transfer syntax. */
int rn_scu_find(RnAssoc *a, const char *model, const uint8_t *identifier, size_t len,
                const char *ts, RnScuResponseFn fn, void *user, uint16_t *status, RnError *err);
int rn_scu_move(RnAssoc *a, const char *model, const char *destination,
                const uint8_t *identifier, size_t len, const char *ts, RnScuResponseFn fn,
                void *user, uint16_t *status, RnError *err);
/* C-GET: incoming C-STORE sub-operations on the same association go to store. */
int rn_scu_get(RnAssoc *a, const char *model, const uint8_t *identifier, size_t len,
               const char *ts, const RnStoreHandler *store, RnScuResponseFn fn, void *user,
               uint16_t *status, RnError *err);

/* Query/Retrieve information model UIDs (PS3.4 C.6). */
#define RN_UID_PATIENT_ROOT_FIND "1.2.840.10008.5.1.4.1.2.1.1"
#define RN_UID_PATIENT_ROOT_MOVE "1.2.840.10008.5.1.4.1.2.1.2"
#define RN_UID_PATIENT_ROOT_GET "1.2.840.10008.5.1.4.1.2.1.3"
#define RN_UID_STUDY_ROOT_FIND "1.2.840.10008.5.1.4.1.2.2.1"
#define RN_UID_STUDY_ROOT_MOVE "1.2.840.10008.5.1.4.1.2.2.2"
#define RN_UID_STUDY_ROOT_GET "1.2.840.10008.5.1.4.1.2.2.3"

#endif
