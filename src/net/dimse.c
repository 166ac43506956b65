/*
 * DIMSE messages (PS3.7 6.3 and Annex E): command sets are group 0000
 * elements encoded in implicit VR little endian whatever the presentation
 * context's transfer syntax, preceded by the (0000,0000) group length. This
 * file holds a small codec for exactly those elements (UL, US, UI, AE, LO,
 * AT values), so DIMSE does not depend on the general dataset layer, and the
 * message exchange on an association: a command is sent and received as
 * command PDV fragments, the data set that may follow as data PDV fragments
 * (PS3.8 Annex E), streamed so that memory stays bounded by the PDU length.
 * Statuses (PS3.7 Annex C) are returned as data.
 */
#include "net/net_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- encoding -------------------------------------------------------------------- */

static int put_elem(RnBuf *b, uint16_t element, const void *v, size_t len)
{
    int rc = rn_buf_append_u16le(b, 0x0000);
    rc |= rn_buf_append_u16le(b, element);
    rc |= rn_buf_append_u32le(b, (uint32_t)len);
    rc |= rn_buf_append(b, v, len);
    return rc;
}

static int put_us(RnBuf *b, uint16_t element, uint16_t v)
{
    uint8_t x[2];
    rn_wr16le(x, v);
    return put_elem(b, element, x, 2);
}

/* UI values are padded with NUL, AE/LO with space to an even length (PS3.5 6.2). */
static int put_str(RnBuf *b, uint16_t element, const char *s, char pad)
{
    size_t n = strlen(s);
    char tmp[80];
    if (n > sizeof tmp - 2)
        n = sizeof tmp - 2;
    memcpy(tmp, s, n);
    if (n & 1)
        tmp[n++] = pad;
    return put_elem(b, element, tmp, n);
}

int rn_dimse_command_encode(const RnDimseCommand *c, RnBuf *out, RnError *err)
{
    RnBuf b = {0};
    int rc = 0;
    uint32_t p = c->present;
    /* Ascending tag order (PS3.5 7.1). */
    if (p & RN_CMD_AFFECTED_SOP_CLASS)
        rc |= put_str(&b, 0x0002, c->affected_sop_class, '\0');
    if (p & RN_CMD_REQUESTED_SOP_CLASS)
        rc |= put_str(&b, 0x0003, c->requested_sop_class, '\0');
    rc |= put_us(&b, 0x0100, c->command_field);
    if (p & RN_CMD_MESSAGE_ID)
        rc |= put_us(&b, 0x0110, c->message_id);
    if (p & RN_CMD_MESSAGE_ID_RESPONDED)
        rc |= put_us(&b, 0x0120, c->message_id_responded);
    if (p & RN_CMD_MOVE_DESTINATION)
        rc |= put_str(&b, 0x0600, c->move_destination, ' ');
    if (p & RN_CMD_PRIORITY)
        rc |= put_us(&b, 0x0700, c->priority);
    rc |= put_us(&b, 0x0800, c->data_set_type);
    if (p & RN_CMD_STATUS)
        rc |= put_us(&b, 0x0900, c->status);
    if (p & RN_CMD_OFFENDING_ELEMENT) {
        uint8_t at[4];
        rn_wr16le(at, (uint16_t)(c->offending_element >> 16));
        rn_wr16le(at + 2, (uint16_t)c->offending_element);
        rc |= put_elem(&b, 0x0901, at, 4);
    }
    if ((p & RN_CMD_ERROR_COMMENT) && c->error_comment[0])
        rc |= put_str(&b, 0x0902, c->error_comment, ' ');
    if (p & RN_CMD_ERROR_ID)
        rc |= put_us(&b, 0x0903, c->error_id);
    if (p & RN_CMD_AFFECTED_SOP_INSTANCE)
        rc |= put_str(&b, 0x1000, c->affected_sop_instance, '\0');
    if (p & RN_CMD_REQUESTED_SOP_INSTANCE)
        rc |= put_str(&b, 0x1001, c->requested_sop_instance, '\0');
    if (p & RN_CMD_SUBOP_COUNTS) {
        /* C-MOVE/C-GET: "remaining" only in pending responses (PS3.7 9.3.4.2). */
        if (c->status == RN_STATUS_PENDING || c->status == RN_STATUS_PENDING_WARNING)
            rc |= put_us(&b, 0x1020, c->remaining);
        rc |= put_us(&b, 0x1021, c->completed);
        rc |= put_us(&b, 0x1022, c->failed);
        rc |= put_us(&b, 0x1023, c->warning);
    }
    if (p & RN_CMD_MOVE_ORIGINATOR) {
        rc |= put_str(&b, 0x1030, c->move_originator_ae, ' ');
        rc |= put_us(&b, 0x1031, c->move_originator_id);
    }
    if (!rc) {
        uint8_t gl[4];
        rn_wr32le(gl, (uint32_t)b.len);
        rc |= put_elem(out, 0x0000, gl, 4);
        rc |= rn_buf_append(out, b.data, b.len);
    }
    rn_buf_free(&b);
    return rc ? rn_error_set(err, RN_ERR_NOMEM, "out of memory") : 0;
}

/* ---- decoding -------------------------------------------------------------------- */

static int get_us(const uint8_t *v, size_t len, uint16_t *out, RnError *err)
{
    if (len != 2)
        return rn_error_set(err, RN_ERR_PARSE, "command element US of length %zu", len);
    *out = rn_rd16le(v);
    return 0;
}

static int get_str(const uint8_t *v, size_t len, char *out, size_t size, RnError *err)
{
    while (len > 0 && (v[len - 1] == 0 || v[len - 1] == ' '))
        len--;
    size_t b = 0;
    while (b < len && v[b] == ' ')
        b++;
    if (len - b >= size)
        return rn_error_set(err, RN_ERR_PARSE, "command string value too long (%zu)", len - b);
    for (size_t i = b; i < len; i++)
        out[i - b] = (v[i] >= 0x20 && v[i] < 0x7F) ? (char)v[i] : '?';
    out[len - b] = '\0';
    return 0;
}

int rn_dimse_command_decode(const uint8_t *data, size_t len, RnDimseCommand *c, RnError *err)
{
    memset(c, 0, sizeof *c);
    c->data_set_type = RN_DIMSE_NO_DATASET;
    bool have_field = false, have_type = false;
    size_t pos = 0;
    while (pos < len) {
        if (len - pos < 8)
            return rn_error_set(err, RN_ERR_PARSE, "truncated command element");
        uint16_t group = rn_rd16le(data + pos);
        uint16_t el = rn_rd16le(data + pos + 2);
        uint32_t vl = rn_rd32le(data + pos + 4);
        if (group != 0x0000)
            return rn_error_set(err, RN_ERR_PARSE, "element (%04X,%04X) in a command set", group,
                                el);
        if (vl > len - pos - 8)
            return rn_error_set(err, RN_ERR_PARSE, "command element (0000,%04X) length lies",
                                el);
        const uint8_t *v = data + pos + 8;
        int rc = 0;
        switch (el) {
        case 0x0000: /* group length: informative, the PDV boundary is authoritative */
            break;
        case 0x0002:
            rc = get_str(v, vl, c->affected_sop_class, sizeof c->affected_sop_class, err);
            c->present |= RN_CMD_AFFECTED_SOP_CLASS;
            break;
        case 0x0003:
            rc = get_str(v, vl, c->requested_sop_class, sizeof c->requested_sop_class, err);
            c->present |= RN_CMD_REQUESTED_SOP_CLASS;
            break;
        case 0x0100:
            rc = get_us(v, vl, &c->command_field, err);
            have_field = true;
            break;
        case 0x0110:
            rc = get_us(v, vl, &c->message_id, err);
            c->present |= RN_CMD_MESSAGE_ID;
            break;
        case 0x0120:
            rc = get_us(v, vl, &c->message_id_responded, err);
            c->present |= RN_CMD_MESSAGE_ID_RESPONDED;
            break;
        case 0x0600:
            rc = get_str(v, vl, c->move_destination, sizeof c->move_destination, err);
            c->present |= RN_CMD_MOVE_DESTINATION;
            break;
        case 0x0700:
            rc = get_us(v, vl, &c->priority, err);
            c->present |= RN_CMD_PRIORITY;
            break;
        case 0x0800:
            rc = get_us(v, vl, &c->data_set_type, err);
            have_type = true;
            break;
        case 0x0900:
            rc = get_us(v, vl, &c->status, err);
            c->present |= RN_CMD_STATUS;
            break;
        case 0x0901:
            if (vl >= 4) {
                c->offending_element =
                    ((uint32_t)rn_rd16le(v) << 16) | (uint32_t)rn_rd16le(v + 2);
                c->present |= RN_CMD_OFFENDING_ELEMENT;
            }
            break;
        case 0x0902: {
            /* Error comments are free text; keep what fits. */
            size_t n = vl < sizeof c->error_comment ? vl : sizeof c->error_comment - 1;
            rc = get_str(v, n, c->error_comment, sizeof c->error_comment, err);
            c->present |= RN_CMD_ERROR_COMMENT;
            break;
        }
        case 0x0903:
            rc = get_us(v, vl, &c->error_id, err);
            c->present |= RN_CMD_ERROR_ID;
            break;
        case 0x1000:
            rc = get_str(v, vl, c->affected_sop_instance, sizeof c->affected_sop_instance, err);
            c->present |= RN_CMD_AFFECTED_SOP_INSTANCE;
            break;
        case 0x1001:
            rc = get_str(v, vl, c->requested_sop_instance, sizeof c->requested_sop_instance, err);
            c->present |= RN_CMD_REQUESTED_SOP_INSTANCE;
            break;
        case 0x1020:
            rc = get_us(v, vl, &c->remaining, err);
            c->present |= RN_CMD_SUBOP_COUNTS;
            break;
        case 0x1021:
            rc = get_us(v, vl, &c->completed, err);
            c->present |= RN_CMD_SUBOP_COUNTS;
            break;
        case 0x1022:
            rc = get_us(v, vl, &c->failed, err);
            c->present |= RN_CMD_SUBOP_COUNTS;
            break;
        case 0x1023:
            rc = get_us(v, vl, &c->warning, err);
            c->present |= RN_CMD_SUBOP_COUNTS;
            break;
        case 0x1030:
            rc = get_str(v, vl, c->move_originator_ae, sizeof c->move_originator_ae, err);
            c->present |= RN_CMD_MOVE_ORIGINATOR;
            break;
        case 0x1031:
            rc = get_us(v, vl, &c->move_originator_id, err);
            c->present |= RN_CMD_MOVE_ORIGINATOR;
            break;
        default: /* other group 0000 elements (N-services, retired) are ignored */
            break;
        }
        if (rc)
            return rc;
        pos += 8 + (size_t)vl;
    }
    if (!have_field)
        return rn_error_set(err, RN_ERR_PARSE, "command set without Command Field");
    if (!have_type)
        return rn_error_set(err, RN_ERR_PARSE, "command set without Command Data Set Type");
    return 0;
}

bool rn_dimse_has_dataset(const RnDimseCommand *cmd)
{
    return cmd->data_set_type != RN_DIMSE_NO_DATASET;
}

const char *rn_dimse_command_name(uint16_t f)
{
    switch (f) {
    case RN_DIMSE_C_STORE_RQ: return "C-STORE-RQ";
    case RN_DIMSE_C_STORE_RSP: return "C-STORE-RSP";
    case RN_DIMSE_C_GET_RQ: return "C-GET-RQ";
    case RN_DIMSE_C_GET_RSP: return "C-GET-RSP";
    case RN_DIMSE_C_FIND_RQ: return "C-FIND-RQ";
    case RN_DIMSE_C_FIND_RSP: return "C-FIND-RSP";
    case RN_DIMSE_C_MOVE_RQ: return "C-MOVE-RQ";
    case RN_DIMSE_C_MOVE_RSP: return "C-MOVE-RSP";
    case RN_DIMSE_C_ECHO_RQ: return "C-ECHO-RQ";
    case RN_DIMSE_C_ECHO_RSP: return "C-ECHO-RSP";
    case RN_DIMSE_C_CANCEL_RQ: return "C-CANCEL-RQ";
    default: return "unknown DIMSE command";
    }
}

const char *rn_dimse_status_category(uint16_t s)
{
    /* PS3.7 Annex C */
    if (s == RN_STATUS_SUCCESS)
        return "success";
    if (s == RN_STATUS_PENDING || s == RN_STATUS_PENDING_WARNING)
        return "pending";
    if (s == RN_STATUS_CANCEL)
        return "cancel";
    if (s == 0x0001 || (s & 0xF000) == 0xB000 || s == 0x0107 || s == 0x0116)
        return "warning";
    return "failure";
}

/* ---- exchange -------------------------------------------------------------------- */

int rn_dimse_send_command(RnAssoc *a, uint8_t pc_id, const RnDimseCommand *cmd, RnError *err)
{
    RnBuf b = {0};
    int rc = rn_dimse_command_encode(cmd, &b, err);
    if (!rc)
        rc = rn_assoc_send_pdv(a, pc_id, true, b.data, b.len, true, err);
    rn_buf_free(&b);
    return rc;
}

int rn_dimse_send_dataset(RnAssoc *a, uint8_t pc_id, const uint8_t *data, size_t len,
                          RnError *err)
{
    return rn_assoc_send_pdv(a, pc_id, false, data, len, true, err);
}

int rn_dimse_send_dataset_stream(RnAssoc *a, uint8_t pc_id, RnDataSource src, void *ctx,
                                 RnError *err)
{
    /* Read ahead one chunk so the last fragment can carry the "last" bit. */
    size_t cap = 256 * 1024;
    uint8_t *bufs = rn_malloc(2 * cap);
    if (!bufs)
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    uint8_t *cur = bufs, *next = bufs + cap;
    ssize_t n = src(ctx, cur, cap, err);
    int rc = n < 0 ? (int)n : 0;
    while (!rc) {
        ssize_t m = src(ctx, next, cap, err);
        if (m < 0) {
            rc = (int)m;
            break;
        }
        rc = rn_assoc_send_pdv(a, pc_id, false, cur, (size_t)n, m == 0, err);
        if (rc || m == 0)
            break;
        uint8_t *t = cur;
        cur = next;
        next = t;
        n = m;
    }
    free(bufs);
    return rc;
}

int rn_dimse_recv_command(RnAssoc *a, RnDimseCommand *cmd, uint8_t *pc_id, int timeout_ms,
                          RnError *err)
{
    RnBuf b = {0};
    int first = 1;
    uint8_t id = 0;
    int rc;
    for (;;) {
        RnPdv pdv;
        /* The DIMSE timeout applies while waiting for a new message, the
         * network timeout between its fragments. */
        rc = rn_assoc_recv_pdv(a, &pdv, first ? timeout_ms : -1, err);
        if (rc)
            break;
        if (!pdv.command || (!first && pdv.pc_id != id)) {
            /* Annex E: a command's fragments are contiguous on one context. */
            rn_assoc_send_abort_(a, 2, 6);
            rc = rn_error_set(err, RN_ERR_PARSE, "data PDV where a command was expected");
            rc = RN_ASSOC_ABORTED;
            break;
        }
        id = pdv.pc_id;
        first = 0;
        if (b.len + pdv.len > RN_COMMAND_MAX) {
            rn_assoc_send_abort_(a, 2, 6);
            rn_error_set(err, RN_ERR_LIMIT, "command set larger than %d bytes", RN_COMMAND_MAX);
            rc = RN_ASSOC_ABORTED;
            break;
        }
        if (rn_buf_append(&b, pdv.data, pdv.len)) {
            rc = rn_error_set(err, RN_ERR_NOMEM, "out of memory");
            break;
        }
        if (pdv.last) {
            rc = rn_dimse_command_decode(b.data, b.len, cmd, err);
            if (rc) {
                rn_assoc_send_abort_(a, 2, 6);
                rc = RN_ASSOC_ABORTED;
            }
            *pc_id = id;
            break;
        }
    }
    rn_buf_free(&b);
    return rc;
}

int rn_dimse_recv_dataset(RnAssoc *a, uint8_t pc_id, RnDataSink sink, void *ctx, RnError *err)
{
    int sink_rc = 0;
    RnError sink_err = {0};
    for (;;) {
        RnPdv pdv;
        int rc = rn_assoc_recv_pdv(a, &pdv, -1, err);
        if (rc)
            return rc;
        if (pdv.command || pdv.pc_id != pc_id) {
            rn_assoc_send_abort_(a, 2, 6);
            rn_error_set(err, RN_ERR_PARSE, "unexpected %s PDV inside a data set",
                         pdv.command ? "command" : "foreign-context");
            return RN_ASSOC_ABORTED;
        }
        if (!sink_rc && pdv.len)
            sink_rc = sink(ctx, pdv.data, pdv.len, &sink_err);
        if (pdv.last)
            break;
    }
    if (sink_rc && err)
        *err = sink_err;
    return sink_rc;
}

struct buf_sink {
    RnBuf *out;
    size_t max;
};

static int buf_sink_fn(void *ctx, const uint8_t *data, size_t len, RnError *err)
{
    struct buf_sink *s = ctx;
    if (s->out->len + len > s->max)
        return rn_error_set(err, RN_ERR_LIMIT, "data set larger than %zu bytes", s->max);
    if (rn_buf_append(s->out, data, len))
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    return 0;
}

int rn_dimse_recv_dataset_buf(RnAssoc *a, uint8_t pc_id, RnBuf *out, size_t max_len,
                              RnError *err)
{
    struct buf_sink s = {out, max_len};
    return rn_dimse_recv_dataset(a, pc_id, buf_sink_fn, &s, err);
}
