/*
 * RLE Lossless (transfer syntax 1.2.840.10008.1.2.5), PS3.5 Annex G.
 *
 * A frame is a 64-byte header (G.5: the number of segments, then 15 offsets,
 * little-endian 32-bit) followed by the segments. Each segment holds one byte
 * plane of one sample (G.2): the composite pixel code's bytes in big-endian
 * order, so a 16-bit RGB frame has segments R-MSB, R-LSB, G-MSB, G-LSB, B-MSB,
 * B-LSB, each of rows*columns bytes once decoded. Segments are PackBits
 * (G.3.1): a header byte n in 0..127 copies n+1 literal bytes, -1..-127
 * repeats the next byte 1-n times, -128 is a no-op. Encoders pad segments to
 * an even length (G.3.1), so a decoder stops when its plane is full.
 *
 * Every offset and run is checked against the fragment's real length;
 * segments that decode short are an error, trailing bytes after a full plane
 * (padding, or an over-long last run) are ignored as DCMTK and pydicom do.
 * The encoder (G.3) encodes each row separately, never across rows.
 */
#include "codec/pixel.h"
#include "codec/codec_internal.h"

#include <stdlib.h>
#include <string.h>

#define RLE_HEADER 64
#define RLE_MAX_SEGMENTS 15

/* Decodes the PackBits segment src[pos, end) into n bytes written every
 * `stride` bytes of dst. */
static int decode_segment(const uint8_t *src, size_t pos, size_t end, uint8_t *dst, size_t stride,
                          size_t n, unsigned index, RnError *err)
{
    size_t produced = 0;
    while (produced < n && pos < end) {
        int h = (int8_t)src[pos++];
        if (h >= 0) {
            size_t count = (size_t)h + 1;
            if (count > end - pos)
                return rn_error_set(err, RN_ERR_TRUNCATED,
                                    "RLE segment %u: literal run of %zu bytes at offset %zu "
                                    "passes the segment end",
                                    index, count, pos - 1);
            if (count > n - produced)
                count = n - produced;
            for (size_t k = 0; k < count; k++)
                dst[(produced + k) * stride] = src[pos + k];
            pos += count;
            produced += count;
        } else if (h != -128) {
            size_t count = (size_t)(1 - h);
            if (pos >= end)
                return rn_error_set(err, RN_ERR_TRUNCATED,
                                    "RLE segment %u: replicate run at offset %zu has no byte",
                                    index, pos - 1);
            uint8_t b = src[pos++];
            if (count > n - produced)
                count = n - produced;
            for (size_t k = 0; k < count; k++)
                dst[(produced + k) * stride] = b;
            produced += count;
        }
    }
    if (produced < n)
        return rn_error_set(err, RN_ERR_TRUNCATED,
                            "RLE segment %u decodes to %zu bytes, %zu expected", index, produced,
                            n);
    return 0;
}

int rn_rle_decode(const RnImageInfo *in, const uint8_t *src, size_t len, uint8_t *dst,
                  size_t dst_len, RnImageInfo *out, RnError *err)
{
    int rc = rn_frame_check(in, err);
    if (rc < 0)
        return rc;
    if (in->bits_allocated < 8)
        return rn_error_set(err, RN_ERR_UNSUPPORTED, "RLE with Bits Allocated %u",
                            in->bits_allocated);
    RnImageInfo o = *in;
    o.planar_configuration = 0;
    size_t size = rn_frame_bytes(&o);
    if (out)
        *out = o;
    if (!dst)
        return 0;
    if (dst_len < size)
        return rn_error_set(err, RN_ERR_INVALID, "output buffer of %zu bytes, frame needs %zu",
                            dst_len, size);
    if (!src || len < RLE_HEADER)
        return rn_error_set(err, RN_ERR_TRUNCATED, "RLE frame of %zu bytes has no 64-byte header",
                            src ? len : 0);

    unsigned bytes = in->bits_allocated / 8;
    unsigned spp = in->samples_per_pixel;
    uint32_t nseg = rn_rd32le(src);
    if (nseg != spp * bytes)
        return rn_error_set(err, RN_ERR_PARSE,
                            "RLE header has %u segments, %u expected for %u samples of %u bits",
                            nseg, spp * bytes, spp, in->bits_allocated);
    uint32_t off[RLE_MAX_SEGMENTS];
    for (uint32_t i = 0; i < nseg; i++)
        off[i] = rn_rd32le(src + 4 + 4 * i);
    size_t px = rn_frame_pixels(in);
    size_t stride = (size_t)spp * bytes;
    for (uint32_t i = 0; i < nseg; i++) {
        size_t start = off[i];
        size_t end = i + 1 < nseg ? off[i + 1] : len;
        if (start < RLE_HEADER || start > end || end > len)
            return rn_error_set(err, RN_ERR_PARSE,
                                "RLE segment %u has offsets %zu..%zu in a frame of %zu bytes", i,
                                start, end, len);
        unsigned sample = i / bytes;
        unsigned byte_be = i % bytes; /* 0 = most significant */
        size_t first = (size_t)sample * bytes + (bytes - 1 - byte_be);
        rc = decode_segment(src, start, end, dst + first, stride, px, i, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* PackBits of one row (G.3.1). Runs of 3 or more identical bytes become
 * replicate runs; a run of 2 only when it does not split a literal run. */
static int encode_row(const uint8_t *row, size_t n, RnBuf *out)
{
    size_t i = 0;
    while (i < n) {
        size_t run = 1;
        while (i + run < n && run < 128 && row[i + run] == row[i])
            run++;
        if (run >= 2) {
            if (rn_buf_append_byte(out, (uint8_t)(257 - run)) < 0 ||
                rn_buf_append_byte(out, row[i]) < 0)
                return RN_ERR_NOMEM;
            i += run;
            continue;
        }
        size_t start = i;
        while (i < n && i - start < 128) {
            if (i + 2 < n && row[i] == row[i + 1] && row[i] == row[i + 2])
                break;
            i++;
        }
        if (rn_buf_append_byte(out, (uint8_t)(i - start - 1)) < 0 ||
            rn_buf_append(out, row + start, i - start) < 0)
            return RN_ERR_NOMEM;
    }
    return 0;
}

int rn_rle_encode(const RnImageInfo *info, const uint8_t *src, size_t len, RnBuf *out, RnError *err)
{
    int rc = rn_frame_check(info, err);
    if (rc < 0)
        return rc;
    if (info->bits_allocated < 8)
        return rn_error_set(err, RN_ERR_UNSUPPORTED, "RLE with Bits Allocated %u",
                            info->bits_allocated);
    unsigned bytes = info->bits_allocated / 8;
    unsigned spp = info->samples_per_pixel;
    unsigned nseg = spp * bytes;
    if (nseg > RLE_MAX_SEGMENTS)
        return rn_error_set(err, RN_ERR_UNSUPPORTED, "RLE needs %u segments, at most 15", nseg);
    size_t size = rn_frame_bytes(info);
    if (!src || len < size)
        return rn_error_set(err, RN_ERR_TRUNCATED, "frame has %zu bytes, %zu expected",
                            src ? len : 0, size);
    size_t cols = info->columns;
    uint8_t *row = malloc(cols);
    if (!row)
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    size_t base = out->len;
    uint8_t header[RLE_HEADER] = {0};
    rn_wr32le(header, nseg);
    if (rn_buf_append(out, header, sizeof header) < 0)
        goto nomem;
    size_t stride = (size_t)spp * bytes;
    for (unsigned i = 0; i < nseg; i++) {
        size_t offset = out->len - base;
        if (offset > UINT32_MAX) {
            free(row);
            out->len = base;
            return rn_error_set(err, RN_ERR_LIMIT, "RLE frame over 4 GiB");
        }
        rn_wr32le(out->data + base + 4 + 4 * i, (uint32_t)offset);
        size_t first = (size_t)(i / bytes) * bytes + (bytes - 1 - i % bytes);
        for (size_t r = 0; r < info->rows; r++) {
            const uint8_t *p = src + r * cols * stride + first;
            for (size_t c = 0; c < cols; c++)
                row[c] = p[c * stride];
            if (encode_row(row, cols, out) < 0)
                goto nomem;
        }
        /* G.3.1: each segment has an even length. */
        if (((out->len - base) & 1) && rn_buf_append_byte(out, 0) < 0)
            goto nomem;
    }
    free(row);
    return 0;
nomem:
    free(row);
    if (out->len > base)
        out->len = base;
    return rn_error_set(err, RN_ERR_NOMEM, "out of memory encoding RLE");
}
