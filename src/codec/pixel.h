/*
 * Helpers shared by radnode's own codec files (native.c, rle.c, jpegls.c,
 * j2k.c, color.c, render.c, codec.c): frame geometry with checked arithmetic,
 * sample packing, the colour models of PS3.3 C.7.6.3.1.2 (YBR_FULL,
 * YBR_FULL_422, YBR_PARTIAL_*, YBR_ICT/RCT) and palette colour lookup tables
 * (C.7.6.3.1.5-6, segmented palettes C.7.9.2), and the parameters of the
 * display pipeline (Modality LUT C.11.1, VOI LUT and window C.11.2).
 *
 * Not a public interface: the tests include it to reach the pieces that do
 * not need a dataset.
 */
#ifndef RN_CODEC_PIXEL_H
#define RN_CODEC_PIXEL_H

#include "radnode/codec.h"

#include <string.h>

/* Upper bound on one decoded frame, so that a hostile header (65535 x 65535
 * x 3 x 32 bits, or an RLE/JPEG "bomb") cannot make us allocate without limit. */
#define RN_FRAME_MAX_BYTES ((size_t)1 << 31)

/* Checks the fields that every decoder relies on: rows/columns > 0, samples
 * 1..4, bits allocated 1, 8, 16 or 32 (1 only with one sample), 1 <= bits
 * stored <= bits allocated, pixel representation 0/1, planar 0/1, and that a
 * frame is at most RN_FRAME_MAX_BYTES. */
int rn_frame_check(const RnImageInfo *info, RnError *err);
/* Bytes of one native frame (packed bits for 1 bit allocated); 0 if the
 * description is invalid or the size overflows RN_FRAME_MAX_BYTES. */
size_t rn_frame_bytes(const RnImageInfo *info);
/* Number of pixels, rows * columns (no overflow with 16-bit dimensions, but
 * RnImageInfo holds 32-bit ones, so it is checked). 0 on overflow. */
size_t rn_frame_pixels(const RnImageInfo *info);
bool rn_photometric_is(const RnImageInfo *info, const char *name);
void rn_photometric_set(RnImageInfo *info, const char *name);

/* Writes the value v as a little-endian sample of `bytes` (1, 2 or 4) bytes,
 * keeping the low bits (two's complement for negative values). */
static inline void rn_sample_put(uint8_t *p, unsigned bytes, int64_t v)
{
    uint32_t u = (uint32_t)v;
    p[0] = (uint8_t)u;
    if (bytes > 1)
        p[1] = (uint8_t)(u >> 8);
    if (bytes > 2) {
        p[2] = (uint8_t)(u >> 16);
        p[3] = (uint8_t)(u >> 24);
    }
}

/* Reads a stored sample: bytes 1, 2 or 4, little-endian, then keeps bits_stored
 * bits ending at high_bit and sign-extends when pixel_representation is 1. */
int64_t rn_sample_get(const RnImageInfo *info, const uint8_t *frame, size_t index);

/* Sign-extends the low `bits` bits of v. */
static inline int64_t rn_sign_extend(int64_t v, unsigned bits)
{
    if (bits == 0 || bits >= 64)
        return v;
    uint64_t m = (uint64_t)1 << (bits - 1);
    uint64_t u = (uint64_t)v & (((uint64_t)1 << bits) - 1);
    return (int64_t)((u ^ m) - m);
}

/* ---- colour (color.c) ---------------------------------------------------- */

/* YBR_FULL_422 as stored natively (PS3.3 C.7.6.3.1.2: Y1 Y2 Cb Cr per pair of
 * pixels) -> YBR_FULL, 3 interleaved samples per pixel. Source bytes needed:
 * ceil(pixels / 2) * 4 * bytes per sample. */
size_t rn_color_422_source_bytes(const RnImageInfo *info);
int rn_color_upsample_422(const RnImageInfo *info, const uint8_t *src, size_t len, uint8_t *dst,
                          size_t dst_len, RnError *err);
/* One pixel of YBR (8-bit samples) to RGB; photometric selects full or partial
 * range. */
void rn_color_ybr_full_to_rgb8(int y, int cb, int cr, uint8_t rgb[3]);
void rn_color_ybr_partial_to_rgb8(int y, int cb, int cr, uint8_t rgb[3]);

/* A palette colour lookup table, or a Modality/VOI LUT: `count` entries of
 * `bits` bits, the first one mapped from stored value `first`. */
typedef struct RnLut {
    uint32_t count;
    int32_t first;
    unsigned bits;
    uint16_t *data;
} RnLut;
void rn_lut_free(RnLut *lut);
/* LUT value for x (clamped to the table's range). */
static inline uint16_t rn_lut_at(const RnLut *lut, int64_t x)
{
    int64_t i = x - lut->first;
    if (i < 0)
        i = 0;
    if (i >= (int64_t)lut->count)
        i = (int64_t)lut->count - 1;
    return lut->data[i];
}
/* Builds a LUT from a descriptor (count with 0 meaning 65536, first mapped
 * value, bits) and its data as stored (8-bit entries packed in bytes, or
 * 16-bit words in the given byte order). */
int rn_lut_from_data(RnLut *lut, int64_t count, int64_t first, int64_t bits, bool first_signed,
                     const uint8_t *data, size_t len, bool big_endian, RnError *err);
/* Expands a segmented palette table (PS3.3 C.7.9.2: discrete, linear and
 * indirect segments, 16-bit words) into exactly `count` entries. */
int rn_lut_expand_segmented(const uint16_t *words, size_t nwords, uint16_t *out, uint32_t count,
                            RnError *err);

typedef struct RnPalette {
    RnLut lut[3];
} RnPalette;
int rn_palette_load(const RnDataset *ds, RnPalette *pal, RnError *err);
void rn_palette_free(RnPalette *pal);
/* Palette entry (any bits) scaled to 8 bits. */
uint8_t rn_lut_to8(const RnLut *lut, uint16_t v);

/* Colour frame (RGB, YBR_*, PALETTE COLOR) -> 8-bit RGB, width*height*3. */
int rn_color_render(const RnImageInfo *info, const RnPalette *pal, const uint8_t *frame, size_t len,
                    uint8_t *rgb, RnError *err);

/* ---- display (render.c) -------------------------------------------------- */

typedef enum RnVoiFunction {
    RN_VOI_LINEAR = 0,
    RN_VOI_LINEAR_EXACT,
    RN_VOI_SIGMOID,
} RnVoiFunction;

typedef struct RnDisplay {
    /* Modality LUT: a table if has_modality_lut, else rescale. */
    double slope, intercept;
    bool has_modality_lut;
    RnLut modality_lut;
    /* VOI: window, VOI LUT, or (neither) the frame's min/max. */
    bool has_window;
    double center, width;
    RnVoiFunction function;
    bool has_voi_lut;
    RnLut voi_lut;
    bool invert; /* MONOCHROME1 */
} RnDisplay;

void rn_display_init(RnDisplay *d);
void rn_display_free(RnDisplay *d);
int rn_display_from_dataset(const RnDataset *ds, const RnImageInfo *info, RnDisplay *d,
                            RnError *err);
/* The VOI window functions of PS3.3 C.11.2.1.2 / C.11.2.1.3, output in
 * [ymin, ymax] (real, not rounded). */
double rn_voi_window(RnVoiFunction f, double center, double width, double x, double ymin,
                     double ymax);
/* Modality values of a monochrome frame (rows*columns doubles). */
int rn_display_modality(const RnDisplay *d, const RnImageInfo *info, const uint8_t *frame,
                        size_t len, double *out, RnError *err);
/* Monochrome frame -> 8-bit gray, rows*columns bytes. */
int rn_display_render_mono(const RnDisplay *d, const RnImageInfo *info, const uint8_t *frame,
                           size_t len, uint8_t *gray, RnError *err);

#endif
