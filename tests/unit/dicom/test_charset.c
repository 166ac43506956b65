/*
 * Unit tests for the character sets of text values (PS3.5 6.1, Annexes E, H,
 * I, J, K; PS3.3 C.12.1.1.2). The reference names are those of PS3.5's
 * examples as pydicom's test_charset.py decodes them; the raw bytes come from
 * the example files in tests/data/charset (read here with a small parser of
 * explicit VR little endian) or are written out below. Encoding the decoded
 * names must give back the original bytes wherever those are the canonical
 * form PS3.5 6.1.2.5.3 describes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "radnode/charset.h"

#define RAW(s) (const uint8_t *)(s), (sizeof(s) - 1)
#define FFFD "\xef\xbf\xbd"

static void expect_decode(const char *charset, RnVR vr, const uint8_t *raw, size_t len,
                          const char *expected)
{
    RnError err = {0};
    size_t out_len = 12345;
    char *s = rn_charset_decode(charset, vr, raw, len, &out_len, &err);
    if (!s) {
        fail_msg("decode with '%s' failed: %s", charset ? charset : "(null)", err.message);
        return; /* not reached; fail_msg jumps out */
    }
    if (strcmp(s, expected) != 0)
        fail_msg("decode with '%s': got '%s', expected '%s'", charset ? charset : "(null)", s,
                 expected);
    assert_int_equal(out_len, strlen(expected));
    free(s);
}

static void expect_encode(const char *charset, RnVR vr, const char *utf8, const uint8_t *raw,
                          size_t len)
{
    RnError err = {0};
    RnBuf out = {0};
    int rc = rn_charset_encode(charset, vr, utf8, &out, &err);
    if (rc)
        fail_msg("encode '%s' with '%s' failed: %s", utf8, charset, err.message);
    if (out.len != len || memcmp(out.data, raw, len) != 0) {
        char got[512] = "";
        for (size_t i = 0; i < out.len && i < 150; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%02x ", out.data[i]);
        fail_msg("encode '%s' with '%s' gave %zu bytes: %s(expected %zu)", utf8, charset, out.len,
                 got, len);
    }
    rn_buf_free(&out);
}

/* Decodes raw to expected and encodes expected back to exactly raw. */
static void expect_both(const char *charset, RnVR vr, const uint8_t *raw, size_t len,
                        const char *expected)
{
    expect_decode(charset, vr, raw, len, expected);
    expect_encode(charset, vr, expected, raw, len);
}

/* Encodes and decodes again; the text must survive. */
static void expect_round_trip(const char *charset, RnVR vr, const char *utf8)
{
    RnError err = {0};
    RnBuf out = {0};
    int rc = rn_charset_encode(charset, vr, utf8, &out, &err);
    if (rc)
        fail_msg("encode '%s' with '%s' failed: %s", utf8, charset, err.message);
    expect_decode(charset, vr, out.data, out.len, utf8);
    rn_buf_free(&out);
}

static void expect_encode_error(const char *charset, RnVR vr, const char *utf8, int code,
                                const char *in_message)
{
    RnError err = {0};
    RnBuf out = {0};
    assert_int_equal(rn_buf_append_str(&out, "keep"), 0);
    int rc = rn_charset_encode(charset, vr, utf8, &out, &err);
    assert_int_equal(rc, code);
    assert_int_equal(err.code, code);
    if (!strstr(err.message, in_message))
        fail_msg("message '%s' does not name '%s'", err.message, in_message);
    /* a failed encode leaves what the buffer held */
    assert_int_equal(out.len, 4);
    assert_memory_equal(out.data, "keep", 4);
    rn_buf_free(&out);
}

/* ---- the example files ---- */

typedef struct TextElement {
    uint32_t tag;
    RnVR vr;
    char charset[128];
    uint8_t raw[256];
    size_t len;
} TextElement;

typedef struct Walk {
    TextElement found[16];
    size_t n;
} Walk;

static bool vr_has_long_length(RnVR vr)
{
    return vr == RN_VR_OB || vr == RN_VR_OD || vr == RN_VR_OF || vr == RN_VR_OL || vr == RN_VR_OV ||
           vr == RN_VR_OW || vr == RN_VR_SQ || vr == RN_VR_SV || vr == RN_VR_UC || vr == RN_VR_UN ||
           vr == RN_VR_UR || vr == RN_VR_UT || vr == RN_VR_UV;
}

/* Walks explicit VR little endian elements, descending into sequence items
 * of defined length; an item's own (0008,0005) replaces the inherited one.
 * Records text elements whose value has a byte >= 0x80 or ESC. */
static void walk_dataset(const uint8_t *p, size_t len, const char *inherited, Walk *w, int depth)
{
    char charset[128];
    snprintf(charset, sizeof charset, "%s", inherited);
    assert_true(depth < 4);
    size_t off = 0;
    while (off < len) {
        assert_true(len - off >= 8);
        uint32_t tag = ((uint32_t)rn_rd16le(p + off) << 16) | rn_rd16le(p + off + 2);
        RnVR vr = RN_VR_CODE(p[off + 4], p[off + 5]);
        size_t hdr = 8;
        size_t vlen = rn_rd16le(p + off + 6);
        if (vr_has_long_length(vr)) {
            assert_true(len - off >= 12);
            hdr = 12;
            vlen = rn_rd32le(p + off + 8);
        }
        assert_true(vlen <= len - off - hdr); /* also rejects undefined length */
        const uint8_t *v = p + off + hdr;
        if (tag == 0x00080005) {
            assert_true(vlen < sizeof charset);
            memcpy(charset, v, vlen);
            charset[vlen] = '\0';
        } else if (vr == RN_VR_SQ) {
            size_t io = 0;
            while (io < vlen) {
                assert_true(vlen - io >= 8);
                assert_int_equal(rn_rd16le(v + io), 0xFFFE);
                assert_int_equal(rn_rd16le(v + io + 2), 0xE000);
                size_t ilen = rn_rd32le(v + io + 4);
                assert_true(ilen <= vlen - io - 8);
                walk_dataset(v + io + 8, ilen, charset, w, depth + 1);
                io += 8 + ilen;
            }
        } else if (vr == RN_VR_PN || vr == RN_VR_LO || vr == RN_VR_SH || vr == RN_VR_LT ||
                   vr == RN_VR_ST || vr == RN_VR_UT || vr == RN_VR_UC) {
            bool special = false;
            for (size_t i = 0; i < vlen; i++)
                special = special || v[i] >= 0x80 || v[i] == 0x1B;
            if (special) {
                assert_true(w->n < sizeof w->found / sizeof w->found[0]);
                TextElement *t = &w->found[w->n++];
                t->tag = tag;
                t->vr = vr;
                snprintf(t->charset, sizeof t->charset, "%s", charset);
                assert_true(vlen <= sizeof t->raw);
                memcpy(t->raw, v, vlen);
                t->len = vlen;
            }
        }
        off += hdr + vlen;
    }
}

static void read_example(const char *name, Walk *w)
{
    const char *root = getenv("RN_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/charset/%s", root ? root : ".", name);
    RnError err = {0};
    size_t len = 0;
    uint8_t *data = rn_file_read_all(path, 1 << 20, &len, &err);
    if (!data) {
        fail_msg("cannot read %s (set RN_SOURCE_DIR): %s", path, err.message);
        return;
    }
    assert_true(len > 132);
    assert_memory_equal(data + 128, "DICM", 4);
    /* the meta group is explicit VR little endian too; walk it with the rest */
    memset(w, 0, sizeof *w);
    walk_dataset(data + 132, len - 132, "", w, 0);
    free(data);
}

typedef struct Expected {
    uint32_t tag;
    const char *utf8;
} Expected;

typedef struct Example {
    const char *file;
    /* whether the file's bytes are the canonical encoding of the names, so
     * that encoding gives them back byte for byte */
    bool canonical;
    Expected names[4];
} Example;

#define RUSSIAN                                                                                    \
    "\xd0\x9b\xd1\x8e\xd0\xba"                                                                     \
    "ce"                                                                                           \
    "\xd0\xbc\xd0\xb1"                                                                             \
    "yp"                                                                                           \
    "\xd0\xb3"
#define JAPANESE_H31 "Yamada^Tarou=山田^太郎=やまだ^たろう"
#define JAPANESE_H32 "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"

static const Example EXAMPLES[] = {
    {"chrArab.dcm", true, {{0x00100010, "قباني^لنزار"}}},
    {"chrFren.dcm", true, {{0x00100010, "Buc^Jérôme"}}},
    {"chrFrenMulti.dcm",
     true,
     {{0x00100010, "Buc^Jérôme"}, {0x00101001, "Buc^Jérôme\\Buc^Jérôme"}}},
    {"chrGerm.dcm", true, {{0x00100010, "Äneas^Rüdiger"}}},
    {"chrGreek.dcm", true, {{0x00100010, "Διονυσιος"}}},
    {"chrH31.dcm", true, {{0x00100010, JAPANESE_H31}}},
    {"chrH32.dcm", true, {{0x00100010, JAPANESE_H32}}},
    {"chrHbrw.dcm", true, {{0x00100010, "שרון^דבורה"}}},
    {"chrI2.dcm", true, {{0x00100010, "Hong^Gildong=洪^吉洞=홍^길동"}}},
    {"chrJapMulti.dcm",
     true,
     {{0x00100010, "やまだ^たろう"},
      {0x00101001, "やまだ^たろう\\やまだ^たろう"},
      {0x001021B0, "たろう"}}},
    {"chrJapMultiExplicitIR6.dcm",
     true,
     {{0x00100010, "やまだ^たろう"},
      {0x00101001, "やまだ^たろう\\やまだ^たろう"},
      {0x001021B0, "たろう"}}},
    /* ends every value with a redundant ESC ( B */
    {"chrKoreanMulti.dcm",
     false,
     {{0x00081070, "김희중"},
      {0x00100010, "김희중"},
      {0x00101001, "김희중\\김희중"},
      {0x001021B0, "김희중"}}},
    {"chrRuss.dcm", true, {{0x00100010, RUSSIAN}}},
    /* items returning from JIS X 0208 with ESC ( B where value 1 is IR 13 */
    {"chrSQEncoding.dcm", false, {{0x00100010, JAPANESE_H32}}},
    {"chrSQEncoding1.dcm", false, {{0x00100010, JAPANESE_H32}}},
    {"chrX1.dcm", true, {{0x00100010, "Wang^XiaoDong=王^小東="}}},
    {"chrX2.dcm", true, {{0x00100010, "Wang^XiaoDong=王^小东="}}},
};

static size_t strip_padding(const uint8_t *s, size_t len)
{
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\0'))
        len--;
    return len;
}

static void test_example_files(void **state)
{
    (void)state;
    size_t checked = 0;
    for (size_t f = 0; f < sizeof EXAMPLES / sizeof EXAMPLES[0]; f++) {
        const Example *ex = &EXAMPLES[f];
        Walk w = {0};
        read_example(ex->file, &w);
        size_t n_expected = 0;
        while (n_expected < 4 && ex->names[n_expected].utf8)
            n_expected++;
        if (w.n != n_expected)
            fail_msg("%s: %zu non-ASCII text elements, expected %zu", ex->file, w.n, n_expected);
        for (size_t i = 0; i < w.n; i++) {
            const TextElement *t = &w.found[i];
            assert_int_equal(t->tag, ex->names[i].tag);
            const char *want = ex->names[i].utf8;
            RnError err = {0};
            size_t n = 0;
            char *got = rn_charset_decode(t->charset, t->vr, t->raw, t->len, &n, &err);
            if (!got) {
                fail_msg("%s: %s", ex->file, err.message);
                return;
            }
            size_t stripped = strip_padding((const uint8_t *)got, n);
            if (stripped != strlen(want) || memcmp(got, want, stripped) != 0)
                fail_msg("%s (%08x, charset '%s'): got '%s', expected '%s'", ex->file,
                         (unsigned)t->tag, t->charset, got, want);
            free(got);
            if (ex->canonical)
                expect_encode(t->charset, t->vr, want, t->raw, strip_padding(t->raw, t->len));
            else
                expect_round_trip(t->charset, t->vr, want);
            checked++;
        }
    }
    assert_int_equal(checked, 25);
}

/* ---- single values without code extensions ---- */

static void test_single_byte_sets(void **state)
{
    (void)state;
    expect_both("ISO_IR 100", RN_VR_PN, RAW("Buc^J\xe9r\xf4me"), "Buc^Jérôme");
    expect_both("ISO_IR 100", RN_VR_PN,
                RAW("\xc4neas^R\xfc"
                    "diger"),
                "Äneas^Rüdiger");
    expect_both("ISO_IR 101", RN_VR_PN, RAW("Wa\xb3\xeasa"), "Wałęsa");
    expect_both("ISO_IR 109", RN_VR_PN, RAW("anta\xfdnomo"), "antaŭnomo");
    expect_both("ISO_IR 110", RN_VR_PN, RAW("v\xe0rds"), "vārds");
    expect_both("ISO_IR 144", RN_VR_PN,
                RAW("\xbb\xee\xda"
                    "ce\xdc\xd1yp\xd3"),
                RUSSIAN);
    expect_both("ISO_IR 127", RN_VR_PN, RAW("\xe2\xc8\xc7\xe6\xea^\xe4\xe6\xd2\xc7\xd1"),
                "قباني^لنزار");
    expect_both("ISO_IR 126", RN_VR_PN, RAW("\xc4\xe9\xef\xed\xf5\xf3\xe9\xef\xf2"), "Διονυσιος");
    expect_both("ISO_IR 138", RN_VR_PN, RAW("\xf9\xf8\xe5\xef^\xe3\xe1\xe5\xf8\xe4"), "שרון^דבורה");
    expect_both("ISO_IR 148", RN_VR_PN,
                RAW("\xc7"
                    "avu\xfeo\xf0lu"),
                "Çavuşoğlu");
    expect_both("ISO_IR 203", RN_VR_LO, RAW("Co\xfbt 5\xa4"), "Coût 5€");
    expect_both("ISO_IR 166", RN_VR_PN, RAW("\xb9\xd2\xc1\xca\xa1\xd8\xc5"), "นามสกุล");
    expect_both("ISO_IR 13", RN_VR_PN, RAW("\xd4\xcf\xc0\xde^\xc0\xdb\xb3"), "ﾔﾏﾀﾞ^ﾀﾛｳ");
    /* the default repertoire */
    expect_both(NULL, RN_VR_PN, RAW("CompressedSamples^CT1"), "CompressedSamples^CT1");
    expect_both("", RN_VR_LO, RAW("a\\b"), "a\\b");
    expect_both("ISO_IR 6", RN_VR_LO, RAW("Line 1\r\nLine 2"), "Line 1\r\nLine 2");
    expect_decode("ISO_IR 100", RN_VR_PN, RAW(""), "");
    expect_decode("ISO_IR 100", RN_VR_PN, NULL, 0, "");
    /* without code extensions an escape is an ordinary (if odd) character */
    expect_decode("ISO_IR 100", RN_VR_PN, RAW("\x1b\x2d\x46\xc4\xe9\xef"), "\x1b-FÄéï");
}

static void test_chinese(void **state)
{
    (void)state;
    /* PS3.5 K.1 (ISO_IR 192) and K.2 (GB18030) */
    expect_both("ISO_IR 192", RN_VR_PN, RAW("Wang^XiaoDong=\xe7\x8e\x8b^\xe5\xb0\x8f\xe6\x9d\xb1="),
                "Wang^XiaoDong=王^小東=");
    expect_both("GB18030", RN_VR_PN, RAW("Wang^XiaoDong=\xcd\xf5^\xd0\xa1\xb6\xab="),
                "Wang^XiaoDong=王^小东=");
    /* GB18030 two- and four-byte forms */
    expect_both("GB18030", RN_VR_LO, RAW("\xa8\xa6\x95\x32\x82\x36"), "é𠀀");
    /* GBK, with trail bytes that look like ASCII, '\' included */
    expect_both("GBK", RN_VR_LO, RAW("\xd6\xd0\xce\xc4\\\xe1\x74\xd4\xba"), "中文\\醫院");
    expect_both("GBK", RN_VR_LO, RAW("\x81\x5c\\\x82\x5c"), "乗\\俓");
    /* PS3.5 K.3: GB 2312 as an ISO 2022 code extension in G1 */
    expect_both("\\ISO 2022 IR 58", RN_VR_PN,
                RAW("Zhang^XiaoDong=\x1b\x24\x29\x41\xd5\xc5^\x1b\x24\x29\x41\xd0\xa1\xb6\xab="),
                "Zhang^XiaoDong=张^小东=");
    static const char *const names[] = {
        "Wang^XiaoDong=王^小东=",
        "Li^XiaoLong=李^小龙",
        "OuYang^NaNa=欧阳^娜娜",
        "Zhang^Wei=張^偉",
        "Chen^Jing=陳^靜",
        "Huang^Fei=黄^飞",
        "Wang^Jian^^Dr.=王^建^^医生",
        "Liu^Yang\\Zhao^Lei",
        "中国医学科学院北京协和医院",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        expect_round_trip("ISO_IR 192", RN_VR_PN, names[i]);
        expect_round_trip("GB18030", RN_VR_PN, names[i]);
        expect_round_trip("GBK", RN_VR_PN, names[i]);
    }
    expect_round_trip("GB18030", RN_VR_LO, "𠀀𪚥 and 😀 too");
    expect_encode_error("GBK", RN_VR_LO, "𠀀", RN_ERR_UNSUPPORTED, "U+20000");
    expect_encode_error("\\ISO 2022 IR 58", RN_VR_PN, "張", RN_ERR_UNSUPPORTED, "U+5F35");
}

/* ---- code extensions ---- */

typedef struct Extension {
    const char *term;
    const char *utf8;
    const char *raw;
} Extension;

/* pydicom's ENCODED_NAMES: one single-byte code extension each, with the
 * designation repeated after every delimiter */
static const Extension EXTENSIONS[] = {
    {"ISO 2022 IR 13", "ﾔﾏﾀﾞ^ﾀﾛｳ", "\x1b\x29\x49\xd4\xcf\xc0\xde\x5e\x1b\x29\x49\xc0\xdb\xb3"},
    {"ISO 2022 IR 100", "Buc^Jérôme",
     "\x1b\x2d\x41\x42\x75\x63\x5e\x1b\x2d\x41\x4a\xe9\x72\xf4\x6d\x65"},
    {"ISO 2022 IR 101", "Wałęsa", "\x1b\x2d\x42\x57\x61\xb3\xea\x73\x61"},
    {"ISO 2022 IR 109", "antaŭnomo", "\x1b\x2d\x43\x61\x6e\x74\x61\xfd\x6e\x6f\x6d\x6f"},
    {"ISO 2022 IR 110", "vārds", "\x1b\x2d\x44\x76\xe0\x72\x64\x73"},
    {"ISO 2022 IR 127", "قباني^لنزار",
     "\x1b\x2d\x47\xe2\xc8\xc7\xe6\xea\x5e\x1b\x2d\x47\xe4\xe6\xd2\xc7\xd1"},
    {"ISO 2022 IR 126", "Διονυσιος", "\x1b\x2d\x46\xc4\xe9\xef\xed\xf5\xf3\xe9\xef\xf2"},
    {"ISO 2022 IR 138", "שרון^דבורה",
     "\x1b\x2d\x48\xf9\xf8\xe5\xef\x5e\x1b\x2d\x48\xe3\xe1\xe5\xf8\xe4"},
    {"ISO 2022 IR 144", RUSSIAN, "\x1b\x2d\x4c\xbb\xee\xda\x63\x65\xdc\xd1\x79\x70\xd3"},
    {"ISO 2022 IR 148", "Çavuşoğlu", "\x1b\x2d\x4d\xc7\x61\x76\x75\xfe\x6f\xf0\x6c\x75"},
    {"ISO 2022 IR 166", "นามสกุล", "\x1b\x2d\x54\xb9\xd2\xc1\xca\xa1\xd8\xc5"},
    {"ISO 2022 IR 203", "Coût 5€", "\x1b\x2d\x62\x43\x6f\xfb\x74\x20\x35\xa4"},
};

static void test_single_byte_code_extensions(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof EXTENSIONS / sizeof EXTENSIONS[0]; i++) {
        const Extension *e = &EXTENSIONS[i];
        char charset[64];
        char raw[128];
        char utf8[128];
        snprintf(charset, sizeof charset, "\\%s", e->term);
        snprintf(raw, sizeof raw, "ASCII+%s", e->raw);
        snprintf(utf8, sizeof utf8, "ASCII+%s", e->utf8);
        expect_decode(charset, RN_VR_PN, (const uint8_t *)raw, strlen(raw), utf8);
        expect_round_trip(charset, RN_VR_PN, utf8);
        expect_round_trip(charset, RN_VR_LO, utf8);
    }
    /* the writer designates G1 just before it is needed, again after '^' */
    expect_encode("\\ISO 2022 IR 100", RN_VR_PN, "Buc^Jérôme^é",
                  RAW("Buc^J\x1b\x2d\x41\xe9r\xf4me^\x1b\x2d\x41\xe9"));
    /* in LO '^' is no delimiter, so G1 stays designated */
    expect_encode("\\ISO 2022 IR 100", RN_VR_LO, "Buc^Jérôme^é",
                  RAW("Buc^J\x1b\x2d\x41\xe9r\xf4me^\xe9"));
}

static void test_multi_valued_code_extensions(void **state)
{
    (void)state;
    const char *cs = "ISO 2022 IR 100\\ISO 2022 IR 144\\ISO 2022 IR 126";
    /* value 1 is the initial state: Latin-1 needs no escape (pydicom #707) */
    expect_both("ISO 2022 IR 100\\ISO 2022 IR 144", RN_VR_PN, RAW("Buc^J\xe9r\xf4me"),
                "Buc^Jérôme");
    expect_both("ISO 2022 IR 100\\ISO 2022 IR 144", RN_VR_LO, RAW("R\xf6ntgenaufnahme"),
                "Röntgenaufnahme");
    /* after each '\' G1 is Latin-1 again */
    static const char three[] = "Buc^J\xe9r\xf4me\\\x1b\x2d\x46\xc4\xe9\xef\xed\xf5\xf3\xe9\xef"
                                "\xf2\\\x1b\x2d\x4c\xbb\xee\xda\x63\x65\xdc\xd1\x79\x70\xd3";
    expect_both(cs, RN_VR_PN, RAW(three), "Buc^Jérôme\\Διονυσιος\\" RUSSIAN);
    expect_both(cs, RN_VR_LO, RAW(three), "Buc^Jérôme\\Διονυσιος\\" RUSSIAN);
    expect_both("ISO 2022 IR 100\\ISO 2022 IR 126", RN_VR_PN,
                RAW("Dionysios=\x1b\x2d\x46\xc4\xe9\xef\xed\xf5\xf3\xe9\xef\xf2"),
                "Dionysios=Διονυσιος");
    expect_both("ISO 2022 IR 100\\ISO 2022 IR 126", RN_VR_LO,
                RAW("Dionysios is \x1b\x2d\x46\xc4\xe9\xef\xed\xf5\xf3\xe9\xef\xf2"),
                "Dionysios is Διονυσιος");
    /* LT is one value: '\' is an ordinary character and resets nothing */
    expect_decode("\\ISO 2022 IR 100", RN_VR_LT, RAW("\x1b\x2d\x41\xe9\\\xe9"), "é\\é");
    expect_decode("\\ISO 2022 IR 100", RN_VR_LO, RAW("\x1b\x2d\x41\xe9\\\xe9"), "é\\" FFFD);
    /* ISO_IR 192, GB18030 and GBK take no code extensions: the rest is ignored */
    expect_both("ISO_IR 192\\ISO 2022 IR 100\\ISO 2022 IR 144", RN_VR_PN,
                RAW("Buc^J\xc3\xa9r\xc3\xb4me"), "Buc^Jérôme");
}

static void test_japanese(void **state)
{
    (void)state;
    /* PS3.5 H.3.1 and H.3.2 are in the example files; the G0 set returns to
     * value 1's (ESC ( B, or ESC ( J after ISO 2022 IR 13) before delimiters */
    expect_both("\\ISO 2022 IR 87", RN_VR_PN,
                RAW("Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B=\x1b$B$d$^$@\x1b(B^\x1b$B$?"
                    "$m$&\x1b(B"),
                JAPANESE_H31);
    expect_both("ISO 2022 IR 13\\ISO 2022 IR 87", RN_VR_PN,
                RAW("\xd4\xcf\xc0\xde^\xc0\xdb\xb3=\x1b$B;3ED\x1b(J^\x1b$BB@O:\x1b(J=\x1b$B$d$^$@"
                    "\x1b(J^\x1b$B$?$m$&\x1b(J"),
                JAPANESE_H32);
    /* JIS X 0212 (pydicom's test_japanese_multi_byte_personname) */
    expect_both("ISO 2022 IR 6\\ISO 2022 IR 87\\ISO 2022 IR 159", RN_VR_PN,
                RAW("\x4d\x6f\x72\x69\x5e\x4f\x67\x61\x69\x3d\x1b\x24\x42\x3f\x39\x1b\x28\x42\x5e"
                    "\x1b\x24\x28\x44\x6c\x3f\x1b\x24\x42\x33\x30\x1b\x28\x42\x3d\x1b\x24\x42\x24"
                    "\x62\x24\x6a\x1b\x28\x42\x5e\x1b\x24\x42\x24\x2a\x24\x26\x24\x2c\x24\x24\x1b"
                    "\x28\x42"),
                "Mori^Ogai=森^鷗外=もり^おうがい");
    /* all four Japanese code elements in one value; pydicom writes a
     * redundant ESC ) I, which reads the same */
    const char *cs = "ISO 2022 IR 13\\ISO 2022 IR 87\\ISO 2022 IR 159";
    expect_both(cs, RN_VR_LO, RAW("\x1b$B$\"\x1b(Ja\xb1\x1b$B%\"\x1b$(DmN\x1b(J"), "あaｱア齩");
    expect_decode(cs, RN_VR_LO, RAW("\x1b$B$\"\x1b(Ja\x1b)I\xb1\x1b$B%\"\x1b$(DmN\x1b(J"),
                  "あaｱア齩");
    /* lines of LT: back to ASCII before CR LF, and a reader resets there
     * even when a writer forgot to */
    expect_both("\\ISO 2022 IR 87", RN_VR_LT, RAW("\x1b$B;3ED\x1b(B\r\n\x1b$BB@O:\x1b(B"),
                "山田\r\n太郎");
    expect_decode("\\ISO 2022 IR 87", RN_VR_LT, RAW("\x1b$B;3ED\r\nB@O:"), "山田\r\nB@O:");
    expect_both("\\ISO 2022 IR 87", RN_VR_LT, RAW("\x1b$B;3\x1b(B\t\x1b$BED\x1b(B"), "山\t田");
    /* half-width katakana need ISO 2022 IR 13 */
    expect_encode_error("\\ISO 2022 IR 87", RN_VR_PN, "ﾔﾏﾀﾞ", RN_ERR_UNSUPPORTED, "U+FF94");
    expect_encode_error("\\ISO 2022 IR 87", RN_VR_PN, "5€", RN_ERR_UNSUPPORTED, "U+20AC");
    /* a single ISO 2022 IR 87 value is read as if value 1 were empty */
    expect_both("ISO 2022 IR 87", RN_VR_PN, RAW("\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B"), "山田^太郎");
    expect_round_trip(cs, RN_VR_PN, "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう\\Mori=森^鷗外");
}

static void test_korean(void **state)
{
    (void)state;
    /* PS3.5 I.2: G1 is designated again after each delimiter */
    expect_both("\\ISO 2022 IR 149", RN_VR_PN,
                RAW("Hong^Gildong=\x1b$)C\xfb\xf3^\x1b$)C\xd1\xce\xd4\xd7=\x1b$)C\xc8\xab^\x1b$)C"
                    "\xb1\xe6\xb5\xbf"),
                "Hong^Gildong=洪^吉洞=홍^길동");
    expect_both("\\ISO 2022 IR 149", RN_VR_LT,
                RAW("The 1st line includes \x1b$)C\xb1\xe6\xb5\xbf.\r\nThe 2nd line includes "
                    "\x1b$)C\xb1\xe6\xb5\xbf, too.\r\nThe 3rd line."),
                "The 1st line includes 길동.\r\nThe 2nd line includes 길동, too.\r\nThe 3rd line.");
    /* after '^' of a PN the designation is gone; in LO it is not */
    expect_decode("\\ISO 2022 IR 149", RN_VR_PN, RAW("\x1b$)C\xfb\xf3^\xd1\xce"), "洪^" FFFD FFFD);
    expect_decode("\\ISO 2022 IR 149", RN_VR_LO, RAW("\x1b$)C\xfb\xf3^\xd1\xce"), "洪^吉");
    expect_round_trip("\\ISO 2022 IR 149", RN_VR_PN, "김^희중=Kim^Heejung\\홍^길동");
}

/* ---- bad input ---- */

static void test_invalid_bytes(void **state)
{
    (void)state;
    /* Greek bytes that are not UTF-8: one U+FFFD each (pydicom) */
    expect_decode("ISO_IR 192", RN_VR_PN, RAW("\xc4\xe9\xef\xed\xf5\xf3\xe9\xef\xf2"),
                  FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD);
    /* a truncated character is one maximal subpart; overlong forms and
     * surrogates are rejected */
    expect_decode("ISO_IR 192", RN_VR_LO, RAW("a\xe6\x9d"), "a" FFFD);
    expect_decode("ISO_IR 192", RN_VR_LO, RAW("\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80"),
                  FFFD FFFD "|" FFFD FFFD FFFD "|" FFFD FFFD FFFD FFFD);
    /* the default repertoire has no bytes >= 0x80 */
    expect_decode(NULL, RN_VR_PN, RAW("Buc^J\xe9r\xf4me"), "Buc^J" FFFD "r" FFFD "me");
    expect_decode("ISO_IR 6", RN_VR_PN, RAW("\x80\xff"), FFFD FFFD);
    expect_decode("ISO_IR 13", RN_VR_PN, RAW("\x80\xa0\xe0"), FFFD FFFD FFFD);
    /* holes of ISO 8859-6 and TIS 620 */
    expect_decode("ISO_IR 127", RN_VR_LO,
                  RAW("a\xa1"
                      "b"),
                  "a" FFFD "b");
    expect_decode("ISO_IR 166", RN_VR_LO, RAW("a\xff"), "a" FFFD);
    expect_decode("GB18030", RN_VR_LO,
                  RAW("\x80"
                      "abc\xcd"),
                  FFFD "abc" FFFD);
    expect_decode("GBK", RN_VR_LO, RAW("\xff\xcd\xf5"), FFFD "王");
    /* G1 with nothing designated; JIS X 0212 then bytes >= 0x80 (pydicom) */
    expect_decode("\\ISO 2022 IR 87", RN_VR_PN, RAW("a\xe9"), "a" FFFD);
    expect_decode("ISO 2022 IR 159", RN_VR_PN, RAW("\x1b$(D\xc4\xe9\xef\xed\xf5\xf3\xe9\xef\xf2"),
                  FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD FFFD);
    /* unknown, malformed and truncated escape sequences */
    expect_decode("\\ISO 2022 IR 100", RN_VR_LO, RAW("a\x1b-Zb"), "a" FFFD "b");
    expect_decode("\\ISO 2022 IR 100", RN_VR_LO,
                  RAW("a\x1b\x80"
                      "b"),
                  "a" FFFD FFFD "b");
    expect_decode("\\ISO 2022 IR 87", RN_VR_LO, RAW("ab\x1b$"), "ab" FFFD);
    expect_decode("\\ISO 2022 IR 87", RN_VR_LO, RAW("\x1b"), FFFD);
    /* half a JIS X 0208 character, and a pair with no character */
    expect_decode("\\ISO 2022 IR 87", RN_VR_LO, RAW("\x1b$B;"), FFFD);
    expect_decode("\\ISO 2022 IR 87", RN_VR_LO, RAW("\x1b$B;\x1b(Ba"), FFFD "a");
    expect_decode("\\ISO 2022 IR 87", RN_VR_LO, RAW("\x1b$B\x7e\x7e\x1b(B"), FFFD);
    /* half a KS X 1001 character */
    expect_decode("\\ISO 2022 IR 149", RN_VR_LO, RAW("\x1b$)C\xb1"), FFFD);
    /* NUL and other controls pass through */
    expect_decode("ISO_IR 100", RN_VR_LO, RAW("a\x01\xe9"), "a\x01é");
    RnError err = {0};
    size_t n = 0;
    char *s = rn_charset_decode("ISO_IR 100", RN_VR_LO, RAW("a\0\xe9"), &n, &err);
    assert_non_null(s);
    assert_int_equal(n, 4);
    assert_memory_equal(s, "a\0\xc3\xa9", 5);
    free(s);
    /* bad UTF-8 cannot be encoded */
    expect_encode_error("ISO_IR 192", RN_VR_LO, "a\xff", RN_ERR_INVALID, "UTF-8");
    expect_encode_error("ISO_IR 100", RN_VR_LO, "\xc3", RN_ERR_INVALID, "UTF-8");
    expect_encode_error("\\ISO 2022 IR 87", RN_VR_LO, "\xe5\xb1", RN_ERR_INVALID, "UTF-8");
}

static void test_unrepresentable(void **state)
{
    (void)state;
    expect_encode_error(NULL, RN_VR_PN, "Jérôme", RN_ERR_UNSUPPORTED, "U+00E9");
    expect_encode_error("ISO_IR 100", RN_VR_PN, "Δ", RN_ERR_UNSUPPORTED, "U+0394");
    expect_encode_error("ISO_IR 100", RN_VR_PN, "Δ", RN_ERR_UNSUPPORTED, "ISO_IR 100");
    expect_encode_error("ISO_IR 144", RN_VR_PN, "Ω", RN_ERR_UNSUPPORTED, "'Ω'");
    expect_encode_error("ISO_IR 13", RN_VR_PN, "ア", RN_ERR_UNSUPPORTED, "U+30A2");
    expect_encode_error("\\ISO 2022 IR 100", RN_VR_LO, "a\x1b-A", RN_ERR_UNSUPPORTED, "U+001B");
    expect_encode_error("ISO 2022 IR 100\\ISO 2022 IR 126", RN_VR_LO, "Ж", RN_ERR_UNSUPPORTED,
                        "U+0416");
}

static void test_terms(void **state)
{
    (void)state;
    RnError err = {0};
    char *s = rn_charset_decode("ISO_IR 999", RN_VR_PN, RAW("abc"), NULL, &err);
    assert_null(s);
    assert_int_equal(err.code, RN_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.message, "'ISO_IR 999'"));

    rn_error_clear(&err);
    s = rn_charset_decode("ISO 2022 IR 100\\ISO 2022 IR 146", RN_VR_PN, RAW("abc"), NULL, &err);
    assert_null(s);
    assert_int_equal(err.code, RN_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.message, "'ISO 2022 IR 146'"));
    expect_encode_error("UNSUPPORTED", RN_VR_PN, "abc", RN_ERR_UNSUPPORTED, "'UNSUPPORTED'");
    expect_encode_error("ISO_IR 100\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\", RN_VR_PN, "abc",
                        RN_ERR_LIMIT, "values");

    assert_true(rn_charset_is_supported(NULL));
    assert_true(rn_charset_is_supported(""));
    assert_true(rn_charset_is_supported("ISO_IR 192"));
    assert_true(rn_charset_is_supported("GB18030"));
    assert_true(rn_charset_is_supported("GBK "));
    assert_true(rn_charset_is_supported("\\ISO 2022 IR 87"));
    assert_true(rn_charset_is_supported("ISO 2022 IR 13\\ISO 2022 IR 87\\ISO 2022 IR 159"));
    assert_true(rn_charset_is_supported("\\ISO 2022 IR 149"));
    assert_true(rn_charset_is_supported("\\ISO 2022 IR 58"));
    assert_false(rn_charset_is_supported("UNSUPPORTED"));
    assert_false(rn_charset_is_supported("ISO_IR 100\\ISO 2022 IR 146"));
    assert_false(rn_charset_is_supported("ISO 2022 IR 192"));

    /* common misspellings are read as what they mean (pydicom does too) */
    expect_decode("ISO IR 192", RN_VR_PN, RAW("Buc^J\xc3\xa9r\xc3\xb4me"), "Buc^Jérôme");
    expect_decode("iso_ir 100", RN_VR_PN, RAW("Buc^J\xe9r\xf4me"), "Buc^Jérôme");
    expect_decode("ISO_IR 100\\ISO-IR 144", RN_VR_PN, RAW("Buc^J\xe9r\xf4me"), "Buc^Jérôme");
    expect_decode("ISO_2022-IR 100\\ISO_2022_IR+126", RN_VR_PN,
                  RAW("Dionysios=\x1b\x2d\x46\xc4\xe9\xef\xed\xf5\xf3\xe9\xef\xf2"),
                  "Dionysios=Διονυσιος");
    /* padded and multi-valued forms */
    expect_decode(" ISO_IR 100 ", RN_VR_PN, RAW("\xe9"), "é");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_files),
        cmocka_unit_test(test_single_byte_sets),
        cmocka_unit_test(test_chinese),
        cmocka_unit_test(test_single_byte_code_extensions),
        cmocka_unit_test(test_multi_valued_code_extensions),
        cmocka_unit_test(test_japanese),
        cmocka_unit_test(test_korean),
        cmocka_unit_test(test_invalid_bytes),
        cmocka_unit_test(test_unrepresentable),
        cmocka_unit_test(test_terms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
