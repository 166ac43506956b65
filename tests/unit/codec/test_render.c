/*
 * The display pipeline (PS3.3 C.11): VOI window functions LINEAR,
 * LINEAR_EXACT and SIGMOID at their edges, rescale, Modality and VOI LUTs,
 * min/max windowing, MONOCHROME1 inversion, YBR_FULL and palette colour
 * (plain and segmented, C.7.9.2), all against values computed by hand from
 * the standard's formulas; then the same through a real dataset
 * (rn_pixel_render, rn_pixel_modality) and a PNG written and read back.
 */
#include "codec_fixtures.h"

#include <math.h>
#include <png.h>
#include <unistd.h>

static RnImageInfo image(uint32_t rows, uint32_t cols, uint32_t spp, uint32_t bits, uint32_t pixrep,
                         const char *pm)
{
    RnImageInfo info;
    memset(&info, 0, sizeof info);
    info.rows = rows;
    info.columns = cols;
    info.samples_per_pixel = spp;
    info.bits_allocated = bits;
    info.bits_stored = bits;
    info.high_bit = bits - 1;
    info.pixel_representation = pixrep;
    info.number_of_frames = 1;
    snprintf(info.photometric, sizeof info.photometric, "%s", pm);
    return info;
}

static void test_window_functions(void **state)
{
    (void)state;
    /* LINEAR, C.11.2.1.2.1: c = 40, w = 400: below -160 -> 0, above 239 -> 255 */
    assert_true(rn_voi_window(RN_VOI_LINEAR, 40, 400, -160.0, 0, 255) == 0.0);
    assert_true(rn_voi_window(RN_VOI_LINEAR, 40, 400, -1000.0, 0, 255) == 0.0);
    assert_float_equal(rn_voi_window(RN_VOI_LINEAR, 40, 400, -159.9, 0, 255),
                       (-199.4 / 399 + 0.5) * 255, 1e-9);
    assert_float_equal(rn_voi_window(RN_VOI_LINEAR, 40, 400, 40, 0, 255), 127.8195488722, 1e-6);
    assert_float_equal(rn_voi_window(RN_VOI_LINEAR, 40, 400, 239, 0, 255), 255.0, 1e-9);
    assert_true(rn_voi_window(RN_VOI_LINEAR, 40, 400, 239.01, 0, 255) == 255.0);
    /* width 1: a threshold at c - 0.5, no division by w - 1 = 0 */
    assert_true(rn_voi_window(RN_VOI_LINEAR, 100, 1, 99.5, 0, 255) == 0.0);
    assert_true(rn_voi_window(RN_VOI_LINEAR, 100, 1, 99.51, 0, 255) == 255.0);
    /* LINEAR_EXACT, C.11.2.1.3.2: c = 100, w = 50 */
    assert_true(rn_voi_window(RN_VOI_LINEAR_EXACT, 100, 50, 75, 0, 255) == 0.0);
    assert_float_equal(rn_voi_window(RN_VOI_LINEAR_EXACT, 100, 50, 75.5, 0, 255), 2.55, 1e-9);
    assert_float_equal(rn_voi_window(RN_VOI_LINEAR_EXACT, 100, 50, 100, 0, 255), 127.5, 1e-9);
    assert_float_equal(rn_voi_window(RN_VOI_LINEAR_EXACT, 100, 50, 125, 0, 255), 255.0, 1e-9);
    assert_true(rn_voi_window(RN_VOI_LINEAR_EXACT, 100, 50, 125.5, 0, 255) == 255.0);
    /* SIGMOID, C.11.2.1.3.1 */
    assert_float_equal(rn_voi_window(RN_VOI_SIGMOID, 100, 50, 100, 0, 255), 127.5, 1e-9);
    assert_float_equal(rn_voi_window(RN_VOI_SIGMOID, 100, 50, 150, 0, 255),
                       255.0 / (1.0 + exp(-4.0)), 1e-9);
    assert_float_equal(rn_voi_window(RN_VOI_SIGMOID, 100, 50, 50, 0, 255), 255.0 / (1.0 + exp(4.0)),
                       1e-9);
}

/* 1 x 6 signed 16-bit: -1000 -10 0 10 60 1000 */
static void six_pixels(uint8_t frame[12])
{
    const int16_t v[6] = {-1000, -10, 0, 10, 60, 1000};
    for (int i = 0; i < 6; i++)
        rn_wr16le(frame + 2 * i, (uint16_t)v[i]);
}

static void test_rescale_window_invert(void **state)
{
    (void)state;
    RnImageInfo info = image(1, 6, 1, 16, 1, "MONOCHROME2");
    uint8_t frame[12];
    six_pixels(frame);
    RnDisplay d;
    rn_display_init(&d);
    d.slope = 2;
    d.intercept = -10; /* modality: -2010 -30 -10 10 110 1990 */
    d.has_window = true;
    d.center = 0;
    d.width = 101; /* LINEAR: 0 at x <= -50.5, 255 above 49.5 */
    double mod[6];
    assert_int_equal(rn_display_modality(&d, &info, frame, 12, mod, NULL), 0);
    const double want_mod[6] = {-2010, -30, -10, 10, 110, 1990};
    for (int i = 0; i < 6; i++)
        assert_float_equal(mod[i], want_mod[i], 0);
    uint8_t gray[6];
    assert_int_equal(rn_display_render_mono(&d, &info, frame, 12, gray, NULL), 0);
    /* -30: ((-30+0.5)/100+0.5)*255 = 52.275; -10: 103.275; 10: 154.275 */
    const uint8_t want[6] = {0, 52, 103, 154, 255, 255};
    assert_memory_equal(gray, want, 6);
    d.invert = true;
    assert_int_equal(rn_display_render_mono(&d, &info, frame, 12, gray, NULL), 0);
    const uint8_t inv[6] = {255, 203, 152, 101, 0, 0};
    assert_memory_equal(gray, inv, 6);
    /* short frame refused */
    assert_int_equal(rn_display_render_mono(&d, &info, frame, 11, gray, NULL), RN_ERR_TRUNCATED);
}

static void test_min_max_and_luts(void **state)
{
    (void)state;
    RnImageInfo info = image(2, 2, 1, 8, 0, "MONOCHROME2");
    const uint8_t px[4] = {10, 20, 30, 25};
    RnDisplay d;
    rn_display_init(&d);
    uint8_t gray[6];
    assert_int_equal(rn_display_render_mono(&d, &info, px, 4, gray, NULL), 0);
    const uint8_t want[4] = {0, 128, 255, 191}; /* (x-10)/20*255: 127.5 -> 128, 191.25 */
    assert_memory_equal(gray, want, 4);
    const uint8_t flat[4] = {7, 7, 7, 7};
    assert_int_equal(rn_display_render_mono(&d, &info, flat, 4, gray, NULL), 0);
    assert_int_equal(gray[0], 0);

    /* VOI LUT: 4 entries from -1, 8 bits */
    const uint8_t voi[4] = {0, 100, 200, 255};
    RnLut lut;
    assert_int_equal(rn_lut_from_data(&lut, 4, -1, 8, true, voi, 4, false, NULL), 0);
    d.has_voi_lut = true;
    d.voi_lut = lut;
    RnImageInfo s = image(1, 6, 1, 16, 1, "MONOCHROME2");
    uint8_t frame[12];
    const int16_t v[6] = {-5, -1, 0, 1, 2, 9};
    for (int i = 0; i < 6; i++)
        rn_wr16le(frame + 2 * i, (uint16_t)v[i]);
    assert_int_equal(rn_display_render_mono(&d, &s, frame, 12, gray, NULL), 0);
    const uint8_t want_voi[6] = {0, 0, 100, 200, 255, 255};
    assert_memory_equal(gray, want_voi, 6);
    rn_display_free(&d);

    /* Modality LUT: 3 entries of 16 bits from 0, data as OW little-endian */
    rn_display_init(&d);
    uint8_t mdata[6];
    rn_wr16le(mdata, 100);
    rn_wr16le(mdata + 2, 200);
    rn_wr16le(mdata + 4, 300);
    assert_int_equal(rn_lut_from_data(&d.modality_lut, 3, 0, 16, false, mdata, 6, false, NULL), 0);
    d.has_modality_lut = true;
    RnImageInfo u = image(1, 4, 1, 8, 0, "MONOCHROME2");
    const uint8_t idx[4] = {0, 1, 2, 5};
    double mod[4];
    assert_int_equal(rn_display_modality(&d, &u, idx, 4, mod, NULL), 0);
    assert_float_equal(mod[0], 100, 0);
    assert_float_equal(mod[1], 200, 0);
    assert_float_equal(mod[2], 300, 0);
    assert_float_equal(mod[3], 300, 0);
    rn_display_free(&d);

    /* descriptor checks: 0 entries means 65536; short data refused; bits > 16 refused */
    assert_int_equal(rn_lut_from_data(&lut, 0, 0, 16, false, mdata, 6, false, NULL),
                     RN_ERR_TRUNCATED);
    assert_int_equal(rn_lut_from_data(&lut, 3, 0, 17, false, mdata, 6, false, NULL), RN_ERR_PARSE);
    /* first mapped value 65535 read as US in a signed image: -1 */
    assert_int_equal(rn_lut_from_data(&lut, 3, 65535, 16, true, mdata, 6, false, NULL), 0);
    assert_int_equal(lut.first, -1);
    rn_lut_free(&lut);
}

static void test_segmented(void **state)
{
    (void)state;
    /* discrete 10 20 30; linear to 70 in 4 steps; indirect: 1 segment at word 0 */
    const uint16_t words[] = {0, 3, 10, 20, 30, 1, 4, 70, 2, 1, 0, 0};
    uint16_t out[12];
    assert_int_equal(rn_lut_expand_segmented(words, 12, out, 12, NULL), 0);
    const uint16_t want[12] = {10, 20, 30, 40, 50, 60, 70, 10, 20, 30, 30, 30};
    assert_memory_equal(out, want, sizeof want);
    /* rounding of a linear segment: 0 -> 10 in 3 steps = 3.33, 6.67, 10 -> 3 7 10 */
    const uint16_t lin[] = {0, 1, 0, 1, 3, 10};
    assert_int_equal(rn_lut_expand_segmented(lin, 6, out, 4, NULL), 0);
    assert_int_equal(out[1], 3);
    assert_int_equal(out[2], 7);
    assert_int_equal(out[3], 10);
    /* hostile: leading linear, nested indirect, truncated discrete, unknown op, offset past end */
    RnError err = {0};
    const uint16_t lead[] = {1, 2, 5};
    assert_int_equal(rn_lut_expand_segmented(lead, 3, out, 4, &err), RN_ERR_PARSE);
    const uint16_t nested[] = {0, 1, 5, 2, 1, 3, 0};
    assert_int_equal(rn_lut_expand_segmented(nested, 7, out, 12, &err), RN_ERR_PARSE);
    const uint16_t cut[] = {0, 10, 1, 2};
    assert_int_equal(rn_lut_expand_segmented(cut, 4, out, 12, &err), RN_ERR_TRUNCATED);
    const uint16_t op[] = {0, 1, 5, 7, 1, 1};
    assert_int_equal(rn_lut_expand_segmented(op, 6, out, 12, &err), RN_ERR_PARSE);
    const uint16_t far[] = {0, 1, 5, 2, 1, 0xFFFF, 0x7FFF};
    assert_int_equal(rn_lut_expand_segmented(far, 7, out, 12, &err), RN_ERR_PARSE);
    /* an indirect segment pointing at itself copies once, no loop */
    const uint16_t self[] = {0, 1, 5, 2, 1, 3, 0};
    (void)rn_lut_expand_segmented(self, 7, out, 12, &err);
}

static void test_colour(void **state)
{
    (void)state;
    uint8_t rgb[3];
    rn_color_ybr_full_to_rgb8(128, 128, 128, rgb);
    assert_int_equal(rgb[0], 128);
    assert_int_equal(rgb[1], 128);
    assert_int_equal(rgb[2], 128);
    /* R = 76 + 1.402*127 = 254.05; G = 76 + 0.344*43 - 0.714*127 = 0.10; B = 76 - 1.772*43 < 0 */
    rn_color_ybr_full_to_rgb8(76, 85, 255, rgb);
    assert_int_equal(rgb[0], 254);
    assert_int_equal(rgb[1], 0);
    assert_int_equal(rgb[2], 0);

    RnImageInfo info = image(1, 2, 3, 8, 0, "YBR_FULL");
    const uint8_t ybr[6] = {128, 128, 128, 76, 85, 255};
    uint8_t out[6];
    assert_int_equal(rn_color_render(&info, NULL, ybr, 6, out, NULL), 0);
    const uint8_t want[6] = {128, 128, 128, 254, 0, 0};
    assert_memory_equal(out, want, 6);
    /* 16-bit RGB with 12 bits stored scaled to 8 bits */
    info = image(1, 1, 3, 16, 0, "RGB");
    info.bits_stored = 12;
    info.high_bit = 11;
    uint8_t rgb16[6];
    rn_wr16le(rgb16, 4095);
    rn_wr16le(rgb16 + 2, 0);
    rn_wr16le(rgb16 + 4, 2048);
    assert_int_equal(rn_color_render(&info, NULL, rgb16, 6, out, NULL), 0);
    assert_int_equal(out[0], 255);
    assert_int_equal(out[1], 0);
    assert_int_equal(out[2], 128); /* 2048*255/4095 = 127.53 */

    /* palette: 8-bit entries for red, 16-bit for green and blue, first mapped 1 */
    RnPalette pal;
    memset(&pal, 0, sizeof pal);
    const uint8_t red[3] = {10, 20, 30};
    uint8_t g16[6], b16[6];
    for (int i = 0; i < 3; i++) {
        rn_wr16le(g16 + 2 * i, (uint16_t)(0x1000 * (i + 1)));
        rn_wr16be(b16 + 2 * i, (uint16_t)(0xFF00 - 0x100 * i));
    }
    assert_int_equal(rn_lut_from_data(&pal.lut[0], 3, 1, 8, false, red, 3, false, NULL), 0);
    assert_int_equal(rn_lut_from_data(&pal.lut[1], 3, 1, 16, false, g16, 6, false, NULL), 0);
    assert_int_equal(rn_lut_from_data(&pal.lut[2], 3, 1, 16, false, b16, 6, true, NULL), 0);
    info = image(1, 4, 1, 8, 0, "PALETTE COLOR");
    const uint8_t idx[4] = {0, 1, 2, 3};
    uint8_t p[12];
    assert_int_equal(rn_color_render(&info, &pal, idx, 4, p, NULL), 0);
    const uint8_t wantp[12] = {10, 0x10, 0xFF, 10, 0x10, 0xFF, 20, 0x20, 0xFE, 30, 0x30, 0xFD};
    assert_memory_equal(p, wantp, 12);
    rn_palette_free(&pal);
    assert_int_equal(rn_color_render(&info, &pal, idx, 4, p, NULL), RN_ERR_INVALID);
}

/* ---- through a dataset ------------------------------------------------------ */

static RnDataset *mono_dataset(const char *pm)
{
    RnDataset *ds = rn_dataset_create();
    assert_non_null(ds);
    assert_int_equal(rn_dataset_set_uint(ds, RN_TAG_Rows, RN_VR_US, 1, NULL), 0);
    assert_int_equal(rn_dataset_set_uint(ds, RN_TAG_Columns, RN_VR_US, 6, NULL), 0);
    assert_int_equal(rn_dataset_set_uint(ds, RN_TAG_SamplesPerPixel, RN_VR_US, 1, NULL), 0);
    assert_int_equal(rn_dataset_set_uint(ds, RN_TAG_BitsAllocated, RN_VR_US, 16, NULL), 0);
    assert_int_equal(rn_dataset_set_uint(ds, RN_TAG_BitsStored, RN_VR_US, 16, NULL), 0);
    assert_int_equal(rn_dataset_set_uint(ds, RN_TAG_HighBit, RN_VR_US, 15, NULL), 0);
    assert_int_equal(rn_dataset_set_uint(ds, RN_TAG_PixelRepresentation, RN_VR_US, 1, NULL), 0);
    assert_int_equal(
        rn_dataset_set_string(ds, RN_TAG_PhotometricInterpretation, RN_VR_CS, pm, NULL), 0);
    assert_int_equal(rn_dataset_set_string(ds, RN_TAG_RescaleSlope, RN_VR_DS, "2", NULL), 0);
    assert_int_equal(rn_dataset_set_string(ds, RN_TAG_RescaleIntercept, RN_VR_DS, "-10", NULL), 0);
    assert_int_equal(rn_dataset_set_string(ds, RN_TAG_WindowCenter, RN_VR_DS, "0\\300", NULL), 0);
    assert_int_equal(rn_dataset_set_string(ds, RN_TAG_WindowWidth, RN_VR_DS, "101\\800", NULL), 0);
    return ds;
}

static void test_dataset_render(void **state)
{
    (void)state;
    RnDataset *ds = mono_dataset("MONOCHROME2");
    RnImageInfo info;
    RnError err = {0};
    assert_int_equal(rn_image_info_from_dataset(ds, &info, &err), 0);
    uint8_t frame[12];
    six_pixels(frame);
    RnRendered img;
    int rc = rn_pixel_render(ds, &info, frame, 12, &img, &err);
    if (rc)
        print_error("%s\n", err.message);
    assert_int_equal(rc, 0);
    assert_int_equal(img.channels, 1);
    assert_int_equal(img.width, 6);
    const uint8_t want[6] = {0, 52, 103, 154, 255, 255};
    assert_memory_equal(img.pixels, want, 6);
    rn_rendered_free(&img);

    float hu[6];
    assert_int_equal(rn_pixel_modality(ds, &info, frame, 12, hu, &err), 0);
    assert_true(hu[0] == -2010.0f && hu[4] == 110.0f);

    /* LINEAR_EXACT: c = 0, w = 101: (x/101 + 0.5)*255 for -30 -10 10 */
    assert_int_equal(
        rn_dataset_set_string(ds, RN_TAG_VOILUTFunction, RN_VR_CS, "LINEAR_EXACT", NULL), 0);
    assert_int_equal(rn_pixel_render(ds, &info, frame, 12, &img, &err), 0);
    assert_int_equal(img.pixels[1], (int)floor((-30.0 / 101 + 0.5) * 255 + 0.5)); /* 52 */
    assert_int_equal(img.pixels[2], (int)floor((-10.0 / 101 + 0.5) * 255 + 0.5)); /* 102 */
    assert_int_equal(img.pixels[3], (int)floor((10.0 / 101 + 0.5) * 255 + 0.5));  /* 153 */
    rn_rendered_free(&img);

    /* MONOCHROME1, an invalid window (width 0) falls back to min/max */
    rn_dataset_destroy(ds);
    ds = mono_dataset("MONOCHROME1");
    assert_int_equal(rn_dataset_set_string(ds, RN_TAG_WindowWidth, RN_VR_DS, "0", NULL), 0);
    assert_int_equal(rn_image_info_from_dataset(ds, &info, &err), 0);
    assert_int_equal(rn_pixel_render(ds, &info, frame, 12, &img, &err), 0);
    assert_int_equal(img.pixels[0], 255); /* minimum, inverted */
    assert_int_equal(img.pixels[5], 0);
    /* -10 -> (-10 + 2010) / 4000 * 255 = 127.5 -> 128, inverted 127 */
    assert_int_equal(img.pixels[2], 127);

    char path[] = "/tmp/rn_render_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(rn_png_write(path, &img, &err), 0);
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    assert_true(png_image_begin_read_from_file(&pi, path));
    assert_int_equal(pi.width, 6);
    assert_int_equal(pi.height, 1);
    pi.format = PNG_FORMAT_GRAY;
    uint8_t back[6];
    assert_true(png_image_finish_read(&pi, NULL, back, 6, NULL));
    assert_memory_equal(back, img.pixels, 6);
    unlink(path);
    rn_rendered_free(&img);
    rn_dataset_destroy(ds);
}

static void test_dataset_palette(void **state)
{
    (void)state;
    RnDataset *ds = rn_dataset_create();
    assert_int_equal(rn_dataset_set_uint(ds, RN_TAG_Rows, RN_VR_US, 1, NULL), 0);
    assert_int_equal(rn_dataset_set_uint(ds, RN_TAG_Columns, RN_VR_US, 3, NULL), 0);
    assert_int_equal(rn_dataset_set_uint(ds, RN_TAG_SamplesPerPixel, RN_VR_US, 1, NULL), 0);
    assert_int_equal(rn_dataset_set_uint(ds, RN_TAG_BitsAllocated, RN_VR_US, 8, NULL), 0);
    assert_int_equal(rn_dataset_set_uint(ds, RN_TAG_BitsStored, RN_VR_US, 8, NULL), 0);
    assert_int_equal(rn_dataset_set_string(ds, RN_TAG_PhotometricInterpretation, RN_VR_CS,
                                           "PALETTE COLOR", NULL),
                     0);
    uint8_t desc[6];
    rn_wr16le(desc, 3); /* 3 entries, first mapped 0, 16 bits */
    rn_wr16le(desc + 2, 0);
    rn_wr16le(desc + 4, 16);
    const RnTag dtags[3] = {RN_TAG_RedPaletteColorLookupTableDescriptor,
                            RN_TAG_GreenPaletteColorLookupTableDescriptor,
                            RN_TAG_BluePaletteColorLookupTableDescriptor};
    for (int c = 0; c < 3; c++)
        assert_int_equal(rn_dataset_set_bytes(ds, dtags[c], RN_VR_US, desc, 6, NULL), 0);
    uint8_t red[6], green[6];
    for (int i = 0; i < 3; i++) {
        rn_wr16le(red + 2 * i, (uint16_t)(0x4000 * (i + 1)));
        rn_wr16le(green + 2 * i, (uint16_t)(0xFFFF - 0x4000 * i));
    }
    assert_int_equal(
        rn_dataset_set_bytes(ds, RN_TAG_RedPaletteColorLookupTableData, RN_VR_OW, red, 6, NULL), 0);
    assert_int_equal(
        rn_dataset_set_bytes(ds, RN_TAG_GreenPaletteColorLookupTableData, RN_VR_OW, green, 6, NULL),
        0);
    /* blue as a segmented table: discrete 0, linear to 0x8000 in 2 steps */
    uint8_t seg[12];
    const uint16_t words[6] = {0, 1, 0, 1, 2, 0x8000};
    for (int i = 0; i < 6; i++)
        rn_wr16le(seg + 2 * i, words[i]);
    assert_int_equal(rn_dataset_set_bytes(ds, RN_TAG(0x0028, 0x1223), RN_VR_OW, seg, 12, NULL), 0);
    RnImageInfo info;
    RnError err = {0};
    assert_int_equal(rn_image_info_from_dataset(ds, &info, &err), 0);
    const uint8_t idx[3] = {0, 1, 2};
    RnRendered img;
    int rc = rn_pixel_render(ds, &info, idx, 3, &img, &err);
    if (rc)
        print_error("%s\n", err.message);
    assert_int_equal(rc, 0);
    assert_int_equal(img.channels, 3);
    const uint8_t want[9] = {0x40, 0xFF, 0x00, 0x80, 0xBF, 0x40, 0xC0, 0x7F, 0x80};
    assert_memory_equal(img.pixels, want, 9);
    rn_rendered_free(&img);
    /* without the blue table at all: a clear error */
    assert_int_equal(rn_dataset_remove(ds, RN_TAG(0x0028, 0x1223)), 0);
    assert_int_equal(rn_pixel_render(ds, &info, idx, 3, &img, &err), RN_ERR_NOT_FOUND);
    assert_non_null(strstr(err.message, "Blue"));
    rn_dataset_destroy(ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_functions), cmocka_unit_test(test_rescale_window_invert),
        cmocka_unit_test(test_min_max_and_luts), cmocka_unit_test(test_segmented),
        cmocka_unit_test(test_colour),           cmocka_unit_test(test_dataset_render),
        cmocka_unit_test(test_dataset_palette),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
