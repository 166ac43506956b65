/*
 * The durable instance store and its SQLite index (see store.h).
 *
 * Layout under the root:
 *   instances/<study>/<series>/<sop>.dcm   UIDs as folder and file names
 *                                          (UIDs are digits and dots only,
 *                                          checked before use: no traversal)
 *   tmp/                                   incoming files being received
 *   quarantine/                            files rejected, with .reason
 *   index.sqlite                           WAL journal, synchronous=FULL
 *
 * rn_store_put: the caller has written the whole file to tmp/; here it is
 * fsync'd, renamed into place, the folder fsync'd, and the index row
 * committed, in that order, so after a crash the index never names a file
 * that is not on disk (a file without a row is not acknowledged, and a
 * re-sent copy replaces it).
 *
 * Group commit: the durable part of a put costs a handful of fsyncs, which
 * on most disks take far longer than receiving a small instance. Puts are
 * therefore queued (each caller has fsync'd its own file first, in parallel
 * with the others); the first thread to find no commit running becomes the
 * leader and commits every queued put as one group (renames, one fsync per
 * distinct folder, one SQLite transaction), while the puts
 * that arrive meanwhile queue up for the next group. No put waits for a
 * timer: a lone put is committed at once, concurrent ones share the cost
 * (the same scheme as database group commit). Each put still returns only
 * after its own data and index row are durable.
 */
#include "store/store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

struct RnStore {
    char root[400];
    uint64_t min_free_bytes;
    RnDuplicatePolicy duplicates;
    sqlite3 *db;
    pthread_mutex_t lock; /* guards db and every statement on it */
    atomic_uint_fast64_t tmp_counter;
    /* Group commit queue; guarded by commit_lock. Lock order: commit_lock is
     * never held while taking lock (the leader releases it first). */
    pthread_mutex_t commit_lock;
    pthread_cond_t commit_done;
    struct PutRequest *queue, **queue_tail;
    bool committing;
    uint64_t puts, groups;
};

/* One put waiting in the group-commit queue (lives on the caller's stack). */
typedef struct PutRequest {
    const char *tmp_file;
    RnInstanceInfo *info;
    RnPutResult result;
    int rc;
    RnError err;
    bool done;
    struct PutRequest *next;
} PutRequest;

static const char *SCHEMA =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "PRAGMA foreign_keys=ON;"
    "CREATE TABLE IF NOT EXISTS studies("
    "  study_uid TEXT PRIMARY KEY, patient_id TEXT, patient_name TEXT, patient_birth_date TEXT,"
    "  patient_sex TEXT, study_date TEXT, accession_number TEXT, study_description TEXT,"
    "  last_received REAL NOT NULL, generation INTEGER NOT NULL DEFAULT 0,"
    "  handed_generation INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS instances("
    "  sop_uid TEXT PRIMARY KEY, study_uid TEXT NOT NULL REFERENCES studies(study_uid),"
    "  series_uid TEXT NOT NULL, sop_class_uid TEXT, transfer_syntax TEXT, modality TEXT,"
    "  body_part TEXT, series_description TEXT, slice_thickness REAL, instance_number INTEGER,"
    "  calling_ae TEXT, size INTEGER, path TEXT NOT NULL, received REAL NOT NULL,"
    "  manufacturer TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX IF NOT EXISTS instances_study ON instances(study_uid);"
    "CREATE TABLE IF NOT EXISTS jobs("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, target TEXT NOT NULL,"
    "  study_uid TEXT NOT NULL, generation INTEGER NOT NULL, payload TEXT NOT NULL DEFAULT '',"
    "  state INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_run_at REAL NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '',"
    "  created REAL NOT NULL, updated REAL NOT NULL,"
    "  UNIQUE(kind, target, study_uid, generation, payload));"
    "CREATE INDEX IF NOT EXISTS jobs_runnable ON jobs(state, next_run_at);"
    "CREATE INDEX IF NOT EXISTS jobs_destination ON jobs(kind, target, state);"
    "CREATE INDEX IF NOT EXISTS instances_series ON instances(series_uid);";

/* Columns added after the first schema (Query/Retrieve keys); ALTER fails
 * harmlessly with "duplicate column" on an index that has them. */
static const char *const MIGRATIONS[] = {
    "ALTER TABLE studies ADD COLUMN study_time TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE studies ADD COLUMN study_id TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE studies ADD COLUMN referring_physician TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE instances ADD COLUMN series_number INTEGER NOT NULL DEFAULT 0",
    /* Retention (retention.c) and fetched priors (priors.c). */
    "CREATE INDEX IF NOT EXISTS jobs_study ON jobs(study_uid)",
    "CREATE TABLE IF NOT EXISTS study_marks(study_uid TEXT PRIMARY KEY, mark TEXT NOT NULL,"
    " note TEXT NOT NULL DEFAULT '', created REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS retired_instances(sop_uid TEXT PRIMARY KEY,"
    " study_uid TEXT NOT NULL, retired REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS retention_log(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " study_uid TEXT NOT NULL, deleted REAL NOT NULL, instances INTEGER NOT NULL,"
    " bytes INTEGER NOT NULL)",
};

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int db_error(RnStore *s, RnError *err, const char *what)
{
    return rn_error_set(err, RN_ERR_IO, "store index: %s: %s", what, sqlite3_errmsg(s->db));
}

RnStore *rn_store_open(const RnStoreConfig *cfg, RnError *err)
{
    if (!cfg || !cfg->root || strlen(cfg->root) >= 380) {
        rn_error_set(err, RN_ERR_INVALID, "store root missing or too long");
        return NULL;
    }
    RnStore *s = rn_calloc(1, sizeof *s);
    if (!s) {
        rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    snprintf(s->root, sizeof s->root, "%s", cfg->root);
    s->min_free_bytes = cfg->min_free_bytes ? cfg->min_free_bytes : (1ull << 30);
    s->duplicates = cfg->duplicates;
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->commit_lock, NULL);
    pthread_cond_init(&s->commit_done, NULL);
    s->queue_tail = &s->queue;
    char path[512];
    const char *subs[] = {"", "/instances", "/tmp", "/quarantine"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s%s", s->root, subs[i]);
        if (rn_mkdirs(path, err)) {
            rn_store_close(s);
            return NULL;
        }
    }
    snprintf(path, sizeof path, "%s/index.sqlite", s->root);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        rn_error_set(err, RN_ERR_IO, "cannot open %s: %s", path,
                     s->db ? sqlite3_errmsg(s->db) : "out of memory");
        rn_store_close(s);
        return NULL;
    }
    sqlite3_busy_timeout(s->db, 10000);
    char *msg = NULL;
    if (sqlite3_exec(s->db, SCHEMA, NULL, NULL, &msg) != SQLITE_OK) {
        rn_error_set(err, RN_ERR_IO, "cannot create the index schema in %s: %s", path,
                     msg ? msg : "?");
        sqlite3_free(msg);
        rn_store_close(s);
        return NULL;
    }
    for (size_t i = 0; i < sizeof MIGRATIONS / sizeof MIGRATIONS[0]; i++)
        sqlite3_exec(s->db, MIGRATIONS[i], NULL, NULL, NULL);
    return s;
}

void rn_store_close(RnStore *s)
{
    if (!s)
        return;
    if (s->db)
        sqlite3_close(s->db);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->commit_lock);
    pthread_cond_destroy(&s->commit_done);
    free(s);
}

const char *rn_store_root(const RnStore *s) { return s->root; }

bool rn_store_has_space(RnStore *s)
{
    struct statvfs v;
    if (statvfs(s->root, &v) != 0)
        return false;
    return (uint64_t)v.f_bavail * v.f_frsize >= s->min_free_bytes;
}

int rn_store_tmp_path(RnStore *s, char *out, size_t size, RnError *err)
{
    uint64_t n = atomic_fetch_add(&s->tmp_counter, 1);
    int w = snprintf(out, size, "%s/tmp/%ld-%llu-%llu.part", s->root, (long)getpid(),
                     (unsigned long long)n, (unsigned long long)(wall_now() * 1000));
    if (w < 0 || (size_t)w >= size)
        return rn_error_set(err, RN_ERR_INVALID, "tmp path too long");
    return 0;
}

/* ---- Instance attributes ------------------------------------------------------ */

static void get_str(const RnDataset *ds, RnTag tag, char *out, size_t size)
{
    if (rn_dataset_get_string(ds, tag, 0, out, size, NULL) != 0)
        out[0] = '\0';
}

int rn_instance_info_from_dataset(const RnDataset *ds, const char *ts_uid, RnInstanceInfo *info,
                                  RnError *err)
{
    memset(info, 0, sizeof *info);
    get_str(ds, RN_TAG_PatientID, info->patient_id, sizeof info->patient_id);
    char *name = rn_dataset_get_string_all(ds, RN_TAG_PatientName, NULL);
    if (name) {
        snprintf(info->patient_name, sizeof info->patient_name, "%s", name);
        free(name);
    }
    get_str(ds, RN_TAG_PatientBirthDate, info->patient_birth_date, sizeof info->patient_birth_date);
    get_str(ds, RN_TAG_PatientSex, info->patient_sex, sizeof info->patient_sex);
    get_str(ds, RN_TAG_StudyInstanceUID, info->study_uid, sizeof info->study_uid);
    get_str(ds, RN_TAG_SeriesInstanceUID, info->series_uid, sizeof info->series_uid);
    get_str(ds, RN_TAG_SOPInstanceUID, info->sop_uid, sizeof info->sop_uid);
    get_str(ds, RN_TAG_SOPClassUID, info->sop_class_uid, sizeof info->sop_class_uid);
    get_str(ds, RN_TAG_StudyDate, info->study_date, sizeof info->study_date);
    get_str(ds, RN_TAG_StudyTime, info->study_time, sizeof info->study_time);
    get_str(ds, RN_TAG_StudyID, info->study_id, sizeof info->study_id);
    char *ref = rn_dataset_get_string_all(ds, RN_TAG_ReferringPhysicianName, NULL);
    if (ref) {
        snprintf(info->referring_physician, sizeof info->referring_physician, "%s", ref);
        free(ref);
    }
    int64_t sn = 0;
    if (rn_dataset_get_int(ds, RN_TAG_SeriesNumber, 0, &sn, NULL) == 0 && sn > -1000000000 &&
        sn < 1000000000)
        info->series_number = (int)sn;
    get_str(ds, RN_TAG_AccessionNumber, info->accession_number, sizeof info->accession_number);
    get_str(ds, RN_TAG_Modality, info->modality, sizeof info->modality);
    get_str(ds, RN_TAG_BodyPartExamined, info->body_part, sizeof info->body_part);
    get_str(ds, RN_TAG_SeriesDescription, info->series_description,
            sizeof info->series_description);
    get_str(ds, RN_TAG_StudyDescription, info->study_description, sizeof info->study_description);
    get_str(ds, RN_TAG_Manufacturer, info->manufacturer, sizeof info->manufacturer);
    double st = 0;
    if (rn_dataset_get_double(ds, RN_TAG_SliceThickness, 0, &st, NULL) == 0)
        info->slice_thickness = st;
    int64_t in = 0;
    if (rn_dataset_get_int(ds, RN_TAG_InstanceNumber, 0, &in, NULL) == 0 && in > -1000000000 &&
        in < 1000000000)
        info->instance_number = (int)in;
    if (ts_uid)
        snprintf(info->transfer_syntax, sizeof info->transfer_syntax, "%s", ts_uid);
    /* The UIDs become folder names: they must be valid UIDs (digits and dots). */
    const char *uids[] = {info->study_uid, info->series_uid, info->sop_uid};
    const char *names[] = {"Study Instance UID", "Series Instance UID", "SOP Instance UID"};
    for (int i = 0; i < 3; i++)
        if (!rn_uid_is_valid(uids[i]))
            return rn_error_set(err, RN_ERR_INVALID, "%s \"%s\" is missing or not a valid UID",
                                names[i], uids[i]);
    return 0;
}

/* ---- Put ---------------------------------------------------------------------- */

static int fsync_path(const char *path, bool dir)
{
    int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
    if (fd < 0)
        return -1;
    /* A file needs its data and size, not its timestamps (fdatasync, which
     * costs nothing more when the writer already synced it). */
    int rc = dir ? fsync(fd) : fdatasync(fd);
    close(fd);
    return rc;
}

static int exec_step(sqlite3_stmt *st) { return sqlite3_step(st) == SQLITE_DONE ? 0 : -1; }

/* Index row of one put; inside the leader's transaction. */
static int index_put(RnStore *s, sqlite3_stmt *a, sqlite3_stmt *b, const RnInstanceInfo *info,
                     double now)
{
    (void)s;
    sqlite3_reset(a);
    sqlite3_reset(b);
    const char *sv[] = {info->study_uid,        info->patient_id,       info->patient_name,
                        info->patient_birth_date, info->patient_sex,    info->study_date,
                        info->accession_number, info->study_description, info->study_time,
                        info->study_id,         info->referring_physician};
    for (int i = 0; i < 8; i++)
        sqlite3_bind_text(a, i + 1, sv[i], -1, SQLITE_STATIC);
    sqlite3_bind_double(a, 9, now);
    for (int i = 8; i < 11; i++)
        sqlite3_bind_text(a, i + 2, sv[i], -1, SQLITE_STATIC);
    const char *iv[] = {info->sop_uid,       info->study_uid,       info->series_uid,
                        info->sop_class_uid, info->transfer_syntax, info->modality,
                        info->body_part,     info->series_description};
    for (int i = 0; i < 8; i++)
        sqlite3_bind_text(b, i + 1, iv[i], -1, SQLITE_STATIC);
    sqlite3_bind_double(b, 9, info->slice_thickness);
    sqlite3_bind_int(b, 10, info->instance_number);
    sqlite3_bind_text(b, 11, info->calling_ae, -1, SQLITE_STATIC);
    sqlite3_bind_int64(b, 12, info->size);
    sqlite3_bind_text(b, 13, info->path, -1, SQLITE_STATIC);
    sqlite3_bind_double(b, 14, now);
    sqlite3_bind_text(b, 15, info->manufacturer, -1, SQLITE_STATIC);
    sqlite3_bind_int(b, 16, info->series_number);
    return exec_step(a) == 0 && exec_step(b) == 0 ? 0 : -1;
}

/* Distinct folders whose entries changed in a group; each is fsync'd once. */
typedef struct DirSet {
    char (*paths)[700];
    size_t n, cap;
} DirSet;

static void dirset_add(DirSet *d, const char *path)
{
    for (size_t i = 0; i < d->n; i++)
        if (!strcmp(d->paths[i], path))
            return;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        void *p = realloc(d->paths, cap * sizeof *d->paths);
        if (!p)
            return; /* caught below: a folder not synced fails the group */
        d->paths = p;
        d->cap = cap;
    }
    snprintf(d->paths[d->n++], sizeof d->paths[0], "%s", path);
}

static bool dir_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The leader's work: commits one group of puts (see the file comment). */
static void commit_group(RnStore *s, PutRequest *group)
{
    /* 1. File data was made durable by each caller before it queued (in
     * parallel: the file system merges concurrent fsyncs into one journal
     * commit), so the renames below never publish unwritten data. */
    pthread_mutex_lock(&s->lock);
    DirSet dirs = {0};
    size_t dirs_wanted = 0;
    /* 2. Duplicates policy and renames (in queue order: a later copy of the same
     * SOP instance in the group replaces an earlier one, as it would one by one). */
    for (PutRequest *r = group; r; r = r->next) {
        if (r->rc)
            continue;
        RnInstanceInfo *info = r->info;
        bool exists = false;
        for (PutRequest *e = group; e != r; e = e->next)
            exists |= e->rc == 0 && e->result != RN_PUT_DUPLICATE_KEPT &&
                      !strcmp(e->info->sop_uid, info->sop_uid);
        sqlite3_stmt *q = NULL;
        if (!exists && sqlite3_prepare_v2(s->db, "SELECT 1 FROM instances WHERE sop_uid=?", -1,
                                          &q, NULL) == SQLITE_OK) {
            sqlite3_bind_text(q, 1, info->sop_uid, -1, SQLITE_STATIC);
            exists = sqlite3_step(q) == SQLITE_ROW;
        }
        sqlite3_finalize(q);
        r->result = exists ? RN_PUT_REPLACED : RN_PUT_STORED;
        if (exists && s->duplicates != RN_DUP_REPLACE) {
            unlink(r->tmp_file);
            if (s->duplicates == RN_DUP_REJECT)
                r->rc = rn_error_set(&r->err, RN_ERR_INVALID,
                                     "duplicate SOP Instance UID %s refused by policy",
                                     info->sop_uid);
            else
                r->result = RN_PUT_DUPLICATE_KEPT;
            continue;
        }
        char study[520], series[600], dest[1000];
        snprintf(study, sizeof study, "%s/instances/%s", s->root, info->study_uid);
        snprintf(series, sizeof series, "%s/%s", study, info->series_uid);
        snprintf(dest, sizeof dest, "%s/%s", s->root, info->path);
        /* Parent folders are new only for the first instance of a series or study. */
        bool new_study = !dir_exists(study), new_series = new_study || !dir_exists(series);
        if ((r->rc = rn_mkdirs(series, &r->err)) != 0) {
            unlink(r->tmp_file);
            continue;
        }
        if (rename(r->tmp_file, dest) != 0) {
            r->rc = rn_error_set(&r->err, RN_ERR_IO, "rename to %s: %s", dest, strerror(errno));
            unlink(r->tmp_file);
            continue;
        }
        dirset_add(&dirs, series), dirs_wanted++;
        if (new_series)
            dirset_add(&dirs, study), dirs_wanted++;
        if (new_study) {
            char top[420];
            snprintf(top, sizeof top, "%s/instances", s->root);
            dirset_add(&dirs, top), dirs_wanted++;
        }
    }
    /* 3. Folders: one fsync each for the whole group. */
    int dir_rc = dirs_wanted && dirs.n == 0 ? -1 : 0;
    char bad_dir[700] = "";
    for (size_t i = 0; i < dirs.n && dir_rc == 0; i++)
        if (fsync_path(dirs.paths[i], true) != 0) {
            dir_rc = -1;
            snprintf(bad_dir, sizeof bad_dir, "%s", dirs.paths[i]);
        }
    free(dirs.paths);
    /* 4. One transaction for every row of the group (synchronous=FULL: one WAL fsync). */
    double now = wall_now();
    sqlite3_stmt *a = NULL, *b = NULL;
    bool ok = dir_rc == 0;
    bool any = false;
    for (PutRequest *r = group; r; r = r->next)
        any |= r->rc == 0 && r->result != RN_PUT_DUPLICATE_KEPT;
    if (ok && any) {
        ok = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK &&
             sqlite3_prepare_v2(
                 s->db,
                 "INSERT INTO studies(study_uid,patient_id,patient_name,patient_birth_date,"
                 "patient_sex,study_date,accession_number,study_description,last_received,"
                 "study_time,study_id,referring_physician,generation) "
                 "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,1) ON CONFLICT(study_uid) DO "
                 "UPDATE SET last_received=?9, generation=generation+1",
                 -1, &a, NULL) == SQLITE_OK &&
             sqlite3_prepare_v2(
                 s->db,
                 "INSERT OR REPLACE INTO instances(sop_uid,study_uid,series_uid,sop_class_uid,"
                 "transfer_syntax,modality,body_part,series_description,slice_thickness,"
                 "instance_number,calling_ae,size,path,received,manufacturer,series_number) "
                 "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16)",
                 -1, &b, NULL) == SQLITE_OK;
        for (PutRequest *r = group; ok && r; r = r->next)
            if (r->rc == 0 && r->result != RN_PUT_DUPLICATE_KEPT)
                ok = index_put(s, a, b, r->info, now) == 0;
        sqlite3_finalize(a);
        sqlite3_finalize(b);
        if (ok)
            ok = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
    }
    if (!ok) {
        RnError e = {0};
        if (dir_rc)
            rn_error_set(&e, RN_ERR_IO, "fsync %s: %s", bad_dir[0] ? bad_dir : "folders",
                         bad_dir[0] ? strerror(errno) : "out of memory");
        else
            db_error(s, &e, "indexing instance");
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        for (PutRequest *r = group; r; r = r->next)
            if (r->rc == 0 && r->result != RN_PUT_DUPLICATE_KEPT) {
                r->rc = e.code ? e.code : RN_ERR_IO;
                r->err = e;
            }
    }
    pthread_mutex_unlock(&s->lock);
}

int rn_store_put(RnStore *s, const char *tmp_file, RnInstanceInfo *info, RnPutResult *result,
                 RnError *err)
{
    if (!rn_store_has_space(s))
        return rn_error_set(err, RN_ERR_LIMIT,
                            "free space in %s is below the floor of %llu bytes: instance refused",
                            s->root, (unsigned long long)s->min_free_bytes);
    if (!rn_uid_is_valid(info->study_uid) || !rn_uid_is_valid(info->series_uid) ||
        !rn_uid_is_valid(info->sop_uid))
        return rn_error_set(err, RN_ERR_INVALID, "instance UIDs are not valid");
    struct stat st;
    if (stat(tmp_file, &st) != 0)
        return rn_error_set(err, RN_ERR_IO, "%s: %s", tmp_file, strerror(errno));
    info->size = (int64_t)st.st_size;
    snprintf(info->path, sizeof info->path, "instances/%s/%s/%s.dcm", info->study_uid,
             info->series_uid, info->sop_uid);

    /* The file's own data: synced here, in the caller's thread, so that the
     * puts of concurrent associations sync their files at the same time. */
    if (fsync_path(tmp_file, false) != 0)
        return rn_error_set(err, RN_ERR_IO, "fsync %s: %s", tmp_file, strerror(errno));

    PutRequest r = {.tmp_file = tmp_file, .info = info};
    pthread_mutex_lock(&s->commit_lock);
    *s->queue_tail = &r;
    s->queue_tail = &r.next;
    while (!r.done) {
        if (s->committing) {
            pthread_cond_wait(&s->commit_done, &s->commit_lock);
            continue;
        }
        /* Leader: take everything queued so far (this put included). */
        PutRequest *group = s->queue;
        s->queue = NULL;
        s->queue_tail = &s->queue;
        s->committing = true;
        pthread_mutex_unlock(&s->commit_lock);
        commit_group(s, group);
        pthread_mutex_lock(&s->commit_lock);
        s->groups++;
        /* The requests live on their callers' stacks: read next before done. */
        for (PutRequest *g = group, *next; g; g = next) {
            next = g->next;
            s->puts++;
            g->done = true;
        }
        s->committing = false;
        pthread_cond_broadcast(&s->commit_done);
    }
    pthread_mutex_unlock(&s->commit_lock);
    *result = r.result;
    if (r.rc && err)
        *err = r.err;
    return r.rc;
}

void rn_store_commit_stats(RnStore *s, uint64_t *puts, uint64_t *groups)
{
    pthread_mutex_lock(&s->commit_lock);
    *puts = s->puts;
    *groups = s->groups;
    pthread_mutex_unlock(&s->commit_lock);
}

int rn_store_quarantine(RnStore *s, const char *file, const char *reason, RnError *err)
{
    char dest[600], why[640];
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    snprintf(dest, sizeof dest, "%s/quarantine/%.0f-%s", s->root, wall_now() * 1000, base);
    if (rename(file, dest) != 0)
        return rn_error_set(err, RN_ERR_IO, "quarantine %s: %s", file, strerror(errno));
    snprintf(why, sizeof why, "%s.reason", dest);
    size_t rl = strlen(reason);
    char *text = malloc(rl + 2);
    if (!text)
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    memcpy(text, reason, rl);
    text[rl] = '\n';
    int rc = rn_file_write_atomic(why, text, rl + 1, true, err);
    free(text);
    return rc;
}

/* ---- Queries ------------------------------------------------------------------- */

static void col_text(sqlite3_stmt *st, int col, char *out, size_t size)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(out, size, "%s", t ? (const char *)t : "");
}

int rn_store_select_rows_(RnStore *s, const RnRowFilter *f, RnInstanceInfo **out, size_t *count,
                          RnError *err)
{
    *out = NULL;
    *count = 0;
    char sql[1400];
    size_t w = (size_t)snprintf(
        sql, sizeof sql,
        "SELECT i.sop_uid,i.study_uid,i.series_uid,i.sop_class_uid,i.transfer_syntax,"
        "i.modality,i.body_part,i.series_description,i.slice_thickness,i.instance_number,"
        "i.calling_ae,i.size,i.path,s.patient_id,s.patient_name,s.patient_birth_date,"
        "s.patient_sex,s.study_date,s.accession_number,s.study_description,i.manufacturer,"
        "s.study_time,s.study_id,s.referring_physician,i.series_number "
        "FROM instances i JOIN studies s USING(study_uid) WHERE 1");
    const char *vals[4] = {0};
    int nv = 0;
    if (f && f->study_uid) {
        w += (size_t)snprintf(sql + w, sizeof sql - w, " AND i.study_uid=?%d", ++nv);
        vals[nv - 1] = f->study_uid;
    }
    if (f && f->series_uid) {
        w += (size_t)snprintf(sql + w, sizeof sql - w, " AND i.series_uid=?%d", ++nv);
        vals[nv - 1] = f->series_uid;
    }
    if (f && f->sop_uid) {
        w += (size_t)snprintf(sql + w, sizeof sql - w, " AND i.sop_uid=?%d", ++nv);
        vals[nv - 1] = f->sop_uid;
    }
    if (f && f->patient_id) {
        w += (size_t)snprintf(sql + w, sizeof sql - w, " AND s.patient_id=?%d", ++nv);
        vals[nv - 1] = f->patient_id;
    }
    snprintf(sql + w, sizeof sql - w,
             " ORDER BY s.patient_id, i.study_uid, i.series_uid, i.instance_number, i.sop_uid");
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        rc = db_error(s, err, "query");
        pthread_mutex_unlock(&s->lock);
        return rc;
    }
    for (int i = 0; i < nv; i++)
        sqlite3_bind_text(st, i + 1, vals[i], -1, SQLITE_STATIC);
    /* Rows are collected first so callbacks run without the lock. */
    RnInstanceInfo *rows = NULL;
    size_t n = 0, cap = 0;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            RnInstanceInfo *p = realloc(rows, cap * sizeof *p);
            if (!p) {
                rc = rn_error_set(err, RN_ERR_NOMEM, "out of memory");
                break;
            }
            rows = p;
        }
        RnInstanceInfo *r = &rows[n++];
        memset(r, 0, sizeof *r);
        col_text(st, 0, r->sop_uid, sizeof r->sop_uid);
        col_text(st, 1, r->study_uid, sizeof r->study_uid);
        col_text(st, 2, r->series_uid, sizeof r->series_uid);
        col_text(st, 3, r->sop_class_uid, sizeof r->sop_class_uid);
        col_text(st, 4, r->transfer_syntax, sizeof r->transfer_syntax);
        col_text(st, 5, r->modality, sizeof r->modality);
        col_text(st, 6, r->body_part, sizeof r->body_part);
        col_text(st, 7, r->series_description, sizeof r->series_description);
        r->slice_thickness = sqlite3_column_double(st, 8);
        r->instance_number = sqlite3_column_int(st, 9);
        col_text(st, 10, r->calling_ae, sizeof r->calling_ae);
        r->size = sqlite3_column_int64(st, 11);
        col_text(st, 12, r->path, sizeof r->path);
        col_text(st, 13, r->patient_id, sizeof r->patient_id);
        col_text(st, 14, r->patient_name, sizeof r->patient_name);
        col_text(st, 15, r->patient_birth_date, sizeof r->patient_birth_date);
        col_text(st, 16, r->patient_sex, sizeof r->patient_sex);
        col_text(st, 17, r->study_date, sizeof r->study_date);
        col_text(st, 18, r->accession_number, sizeof r->accession_number);
        col_text(st, 19, r->study_description, sizeof r->study_description);
        col_text(st, 20, r->manufacturer, sizeof r->manufacturer);
        col_text(st, 21, r->study_time, sizeof r->study_time);
        col_text(st, 22, r->study_id, sizeof r->study_id);
        col_text(st, 23, r->referring_physician, sizeof r->referring_physician);
        r->series_number = sqlite3_column_int(st, 24);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = db_error(s, err, "query");
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    if (rc) {
        free(rows);
        return rc;
    }
    *out = rows;
    *count = n;
    return 0;
}

int rn_store_study_instances(RnStore *s, const char *study_uid, RnInstanceFn fn, void *user,
                             RnError *err)
{
    RnRowFilter f = {.study_uid = study_uid};
    RnInstanceInfo *rows;
    size_t n;
    int rc = rn_store_select_rows_(s, &f, &rows, &n, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (fn(&rows[i], user))
            break;
    free(rows);
    return 0;
}

int rn_store_instance_count(RnStore *s, const char *study_uid, int64_t *count, RnError *err)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(s->db,
                           study_uid ? "SELECT count(*) FROM instances WHERE study_uid=?"
                                     : "SELECT count(*) FROM instances",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_error(s, err, "count");
    } else {
        if (study_uid)
            sqlite3_bind_text(st, 1, study_uid, -1, SQLITE_STATIC);
        *count = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int rn_store_abs_path(const RnStore *s, const RnInstanceInfo *info, char *out, size_t size)
{
    int w = snprintf(out, size, "%s/%s", s->root, info->path);
    return (w < 0 || (size_t)w >= size) ? RN_ERR_INVALID : 0;
}

int rn_store_take_stable_studies(RnStore *s, double quiet_seconds, RnStudyFn fn, void *user,
                                 RnError *err)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = NULL;
    double cutoff = wall_now() - quiet_seconds;
    char (*uids)[RN_UID_MAX + 1] = NULL;
    int64_t *gens = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT study_uid, generation FROM studies WHERE last_received <= ? "
                           "AND generation > handed_generation ORDER BY last_received",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_error(s, err, "stable studies");
        pthread_mutex_unlock(&s->lock);
        return rc;
    }
    sqlite3_bind_double(st, 1, cutoff);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            void *p1 = realloc(uids, cap * sizeof *uids);
            if (p1)
                uids = p1;
            void *p2 = realloc(gens, cap * sizeof *gens);
            if (p2)
                gens = p2;
            if (!p1 || !p2) {
                rc = rn_error_set(err, RN_ERR_NOMEM, "out of memory");
                break;
            }
        }
        col_text(st, 0, uids[n], sizeof uids[n]);
        gens[n] = sqlite3_column_int64(st, 1);
        n++;
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    for (size_t i = 0; i < n && rc == 0; i++) {
        /* The study is marked handed out only after the callback (which queues
         * jobs durably) succeeded, so a crash in between hands it out again. */
        if (fn(uids[i], gens[i], user) != 0)
            continue;
        pthread_mutex_lock(&s->lock);
        sqlite3_stmt *u = NULL;
        if (sqlite3_prepare_v2(s->db,
                               "UPDATE studies SET handed_generation=? WHERE study_uid=? AND "
                               "handed_generation < ?",
                               -1, &u, NULL) == SQLITE_OK) {
            sqlite3_bind_int64(u, 1, gens[i]);
            sqlite3_bind_text(u, 2, uids[i], -1, SQLITE_STATIC);
            sqlite3_bind_int64(u, 3, gens[i]);
            if (exec_step(u) != 0)
                rc = db_error(s, err, "marking study handed out");
        }
        sqlite3_finalize(u);
        pthread_mutex_unlock(&s->lock);
    }
    free(uids);
    free(gens);
    return rc;
}

/* ---- Jobs -------------------------------------------------------------------------- */

const char *rn_job_state_name(RnJobState st)
{
    static const char *names[] = {"queued", "running", "done", "failed", "dead"};
    return (unsigned)st < 5 ? names[st] : "unknown";
}

int rn_store_job_add(RnStore *s, const RnJob *job, int64_t *id, RnError *err)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = NULL;
    int rc = 0;
    double now = wall_now();
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO jobs(kind,target,study_uid,generation,payload,state,"
                           "next_run_at,created,updated) VALUES(?,?,?,?,?,0,?,?,?) "
                           "ON CONFLICT DO NOTHING",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_error(s, err, "adding job");
    } else {
        sqlite3_bind_text(st, 1, job->kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, job->target, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, job->study_uid, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, job->generation);
        sqlite3_bind_text(st, 5, job->payload, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 6, job->next_run_at);
        sqlite3_bind_double(st, 7, now);
        sqlite3_bind_double(st, 8, now);
        if (exec_step(st) != 0)
            rc = db_error(s, err, "adding job");
        else if (id)
            *id = sqlite3_changes(s->db) ? sqlite3_last_insert_rowid(s->db) : 0;
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static void row_to_job(sqlite3_stmt *st, RnJob *j)
{
    memset(j, 0, sizeof *j);
    j->id = sqlite3_column_int64(st, 0);
    col_text(st, 1, j->kind, sizeof j->kind);
    col_text(st, 2, j->target, sizeof j->target);
    col_text(st, 3, j->study_uid, sizeof j->study_uid);
    j->generation = sqlite3_column_int64(st, 4);
    col_text(st, 5, j->payload, sizeof j->payload);
    j->state = (RnJobState)sqlite3_column_int(st, 6);
    j->attempts = sqlite3_column_int(st, 7);
    j->next_run_at = sqlite3_column_double(st, 8);
    col_text(st, 9, j->last_error, sizeof j->last_error);
}

#define JOB_COLS "id,kind,target,study_uid,generation,payload,state,attempts,next_run_at,last_error"

int rn_store_job_claim(RnStore *s, const char *kind, RnJob *job, RnError *err)
{
    pthread_mutex_lock(&s->lock);
    int rc = 0;
    sqlite3_stmt *st = NULL;
    sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    /* Exports leave in order per destination: an export is claimed only when no earlier
     * export of its kind to the same destination is still queued, running or waiting to be
     * retried (a dead one, left to the operator, does not hold the others back). Without
     * this, after a peer outage the export with the shortest back-off went first. */
#define NO_EARLIER_EXPORT                                                                         \
    " AND (kind NOT LIKE 'export-%' OR NOT EXISTS (SELECT 1 FROM jobs e WHERE e.kind = jobs.kind" \
    " AND e.target = jobs.target AND e.state IN (0,1,3) AND e.id < jobs.id))"
    if (sqlite3_prepare_v2(s->db,
                           kind ? "SELECT " JOB_COLS " FROM jobs WHERE state IN (0,3) AND "
                                  "next_run_at <= ? AND kind = ?" NO_EARLIER_EXPORT
                                  " ORDER BY next_run_at, id LIMIT 1"
                                : "SELECT " JOB_COLS " FROM jobs WHERE state IN (0,3) AND "
                                  "next_run_at <= ?" NO_EARLIER_EXPORT
                                  " ORDER BY next_run_at, id LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_error(s, err, "claiming job");
    } else {
        sqlite3_bind_double(st, 1, wall_now());
        if (kind)
            sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            row_to_job(st, job);
            rc = 1;
        }
    }
    sqlite3_finalize(st);
    if (rc == 1) {
        sqlite3_stmt *u = NULL;
        if (sqlite3_prepare_v2(s->db, "UPDATE jobs SET state=1, attempts=attempts+1, updated=? "
                                      "WHERE id=?",
                               -1, &u, NULL) != SQLITE_OK) {
            rc = db_error(s, err, "claiming job");
        } else {
            sqlite3_bind_double(u, 1, wall_now());
            sqlite3_bind_int64(u, 2, job->id);
            if (exec_step(u) != 0)
                rc = db_error(s, err, "claiming job");
            job->state = RN_JOB_RUNNING;
            job->attempts++;
        }
        sqlite3_finalize(u);
    }
    if (rc < 0 || sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        if (rc >= 0)
            rc = db_error(s, err, "claiming job");
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int job_update(RnStore *s, int64_t id, int state, const char *error, double next_run,
                      RnError *err)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *u = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(s->db,
                           "UPDATE jobs SET state=?, last_error=?, next_run_at=?, updated=? WHERE "
                           "id=?",
                           -1, &u, NULL) != SQLITE_OK) {
        rc = db_error(s, err, "updating job");
    } else {
        sqlite3_bind_int(u, 1, state);
        sqlite3_bind_text(u, 2, error ? error : "", -1, SQLITE_STATIC);
        sqlite3_bind_double(u, 3, next_run);
        sqlite3_bind_double(u, 4, wall_now());
        sqlite3_bind_int64(u, 5, id);
        if (exec_step(u) != 0)
            rc = db_error(s, err, "updating job");
        else if (sqlite3_changes(s->db) == 0)
            rc = rn_error_set(err, RN_ERR_NOT_FOUND, "job %lld not found", (long long)id);
    }
    sqlite3_finalize(u);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int rn_store_job_done(RnStore *s, int64_t id, RnError *err)
{
    return job_update(s, id, RN_JOB_DONE, NULL, 0, err);
}

int rn_store_job_fail(RnStore *s, int64_t id, const char *error, int max_attempts,
                      double base_backoff, double max_backoff, RnError *err)
{
    RnJob j;
    int rc = rn_store_job_get(s, id, &j, err);
    if (rc)
        return rc;
    if (j.attempts >= max_attempts)
        return job_update(s, id, RN_JOB_DEAD, error, 0, err);
    double delay = base_backoff * pow(2.0, j.attempts > 0 ? j.attempts - 1 : 0);
    if (delay > max_backoff)
        delay = max_backoff;
    return job_update(s, id, RN_JOB_FAILED, error, wall_now() + delay, err);
}

int rn_store_job_recover(RnStore *s, RnError *err)
{
    pthread_mutex_lock(&s->lock);
    int rc;
    if (sqlite3_exec(s->db, "UPDATE jobs SET state=0 WHERE state=1", NULL, NULL, NULL) !=
        SQLITE_OK)
        rc = db_error(s, err, "recovering jobs");
    else
        rc = sqlite3_changes(s->db);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int rn_store_job_get(RnStore *s, int64_t id, RnJob *job, RnError *err)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT " JOB_COLS " FROM jobs WHERE id=?", -1, &st, NULL) !=
        SQLITE_OK) {
        rc = db_error(s, err, "reading job");
    } else {
        sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) == SQLITE_ROW)
            row_to_job(st, job);
        else
            rc = rn_error_set(err, RN_ERR_NOT_FOUND, "job %lld not found", (long long)id);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int rn_store_job_count(RnStore *s, RnJobState state, int64_t *count, RnError *err)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM jobs WHERE state=?", -1, &st, NULL) !=
        SQLITE_OK) {
        rc = db_error(s, err, "counting jobs");
    } else {
        sqlite3_bind_int(st, 1, state);
        *count = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* ---- Study marks and retention ---------------------------------------------------
 * A mark is a note the node keeps about a study (priors.c marks the studies it
 * fetched from the PACS as "prior", with the study they were fetched for).
 * Retention (node/retention.c) deletes the instances of a study whose results
 * were all delivered: files and index rows go, the study row (generation), the
 * jobs and the result folders stay, and the SOP Instance UIDs are remembered
 * in retired_instances so that a re-sent copy can be told apart from new
 * images. Each deletion is one row of retention_log (counted by /metrics). */

int rn_store_study_mark(RnStore *s, const char *study_uid, const char *mark, const char *note,
                        RnError *err)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO study_marks(study_uid,mark,note,created) VALUES(?,?,?,?) "
                           "ON CONFLICT(study_uid) DO UPDATE SET mark=excluded.mark, "
                           "note=excluded.note, created=excluded.created",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_error(s, err, "marking study");
    } else {
        sqlite3_bind_text(st, 1, study_uid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, mark, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, note ? note : "", -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 4, wall_now());
        if (exec_step(st) != 0)
            rc = db_error(s, err, "marking study");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int rn_store_study_mark_get(RnStore *s, const char *study_uid, char *mark, size_t mark_size,
                            char *note, size_t note_size, RnError *err)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT mark, note FROM study_marks WHERE study_uid=?", -1, &st,
                           NULL) != SQLITE_OK) {
        rc = db_error(s, err, "reading study mark");
    } else {
        sqlite3_bind_text(st, 1, study_uid, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            if (mark)
                col_text(st, 0, mark, mark_size);
            if (note)
                col_text(st, 1, note, note_size);
            rc = 1;
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* A study whose inputs may go (?1: the cutoff time), see store.h. */
#define RETENTION_ELIGIBLE                                                                     \
    "s.generation = s.handed_generation AND s.last_received <= ?1"                             \
    " AND EXISTS (SELECT 1 FROM instances i WHERE i.study_uid = s.study_uid)"                  \
    " AND ((NOT EXISTS (SELECT 1 FROM jobs j WHERE j.study_uid = s.study_uid AND j.state <> 2)" \
    "       AND EXISTS (SELECT 1 FROM jobs j WHERE j.study_uid = s.study_uid"                  \
    "                   AND j.kind LIKE 'export-%' AND j.state = 2)"                          \
    "       AND (SELECT MAX(j.updated) FROM jobs j WHERE j.study_uid = s.study_uid"            \
    "            AND j.kind LIKE 'export-%') <= ?1)"                                          \
    "   OR (EXISTS (SELECT 1 FROM study_marks m WHERE m.study_uid = s.study_uid"               \
    "               AND m.mark = 'prior')"                                                     \
    "       AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.study_uid = s.study_uid)"             \
    "       AND NOT EXISTS (SELECT 1 FROM jobs j JOIN study_marks m ON j.study_uid = m.note"   \
    "                       WHERE m.study_uid = s.study_uid AND j.state IN (0,1,3))))"

int rn_store_retention_candidates(RnStore *s, double cutoff, RnStudyFn fn, void *user,
                                  RnError *err)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = NULL;
    char (*uids)[RN_UID_MAX + 1] = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT s.study_uid FROM studies s WHERE " RETENTION_ELIGIBLE
                           " ORDER BY s.last_received LIMIT 1000",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_error(s, err, "retention candidates");
        pthread_mutex_unlock(&s->lock);
        return rc;
    }
    sqlite3_bind_double(st, 1, cutoff);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            void *p = realloc(uids, cap * sizeof *uids);
            if (!p) {
                rc = rn_error_set(err, RN_ERR_NOMEM, "out of memory");
                break;
            }
            uids = p;
        }
        col_text(st, 0, uids[n], sizeof uids[n]);
        n++;
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = db_error(s, err, "retention candidates");
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    for (size_t i = 0; i < n && rc == 0; i++)
        if (fn(uids[i], 0, user))
            break;
    free(uids);
    return rc;
}

/* Removes a folder if it is empty (another instance may have arrived in it). */
static void rmdir_if_empty(const char *path)
{
    if (rmdir(path) != 0 && errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT)
        rn_warn("retention: cannot remove folder %s: %s", path, strerror(errno));
}

int rn_store_study_purge(RnStore *s, const char *study_uid, double cutoff, int64_t *instances,
                         int64_t *bytes, RnError *err)
{
    if (!rn_uid_is_valid(study_uid))
        return rn_error_set(err, RN_ERR_INVALID, "\"%s\" is not a valid Study Instance UID",
                            study_uid);
    *instances = 0;
    *bytes = 0;
    /* The whole purge holds the store lock: a put (whose renames and index row
     * happen under the same lock) lands either before, and then the study is
     * no longer eligible (a new generation), or after, in folders recreated for it. */
    pthread_mutex_lock(&s->lock);
    int rc = 0;
    char (*paths)[512] = NULL;
    size_t n = 0, cap = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_error(s, err, "retention");
        pthread_mutex_unlock(&s->lock);
        return rc;
    }
    bool eligible = false;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT 1 FROM studies s WHERE s.study_uid = ?2 AND " RETENTION_ELIGIBLE,
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_error(s, err, "retention");
    } else {
        sqlite3_bind_double(st, 1, cutoff);
        sqlite3_bind_text(st, 2, study_uid, -1, SQLITE_STATIC);
        eligible = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc == 0 && eligible) {
        if (sqlite3_prepare_v2(s->db, "SELECT path, size FROM instances WHERE study_uid=? ORDER BY path",
                               -1,
                               &st, NULL) != SQLITE_OK) {
            rc = db_error(s, err, "retention");
        } else {
            sqlite3_bind_text(st, 1, study_uid, -1, SQLITE_STATIC);
            while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
                if (n == cap) {
                    cap = cap ? cap * 2 : 64;
                    void *p = realloc(paths, cap * sizeof *paths);
                    if (!p) {
                        rc = rn_error_set(err, RN_ERR_NOMEM, "out of memory");
                        break;
                    }
                    paths = p;
                }
                col_text(st, 0, paths[n], sizeof paths[n]);
                *bytes += sqlite3_column_int64(st, 1);
                n++;
            }
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    static const char *const steps[] = {
        "INSERT OR REPLACE INTO retired_instances(sop_uid, study_uid, retired) "
        "SELECT sop_uid, study_uid, ?2 FROM instances WHERE study_uid = ?1",
        "DELETE FROM instances WHERE study_uid = ?1",
        "INSERT INTO retention_log(study_uid, deleted, instances, bytes) VALUES(?1, ?2, ?3, ?4)",
    };
    for (size_t i = 0; rc == 0 && eligible && i < 3; i++) {
        if (sqlite3_prepare_v2(s->db, steps[i], -1, &st, NULL) != SQLITE_OK) {
            rc = db_error(s, err, "retention");
            break;
        }
        sqlite3_bind_text(st, 1, study_uid, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 2, wall_now());
        if (i == 2) {
            sqlite3_bind_int64(st, 3, (int64_t)n);
            sqlite3_bind_int64(st, 4, *bytes);
        }
        if (exec_step(st) != 0)
            rc = db_error(s, err, "retention");
        sqlite3_finalize(st);
        st = NULL;
    }
    if (rc != 0 || !eligible || sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        if (rc == 0 && eligible)
            rc = db_error(s, err, "retention");
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        pthread_mutex_unlock(&s->lock);
        free(paths);
        *bytes = 0;
        return rc ? rc : 0;
    }
    /* The rows are gone (committed) before the files: the index never names a
     * missing file. A crash in between leaves unindexed files, which nothing
     * serves and a re-sent copy replaces. */
    for (size_t i = 0; i < n; i++) {
        char full[1000];
        snprintf(full, sizeof full, "%s/%s", s->root, paths[i]);
        if (unlink(full) != 0 && errno != ENOENT)
            rn_warn("retention: cannot delete %s: %s", full, strerror(errno));
        const char *sep = strrchr(paths[i], '/');
        size_t dir_len = sep ? (size_t)(sep - paths[i]) + 1 : 0;
        char *slash = strrchr(full, '/');
        if (slash && dir_len && (i + 1 == n || strncmp(paths[i], paths[i + 1], dir_len))) {
            *slash = '\0'; /* the series folder, after its last file */
            rmdir_if_empty(full);
        }
    }
    char study_dir[520];
    snprintf(study_dir, sizeof study_dir, "%s/instances/%s", s->root, study_uid);
    rmdir_if_empty(study_dir);
    pthread_mutex_unlock(&s->lock);
    free(paths);
    *instances = (int64_t)n;
    return 1;
}

int rn_store_study_resent_retired(RnStore *s, const char *study_uid, RnError *err)
{
    pthread_mutex_lock(&s->lock);
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT COUNT(*), COUNT(r.sop_uid) FROM instances i LEFT JOIN "
                           "retired_instances r USING(sop_uid) WHERE i.study_uid=?",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_error(s, err, "retired instances");
    } else {
        sqlite3_bind_text(st, 1, study_uid, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            int64_t all = sqlite3_column_int64(st, 0), retired = sqlite3_column_int64(st, 1);
            rc = all > 0 && all == retired;
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->lock);
    return rc;
}
