/*
 * Private layout of datasets and elements, shared by dataset.c (the in-memory
 * model and typed access), parse.c (decoding PS3.5 7 byte streams) and
 * write.c (encoding). Nothing outside src/dicom includes this.
 */
#ifndef RN_DATASET_INTERNAL_H
#define RN_DATASET_INTERNAL_H

#include "radnode/dicom.h"

typedef struct RnFragment {
    const uint8_t *data; /* owned unless borrowed */
    uint32_t len;
    bool borrowed;       /* points into the file's backing memory (lazy) */
} RnFragment;

struct RnElement {
    RnTag tag;
    RnVR vr;
    uint32_t length;     /* as encoded; RN_UNDEFINED_LENGTH for undefined */
    bool big_endian;     /* byte order of value */
    bool borrowed;       /* value points into the file's backing memory (lazy) */
    bool un_sequence;    /* read as UN of undefined length (implicit VR LE items inside,
                            PS3.5 6.2.2); written back the same way in explicit VR */
    const uint8_t *value;
    size_t value_len;
    /* SQ */
    RnDataset **items;
    size_t item_count, item_cap;
    /* encapsulated pixel data (undefined-length OB/OW/UN at 7FE0,0010) */
    bool encapsulated;
    RnFragment *frags;
    size_t frag_count, frag_cap;
};

struct RnDataset {
    RnElement *elems;
    size_t count, cap;
    bool unsorted;        /* tags not in ascending order as read (kept as read) */
    RnDataset *parent;
    bool item_undefined;  /* item encoded with undefined length (round trip) */
    char *charset;        /* this dataset's own (0008,0005), NULL if absent */
};

void rn_element_clear(RnElement *el);
/* Appends an element at the end (parser: file order). Takes the element's contents. */
int rn_dataset_append_raw(RnDataset *ds, RnElement *el);
/* Finds the index of tag or -1. */
long rn_dataset_find_index(const RnDataset *ds, RnTag tag);
/* Inserts or replaces, returning the element slot (contents cleared for reuse). */
RnElement *rn_dataset_slot(RnDataset *ds, RnTag tag, RnError *err);
int rn_element_append_item(RnElement *el, RnDataset *item);
int rn_element_append_fragment(RnElement *el, const uint8_t *data, uint32_t len, bool borrowed);
/* Refreshes ds->charset from its (0008,0005). */
void rn_dataset_update_charset(RnDataset *ds);
/* Copies every borrowed value into owned memory. */
int rn_dataset_materialize(RnDataset *ds, RnError *err);

/* Bare dataset parser. backing: memory the values may borrow from when
 * longer than defer_threshold (0 = copy everything). base: offset of data[0]
 * in the file, for error messages. */
typedef struct RnParseParams {
    bool explicit_vr;
    bool big_endian;
    size_t defer_threshold;
    RnTag stop_before;
    unsigned max_depth;
    uint64_t base;
} RnParseParams;
int rn_dataset_parse(RnDataset *ds, const uint8_t *data, size_t len, const RnParseParams *p,
                     size_t *consumed, RnError *err);
/* Encoder. */
int rn_dataset_encode(const RnDataset *ds, bool explicit_vr, bool big_endian, bool drop_group_lengths,
                      RnBuf *out, RnError *err);
/* Swaps the bytes of a value in place for its VR (used between byte orders). */
void rn_value_swap(RnVR vr, uint8_t *data, size_t len);

#endif
