/*
 * Character sets (PS3.5 6.1, Annexes E, H, I, J, K): converts the bytes of
 * text-valued elements between a dataset's Specific Character Set (0008,0005)
 * and UTF-8, including ISO 2022 code extensions with escape sequences.
 */
#ifndef RADNODE_CHARSET_H
#define RADNODE_CHARSET_H

#include "radnode/dicom.h"

/* specific_charset: the raw value of (0008,0005), possibly multi-valued with
 * backslashes ("ISO 2022 IR 6\ISO 2022 IR 87"); NULL or "" means the default
 * repertoire (ISO_IR 6). vr: the element's VR (PN and multi-valued VRs reset
 * ISO 2022 state at '^', '=', '\\' delimiters; LT/ST/UT at CR/LF/FF/TAB).
 * Returns a newly allocated NUL-terminated UTF-8 string (caller frees) and its
 * length in *out_len (nullable). Undecodable bytes are replaced by U+FFFD and
 * never cause failure; an unknown charset term is an RN_ERR_UNSUPPORTED error. */
char *rn_charset_decode(const char *specific_charset, RnVR vr, const uint8_t *bytes, size_t len,
                        size_t *out_len, RnError *err);

/* Encodes UTF-8 into the dataset's character set (appending to out). With ISO
 * 2022 extensions it chooses escape sequences as needed and returns to the
 * initial code element before every delimiter and at the end. Characters that
 * the character set cannot represent give RN_ERR_UNSUPPORTED. */
int rn_charset_encode(const char *specific_charset, RnVR vr, const char *utf8, RnBuf *out,
                      RnError *err);

/* True if every term of the (possibly multi-valued) Specific Character Set is supported. */
bool rn_charset_is_supported(const char *specific_charset);

#endif
