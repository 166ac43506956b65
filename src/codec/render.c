/*
 * The display pipeline for one decoded frame, PS3.3 C.11 (and PS3.4 N.2, the
 * grayscale and colour transformation sequences):
 *
 *   stored value (Bits Stored at High Bit, sign per Pixel Representation)
 *   -> Modality LUT (C.11.1): Modality LUT Sequence, else Rescale Slope and
 *      Intercept (identity when absent)
 *   -> VOI (C.11.2): the first Window Center/Width with the VOI LUT Function
 *      LINEAR (C.11.2.1.2.1), LINEAR_EXACT (C.11.2.1.3.2) or SIGMOID
 *      (C.11.2.1.3.1); else the first VOI LUT Sequence item; else the
 *      frame's own minimum and maximum mapped linearly
 *   -> MONOCHROME1 inverted (C.7.6.3.1.2) -> 8-bit gray.
 *
 * Colour frames go to 8-bit RGB through color.c. rn_png_write writes the
 * result with libpng's simplified API to memory and the file atomically.
 */
#include "codec/pixel.h"

#include <math.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

void rn_display_init(RnDisplay *d)
{
    memset(d, 0, sizeof *d);
    d->slope = 1.0;
    d->intercept = 0.0;
}

void rn_display_free(RnDisplay *d)
{
    if (d) {
        rn_lut_free(&d->modality_lut);
        rn_lut_free(&d->voi_lut);
    }
}

/* Reads the LUT Descriptor and LUT Data of a Modality or VOI LUT item. */
static int lut_from_item(const RnDataset *item, bool first_signed, RnLut *lut, RnError *err)
{
    int64_t desc[3];
    for (unsigned i = 0; i < 3; i++)
        if (rn_dataset_get_int(item, RN_TAG_LUTDescriptor, i, &desc[i], NULL) < 0)
            return rn_error_set(err, RN_ERR_PARSE, "LUT Descriptor missing or short");
    const RnElement *el = rn_dataset_get(item, RN_TAG_LUTData);
    if (!el)
        return rn_error_set(err, RN_ERR_NOT_FOUND, "LUT Data missing");
    const RnElement *del = rn_dataset_get(item, RN_TAG_LUTDescriptor);
    if (del && rn_element_vr(del) == RN_VR_SS)
        first_signed = false; /* the getter already gave the signed value */
    size_t len = 0;
    const uint8_t *v = rn_element_value(el, &len);
    return rn_lut_from_data(lut, desc[0], desc[1], desc[2], first_signed, v, len,
                            rn_element_big_endian(el), err);
}

static const RnDataset *first_item(const RnDataset *ds, RnTag tag)
{
    const RnElement *el = rn_dataset_get(ds, tag);
    if (!el || rn_element_vr(el) != RN_VR_SQ || rn_element_item_count(el) == 0)
        return NULL;
    return rn_element_item(el, 0);
}

int rn_display_from_dataset(const RnDataset *ds, const RnImageInfo *info, RnDisplay *d,
                            RnError *err)
{
    rn_display_init(d);
    if (!ds || !info)
        return rn_error_set(err, RN_ERR_INVALID, "no dataset");
    d->invert = rn_photometric_is(info, "MONOCHROME1");

    const RnDataset *mod = first_item(ds, RN_TAG_ModalityLUTSequence);
    if (mod) {
        int rc = lut_from_item(mod, info->pixel_representation == 1, &d->modality_lut, err);
        if (rc < 0) {
            rn_error_prefix(err, "Modality LUT Sequence: ");
            return rc;
        }
        d->has_modality_lut = true;
    } else {
        double v;
        if (rn_dataset_get_double(ds, RN_TAG_RescaleSlope, 0, &v, NULL) == 0 && isfinite(v) &&
            v != 0.0)
            d->slope = v;
        if (rn_dataset_get_double(ds, RN_TAG_RescaleIntercept, 0, &v, NULL) == 0 && isfinite(v))
            d->intercept = v;
    }

    double c, w;
    if (rn_dataset_get_double(ds, RN_TAG_WindowCenter, 0, &c, NULL) == 0 &&
        rn_dataset_get_double(ds, RN_TAG_WindowWidth, 0, &w, NULL) == 0 && isfinite(c) &&
        isfinite(w)) {
        char fn[32] = "";
        rn_dataset_get_string(ds, RN_TAG_VOILUTFunction, 0, fn, sizeof fn, NULL);
        if (strcmp(fn, "LINEAR_EXACT") == 0)
            d->function = RN_VOI_LINEAR_EXACT;
        else if (strcmp(fn, "SIGMOID") == 0)
            d->function = RN_VOI_SIGMOID;
        else
            d->function = RN_VOI_LINEAR;
        /* C.11.2.1.2.1: Window Width >= 1 for LINEAR, > 0 for the others;
         * an invalid window is ignored rather than trusted. */
        if ((d->function == RN_VOI_LINEAR && w >= 1.0) || (d->function != RN_VOI_LINEAR && w > 0)) {
            d->has_window = true;
            d->center = c;
            d->width = w;
        }
    }
    if (!d->has_window) {
        const RnDataset *voi = first_item(ds, RN_TAG_VOILUTSequence);
        if (voi) {
            bool first_signed =
                info->pixel_representation == 1 || d->intercept < 0 || d->has_modality_lut;
            int rc = lut_from_item(voi, first_signed, &d->voi_lut, err);
            if (rc < 0) {
                rn_error_prefix(err, "VOI LUT Sequence: ");
                rn_display_free(d);
                return rc;
            }
            d->has_voi_lut = true;
        }
    }
    return 0;
}

double rn_voi_window(RnVoiFunction f, double c, double w, double x, double ymin, double ymax)
{
    switch (f) {
    case RN_VOI_LINEAR_EXACT: /* C.11.2.1.3.2 */
        if (x <= c - w / 2)
            return ymin;
        if (x > c + w / 2)
            return ymax;
        return ((x - c) / w + 0.5) * (ymax - ymin) + ymin;
    case RN_VOI_SIGMOID: /* C.11.2.1.3.1 */
        return (ymax - ymin) / (1.0 + exp(-4.0 * (x - c) / w)) + ymin;
    case RN_VOI_LINEAR: /* C.11.2.1.2.1 */
    default:
        if (x <= c - 0.5 - (w - 1) / 2)
            return ymin;
        if (x > c - 0.5 + (w - 1) / 2)
            return ymax;
        return ((x - (c - 0.5)) / (w - 1) + 0.5) * (ymax - ymin) + ymin;
    }
}

static double modality_value(const RnDisplay *d, const RnImageInfo *info, const uint8_t *frame,
                             size_t i)
{
    int64_t s = rn_sample_get(info, frame, i);
    if (d->has_modality_lut)
        return rn_lut_at(&d->modality_lut, s);
    return (double)s * d->slope + d->intercept;
}

static int check_mono(const RnImageInfo *info, const uint8_t *frame, size_t len, RnError *err)
{
    int rc = rn_frame_check(info, err);
    if (rc < 0)
        return rc;
    if (info->samples_per_pixel != 1)
        return rn_error_set(err, RN_ERR_INVALID, "monochrome frame with %u samples",
                            info->samples_per_pixel);
    size_t need = rn_frame_bytes(info);
    if (!frame || len < need)
        return rn_error_set(err, RN_ERR_TRUNCATED, "frame of %zu bytes, %zu expected",
                            frame ? len : 0, need);
    return 0;
}

int rn_display_modality(const RnDisplay *d, const RnImageInfo *info, const uint8_t *frame,
                        size_t len, double *out, RnError *err)
{
    int rc = check_mono(info, frame, len, err);
    if (rc < 0)
        return rc;
    size_t px = rn_frame_pixels(info);
    for (size_t i = 0; i < px; i++)
        out[i] = modality_value(d, info, frame, i);
    return 0;
}

static uint8_t round8(double y)
{
    if (!(y > 0.0))
        return 0;
    if (y >= 255.0)
        return 255;
    return (uint8_t)floor(y + 0.5);
}

int rn_display_render_mono(const RnDisplay *d, const RnImageInfo *info, const uint8_t *frame,
                           size_t len, uint8_t *gray, RnError *err)
{
    int rc = check_mono(info, frame, len, err);
    if (rc < 0)
        return rc;
    size_t px = rn_frame_pixels(info);
    double lo = 0, hi = 0;
    if (!d->has_window && !d->has_voi_lut) {
        lo = INFINITY;
        hi = -INFINITY;
        for (size_t i = 0; i < px; i++) {
            double x = modality_value(d, info, frame, i);
            if (x < lo)
                lo = x;
            if (x > hi)
                hi = x;
        }
    }
    double voi_max = d->has_voi_lut ? (double)(((uint32_t)1 << d->voi_lut.bits) - 1) : 1.0;
    for (size_t i = 0; i < px; i++) {
        double x = modality_value(d, info, frame, i);
        double y;
        if (d->has_window)
            y = rn_voi_window(d->function, d->center, d->width, x, 0.0, 255.0);
        else if (d->has_voi_lut)
            y = rn_lut_at(&d->voi_lut, (int64_t)floor(x + 0.5)) * 255.0 / voi_max;
        else
            y = hi > lo ? (x - lo) * 255.0 / (hi - lo) : 0.0;
        uint8_t g = round8(y);
        gray[i] = d->invert ? (uint8_t)(255 - g) : g;
    }
    return 0;
}

void rn_rendered_free(RnRendered *r)
{
    if (r) {
        free(r->pixels);
        memset(r, 0, sizeof *r);
    }
}

static bool is_monochrome(const RnImageInfo *info)
{
    return strncmp(info->photometric, "MONOCHROME", 10) == 0 ||
           (info->samples_per_pixel == 1 && !rn_photometric_is(info, "PALETTE COLOR"));
}

int rn_pixel_render(const RnDataset *ds, const RnImageInfo *info, const uint8_t *frame,
                    size_t frame_len, RnRendered *out, RnError *err)
{
    if (!out)
        return rn_error_set(err, RN_ERR_INVALID, "no output image");
    memset(out, 0, sizeof *out);
    int rc = rn_frame_check(info, err);
    if (rc < 0)
        return rc;
    size_t px = rn_frame_pixels(info);
    if (is_monochrome(info)) {
        RnDisplay d;
        rc = rn_display_from_dataset(ds, info, &d, err);
        if (rc < 0)
            return rc;
        uint8_t *gray = malloc(px);
        if (!gray) {
            rn_display_free(&d);
            return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        }
        rc = rn_display_render_mono(&d, info, frame, frame_len, gray, err);
        rn_display_free(&d);
        if (rc < 0) {
            free(gray);
            return rc;
        }
        out->pixels = gray;
        out->channels = 1;
    } else {
        RnPalette pal;
        memset(&pal, 0, sizeof pal);
        if (rn_photometric_is(info, "PALETTE COLOR")) {
            rc = rn_palette_load(ds, &pal, err);
            if (rc < 0)
                return rc;
        }
        uint8_t *rgb = malloc(px * 3);
        if (!rgb) {
            rn_palette_free(&pal);
            return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        }
        rc = rn_color_render(info, &pal, frame, frame_len, rgb, err);
        rn_palette_free(&pal);
        if (rc < 0) {
            free(rgb);
            return rc;
        }
        out->pixels = rgb;
        out->channels = 3;
    }
    out->width = info->columns;
    out->height = info->rows;
    return 0;
}

int rn_pixel_modality(const RnDataset *ds, const RnImageInfo *info, const uint8_t *frame,
                      size_t frame_len, float *out, RnError *err)
{
    RnDisplay d;
    int rc = rn_display_from_dataset(ds, info, &d, err);
    if (rc < 0)
        return rc;
    rc = check_mono(info, frame, frame_len, err);
    if (rc == 0) {
        size_t px = rn_frame_pixels(info);
        for (size_t i = 0; i < px; i++)
            out[i] = (float)modality_value(&d, info, frame, i);
    }
    rn_display_free(&d);
    return rc;
}

int rn_png_write(const char *path, const RnRendered *img, RnError *err)
{
    if (!img || !img->pixels || img->width == 0 || img->height == 0 ||
        (img->channels != 1 && img->channels != 3))
        return rn_error_set(err, RN_ERR_INVALID, "no image to write");
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = img->width;
    pi.height = img->height;
    pi.format = img->channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
    png_int_32 stride = (png_int_32)(img->width * img->channels);
    png_alloc_size_t size = 0;
    if (!png_image_write_to_memory(&pi, NULL, &size, 0, img->pixels, stride, NULL))
        return rn_error_set(err, RN_ERR_IO, "PNG encoding: %s", pi.message);
    void *mem = malloc(size);
    if (!mem) {
        png_image_free(&pi);
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory (%zu bytes)", (size_t)size);
    }
    if (!png_image_write_to_memory(&pi, mem, &size, 0, img->pixels, stride, NULL)) {
        free(mem);
        return rn_error_set(err, RN_ERR_IO, "PNG encoding: %s", pi.message);
    }
    int rc = rn_file_write_atomic(path, mem, size, false, err);
    free(mem);
    return rc;
}
