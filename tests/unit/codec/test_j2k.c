/*
 * JPEG 2000 (PS3.5 A.4.4, OpenJPEG): pydicom's lossless stream decodes to its
 * uncompressed twin; lossy streams (693_J2KI, JPEG2000, SC_rgb_gdcm_KY) to
 * exactly what pydicom decodes through Pillow; Pillow-made lossless streams
 * (8/16-bit gray, RGB with and without the RCT, a JP2 file) to their sources.
 * Streams encoded here with OpenJPEG check signed data, precision below Bits
 * Allocated, the unsigned-stream / signed-dataset correction, and the refusal
 * of subsampled components and headers that disagree with the dataset.
 */
#include "codec_fixtures.h"

#include <openjpeg.h>

static void test_fixtures(void **state)
{
    (void)state;
    fixture_check_all("j2k", rn_j2k_decode, 9);
}

typedef struct OutStream {
    uint8_t *data;
    size_t len, cap, pos;
} OutStream;

static OPJ_SIZE_T out_write(void *buf, OPJ_SIZE_T n, void *user)
{
    OutStream *o = user;
    if (o->pos + n > o->cap) {
        size_t cap = (o->pos + n) * 2;
        uint8_t *p = realloc(o->data, cap);
        if (!p)
            return (OPJ_SIZE_T)-1;
        o->data = p;
        o->cap = cap;
    }
    memcpy(o->data + o->pos, buf, n);
    o->pos += n;
    if (o->pos > o->len)
        o->len = o->pos;
    return n;
}

static OPJ_OFF_T out_skip(OPJ_OFF_T n, void *user)
{
    OutStream *o = user;
    o->pos += (size_t)n;
    return n;
}

static OPJ_BOOL out_seek(OPJ_OFF_T pos, void *user)
{
    OutStream *o = user;
    o->pos = (size_t)pos;
    return OPJ_TRUE;
}

/* Lossless J2K codestream of `comps` components of w x h int32 samples. */
static uint8_t *encode_j2k(const int32_t *const *planes, unsigned comps, unsigned w, unsigned h,
                           unsigned prec, bool sgnd, unsigned dx, size_t *len)
{
    opj_image_cmptparm_t cp[3];
    memset(cp, 0, sizeof cp);
    for (unsigned c = 0; c < comps; c++) {
        cp[c].dx = c == 0 ? 1 : dx;
        cp[c].dy = 1;
        cp[c].w = c == 0 ? w : (w + dx - 1) / dx;
        cp[c].h = h;
        cp[c].prec = prec;
        cp[c].sgnd = sgnd;
    }
    opj_image_t *img = opj_image_create(comps, cp, comps == 3 ? OPJ_CLRSPC_SRGB : OPJ_CLRSPC_GRAY);
    assert_non_null(img);
    img->x0 = img->y0 = 0;
    img->x1 = w;
    img->y1 = h;
    for (unsigned c = 0; c < comps; c++)
        memcpy(img->comps[c].data, planes[c], (size_t)cp[c].w * h * sizeof(int32_t));
    opj_cparameters_t par;
    opj_set_default_encoder_parameters(&par);
    par.tcp_numlayers = 1;
    par.tcp_rates[0] = 0; /* lossless */
    par.cp_disto_alloc = 1;
    par.irreversible = 0;
    par.numresolution = 3;
    opj_codec_t *codec = opj_create_compress(OPJ_CODEC_J2K);
    assert_true(opj_setup_encoder(codec, &par, img));
    OutStream os = {0};
    opj_stream_t *st = opj_stream_create(1 << 16, OPJ_FALSE);
    opj_stream_set_user_data(st, &os, NULL);
    opj_stream_set_write_function(st, out_write);
    opj_stream_set_skip_function(st, out_skip);
    opj_stream_set_seek_function(st, out_seek);
    assert_true(opj_start_compress(codec, img, st));
    assert_true(opj_encode(codec, st));
    assert_true(opj_end_compress(codec, st));
    opj_stream_destroy(st);
    opj_destroy_codec(codec);
    opj_image_destroy(img);
    *len = os.len;
    return os.data;
}

static RnImageInfo mono16(unsigned rows, unsigned cols, unsigned stored, unsigned pixrep)
{
    RnImageInfo info;
    memset(&info, 0, sizeof info);
    info.rows = rows;
    info.columns = cols;
    info.samples_per_pixel = 1;
    info.bits_allocated = 16;
    info.bits_stored = stored;
    info.high_bit = stored - 1;
    info.pixel_representation = pixrep;
    info.number_of_frames = 1;
    snprintf(info.photometric, sizeof info.photometric, "MONOCHROME2");
    return info;
}

static void test_signed_and_precision(void **state)
{
    (void)state;
    enum { W = 23, H = 11 };
    int32_t plane[W * H];
    for (int i = 0; i < W * H; i++)
        plane[i] = (i * 97) % 4096 - 2048; /* 12-bit signed, -2048..2047 */
    const int32_t *planes[1] = {plane};
    size_t len = 0;
    uint8_t *j2k = encode_j2k(planes, 1, W, H, 12, true, 1, &len);
    RnImageInfo info = mono16(H, W, 12, 1);
    uint8_t dst[W * H * 2];
    RnError err = {0};
    assert_int_equal(rn_j2k_decode(&info, j2k, len, dst, sizeof dst, NULL, &err), 0);
    for (int i = 0; i < W * H; i++) /* sign-extended to 16 bits, as uncompressed data would be */
        assert_int_equal((int16_t)rn_rd16le(dst + 2 * i), plane[i]);
    free(j2k);

    /* unsigned 12-bit stream in a dataset that says signed: pydicom's correction */
    int32_t u[W * H];
    for (int i = 0; i < W * H; i++)
        u[i] = plane[i] & 0xFFF;
    planes[0] = u;
    j2k = encode_j2k(planes, 1, W, H, 12, false, 1, &len);
    assert_int_equal(rn_j2k_decode(&info, j2k, len, dst, sizeof dst, NULL, &err), 0);
    for (int i = 0; i < W * H; i++)
        assert_int_equal((int16_t)rn_rd16le(dst + 2 * i), plane[i]);
    /* and the same stream unsigned: values as they are */
    info.pixel_representation = 0;
    assert_int_equal(rn_j2k_decode(&info, j2k, len, dst, sizeof dst, NULL, &err), 0);
    for (int i = 0; i < W * H; i++)
        assert_int_equal(rn_rd16le(dst + 2 * i), u[i]);
    /* 12-bit precision does not fit 8 bits allocated */
    RnImageInfo small = info;
    small.bits_allocated = 8;
    small.bits_stored = 8;
    small.high_bit = 7;
    assert_int_equal(rn_j2k_decode(&small, j2k, len, dst, sizeof dst, NULL, &err), RN_ERR_PARSE);
    /* wrong size and component count */
    uint8_t big[(W + 1) * H * 6];
    RnImageInfo wrong = info;
    wrong.columns = W + 1;
    assert_int_equal(rn_j2k_decode(&wrong, j2k, len, big, sizeof big, NULL, &err), RN_ERR_PARSE);
    wrong = info;
    wrong.samples_per_pixel = 3;
    snprintf(wrong.photometric, sizeof wrong.photometric, "RGB");
    assert_int_equal(rn_j2k_decode(&wrong, j2k, len, big, sizeof big, NULL, &err), RN_ERR_PARSE);
    free(j2k);
}

static void test_32bit_and_subsampled(void **state)
{
    (void)state;
    enum { W = 9, H = 5 };
    int32_t p[3][W * H];
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < W * H; i++)
            p[c][i] = (i * (c + 3) * 1237) % 65536;
    const int32_t *planes[3] = {p[0], p[1], p[2]};
    size_t len = 0;
    /* 16-bit precision in 32 bits allocated */
    uint8_t *j2k = encode_j2k(planes, 1, W, H, 16, false, 1, &len);
    RnImageInfo info = mono16(H, W, 16, 0);
    info.bits_allocated = 32;
    uint8_t dst[W * H * 12];
    RnError err = {0};
    assert_int_equal(rn_j2k_decode(&info, j2k, len, dst, sizeof dst, NULL, &err), 0);
    for (int i = 0; i < W * H; i++)
        assert_int_equal(rn_rd32le(dst + 4 * i), (uint32_t)p[0][i]);
    free(j2k);

    /* 3 components, the chroma ones subsampled: refused, not misread */
    j2k = encode_j2k(planes, 3, W, H, 16, false, 2, &len);
    info = mono16(H, W, 16, 0);
    info.samples_per_pixel = 3;
    snprintf(info.photometric, sizeof info.photometric, "YBR_FULL_422");
    assert_int_equal(rn_j2k_decode(&info, j2k, len, dst, sizeof dst, NULL, &err),
                     RN_ERR_UNSUPPORTED);
    free(j2k);
}

static void test_garbage(void **state)
{
    (void)state;
    RnImageInfo info = mono16(8, 8, 16, 0);
    uint8_t dst[128];
    RnError err = {0};
    uint8_t junk[300];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 31 + 7);
    assert_int_equal(rn_j2k_decode(&info, junk, sizeof junk, dst, sizeof dst, NULL, &err),
                     RN_ERR_PARSE);
    /* a SOC/SIZ start followed by nonsense */
    junk[0] = 0xFF;
    junk[1] = 0x4F;
    junk[2] = 0xFF;
    junk[3] = 0x51;
    assert_true(rn_j2k_decode(&info, junk, sizeof junk, dst, sizeof dst, NULL, &err) < 0);
    assert_true(rn_j2k_decode(&info, junk, 4, dst, sizeof dst, NULL, &err) < 0);
    /* a header claiming a huge image is refused before OpenJPEG allocates it */
    int32_t plane[64] = {0};
    const int32_t *planes[1] = {plane};
    size_t len = 0;
    uint8_t *j2k = encode_j2k(planes, 1, 8, 8, 16, false, 1, &len);
    /* SIZ: FF51 Lsiz(2) Rsiz(2) Xsiz(4) Ysiz(4) */
    rn_wr32be(j2k + 8, 60000);
    rn_wr32be(j2k + 12, 60000);
    assert_int_equal(rn_j2k_decode(&info, j2k, len, dst, sizeof dst, NULL, &err), RN_ERR_PARSE);
    free(j2k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_signed_and_precision),
        cmocka_unit_test(test_32bit_and_subsampled),
        cmocka_unit_test(test_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
