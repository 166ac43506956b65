/*
 * Internal interface between the codec registry (codec.c) and the individual
 * codecs. Every frame decoder has the signature of rn_codec_decode_frame
 * (see include/radnode/codec.h for the output layout and the dst == NULL
 * "describe only" call).
 */
#ifndef RN_CODEC_INTERNAL_H
#define RN_CODEC_INTERNAL_H

#include "radnode/codec.h"

typedef int (*RnFrameDecoder)(const RnImageInfo *in, const uint8_t *src, size_t len, uint8_t *dst,
                              size_t dst_len, RnImageInfo *out, RnError *err);
typedef int (*RnFrameEncoder)(const RnImageInfo *info, const uint8_t *src, size_t len, RnBuf *out,
                              RnError *err);

/* jpeg.c / jpeg_lossless.c / jpeg12.c: any ISO 10918-1 stream: baseline and
 * extended 8-bit (libjpeg-turbo), extended 12-bit and lossless processes 14
 * (any predictor, SV1 included) decoded by radnode's own code. Dispatches on
 * the SOF marker, so a stream is decoded whatever the transfer syntax says. */
int rn_jpeg_decode(const RnImageInfo *in, const uint8_t *src, size_t len, uint8_t *dst,
                   size_t dst_len, RnImageInfo *out, RnError *err);
/* JPEG Lossless, Non-Hierarchical, First-Order Prediction (process 14, SV1). */
int rn_jpeg_lossless_encode(const RnImageInfo *info, const uint8_t *src, size_t len, RnBuf *out,
                            RnError *err);

/* rle.c: PS3.5 Annex G */
int rn_rle_decode(const RnImageInfo *in, const uint8_t *src, size_t len, uint8_t *dst,
                  size_t dst_len, RnImageInfo *out, RnError *err);
int rn_rle_encode(const RnImageInfo *info, const uint8_t *src, size_t len, RnBuf *out,
                  RnError *err);
/* jpegls.c: CharLS */
int rn_jpegls_decode(const RnImageInfo *in, const uint8_t *src, size_t len, uint8_t *dst,
                     size_t dst_len, RnImageInfo *out, RnError *err);
/* j2k.c: OpenJPEG (J2K codestream or JP2) */
int rn_j2k_decode(const RnImageInfo *in, const uint8_t *src, size_t len, uint8_t *dst,
                  size_t dst_len, RnImageInfo *out, RnError *err);
/* native.c: uncompressed frames (byte swap for big endian, planar 1 -> 0, 1-bit unpack kept packed) */
int rn_native_decode(const RnImageInfo *in, bool big_endian, const uint8_t *src, size_t len,
                     uint8_t *dst, size_t dst_len, RnImageInfo *out, RnError *err);

#endif
