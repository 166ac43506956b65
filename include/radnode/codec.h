/*
 * Pixel data codecs (PS3.5 8 and Annex A.4): decoding every frame of native
 * and encapsulated Pixel Data to native samples, encoding RLE and JPEG
 * Lossless SV1 for radnode's own outputs, and the display pipeline (Modality
 * LUT, VOI LUT / window, MONOCHROME1 inversion, palette colour) to 8-bit.
 *
 * The decoded layout is the one of uncompressed Pixel Data in Explicit VR
 * Little Endian: samples of bits_allocated bits, little-endian, interleaved
 * (planar configuration 0), rows*columns*samples per frame.
 */
#ifndef RADNODE_CODEC_H
#define RADNODE_CODEC_H

#include "radnode/dicom.h"

/* True if radnode can decode pixel data in this transfer syntax. */
bool rn_codec_can_decode(const char *ts_uid);
bool rn_codec_can_encode(const char *ts_uid);

/* Decodes one frame (src/len = rn_dicom_file_frame output) into dst, which must
 * hold rn_image_frame_size(out) bytes where *out is the decoded image's
 * description (equal to *in except photometric, which may change, e.g.
 * YBR_FULL_422 JPEG -> RGB, and planar_configuration, always 0). Call with
 * dst == NULL to learn *out and the size only. */
int rn_codec_decode_frame(const char *ts_uid, const RnImageInfo *in, const uint8_t *src, size_t len,
                          uint8_t *dst, size_t dst_len, RnImageInfo *out, RnError *err);

/* Encodes one native frame (layout as above) into out. */
int rn_codec_encode_frame(const char *ts_uid, const RnImageInfo *info, const uint8_t *src,
                          size_t len, RnBuf *out, RnError *err);

/* Decodes all frames of a file into one newly allocated buffer (caller frees),
 * native layout; *out gets the decoded image description. */
uint8_t *rn_pixel_decode_all(RnDicomFile *f, RnImageInfo *out, size_t *len, RnError *err);
/* Decodes one frame (0-based) into a new buffer. */
uint8_t *rn_pixel_decode_frame(RnDicomFile *f, uint32_t frame, RnImageInfo *out, size_t *len,
                               RnError *err);

/* Display pipeline for one decoded frame: monochrome -> Modality LUT
 * (rescale or LUT sequence) -> VOI (window from the dataset, VOI LUT sequence,
 * or min/max when none) -> MONOCHROME1 inverted -> 8-bit gray (channels 1);
 * colour (RGB, YBR_*, PALETTE COLOR) -> 8-bit RGB (channels 3). */
typedef struct RnRendered {
    uint32_t width, height, channels;
    uint8_t *pixels; /* width*height*channels, owned */
} RnRendered;
int rn_pixel_render(const RnDataset *ds, const RnImageInfo *info, const uint8_t *frame,
                    size_t frame_len, RnRendered *out, RnError *err);
void rn_rendered_free(RnRendered *r);
int rn_png_write(const char *path, const RnRendered *img, RnError *err);

/* Modality LUT on one decoded frame (monochrome), giving float values (e.g. HU).
 * out holds rows*columns floats. */
int rn_pixel_modality(const RnDataset *ds, const RnImageInfo *info, const uint8_t *frame,
                      size_t frame_len, float *out, RnError *err);

#endif
