/*
 * JPEG 2000 Image Compression, Lossless Only and lossy (transfer syntaxes
 * 1.2.840.10008.1.2.4.90 and .91, PS3.5 A.4.4 and 8.2.4; ISO/IEC 15444-1),
 * and High-Throughput JPEG 2000 (.201-.203, decoded by OpenJPEG 2.5), with
 * OpenJPEG reading from memory through a custom opj_stream over the frame.
 *
 * A DICOM fragment holds a bare J2K codestream (FF 4F FF 51); some writers
 * wrap it in a JP2 file, so the signature chooses the decoder. The image
 * header is checked against the dataset before anything is decoded (so a
 * hostile SIZ cannot make OpenJPEG allocate a huge image): size, components,
 * no subsampling, precision <= Bits Allocated. Samples are written with the
 * stream's precision and sign, clamped to the component's range (lossy
 * decodes can overshoot). Where the stream is unsigned but Pixel
 * Representation is 1 the values are sign-extended from the precision, the
 * correction pydicom applies. With the multiple component transform (RCT or
 * ICT, PS3.5 8.2.4) OpenJPEG returns RGB, so YBR_RCT/YBR_ICT become RGB as
 * in DCMTK and pydicom; other photometric interpretations are kept.
 */
#include "codec/pixel.h"
#include "codec/codec_internal.h"

#include <openjpeg.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct MemStream {
    const uint8_t *data;
    size_t len, pos;
} MemStream;

typedef struct OpjMessages {
    char first_error[200];
} OpjMessages;

static OPJ_SIZE_T mem_read(void *buf, OPJ_SIZE_T n, void *user)
{
    MemStream *m = user;
    if (m->pos >= m->len)
        return (OPJ_SIZE_T)-1;
    size_t k = m->len - m->pos;
    if (k > n)
        k = n;
    memcpy(buf, m->data + m->pos, k);
    m->pos += k;
    return k;
}

static OPJ_OFF_T mem_skip(OPJ_OFF_T n, void *user)
{
    MemStream *m = user;
    if (n < 0) {
        if ((size_t)(-n) > m->pos)
            return -1;
        m->pos -= (size_t)(-n);
        return n;
    }
    size_t k = m->len - m->pos;
    if ((uint64_t)n < k)
        k = (size_t)n;
    m->pos += k;
    return (OPJ_OFF_T)k;
}

static OPJ_BOOL mem_seek(OPJ_OFF_T pos, void *user)
{
    MemStream *m = user;
    if (pos < 0 || (uint64_t)pos > m->len)
        return OPJ_FALSE;
    m->pos = (size_t)pos;
    return OPJ_TRUE;
}

static void on_error(const char *msg, void *user)
{
    OpjMessages *m = user;
    if (m->first_error[0] == '\0') {
        snprintf(m->first_error, sizeof m->first_error, "%s", msg);
        size_t n = strlen(m->first_error);
        while (n > 0 && (m->first_error[n - 1] == '\n' || m->first_error[n - 1] == '\r'))
            m->first_error[--n] = '\0';
    }
}

static void on_quiet(const char *msg, void *user)
{
    (void)msg;
    (void)user;
}

static const uint8_t jp2_signature[12] = {0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50,
                                          0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A};

int rn_j2k_decode(const RnImageInfo *in, const uint8_t *src, size_t len, uint8_t *dst,
                  size_t dst_len, RnImageInfo *out, RnError *err)
{
    int rc = rn_frame_check(in, err);
    if (rc < 0)
        return rc;
    if (in->bits_allocated < 8)
        return rn_error_set(err, RN_ERR_UNSUPPORTED, "JPEG 2000 with Bits Allocated %u",
                            in->bits_allocated);
    RnImageInfo o = *in;
    o.planar_configuration = 0;
    bool mct_photometric = in->samples_per_pixel == 3 &&
                           (rn_photometric_is(in, "YBR_RCT") || rn_photometric_is(in, "YBR_ICT"));
    if (mct_photometric)
        rn_photometric_set(&o, "RGB");
    size_t size = rn_frame_bytes(&o);
    if (out)
        *out = o;
    if (!dst)
        return 0;
    if (dst_len < size)
        return rn_error_set(err, RN_ERR_INVALID, "output buffer of %zu bytes, frame needs %zu",
                            dst_len, size);
    if (!src || len < 12)
        return rn_error_set(err, RN_ERR_TRUNCATED, "JPEG 2000 frame of %zu bytes", src ? len : 0);

    OPJ_CODEC_FORMAT fmt;
    if (src[0] == 0xFF && src[1] == 0x4F && src[2] == 0xFF && src[3] == 0x51)
        fmt = OPJ_CODEC_J2K;
    else if (memcmp(src, jp2_signature, sizeof jp2_signature) == 0)
        fmt = OPJ_CODEC_JP2;
    else
        return rn_error_set(err, RN_ERR_PARSE,
                            "JPEG 2000 frame starts with %02X %02X %02X %02X, neither a J2K "
                            "codestream (SOC SIZ) nor a JP2 file",
                            src[0], src[1], src[2], src[3]);

    MemStream mem = {src, len, 0};
    OpjMessages msgs = {{0}};
    opj_codec_t *codec = opj_create_decompress(fmt);
    opj_stream_t *stream = opj_stream_create(1 << 16, OPJ_TRUE);
    opj_image_t *image = NULL;
    if (!codec || !stream) {
        rc = rn_error_set(err, RN_ERR_NOMEM, "cannot create an OpenJPEG decoder");
        goto done;
    }
    opj_stream_set_user_data(stream, &mem, NULL);
    opj_stream_set_user_data_length(stream, len);
    opj_stream_set_read_function(stream, mem_read);
    opj_stream_set_skip_function(stream, mem_skip);
    opj_stream_set_seek_function(stream, mem_seek);
    opj_set_error_handler(codec, on_error, &msgs);
    opj_set_warning_handler(codec, on_quiet, NULL);
    opj_set_info_handler(codec, on_quiet, NULL);

    opj_dparameters_t params;
    opj_set_default_decoder_parameters(&params);
    if (!opj_setup_decoder(codec, &params) || !opj_read_header(stream, codec, &image) || !image) {
        rc = rn_error_set(err, RN_ERR_PARSE, "JPEG 2000 header: %s",
                          msgs.first_error[0] ? msgs.first_error : "unreadable");
        goto done;
    }
    unsigned spp = in->samples_per_pixel;
    uint64_t iw = (uint64_t)image->x1 - image->x0, ih = (uint64_t)image->y1 - image->y0;
    if (image->x1 < image->x0 || image->y1 < image->y0 || iw != in->columns || ih != in->rows ||
        image->numcomps != spp) {
        rc = rn_error_set(err, RN_ERR_PARSE,
                          "JPEG 2000 image is %llu x %llu x %u, the dataset says %u x %u x %u",
                          (unsigned long long)iw, (unsigned long long)ih, image->numcomps,
                          in->columns, in->rows, spp);
        goto done;
    }
    for (unsigned c = 0; c < spp; c++) {
        const opj_image_comp_t *comp = &image->comps[c];
        if (comp->dx != 1 || comp->dy != 1) {
            rc = rn_error_set(err, RN_ERR_UNSUPPORTED,
                              "JPEG 2000 component %u is subsampled (%u x %u)", c, comp->dx,
                              comp->dy);
            goto done;
        }
        if (comp->prec < 1 || comp->prec > in->bits_allocated || comp->prec > 31) {
            rc = rn_error_set(err, RN_ERR_PARSE,
                              "JPEG 2000 component %u precision %u with Bits Allocated %u", c,
                              comp->prec, in->bits_allocated);
            goto done;
        }
    }
    if (!opj_decode(codec, stream, image) || !opj_end_decompress(codec, stream)) {
        rc = rn_error_set(err, RN_ERR_PARSE, "JPEG 2000 decode: %s",
                          msgs.first_error[0] ? msgs.first_error : "failed");
        goto done;
    }
    size_t px = rn_frame_pixels(in);
    unsigned obytes = in->bits_allocated / 8;
    for (unsigned c = 0; c < spp; c++) {
        const opj_image_comp_t *comp = &image->comps[c];
        if (!comp->data || (uint64_t)comp->w * comp->h < px) {
            rc = rn_error_set(err, RN_ERR_PARSE, "JPEG 2000 component %u was not decoded", c);
            goto done;
        }
        unsigned prec = comp->prec;
        int64_t lo, hi;
        if (comp->sgnd) {
            lo = -((int64_t)1 << (prec - 1));
            hi = ((int64_t)1 << (prec - 1)) - 1;
        } else {
            lo = 0;
            hi = ((int64_t)1 << prec) - 1;
        }
        bool extend = !comp->sgnd && in->pixel_representation == 1 && prec < 8 * obytes;
        for (size_t p = 0; p < px; p++) {
            int64_t v = comp->data[p];
            if (v < lo)
                v = lo;
            else if (v > hi)
                v = hi;
            if (extend)
                v = rn_sign_extend(v, prec);
            rn_sample_put(dst + (p * spp + c) * obytes, obytes, v);
        }
    }
    rc = 0;
done:
    if (image)
        opj_image_destroy(image);
    if (stream)
        opj_stream_destroy(stream);
    if (codec)
        opj_destroy_codec(codec);
    return rc;
}
