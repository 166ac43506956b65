/*
 * JPEG-LS (PS3.5 A.4.3, CharLS): lossless streams from pydicom and from DCMTK's
 * dcmcjpls (8/12/16 bits, signed, 1 and 3 components, line/sample/no
 * interleave) decode to exactly their uncompressed twins; near-lossless
 * streams decode to exactly what DCMTK's dcmdjpls produces and stay within
 * NEAR of the original. Mismatched headers and garbage are refused.
 */
#include "codec_fixtures.h"

static void test_fixtures(void **state)
{
    (void)state;
    fixture_check_all("jpegls", rn_jpegls_decode, 12);
}

static CodecFixture find(const char *file)
{
    size_t n = 0;
    CodecFixture *list = fixture_load("jpegls", &n);
    CodecFixture fx;
    memset(&fx, 0, sizeof fx);
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].file, file) == 0)
            fx = list[i];
    free(list);
    assert_string_equal(fx.file, file);
    return fx;
}

static void test_mismatch(void **state)
{
    (void)state;
    CodecFixture fx = find("mr_small.jls");
    size_t len = 0;
    uint8_t *src = fixture_read(fx.file, &len);
    assert_non_null(src);
    uint8_t *dst = malloc(64 * 64 * 2 * 3);
    RnError err = {0};
    RnImageInfo info = fx.info;
    info.rows = 63;
    assert_int_equal(rn_jpegls_decode(&info, src, len, dst, 64 * 64 * 6, NULL, &err), RN_ERR_PARSE);
    assert_non_null(strstr(err.message, "64 x 64"));
    info = fx.info;
    info.samples_per_pixel = 3;
    snprintf(info.photometric, sizeof info.photometric, "RGB");
    assert_int_equal(rn_jpegls_decode(&info, src, len, dst, 64 * 64 * 6, NULL, &err), RN_ERR_PARSE);
    info = fx.info;
    info.bits_allocated = 8; /* 16-bit precision cannot fit */
    info.bits_stored = 8;
    info.high_bit = 7;
    assert_int_equal(rn_jpegls_decode(&info, src, len, dst, 64 * 64 * 6, NULL, &err), RN_ERR_PARSE);
    info = fx.info;
    info.bits_allocated = 32;
    info.bits_stored = 32;
    assert_int_equal(rn_jpegls_decode(&info, src, len, dst, 64 * 64 * 6, NULL, &err),
                     RN_ERR_UNSUPPORTED);
    /* garbage and a corrupted scan */
    uint8_t junk[64];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 37);
    assert_true(rn_jpegls_decode(&fx.info, junk, sizeof junk, dst, 8192, NULL, &err) < 0);
    assert_true(rn_jpegls_decode(&fx.info, NULL, 0, dst, 8192, NULL, &err) < 0);
    for (size_t i = len / 2; i < len / 2 + 64 && i < len; i++)
        src[i] = 0xFF; /* marker-like bytes inside entropy-coded data */
    (void)rn_jpegls_decode(&fx.info, src, len, dst, 8192, NULL, &err);
    free(dst);
    free(src);
}

static void test_registry(void **state)
{
    (void)state;
    CodecFixture fx = find("dcmtk_rgb_in.jls");
    size_t len = 0;
    uint8_t *src = fixture_read(fx.file, &len);
    size_t size = rn_frame_bytes(&fx.info);
    uint8_t *a = malloc(size), *b = malloc(size);
    RnImageInfo out;
    assert_int_equal(
        rn_codec_decode_frame(RN_UID_JPEG_LS_LOSSLESS, &fx.info, src, len, a, size, &out, NULL), 0);
    assert_int_equal(rn_codec_decode_frame(RN_UID_JPEG_LS_NEAR_LOSSLESS, &fx.info, src, len, b,
                                           size, &out, NULL),
                     0);
    assert_memory_equal(a, b, size);
    free(a);
    free(b);
    free(src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_mismatch),
        cmocka_unit_test(test_registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
