/*
 * Growable byte buffer and checked allocation helpers. Growth is geometric and
 * every size computation is checked for overflow.
 */
#include "radnode/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *rn_malloc(size_t n) { return malloc(n ? n : 1); }
void *rn_calloc(size_t count, size_t size) { return calloc(count ? count : 1, size ? size : 1); }
void *rn_realloc(void *p, size_t n) { return realloc(p, n ? n : 1); }

char *rn_strdup(const char *s)
{
    if (!s)
        return NULL;
    return rn_strndup(s, strlen(s));
}

char *rn_strndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

void rn_buf_init(RnBuf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void rn_buf_free(RnBuf *b)
{
    free(b->data);
    rn_buf_init(b);
}

int rn_buf_reserve(RnBuf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len)
        return RN_ERR_NOMEM;
    size_t need = b->len + extra;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return RN_ERR_NOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int rn_buf_append(RnBuf *b, const void *data, size_t len)
{
    if (len == 0)
        return 0;
    int rc = rn_buf_reserve(b, len);
    if (rc)
        return rc;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

int rn_buf_append_byte(RnBuf *b, uint8_t byte) { return rn_buf_append(b, &byte, 1); }

int rn_buf_append_u16le(RnBuf *b, uint16_t v)
{
    uint8_t t[2];
    rn_wr16le(t, v);
    return rn_buf_append(b, t, 2);
}

int rn_buf_append_u32le(RnBuf *b, uint32_t v)
{
    uint8_t t[4];
    rn_wr32le(t, v);
    return rn_buf_append(b, t, 4);
}

int rn_buf_append_u16be(RnBuf *b, uint16_t v)
{
    uint8_t t[2];
    rn_wr16be(t, v);
    return rn_buf_append(b, t, 2);
}

int rn_buf_append_u32be(RnBuf *b, uint32_t v)
{
    uint8_t t[4];
    rn_wr32be(t, v);
    return rn_buf_append(b, t, 4);
}

int rn_buf_append_str(RnBuf *b, const char *s) { return rn_buf_append(b, s, strlen(s)); }

int rn_buf_printf(RnBuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return RN_ERR_INVALID;
    int rc = rn_buf_reserve(b, (size_t)n + 1);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

uint8_t *rn_buf_take(RnBuf *b, size_t *len)
{
    uint8_t *d = b->data;
    if (len)
        *len = b->len;
    rn_buf_init(b);
    return d;
}

int rn_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}
