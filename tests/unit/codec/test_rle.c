/*
 * RLE Lossless (PS3.5 Annex G): decoding pydicom's and DCMTK's RLE frames
 * bit-exactly against their uncompressed twins (or pydicom's own decoder),
 * encode -> decode round trips over 8/16/32 bits, 1/3 samples, odd sizes and
 * random data, the exact bytes of a small encoding (rows are never crossed,
 * segments are even), and hostile headers and runs. Also the registry.
 */
#include "codec_fixtures.h"

static uint32_t rng_next(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(*s >> 33);
}

static RnImageInfo image(uint32_t rows, uint32_t cols, uint32_t spp, uint32_t bits)
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
    snprintf(info.photometric, sizeof info.photometric, "%s", spp == 3 ? "RGB" : "MONOCHROME2");
    return info;
}

static void test_fixtures(void **state)
{
    (void)state;
    fixture_check_all("rle", rn_rle_decode, 16);
}

static void round_trip(const RnImageInfo *info, const uint8_t *src, size_t len)
{
    RnBuf enc = {0};
    RnError err = {0};
    int rc = rn_rle_encode(info, src, len, &enc, &err);
    if (rc)
        print_error("encode: %s\n", err.message);
    assert_int_equal(rc, 0);
    /* header: segment count, offsets increasing, every segment even (G.3.1) */
    uint32_t nseg = rn_rd32le(enc.data);
    assert_int_equal(nseg, info->samples_per_pixel * info->bits_allocated / 8);
    for (uint32_t i = 0; i < nseg; i++) {
        uint32_t a = rn_rd32le(enc.data + 4 + 4 * i);
        uint32_t b = i + 1 < nseg ? rn_rd32le(enc.data + 8 + 4 * i) : (uint32_t)enc.len;
        assert_true(a >= 64 && a < b && b <= enc.len);
        assert_int_equal((b - a) % 2, 0);
    }
    for (uint32_t i = nseg; i < 15; i++)
        assert_int_equal(rn_rd32le(enc.data + 4 + 4 * i), 0);
    uint8_t *dst = malloc(len);
    assert_non_null(dst);
    RnImageInfo out;
    rc = rn_rle_decode(info, enc.data, enc.len, dst, len, &out, &err);
    if (rc)
        print_error("decode: %s\n", err.message);
    assert_int_equal(rc, 0);
    assert_memory_equal(dst, src, len);
    free(dst);
    rn_buf_free(&enc);
}

static void test_round_trips(void **state)
{
    (void)state;
    static const uint32_t sizes[][2] = {{1, 1},   {1, 7},   {3, 5},  {17, 33},
                                        {2, 129}, {4, 300}, {31, 1}, {64, 64}};
    static const uint32_t bits[] = {8, 16, 32};
    uint64_t seed = 42;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (size_t b = 0; b < 3; b++) {
            for (uint32_t spp = 1; spp <= 3; spp += 2) {
                RnImageInfo info = image(sizes[s][0], sizes[s][1], spp, bits[b]);
                size_t len = rn_frame_bytes(&info);
                uint8_t *src = malloc(len);
                assert_non_null(src);
                /* pattern 0: random; 1: long runs; 2: runs broken every few bytes */
                for (int pattern = 0; pattern < 3; pattern++) {
                    for (size_t i = 0; i < len; i++) {
                        uint32_t r = rng_next(&seed);
                        if (pattern == 0)
                            src[i] = (uint8_t)r;
                        else if (pattern == 1)
                            src[i] = (uint8_t)((i / 300) * 37);
                        else
                            src[i] = (r % 5 == 0) ? (uint8_t)r : (uint8_t)(i / 7);
                    }
                    round_trip(&info, src, len);
                }
                free(src);
            }
        }
    }
}

static void test_exact_encoding(void **state)
{
    (void)state;
    /* 2 rows x 3 columns of 5, 8-bit: each row its own replicate run (FE 05),
     * never one run of 6 across the row boundary. */
    RnImageInfo info = image(2, 3, 1, 8);
    uint8_t px[6] = {5, 5, 5, 5, 5, 5};
    RnBuf enc = {0};
    assert_int_equal(rn_rle_encode(&info, px, 6, &enc, NULL), 0);
    assert_int_equal(enc.len, 68);
    assert_int_equal(rn_rd32le(enc.data), 1);
    assert_int_equal(rn_rd32le(enc.data + 4), 64);
    static const uint8_t seg[4] = {0xFE, 0x05, 0xFE, 0x05};
    assert_memory_equal(enc.data + 64, seg, 4);
    rn_buf_free(&enc);

    /* 16-bit: MSB segment first (G.2); the LSB segment (literal 01 02) has an
     * odd length and is padded */
    info = image(1, 2, 1, 16);
    uint8_t w[4] = {0x01, 0xA0, 0x02, 0xA0}; /* 0xA001, 0xA002 little-endian */
    assert_int_equal(rn_rle_encode(&info, w, 4, &enc, NULL), 0);
    assert_int_equal(rn_rd32le(enc.data), 2);
    assert_int_equal(rn_rd32le(enc.data + 4), 64);
    assert_int_equal(rn_rd32le(enc.data + 8), 66);
    static const uint8_t body[] = {0xFF, 0xA0, 0x01, 0x01, 0x02, 0x00};
    assert_int_equal(enc.len, 64 + sizeof body);
    assert_memory_equal(enc.data + 64, body, sizeof body);
    rn_buf_free(&enc);
}

static void make_header(uint8_t *h, uint32_t nseg, const uint32_t *off)
{
    memset(h, 0, 64);
    rn_wr32le(h, nseg);
    for (uint32_t i = 0; i < nseg; i++)
        rn_wr32le(h + 4 + 4 * i, off[i]);
}

static void test_decode_vectors(void **state)
{
    (void)state;
    RnImageInfo info = image(1, 8, 1, 8);
    uint8_t frame[80];
    uint32_t off[1] = {64};
    make_header(frame, 1, off);
    /* literal 2 (AA BB), no-op -128, replicate 4 x CC, literal 2 (DD EE) */
    static const uint8_t seg[] = {0x01, 0xAA, 0xBB, 0x80, 0xFD, 0xCC, 0x01, 0xDD, 0xEE, 0x00};
    memcpy(frame + 64, seg, sizeof seg);
    uint8_t dst[8];
    RnError err = {0};
    assert_int_equal(rn_rle_decode(&info, frame, 64 + sizeof seg, dst, 8, NULL, &err), 0);
    static const uint8_t want[8] = {0xAA, 0xBB, 0xCC, 0xCC, 0xCC, 0xCC, 0xDD, 0xEE};
    assert_memory_equal(dst, want, 8);

    /* a last replicate run longer than the plane is clipped (ignored excess) */
    uint8_t f2[68];
    make_header(f2, 1, off);
    f2[64] = 0x81; /* 128 x */
    f2[65] = 0x11;
    f2[66] = 0x00;
    f2[67] = 0x00;
    assert_int_equal(rn_rle_decode(&info, f2, 68, dst, 8, NULL, &err), 0);
    for (int i = 0; i < 8; i++)
        assert_int_equal(dst[i], 0x11);
}

static void test_hostile(void **state)
{
    (void)state;
    RnImageInfo info = image(2, 4, 1, 16);
    uint8_t dst[16];
    uint8_t f[96];
    RnError err = {0};
    uint32_t good[2] = {64, 68};
    make_header(f, 2, good);
    static const uint8_t segs[] = {0xF9, 0x01, 0x00, 0x00, 0xF9, 0x02, 0x00, 0x00};
    memcpy(f + 64, segs, sizeof segs);
    assert_int_equal(rn_rle_decode(&info, f, 72, dst, 16, NULL, &err), 0);
    for (int i = 0; i < 8; i++)
        assert_int_equal(rn_rd16le(dst + 2 * i), 0x0102);

    /* wrong segment count */
    f[0] = 3;
    assert_int_equal(rn_rle_decode(&info, f, 72, dst, 16, NULL, &err), RN_ERR_PARSE);
    f[0] = 0xFF;
    f[3] = 0xFF;
    assert_int_equal(rn_rle_decode(&info, f, 72, dst, 16, NULL, &err), RN_ERR_PARSE);
    make_header(f, 2, good);
    memcpy(f + 64, segs, sizeof segs);
    /* offsets: inside the header, past the end, decreasing, huge */
    uint32_t bad[][2] = {{10, 68}, {64, 500}, {68, 64}, {0xFFFFFFF0u, 68}};
    for (size_t i = 0; i < 4; i++) {
        make_header(f, 2, bad[i]);
        memcpy(f + 64, segs, sizeof segs);
        assert_int_equal(rn_rle_decode(&info, f, 72, dst, 16, NULL, &err), RN_ERR_PARSE);
    }
    /* header only / shorter than the header */
    make_header(f, 2, good);
    assert_true(rn_rle_decode(&info, f, 63, dst, 16, NULL, &err) < 0);
    assert_true(rn_rle_decode(&info, NULL, 0, dst, 16, NULL, &err) < 0);
    /* literal run passing the segment end */
    memcpy(f + 64, segs, sizeof segs);
    f[64] = 0x7F;
    assert_int_equal(rn_rle_decode(&info, f, 72, dst, 16, NULL, &err), RN_ERR_TRUNCATED);
    /* replicate run without its byte (segment is one byte long) */
    uint32_t one[2] = {64, 65};
    make_header(f, 2, one);
    f[64] = 0xF9;
    f[65] = 0xF9;
    f[66] = 0x02;
    assert_int_equal(rn_rle_decode(&info, f, 67, dst, 16, NULL, &err), RN_ERR_TRUNCATED);
    /* a plane that decodes short */
    make_header(f, 2, good);
    memcpy(f + 64, segs, sizeof segs);
    f[64] = 0xFE; /* 3 bytes of 8 */
    assert_int_equal(rn_rle_decode(&info, f, 72, dst, 16, NULL, &err), RN_ERR_TRUNCATED);
    assert_non_null(strstr(err.message, "segment 0"));
    /* nonsense image descriptions */
    RnImageInfo bad_info = info;
    bad_info.bits_allocated = 12;
    assert_true(rn_rle_decode(&bad_info, f, 72, dst, 16, NULL, &err) < 0);
    bad_info = info;
    bad_info.rows = 0;
    assert_true(rn_rle_decode(&bad_info, f, 72, dst, 16, NULL, &err) < 0);
    bad_info = info;
    bad_info.rows = 65535;
    bad_info.columns = 65535;
    bad_info.samples_per_pixel = 4;
    bad_info.bits_allocated = 32;
    bad_info.bits_stored = 32;
    assert_int_equal(rn_rle_decode(&bad_info, f, 72, NULL, 0, NULL, &err), RN_ERR_LIMIT);
}

static void test_random_garbage(void **state)
{
    (void)state;
    /* random bytes after a plausible header: errors or decodes, never a crash */
    uint64_t seed = 7;
    RnImageInfo info = image(7, 9, 3, 16);
    size_t size = rn_frame_bytes(&info);
    uint8_t *dst = malloc(size);
    uint8_t buf[400];
    for (int iter = 0; iter < 2000; iter++) {
        size_t len = 64 + rng_next(&seed) % 300;
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)rng_next(&seed);
        uint32_t off[6];
        for (int k = 0; k < 6; k++)
            off[k] = 64 + (uint32_t)(k * (len - 64) / 6);
        if (iter % 2)
            make_header(buf, 6, off);
        (void)rn_rle_decode(&info, buf, len, dst, size, NULL, NULL);
    }
    free(dst);
}

static void test_registry(void **state)
{
    (void)state;
    assert_true(rn_codec_can_decode(RN_UID_RLE_LOSSLESS));
    assert_true(rn_codec_can_encode(RN_UID_RLE_LOSSLESS));
    assert_true(rn_codec_can_decode(RN_UID_EXPLICIT_VR_BE));
    assert_true(rn_codec_can_decode(RN_UID_JPEG_LS_NEAR_LOSSLESS));
    assert_true(rn_codec_can_decode(RN_UID_JPEG2000));
    assert_true(rn_codec_can_decode(RN_UID_JPEG_LOSSLESS_SV1));
    assert_true(rn_codec_can_encode(RN_UID_JPEG_LOSSLESS_SV1));
    assert_false(rn_codec_can_encode(RN_UID_JPEG2000));
    assert_false(rn_codec_can_decode("1.2.840.10008.1.2.4.100")); /* MPEG2 */
    assert_false(rn_codec_can_decode(NULL));

    RnImageInfo info = image(5, 7, 3, 16);
    size_t len = rn_frame_bytes(&info);
    uint8_t src[210], dst[210];
    for (size_t i = 0; i < len; i++)
        src[i] = (uint8_t)(i * 7 / 3);
    RnBuf enc = {0};
    RnError err = {0};
    assert_int_equal(rn_codec_encode_frame(RN_UID_RLE_LOSSLESS, &info, src, len, &enc, &err), 0);
    RnImageInfo out;
    assert_int_equal(
        rn_codec_decode_frame(RN_UID_RLE_LOSSLESS, &info, enc.data, enc.len, dst, len, &out, &err),
        0);
    assert_memory_equal(src, dst, len);
    assert_int_equal(rn_codec_encode_frame(RN_UID_JPEG2000, &info, src, len, &enc, &err),
                     RN_ERR_UNSUPPORTED);
    assert_int_equal(rn_codec_decode_frame("1.2.3", &info, enc.data, enc.len, dst, len, &out, &err),
                     RN_ERR_UNSUPPORTED);
    rn_buf_free(&enc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),       cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_exact_encoding), cmocka_unit_test(test_decode_vectors),
        cmocka_unit_test(test_hostile),        cmocka_unit_test(test_random_garbage),
        cmocka_unit_test(test_registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
