/*
 * The one-page printable report and its Encapsulated PDF Storage object
 * (PS3.3 A.45.1: Encapsulated Document Series C.24.1, SC Equipment C.8.6.1,
 * Encapsulated Document C.24.2). The page is an A4 PDF drawn with cairo's
 * PDF surface: header, patient and study, the findings table (values, UCUM
 * units, uncertainties, codes), the report text in the configured language
 * (a CJK font for Chinese, embedded as a subset), method (algorithm, model,
 * SHA-256), references to the source instances, and the statement that the
 * result is preliminary and must be reviewed by a radiologist.
 */
#include "report/report_internal.h"

#include <cairo-pdf.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SOP_CLASS_ENCAPSULATED_PDF "1.2.840.10008.5.1.4.1.1.104.1"

#define PAGE_W 595.276 /* A4 in points */
#define PAGE_H 841.890
#define MARGIN 48.0
#define BOTTOM (PAGE_H - 56.0)

typedef struct Page {
    cairo_t *cr;
    const RnReportCtx *ctx;
    double y;
    bool full;
} Page;

static cairo_status_t write_buf(void *closure, const unsigned char *data, unsigned int length)
{
    return rn_buf_append((RnBuf *)closure, data, length) ? CAIRO_STATUS_NO_MEMORY
                                                        : CAIRO_STATUS_SUCCESS;
}

static void font(Page *pg, double size, bool bold, bool mono)
{
    cairo_select_font_face(pg->cr, mono && !pg->ctx->zh ? "DejaVu Sans Mono"
                                                        : rn_report_font(pg->ctx),
                           CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(pg->cr, size);
}

/* Writes wrapped text at x within width, advancing the cursor; stops at the page end. */
static void para(Page *pg, double x, double width, double size, const char *text)
{
    if (pg->full)
        return;
    char **lines = NULL;
    long n = rn_report_wrap(pg->cr, text, width, &lines);
    for (long i = 0; i < n; i++) {
        if (pg->y + size * 1.3 > BOTTOM) {
            cairo_move_to(pg->cr, x, pg->y + size);
            cairo_show_text(pg->cr, "...");
            pg->full = true;
            break;
        }
        pg->y += size * 1.3;
        cairo_move_to(pg->cr, x, pg->y);
        cairo_show_text(pg->cr, lines[i]);
    }
    rn_report_lines_free(lines, n);
}

static void heading(Page *pg, const char *text)
{
    if (pg->full)
        return;
    pg->y += 10;
    font(pg, 11.5, true, false);
    cairo_set_source_rgb(pg->cr, 0.1, 0.2, 0.45);
    para(pg, MARGIN, PAGE_W - 2 * MARGIN, 11.5, text);
    cairo_set_line_width(pg->cr, 0.6);
    cairo_move_to(pg->cr, MARGIN, pg->y + 4);
    cairo_line_to(pg->cr, PAGE_W - MARGIN, pg->y + 4);
    cairo_stroke(pg->cr);
    pg->y += 4;
    cairo_set_source_rgb(pg->cr, 0, 0, 0);
}

/* "Label: value" rows in two columns. */
static void field(Page *pg, double x, double label_w, double width, const char *label,
                  const char *value)
{
    if (pg->full)
        return;
    double y0 = pg->y;
    font(pg, 9.5, true, false);
    para(pg, x, label_w - 4, 9.5, label);
    double y1 = pg->y;
    pg->y = y0;
    font(pg, 9.5, false, false);
    para(pg, x + label_w, width - label_w, 9.5, value && value[0] ? value : "-");
    if (y1 > pg->y)
        pg->y = y1;
}

static char *ds_text(const RnDataset *ds, RnTag tag)
{
    char *s = ds ? rn_dataset_get_string_all(ds, tag, NULL) : NULL;
    return s ? s : rn_strdup("");
}

static void format_da(const char *da, char *out, size_t cap)
{
    if (strlen(da) == 8)
        snprintf(out, cap, "%.4s-%.2s-%.2s", da, da + 4, da + 6);
    else
        snprintf(out, cap, "%s", da);
}

static void draw_page(Page *pg)
{
    const RnReportCtx *ctx = pg->ctx;
    cairo_t *cr = pg->cr;
    const RnDataset *ds = rn_report_ctx_primary(ctx);
    double full_w = PAGE_W - 2 * MARGIN;
    char buf[512];

    /* Header. */
    pg->y = MARGIN - 6;
    font(pg, 17, true, false);
    cairo_set_source_rgb(cr, 0.1, 0.2, 0.45);
    snprintf(buf, sizeof buf, "%s - %s", rn_report_label(ctx, RN_L_TITLE), ctx->alg_name);
    para(pg, MARGIN, full_w, 17, buf);
    font(pg, 9, false, false);
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    char *inst = ds_text(ds, RN_TAG(0x0008, 0x0080));
    snprintf(buf, sizeof buf, "%s%s%.4s-%.2s-%.2s %.2s:%.2s   radnode %s",
             ctx->opt.institution ? ctx->opt.institution : inst,
             (ctx->opt.institution || inst[0]) ? "   " : "", ctx->date, ctx->date + 4,
             ctx->date + 6, ctx->time, ctx->time + 2, RN_VERSION);
    free(inst);
    para(pg, MARGIN, full_w, 9, buf);

    /* The preliminary banner. */
    pg->y += 8;
    cairo_set_source_rgb(cr, 1.0, 0.93, 0.8);
    cairo_rectangle(cr, MARGIN, pg->y, full_w, 22);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0.75, 0.2, 0);
    font(pg, 11, true, false);
    cairo_move_to(cr, MARGIN + 8, pg->y + 15.5);
    cairo_show_text(cr, rn_report_label(ctx, RN_L_PRELIMINARY));
    pg->y += 24;
    cairo_set_source_rgb(cr, 0, 0, 0);

    /* Patient and study, side by side. */
    double col_w = full_w / 2 - 6;
    heading(pg, rn_report_label(ctx, RN_L_PATIENT));
    double ystart = pg->y;
    char *name = ds_text(ds, RN_TAG_PatientName), *pid = ds_text(ds, RN_TAG_PatientID);
    char *birth = ds_text(ds, RN_TAG_PatientBirthDate), *sex = ds_text(ds, RN_TAG_PatientSex);
    char *sdate = ds_text(ds, RN_TAG_StudyDate), *acc = ds_text(ds, RN_TAG_AccessionNumber);
    char *sdesc = ds_text(ds, RN_TAG_StudyDescription);
    for (char *p = name; *p; p++)
        if (*p == '^')
            *p = ' ';
    char d1[32], d2[32];
    format_da(birth, d1, sizeof d1);
    format_da(sdate, d2, sizeof d2);
    field(pg, MARGIN, 78, col_w, rn_report_label(ctx, RN_L_NAME), name);
    field(pg, MARGIN, 78, col_w, rn_report_label(ctx, RN_L_ID), pid);
    field(pg, MARGIN, 78, col_w, rn_report_label(ctx, RN_L_BIRTH), d1);
    field(pg, MARGIN, 78, col_w, rn_report_label(ctx, RN_L_SEX), sex);
    double yleft = pg->y;
    pg->y = ystart;
    double x2 = MARGIN + full_w / 2 + 6;
    field(pg, x2, 78, col_w, rn_report_label(ctx, RN_L_DATE), d2);
    field(pg, x2, 78, col_w, rn_report_label(ctx, RN_L_ACCESSION), acc);
    field(pg, x2, 78, col_w, rn_report_label(ctx, RN_L_DESCRIPTION), sdesc);
    if (yleft > pg->y)
        pg->y = yleft;
    free(name);
    free(pid);
    free(birth);
    free(sex);
    free(sdate);
    free(acc);
    free(sdesc);

    /* Findings table. */
    heading(pg, rn_report_label(ctx, RN_L_FINDINGS));
    if (ctx->refused) {
        font(pg, 10, true, false);
        snprintf(buf, sizeof buf, "%s: %s", rn_report_label(ctx, RN_L_REFUSED),
                 ctx->refusal_reason ? ctx->refusal_reason : "-");
        para(pg, MARGIN, full_w, 10, buf);
    }
    if (ctx->meas_count) {
        const double cx[] = {MARGIN, MARGIN + 215, MARGIN + 300, MARGIN + 380};
        const char *hdr[] = {rn_report_label(ctx, RN_L_MEASUREMENT),
                             rn_report_label(ctx, RN_L_VALUE),
                             rn_report_label(ctx, RN_L_UNCERTAINTY), "Code"};
        font(pg, 9, true, false);
        double y0 = pg->y;
        for (int c = 0; c < 4; c++) {
            pg->y = y0;
            para(pg, cx[c], 200, 9, hdr[c]);
        }
        for (size_t i = 0; i < ctx->meas_count && !pg->full; i++) {
            const RnMeasurement *m = &ctx->meas[i];
            char v[64], u[64] = "-", label[400], code[128];
            rn_report_format_value(m->value, v, sizeof v);
            snprintf(v + strlen(v), sizeof v - strlen(v), " %s", m->ucum);
            if (m->has_uncertainty) {
                rn_report_format_value(m->uncertainty, u, sizeof u);
                snprintf(u + strlen(u), sizeof u - strlen(u), " %s", m->ucum);
                memmove(u + 3, u, strlen(u) + 1);
                memcpy(u, "\xC2\xB1 ", 3);
            }
            if (strcmp(m->group, m->concept.meaning))
                snprintf(label, sizeof label, "%s - %s", m->group, m->concept.meaning);
            else
                snprintf(label, sizeof label, "%s", m->concept.meaning);
            if (m->has_site) /* where it is, on the group's row that carries it */
                snprintf(label + strlen(label), sizeof label - strlen(label), " (%s)",
                         m->site.meaning);
            snprintf(code, sizeof code, "%s %s", m->concept.scheme, m->concept.value);
            font(pg, 9, false, false);
            y0 = pg->y;
            double ymax = y0;
            const char *cells[] = {label, v, u, code};
            const double cw[] = {210, 78, 78, full_w - 380 + MARGIN - MARGIN};
            for (int c = 0; c < 4; c++) {
                pg->y = y0;
                para(pg, cx[c], cw[c], 9, cells[c]);
                if (pg->y > ymax)
                    ymax = pg->y;
            }
            pg->y = ymax;
        }
    }
    if (ctx->code_count) {
        pg->y += 4;
        font(pg, 9.5, true, false);
        para(pg, MARGIN, full_w, 9.5, rn_report_label(ctx, RN_L_CODES));
        font(pg, 9.5, false, false);
        for (size_t i = 0; i < ctx->code_count; i++) {
            const RnCodedFinding *c = &ctx->codes[i];
            snprintf(buf, sizeof buf, "%s: %s  (%s %s)", c->concept.meaning, c->value.meaning,
                     c->value.scheme, c->value.value);
            para(pg, MARGIN + 8, full_w - 8, 9.5, buf);
        }
    }
    if (!ctx->meas_count && !ctx->code_count && !ctx->refused) {
        font(pg, 9.5, false, false);
        para(pg, MARGIN, full_w, 9.5, rn_report_label(ctx, RN_L_NONE));
    }
    if (ctx->confidence) {
        font(pg, 9.5, false, false);
        snprintf(buf, sizeof buf, "%s: %s", rn_report_label(ctx, RN_L_CONFIDENCE),
                 ctx->confidence);
        para(pg, MARGIN, full_w, 9.5, buf);
    }

    /* Report text and notes. */
    if (ctx->line_count || ctx->note_count) {
        heading(pg, rn_report_label(ctx, RN_L_REPORT));
        font(pg, 10, false, false);
        for (size_t i = 0; i < ctx->line_count; i++)
            para(pg, MARGIN, full_w, 10, ctx->lines[i]);
        font(pg, 9, false, false);
        cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
        for (size_t i = 0; i < ctx->note_count; i++)
            para(pg, MARGIN, full_w, 9, ctx->notes[i]);
        cairo_set_source_rgb(cr, 0, 0, 0);
    }

    /* Method. */
    heading(pg, rn_report_label(ctx, RN_L_METHOD));
    snprintf(buf, sizeof buf, "%s %s (%s; analyzer %s %s)", ctx->alg_name, ctx->alg_version,
             ctx->alg_manufacturer, ctx->analyzer, ctx->analyzer_version);
    field(pg, MARGIN, 78, full_w, rn_report_label(ctx, RN_L_ALGORITHM), buf);
    snprintf(buf, sizeof buf, "%s %s", ctx->model_name ? ctx->model_name : "-",
             ctx->model_version ? ctx->model_version : "");
    field(pg, MARGIN, 78, full_w, rn_report_label(ctx, RN_L_MODEL), buf);
    field(pg, MARGIN, 78, full_w, "SHA-256", ctx->model_sha ? ctx->model_sha : "-");

    /* References. */
    heading(pg, rn_report_label(ctx, RN_L_REFERENCES));
    font(pg, 8, false, true);
    for (size_t i = 0; i < ctx->source_count && !pg->full; i++) {
        bool dup = false;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(ctx->sop_uid[i], ctx->sop_uid[j]))
                dup = true;
        if (!dup)
            para(pg, MARGIN, full_w, 8, ctx->sop_uid[i]);
    }
    snprintf(buf, sizeof buf, "Study Instance UID %s", ctx->result_study_uid);
    para(pg, MARGIN, full_w, 8, buf);

    /* Footer: the statement again, always at the bottom of the page. */
    font(pg, 9, true, false);
    cairo_set_source_rgb(cr, 0.75, 0.2, 0);
    cairo_move_to(cr, MARGIN, PAGE_H - 34);
    cairo_show_text(cr, rn_report_label(ctx, RN_L_PRELIMINARY));
    if (ctx->zh) {
        cairo_move_to(cr, MARGIN, PAGE_H - 22);
        cairo_show_text(cr, "PRELIMINARY - to be reviewed by a radiologist");
    }
}

static int render_pdf(const RnReportCtx *ctx, RnBuf *out, RnError *err)
{
    cairo_surface_t *s = cairo_pdf_surface_create_for_stream(write_buf, out, PAGE_W, PAGE_H);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(s);
        return rn_error_set(err, RN_ERR_NOMEM, "cannot create the PDF surface");
    }
    char created[32];
    snprintf(created, sizeof created, "%.4s-%.2s-%.2sT%.2s:%.2s:%.2s", ctx->date, ctx->date + 4,
             ctx->date + 6, ctx->time, ctx->time + 2, ctx->time + 4);
    char title[160];
    snprintf(title, sizeof title, "%s - %s", rn_report_label(ctx, RN_L_TITLE), ctx->alg_name);
    cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_TITLE, title);
    cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_CREATOR, "radnode " RN_VERSION);
    cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_CREATE_DATE, created);
    cairo_t *cr = cairo_create(s);
    Page pg = {.cr = cr, .ctx = ctx};
    draw_page(&pg);
    cairo_show_page(cr);
    cairo_status_t st = cairo_status(cr);
    cairo_destroy(cr);
    cairo_surface_finish(s);
    if (st == CAIRO_STATUS_SUCCESS)
        st = cairo_surface_status(s);
    cairo_surface_destroy(s);
    if (st != CAIRO_STATUS_SUCCESS)
        return rn_error_set(err, RN_ERR_IO, "rendering the PDF failed: %s",
                            cairo_status_to_string(st));
    return 0;
}

int rn_report_render_pdf(const json_t *findings, const RnReportSource *sources,
                         size_t source_count, const RnReportOptions *opt, RnBuf *out,
                         RnError *err)
{
    if (rn_cairo_load(err))
        return err ? err->code : RN_ERR_UNSUPPORTED;
    RnReportCtx ctx;
    int rc = rn_report_ctx_init(&ctx, findings, sources, source_count, opt, err);
    if (!rc)
        rc = render_pdf(&ctx, out, err);
    rn_report_ctx_free(&ctx);
    return rc;
}

RnDataset *rn_report_build_pdf(const json_t *findings, const RnReportSource *sources,
                               size_t source_count, const RnReportOptions *opt, RnError *err)
{
    RnReportCtx ctx;
    RnDataset *ds = NULL;
    RnBuf pdf = {0};
    int rc = rn_report_ctx_init(&ctx, findings, sources, source_count, opt, err);
    if (rc)
        goto done;
    if (!ctx.source_count) {
        rc = rn_error_set(err, RN_ERR_INVALID, "the PDF object needs a source image");
        goto done;
    }
    if ((rc = render_pdf(&ctx, &pdf, err)))
        goto done;
    ds = rn_dataset_create();
    if (!ds) {
        rc = rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        goto done;
    }
    char title[200];
    snprintf(title, sizeof title, "%s - %s (%s)", rn_report_label(&ctx, RN_L_TITLE), ctx.alg_name,
             ctx.zh ? "初步" : "preliminary");
    static const RnCode doc_title = {"LN", "18748-4", "Diagnostic Imaging Report"};
    char desc[80];
    snprintf(desc, sizeof desc, "%s report (preliminary)", ctx.alg_name);
    char acq[15];
    snprintf(acq, sizeof acq, "%s%s", ctx.date, ctx.time);
    if ((rc = rn_report_common(&ctx, ds, RN_REPORT_PDF, SOP_CLASS_ENCAPSULATED_PDF, "DOC", desc,
                               err)) ||
        /* SC Equipment (C.8.6.1). */
        (rc = rn_dataset_set_string(ds, RN_TAG(0x0008, 0x0064), RN_VR_CS, "WSD", err)) ||
        (rc = rn_dataset_set_string(ds, RN_TAG(0x0018, 0x1016), RN_VR_LO, "radnode", err)) ||
        (rc = rn_dataset_set_string(ds, RN_TAG(0x0018, 0x1018), RN_VR_LO, "radnode", err)) ||
        (rc = rn_dataset_set_string(ds, RN_TAG(0x0018, 0x1019), RN_VR_LO, RN_VERSION, err)) ||
        /* Encapsulated Document (C.24.2). */
        (rc = rn_dataset_set_string(ds, RN_TAG(0x0008, 0x002A), RN_VR_DT, acq, err)) ||
        (rc = rn_dataset_set_string(ds, RN_TAG(0x0028, 0x0301), RN_VR_CS, "YES", err)) ||
        (rc = rn_report_set_text(ds, RN_TAG(0x0042, 0x0010), RN_VR_ST, title, 1024, err)) ||
        (rc = rn_report_add_code(ds, RN_TAG(0x0040, 0xA043), &doc_title, err)) ||
        (rc = rn_dataset_set_string(ds, RN_TAG(0x0040, 0xA493), RN_VR_CS, "UNVERIFIED", err)) ||
        (rc = rn_dataset_set_string(ds, RN_TAG(0x0042, 0x0012), RN_VR_LO, "application/pdf",
                                    err)) ||
        (rc = rn_dataset_set_uint(ds, RN_TAG(0x0042, 0x0015), RN_VR_UL, pdf.len, err)))
        goto done;
    for (size_t i = 0; i < ctx.source_count; i++) {
        bool dup = false;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(ctx.sop_uid[i], ctx.sop_uid[j]))
                dup = true;
        if (dup)
            continue;
        RnDataset *it = rn_dataset_add_item(ds, RN_TAG(0x0042, 0x0013), err);
        if (!it ||
            (rc = rn_dataset_set_string(it, RN_TAG(0x0008, 0x1150), RN_VR_UI, ctx.sop_class[i],
                                        err)) ||
            (rc = rn_dataset_set_string(it, RN_TAG(0x0008, 0x1155), RN_VR_UI, ctx.sop_uid[i],
                                        err))) {
            rc = rc ? rc : RN_ERR_NOMEM;
            goto done;
        }
    }
    /* PS3.3 C.24.2.1: an odd-length document is padded with one NUL byte;
     * Encapsulated Document Length keeps the real length. */
    if (pdf.len % 2 && (rc = rn_buf_append_byte(&pdf, 0)))
        goto done;
    size_t len;
    uint8_t *bytes = rn_buf_take(&pdf, &len);
    if ((rc = rn_dataset_set_bytes_take(ds, RN_TAG(0x0042, 0x0011), RN_VR_OB, bytes, len, err))) {
        free(bytes);
        goto done;
    }
done:
    rn_buf_free(&pdf);
    rn_report_ctx_free(&ctx);
    if (rc) {
        rn_dataset_destroy(ds);
        return NULL;
    }
    return ds;
}
