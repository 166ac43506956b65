/*
 * The DICOM SCP server: a listening socket, an acceptor thread and a bounded
 * pool of worker threads, each serving one association at a time on a
 * blocking socket with timeouts (the DCMTK/Orthanc model). Per association:
 * the A-ASSOCIATE-RQ is awaited under ARTIM (PS3.8 9.1.5), checked against
 * source-address and AE-title access control, and answered with an AC whose
 * presentation contexts follow the configured policy (PS3.8 9.3.3.2: the
 * first transfer syntax of our preference list that the requestor proposed;
 * PS3.7 D.3.3.4 role selection answered for the SCU role only). The data
 * phase serves C-ECHO (PS3.7 9.1.5, Verification), C-STORE (PS3.4 Annex B,
 * the data set streamed to the store handler), C-FIND through a hook
 * (PS3.4 C.4.1, with C-CANCEL) and answers other commands with 0x0211.
 *
 * Every refusal (address not allowed, calling or called AE title, a failed
 * TLS handshake, a malformed request) is one log line naming the peer, the
 * AE titles and the reason. An optional observer (RnScpConfig.on_event, e.g.
 * the node's audit trail) is told of refusals, accepted and ended
 * associations (with that association's own counts) and finished C-MOVE/C-GET
 * sub-operations, on the association's thread; the SCP attaches no meaning to
 * them.
 *
 * Shared state: the pending-connection queue and the statistics, both
 * guarded by RnScp.lock. The configuration is copied at start and read-only.
 */
#include "net/net_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define VERIFICATION_UID "1.2.840.10008.1.1"

typedef struct ServeCtx {
    const RnScpConfig *cfg;
    const char **abstracts; /* accepted abstract syntaxes */
    size_t abstract_count;
    pthread_mutex_t *lock;  /* guards stats; NULL when single-threaded */
    RnScpStats *stats;
    RnScpStats *assoc;      /* this association's own counts (its thread only), or NULL */
} ServeCtx;

struct RnScp {
    RnScpConfig cfg;
    ServeCtx serve;
    int listen_fd;
    int port;
    int wake[2];
    pthread_t acceptor;
    pthread_t *workers;
    int worker_count;
    /* Guarded by lock: */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int *queue;
    int queue_cap, queue_head, queue_len;
    bool stopping;
    RnScpStats stats;
};

/* Adds to a counter of the server's statistics and of the association's own
 * (reported in its RN_SCP_EVENT_ENDED). */
static void stat_add_at(ServeCtx *sc, size_t offset, int delta)
{
    if (sc->assoc)
        *(uint64_t *)((char *)sc->assoc + offset) += (uint64_t)delta;
    if (!sc->stats)
        return;
    if (sc->lock)
        pthread_mutex_lock(sc->lock);
    *(uint64_t *)((char *)sc->stats + offset) += (uint64_t)delta;
    if (sc->lock)
        pthread_mutex_unlock(sc->lock);
}
#define stat_add(sc, field, delta) stat_add_at((sc), offsetof(RnScpStats, field), (delta))

static void stat_active(ServeCtx *sc, int delta)
{
    if (!sc->stats)
        return;
    if (sc->lock)
        pthread_mutex_lock(sc->lock);
    sc->stats->active += delta;
    if (sc->lock)
        pthread_mutex_unlock(sc->lock);
}

/* ---- policy ----------------------------------------------------------------------- */

static int build_abstracts(const RnScpConfig *cfg, const char ***out, size_t *count)
{
    size_t n = 0, cap = 16;
    const char **list = rn_malloc(cap * sizeof *list);
    if (!list)
        return RN_ERR_NOMEM;
#define PUSH(uid)                                                                               \
    do {                                                                                        \
        if (n == cap) {                                                                         \
            const char **nl = rn_realloc(list, 2 * cap * sizeof *list);                         \
            if (!nl) {                                                                          \
                free(list);                                                                     \
                return RN_ERR_NOMEM;                                                            \
            }                                                                                   \
            list = nl;                                                                          \
            cap *= 2;                                                                           \
        }                                                                                       \
        list[n++] = (uid);                                                                      \
    } while (0)
    if (cfg->abstract_syntaxes) {
        for (size_t i = 0; cfg->abstract_syntaxes[i]; i++)
            PUSH(cfg->abstract_syntaxes[i]);
    } else {
        PUSH(VERIFICATION_UID);
        if (cfg->store.begin) {
            const char *uid;
            for (size_t i = 0; (uid = rn_net_storage_class_at(i)) != NULL; i++)
                PUSH(uid);
        }
        if (cfg->find || cfg->qr.find) {
            PUSH(RN_UID_PATIENT_ROOT_FIND);
            PUSH(RN_UID_STUDY_ROOT_FIND);
        }
        if (cfg->qr.retrieve && cfg->qr.destination) {
            PUSH(RN_UID_PATIENT_ROOT_MOVE);
            PUSH(RN_UID_STUDY_ROOT_MOVE);
        }
        if (cfg->qr.retrieve) {
            PUSH(RN_UID_PATIENT_ROOT_GET);
            PUSH(RN_UID_STUDY_ROOT_GET);
        }
    }
#undef PUSH
    *out = list;
    *count = n;
    return 0;
}

static bool abstract_accepted(const ServeCtx *sc, const char *uid)
{
    if (sc->cfg->accept_any_abstract)
        return true;
    for (size_t i = 0; i < sc->abstract_count; i++)
        if (!strcmp(sc->abstracts[i], uid))
            return true;
    return false;
}

static const char *choose_ts(const ServeCtx *sc, const RnPresentationContext *pc)
{
    for (size_t i = 0;; i++) {
        const char *ts = sc->cfg->transfer_syntaxes ? sc->cfg->transfer_syntaxes[i]
                                                    : rn_net_transfer_syntax_at(i);
        if (!ts)
            return NULL;
        for (size_t j = 0; j < pc->ts_count; j++)
            if (!strcmp(pc->transfer_syntaxes[j], ts))
                return ts;
    }
}

static bool in_list(const char *const *list, const char *s)
{
    if (!list)
        return true;
    for (size_t i = 0; list[i]; i++)
        if (!strcmp(list[i], s))
            return true;
    return false;
}

/* Builds a->ac from a->rq; returns 0 to accept, or fills rj. */
static int negotiate(ServeCtx *sc, RnAssoc *a, RnAssocReject *rj)
{
    const RnScpConfig *cfg = sc->cfg;
    RnAssocParams *rq = &a->rq, *ac = &a->ac;
    const char *our_ae = cfg->ae_title ? cfg->ae_title : "RADNODE";
    if (!(rq->protocol_version & 1)) {
        *rj = (RnAssocReject){1, 2, 2}; /* protocol version not supported */
        return -1;
    }
    if (strcmp(rq->application_context, RN_UID_APPLICATION_CONTEXT) != 0) {
        *rj = (RnAssocReject){1, 1, 2}; /* application context name not supported */
        return -1;
    }
    if (cfg->require_called_ae && strcmp(rq->called_ae, our_ae) != 0) {
        *rj = (RnAssocReject){1, 1, 7}; /* called AE title not recognized */
        return -1;
    }
    if (!in_list(cfg->allowed_calling_aes, rq->calling_ae)) {
        *rj = (RnAssocReject){1, 1, 3}; /* calling AE title not recognized */
        return -1;
    }
    memset(ac, 0, sizeof *ac);
    snprintf(ac->called_ae, sizeof ac->called_ae, "%s", rq->called_ae);
    snprintf(ac->calling_ae, sizeof ac->calling_ae, "%s", rq->calling_ae);
    strcpy(ac->application_context, RN_UID_APPLICATION_CONTEXT);
    ac->max_pdu_length = a->our_max_pdu;
    if (rq->has_async_window) {
        /* We perform operations one at a time (PS3.7 D.3.3.3). */
        ac->has_async_window = true;
        ac->max_ops_invoked = 1;
        ac->max_ops_performed = 1;
    }
    if (rq->context_count) {
        ac->contexts = rn_calloc(rq->context_count, sizeof *ac->contexts);
        if (!ac->contexts) {
            *rj = (RnAssocReject){2, 3, 2}; /* local limit exceeded */
            return -1;
        }
    }
    for (size_t i = 0; i < rq->context_count; i++) {
        const RnPresentationContext *p = &rq->contexts[i];
        RnPresentationContext *c = &ac->contexts[ac->context_count++];
        c->id = p->id;
        strcpy(c->abstract_syntax, p->abstract_syntax);
        c->ts_count = 1;
        strcpy(c->transfer_syntaxes[0], p->transfer_syntaxes[0]);
        bool dup = false;
        for (size_t j = 0; j < i; j++)
            dup |= rq->contexts[j].id == p->id;
        if (!(p->id & 1) || dup) {
            c->result = RN_PC_NO_REASON;
            continue;
        }
        if (!abstract_accepted(sc, p->abstract_syntax)) {
            c->result = RN_PC_ABSTRACT_SYNTAX_NOT_SUPPORTED;
            continue;
        }
        const char *ts = choose_ts(sc, p);
        if (!ts) {
            c->result = RN_PC_TRANSFER_SYNTAXES_NOT_SUPPORTED;
            continue;
        }
        c->result = RN_PC_ACCEPTANCE;
        strcpy(c->transfer_syntaxes[0], ts);
        c->scu_role = true;
    }
    /* Role selection (PS3.7 D.3.3.4): we accept the requestor's SCU role; its
     * SCP role only for storage classes and only when we serve C-GET, whose
     * C-STORE sub-operations we then send on this association (PS3.4 C.4.3). */
    for (size_t i = 0; i < rq->role_count && ac->role_count < RN_ROLE_MAX; i++) {
        RnRoleSelection *r = &ac->roles[ac->role_count++];
        *r = rq->roles[i];
        r->scp_role = cfg->qr.retrieve && rq->roles[i].scp_role &&
                      rn_net_is_storage_class(r->sop_class);
    }
    return 0;
}

/* ---- services --------------------------------------------------------------------- */

static int send_response(RnAssoc *a, uint8_t pc, const RnDimseCommand *rq, uint16_t field,
                         uint16_t status, const char *comment, RnError *err)
{
    RnDimseCommand r = {0};
    r.command_field = field;
    r.present = RN_CMD_MESSAGE_ID_RESPONDED | RN_CMD_STATUS;
    r.message_id_responded = rq->message_id;
    r.status = status;
    r.data_set_type = RN_DIMSE_NO_DATASET;
    if (rq->present & RN_CMD_AFFECTED_SOP_CLASS) {
        r.present |= RN_CMD_AFFECTED_SOP_CLASS;
        strcpy(r.affected_sop_class, rq->affected_sop_class);
    }
    if (rq->present & RN_CMD_AFFECTED_SOP_INSTANCE) {
        r.present |= RN_CMD_AFFECTED_SOP_INSTANCE;
        strcpy(r.affected_sop_instance, rq->affected_sop_instance);
    }
    if (comment && comment[0]) {
        r.present |= RN_CMD_ERROR_COMMENT;
        snprintf(r.error_comment, sizeof r.error_comment, "%s", comment);
    }
    return rn_dimse_send_command(a, pc, &r, err);
}

static int discard_sink(void *ctx, const uint8_t *d, size_t n, RnError *err)
{
    (void)ctx, (void)d, (void)n, (void)err;
    return 0;
}

typedef struct StoreSink {
    const RnStoreHandler *h;
    void *instance;
    bool failed;
    RnError error;
} StoreSink;

static int store_sink(void *ctx, const uint8_t *d, size_t n, RnError *err)
{
    StoreSink *s = ctx;
    int rc = s->h->data(s->instance, d, n, err);
    if (rc) {
        s->failed = true;
        if (err)
            s->error = *err;
    }
    return rc;
}

/* Returns 0 to go on with the association, nonzero when it is over. */
static int serve_store(ServeCtx *sc, RnAssoc *a, uint8_t pc, const RnDimseCommand *cmd)
{
    const RnScpConfig *cfg = sc->cfg;
    RnError err = {0};
    const char *ts = rn_assoc_context_ts(a, pc);
    if (!rn_dimse_has_dataset(cmd)) {
        stat_add(sc, store_failures, 1);
        return send_response(a, pc, cmd, RN_DIMSE_C_STORE_RSP, RN_STATUS_DATASET_MISMATCH,
                             "C-STORE without data set", NULL);
    }
    RnStoreRequest rq = {
        .calling_ae = a->rq.calling_ae,
        .called_ae = a->rq.called_ae,
        .peer = rn_conn_peer(a->conn),
        .sop_class = cmd->affected_sop_class,
        .sop_instance = cmd->affected_sop_instance,
        .transfer_syntax = ts ? ts : RN_UID_IMPLICIT_VR_LE,
        .message_id = cmd->message_id,
        .move_originator_ae =
            (cmd->present & RN_CMD_MOVE_ORIGINATOR) ? cmd->move_originator_ae : NULL,
        .assoc_user = a->user,
    };
    void *instance = NULL;
    uint16_t status = RN_STATUS_SUCCESS;
    char comment[160] = "";
    int rc;
    if (!cfg->store.begin) {
        rc = rn_dimse_recv_dataset(a, pc, discard_sink, NULL, &err);
        status = RN_STATUS_SOP_CLASS_NOT_SUPPORTED;
    } else if (cfg->store.begin(cfg->store.user, &rq, &instance, &err) != 0) {
        snprintf(comment, sizeof comment, "%.150s", err.message);
        rn_warn("C-STORE %s from %s refused: %s", rq.sop_instance, rq.calling_ae, err.message);
        rc = rn_dimse_recv_dataset(a, pc, discard_sink, NULL, &err);
        status = RN_STATUS_OUT_OF_RESOURCES;
    } else {
        StoreSink s = {.h = &cfg->store, .instance = instance};
        rc = rn_dimse_recv_dataset(a, pc, store_sink, &s, &err);
        if (s.failed) {
            snprintf(comment, sizeof comment, "%.150s", s.error.message);
            cfg->store.end(instance, false, comment, sizeof comment);
            status = RN_STATUS_OUT_OF_RESOURCES;
            rc = 0;
        } else if (rc) {
            char ignored[8];
            cfg->store.end(instance, false, ignored, sizeof ignored);
        } else {
            status = cfg->store.end(instance, true, comment, sizeof comment);
        }
    }
    if (rc) {
        /* The association died mid-instance: nothing was acknowledged. */
        rn_warn("C-STORE %s from %s: %s", rq.sop_instance, rn_conn_peer(a->conn), err.message);
        stat_add(sc, store_failures, 1);
        return rc;
    }
    if (status == RN_STATUS_SUCCESS)
        stat_add(sc, stored, 1);
    else
        stat_add(sc, store_failures, 1);
    return send_response(a, pc, cmd, RN_DIMSE_C_STORE_RSP, status, comment, &err);
}

struct RnFindResponder {
    RnAssoc *a;
    uint8_t pc;
    const RnDimseCommand *rq;
    bool cancelled;
};

int rn_scp_find_respond(RnFindResponder *r, const uint8_t *identifier, size_t len, RnError *err)
{
    if (r->cancelled || rn_assoc_cancel_arrived_(r->a)) {
        r->cancelled = true;
        return 1;
    }
    RnDimseCommand p = {0};
    p.command_field = RN_DIMSE_C_FIND_RSP;
    p.present = RN_CMD_MESSAGE_ID_RESPONDED | RN_CMD_STATUS | RN_CMD_AFFECTED_SOP_CLASS;
    p.message_id_responded = r->rq->message_id;
    strcpy(p.affected_sop_class, r->rq->affected_sop_class);
    p.status = RN_STATUS_PENDING;
    p.data_set_type = 0x0000;
    int rc = rn_dimse_send_command(r->a, r->pc, &p, err);
    if (!rc)
        rc = rn_dimse_send_dataset(r->a, r->pc, identifier, len, err);
    return rc;
}

static int serve_find(ServeCtx *sc, RnAssoc *a, uint8_t pc, const RnDimseCommand *cmd)
{
    RnError err = {0};
    RnBuf id = {0};
    int rc = 0;
    if (rn_dimse_has_dataset(cmd)) {
        rc = rn_dimse_recv_dataset_buf(a, pc, &id, 1u << 20, &err);
        if (rc) {
            rn_buf_free(&id);
            return rc == RN_ERR_LIMIT ? send_response(a, pc, cmd, RN_DIMSE_C_FIND_RSP,
                                                       RN_STATUS_OUT_OF_RESOURCES,
                                                       "identifier too large", NULL)
                                      : rc;
        }
    }
    stat_add(sc, finds, 1);
    uint16_t status = RN_STATUS_UNRECOGNIZED_OPERATION;
    bool cancelled = false;
    if (sc->cfg->find) {
        RnFindRequest rq = {
            .calling_ae = a->rq.calling_ae,
            .sop_class = cmd->affected_sop_class,
            .transfer_syntax = rn_assoc_context_ts(a, pc),
            .identifier = id.data,
            .identifier_len = id.len,
        };
        RnFindResponder r = {.a = a, .pc = pc, .rq = cmd};
        status = sc->cfg->find(sc->cfg->find_user, &rq, &r);
        cancelled = r.cancelled;
        if (a->fsm.state != RN_STA6) {
            rn_buf_free(&id);
            return RN_ASSOC_ABORTED;
        }
    }
    rn_buf_free(&id);
    return send_response(a, pc, cmd, RN_DIMSE_C_FIND_RSP,
                         cancelled ? RN_STATUS_CANCEL : status, NULL, &err);
}

/* Returns true when the association ended in an abort (else it was released). */
static bool serve_association(ServeCtx *sc, RnAssoc *a)
{
    const RnScpConfig *cfg = sc->cfg;
    RnError err = {0};
    for (;;) {
        RnDimseCommand cmd;
        uint8_t pc = 0;
        int rc = rn_dimse_recv_command(a, &cmd, &pc, a->timeouts.dimse_ms, &err);
        if (rc == RN_ASSOC_RELEASED)
            return false;
        if (rc == RN_ASSOC_ABORTED) {
            rn_info("association with %s aborted: %s", rn_conn_peer(a->conn), err.message);
            stat_add(sc, aborted, 1);
            return true;
        }
        if (rc) {
            /* DIMSE timeout or transport failure: A-ABORT (AA-1). */
            rn_info("association with %s ended: %s", rn_conn_peer(a->conn), err.message);
            if (a->fsm.state == RN_STA6)
                rn_assoc_send_abort_(a, 0, 0);
            stat_add(sc, aborted, 1);
            return true;
        }
        switch (cmd.command_field) {
        case RN_DIMSE_C_ECHO_RQ:
            if (rn_dimse_has_dataset(&cmd))
                rc = rn_dimse_recv_dataset(a, pc, discard_sink, NULL, &err);
            if (!rc) {
                stat_add(sc, echoes, 1);
                rc = send_response(a, pc, &cmd, RN_DIMSE_C_ECHO_RSP, RN_STATUS_SUCCESS, NULL,
                                   &err);
            }
            break;
        case RN_DIMSE_C_STORE_RQ:
            rc = serve_store(sc, a, pc, &cmd);
            break;
        case RN_DIMSE_C_FIND_RQ:
            if (cfg->qr.find) {
                stat_add(sc, finds, 1);
                rc = rn_qr_serve_(cfg, a, pc, &cmd);
                break;
            }
            rc = cfg->find ? serve_find(sc, a, pc, &cmd) : 0;
            if (!cfg->find) {
                if (rn_dimse_has_dataset(&cmd))
                    rc = rn_dimse_recv_dataset(a, pc, discard_sink, NULL, &err);
                if (!rc)
                    rc = send_response(a, pc, &cmd, RN_DIMSE_C_FIND_RSP,
                                       RN_STATUS_UNRECOGNIZED_OPERATION, NULL, &err);
            }
            break;
        case RN_DIMSE_C_MOVE_RQ:
        case RN_DIMSE_C_GET_RQ:
            if (!cfg->qr.retrieve)
                goto unrecognized;
            if (cmd.command_field == RN_DIMSE_C_MOVE_RQ)
                stat_add(sc, moves, 1);
            else
                stat_add(sc, gets, 1);
            rc = rn_qr_serve_(cfg, a, pc, &cmd);
            break;
        case RN_DIMSE_C_CANCEL_RQ:
            break; /* nothing outstanding to cancel */
        default:
        unrecognized: {
            uint16_t field = (uint16_t)(cmd.command_field | 0x8000);
            if (rn_dimse_has_dataset(&cmd))
                rc = rn_dimse_recv_dataset(a, pc, discard_sink, NULL, &err);
            if (!rc && !(cmd.command_field & 0x8000))
                rc = send_response(a, pc, &cmd, field, RN_STATUS_UNRECOGNIZED_OPERATION, NULL,
                                   &err);
            break;
        }
        }
        if (rc) {
            if (rc != RN_ASSOC_RELEASED)
                stat_add(sc, aborted, 1);
            return rc != RN_ASSOC_RELEASED;
        }
    }
}

/* A refusal: one log line naming the peer, the AE titles and the reason, and
 * the observer's event. */
static void refused(ServeCtx *sc, RnConn *conn, const char *peer, const char *address,
                    const char *calling_ae, const char *called_ae, const char *reason)
{
    rn_warn("association refused: peer %s, calling AE \"%s\", called AE \"%s\": %s", peer,
            calling_ae, called_ae, reason);
    stat_add(sc, rejected, 1);
    if (sc->cfg->on_event) {
        RnScpEvent ev = {.kind = RN_SCP_EVENT_REFUSED,
                         .peer = peer,
                         .peer_address = address,
                         .calling_ae = calling_ae,
                         .called_ae = called_ae,
                         .tls = conn && rn_conn_is_tls(conn),
                         .reason = reason};
        sc->cfg->on_event(sc->cfg->event_user, &ev);
    }
}

static void serve_conn(ServeCtx *sc, RnConn *conn)
{
    const RnScpConfig *cfg = sc->cfg;
    RnError err = {0};
    /* A peer whose address is not allowed still gets its A-ASSOCIATE-RQ read
     * (under ARTIM) so that the refusal names its AE titles, and a proper
     * A-ASSOCIATE-RJ (PS3.8 9.3.4: permanent, service-user, no reason given). */
    bool host_ok = in_list(cfg->allowed_hosts, rn_conn_peer_address(conn));
    RnAssoc *a = rn_assoc_create_acceptor_(conn, cfg->max_pdu_length, &cfg->timeouts, &err);
    if (!a) {
        rn_conn_destroy(conn);
        return;
    }
    uint8_t type;
    uint8_t *body;
    size_t len;
    int rc = rn_assoc_read_pdu_(a, &type, &body, &len, a->our_max_pdu, a->timeouts.artim_ms,
                                &err);
    if (rc) {
        /* Evt18 (ARTIM expired), Evt17 (closed) or Evt19 (garbage). */
        RnUlEvent ev = rc == RN_ERR_TIMEOUT     ? RN_EVT18
                       : rc == RN_ERR_TRUNCATED ? RN_EVT17
                                                : RN_EVT19;
        if (rn_ul_fsm_step(&a->fsm, ev, false) == RN_AA1)
            rn_assoc_send_abort_(a, 2, 0);
        if (!host_ok) {
            refused(sc, conn, rn_conn_peer(conn), rn_conn_peer_address(conn), "", "",
                    "address not allowed");
        } else {
            rn_info("no association from %s: %s", rn_conn_peer(conn), err.message);
            stat_add(sc, rejected, 1);
        }
        rn_assoc_destroy(a);
        return;
    }
    if (type != RN_PDU_ASSOCIATE_RQ) {
        if (rn_ul_fsm_step(&a->fsm, rn_ul_event_for_pdu(type), false) == RN_AA1)
            rn_assoc_send_abort_(a, 2, 2);
        char why[64];
        snprintf(why, sizeof why, "%s instead of A-ASSOCIATE-RQ%s", rn_pdu_type_name(type),
                 host_ok ? "" : "; address not allowed");
        refused(sc, conn, rn_conn_peer(conn), rn_conn_peer_address(conn), "", "", why);
        rn_assoc_destroy(a);
        return;
    }
    if (rn_pdu_parse_associate(RN_PDU_ASSOCIATE_RQ, body, len, &a->rq, &err) != 0) {
        rn_ul_fsm_step(&a->fsm, RN_EVT19, false); /* AA-1 */
        rn_assoc_send_abort_(a, 2, 6);
        char why[300];
        snprintf(why, sizeof why, "malformed A-ASSOCIATE-RQ: %.200s%s", err.message,
                 host_ok ? "" : "; address not allowed");
        refused(sc, conn, rn_conn_peer(conn), rn_conn_peer_address(conn), "", "", why);
        rn_assoc_destroy(a);
        return;
    }
    rn_ul_fsm_step(&a->fsm, RN_EVT6, true); /* AE-6: indication, Sta3 */
    RnAssocReject rj;
    const char *why = NULL;
    if (!host_ok) {
        rj = (RnAssocReject){1, 1, 1}; /* no reason given */
        why = "address not allowed";
    } else if (negotiate(sc, a, &rj) != 0) {
        why = rn_reject_reason_str(&rj);
    }
    if (why) {
        refused(sc, conn, rn_conn_peer(conn), rn_conn_peer_address(conn), a->rq.calling_ae,
                a->rq.called_ae, why);
        rn_assoc_reject_(a, &rj, NULL);
        rn_assoc_destroy(a);
        return;
    }
    if (rn_assoc_accept_(a, &err) != 0) {
        rn_assoc_destroy(a);
        return;
    }
    stat_add(sc, associations, 1);
    rn_debug("association %s -> %s from %s accepted", a->rq.calling_ae, a->rq.called_ae,
             rn_conn_peer(conn));
    /* The association's own counts, for its ENDED event. */
    RnScpStats mine = {0};
    ServeCtx local = *sc;
    local.assoc = &mine;
    RnScpEvent ev = {.peer = rn_conn_peer(conn),
                     .peer_address = rn_conn_peer_address(conn),
                     .calling_ae = a->rq.calling_ae,
                     .called_ae = a->rq.called_ae,
                     .tls = rn_conn_is_tls(conn)};
    if (cfg->on_event) {
        ev.kind = RN_SCP_EVENT_ACCEPTED;
        a->user = cfg->on_event(cfg->event_user, &ev);
    }
    bool aborted = serve_association(&local, a);
    if (cfg->on_event) {
        ev.kind = RN_SCP_EVENT_ENDED;
        ev.assoc_user = a->user;
        ev.aborted = aborted;
        ev.stored = mine.stored;
        ev.store_failures = mine.store_failures;
        ev.echoes = mine.echoes;
        ev.finds = mine.finds;
        ev.moves = mine.moves;
        ev.gets = mine.gets;
        cfg->on_event(cfg->event_user, &ev);
    }
    rn_assoc_destroy(a);
}

void rn_scp_serve_conn(const RnScpConfig *cfg, RnConn *conn, RnScpStats *stats)
{
    RnScpStats local = {0};
    ServeCtx sc = {.cfg = cfg, .stats = stats ? stats : &local};
    if (build_abstracts(cfg, &sc.abstracts, &sc.abstract_count) != 0) {
        rn_conn_destroy(conn);
        return;
    }
    serve_conn(&sc, conn);
    free(sc.abstracts);
}

/* ---- server ----------------------------------------------------------------------- */

/* The peer of an accepted socket, for a refusal before an RnConn exists. */
static void describe_fd(int fd, char *peer, size_t peer_size, char *address, size_t addr_size)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char host[64], serv[16];
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0 ||
        getnameinfo((struct sockaddr *)&ss, sl, host, sizeof host, serv, sizeof serv,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        return;
    snprintf(address, addr_size, "%s", host);
    snprintf(peer, peer_size, "%s:%s", host, serv);
}

static void *worker_main(void *arg)
{
    RnScp *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        while (!s->stopping && s->queue_len == 0)
            pthread_cond_wait(&s->cond, &s->lock);
        if (s->stopping && s->queue_len == 0) {
            pthread_mutex_unlock(&s->lock);
            return NULL;
        }
        int fd = s->queue[s->queue_head];
        s->queue_head = (s->queue_head + 1) % s->queue_cap;
        s->queue_len--;
        bool stopping = s->stopping;
        pthread_mutex_unlock(&s->lock);
        if (stopping) {
            close(fd);
            continue;
        }
        stat_active(&s->serve, 1);
        RnError err = {0};
        char peer[80] = "?", address[64] = "?";
        if (s->cfg.tls)
            describe_fd(fd, peer, sizeof peer, address, sizeof address);
        RnConn *c = rn_conn_accept_take(fd, s->cfg.tls, s->cfg.timeouts.network_ms, &err);
        if (c) {
            serve_conn(&s->serve, c);
        } else if (s->cfg.tls) {
            char why[300];
            snprintf(why, sizeof why, "TLS handshake failed: %.250s", err.message);
            refused(&s->serve, NULL, peer, address, "", "", why);
        } else {
            rn_info("connection dropped before association: %s", err.message);
        }
        stat_active(&s->serve, -1);
    }
}

static void *acceptor_main(void *arg)
{
    RnScp *s = arg;
    for (;;) {
        struct pollfd p[2] = {{.fd = s->listen_fd, .events = POLLIN},
                              {.fd = s->wake[0], .events = POLLIN}};
        int n = poll(p, 2, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || (p[1].revents & POLLIN))
            return NULL;
        if (!(p[0].revents & POLLIN))
            continue;
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) /* out of descriptors: back off */
                poll(NULL, 0, 100);
            continue;
        }
        pthread_mutex_lock(&s->lock);
        if (s->queue_len == s->queue_cap) {
            s->stats.rejected++;
            pthread_mutex_unlock(&s->lock);
            rn_warn("connection refused: %d associations queued", s->queue_cap);
            close(fd);
            continue;
        }
        s->queue[(s->queue_head + s->queue_len) % s->queue_cap] = fd;
        s->queue_len++;
        pthread_cond_signal(&s->cond);
        pthread_mutex_unlock(&s->lock);
    }
}

static int listen_on(const char *addr, int port, int backlog, int *bound_port, RnError *err)
{
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICHOST};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(addr, portstr, &hints, &res);
    if (gai)
        return rn_error_set(err, RN_ERR_NET, "%s: %s", addr, gai_strerror(gai));
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
    if (fd < 0) {
        freeaddrinfo(res);
        return rn_error_set(err, RN_ERR_NET, "socket: %s", strerror(errno));
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, backlog) != 0) {
        int e = errno;
        freeaddrinfo(res);
        close(fd);
        return rn_error_set(err, RN_ERR_NET, "listen on %s:%d: %s", addr, port, strerror(e));
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char host[64], serv[16];
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
        getnameinfo((struct sockaddr *)&ss, sl, host, sizeof host, serv, sizeof serv,
                    NI_NUMERICHOST | NI_NUMERICSERV) == 0)
        *bound_port = atoi(serv);
    return fd;
}

RnScp *rn_scp_start(const RnScpConfig *cfg, RnError *err)
{
    RnScp *s = rn_calloc(1, sizeof *s);
    if (!s) {
        rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    if (s->cfg.max_associations <= 0)
        s->cfg.max_associations = 32;
    if (s->cfg.max_pending <= 0)
        s->cfg.max_pending = 256;
    if (!s->cfg.ae_title)
        s->cfg.ae_title = "RADNODE";
    rn_assoc_timeouts_default_(&s->cfg.timeouts);
    s->listen_fd = s->wake[0] = s->wake[1] = -1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->serve.cfg = &s->cfg;
    s->serve.lock = &s->lock;
    s->serve.stats = &s->stats;
    if (build_abstracts(&s->cfg, &s->serve.abstracts, &s->serve.abstract_count)) {
        rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        goto fail;
    }
    s->queue_cap = s->cfg.max_pending;
    s->queue = rn_calloc((size_t)s->queue_cap, sizeof *s->queue);
    s->workers = rn_calloc((size_t)s->cfg.max_associations, sizeof *s->workers);
    if (!s->queue || !s->workers) {
        rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        goto fail;
    }
    int fd = listen_on(s->cfg.bind_address ? s->cfg.bind_address : "0.0.0.0", s->cfg.port,
                       s->cfg.max_pending, &s->port, err);
    if (fd < 0)
        goto fail;
    s->listen_fd = fd;
    if (pipe2(s->wake, O_CLOEXEC) != 0) {
        rn_error_set(err, RN_ERR_IO, "pipe: %s", strerror(errno));
        goto fail;
    }
    for (int i = 0; i < s->cfg.max_associations; i++) {
        if (pthread_create(&s->workers[i], NULL, worker_main, s) != 0) {
            rn_error_set(err, RN_ERR_NOMEM, "cannot start worker thread %d", i);
            pthread_mutex_lock(&s->lock);
            s->stopping = true;
            pthread_cond_broadcast(&s->cond);
            pthread_mutex_unlock(&s->lock);
            for (int j = 0; j < i; j++)
                pthread_join(s->workers[j], NULL);
            goto fail;
        }
        s->worker_count++;
    }
    if (pthread_create(&s->acceptor, NULL, acceptor_main, s) != 0) {
        rn_error_set(err, RN_ERR_NOMEM, "cannot start the acceptor thread");
        pthread_mutex_lock(&s->lock);
        s->stopping = true;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
        for (int j = 0; j < s->worker_count; j++)
            pthread_join(s->workers[j], NULL);
        goto fail;
    }
    return s;
fail:
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->wake[0] >= 0) {
        close(s->wake[0]);
        close(s->wake[1]);
    }
    free(s->queue);
    free(s->workers);
    free(s->serve.abstracts);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s);
    return NULL;
}

int rn_scp_port(const RnScp *s) { return s->port; }

void rn_scp_stats(RnScp *s, RnScpStats *out)
{
    pthread_mutex_lock(&s->lock);
    *out = s->stats;
    pthread_mutex_unlock(&s->lock);
}

void rn_scp_stop(RnScp *s)
{
    if (!s)
        return;
    ssize_t w = write(s->wake[1], "x", 1);
    (void)w;
    pthread_join(s->acceptor, NULL);
    close(s->listen_fd);
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    for (int i = 0; i < s->worker_count; i++)
        pthread_join(s->workers[i], NULL);
    close(s->wake[0]);
    close(s->wake[1]);
    free(s->queue);
    free(s->workers);
    free(s->serve.abstracts);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s);
}
