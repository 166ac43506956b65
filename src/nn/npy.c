/*
 * NumPy .npy reader and writer (format versions 1.0, 2.0 and 3.0, see
 * numpy/lib/format.py): a magic string, a little-endian header length and a
 * Python dict literal giving descr, fortran_order and shape. Only float32
 * little endian ('<f4') in C order is accepted; anything else is reported
 * with the descr found, so the user knows to convert with numpy.
 */
#include "radnode/nn.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NPY_MAX_ELEMS ((int64_t)1 << 31)

/* Finds 'key' in the header and returns the position just after its colon. */
static const char *find_key(const char *h, size_t len, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i + kl + 2 <= len; i++) {
        if ((h[i] == '\'' || h[i] == '"') && !memcmp(h + i + 1, key, kl) && h[i + 1 + kl] == h[i]) {
            size_t j = i + kl + 2;
            while (j < len && isspace((unsigned char)h[j]))
                j++;
            if (j < len && h[j] == ':')
                return h + j + 1;
        }
    }
    return NULL;
}

float *rn_nn_npy_parse(const uint8_t *buf, size_t len, int *ndim, int64_t shape[RN_NN_MAX_DIMS],
                       RnError *err)
{
    if (len < 10 || memcmp(buf, "\x93NUMPY", 6))
        return rn_error_set(err, RN_ERR_PARSE, "npy: not a .npy file (bad magic)"), NULL;
    int major = buf[6];
    size_t hlen, off;
    if (major == 1) {
        hlen = rn_rd16le(buf + 8);
        off = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12)
            return rn_error_set(err, RN_ERR_TRUNCATED, "npy: truncated header"), NULL;
        hlen = rn_rd32le(buf + 8);
        off = 12;
    } else {
        return rn_error_set(err, RN_ERR_UNSUPPORTED, "npy: format version %d", major), NULL;
    }
    if (hlen > len - off)
        return rn_error_set(err, RN_ERR_TRUNCATED, "npy: truncated header"), NULL;
    const char *h = (const char *)buf + off;
    const char *end = h + hlen;
    const char *p = find_key(h, hlen, "descr");
    if (!p)
        return rn_error_set(err, RN_ERR_PARSE, "npy: header has no descr"), NULL;
    while (p < end && isspace((unsigned char)*p))
        p++;
    if (p >= end || (*p != '\'' && *p != '"'))
        return rn_error_set(err, RN_ERR_UNSUPPORTED, "npy: structured dtypes are unsupported"),
               NULL;
    char q = *p++;
    const char *ds = p;
    while (p < end && *p != q)
        p++;
    if (p >= end)
        return rn_error_set(err, RN_ERR_PARSE, "npy: unterminated descr"), NULL;
    size_t dl = (size_t)(p - ds);
    if (!(dl == 3 && !memcmp(ds, "<f4", 3)))
        return rn_error_set(err, RN_ERR_UNSUPPORTED,
                            "npy: dtype '%.*s' is unsupported (need float32 little endian '<f4'; "
                            "convert with arr.astype('<f4'))",
                            (int)(dl > 32 ? 32 : dl), ds),
               NULL;
    p = find_key(h, hlen, "fortran_order");
    if (!p)
        return rn_error_set(err, RN_ERR_PARSE, "npy: header has no fortran_order"), NULL;
    while (p < end && isspace((unsigned char)*p))
        p++;
    int fortran = (size_t)(end - p) >= 4 && !memcmp(p, "True", 4);
    if (!fortran && !((size_t)(end - p) >= 5 && !memcmp(p, "False", 5)))
        return rn_error_set(err, RN_ERR_PARSE, "npy: bad fortran_order"), NULL;
    p = find_key(h, hlen, "shape");
    if (!p)
        return rn_error_set(err, RN_ERR_PARSE, "npy: header has no shape"), NULL;
    while (p < end && isspace((unsigned char)*p))
        p++;
    if (p >= end || *p != '(')
        return rn_error_set(err, RN_ERR_PARSE, "npy: bad shape"), NULL;
    p++;
    int nd = 0;
    int64_t count = 1;
    for (;;) {
        while (p < end && (isspace((unsigned char)*p) || *p == ','))
            p++;
        if (p >= end)
            return rn_error_set(err, RN_ERR_PARSE, "npy: unterminated shape"), NULL;
        if (*p == ')')
            break;
        if (!isdigit((unsigned char)*p))
            return rn_error_set(err, RN_ERR_PARSE, "npy: bad shape"), NULL;
        int64_t v = 0;
        while (p < end && isdigit((unsigned char)*p)) {
            if (v > NPY_MAX_ELEMS)
                return rn_error_set(err, RN_ERR_LIMIT, "npy: dimension too large"), NULL;
            v = v * 10 + (*p++ - '0');
        }
        if (p < end && *p == 'L')
            p++;
        if (nd >= RN_NN_MAX_DIMS)
            return rn_error_set(err, RN_ERR_UNSUPPORTED, "npy: more than %d dims", RN_NN_MAX_DIMS),
                   NULL;
        if (v && count > NPY_MAX_ELEMS / v)
            return rn_error_set(err, RN_ERR_LIMIT, "npy: array too large"), NULL;
        count *= v;
        shape[nd++] = v;
    }
    if (fortran && nd > 1) {
        int multi = 0;
        for (int i = 0; i < nd; i++)
            multi += shape[i] > 1;
        if (multi > 1)
            return rn_error_set(err, RN_ERR_UNSUPPORTED,
                                "npy: Fortran order is unsupported (use np.ascontiguousarray)"),
                   NULL;
    }
    size_t data_off = off + hlen;
    if ((uint64_t)(len - data_off) < (uint64_t)count * 4)
        return rn_error_set(err, RN_ERR_TRUNCATED, "npy: data has %zu bytes, shape needs %lld",
                            len - data_off, (long long)count * 4),
               NULL;
    float *out = malloc((size_t)(count ? count : 1) * sizeof *out);
    if (!out)
        return rn_error_set(err, RN_ERR_NOMEM, "npy: out of memory"), NULL;
    for (int64_t i = 0; i < count; i++) {
        uint32_t u = rn_rd32le(buf + data_off + (size_t)i * 4);
        memcpy(&out[i], &u, 4);
    }
    *ndim = nd;
    return out;
}

float *rn_nn_npy_read_file(const char *path, int *ndim, int64_t shape[RN_NN_MAX_DIMS],
                           RnError *err)
{
    size_t len;
    uint8_t *buf = rn_file_read_all(path, (size_t)NPY_MAX_ELEMS * 4 + 65536, &len, err);
    if (!buf) {
        rn_error_prefix(err, "%s: ", path);
        return NULL;
    }
    float *out = rn_nn_npy_parse(buf, len, ndim, shape, err);
    free(buf);
    if (!out)
        rn_error_prefix(err, "%s: ", path);
    return out;
}

int rn_nn_npy_write_file(const char *path, int ndim, const int64_t *shape, const float *data,
                         RnError *err)
{
    if (ndim < 0 || ndim > RN_NN_MAX_DIMS || (ndim && !shape))
        return rn_error_set(err, RN_ERR_INVALID, "npy: invalid shape");
    char hdr[512];
    int o = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    int64_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return rn_error_set(err, RN_ERR_INVALID, "npy: negative dimension");
        o += snprintf(hdr + o, sizeof hdr - (size_t)o, "%lld,%s", (long long)shape[i],
                      i + 1 < ndim ? " " : "");
        count *= shape[i];
    }
    o += snprintf(hdr + o, sizeof hdr - (size_t)o, "), }");
    size_t total = 10 + (size_t)o + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = (size_t)o + pad + 1;
    RnBuf b = {0};
    int rc = rn_buf_append(&b, "\x93NUMPY\x01\x00", 8);
    if (!rc)
        rc = rn_buf_append_u16le(&b, (uint16_t)hlen);
    if (!rc)
        rc = rn_buf_append(&b, hdr, (size_t)o);
    for (size_t i = 0; !rc && i < pad; i++)
        rc = rn_buf_append_byte(&b, ' ');
    if (!rc)
        rc = rn_buf_append_byte(&b, '\n');
    if (!rc)
        rc = rn_buf_reserve(&b, (size_t)count * 4);
    for (int64_t i = 0; !rc && i < count; i++) {
        uint32_t u;
        memcpy(&u, &data[i], 4);
        uint8_t le[4];
        rn_wr32le(le, u);
        rc = rn_buf_append(&b, le, 4);
    }
    if (rc) {
        rn_buf_free(&b);
        return rn_error_set(err, RN_ERR_NOMEM, "npy: out of memory");
    }
    rc = rn_file_write_atomic(path, b.data, b.len, false, err);
    rn_buf_free(&b);
    if (rc)
        rn_error_prefix(err, "%s: ", path);
    return rc;
}
