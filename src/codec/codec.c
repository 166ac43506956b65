/*
 * The codec registry: which frame decoder and encoder serve each transfer
 * syntax of PS3.5 Annex A (A.4 for the encapsulated ones, PS3.5 8.2 for the
 * compression schemes), and decoding whole files frame by frame through the
 * DICOM layer (rn_image_info_from_dataset, rn_dicom_file_frame).
 *
 * Native data: Little Endian transfer syntaxes need no conversion; in the
 * retired Explicit VR Big Endian (PS3.5 A.3) OW Pixel Data is swapped in
 * units of Bits Allocated and OB data is left alone. 1-bit multi-frame data
 * is one continuous bit stream (PS3.5 8.1.1: frames are not padded to a byte),
 * so it is taken from the whole Pixel Data value instead of frame slices.
 *
 * Memory: the output of a multi-frame file grows frame by frame, so a header
 * that claims many frames costs nothing until each frame really decodes; one
 * frame is bounded by RN_FRAME_MAX_BYTES.
 */
#include "codec/pixel.h"
#include "codec/codec_internal.h"

#include <stdlib.h>
#include <string.h>

typedef enum CodecKind { KIND_NATIVE_LE, KIND_NATIVE_BE, KIND_ENCAPSULATED } CodecKind;

typedef struct CodecEntry {
    const char *uid;
    CodecKind kind;
    RnFrameDecoder decode;
    RnFrameEncoder encode;
} CodecEntry;

static int native_le_decode(const RnImageInfo *in, const uint8_t *src, size_t len, uint8_t *dst,
                            size_t dst_len, RnImageInfo *out, RnError *err)
{
    return rn_native_decode(in, false, src, len, dst, dst_len, out, err);
}

static int native_be_decode(const RnImageInfo *in, const uint8_t *src, size_t len, uint8_t *dst,
                            size_t dst_len, RnImageInfo *out, RnError *err)
{
    /* OB for Bits Allocated <= 8: bytes, nothing to swap (PS3.5 A.3). */
    return rn_native_decode(in, in->bits_allocated > 8, src, len, dst, dst_len, out, err);
}

static const CodecEntry codecs[] = {
    {RN_UID_IMPLICIT_VR_LE, KIND_NATIVE_LE, native_le_decode, NULL},
    {RN_UID_EXPLICIT_VR_LE, KIND_NATIVE_LE, native_le_decode, NULL},
    {RN_UID_DEFLATED_EXPLICIT_VR_LE, KIND_NATIVE_LE, native_le_decode, NULL},
    {RN_UID_EXPLICIT_VR_BE, KIND_NATIVE_BE, native_be_decode, NULL},
    /* Encapsulated Uncompressed Explicit VR Little Endian: native frames in fragments */
    {"1.2.840.10008.1.2.1.98", KIND_ENCAPSULATED, native_le_decode, NULL},
    {RN_UID_JPEG_BASELINE, KIND_ENCAPSULATED, rn_jpeg_decode, NULL},
    {RN_UID_JPEG_EXTENDED, KIND_ENCAPSULATED, rn_jpeg_decode, NULL},
    {RN_UID_JPEG_LOSSLESS, KIND_ENCAPSULATED, rn_jpeg_decode, NULL},
    {RN_UID_JPEG_LOSSLESS_SV1, KIND_ENCAPSULATED, rn_jpeg_decode, rn_jpeg_lossless_encode},
    {RN_UID_JPEG_LS_LOSSLESS, KIND_ENCAPSULATED, rn_jpegls_decode, NULL},
    {RN_UID_JPEG_LS_NEAR_LOSSLESS, KIND_ENCAPSULATED, rn_jpegls_decode, NULL},
    {RN_UID_JPEG2000_LOSSLESS, KIND_ENCAPSULATED, rn_j2k_decode, NULL},
    {RN_UID_JPEG2000, KIND_ENCAPSULATED, rn_j2k_decode, NULL},
    /* High-Throughput JPEG 2000 (lossless, lossless RPCL, lossy): OpenJPEG >= 2.5 */
    {"1.2.840.10008.1.2.4.201", KIND_ENCAPSULATED, rn_j2k_decode, NULL},
    {"1.2.840.10008.1.2.4.202", KIND_ENCAPSULATED, rn_j2k_decode, NULL},
    {"1.2.840.10008.1.2.4.203", KIND_ENCAPSULATED, rn_j2k_decode, NULL},
    {RN_UID_RLE_LOSSLESS, KIND_ENCAPSULATED, rn_rle_decode, rn_rle_encode},
};

static const CodecEntry *find_codec(const char *ts_uid)
{
    if (!ts_uid)
        return NULL;
    for (size_t i = 0; i < sizeof codecs / sizeof codecs[0]; i++)
        if (strcmp(codecs[i].uid, ts_uid) == 0)
            return &codecs[i];
    return NULL;
}

bool rn_codec_can_decode(const char *ts_uid)
{
    const CodecEntry *c = find_codec(ts_uid);
    return c && c->decode;
}

bool rn_codec_can_encode(const char *ts_uid)
{
    const CodecEntry *c = find_codec(ts_uid);
    return c && c->encode;
}

int rn_codec_decode_frame(const char *ts_uid, const RnImageInfo *in, const uint8_t *src, size_t len,
                          uint8_t *dst, size_t dst_len, RnImageInfo *out, RnError *err)
{
    const CodecEntry *c = find_codec(ts_uid);
    if (!c || !c->decode)
        return rn_error_set(err, RN_ERR_UNSUPPORTED, "no decoder for transfer syntax %s",
                            ts_uid ? ts_uid : "(none)");
    return c->decode(in, src, len, dst, dst_len, out, err);
}

int rn_codec_encode_frame(const char *ts_uid, const RnImageInfo *info, const uint8_t *src,
                          size_t len, RnBuf *out, RnError *err)
{
    const CodecEntry *c = find_codec(ts_uid);
    if (!c || !c->encode)
        return rn_error_set(err, RN_ERR_UNSUPPORTED, "no encoder for transfer syntax %s",
                            ts_uid ? ts_uid : "(none)");
    if (!out)
        return rn_error_set(err, RN_ERR_INVALID, "no output buffer");
    return c->encode(info, src, len, out, err);
}

/* 1-bit native data: frame `first`..`first+count-1` as one packed bit stream. */
static uint8_t *decode_bits(RnDicomFile *f, const RnImageInfo *in, uint32_t first, uint32_t count,
                            size_t *len, RnError *err)
{
    RnDataset *ds = rn_dicom_file_dataset(f);
    /* The dataset is the file's own and mutable; loading a deferred value is
     * the one change made here. */
    RnElement *el = (RnElement *)rn_dataset_get(ds, RN_TAG_PixelData);
    if (!el) {
        rn_error_set(err, RN_ERR_NOT_FOUND, "no Pixel Data");
        return NULL;
    }
    if (rn_element_is_deferred(el) && rn_dicom_file_load(f, el, err) < 0)
        return NULL;
    size_t vlen = 0;
    const uint8_t *v = rn_element_value(el, &vlen);
    uint64_t px = rn_frame_pixels(in);
    uint64_t bit0 = (uint64_t)first * px, nbits = (uint64_t)count * px;
    if (!v || bit0 + nbits > (uint64_t)vlen * 8) {
        rn_error_set(err, RN_ERR_TRUNCATED,
                     "1-bit Pixel Data of %zu bytes holds fewer than %u frames", v ? vlen : 0,
                     first + count);
        return NULL;
    }
    if (nbits / 8 > RN_FRAME_MAX_BYTES * 4) {
        rn_error_set(err, RN_ERR_LIMIT, "1-bit Pixel Data too large");
        return NULL;
    }
    size_t n = (size_t)((nbits + 7) / 8);
    uint8_t *buf = calloc(n ? n : 1, 1);
    if (!buf) {
        rn_error_set(err, RN_ERR_NOMEM, "out of memory (%zu bytes)", n);
        return NULL;
    }
    if (bit0 % 8 == 0) {
        memcpy(buf, v + bit0 / 8, n);
        if (nbits % 8) /* bits of the next frame are not ours */
            buf[n - 1] &= (uint8_t)((1u << (nbits % 8)) - 1);
    } else {
        for (uint64_t b = 0; b < nbits; b++) {
            uint64_t s = bit0 + b;
            if ((v[s / 8] >> (s % 8)) & 1)
                buf[b / 8] |= (uint8_t)(1u << (b % 8));
        }
    }
    *len = n;
    return buf;
}

static uint8_t *decode_frames(RnDicomFile *f, bool all, uint32_t frame, RnImageInfo *out,
                              size_t *len, RnError *err)
{
    if (!f) {
        rn_error_set(err, RN_ERR_INVALID, "no file");
        return NULL;
    }
    RnDataset *ds = rn_dicom_file_dataset(f);
    const char *ts = rn_dicom_file_transfer_syntax(f);
    RnImageInfo in;
    if (rn_image_info_from_dataset(ds, &in, err) < 0)
        return NULL;
    const CodecEntry *c = find_codec(ts);
    if (!c) {
        rn_error_set(err, RN_ERR_UNSUPPORTED, "no decoder for transfer syntax %s",
                     ts ? ts : "(none)");
        return NULL;
    }
    uint32_t nframes = in.number_of_frames ? in.number_of_frames : 1;
    if (!all && frame >= nframes) {
        rn_error_set(err, RN_ERR_NOT_FOUND, "frame %u of %u", frame + 1, nframes);
        return NULL;
    }
    uint32_t first = all ? 0 : frame, count = all ? nframes : 1;
    RnImageInfo o = in;
    if (c->kind != KIND_ENCAPSULATED && in.bits_allocated == 1) {
        if (c->decode(&in, NULL, 0, NULL, 0, &o, err) < 0)
            return NULL;
        o.number_of_frames = count;
        size_t n = 0;
        uint8_t *bits = decode_bits(f, &in, first, count, &n, err);
        if (bits && out)
            *out = o;
        if (bits && len)
            *len = n;
        return bits;
    }
    /* OW Pixel Data of 8-bit samples in big endian: 16-bit words, swapped. */
    bool swap_words = false;
    if (c->kind == KIND_NATIVE_BE && in.bits_allocated == 8) {
        const RnElement *el = rn_dataset_get(ds, RN_TAG_PixelData);
        swap_words = el && rn_element_vr(el) == RN_VR_OW;
    }
    uint8_t *buf = NULL;
    size_t used = 0, fsize = 0;
    for (uint32_t k = 0; k < count; k++) {
        const uint8_t *data = NULL;
        size_t dlen = 0;
        bool owned = false;
        if (rn_dicom_file_frame(f, first + k, &data, &dlen, &owned, err) < 0) {
            rn_error_prefix(err, "frame %u: ", first + k + 1);
            goto fail;
        }
        if (swap_words) {
            uint8_t *copy = malloc(dlen ? dlen : 1);
            if (!copy) {
                if (owned)
                    free((void *)data);
                rn_error_set(err, RN_ERR_NOMEM, "out of memory");
                goto fail;
            }
            for (size_t i = 0; i + 1 < dlen; i += 2) {
                copy[i] = data[i + 1];
                copy[i + 1] = data[i];
            }
            if (dlen & 1)
                copy[dlen - 1] = data[dlen - 1];
            if (owned)
                free((void *)data);
            data = copy;
            owned = true;
        }
        if (k == 0) {
            /* describe from the first frame's own bytes: a JPEG stream may say
             * more (colour transform) than the dataset */
            int drc = c->decode(&in, data, dlen, NULL, 0, &o, err);
            if (drc == 0 && (fsize = rn_frame_bytes(&o)) == 0)
                drc = rn_error_set(err, RN_ERR_INVALID, "decoded frame size unknown");
            if (drc < 0) {
                if (owned)
                    free((void *)data);
                goto fail;
            }
            o.number_of_frames = count;
        }
        uint8_t *grown = realloc(buf, used + fsize);
        if (!grown) {
            if (owned)
                free((void *)data);
            rn_error_set(err, RN_ERR_NOMEM, "out of memory (%zu bytes)", used + fsize);
            goto fail;
        }
        buf = grown;
        RnImageInfo fo;
        int rc = c->decode(&in, data, dlen, buf + used, fsize, &fo, err);
        if (owned)
            free((void *)data);
        if (rc < 0) {
            rn_error_prefix(err, "frame %u: ", first + k + 1);
            goto fail;
        }
        if (k == 0) /* a decoder may learn the colour model only from the stream */
            memcpy(o.photometric, fo.photometric, sizeof o.photometric);
        used += fsize;
    }
    if (out)
        *out = o;
    if (len)
        *len = used;
    return buf;
fail:
    free(buf);
    return NULL;
}

uint8_t *rn_pixel_decode_all(RnDicomFile *f, RnImageInfo *out, size_t *len, RnError *err)
{
    return decode_frames(f, true, 0, out, len, err);
}

uint8_t *rn_pixel_decode_frame(RnDicomFile *f, uint32_t frame, RnImageInfo *out, size_t *len,
                               RnError *err)
{
    return decode_frames(f, false, frame, out, len, err);
}
