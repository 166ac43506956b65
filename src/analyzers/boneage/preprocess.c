/*
 * Bone-age preprocessing: from frame 1 of a DX, CR or SC hand radiograph at
 * any resolution to the network input, reproducing how the training images
 * were made (../shared/data/boneage-rsna-299px/SOURCE.md: the whole portrait
 * original squashed to 299x299 with a plain bilinear resize, which the data
 * show to be Pillow's Image.resize(BILINEAR)) and then the specification in
 * tools/boneage/common.py (299 -> 256 bilinear with half-pixel centres,
 * rounded to 8 bits, (x / 255 - 0.5) / 0.25).
 *
 * Steps: 8-bit rendering (Modality LUT, VOI LUT or window, MONOCHROME1
 * inversion: PS3.3 C.11; 8-bit data without a window are taken as they are,
 * deeper data without one are stretched between robust percentiles); removal
 * of uniform borders (padding, digital shutters); hand localisation by Otsu's
 * threshold on a downsampled copy and the largest connected component;
 * removal of burned-in markers (small bright objects apart from the hand,
 * filled with the surrounding background); plausibility checks that lead to a
 * refusal (low contrast, saturation, no hand-sized object, two hands, no
 * fingers); orientation (fingers up: the end of the hand whose cross-sections
 * cut three or more fingers, and the image edge the forearm leaves by);
 * laterality (the thumb, the narrow separate run below the finger webs, is on
 * the image's right for a left hand seen PA; a right hand is mirrored).
 *
 * Rotations and mirroring are exact pixel permutations, so a rotated or
 * mirrored input gives the same network input up to the cell grid of the
 * analysis copy (which only affects marker filling).
 */
#include "analyzers/boneage/boneage_internal.h"
#include "radnode/codec.h"
#include "radnode/image.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define MIN_SIDE 64u       /* smaller images cannot show a hand's bones */
#define MAX_SIDE 16384u    /* larger than any detector; bounds the allocations */
#define ANALYSIS_SIDE 256u /* long side of the analysis copy */
#define BORDER_TOLERANCE 2 /* a border row or column varies by at most this (8-bit) */
/* p99 - p1 of the analysis copy below which nothing can be read. Faint 8-bit film scans of
 * 18-23 are still read by a radiologist (and by the model, which was trained on them); a
 * blank or fogged image is under 10. */
#define MIN_CONTRAST 12

int rn_boneage_image_init(RnBoneageImage *im, uint32_t width, uint32_t height, RnError *err)
{
    im->width = im->height = 0;
    im->pixels = NULL;
    if (!width || !height || width > MAX_SIDE || height > MAX_SIDE)
        return rn_error_set(err, RN_ERR_LIMIT, "boneage: image size %ux%u out of range", width,
                            height);
    im->pixels = calloc((size_t)width * height, 1);
    if (!im->pixels)
        return rn_error_set(err, RN_ERR_NOMEM, "boneage: image buffer");
    im->width = width;
    im->height = height;
    return 0;
}

void rn_boneage_image_free(RnBoneageImage *im)
{
    if (!im)
        return;
    free(im->pixels);
    im->pixels = NULL;
    im->width = im->height = 0;
}

/* ---- rendering ----------------------------------------------------------------- */

static bool has_voi(const RnDataset *ds)
{
    const RnElement *seq = rn_dataset_get(ds, RN_TAG_VOILUTSequence);
    if (seq && rn_element_item_count(seq) > 0)
        return true;
    double c, w;
    return !rn_dataset_get_double(ds, RN_TAG_WindowCenter, 0, &c, NULL) &&
           !rn_dataset_get_double(ds, RN_TAG_WindowWidth, 0, &w, NULL) && w >= 1.0;
}

/* Linear map of [lo, hi] to 0..255. */
static uint8_t stretch(float v, double lo, double hi)
{
    double t = (v - lo) / (hi - lo) * 255.0;
    if (!(t > 0))
        return 0;
    if (t >= 255)
        return 255;
    return (uint8_t)floor(t + 0.5);
}

static int render_percentiles(const float *v, size_t n, uint8_t *out, RnError *err)
{
    float lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (isfinite(v[i])) {
            lo = v[i] < lo ? v[i] : lo;
            hi = v[i] > hi ? v[i] : hi;
        }
    }
    if (!(hi > lo)) {
        memset(out, 0, n);
        return 0;
    }
    enum { BINS = 4096 };
    size_t *hist = calloc(BINS, sizeof *hist);
    if (!hist)
        return rn_error_set(err, RN_ERR_NOMEM, "boneage: histogram");
    double scale = (BINS - 1) / ((double)hi - lo);
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i])) {
            hist[(size_t)((v[i] - lo) * scale)]++;
            total++;
        }
    /* 0.5 % and 99.5 %: robust against dead pixels and the unexposed rim */
    size_t cut = total / 200, acc = 0, b0 = 0, b1 = BINS - 1;
    for (b0 = 0; b0 < BINS - 1 && (acc += hist[b0]) <= cut; b0++)
        ;
    acc = 0;
    for (b1 = BINS - 1; b1 > 0 && (acc += hist[b1]) <= cut; b1--)
        ;
    free(hist);
    double plo = lo + b0 / scale, phi = lo + (b1 + 1) / scale;
    if (!(phi > plo))
        phi = plo + 1;
    for (size_t i = 0; i < n; i++)
        out[i] = isfinite(v[i]) ? stretch(v[i], plo, phi) : 0;
    return 0;
}

int rn_boneage_render(RnDicomFile *f, RnBoneageImage *out, RnBoneageRenderInfo *info,
                      RnError *err)
{
    memset(info, 0, sizeof *info);
    out->pixels = NULL;
    out->width = out->height = 0;
    const RnDataset *ds = rn_dicom_file_dataset(f);
    RnImageInfo ii;
    size_t len = 0;
    uint8_t *frame = rn_pixel_decode_frame(f, 0, &ii, &len, err);
    if (!frame)
        return err && err->code ? err->code : RN_ERR_PARSE;
    int rc = 0;
    if (ii.rows < MIN_SIDE || ii.columns < MIN_SIDE || ii.rows > MAX_SIDE ||
        ii.columns > MAX_SIDE) {
        rc = rn_error_set(err, RN_ERR_UNSUPPORTED, "boneage: image of %ux%u pixels is too %s",
                          ii.columns, ii.rows, ii.rows < MIN_SIDE || ii.columns < MIN_SIDE
                                                   ? "small" : "large");
        goto done;
    }
    snprintf(info->photometric, sizeof info->photometric, "%s", ii.photometric);
    bool mono = !strncmp(ii.photometric, "MONOCHROME", 10) && ii.samples_per_pixel == 1;
    info->inverted = mono && !strcmp(ii.photometric, "MONOCHROME1");
    if ((rc = rn_boneage_image_init(out, ii.columns, ii.rows, err)) < 0)
        goto done;
    size_t n = (size_t)ii.rows * ii.columns;
    if (!mono || has_voi(ds)) {
        /* the display pipeline applies the VOI LUT / window and MONOCHROME1 */
        RnRendered r;
        if ((rc = rn_pixel_render(ds, &ii, frame, len, &r, err)) < 0)
            goto done;
        if (r.width != ii.columns || r.height != ii.rows || (r.channels != 1 && r.channels != 3)) {
            rn_rendered_free(&r);
            rc = rn_error_set(err, RN_ERR_UNSUPPORTED, "boneage: unexpected rendering");
            goto done;
        }
        if (r.channels == 1) {
            memcpy(out->pixels, r.pixels, n);
        } else {
            /* ITU-R 601-2 luma, as PIL's convert("L") that made the training images */
            for (size_t i = 0; i < n; i++) {
                const uint8_t *p = r.pixels + 3 * i;
                out->pixels[i] = (uint8_t)((p[0] * 299u + p[1] * 587u + p[2] * 114u + 500u) / 1000u);
            }
        }
        rn_rendered_free(&r);
        info->voi = mono ? RN_BONEAGE_VOI_WINDOW : RN_BONEAGE_VOI_COLOR;
        goto done;
    }
    float *v = malloc(n * sizeof *v);
    if (!v) {
        rc = rn_error_set(err, RN_ERR_NOMEM, "boneage: modality buffer");
        goto done;
    }
    if ((rc = rn_pixel_modality(ds, &ii, frame, len, v, err)) < 0) {
        free(v);
        goto done;
    }
    bool byte_range = ii.bits_stored <= 8;
    for (size_t i = 0; byte_range && i < n; i++)
        byte_range = v[i] >= 0 && v[i] <= 255;
    if (byte_range) {
        /* 8-bit data without a window are already a display rendering (as
         * the training images were): used as they are */
        for (size_t i = 0; i < n; i++)
            out->pixels[i] = (uint8_t)v[i];
        info->voi = RN_BONEAGE_VOI_IDENTITY;
    } else {
        rc = render_percentiles(v, n, out->pixels, err);
        info->voi = RN_BONEAGE_VOI_PERCENTILES;
    }
    free(v);
    if (rc == 0 && info->inverted)
        for (size_t i = 0; i < n; i++)
            out->pixels[i] = (uint8_t)(255 - out->pixels[i]);
done:
    free(frame);
    if (rc < 0)
        rn_boneage_image_free(out);
    return rc;
}

/* ---- laterality from the header -------------------------------------------------- */

static RnBoneageSide side_word(const char *s)
{
    /* words are maximal runs of letters; Chinese 左/右 anywhere */
    if (strstr(s, "\xe5\xb7\xa6")) /* 左 */
        return strstr(s, "\xe5\x8f\xb3") ? RN_BONEAGE_SIDE_UNKNOWN : RN_BONEAGE_SIDE_LEFT;
    if (strstr(s, "\xe5\x8f\xb3")) /* 右 */
        return RN_BONEAGE_SIDE_RIGHT;
    RnBoneageSide found = RN_BONEAGE_SIDE_UNKNOWN;
    const char *p = s;
    while (*p) {
        while (*p && !isalpha((unsigned char)*p))
            p++;
        const char *w = p;
        while (*p && isalpha((unsigned char)*p))
            p++;
        size_t n = (size_t)(p - w);
        if (!n)
            break;
        char word[8];
        if (n >= sizeof word)
            continue;
        for (size_t i = 0; i < n; i++)
            word[i] = (char)toupper((unsigned char)w[i]);
        word[n] = 0;
        RnBoneageSide s1 = RN_BONEAGE_SIDE_UNKNOWN;
        if (!strcmp(word, "L") || !strcmp(word, "LT") || !strcmp(word, "LEFT"))
            s1 = RN_BONEAGE_SIDE_LEFT;
        else if (!strcmp(word, "R") || !strcmp(word, "RT") || !strcmp(word, "RIGHT"))
            s1 = RN_BONEAGE_SIDE_RIGHT;
        if (s1 != RN_BONEAGE_SIDE_UNKNOWN) {
            if (found != RN_BONEAGE_SIDE_UNKNOWN && found != s1)
                return RN_BONEAGE_SIDE_UNKNOWN; /* both sides named: no hint */
            found = s1;
        }
    }
    return found;
}

RnBoneageSide rn_boneage_dicom_side(const RnDataset *ds, char *where, size_t where_size)
{
    static const struct {
        RnTag tag;
        const char *name;
        bool coded; /* CS "L"/"R" (and "B", "U") */
    } src[] = {
        {RN_TAG(0x0020, 0x0062), "ImageLaterality", true},
        {RN_TAG(0x0020, 0x0060), "Laterality", true},
        {RN_TAG_SeriesDescription, "SeriesDescription", false},
        {RN_TAG(0x0018, 0x1030), "ProtocolName", false},
        {RN_TAG_StudyDescription, "StudyDescription", false},
    };
    if (where && where_size)
        where[0] = 0;
    for (size_t i = 0; i < sizeof src / sizeof src[0]; i++) {
        char v[256] = "";
        if (rn_dataset_get_string(ds, src[i].tag, 0, v, sizeof v, NULL) < 0 || !v[0])
            continue;
        RnBoneageSide s = RN_BONEAGE_SIDE_UNKNOWN;
        if (src[i].coded) {
            char c = (char)toupper((unsigned char)v[0]);
            s = c == 'L' ? RN_BONEAGE_SIDE_LEFT : c == 'R' ? RN_BONEAGE_SIDE_RIGHT
                                                            : RN_BONEAGE_SIDE_UNKNOWN;
        } else {
            s = side_word(v);
        }
        if (s != RN_BONEAGE_SIDE_UNKNOWN) {
            if (where && where_size)
                rn_format(where, where_size, "%s", src[i].name);
            return s;
        }
    }
    return RN_BONEAGE_SIDE_UNKNOWN;
}

/* ---- resampling ----------------------------------------------------------------- */

#define PIL_PRECISION_BITS (32 - 8 - 2)

/* Pillow's precompute_coeffs + normalize_coeffs_8bpc (libImaging/Resample.c)
 * for the bilinear filter (support 1). bounds: 2 per output; k: ksize per output. */
static int pil_coeffs(uint32_t in_size, uint32_t out_size, int **bounds_out, int32_t **k_out,
                      int *ksize_out)
{
    double scale = (double)in_size / out_size, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    int *bounds = malloc(out_size * 2 * sizeof *bounds);
    double *pre = malloc((size_t)out_size * ksize * sizeof *pre);
    int32_t *k = malloc((size_t)out_size * ksize * sizeof *k);
    if (!bounds || !pre || !k) {
        free(bounds);
        free(pre);
        free(k);
        return RN_ERR_NOMEM;
    }
    for (uint32_t xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0)
            xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > (int)in_size)
            xmax = (int)in_size;
        xmax -= xmin;
        if (xmax > ksize)
            xmax = ksize; /* cannot happen (support bounds it); keeps the writes in range */
        double *kk = pre + (size_t)xx * ksize;
        int x;
        for (x = 0; x < xmax; x++) {
            double t = fabs((x + xmin - center + 0.5) * ss);
            double w = t < 1.0 ? 1.0 - t : 0.0;
            kk[x] = w;
            ww += w;
        }
        for (x = 0; x < xmax; x++)
            if (ww != 0.0)
                kk[x] /= ww;
        for (; x < ksize; x++)
            kk[x] = 0;
        bounds[2 * xx] = xmin;
        bounds[2 * xx + 1] = xmax;
    }
    for (size_t i = 0; i < (size_t)out_size * ksize; i++)
        k[i] = pre[i] < 0 ? (int32_t)(-0.5 + pre[i] * (1 << PIL_PRECISION_BITS))
                          : (int32_t)(0.5 + pre[i] * (1 << PIL_PRECISION_BITS));
    free(pre);
    *bounds_out = bounds;
    *k_out = k;
    *ksize_out = ksize;
    return 0;
}

static uint8_t pil_clip8(int64_t v)
{
    if (v <= 0)
        return 0;
    v >>= PIL_PRECISION_BITS;
    return v >= 255 ? 255 : (uint8_t)v;
}

int rn_boneage_resize_pil(const uint8_t *src, uint32_t sw, uint32_t sh, uint8_t *dst, uint32_t dw,
                          uint32_t dh, RnError *err)
{
    if (!sw || !sh || !dw || !dh || sw > MAX_SIDE || sh > MAX_SIDE || dw > MAX_SIDE ||
        dh > MAX_SIDE)
        return rn_error_set(err, RN_ERR_INVALID, "boneage: resize sizes");
    int *bh = NULL, *bv = NULL;
    int32_t *kh = NULL, *kv = NULL;
    int ksh, ksv;
    uint8_t *tmp = NULL;
    int rc = RN_ERR_NOMEM;
    if (pil_coeffs(sw, dw, &bh, &kh, &ksh) || pil_coeffs(sh, dh, &bv, &kv, &ksv))
        goto out;
    /* Pillow resamples only the source rows the vertical pass uses */
    uint32_t y_first = (uint32_t)bv[0];
    uint32_t y_last = (uint32_t)(bv[2 * (dh - 1)] + bv[2 * (dh - 1) + 1]);
    if (y_last > sh || y_last <= y_first) {
        rc = RN_ERR_INVALID;
        goto out;
    }
    uint32_t th = y_last - y_first;
    tmp = malloc((size_t)dw * th);
    if (!tmp)
        goto out;
    for (uint32_t y = 0; y < th; y++) {
        const uint8_t *row = src + (size_t)(y + y_first) * sw;
        for (uint32_t x = 0; x < dw; x++) {
            const int32_t *k = kh + (size_t)x * ksh;
            int64_t ss = 1 << (PIL_PRECISION_BITS - 1);
            for (int i = 0; i < bh[2 * x + 1]; i++)
                ss += (int64_t)row[bh[2 * x] + i] * k[i];
            tmp[(size_t)y * dw + x] = pil_clip8(ss);
        }
    }
    for (uint32_t y = 0; y < dh; y++) {
        const int32_t *k = kv + (size_t)y * ksv;
        int ymin = bv[2 * y] - (int)y_first, ymax = bv[2 * y + 1];
        for (uint32_t x = 0; x < dw; x++) {
            int64_t ss = 1 << (PIL_PRECISION_BITS - 1);
            for (int i = 0; i < ymax; i++)
                ss += (int64_t)tmp[(size_t)(ymin + i) * dw + x] * k[i];
            dst[(size_t)y * dw + x] = pil_clip8(ss);
        }
    }
    rc = 0;
out:
    free(bh);
    free(bv);
    free(kh);
    free(kv);
    free(tmp);
    return rc ? rn_error_set(err, rc, "boneage: resize failed") : 0;
}

typedef struct AxisWeights {
    uint32_t *i0, *i1;
    double *w;
} AxisWeights;

static int axis_weights(uint32_t n_in, uint32_t n_out, AxisWeights *a)
{
    a->i0 = malloc(n_out * sizeof *a->i0);
    a->i1 = malloc(n_out * sizeof *a->i1);
    a->w = malloc(n_out * sizeof *a->w);
    if (!a->i0 || !a->i1 || !a->w)
        return RN_ERR_NOMEM;
    double scale = (double)n_in / n_out;
    for (uint32_t d = 0; d < n_out; d++) {
        double s = (d + 0.5) * scale - 0.5;
        if (s < 0)
            s = 0;
        double f = floor(s);
        uint32_t i0 = (uint32_t)f;
        if (i0 > n_in - 1)
            i0 = n_in - 1;
        a->i0[d] = i0;
        a->i1[d] = i0 + 1 < n_in ? i0 + 1 : n_in - 1;
        a->w[d] = s - i0;
    }
    return 0;
}

static void axis_free(AxisWeights *a)
{
    free(a->i0);
    free(a->i1);
    free(a->w);
}

int rn_boneage_resize_spec(const uint8_t *src, uint32_t sw, uint32_t sh, uint8_t *dst, uint32_t dw,
                           uint32_t dh, RnError *err)
{
    if (!sw || !sh || !dw || !dh || sw > MAX_SIDE || sh > MAX_SIDE || dw > MAX_SIDE ||
        dh > MAX_SIDE)
        return rn_error_set(err, RN_ERR_INVALID, "boneage: resize sizes");
    AxisWeights ax = {0}, ay = {0};
    double *t = malloc((size_t)sh * dw * sizeof *t);
    int rc = RN_ERR_NOMEM;
    if (!t || axis_weights(sw, dw, &ax) || axis_weights(sh, dh, &ay))
        goto out;
    for (uint32_t y = 0; y < sh; y++) /* along x */
        for (uint32_t x = 0; x < dw; x++) {
            const uint8_t *r = src + (size_t)y * sw;
            t[(size_t)y * dw + x] = r[ax.i0[x]] * (1.0 - ax.w[x]) + r[ax.i1[x]] * ax.w[x];
        }
    for (uint32_t y = 0; y < dh; y++) /* along y, then rounding (spec steps 2-3) */
        for (uint32_t x = 0; x < dw; x++) {
            double v = t[(size_t)ay.i0[y] * dw + x] * (1.0 - ay.w[y]) +
                       t[(size_t)ay.i1[y] * dw + x] * ay.w[y];
            v = floor(v + 0.5);
            dst[(size_t)y * dw + x] = v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)v;
        }
    rc = 0;
out:
    free(t);
    axis_free(&ax);
    axis_free(&ay);
    return rc ? rn_error_set(err, rc, "boneage: resize buffers") : 0;
}

void rn_boneage_normalise(const uint8_t *u8, size_t n, float *out)
{
    for (size_t i = 0; i < n; i++) {
        float x = (float)u8[i] / 255.0f;
        out[i] = (x - 0.5f) / 0.25f;
    }
}

/* out = in rotated 90 degrees counter-clockwise (numpy rot90, k = 1): out[y][x] = in[x][n-1-y] */
static void rot_ccw(const uint8_t *in, uint32_t n, uint8_t *out)
{
    for (uint32_t y = 0; y < n; y++)
        for (uint32_t x = 0; x < n; x++)
            out[(size_t)y * n + x] = in[(size_t)x * n + (n - 1 - y)];
}

static void mirror_lr(const uint8_t *in, uint32_t n, uint8_t *out)
{
    for (uint32_t y = 0; y < n; y++)
        for (uint32_t x = 0; x < n; x++)
            out[(size_t)y * n + x] = in[(size_t)y * n + (n - 1 - x)];
}

/* Applies the ops in order, ping-ponging between out and a scratch copy so
 * that the result lands in out. ops: 'm' mirror, 'r' rotate ccw. */
static void apply_ops(const uint8_t *in, uint32_t n, const char *ops, uint8_t *out)
{
    size_t plane = (size_t)n * n, count = strlen(ops);
    uint8_t *tmp = count > 1 ? malloc(plane) : NULL;
    if (count > 1 && !tmp) {        /* no memory: identity is the safe answer */
        memcpy(out, in, plane);
        return;
    }
    /* the last op must write into out: choose the first destination by parity */
    const uint8_t *src = in;
    for (size_t i = 0; i < count; i++) {
        uint8_t *dst = ((count - 1 - i) % 2 == 0) ? out : tmp;
        if (ops[i] == 'm')
            mirror_lr(src, n, dst);
        else
            rot_ccw(src, n, dst);
        src = dst;
    }
    if (!count)
        memcpy(out, in, plane);
    free(tmp);
}

void rn_boneage_symmetry(const uint8_t *in, uint32_t n, int cls, uint8_t *out)
{
    char ops[8] = "";
    int k = (cls / 2) & 3, m = cls & 1, o = 0;
    if (m)
        ops[o++] = 'm';
    for (int i = 0; i < k; i++)
        ops[o++] = 'r';
    ops[o] = 0;
    apply_ops(in, n, ops, out);
}

void rn_boneage_undo_symmetry(const uint8_t *in, uint32_t n, int cls, uint8_t *out)
{
    /* T^-1 = mirror^m o rot_ccw^(4-k): rotate back first, then mirror */
    char ops[8] = "";
    int k = (cls / 2) & 3, m = cls & 1, o = 0;
    for (int i = 0; i < (4 - k) % 4; i++)
        ops[o++] = 'r';
    if (m)
        ops[o++] = 'm';
    ops[o] = 0;
    apply_ops(in, n, ops, out);
}

void rn_boneage_shift(const uint8_t *in, uint32_t w, uint32_t h, int dx, int dy, uint8_t *out)
{
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++) {
            long sx = (long)x - dx, sy = (long)y - dy;
            out[(size_t)y * w + x] =
                sx >= 0 && sy >= 0 && sx < (long)w && sy < (long)h ? in[(size_t)sy * w + sx] : 0;
        }
}

int rn_boneage_transform(const RnBoneageImage *in, int rotation, bool mirror, RnBoneageImage *out,
                         RnError *err)
{
    uint32_t w = in->width, h = in->height;
    bool swap = rotation == 90 || rotation == 270;
    if (rotation != 0 && rotation != 90 && rotation != 180 && rotation != 270)
        return rn_error_set(err, RN_ERR_INVALID, "boneage: rotation %d", rotation);
    RnBoneageImage o;
    int rc = rn_boneage_image_init(&o, swap ? h : w, swap ? w : h, err);
    if (rc < 0)
        return rc;
    uint32_t ow = o.width, oh = o.height;
    for (uint32_t y = 0; y < oh; y++)
        for (uint32_t x0 = 0; x0 < ow; x0++) {
            uint32_t x = mirror ? ow - 1 - x0 : x0; /* mirror after the rotation */
            uint32_t sx, sy;
            switch (rotation) {
            case 90: sx = y, sy = h - 1 - x; break;  /* clockwise */
            case 180: sx = w - 1 - x, sy = h - 1 - y; break;
            case 270: sx = w - 1 - y, sy = x; break;
            default: sx = x, sy = y; break;
            }
            o.pixels[(size_t)y * ow + x0] = in->pixels[(size_t)sy * w + sx];
        }
    rn_boneage_image_free(out);
    *out = o;
    return 0;
}

/* ---- analysis on a downsampled copy ------------------------------------------------- */

typedef struct Small {
    uint32_t w, h, cell; /* cell: full-resolution pixels per analysis pixel along each axis */
    uint8_t *v;          /* box-averaged values */
    uint8_t *hand;       /* 1 on the hand component */
    int32_t *labels;
    size_t *sizes;
    long count;
    long hand_label;
} Small;

static void small_free(Small *s)
{
    free(s->v);
    free(s->hand);
    free(s->labels);
    free(s->sizes);
}

static int otsu(const size_t hist[256])
{
    double total = 0, sum = 0;
    for (int i = 0; i < 256; i++) {
        total += hist[i];
        sum += (double)i * hist[i];
    }
    double wb = 0, sb = 0, best = -1;
    int t = 128;
    for (int i = 0; i < 256; i++) {
        wb += hist[i];
        if (wb == 0)
            continue;
        double wf = total - wb;
        if (wf == 0)
            break;
        sb += (double)i * hist[i];
        double mb = sb / wb, mf = (sum - sb) / wf;
        double between = wb * wf * (mb - mf) * (mb - mf);
        if (between > best) {
            best = between;
            t = i;
        }
    }
    return t;
}

static int small_build(const RnBoneageImage *img, Small *s, RnError *err)
{
    memset(s, 0, sizeof *s);
    uint32_t longest = img->width > img->height ? img->width : img->height;
    s->cell = (longest + ANALYSIS_SIDE - 1) / ANALYSIS_SIDE;
    if (s->cell < 1)
        s->cell = 1;
    s->w = img->width / s->cell;
    s->h = img->height / s->cell;
    if (s->w < 16 || s->h < 16)
        return rn_error_set(err, RN_ERR_UNSUPPORTED, "boneage: image too small to analyse");
    size_t n = (size_t)s->w * s->h;
    s->v = malloc(n);
    s->hand = calloc(n, 1);
    s->labels = malloc(n * sizeof *s->labels);
    if (!s->v || !s->hand || !s->labels)
        return rn_error_set(err, RN_ERR_NOMEM, "boneage: analysis buffers");
    uint32_t c = s->cell;
    for (uint32_t y = 0; y < s->h; y++)
        for (uint32_t x = 0; x < s->w; x++) {
            uint32_t acc = 0;
            for (uint32_t j = 0; j < c; j++) {
                const uint8_t *r = img->pixels + (size_t)(y * c + j) * img->width + (size_t)x * c;
                for (uint32_t i = 0; i < c; i++)
                    acc += r[i];
            }
            s->v[(size_t)y * s->w + x] = (uint8_t)((acc + c * c / 2) / (c * c));
        }
    return 0;
}

/* Foreground above a threshold, 8-connected components, the largest is the hand. */
static int small_label(Small *s, int threshold, RnError *err)
{
    size_t n = (size_t)s->w * s->h;
    const double spacing[3] = {1, 1, 1};
    RnMask *m = rn_mask_create(s->w, s->h, 1, spacing, err);
    if (!m)
        return err && err->code ? err->code : RN_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        m->data[i] = s->v[i] > threshold;
    free(s->sizes);
    s->sizes = NULL;
    s->count = rn_image_label(m, 8, s->labels, &s->sizes, err);
    rn_mask_destroy(m);
    if (s->count < 0)
        return (int)s->count;
    s->hand_label = 0;
    for (long l = 1; l <= s->count; l++)
        if (!s->hand_label || s->sizes[l] > s->sizes[s->hand_label])
            s->hand_label = l;
    for (size_t i = 0; i < n; i++)
        s->hand[i] = s->hand_label && s->labels[i] == s->hand_label;
    return 0;
}

static bool near_hand(const Small *s, long x, long y)
{
    for (long j = y - 1; j <= y + 1; j++)
        for (long i = x - 1; i <= x + 1; i++)
            if (i >= 0 && j >= 0 && i < (long)s->w && j < (long)s->h &&
                s->hand[(size_t)j * s->w + i])
                return true;
    return false;
}

static int cmp_u8(const void *a, const void *b)
{
    return (int)*(const uint8_t *)a - (int)*(const uint8_t *)b;
}

/* Burned-in markers ("L", technologist initials, lead letters): components
 * apart from the hand, small, saturated and lying on background (so a bright
 * detached phalanx inside the soft tissue is never one). The component and a
 * one-cell margin, away from the hand, are filled with the median of the
 * background ring around it, in the image and in the analysis copy. The
 * training images kept their markers, so this only matters for finding the
 * hand; it is kept conservative. Returns the number removed or RN_ERR_NOMEM. */
static int remove_markers(RnBoneageImage *img, Small *s, int background_level)
{
    size_t n = (size_t)s->w * s->h;
    int removed = 0;
    for (long l = 1; l <= s->count; l++) {
        if (l == s->hand_label || s->sizes[l] * 100 > n * 3)
            continue;
        long x0 = s->w, y0 = s->h, x1 = -1, y1 = -1;
        unsigned maxv = 0;
        for (uint32_t y = 0; y < s->h; y++)
            for (uint32_t x = 0; x < s->w; x++) {
                size_t i = (size_t)y * s->w + x;
                if (s->labels[i] != l)
                    continue;
                x0 = x < x0 ? x : x0, x1 = (long)x > x1 ? (long)x : x1;
                y0 = y < y0 ? y : y0, y1 = (long)y > y1 ? (long)y : y1;
                maxv = s->v[i] > maxv ? s->v[i] : maxv;
            }
        if (x1 < 0 || maxv < 250)
            continue;
        /* distance (Chebyshev, up to 3) of each cell of the enlarged box to the component */
        long bx0 = x0 - 3 < 0 ? 0 : x0 - 3, by0 = y0 - 3 < 0 ? 0 : y0 - 3;
        long bx1 = x1 + 3 >= (long)s->w ? (long)s->w - 1 : x1 + 3;
        long by1 = y1 + 3 >= (long)s->h ? (long)s->h - 1 : y1 + 3;
        long bw = bx1 - bx0 + 1, bh = by1 - by0 + 1;
        uint8_t *dist = malloc((size_t)bw * bh), *ring = malloc((size_t)bw * bh);
        if (!dist || !ring) {
            free(dist);
            free(ring);
            return RN_ERR_NOMEM;
        }
        memset(dist, 4, (size_t)bw * bh);
        for (long y = by0; y <= by1; y++)
            for (long x = bx0; x <= bx1; x++) {
                if (s->labels[(size_t)y * s->w + x] != l)
                    continue;
                for (long j = y - 3; j <= y + 3; j++)
                    for (long i = x - 3; i <= x + 3; i++) {
                        if (i < bx0 || j < by0 || i > bx1 || j > by1)
                            continue;
                        long d = labs(i - x) > labs(j - y) ? labs(i - x) : labs(j - y);
                        uint8_t *p = dist + (size_t)(j - by0) * bw + (i - bx0);
                        if (d < *p)
                            *p = (uint8_t)d;
                    }
            }
        size_t nr = 0;
        bool touches_hand = false;
        for (long y = by0; y <= by1; y++)
            for (long x = bx0; x <= bx1; x++) {
                uint8_t d = dist[(size_t)(y - by0) * bw + (x - bx0)];
                size_t i = (size_t)y * s->w + x;
                if (d <= 1 && s->hand[i])
                    touches_hand = true;
                if ((d == 2 || d == 3) && !s->labels[i])
                    ring[nr++] = s->v[i];
            }
        uint8_t fill = 0;
        bool ok = !touches_hand && nr >= 4;
        if (ok) {
            qsort(ring, nr, 1, cmp_u8);
            fill = ring[nr / 2];
            ok = fill <= background_level;
        }
        for (long y = by0; ok && y <= by1; y++)
            for (long x = bx0; x <= bx1; x++) {
                if (dist[(size_t)(y - by0) * bw + (x - bx0)] > 1 || near_hand(s, x, y))
                    continue;
                size_t i = (size_t)y * s->w + x;
                s->v[i] = fill;
                if (s->labels[i] == l)
                    s->labels[i] = 0;
                for (uint32_t j = 0; j < s->cell; j++)
                    memset(img->pixels + ((size_t)y * s->cell + j) * img->width +
                               (size_t)x * s->cell,
                           fill, s->cell);
            }
        free(dist);
        free(ring);
        removed += ok;
    }
    return removed;
}

/* Runs of foreground along one row of a (rotated) mask: runs shorter than
 * min_len are noise. Optionally stores up to max_ext runs' [start, end). */
static int row_runs(const uint8_t *row, uint32_t w, uint32_t min_len, uint32_t *ext, int max_ext)
{
    int runs = 0;
    uint32_t x = 0;
    while (x < w) {
        while (x < w && !row[x])
            x++;
        uint32_t a = x;
        while (x < w && row[x])
            x++;
        if (x - a >= min_len) {
            if (ext && runs < max_ext) {
                ext[2 * runs] = a;
                ext[2 * runs + 1] = x;
            }
            runs++;
        }
    }
    return runs;
}

/* Rotates a w x h byte array clockwise by rot degrees into out (dimensions swapped for 90/270). */
static void rotate_bytes(const uint8_t *in, uint32_t w, uint32_t h, int rot, uint8_t *out)
{
    RnBoneageImage a = {w, h, (uint8_t *)in}, b = {0, 0, NULL};
    if (rn_boneage_transform(&a, rot, false, &b, NULL) == 0) {
        memcpy(out, b.pixels, (size_t)w * h);
        rn_boneage_image_free(&b);
    }
}

typedef struct Upright {
    double score, far_fingers, far_runs, near_runs, contact_near, contact_far;
    long top, bottom; /* rows of the hand */
} Upright;

/* How much a mask (already rotated) looks like a hand with the fingers up. */
/* Coverage of mask row `row` when it is a flat cut (a forearm cut by the film's edge: about as
 * wide as the row `step` rows inside it), else 0 (a rounded end such as a fingertip). */
static double flat_cut(const uint8_t *m, uint32_t w, long row, long step)
{
    double c0 = 0, c1 = 0;
    for (uint32_t x = 0; x < w; x++) {
        c0 += m[(size_t)row * w + x];
        c1 += m[(size_t)(row + step) * w + x];
    }
    return c0 >= 0.05 * w && c0 >= 0.7 * c1 ? c0 / w : 0;
}

/* relaxed: a forearm may end at a flat cut within the outer 12 % of the image instead of at
 * the image's edge (film scans whose film edge lies inside the image). */
static Upright upright_score(const uint8_t *m, uint32_t w, uint32_t h, bool relaxed)
{
    Upright u = {0};
    u.top = -1;
    u.bottom = -1;
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++)
            if (m[(size_t)y * w + x]) {
                if (u.top < 0)
                    u.top = y;
                u.bottom = y;
                break;
            }
    if (u.top < 0 || u.bottom - u.top < 8)
        return u;
    long len = u.bottom - u.top + 1, third = len / 3;
    uint32_t min_len = w / 128 + 1;
    double fr = 0, fin = 0, nr = 0;
    for (long y = u.top; y < u.top + third; y++) {
        int r = row_runs(m + (size_t)y * w, w, min_len, NULL, 0);
        fr += r;
        fin += r >= 3;
    }
    for (long y = u.bottom - third + 1; y <= u.bottom; y++)
        nr += row_runs(m + (size_t)y * w, w, min_len, NULL, 0);
    u.far_runs = fr / third;
    u.near_runs = nr / third;
    u.far_fingers = fin / third;
    double cn = 0, cf = 0;
    for (uint32_t x = 0; x < w; x++) {
        cn += m[(size_t)(h - 1) * w + x];
        cf += m[x];
    }
    u.contact_near = cn / w;
    u.contact_far = cf / w;
    if (relaxed) {
        long band = (long)(0.12 * h);
        if (u.contact_near < 0.02 && (long)h - 1 - u.bottom <= band)
            u.contact_near = flat_cut(m, w, u.bottom, -2);
        if (u.contact_far < 0.02 && u.top <= band)
            u.contact_far = flat_cut(m, w, u.top, 2);
    }
    u.score = (u.far_runs - u.near_runs) + 2.0 * (u.contact_near - u.contact_far);
    return u;
}

/* Thumb side on an upright hand mask: below the finger webs (the lowest row
 * that cuts three or more fingers), rows cut the palm (the widest run) and,
 * apart from it, the thumb (a narrower run). Returns the vote margin in -1..1,
 * > 0 for a thumb on the image's right (a left hand seen PA). */
static double thumb_votes(const uint8_t *m, uint32_t w, const Upright *u, int *voters)
{
    uint32_t min_len = w / 128 + 1;
    long len = u->bottom - u->top + 1, webs = -1;
    for (long y = u->top; y < u->top + len * 6 / 10; y++)
        if (row_runs(m + (size_t)y * w, w, min_len, NULL, 0) >= 3)
            webs = y;
    *voters = 0;
    if (webs < 0)
        return 0;
    double right = 0, left = 0;
    /* skip the little finger's web, which lies a little lower than the others */
    for (long y = webs + len * 4 / 100 + 1; y <= webs + len * 40 / 100 && y <= u->bottom; y++) {
        enum { MAXR = 8 };
        uint32_t e[2 * MAXR];
        int nr = row_runs(m + (size_t)y * w, w, min_len, e, MAXR);
        if (nr < 2 || nr > MAXR)
            continue;
        int palm = 0;
        for (int i = 1; i < nr; i++)
            if (e[2 * i + 1] - e[2 * i] > e[2 * palm + 1] - e[2 * palm])
                palm = i;
        double pw = e[2 * palm + 1] - e[2 * palm];
        for (int i = 0; i < nr; i++)
            if (i != palm && e[2 * i + 1] - e[2 * i] <= 0.6 * pw) {
                if (i > palm)
                    right += 1;
                else
                    left += 1;
            }
    }
    *voters = (int)(right + left);
    rn_debug("boneage: thumb: top %ld bottom %ld webs %ld right %.0f left %.0f\n", u->top,
                u->bottom, webs, right, left);
    return right + left > 0 ? (right - left) / (right + left) : 0;
}

/* Tries the four rotations of the hand mask; best gets the fingers-up score
 * of the winner, *margin its lead over the runner-up. buf holds w*h bytes. */
static int orient(const Small *s, bool relaxed, uint8_t *buf, Upright *best, double *margin)
{
    size_t n = (size_t)s->w * s->h;
    Upright second = {0};
    int best_rot = -1;
    for (int deg = 0; deg < 360; deg += 90) {
        uint32_t rw = (deg == 90 || deg == 270) ? s->h : s->w;
        rotate_bytes(s->hand, s->w, s->h, deg, buf);
        Upright u = upright_score(buf, rw, (uint32_t)(n / rw), relaxed);
        if (best_rot < 0 || u.score > best->score) {
            second = *best;
            *best = u;
            best_rot = deg;
        } else if (u.score > second.score) {
            second = u;
        }
    }
    *margin = best->score - second.score;
    return best_rot;
}

static double percentile_u8(const uint8_t *v, size_t n, double q)
{
    size_t hist[256] = {0};
    for (size_t i = 0; i < n; i++)
        hist[v[i]]++;
    size_t acc = 0;
    for (int b = 0; b < 256; b++) {
        acc += hist[b];
        if ((double)acc >= q * n)
            return b;
    }
    return 255;
}

/* A row (stride 1) or column (stride = width) whose values vary by at most
 * BORDER_TOLERANCE: padding or a digital shutter. */
static bool line_uniform(const uint8_t *p, size_t stride, uint32_t count)
{
    uint8_t lo = 255, hi = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint8_t v = p[i * stride];
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    return hi - lo <= BORDER_TOLERANCE;
}

static void refuse(RnBoneagePrep *p, const char *code, const char *reason)
{
    p->refusal_code = code;
    p->refusal = reason;
}

/* True if most of object `label` lies within a band along the image's edges (10 % of the
 * shorter side): the frame or strips of a film scan's surround, not a hand. */
static bool along_edges(const Small *s, long label)
{
    uint32_t band = (s->w < s->h ? s->w : s->h) / 10;
    size_t in_band = 0, total = 0;
    for (uint32_t y = 0; y < s->h; y++)
        for (uint32_t x = 0; x < s->w; x++)
            if (s->labels[(size_t)y * s->w + x] == label) {
                total++;
                in_band += x < band || y < band || x >= s->w - band || y >= s->h - band;
            }
    return total && in_band >= 0.8 * total;
}

/* The inner box of a film in a film scan, in `work` pixels: the region that differs from the
 * image's outer ring (the scanner bed or light box, dark or bright) is found on the analysis
 * copy, and its bounding box is shrunk edge by edge until every edge row and column lies on
 * the film (this also fits inside a slightly tilted film). False when there is no such film:
 * no surround, a film under 30 % of the image, or one that is not a filled rectangle. */
static bool film_box(const RnBoneageImage *work, uint32_t out[4])
{
    Small s;
    if (small_build(work, &s, NULL) < 0) {
        small_free(&s);
        return false;
    }
    const uint32_t w = s.w, h = s.h;
    size_t n = (size_t)w * h, ring_n = 0;
    uint8_t *ring = malloc(2 * ((size_t)w + h));
    uint8_t *m = malloc(n);
    bool ok = false;
    if (!ring || !m)
        goto done;
    for (uint32_t x = 0; x < w; x++)
        ring[ring_n++] = s.v[x], ring[ring_n++] = s.v[(size_t)(h - 1) * w + x];
    for (uint32_t y = 1; y + 1 < h; y++)
        ring[ring_n++] = s.v[(size_t)y * w], ring[ring_n++] = s.v[(size_t)y * w + w - 1];
    int surround = (int)percentile_u8(ring, ring_n, 0.5);
    int lo = (int)percentile_u8(s.v, n, 0.01), hi = (int)percentile_u8(s.v, n, 0.99);
    int delta = (hi - lo) / 8 > 10 ? (hi - lo) / 8 : 10;
    for (size_t i = 0; i < n; i++)
        m[i] = abs((int)s.v[i] - surround) > delta;
    /* start from the rows and columns mostly covered */
    long x0 = -1, x1 = -1, y0 = -1, y1 = -1;
    for (uint32_t x = 0; x < w; x++) {
        size_t c = 0;
        for (uint32_t y = 0; y < h; y++)
            c += m[(size_t)y * w + x];
        if (c >= 0.5 * h) {
            x0 = x0 < 0 ? (long)x : x0;
            x1 = (long)x;
        }
    }
    for (uint32_t y = 0; y < h; y++) {
        size_t c = 0;
        for (uint32_t x = 0; x < w; x++)
            c += m[(size_t)y * w + x];
        if (c >= 0.5 * w) {
            y0 = y0 < 0 ? (long)y : y0;
            y1 = (long)y;
        }
    }
    if (x0 < 0 || y0 < 0)
        goto done;
    /* shrink the worst edge until all four lie on the film */
    for (;;) {
        if (x1 - x0 < 8 || y1 - y0 < 8)
            goto done;
        double f[4] = {0}; /* top, bottom, left, right */
        for (long x = x0; x <= x1; x++)
            f[0] += m[(size_t)y0 * w + x], f[1] += m[(size_t)y1 * w + x];
        for (long y = y0; y <= y1; y++)
            f[2] += m[(size_t)y * w + x0], f[3] += m[(size_t)y * w + x1];
        f[0] /= x1 - x0 + 1, f[1] /= x1 - x0 + 1, f[2] /= y1 - y0 + 1, f[3] /= y1 - y0 + 1;
        int worst = 0;
        for (int k = 1; k < 4; k++)
            worst = f[k] < f[worst] ? k : worst;
        if (f[worst] >= 0.97)
            break;
        if (worst == 0)
            y0++;
        else if (worst == 1)
            y1--;
        else if (worst == 2)
            x0++;
        else
            x1--;
    }
    /* one analysis pixel inside the edge; a film, not the whole image */
    x0++, y0++, x1--, y1--;
    double area = (double)(x1 - x0 + 1) * (y1 - y0 + 1) / n;
    long margin = x0 > y0 ? x0 : y0;
    margin = (long)w - 1 - x1 > margin ? (long)w - 1 - x1 : margin;
    margin = (long)h - 1 - y1 > margin ? (long)h - 1 - y1 : margin;
    size_t inside = 0;
    for (long y = y0; y <= y1; y++)
        for (long x = x0; x <= x1; x++)
            inside += m[(size_t)y * w + x];
    double fill = (double)inside / ((double)(x1 - x0 + 1) * (y1 - y0 + 1));
    if (area < 0.3 || area > 0.95 || margin < 3 || fill < 0.9)
        goto done;
    out[0] = (uint32_t)x0 * s.cell;
    out[1] = (uint32_t)y0 * s.cell;
    out[2] = (uint32_t)(x1 + 1) * s.cell - 1;
    out[3] = (uint32_t)(y1 + 1) * s.cell - 1;
    ok = out[2] < work->width && out[3] < work->height;
done:
    free(ring);
    free(m);
    small_free(&s);
    return ok;
}

/* Steps 2-4 on one region of the image (the whole trimmed image, or the film inside a film
 * scan): the hand mask, marker removal (in `work`), the refusals, orientation and laterality.
 * Fills prep's analysis fields; box (hand, in `work` pixels) and *rot_out are set when usable.
 * relaxed (only tried on an image the strict reading refused): the forearm may end at a film
 * edge inside the image (upright_score), and an object lying along the image's edges (the
 * bright frame of a film on a light box) is not taken for a second hand. */
static int analyse_region(RnBoneageImage *work, RnBoneageSide side_hint, bool defer_shape,
                          bool relaxed, RnBoneagePrep *prep, int *rot_out, uint32_t box[4],
                          RnError *err)
{
    Small s = {0};
    uint8_t *rot = NULL;
    int rc = 0;
    /* 2. analysis copy, hand, markers */
    if ((rc = small_build(work, &s, err)) < 0)
        goto out;
    size_t n = (size_t)s.w * s.h;
    int background_level = 0;
    rot = malloc(n);
    if (!rot) {
        rc = rn_error_set(err, RN_ERR_NOMEM, "boneage: orientation buffer");
        goto out;
    }
    /* Threshold: Otsu's splits background from the hand when the background is
     * dark; with a grey cassette or plate behind the hand it may split bone
     * from soft tissue instead. Thresholds a little above the background mode
     * are tried too, and the one whose largest object shows fingers best wins. */
    {
        size_t hist[256] = {0};
        for (size_t i = 0; i < n; i++)
            hist[s.v[i]]++;
        int mode = 0;
        size_t mode_n = 0;
        for (int v = 0; v < 256; v++) {
            size_t c = hist[v] + (v > 0 ? hist[v - 1] : 0) + (v < 255 ? hist[v + 1] : 0);
            if (c > mode_n)
                mode_n = c, mode = v;
        }
        int p99 = (int)percentile_u8(s.v, n, 0.99);
        background_level = mode + (int)(0.1 * (p99 - mode));
        int cand[6] = {otsu(hist)};
        const double frac[5] = {0.1, 0.2, 0.3, 0.4, 0.5};
        for (int k = 0; k < 5; k++)
            cand[k + 1] = mode + (int)(frac[k] * (p99 - mode));
        double best_score = -1;
        int best_t = cand[0];
        for (int k = 0; k < 6; k++) {
            if ((rc = small_label(&s, cand[k], err)) < 0)
                goto out;
            double hf = s.hand_label ? (double)s.sizes[s.hand_label] / n : 0, margin;
            Upright u = {0};
            if (hf < 0.05 || hf > 0.92)
                continue;
            orient(&s, relaxed, rot, &u, &margin);
            if (u.contact_near < 0.02)
                continue; /* a hand radiograph shows the forearm leaving the image */
            double score = u.far_fingers + (k == 0 ? 0.02 : 0); /* Otsu wins ties */
            rn_debug("boneage: threshold %d: hand %.2f fingers %.2f\n", cand[k], hf,
                        u.far_fingers);
            if (score > best_score)
                best_score = score, best_t = cand[k];
        }
        prep->threshold = best_t;
        if ((rc = small_label(&s, best_t, err)) < 0)
            goto out;
    }
    prep->contrast = percentile_u8(s.v, n, 0.99) - percentile_u8(s.v, n, 0.01);
    if (prep->contrast < MIN_CONTRAST) {
        refuse(prep, "ARTEFACT", "severe artefact: almost no contrast in the image");
        goto out;
    }
    int removed = remove_markers(work, &s, background_level);
    if (removed < 0) {
        rc = rn_error_set(err, RN_ERR_NOMEM, "boneage: marker removal");
        goto out;
    }
    prep->markers_removed = removed;
    size_t hand_n = s.hand_label ? s.sizes[s.hand_label] : 0, second = 0, sat = 0;
    /* recount: removed markers no longer count */
    memset(s.sizes, 0, ((size_t)s.count + 1) * sizeof *s.sizes);
    for (size_t i = 0; i < n; i++)
        if (s.labels[i] > 0 && s.labels[i] <= s.count)
            s.sizes[s.labels[i]]++;
    for (long k = 1; k <= s.count; k++)
        if (k != s.hand_label && s.sizes[k] > second && !(relaxed && along_edges(&s, k)))
            second = s.sizes[k];
    for (size_t i = 0; i < n; i++)
        if (s.hand[i] && (s.v[i] >= 254 || s.v[i] <= 1))
            sat++;
    prep->hand_fraction = (double)hand_n / n;
    prep->second_fraction = hand_n ? (double)second / hand_n : 0;
    prep->saturated = hand_n ? (double)sat / hand_n : 0;
    if (prep->hand_fraction < 0.05) {
        refuse(prep, "NOT_HAND", "not a hand radiograph: no hand-sized object in the image");
        goto out;
    }
    if (prep->hand_fraction > 0.92) {
        refuse(prep, "NOT_HAND", "not a hand radiograph: no background around the object");
        goto out;
    }
    if (prep->second_fraction >= 0.35 && (double)second / n >= 0.03) {
        refuse(prep, "TWO_HANDS", "two hands (or two large objects) in one image: "
                                  "one hand per image is needed");
        goto out;
    }
    if (prep->saturated > 0.3) {
        refuse(prep, "ARTEFACT", "severe artefact: the hand is largely saturated");
        goto out;
    }

    /* 3. orientation: fingers up */
    Upright best = {0};
    int best_rot = orient(&s, relaxed, rot, &best, &prep->orientation_margin);
    prep->rotation = best_rot;
    prep->finger_rows = best.far_fingers;
    const char *shape_problem = best.contact_near < 0.02
                                    ? "not a hand radiograph: no forearm reaching the image edge"
                                : best.far_fingers < 0.04 ? "not a hand radiograph: no fingers found"
                                                          : NULL;
    if (shape_problem && !defer_shape) {
        refuse(prep, "NOT_HAND", shape_problem);
        goto out;
    }
    if (shape_problem) {
        /* The mask does not show a hand's outline (film scans on a light box, where the film's
         * edge bounds the forearm; very low contrast): the geometry is not trusted. The image
         * is framed as it is, and the caller decides with the orientation model. */
        prep->geometry_problem = shape_problem;
        best_rot = 0;
        prep->rotation = 0;
        prep->orientation_margin = 0;
    }

    /* 4. laterality: a left hand seen PA has its thumb on the image's right */
    uint32_t rw = (best_rot == 90 || best_rot == 270) ? s.h : s.w;
    rotate_bytes(s.hand, s.w, s.h, best_rot, rot);
    int voters = 0;
    if (!shape_problem)
        prep->side_votes = thumb_votes(rot, rw, &best, &voters);
    if (voters >= 2 && prep->side_votes >= 0.5)
        prep->image_side = RN_BONEAGE_SIDE_LEFT;
    else if (voters >= 2 && prep->side_votes <= -0.5)
        prep->image_side = RN_BONEAGE_SIDE_RIGHT;
    RnBoneageSide side = prep->image_side ? prep->image_side : side_hint;
    prep->mirrored = side == RN_BONEAGE_SIDE_RIGHT;

    /* hand box in source pixels */
    long x0 = s.w, y0 = s.h, x1 = -1, y1 = -1;
    for (uint32_t y = 0; y < s.h; y++)
        for (uint32_t x = 0; x < s.w; x++)
            if (s.hand[(size_t)y * s.w + x]) {
                x0 = x < x0 ? x : x0, x1 = (long)x > x1 ? (long)x : x1;
                y0 = y < y0 ? y : y0, y1 = (long)y > y1 ? (long)y : y1;
            }
    box[0] = (uint32_t)x0 * s.cell;
    box[1] = (uint32_t)y0 * s.cell;
    box[2] = (uint32_t)(x1 + 1) * s.cell - 1;
    box[3] = (uint32_t)(y1 + 1) * s.cell - 1;
    *rot_out = best_rot;

out:
    free(rot);
    small_free(&s);
    return rc;
}

int rn_boneage_prepare(const RnBoneageImage *img, RnBoneageSide side_hint, RnBoneagePrep *prep,
                       RnError *err)
{
    return rn_boneage_prepare_ex(img, side_hint, false, prep, err);
}

int rn_boneage_prepare_ex(const RnBoneageImage *img, RnBoneageSide side_hint, bool defer_shape,
                          RnBoneagePrep *prep, RnError *err)
{
    memset(prep, 0, sizeof *prep);
    if (!img || !img->pixels || img->width < MIN_SIDE || img->height < MIN_SIDE)
        return rn_error_set(err, RN_ERR_INVALID, "boneage: no image to prepare");
    uint32_t w = img->width, h = img->height;

    /* 1. uniform borders (padding, digital shutters), never more than half a side */
    uint32_t t = 0, b = 0, l = 0, r = 0;
    const uint8_t *px = img->pixels;
    bool changed = true;
    while (changed) {
        changed = false;
        if (t + b < h / 2 && line_uniform(px + (size_t)t * w + l, 1, w - l - r))
            t++, changed = true;
        if (t + b < h / 2 && line_uniform(px + (size_t)(h - 1 - b) * w + l, 1, w - l - r))
            b++, changed = true;
        if (l + r < w / 2 && line_uniform(px + (size_t)t * w + l, w, h - t - b))
            l++, changed = true;
        if (l + r < w / 2 && line_uniform(px + (size_t)t * w + (w - 1 - r), w, h - t - b))
            r++, changed = true;
    }
    prep->trim[0] = t, prep->trim[1] = b, prep->trim[2] = l, prep->trim[3] = r;
    RnBoneageImage work = {0}, turned = {0}, crop = {0};
    RnBoneagePrep *alt = NULL;
    int rc = rn_boneage_image_init(&work, w - l - r, h - t - b, err);
    if (rc < 0)
        return rc;
    for (uint32_t y = 0; y < work.height; y++)
        memcpy(work.pixels + (size_t)y * work.width, px + (size_t)(y + t) * w + l, work.width);

    /* 2-4. the hand on the whole image */
    int best_rot = 0;
    uint32_t box[4] = {0};
    if ((rc = analyse_region(&work, side_hint, defer_shape, false, prep, &best_rot, box, err)) < 0)
        goto out;
    /* A film scan (a film on a scanner bed or light box): the film's edge, not the image's,
     * bounds the forearm, and the bed around it can pass for a second object or for the
     * whole hand. When the whole image is not read as one hand, the hand is looked for again
     * (inside the film alone if one is found, then with the relaxed checks of analyse_region),
     * and a reading is kept only if it passes every check. The network still sees the whole
     * image, as in training. */
    bool retry = prep->geometry_problem ||
                 (prep->refusal && strcmp(prep->refusal_code, "ARTEFACT") != 0);
    uint32_t film[4], whole[4] = {0, 0, work.width - 1, work.height - 1};
    bool has_film = retry && film_box(&work, film);
    const struct {
        const uint32_t *region;
        bool relaxed;
    } tries[3] = {{film, false}, {whole, true}, {film, true}};
    for (int k = 0; retry && k < 3; k++) {
        const uint32_t *g = tries[k].region;
        if (g == film && !has_film)
            continue;
        if (!alt && !(alt = malloc(sizeof *alt))) {
            rc = rn_error_set(err, RN_ERR_NOMEM, "boneage: film crop");
            goto out;
        }
        memset(alt, 0, sizeof *alt);
        rn_boneage_image_free(&crop);
        if ((rc = rn_boneage_image_init(&crop, g[2] - g[0] + 1, g[3] - g[1] + 1, err)) < 0)
            goto out;
        for (uint32_t y = 0; y < crop.height; y++)
            memcpy(crop.pixels + (size_t)y * crop.width,
                   work.pixels + (size_t)(y + g[1]) * work.width + g[0], crop.width);
        int alt_rot = 0;
        uint32_t alt_box[4] = {0};
        if ((rc = analyse_region(&crop, side_hint, false, tries[k].relaxed, alt, &alt_rot,
                                 alt_box, err)) < 0)
            goto out;
        if (alt->refusal)
            continue;
        /* adopted: its marker removal goes back into the image */
        for (uint32_t y = 0; y < crop.height; y++)
            memcpy(work.pixels + (size_t)(y + g[1]) * work.width + g[0],
                   crop.pixels + (size_t)y * crop.width, crop.width);
        memcpy(alt->trim, prep->trim, sizeof alt->trim);
        memcpy(prep, alt, offsetof(RnBoneagePrep, orient_checked));
        prep->geometry_problem = NULL;
        prep->film_crop = g == film;
        prep->relaxed = tries[k].relaxed;
        for (int i = 0; i < 4; i++)
            prep->film[i] = g == film ? g[i] + (i % 2 ? t : l) : 0;
        best_rot = alt_rot;
        box[0] = alt_box[0] + g[0], box[2] = alt_box[2] + g[0];
        box[1] = alt_box[1] + g[1], box[3] = alt_box[3] + g[1];
        break;
    }
    if (prep->refusal)
        goto out;
    prep->box[0] = box[0] + l, prep->box[2] = box[2] + l;
    prep->box[1] = box[1] + t, prep->box[3] = box[3] + t;

    /* 5. the training framing: the whole (trimmed) image squashed to 299x299 */
    if ((rc = rn_boneage_transform(&work, best_rot, prep->mirrored, &turned, err)) < 0)
        goto out;
    rc = rn_boneage_resize_pil(turned.pixels, turned.width, turned.height, prep->framed,
                               RN_BONEAGE_FRAME, RN_BONEAGE_FRAME, err);
out:
    free(alt);
    rn_boneage_image_free(&crop);
    rn_boneage_image_free(&work);
    rn_boneage_image_free(&turned);
    return rc;
}
