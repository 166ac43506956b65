/*
 * Priors: the earlier studies of the patient that an analyzer asks for
 * through its RnPriorRule (radnode/analyzer.h; lungct: the most recent
 * earlier CT), found before the analysis job runs (issue 4 item 7).
 *
 * 1. The node's own store: among the patient's studies (same Patient ID),
 *    the most recent one with the rule's modality (and body part, when the
 *    rule names one) dated strictly before the current study; in it the
 *    series with the thinnest slices (ties: most instances), which needs at
 *    least min_instances instances.
 * 2. When there is none and [priors] fetch = yes: the PACS. One association
 *    with the Study Root Query/Retrieve FIND and MOVE contexts (PS3.4 C.6.2):
 *    C-FIND at STUDY level with PatientID, StudyDate "-<day before the
 *    current study>" (a PS3.4 C.2.2.2.5 range), ModalitiesInStudy and the
 *    return keys StudyInstanceUID, StudyDate, StudyTime; the answers are
 *    checked again here (a PACS may ignore a key), sorted by date and time,
 *    and the rule's `count` most recent are retrieved by C-MOVE to the node's
 *    own AE title (move_destination), waiting for the final response. The
 *    instances arrive through the node's Storage SCP like any others and are
 *    durable before the PACS gets its C-STORE response, so after the final
 *    C-MOVE response the store search (1) runs again and finds them.
 *
 * A fetched study is marked "prior" in the store (study_marks) before the
 * C-MOVE is sent; routing skips marked studies (node_priors_fetched), so a
 * prior never becomes an analysis job of its own, also after a restart.
 *
 * Failures (the PACS down or refusing, nothing found, a timeout) never fail
 * the job: it runs without the prior, and the log says why. The job is not
 * retried for the prior's sake: a result without the comparison now is
 * worth more than a complete one after the PACS's outage, and the findings
 * say that no prior was compared.
 */
#include "node/node_internal.h"
#include "radnode/analyzer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define TAG_MODALITIES_IN_STUDY RN_TAG(0x0008, 0x0061)
#define MAX_CANDIDATES 10000

typedef struct PriorSeries {
    RnInstanceInfo info;
    int count;
} PriorSeries;

typedef struct SeriesList {
    PriorSeries *v;
    size_t n, cap;
} SeriesList;

static int add_series(const RnInstanceInfo *info, void *user)
{
    SeriesList *l = user;
    /* radnode's own results (SR, SC, PDF) are never a prior. */
    if (!strcmp(info->manufacturer, "radnode"))
        return 0;
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i].info.series_uid, info->series_uid)) {
            l->v[i].count++;
            return 0;
        }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        PriorSeries *p = realloc(l->v, cap * sizeof *p);
        if (!p)
            return 1;
        l->v = p;
        l->cap = cap;
    }
    l->v[l->n].info = *info;
    l->v[l->n].count = 1;
    l->n++;
    return 0;
}

static bool series_fits(const RnPriorRule *r, const RnInstanceInfo *i)
{
    if (strcasecmp(i->modality, r->modality) != 0)
        return false;
    return !r->body_part || !r->body_part[0] || !strcasecmp(i->body_part, r->body_part);
}

static bool is_date(const char *d)
{
    if (strlen(d) != 8)
        return false;
    for (int i = 0; i < 8; i++)
        if (d[i] < '0' || d[i] > '9')
            return false;
    return true;
}

/* Step 1: the best prior series in the store; writes its folder into out. */
static bool find_local(Node *n, const RnPriorRule *rule, const RnInstanceInfo *ci, char *out,
                       size_t size)
{
    RnError err = {0};
    RnDataset *id = rn_dataset_create();
    if (!id || rn_dataset_set_string(id, RN_TAG_PatientID, RN_VR_LO, ci->patient_id, &err)) {
        rn_dataset_destroy(id);
        return false;
    }
    SeriesList all = {0};
    int rc = rn_store_retrieve(n->store, RN_QR_PATIENT, id, add_series, &all, &err);
    rn_dataset_destroy(id);
    if (rc) {
        rn_warn("priors: patient of study %s: %s", ci->study_uid, err.message);
        free(all.v);
        return false;
    }
    int min_instances = rule->min_instances > 0 ? rule->min_instances : 1;
    const PriorSeries *best = NULL;
    for (size_t s = 0; s < all.n; s++) {
        const PriorSeries *r = &all.v[s];
        if (!series_fits(rule, &r->info) || !strcmp(r->info.study_uid, ci->study_uid) ||
            !is_date(r->info.study_date) || strcmp(r->info.study_date, ci->study_date) >= 0 ||
            r->count < min_instances)
            continue;
        if (!best) {
            best = r;
            continue;
        }
        int date = strcmp(r->info.study_date, best->info.study_date);
        double tr = r->info.slice_thickness > 0 ? r->info.slice_thickness : 99;
        double tb = best->info.slice_thickness > 0 ? best->info.slice_thickness : 99;
        if (date > 0 || (date == 0 && !strcmp(r->info.study_uid, best->info.study_uid) &&
                         (tr < tb || (tr == tb && r->count > best->count))))
            best = r;
    }
    if (best) {
        rn_format(out, size, "%s/instances/%s/%s", n->cfg.data_dir, best->info.study_uid,
                  best->info.series_uid);
        rn_info("priors: study %s (%s): prior %s study %s of %s, series %s (%d instances)",
                ci->study_uid, ci->study_date, rule->modality, best->info.study_uid,
                best->info.study_date, best->info.series_uid, best->count);
    }
    free(all.v);
    return best != NULL;
}

/* ---- Step 2: the PACS --------------------------------------------------------------- */

typedef struct Candidate {
    char uid[RN_UID_MAX + 1];
    char date[17], time[17];
} Candidate;

typedef struct FindState {
    const RnInstanceInfo *cur;
    const RnPriorRule *rule;
    Candidate *v;
    size_t n, cap;
    int answers, unusable;
    bool nomem;
} FindState;

/* Whether a ModalitiesInStudy value (backslash-separated) names the modality;
 * an empty value (a PACS that does not return the key) does not exclude. */
static bool modalities_name(const char *list, const char *modality)
{
    if (!list || !list[0])
        return true;
    size_t ml = strlen(modality);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, '\\');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        while (l > 0 && p[l - 1] == ' ')
            l--;
        if (l == ml && !strncasecmp(p, modality, ml))
            return true;
        if (!e)
            break;
        p = e + 1;
    }
    return false;
}

static int on_find(void *user, const RnDimseCommand *rsp, const uint8_t *id, size_t len,
                   const char *ts)
{
    FindState *f = user;
    if (!id || len == 0 ||
        (rsp->status != RN_STATUS_PENDING && rsp->status != RN_STATUS_PENDING_WARNING))
        return 0;
    f->answers++;
    RnError err = {0};
    RnDataset *ds = rn_dataset_read(id, len, ts, &err);
    if (!ds) {
        f->unusable++;
        return 0;
    }
    Candidate c = {0};
    if (rn_dataset_get_string(ds, RN_TAG_StudyInstanceUID, 0, c.uid, sizeof c.uid, NULL))
        c.uid[0] = '\0';
    if (rn_dataset_get_string(ds, RN_TAG_StudyDate, 0, c.date, sizeof c.date, NULL))
        c.date[0] = '\0';
    if (rn_dataset_get_string(ds, RN_TAG_StudyTime, 0, c.time, sizeof c.time, NULL))
        c.time[0] = '\0';
    char *mods = rn_dataset_get_string_all(ds, TAG_MODALITIES_IN_STUDY, NULL);
    bool ok = rn_uid_is_valid(c.uid) && strcmp(c.uid, f->cur->study_uid) != 0 && is_date(c.date) &&
              strcmp(c.date, f->cur->study_date) < 0 && modalities_name(mods, f->rule->modality);
    free(mods);
    rn_dataset_destroy(ds);
    if (!ok) {
        f->unusable++;
        return 0;
    }
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->v[i].uid, c.uid))
            return 0;
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        Candidate *p = cap <= MAX_CANDIDATES ? realloc(f->v, cap * sizeof *p) : NULL;
        if (!p) {
            f->nomem = true;
            return 1; /* C-CANCEL: enough answers */
        }
        f->v = p;
        f->cap = cap;
    }
    f->v[f->n++] = c;
    return 0;
}

static int newest_first(const void *a, const void *b)
{
    const Candidate *x = a, *y = b;
    int d = strcmp(y->date, x->date);
    return d ? d : strcmp(y->time, x->time);
}

typedef struct MoveState {
    RnDimseCommand last;
    bool any;
} MoveState;

static int on_move(void *user, const RnDimseCommand *rsp, const uint8_t *id, size_t len,
                   const char *ts)
{
    (void)id, (void)len, (void)ts;
    MoveState *m = user;
    m->last = *rsp;
    m->any = true;
    return 0;
}

/* The day before a YYYYMMDD date, for the range "-<day before>" (a range is inclusive). */
static int day_before(const char *date, char out[9])
{
    struct tm tm = {0};
    if (sscanf(date, "%4d%2d%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) != 3)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    tm.tm_mday -= 1;
    tm.tm_hour = 12;
    if (timegm(&tm) == (time_t)-1 || tm.tm_year < 0 || tm.tm_year > 8099)
        return -1;
    if (strftime(out, 9, "%Y%m%d", &tm) != 8)
        return -1;
    return 0;
}

typedef struct Source {
    char name[64], host[256], called_ae[17], calling_ae[17], move_ae[17];
    int port, timeout;
    bool tls;
} Source;

/* 1: fetching is off; -1: the source is not (any more) a DICOM destination; 0: src filled. */
static int resolve_source(Node *n, Source *src)
{
    memset(src, 0, sizeof *src);
    pthread_mutex_lock(&n->cfg_lock);
    const RnPriorsConfig *p = &n->cfg.priors;
    bool ok = p->fetch;
    src->timeout = p->timeout > 0 ? p->timeout : 120;
    snprintf(src->move_ae, sizeof src->move_ae, "%s",
             p->move_destination[0] ? p->move_destination : n->cfg.ae_title);
    snprintf(src->calling_ae, sizeof src->calling_ae, "%s", n->cfg.ae_title);
    if (ok && p->source[0]) {
        ok = false;
        for (int i = 0; i < n->cfg.destination_count; i++) {
            const RnDestination *d = &n->cfg.destinations[i];
            if (strcmp(d->name, p->source) != 0 || d->type != RN_DEST_DICOM)
                continue;
            snprintf(src->name, sizeof src->name, "%s", d->name);
            snprintf(src->host, sizeof src->host, "%s", d->host);
            snprintf(src->called_ae, sizeof src->called_ae, "%s", d->ae_title);
            if (d->calling_ae[0])
                snprintf(src->calling_ae, sizeof src->calling_ae, "%s", d->calling_ae);
            src->port = d->port;
            src->tls = d->tls;
            ok = true;
        }
    } else if (ok) {
        snprintf(src->name, sizeof src->name, "%s", p->ae_title);
        snprintf(src->host, sizeof src->host, "%s", p->host);
        snprintf(src->called_ae, sizeof src->called_ae, "%s", p->ae_title);
        src->port = p->port;
    }
    bool fetch = p->fetch;
    if (!ok)
        snprintf(src->name, sizeof src->name, "%s", p->source);
    pthread_mutex_unlock(&n->cfg_lock);
    return !fetch ? 1 : ok ? 0 : -1;
}

/* Encodes a STUDY-level identifier: keys[i] = value ("" = a return key). */
static int identifier(const RnTag *tags, const RnVR *vrs, const char *const *values, size_t n,
                      const char *ts, RnBuf *out, RnError *err)
{
    RnDataset *ds = rn_dataset_create();
    if (!ds)
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    int rc = rn_dataset_set_string(ds, RN_TAG_QueryRetrieveLevel, RN_VR_CS, "STUDY", err);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = rn_dataset_set_string(ds, tags[i], vrs[i], values[i], err);
    if (rc == 0)
        rc = rn_dataset_write(ds, ts, out, err);
    rn_dataset_destroy(ds);
    return rc;
}

/* Finds and retrieves the rule's priors; 0 when at least one study was moved,
 * else -1 with why filled. */
static int fetch_from_pacs(Node *n, const RnPriorRule *rule, const RnInstanceInfo *ci,
                           const Source *src, char *why, size_t ws)
{
    char before[9];
    if (day_before(ci->study_date, before)) {
        rn_format(why, ws, "the current study's date \"%s\" is not a date", ci->study_date);
        return -1;
    }
    RnAssocParams proposal = {0};
    const char *ts[] = {RN_UID_EXPLICIT_VR_LE, RN_UID_IMPLICIT_VR_LE};
    RnError err = {0};
    if (rn_assoc_params_add_context(&proposal, RN_UID_STUDY_ROOT_FIND, ts, 2, &err) < 0 ||
        rn_assoc_params_add_context(&proposal, RN_UID_STUDY_ROOT_MOVE, ts, 2, &err) < 0) {
        rn_format(why, ws, "%s", err.message);
        rn_assoc_params_clear(&proposal);
        return -1;
    }
    RnScuOptions o = {.host = src->host,
                      .port = src->port,
                      .calling_ae = src->calling_ae,
                      .called_ae = src->called_ae,
                      .timeouts = {.network_ms = (src->timeout < 30 ? src->timeout : 30) * 1000,
                                   .dimse_ms = src->timeout * 1000,
                                   .artim_ms = (src->timeout < 30 ? src->timeout : 30) * 1000},
                      .tls = src->tls ? n->tls_client : NULL};
    RnAssocReject rj = {0};
    RnAssoc *a = rn_assoc_request(&o, &proposal, &rj, &err);
    rn_assoc_params_clear(&proposal);
    if (!a) {
        rn_format(why, ws, "association with %s (%s:%d) failed: %s", src->name, src->host,
                  src->port, err.message);
        return -1;
    }
    uint8_t fpc = rn_assoc_find_context(a, RN_UID_STUDY_ROOT_FIND, NULL);
    uint8_t mpc = rn_assoc_find_context(a, RN_UID_STUDY_ROOT_MOVE, NULL);
    int rc = -1;
    bool healthy = true; /* every DIMSE exchange completed: release, else abort */
    RnBuf id = {0};
    FindState f = {.cur = ci, .rule = rule};
    if (!fpc || !mpc) {
        rn_format(why, ws, "%s did not accept Study Root %s", src->name,
                  !fpc ? "C-FIND" : "C-MOVE");
        goto out;
    }
    char range[10];
    snprintf(range, sizeof range, "-%s", before);
    const RnTag ftags[] = {RN_TAG_PatientID, RN_TAG_StudyDate, TAG_MODALITIES_IN_STUDY,
                           RN_TAG_StudyInstanceUID, RN_TAG_StudyTime};
    const RnVR fvrs[] = {RN_VR_LO, RN_VR_DA, RN_VR_CS, RN_VR_UI, RN_VR_TM};
    const char *fvals[] = {ci->patient_id, range, rule->modality, "", ""};
    uint16_t status = 0;
    if (identifier(ftags, fvrs, fvals, 5, rn_assoc_context_ts(a, fpc), &id, &err) ||
        rn_scu_find(a, RN_UID_STUDY_ROOT_FIND, id.data, id.len, NULL, on_find, &f, &status, &err)) {
        rn_format(why, ws, "C-FIND on %s failed: %s", src->name, err.message);
        healthy = false;
        goto out;
    }
    rn_buf_free(&id);
    if (status != RN_STATUS_SUCCESS && status != RN_STATUS_CANCEL && !f.nomem) {
        rn_format(why, ws, "C-FIND on %s ended with status 0x%04X", src->name, status);
        goto out;
    }
    rn_info("priors: study %s: C-FIND on %s (PatientID, StudyDate %s, ModalitiesInStudy %s): "
            "%d answer%s, %zu earlier stud%s",
            ci->study_uid, src->name, range, rule->modality, f.answers, f.answers == 1 ? "" : "s",
            f.n, f.n == 1 ? "y" : "ies");
    if (f.n == 0) {
        rn_format(why, ws, "%s has no earlier %s study of the patient", src->name, rule->modality);
        goto out;
    }
    qsort(f.v, f.n, sizeof *f.v, newest_first);
    size_t want = rule->count > 0 && (size_t)rule->count < f.n ? (size_t)rule->count : f.n;
    int moved = 0;
    for (size_t i = 0; i < want; i++) {
        const Candidate *c = &f.v[i];
        /* Marked before the C-MOVE: its instances may be routed the moment they settle. */
        if (rn_store_study_mark(n->store, c->uid, "prior", ci->study_uid, &err)) {
            rn_format(why, ws, "%s", err.message);
            break;
        }
        const RnTag mtags[] = {RN_TAG_StudyInstanceUID};
        const RnVR mvrs[] = {RN_VR_UI};
        const char *mvals[] = {c->uid};
        MoveState m = {0};
        status = 0;
        if (identifier(mtags, mvrs, mvals, 1, rn_assoc_context_ts(a, mpc), &id, &err) ||
            rn_scu_move(a, RN_UID_STUDY_ROOT_MOVE, src->move_ae, id.data, id.len, NULL, on_move, &m,
                        &status, &err)) {
            rn_format(why, ws, "C-MOVE of study %s from %s failed: %s", c->uid, src->name,
                      err.message);
            rn_buf_free(&id);
            healthy = false;
            break;
        }
        rn_buf_free(&id);
        rn_info("priors: study %s: C-MOVE of study %s (%s) from %s to %s: status 0x%04X, %u "
                "completed, %u failed, %u warning",
                ci->study_uid, c->uid, c->date, src->name, src->move_ae, status,
                m.any ? m.last.completed : 0, m.any ? m.last.failed : 0,
                m.any ? m.last.warning : 0);
        if (status == RN_STATUS_SUCCESS || ((status & 0xF000) == 0xB000 && m.last.completed))
            moved++;
        else
            rn_format(why, ws, "C-MOVE of study %s from %s to %s ended with status 0x%04X%s",
                      c->uid, src->name, src->move_ae, status,
                      status == 0xA801 ? " (move destination unknown: the PACS must know this "
                                         "node's AE title, host and port)"
                                       : "");
    }
    rc = moved > 0 ? 0 : -1;
out:
    rn_buf_free(&id);
    free(f.v);
    if (healthy)
        rn_assoc_release(a, NULL);
    else
        rn_assoc_abort(a);
    return rc;
}

bool node_priors_for_job(Node *n, const RnJob *job, char *out, size_t size)
{
    const RnPriorRule *rule = rn_analyzer_prior_rule(job->target);
    if (!rule)
        return false;
    SeriesList cur = {0};
    RnError err = {0};
    if (rn_store_study_instances(n->store, job->study_uid, add_series, &cur, &err)) {
        rn_warn("priors: study %s: %s", job->study_uid, err.message);
        free(cur.v);
        return false;
    }
    /* The current study's identity: its first series of the rule's modality
     * (the routed series itself for a series-level job). */
    const RnInstanceInfo *ci = NULL;
    for (size_t s = 0; s < cur.n && !ci; s++)
        if (series_fits(rule, &cur.v[s].info) &&
            (!job->payload[0] || !strcmp(job->payload, cur.v[s].info.series_uid)))
            ci = &cur.v[s].info;
    for (size_t s = 0; s < cur.n && !ci; s++)
        if (!strcasecmp(cur.v[s].info.modality, rule->modality))
            ci = &cur.v[s].info;
    bool found = false;
    if (!ci) {
        /* Not a study the rule applies to. */
    } else if (!ci->patient_id[0] || !is_date(ci->study_date)) {
        rn_info("priors: study %s: no Patient ID or Study Date, so no prior can be matched",
                job->study_uid);
    } else if (!(found = find_local(n, rule, ci, out, size))) {
        Source src;
        char why[700] = "";
        int how = resolve_source(n, &src);
        if (how == 1) {
            rn_info("priors: study %s (%s): no earlier %s study of the patient in the store "
                    "([priors] fetch is off); analysed without a prior",
                    ci->study_uid, ci->study_date, rule->modality);
        } else if (how < 0) {
            rn_warn("priors: study %s: [priors] source \"%s\" is no longer a DICOM destination; "
                    "analysed without a prior",
                    ci->study_uid, src.name);
        } else if (fetch_from_pacs(n, rule, ci, &src, why, sizeof why) != 0) {
            rn_warn("priors: study %s (%s): no prior from the PACS: %s; analysed without a "
                    "prior",
                    ci->study_uid, ci->study_date, why);
        } else if (!(found = find_local(n, rule, ci, out, size))) {
            rn_warn("priors: study %s: the study moved from %s has no series the analyzer can "
                    "use (%s, at least %d instances); analysed without a prior",
                    ci->study_uid, src.name, rule->modality,
                    rule->min_instances > 0 ? rule->min_instances : 1);
        }
    }
    free(cur.v);
    return found;
}

bool node_priors_fetched(Node *n, const char *study_uid)
{
    char mark[32] = "", note[RN_UID_MAX + 1] = "";
    RnError err = {0};
    int rc =
        rn_store_study_mark_get(n->store, study_uid, mark, sizeof mark, note, sizeof note, &err);
    if (rc < 0)
        rn_warn("priors: study %s: %s", study_uid, err.message);
    if (rc != 1 || strcmp(mark, "prior") != 0)
        return false;
    rn_info("assembly: study %s was fetched from the PACS as a prior for study %s: stored, "
            "not analysed",
            study_uid, note);
    return true;
}
