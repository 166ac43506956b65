/*
 * The HL7 v2.5.1 ORU^R01 of the findings (chapter 7, 7.3.1), built with the
 * HL7 module's message builder (include/radnode/hl7.h): MSH/PID/ORC/OBR from
 * the source study (Patient ID, name, birth date, sex; placer and filler
 * order numbers (0040,2016)/(0040,2017) and the accession number in OBR-18
 * as IHE Radiology does), the preliminary NTE, and one OBX per measurement
 * (NM with UCUM units, its uncertainty as a second NM), per coded finding
 * (CWE) and for the report text (TX, LOINC 19005-8 Impressions), result
 * status P throughout.
 */
#include "report/report_internal.h"

#include "radnode/hl7.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Digits after the point that represent v exactly enough (0..6). */
static int decimals_for(double v)
{
    for (int d = 0; d < 6; d++) {
        double p = pow(10, d);
        if (fabs(round(v * p) / p - v) <= 1e-9 * fmax(1.0, fabs(v)))
            return d;
    }
    return 6;
}

static bool all_digits(const char *s, size_t n)
{
    if (strlen(s) < n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

int rn_report_build_oru(const json_t *findings, const RnReportSource *sources,
                        size_t source_count, const RnReportOptions *opt, RnBuf *out,
                        RnError *err)
{
    RnReportCtx ctx;
    int rc = rn_report_ctx_init(&ctx, findings, sources, source_count, opt, err);
    if (rc) {
        rn_report_ctx_free(&ctx);
        return rc;
    }
    const RnDataset *ds = rn_report_ctx_primary(&ctx);
    char pid[65] = "", name[200] = "", birth[17] = "", sex[17] = "", sdate[17] = "",
         stime[17] = "", acc[17] = "", placer[65] = "", filler[65] = "";
    if (ds) {
        rn_dataset_get_string(ds, RN_TAG_PatientID, 0, pid, sizeof pid, NULL);
        rn_dataset_get_string(ds, RN_TAG_PatientName, 0, name, sizeof name, NULL);
        rn_dataset_get_string(ds, RN_TAG_PatientBirthDate, 0, birth, sizeof birth, NULL);
        rn_dataset_get_string(ds, RN_TAG_PatientSex, 0, sex, sizeof sex, NULL);
        rn_dataset_get_string(ds, RN_TAG_StudyDate, 0, sdate, sizeof sdate, NULL);
        rn_dataset_get_string(ds, RN_TAG_StudyTime, 0, stime, sizeof stime, NULL);
        rn_dataset_get_string(ds, RN_TAG_AccessionNumber, 0, acc, sizeof acc, NULL);
        rn_dataset_get_string(ds, RN_TAG(0x0040, 0x2016), 0, placer, sizeof placer, NULL);
        rn_dataset_get_string(ds, RN_TAG(0x0040, 0x2017), 0, filler, sizeof filler, NULL);
    }
    /* PN "Family^Given^Middle" (first component group only). */
    char *eq = strchr(name, '=');
    if (eq)
        *eq = 0;
    char *given = strchr(name, '^'), *middle = NULL;
    if (given) {
        *given++ = 0;
        middle = strchr(given, '^');
        if (middle) {
            *middle++ = 0;
            char *rest = strchr(middle, '^');
            if (rest)
                *rest = 0;
        }
    }
    const char *sex_hl7 = !strcmp(sex, "M") ? "M" : !strcmp(sex, "F") ? "F"
                          : !strcmp(sex, "O") ? "O" : "U";
    char obs_dt[32], msg_dt[32];
    snprintf(msg_dt, sizeof msg_dt, "%s%s", ctx.date, ctx.time);
    if (all_digits(sdate, 8)) {
        size_t tl = 0;
        while (tl < 6 && isdigit((unsigned char)stime[tl]))
            tl++;
        tl -= tl % 2;
        snprintf(obs_dt, sizeof obs_dt, "%.8s%.*s", sdate, (int)tl, stime);
    } else {
        snprintf(obs_dt, sizeof obs_dt, "%s", msg_dt);
    }
    char uid[RN_UID_MAX + 1], control[RN_HL7_MAX_CONTROL_ID + 1];
    rn_report_ctx_uid(&ctx, RN_REPORT_HL7, "message", uid);
    size_t ul = strlen(uid);
    snprintf(control, sizeof control, "RN%s", uid + (ul > 18 ? ul - 18 : 0));

    size_t cap = ctx.meas_count * 2 + ctx.code_count + 2;
    RnHl7Observation *obs = rn_calloc(cap, sizeof *obs);
    char (*sub)[16] = rn_calloc(cap, sizeof *sub);
    char *equipment = rn_malloc(160);
    RnBuf text = {0};
    if (!obs || !sub || !equipment) {
        rc = rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        goto done;
    }
    snprintf(equipment, 160, "%s %s", ctx.alg_name, ctx.alg_version);
    size_t n = 0;
    for (size_t i = 0; i < ctx.meas_count; i++) {
        const RnMeasurement *m = &ctx.meas[i];
        /* OBX-4 groups the rows of one measurement group: its 1-based index. */
        size_t g = 1;
        for (size_t j = 0, seen = 0; j <= i; j++) {
            bool first = true;
            for (size_t k = 0; k < j; k++)
                if (!strcmp(ctx.meas[k].group, ctx.meas[j].group))
                    first = false;
            if (first)
                seen++;
            if (!strcmp(ctx.meas[j].group, m->group)) {
                g = seen;
                break;
            }
        }
        snprintf(sub[n], sizeof sub[n], "%zu", g);
        RnHl7Observation *o = &obs[n++];
        o->type = RN_HL7_VALUE_NM;
        o->identifier = (RnHl7Coded){m->concept.value, m->concept.meaning, m->concept.scheme};
        o->sub_id = sub[n - 1];
        o->number = m->value;
        o->decimals = decimals_for(m->value);
        o->units = (RnHl7Coded){m->ucum, m->unit_meaning, "UCUM"};
        o->equipment = equipment;
        if (m->has_site)
            o->site = (RnHl7Coded){m->site.value, m->site.meaning, m->site.scheme};
        if (m->has_uncertainty) {
            memcpy(sub[n], sub[n - 1], sizeof sub[n]);
            RnHl7Observation *u = &obs[n++];
            u->type = RN_HL7_VALUE_NM;
            u->identifier = (RnHl7Coded){"371884006", "+/-, range of measurement uncertainty",
                                         "SCT"};
            u->sub_id = sub[n - 1];
            u->number = m->uncertainty;
            u->decimals = decimals_for(m->uncertainty);
            u->units = o->units;
            u->equipment = equipment;
        }
    }
    for (size_t i = 0; i < ctx.code_count; i++) {
        RnHl7Observation *o = &obs[n++];
        const RnCodedFinding *c = &ctx.codes[i];
        o->type = RN_HL7_VALUE_CWE;
        o->identifier = (RnHl7Coded){c->concept.value, c->concept.meaning, c->concept.scheme};
        o->coded = (RnHl7Coded){c->value.value, c->value.meaning, c->value.scheme};
        o->equipment = equipment;
    }
    if (ctx.refused) {
        rc = rn_buf_printf(&text, "%s: %s\n", rn_report_label(&ctx, RN_L_REFUSED),
                           ctx.refusal_reason ? ctx.refusal_reason : "-");
    }
    for (size_t i = 0; !rc && i < ctx.line_count; i++)
        rc = rn_buf_printf(&text, "%s\n", ctx.lines[i]);
    if (!rc)
        rc = rn_buf_append_byte(&text, 0);
    if (rc) {
        rc = rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        goto done;
    }
    char *t = (char *)text.data;
    size_t tl = strlen(t);
    while (tl && t[tl - 1] == '\n')
        t[--tl] = 0;
    if (tl) {
        RnHl7Observation *o = &obs[n++];
        o->type = RN_HL7_VALUE_TX;
        o->identifier = (RnHl7Coded){"19005-8", "Impressions", "LN"};
        o->text = t;
        o->equipment = equipment;
    }
    const char *prelim = rn_report_label(&ctx, RN_L_PRELIMINARY);
    RnHl7Oru oru = {
        .header = {.sending_application = "RADNODE",
                   .sending_facility = ctx.opt.station_ae,
                   .receiving_application = ctx.opt.hl7_receiving_application
                                                ? ctx.opt.hl7_receiving_application : "RIS",
                   .receiving_facility = ctx.opt.hl7_receiving_facility,
                   .timestamp = ctx.opt.content_datetime ? msg_dt : NULL,
                   .control_id = control},
        .patient = {.id = pid[0] ? pid : "UNKNOWN",
                    .family_name = name,
                    .given_name = given,
                    .middle_name = middle,
                    .birth_date = all_digits(birth, 8) ? birth : NULL,
                    .sex = sex_hl7},
        .order = {.placer_order_number = placer[0] ? placer : (acc[0] ? acc : NULL),
                  .filler_order_number = filler[0] ? filler : (acc[0] ? acc : NULL),
                  .accession_number = acc,
                  .service = {ctx.procedure.value, ctx.procedure.meaning, ctx.procedure.scheme},
                  .observation_datetime = obs_dt,
                  .result_status = "P"},
        .observations = obs,
        .observation_count = n,
        .notes = ctx.zh ? &prelim : NULL,
        .note_count = ctx.zh ? 1 : 0,
    };
    RnHl7Message *msg = rn_hl7_oru_build(&oru, err);
    if (!msg) {
        rc = err && err->code ? err->code : RN_ERR_INVALID;
        goto done;
    }
    rc = rn_hl7_serialize(msg, out, err);
    rn_hl7_message_destroy(msg);
done:
    rn_buf_free(&text);
    free(obs);
    free(sub);
    free(equipment);
    rn_report_ctx_free(&ctx);
    return rc;
}
