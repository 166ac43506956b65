/*
 * Encoding of datasets (PS3.5 7.1, 7.5, A.4) in implicit or explicit VR,
 * little or big endian. Values are written as held; when the target byte
 * order differs from the one a value was read in, it is swapped per its VR.
 * Undefined lengths of sequences and items are kept as read (so a file
 * round-trips byte for byte); defined lengths are recomputed, because a
 * change of VR encoding changes them.
 */
#include "dicom/dataset_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct Enc {
    bool explicit_vr;
    bool big_endian;
    bool drop_group_lengths;
    RnError *err;
} Enc;

static int encode_items(const Enc *e, const RnDataset *ds, RnBuf *out);

static int put16(const Enc *e, RnBuf *b, uint16_t v)
{
    return e->big_endian ? rn_buf_append_u16be(b, v) : rn_buf_append_u16le(b, v);
}

static int put32(const Enc *e, RnBuf *b, uint32_t v)
{
    return e->big_endian ? rn_buf_append_u32be(b, v) : rn_buf_append_u32le(b, v);
}

static int put_tag(const Enc *e, RnBuf *b, RnTag t)
{
    return put16(e, b, RN_TAG_GROUP(t)) || put16(e, b, RN_TAG_ELEMENT(t)) ? RN_ERR_NOMEM : 0;
}

/* Writes tag (+ VR) + length for an element whose value is `len` bytes. */
static int put_header(const Enc *e, RnBuf *b, RnTag tag, RnVR vr, uint32_t len)
{
    if (put_tag(e, b, tag))
        return RN_ERR_NOMEM;
    if (!e->explicit_vr)
        return put32(e, b, len);
    if (!vr || !rn_vr_is_valid(vr))
        vr = RN_VR_UN;
    /* PS3.5 6.2.2: a value too long for a 16-bit length goes out as UN. */
    if (!rn_vr_has_long_length(vr) && len > 0xFFFF)
        vr = RN_VR_UN;
    if (rn_buf_append_byte(b, (uint8_t)(vr >> 8)) || rn_buf_append_byte(b, (uint8_t)vr))
        return RN_ERR_NOMEM;
    if (rn_vr_has_long_length(vr))
        return put16(e, b, 0) || put32(e, b, len) ? RN_ERR_NOMEM : 0;
    return put16(e, b, (uint16_t)len);
}

static int put_value(const Enc *e, RnBuf *b, const RnElement *el, const uint8_t *v, size_t len)
{
    if (len == 0)
        return 0;
    /* OB, UN and text never change with byte order; OW/US/... are swapped. */
    if (el->big_endian == e->big_endian || rn_vr_value_size(el->vr) < 2)
        return rn_buf_append(b, v, len);
    if (rn_buf_reserve(b, len))
        return RN_ERR_NOMEM;
    uint8_t *dst = b->data + b->len;
    memcpy(dst, v, len);
    rn_value_swap(el->vr, dst, len);
    b->len += len;
    return 0;
}

static int encode_element(const Enc *e, const RnElement *el, RnBuf *out)
{
    if (el->vr == RN_VR_SQ) {
        RnBuf body = {0};
        int rc = 0;
        /* A sequence read as UN of undefined length keeps that form in explicit VR
         * (items in implicit VR LE, PS3.5 6.2.2), so such files round-trip exactly. */
        Enc inner_enc = *e;
        bool as_un = el->un_sequence && e->explicit_vr && el->length == RN_UNDEFINED_LENGTH;
        if (as_un) {
            inner_enc.explicit_vr = false;
            inner_enc.big_endian = false;
        }
        const Enc *outer = e;
        e = &inner_enc;
        for (size_t i = 0; i < el->item_count && !rc; i++) {
            const RnDataset *item = el->items[i];
            RnBuf ib = {0};
            rc = encode_items(e, item, &ib);
            if (!rc && ib.len > 0xFFFFFFFEu)
                rc = rn_error_set(e->err, RN_ERR_LIMIT, "item too large");
            if (!rc) {
                rc = put_tag(e, &body, RN_TAG_ITEM) ||
                             put32(e, &body, item->item_undefined ? RN_UNDEFINED_LENGTH
                                                                  : (uint32_t)ib.len) ||
                             rn_buf_append(&body, ib.data, ib.len)
                         ? RN_ERR_NOMEM
                         : 0;
                if (!rc && item->item_undefined)
                    rc = put_tag(e, &body, RN_TAG_ITEM_DELIM) || put32(e, &body, 0) ? RN_ERR_NOMEM
                                                                                     : 0;
            }
            rn_buf_free(&ib);
        }
        bool undefined = el->length == RN_UNDEFINED_LENGTH;
        if (!rc && !undefined && body.len > 0xFFFFFFFEu)
            rc = rn_error_set(e->err, RN_ERR_LIMIT, "sequence too large");
        if (!rc) {
            rc = put_header(outer, out, el->tag, as_un ? RN_VR_UN : RN_VR_SQ,
                            undefined ? RN_UNDEFINED_LENGTH : (uint32_t)body.len);
            if (!rc)
                rc = rn_buf_append(out, body.data, body.len);
            if (!rc && undefined)
                rc = put_tag(e, out, RN_TAG_SEQ_DELIM) || put32(e, out, 0) ? RN_ERR_NOMEM : 0;
        }
        rn_buf_free(&body);
        return rc;
    }
    if (el->encapsulated) {
        if (put_header(e, out, el->tag, el->vr == RN_VR_OW ? RN_VR_OW : RN_VR_OB,
                       RN_UNDEFINED_LENGTH))
            return RN_ERR_NOMEM;
        for (size_t i = 0; i < el->frag_count; i++) {
            if (put_tag(e, out, RN_TAG_ITEM) || put32(e, out, el->frags[i].len) ||
                rn_buf_append(out, el->frags[i].data, el->frags[i].len))
                return RN_ERR_NOMEM;
        }
        return put_tag(e, out, RN_TAG_SEQ_DELIM) || put32(e, out, 0) ? RN_ERR_NOMEM : 0;
    }
    if (el->value_len > 0xFFFFFFFEu)
        return rn_error_set(e->err, RN_ERR_LIMIT, "value too large");
    if (put_header(e, out, el->tag, el->vr, (uint32_t)el->value_len))
        return RN_ERR_NOMEM;
    return put_value(e, out, el, el->value, el->value_len);
}

static int encode_items(const Enc *e, const RnDataset *ds, RnBuf *out)
{
    for (size_t i = 0; i < ds->count; i++) {
        const RnElement *el = &ds->elems[i];
        if (e->drop_group_lengths && RN_TAG_ELEMENT(el->tag) == 0 && RN_TAG_GROUP(el->tag) != 2)
            continue;
        int rc = encode_element(e, el, out);
        if (rc)
            return rc == RN_ERR_NOMEM ? rn_error_set(e->err, rc, "out of memory encoding (%04X,%04X)",
                                                     RN_TAG_GROUP(el->tag), RN_TAG_ELEMENT(el->tag))
                                      : rc;
    }
    return 0;
}

int rn_dataset_encode(const RnDataset *ds, bool explicit_vr, bool big_endian,
                      bool drop_group_lengths, RnBuf *out, RnError *err)
{
    Enc e = {.explicit_vr = explicit_vr,
             .big_endian = big_endian,
             .drop_group_lengths = drop_group_lengths,
             .err = err};
    return encode_items(&e, ds, out);
}

int rn_dataset_write(const RnDataset *ds, const char *ts_uid, RnBuf *out, RnError *err)
{
    const RnTransferSyntax *ts = rn_transfer_syntax_find(ts_uid);
    bool explicit_vr = true, big_endian = false;
    if (ts) {
        if (ts->deflated)
            return rn_error_set(err, RN_ERR_UNSUPPORTED,
                                "rn_dataset_write: deflate is applied by the Part 10 writer");
        explicit_vr = ts->explicit_vr;
        big_endian = ts->big_endian;
    }
    return rn_dataset_encode(ds, explicit_vr, big_endian, false, out, err);
}
