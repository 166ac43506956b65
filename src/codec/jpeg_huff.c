/*
 * ISO/IEC 10918-1 stream structure for radnode's own JPEG decoders: the
 * marker syntax of Annex B (SOI, APPn, DQT B.2.4.1, DHT B.2.4.2, DRI B.2.4.4,
 * SOFn B.2.2, SOS B.2.3, RSTn, EOI), Huffman table derivation (Annex C and
 * F.2.2.3, with a RN_JPEG_LOOKAHEAD-bit lookup table so most codes cost one
 * load) and restart handling (F.2.2.5 / B.2.1). Every length is checked
 * against the bytes actually present; the walker always moves forward, so it
 * ends on any input.
 */
#include "codec/jpeg_internal.h"

#include <string.h>

/* F.1.2.1.3 / Figure A.6: zig-zag index -> natural (row-major) index. */
static const uint8_t zigzag_to_natural[64] = {
    0,  1,  8,  16, 9,  2,  3,  10, 17, 24, 32, 25, 18, 11, 4,  5,  12, 19, 26, 33, 40, 48,
    41, 34, 27, 20, 13, 6,  7,  14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23,
    30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63};

const char *rn_jpeg_sof_name(uint8_t sof)
{
    switch (sof) {
    case 0xC0:
        return "SOF0 (baseline DCT)";
    case 0xC1:
        return "SOF1 (extended sequential DCT, Huffman)";
    case 0xC2:
        return "SOF2 (progressive DCT, Huffman)";
    case 0xC3:
        return "SOF3 (lossless, Huffman)";
    case 0xC5:
        return "SOF5 (differential sequential DCT)";
    case 0xC6:
        return "SOF6 (differential progressive DCT)";
    case 0xC7:
        return "SOF7 (differential lossless)";
    case 0xC9:
        return "SOF9 (extended sequential DCT, arithmetic)";
    case 0xCA:
        return "SOF10 (progressive DCT, arithmetic)";
    case 0xCB:
        return "SOF11 (lossless, arithmetic)";
    case 0xCD:
        return "SOF13 (differential sequential DCT, arithmetic)";
    case 0xCE:
        return "SOF14 (differential progressive DCT, arithmetic)";
    case 0xCF:
        return "SOF15 (differential lossless, arithmetic)";
    default:
        return "unknown SOF";
    }
}

static bool is_sof(int m)
{
    return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
}

/* Reads the marker at *pos (skipping B.1.1.2 fill bytes). */
static int read_marker(const uint8_t *src, size_t len, size_t *pos, int *marker, RnError *err)
{
    size_t p = *pos;
    if (p >= len || src[p] != 0xFF)
        return rn_error_set(err, p >= len ? RN_ERR_TRUNCATED : RN_ERR_PARSE,
                            "JPEG: expected a marker at offset %zu", p);
    while (p < len && src[p] == 0xFF)
        p++;
    if (p >= len)
        return rn_error_set(err, RN_ERR_TRUNCATED,
                            "JPEG: stream ends inside a marker at offset %zu", *pos);
    if (src[p] == 0x00)
        return rn_error_set(err, RN_ERR_PARSE,
                            "JPEG: stuffed byte where a marker was expected at "
                            "offset %zu",
                            *pos);
    *marker = src[p];
    *pos = p + 1;
    return 0;
}

/* Length of the segment whose length field starts at pos; checks it fits. */
static int segment_length(const uint8_t *src, size_t len, size_t pos, int marker, size_t *seglen,
                          RnError *err)
{
    if (pos + 2 > len)
        return rn_error_set(err, RN_ERR_TRUNCATED, "JPEG: marker 0x%02X at offset %zu: no length",
                            marker, pos - 2);
    size_t l = rn_rd16be(src + pos);
    if (l < 2 || pos + l > len)
        return rn_error_set(err, l < 2 ? RN_ERR_PARSE : RN_ERR_TRUNCATED,
                            "JPEG: marker 0x%02X at offset %zu: length %zu exceeds the %zu bytes "
                            "left",
                            marker, pos - 2, l, len - pos);
    *seglen = l;
    return 0;
}

static int parse_sof(const uint8_t *s, size_t l, int marker, size_t off, RnJpegFrame *fr,
                     RnError *err)
{
    if (l < 8)
        return rn_error_set(err, RN_ERR_PARSE, "JPEG: SOF at offset %zu too short", off);
    fr->sof = (uint8_t)marker;
    fr->sof_offset = off;
    fr->precision = s[2];
    fr->rows = rn_rd16be(s + 3);
    fr->columns = rn_rd16be(s + 5);
    fr->ncomp = s[7];
    if (fr->ncomp < 1 || fr->ncomp > 4)
        return rn_error_set(err, RN_ERR_UNSUPPORTED,
                            "JPEG: SOF at offset %zu: %u components "
                            "(1 to 4 supported)",
                            off, fr->ncomp);
    if (l != 8 + 3 * (size_t)fr->ncomp)
        return rn_error_set(err, RN_ERR_PARSE,
                            "JPEG: SOF at offset %zu: length %zu does not match "
                            "%u components",
                            off, l, fr->ncomp);
    if (fr->rows == 0)
        return rn_error_set(err, RN_ERR_UNSUPPORTED,
                            "JPEG: SOF at offset %zu: 0 lines (DNL "
                            "marker) not supported",
                            off);
    if (fr->columns == 0)
        return rn_error_set(err, RN_ERR_PARSE, "JPEG: SOF at offset %zu: 0 samples per line", off);
    fr->hmax = fr->vmax = 1;
    for (uint32_t i = 0; i < fr->ncomp; i++) {
        const uint8_t *c = s + 8 + 3 * i;
        RnJpegComponent *cp = &fr->comp[i];
        cp->id = c[0];
        cp->h = c[1] >> 4;
        cp->v = c[1] & 15;
        cp->tq = c[2];
        if (cp->h < 1 || cp->h > 4 || cp->v < 1 || cp->v > 4 || cp->tq > 3)
            return rn_error_set(err, RN_ERR_PARSE,
                                "JPEG: SOF at offset %zu: component %u has "
                                "sampling %ux%u, table %u",
                                off, cp->id, cp->h, cp->v, cp->tq);
        for (uint32_t j = 0; j < i; j++)
            if (fr->comp[j].id == cp->id)
                return rn_error_set(err, RN_ERR_PARSE,
                                    "JPEG: SOF at offset %zu: duplicate "
                                    "component id %u",
                                    off, cp->id);
        if (cp->h > fr->hmax)
            fr->hmax = cp->h;
        if (cp->v > fr->vmax)
            fr->vmax = cp->v;
    }
    for (uint32_t i = 0; i < fr->ncomp; i++) {
        RnJpegComponent *cp = &fr->comp[i];
        cp->width = (uint32_t)(((uint64_t)fr->columns * cp->h + fr->hmax - 1) / fr->hmax);
        cp->height = (uint32_t)(((uint64_t)fr->rows * cp->v + fr->vmax - 1) / fr->vmax);
    }
    return 0;
}

int rn_jpeg_parse_frame(const uint8_t *src, size_t len, RnJpegFrame *fr, RnError *err)
{
    memset(fr, 0, sizeof *fr);
    fr->adobe_transform = -1;
    if (!src || len < 4 || src[0] != 0xFF || src[1] != 0xD8)
        return rn_error_set(err, RN_ERR_PARSE, "JPEG: no SOI marker at offset 0");
    size_t pos = 2;
    for (;;) {
        int m = 0;
        size_t at = pos, l = 0;
        int rc = read_marker(src, len, &pos, &m, err);
        if (rc)
            return rc;
        if (m == 0xD9 || m == 0xDA)
            return rn_error_set(err, RN_ERR_PARSE, "JPEG: %s at offset %zu before any SOF marker",
                                m == 0xD9 ? "EOI" : "SOS", at);
        if ((m >= 0xD0 && m <= 0xD7) || m == 0x01 || m == 0xD8)
            continue; /* parameterless */
        rc = segment_length(src, len, pos, m, &l, err);
        if (rc)
            return rc;
        const uint8_t *s = src + pos;
        if (is_sof(m))
            return parse_sof(s, l, m, at, fr, err);
        if (m == 0xEE && l >= 14 && memcmp(s + 2, "Adobe", 5) == 0)
            fr->adobe_transform = s[13];
        if (m == 0xE0 && l >= 7 && memcmp(s + 2, "JFIF", 5) == 0)
            fr->jfif = true;
        pos += l;
    }
}

int rn_jpeg_huff_build(RnJpegHuff *h, RnError *err)
{
    /* C.2: canonical codes in order of length. */
    int32_t code = 0;
    uint32_t k = 0;
    uint16_t codes[256];
    uint8_t lens[256];
    for (int l = 1; l <= 16; l++) {
        h->valoffset[l] = (int32_t)k - code;
        for (uint32_t i = 0; i < h->counts[l]; i++) {
            codes[k] = (uint16_t)code;
            lens[k] = (uint8_t)l;
            k++;
            code++;
        }
        h->maxcode[l] = h->counts[l] ? code - 1 : -1;
        /* All-ones codes are reserved (C.2 / F.1.2.1.2) but some encoders use
         * them; like libjpeg, only reject an over-subscribed table. */
        if (code > (1 << l))
            return rn_error_set(err, RN_ERR_PARSE,
                                "JPEG: DHT: over-subscribed Huffman code at "
                                "length %d",
                                l);
        code <<= 1;
    }
    h->maxcode[17] = INT32_MAX;
    memset(h->look, 0, sizeof h->look);
    memset(h->fastdiff, 0, sizeof h->fastdiff);
    for (uint32_t i = 0; i < k; i++) {
        int l = lens[i];
        if (l > RN_JPEG_LOOKAHEAD)
            continue;
        int shift = RN_JPEG_LOOKAHEAD - l;
        uint32_t first = (uint32_t)codes[i] << shift;
        uint32_t s = h->values[i];
        for (uint32_t j = 0; j < (1u << shift); j++) {
            uint32_t idx = first | j;
            h->look[idx] = (uint16_t)((l << 8) | s);
            if (s <= 15 && l + (int)s <= RN_JPEG_LOOKAHEAD) {
                uint32_t extra = s ? (idx >> (shift - s)) & ((1u << s) - 1) : 0;
                int32_t diff = rn_jpeg_extend(extra, (int)s);
                h->fastdiff[idx] = diff * 256 + l + (int32_t)s;
            }
        }
    }
    h->defined = true;
    return 0;
}

static int parse_dht(RnJpegDecoder *d, const uint8_t *s, size_t l, size_t off, RnError *err)
{
    size_t p = 2;
    while (p < l) {
        uint32_t tc = s[p] >> 4, th = s[p] & 15;
        if (tc > 1 || th > 3)
            return rn_error_set(err, RN_ERR_PARSE,
                                "JPEG: DHT at offset %zu: bad class %u / "
                                "destination %u",
                                off, tc, th);
        if (p + 17 > l)
            return rn_error_set(err, RN_ERR_PARSE, "JPEG: DHT at offset %zu truncated", off);
        RnJpegHuff *h = tc ? &d->ac[th] : &d->dc[th];
        memset(h, 0, sizeof *h);
        uint32_t total = 0;
        for (int i = 1; i <= 16; i++) {
            h->counts[i] = s[p + (size_t)i];
            total += h->counts[i];
        }
        p += 17;
        if (total > 256 || p + total > l)
            return rn_error_set(err, RN_ERR_PARSE,
                                "JPEG: DHT at offset %zu: %u values do not fit "
                                "the segment",
                                off, total);
        memcpy(h->values, s + p, total);
        h->nvalues = total;
        p += total;
        int rc = rn_jpeg_huff_build(h, err);
        if (rc) {
            rn_error_prefix(err, "at offset %zu: ", off);
            return rc;
        }
    }
    return 0;
}

static int parse_dqt(RnJpegDecoder *d, const uint8_t *s, size_t l, size_t off, RnError *err)
{
    size_t p = 2;
    while (p < l) {
        uint32_t pq = s[p] >> 4, tq = s[p] & 15;
        if (pq > 1 || tq > 3)
            return rn_error_set(err, RN_ERR_PARSE,
                                "JPEG: DQT at offset %zu: bad precision %u / "
                                "destination %u",
                                off, pq, tq);
        p++;
        size_t need = pq ? 128 : 64;
        if (p + need > l)
            return rn_error_set(err, RN_ERR_PARSE, "JPEG: DQT at offset %zu truncated", off);
        for (int k = 0; k < 64; k++)
            d->qt[tq][zigzag_to_natural[k]] =
                pq ? rn_rd16be(s + p + 2 * (size_t)k) : s[p + (size_t)k];
        d->qt_defined[tq] = true;
        p += need;
    }
    return 0;
}

static int parse_sos(RnJpegDecoder *d, const uint8_t *s, size_t l, size_t off, RnError *err)
{
    if (!d->have_frame)
        return rn_error_set(err, RN_ERR_PARSE, "JPEG: SOS at offset %zu before SOF", off);
    if (l < 3)
        return rn_error_set(err, RN_ERR_PARSE, "JPEG: SOS at offset %zu too short", off);
    uint32_t ns = s[2];
    if (ns < 1 || ns > 4 || l != 6 + 2 * (size_t)ns)
        return rn_error_set(err, RN_ERR_PARSE, "JPEG: SOS at offset %zu: %u components, length %zu",
                            off, ns, l);
    d->ns = ns;
    for (uint32_t i = 0; i < ns; i++) {
        uint8_t id = s[3 + 2 * i], t = s[4 + 2 * i];
        uint32_t k;
        for (k = 0; k < d->frame.ncomp; k++)
            if (d->frame.comp[k].id == id)
                break;
        if (k == d->frame.ncomp)
            return rn_error_set(err, RN_ERR_PARSE,
                                "JPEG: SOS at offset %zu: component id %u not "
                                "in the frame",
                                off, id);
        for (uint32_t j = 0; j < i; j++)
            if (d->scomp[j] == k)
                return rn_error_set(err, RN_ERR_PARSE,
                                    "JPEG: SOS at offset %zu: component %u "
                                    "twice",
                                    off, id);
        d->scomp[i] = (uint8_t)k;
        d->td[i] = t >> 4;
        d->ta[i] = t & 15;
        if (d->td[i] > 3 || d->ta[i] > 3)
            return rn_error_set(err, RN_ERR_PARSE, "JPEG: SOS at offset %zu: bad table selector",
                                off);
    }
    const uint8_t *t = s + 3 + 2 * ns;
    d->ss = t[0];
    d->se = t[1];
    d->ah = t[2] >> 4;
    d->al = t[2] & 15;
    d->scan_offset = off;
    return 0;
}

int rn_jpeg_walk(RnJpegDecoder *d, const uint8_t *src, size_t len, RnJpegScanFn scan, void *ctx,
                 RnError *err)
{
    d->src = src;
    d->len = len;
    if (len < 4 || src[0] != 0xFF || src[1] != 0xD8)
        return rn_error_set(err, RN_ERR_PARSE, "JPEG: no SOI marker at offset 0");
    size_t pos = 2;
    while (pos < len) {
        int m = 0;
        size_t at = pos, l = 0;
        if (src[pos] != 0xFF) {
            /* Garbage between segments (after a scan): skip to the next marker. */
            pos++;
            continue;
        }
        int rc = read_marker(src, len, &pos, &m, err);
        if (rc == RN_ERR_TRUNCATED && d->scans > 0)
            break;
        if (rc)
            return rc;
        if (m == 0xD9)
            break;
        if ((m >= 0xD0 && m <= 0xD7) || m == 0x01 || m == 0xD8)
            continue;
        rc = segment_length(src, len, pos, m, &l, err);
        if (rc)
            return rc;
        const uint8_t *s = src + pos;
        pos += l;
        if (is_sof(m)) {
            if (d->have_frame)
                return rn_error_set(err, RN_ERR_UNSUPPORTED,
                                    "JPEG: second SOF at offset %zu "
                                    "(hierarchical streams not supported)",
                                    at);
            rc = parse_sof(s, l, m, at, &d->frame, err);
            if (rc)
                return rc;
            d->have_frame = true;
        } else if (m == 0xC4) {
            rc = parse_dht(d, s, l, at, err);
        } else if (m == 0xDB) {
            rc = parse_dqt(d, s, l, at, err);
        } else if (m == 0xDD) {
            if (l != 4)
                return rn_error_set(err, RN_ERR_PARSE, "JPEG: DRI at offset %zu: length %zu", at,
                                    l);
            d->restart_interval = rn_rd16be(s + 2);
        } else if (m == 0xDC) {
            return rn_error_set(err, RN_ERR_UNSUPPORTED,
                                "JPEG: DNL marker at offset %zu not "
                                "supported",
                                at);
        } else if (m == 0xDA) {
            rc = parse_sos(d, s, l, at, err);
            if (rc)
                return rc;
            RnJpegBits bits = {.data = src, .len = len, .pos = pos};
            rc = scan(d, &bits, ctx, err);
            if (rc)
                return rc;
            d->scans++;
            if (bits.pos <= pos)
                bits.pos = pos; /* never move backwards */
            pos = bits.pos;
        }
        if (rc)
            return rc;
    }
    if (d->scans == 0)
        return rn_error_set(err, RN_ERR_PARSE, "JPEG: stream has no scan (no SOS marker)");
    return 0;
}

int rn_jpeg_restart(RnJpegBits *b, uint32_t count, RnError *err)
{
    if (rn_jpeg_bits_overrun(b))
        return rn_error_set(err, RN_ERR_TRUNCATED,
                            "JPEG: entropy-coded data ends before restart "
                            "marker RST%u at offset %zu",
                            count & 7, b->pos);
    /* Discard the partial byte (F.1.2.3 pads with 1-bits) and find the marker;
     * bytes that do not form a marker before it are skipped (libjpeg does the same). */
    size_t p = b->pos;
    while (p < b->len) {
        if (b->data[p] == 0xFF && p + 1 < b->len && b->data[p + 1] != 0x00 &&
            b->data[p + 1] != 0xFF)
            break;
        p++;
    }
    if (p + 1 >= b->len)
        return rn_error_set(err, RN_ERR_TRUNCATED,
                            "JPEG: missing restart marker RST%u (data ends "
                            "at offset %zu)",
                            count & 7, b->len);
    int m = b->data[p + 1];
    if (m != 0xD0 + (int)(count & 7))
        return rn_error_set(err, RN_ERR_PARSE,
                            "JPEG: expected RST%u, found marker 0x%02X at offset "
                            "%zu",
                            count & 7, m, p);
    b->pos = p + 2;
    b->acc = 0;
    b->nbits = 0;
    b->fake = 0;
    b->marker = 0;
    return 0;
}
