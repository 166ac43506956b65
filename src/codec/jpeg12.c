/*
 * Sequential DCT JPEG, Huffman coded (ISO/IEC 10918-1 processes 1, 2 and 4:
 * baseline and extended sequential, Annex F.2), with 8 or 12-bit samples.
 * radnode decodes 12-bit extended JPEG (DICOM 1.2.840.10008.1.2.4.51) itself
 * because libjpeg-turbo 2.1 on Debian 12 is built for 8-bit samples only.
 *
 * The arithmetic follows IJG libjpeg 6b, which DCMTK's 12-bit codec uses, so
 * radnode and dcmdjpeg agree: the accurate integer IDCT (jidctint.c "islow",
 * A.3.3), its range-limit table, "fancy" triangular upsampling for 2:1
 * horizontal (h2v1) and 2:1 both ways (h2v2) subsampling, pixel replication
 * for other integral ratios, and the fixed-point YCbCr->RGB conversion of
 * jdcolor.c. Any sampling factors (1..4), restart intervals, interleaved and
 * non-interleaved scans are handled; progressive and arithmetic coding are not.
 */
#include "codec/jpeg_internal.h"

#include <stdlib.h>
#include <string.h>

static const uint8_t zz_natural[64] = {
    0,  1,  8,  16, 9,  2,  3,  10, 17, 24, 32, 25, 18, 11, 4,  5,  12, 19, 26, 33, 40, 48,
    41, 34, 27, 20, 13, 6,  7,  14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23,
    30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63};

typedef struct DctCtx {
    uint16_t *plane[4]; /* per component, padded to whole MCUs */
    uint32_t pw[4], ph[4];
    bool decoded[4];
    int maxval, center;
} DctCtx;

/* ---- IDCT (libjpeg jidctint.c, islow) ------------------------------------ */

#define CONST_BITS 13
#define FIX_0_298631336 2446
#define FIX_0_390180644 3196
#define FIX_0_541196100 4433
#define FIX_0_765366865 6270
#define FIX_0_899976223 7373
#define FIX_1_175875602 9633
#define FIX_1_501321110 12299
#define FIX_1_847759065 15137
#define FIX_1_961570560 16069
#define FIX_2_053119869 16819
#define FIX_2_562915447 20995
#define FIX_3_072711026 25172

/* libjpeg DESCALE: round and arithmetic right shift (gcc/clang shift signed
 * values arithmetically; libjpeg relies on the same). */
static inline int64_t descale(int64_t x, int n)
{
    return (x + ((int64_t)1 << (n - 1))) >> n;
}

/* libjpeg's IDCT range limit: index masked with 4*(MAX+1)-1, then clamped
 * around CENTER; wraps like libjpeg's table for absurd (corrupt) values. */
static inline uint16_t range_limit(int64_t x, int maxval, int center)
{
    int64_t m = 4 * ((int64_t)maxval + 1);
    int64_t y = x & (m - 1);
    if (y >= m / 2)
        y -= m;
    y += center;
    return (uint16_t)(y < 0 ? 0 : (y > maxval ? maxval : y));
}

static void idct_islow(const int32_t *coef, const uint16_t *q, uint16_t *out, size_t stride,
                       int pass1_bits, int maxval, int center)
{
    int32_t ws[64];
    for (int c = 0; c < 8; c++) {
        const int32_t *in = coef + c;
        const uint16_t *qq = q + c;
        int32_t *w = ws + c;
        if (!in[8] && !in[16] && !in[24] && !in[32] && !in[40] && !in[48] && !in[56]) {
            int32_t dc = (int32_t)((int64_t)in[0] * qq[0] * (1 << pass1_bits));
            for (int k = 0; k < 8; k++)
                w[8 * k] = dc;
            continue;
        }
        int64_t z1, z2, z3, z4, z5, t0, t1, t2, t3, t10, t11, t12, t13;
        z2 = (int64_t)in[16] * qq[16];
        z3 = (int64_t)in[48] * qq[48];
        z1 = (z2 + z3) * FIX_0_541196100;
        t2 = z1 + z3 * -FIX_1_847759065;
        t3 = z1 + z2 * FIX_0_765366865;
        z2 = (int64_t)in[0] * qq[0];
        z3 = (int64_t)in[32] * qq[32];
        t0 = (z2 + z3) * (1 << CONST_BITS);
        t1 = (z2 - z3) * (1 << CONST_BITS);
        t10 = t0 + t3;
        t13 = t0 - t3;
        t11 = t1 + t2;
        t12 = t1 - t2;
        t0 = (int64_t)in[56] * qq[56];
        t1 = (int64_t)in[40] * qq[40];
        t2 = (int64_t)in[24] * qq[24];
        t3 = (int64_t)in[8] * qq[8];
        z1 = t0 + t3;
        z2 = t1 + t2;
        z3 = t0 + t2;
        z4 = t1 + t3;
        z5 = (z3 + z4) * FIX_1_175875602;
        t0 *= FIX_0_298631336;
        t1 *= FIX_2_053119869;
        t2 *= FIX_3_072711026;
        t3 *= FIX_1_501321110;
        z1 *= -FIX_0_899976223;
        z2 *= -FIX_2_562915447;
        z3 *= -FIX_1_961570560;
        z4 *= -FIX_0_390180644;
        z3 += z5;
        z4 += z5;
        t0 += z1 + z3;
        t1 += z2 + z4;
        t2 += z2 + z3;
        t3 += z1 + z4;
        int n = CONST_BITS - pass1_bits;
        w[0] = (int32_t)descale(t10 + t3, n);
        w[56] = (int32_t)descale(t10 - t3, n);
        w[8] = (int32_t)descale(t11 + t2, n);
        w[48] = (int32_t)descale(t11 - t2, n);
        w[16] = (int32_t)descale(t12 + t1, n);
        w[40] = (int32_t)descale(t12 - t1, n);
        w[24] = (int32_t)descale(t13 + t0, n);
        w[32] = (int32_t)descale(t13 - t0, n);
    }
    for (int r = 0; r < 8; r++) {
        const int32_t *w = ws + 8 * r;
        uint16_t *o = out + (size_t)r * stride;
        int n = CONST_BITS + pass1_bits + 3;
        if (!w[1] && !w[2] && !w[3] && !w[4] && !w[5] && !w[6] && !w[7]) {
            uint16_t v = range_limit(descale(w[0], pass1_bits + 3), maxval, center);
            for (int k = 0; k < 8; k++)
                o[k] = v;
            continue;
        }
        int64_t z1, z2, z3, z4, z5, t0, t1, t2, t3, t10, t11, t12, t13;
        z2 = w[2];
        z3 = w[6];
        z1 = (z2 + z3) * FIX_0_541196100;
        t2 = z1 + z3 * -FIX_1_847759065;
        t3 = z1 + z2 * FIX_0_765366865;
        t0 = ((int64_t)w[0] + w[4]) * (1 << CONST_BITS);
        t1 = ((int64_t)w[0] - w[4]) * (1 << CONST_BITS);
        t10 = t0 + t3;
        t13 = t0 - t3;
        t11 = t1 + t2;
        t12 = t1 - t2;
        t0 = w[7];
        t1 = w[5];
        t2 = w[3];
        t3 = w[1];
        z1 = t0 + t3;
        z2 = t1 + t2;
        z3 = t0 + t2;
        z4 = t1 + t3;
        z5 = (z3 + z4) * FIX_1_175875602;
        t0 *= FIX_0_298631336;
        t1 *= FIX_2_053119869;
        t2 *= FIX_3_072711026;
        t3 *= FIX_1_501321110;
        z1 *= -FIX_0_899976223;
        z2 *= -FIX_2_562915447;
        z3 *= -FIX_1_961570560;
        z4 *= -FIX_0_390180644;
        z3 += z5;
        z4 += z5;
        t0 += z1 + z3;
        t1 += z2 + z4;
        t2 += z2 + z3;
        t3 += z1 + z4;
        o[0] = range_limit(descale(t10 + t3, n), maxval, center);
        o[7] = range_limit(descale(t10 - t3, n), maxval, center);
        o[1] = range_limit(descale(t11 + t2, n), maxval, center);
        o[6] = range_limit(descale(t11 - t2, n), maxval, center);
        o[2] = range_limit(descale(t12 + t1, n), maxval, center);
        o[5] = range_limit(descale(t12 - t1, n), maxval, center);
        o[3] = range_limit(descale(t13 + t0, n), maxval, center);
        o[4] = range_limit(descale(t13 - t0, n), maxval, center);
    }
}

/* ---- Entropy decoding (F.2.2) -------------------------------------------- */

static int decode_block(RnJpegBits *b, const RnJpegHuff *dc, const RnJpegHuff *ac, int32_t *pred,
                        int32_t coef[64], int maxcat)
{
    memset(coef, 0, 64 * sizeof coef[0]);
    rn_jpeg_bits_fill(b);
    int s = rn_jpeg_huff_decode(b, dc);
    if (s < 0 || s > maxcat)
        return -1;
    if (s) {
        uint32_t v = rn_jpeg_bits_peek(b, s);
        rn_jpeg_bits_skip(b, s);
        *pred = (int32_t)((uint32_t)*pred + (uint32_t)rn_jpeg_extend(v, s));
    }
    /* libjpeg keeps coefficients in 16 bits; so do we (corrupt data only). */
    coef[0] = (int16_t)*pred;
    for (int k = 1; k < 64; k++) {
        rn_jpeg_bits_fill(b);
        int rs = rn_jpeg_huff_decode(b, ac);
        if (rs < 0)
            return -1;
        int r = rs >> 4, sz = rs & 15;
        if (sz) {
            k += r;
            if (k > 63)
                return -1;
            uint32_t v = rn_jpeg_bits_peek(b, sz);
            rn_jpeg_bits_skip(b, sz);
            coef[zz_natural[k]] = (int16_t)rn_jpeg_extend(v, sz);
        } else if (r == 15) {
            k += 15;
        } else {
            break;
        }
    }
    return 0;
}

static int dct_scan(RnJpegDecoder *d, RnJpegBits *b, void *vctx, RnError *err)
{
    DctCtx *ctx = vctx;
    const RnJpegFrame *fr = &d->frame;
    if (d->ss != 0 || d->se != 63 || d->ah != 0 || d->al != 0)
        return rn_error_set(err, RN_ERR_PARSE,
                            "JPEG: SOS at offset %zu: Ss %u Se %u Ah %u Al %u "
                            "in a sequential DCT scan",
                            d->scan_offset, d->ss, d->se, d->ah, d->al);
    uint32_t ns = d->ns;
    uint32_t blocks = 0; /* blocks per MCU, B.2.3: at most 10 when interleaved */
    for (uint32_t i = 0; i < ns; i++) {
        const RnJpegComponent *cp = &fr->comp[d->scomp[i]];
        if (!d->dc[d->td[i]].defined || !d->ac[d->ta[i]].defined)
            return rn_error_set(err, RN_ERR_PARSE,
                                "JPEG: SOS at offset %zu uses an undefined "
                                "Huffman table",
                                d->scan_offset);
        if (!d->qt_defined[cp->tq])
            return rn_error_set(err, RN_ERR_PARSE,
                                "JPEG: SOS at offset %zu: quantization table %u "
                                "undefined",
                                d->scan_offset, cp->tq);
        blocks += (uint32_t)cp->h * cp->v;
        ctx->decoded[d->scomp[i]] = true;
    }
    if (ns > 1 && blocks > 10)
        return rn_error_set(err, RN_ERR_PARSE,
                            "JPEG: SOS at offset %zu: %u blocks per MCU (max 10)", d->scan_offset,
                            blocks);
    uint32_t mcux, mcuy;
    if (ns == 1) {
        const RnJpegComponent *cp = &fr->comp[d->scomp[0]];
        mcux = (cp->width + 7) / 8;
        mcuy = (cp->height + 7) / 8;
    } else {
        mcux = (fr->columns + 8 * fr->hmax - 1) / (8 * fr->hmax);
        mcuy = (fr->rows + 8 * fr->vmax - 1) / (8 * fr->vmax);
    }
    int maxcat = fr->precision == 8 ? 11 : 15;
    int pass1 = fr->precision == 8 ? 2 : 1;
    int32_t pred[4] = {0};
    int32_t coef[64];
    uint32_t ri = d->restart_interval, left = ri, rst = 0;
    uint64_t total = (uint64_t)mcux * mcuy, m = 0;
    for (uint32_t my = 0; my < mcuy; my++) {
        for (uint32_t mx = 0; mx < mcux; mx++, m++) {
            for (uint32_t i = 0; i < ns; i++) {
                uint32_t ci = d->scomp[i];
                const RnJpegComponent *cp = &fr->comp[ci];
                uint32_t bh = ns == 1 ? 1 : cp->h, bv = ns == 1 ? 1 : cp->v;
                for (uint32_t by = 0; by < bv; by++) {
                    for (uint32_t bx = 0; bx < bh; bx++) {
                        if (decode_block(b, &d->dc[d->td[i]], &d->ac[d->ta[i]], &pred[i], coef,
                                         maxcat))
                            return rn_error_set(err, RN_ERR_PARSE,
                                                "JPEG: bad Huffman code in "
                                                "scan at offset %zu (MCU %llu, near byte %zu)",
                                                d->scan_offset, (unsigned long long)m, b->pos);
                        size_t x0 = ((size_t)mx * bh + bx) * 8, y0 = ((size_t)my * bv + by) * 8;
                        uint16_t *o = ctx->plane[ci] + y0 * ctx->pw[ci] + x0;
                        idct_islow(coef, d->qt[cp->tq], o, ctx->pw[ci], pass1, ctx->maxval,
                                   ctx->center);
                    }
                }
            }
            if (ri && --left == 0 && m + 1 < total) {
                int rc = rn_jpeg_restart(b, rst++, err);
                if (rc)
                    return rc;
                left = ri;
                memset(pred, 0, sizeof pred);
            }
        }
    }
    if (rn_jpeg_bits_overrun(b))
        return rn_error_set(err, RN_ERR_TRUNCATED,
                            "JPEG: scan at offset %zu: entropy-coded data "
                            "truncated",
                            d->scan_offset);
    if (!b->marker)
        while (b->pos < b->len &&
               !(b->data[b->pos] == 0xFF && b->pos + 1 < b->len && b->data[b->pos + 1] != 0x00))
            b->pos++;
    return 0;
}

/* ---- Upsampling (libjpeg 6b jdsample.c) ----------------------------------- */

/* Expands component c to full size (columns x rows) into out. */
static void upsample(const DctCtx *ctx, const RnJpegFrame *fr, uint32_t c, uint16_t *out)
{
    const RnJpegComponent *cp = &fr->comp[c];
    const uint16_t *in = ctx->plane[c];
    size_t pw = ctx->pw[c];
    uint32_t W = fr->columns, H = fr->rows, cw = cp->width, chh = cp->height;
    uint32_t hr = fr->hmax / cp->h, vr = fr->vmax / cp->v;
    if (hr == 1 && vr == 1) {
        for (uint32_t y = 0; y < H; y++)
            memcpy(out + (size_t)y * W, in + y * pw, W * sizeof *out);
        return;
    }
    bool h2 = fr->hmax == 2u * cp->h && cw > 1;
    if (h2 && vr == 1) { /* h2v1_fancy_upsample */
        for (uint32_t y = 0; y < H; y++) {
            const uint16_t *r = in + y * pw;
            uint16_t *o = out + (size_t)y * W;
            for (uint32_t x = 0; x < W; x++) {
                uint32_t i = x / 2;
                int v = r[i] * 3;
                if (x & 1)
                    o[x] = (uint16_t)(i + 1 < cw ? (v + r[i + 1] + 2) >> 2 : r[i]);
                else
                    o[x] = (uint16_t)(i > 0 ? (v + r[i - 1] + 1) >> 2 : r[i]);
            }
        }
        return;
    }
    if (h2 && fr->vmax == 2u * cp->v) { /* h2v2_fancy_upsample */
        for (uint32_t y = 0; y < H; y++) {
            uint32_t iy = y / 2;
            uint32_t ny = (y & 1) ? (iy + 1 < chh ? iy + 1 : iy) : (iy > 0 ? iy - 1 : iy);
            const uint16_t *r0 = in + iy * pw, *r1 = in + ny * pw;
            uint16_t *o = out + (size_t)y * W;
            for (uint32_t x = 0; x < W; x++) {
                uint32_t i = x / 2;
                int this_sum = r0[i] * 3 + r1[i];
                if (x & 1) {
                    o[x] =
                        (uint16_t)(i + 1 < cw ? (this_sum * 3 + r0[i + 1] * 3 + r1[i + 1] + 7) >> 4
                                              : (this_sum * 4 + 7) >> 4);
                } else {
                    o[x] = (uint16_t)(i > 0 ? (this_sum * 3 + r0[i - 1] * 3 + r1[i - 1] + 8) >> 4
                                            : (this_sum * 4 + 8) >> 4);
                }
            }
        }
        return;
    }
    /* int_upsample: replicate (h2v1/h2v2 with a 1-sample-wide component too). */
    for (uint32_t y = 0; y < H; y++) {
        const uint16_t *r = in + (size_t)(y / vr) * pw;
        uint16_t *o = out + (size_t)y * W;
        for (uint32_t x = 0; x < W; x++)
            o[x] = r[x / hr];
    }
}

int rn_jpeg_dct_decode_frame(const uint8_t *src, size_t len, const RnJpegFrame *fr, bool ycc_to_rgb,
                             uint8_t *dst, uint32_t bytes, RnError *err)
{
    if (fr->precision != 8 && fr->precision != 12)
        return rn_error_set(err, RN_ERR_PARSE, "JPEG: %s at offset %zu: precision %u (8 or 12)",
                            rn_jpeg_sof_name(fr->sof), fr->sof_offset, fr->precision);
    for (uint32_t c = 0; c < fr->ncomp; c++)
        if (fr->hmax % fr->comp[c].h || fr->vmax % fr->comp[c].v)
            return rn_error_set(err, RN_ERR_UNSUPPORTED,
                                "JPEG: %s at offset %zu: non-integral "
                                "sampling ratio",
                                rn_jpeg_sof_name(fr->sof), fr->sof_offset);
    DctCtx ctx = {.maxval = (1 << fr->precision) - 1, .center = 1 << (fr->precision - 1)};
    RnJpegDecoder *d = rn_calloc(1, sizeof *d);
    uint16_t *full[4] = {NULL, NULL, NULL, NULL};
    int rc = d ? 0 : rn_error_set(err, RN_ERR_NOMEM, "JPEG: out of memory");
    uint32_t mcux = (fr->columns + 8 * fr->hmax - 1) / (8 * fr->hmax);
    uint32_t mcuy = (fr->rows + 8 * fr->vmax - 1) / (8 * fr->vmax);
    size_t npix = (size_t)fr->columns * fr->rows;
    for (uint32_t c = 0; !rc && c < fr->ncomp; c++) {
        ctx.pw[c] = mcux * fr->comp[c].h * 8;
        ctx.ph[c] = mcuy * fr->comp[c].v * 8;
        ctx.plane[c] = rn_calloc((size_t)ctx.pw[c] * ctx.ph[c], sizeof(uint16_t));
        if (!ctx.plane[c])
            rc = rn_error_set(err, RN_ERR_NOMEM, "JPEG: out of memory");
    }
    if (!rc)
        rc = rn_jpeg_walk(d, src, len, dct_scan, &ctx, err);
    for (uint32_t c = 0; !rc && c < fr->ncomp; c++)
        if (!ctx.decoded[c])
            rc = rn_error_set(err, RN_ERR_PARSE, "JPEG: component %u has no scan", fr->comp[c].id);
    /* Full-size components are read in place; subsampled ones are upsampled. */
    const uint16_t *comp[4] = {NULL, NULL, NULL, NULL};
    size_t stride[4] = {0, 0, 0, 0};
    for (uint32_t c = 0; !rc && c < fr->ncomp; c++) {
        if (fr->comp[c].h == fr->hmax && fr->comp[c].v == fr->vmax) {
            comp[c] = ctx.plane[c];
            stride[c] = ctx.pw[c];
            continue;
        }
        full[c] = rn_malloc(npix * sizeof(uint16_t));
        if (!full[c]) {
            rn_error_set(err, RN_ERR_NOMEM, "JPEG: out of memory");
            rc = RN_ERR_NOMEM;
        } else {
            upsample(&ctx, fr, c, full[c]);
            comp[c] = full[c];
            stride[c] = fr->columns;
        }
    }
    if (!rc) {
        uint32_t nc = fr->ncomp, w = fr->columns;
        int maxval = ctx.maxval, center = ctx.center;
        for (uint32_t y = 0; y < fr->rows; y++) {
            for (uint32_t x = 0; x < w; x++) {
                size_t i = (size_t)y * w + x;
                uint16_t s[4];
                for (uint32_t c = 0; c < nc; c++)
                    s[c] = comp[c][y * stride[c] + x];
                if (ycc_to_rgb && nc == 3) {
                    /* jdcolor.c ycc_rgb_convert, SCALEBITS 16 */
                    const int64_t one_half = 1 << 15;
                    int64_t yy = s[0], cb = s[1] - center, cr = s[2] - center;
                    int64_t r = yy + ((91881 * cr + one_half) >> 16);
                    int64_t g = yy + ((-22554 * cb + one_half - 46802 * cr) >> 16);
                    int64_t bl = yy + ((116130 * cb + one_half) >> 16);
                    s[0] = (uint16_t)(r < 0 ? 0 : r > maxval ? maxval : r);
                    s[1] = (uint16_t)(g < 0 ? 0 : g > maxval ? maxval : g);
                    s[2] = (uint16_t)(bl < 0 ? 0 : bl > maxval ? maxval : bl);
                }
                if (bytes == 1)
                    for (uint32_t c = 0; c < nc; c++)
                        dst[i * nc + c] = (uint8_t)s[c];
                else
                    for (uint32_t c = 0; c < nc; c++)
                        rn_wr16le(dst + 2 * (i * nc + c), s[c]);
            }
        }
    }
    for (uint32_t c = 0; c < 4; c++) {
        free(ctx.plane[c]);
        free(full[c]);
    }
    free(d);
    return rc;
}
