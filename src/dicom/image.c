/*
 * Image Pixel module (PS3.3 C.7.6.3) and frame access: describes the pixel
 * data of a dataset and hands out the stored bytes of one frame, native
 * (PS3.5 8.1.1) or encapsulated (PS3.5 A.4: basic offset table, extended
 * offset table, one fragment per frame, or frames found by their start
 * markers when neither table says).
 */
#include "dicom/dataset_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int get_u(const RnDataset *ds, RnTag tag, uint32_t *out, uint32_t dflt, bool required,
                 RnError *err)
{
    int64_t v;
    if (!rn_dataset_has(ds, tag)) {
        if (required)
            return rn_error_set(err, RN_ERR_NOT_FOUND, "image attribute (%04X,%04X) missing",
                                RN_TAG_GROUP(tag), RN_TAG_ELEMENT(tag));
        *out = dflt;
        return 0;
    }
    int rc = rn_dataset_get_int(ds, tag, 0, &v, err);
    if (rc) {
        if (!required) {
            *out = dflt;
            return 0;
        }
        return rc;
    }
    if (v < 0 || v > 0xFFFFFFFFll)
        return rn_error_set(err, RN_ERR_PARSE, "image attribute (%04X,%04X) value %lld out of range",
                            RN_TAG_GROUP(tag), RN_TAG_ELEMENT(tag), (long long)v);
    *out = (uint32_t)v;
    return 0;
}

int rn_image_info_from_dataset(const RnDataset *ds, RnImageInfo *info, RnError *err)
{
    memset(info, 0, sizeof *info);
    int rc = get_u(ds, RN_TAG_Rows, &info->rows, 0, true, err);
    if (!rc)
        rc = get_u(ds, RN_TAG_Columns, &info->columns, 0, true, err);
    if (!rc)
        rc = get_u(ds, RN_TAG_BitsAllocated, &info->bits_allocated, 0, true, err);
    if (!rc)
        rc = get_u(ds, RN_TAG_SamplesPerPixel, &info->samples_per_pixel, 1, false, err);
    if (!rc)
        rc = get_u(ds, RN_TAG_BitsStored, &info->bits_stored, info->bits_allocated, false, err);
    if (!rc)
        rc = get_u(ds, RN_TAG_HighBit, &info->high_bit,
                   info->bits_stored ? info->bits_stored - 1 : 0, false, err);
    if (!rc)
        rc = get_u(ds, RN_TAG_PixelRepresentation, &info->pixel_representation, 0, false, err);
    if (!rc)
        rc = get_u(ds, RN_TAG_PlanarConfiguration, &info->planar_configuration, 0, false, err);
    if (!rc)
        rc = get_u(ds, RN_TAG_NumberOfFrames, &info->number_of_frames, 1, false, err);
    if (rc)
        return rc;
    if (info->number_of_frames == 0)
        info->number_of_frames = 1;
    if (rn_dataset_get_string(ds, RN_TAG_PhotometricInterpretation, 0, info->photometric,
                              sizeof info->photometric, NULL) != 0)
        snprintf(info->photometric, sizeof info->photometric, "%s",
                 info->samples_per_pixel == 3 ? "RGB" : "MONOCHROME2");
    if (info->rows == 0 || info->columns == 0)
        return rn_error_set(err, RN_ERR_PARSE, "image has %u rows and %u columns", info->rows,
                            info->columns);
    if (info->bits_allocated != 1 && info->bits_allocated != 8 && info->bits_allocated != 16 &&
        info->bits_allocated != 32 && info->bits_allocated != 64)
        return rn_error_set(err, RN_ERR_UNSUPPORTED, "Bits Allocated %u is not supported",
                            info->bits_allocated);
    if (info->bits_stored == 0 || info->bits_stored > info->bits_allocated)
        return rn_error_set(err, RN_ERR_PARSE, "Bits Stored %u does not fit Bits Allocated %u",
                            info->bits_stored, info->bits_allocated);
    if (info->samples_per_pixel != 1 && info->samples_per_pixel != 3 &&
        info->samples_per_pixel != 4)
        return rn_error_set(err, RN_ERR_UNSUPPORTED, "Samples per Pixel %u is not supported",
                            info->samples_per_pixel);
    return 0;
}

size_t rn_image_frame_size(const RnImageInfo *info)
{
    uint64_t bits = (uint64_t)info->rows * info->columns * info->samples_per_pixel *
                    info->bits_allocated;
    if (bits / 8 > SIZE_MAX / 2)
        return 0;
    return (size_t)((bits + 7) / 8);
}

/* Frame boundaries inside encapsulated pixel data, as fragment index ranges. */
static int frame_fragments(const RnDataset *ds, const RnElement *px, uint32_t index, uint32_t nframes,
                           size_t *first, size_t *last, RnError *err)
{
    size_t nfrag = px->frag_count > 0 ? px->frag_count - 1 : 0; /* minus offset table */
    if (nfrag == 0)
        return rn_error_set(err, RN_ERR_PARSE, "encapsulated pixel data has no fragments");
    /* Positions of each fragment (offset of its item tag from the first fragment). */
    const RnElement *eot = rn_dataset_get(ds, RN_TAG_ExtendedOffsetTable);
    const RnFragment *bot = &px->frags[0];
    uint64_t *pos = rn_malloc(nfrag * sizeof *pos);
    if (!pos)
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    uint64_t off = 0;
    for (size_t i = 0; i < nfrag; i++) {
        pos[i] = off;
        off += 8 + (uint64_t)px->frags[i + 1].len;
    }
    int rc = 0;
    uint64_t start = 0, end = UINT64_MAX;
    bool by_offset = false;
    if (eot && eot->value && eot->value_len >= (size_t)nframes * 8 && !eot->big_endian) {
        start = rn_rd64le(eot->value + (size_t)index * 8);
        if (index + 1 < nframes)
            end = rn_rd64le(eot->value + (size_t)(index + 1) * 8);
        by_offset = true;
    } else if (bot->len >= nframes * 4 && bot->len > 0) {
        start = rn_rd32le(bot->data + (size_t)index * 4);
        if (index + 1 < nframes)
            end = rn_rd32le(bot->data + (size_t)(index + 1) * 4);
        by_offset = true;
    }
    if (by_offset) {
        size_t f = 0;
        while (f < nfrag && pos[f] != start)
            f++;
        if (f == nfrag) {
            rc = rn_error_set(err, RN_ERR_PARSE,
                              "offset table entry %llu for frame %u does not start a fragment",
                              (unsigned long long)start, index + 1);
        } else {
            size_t l = f;
            while (l + 1 < nfrag && pos[l + 1] < end)
                l++;
            *first = f;
            *last = l;
        }
    } else if (nframes == 1) {
        *first = 0;
        *last = nfrag - 1;
    } else if (nfrag == nframes) {
        *first = *last = index;
    } else {
        /* No table: a frame starts with a fragment that starts with a JPEG SOI
         * (FFD8, also JPEG-LS) or a J2K SOC (FF4F) marker. */
        uint32_t k = 0;
        size_t f = 0;
        bool found = false;
        for (size_t i = 0; i < nfrag; i++) {
            const RnFragment *fr = &px->frags[i + 1];
            bool starts = fr->len >= 2 && fr->data[0] == 0xFF &&
                          (fr->data[1] == 0xD8 || fr->data[1] == 0x4F);
            if (starts && i > 0)
                k++;
            if (k == index && !found) {
                f = i;
                found = true;
            }
            if (k == index)
                *last = i;
        }
        if (!found)
            rc = rn_error_set(err, RN_ERR_PARSE, "frame %u not found among %zu fragments",
                              index + 1, nfrag);
        *first = f;
    }
    free(pos);
    return rc;
}

int rn_dicom_file_frame(RnDicomFile *f, uint32_t index, const uint8_t **data, size_t *len,
                        bool *owned, RnError *err)
{
    RnDataset *ds = rn_dicom_file_dataset(f);
    RnImageInfo info;
    int rc = rn_image_info_from_dataset(ds, &info, err);
    if (rc)
        return rc;
    if (index >= info.number_of_frames)
        return rn_error_set(err, RN_ERR_INVALID, "frame %u requested, the image has %u", index + 1,
                            info.number_of_frames);
    const RnElement *px = rn_dataset_get(ds, RN_TAG_PixelData);
    if (!px)
        px = rn_dataset_get(ds, RN_TAG_FloatPixelData);
    if (!px)
        px = rn_dataset_get(ds, RN_TAG_DoubleFloatPixelData);
    if (!px)
        return rn_error_set(err, RN_ERR_NOT_FOUND, "no Pixel Data element");
    *owned = false;
    if (!px->encapsulated) {
        size_t fsz = rn_image_frame_size(&info);
        /* PS3.3 C.7.6.3.1.2: native YBR_FULL_422 stores two luminance and one
         * pair of chrominance samples per two pixels: 2 samples per pixel. */
        if (!strcmp(info.photometric, "YBR_FULL_422") && info.samples_per_pixel == 3 &&
            info.bits_allocated >= 8)
            fsz = fsz / 3 * 2;
        if (fsz == 0)
            return rn_error_set(err, RN_ERR_LIMIT, "frame size overflows");
        if (info.bits_allocated == 1) {
            /* 1-bit frames are packed back to back and need not start on a byte. */
            uint64_t nbits = (uint64_t)info.rows * info.columns * info.samples_per_pixel;
            uint64_t first_bit = nbits * index;
            if ((first_bit + nbits + 7) / 8 > px->value_len)
                return rn_error_set(err, RN_ERR_TRUNCATED,
                                    "Pixel Data holds %zu bytes, frame %u needs bits up to %llu",
                                    px->value_len, index + 1,
                                    (unsigned long long)(first_bit + nbits));
            uint8_t *out = rn_calloc(1, fsz);
            if (!out)
                return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
            for (uint64_t b = 0; b < nbits; b++) {
                uint64_t s = first_bit + b;
                if (px->value[s / 8] >> (s % 8) & 1)
                    out[b / 8] |= (uint8_t)(1u << (b % 8));
            }
            *data = out;
            *len = fsz;
            *owned = true;
            return 0;
        }
        uint64_t start = (uint64_t)fsz * index;
        if (start + fsz > px->value_len)
            return rn_error_set(err, RN_ERR_TRUNCATED,
                                "Pixel Data holds %zu bytes, frame %u needs %llu", px->value_len,
                                index + 1, (unsigned long long)(start + fsz));
        *data = px->value + start;
        *len = fsz;
        return 0;
    }
    size_t first = 0, last = 0;
    rc = frame_fragments(ds, px, index, info.number_of_frames, &first, &last, err);
    if (rc)
        return rc;
    if (first == last) {
        *data = px->frags[first + 1].data;
        *len = px->frags[first + 1].len;
        return 0;
    }
    RnBuf b = {0};
    for (size_t i = first; i <= last; i++)
        if (rn_buf_append(&b, px->frags[i + 1].data, px->frags[i + 1].len)) {
            rn_buf_free(&b);
            return rn_error_set(err, RN_ERR_NOMEM, "out of memory joining fragments");
        }
    *data = rn_buf_take(&b, len);
    *owned = true;
    return 0;
}
