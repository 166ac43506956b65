/*
 * Upper Layer PDU codec (PS3.8 9.3): A-ASSOCIATE-RQ/AC (9.3.2, 9.3.3) with
 * their application context, presentation context and user information items,
 * A-ASSOCIATE-RJ (9.3.4), P-DATA-TF PDVs (9.3.5, Annex E), A-RELEASE-RQ/RP
 * (9.3.6, 9.3.7) and A-ABORT (9.3.8). The user information sub-items are those
 * of PS3.8 Annex D and PS3.7 Annex D.3.3: maximum length (D.1), implementation
 * class UID and version name (D.3.3.2), asynchronous operations window
 * (D.3.3.3), SCP/SCU role selection (D.3.3.4), SOP class extended negotiation
 * (D.3.3.5), user identity (D.3.3.7). Common extended negotiation (D.3.3.6) is
 * parsed and ignored.
 *
 * The parsers read from a body whose real length they are given and check
 * every item length against what remains; nothing from the wire is trusted.
 * Unknown item types are skipped, as PS3.8 9.3.1 asks of a receiver.
 */
#include "radnode/net.h"

#include <stdlib.h>
#include <string.h>

/* ---- parameters ------------------------------------------------------------------ */

void rn_assoc_params_clear(RnAssocParams *p)
{
    if (!p)
        return;
    free(p->contexts);
    free(p->identity_primary);
    free(p->identity_secondary);
    free(p->identity_response);
    memset(p, 0, sizeof *p);
}

static RnPresentationContext *new_context(RnAssocParams *p, RnError *err)
{
    if (p->context_count >= RN_PC_MAX) {
        rn_error_set(err, RN_ERR_LIMIT, "more than %d presentation contexts", RN_PC_MAX);
        return NULL;
    }
    RnPresentationContext *n =
        rn_realloc(p->contexts, (p->context_count + 1) * sizeof *p->contexts);
    if (!n) {
        rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    p->contexts = n;
    RnPresentationContext *pc = &p->contexts[p->context_count++];
    memset(pc, 0, sizeof *pc);
    return pc;
}

int rn_assoc_params_add_context(RnAssocParams *p, const char *abstract_syntax,
                                const char *const *ts, size_t ts_count, RnError *err)
{
    if (!abstract_syntax || strlen(abstract_syntax) > RN_NET_UID_MAX || ts_count == 0 ||
        ts_count > RN_PC_TS_MAX)
        return rn_error_set(err, RN_ERR_INVALID, "invalid presentation context");
    RnPresentationContext *pc = new_context(p, err);
    if (!pc)
        return err ? err->code : RN_ERR_NOMEM;
    pc->id = (uint8_t)(2 * (p->context_count - 1) + 1);
    strcpy(pc->abstract_syntax, abstract_syntax);
    for (size_t i = 0; i < ts_count; i++) {
        if (strlen(ts[i]) > RN_NET_UID_MAX) {
            p->context_count--;
            return rn_error_set(err, RN_ERR_INVALID, "transfer syntax UID too long");
        }
        strcpy(pc->transfer_syntaxes[i], ts[i]);
    }
    pc->ts_count = ts_count;
    return pc->id;
}

int rn_assoc_params_add_role(RnAssocParams *p, const char *sop_class, bool scu, bool scp,
                             RnError *err)
{
    if (p->role_count >= RN_ROLE_MAX || strlen(sop_class) > RN_NET_UID_MAX)
        return rn_error_set(err, RN_ERR_LIMIT, "too many role selections");
    RnRoleSelection *r = &p->roles[p->role_count++];
    strcpy(r->sop_class, sop_class);
    r->scu_role = scu;
    r->scp_role = scp;
    return 0;
}

const RnPresentationContext *rn_assoc_params_context(const RnAssocParams *p, uint8_t id)
{
    for (size_t i = 0; i < p->context_count; i++)
        if (p->contexts[i].id == id)
            return &p->contexts[i];
    return NULL;
}

/* ---- encoding -------------------------------------------------------------------- */

/* Appends an item header (type, reserved, 16-bit length) and returns the
 * offset of the length so it can be patched once the item is complete. */
static int item_begin(RnBuf *b, uint8_t type, size_t *len_at)
{
    int rc = rn_buf_append_byte(b, type);
    rc |= rn_buf_append_byte(b, 0);
    *len_at = b->len;
    rc |= rn_buf_append_u16be(b, 0);
    return rc ? RN_ERR_NOMEM : 0;
}

static int item_end(RnBuf *b, size_t len_at, RnError *err)
{
    size_t n = b->len - len_at - 2;
    if (n > 0xFFFF)
        return rn_error_set(err, RN_ERR_LIMIT, "PDU item longer than 65535 bytes");
    rn_wr16be(b->data + len_at, (uint16_t)n);
    return 0;
}

static int item_string(RnBuf *b, uint8_t type, const char *s, RnError *err)
{
    size_t at;
    if (item_begin(b, type, &at) || rn_buf_append_str(b, s))
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    return item_end(b, at, err);
}

static int append_ae(RnBuf *b, const char *ae)
{
    char field[16];
    memset(field, ' ', sizeof field);
    size_t n = ae ? strlen(ae) : 0;
    memcpy(field, ae ? ae : "", n > 16 ? 16 : n);
    return rn_buf_append(b, field, sizeof field);
}

static int encode_user_info(const RnAssocParams *p, uint8_t type, RnBuf *b, RnError *err)
{
    size_t ui, at;
    int rc = item_begin(b, 0x50, &ui);
    /* D.1 maximum length */
    rc |= item_begin(b, 0x51, &at);
    rc |= rn_buf_append_u32be(b, p->max_pdu_length);
    if (rc)
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    if ((rc = item_end(b, at, err)))
        return rc;
    const char *impl = p->implementation_class_uid[0] ? p->implementation_class_uid
                                                      : RN_IMPLEMENTATION_CLASS_UID;
    if ((rc = item_string(b, 0x52, impl, err)))
        return rc;
    if (p->has_async_window) {
        if (item_begin(b, 0x53, &at) || rn_buf_append_u16be(b, p->max_ops_invoked) ||
            rn_buf_append_u16be(b, p->max_ops_performed))
            return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        if ((rc = item_end(b, at, err)))
            return rc;
    }
    for (size_t i = 0; i < p->role_count; i++) {
        const RnRoleSelection *r = &p->roles[i];
        size_t ul = strlen(r->sop_class);
        if (item_begin(b, 0x54, &at) || rn_buf_append_u16be(b, (uint16_t)ul) ||
            rn_buf_append(b, r->sop_class, ul) || rn_buf_append_byte(b, r->scu_role ? 1 : 0) ||
            rn_buf_append_byte(b, r->scp_role ? 1 : 0))
            return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        if ((rc = item_end(b, at, err)))
            return rc;
    }
    const char *ver = p->implementation_version[0] ? p->implementation_version
                                                   : RN_IMPLEMENTATION_VERSION_NAME;
    if ((rc = item_string(b, 0x55, ver, err)))
        return rc;
    for (size_t i = 0; i < p->extneg_count; i++) {
        const RnExtendedNegotiation *x = &p->extneg[i];
        size_t ul = strlen(x->sop_class);
        if (item_begin(b, 0x56, &at) || rn_buf_append_u16be(b, (uint16_t)ul) ||
            rn_buf_append(b, x->sop_class, ul) || rn_buf_append(b, x->info, x->info_len))
            return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        if ((rc = item_end(b, at, err)))
            return rc;
    }
    if (type == RN_PDU_ASSOCIATE_RQ && p->has_identity) {
        if (item_begin(b, 0x58, &at) || rn_buf_append_byte(b, p->identity_type) ||
            rn_buf_append_byte(b, p->identity_response_requested ? 1 : 0) ||
            rn_buf_append_u16be(b, p->identity_primary_len) ||
            rn_buf_append(b, p->identity_primary, p->identity_primary_len) ||
            rn_buf_append_u16be(b, p->identity_secondary_len) ||
            rn_buf_append(b, p->identity_secondary, p->identity_secondary_len))
            return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        if ((rc = item_end(b, at, err)))
            return rc;
    }
    if (type == RN_PDU_ASSOCIATE_AC && p->has_identity_response) {
        if (item_begin(b, 0x59, &at) || rn_buf_append_u16be(b, p->identity_response_len) ||
            rn_buf_append(b, p->identity_response, p->identity_response_len))
            return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        if ((rc = item_end(b, at, err)))
            return rc;
    }
    return item_end(b, ui, err);
}

int rn_pdu_encode_associate(uint8_t type, const RnAssocParams *p, RnBuf *out, RnError *err)
{
    if (type != RN_PDU_ASSOCIATE_RQ && type != RN_PDU_ASSOCIATE_AC)
        return rn_error_set(err, RN_ERR_INVALID, "not an A-ASSOCIATE PDU type");
    size_t start = out->len;
    int rc = rn_buf_append_byte(out, type);
    rc |= rn_buf_append_byte(out, 0);
    rc |= rn_buf_append_u32be(out, 0); /* patched below */
    rc |= rn_buf_append_u16be(out, 1); /* protocol version bit 0 (9.3.2) */
    rc |= rn_buf_append_u16be(out, 0);
    rc |= append_ae(out, p->called_ae);
    rc |= append_ae(out, p->calling_ae);
    uint8_t zeros[32] = {0};
    rc |= rn_buf_append(out, zeros, sizeof zeros);
    if (rc)
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    const char *ctx = p->application_context[0] ? p->application_context
                                                : RN_UID_APPLICATION_CONTEXT;
    if ((rc = item_string(out, 0x10, ctx, err)))
        return rc;
    for (size_t i = 0; i < p->context_count; i++) {
        const RnPresentationContext *pc = &p->contexts[i];
        size_t at;
        if (item_begin(out, type == RN_PDU_ASSOCIATE_RQ ? 0x20 : 0x21, &at) ||
            rn_buf_append_byte(out, pc->id) || rn_buf_append_byte(out, 0) ||
            rn_buf_append_byte(out, type == RN_PDU_ASSOCIATE_AC ? pc->result : 0) ||
            rn_buf_append_byte(out, 0))
            return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        if (type == RN_PDU_ASSOCIATE_RQ) {
            if ((rc = item_string(out, 0x30, pc->abstract_syntax, err)))
                return rc;
            for (size_t t = 0; t < pc->ts_count; t++)
                if ((rc = item_string(out, 0x40, pc->transfer_syntaxes[t], err)))
                    return rc;
        } else {
            /* 9.3.3.2: one transfer syntax sub-item; its value is not
             * significant when the context is not accepted. */
            const char *ts = pc->ts_count ? pc->transfer_syntaxes[0] : "";
            if ((rc = item_string(out, 0x40, ts, err)))
                return rc;
        }
        if ((rc = item_end(out, at, err)))
            return rc;
    }
    if ((rc = encode_user_info(p, type, out, err)))
        return rc;
    size_t body = out->len - start - 6;
    if (body > RN_PDU_ASSOC_MAX)
        return rn_error_set(err, RN_ERR_LIMIT, "A-ASSOCIATE PDU too large");
    rn_wr32be(out->data + start + 2, (uint32_t)body);
    return 0;
}

static int encode_fixed4(uint8_t type, uint8_t b0, uint8_t b1, uint8_t b2, uint8_t b3, RnBuf *out,
                         RnError *err)
{
    uint8_t pdu[10] = {type, 0, 0, 0, 0, 4, b0, b1, b2, b3};
    if (rn_buf_append(out, pdu, sizeof pdu))
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    return 0;
}

int rn_pdu_encode_reject(const RnAssocReject *rj, RnBuf *out, RnError *err)
{
    return encode_fixed4(RN_PDU_ASSOCIATE_RJ, 0, rj->result, rj->source, rj->reason, out, err);
}

int rn_pdu_encode_abort(const RnAbort *ab, RnBuf *out, RnError *err)
{
    return encode_fixed4(RN_PDU_ABORT, 0, 0, ab->source, ab->reason, out, err);
}

int rn_pdu_encode_release(uint8_t type, RnBuf *out, RnError *err)
{
    if (type != RN_PDU_RELEASE_RQ && type != RN_PDU_RELEASE_RP)
        return rn_error_set(err, RN_ERR_INVALID, "not an A-RELEASE PDU type");
    return encode_fixed4(type, 0, 0, 0, 0, out, err);
}

/* ---- parsing --------------------------------------------------------------------- */

/* Copies a UID value, dropping the trailing NUL/space padding (PS3.5 9.1,
 * PS3.8 Annex F). Empty or over-long values are errors. */
static int copy_uid(char *dst, const uint8_t *src, size_t len, RnError *err)
{
    while (len > 0 && (src[len - 1] == 0 || src[len - 1] == ' '))
        len--;
    if (len > RN_NET_UID_MAX)
        return rn_error_set(err, RN_ERR_PARSE, "UID longer than 64 characters in PDU");
    for (size_t i = 0; i < len; i++)
        if (src[i] < 0x20 || src[i] > 0x7E)
            return rn_error_set(err, RN_ERR_PARSE, "non-printable byte in UID");
    memcpy(dst, src, len);
    dst[len] = '\0';
    return 0;
}

/* AE titles: 16 bytes, leading and trailing spaces not significant. */
static void copy_ae(char *dst, const uint8_t *src)
{
    size_t b = 0, e = 16;
    while (b < e && src[b] == ' ')
        b++;
    while (e > b && (src[e - 1] == ' ' || src[e - 1] == 0))
        e--;
    size_t n = 0;
    for (size_t i = b; i < e; i++)
        dst[n++] = (src[i] >= 0x20 && src[i] < 0x7F) ? (char)src[i] : '?';
    dst[n] = '\0';
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
    uint8_t *d = rn_malloc(n);
    if (d && n)
        memcpy(d, p, n);
    return d;
}

static int parse_user_info(const uint8_t *p, size_t len, uint8_t type, RnAssocParams *out,
                           RnError *err)
{
    size_t pos = 0;
    while (pos < len) {
        if (len - pos < 4)
            return rn_error_set(err, RN_ERR_PARSE, "truncated user information sub-item");
        uint8_t it = p[pos];
        size_t il = rn_rd16be(p + pos + 2);
        if (il > len - pos - 4)
            return rn_error_set(err, RN_ERR_PARSE, "user information sub-item length lies");
        const uint8_t *v = p + pos + 4;
        int rc = 0;
        switch (it) {
        case 0x51:
            if (il != 4)
                return rn_error_set(err, RN_ERR_PARSE, "maximum length item not 4 bytes");
            out->max_pdu_length = rn_rd32be(v);
            break;
        case 0x52:
            rc = copy_uid(out->implementation_class_uid, v, il, err);
            break;
        case 0x53:
            if (il != 4)
                return rn_error_set(err, RN_ERR_PARSE, "asynchronous window item not 4 bytes");
            out->has_async_window = true;
            out->max_ops_invoked = rn_rd16be(v);
            out->max_ops_performed = rn_rd16be(v + 2);
            break;
        case 0x54: {
            if (il < 4)
                return rn_error_set(err, RN_ERR_PARSE, "short role selection item");
            size_t ul = rn_rd16be(v);
            if (ul + 4 != il)
                return rn_error_set(err, RN_ERR_PARSE, "role selection UID length lies");
            if (out->role_count < RN_ROLE_MAX) {
                RnRoleSelection *r = &out->roles[out->role_count];
                if ((rc = copy_uid(r->sop_class, v + 2, ul, err)))
                    return rc;
                r->scu_role = v[2 + ul];
                r->scp_role = v[3 + ul];
                out->role_count++;
            }
            break;
        }
        case 0x55: {
            size_t n = il > RN_AE_MAX ? RN_AE_MAX : il;
            for (size_t i = 0; i < n; i++)
                out->implementation_version[i] =
                    (v[i] >= 0x20 && v[i] < 0x7F) ? (char)v[i] : '?';
            out->implementation_version[n] = '\0';
            break;
        }
        case 0x56: {
            if (il < 2)
                return rn_error_set(err, RN_ERR_PARSE, "short extended negotiation item");
            size_t ul = rn_rd16be(v);
            if (ul + 2 > il)
                return rn_error_set(err, RN_ERR_PARSE, "extended negotiation UID length lies");
            if (out->extneg_count < RN_EXTNEG_MAX) {
                RnExtendedNegotiation *x = &out->extneg[out->extneg_count];
                if ((rc = copy_uid(x->sop_class, v + 2, ul, err)))
                    return rc;
                size_t info = il - 2 - ul;
                x->info_len = (uint16_t)(info > RN_EXTNEG_INFO_MAX ? RN_EXTNEG_INFO_MAX : info);
                memcpy(x->info, v + 2 + ul, x->info_len);
                out->extneg_count++;
            }
            break;
        }
        case 0x58: {
            if (type != RN_PDU_ASSOCIATE_RQ)
                break;
            if (il < 6)
                return rn_error_set(err, RN_ERR_PARSE, "short user identity item");
            size_t l1 = rn_rd16be(v + 2);
            if (4 + l1 + 2 > il)
                return rn_error_set(err, RN_ERR_PARSE, "user identity primary field length lies");
            size_t l2 = rn_rd16be(v + 4 + l1);
            if (4 + l1 + 2 + l2 != il)
                return rn_error_set(err, RN_ERR_PARSE, "user identity secondary length lies");
            free(out->identity_primary);
            free(out->identity_secondary);
            out->identity_primary = dup_bytes(v + 4, l1);
            out->identity_secondary = dup_bytes(v + 6 + l1, l2);
            if (!out->identity_primary || !out->identity_secondary)
                return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
            out->has_identity = true;
            out->identity_type = v[0];
            out->identity_response_requested = v[1] != 0;
            out->identity_primary_len = (uint16_t)l1;
            out->identity_secondary_len = (uint16_t)l2;
            break;
        }
        case 0x59: {
            if (type != RN_PDU_ASSOCIATE_AC)
                break;
            if (il < 2 || (size_t)rn_rd16be(v) + 2 != il)
                return rn_error_set(err, RN_ERR_PARSE, "user identity response length lies");
            free(out->identity_response);
            out->identity_response = dup_bytes(v + 2, il - 2);
            if (!out->identity_response)
                return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
            out->identity_response_len = (uint16_t)(il - 2);
            out->has_identity_response = true;
            break;
        }
        default: /* 0x57 common extended negotiation and unknown items: ignored */
            break;
        }
        if (rc)
            return rc;
        pos += 4 + il;
    }
    return 0;
}

static int parse_context(uint8_t type, const uint8_t *p, size_t len, RnAssocParams *out,
                         RnError *err)
{
    if (len < 4)
        return rn_error_set(err, RN_ERR_PARSE, "short presentation context item");
    RnPresentationContext *pc = new_context(out, err);
    if (!pc)
        return err ? err->code : RN_ERR_LIMIT;
    pc->id = p[0];
    pc->result = type == RN_PDU_ASSOCIATE_AC ? p[2] : 0;
    size_t pos = 4;
    bool have_abstract = false;
    while (pos < len) {
        if (len - pos < 4)
            return rn_error_set(err, RN_ERR_PARSE, "truncated presentation context sub-item");
        uint8_t it = p[pos];
        size_t il = rn_rd16be(p + pos + 2);
        if (il > len - pos - 4)
            return rn_error_set(err, RN_ERR_PARSE, "presentation context sub-item length lies");
        const uint8_t *v = p + pos + 4;
        int rc = 0;
        if (it == 0x30) {
            rc = copy_uid(pc->abstract_syntax, v, il, err);
            have_abstract = true;
        } else if (it == 0x40) {
            /* Transfer syntaxes beyond RN_PC_TS_MAX are dropped: the
             * preference list we match against is shorter than that. */
            if (pc->ts_count < RN_PC_TS_MAX) {
                rc = copy_uid(pc->transfer_syntaxes[pc->ts_count], v, il, err);
                if (!rc)
                    pc->ts_count++;
            }
        }
        if (rc)
            return rc;
        pos += 4 + il;
    }
    if (type == RN_PDU_ASSOCIATE_RQ && (!have_abstract || pc->ts_count == 0))
        return rn_error_set(err, RN_ERR_PARSE,
                            "presentation context %u lacks abstract or transfer syntax", pc->id);
    if (type == RN_PDU_ASSOCIATE_AC && pc->result == RN_PC_ACCEPTANCE && pc->ts_count != 1)
        return rn_error_set(err, RN_ERR_PARSE, "accepted context %u without one transfer syntax",
                            pc->id);
    return 0;
}

int rn_pdu_parse_associate(uint8_t type, const uint8_t *body, size_t len, RnAssocParams *out,
                           RnError *err)
{
    memset(out, 0, sizeof *out);
    if (type != RN_PDU_ASSOCIATE_RQ && type != RN_PDU_ASSOCIATE_AC)
        return rn_error_set(err, RN_ERR_INVALID, "not an A-ASSOCIATE PDU type");
    if (len < 68)
        return rn_error_set(err, RN_ERR_PARSE, "A-ASSOCIATE PDU shorter than its fixed fields");
    out->protocol_version = rn_rd16be(body);
    copy_ae(out->called_ae, body + 4);
    copy_ae(out->calling_ae, body + 20);
    size_t pos = 68;
    bool have_ctx = false, have_ui = false;
    int rc = 0;
    while (pos < len) {
        if (len - pos < 4) {
            rc = rn_error_set(err, RN_ERR_PARSE, "truncated A-ASSOCIATE item");
            break;
        }
        uint8_t it = body[pos];
        size_t il = rn_rd16be(body + pos + 2);
        if (il > len - pos - 4) {
            rc = rn_error_set(err, RN_ERR_PARSE, "A-ASSOCIATE item length lies");
            break;
        }
        const uint8_t *v = body + pos + 4;
        if (it == 0x10) {
            rc = copy_uid(out->application_context, v, il, err);
            have_ctx = true;
        } else if ((it == 0x20 && type == RN_PDU_ASSOCIATE_RQ) ||
                   (it == 0x21 && type == RN_PDU_ASSOCIATE_AC)) {
            rc = parse_context(type, v, il, out, err);
        } else if (it == 0x50) {
            rc = parse_user_info(v, il, type, out, err);
            have_ui = true;
        }
        if (rc)
            break;
        pos += 4 + il;
    }
    if (!rc && !have_ctx)
        rc = rn_error_set(err, RN_ERR_PARSE, "A-ASSOCIATE without application context");
    if (!rc && !have_ui)
        rc = rn_error_set(err, RN_ERR_PARSE, "A-ASSOCIATE without user information");
    if (!rc && type == RN_PDU_ASSOCIATE_RQ && out->context_count == 0)
        rc = rn_error_set(err, RN_ERR_PARSE, "A-ASSOCIATE-RQ without presentation context");
    if (rc) {
        rn_assoc_params_clear(out);
        return rc;
    }
    return 0;
}

int rn_pdu_parse_reject(const uint8_t *body, size_t len, RnAssocReject *out, RnError *err)
{
    if (len < 4)
        return rn_error_set(err, RN_ERR_PARSE, "short A-ASSOCIATE-RJ");
    out->result = body[1];
    out->source = body[2];
    out->reason = body[3];
    return 0;
}

int rn_pdu_parse_abort(const uint8_t *body, size_t len, RnAbort *out, RnError *err)
{
    if (len < 4)
        return rn_error_set(err, RN_ERR_PARSE, "short A-ABORT");
    out->source = body[2];
    out->reason = body[3];
    return 0;
}

int rn_pdu_next_pdv(const uint8_t *body, size_t len, size_t *pos, RnPdv *out, RnError *err)
{
    if (*pos >= len)
        return 0;
    if (len - *pos < 6)
        return rn_error_set(err, RN_ERR_PARSE, "truncated PDV item");
    uint32_t il = rn_rd32be(body + *pos);
    /* 9.3.5.1: the item length counts the context ID and control header. */
    if (il < 2 || il > len - *pos - 4)
        return rn_error_set(err, RN_ERR_PARSE, "PDV item length lies");
    out->pc_id = body[*pos + 4];
    uint8_t mch = body[*pos + 5];
    if (mch & 0xFC)
        return rn_error_set(err, RN_ERR_PARSE, "reserved bits set in message control header");
    out->command = (mch & 1) != 0;
    out->last = (mch & 2) != 0;
    out->data = body + *pos + 6;
    out->len = il - 2;
    *pos += 4 + (size_t)il;
    return 1;
}

const char *rn_pdu_type_name(uint8_t type)
{
    switch (type) {
    case RN_PDU_ASSOCIATE_RQ: return "A-ASSOCIATE-RQ";
    case RN_PDU_ASSOCIATE_AC: return "A-ASSOCIATE-AC";
    case RN_PDU_ASSOCIATE_RJ: return "A-ASSOCIATE-RJ";
    case RN_PDU_P_DATA_TF: return "P-DATA-TF";
    case RN_PDU_RELEASE_RQ: return "A-RELEASE-RQ";
    case RN_PDU_RELEASE_RP: return "A-RELEASE-RP";
    case RN_PDU_ABORT: return "A-ABORT";
    default: return "unknown PDU";
    }
}

const char *rn_reject_reason_str(const RnAssocReject *rj)
{
    /* PS3.8 9.3.4, Table 9-21 */
    if (rj->source == 1) {
        switch (rj->reason) {
        case 1: return "no reason given";
        case 2: return "application context name not supported";
        case 3: return "calling AE title not recognized";
        case 7: return "called AE title not recognized";
        default: return "rejected by the service user";
        }
    }
    if (rj->source == 2)
        return rj->reason == 2 ? "protocol version not supported" : "no reason given (ACSE)";
    if (rj->source == 3)
        return rj->reason == 1 ? "temporary congestion" : "local limit exceeded";
    return "unknown reason";
}
