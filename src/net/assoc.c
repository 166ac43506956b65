/*
 * One DICOM association (PS3.8 7 and 9): establishment on the requestor side
 * (AE-1..AE-4) and on the acceptor side (AE-5..AE-8), the data transfer phase
 * with P-DATA-TF fragmentation and reassembly (9.3.5, Annex E; the
 * negotiated maximum length of D.1 bounds every PDU in both directions),
 * orderly release including release collisions (AR-1..AR-10) and aborts
 * (AA-1..AA-8). Every transition goes through the state machine of fsm.c;
 * every PDU read from the socket is bounded before its body is read.
 */
#include "net/net_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PDU_HEADER 6

void rn_assoc_timeouts_default_(RnAssocTimeouts *t)
{
    if (t->artim_ms <= 0)
        t->artim_ms = 30000;
    if (t->dimse_ms < 0)
        t->dimse_ms = 0;
    else if (t->dimse_ms == 0)
        t->dimse_ms = 60000;
    if (t->network_ms <= 0)
        t->network_ms = 30000;
}

static RnAssoc *assoc_new(RnConn *conn, bool requestor, uint32_t our_max,
                          const RnAssocTimeouts *t, RnError *err)
{
    RnAssoc *a = rn_calloc(1, sizeof *a);
    if (!a) {
        rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    a->conn = conn;
    if (t)
        a->timeouts = *t;
    rn_assoc_timeouts_default_(&a->timeouts);
    a->our_max_pdu = our_max ? our_max : RN_PDU_DEFAULT_MAX;
    if (a->our_max_pdu < RN_PDU_MIN)
        a->our_max_pdu = RN_PDU_MIN;
    a->next_msg_id = 1;
    rn_ul_fsm_init(&a->fsm, requestor, a->timeouts.artim_ms / 1000.0);
    return a;
}

void rn_assoc_destroy(RnAssoc *a)
{
    if (!a)
        return;
    rn_conn_destroy(a->conn);
    rn_assoc_params_clear(&a->rq);
    rn_assoc_params_clear(&a->ac);
    free(a->pdu);
    free(a->send_buf);
    free(a);
}

const RnAssocParams *rn_assoc_request_params(const RnAssoc *a) { return &a->rq; }
const RnAssocParams *rn_assoc_accepted_params(const RnAssoc *a) { return &a->ac; }
RnUlState rn_assoc_state(const RnAssoc *a) { return a->fsm.state; }
RnConn *rn_assoc_conn(RnAssoc *a) { return a->conn; }
uint32_t rn_assoc_peer_max_pdu(const RnAssoc *a) { return a->peer_max_pdu; }

uint16_t rn_assoc_next_message_id(RnAssoc *a)
{
    uint16_t id = a->next_msg_id++;
    if (a->next_msg_id == 0)
        a->next_msg_id = 1;
    return id;
}

static int send_bytes(RnAssoc *a, const RnBuf *b, RnError *err)
{
    rn_conn_set_timeout(a->conn, a->timeouts.network_ms);
    return rn_conn_write_all(a->conn, b->data, b->len, err);
}

void rn_assoc_send_abort_(RnAssoc *a, uint8_t source, uint8_t reason)
{
    RnBuf b = {0};
    RnAbort ab = {.source = source, .reason = reason};
    if (rn_pdu_encode_abort(&ab, &b, NULL) == 0)
        send_bytes(a, &b, NULL);
    rn_buf_free(&b);
    /* AA-1/AA-8 start ARTIM and wait for the peer to close; closing at once
     * is allowed too (9.2.2 note), and frees the worker sooner. */
    a->fsm.state = RN_STA13;
    a->fsm.artim_running = false;
}

/* Maps an I/O failure in the data phase to the state machine: Evt17 for a
 * closed connection; timeouts are local aborts. */
static int transport_failed(RnAssoc *a, int rc)
{
    if (rc == RN_ERR_TRUNCATED)
        rn_ul_fsm_step(&a->fsm, RN_EVT17, false); /* AA-4: A-P-ABORT indication */
    else
        rn_assoc_send_abort_(a, 0, 0);
    return rc;
}

int rn_assoc_read_pdu_(RnAssoc *a, uint8_t *type, uint8_t **body, size_t *len, size_t max_len,
                       int timeout_ms, RnError *err)
{
    uint8_t h[PDU_HEADER];
    rn_conn_set_timeout(a->conn, timeout_ms < 0 ? a->timeouts.network_ms : timeout_ms);
    int rc = rn_conn_read_full(a->conn, h, sizeof h, err);
    if (rc)
        return rc;
    rn_conn_set_timeout(a->conn, a->timeouts.network_ms);
    *type = h[0];
    uint32_t n = rn_rd32be(h + 2);
    size_t bound;
    switch (h[0]) {
    case RN_PDU_P_DATA_TF: bound = max_len; break;
    case RN_PDU_ASSOCIATE_RQ:
    case RN_PDU_ASSOCIATE_AC: bound = RN_PDU_ASSOC_MAX; break;
    case RN_PDU_ASSOCIATE_RJ:
    case RN_PDU_RELEASE_RQ:
    case RN_PDU_RELEASE_RP:
    case RN_PDU_ABORT: bound = 4; break;
    default:
        return rn_error_set(err, RN_ERR_PARSE, "%s: unknown PDU type 0x%02x",
                            rn_conn_peer(a->conn), h[0]);
    }
    if (n > bound)
        return rn_error_set(err, RN_ERR_LIMIT, "%s: %s of %u bytes exceeds the limit of %zu",
                            rn_conn_peer(a->conn), rn_pdu_type_name(h[0]), n, bound);
    if (n > a->pdu_cap) {
        size_t cap = n < 4096 ? 4096 : n;
        uint8_t *nb = rn_realloc(a->pdu, cap);
        if (!nb)
            return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        a->pdu = nb;
        a->pdu_cap = cap;
    }
    rc = rn_conn_read_full(a->conn, a->pdu, n, err);
    if (rc)
        return rc;
    *body = a->pdu;
    *len = n;
    return 0;
}

/* ---- requestor ------------------------------------------------------------------ */

/* Completes a->ac after an A-ASSOCIATE-AC: contexts get their abstract syntax
 * (the AC does not repeat it) and their roles from the role selection items. */
static void resolve_accepted(RnAssoc *a)
{
    for (size_t i = 0; i < a->ac.context_count; i++) {
        RnPresentationContext *pc = &a->ac.contexts[i];
        const RnPresentationContext *rq = rn_assoc_params_context(&a->rq, pc->id);
        if (!rq) {
            pc->result = RN_PC_NO_REASON; /* a context we never proposed */
            continue;
        }
        strcpy(pc->abstract_syntax, rq->abstract_syntax);
        /* PS3.7 D.3.3.4: without a role item, default roles (we are SCU). */
        pc->scu_role = true;
        pc->scp_role = false;
        for (size_t r = 0; r < a->ac.role_count; r++)
            if (!strcmp(a->ac.roles[r].sop_class, pc->abstract_syntax)) {
                pc->scu_role = a->ac.roles[r].scu_role;
                pc->scp_role = a->ac.roles[r].scp_role;
            }
    }
}

RnAssoc *rn_assoc_request(const RnScuOptions *opt, const RnAssocParams *proposal,
                          RnAssocReject *reject, RnError *err)
{
    RnAssoc *a = assoc_new(NULL, true, opt->max_pdu_length, &opt->timeouts, err);
    if (!a)
        return NULL;
    if (reject)
        memset(reject, 0, sizeof *reject);
    rn_ul_fsm_step(&a->fsm, RN_EVT1, false); /* AE-1: transport connect */
    a->conn = rn_conn_connect(opt->host, opt->port, opt->tls, a->timeouts.network_ms, err);
    if (!a->conn) {
        rn_assoc_destroy(a);
        return NULL;
    }
    rn_ul_fsm_step(&a->fsm, RN_EVT2, false); /* AE-2: send A-ASSOCIATE-RQ */

    /* Copy the proposal (contexts deep) and fill the items we own. */
    RnAssocParams *rq = &a->rq;
    *rq = *proposal;
    rq->contexts = NULL;
    rq->context_count = 0;
    rq->identity_primary = rq->identity_secondary = rq->identity_response = NULL;
    rq->has_identity = false;
    if (proposal->context_count) {
        rq->contexts = rn_malloc(proposal->context_count * sizeof *rq->contexts);
        if (!rq->contexts) {
            rn_error_set(err, RN_ERR_NOMEM, "out of memory");
            rn_assoc_destroy(a);
            return NULL;
        }
        memcpy(rq->contexts, proposal->contexts, proposal->context_count * sizeof *rq->contexts);
        rq->context_count = proposal->context_count;
    }
    if (proposal->has_identity) {
        rq->identity_primary = rn_malloc(proposal->identity_primary_len);
        rq->identity_secondary = rn_malloc(proposal->identity_secondary_len);
        if (!rq->identity_primary || !rq->identity_secondary) {
            rn_error_set(err, RN_ERR_NOMEM, "out of memory");
            rn_assoc_destroy(a);
            return NULL;
        }
        memcpy(rq->identity_primary, proposal->identity_primary, proposal->identity_primary_len);
        memcpy(rq->identity_secondary, proposal->identity_secondary,
               proposal->identity_secondary_len);
        rq->has_identity = true;
    }
    snprintf(rq->calling_ae, sizeof rq->calling_ae, "%s",
             opt->calling_ae ? opt->calling_ae : "RADNODE");
    snprintf(rq->called_ae, sizeof rq->called_ae, "%s",
             opt->called_ae ? opt->called_ae : "ANY-SCP");
    rq->max_pdu_length = a->our_max_pdu;

    RnBuf b = {0};
    int rc = rn_pdu_encode_associate(RN_PDU_ASSOCIATE_RQ, rq, &b, err);
    if (!rc)
        rc = send_bytes(a, &b, err);
    rn_buf_free(&b);
    if (rc) {
        rn_assoc_destroy(a);
        return NULL;
    }

    uint8_t type;
    uint8_t *body;
    size_t len;
    /* Waiting for the AC/RJ: the ARTIM value bounds it (9.1.5 spirit). */
    rc = rn_assoc_read_pdu_(a, &type, &body, &len, a->our_max_pdu, a->timeouts.artim_ms, err);
    if (rc) {
        rn_error_prefix(err, "waiting for A-ASSOCIATE-AC: ");
        transport_failed(a, rc);
        rn_assoc_destroy(a);
        return NULL;
    }
    RnUlAction act = rn_ul_fsm_step(&a->fsm, rn_ul_event_for_pdu(type), false);
    if (act == RN_AE3) {
        rc = rn_pdu_parse_associate(RN_PDU_ASSOCIATE_AC, body, len, &a->ac, err);
        if (rc) {
            rn_error_prefix(err, "A-ASSOCIATE-AC: ");
            rn_assoc_send_abort_(a, 2, 6); /* invalid PDU parameter value */
            rn_assoc_destroy(a);
            return NULL;
        }
        a->peer_max_pdu = a->ac.max_pdu_length;
        resolve_accepted(a);
        return a;
    }
    if (act == RN_AE4) {
        RnAssocReject rj = {0};
        rn_pdu_parse_reject(body, len, &rj, NULL);
        if (reject)
            *reject = rj;
        rn_error_set(err, RN_ERR_NET,
                     "association rejected by %s: result %u source %u reason %u (%s)",
                     rn_conn_peer(a->conn), rj.result, rj.source, rj.reason,
                     rn_reject_reason_str(&rj));
        rn_assoc_destroy(a);
        return NULL;
    }
    if (act == RN_AA3) {
        rn_error_set(err, RN_ERR_NET, "association aborted by %s", rn_conn_peer(a->conn));
    } else {
        rn_error_set(err, RN_ERR_PARSE, "unexpected %s while waiting for A-ASSOCIATE-AC",
                     rn_pdu_type_name(type));
        rn_assoc_send_abort_(a, 2, 2); /* unexpected PDU */
    }
    rn_assoc_destroy(a);
    return NULL;
}

/* ---- acceptor ------------------------------------------------------------------- */

RnAssoc *rn_assoc_create_acceptor_(RnConn *conn, uint32_t our_max_pdu,
                                   const RnAssocTimeouts *t, RnError *err)
{
    RnAssoc *a = assoc_new(conn, false, our_max_pdu, t, err);
    if (!a)
        return NULL;
    rn_ul_fsm_step(&a->fsm, RN_EVT5, false); /* AE-5: Sta2, ARTIM running */
    return a;
}

/* Waits (bounded by ARTIM) for the peer to close after our RJ, RP or abort. */
static void await_close(RnAssoc *a)
{
    uint8_t byte;
    rn_conn_set_timeout(a->conn, a->timeouts.artim_ms < 2000 ? a->timeouts.artim_ms : 2000);
    for (int i = 0; i < 64; i++) {
        if (rn_conn_read_full(a->conn, &byte, 1, NULL))
            break;
    }
}

int rn_assoc_accept_(RnAssoc *a, RnError *err)
{
    if (rn_ul_fsm_step(&a->fsm, RN_EVT7, false) != RN_AE7)
        return rn_error_set(err, RN_ERR_INVALID, "A-ASSOCIATE response in wrong state");
    a->peer_max_pdu = a->rq.max_pdu_length;
    RnBuf b = {0};
    int rc = rn_pdu_encode_associate(RN_PDU_ASSOCIATE_AC, &a->ac, &b, err);
    if (!rc)
        rc = send_bytes(a, &b, err);
    rn_buf_free(&b);
    return rc;
}

int rn_assoc_reject_(RnAssoc *a, const RnAssocReject *rj, RnError *err)
{
    rn_ul_fsm_step(&a->fsm, RN_EVT8, false); /* AE-8: RJ, ARTIM, Sta13 */
    RnBuf b = {0};
    int rc = rn_pdu_encode_reject(rj, &b, err);
    if (!rc)
        rc = send_bytes(a, &b, err);
    rn_buf_free(&b);
    if (!rc)
        await_close(a);
    return rc;
}

/* ---- data transfer -------------------------------------------------------------- */

static bool context_accepted(const RnAssoc *a, uint8_t id)
{
    const RnPresentationContext *pc = rn_assoc_params_context(&a->ac, id);
    return pc && pc->result == RN_PC_ACCEPTANCE;
}

uint8_t rn_assoc_find_context(const RnAssoc *a, const char *abstract_syntax, const char *ts)
{
    uint8_t any = 0;
    for (size_t i = 0; i < a->ac.context_count; i++) {
        const RnPresentationContext *pc = &a->ac.contexts[i];
        if (pc->result != RN_PC_ACCEPTANCE || strcmp(pc->abstract_syntax, abstract_syntax))
            continue;
        if (!ts || (pc->ts_count && !strcmp(pc->transfer_syntaxes[0], ts)))
            return pc->id;
        if (!any)
            any = pc->id;
    }
    return ts ? 0 : any;
}

const char *rn_assoc_context_ts(const RnAssoc *a, uint8_t pc_id)
{
    const RnPresentationContext *pc = rn_assoc_params_context(&a->ac, pc_id);
    if (!pc || pc->result != RN_PC_ACCEPTANCE || pc->ts_count == 0)
        return NULL;
    return pc->transfer_syntaxes[0];
}

const char *rn_assoc_context_abstract(const RnAssoc *a, uint8_t pc_id)
{
    const RnPresentationContext *pc = rn_assoc_params_context(&a->ac, pc_id);
    if (!pc || pc->result != RN_PC_ACCEPTANCE)
        return NULL;
    return pc->abstract_syntax;
}

int rn_assoc_send_pdv(RnAssoc *a, uint8_t pc_id, bool command, const uint8_t *data, size_t len,
                      bool last, RnError *err)
{
    if (a->fsm.state != RN_STA6 && a->fsm.state != RN_STA8)
        return rn_error_set(err, RN_ERR_INVALID, "P-DATA request outside an association");
    if (!context_accepted(a, pc_id))
        return rn_error_set(err, RN_ERR_INVALID, "presentation context %u not accepted", pc_id);
    /* D.1: the maximum length bounds the PDU's variable field; one PDV per
     * PDU leaves max - 6 bytes of data (4 item length + 2 header). Zero means
     * unlimited; we still cut at 1 MB to keep buffers bounded. */
    size_t max = a->peer_max_pdu ? a->peer_max_pdu : (1u << 20);
    if (max > (1u << 24))
        max = 1u << 24;
    if (max < 8)
        return rn_error_set(err, RN_ERR_UNSUPPORTED, "peer maximum PDU length %zu too small",
                            max);
    size_t chunk = max - 6;
    size_t need = PDU_HEADER + 6 + chunk;
    if (a->send_cap < need) {
        uint8_t *nb = rn_realloc(a->send_buf, need);
        if (!nb)
            return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        a->send_buf = nb;
        a->send_cap = need;
    }
    rn_conn_set_timeout(a->conn, a->timeouts.network_ms);
    size_t off = 0;
    do {
        size_t n = len - off < chunk ? len - off : chunk;
        bool final = last && off + n == len;
        uint8_t *p = a->send_buf;
        p[0] = RN_PDU_P_DATA_TF;
        p[1] = 0;
        rn_wr32be(p + 2, (uint32_t)(n + 6));
        rn_wr32be(p + 6, (uint32_t)(n + 2));
        p[10] = pc_id;
        p[11] = (uint8_t)((command ? 1 : 0) | (final ? 2 : 0));
        if (n)
            memcpy(p + 12, data + off, n);
        RnUlAction act = rn_ul_fsm_step(&a->fsm, RN_EVT9, false);
        if (act != RN_DT1 && act != RN_AR7)
            return rn_error_set(err, RN_ERR_INVALID, "P-DATA not allowed now");
        int rc = rn_conn_write_all(a->conn, p, 12 + n, err);
        if (rc)
            return transport_failed(a, rc);
        off += n;
    } while (off < len);
    return 0;
}

/* Handles a non-P-DATA PDU in the data phase; returns the association outcome. */
static int data_phase_event(RnAssoc *a, uint8_t type, const uint8_t *body, size_t len,
                            RnError *err)
{
    RnUlAction act = rn_ul_fsm_step(&a->fsm, rn_ul_event_for_pdu(type), false);
    switch (act) {
    case RN_AR2: { /* A-RELEASE-RQ: we always agree (AR-4 sends the RP) */
        rn_ul_fsm_step(&a->fsm, RN_EVT14, false);
        RnBuf b = {0};
        if (rn_pdu_encode_release(RN_PDU_RELEASE_RP, &b, NULL) == 0)
            send_bytes(a, &b, NULL);
        rn_buf_free(&b);
        await_close(a);
        rn_error_set(err, RN_ERR_NET, "association released by peer");
        return RN_ASSOC_RELEASED;
    }
    case RN_AA3:
        rn_pdu_parse_abort(body, len, &a->abort_received, NULL);
        rn_error_set(err, RN_ERR_NET, "association aborted by peer (source %u reason %u)",
                     a->abort_received.source, a->abort_received.reason);
        return RN_ASSOC_ABORTED;
    default:
        /* AA-8 and anything not in the table: provider abort, unexpected PDU. */
        rn_assoc_send_abort_(a, 2, 2);
        rn_error_set(err, RN_ERR_PARSE, "unexpected %s in state %d", rn_pdu_type_name(type),
                     (int)a->fsm.state);
        return RN_ASSOC_ABORTED;
    }
}

int rn_assoc_recv_pdv(RnAssoc *a, RnPdv *pdv, int timeout_ms, RnError *err)
{
    for (;;) {
        if (a->have_pdu) {
            int r = rn_pdu_next_pdv(a->pdu, a->pdu_len, &a->pdu_pos, pdv, err);
            if (r < 0) {
                rn_ul_fsm_step(&a->fsm, RN_EVT19, false);
                rn_assoc_send_abort_(a, 2, 6); /* invalid PDU parameter value */
                return RN_ASSOC_ABORTED;
            }
            if (r == 1) {
                if (!context_accepted(a, pdv->pc_id)) {
                    rn_assoc_send_abort_(a, 2, 6);
                    rn_error_set(err, RN_ERR_PARSE, "PDV on presentation context %u, not accepted",
                                 pdv->pc_id);
                    return RN_ASSOC_ABORTED;
                }
                return 0;
            }
            a->have_pdu = false;
        }
        uint8_t type = 0;
        uint8_t *body = NULL;
        size_t len = 0;
        int rc = rn_assoc_read_pdu_(a, &type, &body, &len, a->our_max_pdu,
                                    timeout_ms < 0 ? a->timeouts.network_ms : timeout_ms, err);
        if (rc == RN_ERR_PARSE || rc == RN_ERR_LIMIT) {
            /* Evt19: unrecognized PDU or one larger than we announced. */
            rn_ul_fsm_step(&a->fsm, RN_EVT19, false);
            rn_assoc_send_abort_(a, 2, rc == RN_ERR_LIMIT ? 6 : 1);
            return RN_ASSOC_ABORTED;
        }
        if (rc)
            return transport_failed(a, rc) ? rc : rc;
        if (type != RN_PDU_P_DATA_TF)
            return data_phase_event(a, type, body, len, err);
        RnUlAction act = rn_ul_fsm_step(&a->fsm, RN_EVT10, false);
        if (act != RN_DT2 && act != RN_AR6) {
            rn_assoc_send_abort_(a, 2, 2);
            return RN_ASSOC_ABORTED;
        }
        if (len == 0) { /* a P-DATA-TF holds at least one PDV (9.3.5) */
            rn_assoc_send_abort_(a, 2, 6);
            rn_error_set(err, RN_ERR_PARSE, "empty P-DATA-TF");
            return RN_ASSOC_ABORTED;
        }
        a->pdu_len = len;
        a->pdu_pos = 0;
        a->have_pdu = true;
    }
}

/* ---- release and abort ---------------------------------------------------------- */

int rn_assoc_release(RnAssoc *a, RnError *err)
{
    if (!a)
        return 0;
    if (a->fsm.state != RN_STA6) {
        rn_assoc_destroy(a);
        return rn_error_set(err, RN_ERR_INVALID, "release outside an established association");
    }
    rn_ul_fsm_step(&a->fsm, RN_EVT11, false); /* AR-1 */
    RnBuf b = {0};
    int rc = rn_pdu_encode_release(RN_PDU_RELEASE_RQ, &b, err);
    if (!rc)
        rc = send_bytes(a, &b, err);
    rn_buf_free(&b);
    while (!rc) {
        uint8_t type;
        uint8_t *body;
        size_t len;
        rc = rn_assoc_read_pdu_(a, &type, &body, &len, a->our_max_pdu, a->timeouts.artim_ms, err);
        if (rc)
            break;
        RnUlAction act = rn_ul_fsm_step(&a->fsm, rn_ul_event_for_pdu(type), false);
        if (act == RN_AR3) /* A-RELEASE-RP: done */
            break;
        if (act == RN_AR6) /* late P-DATA: dropped, still waiting */
            continue;
        if (act == RN_AR8) { /* release collision (9.2.4) */
            if (!a->fsm.requestor)
                continue; /* Sta10: wait for the RP, then answer (AR-10, AR-4) */
            rn_ul_fsm_step(&a->fsm, RN_EVT14, false); /* AR-9: send RP, Sta11 */
            RnBuf rp = {0};
            if (rn_pdu_encode_release(RN_PDU_RELEASE_RP, &rp, NULL) == 0)
                send_bytes(a, &rp, NULL);
            rn_buf_free(&rp);
            continue;
        }
        if (act == RN_AR10) {
            rn_ul_fsm_step(&a->fsm, RN_EVT14, false); /* AR-4 */
            RnBuf rp = {0};
            if (rn_pdu_encode_release(RN_PDU_RELEASE_RP, &rp, NULL) == 0)
                send_bytes(a, &rp, NULL);
            rn_buf_free(&rp);
            break;
        }
        if (act == RN_AA3) {
            rc = rn_error_set(err, RN_ERR_NET, "peer aborted during release");
            break;
        }
        rn_assoc_send_abort_(a, 2, 2);
        rc = rn_error_set(err, RN_ERR_PARSE, "unexpected %s during release",
                          rn_pdu_type_name(type));
    }
    rn_assoc_destroy(a);
    return rc;
}

void rn_assoc_abort(RnAssoc *a)
{
    if (!a)
        return;
    if (a->fsm.state != RN_STA1 && a->fsm.state != RN_STA13) {
        rn_ul_fsm_step(&a->fsm, RN_EVT15, false); /* AA-1 */
        rn_assoc_send_abort_(a, 0, 0);
    }
    rn_assoc_destroy(a);
}
