/*
 * HL7 v2 message model: parsing, field access by path, escaping and
 * serialisation, as defined by HL7 v2.5.1 chapter 2 ("Control"): 2.5 message
 * construction (segments terminated by CR, fields separated by MSH-1,
 * components, repetitions and subcomponents by the MSH-2 encoding
 * characters), 2.7 use of escape sequences in text fields (\F\ \S\ \T\ \R\
 * \E\ \Xdddd\ \H\ \N\), and the MSH segment layout (2.14.9).
 *
 * A message is a list of segments; each segment keeps its fields in encoded
 * form (one heap string per field), so parsing is one pass over the input and
 * serialising an unmodified message reproduces its fields byte for byte.
 * Getters split and decode on demand; setters escape and splice. Every read of
 * the input is bounded by its real length; the input may hold any bytes.
 */
#include "hl7_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct Hl7Segment {
    char name[4];
    size_t nfields; /* fields after the ID; fields[k - 1] is field k */
    size_t cap;
    char **fields; /* NULL entries are empty fields */
} Hl7Segment;

struct RnHl7Message {
    RnHl7Encoding enc;
    char encoding_chars[6]; /* MSH-2 as received (4 or 5 characters) */
    char field_sep[2];      /* MSH-1 as a string */
    Hl7Segment *segs;
    size_t nsegs;
    size_t cap;
};

void rn_hl7_encoding_default(RnHl7Encoding *enc)
{
    enc->field = '|';
    enc->component = '^';
    enc->repetition = '~';
    enc->escape = '\\';
    enc->subcomponent = '&';
}

/* ---- Spans ------------------------------------------------------------------- */

Hl7Span rn_hl7_span_piece(Hl7Span s, char delim, size_t k)
{
    Hl7Span r = {s.p, 0};
    if (k == 0 || !s.p)
        return r;
    size_t start = 0, idx = 1;
    for (size_t i = 0; i <= s.len; i++) {
        if (i == s.len || s.p[i] == delim) {
            if (idx == k) {
                r.p = s.p + start;
                r.len = i - start;
                return r;
            }
            idx++;
            start = i + 1;
        }
    }
    r.p = s.p + s.len;
    r.len = 0;
    return r;
}

size_t rn_hl7_span_count(Hl7Span s, char delim)
{
    if (!s.p || s.len == 0)
        return 0;
    size_t n = 1;
    for (size_t i = 0; i < s.len; i++)
        if (s.p[i] == delim)
            n++;
    return n;
}

/* ---- Escapes (2.7) -------------------------------------------------------------- */

int rn_hl7_unescape(const RnHl7Encoding *enc, const char *text, size_t len, RnBuf *out,
                    RnError *err)
{
    size_t i = 0;
    while (i < len) {
        char c = text[i];
        if (c != enc->escape) {
            /* Copy the run up to the next escape character in one append. */
            size_t j = i + 1;
            while (j < len && text[j] != enc->escape)
                j++;
            if (rn_buf_append(out, text + i, j - i) != 0)
                return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
            i = j;
            continue;
        }
        size_t close = i + 1;
        while (close < len && text[close] != enc->escape)
            close++;
        if (close >= len) {
            /* An unterminated escape is taken literally (lenient, as most receivers do). */
            if (rn_buf_append(out, text + i, len - i) != 0)
                return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
            break;
        }
        const char *seq = text + i + 1;
        size_t slen = close - i - 1;
        int rc = 0;
        char lit = 0;
        if (slen == 1) {
            switch (seq[0]) {
            case 'F':
                lit = enc->field;
                break;
            case 'S':
                lit = enc->component;
                break;
            case 'T':
                lit = enc->subcomponent;
                break;
            case 'R':
                lit = enc->repetition;
                break;
            case 'E':
                lit = enc->escape;
                break;
            case 'H': /* highlighting on/off: presentation only, dropped */
            case 'N':
                i = close + 1;
                continue;
            default:
                break;
            }
        }
        if (lit) {
            rc = rn_buf_append_byte(out, (uint8_t)lit);
        } else if (slen >= 3 && seq[0] == 'X' && (slen - 1) % 2 == 0) {
            bool ok = true;
            for (size_t k = 1; k < slen; k++)
                if (rn_hex_digit(seq[k]) < 0)
                    ok = false;
            if (ok) {
                for (size_t k = 1; k + 1 < slen && rc == 0; k += 2)
                    rc = rn_buf_append_byte(out, (uint8_t)((rn_hex_digit(seq[k]) << 4) |
                                                           rn_hex_digit(seq[k + 1])));
            } else {
                rc = rn_buf_append(out, text + i, slen + 2);
            }
        } else {
            /* \.br\, \Cxxyy\, \Mxxyyzz\, \Zxx\ and unknown sequences: passed through. */
            rc = rn_buf_append(out, text + i, slen + 2);
        }
        if (rc != 0)
            return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        i = close + 1;
    }
    return 0;
}

int rn_hl7_escape(const RnHl7Encoding *enc, const char *text, size_t len, RnBuf *out, RnError *err)
{
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        const char *rep = NULL;
        if (c == enc->field)
            rep = "F";
        else if (c == enc->component)
            rep = "S";
        else if (c == enc->subcomponent)
            rep = "T";
        else if (c == enc->repetition)
            rep = "R";
        else if (c == enc->escape)
            rep = "E";
        /* Control characters (CR and LF would end the segment, 0x0B and 0x1C would break
         * MLLP framing) travel as hexadecimal data, 2.7.4. TAB is kept. */
        char hexrep[4];
        uint8_t u = (uint8_t)c;
        if (!rep && ((u < 0x20 && u != '\t') || u == 0x7F)) {
            snprintf(hexrep, sizeof hexrep, "X%02X", u);
            rep = hexrep;
        }
        int rc;
        if (rep) {
            rc = rn_buf_append_byte(out, (uint8_t)enc->escape);
            rc |= rn_buf_append_str(out, rep);
            rc |= rn_buf_append_byte(out, (uint8_t)enc->escape);
        } else {
            rc = rn_buf_append_byte(out, (uint8_t)c);
        }
        if (rc != 0)
            return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    }
    return 0;
}

/* ---- Message objects ------------------------------------------------------------ */

static void segment_free(Hl7Segment *s)
{
    for (size_t k = 0; k < s->nfields; k++)
        free(s->fields[k]);
    free(s->fields);
}

void rn_hl7_message_destroy(RnHl7Message *msg)
{
    if (!msg)
        return;
    for (size_t i = 0; i < msg->nsegs; i++)
        segment_free(&msg->segs[i]);
    free(msg->segs);
    free(msg);
}

const RnHl7Encoding *rn_hl7_message_encoding(const RnHl7Message *msg)
{
    return &msg->enc;
}

static Hl7Segment *append_segment(RnHl7Message *msg, const char *name, RnError *err)
{
    if (msg->nsegs == msg->cap) {
        size_t ncap = msg->cap ? msg->cap * 2 : 8;
        Hl7Segment *n = realloc(msg->segs, ncap * sizeof *n);
        if (!n) {
            rn_error_set(err, RN_ERR_NOMEM, "out of memory");
            return NULL;
        }
        msg->segs = n;
        msg->cap = ncap;
    }
    Hl7Segment *s = &msg->segs[msg->nsegs++];
    memset(s, 0, sizeof *s);
    memcpy(s->name, name, 3);
    s->name[3] = 0;
    return s;
}

/* Grows the segment to hold n fields (new ones empty). */
static int segment_reserve(Hl7Segment *s, size_t n, RnError *err)
{
    if (n <= s->nfields)
        return 0;
    if (n > s->cap) {
        size_t ncap = s->cap ? s->cap : 8;
        while (ncap < n)
            ncap *= 2;
        char **f = realloc(s->fields, ncap * sizeof *f);
        if (!f)
            return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        s->fields = f;
        s->cap = ncap;
    }
    for (size_t k = s->nfields; k < n; k++)
        s->fields[k] = NULL;
    s->nfields = n;
    return 0;
}

static int segment_push_field(Hl7Segment *s, const char *p, size_t len, RnError *err)
{
    if (segment_reserve(s, s->nfields + 1, err) != 0)
        return RN_ERR_NOMEM;
    if (len == 0)
        return 0;
    char *f = rn_strndup(p, len);
    if (!f)
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    s->fields[s->nfields - 1] = f;
    return 0;
}

static bool valid_delimiter(char c)
{
    unsigned char u = (unsigned char)c;
    return u > 0x20 && u < 0x7F && !isalnum(u);
}

static int encoding_check(const RnHl7Encoding *e, RnError *err)
{
    char all[5] = {e->field, e->component, e->repetition, e->escape, e->subcomponent};
    for (int i = 0; i < 5; i++) {
        if (!valid_delimiter(all[i]))
            return rn_error_set(err, RN_ERR_PARSE,
                                "invalid delimiter 0x%02x (must be printable ASCII, not a "
                                "letter or digit)",
                                (unsigned)(unsigned char)all[i]);
        for (int j = 0; j < i; j++)
            if (all[i] == all[j])
                return rn_error_set(err, RN_ERR_PARSE, "delimiter '%c' used twice", all[i]);
    }
    return 0;
}

RnHl7Message *rn_hl7_message_create(const RnHl7Encoding *enc, RnError *err)
{
    RnHl7Encoding e;
    if (enc)
        e = *enc;
    else
        rn_hl7_encoding_default(&e);
    if (encoding_check(&e, err) != 0)
        return NULL;
    RnHl7Message *msg = calloc(1, sizeof *msg);
    if (!msg) {
        rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    msg->enc = e;
    msg->field_sep[0] = e.field;
    msg->encoding_chars[0] = e.component;
    msg->encoding_chars[1] = e.repetition;
    msg->encoding_chars[2] = e.escape;
    msg->encoding_chars[3] = e.subcomponent;
    Hl7Segment *s = append_segment(msg, "MSH", err);
    if (!s || segment_push_field(s, msg->field_sep, 1, err) != 0 ||
        segment_push_field(s, msg->encoding_chars, 4, err) != 0) {
        rn_hl7_message_destroy(msg);
        return NULL;
    }
    return msg;
}

static bool valid_segment_name(const char *p, size_t len)
{
    if (len != 3)
        return false;
    if (!(p[0] >= 'A' && p[0] <= 'Z'))
        return false;
    for (int i = 1; i < 3; i++)
        if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9')))
            return false;
    return true;
}

RnHl7Message *rn_hl7_parse(const uint8_t *data, size_t len, const RnHl7Limits *limits, RnError *err)
{
    size_t max_bytes = limits && limits->max_message_bytes ? limits->max_message_bytes
                                                           : RN_HL7_DEFAULT_MAX_MESSAGE_BYTES;
    size_t max_segs =
        limits && limits->max_segments ? limits->max_segments : RN_HL7_DEFAULT_MAX_SEGMENTS;
    size_t max_fields =
        limits && limits->max_fields ? limits->max_fields : RN_HL7_DEFAULT_MAX_FIELDS;
    if (!data && len)
        len = 0;
    if (len > max_bytes) {
        rn_error_set(err, RN_ERR_LIMIT, "HL7 message of %zu bytes exceeds the limit of %zu", len,
                     max_bytes);
        return NULL;
    }
    const char *t = (const char *)data;
    size_t pos = 0;
    /* Tolerate a UTF-8 byte order mark and blank lines before MSH. */
    if (len >= 3 && (uint8_t)t[0] == 0xEF && (uint8_t)t[1] == 0xBB && (uint8_t)t[2] == 0xBF)
        pos = 3;
    while (pos < len && (t[pos] == '\r' || t[pos] == '\n'))
        pos++;
    if (len - pos < 8 || memcmp(t + pos, "MSH", 3) != 0) {
        rn_error_set(err, RN_ERR_PARSE, "HL7 message does not start with an MSH segment");
        return NULL;
    }
    RnHl7Encoding enc;
    enc.field = t[pos + 3];
    /* MSH-2: the encoding characters up to the next field separator (2.14.9.2). */
    size_t e = pos + 4, n = 0;
    char chars[6] = {0};
    while (e < len && t[e] != enc.field && t[e] != '\r' && t[e] != '\n') {
        if (n == 5) {
            rn_error_set(err, RN_ERR_PARSE, "MSH-2 holds more than 5 encoding characters");
            return NULL;
        }
        chars[n++] = t[e++];
    }
    if (n < 4) {
        rn_error_set(err, RN_ERR_PARSE,
                     "MSH-2 holds %zu encoding characters, 4 are required (^~\\&)", n);
        return NULL;
    }
    enc.component = chars[0];
    enc.repetition = chars[1];
    enc.escape = chars[2];
    enc.subcomponent = chars[3];
    if (encoding_check(&enc, err) != 0) {
        rn_error_prefix(err, "MSH-1/MSH-2: ");
        return NULL;
    }
    if (n == 5 &&
        (!valid_delimiter(chars[4]) || strchr(chars, enc.field) || memchr(chars, chars[4], 4))) {
        rn_error_set(err, RN_ERR_PARSE, "MSH-2: invalid truncation character");
        return NULL;
    }
    RnHl7Message *msg = calloc(1, sizeof *msg);
    if (!msg) {
        rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    msg->enc = enc;
    msg->field_sep[0] = enc.field;
    memcpy(msg->encoding_chars, chars, n);

    while (pos < len) {
        /* One segment: up to CR or LF (CR per 2.5.3; LF and CRLF tolerated). */
        size_t end = pos;
        while (end < len && t[end] != '\r' && t[end] != '\n')
            end++;
        const char *line = t + pos;
        size_t llen = end - pos;
        size_t segno = msg->nsegs + 1;
        pos = end;
        while (pos < len && (t[pos] == '\r' || t[pos] == '\n'))
            pos++;
        if (llen == 0)
            continue;
        if (memchr(line, 0, llen)) {
            rn_error_set(err, RN_ERR_PARSE, "segment %zu holds a NUL byte", segno);
            goto fail;
        }
        if (msg->nsegs >= max_segs) {
            rn_error_set(err, RN_ERR_LIMIT, "HL7 message has more than %zu segments", max_segs);
            goto fail;
        }
        if (llen < 3 || !valid_segment_name(line, 3) || (llen > 3 && line[3] != enc.field)) {
            rn_error_set(err, RN_ERR_PARSE,
                         "segment %zu: invalid segment ID (3 characters A-Z/0-9 then '%c')", segno,
                         enc.field);
            goto fail;
        }
        bool is_msh = memcmp(line, "MSH", 3) == 0;
        if (is_msh && msg->nsegs > 0) {
            rn_error_set(err, RN_ERR_PARSE,
                         "segment %zu: a second MSH (batches and concatenated messages are "
                         "not supported)",
                         segno);
            goto fail;
        }
        if (msg->nsegs == 0 && !is_msh) {
            rn_error_set(err, RN_ERR_PARSE, "first segment is not MSH");
            goto fail;
        }
        Hl7Segment *s = append_segment(msg, line, err);
        if (!s)
            goto fail;
        size_t fpos = 4; /* first byte after "SEG|" */
        if (is_msh) {
            if (segment_push_field(s, msg->field_sep, 1, err) != 0 ||
                segment_push_field(s, msg->encoding_chars, n, err) != 0)
                goto fail;
            fpos = 4 + n;
            if (fpos < llen)
                fpos++; /* the separator after MSH-2 */
            else
                continue;
        }
        if (llen <= 3)
            continue;
        /* Split the rest on the field separator; a trailing separator yields an empty field. */
        size_t start = fpos;
        for (size_t i = fpos; i <= llen; i++) {
            if (i == llen || line[i] == enc.field) {
                if (s->nfields >= max_fields) {
                    rn_error_set(err, RN_ERR_LIMIT, "segment %zu (%s) has more than %zu fields",
                                 segno, s->name, max_fields);
                    goto fail;
                }
                if (segment_push_field(s, line + start, i - start, err) != 0)
                    goto fail;
                start = i + 1;
            }
        }
    }
    if (msg->nsegs == 0) {
        rn_error_set(err, RN_ERR_PARSE, "empty HL7 message");
        goto fail;
    }
    return msg;
fail:
    rn_hl7_message_destroy(msg);
    return NULL;
}

/* ---- Segment access -------------------------------------------------------------- */

size_t rn_hl7_segment_count(const RnHl7Message *msg)
{
    return msg ? msg->nsegs : 0;
}

const char *rn_hl7_segment_name(const RnHl7Message *msg, size_t index)
{
    return msg && index < msg->nsegs ? msg->segs[index].name : NULL;
}

size_t rn_hl7_segment_field_count(const RnHl7Message *msg, size_t index)
{
    return msg && index < msg->nsegs ? msg->segs[index].nfields : 0;
}

const char *rn_hl7_segment_field_raw(const RnHl7Message *msg, size_t index, size_t field)
{
    if (!msg || index >= msg->nsegs)
        return NULL;
    const Hl7Segment *s = &msg->segs[index];
    if (field == 0 || field > s->nfields || !s->fields[field - 1])
        return "";
    return s->fields[field - 1];
}

size_t rn_hl7_segment_find(const RnHl7Message *msg, const char *name, size_t occurrence)
{
    size_t seen = 0;
    for (size_t i = 0; msg && i < msg->nsegs; i++)
        if (strcmp(msg->segs[i].name, name) == 0 && ++seen == occurrence)
            return i;
    return (size_t)-1;
}

size_t rn_hl7_segment_occurrences(const RnHl7Message *msg, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; msg && name && i < msg->nsegs; i++)
        if (strcmp(msg->segs[i].name, name) == 0)
            n++;
    return n;
}

int rn_hl7_add_segment(RnHl7Message *msg, const char *name, RnError *err)
{
    if (!msg || !name || !valid_segment_name(name, strlen(name)))
        return rn_error_set(err, RN_ERR_INVALID, "invalid segment ID '%s'", name ? name : "");
    if (strcmp(name, "MSH") == 0)
        return rn_error_set(err, RN_ERR_INVALID, "a message has exactly one MSH segment");
    size_t occ = rn_hl7_segment_occurrences(msg, name) + 1;
    if (occ > RN_HL7_DEFAULT_MAX_SEGMENTS || msg->nsegs >= RN_HL7_DEFAULT_MAX_SEGMENTS)
        return rn_error_set(err, RN_ERR_LIMIT, "too many segments");
    if (!append_segment(msg, name, err))
        return RN_ERR_NOMEM;
    return (int)occ;
}

/* ---- Paths ---------------------------------------------------------------------- */

static int parse_index(const char **p, size_t *out)
{
    size_t v = 0;
    int digits = 0;
    while (**p >= '0' && **p <= '9') {
        if (v > 100000)
            return -1;
        v = v * 10 + (size_t)(**p - '0');
        (*p)++;
        digits++;
    }
    if (!digits || v == 0)
        return -1;
    *out = v;
    return 0;
}

static int parse_bracket(const char **p, size_t *out)
{
    if (**p != '[')
        return 0;
    (*p)++;
    if (parse_index(p, out) != 0 || **p != ']')
        return -1;
    (*p)++;
    return 0;
}

int rn_hl7_path_parse(const char *text, RnHl7Path *path, RnError *err)
{
    RnHl7Path r = {.occurrence = 1, .field = 0, .repetition = 1, .component = 1, .subcomponent = 1};
    if (!text || strlen(text) < 3 || !valid_segment_name(text, 3))
        goto bad;
    memcpy(r.segment, text, 3);
    const char *p = text + 3;
    if (parse_bracket(&p, &r.occurrence) != 0)
        goto bad;
    if (*p != '-')
        goto bad;
    p++;
    if (parse_index(&p, &r.field) != 0 || parse_bracket(&p, &r.repetition) != 0)
        goto bad;
    if (*p == '-') {
        p++;
        if (parse_index(&p, &r.component) != 0)
            goto bad;
        if (*p == '-') {
            p++;
            if (parse_index(&p, &r.subcomponent) != 0)
                goto bad;
        }
    }
    if (*p != 0)
        goto bad;
    *path = r;
    return 0;
bad:
    rn_error_set(err, RN_ERR_INVALID,
                 "invalid HL7 path '%s' (expected e.g. PID-5-1, OBX[2]-5, PID-3[2]-4-1)",
                 text ? text : "(null)");
    return RN_ERR_INVALID;
}

int rn_hl7_decode_at(const RnHl7Encoding *enc, const char *raw, size_t rep, size_t comp, size_t sub,
                     RnBuf *out, RnError *err)
{
    Hl7Span f = {raw, strlen(raw)};
    Hl7Span r = rn_hl7_span_piece(f, enc->repetition, rep ? rep : 1);
    Hl7Span c = rn_hl7_span_piece(r, enc->component, comp ? comp : 1);
    Hl7Span s = rn_hl7_span_piece(c, enc->subcomponent, sub ? sub : 1);
    return rn_hl7_unescape(enc, s.p, s.len, out, err);
}

/* Resolves path to (segment index, raw field); MSH-1/2 flagged. */
static int resolve(const RnHl7Message *msg, const char *text, RnHl7Path *path, size_t *index,
                   RnError *err)
{
    if (!msg) {
        rn_error_set(err, RN_ERR_INVALID, "no message");
        return RN_ERR_INVALID;
    }
    if (rn_hl7_path_parse(text, path, err) != 0)
        return RN_ERR_INVALID;
    *index = rn_hl7_segment_find(msg, path->segment, path->occurrence);
    if (*index == (size_t)-1) {
        rn_error_set(err, RN_ERR_NOT_FOUND, "%s: no segment %s (occurrence %zu)", text,
                     path->segment, path->occurrence);
        return RN_ERR_NOT_FOUND;
    }
    return 0;
}

static int get_buf(const RnHl7Message *msg, const char *text, RnBuf *out, RnError *err)
{
    RnHl7Path path = {0};
    size_t index = 0;
    int rc = resolve(msg, text, &path, &index, err);
    if (rc != 0)
        return rc;
    const char *raw = rn_hl7_segment_field_raw(msg, index, path.field);
    if (index == 0 && path.field <= 2) /* MSH-1 and MSH-2 are the delimiters, never decoded */
        return rn_buf_append_str(out, raw) == 0 ? 0
                                                : rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    return rn_hl7_decode_at(&msg->enc, raw, path.repetition, path.component, path.subcomponent, out,
                            err);
}

int rn_hl7_get(const RnHl7Message *msg, const char *path, char *out, size_t cap, RnError *err)
{
    if (out && cap)
        out[0] = 0;
    RnBuf b = {0};
    int rc = get_buf(msg, path, &b, err);
    if (rc != 0) {
        rn_buf_free(&b);
        return rc;
    }
    if (b.len > (size_t)0x7FFFFFFF || !out || b.len >= cap) {
        size_t l = b.len;
        rn_buf_free(&b);
        return rn_error_set(err, RN_ERR_LIMIT, "%s: value of %zu bytes does not fit in %zu", path,
                            l, cap);
    }
    if (b.len)
        memcpy(out, b.data, b.len);
    out[b.len] = 0;
    int n = (int)b.len;
    rn_buf_free(&b);
    return n;
}

char *rn_hl7_get_dup(const RnHl7Message *msg, const char *path, RnError *err)
{
    RnBuf b = {0};
    if (get_buf(msg, path, &b, err) != 0) {
        rn_buf_free(&b);
        return NULL;
    }
    if (rn_buf_append_byte(&b, 0) != 0) {
        rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        rn_buf_free(&b);
        return NULL;
    }
    size_t len;
    return (char *)rn_buf_take(&b, &len);
}

size_t rn_hl7_repetition_count(const RnHl7Message *msg, const char *text)
{
    RnHl7Path path = {0};
    size_t index = 0;
    if (resolve(msg, text, &path, &index, NULL) != 0)
        return 0;
    const char *raw = rn_hl7_segment_field_raw(msg, index, path.field);
    if (index == 0 && path.field <= 2)
        return 1;
    Hl7Span f = {raw, strlen(raw)};
    return rn_hl7_span_count(f, msg->enc.repetition);
}

/* ---- Setting ------------------------------------------------------------------------ */

/* out = s with its k-th piece (split on delim) replaced by piece; pads with empty
 * pieces; trailing empty pieces are dropped (2.5.5: trailing delimiters may be omitted). */
static int replace_piece(Hl7Span s, char delim, size_t k, Hl7Span piece, RnBuf *out)
{
    size_t n = rn_hl7_span_count(s, delim);
    size_t total = n > k ? n : k;
    int rc = 0;
    for (size_t i = 1; i <= total && rc == 0; i++) {
        if (i > 1)
            rc = rn_buf_append_byte(out, (uint8_t)delim);
        if (rc)
            break;
        Hl7Span p = i == k ? piece : rn_hl7_span_piece(s, delim, i);
        if (p.len)
            rc = rn_buf_append(out, p.p, p.len);
    }
    while (rc == 0 && out->len > 0 && out->data[out->len - 1] == (uint8_t)delim)
        out->len--;
    return rc;
}

static int store_field(RnHl7Message *msg, size_t index, size_t field, const char *p, size_t len,
                       RnError *err)
{
    Hl7Segment *s = &msg->segs[index];
    if (field > RN_HL7_DEFAULT_MAX_FIELDS)
        return rn_error_set(err, RN_ERR_LIMIT, "field %zu beyond the limit of %u", field,
                            RN_HL7_DEFAULT_MAX_FIELDS);
    if (segment_reserve(s, field, err) != 0)
        return RN_ERR_NOMEM;
    char *v = NULL;
    if (len) {
        v = rn_strndup(p, len);
        if (!v)
            return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    }
    free(s->fields[field - 1]);
    s->fields[field - 1] = v;
    return 0;
}

int rn_hl7_set_at(RnHl7Message *msg, size_t index, size_t field, size_t rep, size_t comp,
                  size_t sub, const char *value, RnError *err)
{
    if (!msg || index >= msg->nsegs || field == 0)
        return rn_error_set(err, RN_ERR_INVALID, "invalid field address");
    if (index == 0 && field <= 2)
        return rn_error_set(err, RN_ERR_INVALID, "MSH-1 and MSH-2 are the delimiters");
    rep = rep ? rep : 1;
    comp = comp ? comp : 1;
    sub = sub ? sub : 1;
    if (rep > 10000 || comp > 1000 || sub > 1000)
        return rn_error_set(err, RN_ERR_LIMIT, "field address out of range");
    const RnHl7Encoding *e = &msg->enc;
    const char *raw = rn_hl7_segment_field_raw(msg, index, field);
    Hl7Span f = {raw, strlen(raw)};
    Hl7Span r = rn_hl7_span_piece(f, e->repetition, rep);
    Hl7Span c = rn_hl7_span_piece(r, e->component, comp);
    RnBuf esc = {0}, b1 = {0}, b2 = {0}, b3 = {0};
    int rc = rn_hl7_escape(e, value ? value : "", value ? strlen(value) : 0, &esc, err);
    if (rc == 0) {
        Hl7Span v = {(const char *)esc.data, esc.len};
        if (replace_piece(c, e->subcomponent, sub, v, &b1) != 0)
            rc = RN_ERR_NOMEM;
        Hl7Span v1 = {(const char *)b1.data, b1.len};
        if (rc == 0 && replace_piece(r, e->component, comp, v1, &b2) != 0)
            rc = RN_ERR_NOMEM;
        Hl7Span v2 = {(const char *)b2.data, b2.len};
        if (rc == 0 && replace_piece(f, e->repetition, rep, v2, &b3) != 0)
            rc = RN_ERR_NOMEM;
        if (rc == RN_ERR_NOMEM)
            rn_error_set(err, rc, "out of memory");
        if (rc == 0)
            rc = store_field(msg, index, field, (const char *)b3.data, b3.len, err);
    }
    rn_buf_free(&esc);
    rn_buf_free(&b1);
    rn_buf_free(&b2);
    rn_buf_free(&b3);
    return rc;
}

int rn_hl7_set(RnHl7Message *msg, const char *text, const char *value, RnError *err)
{
    RnHl7Path path = {0};
    size_t index = 0;
    int rc = resolve(msg, text, &path, &index, err);
    if (rc != 0)
        return rc;
    return rn_hl7_set_at(msg, index, path.field, path.repetition, path.component, path.subcomponent,
                         value, err);
}

int rn_hl7_set_raw(RnHl7Message *msg, const char *text, const char *encoded, RnError *err)
{
    RnHl7Path path = {0};
    size_t index = 0;
    int rc = resolve(msg, text, &path, &index, err);
    if (rc != 0)
        return rc;
    const char *dash = strchr(text, '-'); /* present: the path parsed */
    if (strchr(dash + 1, '-') || strchr(dash + 1, '['))
        return rn_error_set(err, RN_ERR_INVALID, "%s: set_raw takes a whole field", text);
    if (index == 0 && path.field <= 2)
        return rn_error_set(err, RN_ERR_INVALID, "MSH-1 and MSH-2 are the delimiters");
    const char *v = encoded ? encoded : "";
    for (const char *q = v; *q; q++)
        if (*q == msg->enc.field || *q == '\r' || *q == '\n')
            return rn_error_set(err, RN_ERR_INVALID,
                                "%s: encoded text holds a field separator or line break", text);
    return store_field(msg, index, path.field, v, strlen(v), err);
}

/* ---- Serialising ------------------------------------------------------------------- */

int rn_hl7_serialize(const RnHl7Message *msg, RnBuf *out, RnError *err)
{
    if (!msg || msg->nsegs == 0)
        return rn_error_set(err, RN_ERR_INVALID, "empty message");
    int rc = 0;
    for (size_t i = 0; i < msg->nsegs && rc == 0; i++) {
        const Hl7Segment *s = &msg->segs[i];
        rc |= rn_buf_append(out, s->name, 3);
        size_t k = 0;
        if (i == 0) {
            /* MSH: MSH-1 is the separator itself, directly followed by MSH-2. */
            rc |= rn_buf_append_str(out, msg->field_sep);
            if (s->nfields >= 2)
                rc |= rn_buf_append_str(out, s->fields[1]);
            k = 2;
        }
        for (; k < s->nfields; k++) {
            rc |= rn_buf_append_byte(out, (uint8_t)msg->enc.field);
            if (s->fields[k])
                rc |= rn_buf_append_str(out, s->fields[k]);
        }
        rc |= rn_buf_append_byte(out, '\r');
    }
    if (rc != 0)
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    return 0;
}
