/*
 * The in-memory dataset (PS3.5 7): an ordered array of data elements, each
 * holding its raw value bytes in the byte order it was read in, a list of
 * items for sequences, or a list of fragments for encapsulated pixel data
 * (PS3.5 A.4). Values stay raw so that a file read and written again in the
 * same transfer syntax is byte for byte the same; typed getters interpret
 * them (text through the Specific Character Set, PS3.5 6.1; numbers per
 * VR, PS3.5 6.2).
 *
 * Elements are kept in ascending tag order when built here; a dataset read
 * from a file keeps the file's order (flagged `unsorted` if that order is not
 * ascending) so nothing is silently reordered.
 */
#include "dicom/dataset_internal.h"
#include "radnode/charset.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

RnDataset *rn_dataset_create(void)
{
    return rn_calloc(1, sizeof(RnDataset));
}

void rn_element_clear(RnElement *el)
{
    if (!el->borrowed)
        free((void *)el->value);
    for (size_t i = 0; i < el->item_count; i++)
        rn_dataset_destroy(el->items[i]);
    free(el->items);
    for (size_t i = 0; i < el->frag_count; i++)
        if (!el->frags[i].borrowed)
            free((void *)el->frags[i].data);
    free(el->frags);
    memset(el, 0, sizeof *el);
}

void rn_dataset_destroy(RnDataset *ds)
{
    if (!ds)
        return;
    for (size_t i = 0; i < ds->count; i++)
        rn_element_clear(&ds->elems[i]);
    free(ds->elems);
    free(ds->charset);
    free(ds);
}

size_t rn_dataset_count(const RnDataset *ds) { return ds ? ds->count : 0; }

const RnElement *rn_dataset_at(const RnDataset *ds, size_t index)
{
    return (ds && index < ds->count) ? &ds->elems[index] : NULL;
}

long rn_dataset_find_index(const RnDataset *ds, RnTag tag)
{
    if (!ds || ds->count == 0)
        return -1;
    if (ds->unsorted) {
        for (size_t i = 0; i < ds->count; i++)
            if (ds->elems[i].tag == tag)
                return (long)i;
        return -1;
    }
    size_t lo = 0, hi = ds->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ds->elems[mid].tag < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (lo < ds->count && ds->elems[lo].tag == tag) ? (long)lo : -1;
}

const RnElement *rn_dataset_get(const RnDataset *ds, RnTag tag)
{
    long i = rn_dataset_find_index(ds, tag);
    return i < 0 ? NULL : &ds->elems[i];
}

bool rn_dataset_has(const RnDataset *ds, RnTag tag) { return rn_dataset_find_index(ds, tag) >= 0; }

const RnDataset *rn_dataset_parent(const RnDataset *ds) { return ds ? ds->parent : NULL; }

static int grow_elems(RnDataset *ds)
{
    if (ds->count < ds->cap)
        return 0;
    size_t cap = ds->cap ? ds->cap * 2 : 16;
    RnElement *p = realloc(ds->elems, cap * sizeof *p);
    if (!p)
        return RN_ERR_NOMEM;
    ds->elems = p;
    ds->cap = cap;
    return 0;
}

static void reparent_items(RnElement *el, RnDataset *parent)
{
    for (size_t i = 0; i < el->item_count; i++)
        el->items[i]->parent = parent;
}

int rn_dataset_append_raw(RnDataset *ds, RnElement *el)
{
    if (grow_elems(ds))
        return RN_ERR_NOMEM;
    if (ds->count > 0 && ds->elems[ds->count - 1].tag >= el->tag)
        ds->unsorted = true;
    ds->elems[ds->count++] = *el;
    reparent_items(&ds->elems[ds->count - 1], ds);
    memset(el, 0, sizeof *el);
    return 0;
}

RnElement *rn_dataset_slot(RnDataset *ds, RnTag tag, RnError *err)
{
    long idx = rn_dataset_find_index(ds, tag);
    if (idx >= 0) {
        RnElement *el = &ds->elems[idx];
        rn_element_clear(el);
        el->tag = tag;
        return el;
    }
    if (grow_elems(ds)) {
        rn_error_set(err, RN_ERR_NOMEM, "out of memory adding (%04X,%04X)", RN_TAG_GROUP(tag),
                     RN_TAG_ELEMENT(tag));
        return NULL;
    }
    size_t pos = ds->count;
    if (!ds->unsorted) {
        size_t lo = 0, hi = ds->count;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (ds->elems[mid].tag < tag)
                lo = mid + 1;
            else
                hi = mid;
        }
        pos = lo;
    }
    memmove(&ds->elems[pos + 1], &ds->elems[pos], (ds->count - pos) * sizeof(RnElement));
    ds->count++;
    RnElement *el = &ds->elems[pos];
    memset(el, 0, sizeof *el);
    el->tag = tag;
    return el;
}

int rn_dataset_remove(RnDataset *ds, RnTag tag)
{
    long idx = rn_dataset_find_index(ds, tag);
    if (idx < 0)
        return RN_ERR_NOT_FOUND;
    rn_element_clear(&ds->elems[idx]);
    memmove(&ds->elems[idx], &ds->elems[idx + 1],
            (ds->count - (size_t)idx - 1) * sizeof(RnElement));
    ds->count--;
    if (tag == RN_TAG_SpecificCharacterSet)
        rn_dataset_update_charset(ds);
    return 0;
}

int rn_element_append_item(RnElement *el, RnDataset *item)
{
    if (el->item_count == el->item_cap) {
        size_t cap = el->item_cap ? el->item_cap * 2 : 4;
        RnDataset **p = realloc(el->items, cap * sizeof *p);
        if (!p)
            return RN_ERR_NOMEM;
        el->items = p;
        el->item_cap = cap;
    }
    el->items[el->item_count++] = item;
    return 0;
}

int rn_element_append_fragment(RnElement *el, const uint8_t *data, uint32_t len, bool borrowed)
{
    if (el->frag_count == el->frag_cap) {
        size_t cap = el->frag_cap ? el->frag_cap * 2 : 8;
        RnFragment *p = realloc(el->frags, cap * sizeof *p);
        if (!p)
            return RN_ERR_NOMEM;
        el->frags = p;
        el->frag_cap = cap;
    }
    el->frags[el->frag_count].data = data;
    el->frags[el->frag_count].len = len;
    el->frags[el->frag_count].borrowed = borrowed;
    el->frag_count++;
    return 0;
}

/* ---- Element accessors ---------------------------------------------------- */

RnTag rn_element_tag(const RnElement *el) { return el->tag; }
RnVR rn_element_vr(const RnElement *el) { return el->vr; }
uint32_t rn_element_length(const RnElement *el) { return el->length; }
bool rn_element_big_endian(const RnElement *el) { return el->big_endian; }
bool rn_element_is_deferred(const RnElement *el) { return el->borrowed; }
bool rn_element_is_encapsulated(const RnElement *el) { return el->encapsulated; }
size_t rn_element_item_count(const RnElement *el) { return el->item_count; }
size_t rn_element_fragment_count(const RnElement *el) { return el->frag_count; }

const uint8_t *rn_element_value(const RnElement *el, size_t *len)
{
    if (len)
        *len = el->value_len;
    if (el->vr == RN_VR_SQ || el->encapsulated)
        return NULL;
    /* An empty value is reported as a valid, zero-length pointer. */
    return el->value ? el->value : (const uint8_t *)"";
}

const RnDataset *rn_element_item(const RnElement *el, size_t index)
{
    return index < el->item_count ? el->items[index] : NULL;
}

RnDataset *rn_element_item_mut(RnElement *el, size_t index)
{
    return index < el->item_count ? el->items[index] : NULL;
}

const uint8_t *rn_element_fragment(const RnElement *el, size_t index, size_t *len)
{
    if (index >= el->frag_count) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = el->frags[index].len;
    return el->frags[index].data ? el->frags[index].data : (const uint8_t *)"";
}

/* ---- Character set ---------------------------------------------------------- */

void rn_dataset_update_charset(RnDataset *ds)
{
    free(ds->charset);
    ds->charset = NULL;
    const RnElement *el = rn_dataset_get(ds, RN_TAG_SpecificCharacterSet);
    if (!el || !el->value)
        return;
    /* Keep the raw multi-valued term list, trimmed of padding. */
    size_t n = el->value_len;
    const char *s = (const char *)el->value;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\0'))
        n--;
    size_t start = 0;
    while (start < n && s[start] == ' ')
        start++;
    ds->charset = rn_strndup(s + start, n - start);
}

const char *rn_dataset_charset(const RnDataset *ds)
{
    for (const RnDataset *d = ds; d; d = d->parent)
        if (d->charset)
            return d->charset;
    return "";
}

/* ---- Typed getters ---------------------------------------------------------- */

unsigned rn_element_vm(const RnElement *el)
{
    if (el->vr == RN_VR_SQ)
        return (unsigned)el->item_count;
    if (el->encapsulated || el->value_len == 0)
        return el->encapsulated ? 1 : 0;
    unsigned size = rn_vr_value_size(el->vr);
    switch (el->vr) {
    case RN_VR_OB: case RN_VR_OW: case RN_VR_OF: case RN_VR_OD: case RN_VR_OL: case RN_VR_OV:
    case RN_VR_UN: case RN_VR_LT: case RN_VR_ST: case RN_VR_UT: case RN_VR_UR:
        return 1;
    default:
        break;
    }
    if (size)
        return (unsigned)(el->value_len / size);
    unsigned vm = 1;
    for (size_t i = 0; i < el->value_len; i++)
        if (el->value[i] == '\\')
            vm++;
    return vm;
}

static bool vr_single_valued_text(RnVR vr)
{
    return vr == RN_VR_LT || vr == RN_VR_ST || vr == RN_VR_UT || vr == RN_VR_UR;
}

/* Decodes an element's whole text value to UTF-8 (not split, not trimmed). */
static char *element_text(const RnDataset *ds, const RnElement *el, size_t *out_len, RnError *err)
{
    size_t len;
    const uint8_t *v = rn_element_value(el, &len);
    if (!v) {
        rn_error_set(err, RN_ERR_INVALID, "(%04X,%04X) has no text value", RN_TAG_GROUP(el->tag),
                     RN_TAG_ELEMENT(el->tag));
        return NULL;
    }
    if (rn_vr_is_text(el->vr)) {
        const char *cs = rn_dataset_charset(ds);
        if (cs[0]) {
            char *s = rn_charset_decode(cs, el->vr, v, len, out_len, err);
            if (s)
                return s;
            /* Unknown character set: fall back to the bytes, so data is never hidden. */
        }
    }
    char *s = rn_strndup((const char *)v, len);
    if (!s) {
        rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    /* A NUL inside a value ends it (UI padding). */
    *out_len = strlen(s);
    return s;
}

static void trim_value(RnVR vr, const char **start, size_t *len)
{
    const char *s = *start;
    size_t n = *len;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\0'))
        n--;
    /* PS3.5 6.2: leading spaces are significant in LT, ST, UT. */
    if (!vr_single_valued_text(vr)) {
        while (n > 0 && *s == ' ') {
            s++;
            n--;
        }
    }
    *start = s;
    *len = n;
}

static int format_binary_value(const RnElement *el, unsigned index, char *buf, size_t size,
                               RnError *err)
{
    unsigned vsz = rn_vr_value_size(el->vr);
    if (vsz == 0 || (size_t)(index + 1) * vsz > el->value_len)
        return rn_error_set(err, RN_ERR_NOT_FOUND, "(%04X,%04X) has no value %u",
                            RN_TAG_GROUP(el->tag), RN_TAG_ELEMENT(el->tag), index + 1);
    const uint8_t *p = el->value + (size_t)index * vsz;
    bool be = el->big_endian;
    uint64_t u;
    switch (vsz) {
    case 2: u = be ? rn_rd16be(p) : rn_rd16le(p); break;
    case 4: u = be ? rn_rd32be(p) : rn_rd32le(p); break;
    default:
        u = be ? ((uint64_t)rn_rd32be(p) << 32) | rn_rd32be(p + 4) : rn_rd64le(p);
        break;
    }
    switch (el->vr) {
    case RN_VR_US: case RN_VR_UL: case RN_VR_UV: case RN_VR_OW: case RN_VR_OL: case RN_VR_OV:
        snprintf(buf, size, "%llu", (unsigned long long)u);
        break;
    case RN_VR_SS: snprintf(buf, size, "%d", (int16_t)u); break;
    case RN_VR_SL: snprintf(buf, size, "%d", (int32_t)u); break;
    case RN_VR_SV: snprintf(buf, size, "%lld", (long long)(int64_t)u); break;
    case RN_VR_FL: case RN_VR_OF: {
        uint32_t b = (uint32_t)u;
        float f;
        memcpy(&f, &b, 4);
        snprintf(buf, size, "%.9g", (double)f);
        break;
    }
    case RN_VR_FD: case RN_VR_OD: {
        double d;
        memcpy(&d, &u, 8);
        snprintf(buf, size, "%.17g", d);
        break;
    }
    case RN_VR_AT: {
        const uint8_t *q = p;
        uint16_t g = be ? rn_rd16be(q) : rn_rd16le(q);
        uint16_t e = be ? rn_rd16be(q + 2) : rn_rd16le(q + 2);
        snprintf(buf, size, "(%04X,%04X)", g, e);
        break;
    }
    default:
        snprintf(buf, size, "%llu", (unsigned long long)u);
    }
    return 0;
}

static bool vr_is_binary_number(RnVR vr)
{
    switch (vr) {
    case RN_VR_US: case RN_VR_SS: case RN_VR_UL: case RN_VR_SL: case RN_VR_UV: case RN_VR_SV:
    case RN_VR_FL: case RN_VR_FD: case RN_VR_AT:
        return true;
    default:
        return false;
    }
}

int rn_dataset_get_string(const RnDataset *ds, RnTag tag, unsigned index, char *buf, size_t size,
                          RnError *err)
{
    if (size == 0)
        return rn_error_set(err, RN_ERR_INVALID, "empty buffer");
    buf[0] = '\0';
    const RnElement *el = rn_dataset_get(ds, tag);
    if (!el)
        return rn_error_set(err, RN_ERR_NOT_FOUND, "(%04X,%04X) not present", RN_TAG_GROUP(tag),
                            RN_TAG_ELEMENT(tag));
    if (vr_is_binary_number(el->vr))
        return format_binary_value(el, index, buf, size, err);
    size_t len;
    char *s = element_text(ds, el, &len, err);
    if (!s)
        return err ? err->code : RN_ERR_INVALID;
    const char *start = s;
    size_t n = len;
    if (!vr_single_valued_text(el->vr)) {
        /* Find value number `index` between backslashes. */
        unsigned k = 0;
        size_t i = 0, vstart = 0;
        bool found = false;
        for (i = 0; i <= len; i++) {
            if (i == len || s[i] == '\\') {
                if (k == index) {
                    start = s + vstart;
                    n = i - vstart;
                    found = true;
                    break;
                }
                k++;
                vstart = i + 1;
            }
        }
        if (!found) {
            free(s);
            return rn_error_set(err, RN_ERR_NOT_FOUND, "(%04X,%04X) has no value %u",
                                RN_TAG_GROUP(tag), RN_TAG_ELEMENT(tag), index + 1);
        }
    } else if (index > 0) {
        free(s);
        return rn_error_set(err, RN_ERR_NOT_FOUND, "(%04X,%04X) has a single value",
                            RN_TAG_GROUP(tag), RN_TAG_ELEMENT(tag));
    }
    trim_value(el->vr, &start, &n);
    if (n >= size)
        n = size - 1; /* truncated to the caller's buffer */
    memcpy(buf, start, n);
    buf[n] = '\0';
    free(s);
    return 0;
}

char *rn_dataset_get_string_all(const RnDataset *ds, RnTag tag, RnError *err)
{
    const RnElement *el = rn_dataset_get(ds, tag);
    if (!el) {
        rn_error_set(err, RN_ERR_NOT_FOUND, "(%04X,%04X) not present", RN_TAG_GROUP(tag),
                     RN_TAG_ELEMENT(tag));
        return NULL;
    }
    if (vr_is_binary_number(el->vr)) {
        RnBuf b = {0};
        unsigned vm = rn_element_vm(el);
        for (unsigned i = 0; i < vm; i++) {
            char tmp[64];
            format_binary_value(el, i, tmp, sizeof tmp, NULL);
            if ((i && rn_buf_append_byte(&b, '\\')) || rn_buf_append_str(&b, tmp)) {
                rn_buf_free(&b);
                rn_error_set(err, RN_ERR_NOMEM, "out of memory");
                return NULL;
            }
        }
        rn_buf_append_byte(&b, 0);
        return (char *)rn_buf_take(&b, NULL);
    }
    size_t len;
    char *s = element_text(ds, el, &len, err);
    if (!s)
        return NULL;
    const char *start = s;
    size_t n = len;
    while (n > 0 && (start[n - 1] == ' ' || start[n - 1] == '\0'))
        n--;
    if (!vr_single_valued_text(el->vr))
        while (n > 0 && *start == ' ') {
            start++;
            n--;
        }
    memmove(s, start, n);
    s[n] = '\0';
    return s;
}

int rn_dataset_get_int(const RnDataset *ds, RnTag tag, unsigned index, int64_t *out, RnError *err)
{
    const RnElement *el = rn_dataset_get(ds, tag);
    if (!el)
        return rn_error_set(err, RN_ERR_NOT_FOUND, "(%04X,%04X) not present", RN_TAG_GROUP(tag),
                            RN_TAG_ELEMENT(tag));
    char buf[128];
    int rc = rn_dataset_get_string(ds, tag, index, buf, sizeof buf, err);
    if (rc)
        return rc;
    if (el->vr == RN_VR_AT)
        return rn_error_set(err, RN_ERR_INVALID, "(%04X,%04X) is an AT value", RN_TAG_GROUP(tag),
                            RN_TAG_ELEMENT(tag));
    char *end;
    errno = 0;
    double d;
    long long v = strtoll(buf, &end, 10);
    if (end == buf || errno) {
        return rn_error_set(err, RN_ERR_PARSE, "(%04X,%04X) value \"%s\" is not a number",
                            RN_TAG_GROUP(tag), RN_TAG_ELEMENT(tag), buf);
    }
    if (*end) {
        /* DS or FL/FD values: accept a decimal that is an integer. */
        d = strtod(buf, &end);
        if (*end || d != floor(d) || fabs(d) > 9.2e18)
            return rn_error_set(err, RN_ERR_PARSE, "(%04X,%04X) value \"%s\" is not an integer",
                                RN_TAG_GROUP(tag), RN_TAG_ELEMENT(tag), buf);
        v = (long long)d;
    }
    *out = v;
    return 0;
}

int rn_dataset_get_double(const RnDataset *ds, RnTag tag, unsigned index, double *out, RnError *err)
{
    char buf[128];
    int rc = rn_dataset_get_string(ds, tag, index, buf, sizeof buf, err);
    if (rc)
        return rc;
    char *end;
    errno = 0;
    double d = strtod(buf, &end);
    if (end == buf || *end || errno || !isfinite(d))
        return rn_error_set(err, RN_ERR_PARSE, "(%04X,%04X) value \"%s\" is not a number",
                            RN_TAG_GROUP(tag), RN_TAG_ELEMENT(tag), buf);
    *out = d;
    return 0;
}

/* ---- Setters ------------------------------------------------------------------ */

static RnVR resolve_vr(RnTag tag, RnVR vr)
{
    if (vr)
        return vr;
    const RnDictEntry *e = rn_dict_find_tag(tag);
    return e ? e->vr : RN_VR_UN;
}

int rn_dataset_set_bytes_take(RnDataset *ds, RnTag tag, RnVR vr, void *data, size_t len,
                              RnError *err)
{
    if (len > 0xFFFFFFFEu)
        return rn_error_set(err, RN_ERR_LIMIT, "value of %zu bytes is too long", len);
    vr = resolve_vr(tag, vr);
    RnElement *el = rn_dataset_slot(ds, tag, err);
    if (!el)
        return RN_ERR_NOMEM;
    el->vr = vr;
    el->value = data;
    el->value_len = len;
    el->length = (uint32_t)len;
    if (tag == RN_TAG_SpecificCharacterSet)
        rn_dataset_update_charset(ds);
    return 0;
}

int rn_dataset_set_bytes(RnDataset *ds, RnTag tag, RnVR vr, const void *data, size_t len,
                         RnError *err)
{
    void *copy = rn_malloc(len);
    if (!copy)
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    if (len)
        memcpy(copy, data, len);
    int rc = rn_dataset_set_bytes_take(ds, tag, vr, copy, len, err);
    if (rc)
        free(copy);
    return rc;
}

int rn_dataset_set_string(RnDataset *ds, RnTag tag, RnVR vr, const char *utf8, RnError *err)
{
    vr = resolve_vr(tag, vr);
    RnBuf b = {0};
    int rc = 0;
    const char *cs = rn_dataset_charset(ds);
    if (tag == RN_TAG_SpecificCharacterSet)
        cs = "";
    if (rn_vr_is_text(vr) && cs[0])
        rc = rn_charset_encode(cs, vr, utf8, &b, err);
    else
        rc = rn_buf_append_str(&b, utf8);
    if (rc) {
        rn_buf_free(&b);
        return rc;
    }
    /* PS3.5 6.2: values are padded to even length, UI with NUL, others with space. */
    if (b.len % 2)
        rc = rn_buf_append_byte(&b, vr == RN_VR_UI ? 0 : ' ');
    if (rc) {
        rn_buf_free(&b);
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    }
    size_t len;
    uint8_t *data = rn_buf_take(&b, &len);
    rc = rn_dataset_set_bytes_take(ds, tag, vr, data, len, err);
    if (rc)
        free(data);
    return rc;
}

static int set_number(RnDataset *ds, RnTag tag, RnVR vr, bool is_signed, int64_t sv, uint64_t uv,
                      double dv, int kind, RnError *err)
{
    vr = resolve_vr(tag, vr);
    uint8_t b[8];
    size_t n = 0;
    char text[64];
    switch (vr) {
    case RN_VR_US: case RN_VR_SS: case RN_VR_OW:
        rn_wr16le(b, (uint16_t)(kind == 2 ? (int64_t)dv : (is_signed ? sv : (int64_t)uv)));
        n = 2;
        break;
    case RN_VR_UL: case RN_VR_SL: case RN_VR_OL:
        rn_wr32le(b, (uint32_t)(kind == 2 ? (int64_t)dv : (is_signed ? sv : (int64_t)uv)));
        n = 4;
        break;
    case RN_VR_UV: case RN_VR_SV: case RN_VR_OV: {
        uint64_t v = kind == 2 ? (uint64_t)(int64_t)dv : (is_signed ? (uint64_t)sv : uv);
        rn_wr32le(b, (uint32_t)v);
        rn_wr32le(b + 4, (uint32_t)(v >> 32));
        n = 8;
        break;
    }
    case RN_VR_FL: case RN_VR_OF: {
        float f = (float)(kind == 2 ? dv : (is_signed ? (double)sv : (double)uv));
        uint32_t u;
        memcpy(&u, &f, 4);
        rn_wr32le(b, u);
        n = 4;
        break;
    }
    case RN_VR_FD: case RN_VR_OD: {
        double d = kind == 2 ? dv : (is_signed ? (double)sv : (double)uv);
        uint64_t u;
        memcpy(&u, &d, 8);
        rn_wr32le(b, (uint32_t)u);
        rn_wr32le(b + 4, (uint32_t)(u >> 32));
        n = 8;
        break;
    }
    case RN_VR_IS:
        snprintf(text, sizeof text, "%lld",
                 kind == 2 ? (long long)llround(dv) : (is_signed ? (long long)sv : (long long)uv));
        return rn_dataset_set_string(ds, tag, vr, text, err);
    case RN_VR_DS: {
        double d = kind == 2 ? dv : (is_signed ? (double)sv : (double)uv);
        /* DS holds at most 16 characters (PS3.5 6.2). */
        for (int prec = 16; prec > 0; prec--) {
            snprintf(text, sizeof text, "%.*g", prec, d);
            if (strlen(text) <= 16)
                break;
        }
        return rn_dataset_set_string(ds, tag, vr, text, err);
    }
    default:
        return rn_error_set(err, RN_ERR_INVALID, "(%04X,%04X): cannot store a number as VR %c%c",
                            RN_TAG_GROUP(tag), RN_TAG_ELEMENT(tag), vr >> 8, vr & 0xFF);
    }
    return rn_dataset_set_bytes(ds, tag, vr, b, n, err);
}

int rn_dataset_set_uint(RnDataset *ds, RnTag tag, RnVR vr, uint64_t value, RnError *err)
{
    return set_number(ds, tag, vr, false, 0, value, 0, 0, err);
}

int rn_dataset_set_int(RnDataset *ds, RnTag tag, RnVR vr, int64_t value, RnError *err)
{
    return set_number(ds, tag, vr, true, value, 0, 0, 1, err);
}

int rn_dataset_set_double(RnDataset *ds, RnTag tag, RnVR vr, double value, RnError *err)
{
    return set_number(ds, tag, vr, true, 0, 0, value, 2, err);
}

int rn_dataset_set_sequence(RnDataset *ds, RnTag seq_tag, RnError *err)
{
    const RnElement *ex = rn_dataset_get(ds, seq_tag);
    if (ex && ex->vr == RN_VR_SQ)
        return 0;
    RnElement *el = rn_dataset_slot(ds, seq_tag, err);
    if (!el)
        return RN_ERR_NOMEM;
    el->vr = RN_VR_SQ;
    el->length = RN_UNDEFINED_LENGTH;
    return 0;
}

RnDataset *rn_dataset_add_item(RnDataset *ds, RnTag seq_tag, RnError *err)
{
    if (rn_dataset_set_sequence(ds, seq_tag, err))
        return NULL;
    RnElement *el = &ds->elems[rn_dataset_find_index(ds, seq_tag)];
    RnDataset *item = rn_dataset_create();
    if (!item || rn_element_append_item(el, item)) {
        rn_dataset_destroy(item);
        rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    item->parent = ds;
    item->item_undefined = true;
    return item;
}

int rn_dataset_set_encapsulated(RnDataset *ds, const uint8_t *const *frames, const size_t *lens,
                                size_t count, bool offset_table, RnError *err)
{
    RnElement *el = rn_dataset_slot(ds, RN_TAG_PixelData, err);
    if (!el)
        return RN_ERR_NOMEM;
    el->vr = RN_VR_OB;
    el->length = RN_UNDEFINED_LENGTH;
    el->encapsulated = true;
    uint8_t *bot = NULL;
    uint32_t bot_len = 0;
    if (offset_table && count > 0) {
        bot = rn_malloc(count * 4);
        if (!bot)
            return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        uint64_t off = 0;
        for (size_t i = 0; i < count; i++) {
            if (off > 0xFFFFFFFFu) {
                free(bot);
                return rn_error_set(err, RN_ERR_LIMIT, "frames exceed the 4 GB offset table range");
            }
            rn_wr32le(bot + 4 * i, (uint32_t)off);
            off += 8 + lens[i] + (lens[i] & 1);
        }
        bot_len = (uint32_t)(count * 4);
    }
    if (rn_element_append_fragment(el, bot, bot_len, false)) {
        free(bot);
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < count; i++) {
        size_t padded = lens[i] + (lens[i] & 1);
        if (padded > 0xFFFFFFFEu)
            return rn_error_set(err, RN_ERR_LIMIT, "frame %zu too large", i + 1);
        uint8_t *copy = rn_malloc(padded);
        if (!copy)
            return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        memcpy(copy, frames[i], lens[i]);
        if (padded != lens[i])
            copy[lens[i]] = 0; /* PS3.5 A.4: fragments have even length */
        if (rn_element_append_fragment(el, copy, (uint32_t)padded, false)) {
            free(copy);
            return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        }
    }
    return 0;
}

/* ---- Clone and materialise ------------------------------------------------- */

static int clone_into(RnDataset *dst, const RnDataset *src, RnError *err);

static int clone_element(RnElement *d, const RnElement *s, RnDataset *parent, RnError *err)
{
    memset(d, 0, sizeof *d);
    d->tag = s->tag;
    d->vr = s->vr;
    d->length = s->length;
    d->big_endian = s->big_endian;
    d->encapsulated = s->encapsulated;
    d->un_sequence = s->un_sequence;
    if (s->value) {
        uint8_t *v = rn_malloc(s->value_len);
        if (!v)
            return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        memcpy(v, s->value, s->value_len);
        d->value = v;
        d->value_len = s->value_len;
    }
    for (size_t i = 0; i < s->item_count; i++) {
        RnDataset *item = rn_dataset_create();
        if (!item || rn_element_append_item(d, item)) {
            rn_dataset_destroy(item);
            return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        }
        item->parent = parent;
        item->item_undefined = s->items[i]->item_undefined;
        int rc = clone_into(item, s->items[i], err);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < s->frag_count; i++) {
        uint8_t *v = rn_malloc(s->frags[i].len);
        if (!v)
            return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        memcpy(v, s->frags[i].data, s->frags[i].len);
        if (rn_element_append_fragment(d, v, s->frags[i].len, false)) {
            free(v);
            return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        }
    }
    return 0;
}

static int clone_into(RnDataset *dst, const RnDataset *src, RnError *err)
{
    dst->unsorted = src->unsorted;
    for (size_t i = 0; i < src->count; i++) {
        RnElement el;
        int rc = clone_element(&el, &src->elems[i], dst, err);
        if (rc || rn_dataset_append_raw(dst, &el)) {
            rn_element_clear(&el);
            return rc ? rc : rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        }
    }
    dst->unsorted = src->unsorted;
    if (src->charset) {
        dst->charset = rn_strdup(src->charset);
        if (!dst->charset)
            return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    }
    return 0;
}

RnDataset *rn_dataset_clone(const RnDataset *ds, RnError *err)
{
    RnDataset *c = rn_dataset_create();
    if (!c) {
        rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    c->item_undefined = ds->item_undefined;
    if (clone_into(c, ds, err)) {
        rn_dataset_destroy(c);
        return NULL;
    }
    return c;
}

int rn_dataset_materialize(RnDataset *ds, RnError *err)
{
    for (size_t i = 0; i < ds->count; i++) {
        RnElement *el = &ds->elems[i];
        if (el->borrowed) {
            uint8_t *v = rn_malloc(el->value_len);
            if (!v)
                return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
            memcpy(v, el->value, el->value_len);
            el->value = v;
            el->borrowed = false;
        }
        for (size_t f = 0; f < el->frag_count; f++) {
            if (!el->frags[f].borrowed)
                continue;
            uint8_t *v = rn_malloc(el->frags[f].len);
            if (!v)
                return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
            memcpy(v, el->frags[f].data, el->frags[f].len);
            el->frags[f].data = v;
            el->frags[f].borrowed = false;
        }
        for (size_t k = 0; k < el->item_count; k++) {
            int rc = rn_dataset_materialize(el->items[k], err);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* ---- Byte order ---------------------------------------------------------------- */

void rn_value_swap(RnVR vr, uint8_t *data, size_t len)
{
    unsigned size;
    switch (vr) {
    case RN_VR_US: case RN_VR_SS: case RN_VR_OW: case RN_VR_AT:
        size = 2; /* AT is a pair of 16-bit numbers (PS3.5 7.3) */
        break;
    case RN_VR_UL: case RN_VR_SL: case RN_VR_FL: case RN_VR_OF: case RN_VR_OL:
        size = 4;
        break;
    case RN_VR_FD: case RN_VR_OD: case RN_VR_SV: case RN_VR_UV: case RN_VR_OV:
        size = 8;
        break;
    default:
        return;
    }
    for (size_t i = 0; i + size <= len; i += size) {
        for (unsigned a = 0, b = size - 1; a < b; a++, b--) {
            uint8_t t = data[i + a];
            data[i + a] = data[i + b];
            data[i + b] = t;
        }
    }
}
