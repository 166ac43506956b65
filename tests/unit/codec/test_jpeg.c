/*
 * Tests of the JPEG codecs (ISO/IEC 10918-1; PS3.5 A.4.1): every fixture in
 * tests/data/jpeg (pydicom's JPEG test files and dcmcjpeg outputs, see
 * tools/extract_jpeg_fixtures.py) decodes to the reference made by DCMTK's
 * dcmdjpeg (bit-exact for lossless, within 1 for DCT); radnode's own DCT
 * decoder agrees with libjpeg-turbo on 8-bit streams; the SV1 encoder round
 * trips 2..16-bit, 1 and 3-sample images bit-exactly; hostile input (every
 * truncation, corrupted bytes, wrong sizes) fails cleanly.
 *
 * With RN_JPEG_DUMP_DIR set, the round-trip streams and their source frames
 * are also written there for tests/integration/test_jpeg_dcmtk.sh, which has
 * dcmdjpeg decode them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "codec/jpeg_internal.h"

static const char *source_dir(void)
{
    const char *s = getenv("RN_SOURCE_DIR");
    return s ? s : ".";
}

static uint8_t *read_fixture(const char *name, const char *ext, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%.700s/tests/data/jpeg/%.200s%.10s", source_dir(), name, ext);
    RnError err = {0};
    uint8_t *data = rn_file_read_all(path, 64u << 20, len, &err);
    if (!data)
        fail_msg("cannot read %s: %s", path, err.message);
    return data;
}

static uint8_t *read_gz(const char *name, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%.700s/tests/data/jpeg/%.200s.ref.gz", source_dir(), name);
    gzFile f = gzopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    RnBuf b = {0};
    uint8_t chunk[65536];
    int n;
    while ((n = gzread(f, chunk, sizeof chunk)) > 0)
        assert_int_equal(rn_buf_append(&b, chunk, (size_t)n), 0);
    gzclose(f);
    return rn_buf_take(&b, len);
}

typedef struct Fixture {
    char name[128];
    RnImageInfo info;
    char photometric_out[17];
    int tolerance;
} Fixture;

static int load_manifest(Fixture *fx, int max)
{
    size_t len;
    uint8_t *text = read_fixture("manifest", ".txt", &len);
    char *save = NULL, *line;
    int n = 0;
    char *copy = rn_strndup((const char *)text, len);
    for (line = strtok_r(copy, "\n", &save); line && n < max; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#')
            continue;
        Fixture *f = &fx[n];
        memset(f, 0, sizeof *f);
        unsigned r, c, s, ba, bs, pr;
        int got = sscanf(line, "%127s %u %u %u %u %u %u %16s %16s %d", f->name, &r, &c, &s, &ba,
                         &bs, &pr, f->info.photometric, f->photometric_out, &f->tolerance);
        assert_int_equal(got, 10);
        f->info.rows = r;
        f->info.columns = c;
        f->info.samples_per_pixel = s;
        f->info.bits_allocated = ba;
        f->info.bits_stored = bs;
        f->info.high_bit = bs - 1;
        f->info.pixel_representation = pr;
        f->info.number_of_frames = 1;
        n++;
    }
    free(copy);
    free(text);
    return n;
}

static size_t frame_size(const RnImageInfo *i)
{
    return (size_t)i->rows * i->columns * i->samples_per_pixel * ((i->bits_allocated + 7) / 8);
}

/* Largest absolute difference between two frames of containers of `bytes`. */
static int max_diff(const uint8_t *a, const uint8_t *b, size_t len, uint32_t bytes)
{
    int m = 0;
    for (size_t i = 0; i < len; i += bytes) {
        int x = bytes == 1 ? a[i] : rn_rd16le(a + i), y = bytes == 1 ? b[i] : rn_rd16le(b + i);
        int d = x > y ? x - y : y - x;
        if (d > m)
            m = d;
    }
    return m;
}

static void test_fixtures_match_dcmtk(void **state)
{
    (void)state;
    Fixture fx[64];
    int n = load_manifest(fx, 64);
    assert_true(n >= 30);
    int lossless = 0, dct12 = 0, baseline = 0;
    for (int k = 0; k < n; k++) {
        const Fixture *f = &fx[k];
        size_t jlen, rlen;
        uint8_t *jpeg = read_fixture(f->name, ".jpg", &jlen);
        uint8_t *ref = read_gz(f->name, &rlen);
        RnImageInfo out;
        RnError err = {0};
        /* dst == NULL: description only */
        int rc = rn_jpeg_decode(&f->info, jpeg, jlen, NULL, 0, &out, &err);
        if (rc)
            fail_msg("%s: header: %s", f->name, err.message);
        assert_string_equal(out.photometric, f->photometric_out);
        assert_int_equal(out.planar_configuration, 0);
        size_t size = frame_size(&out);
        assert_int_equal(size, rlen);
        uint8_t *dst = malloc(size);
        rc = rn_jpeg_decode(&f->info, jpeg, jlen, dst, size, &out, &err);
        if (rc)
            fail_msg("%s: decode: %s", f->name, err.message);
        uint32_t bytes = (f->info.bits_allocated + 7) / 8;
        int d = max_diff(dst, ref, size, bytes);
        if (d > f->tolerance)
            fail_msg("%s: differs from dcmdjpeg by up to %d (tolerance %d)", f->name, d,
                     f->tolerance);
        if (f->tolerance == 0)
            assert_memory_equal(dst, ref, size);
        else
            print_message("%-30s max |radnode - dcmdjpeg| = %d\n", f->name, d);
        RnJpegFrame fr;
        assert_int_equal(rn_jpeg_parse_frame(jpeg, jlen, &fr, &err), 0);
        if (fr.sof == 0xC3)
            lossless++;
        else if (fr.precision == 12)
            dct12++;
        else
            baseline++;
        /* 8-bit sequential DCT: radnode's own decoder agrees with libjpeg-turbo. */
        if (fr.precision == 8 && (fr.sof == 0xC0 || fr.sof == 0xC1)) {
            uint8_t *own = calloc(1, size);
            bool convert = strcmp(f->photometric_out, "RGB") == 0 &&
                           strncmp(f->info.photometric, "YBR_FULL", 8) == 0 &&
                           fr.adobe_transform != 0;
            rc = rn_jpeg_dct_decode_frame(jpeg, jlen, &fr, convert, own, bytes, &err);
            if (rc)
                fail_msg("%s: own DCT decoder: %s", f->name, err.message);
            d = max_diff(own, dst, size, bytes);
            if (d > 1)
                fail_msg("%s: own DCT decoder differs from libjpeg-turbo by %d", f->name, d);
            free(own);
        }
        free(dst);
        free(ref);
        free(jpeg);
    }
    assert_true(lossless >= 10);
    assert_true(dct12 >= 3);
    assert_true(baseline >= 8);
}

/* ---- encoder round trips ------------------------------------------------- */

static uint32_t rng_next(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(*s >> 33);
}

static void fill_image(uint8_t *p, const RnImageInfo *i, int kind, uint64_t seed)
{
    uint32_t bytes = i->bits_allocated / 8, nc = i->samples_per_pixel;
    uint32_t max = (1u << i->bits_stored) - 1;
    for (uint32_t y = 0; y < i->rows; y++)
        for (uint32_t x = 0; x < i->columns; x++)
            for (uint32_t c = 0; c < nc; c++) {
                uint32_t v;
                if (kind == 0)
                    v = rng_next(&seed) & max;
                else if (kind == 1)
                    v = ((x * 37 + y * 11 + c * 1000) * (max / 255 + 1)) & max;
                else /* alternating extremes: differences of +-(2^P - 1) */
                    v = ((x + y + c) & 1) ? max : 0;
                size_t idx = ((size_t)y * i->columns + x) * nc + c;
                if (bytes == 1)
                    p[idx] = (uint8_t)v;
                else
                    rn_wr16le(p + 2 * idx, (uint16_t)v);
            }
}

static void dump(const char *name, const RnImageInfo *i, const uint8_t *raw, size_t rlen,
                 const RnBuf *jpeg)
{
    const char *dir = getenv("RN_JPEG_DUMP_DIR");
    if (!dir)
        return;
    char path[1024];
    RnError err = {0};
    snprintf(path, sizeof path, "%.700s/%.200s.jpg", dir, name);
    assert_int_equal(rn_file_write_atomic(path, jpeg->data, jpeg->len, false, &err), 0);
    snprintf(path, sizeof path, "%.700s/%.200s.raw", dir, name);
    assert_int_equal(rn_file_write_atomic(path, raw, rlen, false, &err), 0);
    char meta[128];
    int n =
        snprintf(meta, sizeof meta, "%u %u %u %u %u %u\n", i->rows, i->columns,
                 i->samples_per_pixel, i->bits_allocated, i->bits_stored, i->pixel_representation);
    snprintf(path, sizeof path, "%.700s/%.200s.txt", dir, name);
    assert_int_equal(rn_file_write_atomic(path, meta, (size_t)n, false, &err), 0);
}

static void roundtrip(uint32_t rows, uint32_t cols, uint32_t spp, uint32_t ba, uint32_t bs,
                      int kind, uint32_t pr, bool sign_extend)
{
    RnImageInfo info = {.rows = rows,
                        .columns = cols,
                        .samples_per_pixel = spp,
                        .bits_allocated = ba,
                        .bits_stored = bs,
                        .high_bit = bs - 1,
                        .pixel_representation = pr,
                        .number_of_frames = 1};
    snprintf(info.photometric, sizeof info.photometric, spp == 3 ? "RGB" : "MONOCHROME2");
    size_t size = frame_size(&info);
    uint8_t *src = malloc(size), *dst = malloc(size);
    fill_image(src, &info, kind, rows * 131u + cols * 7u + bs);
    if (sign_extend) /* two's complement bs-bit values in 16-bit containers */
        for (size_t i = 0; i < size; i += 2) {
            uint16_t v = rn_rd16le(src + i);
            if (v & (1u << (bs - 1)))
                rn_wr16le(src + i, (uint16_t)(v | ~((1u << bs) - 1)));
        }
    RnBuf jpeg = {0};
    RnError err = {0};
    int rc = rn_jpeg_lossless_encode(&info, src, size, &jpeg, &err);
    if (rc)
        fail_msg("encode %ux%ux%u %u/%u: %s", cols, rows, spp, bs, ba, err.message);
    RnImageInfo out;
    rc = rn_jpeg_decode(&info, jpeg.data, jpeg.len, dst, size, &out, &err);
    if (rc)
        fail_msg("decode %ux%ux%u %u/%u: %s", cols, rows, spp, bs, ba, err.message);
    assert_memory_equal(src, dst, size);
    RnJpegFrame fr;
    assert_int_equal(rn_jpeg_parse_frame(jpeg.data, jpeg.len, &fr, &err), 0);
    assert_int_equal(fr.sof, 0xC3);
    assert_int_equal(fr.precision, sign_extend ? ba : bs);
    char name[96];
    snprintf(name, sizeof name, "rt_%ux%ux%u_b%u_s%u_k%d%s", cols, rows, spp, ba, bs, kind,
             sign_extend ? "_signext" : "");
    dump(name, &info, src, size, &jpeg);
    rn_buf_free(&jpeg);
    free(src);
    free(dst);
}

static void test_lossless_roundtrip(void **state)
{
    (void)state;
    static const uint32_t bits[][2] = {{8, 8}, {16, 12}, {16, 16}, {8, 2},
                                       {8, 5}, {16, 9},  {16, 15}};
    for (size_t b = 0; b < sizeof bits / sizeof bits[0]; b++)
        for (uint32_t spp = 1; spp <= 3; spp += 2)
            for (int kind = 0; kind < 3; kind++)
                roundtrip(37, 53, spp, bits[b][0], bits[b][1], kind, 0, false);
    roundtrip(1, 1, 1, 16, 16, 0, 0, false);
    roundtrip(1, 300, 3, 8, 8, 0, 0, false);
    roundtrip(300, 1, 1, 16, 12, 1, 0, false);
    roundtrip(64, 64, 1, 16, 12, 0, 1, true);  /* signed, sign-extended: P = 16 */
    roundtrip(64, 64, 1, 16, 16, 2, 1, false); /* signed 16-bit extremes */
    roundtrip(64, 64, 1, 16, 12, 0, 1, false); /* signed, bits above 12 clear: P = 12 */
}

static void test_encoder_rejects(void **state)
{
    (void)state;
    uint8_t px[64] = {0};
    RnBuf out = {0};
    RnError err = {0};
    RnImageInfo i = {
        .rows = 4, .columns = 4, .samples_per_pixel = 2, .bits_allocated = 8, .bits_stored = 8};
    assert_int_equal(rn_jpeg_lossless_encode(&i, px, sizeof px, &out, &err), RN_ERR_UNSUPPORTED);
    i.samples_per_pixel = 1;
    i.bits_stored = 1;
    assert_int_equal(rn_jpeg_lossless_encode(&i, px, sizeof px, &out, &err), RN_ERR_UNSUPPORTED);
    i.bits_stored = 8;
    assert_int_equal(rn_jpeg_lossless_encode(&i, px, 15, &out, &err), RN_ERR_INVALID);
    assert_int_equal(out.len, 0);
    rn_buf_free(&out);
}

/* ---- hostile input ------------------------------------------------------- */

static const Fixture *find(const Fixture *fx, int n, const char *name)
{
    for (int k = 0; k < n; k++)
        if (strcmp(fx[k].name, name) == 0)
            return &fx[k];
    fail_msg("no fixture %s", name);
    return NULL;
}

static void test_truncation_and_corruption(void **state)
{
    (void)state;
    Fixture fx[64];
    int n = load_manifest(fx, 64);
    const char *names[] = {"dc_lossless16_sv4", "dc_extended12_gray",   "own_p16_sv4_restart_rows",
                           "dc_baseline8_gray", "dc_extended12_ybr422", "dc_progressive8_gray"};
    uint64_t seed = 42;
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        const Fixture *f = find(fx, n, names[k]);
        size_t len;
        uint8_t *jpeg = read_fixture(f->name, ".jpg", &len);
        size_t size = frame_size(&f->info);
        uint8_t *dst = malloc(size);
        RnError err = {0};
        RnJpegFrame fr;
        assert_int_equal(rn_jpeg_parse_frame(jpeg, len, &fr, &err), 0);
        bool own = fr.sof == 0xC3 || fr.precision == 12;
        /* Every prefix, each in an exact-size heap copy so ASan sees overreads. */
        for (size_t cut = 0; cut < len - 2; cut += (cut < 64 ? 1 : 7)) {
            uint8_t *p = malloc(cut ? cut : 1);
            memcpy(p, jpeg, cut);
            int rc = rn_jpeg_decode(&f->info, p, cut, dst, size, NULL, &err);
            if (own && cut < len - 16)
                assert_true(rc < 0); /* own decoders report truncation */
            if (rc < 0)
                assert_true(err.message[0] != 0);
            free(p);
        }
        /* Random byte corruption: any result but a crash or a hang. */
        for (int t = 0; t < 300; t++) {
            uint8_t *p = malloc(len);
            memcpy(p, jpeg, len);
            int flips = 1 + (int)(rng_next(&seed) % 4);
            for (int j = 0; j < flips; j++)
                p[rng_next(&seed) % len] = (uint8_t)rng_next(&seed);
            (void)rn_jpeg_decode(&f->info, p, len, dst, size, NULL, &err);
            free(p);
        }
        free(dst);
        free(jpeg);
    }
}

static void test_argument_checks(void **state)
{
    (void)state;
    Fixture fx[64];
    int n = load_manifest(fx, 64);
    const Fixture *f = find(fx, n, "dc_lossless16_sv1");
    size_t len;
    uint8_t *jpeg = read_fixture(f->name, ".jpg", &len);
    size_t size = frame_size(&f->info);
    uint8_t *dst = malloc(size);
    RnError err = {0};
    assert_int_equal(rn_jpeg_decode(&f->info, jpeg, len, dst, size - 1, NULL, &err),
                     RN_ERR_INVALID);
    RnImageInfo wrong = f->info;
    wrong.rows = 63;
    assert_int_equal(rn_jpeg_decode(&wrong, jpeg, len, dst, size, NULL, &err), RN_ERR_PARSE);
    assert_non_null(strstr(err.message, "SOF3"));
    wrong = f->info;
    wrong.bits_allocated = 8;
    assert_int_equal(rn_jpeg_decode(&wrong, jpeg, len, dst, size, NULL, &err), RN_ERR_PARSE);
    const uint8_t not_jpeg[] = {0x00, 0x01, 0x02, 0x03, 0x04};
    assert_int_equal(rn_jpeg_decode(&f->info, not_jpeg, sizeof not_jpeg, dst, size, NULL, &err),
                     RN_ERR_PARSE);
    /* A restart interval that is not a whole number of rows (H.1.1). */
    RnImageInfo i = {.rows = 4,
                     .columns = 4,
                     .samples_per_pixel = 1,
                     .bits_allocated = 8,
                     .bits_stored = 8,
                     .number_of_frames = 1};
    uint8_t px[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, o[16];
    RnBuf enc = {0};
    assert_int_equal(rn_jpeg_lossless_encode(&i, px, 16, &enc, &err), 0);
    RnBuf bad = {0};
    assert_int_equal(rn_buf_append(&bad, enc.data, 2), 0);
    const uint8_t dri[] = {0xFF, 0xDD, 0x00, 0x04, 0x00, 0x03};
    assert_int_equal(rn_buf_append(&bad, dri, sizeof dri), 0);
    assert_int_equal(rn_buf_append(&bad, enc.data + 2, enc.len - 2), 0);
    assert_int_equal(rn_jpeg_decode(&i, bad.data, bad.len, o, sizeof o, NULL, &err), RN_ERR_PARSE);
    assert_non_null(strstr(err.message, "restart interval"));
    assert_int_equal(rn_jpeg_decode(&i, enc.data, enc.len, o, sizeof o, NULL, &err), 0);
    assert_memory_equal(o, px, 16);
    rn_buf_free(&bad);
    rn_buf_free(&enc);
    free(dst);
    free(jpeg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures_match_dcmtk),
        cmocka_unit_test(test_lossless_roundtrip),
        cmocka_unit_test(test_encoder_rejects),
        cmocka_unit_test(test_truncation_and_corruption),
        cmocka_unit_test(test_argument_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
