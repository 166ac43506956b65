/*
 * Unit tests of the bone-age preprocessing (src/analyzers/boneage/preprocess.c):
 *  - parity with the Python specification: the 299x299 framing equals
 *    Pillow's BILINEAR resize and the 299 -> 256 step equals
 *    tools/boneage/common.resize_u8 byte for byte, the normalisation equals
 *    common.normalise (fixtures from tests/data/boneage/make_parity.py);
 *  - TTA shifts as tools/boneage/evaluate.py shift_u8; rotations/mirroring;
 *  - a synthetic left hand is found upright and left; every rotation and
 *    mirror image of it is corrected back to the identical network framing;
 *  - a film scan (the forearm ends at the film's edge inside a light box) is read;
 *  - refusals: a chest-like gradient (not a hand), two hands side by side,
 *    a flat low-contrast image;
 *  - rendering of DX files: MONOCHROME1 inverted back exactly, a 12-bit
 *    image with a window within one grey level.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/boneage/boneage_fixtures.h"

#include <unistd.h>

static uint8_t *read_fixture(const char *name, size_t expect)
{
    const char *src = getenv("RN_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/boneage/%s", src ? src : ".", name);
    size_t len = 0;
    RnError e = {0};
    uint8_t *d = rn_file_read_all(path, 1 << 20, &len, &e);
    if (!d)
        fail_msg("%s: %s", path, e.message);
    assert_int_equal(len, expect);
    return d;
}

static void parity_pil_and_spec(void **state)
{
    (void)state;
    enum { W = 360, H = 420 };
    uint8_t *src = malloc(W * H), f299[299 * 299], s256[256 * 256];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            src[y * W + x] =
                (uint8_t)((x * 7 + y * 13 + (x * y) % 17 + ((x / 9 + y / 11) % 2) * 60) % 256);
    uint8_t *pil = read_fixture("parity_pil299.u8", 299 * 299);
    uint8_t *spec = read_fixture("parity_spec256.u8", 256 * 256);
    uint8_t *rowb = read_fixture("parity_input_row128.f32", 256 * 4);
    assert_int_equal(rn_boneage_resize_pil(src, W, H, f299, 299, 299, NULL), 0);
    size_t diff = 0;
    for (size_t i = 0; i < 299 * 299; i++)
        diff += f299[i] != pil[i];
    assert_int_equal(diff, 0);
    /* the spec step from Python's own 299 image */
    assert_int_equal(rn_boneage_resize_spec(pil, 299, 299, s256, 256, 256, NULL), 0);
    assert_memory_equal(s256, spec, 256 * 256);
    float row[256];
    rn_boneage_normalise(spec + 128 * 256, 256, row);
    for (int i = 0; i < 256; i++) {
        float ref;
        memcpy(&ref, rowb + 4 * i, 4);
        assert_true(row[i] == ref);
    }
    free(src);
    free(pil);
    free(spec);
    free(rowb);
}

static void shift_and_transform(void **state)
{
    (void)state;
    uint8_t in[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, out[12]; /* 4 x 3 */
    rn_boneage_shift(in, 4, 3, 1, 0, out);                          /* right by 1 */
    const uint8_t r1[12] = {0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11};
    assert_memory_equal(out, r1, 12);
    rn_boneage_shift(in, 4, 3, 0, -1, out); /* up by 1 */
    const uint8_t u1[12] = {5, 6, 7, 8, 9, 10, 11, 12, 0, 0, 0, 0};
    assert_memory_equal(out, u1, 12);
    int dx, dy;
    rn_boneage_tta_shift(1, &dx, &dy);
    assert_int_equal(dx, 8);
    assert_int_equal(dy, 0);
    rn_boneage_tta_shift(4, &dx, &dy);
    assert_int_equal(dx * 100 + dy, -8);

    RnBoneageImage a = {4, 3, in}, b = {0}, c = {0};
    assert_int_equal(rn_boneage_transform(&a, 90, false, &b, NULL), 0); /* clockwise */
    assert_int_equal(b.width, 3);
    assert_int_equal(b.height, 4);
    const uint8_t cw[12] = {9, 5, 1, 10, 6, 2, 11, 7, 3, 12, 8, 4};
    assert_memory_equal(b.pixels, cw, 12);
    assert_int_equal(rn_boneage_transform(&b, 270, false, &c, NULL), 0);
    assert_memory_equal(c.pixels, in, 12);
    assert_int_equal(rn_boneage_transform(&a, 0, true, &c, NULL), 0);
    const uint8_t mir[12] = {4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9};
    assert_memory_equal(c.pixels, mir, 12);
    assert_int_equal(rn_boneage_transform(&a, 45, false, &c, NULL), RN_ERR_INVALID);
    rn_boneage_image_free(&b);
    rn_boneage_image_free(&c);
}

static void synthetic_hand_upright_left(void **state)
{
    (void)state;
    RnBoneageImage img;
    assert_int_equal(rn_boneage_image_init(&img, HAND_W, HAND_H, NULL), 0);
    synth_hand(img.pixels);
    RnBoneagePrep *ref = calloc(1, sizeof *ref), *p = calloc(1, sizeof *p);
    assert_int_equal(rn_boneage_prepare(&img, RN_BONEAGE_SIDE_UNKNOWN, ref, NULL), 0);
    assert_null(ref->refusal);
    assert_int_equal(ref->rotation, 0);
    assert_false(ref->mirrored);
    assert_int_equal(ref->image_side, RN_BONEAGE_SIDE_LEFT);
    /* the hand box covers the drawn hand */
    assert_true(ref->box[0] <= 120 && ref->box[2] >= 332 && ref->box[1] <= 70 &&
                ref->box[3] >= HAND_H - 3); /* cells of the analysis copy */

    /* every rotation and mirror image comes back to the same framing */
    for (int rot = 0; rot < 360; rot += 90)
        for (int mirror = 0; mirror < 2; mirror++) {
            RnBoneageImage t = {0};
            assert_int_equal(rn_boneage_transform(&img, rot, mirror, &t, NULL), 0);
            assert_int_equal(rn_boneage_prepare(&t, RN_BONEAGE_SIDE_UNKNOWN, p, NULL), 0);
            assert_null(p->refusal);
            assert_int_equal(p->mirrored, mirror);
            assert_int_equal(p->image_side, mirror ? RN_BONEAGE_SIDE_RIGHT : RN_BONEAGE_SIDE_LEFT);
            assert_memory_equal(p->framed, ref->framed, sizeof ref->framed);
            rn_boneage_image_free(&t);
        }
    rn_boneage_image_free(&img);
    free(ref);
    free(p);
}

/* A film scan: the synthetic hand on a grey film (its forearm ends at the film's edge), the
 * film on a dark scanner bed, turned by 90 degrees. The strict reading finds no forearm at the
 * image edge; the retry inside the film finds the hand, turns it upright, and says so. */
static void film_scan(void **state)
{
    (void)state;
    enum { M = 90 };
    uint8_t *one = malloc(HAND_W * HAND_H);
    synth_hand(one);
    RnBoneageImage film = {0}, turned = {0};
    const uint32_t fw = HAND_W + 2 * M, fh = HAND_H + 2 * M;
    assert_int_equal(rn_boneage_image_init(&film, fw, fh, NULL), 0);
    for (uint32_t y = 0; y < fh; y++)
        for (uint32_t x = 0; x < fw; x++) {
            bool in_film = x >= M / 2 && x < fw - M / 2 && y >= M / 2 && y < HAND_H + M;
            bool in_hand = x >= M && x < M + HAND_W && y >= M && y < M + HAND_H;
            uint8_t v = (uint8_t)(4 + (x * 7 + y * 3) % 5); /* the scanner bed */
            if (in_film)
                v = (uint8_t)(45 + (x + y) % 4);
            if (in_hand && in_film && one[(size_t)(y - M) * HAND_W + (x - M)] > 40)
                v = one[(size_t)(y - M) * HAND_W + (x - M)];
            film.pixels[(size_t)y * fw + x] = v;
        }
    assert_int_equal(rn_boneage_transform(&film, 90, false, &turned, NULL), 0);
    RnBoneagePrep *p = calloc(1, sizeof *p);
    assert_int_equal(rn_boneage_prepare(&turned, RN_BONEAGE_SIDE_UNKNOWN, p, NULL), 0);
    assert_null(p->refusal);
    assert_true(p->film_crop || p->relaxed);
    assert_int_equal(p->rotation, 270); /* turned back upright */
    assert_false(p->mirrored);
    rn_boneage_image_free(&film);
    rn_boneage_image_free(&turned);
    free(one);
    free(p);
}

static void refusals(void **state)
{
    (void)state;
    RnBoneagePrep *p = calloc(1, sizeof *p);
    RnBoneageImage img;
    /* chest-like gradient */
    assert_int_equal(rn_boneage_image_init(&img, 500, 600, NULL), 0);
    synth_gradient(img.pixels, 500, 600);
    assert_int_equal(rn_boneage_prepare(&img, RN_BONEAGE_SIDE_UNKNOWN, p, NULL), 0);
    assert_non_null(p->refusal);
    assert_string_equal(p->refusal_code, "NOT_HAND");
    rn_boneage_image_free(&img);

    /* two hands side by side */
    uint8_t *one = malloc(HAND_W * HAND_H);
    synth_hand(one);
    assert_int_equal(rn_boneage_image_init(&img, 2 * HAND_W, HAND_H, NULL), 0);
    for (uint32_t y = 0; y < HAND_H; y++) {
        memcpy(img.pixels + (size_t)y * 2 * HAND_W, one + (size_t)y * HAND_W, HAND_W);
        memcpy(img.pixels + (size_t)y * 2 * HAND_W + HAND_W, one + (size_t)y * HAND_W, HAND_W);
    }
    assert_int_equal(rn_boneage_prepare(&img, RN_BONEAGE_SIDE_UNKNOWN, p, NULL), 0);
    assert_non_null(p->refusal);
    assert_string_equal(p->refusal_code, "TWO_HANDS");
    rn_boneage_image_free(&img);

    /* almost no contrast */
    assert_int_equal(rn_boneage_image_init(&img, HAND_W, HAND_H, NULL), 0);
    for (size_t i = 0; i < (size_t)HAND_W * HAND_H; i++)
        img.pixels[i] = (uint8_t)(100 + one[i] / 32);
    assert_int_equal(rn_boneage_prepare(&img, RN_BONEAGE_SIDE_UNKNOWN, p, NULL), 0);
    assert_non_null(p->refusal);
    assert_string_equal(p->refusal_code, "ARTEFACT");
    rn_boneage_image_free(&img);
    free(one);
    free(p);
}

static void render_dicom_variants(void **state)
{
    (void)state;
    char dir[] = "/tmp/rn_boneage_XXXXXX";
    assert_non_null(mkdtemp(dir));
    uint8_t *px = malloc(HAND_W * HAND_H);
    synth_hand(px);
    const int kinds[3] = {DICOM_MONO2_8, DICOM_MONO1_8, DICOM_WINDOW_12};
    for (int k = 0; k < 3; k++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%d.dcm", dir, k);
        assert_int_equal(write_dx(path, px, HAND_W, HAND_H, kinds[k], "M", "20140101", NULL), 0);
        RnError e = {0};
        RnDicomFile *f = rn_dicom_read_file(path, NULL, &e);
        assert_non_null(f);
        RnBoneageImage img = {0};
        RnBoneageRenderInfo ri;
        assert_int_equal(rn_boneage_render(f, &img, &ri, &e), 0);
        assert_int_equal(img.width, HAND_W);
        assert_int_equal(img.height, HAND_H);
        int maxd = 0;
        for (size_t i = 0; i < (size_t)HAND_W * HAND_H; i++) {
            int d = abs((int)img.pixels[i] - (int)px[i]);
            maxd = d > maxd ? d : maxd;
        }
        if (kinds[k] == DICOM_WINDOW_12) {
            assert_int_equal(ri.voi, RN_BONEAGE_VOI_WINDOW);
            assert_true(maxd <= 1);
        } else {
            assert_int_equal(ri.voi, RN_BONEAGE_VOI_IDENTITY);
            assert_int_equal(ri.inverted, kinds[k] == DICOM_MONO1_8);
            assert_int_equal(maxd, 0); /* MONOCHROME1 inverted back exactly */
        }
        rn_boneage_image_free(&img);
        rn_dicom_file_destroy(f);
        unlink(path);
    }
    rmdir(dir);
    free(px);
}

static void dicom_side_hint(void **state)
{
    (void)state;
    RnDataset *ds = rn_dataset_create();
    char where[32];
    assert_int_equal(rn_boneage_dicom_side(ds, where, sizeof where), RN_BONEAGE_SIDE_UNKNOWN);
    rn_dataset_set_string(ds, RN_TAG_SeriesDescription, RN_VR_LO, "HAND PA R", NULL);
    assert_int_equal(rn_boneage_dicom_side(ds, where, sizeof where), RN_BONEAGE_SIDE_RIGHT);
    assert_string_equal(where, "SeriesDescription");
    rn_dataset_set_string(ds, RN_TAG_SeriesDescription, RN_VR_LO, "Left hand bone age", NULL);
    assert_int_equal(rn_boneage_dicom_side(ds, where, sizeof where), RN_BONEAGE_SIDE_LEFT);
    rn_dataset_set_string(ds, RN_TAG_SeriesDescription, RN_VR_LO, "HAND L+R", NULL);
    assert_int_equal(rn_boneage_dicom_side(ds, where, sizeof where), RN_BONEAGE_SIDE_UNKNOWN);
    rn_dataset_set_string(ds, RN_TAG_SeriesDescription, RN_VR_LO, "RADIUS", NULL); /* no word */
    assert_int_equal(rn_boneage_dicom_side(ds, where, sizeof where), RN_BONEAGE_SIDE_UNKNOWN);
    rn_dataset_set_string(ds, RN_TAG(0x0020, 0x0062), RN_VR_CS, "L", NULL);
    assert_int_equal(rn_boneage_dicom_side(ds, where, sizeof where), RN_BONEAGE_SIDE_LEFT);
    assert_string_equal(where, "ImageLaterality");
    rn_dataset_destroy(ds);
}

/* The 8 square symmetries against numpy's definitions (tools/boneage/train_orient.py):
 * class 1 = np.fliplr(x), 2 = np.rot90(x), 3 = np.rot90(np.fliplr(x)) (the transpose), and
 * every undo inverts its transform. */
static void square_symmetries(void **state)
{
    (void)state;
    const uint8_t x[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    const uint8_t fl[9] = {2, 1, 0, 5, 4, 3, 8, 7, 6};
    const uint8_t r1[9] = {2, 5, 8, 1, 4, 7, 0, 3, 6};
    const uint8_t tr[9] = {0, 3, 6, 1, 4, 7, 2, 5, 8};
    const uint8_t r2[9] = {8, 7, 6, 5, 4, 3, 2, 1, 0};
    uint8_t y[9], z[9];
    rn_boneage_symmetry(x, 3, 0, y);
    assert_memory_equal(y, x, 9);
    rn_boneage_symmetry(x, 3, 1, y);
    assert_memory_equal(y, fl, 9);
    rn_boneage_symmetry(x, 3, 2, y);
    assert_memory_equal(y, r1, 9);
    rn_boneage_symmetry(x, 3, 3, y);
    assert_memory_equal(y, tr, 9);
    rn_boneage_symmetry(x, 3, 4, y);
    assert_memory_equal(y, r2, 9);
    for (int c = 0; c < 8; c++) {
        rn_boneage_symmetry(x, 3, c, y);
        rn_boneage_undo_symmetry(y, 3, c, z);
        assert_memory_equal(z, x, 9);
        for (int d = 0; d < 8; d++) { /* the 8 are distinct */
            uint8_t w[9];
            rn_boneage_symmetry(x, 3, d, w);
            if (d != c)
                assert_true(memcmp(w, y, 9) != 0);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parity_pil_and_spec),         cmocka_unit_test(shift_and_transform),
        cmocka_unit_test(square_symmetries),
        cmocka_unit_test(synthetic_hand_upright_left), cmocka_unit_test(refusals),
        cmocka_unit_test(film_scan),
        cmocka_unit_test(render_dicom_variants),       cmocka_unit_test(dicom_side_hint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
