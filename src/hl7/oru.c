/*
 * ORU^R01 builder: the unsolicited observation message (HL7 v2.5.1 chapter 7,
 * 7.3.1, message structure ORU_R01) with which radnode hands an analyzer's
 * findings to a RIS: MSH (2.14.9), PID (3.4.2), ORC (4.5.1), OBR (7.4.1), NTE
 * (2.14.10) and one OBX (7.4.2) per observation, with coded identifiers and
 * values (CWE, 2.A.13), numbers (NM) with UCUM units, and report text (ST,
 * TX, FT). Results are preliminary (OBR-25 and OBX-11 "P", tables 0123 and
 * 0085) until a radiologist confirms them. The field-by-field profile is in
 * docs/hl7.md. Every input string is validated (UTF-8, lengths, code tables)
 * and escaped, so hostile findings give an error or a valid message, never a
 * malformed one.
 */
#include "hl7_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TEXT_BYTES (256u * 1024u)
#define MAX_OBSERVATIONS 5000u
#define MAX_NOTES 100u

static bool utf8_valid(const char *s)
{
    const uint8_t *p = (const uint8_t *)s;
    while (*p) {
        uint8_t c = *p;
        size_t n;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xE0) == 0xC0 && c >= 0xC2) {
            n = 1;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
        } else if ((c & 0xF8) == 0xF0 && c <= 0xF4) {
            n = 3;
        } else {
            return false;
        }
        for (size_t k = 1; k <= n; k++)
            if ((p[k] & 0xC0) != 0x80)
                return false;
        if (n == 2) {
            uint32_t cp =
                ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3Fu);
            if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))
                return false;
        } else if (n == 3) {
            uint32_t cp = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) |
                          ((uint32_t)(p[2] & 0x3F) << 6) | (p[3] & 0x3Fu);
            if (cp < 0x10000 || cp > 0x10FFFF)
                return false;
        }
        p += n + 1;
    }
    return true;
}

static bool empty(const char *s)
{
    return !s || !s[0];
}

/* Builder state: the message, the segment being filled and the first error. */
typedef struct Builder {
    RnHl7Message *m;
    size_t seg; /* index of the current segment */
    RnError *err;
    int rc;
} Builder;

static void add(Builder *b, const char *name)
{
    if (b->rc)
        return;
    int occ = rn_hl7_add_segment(b->m, name, b->err);
    if (occ < 0)
        b->rc = occ;
    b->seg = rn_hl7_segment_count(b->m) - 1;
}

/* Sets one component (escaped) of field `field` of the current segment. */
static void put(Builder *b, size_t field, size_t comp, const char *value)
{
    if (b->rc || empty(value))
        return;
    const char *name = rn_hl7_segment_name(b->m, b->seg);
    if (!utf8_valid(value)) {
        b->rc =
            rn_error_set(b->err, RN_ERR_INVALID, "%s-%zu: text is not valid UTF-8", name, field);
        return;
    }
    if (strlen(value) > MAX_TEXT_BYTES) {
        b->rc = rn_error_set(b->err, RN_ERR_INVALID, "%s-%zu: text longer than %u bytes", name,
                             field, MAX_TEXT_BYTES);
        return;
    }
    b->rc = rn_hl7_set_at(b->m, b->seg, field, 1, comp, 1, value, b->err);
}

static void put_coded(Builder *b, size_t field, const RnHl7Coded *c)
{
    put(b, field, 1, c->code);
    put(b, field, 2, c->text);
    put(b, field, 3, c->system);
}

static void put_ei(Builder *b, size_t field, const char *id, const char *ns)
{
    put(b, field, 1, id);
    if (!empty(id))
        put(b, field, 2, ns);
}

static int invalid(Builder *b, const char *fmt, const char *what)
{
    b->rc = rn_error_set(b->err, RN_ERR_INVALID, fmt, what);
    return b->rc;
}

static bool in_table(const char *v, const char *table)
{
    return v && strlen(v) == 1 && strchr(table, v[0]) != NULL;
}

/* NM (2.A.47): optional sign, digits, optional point and digits; never "-0". */
static int format_number(double v, int decimals, char *out, size_t cap)
{
    if (!isfinite(v) || decimals < 0 || decimals > 9 || fabs(v) >= 1e15)
        return -1;
    int n = snprintf(out, cap, "%.*f", decimals, v);
    if (n < 0 || (size_t)n >= cap)
        return -1;
    for (char *p = out; *p; p++)
        if (*p == ',') /* a locale's decimal comma */
            *p = '.';
    if (out[0] == '-' && strspn(out + 1, "0.") == strlen(out + 1))
        memmove(out, out + 1, strlen(out));
    return 0;
}

/* Joins the lines of text (split on LF, CR dropped), each escaped, with sep (raw). */
static int join_lines(const RnHl7Encoding *enc, const char *text, const char *sep, RnBuf *out,
                      RnError *err)
{
    const char *p = text;
    bool first = true;
    while (1) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        size_t l = len;
        if (l > 0 && p[l - 1] == '\r')
            l--;
        if (!first && rn_buf_append_str(out, sep) != 0)
            return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        first = false;
        /* Lone CRs inside a line are escaped as \X0D\ by rn_hl7_escape. */
        if (rn_hl7_escape(enc, p, l, out, err) != 0)
            return RN_ERR_NOMEM;
        if (!nl)
            break;
        p = nl + 1;
    }
    if (rn_buf_append_byte(out, 0) != 0)
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    return 0;
}

static const char *type_name(RnHl7ValueType t)
{
    switch (t) {
    case RN_HL7_VALUE_NM:
        return "NM";
    case RN_HL7_VALUE_CWE:
        return "CWE";
    case RN_HL7_VALUE_ST:
        return "ST";
    case RN_HL7_VALUE_TX:
        return "TX";
    case RN_HL7_VALUE_FT:
        return "FT";
    }
    return NULL;
}

static void put_observation(Builder *b, size_t set_id, const RnHl7Observation *o)
{
    char what[48];
    snprintf(what, sizeof what, "observation %zu", set_id);
    const char *tn = type_name(o->type);
    if (!tn) {
        invalid(b, "%s: unknown value type", what);
        return;
    }
    if (empty(o->identifier.code)) {
        invalid(b, "%s: OBX-3 observation identifier has no code", what);
        return;
    }
    if (o->result_status && !in_table(o->result_status, "CDFINOPRSUWX")) {
        invalid(b, "%s: OBX-11 result status is not in table 0085", what);
        return;
    }
    if (!empty(o->observation_datetime) && !rn_hl7_timestamp_valid(o->observation_datetime)) {
        invalid(b, "%s: OBX-14 is not an HL7 date/time", what);
        return;
    }
    char num[64];
    switch (o->type) {
    case RN_HL7_VALUE_NM:
        if (format_number(o->number, o->decimals, num, sizeof num) != 0) {
            invalid(b, "%s: NM value is not a finite number below 1e15 with 0-9 decimals", what);
            return;
        }
        break;
    case RN_HL7_VALUE_CWE:
        if (empty(o->coded.code) && empty(o->coded.text)) {
            invalid(b, "%s: CWE value has neither code nor text", what);
            return;
        }
        break;
    case RN_HL7_VALUE_ST:
        if (o->text && (strchr(o->text, '\n') || strchr(o->text, '\r'))) {
            invalid(b, "%s: ST value must be one line (use TX or FT)", what);
            return;
        }
        /* fallthrough */
    case RN_HL7_VALUE_TX:
    case RN_HL7_VALUE_FT:
        if (empty(o->text)) {
            invalid(b, "%s: text value is empty", what);
            return;
        }
        break;
    }
    char sid[24];
    snprintf(sid, sizeof sid, "%zu", set_id);
    add(b, "OBX");
    put(b, 1, 1, sid);
    put(b, 2, 1, tn);
    put_coded(b, 3, &o->identifier);
    put(b, 4, 1, o->sub_id);
    if (o->type == RN_HL7_VALUE_NM) {
        put(b, 5, 1, num);
    } else if (o->type == RN_HL7_VALUE_CWE) {
        put_coded(b, 5, &o->coded);
    } else if (o->type == RN_HL7_VALUE_ST) {
        put(b, 5, 1, o->text);
    } else if (!b->rc) {
        if (!utf8_valid(o->text) || strlen(o->text) > MAX_TEXT_BYTES) {
            invalid(b, "%s: text is not valid UTF-8 or too long", what);
            return;
        }
        /* TX: a line break is a repetition of OBX-5; FT: the \.br\ formatting command (2.7.6). */
        const RnHl7Encoding *enc = rn_hl7_message_encoding(b->m);
        char sep[8];
        if (o->type == RN_HL7_VALUE_TX)
            snprintf(sep, sizeof sep, "%c", enc->repetition);
        else
            snprintf(sep, sizeof sep, "%c.br%c", enc->escape, enc->escape);
        RnBuf raw = {0};
        b->rc = join_lines(enc, o->text, sep, &raw, b->err);
        if (!b->rc) {
            char path[32];
            snprintf(path, sizeof path, "OBX[%zu]-5", set_id);
            b->rc = rn_hl7_set_raw(b->m, path, (const char *)raw.data, b->err);
        }
        rn_buf_free(&raw);
    }
    put_coded(b, 6, &o->units);
    put(b, 7, 1, o->reference_range);
    put(b, 8, 1, o->abnormal_flags);
    put(b, 11, 1, o->result_status ? o->result_status : "P");
    put(b, 14, 1, o->observation_datetime);
    put(b, 18, 1, o->equipment);
    put_coded(b, 20, &o->site);
}

static int validate(Builder *b, const RnHl7Oru *o)
{
    const RnHl7OruHeader *h = &o->header;
    if (h->control_id) {
        size_t n = strlen(h->control_id);
        if (n == 0 || n > RN_HL7_MAX_CONTROL_ID)
            return invalid(b, "%s: must be 1 to 20 characters", "MSH-10 control ID");
        for (size_t i = 0; i < n; i++)
            if ((uint8_t)h->control_id[i] < 0x21 || (uint8_t)h->control_id[i] > 0x7E)
                return invalid(b, "%s: must be printable ASCII", "MSH-10 control ID");
    }
    if (h->timestamp && !rn_hl7_timestamp_valid(h->timestamp))
        return invalid(b, "%s is not an HL7 date/time", "MSH-7");
    if (h->processing_id && !in_table(h->processing_id, "DPT"))
        return invalid(b, "%s must be D, P or T (table 0103)", "MSH-11");
    if (empty(o->patient.id))
        return invalid(b, "%s: patient ID is required", "PID-3");
    if (!empty(o->patient.birth_date) &&
        (strlen(o->patient.birth_date) > 8 || !rn_hl7_timestamp_valid(o->patient.birth_date)))
        return invalid(b, "%s: birth date must be YYYY[MM[DD]]", "PID-7");
    if (!empty(o->patient.sex) && !in_table(o->patient.sex, "FMOUAN"))
        return invalid(b, "%s: sex must be one of F M O U A N (table 0001)", "PID-8");
    const RnHl7Order *r = &o->order;
    if (empty(r->placer_order_number) && empty(r->filler_order_number) &&
        empty(r->accession_number))
        return invalid(b,
                       "%s: a placer or filler order number or an accession number is "
                       "required to attach the result to its order",
                       "ORC/OBR");
    if (empty(r->service.code) && empty(r->service.text))
        return invalid(b, "%s: universal service ID is required", "OBR-4");
    if (empty(r->observation_datetime) || !rn_hl7_timestamp_valid(r->observation_datetime))
        return invalid(b, "%s: observation date/time is required (HL7 DTM)", "OBR-7");
    if (!empty(r->result_datetime) && !rn_hl7_timestamp_valid(r->result_datetime))
        return invalid(b, "%s is not an HL7 date/time", "OBR-22");
    if (r->result_status && !in_table(r->result_status, "OISAPCRFXYZ"))
        return invalid(b, "%s: result status is not in table 0123", "OBR-25");
    if (o->observation_count > MAX_OBSERVATIONS || (o->observation_count && !o->observations))
        return invalid(b, "%s: too many observations or none given", "OBX");
    if (o->note_count > MAX_NOTES || (o->note_count && !o->notes))
        return invalid(b, "%s: too many notes or none given", "NTE");
    return 0;
}

RnHl7Message *rn_hl7_oru_build(const RnHl7Oru *oru, RnError *err)
{
    if (!oru) {
        rn_error_set(err, RN_ERR_INVALID, "no ORU content");
        return NULL;
    }
    Builder b = {.err = err};
    if (validate(&b, oru) != 0)
        return NULL;
    const RnHl7OruHeader *h = &oru->header;
    char ts[32], cid[RN_HL7_MAX_CONTROL_ID + 1];
    const char *timestamp = h->timestamp, *control = h->control_id;
    if (!timestamp) {
        if (rn_hl7_timestamp_now(ts, sizeof ts, err) != 0)
            return NULL;
        timestamp = ts;
    }
    if (!control) {
        if (rn_hl7_control_id_generate(cid, sizeof cid, err) != 0)
            return NULL;
        control = cid;
    }
    b.m = rn_hl7_message_create(NULL, err);
    if (!b.m)
        return NULL;

    /* MSH (2.14.9) */
    put(&b, 3, 1, h->sending_application ? h->sending_application : "RADNODE");
    put(&b, 4, 1, h->sending_facility);
    put(&b, 5, 1, h->receiving_application);
    put(&b, 6, 1, h->receiving_facility);
    put(&b, 7, 1, timestamp);
    put(&b, 9, 1, "ORU");
    put(&b, 9, 2, "R01");
    put(&b, 9, 3, "ORU_R01");
    put(&b, 10, 1, control);
    put(&b, 11, 1, h->processing_id ? h->processing_id : "P");
    put(&b, 12, 1, "2.5.1");
    put(&b, 18, 1, "UNICODE UTF-8");

    /* PID (3.4.2): PID-3 CX id^^^authority^type, PID-5 XPN family^given^middle. */
    const RnHl7Patient *p = &oru->patient;
    add(&b, "PID");
    put(&b, 1, 1, "1");
    put(&b, 3, 1, p->id);
    put(&b, 3, 4, p->id_authority);
    put(&b, 3, 5, p->id_type ? p->id_type : "MR");
    put(&b, 5, 1, p->family_name);
    put(&b, 5, 2, p->given_name);
    put(&b, 5, 3, p->middle_name);
    put(&b, 7, 1, p->birth_date);
    put(&b, 8, 1, p->sex);

    /* ORC (4.5.1): RE = observations to follow (table 0119). */
    const RnHl7Order *r = &oru->order;
    add(&b, "ORC");
    put(&b, 1, 1, "RE");
    put_ei(&b, 2, r->placer_order_number, r->placer_namespace);
    put_ei(&b, 3, r->filler_order_number, r->filler_namespace);

    /* OBR (7.4.1); OBR-18 carries the accession number as in IHE Radiology. */
    add(&b, "OBR");
    put(&b, 1, 1, "1");
    put_ei(&b, 2, r->placer_order_number, r->placer_namespace);
    put_ei(&b, 3, r->filler_order_number, r->filler_namespace);
    put_coded(&b, 4, &r->service);
    put(&b, 7, 1, r->observation_datetime);
    put(&b, 18, 1, r->accession_number);
    put(&b, 22, 1, empty(r->result_datetime) ? timestamp : r->result_datetime);
    put(&b, 24, 1, r->diagnostic_service ? r->diagnostic_service : "RAD");
    put(&b, 25, 1, r->result_status ? r->result_status : "P");

    /* NTE (2.14.10) after OBR: the preliminary statement first, then the caller's notes. */
    for (size_t i = 0; i <= oru->note_count && !b.rc; i++) {
        const char *text = i == 0 ? RN_HL7_PRELIMINARY_NOTE : oru->notes[i - 1];
        if (empty(text))
            continue;
        if (strchr(text, '\n') || strchr(text, '\r')) {
            invalid(&b, "%s: a note must be one line (one note per line)", "NTE-3");
            break;
        }
        char sid[24];
        snprintf(sid, sizeof sid, "%zu", rn_hl7_segment_occurrences(b.m, "NTE") + 1);
        add(&b, "NTE");
        put(&b, 1, 1, sid);
        put(&b, 2, 1, "L"); /* table 0105: ancillary (filler) department is the source */
        put(&b, 3, 1, text);
        put(&b, 4, 1, "RE"); /* table 0364: remark */
    }

    for (size_t i = 0; i < oru->observation_count && !b.rc; i++)
        put_observation(&b, i + 1, &oru->observations[i]);

    if (b.rc) {
        rn_hl7_message_destroy(b.m);
        return NULL;
    }
    return b.m;
}
