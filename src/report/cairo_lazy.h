/*
 * cairo, opened on first use: the PDF and Secondary Capture renderers are
 * the only users, and linking it (with X11, fontconfig, freetype) cost every
 * radnode process its load time (issue 2).
 * Every use in this module goes through rn_cairo, bound on first use by
 * rn_cairo_load() (src/core/lazylib.c); the module's entry points call it first.
 */
#ifndef RN_REPORT_CAIRO_LAZY_H
#define RN_REPORT_CAIRO_LAZY_H

#include "radnode/core.h"

#include <cairo.h>
#include <cairo-pdf.h>

#define RN_CAIRO_FUNCS(X) \
    X(cairo_arc) \
    X(cairo_clip) \
    X(cairo_close_path) \
    X(cairo_create) \
    X(cairo_destroy) \
    X(cairo_fill) \
    X(cairo_get_source) \
    X(cairo_image_surface_create) \
    X(cairo_image_surface_get_data) \
    X(cairo_image_surface_get_stride) \
    X(cairo_line_to) \
    X(cairo_move_to) \
    X(cairo_paint) \
    X(cairo_pattern_set_filter) \
    X(cairo_pdf_surface_create_for_stream) \
    X(cairo_pdf_surface_set_metadata) \
    X(cairo_rectangle) \
    X(cairo_restore) \
    X(cairo_save) \
    X(cairo_scale) \
    X(cairo_select_font_face) \
    X(cairo_set_font_size) \
    X(cairo_set_line_width) \
    X(cairo_set_source_rgb) \
    X(cairo_set_source_surface) \
    X(cairo_show_page) \
    X(cairo_show_text) \
    X(cairo_status) \
    X(cairo_status_to_string) \
    X(cairo_stroke) \
    X(cairo_stroke_preserve) \
    X(cairo_surface_destroy) \
    X(cairo_surface_finish) \
    X(cairo_surface_flush) \
    X(cairo_surface_mark_dirty) \
    X(cairo_surface_status) \
    X(cairo_text_extents) \
    X(cairo_text_path) \
    X(cairo_translate)

typedef struct RnCairoApi {
#define RN_LAZY_SLOT(f) __typeof__(f) *f;
    RN_CAIRO_FUNCS(RN_LAZY_SLOT)
#undef RN_LAZY_SLOT
} RnCairoApi;
extern RnCairoApi rn_cairo;

/* Binds libcairo.so.2 (once); 0 when ready, else an error naming the problem. */
int rn_cairo_load(RnError *err);

#ifndef RN_REPORT_CAIRO_LAZY_H_IMPL
#define cairo_arc (rn_cairo.cairo_arc)
#define cairo_clip (rn_cairo.cairo_clip)
#define cairo_close_path (rn_cairo.cairo_close_path)
#define cairo_create (rn_cairo.cairo_create)
#define cairo_destroy (rn_cairo.cairo_destroy)
#define cairo_fill (rn_cairo.cairo_fill)
#define cairo_get_source (rn_cairo.cairo_get_source)
#define cairo_image_surface_create (rn_cairo.cairo_image_surface_create)
#define cairo_image_surface_get_data (rn_cairo.cairo_image_surface_get_data)
#define cairo_image_surface_get_stride (rn_cairo.cairo_image_surface_get_stride)
#define cairo_line_to (rn_cairo.cairo_line_to)
#define cairo_move_to (rn_cairo.cairo_move_to)
#define cairo_paint (rn_cairo.cairo_paint)
#define cairo_pattern_set_filter (rn_cairo.cairo_pattern_set_filter)
#define cairo_pdf_surface_create_for_stream (rn_cairo.cairo_pdf_surface_create_for_stream)
#define cairo_pdf_surface_set_metadata (rn_cairo.cairo_pdf_surface_set_metadata)
#define cairo_rectangle (rn_cairo.cairo_rectangle)
#define cairo_restore (rn_cairo.cairo_restore)
#define cairo_save (rn_cairo.cairo_save)
#define cairo_scale (rn_cairo.cairo_scale)
#define cairo_select_font_face (rn_cairo.cairo_select_font_face)
#define cairo_set_font_size (rn_cairo.cairo_set_font_size)
#define cairo_set_line_width (rn_cairo.cairo_set_line_width)
#define cairo_set_source_rgb (rn_cairo.cairo_set_source_rgb)
#define cairo_set_source_surface (rn_cairo.cairo_set_source_surface)
#define cairo_show_page (rn_cairo.cairo_show_page)
#define cairo_show_text (rn_cairo.cairo_show_text)
#define cairo_status (rn_cairo.cairo_status)
#define cairo_status_to_string (rn_cairo.cairo_status_to_string)
#define cairo_stroke (rn_cairo.cairo_stroke)
#define cairo_stroke_preserve (rn_cairo.cairo_stroke_preserve)
#define cairo_surface_destroy (rn_cairo.cairo_surface_destroy)
#define cairo_surface_finish (rn_cairo.cairo_surface_finish)
#define cairo_surface_flush (rn_cairo.cairo_surface_flush)
#define cairo_surface_mark_dirty (rn_cairo.cairo_surface_mark_dirty)
#define cairo_surface_status (rn_cairo.cairo_surface_status)
#define cairo_text_extents (rn_cairo.cairo_text_extents)
#define cairo_text_path (rn_cairo.cairo_text_path)
#define cairo_translate (rn_cairo.cairo_translate)
#endif

#endif
