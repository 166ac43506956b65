/*
 * HL7 v2 acknowledgments in original mode, HL7 v2.5.1 chapter 2: 2.9.2
 * (original acknowledgment rules: AA accept, AE error, AR reject), 2.14.8 MSA
 * (MSA-1 table 0008, MSA-2 the acknowledged MSH-10, MSA-3 text), 2.14.5 ERR
 * (ERR-3 table 0357 error condition, ERR-4 severity, ERR-8 user message) and
 * the general message ACK^<trigger>^ACK (2.13.1). Also the message time stamp
 * (DTM, 2.A.22) and message control ID (MSH-10, 2.14.9.10) helpers that every
 * builder uses. An acknowledgment code is data returned to the caller; only
 * bytes that are not an acknowledgment at all are an error.
 */
#include "hl7_internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* ---- Time stamps and control IDs ---------------------------------------------------- */

int rn_hl7_timestamp_now(char *out, size_t cap, RnError *err)
{
    if (!out || cap < 20)
        return rn_error_set(err, RN_ERR_INVALID, "time stamp buffer too small");
    time_t now = time(NULL);
    struct tm tm;
    if (!localtime_r(&now, &tm) || strftime(out, cap, "%Y%m%d%H%M%S%z", &tm) == 0)
        return rn_error_set(err, RN_ERR_INVALID, "cannot format the current time");
    return 0;
}

static bool all_digits(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return true;
}

bool rn_hl7_timestamp_valid(const char *ts)
{
    if (!ts)
        return false;
    size_t len = strlen(ts);
    size_t digits = 0;
    while (digits < len && ts[digits] >= '0' && ts[digits] <= '9')
        digits++;
    if (digits != 4 && digits != 6 && digits != 8 && digits != 10 && digits != 12 && digits != 14)
        return false;
    size_t p = digits;
    if (digits >= 6) {
        int month = (ts[4] - '0') * 10 + (ts[5] - '0');
        if (month < 1 || month > 12)
            return false;
    }
    if (digits >= 8) {
        int day = (ts[6] - '0') * 10 + (ts[7] - '0');
        if (day < 1 || day > 31)
            return false;
    }
    if (digits >= 10 && (ts[8] - '0') * 10 + (ts[9] - '0') > 23)
        return false;
    if (digits >= 12 && (ts[10] - '0') * 10 + (ts[11] - '0') > 59)
        return false;
    if (digits >= 14 && (ts[12] - '0') * 10 + (ts[13] - '0') > 60)
        return false;
    if (p < len && ts[p] == '.') {
        if (digits != 14)
            return false;
        size_t f = p + 1;
        while (f < len && ts[f] >= '0' && ts[f] <= '9')
            f++;
        if (f == p + 1 || f - p - 1 > 4)
            return false;
        p = f;
    }
    if (p < len && (ts[p] == '+' || ts[p] == '-')) {
        if (len - p - 1 != 4 || !all_digits(ts + p + 1, 4))
            return false;
        p = len;
    }
    return p == len;
}

static int random_bytes(uint8_t *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(buf + got, n - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got == n)
        return 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0) {
            close(fd);
            return -1;
        }
        got += (size_t)r;
    }
    close(fd);
    return 0;
}

int rn_hl7_control_id_generate(char *out, size_t cap, RnError *err)
{
    if (!out || cap < RN_HL7_MAX_CONTROL_ID + 1)
        return rn_error_set(err, RN_ERR_INVALID, "control ID buffer too small");
    uint8_t r[9];
    if (random_bytes(r, sizeof r) != 0)
        return rn_error_set(err, RN_ERR_IO, "no random source for the message control ID");
    static const char hex[] = "0123456789ABCDEF";
    out[0] = 'R';
    out[1] = 'N';
    for (size_t i = 0; i < sizeof r; i++) {
        out[2 + 2 * i] = hex[r[i] >> 4];
        out[3 + 2 * i] = hex[r[i] & 15];
    }
    out[RN_HL7_MAX_CONTROL_ID] = 0;
    return 0;
}

/* ---- Codes -------------------------------------------------------------------------- */

static const char *const ack_names[] = {"AA", "AE", "AR", "CA", "CE", "CR"};

const char *rn_hl7_ack_code_name(RnHl7AckCode code)
{
    return (unsigned)code < 6 ? ack_names[code] : "??";
}

int rn_hl7_ack_code_parse(const char *text, RnHl7AckCode *code, RnError *err)
{
    for (int i = 0; text && i < 6; i++) {
        if (strcmp(text, ack_names[i]) == 0) {
            *code = (RnHl7AckCode)i;
            return 0;
        }
    }
    return rn_error_set(err, RN_ERR_PARSE,
                        "'%.16s' is not an acknowledgment code (table 0008: AA AE AR CA CE CR)",
                        text ? text : "");
}

bool rn_hl7_ack_code_accepted(RnHl7AckCode code)
{
    return code == RN_HL7_ACK_AA || code == RN_HL7_ACK_CA;
}

static const char *error_condition_text(int c)
{
    switch (c) {
    case 100:
        return "Segment sequence error";
    case 101:
        return "Required field missing";
    case 102:
        return "Data type error";
    case 103:
        return "Table value not found";
    case 200:
        return "Unsupported message type";
    case 201:
        return "Unsupported event code";
    case 202:
        return "Unsupported processing id";
    case 203:
        return "Unsupported version id";
    case 204:
        return "Unknown key identifier";
    case 205:
        return "Duplicate key identifier";
    case 206:
        return "Application record locked";
    default:
        return "Application internal error";
    }
}

/* Copies at most cap - 1 bytes, never cutting a UTF-8 sequence. */
static void copy_trunc(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((uint8_t)src[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = 0;
}

/* ---- Building ---------------------------------------------------------------------- */

typedef struct AckInput {
    const RnHl7Encoding *enc;
    const char *recv_app_raw, *recv_fac_raw; /* the original's MSH-5/6 (encoded) */
    const char *send_app_raw, *send_fac_raw; /* the original's MSH-3/4 (encoded) */
    const char *trigger;                     /* decoded */
    const char *processing_raw, *version_raw, *charset_raw;
    const char *control_id; /* original MSH-10, decoded */
} AckInput;

static RnHl7Message *build(const AckInput *in, RnHl7AckCode code, const RnHl7AckOptions *opts,
                           RnError *err)
{
    RnHl7AckOptions none = {0};
    if (!opts)
        opts = &none;
    if ((unsigned)code > RN_HL7_ACK_CR) {
        rn_error_set(err, RN_ERR_INVALID, "invalid acknowledgment code %d", (int)code);
        return NULL;
    }
    char ts[32], cid[RN_HL7_MAX_CONTROL_ID + 1];
    const char *timestamp = opts->timestamp, *control = opts->control_id;
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
    RnHl7Message *m = rn_hl7_message_create(in->enc, err);
    if (!m)
        return NULL;
    int rc = 0;
    if (opts->application)
        rc = rn_hl7_set(m, "MSH-3", opts->application, err);
    else if (in->recv_app_raw)
        rc = rn_hl7_set_raw(m, "MSH-3", in->recv_app_raw, err);
    if (rc == 0 && opts->facility)
        rc = rn_hl7_set(m, "MSH-4", opts->facility, err);
    else if (rc == 0 && in->recv_fac_raw)
        rc = rn_hl7_set_raw(m, "MSH-4", in->recv_fac_raw, err);
    if (rc == 0 && in->send_app_raw)
        rc = rn_hl7_set_raw(m, "MSH-5", in->send_app_raw, err);
    if (rc == 0 && in->send_fac_raw)
        rc = rn_hl7_set_raw(m, "MSH-6", in->send_fac_raw, err);
    if (rc == 0)
        rc = rn_hl7_set(m, "MSH-7", timestamp, err);
    /* 2.13.1: the general acknowledgment, message structure ACK. */
    if (rc == 0)
        rc = rn_hl7_set(m, "MSH-9-1", "ACK", err);
    if (rc == 0 && in->trigger && in->trigger[0])
        rc = rn_hl7_set(m, "MSH-9-2", in->trigger, err);
    if (rc == 0)
        rc = rn_hl7_set(m, "MSH-9-3", "ACK", err);
    if (rc == 0)
        rc = rn_hl7_set(m, "MSH-10", control, err);
    if (rc == 0)
        rc = in->processing_raw && in->processing_raw[0]
                 ? rn_hl7_set_raw(m, "MSH-11", in->processing_raw, err)
                 : rn_hl7_set(m, "MSH-11", "P", err);
    if (rc == 0)
        rc = in->version_raw && in->version_raw[0]
                 ? rn_hl7_set_raw(m, "MSH-12", in->version_raw, err)
                 : rn_hl7_set(m, "MSH-12", "2.5.1", err);
    if (rc == 0 && in->charset_raw && in->charset_raw[0])
        rc = rn_hl7_set_raw(m, "MSH-18", in->charset_raw, err);
    if (rc == 0 && rn_hl7_add_segment(m, "MSA", err) < 0)
        rc = RN_ERR_NOMEM;
    if (rc == 0)
        rc = rn_hl7_set(m, "MSA-1", rn_hl7_ack_code_name(code), err);
    if (rc == 0)
        rc = rn_hl7_set(m, "MSA-2", in->control_id ? in->control_id : "", err);
    if (rc == 0 && opts->text && opts->text[0]) {
        char shortened[81]; /* MSA-3 is ST(80) in v2.5.1 */
        copy_trunc(shortened, sizeof shortened, opts->text);
        rc = rn_hl7_set(m, "MSA-3", shortened, err);
    }
    if (rc == 0 && !rn_hl7_ack_code_accepted(code)) {
        int cond = opts->error_condition ? opts->error_condition : RN_HL7_ERRC_APPLICATION_INTERNAL;
        char num[16];
        snprintf(num, sizeof num, "%d", cond);
        if (rn_hl7_add_segment(m, "ERR", err) < 0)
            rc = RN_ERR_NOMEM;
        if (rc == 0)
            rc = rn_hl7_set(m, "ERR-3-1", num, err);
        if (rc == 0)
            rc = rn_hl7_set(m, "ERR-3-2", error_condition_text(cond), err);
        if (rc == 0)
            rc = rn_hl7_set(m, "ERR-3-3", "HL70357", err);
        if (rc == 0)
            rc = rn_hl7_set(m, "ERR-4", "E", err);
        if (rc == 0 && opts->text && opts->text[0])
            rc = rn_hl7_set(m, "ERR-8", opts->text, err);
    }
    if (rc != 0) {
        rn_hl7_message_destroy(m);
        return NULL;
    }
    return m;
}

RnHl7Message *rn_hl7_ack_build(const RnHl7Message *original, RnHl7AckCode code,
                               const RnHl7AckOptions *opts, RnError *err)
{
    if (!original) {
        rn_error_set(err, RN_ERR_INVALID, "no message to acknowledge");
        return NULL;
    }
    char *trigger = rn_hl7_get_dup(original, "MSH-9-2", err);
    char *control = trigger ? rn_hl7_get_dup(original, "MSH-10", err) : NULL;
    RnHl7Message *ack = NULL;
    if (trigger && control) {
        AckInput in = {
            .enc = rn_hl7_message_encoding(original),
            .recv_app_raw = rn_hl7_segment_field_raw(original, 0, 5),
            .recv_fac_raw = rn_hl7_segment_field_raw(original, 0, 6),
            .send_app_raw = rn_hl7_segment_field_raw(original, 0, 3),
            .send_fac_raw = rn_hl7_segment_field_raw(original, 0, 4),
            .trigger = trigger,
            .processing_raw = rn_hl7_segment_field_raw(original, 0, 11),
            .version_raw = rn_hl7_segment_field_raw(original, 0, 12),
            .charset_raw = rn_hl7_segment_field_raw(original, 0, 18),
            .control_id = control,
        };
        ack = build(&in, code, opts, err);
    }
    free(trigger);
    free(control);
    return ack;
}

RnHl7Message *rn_hl7_ack_build_unparsed(const uint8_t *data, size_t len, RnHl7AckCode code,
                                        const RnHl7AckOptions *opts, RnError *err)
{
    /* Lenient scan for MSH-10: the 10th piece of the first line split on MSH-1. */
    char control[RN_HL7_MAX_CONTROL_ID + 1] = {0};
    size_t p = 0;
    while (data && p < len && (data[p] == '\r' || data[p] == '\n'))
        p++;
    if (data && len - p > 4 && memcmp(data + p, "MSH", 3) == 0) {
        uint8_t fs = data[p + 3];
        size_t piece = 0, i = p + 3, n = 0;
        bool ok = true;
        for (; i < len && data[i] != '\r' && data[i] != '\n'; i++) {
            if (data[i] == fs) {
                if (piece == 9)
                    break;
                piece++;
                continue;
            }
            if (piece == 9) {
                if (n >= RN_HL7_MAX_CONTROL_ID || data[i] < 0x20 || data[i] > 0x7E) {
                    ok = false;
                    break;
                }
                control[n++] = (char)data[i];
            }
        }
        if (!ok)
            control[0] = 0;
        else
            control[n] = 0;
    }
    RnHl7Encoding enc;
    rn_hl7_encoding_default(&enc);
    /* An escape character inside the scanned ID cannot be trusted: drop it. */
    if (strchr(control, '\\') || strchr(control, '|') || strchr(control, '^') ||
        strchr(control, '~') || strchr(control, '&'))
        control[0] = 0;
    AckInput in = {.enc = &enc, .control_id = control};
    return build(&in, code, opts, err);
}

/* ---- Interpreting ------------------------------------------------------------------- */

int rn_hl7_ack_from_message(const RnHl7Message *msg, RnHl7Ack *ack, RnError *err)
{
    memset(ack, 0, sizeof *ack);
    if (rn_hl7_segment_find(msg, "MSA", 1) == (size_t)-1)
        return rn_error_set(err, RN_ERR_PARSE, "acknowledgment has no MSA segment");
    char buf[256];
    if (rn_hl7_get(msg, "MSA-1", buf, sizeof buf, NULL) < 0 ||
        rn_hl7_ack_code_parse(buf, &ack->code, err) != 0) {
        rn_error_set(err, RN_ERR_PARSE, "MSA-1 is not an acknowledgment code (table 0008)");
        return RN_ERR_PARSE;
    }
    char *s = rn_hl7_get_dup(msg, "MSA-2", err);
    if (!s)
        return RN_ERR_NOMEM;
    copy_trunc(ack->control_id, sizeof ack->control_id, s);
    free(s);
    s = rn_hl7_get_dup(msg, "MSH-10", err);
    if (!s)
        return RN_ERR_NOMEM;
    copy_trunc(ack->ack_control_id, sizeof ack->ack_control_id, s);
    free(s);

    /* Text: MSA-3 (kept for backward compatibility in 2.5.1), else ERR-8, else ERR-3-2;
     * error condition from ERR-3-1, or from the pre-2.5 ERR-1-4 (CWE in a CM component). */
    const char *text_paths[] = {"MSA-3", "ERR-8", "ERR-3-2", "ERR-1-4-2"};
    for (size_t i = 0; i < 4 && !ack->text[0]; i++) {
        s = rn_hl7_get_dup(msg, text_paths[i], NULL);
        if (s)
            copy_trunc(ack->text, sizeof ack->text, s);
        free(s);
    }
    const char *cond_paths[] = {"ERR-3-1", "ERR-1-4-1"};
    for (size_t i = 0; i < 2 && !ack->error_condition; i++) {
        if (rn_hl7_get(msg, cond_paths[i], buf, sizeof buf, NULL) > 0 && strlen(buf) <= 6 &&
            all_digits(buf, strlen(buf)))
            ack->error_condition = atoi(buf);
    }
    return 0;
}

int rn_hl7_ack_parse(const uint8_t *data, size_t len, RnHl7Ack *ack, RnError *err)
{
    RnHl7Limits lim = {.max_message_bytes = 1024 * 1024, .max_segments = 1000};
    RnError local = {0};
    RnError *e = err ? err : &local;
    RnHl7Message *m = rn_hl7_parse(data, len, &lim, e);
    if (!m) {
        memset(ack, 0, sizeof *ack);
        rn_error_prefix(e, "acknowledgment: ");
        return e->code ? e->code : RN_ERR_PARSE;
    }
    int rc = rn_hl7_ack_from_message(m, ack, err);
    rn_hl7_message_destroy(m);
    return rc;
}
