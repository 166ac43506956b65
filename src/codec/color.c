/*
 * Colour models for display and for native YBR_FULL_422, PS3.3 C.7.6.3.1.2
 * (Photometric Interpretation): YBR_FULL and YBR_FULL_422 to RGB with the
 * ITU-R BT.601 full-range equations given there, YBR_PARTIAL_422/420 with the
 * partial-range ones, and PALETTE COLOR through the Red/Green/Blue Palette
 * Color Lookup Tables (C.7.6.3.1.5 descriptors: entries with 0 meaning 65536,
 * first mapped value, 8 or 16 bits; C.7.6.3.1.6 data) including the
 * Segmented Palette Color LUT Data of C.7.9.2 (discrete, linear and indirect
 * segments). YBR_ICT/YBR_RCT reach this file already converted to RGB by the
 * JPEG 2000 decoder, as DCMTK and pydicom do.
 *
 * The generic LUT reader (rn_lut_from_data) also serves the Modality LUT and
 * VOI LUT sequences in render.c.
 */
#include "codec/pixel.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

size_t rn_color_422_source_bytes(const RnImageInfo *info)
{
    size_t px = rn_frame_pixels(info);
    size_t groups = px / 2 + (px & 1);
    return groups * 4 * (info->bits_allocated / 8);
}

int rn_color_upsample_422(const RnImageInfo *info, const uint8_t *src, size_t len, uint8_t *dst,
                          size_t dst_len, RnError *err)
{
    size_t b = info->bits_allocated / 8;
    size_t px = rn_frame_pixels(info);
    if (b == 0 || px == 0)
        return rn_error_set(err, RN_ERR_INVALID, "YBR_FULL_422 with Bits Allocated %u",
                            info->bits_allocated);
    if (len < rn_color_422_source_bytes(info) || dst_len < px * 3 * b)
        return rn_error_set(err, RN_ERR_TRUNCATED, "YBR_FULL_422 frame of %zu bytes is short", len);
    for (size_t p = 0; p < px; p += 2) {
        const uint8_t *g = src + (p / 2) * 4 * b; /* Y1 Y2 Cb Cr */
        uint8_t *d = dst + p * 3 * b;
        memcpy(d, g, b);
        memcpy(d + b, g + 2 * b, b);
        memcpy(d + 2 * b, g + 3 * b, b);
        if (p + 1 < px) {
            memcpy(d + 3 * b, g + b, b);
            memcpy(d + 4 * b, g + 2 * b, b);
            memcpy(d + 5 * b, g + 3 * b, b);
        }
    }
    return 0;
}

static uint8_t clamp8(double v)
{
    if (!(v > 0.0))
        return 0;
    if (v >= 255.0)
        return 255;
    return (uint8_t)(v + 0.5);
}

void rn_color_ybr_full_to_rgb8(int y, int cb, int cr, uint8_t rgb[3])
{
    /* PS3.3 C.7.6.3.1.2, YBR_FULL */
    rgb[0] = clamp8(y + 1.402 * (cr - 128));
    rgb[1] = clamp8(y - 0.3441362862 * (cb - 128) - 0.7141362862 * (cr - 128));
    rgb[2] = clamp8(y + 1.772 * (cb - 128));
}

void rn_color_ybr_partial_to_rgb8(int y, int cb, int cr, uint8_t rgb[3])
{
    /* PS3.3 C.7.6.3.1.2, YBR_PARTIAL_422 (inverse of the partial-range equations) */
    double yy = 1.1643835616 * (y - 16);
    rgb[0] = clamp8(yy + 1.5960267857 * (cr - 128));
    rgb[1] = clamp8(yy - 0.3917622901 * (cb - 128) - 0.8129676472 * (cr - 128));
    rgb[2] = clamp8(yy + 2.0172321429 * (cb - 128));
}

void rn_lut_free(RnLut *lut)
{
    if (lut) {
        free(lut->data);
        memset(lut, 0, sizeof *lut);
    }
}

int rn_lut_from_data(RnLut *lut, int64_t count, int64_t first, int64_t bits, bool first_signed,
                     const uint8_t *data, size_t len, bool big_endian, RnError *err)
{
    memset(lut, 0, sizeof *lut);
    if (count == 0)
        count = 65536; /* PS3.3 C.7.6.3.1.5: 0 means 2^16 entries */
    if (count < 0 || count > 65536)
        return rn_error_set(err, RN_ERR_PARSE, "LUT descriptor with %lld entries",
                            (long long)count);
    if (bits < 1 || bits > 16)
        return rn_error_set(err, RN_ERR_PARSE, "LUT descriptor with %lld bits", (long long)bits);
    if (first_signed && first > 32767 && first <= 65535)
        first -= 65536;
    if (first < -32768 || first > 65535)
        return rn_error_set(err, RN_ERR_PARSE, "LUT first mapped value %lld", (long long)first);
    if (!data)
        return rn_error_set(err, RN_ERR_NOT_FOUND, "LUT data not present or not loaded");
    size_t n = (size_t)count;
    bool words;
    if (len >= 2 * n)
        words = true;
    else if (bits <= 8 && len >= n)
        words = false; /* 8-bit entries packed in bytes */
    else
        return rn_error_set(err, RN_ERR_TRUNCATED, "LUT data of %zu bytes for %zu entries", len, n);
    lut->data = malloc(n * sizeof *lut->data);
    if (!lut->data)
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (words)
            lut->data[i] = big_endian ? rn_rd16be(data + 2 * i) : rn_rd16le(data + 2 * i);
        else
            lut->data[i] = data[i];
    }
    lut->count = (uint32_t)n;
    lut->first = (int32_t)first;
    lut->bits = (unsigned)bits;
    return 0;
}

/* Expands segments from words[pos..] into out[*n..count); `limit` segments at
 * most (0 = all). Indirect segments may not nest, which rules out loops. */
static int expand_segments(const uint16_t *words, size_t nwords, size_t pos, size_t limit,
                           bool allow_indirect, uint16_t *out, uint32_t count, uint32_t *n,
                           RnError *err)
{
    size_t done = 0;
    while (pos + 1 < nwords && *n < count && (limit == 0 || done < limit)) {
        uint16_t op = words[pos];
        size_t length = words[pos + 1];
        pos += 2;
        if (op == 0) { /* C.7.9.2.1 discrete */
            if (length > nwords - pos)
                return rn_error_set(err, RN_ERR_TRUNCATED,
                                    "segmented LUT: discrete segment of %zu words passes the end",
                                    length);
            for (size_t k = 0; k < length && *n < count; k++)
                out[(*n)++] = words[pos + k];
            pos += length;
        } else if (op == 1) { /* C.7.9.2.2 linear, from the previous value */
            if (*n == 0)
                return rn_error_set(err, RN_ERR_PARSE,
                                    "segmented LUT: linear segment without a previous value");
            if (pos >= nwords)
                return rn_error_set(err, RN_ERR_TRUNCATED, "segmented LUT: linear segment cut");
            double y0 = out[*n - 1], y1 = words[pos++];
            for (size_t k = 1; k <= length && *n < count; k++)
                out[(*n)++] = (uint16_t)nearbyint(y0 + (y1 - y0) * (double)k / (double)length);
        } else if (op == 2) { /* C.7.9.2.3 indirect: copy `length` segments from an offset */
            if (!allow_indirect || *n == 0)
                return rn_error_set(err, RN_ERR_PARSE,
                                    "segmented LUT: nested or leading indirect segment");
            if (pos + 1 >= nwords)
                return rn_error_set(err, RN_ERR_TRUNCATED, "segmented LUT: indirect segment cut");
            /* least significant word first, as pydicom reads it */
            size_t offset = (size_t)words[pos] | ((size_t)words[pos + 1] << 16);
            pos += 2;
            if (offset >= nwords)
                return rn_error_set(err, RN_ERR_PARSE,
                                    "segmented LUT: indirect offset %zu past the data", offset);
            int rc = expand_segments(words, nwords, offset, length ? length : 1, false, out, count,
                                     n, err);
            if (rc < 0)
                return rc;
        } else {
            return rn_error_set(err, RN_ERR_PARSE, "segmented LUT: unknown segment type %u", op);
        }
        done++;
    }
    return 0;
}

int rn_lut_expand_segmented(const uint16_t *words, size_t nwords, uint16_t *out, uint32_t count,
                            RnError *err)
{
    uint32_t n = 0;
    int rc = expand_segments(words, nwords, 0, 0, true, out, count, &n, err);
    if (rc < 0)
        return rc;
    if (n == 0)
        return rn_error_set(err, RN_ERR_PARSE, "segmented LUT expands to no entries");
    while (n < count) { /* short table: hold the last value */
        out[n] = out[n - 1];
        n++;
    }
    return 0;
}

uint8_t rn_lut_to8(const RnLut *lut, uint16_t v)
{
    if (lut->bits <= 8)
        return v > 255 ? (uint8_t)(v >> 8) : (uint8_t)v; /* 8-bit entries in high bytes */
    if (lut->bits == 16)
        return (uint8_t)(v >> 8);
    uint32_t maxv = (1u << lut->bits) - 1;
    if (v > maxv)
        v = (uint16_t)maxv;
    return (uint8_t)((v * 255u + maxv / 2) / maxv);
}

static const RnTag palette_descriptor[3] = {RN_TAG_RedPaletteColorLookupTableDescriptor,
                                            RN_TAG_GreenPaletteColorLookupTableDescriptor,
                                            RN_TAG_BluePaletteColorLookupTableDescriptor};
static const RnTag palette_data[3] = {RN_TAG_RedPaletteColorLookupTableData,
                                      RN_TAG_GreenPaletteColorLookupTableData,
                                      RN_TAG_BluePaletteColorLookupTableData};
static const RnTag palette_segmented[3] = {RN_TAG(0x0028, 0x1221), RN_TAG(0x0028, 0x1222),
                                           RN_TAG(0x0028, 0x1223)};

static int load_one(const RnDataset *ds, unsigned c, RnLut *lut, RnError *err)
{
    static const char *const names[3] = {"Red", "Green", "Blue"};
    int64_t desc[3];
    for (unsigned i = 0; i < 3; i++) {
        if (rn_dataset_get_int(ds, palette_descriptor[c], i, &desc[i], NULL) < 0)
            return rn_error_set(err, RN_ERR_NOT_FOUND,
                                "PALETTE COLOR without a valid %s Palette Color LUT Descriptor",
                                names[c]);
    }
    int64_t pixrep = 0;
    rn_dataset_get_int(ds, RN_TAG_PixelRepresentation, 0, &pixrep, NULL);
    const RnElement *el = rn_dataset_get(ds, palette_data[c]);
    if (el) {
        size_t len = 0;
        const uint8_t *v = rn_element_value(el, &len);
        int rc = rn_lut_from_data(lut, desc[0], desc[1], desc[2], pixrep == 1, v, len,
                                  rn_element_big_endian(el), err);
        if (rc < 0)
            rn_error_prefix(err, "%s Palette Color LUT: ", names[c]);
        return rc;
    }
    el = rn_dataset_get(ds, palette_segmented[c]);
    if (!el)
        return rn_error_set(err, RN_ERR_NOT_FOUND, "PALETTE COLOR without %s LUT data", names[c]);
    size_t len = 0;
    const uint8_t *v = rn_element_value(el, &len);
    if (!v)
        return rn_error_set(err, RN_ERR_NOT_FOUND, "%s segmented palette not loaded", names[c]);
    int64_t count = desc[0] == 0 ? 65536 : desc[0];
    if (count < 1 || count > 65536 || desc[2] < 1 || desc[2] > 16)
        return rn_error_set(err, RN_ERR_PARSE, "%s palette descriptor %lld\\%lld\\%lld", names[c],
                            (long long)desc[0], (long long)desc[1], (long long)desc[2]);
    size_t nwords = len / 2;
    uint16_t *words = malloc((nwords ? nwords : 1) * sizeof *words);
    uint16_t *table = malloc((size_t)count * sizeof *table);
    if (!words || !table) {
        free(words);
        free(table);
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    }
    bool be = rn_element_big_endian(el);
    for (size_t i = 0; i < nwords; i++)
        words[i] = be ? rn_rd16be(v + 2 * i) : rn_rd16le(v + 2 * i);
    int rc = rn_lut_expand_segmented(words, nwords, table, (uint32_t)count, err);
    free(words);
    if (rc < 0) {
        free(table);
        rn_error_prefix(err, "%s palette: ", names[c]);
        return rc;
    }
    int64_t first = desc[1];
    if (pixrep == 1 && first > 32767)
        first -= 65536;
    lut->data = table;
    lut->count = (uint32_t)count;
    lut->first = (int32_t)first;
    lut->bits = (unsigned)desc[2];
    return 0;
}

int rn_palette_load(const RnDataset *ds, RnPalette *pal, RnError *err)
{
    memset(pal, 0, sizeof *pal);
    for (unsigned c = 0; c < 3; c++) {
        int rc = load_one(ds, c, &pal->lut[c], err);
        if (rc < 0) {
            rn_palette_free(pal);
            return rc;
        }
    }
    return 0;
}

void rn_palette_free(RnPalette *pal)
{
    if (pal)
        for (unsigned c = 0; c < 3; c++)
            rn_lut_free(&pal->lut[c]);
}

int rn_color_render(const RnImageInfo *info, const RnPalette *pal, const uint8_t *frame, size_t len,
                    uint8_t *rgb, RnError *err)
{
    int rc = rn_frame_check(info, err);
    if (rc < 0)
        return rc;
    size_t need = rn_frame_bytes(info);
    if (!frame || len < need)
        return rn_error_set(err, RN_ERR_TRUNCATED, "frame of %zu bytes, %zu expected",
                            frame ? len : 0, need);
    size_t px = rn_frame_pixels(info);
    if (rn_photometric_is(info, "PALETTE COLOR")) {
        if (!pal || !pal->lut[0].data || !pal->lut[1].data || !pal->lut[2].data)
            return rn_error_set(err, RN_ERR_INVALID, "PALETTE COLOR without a palette");
        if (info->samples_per_pixel != 1)
            return rn_error_set(err, RN_ERR_PARSE, "PALETTE COLOR with %u samples",
                                info->samples_per_pixel);
        for (size_t p = 0; p < px; p++) {
            int64_t idx = rn_sample_get(info, frame, p);
            for (unsigned c = 0; c < 3; c++)
                rgb[p * 3 + c] = rn_lut_to8(&pal->lut[c], rn_lut_at(&pal->lut[c], idx));
        }
        return 0;
    }
    if (info->samples_per_pixel != 3 || info->planar_configuration != 0)
        return rn_error_set(err, RN_ERR_UNSUPPORTED,
                            "colour frame with %u samples, planar configuration %u",
                            info->samples_per_pixel, info->planar_configuration);
    bool full = rn_photometric_is(info, "YBR_FULL") || rn_photometric_is(info, "YBR_FULL_422") ||
                rn_photometric_is(info, "YBR_ICT");
    bool partial = strncmp(info->photometric, "YBR_PARTIAL", 11) == 0;
    bool rgbin = rn_photometric_is(info, "RGB") || rn_photometric_is(info, "YBR_RCT");
    if (!full && !partial && !rgbin)
        return rn_error_set(err, RN_ERR_UNSUPPORTED, "Photometric Interpretation %s",
                            info->photometric);
    /* Scale samples of Bits Stored bits to 8 bits before the colour equations. */
    unsigned bs = info->bits_stored;
    double maxv = (double)(((uint64_t)1 << bs) - 1);
    for (size_t p = 0; p < px; p++) {
        int v[3];
        for (unsigned c = 0; c < 3; c++) {
            int64_t s = rn_sample_get(info, frame, p * 3 + c);
            if (info->pixel_representation == 1) /* signed colour: shift to unsigned range */
                s += (int64_t)1 << (bs - 1);
            v[c] = bs == 8 ? (int)s : (int)floor((double)s * 255.0 / maxv + 0.5);
        }
        uint8_t *o = rgb + p * 3;
        if (rgbin) {
            o[0] = (uint8_t)v[0];
            o[1] = (uint8_t)v[1];
            o[2] = (uint8_t)v[2];
        } else if (full) {
            rn_color_ybr_full_to_rgb8(v[0], v[1], v[2], o);
        } else {
            rn_color_ybr_partial_to_rgb8(v[0], v[1], v[2], o);
        }
    }
    return 0;
}
