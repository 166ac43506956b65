/*
 * JPEG frame decoding for DICOM (PS3.5 8.2.1 and A.4.1; ISO/IEC 10918-1).
 * rn_jpeg_decode reads the SOF marker and dispatches, whatever the transfer
 * syntax claims: 8-bit DCT streams (baseline, extended, progressive,
 * arithmetic) go to libjpeg-turbo through its libjpeg API; 12-bit extended
 * DCT (jpeg12.c) and lossless process 14 (jpeg_lossless.c) are decoded by
 * radnode's own code, because libjpeg-turbo 2.1 as shipped in Debian 12 is
 * built for 8-bit samples only and has no lossless support.
 *
 * Colour follows DCMTK's dcmdjpeg default (PS3.5 8.2.1): a 3-component DCT
 * stream whose Photometric Interpretation is YBR_FULL or YBR_FULL_422 is
 * converted to RGB, unless an Adobe APP14 marker says the components are RGB
 * (transform 0); otherwise components are output as coded. Lossless streams
 * are never colour transformed. libjpeg runs with its own error manager
 * (errors longjmp back and become an RnError), a source manager that never
 * reads past the buffer, and a progress monitor that caps the number of
 * scans, so hostile streams fail cleanly instead of consuming unbounded time.
 */
#include "codec/jpeg_internal.h"

#include <stdio.h> /* before jpeglib.h, which uses FILE */

#include <jerror.h>
#include <jpeglib.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

/* More scans than any legitimate progressive stream uses (libjpeg-turbo's
 * TurboJPEG API applies a similar limit against the "many scans" DoS). */
#define RN_JPEG_MAX_SCANS 500

typedef struct JpegErr {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
} JpegErr;

static void on_error_exit(j_common_ptr cinfo)
{
    JpegErr *e = (JpegErr *)cinfo->err;
    cinfo->err->format_message(cinfo, e->message);
    longjmp(e->jump, 1);
}

static void on_output_message(j_common_ptr cinfo)
{
    (void)cinfo; /* warnings (e.g. premature end of data) are not printed */
}

static void on_progress(j_common_ptr cinfo)
{
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->input_scan_number > RN_JPEG_MAX_SCANS) {
        JpegErr *e = (JpegErr *)cinfo->err;
        snprintf(e->message, sizeof e->message, "more than %d scans", RN_JPEG_MAX_SCANS);
        longjmp(e->jump, 1);
    }
}

static void src_init(j_decompress_ptr cinfo)
{
    (void)cinfo;
}
static void src_term(j_decompress_ptr cinfo)
{
    (void)cinfo;
}

static boolean src_fill(j_decompress_ptr cinfo)
{
    /* Out of data: give libjpeg a fake EOI, as jdatasrc.c does. */
    static const JOCTET eoi[2] = {0xFF, JPEG_EOI};
    WARNMS(cinfo, JWRN_JPEG_EOF);
    cinfo->src->next_input_byte = eoi;
    cinfo->src->bytes_in_buffer = 2;
    return TRUE;
}

static void src_skip(j_decompress_ptr cinfo, long n)
{
    struct jpeg_source_mgr *s = cinfo->src;
    if (n <= 0)
        return;
    if ((size_t)n >= s->bytes_in_buffer) {
        s->next_input_byte += s->bytes_in_buffer;
        s->bytes_in_buffer = 0;
        (void)src_fill(cinfo);
        return;
    }
    s->next_input_byte += n;
    s->bytes_in_buffer -= (size_t)n;
}

static int decode_libjpeg(const RnJpegFrame *fr, const uint8_t *src, size_t len, bool convert,
                          uint8_t *dst, uint32_t bytes, RnError *err)
{
    struct jpeg_decompress_struct cinfo;
    JpegErr jerr;
    struct jpeg_source_mgr smgr;
    struct jpeg_progress_mgr progress;
    uint8_t *volatile row = NULL;
    const uint32_t nc = fr->ncomp, w = fr->columns;

    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = on_error_exit;
    jerr.pub.output_message = on_output_message;
    jerr.message[0] = 0;
    if (setjmp(jerr.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(row);
        return rn_error_set(err, RN_ERR_PARSE, "JPEG (%s at offset %zu): libjpeg: %s",
                            rn_jpeg_sof_name(fr->sof), fr->sof_offset, jerr.message);
    }
    jpeg_create_decompress(&cinfo);
    smgr.init_source = src_init;
    smgr.fill_input_buffer = src_fill;
    smgr.skip_input_data = src_skip;
    smgr.resync_to_restart = jpeg_resync_to_restart;
    smgr.term_source = src_term;
    smgr.next_input_byte = src;
    smgr.bytes_in_buffer = len;
    cinfo.src = &smgr;
    progress.progress_monitor = on_progress;
    cinfo.progress = &progress;
    if (jpeg_read_header(&cinfo, TRUE) != JPEG_HEADER_OK) {
        jpeg_destroy_decompress(&cinfo);
        return rn_error_set(err, RN_ERR_PARSE, "JPEG: stream has no image");
    }
    if (nc == 1) {
        cinfo.out_color_space = JCS_GRAYSCALE;
    } else if (nc == 3) {
        cinfo.jpeg_color_space = convert ? JCS_YCbCr : JCS_RGB;
        cinfo.out_color_space = JCS_RGB;
    } else {
        jpeg_destroy_decompress(&cinfo);
        return rn_error_set(err, RN_ERR_UNSUPPORTED, "JPEG: %u-component DCT stream", nc);
    }
    cinfo.dct_method = JDCT_ISLOW; /* the accurate IDCT, as DCMTK uses */
    cinfo.do_fancy_upsampling = TRUE;
    jpeg_start_decompress(&cinfo);
    if (cinfo.output_width != fr->columns || cinfo.output_height != fr->rows ||
        cinfo.output_components != (int)nc) {
        jpeg_destroy_decompress(&cinfo);
        return rn_error_set(err, RN_ERR_PARSE,
                            "JPEG: libjpeg output %ux%ux%d differs from the "
                            "frame header",
                            cinfo.output_width, cinfo.output_height, cinfo.output_components);
    }
    size_t row_len = (size_t)w * nc;
    if (bytes != 1) {
        row = rn_malloc(row_len);
        if (!row) {
            jpeg_destroy_decompress(&cinfo);
            return rn_error_set(err, RN_ERR_NOMEM, "JPEG: out of memory");
        }
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        size_t y = cinfo.output_scanline;
        JSAMPROW r = bytes == 1 ? dst + y * row_len : row;
        if (jpeg_read_scanlines(&cinfo, &r, 1) != 1) {
            jpeg_destroy_decompress(&cinfo);
            free(row);
            return rn_error_set(err, RN_ERR_PARSE, "JPEG: libjpeg returned no data at line %zu", y);
        }
        if (bytes != 1)
            for (size_t i = 0; i < row_len; i++)
                rn_wr16le(dst + 2 * (y * row_len + i), row[i]);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(row);
    return 0;
}

static bool is_ybr_full(const char *pi)
{
    return strcmp(pi, "YBR_FULL") == 0 || strcmp(pi, "YBR_FULL_422") == 0;
}

int rn_jpeg_decode(const RnImageInfo *in, const uint8_t *src, size_t len, uint8_t *dst,
                   size_t dst_len, RnImageInfo *out, RnError *err)
{
    if (!in || !src)
        return rn_error_set(err, RN_ERR_INVALID, "JPEG: NULL argument");
    RnJpegFrame fr;
    int rc = rn_jpeg_parse_frame(src, len, &fr, err);
    if (rc)
        return rc;
    if (fr.rows != in->rows || fr.columns != in->columns || fr.ncomp != in->samples_per_pixel)
        return rn_error_set(err, RN_ERR_PARSE,
                            "JPEG: %s at offset %zu is %ux%u with %u "
                            "components; the dataset says %ux%u with %u samples per pixel",
                            rn_jpeg_sof_name(fr.sof), fr.sof_offset, fr.columns, fr.rows, fr.ncomp,
                            in->columns, in->rows, in->samples_per_pixel);
    if (fr.ncomp != 1 && fr.ncomp != 3)
        return rn_error_set(err, RN_ERR_UNSUPPORTED, "JPEG: %u components (DICOM uses 1 or 3)",
                            fr.ncomp);
    uint32_t bytes = (in->bits_allocated + 7) / 8;
    if (bytes != 1 && bytes != 2)
        return rn_error_set(err, RN_ERR_UNSUPPORTED, "JPEG: bits allocated %u (8 or 16 expected)",
                            in->bits_allocated);
    if (fr.precision > 8 * bytes)
        return rn_error_set(err, RN_ERR_PARSE,
                            "JPEG: %s at offset %zu: %u-bit samples do not fit "
                            "bits allocated %u",
                            rn_jpeg_sof_name(fr.sof), fr.sof_offset, fr.precision,
                            in->bits_allocated);
    bool lossless = fr.sof == 0xC3;
    bool libjpeg = false;
    switch (fr.sof) {
    case 0xC3:
        break;
    case 0xC0:
    case 0xC1:
        libjpeg = fr.precision == 8;
        if (fr.precision != 8 && fr.precision != 12)
            return rn_error_set(err, RN_ERR_PARSE, "JPEG: %s at offset %zu: precision %u",
                                rn_jpeg_sof_name(fr.sof), fr.sof_offset, fr.precision);
        break;
    case 0xC2:
    case 0xC9:
    case 0xCA:
        if (fr.precision == 8) {
            libjpeg = true;
            break;
        }
        return rn_error_set(err, RN_ERR_UNSUPPORTED,
                            "JPEG: %s at offset %zu with %u-bit samples "
                            "not supported",
                            rn_jpeg_sof_name(fr.sof), fr.sof_offset, fr.precision);
    default:
        return rn_error_set(err, RN_ERR_UNSUPPORTED, "JPEG: %s at offset %zu not supported",
                            rn_jpeg_sof_name(fr.sof), fr.sof_offset);
    }
    bool ybr = !lossless && fr.ncomp == 3 && is_ybr_full(in->photometric);
    bool convert = ybr && fr.adobe_transform != 0;
    RnImageInfo o = *in;
    o.planar_configuration = 0;
    if (ybr)
        snprintf(o.photometric, sizeof o.photometric, "RGB");
    if (out)
        *out = o;
    if (!dst)
        return 0;
    size_t need = (size_t)fr.rows * fr.columns * fr.ncomp * bytes;
    if (dst_len < need)
        return rn_error_set(err, RN_ERR_INVALID,
                            "JPEG: output buffer of %zu bytes, frame needs %zu", dst_len, need);
    if (lossless)
        return rn_jpeg_lossless_decode_frame(src, len, &fr, dst, bytes, err);
    if (libjpeg)
        return decode_libjpeg(&fr, src, len, convert, dst, bytes, err);
    return rn_jpeg_dct_decode_frame(src, len, &fr, convert, dst, bytes, err);
}
