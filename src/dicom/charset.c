/*
 * Character sets of text values (PS3.5 6.1 and Annexes E, H, I, J, K; PS3.3
 * C.12.1.1.2). Converts the bytes of an element between the dataset's Specific
 * Character Set (0008,0005) and UTF-8.
 *
 * Two models cover every Defined Term. A single value without code extensions
 * ("ISO_IR 100", "ISO_IR 192", "GB18030", "GBK", ...) is one fixed coding of
 * the whole value, converted with glibc iconv. A value with code extensions
 * ("ISO 2022 IR ..." terms, or several values) follows ISO/IEC 2022 as PS3.5
 * 6.1.2.5 restricts it: G0 (bytes 0x21-0x7E) and G1 (bytes 0xA1-0xFE) each hold
 * one code element, escape sequences (PS3.3 Tables C.12-3 and C.12-4) change
 * what they hold, and the first value of (0008,0005) gives the initial state
 * (an empty first value means ISO 2022 IR 6). PS3.5 6.1.2.5.3 requires the
 * initial state to be active before CR, LF, FF and TAB, before the '\' value
 * delimiter, and for PN before '^' and '='; the decoder therefore returns to
 * the initial state after each of them, and the encoder switches G0 back
 * explicitly before them and at the end of the value. Delimiters are only
 * recognised while G0 holds a one-byte set, because 0x5C, 0x5E and 0x3D are
 * ordinary halves of two-byte JIS X 0208 characters.
 *
 * Decoding never fails on bad bytes: anything undecodable becomes U+FFFD.
 * Encoding fails with RN_ERR_UNSUPPORTED naming the first character that no
 * declared code element can represent. JIS X 0201 Romaji (ESC ( J) is taken
 * as ASCII, as pydicom and DCMTK do, so that 0x5C stays the value delimiter.
 * Nothing is cached between calls: each call opens the iconv descriptors it
 * needs (at most one per code element) and closes them before returning.
 */
#include "radnode/charset.h"

#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ESC 0x1B
#define REPLACEMENT 0xFFFDu
/* (0008,0005) is VM 1-n; a value with more terms than this is hostile. */
#define MAX_TERMS 16
#define MAX_TERM_LEN 64

/* Code elements that G0 or G1 can hold (PS3.3 Tables C.12-3 and C.12-4). */
typedef enum Element {
    EL_NONE = 0,
    EL_ASCII,    /* ISO-IR 6 */
    EL_ROMAJI,   /* ISO-IR 14, JIS X 0201 Romaji (handled as ASCII) */
    EL_KATAKANA, /* ISO-IR 13, JIS X 0201 Katakana */
    EL_LATIN1,   /* ISO-IR 100 */
    EL_LATIN2,   /* ISO-IR 101 */
    EL_LATIN3,   /* ISO-IR 109 */
    EL_LATIN4,   /* ISO-IR 110 */
    EL_CYRILLIC, /* ISO-IR 144 */
    EL_ARABIC,   /* ISO-IR 127 */
    EL_GREEK,    /* ISO-IR 126 */
    EL_HEBREW,   /* ISO-IR 138 */
    EL_LATIN5,   /* ISO-IR 148 */
    EL_LATIN9,   /* ISO-IR 203 */
    EL_THAI,     /* ISO-IR 166, TIS 620-2533 */
    EL_JISX0208, /* ISO-IR 87 */
    EL_JISX0212, /* ISO-IR 159 */
    EL_KSX1001,  /* ISO-IR 149 */
    EL_GB2312,   /* ISO-IR 58 */
    EL_COUNT
} Element;

typedef struct ElementInfo {
    unsigned char g;        /* 0: designated to G0, 1: to G1 */
    unsigned char width;    /* bytes per character */
    const char *iconv_name; /* NULL: converted here without iconv */
    const char *escape;     /* canonical designation, without the leading ESC */
} ElementInfo;

static const ElementInfo ELEMENTS[EL_COUNT] = {
    [EL_NONE] = {1, 1, NULL, ""},
    [EL_ASCII] = {0, 1, NULL, "(B"},
    [EL_ROMAJI] = {0, 1, NULL, "(J"},
    [EL_KATAKANA] = {1, 1, NULL, ")I"},
    [EL_LATIN1] = {1, 1, "ISO-8859-1", "-A"},
    [EL_LATIN2] = {1, 1, "ISO-8859-2", "-B"},
    [EL_LATIN3] = {1, 1, "ISO-8859-3", "-C"},
    [EL_LATIN4] = {1, 1, "ISO-8859-4", "-D"},
    [EL_CYRILLIC] = {1, 1, "ISO-8859-5", "-L"},
    [EL_ARABIC] = {1, 1, "ISO-8859-6", "-G"},
    [EL_GREEK] = {1, 1, "ISO-8859-7", "-F"},
    [EL_HEBREW] = {1, 1, "ISO-8859-8", "-H"},
    [EL_LATIN5] = {1, 1, "ISO-8859-9", "-M"},
    [EL_LATIN9] = {1, 1, "ISO-8859-15", "-b"},
    [EL_THAI] = {1, 1, "TIS-620", "-T"},
    [EL_JISX0208] = {0, 2, "EUC-JP", "$B"},
    [EL_JISX0212] = {0, 2, "EUC-JP", "$(D"},
    [EL_KSX1001] = {1, 2, "EUC-KR", "$)C"},
    [EL_GB2312] = {1, 2, "EUC-CN", "$)A"},
};

/* Escape sequences accepted when reading (ELEMENTS[].escape is the one written);
 * ESC $ @ (JIS C 6226-1978) and ESC $ ( B are read as JIS X 0208. */
typedef struct EscapeInfo {
    const char *seq; /* without the leading ESC */
    Element element;
} EscapeInfo;

static const EscapeInfo ESCAPES[] = {
    {"(B", EL_ASCII},     {"(J", EL_ROMAJI},    {")I", EL_KATAKANA}, {"-A", EL_LATIN1},
    {"-B", EL_LATIN2},    {"-C", EL_LATIN3},    {"-D", EL_LATIN4},   {"-L", EL_CYRILLIC},
    {"-G", EL_ARABIC},    {"-F", EL_GREEK},     {"-H", EL_HEBREW},   {"-M", EL_LATIN5},
    {"-b", EL_LATIN9},    {"-T", EL_THAI},      {"$B", EL_JISX0208}, {"$@", EL_JISX0208},
    {"$(B", EL_JISX0208}, {"$(D", EL_JISX0212}, {"$)C", EL_KSX1001}, {"$)A", EL_GB2312},
};

/* How a whole value is coded when the term is used without code extensions. */
typedef enum Whole { WHOLE_ASCII, WHOLE_ICONV, WHOLE_JISX0201, WHOLE_UTF8 } Whole;

/* One Defined Term of (0008,0005) (PS3.3 Tables C.12-2 to C.12-5). */
typedef struct Term {
    const char *plain;      /* term without code extensions, NULL if none */
    const char *iso2022;    /* term with code extensions, NULL if none */
    Element g0, g1;         /* code elements the term brings */
    Whole whole;            /* coding of the whole value without extensions */
    const char *iconv_name; /* for WHOLE_ICONV */
} Term;

static const Term TERMS[] = {
    {"ISO_IR 6", "ISO 2022 IR 6", EL_ASCII, EL_NONE, WHOLE_ASCII, NULL},
    {"ISO_IR 100", "ISO 2022 IR 100", EL_ASCII, EL_LATIN1, WHOLE_ICONV, "ISO-8859-1"},
    {"ISO_IR 101", "ISO 2022 IR 101", EL_ASCII, EL_LATIN2, WHOLE_ICONV, "ISO-8859-2"},
    {"ISO_IR 109", "ISO 2022 IR 109", EL_ASCII, EL_LATIN3, WHOLE_ICONV, "ISO-8859-3"},
    {"ISO_IR 110", "ISO 2022 IR 110", EL_ASCII, EL_LATIN4, WHOLE_ICONV, "ISO-8859-4"},
    {"ISO_IR 144", "ISO 2022 IR 144", EL_ASCII, EL_CYRILLIC, WHOLE_ICONV, "ISO-8859-5"},
    {"ISO_IR 127", "ISO 2022 IR 127", EL_ASCII, EL_ARABIC, WHOLE_ICONV, "ISO-8859-6"},
    {"ISO_IR 126", "ISO 2022 IR 126", EL_ASCII, EL_GREEK, WHOLE_ICONV, "ISO-8859-7"},
    {"ISO_IR 138", "ISO 2022 IR 138", EL_ASCII, EL_HEBREW, WHOLE_ICONV, "ISO-8859-8"},
    {"ISO_IR 148", "ISO 2022 IR 148", EL_ASCII, EL_LATIN5, WHOLE_ICONV, "ISO-8859-9"},
    {"ISO_IR 203", "ISO 2022 IR 203", EL_ASCII, EL_LATIN9, WHOLE_ICONV, "ISO-8859-15"},
    {"ISO_IR 13", "ISO 2022 IR 13", EL_ROMAJI, EL_KATAKANA, WHOLE_JISX0201, NULL},
    {"ISO_IR 166", "ISO 2022 IR 166", EL_ASCII, EL_THAI, WHOLE_ICONV, "TIS-620"},
    {NULL, "ISO 2022 IR 87", EL_JISX0208, EL_NONE, WHOLE_ASCII, NULL},
    {NULL, "ISO 2022 IR 159", EL_JISX0212, EL_NONE, WHOLE_ASCII, NULL},
    {NULL, "ISO 2022 IR 149", EL_NONE, EL_KSX1001, WHOLE_ASCII, NULL},
    {NULL, "ISO 2022 IR 58", EL_NONE, EL_GB2312, WHOLE_ASCII, NULL},
    {"ISO_IR 192", NULL, EL_NONE, EL_NONE, WHOLE_UTF8, NULL},
    {"GB18030", NULL, EL_NONE, EL_NONE, WHOLE_ICONV, "GB18030"},
    {"GBK", NULL, EL_NONE, EL_NONE, WHOLE_ICONV, "GBK"},
};
#define TERM_COUNT (sizeof TERMS / sizeof TERMS[0])

/* The parsed (0008,0005). With code extensions, elements[] lists every code
 * element the terms bring, in the order of the terms, for the encoder. */
typedef struct Charset {
    const char *text; /* the raw value, for messages */
    bool iso2022;
    const Term *whole; /* !iso2022: the single term */
    Element init_g0, init_g1;
    Element elements[2 * MAX_TERMS];
    size_t n_elements;
} Charset;

/* iconv descriptors opened during one call, at most one per code element and
 * one for the whole-value coding. */
typedef struct Converters {
    iconv_t cd[EL_COUNT + 1];
    bool to_utf8;
} Converters;
#define CD_WHOLE EL_COUNT

static void converters_init(Converters *cv, bool to_utf8)
{
    for (size_t i = 0; i <= EL_COUNT; i++)
        cv->cd[i] = (iconv_t)-1;
    cv->to_utf8 = to_utf8;
}

static void converters_close(Converters *cv)
{
    for (size_t i = 0; i <= EL_COUNT; i++) {
        if (cv->cd[i] != (iconv_t)-1)
            iconv_close(cv->cd[i]);
        cv->cd[i] = (iconv_t)-1;
    }
}

static iconv_t converter_get(Converters *cv, size_t slot, const char *name, RnError *err)
{
    if (cv->cd[slot] == (iconv_t)-1) {
        cv->cd[slot] = cv->to_utf8 ? iconv_open("UTF-8", name) : iconv_open(name, "UTF-8");
        if (cv->cd[slot] == (iconv_t)-1)
            rn_error_set(err, RN_ERR_UNSUPPORTED, "iconv cannot convert between %s and UTF-8",
                         name);
    }
    return cv->cd[slot];
}

/* ---- UTF-8 ---- */

static int append_utf8(RnBuf *out, uint32_t cp)
{
    uint8_t t[4];
    size_t n;
    if (cp < 0x80) {
        t[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        t[0] = (uint8_t)(0xC0 | (cp >> 6));
        t[1] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        t[0] = (uint8_t)(0xE0 | (cp >> 12));
        t[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        t[2] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        t[0] = (uint8_t)(0xF0 | (cp >> 18));
        t[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
        t[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        t[3] = (uint8_t)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return rn_buf_append(out, t, n);
}

/* Reads one UTF-8 character at p[0..len). Returns its length (>= 1) and sets
 * *cp, or returns 0 and sets *bad to the length of the maximal ill-formed
 * subpart (Unicode 3.9, "U+FFFD substitution of maximal subparts"). */
static size_t utf8_next(const uint8_t *p, size_t len, uint32_t *cp, size_t *bad)
{
    uint8_t b = p[0];
    size_t need;
    uint32_t v;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b < 0x80) {
        *cp = b;
        return 1;
    } else if (b >= 0xC2 && b <= 0xDF) {
        need = 1;
        v = b & 0x1Fu;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 2;
        v = b & 0x0Fu;
        if (b == 0xE0)
            lo = 0xA0;
        else if (b == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 3;
        v = b & 0x07u;
        if (b == 0xF0)
            lo = 0x90;
        else if (b == 0xF4)
            hi = 0x8F;
    } else {
        *bad = 1;
        return 0;
    }
    for (size_t k = 1; k <= need; k++) {
        if (k >= len || p[k] < lo || p[k] > hi) {
            *bad = k;
            return 0;
        }
        v = (v << 6) | (p[k] & 0x3Fu);
        lo = 0x80;
        hi = 0xBF;
    }
    *cp = v;
    return need + 1;
}

/* ---- parsing (0008,0005) ---- */

/* Compares two terms ignoring case, spaces, '_', '-' and '+', so that the
 * common misspellings ("ISO IR 192", "ISO-IR 144", "ISO_2022_IR+126") that
 * pydicom also accepts are recognised. */
static bool loose_equal(const char *a, size_t alen, const char *b)
{
    size_t i = 0;
    size_t j = 0;
    size_t blen = strlen(b);
    for (;;) {
        while (i < alen && (a[i] == ' ' || a[i] == '_' || a[i] == '-' || a[i] == '+'))
            i++;
        while (j < blen && (b[j] == ' ' || b[j] == '_' || b[j] == '-' || b[j] == '+'))
            j++;
        if (i == alen || j == blen)
            return i == alen && j == blen;
        char ca = a[i] >= 'a' && a[i] <= 'z' ? (char)(a[i] - 'a' + 'A') : a[i];
        if (ca != b[j])
            return false;
        i++;
        j++;
    }
}

static bool exact_equal(const char *a, size_t alen, const char *b)
{
    return b && strlen(b) == alen && memcmp(a, b, alen) == 0;
}

/* Finds a term; *with_ext tells whether it was written as an ISO 2022 term. */
static const Term *term_find(const char *s, size_t n, bool *with_ext)
{
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < TERM_COUNT; i++) {
            const Term *t = &TERMS[i];
            bool plain =
                pass == 0 ? exact_equal(s, n, t->plain) : (t->plain && loose_equal(s, n, t->plain));
            bool ext = pass == 0 ? exact_equal(s, n, t->iso2022)
                                 : (t->iso2022 && loose_equal(s, n, t->iso2022));
            if (plain || ext) {
                *with_ext = ext;
                return t;
            }
        }
    }
    return NULL;
}

static void charset_add_element(Charset *cs, Element el)
{
    if (el == EL_NONE)
        return;
    for (size_t i = 0; i < cs->n_elements; i++)
        if (cs->elements[i] == el)
            return;
    if (cs->n_elements < sizeof cs->elements / sizeof cs->elements[0])
        cs->elements[cs->n_elements++] = el;
}

static int charset_parse(const char *text, Charset *cs, RnError *err)
{
    memset(cs, 0, sizeof *cs);
    cs->text = text ? text : "";
    const Term *terms[MAX_TERMS];
    bool ext[MAX_TERMS];
    size_t n = 0;
    const char *p = cs->text;
    for (;;) {
        const char *end = strchr(p, '\\');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *s = p;
        while (len > 0 && (*s == ' ' || *s == '\0')) {
            s++;
            len--;
        }
        while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\0'))
            len--;
        if (n == MAX_TERMS)
            return rn_error_set(err, RN_ERR_LIMIT,
                                "Specific Character Set '%.200s' has more than %d values", cs->text,
                                MAX_TERMS);
        if (len == 0) {
            /* PS3.3 C.12.1.1.2: an empty value 1 means ISO 2022 IR 6. */
            terms[n] = &TERMS[0];
            ext[n] = false;
        } else {
            if (len > MAX_TERM_LEN)
                return rn_error_set(err, RN_ERR_UNSUPPORTED,
                                    "unknown Specific Character Set term '%.64s...'", s);
            terms[n] = term_find(s, len, &ext[n]);
            if (!terms[n])
                return rn_error_set(err, RN_ERR_UNSUPPORTED,
                                    "unknown Specific Character Set term '%.*s'", (int)len, s);
        }
        n++;
        if (!end)
            break;
        p = end + 1;
    }

    const Term *first = terms[0];
    if (n == 1 && !ext[0]) {
        /* A single value without code extensions (or the default repertoire). */
        cs->whole = first;
        return 0;
    }
    if (!first->iso2022) {
        /* ISO_IR 192, GB18030 and GBK allow no code extensions (PS3.3
         * C.12.1.1.2); as pydicom does, further values are ignored. */
        cs->whole = first;
        return 0;
    }
    cs->iso2022 = true;
    /* Value 1 gives the initial state. A multi-byte term as value 1 is not
     * what PS3.3 allows; read it leniently: G0 starts as ASCII, a G1 set
     * starts designated. */
    cs->init_g0 = ELEMENTS[first->g0].width == 1 && first->g0 != EL_NONE ? first->g0 : EL_ASCII;
    cs->init_g1 = first->g1;
    charset_add_element(cs, cs->init_g0);
    for (size_t i = 0; i < n; i++) {
        if (!terms[i]->iso2022)
            continue; /* a stand-alone coding (GBK...) cannot be an extension */
        charset_add_element(cs, terms[i]->g0);
        charset_add_element(cs, terms[i]->g1);
    }
    return 0;
}

bool rn_charset_is_supported(const char *specific_charset)
{
    Charset cs;
    return charset_parse(specific_charset, &cs, NULL) == 0;
}

/* ---- decoding ---- */

static bool is_reset_control(uint8_t b)
{
    return b == '\r' || b == '\n' || b == '\f' || b == '\t';
}

/* VRs whose value is a single text: '\' is an ordinary character there. */
static bool vr_is_single_text(RnVR vr)
{
    return vr == RN_VR_LT || vr == RN_VR_ST || vr == RN_VR_UT || vr == RN_VR_UR;
}

static bool is_delimiter(RnVR vr, uint8_t b)
{
    if (b == '\\')
        return !vr_is_single_text(vr);
    if (b == '^' || b == '=')
        return vr == RN_VR_PN;
    return false;
}

/* Converts one character's bytes of a code element with iconv; appends U+FFFD
 * when iconv has no mapping for them. */
static int decode_with_iconv(Converters *cv, size_t slot, const char *name, const uint8_t *in,
                             size_t n, RnBuf *out, RnError *err)
{
    iconv_t cd = converter_get(cv, slot, name, err);
    if (cd == (iconv_t)-1)
        return RN_ERR_UNSUPPORTED;
    char inbuf[4];
    char outbuf[16];
    memcpy(inbuf, in, n);
    char *ip = inbuf;
    char *op = outbuf;
    size_t il = n;
    size_t ol = sizeof outbuf;
    iconv(cd, NULL, NULL, NULL, NULL);
    if (iconv(cd, &ip, &il, &op, &ol) == (size_t)-1 || il != 0 || op == outbuf)
        return append_utf8(out, REPLACEMENT) ? RN_ERR_NOMEM : 0;
    return rn_buf_append(out, outbuf, (size_t)(op - outbuf)) ? RN_ERR_NOMEM : 0;
}

/* Parses an escape sequence at p (p[0] == ESC): ESC, intermediates 0x20-0x2F,
 * a final byte 0x30-0x7E. Returns the bytes it spans and the element it
 * designates (EL_NONE if unknown or malformed). */
static size_t parse_escape(const uint8_t *p, size_t len, Element *el)
{
    size_t k = 1;
    *el = EL_NONE;
    while (k < len && p[k] >= 0x20 && p[k] <= 0x2F)
        k++;
    if (k >= len || p[k] < 0x30 || p[k] > 0x7E)
        return k; /* truncated or malformed: drop ESC and intermediates */
    k++;
    for (size_t i = 0; i < sizeof ESCAPES / sizeof ESCAPES[0]; i++) {
        size_t sl = strlen(ESCAPES[i].seq);
        if (sl == k - 1 && memcmp(p + 1, ESCAPES[i].seq, sl) == 0) {
            *el = ESCAPES[i].element;
            break;
        }
    }
    return k;
}

/* Decodes a byte in 0x80-0xFF (GR) or a one-byte code element character. */
static int decode_gr(Converters *cv, Element g1, const uint8_t *p, size_t len, size_t *used,
                     RnBuf *out, RnError *err)
{
    uint8_t b = p[0];
    *used = 1;
    switch (g1) {
    case EL_NONE:
    case EL_ASCII:
    case EL_ROMAJI:
    case EL_JISX0208:
    case EL_JISX0212:
    case EL_COUNT:
        return append_utf8(out, REPLACEMENT) ? RN_ERR_NOMEM : 0;
    case EL_KATAKANA:
        /* JIS X 0201 0xA1-0xDF are U+FF61-U+FF9F in order. */
        if (b >= 0xA1 && b <= 0xDF)
            return append_utf8(out, 0xFF61u + (uint32_t)(b - 0xA1)) ? RN_ERR_NOMEM : 0;
        return append_utf8(out, REPLACEMENT) ? RN_ERR_NOMEM : 0;
    case EL_KSX1001:
    case EL_GB2312:
        if (b >= 0xA1 && b <= 0xFE && len >= 2 && p[1] >= 0xA1 && p[1] <= 0xFE) {
            *used = 2;
            return decode_with_iconv(cv, g1, ELEMENTS[g1].iconv_name, p, 2, out, err);
        }
        return append_utf8(out, REPLACEMENT) ? RN_ERR_NOMEM : 0;
    default:
        return decode_with_iconv(cv, g1, ELEMENTS[g1].iconv_name, p, 1, out, err);
    }
}

static int decode_iso2022(const Charset *cs, RnVR vr, const uint8_t *p, size_t len, Converters *cv,
                          RnBuf *out, RnError *err)
{
    Element g0 = cs->init_g0;
    Element g1 = cs->init_g1;
    size_t i = 0;
    int rc = 0;
    while (i < len && rc == 0) {
        uint8_t b = p[i];
        if (b == ESC) {
            Element el;
            size_t n = parse_escape(p + i, len - i, &el);
            i += n;
            if (el == EL_NONE)
                rc = append_utf8(out, REPLACEMENT) ? RN_ERR_NOMEM : 0;
            else if (ELEMENTS[el].g == 0)
                g0 = el;
            else
                g1 = el;
        } else if (b < 0x20) {
            rc = rn_buf_append_byte(out, b) ? RN_ERR_NOMEM : 0;
            i++;
            if (is_reset_control(b)) {
                g0 = cs->init_g0;
                g1 = cs->init_g1;
            }
        } else if (b < 0x80) {
            if (ELEMENTS[g0].width == 2 && b != 0x20 && b != 0x7F) {
                if (i + 1 < len && p[i + 1] >= 0x21 && p[i + 1] <= 0x7E) {
                    uint8_t t[3];
                    size_t n = 0;
                    if (g0 == EL_JISX0212)
                        t[n++] = 0x8F; /* EUC-JP single shift 3 */
                    t[n++] = (uint8_t)(b | 0x80);
                    t[n++] = (uint8_t)(p[i + 1] | 0x80);
                    rc = decode_with_iconv(cv, g0, ELEMENTS[g0].iconv_name, t, n, out, err);
                    i += 2;
                } else {
                    rc = append_utf8(out, REPLACEMENT) ? RN_ERR_NOMEM : 0;
                    i++;
                }
            } else {
                rc = rn_buf_append_byte(out, b) ? RN_ERR_NOMEM : 0;
                i++;
                if (ELEMENTS[g0].width == 1 && is_delimiter(vr, b)) {
                    g0 = cs->init_g0;
                    g1 = cs->init_g1;
                }
            }
        } else {
            size_t used;
            rc = decode_gr(cv, g1, p + i, len - i, &used, out, err);
            i += used;
        }
    }
    return rc;
}

/* Whole-value decoding with iconv: on an invalid or incomplete sequence one
 * U+FFFD replaces the offending byte and conversion resumes after it. */
static int decode_whole_iconv(Converters *cv, const char *name, const uint8_t *p, size_t len,
                              RnBuf *out, RnError *err)
{
    iconv_t cd = converter_get(cv, CD_WHOLE, name, err);
    if (cd == (iconv_t)-1)
        return RN_ERR_UNSUPPORTED;
    char chunk[1024];
    char *ip = (char *)(uintptr_t)p;
    size_t il = len;
    iconv(cd, NULL, NULL, NULL, NULL);
    while (il > 0) {
        char *op = chunk;
        size_t ol = sizeof chunk;
        size_t r = iconv(cd, &ip, &il, &op, &ol);
        int e = errno;
        if (op > chunk && rn_buf_append(out, chunk, (size_t)(op - chunk)))
            return RN_ERR_NOMEM;
        if (r != (size_t)-1)
            break;
        if (e == E2BIG)
            continue;
        /* EILSEQ or EINVAL: replace one byte, restart the shift state. */
        if (append_utf8(out, REPLACEMENT))
            return RN_ERR_NOMEM;
        ip++;
        il--;
        iconv(cd, NULL, NULL, NULL, NULL);
    }
    return 0;
}

static int decode_whole(const Charset *cs, const uint8_t *p, size_t len, Converters *cv, RnBuf *out,
                        RnError *err)
{
    const Term *t = cs->whole;
    size_t i = 0;
    if (!t) /* defensive: charset_parse sets it whenever !iso2022 */
        return rn_error_set(err, RN_ERR_INVALID, "no coding for '%.200s'", cs->text);
    switch (t->whole) {
    case WHOLE_ICONV:
        return decode_whole_iconv(cv, t->iconv_name, p, len, out, err);
    case WHOLE_UTF8:
        while (i < len) {
            uint32_t cp;
            size_t bad = 0;
            size_t n = utf8_next(p + i, len - i, &cp, &bad);
            if (n) {
                if (rn_buf_append(out, p + i, n))
                    return RN_ERR_NOMEM;
                i += n;
            } else {
                if (append_utf8(out, REPLACEMENT))
                    return RN_ERR_NOMEM;
                i += bad;
            }
        }
        return 0;
    case WHOLE_JISX0201:
    case WHOLE_ASCII:
        for (; i < len; i++) {
            uint32_t cp = p[i];
            if (cp >= 0x80) {
                bool kana = t->whole == WHOLE_JISX0201 && cp >= 0xA1 && cp <= 0xDF;
                cp = kana ? 0xFF61u + (cp - 0xA1) : REPLACEMENT;
            }
            if (append_utf8(out, cp))
                return RN_ERR_NOMEM;
        }
        return 0;
    }
    return rn_error_set(err, RN_ERR_INVALID, "no coding for '%.200s'", cs->text);
}

char *rn_charset_decode(const char *specific_charset, RnVR vr, const uint8_t *bytes, size_t len,
                        size_t *out_len, RnError *err)
{
    if (!bytes && len > 0) {
        rn_error_set(err, RN_ERR_INVALID, "rn_charset_decode: NULL bytes with length %zu", len);
        return NULL;
    }
    if (len > SIZE_MAX / 4) {
        rn_error_set(err, RN_ERR_LIMIT, "text value of %zu bytes is too long to decode", len);
        return NULL;
    }
    Charset cs;
    if (charset_parse(specific_charset, &cs, err))
        return NULL;

    RnBuf out = {0};
    if (rn_buf_reserve(&out, len + 1)) {
        rn_error_set(err, RN_ERR_NOMEM, "out of memory decoding %zu bytes of text", len);
        return NULL;
    }
    /* Every supported coding keeps ASCII as ASCII, and without ESC no ISO
     * 2022 state changes: a value of plain ASCII is its own UTF-8. */
    bool plain = true;
    for (size_t i = 0; i < len && plain; i++)
        plain = bytes[i] < 0x80 && bytes[i] != ESC;
    int rc = 0;
    if (plain) {
        rc = rn_buf_append(&out, bytes, len) ? RN_ERR_NOMEM : 0;
    } else {
        Converters cv;
        converters_init(&cv, true);
        if (cs.iso2022)
            rc = decode_iso2022(&cs, vr, bytes, len, &cv, &out, err);
        else
            rc = decode_whole(&cs, bytes, len, &cv, &out, err);
        converters_close(&cv);
    }
    if (rc == 0 && rn_buf_append_byte(&out, 0))
        rc = RN_ERR_NOMEM;
    if (rc) {
        if (rc == RN_ERR_NOMEM)
            rn_error_set(err, rc, "out of memory decoding %zu bytes of text", len);
        rn_buf_free(&out);
        return NULL;
    }
    size_t n;
    char *s = (char *)rn_buf_take(&out, &n);
    if (out_len)
        *out_len = n - 1;
    return s;
}

/* ---- encoding ---- */

static int unrepresentable(RnError *err, const Charset *cs, const uint8_t *ch, size_t n,
                           uint32_t cp)
{
    return rn_error_set(err, RN_ERR_UNSUPPORTED,
                        "character U+%04X '%.*s' cannot be represented in Specific Character "
                        "Set '%.200s'",
                        (unsigned)cp, (int)n, (const char *)ch, cs->text);
}

/* Converts one UTF-8 character to a code element with iconv. Returns the
 * number of bytes in dst, 0 if the element has no such character, or a
 * negative error. */
static int encode_with_iconv(Converters *cv, size_t slot, const char *name, const uint8_t *ch,
                             size_t n, uint8_t dst[8], RnError *err)
{
    iconv_t cd = converter_get(cv, slot, name, err);
    if (cd == (iconv_t)-1)
        return RN_ERR_UNSUPPORTED;
    char inbuf[4];
    memcpy(inbuf, ch, n);
    char *ip = inbuf;
    char *op = (char *)dst;
    size_t il = n;
    size_t ol = 8;
    iconv(cd, NULL, NULL, NULL, NULL);
    if (iconv(cd, &ip, &il, &op, &ol) == (size_t)-1 || il != 0)
        return 0;
    return (int)(op - (char *)dst);
}

/* The bytes of character ch (code point cp >= 0x80) in code element el, as
 * they appear in G0 or G1; 0 if el cannot represent it. */
static int element_encode(Converters *cv, Element el, const uint8_t *ch, size_t n, uint32_t cp,
                          uint8_t dst[8], RnError *err)
{
    int k;
    switch (el) {
    case EL_NONE:
    case EL_ASCII:
    case EL_ROMAJI:
    case EL_COUNT:
        return 0;
    case EL_KATAKANA:
        if (cp >= 0xFF61 && cp <= 0xFF9F) {
            dst[0] = (uint8_t)(0xA1 + (cp - 0xFF61));
            return 1;
        }
        return 0;
    case EL_JISX0208:
    case EL_JISX0212:
        k = encode_with_iconv(cv, el, ELEMENTS[el].iconv_name, ch, n, dst, err);
        if (k < 0)
            return k;
        /* EUC-JP: two bytes A1-FE are JIS X 0208, 8F + two bytes JIS X 0212. */
        if (el == EL_JISX0208 && k == 2 && dst[0] >= 0xA1 && dst[1] >= 0xA1) {
            dst[0] &= 0x7F;
            dst[1] &= 0x7F;
            return 2;
        }
        if (el == EL_JISX0212 && k == 3 && dst[0] == 0x8F && dst[1] >= 0xA1 && dst[2] >= 0xA1) {
            dst[0] = dst[1] & 0x7F;
            dst[1] = dst[2] & 0x7F;
            return 2;
        }
        return 0;
    case EL_KSX1001:
    case EL_GB2312:
        k = encode_with_iconv(cv, el, ELEMENTS[el].iconv_name, ch, n, dst, err);
        if (k < 0)
            return k;
        return k == 2 && dst[0] >= 0xA1 && dst[1] >= 0xA1 ? 2 : 0;
    default:
        k = encode_with_iconv(cv, el, ELEMENTS[el].iconv_name, ch, n, dst, err);
        if (k < 0)
            return k;
        return k == 1 && dst[0] >= 0x80 ? 1 : 0;
    }
}

static int append_escape(RnBuf *out, Element el)
{
    if (rn_buf_append_byte(out, ESC) || rn_buf_append_str(out, ELEMENTS[el].escape))
        return RN_ERR_NOMEM;
    return 0;
}

static int encode_iso2022(const Charset *cs, RnVR vr, const uint8_t *s, size_t len, Converters *cv,
                          RnBuf *out, RnError *err)
{
    Element g0 = cs->init_g0;
    Element g1 = cs->init_g1;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t bad;
        size_t n = utf8_next(s + i, len - i, &cp, &bad);
        if (n == 0)
            return rn_error_set(err, RN_ERR_INVALID, "invalid UTF-8 at byte %zu", i);
        if (cp < 0x80) {
            if (cp == ESC)
                return unrepresentable(err, cs, s + i, n, cp);
            bool reset = is_reset_control((uint8_t)cp) || is_delimiter(vr, (uint8_t)cp);
            /* Space and ASCII need a one-byte G0; delimiters and line breaks
             * need the initial one (PS3.5 6.1.2.5.3). Controls other than
             * those do not depend on G0. */
            if ((reset || cp >= 0x20) && ELEMENTS[g0].width != 1) {
                if (append_escape(out, cs->init_g0))
                    return RN_ERR_NOMEM;
                g0 = cs->init_g0;
            } else if (reset && g0 != cs->init_g0) {
                if (append_escape(out, cs->init_g0))
                    return RN_ERR_NOMEM;
                g0 = cs->init_g0;
            }
            if (rn_buf_append_byte(out, (uint8_t)cp))
                return RN_ERR_NOMEM;
            /* G1 returns to its initial content implicitly: the reader
             * resets at the same points, and "no G1" has no escape. */
            if (reset)
                g1 = cs->init_g1;
            i += n;
            continue;
        }
        uint8_t dst[8];
        int k = 0;
        Element use = EL_NONE;
        /* Prefer what is already designated, then the terms' order. */
        Element current[2] = {g1, ELEMENTS[g0].width == 2 ? g0 : EL_NONE};
        for (size_t c = 0; c < 2 && use == EL_NONE; c++) {
            if (current[c] == EL_NONE)
                continue;
            k = element_encode(cv, current[c], s + i, n, cp, dst, err);
            if (k < 0)
                return k;
            if (k > 0)
                use = current[c];
        }
        for (size_t e = 0; e < cs->n_elements && use == EL_NONE; e++) {
            k = element_encode(cv, cs->elements[e], s + i, n, cp, dst, err);
            if (k < 0)
                return k;
            if (k > 0)
                use = cs->elements[e];
        }
        if (use == EL_NONE)
            return unrepresentable(err, cs, s + i, n, cp);
        Element *reg = ELEMENTS[use].g == 0 ? &g0 : &g1;
        if (*reg != use) {
            if (append_escape(out, use))
                return RN_ERR_NOMEM;
            *reg = use;
        }
        if (rn_buf_append(out, dst, (size_t)k))
            return RN_ERR_NOMEM;
        i += n;
    }
    if (g0 != cs->init_g0 && append_escape(out, cs->init_g0))
        return RN_ERR_NOMEM;
    return 0;
}

static int encode_whole(const Charset *cs, const uint8_t *s, size_t len, Converters *cv, RnBuf *out,
                        RnError *err)
{
    const Term *t = cs->whole;
    size_t i = 0;
    if (!t) /* defensive: charset_parse sets it whenever !iso2022 */
        return rn_error_set(err, RN_ERR_INVALID, "no coding for '%.200s'", cs->text);
    while (i < len) {
        uint32_t cp;
        size_t bad;
        size_t n = utf8_next(s + i, len - i, &cp, &bad);
        if (n == 0)
            return rn_error_set(err, RN_ERR_INVALID, "invalid UTF-8 at byte %zu", i);
        uint8_t dst[8];
        int k = 0;
        if (cp < 0x80 || t->whole == WHOLE_UTF8) {
            memcpy(dst, s + i, n);
            k = (int)n;
        } else if (t->whole == WHOLE_JISX0201) {
            if (cp >= 0xFF61 && cp <= 0xFF9F) {
                dst[0] = (uint8_t)(0xA1 + (cp - 0xFF61));
                k = 1;
            }
        } else if (t->whole == WHOLE_ICONV) {
            k = encode_with_iconv(cv, CD_WHOLE, t->iconv_name, s + i, n, dst, err);
            if (k < 0)
                return k;
        }
        if (k == 0)
            return unrepresentable(err, cs, s + i, n, cp);
        if (rn_buf_append(out, dst, (size_t)k))
            return RN_ERR_NOMEM;
        i += n;
    }
    return 0;
}

int rn_charset_encode(const char *specific_charset, RnVR vr, const char *utf8, RnBuf *out,
                      RnError *err)
{
    if (!utf8 || !out)
        return rn_error_set(err, RN_ERR_INVALID, "rn_charset_encode: NULL argument");
    Charset cs;
    int rc = charset_parse(specific_charset, &cs, err);
    if (rc)
        return rc;
    size_t start = out->len;
    Converters cv;
    converters_init(&cv, false);
    const uint8_t *s = (const uint8_t *)utf8;
    size_t len = strlen(utf8);
    if (cs.iso2022)
        rc = encode_iso2022(&cs, vr, s, len, &cv, out, err);
    else
        rc = encode_whole(&cs, s, len, &cv, out, err);
    converters_close(&cv);
    if (rc) {
        if (rc == RN_ERR_NOMEM)
            rn_error_set(err, rc, "out of memory encoding text");
        out->len = start;
    }
    return rc;
}
