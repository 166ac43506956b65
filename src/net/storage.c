/*
 * Storage service support (PS3.4 Annex B) shared by the SCP and SCU: the list
 * of Storage SOP classes (from the UID registry of PS3.6 Annex A), the
 * transfer syntaxes radnode accepts, a reader of the Part 10 file meta
 * information (PS3.10 7.1, group 0002 in explicit VR little endian) that tells
 * the SCU what a file is without parsing its data set, and the Part 10
 * directory writer used by `radnode storescp`: a received data set streams
 * into a temporary file behind a freshly written preamble and meta, and is
 * fsync'ed and renamed into place before the C-STORE is acknowledged, so an
 * acknowledged instance is durably on disk and a 2 GB instance needs no
 * more memory than one PDU.
 */
#include "net/net_internal.h"
#include "radnode/dicom.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- SOP classes and transfer syntaxes --------------------------------------------- */

static bool is_storage_entry(const RnUidEntry *e)
{
    if (!e->type || !e->name || strcmp(e->type, "SOP Class") != 0)
        return false;
    if (!strstr(e->name, "Storage"))
        return false;
    /* Services named after storage that are not Storage SOP classes. */
    if (strstr(e->name, "Commitment") || strstr(e->name, "Storage Management") ||
        strstr(e->name, "Media Storage Directory"))
        return false;
    return true;
}

/* Used when the registry holds no storage class at all (a stripped build). */
static const char *const fallback_storage[] = {
    "1.2.840.10008.5.1.4.1.1.1",     "1.2.840.10008.5.1.4.1.1.1.1",
    "1.2.840.10008.5.1.4.1.1.1.2",   "1.2.840.10008.5.1.4.1.1.1.3",
    "1.2.840.10008.5.1.4.1.1.2",     "1.2.840.10008.5.1.4.1.1.2.1",
    "1.2.840.10008.5.1.4.1.1.3.1",   "1.2.840.10008.5.1.4.1.1.4",
    "1.2.840.10008.5.1.4.1.1.4.1",   "1.2.840.10008.5.1.4.1.1.6.1",
    "1.2.840.10008.5.1.4.1.1.7",     "1.2.840.10008.5.1.4.1.1.7.1",
    "1.2.840.10008.5.1.4.1.1.7.2",   "1.2.840.10008.5.1.4.1.1.7.3",
    "1.2.840.10008.5.1.4.1.1.7.4",   "1.2.840.10008.5.1.4.1.1.12.1",
    "1.2.840.10008.5.1.4.1.1.12.2",  "1.2.840.10008.5.1.4.1.1.20",
    "1.2.840.10008.5.1.4.1.1.66",    "1.2.840.10008.5.1.4.1.1.66.4",
    "1.2.840.10008.5.1.4.1.1.77.1.4", "1.2.840.10008.5.1.4.1.1.88.11",
    "1.2.840.10008.5.1.4.1.1.88.22", "1.2.840.10008.5.1.4.1.1.88.33",
    "1.2.840.10008.5.1.4.1.1.104.1", "1.2.840.10008.5.1.4.1.1.128",
    "1.2.840.10008.5.1.4.1.1.481.1", "1.2.840.10008.5.1.4.1.1.481.2",
    "1.2.840.10008.5.1.4.1.1.481.3", "1.2.840.10008.5.1.4.1.1.481.5",
};

const char *rn_net_storage_class_at(size_t index)
{
    size_t seen = 0;
    const RnUidEntry *e;
    for (size_t i = 0; (e = rn_uid_at(i)) != NULL; i++) {
        if (!is_storage_entry(e))
            continue;
        if (seen++ == index)
            return e->uid;
    }
    if (seen > 0)
        return NULL;
    if (index < sizeof fallback_storage / sizeof fallback_storage[0])
        return fallback_storage[index];
    return NULL;
}

bool rn_net_is_storage_class(const char *uid)
{
    const RnUidEntry *e = rn_uid_find(uid);
    if (e)
        return is_storage_entry(e);
    for (size_t i = 0; i < sizeof fallback_storage / sizeof fallback_storage[0]; i++)
        if (!strcmp(fallback_storage[i], uid))
            return true;
    return false;
}

/* Uncompressed first (every peer can take them), then the compressed ones
 * stored as received. */
static const char *const accepted_ts[] = {
    RN_UID_EXPLICIT_VR_LE,
    RN_UID_IMPLICIT_VR_LE,
    RN_UID_DEFLATED_EXPLICIT_VR_LE,
    RN_UID_EXPLICIT_VR_BE,
    RN_UID_JPEG_BASELINE,
    RN_UID_JPEG_EXTENDED,
    RN_UID_JPEG_LOSSLESS,
    RN_UID_JPEG_LOSSLESS_SV1,
    RN_UID_JPEG_LS_LOSSLESS,
    RN_UID_JPEG_LS_NEAR_LOSSLESS,
    RN_UID_JPEG2000_LOSSLESS,
    RN_UID_JPEG2000,
    RN_UID_RLE_LOSSLESS,
    "1.2.840.10008.1.2.4.201", /* HTJ2K lossless */
    "1.2.840.10008.1.2.4.202", /* HTJ2K lossless RPCL */
    "1.2.840.10008.1.2.4.203", /* HTJ2K */
    "1.2.840.10008.1.2.4.100", /* MPEG2 MP@ML */
    "1.2.840.10008.1.2.4.101", /* MPEG2 MP@HL */
    "1.2.840.10008.1.2.4.102", /* MPEG-4 AVC/H.264 HP@4.1 */
    "1.2.840.10008.1.2.4.103", /* MPEG-4 AVC/H.264 BD */
};

const char *rn_net_transfer_syntax_at(size_t index)
{
    if (index < sizeof accepted_ts / sizeof accepted_ts[0])
        return accepted_ts[index];
    return NULL;
}

/* ---- Part 10 meta ------------------------------------------------------------------ */

static bool long_length_vr(const uint8_t *vr)
{
    static const char *const l[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ",
                                    "SV", "UC", "UN", "UR", "UT", "UV"};
    for (size_t i = 0; i < sizeof l / sizeof l[0]; i++)
        if (vr[0] == (uint8_t)l[i][0] && vr[1] == (uint8_t)l[i][1])
            return true;
    return false;
}

static void meta_string(char *dst, const uint8_t *v, size_t len)
{
    while (len > 0 && (v[len - 1] == 0 || v[len - 1] == ' '))
        len--;
    if (len > RN_NET_UID_MAX)
        len = RN_NET_UID_MAX;
    memcpy(dst, v, len);
    dst[len] = '\0';
}

int rn_net_probe_file(const char *path, RnFileProbe *out, RnError *err)
{
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rn_error_set(err, RN_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return rn_error_set(err, RN_ERR_IO, "%s: not a regular file", path);
    }
    out->file_size = (uint64_t)st.st_size;
    enum { HEAD = 65536 };
    uint8_t *h = rn_malloc(HEAD);
    if (!h) {
        close(fd);
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    }
    ssize_t n = pread(fd, h, HEAD, 0);
    close(fd);
    int rc = 0;
    if (n < 132 || memcmp(h + 128, "DICM", 4) != 0) {
        rc = rn_error_set(err, RN_ERR_UNSUPPORTED, "%s: no Part 10 preamble", path);
        goto done;
    }
    size_t pos = 132, len = (size_t)n;
    while (pos + 8 <= len && rn_rd16le(h + pos) == 0x0002) {
        uint16_t el = rn_rd16le(h + pos + 2);
        const uint8_t *vr = h + pos + 4;
        size_t vl, hdr;
        if (long_length_vr(vr)) {
            if (pos + 12 > len)
                break;
            vl = rn_rd32le(h + pos + 8);
            hdr = 12;
        } else {
            vl = rn_rd16le(h + pos + 6);
            hdr = 8;
        }
        if (vl > len - pos - hdr) {
            rc = rn_error_set(err, RN_ERR_PARSE, "%s: file meta element length lies", path);
            goto done;
        }
        const uint8_t *v = h + pos + hdr;
        if (el == 0x0002)
            meta_string(out->sop_class, v, vl);
        else if (el == 0x0003)
            meta_string(out->sop_instance, v, vl);
        else if (el == 0x0010)
            meta_string(out->transfer_syntax, v, vl);
        pos += hdr + vl;
    }
    out->dataset_offset = pos;
    if (!out->sop_class[0] || !out->sop_instance[0] || !out->transfer_syntax[0])
        rc = rn_error_set(err, RN_ERR_UNSUPPORTED, "%s: incomplete file meta information", path);
done:
    free(h);
    return rc;
}

static int meta_elem(RnBuf *b, uint16_t el, const char *vr, const void *v, size_t len, char pad)
{
    size_t padded = len + (len & 1);
    int rc = rn_buf_append_u16le(b, 0x0002);
    rc |= rn_buf_append_u16le(b, el);
    rc |= rn_buf_append(b, vr, 2);
    if (vr[0] == 'O') {
        rc |= rn_buf_append_u16le(b, 0);
        rc |= rn_buf_append_u32le(b, (uint32_t)padded);
    } else {
        rc |= rn_buf_append_u16le(b, (uint16_t)padded);
    }
    rc |= rn_buf_append(b, v, len);
    if (len & 1)
        rc |= rn_buf_append_byte(b, (uint8_t)pad);
    return rc;
}

int rn_net_part10_header(const char *sop_class, const char *sop_instance, const char *ts,
                         const char *source_ae, RnBuf *out, RnError *err)
{
    RnBuf m = {0};
    static const uint8_t version[2] = {0, 1};
    int rc = meta_elem(&m, 0x0001, "OB", version, 2, 0);
    rc |= meta_elem(&m, 0x0002, "UI", sop_class, strlen(sop_class), 0);
    rc |= meta_elem(&m, 0x0003, "UI", sop_instance, strlen(sop_instance), 0);
    rc |= meta_elem(&m, 0x0010, "UI", ts, strlen(ts), 0);
    rc |= meta_elem(&m, 0x0012, "UI", RN_IMPLEMENTATION_CLASS_UID,
                    strlen(RN_IMPLEMENTATION_CLASS_UID), 0);
    rc |= meta_elem(&m, 0x0013, "SH", RN_IMPLEMENTATION_VERSION_NAME,
                    strlen(RN_IMPLEMENTATION_VERSION_NAME), ' ');
    if (source_ae && source_ae[0])
        rc |= meta_elem(&m, 0x0016, "AE", source_ae, strlen(source_ae), ' ');
    uint8_t pre[128] = {0};
    rc |= rn_buf_append(out, pre, sizeof pre);
    rc |= rn_buf_append(out, "DICM", 4);
    uint8_t gl[4];
    rn_wr32le(gl, (uint32_t)m.len);
    rc |= meta_elem(out, 0x0000, "UL", gl, 4, 0);
    rc |= rn_buf_append(out, m.data, m.len);
    rn_buf_free(&m);
    return rc ? rn_error_set(err, RN_ERR_NOMEM, "out of memory") : 0;
}

/* ---- Part 10 directory writer ------------------------------------------------------ */

struct RnStoreDir {
    char *dir;
    char ae_title[RN_AE_MAX + 1];
    bool durable;
    /* Group sync of the folder: every rename takes a ticket; one fsync of the
     * folder makes all renames done before it durable, so concurrent
     * associations share it. Guarded by sync_lock. */
    pthread_mutex_t sync_lock;
    pthread_cond_t sync_done;
    uint64_t renamed, synced;
    bool syncing;
};

typedef struct StoreInstance {
    RnStoreDir *d;
    int fd;
    char tmp[4096];
    char final[4096];
    uint64_t bytes;
    int error;
    char message[160];
} StoreInstance;

RnStoreDir *rn_store_dir_create(const char *dir, const char *ae_title, bool durable,
                                RnError *err)
{
    if (rn_mkdirs(dir, err))
        return NULL;
    RnStoreDir *d = rn_calloc(1, sizeof *d);
    if (!d || !(d->dir = rn_strdup(dir))) {
        free(d);
        rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    snprintf(d->ae_title, sizeof d->ae_title, "%s", ae_title ? ae_title : "");
    d->durable = durable;
    pthread_mutex_init(&d->sync_lock, NULL);
    pthread_cond_init(&d->sync_done, NULL);
    return d;
}

void rn_store_dir_destroy(RnStoreDir *d)
{
    if (!d)
        return;
    pthread_mutex_destroy(&d->sync_lock);
    pthread_cond_destroy(&d->sync_done);
    free(d->dir);
    free(d);
}

/* A UID is digits and dots; anything else from the wire never becomes a path. */
static bool uid_is_safe(const char *uid)
{
    if (!uid[0] || strlen(uid) > RN_NET_UID_MAX || uid[0] == '.')
        return false;
    for (const char *p = uid; *p; p++)
        if (!((*p >= '0' && *p <= '9') || *p == '.'))
            return false;
    return true;
}

static int write_all_fd(int fd, const uint8_t *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int dir_begin(void *user, const RnStoreRequest *rq, void **instance, RnError *err)
{
    RnStoreDir *d = user;
    if (!uid_is_safe(rq->sop_instance) || !uid_is_safe(rq->sop_class))
        return rn_error_set(err, RN_ERR_INVALID, "invalid SOP class or instance UID");
    StoreInstance *s = rn_calloc(1, sizeof *s);
    if (!s)
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    s->d = d;
    snprintf(s->final, sizeof s->final, "%s/%s.dcm", d->dir, rq->sop_instance);
    snprintf(s->tmp, sizeof s->tmp, "%s/.incoming-XXXXXX", d->dir);
    s->fd = mkostemp(s->tmp, O_CLOEXEC);
    if (s->fd < 0) {
        int e = errno;
        free(s);
        return rn_error_set(err, RN_ERR_IO, "%s: %s", d->dir, strerror(e));
    }
    RnBuf h = {0};
    int rc = rn_net_part10_header(rq->sop_class, rq->sop_instance, rq->transfer_syntax,
                                  rq->calling_ae, &h, err);
    if (!rc && write_all_fd(s->fd, h.data, h.len))
        rc = rn_error_set(err, RN_ERR_IO, "%s: %s", s->tmp, strerror(errno));
    rn_buf_free(&h);
    if (rc) {
        close(s->fd);
        unlink(s->tmp);
        free(s);
        return rc;
    }
    *instance = s;
    return 0;
}

static int dir_data(void *instance, const uint8_t *data, size_t len, RnError *err)
{
    StoreInstance *s = instance;
    if (write_all_fd(s->fd, data, len))
        return rn_error_set(err, RN_ERR_IO, "%s: %s", s->tmp, strerror(errno));
    s->bytes += len;
    return 0;
}

/* Makes this thread's rename durable: waits for a folder fsync that started
 * after it, running one itself when none is running (group commit). */
static int sync_folder(RnStoreDir *d)
{
    pthread_mutex_lock(&d->sync_lock);
    uint64_t ticket = ++d->renamed;
    int rc = 0;
    while (d->synced < ticket) {
        if (d->syncing) {
            pthread_cond_wait(&d->sync_done, &d->sync_lock);
            continue;
        }
        d->syncing = true;
        uint64_t target = d->renamed;
        pthread_mutex_unlock(&d->sync_lock);
        int dfd = open(d->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int frc = dfd >= 0 ? fsync(dfd) : -1;
        if (dfd >= 0)
            close(dfd);
        pthread_mutex_lock(&d->sync_lock);
        d->syncing = false;
        if (frc == 0 && target > d->synced)
            d->synced = target;
        pthread_cond_broadcast(&d->sync_done);
        if (frc != 0) {
            rc = -1; /* the others retry with their own fsync */
            break;
        }
    }
    pthread_mutex_unlock(&d->sync_lock);
    return rc;
}

static uint16_t dir_end(void *instance, bool complete, char *comment, size_t comment_size)
{
    StoreInstance *s = instance;
    uint16_t status = RN_STATUS_SUCCESS;
    if (complete && s->d->durable && fsync(s->fd) != 0) {
        snprintf(comment, comment_size, "fsync failed: %s", strerror(errno));
        complete = false;
        status = RN_STATUS_OUT_OF_RESOURCES;
    }
    if (close(s->fd) != 0 && complete) {
        snprintf(comment, comment_size, "close failed: %s", strerror(errno));
        complete = false;
        status = RN_STATUS_OUT_OF_RESOURCES;
    }
    if (complete && rename(s->tmp, s->final) != 0) {
        snprintf(comment, comment_size, "rename failed: %s", strerror(errno));
        complete = false;
        status = RN_STATUS_OUT_OF_RESOURCES;
    }
    if (!complete) {
        unlink(s->tmp);
        if (status == RN_STATUS_SUCCESS)
            status = RN_STATUS_OUT_OF_RESOURCES;
    } else if (s->d->durable && sync_folder(s->d) != 0) {
        /* The rename itself must survive a crash before we acknowledge. */
        snprintf(comment, comment_size, "fsync of folder failed");
        status = RN_STATUS_OUT_OF_RESOURCES;
    }
    free(s);
    return status;
}

RnStoreHandler rn_store_dir_handler(RnStoreDir *d)
{
    RnStoreHandler h = {.begin = dir_begin, .data = dir_data, .end = dir_end, .user = d};
    return h;
}
