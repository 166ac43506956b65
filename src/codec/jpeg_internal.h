/*
 * Shared pieces of radnode's own ISO/IEC 10918-1 (ITU-T T.81) decoders: the
 * marker walker (Annex B: SOI, DHT B.2.4.2, DQT B.2.4.1, DRI B.2.4.4, SOFn
 * B.2.2, SOS B.2.3, EOI), the entropy-coded segment bit reader (B.1.1.5 byte
 * stuffing, restart markers), Huffman tables (Annex C, decoding F.2.2.3 with a
 * lookahead table) and the frame description used by jpeg.c to dispatch.
 *
 * libjpeg-turbo 2.1 (Debian 12) is built for 8-bit samples only and has no
 * lossless (process 14) support, so 12-bit DCT (jpeg12.c) and lossless
 * (jpeg_lossless.c) are decoded here.
 */
#ifndef RN_JPEG_INTERNAL_H
#define RN_JPEG_INTERNAL_H

#include "codec/codec_internal.h"

/* Codes up to this many bits are decoded by one table lookup. */
#define RN_JPEG_LOOKAHEAD 10

typedef struct RnJpegHuff {
    bool defined;
    uint8_t counts[17]; /* counts[l]: number of codes of length l (1..16) */
    uint8_t values[256];
    uint32_t nvalues;
    int32_t maxcode[18];   /* largest code of length l, -1 if none; maxcode[17] sentinel */
    int32_t valoffset[18]; /* values index = code + valoffset[l] */
    uint16_t look[1 << RN_JPEG_LOOKAHEAD]; /* (length << 8) | symbol; 0: longer code */
    /* Lossless/DC shortcut: (difference * 256) + bits used, when code and extra
     * bits together fit the lookahead; 0 otherwise. */
    int32_t fastdiff[1 << RN_JPEG_LOOKAHEAD];
} RnJpegHuff;

typedef struct RnJpegComponent {
    uint8_t id, h, v, tq;
    uint32_t width, height; /* ceil(X * h / hmax), ceil(Y * v / vmax) (A.1.1) */
} RnJpegComponent;

typedef struct RnJpegFrame {
    uint8_t sof;        /* marker code, 0xC0..0xCF */
    size_t sof_offset;  /* offset of the 0xFF of the SOF marker */
    uint32_t precision; /* P */
    uint32_t rows, columns;
    uint32_t ncomp;
    RnJpegComponent comp[4];
    uint32_t hmax, vmax;
    int adobe_transform; /* APP14 "Adobe" transform flag, -1 when absent */
    bool jfif;
} RnJpegFrame;

/* Reads markers from SOI up to and including the first SOFn. Stops there. */
int rn_jpeg_parse_frame(const uint8_t *src, size_t len, RnJpegFrame *fr, RnError *err);
const char *rn_jpeg_sof_name(uint8_t sof);

/* Entropy-coded segment reader. acc holds nbits valid bits, MSB first. Past a
 * marker or the end of the input it feeds zero bits and counts them in fake. */
typedef struct RnJpegBits {
    const uint8_t *data;
    size_t len;
    size_t pos; /* next byte to load */
    uint64_t acc;
    int nbits;
    int fake;   /* zero bits appended after the data ended */
    int marker; /* marker code that stopped loading (pos at its 0xFF), 0 none, -1 end */
} RnJpegBits;

static inline void rn_jpeg_bits_fill(RnJpegBits *b)
{
    while (b->nbits <= 56) {
        uint32_t c = 0;
        if (!b->marker && b->pos < b->len) {
            c = b->data[b->pos];
            if (c != 0xFF) {
                b->pos++;
            } else if (b->pos + 1 < b->len && b->data[b->pos + 1] == 0x00) {
                b->pos += 2; /* B.1.1.5: stuffed zero byte */
            } else {
                b->marker = b->pos + 1 < b->len ? b->data[b->pos + 1] : -1;
                c = 0;
                b->fake += 8;
            }
        } else {
            if (!b->marker)
                b->marker = -1;
            b->fake += 8;
        }
        b->acc |= (uint64_t)c << (56 - b->nbits);
        b->nbits += 8;
    }
}

static inline uint32_t rn_jpeg_bits_peek(const RnJpegBits *b, int n)
{
    return (uint32_t)(b->acc >> (64 - n));
}

static inline void rn_jpeg_bits_skip(RnJpegBits *b, int n)
{
    b->acc <<= n;
    b->nbits -= n;
}

/* F.2.2.1 EXTEND: v holds s bits. */
static inline int32_t rn_jpeg_extend(uint32_t v, int s)
{
    return s == 0 ? 0 : (v < (1u << (s - 1)) ? (int32_t)v - (int32_t)((1u << s) - 1) : (int32_t)v);
}

/* Decodes one Huffman symbol (caller filled the reader); -1 on a bad code. */
static inline int rn_jpeg_huff_decode(RnJpegBits *b, const RnJpegHuff *h)
{
    uint32_t look = h->look[rn_jpeg_bits_peek(b, RN_JPEG_LOOKAHEAD)];
    if (look) {
        rn_jpeg_bits_skip(b, (int)(look >> 8));
        return (int)(look & 0xFF);
    }
    uint32_t code16 = rn_jpeg_bits_peek(b, 16);
    for (int l = RN_JPEG_LOOKAHEAD + 1; l <= 16; l++) {
        int32_t code = (int32_t)(code16 >> (16 - l));
        if (code <= h->maxcode[l]) {
            int32_t idx = code + h->valoffset[l];
            if (idx < 0 || idx >= (int32_t)h->nvalues)
                return -1;
            rn_jpeg_bits_skip(b, l);
            return h->values[idx];
        }
    }
    return -1;
}

/* Builds the derived tables (C.2, F.2.2.3) and checks the code is not
 * over-subscribed. max_symbol bounds the DC/lossless categories (fastdiff). */
int rn_jpeg_huff_build(RnJpegHuff *h, RnError *err);

typedef struct RnJpegDecoder {
    const uint8_t *src;
    size_t len;
    RnJpegFrame frame;
    bool have_frame;
    RnJpegHuff dc[4], ac[4]; /* class 0 (DC / lossless) and 1 (AC) */
    uint16_t qt[4][64];      /* natural order */
    bool qt_defined[4];
    uint32_t restart_interval;
    /* Current scan (B.2.3). */
    uint32_t ns;
    uint8_t scomp[4]; /* index into frame.comp */
    uint8_t td[4], ta[4];
    uint32_t ss, se, ah, al;
    size_t scan_offset;
    uint32_t scans;
} RnJpegDecoder;

typedef int (*RnJpegScanFn)(RnJpegDecoder *d, RnJpegBits *bits, void *ctx, RnError *err);

/* Walks all markers of the stream, calling scan for each SOS with the bit
 * reader positioned at the entropy-coded data. The scan function returns with
 * bits->pos at the marker that ends the scan (or the end of the input). */
int rn_jpeg_walk(RnJpegDecoder *d, const uint8_t *src, size_t len, RnJpegScanFn scan, void *ctx,
                 RnError *err);

/* Handles an expected restart marker (RSTn, n = count mod 8), resetting the
 * bit reader. Reports corrupt or truncated data before the marker. */
int rn_jpeg_restart(RnJpegBits *b, uint32_t count, RnError *err);
/* True if the scan consumed bits past the end of its data. */
static inline bool rn_jpeg_bits_overrun(const RnJpegBits *b)
{
    return b->fake > b->nbits;
}

/* Own decoders, called by rn_jpeg_decode after it validated *in against the
 * frame; dst holds rows*columns*samples containers of `bytes` bytes. */
int rn_jpeg_lossless_decode_frame(const uint8_t *src, size_t len, const RnJpegFrame *fr,
                                  uint8_t *dst, uint32_t bytes, RnError *err);
/* Sequential DCT, Huffman, 8 or 12-bit (processes 1, 2 and 4); ycc_to_rgb
 * converts 3-component YCbCr to RGB as libjpeg's ycc_rgb_convert does. */
int rn_jpeg_dct_decode_frame(const uint8_t *src, size_t len, const RnJpegFrame *fr, bool ycc_to_rgb,
                             uint8_t *dst, uint32_t bytes, RnError *err);

#endif
