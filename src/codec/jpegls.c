/*
 * JPEG-LS Lossless and Near-Lossless (transfer syntaxes 1.2.840.10008.1.2.4.80
 * and .81, PS3.5 A.4.3 and 8.2.3; ISO/IEC 14495-1) decoded with CharLS 2.x
 * through its C API.
 *
 * The stream's frame header must agree with the dataset (rows, columns,
 * components, and a sample precision no larger than Bits Allocated); CharLS
 * checks every marker and the entropy-coded data against the buffer length.
 * Interleave modes none (one scan per component), line and sample all come out
 * as Planar Configuration 0. CharLS applies the HP colour transforms itself.
 * Signed data (Pixel Representation 1) with a precision below the sample size
 * is sign-extended from the stream's precision, so the output equals the
 * uncompressed Pixel Data the stream was made from (as pydicom does).
 *
 * Debian's CharLS 2.4.1 loops forever when its bit reader runs past the end
 * of an entropy-coded segment (fixed upstream by CharLS pull request 334), so
 * a stream must end in an EOI marker (after the zero padding DICOM allows)
 * before CharLS sees it: a truncated fragment is refused up front.
 */
#include "codec/pixel.h"
#include "codec/codec_internal.h"
#include "codec/charls_lazy.h"

#include <stdlib.h>
#include <string.h>

static int charls_error(RnError *err, const char *what, charls_jpegls_errc ec)
{
    return rn_error_set(err, RN_ERR_PARSE, "JPEG-LS %s: %s", what, charls_get_error_message(ec));
}

int rn_jpegls_decode(const RnImageInfo *in, const uint8_t *src, size_t len, uint8_t *dst,
                     size_t dst_len, RnImageInfo *out, RnError *err)
{
    int rc = rn_frame_check(in, err);
    if (rc < 0)
        return rc;
    if (in->bits_allocated != 8 && in->bits_allocated != 16)
        return rn_error_set(err, RN_ERR_UNSUPPORTED, "JPEG-LS with Bits Allocated %u",
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
    if (!src || len == 0)
        return rn_error_set(err, RN_ERR_TRUNCATED, "empty JPEG-LS frame");
    size_t end = len;
    while (end > 0 && src[end - 1] == 0x00)
        end--;
    if (end < 4 || src[end - 2] != 0xFF || src[end - 1] != 0xD9)
        return rn_error_set(err, RN_ERR_TRUNCATED,
                            "JPEG-LS frame of %zu bytes does not end with an EOI marker", len);

    if ((rc = rn_charls_load(err)) < 0)
        return rc;
    charls_jpegls_decoder *dec = charls_jpegls_decoder_create();
    if (!dec)
        return rn_error_set(err, RN_ERR_NOMEM, "cannot create a JPEG-LS decoder");
    uint8_t *tmp = NULL;
    charls_jpegls_errc ec = charls_jpegls_decoder_set_source_buffer(dec, src, len);
    if (ec) {
        rc = charls_error(err, "source", ec);
        goto done;
    }
    ec = charls_jpegls_decoder_read_header(dec);
    if (ec) {
        rc = charls_error(err, "header", ec);
        goto done;
    }
    charls_frame_info fi;
    charls_interleave_mode mode;
    ec = charls_jpegls_decoder_get_frame_info(dec, &fi);
    if (!ec)
        ec = charls_jpegls_decoder_get_interleave_mode(dec, &mode);
    if (ec) {
        rc = charls_error(err, "frame info", ec);
        goto done;
    }
    if (fi.width != in->columns || fi.height != in->rows ||
        fi.component_count != (int32_t)in->samples_per_pixel) {
        rc = rn_error_set(
            err, RN_ERR_PARSE, "JPEG-LS frame is %u x %u x %d, the dataset says %u x %u x %u",
            fi.width, fi.height, fi.component_count, in->columns, in->rows, in->samples_per_pixel);
        goto done;
    }
    if (fi.bits_per_sample < 2 || fi.bits_per_sample > (int32_t)in->bits_allocated) {
        rc = rn_error_set(err, RN_ERR_PARSE, "JPEG-LS precision %d with Bits Allocated %u",
                          fi.bits_per_sample, in->bits_allocated);
        goto done;
    }
    size_t need = 0;
    ec = charls_jpegls_decoder_get_destination_size(dec, 0, &need);
    if (ec) {
        rc = charls_error(err, "size", ec);
        goto done;
    }
    unsigned cbytes = fi.bits_per_sample > 8 ? 2 : 1; /* CharLS: one or two bytes a sample */
    unsigned obytes = in->bits_allocated / 8;
    size_t px = rn_frame_pixels(in);
    unsigned spp = in->samples_per_pixel;
    if (need != px * spp * cbytes) {
        rc = rn_error_set(err, RN_ERR_PARSE, "JPEG-LS decoded size %zu unexpected", need);
        goto done;
    }
    bool planar = mode == CHARLS_INTERLEAVE_MODE_NONE && spp > 1;
    bool extend = in->pixel_representation == 1 && (unsigned)fi.bits_per_sample < 8 * obytes;
    if (!planar && !extend && cbytes == obytes) {
        ec = charls_jpegls_decoder_decode_to_buffer(dec, dst, need, 0);
        if (ec) {
            rc = charls_error(err, "decode", ec);
            goto done;
        }
        if (cbytes == 2) { /* CharLS writes host order; radnode's layout is little-endian */
            for (size_t i = 0; i < px * spp; i++) {
                uint16_t v;
                memcpy(&v, dst + 2 * i, 2);
                rn_wr16le(dst + 2 * i, v);
            }
        }
        rc = 0;
        goto done;
    }
    tmp = malloc(need);
    if (!tmp) {
        rc = rn_error_set(err, RN_ERR_NOMEM, "out of memory (%zu bytes)", need);
        goto done;
    }
    ec = charls_jpegls_decoder_decode_to_buffer(dec, tmp, need, 0);
    if (ec) {
        rc = charls_error(err, "decode", ec);
        goto done;
    }
    for (size_t p = 0; p < px; p++) {
        for (unsigned s = 0; s < spp; s++) {
            size_t si = planar ? (size_t)s * px + p : p * spp + s;
            int64_t v;
            if (cbytes == 2) {
                uint16_t u;
                memcpy(&u, tmp + 2 * si, 2);
                v = u;
            } else {
                v = tmp[si];
            }
            if (extend)
                v = rn_sign_extend(v, (unsigned)fi.bits_per_sample);
            rn_sample_put(dst + (p * spp + s) * obytes, obytes, v);
        }
    }
    rc = 0;
done:
    free(tmp);
    charls_jpegls_decoder_destroy(dec);
    return rc;
}
