/*
 * Native (uncompressed) Pixel Data, PS3.5 8.1.1 and 8.2: frames as stored in
 * Implicit/Explicit VR Little Endian and the retired Explicit VR Big Endian
 * (PS3.5 A.3), brought to the one layout radnode decodes to: little-endian
 * samples of Bits Allocated bits, interleaved (Planar Configuration 0).
 *
 * Big endian: the caller passes big_endian only for word data (OW, and the
 * 32-bit OL-like case), which is swapped in units of Bits Allocated; OB data
 * (8 and 1 bit allocated) is byte data and stays as it is. Planar
 * Configuration 1 (PS3.3 C.7.6.3.1.3) is interleaved. 1-bit data stays packed
 * (PS3.5 8.1.1: first pixel in the least significant bit). Native YBR_FULL_422
 * (two luminance samples and one Cb/Cr pair per two pixels, PS3.3
 * C.7.6.3.1.2) is upsampled to YBR_FULL. Bits Stored < Bits Allocated is kept
 * as stored (the raw output is the equivalent uncompressed Pixel Data).
 *
 * This file also holds the frame geometry helpers of pixel.h.
 */
#include "codec/pixel.h"
#include "codec/codec_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool rn_photometric_is(const RnImageInfo *info, const char *name)
{
    return strcmp(info->photometric, name) == 0;
}

void rn_photometric_set(RnImageInfo *info, const char *name)
{
    snprintf(info->photometric, sizeof info->photometric, "%s", name);
}

size_t rn_frame_pixels(const RnImageInfo *info)
{
    if (info->rows == 0 || info->columns == 0)
        return 0;
    uint64_t n = (uint64_t)info->rows * (uint64_t)info->columns;
    if (n > RN_FRAME_MAX_BYTES)
        return 0;
    return (size_t)n;
}

size_t rn_frame_bytes(const RnImageInfo *info)
{
    size_t px = rn_frame_pixels(info);
    if (px == 0 || info->samples_per_pixel == 0 || info->samples_per_pixel > 4)
        return 0;
    uint64_t samples = (uint64_t)px * info->samples_per_pixel;
    uint64_t bytes;
    switch (info->bits_allocated) {
    case 1:
        bytes = (samples + 7) / 8;
        break;
    case 8:
        bytes = samples;
        break;
    case 16:
        bytes = samples * 2;
        break;
    case 32:
        bytes = samples * 4;
        break;
    default:
        return 0;
    }
    if (bytes > RN_FRAME_MAX_BYTES)
        return 0;
    return (size_t)bytes;
}

int rn_frame_check(const RnImageInfo *info, RnError *err)
{
    if (!info)
        return rn_error_set(err, RN_ERR_INVALID, "no image description");
    if (info->rows == 0 || info->columns == 0)
        return rn_error_set(err, RN_ERR_INVALID, "image has %u rows and %u columns", info->rows,
                            info->columns);
    if (info->samples_per_pixel < 1 || info->samples_per_pixel > 4)
        return rn_error_set(err, RN_ERR_UNSUPPORTED, "%u samples per pixel",
                            info->samples_per_pixel);
    unsigned ba = info->bits_allocated;
    if (ba != 1 && ba != 8 && ba != 16 && ba != 32)
        return rn_error_set(err, RN_ERR_UNSUPPORTED, "Bits Allocated %u", ba);
    if (ba == 1 && info->samples_per_pixel != 1)
        return rn_error_set(err, RN_ERR_UNSUPPORTED, "1-bit data with %u samples per pixel",
                            info->samples_per_pixel);
    if (info->bits_stored < 1 || info->bits_stored > ba)
        return rn_error_set(err, RN_ERR_INVALID, "Bits Stored %u with Bits Allocated %u",
                            info->bits_stored, ba);
    if (info->pixel_representation > 1)
        return rn_error_set(err, RN_ERR_INVALID, "Pixel Representation %u",
                            info->pixel_representation);
    if (info->planar_configuration > 1)
        return rn_error_set(err, RN_ERR_INVALID, "Planar Configuration %u",
                            info->planar_configuration);
    if (rn_frame_bytes(info) == 0)
        return rn_error_set(err, RN_ERR_LIMIT, "frame of %u x %u x %u x %u bits is too large",
                            info->rows, info->columns, info->samples_per_pixel, ba);
    return 0;
}

int64_t rn_sample_get(const RnImageInfo *info, const uint8_t *frame, size_t index)
{
    uint32_t raw;
    switch (info->bits_allocated) {
    case 1:
        return (frame[index / 8] >> (index % 8)) & 1;
    case 8:
        raw = frame[index];
        break;
    case 16:
        raw = rn_rd16le(frame + 2 * index);
        break;
    default:
        raw = rn_rd32le(frame + 4 * index);
        break;
    }
    unsigned bs = info->bits_stored;
    unsigned shift = 0;
    /* PS3.5 8.1.1: the stored bits end at High Bit; usually High Bit = Bits Stored - 1. */
    if (info->high_bit + 1 >= bs && info->high_bit < info->bits_allocated)
        shift = info->high_bit + 1 - bs;
    uint64_t v = (uint64_t)raw >> shift;
    if (bs < 64)
        v &= ((uint64_t)1 << bs) - 1;
    if (info->pixel_representation == 1)
        return rn_sign_extend((int64_t)v, bs);
    return (int64_t)v;
}

static void swap_units(uint8_t *p, size_t len, unsigned unit)
{
    if (unit == 2) {
        for (size_t i = 0; i + 1 < len; i += 2) {
            uint8_t t = p[i];
            p[i] = p[i + 1];
            p[i + 1] = t;
        }
    } else if (unit == 4) {
        for (size_t i = 0; i + 3 < len; i += 4) {
            uint8_t a = p[i], b = p[i + 1];
            p[i] = p[i + 3];
            p[i + 1] = p[i + 2];
            p[i + 2] = b;
            p[i + 3] = a;
        }
    }
}

int rn_native_decode(const RnImageInfo *in, bool big_endian, const uint8_t *src, size_t len,
                     uint8_t *dst, size_t dst_len, RnImageInfo *out, RnError *err)
{
    int rc = rn_frame_check(in, err);
    if (rc < 0)
        return rc;
    RnImageInfo o = *in;
    o.planar_configuration = 0;
    unsigned bytes = in->bits_allocated / 8;
    bool is422 = rn_photometric_is(in, "YBR_FULL_422") && in->samples_per_pixel == 3 && bytes >= 1;
    if (is422)
        rn_photometric_set(&o, "YBR_FULL");
    size_t out_size = rn_frame_bytes(&o);
    if (out)
        *out = o;
    if (!dst)
        return 0;
    if (dst_len < out_size)
        return rn_error_set(err, RN_ERR_INVALID, "output buffer of %zu bytes, frame needs %zu",
                            dst_len, out_size);
    size_t need = is422 ? rn_color_422_source_bytes(in) : out_size;
    if (!src || len < need)
        return rn_error_set(err, RN_ERR_TRUNCATED,
                            "native frame has %zu bytes, %zu expected for %u x %u x %u x %u bits",
                            src ? len : 0, need, in->rows, in->columns, in->samples_per_pixel,
                            in->bits_allocated);

    uint8_t *swapped = NULL;
    if (big_endian && bytes > 1) {
        swapped = malloc(need);
        if (!swapped)
            return rn_error_set(err, RN_ERR_NOMEM, "out of memory (%zu bytes)", need);
        memcpy(swapped, src, need);
        swap_units(swapped, need, bytes);
        src = swapped;
    }

    if (is422) {
        rc = rn_color_upsample_422(in, src, need, dst, dst_len, err);
    } else if (in->planar_configuration == 1 && in->samples_per_pixel > 1 && bytes >= 1) {
        /* PS3.3 C.7.6.3.1.3: all of sample 0, then all of sample 1, ... */
        size_t px = rn_frame_pixels(in);
        unsigned spp = in->samples_per_pixel;
        for (unsigned s = 0; s < spp; s++) {
            const uint8_t *plane = src + (size_t)s * px * bytes;
            for (size_t p = 0; p < px; p++)
                memcpy(dst + (p * spp + s) * bytes, plane + p * bytes, bytes);
        }
        rc = 0;
    } else {
        memcpy(dst, src, out_size);
        rc = 0;
    }
    free(swapped);
    return rc;
}
