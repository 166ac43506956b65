/*
 * The retention policy (issue 4: "inputs deleted N days after their results
 * were delivered"). The assembler thread calls node_retention_tick every half
 * second; a sweep runs when due (every tenth of the retention period, at most
 * once a second and at least once an hour) and deletes, study by study, the
 * received instances (files and index rows) of every study whose results
 * were delivered to every destination at least `retention` ago. The rule
 * itself is the store's (rn_store_retention_candidates / _purge in store.h):
 * never before delivery, never a study with a queued, running, failed or
 * dead job or export, a re-opened study counted from its last delivery; the
 * check is repeated under the store's lock at the moment of deletion.
 *
 * What stays: the study row, the jobs and exports, and the result folders
 * (data_dir/jobs/<id>), so the node's record of what it produced and
 * delivered is kept. The SOP Instance UIDs of deleted instances are kept as
 * retired: if the PACS later re-sends the same instances they are stored
 * again but not analysed again (node_retention_resent, called by routing),
 * and the next sweeps delete them again.
 *
 * Each deletion is logged with the Study Instance UID and recorded in the
 * index (retention_log), which /metrics counts.
 */
#include "node/node_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* The index records wall-clock times (the store's), so the cutoff is one too. */
static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct Sweep {
    Node *node;
    double cutoff;
    int studies;
} Sweep;

static int purge_one(const char *study_uid, int64_t generation, void *user)
{
    (void)generation;
    Sweep *w = user;
    Node *n = w->node;
    if (atomic_load(&n->stop))
        return 1;
    int64_t count = 0, bytes = 0;
    RnError err = {0};
    int rc = rn_store_study_purge(n->store, study_uid, w->cutoff, &count, &bytes, &err);
    if (rc < 0) {
        rn_errorlog("retention: study %s: %s", study_uid, err.message);
        return 0;
    }
    if (rc == 1) {
        w->studies++;
        rn_info("retention: study %s: %lld input instance%s (%.1f MB) deleted, results "
                "delivered more than %.6g days ago",
                study_uid, (long long)count, count == 1 ? "" : "s", (double)bytes / 1e6,
                n->cfg.retention_seconds / 86400.0);
    }
    return 0;
}

void node_retention_tick(Node *n)
{
    double period = n->cfg.retention_seconds;
    if (period <= 0)
        return;
    double every = period / 10;
    if (every < 1)
        every = 1;
    if (every > 3600)
        every = 3600;
    double now = rn_time_now();
    if (n->retention_last > 0 && now - n->retention_last < every)
        return;
    n->retention_last = now;
    Sweep w = {.node = n, .cutoff = wall_now() - period};
    RnError err = {0};
    if (rn_store_retention_candidates(n->store, w.cutoff, purge_one, &w, &err))
        rn_errorlog("retention: %s", err.message);
    else if (w.studies)
        rn_info("retention: sweep deleted the inputs of %d stud%s", w.studies,
                w.studies == 1 ? "y" : "ies");
}

bool node_retention_resent(Node *n, const char *study_uid)
{
    RnError err = {0};
    int rc = rn_store_study_resent_retired(n->store, study_uid, &err);
    if (rc < 0)
        rn_warn("retention: study %s: %s", study_uid, err.message);
    if (rc != 1)
        return false;
    rn_info("assembly: study %s holds only instances already analysed, delivered and deleted by "
            "retention (a re-sent copy): not analysed again; its earlier results stand",
            study_uid);
    return true;
}
