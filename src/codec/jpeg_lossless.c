/*
 * JPEG lossless, ISO/IEC 10918-1 Annex H (process 14: Huffman-coded DPCM),
 * radnode's own decoder and encoder. libjpeg-turbo 2.1 as shipped by Debian
 * 12 has no lossless mode (it arrived in 3.0), so DICOM's JPEG Lossless
 * transfer syntaxes 1.2.840.10008.1.2.4.57 and .70 (SV1) are handled here.
 *
 * Decoding: 2..16-bit precision, predictors 1..7 (H.1.2.1, Table H.1), point
 * transform (H.1.2.3), 1..4 components in interleaved or non-interleaved
 * scans, restart intervals; all components must have the same sampling
 * factors (DICOM never subsamples lossless data). Reconstruction is modulo
 * 2^16 (H.1.2.1). Like DCMTK, samples are output as the unsigned P-bit values
 * of the stream, shifted left by the point transform; no colour transform.
 *
 * Encoding (SV1 for radnode's own outputs): predictor 1, point transform 0,
 * one interleaved scan, an optimal Huffman table built as in Annex K.2 with
 * code lengths limited to 16 bits.
 */
#include "codec/jpeg_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct LosslessCtx {
    const RnJpegFrame *fr;
    uint16_t *plane[4]; /* one per frame component, columns*rows */
    bool decoded[4];
    uint32_t pt; /* point transform of the scans (must agree) */
    bool have_pt;
} LosslessCtx;

/* floor(x / 2) without relying on the sign behaviour of >>. */
static inline int32_t half_floor(int32_t x)
{
    return (x - (x < 0)) / 2;
}

static inline int32_t predict(uint32_t sel, int32_t ra, int32_t rb, int32_t rc)
{
    switch (sel) {
    case 1:
        return ra;
    case 2:
        return rb;
    case 3:
        return rc;
    case 4:
        return ra + rb - rc;
    case 5:
        return ra + half_floor(rb - rc);
    case 6:
        return rb + half_floor(ra - rc);
    default:
        return half_floor(ra + rb);
    }
}

/* One difference (H.2.2 with Table H.2: category 16 means 32768). */
static inline int decode_diff(RnJpegBits *b, const RnJpegHuff *h, int32_t *diff)
{
    rn_jpeg_bits_fill(b);
    int32_t f = h->fastdiff[rn_jpeg_bits_peek(b, RN_JPEG_LOOKAHEAD)];
    if (f) {
        int nb = f & 0xFF;
        rn_jpeg_bits_skip(b, nb);
        *diff = (f - nb) / 256;
        return 0;
    }
    int s = rn_jpeg_huff_decode(b, h);
    if (s < 0 || s > 16)
        return -1;
    if (s == 16) {
        *diff = 32768;
    } else if (s == 0) {
        *diff = 0;
    } else {
        uint32_t v = rn_jpeg_bits_peek(b, s);
        rn_jpeg_bits_skip(b, s);
        *diff = rn_jpeg_extend(v, s);
    }
    return 0;
}

static int lossless_scan(RnJpegDecoder *d, RnJpegBits *b, void *vctx, RnError *err)
{
    LosslessCtx *ctx = vctx;
    const RnJpegFrame *fr = &d->frame;
    uint32_t sel = d->ss, pt = d->al, P = fr->precision;
    if (sel < 1 || sel > 7 || d->se != 0 || d->ah != 0 || pt >= P)
        return rn_error_set(err, RN_ERR_PARSE,
                            "JPEG lossless: SOS at offset %zu: predictor %u, "
                            "Se %u, Ah %u, point transform %u (precision %u)",
                            d->scan_offset, sel, d->se, d->ah, pt, P);
    if (ctx->have_pt && ctx->pt != pt)
        return rn_error_set(err, RN_ERR_UNSUPPORTED,
                            "JPEG lossless: SOS at offset %zu: point "
                            "transform differs between scans",
                            d->scan_offset);
    ctx->pt = pt;
    ctx->have_pt = true;
    const RnJpegHuff *tab[4];
    uint16_t *pl[4];
    uint32_t ns = d->ns;
    for (uint32_t i = 0; i < ns; i++) {
        tab[i] = &d->dc[d->td[i]];
        if (!tab[i]->defined)
            return rn_error_set(err, RN_ERR_PARSE,
                                "JPEG lossless: SOS at offset %zu uses "
                                "undefined Huffman table %u",
                                d->scan_offset, d->td[i]);
        pl[i] = ctx->plane[d->scomp[i]];
        ctx->decoded[d->scomp[i]] = true;
    }
    const uint32_t w = fr->columns, h = fr->rows;
    const int32_t init = (int32_t)1 << (P - pt - 1);
    /* H.1.1: the restart interval is a whole number of MCU rows (an MCU is one
     * sample of each scan component here), so every interval starts a line. */
    const uint32_t ri = d->restart_interval;
    if (ri % w)
        return rn_error_set(err, RN_ERR_PARSE,
                            "JPEG lossless: restart interval %u is not a "
                            "multiple of the %u MCUs in a row",
                            ri, w);
    const uint32_t ri_rows = ri / w;
    uint32_t left = ri_rows, rst_count = 0;
    bool first_line = true;
    for (uint32_t y = 0; y < h; y++) {
        size_t row = (size_t)y * w;
        for (uint32_t c = 0; c < ns; c++) {
            /* Table H.1: the first sample of an interval predicts 2^(P-Pt-1);
             * its first line uses Ra, other lines start with Rb. */
            int32_t diff;
            if (decode_diff(b, tab[c], &diff))
                goto bad_code;
            uint16_t *p = pl[c] + row;
            int32_t px = first_line ? init : p[-(ptrdiff_t)w];
            p[0] = (uint16_t)((uint32_t)(px + diff) & 0xFFFF);
        }
        for (uint32_t x = 1; x < w; x++) {
            size_t i = row + x;
            for (uint32_t c = 0; c < ns; c++) {
                int32_t diff, px;
                if (decode_diff(b, tab[c], &diff))
                    goto bad_code;
                const uint16_t *p = pl[c] + i;
                if (first_line)
                    px = p[-1];
                else
                    px = predict(sel, p[-1], p[-(ptrdiff_t)w], p[-(ptrdiff_t)w - 1]);
                pl[c][i] = (uint16_t)((uint32_t)(px + diff) & 0xFFFF);
            }
        }
        first_line = false;
        if (ri_rows && --left == 0 && y + 1 < h) {
            int rc = rn_jpeg_restart(b, rst_count++, err);
            if (rc)
                return rc;
            left = ri_rows;
            first_line = true;
        }
        continue;
    bad_code:
        return rn_error_set(err, RN_ERR_PARSE,
                            "JPEG lossless: bad Huffman code in scan at offset "
                            "%zu (row %u, near byte %zu)",
                            d->scan_offset, y, b->pos);
    }
    if (rn_jpeg_bits_overrun(b))
        return rn_error_set(err, RN_ERR_TRUNCATED,
                            "JPEG lossless: scan at offset %zu: "
                            "entropy-coded data truncated",
                            d->scan_offset);
    /* Leave pos at the marker that ends the scan. */
    if (!b->marker)
        while (b->pos < b->len &&
               !(b->data[b->pos] == 0xFF && b->pos + 1 < b->len && b->data[b->pos + 1] != 0x00))
            b->pos++;
    return 0;
}

int rn_jpeg_lossless_decode_frame(const uint8_t *src, size_t len, const RnJpegFrame *fr,
                                  uint8_t *dst, uint32_t bytes, RnError *err)
{
    if (fr->precision < 2 || fr->precision > 16)
        return rn_error_set(err, RN_ERR_PARSE,
                            "JPEG lossless: SOF3 at offset %zu: precision %u "
                            "(2..16)",
                            fr->sof_offset, fr->precision);
    for (uint32_t c = 0; c < fr->ncomp; c++)
        if (fr->comp[c].h != fr->comp[0].h || fr->comp[c].v != fr->comp[0].v)
            return rn_error_set(err, RN_ERR_UNSUPPORTED,
                                "JPEG lossless: SOF3 at offset %zu: "
                                "subsampled components not supported",
                                fr->sof_offset);
    RnJpegDecoder *d = rn_calloc(1, sizeof *d);
    LosslessCtx ctx = {.fr = fr};
    size_t n = (size_t)fr->rows * fr->columns;
    int rc = d ? 0 : rn_error_set(err, RN_ERR_NOMEM, "JPEG lossless: out of memory");
    for (uint32_t c = 0; !rc && c < fr->ncomp; c++) {
        ctx.plane[c] = rn_calloc(n, sizeof(uint16_t));
        if (!ctx.plane[c])
            rc = rn_error_set(err, RN_ERR_NOMEM, "JPEG lossless: out of memory for %zu samples", n);
    }
    if (!rc)
        rc = rn_jpeg_walk(d, src, len, lossless_scan, &ctx, err);
    for (uint32_t c = 0; !rc && c < fr->ncomp; c++)
        if (!ctx.decoded[c])
            rc = rn_error_set(err, RN_ERR_PARSE, "JPEG lossless: component %u has no scan",
                              fr->comp[c].id);
    if (!rc) {
        /* H.1.2.3: the decoder scales the output up by the point transform. */
        uint32_t nc = fr->ncomp, pt = ctx.pt;
        if (bytes == 1) {
            for (uint32_t c = 0; c < nc; c++) {
                const uint16_t *p = ctx.plane[c];
                uint8_t *o = dst + c;
                for (size_t i = 0; i < n; i++, o += nc)
                    *o = (uint8_t)(p[i] << pt);
            }
        } else {
            for (uint32_t c = 0; c < nc; c++) {
                const uint16_t *p = ctx.plane[c];
                uint8_t *o = dst + 2 * c;
                for (size_t i = 0; i < n; i++, o += 2 * nc)
                    rn_wr16le(o, (uint16_t)(p[i] << pt));
            }
        }
    }
    for (uint32_t c = 0; c < 4; c++)
        free(ctx.plane[c]);
    free(d);
    return rc;
}

/* ---- Encoder (SV1) ------------------------------------------------------ */

static inline uint32_t category(int32_t diff)
{
    uint32_t a = (uint32_t)(diff < 0 ? -diff : diff), s = 0;
    while (a) {
        s++;
        a >>= 1;
    }
    return s;
}

/* Annex K.2 (Figures K.1-K.3): code lengths from frequencies, limited to 16. */
static void optimal_table(const uint32_t freq_in[17], uint8_t counts[17], uint8_t values[17],
                          uint32_t *nvalues)
{
    long freq[18];
    int codesize[18], others[18];
    for (int i = 0; i < 18; i++) {
        freq[i] = i < 17 ? (long)freq_in[i] : 0;
        codesize[i] = 0;
        others[i] = -1;
    }
    freq[17] = 1; /* reserved symbol so no code is all ones */
    for (;;) {
        int v1 = -1, v2 = -1;
        for (int i = 0; i < 18; i++)
            if (freq[i] && (v1 < 0 || freq[i] <= freq[v1]))
                v1 = i;
        for (int i = 0; i < 18; i++)
            if (freq[i] && i != v1 && (v2 < 0 || freq[i] <= freq[v2]))
                v2 = i;
        if (v2 < 0)
            break;
        freq[v1] += freq[v2];
        freq[v2] = 0;
        codesize[v1]++;
        while (others[v1] >= 0) {
            v1 = others[v1];
            codesize[v1]++;
        }
        others[v1] = v2;
        codesize[v2]++;
        while (others[v2] >= 0) {
            v2 = others[v2];
            codesize[v2]++;
        }
    }
    int bits[40] = {0};
    for (int i = 0; i < 18; i++)
        if (codesize[i])
            bits[codesize[i]]++;
    /* K.3: adjust lengths above 16. */
    for (int i = 39; i > 16; i--) {
        while (bits[i] > 0) {
            int j = i - 2;
            while (bits[j] == 0)
                j--;
            bits[i] -= 2;
            bits[i - 1]++;
            bits[j + 1] += 2;
            bits[j]--;
        }
    }
    int i = 16;
    while (bits[i] == 0)
        i--;
    bits[i]--; /* remove the reserved code */
    uint32_t k = 0;
    for (int l = 1; l <= 32; l++)
        for (int s = 0; s < 17; s++)
            if (codesize[s] == l)
                values[k++] = (uint8_t)s;
    for (int l = 0; l <= 16; l++)
        counts[l] = (uint8_t)(l ? bits[l] : 0);
    *nvalues = k;
}

typedef struct BitWriter {
    RnBuf *out;
    uint64_t acc;
    int nbits;
    int rc;
} BitWriter;

static void put_bits(BitWriter *w, uint32_t v, int n)
{
    w->acc = (w->acc << n) | (v & ((1u << n) - 1u) & 0xFFFFFFFFu);
    w->nbits += n;
    while (w->nbits >= 8) {
        w->nbits -= 8;
        uint8_t byte = (uint8_t)(w->acc >> w->nbits);
        if (!w->rc)
            w->rc = rn_buf_append_byte(w->out, byte);
        if (byte == 0xFF && !w->rc)
            w->rc = rn_buf_append_byte(w->out, 0x00); /* B.1.1.5 */
    }
}

static int append_segment(RnBuf *out, uint8_t marker, const uint8_t *body, size_t n)
{
    int rc = rn_buf_append_byte(out, 0xFF);
    rc = rc ? rc : rn_buf_append_byte(out, marker);
    rc = rc ? rc : rn_buf_append_u16be(out, (uint16_t)(n + 2));
    return rc ? rc : rn_buf_append(out, body, n);
}

int rn_jpeg_lossless_encode(const RnImageInfo *info, const uint8_t *src, size_t len, RnBuf *out,
                            RnError *err)
{
    if (!info || !src || !out)
        return rn_error_set(err, RN_ERR_INVALID, "JPEG lossless encode: NULL argument");
    uint32_t nc = info->samples_per_pixel, ba = info->bits_allocated, bs = info->bits_stored;
    if (nc != 1 && nc != 3)
        return rn_error_set(err, RN_ERR_UNSUPPORTED,
                            "JPEG lossless encode: %u samples per pixel "
                            "(1 or 3)",
                            nc);
    if ((ba != 8 && ba != 16) || bs < 2 || bs > ba)
        return rn_error_set(err, RN_ERR_UNSUPPORTED,
                            "JPEG lossless encode: bits allocated %u, "
                            "stored %u (2..16 bits in 8 or 16-bit samples)",
                            ba, bs);
    if (info->rows == 0 || info->columns == 0 || info->rows > 65535 || info->columns > 65535)
        return rn_error_set(err, RN_ERR_INVALID, "JPEG lossless encode: %ux%u image", info->columns,
                            info->rows);
    if (nc == 3 && info->planar_configuration != 0)
        return rn_error_set(err, RN_ERR_INVALID,
                            "JPEG lossless encode: planar configuration 1 "
                            "input (expected interleaved samples)");
    uint32_t bytes = ba / 8, w = info->columns, h = info->rows;
    size_t npix = (size_t)w * h, need = npix * nc * bytes;
    if (len < need)
        return rn_error_set(err, RN_ERR_INVALID,
                            "JPEG lossless encode: %zu bytes of input, the "
                            "frame needs %zu",
                            len, need);
    /* Precision: bits stored, unless some sample uses bits above them (e.g.
     * sign-extended signed data), then the whole container so nothing is lost. */
    uint32_t P = bs;
    if (bs < ba) {
        uint32_t mask = ~((1u << bs) - 1u) & ((1u << ba) - 1u), any = 0;
        for (size_t i = 0; i < npix * nc; i++)
            any |= (bytes == 1 ? src[i] : rn_rd16le(src + 2 * i)) & mask;
        if (any)
            P = ba;
    }
    /* Pass 1: differences (H.1.2.1 predictor 1, modulo 2^16 per H.2.1). */
    int32_t *diff = rn_malloc(npix * nc * sizeof *diff);
    if (!diff)
        return rn_error_set(err, RN_ERR_NOMEM, "JPEG lossless encode: out of memory");
    uint32_t freq[17] = {0};
    for (uint32_t c = 0; c < nc; c++) {
        for (uint32_t y = 0; y < h; y++) {
            for (uint32_t x = 0; x < w; x++) {
                size_t i = ((size_t)y * w + x) * nc + c;
                int32_t v = bytes == 1 ? src[i] : rn_rd16le(src + 2 * i), px;
                if (x == 0 && y == 0)
                    px = 1 << (P - 1);
                else if (x == 0)
                    px = bytes == 1 ? src[i - (size_t)w * nc]
                                    : rn_rd16le(src + 2 * (i - (size_t)w * nc));
                else
                    px = bytes == 1 ? src[i - nc] : rn_rd16le(src + 2 * (i - nc));
                int32_t dd = (int32_t)((uint32_t)(v - px) & 0xFFFF);
                if (dd >= 32768)
                    dd -= 65536; /* -32768 is coded as category 16 (+32768) */
                if (dd == -32768)
                    dd = 32768;
                diff[i] = dd;
                freq[dd == 32768 ? 16 : category(dd)]++;
            }
        }
    }
    uint8_t counts[17], values[17];
    uint32_t nvalues;
    optimal_table(freq, counts, values, &nvalues);
    uint16_t code[17] = {0};
    uint8_t size[17] = {0};
    {
        uint32_t k = 0, cd = 0;
        for (int l = 1; l <= 16; l++) {
            for (uint32_t i = 0; i < counts[l]; i++, k++) {
                code[values[k]] = (uint16_t)cd++;
                size[values[k]] = (uint8_t)l;
            }
            cd <<= 1;
        }
    }
    uint8_t hdr[64];
    int rc = rn_buf_append_byte(out, 0xFF);
    rc = rc ? rc : rn_buf_append_byte(out, 0xD8);
    /* SOF3 (B.2.2) */
    size_t n = 0;
    hdr[n++] = (uint8_t)P;
    rn_wr16be(hdr + n, (uint16_t)h);
    rn_wr16be(hdr + n + 2, (uint16_t)w);
    n += 4;
    hdr[n++] = (uint8_t)nc;
    for (uint32_t c = 0; c < nc; c++) {
        hdr[n++] = (uint8_t)(c + 1);
        hdr[n++] = 0x11;
        hdr[n++] = 0;
    }
    rc = rc ? rc : append_segment(out, 0xC3, hdr, n);
    /* DHT (B.2.4.2): one table, class 0, destination 0 */
    n = 0;
    hdr[n++] = 0x00;
    for (int l = 1; l <= 16; l++)
        hdr[n++] = counts[l];
    memcpy(hdr + n, values, nvalues);
    n += nvalues;
    rc = rc ? rc : append_segment(out, 0xC4, hdr, n);
    /* SOS (B.2.3): all components, Ss = predictor 1, Se = 0, Ah = Al = 0 */
    n = 0;
    hdr[n++] = (uint8_t)nc;
    for (uint32_t c = 0; c < nc; c++) {
        hdr[n++] = (uint8_t)(c + 1);
        hdr[n++] = 0x00;
    }
    hdr[n++] = 1;
    hdr[n++] = 0;
    hdr[n++] = 0;
    rc = rc ? rc : append_segment(out, 0xDA, hdr, n);
    if (rc == 0)
        rc = rn_buf_reserve(out, npix * nc * bytes / 2 + 64);
    BitWriter bw = {.out = out, .rc = rc};
    for (size_t i = 0; i < npix * nc && !bw.rc; i++) {
        int32_t dd = diff[i];
        uint32_t s = dd == 32768 ? 16 : category(dd);
        put_bits(&bw, code[s], size[s]);
        if (s && s < 16)
            put_bits(&bw, (uint32_t)(dd < 0 ? dd - 1 : dd), (int)s); /* F.1.2.1.1 */
    }
    if (bw.nbits)
        put_bits(&bw, 0x7F, 8 - bw.nbits); /* pad with 1-bits (F.1.2.3) */
    rc = bw.rc;
    rc = rc ? rc : rn_buf_append_byte(out, 0xFF);
    rc = rc ? rc : rn_buf_append_byte(out, 0xD9);
    free(diff);
    if (rc)
        return rn_error_set(err, RN_ERR_NOMEM, "JPEG lossless encode: out of memory");
    return 0;
}
