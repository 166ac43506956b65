/*
 * Shared by the codec unit tests: reads tests/data/codec/manifest.txt (made by
 * tools/extract_codec_fixtures.py from pydicom's reference files and DCMTK /
 * Pillow encodes) and checks one decoder against every fixture of its codec:
 * the exact reference bytes (a .raw file, or CRC-32 and length for large
 * ones), the original image within max_deviation for near-lossless streams,
 * the "describe only" call, an output buffer one byte short, and truncated
 * input (which may fail but must not crash or read out of bounds).
 */
#ifndef RN_TEST_CODEC_FIXTURES_H
#define RN_TEST_CODEC_FIXTURES_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "codec/codec_internal.h"
#include "codec/pixel.h"

typedef struct CodecFixture {
    char codec[16];
    char file[96];
    RnImageInfo info;
    char out_photometric[17];
    char ref[96];
    char orig[96];
    int maxdev;
} CodecFixture;

static inline uint8_t *fixture_read(const char *name, size_t *len)
{
    const char *root = getenv("RN_SOURCE_DIR");
    char path[4300];
    snprintf(path, sizeof path, "%s/tests/data/codec/%s", root ? root : ".", name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        print_error("cannot open fixture %s\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = n > 0 ? (size_t)n : 0;
    return buf;
}

/* All fixtures of one codec; the caller frees the array. */
static inline CodecFixture *fixture_load(const char *codec, size_t *count)
{
    size_t len = 0;
    uint8_t *text = fixture_read("manifest.txt", &len);
    assert_non_null(text);
    CodecFixture *list = calloc(256, sizeof *list);
    assert_non_null(list);
    size_t n = 0;
    char *save = NULL;
    char *buf = malloc(len + 1);
    assert_non_null(buf);
    memcpy(buf, text, len);
    buf[len] = '\0';
    free(text);
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#')
            continue;
        CodecFixture fx;
        memset(&fx, 0, sizeof fx);
        unsigned r, c, spp, ba, bs, hb, pr, pc;
        int k = sscanf(line, "%15s %95s %u %u %u %u %u %u %u %u %16s %16s %95s %95s %d", fx.codec,
                       fx.file, &r, &c, &spp, &ba, &bs, &hb, &pr, &pc, fx.info.photometric,
                       fx.out_photometric, fx.ref, fx.orig, &fx.maxdev);
        assert_int_equal(k, 15);
        if (strcmp(fx.codec, codec) != 0)
            continue;
        fx.info.rows = r;
        fx.info.columns = c;
        fx.info.samples_per_pixel = spp;
        fx.info.bits_allocated = ba;
        fx.info.bits_stored = bs;
        fx.info.high_bit = hb;
        fx.info.pixel_representation = pr;
        fx.info.planar_configuration = pc;
        fx.info.number_of_frames = 1;
        assert_true(n < 256);
        list[n++] = fx;
    }
    free(buf);
    *count = n;
    return list;
}

static inline int64_t fixture_sample(const RnImageInfo *info, const uint8_t *p, size_t i)
{
    RnImageInfo full = *info;
    full.bits_stored = full.bits_allocated;
    full.high_bit = full.bits_allocated - 1;
    return rn_sample_get(&full, p, i);
}

/* Decodes one fixture with `decode` and checks everything (cmocka fails the test otherwise). */
static inline void fixture_check(const CodecFixture *fx, RnFrameDecoder decode)
{
    size_t len = 0;
    uint8_t *src = fixture_read(fx->file, &len);
    assert_non_null(src);
    RnError err = {0};
    RnImageInfo out;
    memset(&out, 0, sizeof out);
    int rc = decode(&fx->info, NULL, 0, NULL, 0, &out, &err);
    if (rc != 0)
        print_error("%s: describe: %s\n", fx->file, err.message);
    assert_int_equal(rc, 0);
    assert_string_equal(out.photometric, fx->out_photometric);
    assert_int_equal(out.planar_configuration, 0);
    size_t size = rn_frame_bytes(&out);
    assert_true(size > 0);
    uint8_t *dst = malloc(size);
    assert_non_null(dst);

    /* one byte short: refused */
    assert_true(decode(&fx->info, src, len, dst, size - 1, &out, &err) < 0);

    memset(dst, 0xA5, size);
    rc = decode(&fx->info, src, len, dst, size, &out, &err);
    if (rc != 0)
        print_error("%s: %s\n", fx->file, err.message);
    assert_int_equal(rc, 0);

    if (strncmp(fx->ref, "crc32:", 6) == 0) {
        unsigned long want_crc = strtoul(fx->ref + 6, NULL, 16);
        size_t want_len = strtoul(strchr(fx->ref + 6, ':') + 1, NULL, 10);
        assert_int_equal(size, want_len);
        unsigned long crc = crc32(0L, dst, (uInt)size);
        if (crc != want_crc)
            print_error("%s: CRC-32 %08lx, reference %08lx\n", fx->file, crc, want_crc);
        assert_int_equal(crc, want_crc);
    } else {
        size_t rlen = 0;
        uint8_t *ref = fixture_read(fx->ref, &rlen);
        assert_non_null(ref);
        assert_int_equal(rlen, size);
        for (size_t i = 0; i < size; i++) {
            if (dst[i] != ref[i]) {
                print_error("%s: byte %zu is %02x, reference %02x\n", fx->file, i, dst[i], ref[i]);
                fail();
            }
        }
        free(ref);
    }
    if (strcmp(fx->orig, "-") != 0) {
        size_t olen = 0;
        uint8_t *orig = fixture_read(fx->orig, &olen);
        assert_non_null(orig);
        assert_int_equal(olen, size);
        size_t n = size / (out.bits_allocated / 8);
        int64_t worst = 0;
        for (size_t i = 0; i < n; i++) {
            int64_t d = fixture_sample(&out, dst, i) - fixture_sample(&out, orig, i);
            if (d < 0)
                d = -d;
            if (d > worst)
                worst = d;
        }
        if (worst > fx->maxdev)
            print_error("%s: deviation %lld > %d\n", fx->file, (long long)worst, fx->maxdev);
        assert_true(worst <= fx->maxdev);
        free(orig);
    }

    /* truncated input: an error or a decode, never a crash (ASan watches) */
    size_t step = len > 400 ? len / 97 : 1;
    for (size_t cut = 0; cut < len; cut += step) {
        uint8_t *part = malloc(cut ? cut : 1);
        assert_non_null(part);
        memcpy(part, src, cut);
        (void)decode(&fx->info, cut ? part : NULL, cut, dst, size, &out, &err);
        free(part);
    }
    free(dst);
    free(src);
}

static inline void fixture_check_all(const char *codec, RnFrameDecoder decode, size_t at_least)
{
    size_t n = 0;
    CodecFixture *list = fixture_load(codec, &n);
    assert_true(n >= at_least);
    for (size_t i = 0; i < n; i++)
        fixture_check(&list[i], decode);
    free(list);
}

#endif
