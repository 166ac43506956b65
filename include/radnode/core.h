/*
 * radnode core: error reporting, logging, growable byte buffers and small
 * helpers shared by every module. Nothing here knows about DICOM.
 *
 * Errors: fallible functions return int (0 ok, negative RN_ERR_*) or a
 * pointer (NULL on error) and fill a caller-owned, nullable RnError.
 */
#ifndef RADNODE_CORE_H
#define RADNODE_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RN_VERSION "0.1.0"
#define RN_IMPLEMENTATION_CLASS_UID "1.2.826.0.1.3680043.10.1078.1"
#define RN_IMPLEMENTATION_VERSION_NAME "RADNODE_010"
/* Root for UIDs radnode generates (a UUID-derived 2.25 root is used by rn_uid_generate). */

enum {
    RN_OK = 0,
    RN_ERR_NOMEM = -1,       /* allocation failed */
    RN_ERR_IO = -2,          /* read/write/open failed */
    RN_ERR_PARSE = -3,       /* malformed input */
    RN_ERR_INVALID = -4,     /* invalid argument or state */
    RN_ERR_UNSUPPORTED = -5, /* valid but not supported */
    RN_ERR_NOT_FOUND = -6,   /* missing element, key, file */
    RN_ERR_LIMIT = -7,       /* a configured or safety limit was exceeded */
    RN_ERR_NET = -8,         /* network failure */
    RN_ERR_TIMEOUT = -9,     /* timed out */
    RN_ERR_TRUNCATED = -10,  /* input ended before a complete structure */
};

typedef struct RnError {
    int code;
    char message[512];
    const char *file;
    int line;
} RnError;

/* Fills err (if non-NULL) and returns code, so callers can `return rn_error_set(...)`. */
int rn_error_set_(RnError *err, int code, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
#define rn_error_set(err, code, ...) rn_error_set_((err), (code), __FILE__, __LINE__, __VA_ARGS__)
/* Prefixes an existing message with more context ("reading X: " + old message). */
void rn_error_prefix(RnError *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rn_error_clear(RnError *err);
const char *rn_error_code_name(int code);

/* snprintf for human-readable messages where cutting a long value short is
 * intended (the compiler's truncation warning does not apply to it). */
/* A shared library bound on first use (src/core/lazylib.c): dlopen(soname)
 * and dlsym of each name into the matching slot (a pointer to a function
 * pointer). Thread-safe; tried once; 0 when every symbol is bound. */
typedef struct RnLazyLib {
    const char *soname;
    const char *const *names;
    void *const *slots;
    size_t count;
    bool tried, ready;
    char problem[256];
} RnLazyLib;
int rn_lazy_bind(RnLazyLib *lib, RnError *err);

/* The value of one hexadecimal digit (0-9, a-f, A-F), or -1. */
int rn_hex_digit(char c);

void rn_format(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Logging to stderr (and later to the node's log). Thread-safe. */
typedef enum RnLogLevel { RN_LOG_DEBUG = 0, RN_LOG_INFO, RN_LOG_WARN, RN_LOG_ERROR } RnLogLevel;
void rn_log_set_level(RnLogLevel level);
void rn_log(RnLogLevel level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define rn_debug(...) rn_log(RN_LOG_DEBUG, __VA_ARGS__)
#define rn_info(...) rn_log(RN_LOG_INFO, __VA_ARGS__)
#define rn_warn(...) rn_log(RN_LOG_WARN, __VA_ARGS__)
#define rn_errorlog(...) rn_log(RN_LOG_ERROR, __VA_ARGS__)

/* Growable byte buffer. Zero-initialise (RnBuf b = {0}) or rn_buf_init. */
typedef struct RnBuf {
    uint8_t *data;
    size_t len;
    size_t cap;
} RnBuf;
void rn_buf_init(RnBuf *b);
void rn_buf_free(RnBuf *b);
int rn_buf_reserve(RnBuf *b, size_t extra);
int rn_buf_append(RnBuf *b, const void *data, size_t len);
int rn_buf_append_byte(RnBuf *b, uint8_t byte);
int rn_buf_append_u16le(RnBuf *b, uint16_t v);
int rn_buf_append_u32le(RnBuf *b, uint32_t v);
int rn_buf_append_u16be(RnBuf *b, uint16_t v);
int rn_buf_append_u32be(RnBuf *b, uint32_t v);
int rn_buf_append_str(RnBuf *b, const char *s);
int rn_buf_printf(RnBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the data to the caller (who frees it) and resets the buffer. */
uint8_t *rn_buf_take(RnBuf *b, size_t *len);

/* Byte order helpers on unaligned memory. */
static inline uint16_t rn_rd16le(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint16_t rn_rd16be(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t rn_rd32le(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint32_t rn_rd32be(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}
static inline uint64_t rn_rd64le(const uint8_t *p)
{
    return (uint64_t)rn_rd32le(p) | ((uint64_t)rn_rd32le(p + 4) << 32);
}
static inline void rn_wr16le(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void rn_wr32le(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline void rn_wr16be(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void rn_wr32be(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* Memory helpers that never return NULL silently: they return NULL and the caller reports. */
void *rn_malloc(size_t n);
void *rn_calloc(size_t count, size_t size);
void *rn_realloc(void *p, size_t n);
char *rn_strdup(const char *s);
char *rn_strndup(const char *s, size_t n);

/* Reads a whole file (bounded by max_bytes) into a new buffer the caller frees. */
uint8_t *rn_file_read_all(const char *path, size_t max_bytes, size_t *len, RnError *err);
/* Writes atomically: temp file in the same folder, fsync, rename, fsync folder. */
int rn_file_write_atomic(const char *path, const void *data, size_t len, bool durable, RnError *err);
/* mkdir -p */
int rn_mkdirs(const char *path, RnError *err);

/* Monotonic time in seconds. */
double rn_time_now(void);

#endif
