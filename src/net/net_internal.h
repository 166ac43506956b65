/*
 * Internal structures of the network module shared between its files: the
 * connection vtable (plain TCP and TLS), and the association object. Not a
 * public header: only src/net/ includes it.
 */
#ifndef RN_NET_INTERNAL_H
#define RN_NET_INTERNAL_H

#include "radnode/net.h"

/* Operations a transport provides; both work on blocking sockets and honour
 * the connection's timeout (PS3.8 9.1.2 leaves the transport to TCP, PS3.15
 * B.12 adds TLS beneath the Upper Layer). */
typedef struct RnConnOps {
    const char *name;
    /* Reads up to len bytes: >0 bytes read, 0 orderly EOF, negative error. */
    ssize_t (*read)(RnConn *c, void *buf, size_t len, RnError *err);
    /* Writes up to len bytes: >0 bytes written, negative error. */
    ssize_t (*write)(RnConn *c, const void *buf, size_t len, RnError *err);
    /* Bytes already decrypted and buffered (poll() would not see them). */
    size_t (*pending)(RnConn *c);
    void (*close)(RnConn *c);
} RnConnOps;

struct RnConn {
    const RnConnOps *ops;
    int fd;
    int timeout_ms;
    void *tls; /* SSL * for the TLS transport */
    char peer[80];
    char peer_address[64];
};

/* Waits until fd is readable (events POLLIN) or writable (POLLOUT) within the
 * connection's timeout: 0 ready, RN_ERR_TIMEOUT, RN_ERR_NET. */
int rn_conn_wait_(RnConn *c, short events, RnError *err);
/* Fills peer strings from the socket's peer address. */
void rn_conn_describe_(RnConn *c);
/* TLS transport (tls.c): wraps a connected socket, runs the handshake. */
int rn_tls_attach_(RnConn *c, RnTlsContext *ctx, bool server, const char *host, RnError *err);

struct RnAssoc {
    RnConn *conn;
    RnUlFsm fsm;
    RnAssocParams rq; /* what the requestor proposed */
    RnAssocParams ac; /* what the acceptor accepted */
    uint32_t our_max_pdu;  /* largest P-DATA-TF we accept */
    uint32_t peer_max_pdu; /* largest we may send (0 = unlimited) */
    RnAssocTimeouts timeouts;
    uint8_t *pdu;      /* body of the current P-DATA-TF */
    size_t pdu_len, pdu_cap, pdu_pos;
    bool have_pdu;
    uint8_t *send_buf; /* one outgoing P-DATA-TF */
    size_t send_cap;
    uint16_t next_msg_id;
    RnAbort abort_received;
    /* A C-CANCEL-RQ seen while waiting for a sub-operation's response (C-GET),
     * for the operation identified by cancel_msg_id (PS3.7 9.3.2.3). */
    bool cancel_requested;
    uint16_t cancel_msg_id;
    void *user; /* SCP: RnScpConfig.on_event's value for this association */
};

/* Reads one PDU header + body into a's buffer with the given bound; returns
 * 0 and fills *type, or negative. timeout_ms < 0 = network timeout. */
int rn_assoc_read_pdu_(RnAssoc *a, uint8_t *type, uint8_t **body, size_t *len, size_t max_len,
                       int timeout_ms, RnError *err);
/* Sends the A-ABORT PDU (source, reason), moves the state machine to Sta13 and
 * closes the transport (PS3.8 AA-1/AA-8 then ARTIM). */
void rn_assoc_send_abort_(RnAssoc *a, uint8_t source, uint8_t reason);
/* Acceptor side: creates an association object in Sta2 on an accepted connection. */
RnAssoc *rn_assoc_create_acceptor_(RnConn *conn, uint32_t our_max_pdu,
                                   const RnAssocTimeouts *t, RnError *err);
/* Acceptor: answers the parsed RQ with an AC (a->ac filled) or RJ. */
int rn_assoc_accept_(RnAssoc *a, RnError *err);
int rn_assoc_reject_(RnAssoc *a, const RnAssocReject *rj, RnError *err);
void rn_assoc_timeouts_default_(RnAssocTimeouts *t);
/* Without blocking: true when a C-CANCEL-RQ (or the end of the association)
 * is waiting on a; any other command there is consumed and ignored. */
bool rn_assoc_cancel_arrived_(RnAssoc *a);
/* Serves a C-FIND, C-MOVE or C-GET request with cfg->qr (qr.c). Returns 0 to
 * go on with the association, nonzero when it is over. */
int rn_qr_serve_(const RnScpConfig *cfg, RnAssoc *a, uint8_t pc, const RnDimseCommand *cmd);

#endif
