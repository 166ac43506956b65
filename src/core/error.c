/*
 * Error values and logging. An RnError is a small caller-owned struct, so
 * reporting an error never needs the heap. The log goes to stderr with a
 * timestamp; one mutex keeps lines from different threads whole.
 */
#include "radnode/core.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int rn_error_set_(RnError *err, int code, const char *file, int line, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        err->code = code;
        err->file = file;
        err->line = line;
    }
    return code;
}

void rn_error_prefix(RnError *err, const char *fmt, ...)
{
    if (!err)
        return;
    char prefix[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[sizeof err->message];
    memcpy(old, err->message, sizeof old);
    size_t pl = strlen(prefix);
    if (pl >= sizeof err->message)
        pl = sizeof err->message - 1;
    memcpy(err->message, prefix, pl);
    size_t ol = strnlen(old, sizeof old);
    if (ol > sizeof err->message - 1 - pl)
        ol = sizeof err->message - 1 - pl;
    memcpy(err->message + pl, old, ol);
    err->message[pl + ol] = '\0';
}

void rn_format(char *buf, size_t size, const char *fmt, ...)
{
    if (size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
}

void rn_error_clear(RnError *err)
{
    if (err) {
        err->code = 0;
        err->message[0] = '\0';
        err->file = NULL;
        err->line = 0;
    }
}

const char *rn_error_code_name(int code)
{
    switch (code) {
    case RN_OK: return "ok";
    case RN_ERR_NOMEM: return "out of memory";
    case RN_ERR_IO: return "I/O error";
    case RN_ERR_PARSE: return "malformed input";
    case RN_ERR_INVALID: return "invalid argument";
    case RN_ERR_UNSUPPORTED: return "unsupported";
    case RN_ERR_NOT_FOUND: return "not found";
    case RN_ERR_LIMIT: return "limit exceeded";
    case RN_ERR_NET: return "network error";
    case RN_ERR_TIMEOUT: return "timeout";
    case RN_ERR_TRUNCATED: return "truncated input";
    default: return "error";
    }
}

/* Guards stderr writes and the level; the only process-wide state of the log. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static RnLogLevel log_level = RN_LOG_INFO;

void rn_log_set_level(RnLogLevel level)
{
    pthread_mutex_lock(&log_lock);
    log_level = level;
    pthread_mutex_unlock(&log_lock);
}

void rn_log(RnLogLevel level, const char *fmt, ...)
{
    static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    pthread_mutex_lock(&log_lock);
    if (level >= log_level) {
        fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s\n", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                names[level < 4 ? level : 3], msg);
    }
    pthread_mutex_unlock(&log_lock);
}
