/*
 * Native Pixel Data (PS3.5 8.1.1, A.3): big-endian word swapping by Bits
 * Allocated, Planar Configuration 1 -> 0, native YBR_FULL_422 upsampling,
 * 1-bit data kept packed, stored bits read at High Bit with sign extension,
 * and refusal of short frames and impossible descriptions.
 */
#include "codec_fixtures.h"

static RnImageInfo image(uint32_t rows, uint32_t cols, uint32_t spp, uint32_t bits, const char *pm)
{
    RnImageInfo info;
    memset(&info, 0, sizeof info);
    info.rows = rows;
    info.columns = cols;
    info.samples_per_pixel = spp;
    info.bits_allocated = bits;
    info.bits_stored = bits;
    info.high_bit = bits - 1;
    info.number_of_frames = 1;
    snprintf(info.photometric, sizeof info.photometric, "%s", pm);
    return info;
}

static void test_big_endian(void **state)
{
    (void)state;
    RnImageInfo info = image(1, 2, 1, 16, "MONOCHROME2");
    const uint8_t be16[4] = {0x12, 0x34, 0xAB, 0xCD};
    uint8_t dst[8];
    assert_int_equal(rn_native_decode(&info, true, be16, 4, dst, 4, NULL, NULL), 0);
    const uint8_t le16[4] = {0x34, 0x12, 0xCD, 0xAB};
    assert_memory_equal(dst, le16, 4);
    /* 32-bit: whole value reversed (as in pydicom's rtdose_expb twins) */
    info = image(1, 2, 1, 32, "MONOCHROME2");
    const uint8_t be32[8] = {0x00, 0x13, 0x0E, 0xE8, 0x01, 0x02, 0x03, 0x04};
    assert_int_equal(rn_native_decode(&info, true, be32, 8, dst, 8, NULL, NULL), 0);
    const uint8_t le32[8] = {0xE8, 0x0E, 0x13, 0x00, 0x04, 0x03, 0x02, 0x01};
    assert_memory_equal(dst, le32, 8);
    /* registry: Big Endian with 8-bit (OB) data is not swapped */
    info = image(1, 4, 1, 8, "MONOCHROME2");
    const uint8_t b8[4] = {1, 2, 3, 4};
    RnImageInfo out;
    assert_int_equal(rn_codec_decode_frame(RN_UID_EXPLICIT_VR_BE, &info, b8, 4, dst, 4, &out, NULL),
                     0);
    assert_memory_equal(dst, b8, 4);
    info = image(1, 2, 1, 16, "MONOCHROME2");
    assert_int_equal(
        rn_codec_decode_frame(RN_UID_EXPLICIT_VR_BE, &info, be16, 4, dst, 4, &out, NULL), 0);
    assert_memory_equal(dst, le16, 4);
    assert_int_equal(
        rn_codec_decode_frame(RN_UID_EXPLICIT_VR_LE, &info, be16, 4, dst, 4, &out, NULL), 0);
    assert_memory_equal(dst, be16, 4);
}

static void test_planar(void **state)
{
    (void)state;
    RnImageInfo info = image(1, 3, 3, 16, "RGB");
    info.planar_configuration = 1;
    /* R plane (1,2,3), G plane (4,5,6), B plane (7,8,9), 16-bit LE */
    uint8_t src[18];
    for (int i = 0; i < 9; i++)
        rn_wr16le(src + 2 * i, (uint16_t)(i + 1));
    uint8_t dst[18];
    RnImageInfo out;
    assert_int_equal(rn_native_decode(&info, false, src, 18, dst, 18, &out, NULL), 0);
    assert_int_equal(out.planar_configuration, 0);
    const uint16_t want[9] = {1, 4, 7, 2, 5, 8, 3, 6, 9};
    for (int i = 0; i < 9; i++)
        assert_int_equal(rn_rd16le(dst + 2 * i), want[i]);
}

static void test_ybr_422(void **state)
{
    (void)state;
    /* 3 pixels: groups (Y1 Y2 Cb Cr) = (10 11 100 200) (12 _ 101 201) */
    RnImageInfo info = image(1, 3, 3, 8, "YBR_FULL_422");
    assert_int_equal(rn_color_422_source_bytes(&info), 8);
    const uint8_t src[8] = {10, 11, 100, 200, 12, 0, 101, 201};
    uint8_t dst[9];
    RnImageInfo out;
    assert_int_equal(rn_native_decode(&info, false, NULL, 0, NULL, 0, &out, NULL), 0);
    assert_string_equal(out.photometric, "YBR_FULL");
    assert_int_equal(rn_frame_bytes(&out), 9);
    assert_int_equal(rn_native_decode(&info, false, src, 8, dst, 9, &out, NULL), 0);
    const uint8_t want[9] = {10, 100, 200, 11, 100, 200, 12, 101, 201};
    assert_memory_equal(dst, want, 9);
    assert_int_equal(rn_native_decode(&info, false, src, 7, dst, 9, &out, NULL), RN_ERR_TRUNCATED);
}

static void test_one_bit_and_samples(void **state)
{
    (void)state;
    RnImageInfo info = image(3, 3, 1, 1, "MONOCHROME2");
    assert_int_equal(rn_frame_bytes(&info), 2);
    const uint8_t src[2] = {0xA5, 0x01};
    uint8_t dst[2];
    assert_int_equal(rn_native_decode(&info, true, src, 2, dst, 2, NULL, NULL), 0);
    assert_memory_equal(dst, src, 2);
    assert_int_equal(rn_sample_get(&info, src, 0), 1); /* least significant bit first */
    assert_int_equal(rn_sample_get(&info, src, 1), 0);
    assert_int_equal(rn_sample_get(&info, src, 8), 1);

    /* 12 bits stored at high bit 11, signed: 0xF800 -> -2048 after masking */
    RnImageInfo s = image(1, 2, 1, 16, "MONOCHROME2");
    s.bits_stored = 12;
    s.high_bit = 11;
    s.pixel_representation = 1;
    uint8_t px[4];
    rn_wr16le(px, 0xF800);
    rn_wr16le(px + 2, 0x07FF);
    assert_int_equal(rn_sample_get(&s, px, 0), -2048);
    assert_int_equal(rn_sample_get(&s, px, 1), 2047);
    /* high bit 15 with 12 stored: the top 12 bits */
    s.high_bit = 15;
    s.pixel_representation = 0;
    rn_wr16le(px, 0xABC0);
    assert_int_equal(rn_sample_get(&s, px, 0), 0xABC);
}

static void test_refusals(void **state)
{
    (void)state;
    RnError err = {0};
    uint8_t dst[64];
    RnImageInfo info = image(4, 4, 1, 16, "MONOCHROME2");
    uint8_t src[32] = {0};
    assert_int_equal(rn_native_decode(&info, false, src, 31, dst, 32, NULL, &err),
                     RN_ERR_TRUNCATED);
    assert_int_equal(rn_native_decode(&info, false, src, 32, dst, 31, NULL, &err), RN_ERR_INVALID);
    info.bits_stored = 17;
    assert_true(rn_native_decode(&info, false, src, 32, dst, 32, NULL, &err) < 0);
    info = image(4, 4, 3, 1, "RGB");
    assert_true(rn_native_decode(&info, false, src, 32, dst, 32, NULL, &err) < 0);
    info = image(4, 4, 5, 8, "RGB");
    assert_true(rn_native_decode(&info, false, src, 32, dst, 32, NULL, &err) < 0);
    info = image(4, 4, 1, 24, "MONOCHROME2");
    assert_int_equal(rn_native_decode(&info, false, src, 32, dst, 32, NULL, &err),
                     RN_ERR_UNSUPPORTED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_big_endian), cmocka_unit_test(test_planar),
        cmocka_unit_test(test_ybr_422),    cmocka_unit_test(test_one_bit_and_samples),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
