/*
 * The Secondary Capture Image Storage object (PS3.3 A.8.1: General Series
 * C.7.3.1, SC Equipment C.8.6.1, General Image C.7.6.1, Image Pixel C.7.6.3,
 * SC Image C.8.6.2) of the analysed image: the source frame through the
 * display pipeline (Modality and VOI LUT, include/radnode/codec.h), the
 * findings' overlays drawn on it and a legend panel written under it with
 * cairo, as 8-bit RGB with Burned In Annotation YES, in the source study, its
 * Source Image Sequence pointing at the original (PS3.3 C.7.6.1.1.4).
 */
#include "report/report_internal.h"

#include "radnode/codec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SOP_CLASS_SC "1.2.840.10008.5.1.4.1.1.7"
/* Largest side of the drawn image; bigger sources are scaled down to keep the object small. */
#define SC_MAX_SIDE 4096

/* Word-wraps text to max_width with the current font of cr. */
long rn_report_wrap(cairo_t *cr, const char *text, double max_width, char ***lines)
{
    *lines = NULL;
    long n = 0;
    size_t len = strlen(text);
    size_t start = 0;
    while (start < len) {
        /* Grow the line one character at a time; remember the last space. */
        size_t end = start, last_space = 0, best = start;
        while (end < len) {
            size_t cl = 1;
            unsigned char c = (unsigned char)text[end];
            if (c >= 0xF0) cl = 4;
            else if (c >= 0xE0) cl = 3;
            else if (c >= 0xC0) cl = 2;
            if (end + cl > len)
                cl = len - end;
            size_t next = end + cl;
            char *tmp = rn_strndup(text + start, next - start);
            if (!tmp)
                goto fail;
            cairo_text_extents_t ex;
            cairo_text_extents(cr, tmp, &ex);
            free(tmp);
            if (ex.x_advance > max_width && best > start)
                break;
            if (c == ' ')
                last_space = end;
            best = next;
            end = next;
            if (c == '\n')
                break;
        }
        size_t stop = best;
        if (stop < len && text[stop - 1] != '\n' && last_space > start &&
            (unsigned char)text[stop] < 0x80 && text[stop] != ' ')
            stop = last_space; /* break at the last space for Latin text */
        size_t keep = stop;
        while (keep > start && (text[keep - 1] == '\n' || text[keep - 1] == ' '))
            keep--;
        char **grown = rn_realloc(*lines, (size_t)(n + 1) * sizeof *grown);
        if (!grown)
            goto fail;
        *lines = grown;
        (*lines)[n] = rn_strndup(text + start, keep - start);
        if (!(*lines)[n])
            goto fail;
        n++;
        start = stop;
        while (start < len && (text[start] == ' ' || text[start] == '\n'))
            start++;
    }
    return n;
fail:
    rn_report_lines_free(*lines, n);
    *lines = NULL;
    return RN_ERR_NOMEM;
}

void rn_report_lines_free(char **lines, long n)
{
    for (long i = 0; lines && i < n; i++)
        free(lines[i]);
    free(lines);
}

static void set_colour(cairo_t *cr, size_t i)
{
    /* Bright, distinct colours that stay visible on grey radiographs. */
    static const double pal[][3] = {{1, 0.85, 0}, {0, 1, 0.4}, {1, 0.3, 0.9}, {0.2, 0.8, 1}};
    const double *c = pal[i % 4];
    cairo_set_source_rgb(cr, c[0], c[1], c[2]);
}

static void draw_overlay(cairo_t *cr, const RnOverlay *ov, double scale, double lw, double fs,
                         size_t i)
{
    set_colour(cr, i);
    cairo_set_line_width(cr, lw);
    const RnOverlayPoint *p = ov->points;
    double lx = p[0].x * scale, ly = p[0].y * scale;
    if (!strcmp(ov->kind, "box")) {
        double x0 = fmin(p[0].x, p[1].x) * scale, y0 = fmin(p[0].y, p[1].y) * scale;
        double x1 = fmax(p[0].x, p[1].x) * scale, y1 = fmax(p[0].y, p[1].y) * scale;
        cairo_rectangle(cr, x0, y0, x1 - x0, y1 - y0);
        cairo_stroke(cr);
        lx = x0;
        ly = y0;
    } else if (!strcmp(ov->kind, "polyline") || !strcmp(ov->kind, "polygon")) {
        cairo_move_to(cr, p[0].x * scale, p[0].y * scale);
        for (size_t k = 1; k < ov->point_count; k++)
            cairo_line_to(cr, p[k].x * scale, p[k].y * scale);
        if (!strcmp(ov->kind, "polygon"))
            cairo_close_path(cr);
        cairo_stroke(cr);
    } else if (!strcmp(ov->kind, "circle")) {
        cairo_arc(cr, lx, ly, ov->radius * scale, 0, 2 * M_PI);
        cairo_stroke(cr);
        ly -= ov->radius * scale;
    } else { /* point: a cross-hair with a gap so the pixel itself stays visible */
        for (size_t k = 0; k < ov->point_count; k++) {
            double x = p[k].x * scale, y = p[k].y * scale, r = lw * 4;
            cairo_move_to(cr, x - 2 * r, y);
            cairo_line_to(cr, x - r / 2, y);
            cairo_move_to(cr, x + r / 2, y);
            cairo_line_to(cr, x + 2 * r, y);
            cairo_move_to(cr, x, y - 2 * r);
            cairo_line_to(cr, x, y - r / 2);
            cairo_move_to(cr, x, y + r / 2);
            cairo_line_to(cr, x, y + 2 * r);
        }
        cairo_stroke(cr);
        ly -= lw * 8;
    }
    if (ov->label && ov->label[0]) {
        /* Label just above the shape, with a dark halo for contrast. */
        double y = ly - lw * 2 < fs ? ly + fs + lw * 2 : ly - lw * 2;
        cairo_move_to(cr, lx, y);
        cairo_text_path(cr, ov->label);
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_set_line_width(cr, fmax(2, fs / 6));
        cairo_stroke_preserve(cr);
        set_colour(cr, i);
        cairo_fill(cr);
    }
}

/* The legend's text, one entry per paragraph (wrapped later). */
static int legend_text(const RnReportCtx *ctx, RnBuf *paras, size_t *count)
{
    int rc = 0;
    *count = 0;
#define PARA(...)                                                                                  \
    do {                                                                                           \
        if (!rc)                                                                                   \
            rc = rn_buf_printf(paras, __VA_ARGS__);                                                \
        if (!rc)                                                                                   \
            rc = rn_buf_append_byte(paras, 0);                                                     \
        (*count)++;                                                                                \
    } while (0)
    PARA("%s %s (%s) - %s", ctx->alg_name, ctx->alg_version,
         ctx->model_name ? ctx->model_name : ctx->analyzer, rn_report_label(ctx, RN_L_TITLE));
    for (size_t i = 0; i < ctx->meas_count; i++) {
        const RnMeasurement *m = &ctx->meas[i];
        char v[48], u[48] = "";
        rn_report_format_value(m->value, v, sizeof v);
        if (m->has_uncertainty) {
            char uv[40];
            rn_report_format_value(m->uncertainty, uv, sizeof uv);
            snprintf(u, sizeof u, " \xC2\xB1 %s", uv);
        }
        if (strcmp(m->group, m->concept.meaning))
            PARA("%s - %s: %s%s %s", m->group, m->concept.meaning, v, u, m->ucum);
        else
            PARA("%s: %s%s %s", m->concept.meaning, v, u, m->ucum);
    }
    for (size_t i = 0; i < ctx->code_count; i++)
        PARA("%s: %s", ctx->codes[i].concept.meaning, ctx->codes[i].value.meaning);
    for (size_t i = 0; i < ctx->line_count; i++)
        PARA("%s", ctx->lines[i]);
    PARA("%s", rn_report_label(ctx, RN_L_PRELIMINARY));
    if (ctx->zh)
        PARA("%s", "PRELIMINARY - to be reviewed by a radiologist");
#undef PARA
    return rc;
}

static size_t sc_source(const RnReportCtx *ctx)
{
    for (size_t i = 0; i < ctx->overlay_count; i++)
        if (ctx->overlays[i].source_index >= 0)
            return rn_report_ctx_source(ctx, ctx->overlays[i].source_index);
    for (size_t i = 0; i < ctx->meas_count; i++)
        if (ctx->meas[i].source_index >= 0)
            return rn_report_ctx_source(ctx, ctx->meas[i].source_index);
    return rn_report_ctx_source(ctx, -1);
}

static uint32_t frame_of(const RnReportCtx *ctx, size_t src)
{
    json_t *srcs = json_object_get(ctx->findings, "sources");
    for (size_t i = 0; json_is_array(srcs) && i < json_array_size(srcs); i++) {
        json_t *s = json_array_get(srcs, i);
        const char *u = json_string_value(json_object_get(s, "sop_instance_uid"));
        json_t *f = json_object_get(s, "frame");
        if (u && !strcmp(u, ctx->sop_uid[src]) && json_is_integer(f) && json_integer_value(f) >= 1)
            return (uint32_t)(json_integer_value(f) - 1);
    }
    return 0;
}

/* Draws the image with overlays and legend; returns packed RGB (caller frees). */
static uint8_t *render(const RnReportCtx *ctx, size_t src, uint32_t *out_w, uint32_t *out_h,
                       RnError *err)
{
    RnDicomFile *f = ctx->sources[src].file;
    RnImageInfo info;
    size_t flen = 0;
    uint32_t frame = frame_of(ctx, src);
    uint8_t *pix = rn_pixel_decode_frame(f, frame, &info, &flen, err);
    if (!pix && frame) {
        frame = 0;
        pix = rn_pixel_decode_frame(f, 0, &info, &flen, err);
    }
    if (!pix)
        return NULL;
    RnRendered img = {0};
    int rc = rn_pixel_render(rn_dicom_file_dataset(f), &info, pix, flen, &img, err);
    free(pix);
    if (rc)
        return NULL;

    double scale = 1.0;
    uint32_t side = img.width > img.height ? img.width : img.height;
    if (side > SC_MAX_SIDE)
        scale = (double)SC_MAX_SIDE / side;
    int w = (int)floor(img.width * scale), h = (int)floor(img.height * scale);
    if (w < 1 || h < 1) {
        rn_rendered_free(&img);
        rn_error_set(err, RN_ERR_INVALID, "source image is empty");
        return NULL;
    }
    /* Text scales with the image, but stays readable on small images: widen the canvas. */
    int cw = w < 512 ? 512 : w;
    double fs = fmax(13.0, cw / 48.0);
    double lw = fmax(2.0, w / 350.0);
    double margin = fs * 0.6, line_h = fs * 1.35;

    /* Measure the legend on a scratch surface. */
    RnBuf paras = {0};
    size_t npara = 0;
    if (legend_text(ctx, &paras, &npara)) {
        rn_rendered_free(&img);
        rn_buf_free(&paras);
        rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    cairo_surface_t *scratch = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1);
    cairo_t *mc = cairo_create(scratch);
    cairo_select_font_face(mc, rn_report_font(ctx), CAIRO_FONT_SLANT_NORMAL,
                           CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(mc, fs);
    char ***wrapped = rn_calloc(npara ? npara : 1, sizeof *wrapped);
    long *nl = rn_calloc(npara ? npara : 1, sizeof *nl);
    long total = 0;
    const char *p = (const char *)paras.data;
    for (size_t i = 0; wrapped && nl && i < npara; i++) {
        nl[i] = rn_report_wrap(mc, p, cw - 2 * margin, &wrapped[i]);
        if (nl[i] < 0)
            nl[i] = 0;
        total += nl[i];
        p += strlen(p) + 1;
    }
    cairo_destroy(mc);
    cairo_surface_destroy(scratch);
    int legend_h = (int)ceil(total * line_h + 2 * margin);
    int ch = h + legend_h;
    if (ch > 65535)
        ch = 65535; /* Rows is US */

    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, cw, ch);
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_paint(cr);
    /* The source pixels (scaled when large) centred at the top. */
    cairo_surface_t *src_s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)img.width,
                                                        (int)img.height);
    cairo_surface_flush(src_s);
    uint8_t *sd = cairo_image_surface_get_data(src_s);
    int sstride = cairo_image_surface_get_stride(src_s);
    for (uint32_t y = 0; sd && y < img.height; y++) {
        uint32_t *row = (uint32_t *)(sd + (size_t)y * sstride);
        for (uint32_t x = 0; x < img.width; x++) {
            const uint8_t *q = img.pixels + ((size_t)y * img.width + x) * img.channels;
            uint32_t r = q[0], g = img.channels == 3 ? q[1] : q[0], b = img.channels == 3 ? q[2] : q[0];
            row[x] = (r << 16) | (g << 8) | b;
        }
    }
    cairo_surface_mark_dirty(src_s);
    double ox = (cw - w) / 2.0;
    cairo_save(cr);
    cairo_translate(cr, ox, 0);
    cairo_scale(cr, scale, scale);
    cairo_set_source_surface(cr, src_s, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_GOOD);
    cairo_paint(cr);
    cairo_restore(cr);
    cairo_surface_destroy(src_s);
    rn_rendered_free(&img);

    cairo_select_font_face(cr, rn_report_font(ctx), CAIRO_FONT_SLANT_NORMAL,
                           CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, fs);
    cairo_save(cr);
    cairo_translate(cr, ox, 0);
    cairo_rectangle(cr, 0, 0, w, h);
    cairo_clip(cr);
    for (size_t i = 0; i < ctx->overlay_count; i++) {
        const RnOverlay *ov = &ctx->overlays[i];
        if (ov->source_index >= 0 && rn_report_ctx_source(ctx, ov->source_index) != src)
            continue;
        draw_overlay(cr, ov, scale, lw, fs, i);
    }
    cairo_restore(cr);

    /* Legend panel. */
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    cairo_rectangle(cr, 0, h, cw, legend_h);
    cairo_fill(cr);
    double y = h + margin + fs;
    for (size_t i = 0; wrapped && nl && i < npara; i++) {
        bool last = i + 1 == npara || (ctx->zh && i + 2 == npara);
        if (last)
            cairo_set_source_rgb(cr, 1, 0.6, 0.2); /* the preliminary statement stands out */
        else
            cairo_set_source_rgb(cr, 1, 1, 1);
        for (long k = 0; k < nl[i]; k++) {
            cairo_move_to(cr, margin, y);
            cairo_show_text(cr, wrapped[i][k]);
            y += line_h;
        }
        rn_report_lines_free(wrapped[i], nl[i]);
    }
    free(wrapped);
    free(nl);
    rn_buf_free(&paras);
    cairo_destroy(cr);
    cairo_surface_flush(s);

    uint8_t *rgb = NULL;
    if (cairo_surface_status(s) == CAIRO_STATUS_SUCCESS)
        rgb = rn_malloc((size_t)cw * ch * 3 + 1);
    if (rgb) {
        const uint8_t *data = cairo_image_surface_get_data(s);
        int stride = cairo_image_surface_get_stride(s);
        for (int yy = 0; yy < ch; yy++) {
            const uint32_t *row = (const uint32_t *)(data + (size_t)yy * stride);
            uint8_t *o = rgb + (size_t)yy * cw * 3;
            for (int x = 0; x < cw; x++) {
                o[3 * x] = (uint8_t)(row[x] >> 16);
                o[3 * x + 1] = (uint8_t)(row[x] >> 8);
                o[3 * x + 2] = (uint8_t)row[x];
            }
        }
        *out_w = (uint32_t)cw;
        *out_h = (uint32_t)ch;
    } else {
        rn_error_set(err, RN_ERR_NOMEM, "drawing the secondary capture failed");
    }
    cairo_surface_destroy(s);
    return rgb;
}

RnDataset *rn_report_build_sc(const json_t *findings, const RnReportSource *sources,
                              size_t source_count, const RnReportOptions *opt, RnError *err)
{
    RnReportCtx ctx;
    RnDataset *ds = NULL;
    uint8_t *rgb = NULL;
    int rc = rn_report_ctx_init(&ctx, findings, sources, source_count, opt, err);
    if (rc)
        goto done;
    if (!ctx.source_count) {
        rc = rn_error_set(err, RN_ERR_INVALID, "the secondary capture needs a source image");
        goto done;
    }
    size_t src = sc_source(&ctx);
    uint32_t w = 0, h = 0;
    rgb = render(&ctx, src, &w, &h, err);
    if (!rgb) {
        rc = err && err->code ? err->code : RN_ERR_INVALID;
        goto done;
    }
    ds = rn_dataset_create();
    if (!ds) {
        rc = rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        goto done;
    }
    char desc[80];
    snprintf(desc, sizeof desc, "%s overlay (preliminary)", ctx.alg_name);
    char derivation[200];
    snprintf(derivation, sizeof derivation, "Findings of %s %s drawn on the source image",
             ctx.alg_name, ctx.alg_version);
    if ((rc = rn_report_common(&ctx, ds, RN_REPORT_SC, SOP_CLASS_SC, "OT", desc, err)))
        goto done;
    const RnDataset *sds = rn_dicom_file_dataset(ctx.sources[src].file);
    char orientation[65] = "";
    rn_dataset_get_string(sds, RN_TAG(0x0020, 0x0020), 0, orientation, sizeof orientation, NULL);
    char *all_orient = rn_dataset_get_string_all(sds, RN_TAG(0x0020, 0x0020), NULL);
    /* SC Equipment (C.8.6.1): Workstation. General Image (C.7.6.1). */
    if ((rc = rn_dataset_set_string(ds, RN_TAG(0x0008, 0x0064), RN_VR_CS, "WSD", err)) ||
        (rc = rn_dataset_set_string(ds, RN_TAG(0x0018, 0x1016), RN_VR_LO, "radnode", err)) ||
        (rc = rn_dataset_set_string(ds, RN_TAG(0x0018, 0x1018), RN_VR_LO, "radnode", err)) ||
        (rc = rn_dataset_set_string(ds, RN_TAG(0x0018, 0x1019), RN_VR_LO, RN_VERSION, err)) ||
        (rc = rn_dataset_set_string(ds, RN_TAG(0x0018, 0x1012), RN_VR_DA, ctx.date, err)) ||
        (rc = rn_dataset_set_string(ds, RN_TAG(0x0018, 0x1014), RN_VR_TM, ctx.time, err)) ||
        (rc = rn_dataset_set_string(ds, RN_TAG_ImageType, RN_VR_CS, "DERIVED\\SECONDARY", err)) ||
        (rc = rn_dataset_set_string(ds, RN_TAG(0x0020, 0x0020), RN_VR_CS,
                                    all_orient ? all_orient : "", err)) ||
        (rc = rn_report_set_text(ds, RN_TAG(0x0008, 0x2111), RN_VR_ST, derivation, 1024, err)) ||
        (rc = rn_dataset_set_string(ds, RN_TAG(0x0028, 0x0301), RN_VR_CS, "YES", err)) ||
        (rc = rn_dataset_set_string(ds, RN_TAG(0x0028, 0x2110), RN_VR_CS, "00", err)))
    {
        free(all_orient);
        goto done;
    }
    free(all_orient);
    /* General Series Laterality (2C): the source's, from Laterality or Image Laterality. */
    char lat[17] = "";
    if (rn_dataset_get_string(sds, RN_TAG(0x0020, 0x0060), 0, lat, sizeof lat, NULL) || !lat[0])
        rn_dataset_get_string(sds, RN_TAG(0x0020, 0x0062), 0, lat, sizeof lat, NULL);
    if (strcmp(lat, "R") && strcmp(lat, "L"))
        lat[0] = 0;
    if ((rc = rn_dataset_set_string(ds, RN_TAG(0x0020, 0x0060), RN_VR_CS, lat, err)))
        goto done;
    RnDataset *ref = rn_dataset_add_item(ds, RN_TAG(0x0008, 0x2112), err);
    if (!ref ||
        (rc = rn_dataset_set_string(ref, RN_TAG(0x0008, 0x1150), RN_VR_UI, ctx.sop_class[src],
                                    err)) ||
        (rc = rn_dataset_set_string(ref, RN_TAG(0x0008, 0x1155), RN_VR_UI, ctx.sop_uid[src],
                                    err))) {
        rc = rc ? rc : RN_ERR_NOMEM;
        goto done;
    }
    /* Image Pixel (C.7.6.3): 8-bit RGB, interleaved. */
    if ((rc = rn_dataset_set_uint(ds, RN_TAG_SamplesPerPixel, RN_VR_US, 3, err)) ||
        (rc = rn_dataset_set_string(ds, RN_TAG_PhotometricInterpretation, RN_VR_CS, "RGB", err)) ||
        (rc = rn_dataset_set_uint(ds, RN_TAG_PlanarConfiguration, RN_VR_US, 0, err)) ||
        (rc = rn_dataset_set_uint(ds, RN_TAG_Rows, RN_VR_US, h, err)) ||
        (rc = rn_dataset_set_uint(ds, RN_TAG_Columns, RN_VR_US, w, err)) ||
        (rc = rn_dataset_set_uint(ds, RN_TAG_BitsAllocated, RN_VR_US, 8, err)) ||
        (rc = rn_dataset_set_uint(ds, RN_TAG_BitsStored, RN_VR_US, 8, err)) ||
        (rc = rn_dataset_set_uint(ds, RN_TAG_HighBit, RN_VR_US, 7, err)) ||
        (rc = rn_dataset_set_uint(ds, RN_TAG_PixelRepresentation, RN_VR_US, 0, err)))
        goto done;
    size_t n = (size_t)w * h * 3;
    if (n % 2)
        rgb[n++] = 0; /* PS3.5 8.1.1: OB padded to even length */
    if ((rc = rn_dataset_set_bytes_take(ds, RN_TAG_PixelData, RN_VR_OB, rgb, n, err)))
        goto done;
    rgb = NULL;
done:
    free(rgb);
    rn_report_ctx_free(&ctx);
    if (rc) {
        rn_dataset_destroy(ds);
        return NULL;
    }
    return ds;
}
