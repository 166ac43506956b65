/*
 * SCU operations on an established association: C-ECHO (PS3.7 9.1.5,
 * Verification SOP class of PS3.4 Annex A), C-STORE of Part 10 files (PS3.4
 * Annex B; PS3.7 9.1.1), C-FIND (PS3.4 C.4.1 and PS3.7 9.1.2, with C-CANCEL
 * 9.3.2.3), C-MOVE (C.4.2, PS3.7 9.1.4) and C-GET (C.4.3, PS3.7 9.1.3, whose
 * C-STORE sub-operations arrive on the same association and are answered
 * here).
 *
 * C-STORE sends a file's data set straight from the file, behind a freshly
 * encoded command, when the peer accepted the file's own transfer syntax.
 * Otherwise the data set is converted with the dataset layer into an
 * accepted uncompressed transfer syntax (PS3.5 A.1-A.3); an encapsulated
 * source is decoded first, when radnode has a decoder for it.
 */
#include "net/net_internal.h"
#include "radnode/codec.h"
#include "radnode/dicom.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int wait_response(RnAssoc *a, uint16_t msg_id, uint16_t field, RnDimseCommand *rsp,
                         uint8_t *pc, RnError *err)
{
    int rc = rn_dimse_recv_command(a, rsp, pc, a->timeouts.dimse_ms, err);
    /* An SCP running C-GET sub-operations may see the SCU's C-CANCEL-RQ
     * before the C-STORE-RSP it waits for (PS3.7 9.3.2.3): note it, go on. */
    while (rc == 0 && rsp->command_field == RN_DIMSE_C_CANCEL_RQ) {
        a->cancel_requested = true;
        a->cancel_msg_id = rsp->message_id_responded;
        rc = rn_dimse_recv_command(a, rsp, pc, a->timeouts.dimse_ms, err);
    }
    if (rc)
        return rc < 0 ? rc : rn_error_set(err, RN_ERR_NET, "association ended: %s",
                                          err ? err->message : "");
    if (rsp->command_field != field || rsp->message_id_responded != msg_id) {
        rn_assoc_send_abort_(a, 2, 2);
        return rn_error_set(err, RN_ERR_PARSE, "expected %s for message %u, got %s for %u",
                            rn_dimse_command_name(field), msg_id,
                            rn_dimse_command_name(rsp->command_field),
                            rsp->message_id_responded);
    }
    return 0;
}

int rn_scu_echo(RnAssoc *a, uint16_t *status, RnError *err)
{
    uint8_t pc = rn_assoc_find_context(a, RN_UID_VERIFICATION, NULL);
    if (!pc)
        return rn_error_set(err, RN_ERR_UNSUPPORTED, "peer did not accept Verification");
    RnDimseCommand c = {0};
    c.command_field = RN_DIMSE_C_ECHO_RQ;
    c.present = RN_CMD_AFFECTED_SOP_CLASS | RN_CMD_MESSAGE_ID;
    strcpy(c.affected_sop_class, RN_UID_VERIFICATION);
    c.message_id = rn_assoc_next_message_id(a);
    c.data_set_type = RN_DIMSE_NO_DATASET;
    int rc = rn_dimse_send_command(a, pc, &c, err);
    RnDimseCommand r;
    uint8_t rpc;
    if (!rc)
        rc = wait_response(a, c.message_id, RN_DIMSE_C_ECHO_RSP, &r, &rpc, err);
    if (!rc)
        *status = r.status;
    return rc;
}

/* ---- C-STORE ---------------------------------------------------------------------- */

struct file_source {
    int fd;
    uint64_t left;
};

static ssize_t file_source_read(void *ctx, uint8_t *buf, size_t cap, RnError *err)
{
    struct file_source *s = ctx;
    if (s->left == 0)
        return 0;
    size_t want = s->left < cap ? (size_t)s->left : cap;
    ssize_t n;
    do
        n = read(s->fd, buf, want);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return rn_error_set(err, RN_ERR_IO, "read: %s", strerror(errno));
    if (n == 0)
        return rn_error_set(err, RN_ERR_TRUNCATED, "file shrank while sending");
    s->left -= (uint64_t)n;
    return n;
}

static bool is_uncompressed(const char *ts)
{
    return !strcmp(ts, RN_UID_EXPLICIT_VR_LE) || !strcmp(ts, RN_UID_IMPLICIT_VR_LE) ||
           !strcmp(ts, RN_UID_EXPLICIT_VR_BE);
}

/* Converts the file's data set into target_ts (uncompressed) in out. */
static int transcode(RnDicomFile *f, const char *target_ts, RnBuf *out, RnError *err)
{
    const char *src_ts = rn_dicom_file_transfer_syntax(f);
    const RnTransferSyntax *t = rn_transfer_syntax_find(src_ts);
    RnDataset *ds = rn_dicom_file_dataset(f);
    if ((!t || t->encapsulated) && rn_dataset_has(ds, RN_TAG_PixelData)) {
        if (!rn_codec_can_decode(src_ts))
            return rn_error_set(err, RN_ERR_UNSUPPORTED,
                                "peer does not accept %s and radnode has no decoder for it",
                                src_ts);
        RnImageInfo info;
        size_t len = 0;
        uint8_t *pix = rn_pixel_decode_all(f, &info, &len, err);
        if (!pix)
            return err ? err->code : RN_ERR_UNSUPPORTED;
        if (len & 1) {
            uint8_t *p2 = rn_realloc(pix, len + 1);
            if (!p2) {
                free(pix);
                return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
            }
            pix = p2;
            pix[len++] = 0;
        }
        RnVR vr = info.bits_allocated > 8 ? RN_VR_OW : RN_VR_OB;
        if (rn_dataset_set_bytes_take(ds, RN_TAG_PixelData, vr, pix, len, err)) {
            free(pix);
            return err ? err->code : RN_ERR_NOMEM;
        }
        int rc = rn_dataset_set_string(ds, RN_TAG_PhotometricInterpretation, RN_VR_CS,
                                       info.photometric, err);
        if (!rc && info.samples_per_pixel > 1)
            rc = rn_dataset_set_uint(ds, RN_TAG_PlanarConfiguration, RN_VR_US, 0, err);
        if (!rc && t && t->lossy)
            rc = rn_dataset_set_string(ds, RN_TAG(0x0028, 0x2110), RN_VR_CS, "01", err);
        rn_dataset_remove(ds, RN_TAG_ExtendedOffsetTable);
        rn_dataset_remove(ds, RN_TAG_ExtendedOffsetTableLengths);
        if (rc)
            return rc;
    }
    return rn_dataset_write(ds, target_ts, out, err);
}

static int send_store_rq(RnAssoc *a, uint8_t pc, const char *sop_class, const char *sop_inst,
                         const char *orig_ae, uint16_t orig_id, uint16_t *msg_id, RnError *err)
{
    RnDimseCommand c = {0};
    c.command_field = RN_DIMSE_C_STORE_RQ;
    c.present = RN_CMD_AFFECTED_SOP_CLASS | RN_CMD_AFFECTED_SOP_INSTANCE | RN_CMD_MESSAGE_ID |
                RN_CMD_PRIORITY;
    snprintf(c.affected_sop_class, sizeof c.affected_sop_class, "%s", sop_class);
    snprintf(c.affected_sop_instance, sizeof c.affected_sop_instance, "%s", sop_inst);
    c.message_id = *msg_id = rn_assoc_next_message_id(a);
    c.priority = RN_DIMSE_PRIORITY_MEDIUM;
    c.data_set_type = 0x0000;
    if (orig_ae) {
        c.present |= RN_CMD_MOVE_ORIGINATOR;
        snprintf(c.move_originator_ae, sizeof c.move_originator_ae, "%s", orig_ae);
        c.move_originator_id = orig_id;
    }
    return rn_dimse_send_command(a, pc, &c, err);
}

int rn_scu_store_file(RnAssoc *a, const char *path, const char *move_originator_ae,
                      uint16_t move_originator_id, uint16_t *status, RnError *err)
{
    RnFileProbe probe;
    RnDicomFile *f = NULL;
    int rc = rn_net_probe_file(path, &probe, NULL);
    if (rc) {
        /* No (complete) Part 10 meta: the dataset layer reads what it can. */
        f = rn_dicom_read_file(path, NULL, err);
        if (!f)
            return err ? err->code : RN_ERR_PARSE;
        RnDataset *ds = rn_dicom_file_dataset(f);
        if (rn_dataset_get_string(ds, RN_TAG_SOPClassUID, 0, probe.sop_class,
                                  sizeof probe.sop_class, NULL) ||
            rn_dataset_get_string(ds, RN_TAG_SOPInstanceUID, 0, probe.sop_instance,
                                  sizeof probe.sop_instance, NULL)) {
            rn_dicom_file_destroy(f);
            return rn_error_set(err, RN_ERR_PARSE, "%s: no SOP Class/Instance UID", path);
        }
        snprintf(probe.transfer_syntax, sizeof probe.transfer_syntax, "%s",
                 rn_dicom_file_transfer_syntax(f));
        probe.dataset_offset = 0;
    }
    if (!f) {
        /* The command names the data set's SOP class and instance (PS3.4
         * B.2); files whose meta disagrees with their data set exist, and
         * peers check the data set. Only the header is read. */
        RnReadOptions ro = {.stop_before = RN_TAG_PixelData, .defer_threshold = 4096};
        RnDicomFile *hf = rn_dicom_read_file(path, &ro, NULL);
        if (hf) {
            RnDataset *ds = rn_dicom_file_dataset(hf);
            char uid[RN_NET_UID_MAX + 1];
            if (!rn_dataset_get_string(ds, RN_TAG_SOPClassUID, 0, uid, sizeof uid, NULL) && uid[0])
                strcpy(probe.sop_class, uid);
            if (!rn_dataset_get_string(ds, RN_TAG_SOPInstanceUID, 0, uid, sizeof uid, NULL) &&
                uid[0])
                strcpy(probe.sop_instance, uid);
            rn_dicom_file_destroy(hf);
        }
    }
    uint8_t pc = f ? 0 : rn_assoc_find_context(a, probe.sop_class, probe.transfer_syntax);
    uint16_t msg_id = 0;
    if (pc) {
        /* The file's own encoding: stream it as is. */
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return rn_error_set(err, RN_ERR_IO, "%s: %s", path, strerror(errno));
        if (lseek(fd, (off_t)probe.dataset_offset, SEEK_SET) < 0) {
            close(fd);
            return rn_error_set(err, RN_ERR_IO, "%s: %s", path, strerror(errno));
        }
        struct file_source src = {fd, probe.file_size - probe.dataset_offset};
        rc = send_store_rq(a, pc, probe.sop_class, probe.sop_instance, move_originator_ae,
                           move_originator_id, &msg_id, err);
        if (!rc)
            rc = rn_dimse_send_dataset_stream(a, pc, file_source_read, &src, err);
        close(fd);
        if (rc) {
            /* Mid-data-set failure: the peer cannot resynchronise; abort. */
            if (rn_assoc_state(a) == RN_STA6)
                rn_assoc_send_abort_(a, 0, 0);
            return rc;
        }
    } else {
        /* Pick an accepted uncompressed context for the class. */
        static const char *const targets[] = {RN_UID_EXPLICIT_VR_LE, RN_UID_IMPLICIT_VR_LE,
                                              RN_UID_EXPLICIT_VR_BE};
        const char *target = NULL;
        if (f && (pc = rn_assoc_find_context(a, probe.sop_class, probe.transfer_syntax)))
            target = probe.transfer_syntax;
        for (size_t i = 0; !pc && i < 3; i++)
            if ((pc = rn_assoc_find_context(a, probe.sop_class, targets[i])))
                target = targets[i];
        if (!pc) {
            rn_dicom_file_destroy(f);
            return rn_error_set(err, RN_ERR_UNSUPPORTED,
                                "%s: peer accepted no context for %s in %s or uncompressed",
                                path, probe.sop_class, probe.transfer_syntax);
        }
        if (!f && !(f = rn_dicom_read_file(path, NULL, err)))
            return err ? err->code : RN_ERR_PARSE;
        RnBuf buf = {0};
        rc = transcode(f, target, &buf, err);
        rn_dicom_file_destroy(f);
        if (rc) {
            rn_buf_free(&buf);
            if (err)
                rn_error_prefix(err, "%s: ", path);
            return rc;
        }
        if (!is_uncompressed(probe.transfer_syntax) || strcmp(target, probe.transfer_syntax))
            rn_debug("%s: sent as %s instead of %s", path, target, probe.transfer_syntax);
        rc = send_store_rq(a, pc, probe.sop_class, probe.sop_instance, move_originator_ae,
                           move_originator_id, &msg_id, err);
        if (!rc)
            rc = rn_dimse_send_dataset(a, pc, buf.data, buf.len, err);
        rn_buf_free(&buf);
        if (rc)
            return rc;
    }
    RnDimseCommand r;
    uint8_t rpc;
    rc = wait_response(a, msg_id, RN_DIMSE_C_STORE_RSP, &r, &rpc, err);
    if (!rc) {
        *status = r.status;
        if (r.status != RN_STATUS_SUCCESS && err && (r.present & RN_CMD_ERROR_COMMENT))
            rn_error_set(err, RN_ERR_NET, "%s", r.error_comment);
    }
    return rc;
}

/* ---- C-FIND / C-MOVE / C-GET ------------------------------------------------------- */

static int send_cancel(RnAssoc *a, uint8_t pc, uint16_t msg_id, RnError *err)
{
    RnDimseCommand c = {0};
    c.command_field = RN_DIMSE_C_CANCEL_RQ;
    c.present = RN_CMD_MESSAGE_ID_RESPONDED;
    c.message_id_responded = msg_id;
    c.data_set_type = RN_DIMSE_NO_DATASET;
    return rn_dimse_send_command(a, pc, &c, err);
}

static int start_query(RnAssoc *a, uint16_t field, const char *model, const char *destination,
                       const uint8_t *identifier, size_t len, const char *ts, uint8_t *pc,
                       uint16_t *msg_id, RnError *err)
{
    *pc = rn_assoc_find_context(a, model, NULL);
    if (!*pc)
        return rn_error_set(err, RN_ERR_UNSUPPORTED, "peer did not accept %s", model);
    const char *ctx_ts = rn_assoc_context_ts(a, *pc);
    if (ts && ctx_ts && strcmp(ts, ctx_ts))
        return rn_error_set(err, RN_ERR_INVALID, "identifier in %s, context uses %s", ts,
                            ctx_ts);
    RnDimseCommand c = {0};
    c.command_field = field;
    c.present = RN_CMD_AFFECTED_SOP_CLASS | RN_CMD_MESSAGE_ID | RN_CMD_PRIORITY;
    snprintf(c.affected_sop_class, sizeof c.affected_sop_class, "%s", model);
    c.message_id = *msg_id = rn_assoc_next_message_id(a);
    c.priority = RN_DIMSE_PRIORITY_MEDIUM;
    c.data_set_type = 0x0000;
    if (destination) {
        c.present |= RN_CMD_MOVE_DESTINATION;
        snprintf(c.move_destination, sizeof c.move_destination, "%s", destination);
    }
    int rc = rn_dimse_send_command(a, *pc, &c, err);
    if (!rc)
        rc = rn_dimse_send_dataset(a, *pc, identifier, len, err);
    return rc;
}

typedef struct StoreSubop {
    const RnStoreHandler *h;
    void *instance;
    bool failed;
} StoreSubop;

static int subop_sink(void *ctx, const uint8_t *d, size_t n, RnError *err)
{
    StoreSubop *s = ctx;
    int rc = s->h->data(s->instance, d, n, err);
    if (rc)
        s->failed = true;
    return rc;
}

static int drain_sink(void *ctx, const uint8_t *d, size_t n, RnError *err)
{
    (void)ctx, (void)d, (void)n, (void)err;
    return 0;
}

/* A C-STORE sub-operation of a C-GET, received on our association. */
static int serve_get_store(RnAssoc *a, uint8_t pc, const RnDimseCommand *cmd,
                           const RnStoreHandler *h, RnError *err)
{
    uint16_t status = RN_STATUS_SUCCESS;
    char comment[160] = "";
    const char *ts = rn_assoc_context_ts(a, pc);
    RnStoreRequest rq = {
        .calling_ae = a->ac.called_ae,
        .called_ae = a->ac.calling_ae,
        .peer = rn_conn_peer(a->conn),
        .sop_class = cmd->affected_sop_class,
        .sop_instance = cmd->affected_sop_instance,
        .transfer_syntax = ts ? ts : RN_UID_IMPLICIT_VR_LE,
        .message_id = cmd->message_id,
    };
    void *inst = NULL;
    int rc;
    RnError e2 = {0};
    if (!h || !h->begin || h->begin(h->user, &rq, &inst, &e2) != 0) {
        rc = rn_dimse_recv_dataset(a, pc, drain_sink, NULL, err);
        status = RN_STATUS_OUT_OF_RESOURCES;
        snprintf(comment, sizeof comment, "%.150s", e2.message);
    } else {
        StoreSubop s = {h, inst, false};
        rc = rn_dimse_recv_dataset(a, pc, subop_sink, &s, err);
        if (s.failed) {
            h->end(inst, false, comment, sizeof comment);
            status = RN_STATUS_OUT_OF_RESOURCES;
            rc = 0;
        } else if (rc) {
            h->end(inst, false, comment, sizeof comment);
        } else {
            status = h->end(inst, true, comment, sizeof comment);
        }
    }
    if (rc)
        return rc;
    RnDimseCommand r = {0};
    r.command_field = RN_DIMSE_C_STORE_RSP;
    r.present = RN_CMD_MESSAGE_ID_RESPONDED | RN_CMD_STATUS | RN_CMD_AFFECTED_SOP_CLASS |
                RN_CMD_AFFECTED_SOP_INSTANCE;
    r.message_id_responded = cmd->message_id;
    r.status = status;
    r.data_set_type = RN_DIMSE_NO_DATASET;
    strcpy(r.affected_sop_class, cmd->affected_sop_class);
    strcpy(r.affected_sop_instance, cmd->affected_sop_instance);
    if (comment[0] && status != RN_STATUS_SUCCESS) {
        r.present |= RN_CMD_ERROR_COMMENT;
        snprintf(r.error_comment, sizeof r.error_comment, "%s", comment);
    }
    return rn_dimse_send_command(a, pc, &r, err);
}

static int run_query(RnAssoc *a, uint16_t rq_field, const char *model, const char *destination,
                     const uint8_t *identifier, size_t len, const char *ts,
                     const RnStoreHandler *store, RnScuResponseFn fn, void *user,
                     uint16_t *status, RnError *err)
{
    uint8_t pc = 0;
    uint16_t msg_id = 0;
    int rc = start_query(a, rq_field, model, destination, identifier, len, ts, &pc, &msg_id, err);
    if (rc)
        return rc;
    uint16_t rsp_field = (uint16_t)(rq_field | 0x8000);
    bool cancelled = false;
    RnBuf data = {0};
    for (;;) {
        RnDimseCommand r;
        uint8_t rpc;
        rc = rn_dimse_recv_command(a, &r, &rpc, a->timeouts.dimse_ms, err);
        if (rc) {
            if (rc > 0)
                rc = RN_ERR_NET;
            break;
        }
        if (r.command_field == RN_DIMSE_C_STORE_RQ && rq_field == RN_DIMSE_C_GET_RQ) {
            rc = serve_get_store(a, rpc, &r, store, err);
            if (rc) {
                if (rc > 0)
                    rc = RN_ERR_NET;
                break;
            }
            continue;
        }
        if (r.command_field != rsp_field || r.message_id_responded != msg_id) {
            rn_assoc_send_abort_(a, 2, 2);
            rc = rn_error_set(err, RN_ERR_PARSE, "unexpected %s during %s",
                              rn_dimse_command_name(r.command_field),
                              rn_dimse_command_name(rq_field));
            break;
        }
        data.len = 0;
        if (rn_dimse_has_dataset(&r)) {
            rc = rn_dimse_recv_dataset_buf(a, rpc, &data, 64u << 20, err);
            if (rc) {
                if (rc > 0)
                    rc = RN_ERR_NET;
                break;
            }
        }
        bool pending = r.status == RN_STATUS_PENDING || r.status == RN_STATUS_PENDING_WARNING;
        if (fn && fn(user, &r, data.data, data.len, rn_assoc_context_ts(a, rpc)) && pending &&
            !cancelled) {
            cancelled = true;
            if ((rc = send_cancel(a, pc, msg_id, err)))
                break;
        }
        if (!pending) {
            *status = r.status;
            break;
        }
    }
    rn_buf_free(&data);
    return rc;
}

int rn_scu_find(RnAssoc *a, const char *model, const uint8_t *identifier, size_t len,
                const char *ts, RnScuResponseFn fn, void *user, uint16_t *status, RnError *err)
{
    return run_query(a, RN_DIMSE_C_FIND_RQ, model, NULL, identifier, len, ts, NULL, fn, user,
                     status, err);
}

int rn_scu_move(RnAssoc *a, const char *model, const char *destination,
                const uint8_t *identifier, size_t len, const char *ts, RnScuResponseFn fn,
                void *user, uint16_t *status, RnError *err)
{
    if (!destination || !destination[0])
        return rn_error_set(err, RN_ERR_INVALID, "C-MOVE needs a destination AE title");
    return run_query(a, RN_DIMSE_C_MOVE_RQ, model, destination, identifier, len, ts, NULL, fn,
                     user, status, err);
}

int rn_scu_get(RnAssoc *a, const char *model, const uint8_t *identifier, size_t len,
               const char *ts, const RnStoreHandler *store, RnScuResponseFn fn, void *user,
               uint16_t *status, RnError *err)
{
    return run_query(a, RN_DIMSE_C_GET_RQ, model, NULL, identifier, len, ts, store, fn, user,
                     status, err);
}
