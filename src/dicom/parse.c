/*
 * Decoding of a bare dataset byte stream (PS3.5 7.1 data elements, 7.5
 * nesting of data sets, A.4 encapsulation), in implicit or explicit VR and
 * either byte order.
 *
 * Every byte is hostile: each read is checked against the real end of the
 * enclosing structure (an item, a sequence, the buffer), the parser always
 * advances, nesting is bounded, and no allocation is larger than the input
 * itself. Errors name the offset in the file and the tag.
 */
#include "dicom/dataset_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct Parser {
    const uint8_t *data;
    size_t len;
    size_t defer_threshold;
    unsigned max_depth;
    uint64_t base;
    RnError *err;
} Parser;

/* Encoding of the stream being parsed; changes inside UN of undefined length. */
typedef struct Mode {
    bool explicit_vr;
    bool big_endian;
} Mode;

typedef struct Header {
    RnTag tag;
    RnVR vr;
    uint32_t length;
    size_t header_len;
} Header;

#define TAGFMT "(%04X,%04X)"
#define TAGARG(t) RN_TAG_GROUP(t), RN_TAG_ELEMENT(t)

static int parse_elements(Parser *p, Mode m, RnDataset *ds, size_t *pos, size_t end,
                          bool until_item_delim, unsigned depth, RnTag stop_before);

static uint16_t rd16(const Parser *p, Mode m, size_t pos)
{
    return m.big_endian ? rn_rd16be(p->data + pos) : rn_rd16le(p->data + pos);
}

static uint32_t rd32(const Parser *p, Mode m, size_t pos)
{
    return m.big_endian ? rn_rd32be(p->data + pos) : rn_rd32le(p->data + pos);
}

static RnTag rdtag(const Parser *p, Mode m, size_t pos)
{
    return RN_TAG(rd16(p, m, pos), rd16(p, m, pos + 2));
}

static bool is_upper(uint8_t c) { return c >= 'A' && c <= 'Z'; }

static RnVR dictionary_vr(RnTag tag)
{
    if (RN_TAG_ELEMENT(tag) == 0)
        return RN_VR_UL; /* group length */
    const RnDictEntry *e = rn_dict_find_tag(tag);
    if (!e || !e->vr)
        return RN_VR_UN;
    /* Multi-VR entries: pixel data and LUT data in implicit VR are OW (PS3.5 A.1 c). */
    if (e->vr == RN_VR_OB && e->vr_alt == RN_VR_OW)
        return RN_VR_OW;
    return e->vr;
}

static int read_header(Parser *p, Mode m, size_t pos, size_t end, Header *h)
{
    if (end - pos < 8)
        return rn_error_set(p->err, RN_ERR_TRUNCATED,
                            "offset %llu: %zu bytes left, too few for an element header",
                            (unsigned long long)(p->base + pos), end - pos);
    h->tag = rdtag(p, m, pos);
    if (RN_TAG_GROUP(h->tag) == 0xFFFE) {
        /* Item and delimiters carry no VR in any transfer syntax (PS3.5 7.5). */
        h->vr = RN_VR_UNKNOWN;
        h->length = rd32(p, m, pos + 4);
        h->header_len = 8;
        return 0;
    }
    if (m.explicit_vr) {
        uint8_t a = p->data[pos + 4], b = p->data[pos + 5];
        if (is_upper(a) && is_upper(b)) {
            h->vr = RN_VR_CODE(a, b);
            bool known = rn_vr_is_valid(h->vr);
            /* PS3.5 6.2: a VR not known to this implementation is handled like UN,
             * whose encoding (2 reserved bytes + 32-bit length) every newer VR uses. */
            if (!known || rn_vr_has_long_length(h->vr)) {
                if (end - pos < 12)
                    return rn_error_set(p->err, RN_ERR_TRUNCATED,
                                        "offset %llu: element " TAGFMT " header truncated",
                                        (unsigned long long)(p->base + pos), TAGARG(h->tag));
                h->length = rd32(p, m, pos + 8);
                h->header_len = 12;
                if (!known)
                    h->vr = RN_VR_UN;
            } else {
                h->length = rd16(p, m, pos + 6);
                h->header_len = 8;
            }
            return 0;
        }
        /* Not a VR: some writers put implicit VR elements into explicit streams.
         * Read this element as implicit VR, as DCMTK and pydicom do. */
    }
    h->vr = dictionary_vr(h->tag);
    h->length = rd32(p, m, pos + 4);
    h->header_len = 8;
    return 0;
}

static int take_value(Parser *p, RnElement *el, size_t pos, uint32_t len)
{
    el->value_len = len;
    if (p->defer_threshold && len > p->defer_threshold) {
        el->value = p->data + pos;
        el->borrowed = true;
        return 0;
    }
    uint8_t *v = rn_malloc(len);
    if (!v)
        return rn_error_set(p->err, RN_ERR_NOMEM, "out of memory reading element " TAGFMT,
                            TAGARG(el->tag));
    memcpy(v, p->data + pos, len);
    el->value = v;
    return 0;
}

static int parse_fragments(Parser *p, Mode m, RnElement *el, size_t *pos, size_t end)
{
    for (;;) {
        Header h;
        size_t at = *pos;
        if (end - at < 8)
            return rn_error_set(p->err, RN_ERR_TRUNCATED,
                                "offset %llu: encapsulated pixel data " TAGFMT
                                " ends without a sequence delimiter",
                                (unsigned long long)(p->base + at), TAGARG(el->tag));
        h.tag = rdtag(p, m, at);
        h.length = rd32(p, m, at + 4);
        *pos = at + 8;
        if (h.tag == RN_TAG_SEQ_DELIM)
            return 0;
        if (h.tag != RN_TAG_ITEM)
            return rn_error_set(p->err, RN_ERR_PARSE,
                                "offset %llu: expected a fragment item in encapsulated pixel data, "
                                "found " TAGFMT,
                                (unsigned long long)(p->base + at), TAGARG(h.tag));
        if (h.length == RN_UNDEFINED_LENGTH || h.length > end - *pos)
            return rn_error_set(p->err, RN_ERR_PARSE,
                                "offset %llu: fragment %zu length %u exceeds the %zu bytes left",
                                (unsigned long long)(p->base + at), el->frag_count, h.length,
                                end - *pos);
        const uint8_t *d = p->data + *pos;
        bool borrowed = false;
        uint8_t *copy = NULL;
        if (p->defer_threshold && h.length > p->defer_threshold) {
            borrowed = true;
        } else {
            copy = rn_malloc(h.length);
            if (!copy)
                return rn_error_set(p->err, RN_ERR_NOMEM, "out of memory");
            memcpy(copy, d, h.length);
            d = copy;
        }
        if (rn_element_append_fragment(el, d, h.length, borrowed)) {
            free(copy);
            return rn_error_set(p->err, RN_ERR_NOMEM, "out of memory");
        }
        *pos += h.length;
    }
}

static int parse_item(Parser *p, Mode m, RnElement *seq, RnDataset *parent, size_t *pos,
                      size_t end, uint32_t len, size_t at, unsigned depth)
{
    RnDataset *item = rn_dataset_create();
    if (!item || rn_element_append_item(seq, item)) {
        rn_dataset_destroy(item);
        return rn_error_set(p->err, RN_ERR_NOMEM, "out of memory");
    }
    item->parent = parent;
    if (len == RN_UNDEFINED_LENGTH) {
        item->item_undefined = true;
        return parse_elements(p, m, item, pos, end, true, depth + 1, 0);
    }
    if (len > end - *pos)
        return rn_error_set(p->err, RN_ERR_PARSE,
                            "offset %llu: item %zu of " TAGFMT " has length %u but only %zu bytes "
                            "remain",
                            (unsigned long long)(p->base + at), seq->item_count, TAGARG(seq->tag),
                            len, end - *pos);
    size_t item_end = *pos + len;
    int rc = parse_elements(p, m, item, pos, item_end, false, depth + 1, 0);
    if (rc)
        return rc;
    return 0;
}

static int parse_sequence(Parser *p, Mode m, RnElement *el, RnDataset *parent, size_t *pos,
                          size_t end, uint32_t length, unsigned depth)
{
    if (depth >= p->max_depth)
        return rn_error_set(p->err, RN_ERR_LIMIT,
                            "offset %llu: sequence " TAGFMT " nested deeper than %u levels",
                            (unsigned long long)(p->base + *pos), TAGARG(el->tag), p->max_depth);
    size_t seq_end = end;
    bool undefined = length == RN_UNDEFINED_LENGTH;
    if (!undefined) {
        if (length > end - *pos)
            return rn_error_set(p->err, RN_ERR_PARSE,
                                "offset %llu: sequence " TAGFMT " length %u exceeds the %zu bytes "
                                "left",
                                (unsigned long long)(p->base + *pos), TAGARG(el->tag), length,
                                end - *pos);
        seq_end = *pos + length;
    }
    for (;;) {
        if (!undefined && *pos == seq_end)
            return 0;
        size_t at = *pos;
        if (seq_end - at < 8)
            return rn_error_set(p->err, RN_ERR_TRUNCATED,
                                "offset %llu: sequence " TAGFMT " ends inside an item header",
                                (unsigned long long)(p->base + at), TAGARG(el->tag));
        RnTag tag = rdtag(p, m, at);
        uint32_t len = rd32(p, m, at + 4);
        *pos = at + 8;
        if (tag == RN_TAG_SEQ_DELIM) {
            if (undefined)
                return 0;
            return rn_error_set(p->err, RN_ERR_PARSE,
                                "offset %llu: sequence delimiter inside defined-length sequence "
                                TAGFMT,
                                (unsigned long long)(p->base + at), TAGARG(el->tag));
        }
        if (tag != RN_TAG_ITEM)
            return rn_error_set(p->err, RN_ERR_PARSE,
                                "offset %llu: expected an item in sequence " TAGFMT
                                ", found " TAGFMT,
                                (unsigned long long)(p->base + at), TAGARG(el->tag), TAGARG(tag));
        int rc = parse_item(p, m, el, parent, pos, seq_end, len, at, depth);
        if (rc)
            return rc;
    }
}

static int parse_elements(Parser *p, Mode m, RnDataset *ds, size_t *pos, size_t end,
                          bool until_item_delim, unsigned depth, RnTag stop_before)
{
    while (*pos < end) {
        size_t at = *pos;
        Header h = {0};
        int rc = read_header(p, m, at, end, &h);
        if (rc)
            return rc;
        if (h.tag == RN_TAG_ITEM_DELIM) {
            *pos = at + 8;
            if (until_item_delim)
                return 0;
            /* A stray item delimiter at the end of a defined-length item is tolerated. */
            continue;
        }
        if (h.tag == RN_TAG_SEQ_DELIM || h.tag == RN_TAG_ITEM)
            return rn_error_set(p->err, RN_ERR_PARSE, "offset %llu: unexpected " TAGFMT " %s",
                                (unsigned long long)(p->base + at), TAGARG(h.tag),
                                h.tag == RN_TAG_ITEM ? "item outside a sequence"
                                                     : "sequence delimiter outside a sequence");
        if (stop_before && h.tag >= stop_before) {
            *pos = at;
            return 0;
        }
        size_t vpos = at + h.header_len;
        RnElement el;
        memset(&el, 0, sizeof el);
        el.tag = h.tag;
        el.vr = h.vr;
        el.length = h.length;
        el.big_endian = m.big_endian;
        *pos = vpos;
        if (h.length == RN_UNDEFINED_LENGTH) {
            if (h.tag == RN_TAG_PixelData ||
                (h.vr != RN_VR_SQ && h.vr != RN_VR_UN && m.explicit_vr &&
                 (h.vr == RN_VR_OB || h.vr == RN_VR_OW))) {
                el.encapsulated = true;
                rc = parse_fragments(p, m, &el, pos, end);
            } else if (h.vr == RN_VR_SQ || h.vr == RN_VR_UN || !m.explicit_vr) {
                /* PS3.5 6.2.2: UN of undefined length holds implicit VR LE items. */
                Mode inner = m;
                if (h.vr == RN_VR_UN && m.explicit_vr) {
                    inner.explicit_vr = false;
                    inner.big_endian = false;
                }
                el.un_sequence = h.vr == RN_VR_UN && m.explicit_vr;
                el.vr = RN_VR_SQ;
                rc = parse_sequence(p, inner, &el, ds, pos, end, h.length, depth);
            } else {
                rc = rn_error_set(p->err, RN_ERR_PARSE,
                                  "offset %llu: element " TAGFMT
                                  " has undefined length, not allowed for VR %c%c",
                                  (unsigned long long)(p->base + at), TAGARG(h.tag), h.vr >> 8,
                                  h.vr & 0xFF);
            }
        } else if (h.vr == RN_VR_SQ) {
            rc = parse_sequence(p, m, &el, ds, pos, end, h.length, depth);
        } else {
            if (h.length > end - vpos) {
                rc = rn_error_set(p->err, RN_ERR_TRUNCATED,
                                  "offset %llu: element " TAGFMT " %c%c length %u exceeds the %zu "
                                  "bytes left",
                                  (unsigned long long)(p->base + at), TAGARG(h.tag),
                                  h.vr ? h.vr >> 8 : '?', h.vr ? h.vr & 0xFF : '?', h.length,
                                  end - vpos);
            } else {
                rc = take_value(p, &el, vpos, h.length);
                *pos = vpos + h.length;
            }
        }
        if (rc) {
            rn_element_clear(&el);
            return rc;
        }
        if (rn_dataset_append_raw(ds, &el)) {
            rn_element_clear(&el);
            return rn_error_set(p->err, RN_ERR_NOMEM, "out of memory");
        }
        if (h.tag == RN_TAG_SpecificCharacterSet)
            rn_dataset_update_charset(ds);
    }
    if (until_item_delim)
        return rn_error_set(p->err, RN_ERR_TRUNCATED,
                            "offset %llu: item of undefined length has no item delimiter",
                            (unsigned long long)(p->base + *pos));
    return 0;
}

int rn_dataset_parse(RnDataset *ds, const uint8_t *data, size_t len, const RnParseParams *params,
                     size_t *consumed, RnError *err)
{
    Parser p = {
        .data = data,
        .len = len,
        .defer_threshold = params->defer_threshold,
        .max_depth = params->max_depth ? params->max_depth : 64,
        .base = params->base,
        .err = err,
    };
    Mode m = {.explicit_vr = params->explicit_vr, .big_endian = params->big_endian};
    size_t pos = 0;
    int rc = parse_elements(&p, m, ds, &pos, len, false, 0, params->stop_before);
    if (consumed)
        *consumed = pos;
    return rc;
}

RnDataset *rn_dataset_read(const uint8_t *data, size_t len, const char *ts_uid, RnError *err)
{
    const RnTransferSyntax *ts = rn_transfer_syntax_find(ts_uid);
    RnParseParams params = {.explicit_vr = true};
    if (ts) {
        if (ts->deflated) {
            rn_error_set(err, RN_ERR_UNSUPPORTED,
                         "rn_dataset_read: inflate deflated data before parsing");
            return NULL;
        }
        params.explicit_vr = ts->explicit_vr;
        params.big_endian = ts->big_endian;
    }
    RnDataset *ds = rn_dataset_create();
    if (!ds) {
        rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (rn_dataset_parse(ds, data, len, &params, NULL, err)) {
        rn_dataset_destroy(ds);
        return NULL;
    }
    return ds;
}
