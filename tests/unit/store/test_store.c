/*
 * The durable store: instances land under their UIDs and in the index;
 * duplicate policies; UIDs that would escape the store are refused; the
 * free-space floor refuses new data; quiet-period study assembly hands a
 * study out once per generation; the job queue's life cycle (claim, done,
 * fail with back-off, dead, recovery after a crash).
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
#include <unistd.h>

static char root[64];

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/rn_store_XXXXXX");
    return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    return system(cmd);
}

static void make_info(RnInstanceInfo *info, const char *study, const char *sop)
{
    memset(info, 0, sizeof *info);
    snprintf(info->study_uid, sizeof info->study_uid, "%s", study);
    snprintf(info->series_uid, sizeof info->series_uid, "%s.1", study);
    snprintf(info->sop_uid, sizeof info->sop_uid, "%s", sop);
    snprintf(info->patient_id, sizeof info->patient_id, "P1");
    snprintf(info->modality, sizeof info->modality, "DX");
}

static void write_tmp(RnStore *s, char *path, size_t size, const char *content)
{
    assert_int_equal(rn_store_tmp_path(s, path, size, NULL), 0);
    assert_int_equal(rn_file_write_atomic(path, content, strlen(content), false, NULL), 0);
}

static int count_cb(const RnInstanceInfo *info, void *user)
{
    (void)info;
    (*(int *)user)++;
    return 0;
}

static void test_put_and_duplicates(void **state)
{
    (void)state;
    RnError err = {0};
    RnStoreConfig cfg = {.root = root, .min_free_bytes = 1};
    RnStore *s = rn_store_open(&cfg, &err);
    assert_non_null(s);
    RnInstanceInfo info;
    char tmp[512];
    RnPutResult res;
    make_info(&info, "1.2.3", "1.2.3.4");
    write_tmp(s, tmp, sizeof tmp, "first");
    assert_int_equal(rn_store_put(s, tmp, &info, &res, &err), 0);
    assert_int_equal(res, RN_PUT_STORED);
    char abs[600];
    assert_int_equal(rn_store_abs_path(s, &info, abs, sizeof abs), 0);
    assert_non_null(strstr(abs, "instances/1.2.3/1.2.3.1/1.2.3.4.dcm"));
    assert_int_equal(access(abs, R_OK), 0);
    assert_int_equal(access(tmp, F_OK), -1);
    /* Replace (default policy) */
    write_tmp(s, tmp, sizeof tmp, "second");
    assert_int_equal(rn_store_put(s, tmp, &info, &res, &err), 0);
    assert_int_equal(res, RN_PUT_REPLACED);
    int64_t n;
    assert_int_equal(rn_store_instance_count(s, "1.2.3", &n, &err), 0);
    assert_int_equal(n, 1);
    size_t len;
    char *content = (char *)rn_file_read_all(abs, 100, &len, &err);
    assert_string_equal(content, "second");
    free(content);
    rn_store_close(s);
    /* Keep-first: the first copy stays. */
    cfg.duplicates = RN_DUP_KEEP_FIRST;
    s = rn_store_open(&cfg, &err);
    write_tmp(s, tmp, sizeof tmp, "third");
    assert_int_equal(rn_store_put(s, tmp, &info, &res, &err), 0);
    assert_int_equal(res, RN_PUT_DUPLICATE_KEPT);
    content = (char *)rn_file_read_all(abs, 100, &len, &err);
    assert_string_equal(content, "second");
    free(content);
    rn_store_close(s);
    /* Reject */
    cfg.duplicates = RN_DUP_REJECT;
    s = rn_store_open(&cfg, &err);
    write_tmp(s, tmp, sizeof tmp, "fourth");
    assert_int_equal(rn_store_put(s, tmp, &info, &res, &err), RN_ERR_INVALID);
    /* A UID that would climb out of the store is refused before any file moves. */
    make_info(&info, "1.2.3", "../../etc");
    write_tmp(s, tmp, sizeof tmp, "evil");
    assert_int_equal(rn_store_put(s, tmp, &info, &res, &err), RN_ERR_INVALID);
    unlink(tmp);
    int count = 0;
    assert_int_equal(rn_store_study_instances(s, "1.2.3", count_cb, &count, &err), 0);
    assert_int_equal(count, 1);
    rn_store_close(s);
}

static void test_free_space_floor(void **state)
{
    (void)state;
    RnError err = {0};
    RnStoreConfig cfg = {.root = root, .min_free_bytes = UINT64_MAX / 2};
    RnStore *s = rn_store_open(&cfg, &err);
    assert_non_null(s);
    RnInstanceInfo info;
    make_info(&info, "1.2.9", "1.2.9.1");
    char tmp[512];
    write_tmp(s, tmp, sizeof tmp, "x");
    RnPutResult res;
    assert_int_equal(rn_store_put(s, tmp, &info, &res, &err), RN_ERR_LIMIT);
    assert_non_null(strstr(err.message, "floor"));
    assert_false(rn_store_has_space(s));
    unlink(tmp);
    rn_store_close(s);
}

static int collect(const char *uid, int64_t gen, void *user)
{
    (void)uid;
    int64_t *g = user;
    *g = gen;
    return 0;
}

static void test_stable_studies(void **state)
{
    (void)state;
    RnError err = {0};
    RnStoreConfig cfg = {.root = root, .min_free_bytes = 1};
    RnStore *s = rn_store_open(&cfg, &err);
    RnInstanceInfo info;
    char tmp[512];
    RnPutResult res;
    make_info(&info, "1.5", "1.5.1");
    write_tmp(s, tmp, sizeof tmp, "a");
    assert_int_equal(rn_store_put(s, tmp, &info, &res, &err), 0);
    int64_t gen = 0;
    /* Not quiet yet for a 1-hour quiet period. */
    assert_int_equal(rn_store_take_stable_studies(s, 3600, collect, &gen, &err), 0);
    assert_int_equal(gen, 0);
    assert_int_equal(rn_store_take_stable_studies(s, 0, collect, &gen, &err), 0);
    assert_int_equal(gen, 1);
    gen = 0;
    assert_int_equal(rn_store_take_stable_studies(s, 0, collect, &gen, &err), 0);
    assert_int_equal(gen, 0); /* handed out once */
    /* A late instance re-opens the study with a new generation. */
    make_info(&info, "1.5", "1.5.2");
    write_tmp(s, tmp, sizeof tmp, "b");
    assert_int_equal(rn_store_put(s, tmp, &info, &res, &err), 0);
    assert_int_equal(rn_store_take_stable_studies(s, 0, collect, &gen, &err), 0);
    assert_int_equal(gen, 2);
    rn_store_close(s);
}

static void test_jobs(void **state)
{
    (void)state;
    RnError err = {0};
    RnStoreConfig cfg = {.root = root, .min_free_bytes = 1};
    RnStore *s = rn_store_open(&cfg, &err);
    RnJob j = {0};
    snprintf(j.kind, sizeof j.kind, "analyze");
    snprintf(j.target, sizeof j.target, "boneage");
    snprintf(j.study_uid, sizeof j.study_uid, "1.5");
    j.generation = 1;
    int64_t id = 0, id2 = 0;
    assert_int_equal(rn_store_job_add(s, &j, &id, &err), 0);
    assert_true(id > 0);
    assert_int_equal(rn_store_job_add(s, &j, &id2, &err), 0);
    assert_int_equal(id2, 0); /* identical job not added twice */
    RnJob got;
    assert_int_equal(rn_store_job_claim(s, "export-hl7", &got, &err), 0);
    assert_int_equal(rn_store_job_claim(s, "analyze", &got, &err), 1);
    assert_int_equal(got.id, id);
    assert_int_equal(got.state, RN_JOB_RUNNING);
    assert_int_equal(rn_store_job_claim(s, NULL, &got, &err), 0);
    /* Crash: the running job is queued again on recovery. */
    rn_store_close(s);
    s = rn_store_open(&cfg, &err);
    assert_int_equal(rn_store_job_recover(s, &err), 1);
    assert_int_equal(rn_store_job_claim(s, NULL, &got, &err), 1);
    assert_int_equal(got.attempts, 2);
    /* Failure with back-off: not runnable until later. */
    assert_int_equal(rn_store_job_fail(s, id, "peer unreachable", 5, 60, 3600, &err), 0);
    assert_int_equal(rn_store_job_get(s, id, &got, &err), 0);
    assert_int_equal(got.state, RN_JOB_FAILED);
    assert_string_equal(got.last_error, "peer unreachable");
    assert_int_equal(rn_store_job_claim(s, NULL, &got, &err), 0);
    /* After max attempts it is dead. */
    assert_int_equal(rn_store_job_fail(s, id, "still unreachable", 2, 0, 0, &err), 0);
    assert_int_equal(rn_store_job_get(s, id, &got, &err), 0);
    assert_int_equal(got.state, RN_JOB_DEAD);
    int64_t n;
    assert_int_equal(rn_store_job_count(s, RN_JOB_DEAD, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rn_store_job_done(s, 99999, &err), RN_ERR_NOT_FOUND);
    rn_store_close(s);
}

/* Exports to one destination leave in the order they were made, whatever their back-off. */
static void test_export_order(void **state)
{
    (void)state;
    RnError err = {0};
    RnStoreConfig cfg = {.root = root, .min_free_bytes = 1};
    RnStore *s = rn_store_open(&cfg, &err);
    assert_non_null(s);
    RnJob j = {0};
    int64_t a = 0, b = 0, c = 0;
    snprintf(j.kind, sizeof j.kind, "export-dicom");
    snprintf(j.target, sizeof j.target, "pacs");
    snprintf(j.study_uid, sizeof j.study_uid, "1.1");
    assert_int_equal(rn_store_job_add(s, &j, &a, &err), 0);
    snprintf(j.study_uid, sizeof j.study_uid, "1.2");
    assert_int_equal(rn_store_job_add(s, &j, &b, &err), 0);
    snprintf(j.target, sizeof j.target, "archive");
    assert_int_equal(rn_store_job_add(s, &j, &c, &err), 0);
    RnJob got;
    /* the first to "pacs" fails and waits; the second to "pacs" must wait behind it, while
     * the export to another destination goes */
    assert_int_equal(rn_store_job_claim(s, "export-dicom", &got, &err), 1);
    assert_int_equal(got.id, a);
    assert_int_equal(rn_store_job_fail(s, a, "peer down", 5, 3600, 3600, &err), 0);
    assert_int_equal(rn_store_job_claim(s, "export-dicom", &got, &err), 1);
    assert_int_equal(got.id, c);
    assert_int_equal(rn_store_job_claim(s, "export-dicom", &got, &err), 0);
    /* once the first is dead (an operator's matter), the second may go */
    assert_int_equal(rn_store_job_fail(s, a, "peer down", 1, 0, 0, &err), 0);
    assert_int_equal(rn_store_job_claim(s, "export-dicom", &got, &err), 1);
    assert_int_equal(got.id, b);
    rn_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_and_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_space_floor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stable_studies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jobs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_order, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
