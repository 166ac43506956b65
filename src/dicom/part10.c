/*
 * The DICOM file format (PS3.10 7): 128-byte preamble, "DICM", File Meta
 * Information (group 0002, always explicit VR little endian) and the dataset
 * in the transfer syntax the meta names. Files without a preamble (a bare
 * dataset, or meta without preamble) are read too, with the encoding guessed
 * from the first element.
 *
 * Lazy reading: files are memory-mapped; values longer than a threshold are
 * not copied but point into the mapping, so the pages of a 1 GB multi-frame
 * pixel data element are never read when only the header is used. Deflated
 * datasets (PS3.5 A.5) are inflated into memory first, with a bound.
 */
#include "dicom/dataset_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define DEFAULT_DEFER (64 * 1024)
/* Largest inflated dataset accepted from a deflated file. */
#define MAX_INFLATED ((size_t)4 << 30)

struct RnDicomFile {
    RnDataset *meta;
    RnDataset *dataset;
    char ts_uid[RN_UID_MAX + 1];
    bool has_preamble;
    uint8_t preamble[128];
    /* Backing memory that borrowed values point into. */
    void *map;
    size_t map_len;
    uint8_t *inflated; /* owned, deflated files */
    size_t inflated_len;
    uint8_t *copy; /* owned copy for rn_dicom_read_memory */
};

void rn_dicom_file_destroy(RnDicomFile *f)
{
    if (!f)
        return;
    rn_dataset_destroy(f->meta);
    rn_dataset_destroy(f->dataset);
    if (f->map)
        munmap(f->map, f->map_len);
    free(f->inflated);
    free(f->copy);
    free(f);
}

RnDataset *rn_dicom_file_meta(RnDicomFile *f) { return f->meta; }
RnDataset *rn_dicom_file_dataset(RnDicomFile *f) { return f->dataset; }
const char *rn_dicom_file_transfer_syntax(const RnDicomFile *f) { return f->ts_uid; }
bool rn_dicom_file_has_preamble(const RnDicomFile *f) { return f->has_preamble; }

RnDataset *rn_dicom_file_take_dataset(RnDicomFile *f)
{
    if (rn_dataset_materialize(f->dataset, NULL))
        return NULL;
    RnDataset *empty = rn_dataset_create();
    if (!empty)
        return NULL;
    RnDataset *ds = f->dataset;
    f->dataset = empty;
    return ds;
}

int rn_dicom_file_load(RnDicomFile *f, RnElement *el, RnError *err)
{
    (void)f;
    if (!el->borrowed)
        return 0;
    uint8_t *v = rn_malloc(el->value_len);
    if (!v)
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory loading (%04X,%04X)",
                            RN_TAG_GROUP(el->tag), RN_TAG_ELEMENT(el->tag));
    memcpy(v, el->value, el->value_len);
    el->value = v;
    el->borrowed = false;
    return 0;
}

int rn_dicom_file_load_all(RnDicomFile *f, RnError *err)
{
    int rc = rn_dataset_materialize(f->meta, err);
    return rc ? rc : rn_dataset_materialize(f->dataset, err);
}

/* Trimmed UID value of an element into out. */
static void uid_value(const RnDataset *ds, RnTag tag, char *out, size_t size)
{
    out[0] = '\0';
    const RnElement *el = rn_dataset_get(ds, tag);
    if (!el || !el->value)
        return;
    size_t n = el->value_len < size - 1 ? el->value_len : size - 1;
    memcpy(out, el->value, n);
    out[n] = '\0';
    while (n > 0 && (out[n - 1] == '\0' || out[n - 1] == ' '))
        out[--n] = '\0';
    size_t s = 0;
    while (out[s] == ' ')
        s++;
    if (s)
        memmove(out, out + s, n - s + 1);
}

static bool looks_like_vr(const uint8_t *p)
{
    return p[0] >= 'A' && p[0] <= 'Z' && p[1] >= 'A' && p[1] <= 'Z' &&
           rn_vr_is_valid(RN_VR_CODE(p[0], p[1]));
}

/* Guesses the encoding of a bare dataset from its first element header. */
static void guess_encoding(const uint8_t *d, size_t len, bool *explicit_vr, bool *big_endian)
{
    *explicit_vr = false;
    *big_endian = false;
    if (len < 8)
        return;
    uint16_t gle = rn_rd16le(d), gbe = rn_rd16be(d);
    *big_endian = gbe < gle && gbe != 0 && (gbe == 0x0008 || gbe == 0x0002);
    *explicit_vr = looks_like_vr(d + 4);
}

static int inflate_all(const uint8_t *src, size_t len, uint8_t **out, size_t *out_len, RnError *err)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    /* PS3.5 A.5: raw deflate (RFC 1951) without zlib header. */
    if (inflateInit2(&zs, -MAX_WBITS) != Z_OK)
        return rn_error_set(err, RN_ERR_NOMEM, "inflate: cannot initialise zlib");
    size_t cap = len * 4 + 1024, used = 0;
    uint8_t *buf = NULL;
    int rc = 0;
    for (;;) {
        if (cap > MAX_INFLATED) {
            rc = rn_error_set(err, RN_ERR_LIMIT, "inflated dataset exceeds %zu bytes", MAX_INFLATED);
            break;
        }
        uint8_t *nb = realloc(buf, cap);
        if (!nb) {
            rc = rn_error_set(err, RN_ERR_NOMEM, "out of memory inflating");
            break;
        }
        buf = nb;
        zs.next_in = (Bytef *)src + zs.total_in;
        zs.avail_in = (uInt)((len - zs.total_in) > 0x40000000u ? 0x40000000u : len - zs.total_in);
        zs.next_out = buf + used;
        zs.avail_out = (uInt)((cap - used) > 0x40000000u ? 0x40000000u : cap - used);
        int z = inflate(&zs, Z_NO_FLUSH);
        used = zs.total_out;
        if (z == Z_STREAM_END)
            break;
        if (z == Z_BUF_ERROR && zs.total_in >= len) {
            rc = rn_error_set(err, RN_ERR_TRUNCATED, "deflated dataset is truncated");
            break;
        }
        if (z != Z_OK && z != Z_BUF_ERROR) {
            rc = rn_error_set(err, RN_ERR_PARSE, "deflated dataset is corrupt: %s",
                              zs.msg ? zs.msg : "zlib error");
            break;
        }
        if (used == cap)
            cap *= 2;
    }
    inflateEnd(&zs);
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    *out_len = used;
    return 0;
}

static RnDicomFile *parse_file(RnDicomFile *f, const uint8_t *d, size_t len, const RnReadOptions *opt,
                               bool may_borrow, RnError *err)
{
    RnReadOptions defaults = {.defer_threshold = DEFAULT_DEFER};
    if (!opt)
        opt = &defaults;
    size_t pos = 0;
    f->meta = rn_dataset_create();
    f->dataset = rn_dataset_create();
    if (!f->meta || !f->dataset) {
        rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (len >= 132 && memcmp(d + 128, "DICM", 4) == 0) {
        f->has_preamble = true;
        memcpy(f->preamble, d, 128);
        pos = 132;
    } else if (len >= 4 && memcmp(d, "DICM", 4) == 0) {
        pos = 4;
    }
    bool have_meta = false;
    if (len - pos >= 8 && rn_rd16le(d + pos) == 0x0002) {
        /* File meta: explicit VR LE whatever follows (PS3.10 7.1). Its group
         * length is not trusted; the group ends where group 0002 ends. */
        size_t end = pos;
        bool meta_explicit = looks_like_vr(d + pos + 4);
        while (len - end >= 8 && rn_rd16le(d + end) == 0x0002) {
            uint32_t vlen;
            size_t hl;
            if (meta_explicit) {
                RnVR vr = RN_VR_CODE(d[end + 4], d[end + 5]);
                if (rn_vr_has_long_length(vr) || !rn_vr_is_valid(vr)) {
                    if (len - end < 12) {
                        rn_error_set(err, RN_ERR_TRUNCATED, "offset %zu: file meta truncated", end);
                        goto fail;
                    }
                    vlen = rn_rd32le(d + end + 8);
                    hl = 12;
                } else {
                    vlen = rn_rd16le(d + end + 6);
                    hl = 8;
                }
            } else {
                vlen = rn_rd32le(d + end + 4);
                hl = 8;
            }
            if (vlen == RN_UNDEFINED_LENGTH || vlen > len - end - hl) {
                rn_error_set(err, RN_ERR_PARSE,
                             "offset %zu: file meta element (0002,%04X) length %u exceeds the file",
                             end, rn_rd16le(d + end + 2), vlen);
                goto fail;
            }
            end += hl + vlen;
        }
        RnParseParams mp = {.explicit_vr = meta_explicit, .base = pos};
        if (rn_dataset_parse(f->meta, d + pos, end - pos, &mp, NULL, err)) {
            rn_error_prefix(err, "file meta information: ");
            goto fail;
        }
        pos = end;
        have_meta = true;
    } else if (f->has_preamble) {
        rn_error_set(err, RN_ERR_PARSE, "offset 132: DICM prefix not followed by file meta (0002,xxxx)");
        goto fail;
    }

    bool explicit_vr, big_endian, deflated = false;
    uid_value(f->meta, RN_TAG_TransferSyntaxUID, f->ts_uid, sizeof f->ts_uid);
    if (have_meta && f->ts_uid[0]) {
        const RnTransferSyntax *ts = rn_transfer_syntax_find(f->ts_uid);
        if (ts) {
            explicit_vr = ts->explicit_vr;
            big_endian = ts->big_endian;
            deflated = ts->deflated;
        } else {
            /* PS3.5 10: every transfer syntax not defined here is explicit VR LE. */
            explicit_vr = true;
            big_endian = false;
        }
        /* Some writers label implicit data as explicit: trust the bytes (as DCMTK does). */
        if (!deflated && len - pos >= 8) {
            bool gx, gb;
            guess_encoding(d + pos, len - pos, &gx, &gb);
            if (explicit_vr != gx && !big_endian)
                explicit_vr = gx;
        }
    } else {
        guess_encoding(d + pos, len - pos, &explicit_vr, &big_endian);
        snprintf(f->ts_uid, sizeof f->ts_uid, "%s",
                 !explicit_vr ? RN_UID_IMPLICIT_VR_LE
                              : (big_endian ? RN_UID_EXPLICIT_VR_BE : RN_UID_EXPLICIT_VR_LE));
    }

    const uint8_t *body = d + pos;
    size_t body_len = len - pos;
    uint64_t base = pos;
    if (deflated) {
        if (inflate_all(body, body_len, &f->inflated, &f->inflated_len, err))
            goto fail;
        body = f->inflated;
        body_len = f->inflated_len;
        base = 0;
        may_borrow = true; /* the inflated buffer lives as long as the file */
    }
    RnParseParams p = {
        .explicit_vr = explicit_vr,
        .big_endian = big_endian,
        .defer_threshold = may_borrow ? opt->defer_threshold : 0,
        .stop_before = opt->stop_before,
        .max_depth = opt->max_depth,
        .base = base,
    };
    if (rn_dataset_parse(f->dataset, body, body_len, &p, NULL, err)) {
        if (deflated)
            rn_error_prefix(err, "inflated dataset: ");
        goto fail;
    }
    return f;
fail:
    rn_dicom_file_destroy(f);
    return NULL;
}

RnDicomFile *rn_dicom_read_file(const char *path, const RnReadOptions *opt, RnError *err)
{
    RnDicomFile *f = rn_calloc(1, sizeof *f);
    if (!f) {
        rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rn_error_set(err, errno == ENOENT ? RN_ERR_NOT_FOUND : RN_ERR_IO, "%s: %s", path,
                     strerror(errno));
        free(f);
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rn_error_set(err, RN_ERR_IO, "%s: not a regular file", path);
        close(fd);
        free(f);
        return NULL;
    }
    size_t len = (size_t)st.st_size;
    const uint8_t *d = (const uint8_t *)"";
    if (len > 0) {
        void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            rn_error_set(err, RN_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
            close(fd);
            free(f);
            return NULL;
        }
        f->map = m;
        f->map_len = len;
        d = m;
    }
    close(fd);
    if (len == 0) {
        rn_error_set(err, RN_ERR_PARSE, "%s: empty file", path);
        free(f);
        return NULL;
    }
    RnDicomFile *r = parse_file(f, d, len, opt, true, err);
    if (!r)
        rn_error_prefix(err, "%s: ", path);
    return r;
}

RnDicomFile *rn_dicom_read_memory(const uint8_t *data, size_t len, const RnReadOptions *opt,
                                  RnError *err)
{
    RnDicomFile *f = rn_calloc(1, sizeof *f);
    if (!f) {
        rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (len == 0) {
        rn_error_set(err, RN_ERR_PARSE, "empty input");
        free(f);
        return NULL;
    }
    RnReadOptions o = opt ? *opt : (RnReadOptions){0};
    o.defer_threshold = 0; /* the caller's buffer may not outlive the file: copy */
    return parse_file(f, data, len, &o, false, err);
}

/* ---- Writing ------------------------------------------------------------------ */

static int build_meta(RnDicomFile *f, const char *ts_uid, RnError *err)
{
    RnDataset *m = rn_dataset_create();
    if (!m)
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    char sop_class[RN_UID_MAX + 1], sop_inst[RN_UID_MAX + 1];
    uid_value(f->dataset, RN_TAG_SOPClassUID, sop_class, sizeof sop_class);
    uid_value(f->dataset, RN_TAG_SOPInstanceUID, sop_inst, sizeof sop_inst);
    if (!sop_class[0] && f->meta)
        uid_value(f->meta, RN_TAG_MediaStorageSOPClassUID, sop_class, sizeof sop_class);
    if (!sop_inst[0] && f->meta)
        uid_value(f->meta, RN_TAG_MediaStorageSOPInstanceUID, sop_inst, sizeof sop_inst);
    static const uint8_t version[2] = {0, 1};
    int rc = rn_dataset_set_bytes(m, RN_TAG_FileMetaInformationVersion, RN_VR_OB, version, 2, err);
    if (!rc)
        rc = rn_dataset_set_string(m, RN_TAG_MediaStorageSOPClassUID, RN_VR_UI, sop_class, err);
    if (!rc)
        rc = rn_dataset_set_string(m, RN_TAG_MediaStorageSOPInstanceUID, RN_VR_UI, sop_inst, err);
    if (!rc)
        rc = rn_dataset_set_string(m, RN_TAG_TransferSyntaxUID, RN_VR_UI, ts_uid, err);
    if (!rc)
        rc = rn_dataset_set_string(m, RN_TAG_ImplementationClassUID, RN_VR_UI,
                                   RN_IMPLEMENTATION_CLASS_UID, err);
    if (!rc)
        rc = rn_dataset_set_string(m, RN_TAG_ImplementationVersionName, RN_VR_SH,
                                   RN_IMPLEMENTATION_VERSION_NAME, err);
    if (!rc && f->meta) {
        const RnElement *src = rn_dataset_get(f->meta, RN_TAG_SourceApplicationEntityTitle);
        if (src && src->value)
            rc = rn_dataset_set_bytes(m, RN_TAG_SourceApplicationEntityTitle, RN_VR_AE, src->value,
                                      src->value_len, err);
    }
    if (!rc) {
        RnBuf tmp = {0};
        rc = rn_dataset_encode(m, true, false, true, &tmp, err);
        if (!rc)
            rc = rn_dataset_set_uint(m, RN_TAG_FileMetaInformationGroupLength, RN_VR_UL,
                                     (uint32_t)tmp.len, err);
        rn_buf_free(&tmp);
    }
    if (rc) {
        rn_dataset_destroy(m);
        return rc;
    }
    rn_dataset_destroy(f->meta);
    f->meta = m;
    return 0;
}

static int deflate_append(const uint8_t *src, size_t len, RnBuf *out, RnError *err)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK)
        return rn_error_set(err, RN_ERR_NOMEM, "deflate: cannot initialise zlib");
    size_t bound = deflateBound(&zs, (uLong)len);
    if (rn_buf_reserve(out, bound + 1)) {
        deflateEnd(&zs);
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    }
    zs.next_in = (Bytef *)src;
    zs.avail_in = (uInt)len;
    zs.next_out = out->data + out->len;
    zs.avail_out = (uInt)bound;
    int z = deflate(&zs, Z_FINISH);
    size_t produced = zs.total_out;
    deflateEnd(&zs);
    if (z != Z_STREAM_END)
        return rn_error_set(err, RN_ERR_IO, "deflate failed");
    out->len += produced;
    /* PS3.5 A.5: the deflated stream is padded to even length. */
    if (out->len % 2)
        return rn_buf_append_byte(out, 0);
    return 0;
}

int rn_dicom_write_buffer(RnDicomFile *f, const RnWriteOptions *opt, RnBuf *out, RnError *err)
{
    const char *ts_uid = opt && opt->transfer_syntax ? opt->transfer_syntax : f->ts_uid;
    if (!ts_uid[0])
        ts_uid = RN_UID_EXPLICIT_VR_LE;
    const RnTransferSyntax *ts = rn_transfer_syntax_find(ts_uid);
    const RnTransferSyntax *cur = rn_transfer_syntax_find(f->ts_uid);
    bool explicit_vr = ts ? ts->explicit_vr : true;
    bool big_endian = ts ? ts->big_endian : false;
    bool deflated = ts ? ts->deflated : false;
    bool changing = strcmp(ts_uid, f->ts_uid) != 0;
    if (changing) {
        bool cur_encaps = cur ? cur->encapsulated : f->ts_uid[0] != '\0';
        bool new_encaps = ts ? ts->encapsulated : true;
        const RnElement *px = rn_dataset_get(f->dataset, RN_TAG_PixelData);
        if (px && (cur_encaps || new_encaps))
            return rn_error_set(err, RN_ERR_UNSUPPORTED,
                                "changing pixel data from %s to %s needs transcoding of the pixel "
                                "data, not a re-encoding",
                                f->ts_uid, ts_uid);
    }
    bool keep_meta = opt && opt->keep_meta && !changing && f->meta && rn_dataset_count(f->meta);
    if (!keep_meta) {
        int rc = build_meta(f, ts_uid, err);
        if (rc)
            return rc;
        snprintf(f->ts_uid, sizeof f->ts_uid, "%s", ts_uid);
    }
    if (f->has_preamble) {
        if (rn_buf_append(out, f->preamble, 128))
            return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    } else {
        uint8_t zero[128] = {0};
        if (rn_buf_append(out, zero, 128))
            return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    }
    if (rn_buf_append(out, "DICM", 4))
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    int rc = rn_dataset_encode(f->meta, true, false, false, out, err);
    if (rc)
        return rc;
    if (deflated) {
        RnBuf body = {0};
        rc = rn_dataset_encode(f->dataset, true, false, changing, &body, err);
        if (!rc)
            rc = deflate_append(body.data, body.len, out, err);
        rn_buf_free(&body);
        return rc;
    }
    return rn_dataset_encode(f->dataset, explicit_vr, big_endian, changing, out, err);
}

int rn_dicom_write_file(RnDicomFile *f, const char *path, const RnWriteOptions *opt, RnError *err)
{
    RnBuf b = {0};
    int rc = rn_dicom_write_buffer(f, opt, &b, err);
    if (!rc)
        rc = rn_file_write_atomic(path, b.data, b.len, true, err);
    rn_buf_free(&b);
    return rc;
}

RnDicomFile *rn_dicom_file_create_take(RnDataset *ds, const char *ts_uid, RnError *err)
{
    RnDicomFile *f = rn_calloc(1, sizeof *f);
    if (!f) {
        rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    f->dataset = ds;
    snprintf(f->ts_uid, sizeof f->ts_uid, "%s", ts_uid ? ts_uid : RN_UID_EXPLICIT_VR_LE);
    if (build_meta(f, f->ts_uid, err)) {
        f->dataset = NULL;
        rn_dicom_file_destroy(f);
        return NULL;
    }
    return f;
}
