/*
 * File helpers: bounded whole-file reads, atomic durable writes (temp file,
 * fsync, rename, fsync of the folder: what "acknowledged means durable"
 * rests on), mkdir -p, and a monotonic clock.
 */
#include "radnode/core.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

uint8_t *rn_file_read_all(const char *path, size_t max_bytes, size_t *len, RnError *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rn_error_set(err, errno == ENOENT ? RN_ERR_NOT_FOUND : RN_ERR_IO, "%s: %s", path,
                     strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rn_error_set(err, RN_ERR_IO, "%s: not a regular file", path);
        close(fd);
        return NULL;
    }
    if ((uint64_t)st.st_size > max_bytes) {
        rn_error_set(err, RN_ERR_LIMIT, "%s: %lld bytes exceeds the limit of %zu", path,
                     (long long)st.st_size, max_bytes);
        close(fd);
        return NULL;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *data = malloc(size + 1);
    if (!data) {
        rn_error_set(err, RN_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, size);
        close(fd);
        return NULL;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, data + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rn_error_set(err, RN_ERR_IO, "%s: read failed: %s", path,
                         n < 0 ? strerror(errno) : "unexpected end of file");
            free(data);
            close(fd);
            return NULL;
        }
        got += (size_t)n;
    }
    close(fd);
    data[size] = 0;
    *len = size;
    return data;
}

static int fsync_dir_of(const char *path)
{
    char *copy = rn_strdup(path);
    if (!copy)
        return RN_ERR_NOMEM;
    const char *dir = dirname(copy);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;
    if (fd >= 0) {
        if (fsync(fd) != 0)
            rc = RN_ERR_IO;
        close(fd);
    }
    free(copy);
    return rc;
}

int rn_file_write_atomic(const char *path, const void *data, size_t len, bool durable, RnError *err)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    if (!tmp)
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return rn_error_set(err, RN_ERR_IO, "%s: cannot create: %s", path, strerror(e));
    }
    const uint8_t *p = data;
    size_t left = len;
    while (left) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            free(tmp);
            return rn_error_set(err, RN_ERR_IO, "%s: write failed: %s", path, strerror(e));
        }
        p += n;
        left -= (size_t)n;
    }
    if (durable && fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        free(tmp);
        return rn_error_set(err, RN_ERR_IO, "%s: fsync failed: %s", path, strerror(e));
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        free(tmp);
        return rn_error_set(err, RN_ERR_IO, "%s: rename failed: %s", path, strerror(e));
    }
    free(tmp);
    if (durable && fsync_dir_of(path) != 0)
        return rn_error_set(err, RN_ERR_IO, "%s: fsync of folder failed", path);
    return 0;
}

int rn_mkdirs(const char *path, RnError *err)
{
    char *copy = rn_strdup(path);
    if (!copy)
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    for (char *p = copy + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(copy, 0755) != 0 && errno != EEXIST) {
                int e = errno;
                int rc = rn_error_set(err, RN_ERR_IO, "mkdir %s: %s", copy, strerror(e));
                free(copy);
                return rc;
            }
            *p = '/';
        }
    }
    if (mkdir(copy, 0755) != 0 && errno != EEXIST) {
        int e = errno;
        int rc = rn_error_set(err, RN_ERR_IO, "mkdir %s: %s", copy, strerror(e));
        free(copy);
        return rc;
    }
    free(copy);
    return 0;
}

double rn_time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
