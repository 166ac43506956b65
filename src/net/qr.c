/*
 * Query/Retrieve SCP (PS3.4 C.4): the DIMSE side of C-FIND (PS3.7 9.1.2),
 * C-MOVE (9.1.4) and C-GET (9.1.3) for the Patient Root and Study Root
 * information models, on top of a provider (RnQrProvider) that knows the
 * data: the node answers from its SQLite index.
 *
 * Per request: the identifier is received (bounded at 1 MiB) and parsed in
 * the context's transfer syntax; an unreadable one is answered 0xC000, a
 * missing or unknown Query/Retrieve Level, or one the model does not have
 * (PATIENT in Study Root), 0xA900 (PS3.4 C.4.1.1.4, C.4.2.1.5, C.4.3.1.4).
 * C-FIND sends one pending response (0xFF00) per match and honours C-CANCEL
 * between them (0xFE00). C-MOVE looks the destination AE up through the
 * provider (0xA801 when unknown), opens one association to it proposing a
 * context per SOP class and transfer syntax of the instances, and sends them
 * with the Move Originator fields (PS3.7 9.3.1.1). C-GET sends them on the
 * requesting association over the storage contexts the SCU proposed with
 * the SCP role (PS3.4 C.4.3.1). After each sub-operation a pending response
 * carries the counts (remaining, completed, failed, warning); the final
 * status is 0x0000, 0xB000 when some failed (with the Failed SOP Instance
 * UID List, (0008,0058)), 0xFE00 when cancelled, or 0xA702 when the
 * destination cannot be reached.
 */
#include "net/net_internal.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RN_TAG_FailedSOPInstanceUIDList RN_TAG(0x0008, 0x0058)
#define QR_IDENTIFIER_MAX (1u << 20)

typedef struct QrItem {
    char *path;
    char sop_class[RN_NET_UID_MAX + 1];
    char sop_instance[RN_NET_UID_MAX + 1];
    char ts[RN_NET_UID_MAX + 1];
} QrItem;

struct RnQrResponder {
    RnAssoc *a;
    uint8_t pc;
    const RnDimseCommand *rq;
    const char *ts;
    bool cancelled;
    QrItem *items;
    size_t n, cap;
};

bool rn_assoc_cancel_arrived_(RnAssoc *a)
{
    if (a->cancel_requested)
        return true;
    /* A consumed P-DATA-TF may still be marked current: only unread PDVs count. */
    if (!a->have_pdu || a->pdu_pos >= a->pdu_len) {
        struct pollfd pfd = {.fd = a->conn->fd, .events = POLLIN};
        bool tls_data = a->conn->ops->pending && a->conn->ops->pending(a->conn) > 0;
        if (!tls_data && poll(&pfd, 1, 0) <= 0)
            return false;
    }
    RnDimseCommand c;
    uint8_t pc;
    if (rn_dimse_recv_command(a, &c, &pc, a->timeouts.network_ms, NULL) != 0)
        return true; /* the association is gone: stop as well */
    if (c.command_field == RN_DIMSE_C_CANCEL_RQ) {
        a->cancel_requested = true;
        a->cancel_msg_id = c.message_id_responded;
        return true;
    }
    return false;
}

static int qr_response(RnAssoc *a, uint8_t pc, const RnDimseCommand *rq, uint16_t status,
                       const char *comment, const uint16_t *counts, const RnDataset *data,
                       const char *ts, RnError *err)
{
    RnDimseCommand r = {0};
    r.command_field = (uint16_t)(rq->command_field | 0x8000);
    r.present = RN_CMD_MESSAGE_ID_RESPONDED | RN_CMD_STATUS | RN_CMD_AFFECTED_SOP_CLASS;
    r.message_id_responded = rq->message_id;
    snprintf(r.affected_sop_class, sizeof r.affected_sop_class, "%s", rq->affected_sop_class);
    r.status = status;
    r.data_set_type = data ? 0x0000 : RN_DIMSE_NO_DATASET;
    if (comment && comment[0] && status != RN_STATUS_SUCCESS &&
        (status & 0xF000) != 0xF000) {
        r.present |= RN_CMD_ERROR_COMMENT;
        snprintf(r.error_comment, sizeof r.error_comment, "%.64s", comment);
    }
    if (counts) {
        r.present |= RN_CMD_SUBOP_COUNTS;
        r.remaining = counts[0];
        r.completed = counts[1];
        r.failed = counts[2];
        r.warning = counts[3];
    }
    RnBuf b = {0};
    int rc = data ? rn_dataset_write(data, ts, &b, err) : 0;
    if (!rc)
        rc = rn_dimse_send_command(a, pc, &r, err);
    if (!rc && data)
        rc = rn_dimse_send_dataset(a, pc, b.data, b.len, err);
    rn_buf_free(&b);
    return rc;
}

int rn_qr_send_match(RnQrResponder *r, const RnDataset *match, RnError *err)
{
    if (r->cancelled || rn_assoc_cancel_arrived_(r->a)) {
        r->cancelled = true;
        return 1;
    }
    return qr_response(r->a, r->pc, r->rq, RN_STATUS_PENDING, NULL, NULL, match, r->ts, err);
}

int rn_qr_add_instance(RnQrResponder *r, const char *path, const char *sop_class,
                       const char *sop_instance, const char *transfer_syntax, RnError *err)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        QrItem *p = rn_realloc(r->items, cap * sizeof *p);
        if (!p)
            return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        r->items = p;
        r->cap = cap;
    }
    QrItem *it = &r->items[r->n];
    memset(it, 0, sizeof *it);
    if (!(it->path = rn_strdup(path)))
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    snprintf(it->sop_class, sizeof it->sop_class, "%s", sop_class ? sop_class : "");
    snprintf(it->sop_instance, sizeof it->sop_instance, "%s", sop_instance ? sop_instance : "");
    snprintf(it->ts, sizeof it->ts, "%s", transfer_syntax ? transfer_syntax : "");
    r->n++;
    return 0;
}

static void responder_free(RnQrResponder *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->items[i].path);
    free(r->items);
}

/* ---- identifier and model checks ---------------------------------------------------------- */

static bool model_of(uint16_t field, const char *uid, bool *patient_root)
{
    static const struct {
        uint16_t field;
        const char *uid;
        bool patient_root;
    } models[] = {
        {RN_DIMSE_C_FIND_RQ, RN_UID_PATIENT_ROOT_FIND, true},
        {RN_DIMSE_C_FIND_RQ, RN_UID_STUDY_ROOT_FIND, false},
        {RN_DIMSE_C_MOVE_RQ, RN_UID_PATIENT_ROOT_MOVE, true},
        {RN_DIMSE_C_MOVE_RQ, RN_UID_STUDY_ROOT_MOVE, false},
        {RN_DIMSE_C_GET_RQ, RN_UID_PATIENT_ROOT_GET, true},
        {RN_DIMSE_C_GET_RQ, RN_UID_STUDY_ROOT_GET, false},
    };
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
        if (models[i].field == field && !strcmp(models[i].uid, uid)) {
            *patient_root = models[i].patient_root;
            return true;
        }
    return false;
}

/* ---- sub-operations ---------------------------------------------------------------------------- */

typedef struct SubopCounts {
    uint16_t remaining, completed, failed, warning;
} SubopCounts;

/* Appends a UID to the Failed SOP Instance UID List being built. */
static void failed_add(RnBuf *list, const char *uid)
{
    if (list->len)
        rn_buf_append(list, "\\", 1);
    rn_buf_append(list, uid[0] ? uid : "0", strlen(uid[0] ? uid : "0"));
}

/* One C-STORE sub-operation; returns 0, or nonzero when the association it
 * runs on is gone (stop). */
static int run_subop(RnAssoc *sub, const QrItem *it, const char *orig_ae, uint16_t orig_id,
                     SubopCounts *c, RnBuf *failed)
{
    RnError err = {0};
    uint16_t status = 0xFFFF;
    int rc = rn_scu_store_file(sub, it->path, orig_ae, orig_id, &status, &err);
    if (c->remaining)
        c->remaining--;
    if (rc == 0 && status == RN_STATUS_SUCCESS) {
        c->completed++;
    } else if (rc == 0 && (status & 0xF000) == 0xB000) {
        c->warning++;
    } else {
        c->failed++;
        failed_add(failed, it->sop_instance);
        if (rc)
            rn_warn("sub-operation C-STORE of %s: %s", it->sop_instance, err.message);
        else
            rn_warn("sub-operation C-STORE of %s: status 0x%04X", it->sop_instance, status);
    }
    return rc && rn_assoc_state(sub) != RN_STA6 ? -1 : 0;
}

/* Opens the C-MOVE sub-association: a context per SOP class and transfer
 * syntax of the items (their own syntax, then explicit and implicit LE). */
static RnAssoc *open_move_destination(const RnScpConfig *cfg, const RnQrDestination *d,
                                      const char *dest_ae, const RnQrResponder *r, RnError *err)
{
    RnAssocParams proposal = {0};
    for (size_t i = 0; i < r->n; i++) {
        const QrItem *it = &r->items[i];
        bool have = false;
        for (size_t k = 0; k < proposal.context_count && !have; k++)
            have = !strcmp(proposal.contexts[k].abstract_syntax, it->sop_class) &&
                   !strcmp(proposal.contexts[k].transfer_syntaxes[0],
                           it->ts[0] ? it->ts : RN_UID_EXPLICIT_VR_LE);
        if (have || proposal.context_count >= RN_PC_MAX)
            continue;
        const char *ts[3] = {it->ts[0] ? it->ts : RN_UID_EXPLICIT_VR_LE, RN_UID_EXPLICIT_VR_LE,
                             RN_UID_IMPLICIT_VR_LE};
        size_t nts = 3;
        if (!strcmp(ts[0], RN_UID_EXPLICIT_VR_LE)) {
            ts[1] = RN_UID_IMPLICIT_VR_LE;
            nts = 2;
        } else if (!strcmp(ts[0], RN_UID_IMPLICIT_VR_LE)) {
            nts = 2;
        }
        if (rn_assoc_params_add_context(&proposal, it->sop_class, ts, nts, err) < 0) {
            rn_assoc_params_clear(&proposal);
            return NULL;
        }
    }
    RnScuOptions o = {.host = d->host,
                      .port = d->port,
                      .calling_ae = cfg->ae_title ? cfg->ae_title : "RADNODE",
                      .called_ae = dest_ae,
                      .timeouts = cfg->timeouts,
                      .tls = d->tls};
    RnAssocReject rj = {0};
    RnAssoc *sub = rn_assoc_request(&o, &proposal, &rj, err);
    rn_assoc_params_clear(&proposal);
    return sub;
}

static int final_retrieve_response(RnAssoc *a, uint8_t pc, const RnDimseCommand *cmd,
                                   const char *ts, uint16_t status, const char *comment,
                                   const SubopCounts *c, const RnBuf *failed)
{
    RnError err = {0};
    uint16_t counts[4] = {c->remaining, c->completed, c->failed, c->warning};
    RnDataset *ds = NULL;
    if (failed->len) {
        ds = rn_dataset_create();
        char *list = rn_malloc(failed->len + 1);
        if (ds && list) {
            memcpy(list, failed->data, failed->len);
            list[failed->len] = '\0';
            rn_dataset_set_string(ds, RN_TAG_FailedSOPInstanceUIDList, RN_VR_UI, list, NULL);
        }
        free(list);
    }
    int rc = qr_response(a, pc, cmd, status, comment, counts, ds, ts, &err);
    rn_dataset_destroy(ds);
    return rc;
}

/* Tells the SCP's observer that the sub-operations of a C-MOVE/C-GET are over. */
static void retrieve_done(const RnScpConfig *cfg, RnAssoc *a, const RnDimseCommand *cmd,
                          const RnQrDestination *dest, const SubopCounts *c, bool cancelled)
{
    if (!cfg->on_event)
        return;
    bool move = cmd->command_field == RN_DIMSE_C_MOVE_RQ;
    RnScpEvent ev = {.kind = RN_SCP_EVENT_RETRIEVE_DONE,
                     .peer = rn_conn_peer(a->conn),
                     .peer_address = rn_conn_peer_address(a->conn),
                     .calling_ae = a->rq.calling_ae,
                     .called_ae = a->rq.called_ae,
                     .tls = rn_conn_is_tls(a->conn),
                     .assoc_user = a->user,
                     .command_field = cmd->command_field,
                     .move_destination = move ? cmd->move_destination : NULL,
                     .destination_address = move ? dest->host : NULL,
                     .completed = c->completed,
                     .failed = c->failed,
                     .warning = c->warning,
                     .cancelled = cancelled};
    cfg->on_event(cfg->event_user, &ev);
}

static int serve_retrieve(const RnScpConfig *cfg, RnAssoc *a, uint8_t pc,
                          const RnDimseCommand *cmd, const RnQrRequest *rq, const char *ts)
{
    bool move = cmd->command_field == RN_DIMSE_C_MOVE_RQ;
    char comment[160] = "";
    RnQrDestination dest = {0};
    RnError err = {0};
    if (move && (!cmd->move_destination[0] || !cfg->qr.destination ||
                 !cfg->qr.destination(cfg->qr.user, cmd->move_destination, &dest))) {
        rn_info("C-MOVE from %s: move destination \"%s\" unknown", rq->calling_ae,
                cmd->move_destination);
        return qr_response(a, pc, cmd, RN_STATUS_MOVE_DESTINATION_UNKNOWN,
                           "move destination unknown", NULL, NULL, ts, &err);
    }
    RnQrResponder r = {.a = a, .pc = pc, .rq = cmd, .ts = ts};
    uint16_t status = cfg->qr.retrieve(cfg->qr.user, rq, &r, comment, sizeof comment);
    if (status != RN_STATUS_SUCCESS) {
        responder_free(&r);
        return qr_response(a, pc, cmd, status, comment, NULL, NULL, ts, &err);
    }
    SubopCounts c = {.remaining = (uint16_t)(r.n > 0xFFFF ? 0xFFFF : r.n)};
    RnBuf failed = {0};
    RnAssoc *sub = a;
    int rc = 0;
    bool cancelled = false;
    a->cancel_requested = false;
    if (move && r.n > 0) {
        sub = open_move_destination(cfg, &dest, cmd->move_destination, &r, &err);
        if (!sub) {
            rn_warn("C-MOVE to %s (%s:%d): %s", cmd->move_destination, dest.host, dest.port,
                    err.message);
            for (size_t i = 0; i < r.n; i++)
                failed_add(&failed, r.items[i].sop_instance);
            c.failed = c.remaining;
            c.remaining = 0;
            retrieve_done(cfg, a, cmd, &dest, &c, false);
            snprintf(comment, sizeof comment, "cannot reach %s", cmd->move_destination);
            rc = final_retrieve_response(a, pc, cmd, ts, RN_STATUS_MOVE_OUT_OF_RESOURCES_SUBOPS,
                                         comment, &c, &failed);
            rn_buf_free(&failed);
            responder_free(&r);
            return rc;
        }
    }
    size_t i = 0;
    for (; i < r.n; i++) {
        if (rn_assoc_cancel_arrived_(a)) {
            cancelled = true;
            break;
        }
        if (run_subop(sub, &r.items[i], move ? rq->calling_ae : NULL, cmd->message_id, &c,
                      &failed) != 0) {
            /* The association carrying the sub-operations is gone. */
            if (!move) {
                rc = RN_ASSOC_ABORTED;
                break;
            }
            for (size_t k = i + 1; k < r.n; k++) {
                failed_add(&failed, r.items[k].sop_instance);
                c.failed++;
            }
            c.remaining = 0;
            i = r.n;
            break;
        }
        if (a->cancel_requested) {
            cancelled = true;
            i++;
            break;
        }
        if (i + 1 < r.n) {
            uint16_t counts[4] = {c.remaining, c.completed, c.failed, c.warning};
            if ((rc = qr_response(a, pc, cmd, RN_STATUS_PENDING, NULL, counts, NULL, ts, &err)))
                break;
        }
    }
    if (sub != a) {
        if (rn_assoc_state(sub) == RN_STA6)
            rn_assoc_release(sub, NULL);
        else
            rn_assoc_destroy(sub);
    }
    retrieve_done(cfg, a, cmd, &dest, &c, cancelled);
    if (!rc && a->fsm.state == RN_STA6) {
        uint16_t st = cancelled                  ? RN_STATUS_CANCEL
                      : (c.failed || c.warning) ? RN_STATUS_SUBOPS_WARNING
                                                : RN_STATUS_SUCCESS;
        rn_info("%s from %s: %u completed, %u failed, %u warning%s", move ? "C-MOVE" : "C-GET",
                rq->calling_ae, c.completed, c.failed, c.warning, cancelled ? ", cancelled" : "");
        rc = final_retrieve_response(a, pc, cmd, ts, st, NULL, &c, &failed);
    } else if (!rc) {
        rc = RN_ASSOC_ABORTED;
    }
    a->cancel_requested = false;
    rn_buf_free(&failed);
    responder_free(&r);
    return rc;
}

int rn_qr_serve_(const RnScpConfig *cfg, RnAssoc *a, uint8_t pc, const RnDimseCommand *cmd)
{
    RnError err = {0};
    const char *ts = rn_assoc_context_ts(a, pc);
    if (!ts)
        ts = RN_UID_IMPLICIT_VR_LE;
    RnBuf id = {0};
    int rc = 0;
    if (rn_dimse_has_dataset(cmd)) {
        rc = rn_dimse_recv_dataset_buf(a, pc, &id, QR_IDENTIFIER_MAX, &err);
        if (rc == RN_ERR_LIMIT) {
            rn_buf_free(&id);
            return qr_response(a, pc, cmd, RN_STATUS_OUT_OF_RESOURCES, "identifier too large",
                               NULL, NULL, ts, NULL);
        }
        if (rc) {
            rn_buf_free(&id);
            return rc;
        }
    }
    bool patient_root = false;
    const char *abstract = rn_assoc_context_abstract(a, pc);
    bool want_find = cmd->command_field == RN_DIMSE_C_FIND_RQ;
    bool served = want_find ? cfg->qr.find != NULL
                            : cfg->qr.retrieve != NULL &&
                                  (cmd->command_field == RN_DIMSE_C_GET_RQ ||
                                   cfg->qr.destination != NULL);
    if (!served || !model_of(cmd->command_field, cmd->affected_sop_class, &patient_root) ||
        (abstract && strcmp(abstract, cmd->affected_sop_class) != 0)) {
        rn_buf_free(&id);
        return qr_response(a, pc, cmd, RN_STATUS_SOP_CLASS_NOT_SUPPORTED,
                           "SOP class not supported on this context", NULL, NULL, ts, NULL);
    }
    if (!rn_dimse_has_dataset(cmd)) {
        rn_buf_free(&id);
        return qr_response(a, pc, cmd, RN_STATUS_IDENTIFIER_MISMATCH, "no identifier", NULL,
                           NULL, ts, NULL);
    }
    RnDataset *ds = rn_dataset_read(id.data, id.len, ts, &err);
    if (!ds) {
        rn_buf_free(&id);
        rn_info("%s from %s: unreadable identifier: %s", rn_dimse_command_name(cmd->command_field),
                a->rq.calling_ae, err.message);
        return qr_response(a, pc, cmd, RN_STATUS_CANNOT_UNDERSTAND, "unreadable identifier",
                           NULL, NULL, ts, NULL);
    }
    char level[32] = "";
    if (rn_dataset_get_string(ds, RN_TAG_QueryRetrieveLevel, 0, level, sizeof level, NULL) ||
        !level[0]) {
        rn_dataset_destroy(ds);
        rn_buf_free(&id);
        return qr_response(a, pc, cmd, RN_STATUS_IDENTIFIER_MISMATCH,
                           "Query/Retrieve Level (0008,0052) missing", NULL, NULL, ts, NULL);
    }
    bool known = !strcmp(level, "STUDY") || !strcmp(level, "SERIES") ||
                 !strcmp(level, "IMAGE") || (patient_root && !strcmp(level, "PATIENT"));
    if (!known) {
        char comment[64];
        snprintf(comment, sizeof comment, "level %.16s not in this model", level);
        rn_dataset_destroy(ds);
        rn_buf_free(&id);
        return qr_response(a, pc, cmd, RN_STATUS_IDENTIFIER_MISMATCH, comment, NULL, NULL, ts,
                           NULL);
    }
    RnQrRequest rq = {
        .calling_ae = a->rq.calling_ae,
        .called_ae = a->rq.called_ae,
        .peer = rn_conn_peer(a->conn),
        .command_field = cmd->command_field,
        .sop_class = cmd->affected_sop_class,
        .patient_root = patient_root,
        .level = level,
        .identifier = ds,
        .move_destination = (cmd->present & RN_CMD_MOVE_DESTINATION) ? cmd->move_destination
                                                                       : NULL,
        .identifier_bytes = id.data,
        .identifier_len = id.len,
        .transfer_syntax = ts,
        .assoc_user = a->user,
    };
    if (want_find) {
        RnQrResponder r = {.a = a, .pc = pc, .rq = cmd, .ts = ts};
        char comment[160] = "";
        a->cancel_requested = false;
        uint16_t status = cfg->qr.find(cfg->qr.user, &rq, &r, comment, sizeof comment);
        /* A C-CANCEL that arrived after the last match still ends it as cancelled. */
        if (!r.cancelled && status == RN_STATUS_SUCCESS && a->fsm.state == RN_STA6 &&
            rn_assoc_cancel_arrived_(a))
            r.cancelled = true;
        a->cancel_requested = false;
        rn_dataset_destroy(ds);
        rn_buf_free(&id);
        if (a->fsm.state != RN_STA6)
            return RN_ASSOC_ABORTED;
        return qr_response(a, pc, cmd, r.cancelled ? RN_STATUS_CANCEL : status, comment, NULL,
                           NULL, ts, &err);
    }
    rc = serve_retrieve(cfg, a, pc, cmd, &rq, ts);
    rn_dataset_destroy(ds);
    rn_buf_free(&id);
    return rc;
}
