/*
 * CharLS, opened on first use: only JPEG-LS decoding needs it, and linking it
 * brought libstdc++ and libgcc_s into every radnode process, whose loading,
 * symbol relocation and C++ start-up were a visible part of the start time
 * that bench/bench_dicom.sh measures against DCMTK (issue 2).
 * Every use in src/codec/jpegls.c goes through rn_charls, bound on first use
 * by rn_charls_load() (src/core/lazylib.c).
 */
#ifndef RN_CODEC_CHARLS_LAZY_H
#define RN_CODEC_CHARLS_LAZY_H

#include "radnode/core.h"

#include <charls/charls.h>

#define RN_CHARLS_FUNCS(X) \
    X(charls_get_error_message) \
    X(charls_jpegls_decoder_create) \
    X(charls_jpegls_decoder_decode_to_buffer) \
    X(charls_jpegls_decoder_destroy) \
    X(charls_jpegls_decoder_get_destination_size) \
    X(charls_jpegls_decoder_get_frame_info) \
    X(charls_jpegls_decoder_get_interleave_mode) \
    X(charls_jpegls_decoder_read_header) \
    X(charls_jpegls_decoder_set_source_buffer)

typedef struct RnCharlsApi {
#define RN_LAZY_SLOT(f) __typeof__(f) *f;
    RN_CHARLS_FUNCS(RN_LAZY_SLOT)
#undef RN_LAZY_SLOT
} RnCharlsApi;
extern RnCharlsApi rn_charls;

/* Binds libcharls.so.2 (once); 0 when ready, else an error naming the problem. */
int rn_charls_load(RnError *err);

#ifndef RN_CODEC_CHARLS_LAZY_H_IMPL
#define charls_get_error_message (rn_charls.charls_get_error_message)
#define charls_jpegls_decoder_create (rn_charls.charls_jpegls_decoder_create)
#define charls_jpegls_decoder_decode_to_buffer (rn_charls.charls_jpegls_decoder_decode_to_buffer)
#define charls_jpegls_decoder_destroy (rn_charls.charls_jpegls_decoder_destroy)
#define charls_jpegls_decoder_get_destination_size \
    (rn_charls.charls_jpegls_decoder_get_destination_size)
#define charls_jpegls_decoder_get_frame_info (rn_charls.charls_jpegls_decoder_get_frame_info)
#define charls_jpegls_decoder_get_interleave_mode \
    (rn_charls.charls_jpegls_decoder_get_interleave_mode)
#define charls_jpegls_decoder_read_header (rn_charls.charls_jpegls_decoder_read_header)
#define charls_jpegls_decoder_set_source_buffer (rn_charls.charls_jpegls_decoder_set_source_buffer)
#endif

#endif
