/*
 * radnode's durable store: received instances on disk under a layout derived
 * from their UIDs, an SQLite index (WAL) of patient / study / series /
 * instance with the attributes routing needs, and the persistent job queue.
 *
 * "Acknowledged means durable": rn_store_put returns only after the file and
 * its folder are fsync'd and the index row is committed, so a C-STORE success
 * sent after it survives kill -9. Concurrent puts are committed in groups
 * (one batch of fsyncs and one SQLite transaction for every put waiting while
 * the previous group was being committed), so the cost of durability is
 * shared by the associations that arrive together.
 *
 * Thread safety: one RnStore may be shared by threads; every call takes the
 * store's mutex around its short SQLite transaction.
 */
#ifndef RADNODE_STORE_H
#define RADNODE_STORE_H

#include "radnode/dicom.h"

typedef struct RnStore RnStore;

typedef enum RnDuplicatePolicy {
    RN_DUP_REPLACE = 0, /* a re-sent instance replaces the stored one (default) */
    RN_DUP_KEEP_FIRST,  /* the first copy is kept; later copies are acknowledged and dropped */
    RN_DUP_REJECT,      /* a duplicate is refused */
} RnDuplicatePolicy;

typedef struct RnStoreConfig {
    const char *root;             /* folder holding instances/, index.sqlite, quarantine/ */
    uint64_t min_free_bytes;      /* refuse new data below this much free space (0 = 1 GiB) */
    RnDuplicatePolicy duplicates;
} RnStoreConfig;

RnStore *rn_store_open(const RnStoreConfig *cfg, RnError *err);
void rn_store_close(RnStore *s);
const char *rn_store_root(const RnStore *s);

/* The attributes of one instance the index keeps (all UTF-8, "" if absent). */
typedef struct RnInstanceInfo {
    char patient_id[65], patient_name[200], patient_birth_date[17], patient_sex[17];
    char study_uid[RN_UID_MAX + 1], series_uid[RN_UID_MAX + 1], sop_uid[RN_UID_MAX + 1];
    char sop_class_uid[RN_UID_MAX + 1], transfer_syntax[RN_UID_MAX + 1];
    char study_date[17], study_time[17], accession_number[17], modality[17], body_part[17];
    char study_id[17], referring_physician[200];
    int series_number;
    char series_description[65], study_description[65];
    char manufacturer[65];        /* "radnode" marks radnode's own result objects */
    double slice_thickness;       /* 0 if absent */
    int instance_number;
    char calling_ae[17];
    int64_t size;
    char path[512];               /* relative to the store root */
} RnInstanceInfo;

/* Fills info from a dataset (file meta optional for the transfer syntax). */
int rn_instance_info_from_dataset(const RnDataset *ds, const char *ts_uid, RnInstanceInfo *info,
                                  RnError *err);

typedef enum RnPutResult {
    RN_PUT_STORED = 0,
    RN_PUT_REPLACED,
    RN_PUT_DUPLICATE_KEPT, /* RN_DUP_KEEP_FIRST: the existing copy stays */
} RnPutResult;

/* Moves a complete Part 10 file (written by the caller in the store's tmp
 * folder, see rn_store_tmp_path) into place, fsyncs, and indexes it.
 * Errors: RN_ERR_LIMIT when free space is below the floor (nothing changes),
 * RN_ERR_INVALID for a duplicate under RN_DUP_REJECT. */
int rn_store_put(RnStore *s, const char *tmp_file, RnInstanceInfo *info, RnPutResult *result,
                 RnError *err);
/* Counters of the group commit: puts committed and the groups they formed. */
void rn_store_commit_stats(RnStore *s, uint64_t *puts, uint64_t *groups);
/* A unique path in the store's tmp folder for an incoming file. */
int rn_store_tmp_path(RnStore *s, char *out, size_t size, RnError *err);
/* Moves a file that could not be stored into quarantine/ with a .reason text file. */
int rn_store_quarantine(RnStore *s, const char *file, const char *reason, RnError *err);
/* True if free space is at or above the floor. */
bool rn_store_has_space(RnStore *s);

/* Index queries. Callback returns non-zero to stop. */
typedef int (*RnInstanceFn)(const RnInstanceInfo *info, void *user);
int rn_store_study_instances(RnStore *s, const char *study_uid, RnInstanceFn fn, void *user,
                             RnError *err);
int rn_store_instance_count(RnStore *s, const char *study_uid, int64_t *count, RnError *err);
/* Absolute path of an indexed instance (path relative to root joined). */
int rn_store_abs_path(const RnStore *s, const RnInstanceInfo *info, char *out, size_t size);

/* ---- Query/Retrieve over the index (PS3.4 C.2.2 matching, C.6 models) ---- */
typedef enum RnQrLevel {
    RN_QR_PATIENT = 0,
    RN_QR_STUDY,
    RN_QR_SERIES,
    RN_QR_IMAGE,
} RnQrLevel;
/* "PATIENT", "STUDY", "SERIES", "IMAGE" -> level; -1 for anything else. */
int rn_qr_level_parse(const char *text);
const char *rn_qr_level_name(RnQrLevel level);

/* C-FIND: for each entity at `level` whose attributes match every key of
 * the identifier that radnode indexes (single value, * and ? wildcards,
 * date/time ranges, UID lists, universal matching; PN case-insensitive), fn
 * receives a response data set (owned by the callee for the call only)
 * holding each key of the identifier with the entity's value (zero length
 * when radnode does not know it) and the Query/Retrieve Level. Keys below
 * the level are returned empty and do not restrict the match. fn returns
 * non-zero to stop (C-CANCEL). A key whose value cannot be a match pattern
 * (a malformed range, a wildcard in a UID) fails with RN_ERR_INVALID. */
typedef int (*RnQrMatchFn)(RnDataset *response, void *user);
int rn_store_find(RnStore *s, RnQrLevel level, const RnDataset *identifier, RnQrMatchFn fn,
                  void *user, RnError *err);
/* C-MOVE/C-GET: every instance below the entities matching identifier at
 * level (same matching as rn_store_find). The level's unique key must be
 * present with a value (RN_ERR_INVALID otherwise). */
int rn_store_retrieve(RnStore *s, RnQrLevel level, const RnDataset *identifier, RnInstanceFn fn,
                      void *user, RnError *err);

/* ---- Studies: quiet-period assembly -------------------------------------- */
/* Studies whose last instance arrived at least quiet_seconds ago and that
 * changed since they were last handed out; marks them handed out. */
typedef int (*RnStudyFn)(const char *study_uid, int64_t generation, void *user);
int rn_store_take_stable_studies(RnStore *s, double quiet_seconds, RnStudyFn fn, void *user,
                                 RnError *err);

/* ---- Study marks -------------------------------------------------------------
 * A note kept about a study by the node (e.g. mark "prior", note: the study it
 * was fetched for). Setting a mark replaces the previous one. _get returns 1
 * with mark and note filled when the study is marked, 0 when not. */
int rn_store_study_mark(RnStore *s, const char *study_uid, const char *mark, const char *note,
                        RnError *err);
int rn_store_study_mark_get(RnStore *s, const char *study_uid, char *mark, size_t mark_size,
                            char *note, size_t note_size, RnError *err);

/* ---- Retention -----------------------------------------------------------------
 * A study's inputs may be deleted once (cutoff = now - retention period):
 * it is assembled (no arrival waiting for routing) and nothing arrived after
 * cutoff; every job of the study is done (none queued, running, failed or
 * dead); at least one export job delivered its results and the last export
 * finished before cutoff (a re-opened study counts from its last delivery).
 * A study marked "prior" with no jobs of its own qualifies once it arrived
 * before cutoff and the study it was fetched for has no job still to run.
 *
 * _candidates: fn receives each such study (generation 0). _purge deletes
 * one study's instances if it still qualifies: the index rows (the SOP
 * Instance UIDs are kept as retired, the study row, its jobs and results
 * stay), then the files and empty folders; returns 1 with the counts, 0 when
 * it no longer qualifies, negative on error. _resent_retired: 1 when every
 * instance the study holds now had been deleted by retention before (a
 * re-sent copy of an analysed study), else 0. */
int rn_store_retention_candidates(RnStore *s, double cutoff, RnStudyFn fn, void *user,
                                  RnError *err);
int rn_store_study_purge(RnStore *s, const char *study_uid, double cutoff, int64_t *instances,
                         int64_t *bytes, RnError *err);
int rn_store_study_resent_retired(RnStore *s, const char *study_uid, RnError *err);

/* ---- Jobs ------------------------------------------------------------------ */
typedef enum RnJobState {
    RN_JOB_QUEUED = 0,
    RN_JOB_RUNNING,
    RN_JOB_DONE,
    RN_JOB_FAILED, /* failed, will be retried after next_run_at */
    RN_JOB_DEAD,   /* failed too often; needs an operator */
} RnJobState;
const char *rn_job_state_name(RnJobState st);

typedef struct RnJob {
    int64_t id;
    char kind[32];      /* "analyze", "export-dicom", "export-hl7", ... */
    char target[64];    /* analyzer name or destination name */
    char study_uid[RN_UID_MAX + 1];
    int64_t generation; /* study generation the job was made for */
    char payload[1024]; /* small JSON or path, job-specific */
    RnJobState state;
    int attempts;
    double next_run_at; /* unix time */
    char last_error[512];
} RnJob;

/* Adds a job unless an identical (kind, target, study, generation) one exists. */
int rn_store_job_add(RnStore *s, const RnJob *job, int64_t *id, RnError *err);
/* Claims the oldest runnable job of the given kinds (NULL = any): sets it running.
 * Export jobs ("export-*") go in order per destination (target): one is claimable only
 * when no earlier one to the same destination is queued, running or failed-and-waiting.
 * Returns 1 with *job filled, 0 if none, negative on error. */
int rn_store_job_claim(RnStore *s, const char *kind, RnJob *job, RnError *err);
int rn_store_job_done(RnStore *s, int64_t id, RnError *err);
/* Records a failure: back to FAILED with exponential back-off (base * 2^attempts,
 * capped at max_backoff), or DEAD after max_attempts. */
int rn_store_job_fail(RnStore *s, int64_t id, const char *error, int max_attempts,
                      double base_backoff, double max_backoff, RnError *err);
/* After a crash: jobs left RUNNING go back to QUEUED. Returns how many. */
int rn_store_job_recover(RnStore *s, RnError *err);
int rn_store_job_get(RnStore *s, int64_t id, RnJob *job, RnError *err);
int rn_store_job_count(RnStore *s, RnJobState state, int64_t *count, RnError *err);

#endif
