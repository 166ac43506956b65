/*
 * Retention in the store (store.h "Retention"): which studies may lose their
 * inputs (only after every job and export is done, counted from the last
 * delivery, never with a pending, failed or dead one; fetched priors once
 * the study they were fetched for is done), the purge itself (index rows
 * and files go, the study's jobs stay, the UIDs are remembered as retired),
 * re-sent copies of retired instances, and study marks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "radnode/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char root[64];

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/rn_retention_XXXXXX");
    return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    return system(cmd);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void put(RnStore *s, const char *study, const char *sop)
{
    RnInstanceInfo info;
    memset(&info, 0, sizeof info);
    snprintf(info.study_uid, sizeof info.study_uid, "%s", study);
    snprintf(info.series_uid, sizeof info.series_uid, "%s.1", study);
    snprintf(info.sop_uid, sizeof info.sop_uid, "%s", sop);
    snprintf(info.patient_id, sizeof info.patient_id, "P1");
    snprintf(info.modality, sizeof info.modality, "CT");
    char tmp[512];
    assert_int_equal(rn_store_tmp_path(s, tmp, sizeof tmp, NULL), 0);
    assert_int_equal(rn_file_write_atomic(tmp, "data", 4, false, NULL), 0);
    RnPutResult res;
    RnError err = {0};
    assert_int_equal(rn_store_put(s, tmp, &info, &res, &err), 0);
}

static int ignore_study(const char *uid, int64_t gen, void *user)
{
    (void)uid, (void)gen, (void)user;
    return 0;
}

/* Adds a job and runs it to the given end state (done, failed, dead) or leaves it queued. */
static void job(RnStore *s, const char *kind, const char *study, RnJobState end)
{
    RnJob j = {0};
    snprintf(j.kind, sizeof j.kind, "%s", kind);
    snprintf(j.target, sizeof j.target, "t");
    snprintf(j.study_uid, sizeof j.study_uid, "%s", study);
    j.generation = 1;
    int64_t id = 0;
    assert_int_equal(rn_store_job_add(s, &j, &id, NULL), 0);
    assert_true(id > 0);
    if (end == RN_JOB_QUEUED)
        return;
    RnJob got;
    assert_int_equal(rn_store_job_claim(s, kind, &got, NULL), 1);
    assert_int_equal(got.id, id);
    if (end == RN_JOB_DONE)
        assert_int_equal(rn_store_job_done(s, id, NULL), 0);
    else
        assert_int_equal(
            rn_store_job_fail(s, id, "peer down", end == RN_JOB_DEAD ? 1 : 5, 60, 60, NULL), 0);
}

typedef struct Uids {
    char v[8][65];
    int n;
} Uids;

static int collect(const char *uid, int64_t gen, void *user)
{
    (void)gen;
    Uids *u = user;
    if (u->n < 8)
        snprintf(u->v[u->n++], sizeof u->v[0], "%s", uid);
    return 0;
}

static Uids candidates(RnStore *s, double cutoff)
{
    Uids u = {0};
    RnError err = {0};
    assert_int_equal(rn_store_retention_candidates(s, cutoff, collect, &u, &err), 0);
    return u;
}

static bool exists(const char *rel)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    struct stat st;
    return stat(p, &st) == 0;
}

static void test_purge_rules(void **state)
{
    (void)state;
    RnError err = {0};
    RnStoreConfig cfg = {.root = root, .min_free_bytes = 1};
    RnStore *s = rn_store_open(&cfg, &err);
    assert_non_null(s);
    /* 1.2.5 delivered; 1.2.6 export dead; 1.2.7 export still queued; 1.2.8 failed, retrying. */
    put(s, "1.2.5", "1.2.5.1");
    put(s, "1.2.5", "1.2.5.2");
    put(s, "1.2.6", "1.2.6.1");
    put(s, "1.2.7", "1.2.7.1");
    put(s, "1.2.8", "1.2.8.1");
    int64_t count;
    /* Not yet assembled: nothing qualifies, whatever the cutoff. */
    assert_int_equal(candidates(s, now() + 100).n, 0);
    assert_int_equal(rn_store_take_stable_studies(s, 0, ignore_study, NULL, &err), 0);
    /* Assembled but no results delivered: nothing qualifies. */
    assert_int_equal(candidates(s, now() + 100).n, 0);
    job(s, "analyze", "1.2.5", RN_JOB_DONE);
    job(s, "export-dicom", "1.2.5", RN_JOB_DONE);
    job(s, "export-hl7", "1.2.5", RN_JOB_DONE);
    job(s, "analyze", "1.2.6", RN_JOB_DONE);
    job(s, "export-dicom", "1.2.6", RN_JOB_DONE);
    job(s, "export-hl7", "1.2.6", RN_JOB_DEAD);
    job(s, "analyze", "1.2.7", RN_JOB_DONE);
    job(s, "export-dicom", "1.2.7", RN_JOB_QUEUED);
    job(s, "analyze", "1.2.8", RN_JOB_DONE);
    job(s, "export-hl7", "1.2.8", RN_JOB_FAILED);
    /* The period has not passed since the delivery. */
    assert_int_equal(candidates(s, now() - 3600).n, 0);
    Uids u = candidates(s, now() + 100);
    assert_int_equal(u.n, 1);
    assert_string_equal(u.v[0], "1.2.5");
    /* The purge checks again: too early is refused without change. */
    int64_t inst = -1, bytes = -1;
    assert_int_equal(rn_store_study_purge(s, "1.2.5", now() - 3600, &inst, &bytes, &err), 0);
    assert_true(exists("instances/1.2.5/1.2.5.1/1.2.5.1.dcm"));
    assert_int_equal(rn_store_study_purge(s, "1.2.6", now() + 100, &inst, &bytes, &err), 0);
    assert_int_equal(rn_store_study_purge(s, "1.2.7", now() + 100, &inst, &bytes, &err), 0);
    assert_int_equal(rn_store_study_purge(s, "1.2.8", now() + 100, &inst, &bytes, &err), 0);
    assert_int_equal(rn_store_study_purge(s, "1.2.5", now() + 100, &inst, &bytes, &err), 1);
    assert_int_equal(inst, 2);
    assert_int_equal(bytes, 8);
    /* Files, folders and index rows of 1.2.5 are gone; the others are intact. */
    assert_false(exists("instances/1.2.5/1.2.5.1/1.2.5.1.dcm"));
    assert_false(exists("instances/1.2.5"));
    assert_int_equal(rn_store_instance_count(s, "1.2.5", &count, &err), 0);
    assert_int_equal(count, 0);
    const char *kept[] = {"1.2.6", "1.2.7", "1.2.8"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rn_store_instance_count(s, kept[i], &count, &err), 0);
        assert_int_equal(count, 1);
    }
    assert_true(exists("instances/1.2.6/1.2.6.1/1.2.6.1.dcm"));
    /* The jobs stay: the study's record of what was produced and delivered. */
    int64_t done = 0;
    assert_int_equal(rn_store_job_count(s, RN_JOB_DONE, &done, &err), 0);
    assert_int_equal(done, 7);
    /* Nothing left to delete: no longer a candidate, a second purge does nothing. */
    assert_int_equal(candidates(s, now() + 100).n, 0);
    assert_int_equal(rn_store_study_purge(s, "1.2.5", now() + 100, &inst, &bytes, &err), 0);
    /* A re-sent copy of the deleted instances is recognised; a new image is not. */
    assert_int_equal(rn_store_study_resent_retired(s, "1.2.6", &err), 0);
    put(s, "1.2.5", "1.2.5.2");
    assert_int_equal(rn_store_study_resent_retired(s, "1.2.5", &err), 1);
    put(s, "1.2.5", "1.2.5.3");
    assert_int_equal(rn_store_study_resent_retired(s, "1.2.5", &err), 0);
    /* Hostile input: a UID that is not one. */
    assert_int_equal(rn_store_study_purge(s, "../etc", now(), &inst, &bytes, &err), RN_ERR_INVALID);
    rn_store_close(s);
}

static void test_marks_and_priors(void **state)
{
    (void)state;
    RnError err = {0};
    RnStoreConfig cfg = {.root = root, .min_free_bytes = 1};
    RnStore *s = rn_store_open(&cfg, &err);
    assert_non_null(s);
    char mark[16], note[65];
    assert_int_equal(
        rn_store_study_mark_get(s, "1.2.9", mark, sizeof mark, note, sizeof note, &err), 0);
    assert_int_equal(rn_store_study_mark(s, "1.2.9", "prior", "1.2.10", &err), 0);
    assert_int_equal(
        rn_store_study_mark_get(s, "1.2.9", mark, sizeof mark, note, sizeof note, &err), 1);
    assert_string_equal(mark, "prior");
    assert_string_equal(note, "1.2.10");
    /* A fetched prior (no jobs of its own) goes once the study it served has no job to run. */
    put(s, "1.2.9", "1.2.9.1");
    put(s, "1.2.10", "1.2.10.1");
    assert_int_equal(rn_store_take_stable_studies(s, 0, ignore_study, NULL, &err), 0);
    job(s, "analyze", "1.2.10", RN_JOB_QUEUED);
    assert_int_equal(candidates(s, now() + 100).n, 0);
    RnJob j;
    assert_int_equal(rn_store_job_claim(s, "analyze", &j, &err), 1);
    assert_int_equal(rn_store_job_done(s, j.id, &err), 0);
    Uids u = candidates(s, now() + 100);
    assert_int_equal(u.n, 1);
    assert_string_equal(u.v[0], "1.2.9");
    int64_t inst, bytes;
    assert_int_equal(rn_store_study_purge(s, "1.2.9", now() + 100, &inst, &bytes, &err), 1);
    assert_int_equal(inst, 1);
    rn_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_purge_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_marks_and_priors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
