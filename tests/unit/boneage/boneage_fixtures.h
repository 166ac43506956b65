/*
 * Test fixtures shared by the bone-age unit tests: a synthetic hand-like
 * radiograph (forearm leaving by the bottom edge, palm, four fingers up, a
 * thumb apart on the image's right as for a left hand seen PA), a smooth
 * chest-like gradient (not a hand), and a writer of minimal DX Part 10 files
 * (8-bit MONOCHROME2/1, or 12-bit in 16-bit words with a window).
 */
#ifndef RN_TEST_BONEAGE_FIXTURES_H
#define RN_TEST_BONEAGE_FIXTURES_H

#include "analyzers/boneage/boneage_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HAND_W 400u
#define HAND_H 520u

static inline void fill_rect(uint8_t *p, uint32_t w, int x0, int y0, int x1, int y1, uint8_t v)
{
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++)
            p[(size_t)y * w + x] = v;
}

/* A left hand, PA, fingers up, into a HAND_W x HAND_H buffer. */
static inline void synth_hand(uint8_t *p)
{
    for (uint32_t y = 0; y < HAND_H; y++)
        for (uint32_t x = 0; x < HAND_W; x++)
            p[(size_t)y * HAND_W + x] = (uint8_t)(10 + (x * 31 + y * 17) % 5);
    const uint8_t tissue = 110, bone = 185;
    fill_rect(p, HAND_W, 150, 380, 250, HAND_H - 1, tissue); /* forearm to the bottom edge */
    fill_rect(p, HAND_W, 120, 230, 280, 390, tissue);        /* palm */
    const int cx[4] = {132, 180, 226, 268}, top[4] = {110, 70, 80, 120};
    for (int f = 0; f < 4; f++) {
        fill_rect(p, HAND_W, cx[f] - 12, top[f], cx[f] + 12, 235, tissue);
        for (int seg = top[f] + 6; seg < 380; seg += 44) /* phalanges and metacarpals */
            fill_rect(p, HAND_W, cx[f] - 5, seg, cx[f] + 5, seg + 36 < 380 ? seg + 36 : 380, bone);
    }
    fill_rect(p, HAND_W, 300, 180, 332, 330, tissue); /* thumb, apart from the palm */
    fill_rect(p, HAND_W, 280, 290, 332, 330, tissue); /* its base joins the palm */
    for (int seg = 186; seg < 320; seg += 44)
        fill_rect(p, HAND_W, 311, seg, 321, seg + 36, bone);
    fill_rect(p, HAND_W, 170, 400, 190, HAND_H - 1, bone); /* radius */
    fill_rect(p, HAND_W, 210, 400, 228, HAND_H - 1, bone); /* ulna */
}

/* Smooth bright blob on a dark field: a chest-like gradient, no fingers. */
static inline void synth_gradient(uint8_t *p, uint32_t w, uint32_t h)
{
    for (uint32_t y = 0; y < h; y++)
        for (uint32_t x = 0; x < w; x++) {
            double dx = ((double)x - w / 2.0) / (w * 0.42), dy = ((double)y - h / 2.0) / (h * 0.45);
            p[(size_t)y * w + x] = (uint8_t)(30 + 160 * exp(-(dx * dx + dy * dy)));
        }
}

enum { DICOM_MONO2_8 = 0, DICOM_MONO1_8, DICOM_WINDOW_12 };

/* Writes a DX Part 10 file from 8-bit pixels. sex / birth may be NULL. */
static inline int write_dx(const char *path, const uint8_t *px, uint32_t w, uint32_t h, int kind,
                           const char *sex, const char *birth, const char *age)
{
    RnError e = {0};
    RnDataset *ds = rn_dataset_create();
    char uid[RN_UID_MAX + 1];
    if (!ds)
        return -1;
    rn_dataset_set_string(ds, RN_TAG_SOPClassUID, RN_VR_UI, "1.2.840.10008.5.1.4.1.1.1.1", &e);
    rn_uid_generate(uid);
    rn_dataset_set_string(ds, RN_TAG_SOPInstanceUID, RN_VR_UI, uid, &e);
    rn_uid_generate(uid);
    rn_dataset_set_string(ds, RN_TAG_StudyInstanceUID, RN_VR_UI, uid, &e);
    rn_uid_generate(uid);
    rn_dataset_set_string(ds, RN_TAG_SeriesInstanceUID, RN_VR_UI, uid, &e);
    rn_dataset_set_string(ds, RN_TAG_Modality, RN_VR_CS, "DX", &e);
    rn_dataset_set_string(ds, RN_TAG_PatientID, RN_VR_LO, "BA-UNIT", &e);
    rn_dataset_set_string(ds, RN_TAG_StudyDate, RN_VR_DA, "20240115", &e);
    if (sex)
        rn_dataset_set_string(ds, RN_TAG_PatientSex, RN_VR_CS, sex, &e);
    if (birth)
        rn_dataset_set_string(ds, RN_TAG_PatientBirthDate, RN_VR_DA, birth, &e);
    if (age)
        rn_dataset_set_string(ds, RN_TAG_PatientAge, RN_VR_AS, age, &e);
    rn_dataset_set_uint(ds, RN_TAG_SamplesPerPixel, RN_VR_US, 1, &e);
    rn_dataset_set_string(ds, RN_TAG_PhotometricInterpretation, RN_VR_CS,
                          kind == DICOM_MONO1_8 ? "MONOCHROME1" : "MONOCHROME2", &e);
    rn_dataset_set_uint(ds, RN_TAG_Rows, RN_VR_US, h, &e);
    rn_dataset_set_uint(ds, RN_TAG_Columns, RN_VR_US, w, &e);
    rn_dataset_set_uint(ds, RN_TAG_PixelRepresentation, RN_VR_US, 0, &e);
    size_t n = (size_t)w * h;
    int rc;
    if (kind == DICOM_WINDOW_12) {
        rn_dataset_set_uint(ds, RN_TAG_BitsAllocated, RN_VR_US, 16, &e);
        rn_dataset_set_uint(ds, RN_TAG_BitsStored, RN_VR_US, 12, &e);
        rn_dataset_set_uint(ds, RN_TAG_HighBit, RN_VR_US, 11, &e);
        rn_dataset_set_string(ds, RN_TAG_WindowCenter, RN_VR_DS, "2048", &e);
        rn_dataset_set_string(ds, RN_TAG_WindowWidth, RN_VR_DS, "4096", &e);
        uint8_t *v = malloc(2 * n);
        for (size_t i = 0; i < n; i++)
            rn_wr16le(v + 2 * i, (uint16_t)(px[i] * 16 + 8));
        rc = rn_dataset_set_bytes(ds, RN_TAG_PixelData, RN_VR_OW, v, 2 * n, &e);
        free(v);
    } else {
        rn_dataset_set_uint(ds, RN_TAG_BitsAllocated, RN_VR_US, 8, &e);
        rn_dataset_set_uint(ds, RN_TAG_BitsStored, RN_VR_US, 8, &e);
        rn_dataset_set_uint(ds, RN_TAG_HighBit, RN_VR_US, 7, &e);
        uint8_t *v = malloc(n);
        for (size_t i = 0; i < n; i++)
            v[i] = kind == DICOM_MONO1_8 ? (uint8_t)(255 - px[i]) : px[i];
        rc = rn_dataset_set_bytes(ds, RN_TAG_PixelData, RN_VR_OB, v, n, &e);
        free(v);
    }
    if (rc < 0) {
        rn_dataset_destroy(ds);
        return -1;
    }
    RnDicomFile *f = rn_dicom_file_create_take(ds, "1.2.840.10008.1.2.1", &e);
    if (!f) {
        rn_dataset_destroy(ds);
        return -1;
    }
    rc = rn_dicom_write_file(f, path, NULL, &e);
    if (rc < 0)
        fprintf(stderr, "write_dx: %s\n", e.message);
    rn_dicom_file_destroy(f);
    return rc;
}

#endif
