/*
 * Internal helpers shared by the HL7 source files (not part of the public
 * API): span-based access to encoded fields, used by the message model and the
 * acknowledgment code.
 */
#ifndef RN_HL7_INTERNAL_H
#define RN_HL7_INTERNAL_H

#include "radnode/hl7.h"

/* A borrowed slice of encoded text. */
typedef struct Hl7Span {
    const char *p;
    size_t len;
} Hl7Span;

/* The k-th (1-based) piece of s split on delim; an empty span when absent. */
Hl7Span rn_hl7_span_piece(Hl7Span s, char delim, size_t k);
/* Number of pieces of s split on delim (0 for an empty span). */
size_t rn_hl7_span_count(Hl7Span s, char delim);

/* Appends the decoded value of a (field, rep, comp, sub) address of a raw field. */
int rn_hl7_decode_at(const RnHl7Encoding *enc, const char *raw, size_t rep, size_t comp, size_t sub,
                     RnBuf *out, RnError *err);

/* Sets a field by numeric address in segment `index` (used by builders; value is
 * escaped). comp/sub 0 mean 1. */
int rn_hl7_set_at(RnHl7Message *msg, size_t index, size_t field, size_t rep, size_t comp,
                  size_t sub, const char *value, RnError *err);
/* Index of the occurrence-th segment called name, or (size_t)-1. */
size_t rn_hl7_segment_find(const RnHl7Message *msg, const char *name, size_t occurrence);

#endif
