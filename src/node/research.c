/*
 * Research export from the node (issue 9; radnode/research.h): the studies a
 * query selects from the store's index, de-identified per DICOM PS3.15
 * Annex E with the hospital's secret, in a folder inside the hospital.
 *
 *   export_root/<name>/
 *     manifest.csv, manifest.json      one row / object per study
 *     <pseudonymous Study UID>/<pseudonymous Series UID>/<pseudonymous SOP UID>.dcm
 *
 * What goes out: every acquired instance of the study (radnode's own result
 * objects that the PACS may have sent back into the store are skipped) and,
 * from the newest finished analysis of each analyzer and series, the result
 * objects of that job (jobs/<id>/out): the SR carries the findings as
 * structured content and is de-identified like any instance. The Secondary
 * Capture is flagged Burned In Annotation YES (its legend is drawn into the
 * pixels over the input image), so it follows the burned-in policy: blanked
 * when [research] blank regions are set, left out otherwise. The encapsulated
 * PDF is always left out: a PDF can carry identifying text that Annex E has
 * no way to clean (rn_deid_file refuses encapsulated documents). Left-out
 * objects are counted per study in the manifest with the policy's reason.
 *
 * The manifest holds no original value: the pseudonym (the same as `radnode
 * deid` gives with the same secret), the pseudonymous Study UID, Patient's Age
 * and Sex as the de-identified instances carry them, the modalities, counts,
 * and the analyses' measurements and coded findings read from the job's
 * findings.jsonl (never its free text or source paths, which name original
 * UIDs). The query itself (it may hold a patient ID) goes only to the audit
 * log.
 *
 * Containment: the name is one path component of a restricted alphabet; the
 * export root is resolved (realpath) once, the work is done in a fresh
 * mkdtemp folder below it whose resolved path is checked again, and the
 * finished folder is renamed with RENAME_NOREPLACE, so neither ".." nor a
 * symlink planted at the name can make the export land outside the root or
 * over something that exists.
 */
#include "radnode/research.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_STUDIES 100000

/* ---- Checks --------------------------------------------------------------------------------- */

static bool chars_ok(const char *s, size_t max, const char *extra)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && !strchr(extra, c))
            return false;
    }
    return true;
}

static bool given(const char *s) { return s && s[0]; }

int rn_research_query_check(const RnResearchQuery *q, RnError *err)
{
    if (!q)
        return rn_error_set(err, RN_ERR_INVALID, "no query");
    if (given(q->patient_id) && (strlen(q->patient_id) > 64 || strchr(q->patient_id, '\\')))
        return rn_error_set(err, RN_ERR_INVALID, "patient_id: 1..64 characters, no backslash");
    if (given(q->modality) && !chars_ok(q->modality, 16, "_"))
        return rn_error_set(err, RN_ERR_INVALID, "modality: up to 16 letters or digits");
    if (given(q->accession) && !chars_ok(q->accession, 16, "-_./ "))
        return rn_error_set(err, RN_ERR_INVALID, "accession: up to 16 characters");
    if (given(q->analyzer) && !chars_ok(q->analyzer, 31, "_-"))
        return rn_error_set(err, RN_ERR_INVALID, "analyzer: up to 31 letters, digits, - or _");
    if (given(q->study_uid) && !chars_ok(q->study_uid, 64, "."))
        return rn_error_set(err, RN_ERR_INVALID, "study_uid: digits and dots");
    const char *dates[2] = {q->date_from, q->date_to};
    for (int i = 0; i < 2; i++)
        if (given(dates[i]) && (strlen(dates[i]) != 8 || !chars_ok(dates[i], 8, "")))
            return rn_error_set(err, RN_ERR_INVALID, "%s: YYYYMMDD",
                                i == 0 ? "date_from" : "date_to");
    if (!given(q->patient_id) && !given(q->modality) && !given(q->accession) &&
        !given(q->analyzer) && !given(q->study_uid) && !given(q->date_from) &&
        !given(q->date_to))
        return rn_error_set(err, RN_ERR_INVALID,
                            "the query selects every study; give at least one filter");
    return 0;
}

int rn_research_name_check(const char *name, RnError *err)
{
    if (!name || !chars_ok(name, 64, "._-") || name[0] == '.')
        return rn_error_set(err, RN_ERR_INVALID,
                            "export name: 1..64 letters, digits, '.', '_' or '-', not starting "
                            "with '.' (one folder below the export root)");
    return 0;
}

/* ---- Per export state ---------------------------------------------------------------------- */

typedef struct Study {
    char uid[RN_UID_MAX + 1];
    char patient_id[65];
    char accession[17];
} Study;

typedef struct StudyOut {
    RnDeidResult first; /* of the first instance written: pseudonym, UIDs, age, sex */
    bool have_first;
    char modalities[128];
    unsigned instances, results, left_out;
    json_t *left;     /* [{"object", "sop_class_uid", "reason"}] */
    json_t *findings; /* [{"analyzer", "status", "measurements", "codes"}] */
} StudyOut;

typedef struct Export {
    const RnNodeConfig *cfg;
    RnDeidOptions opt;
    sqlite3 *db;
    char tmp[PATH_MAX];
    Study *studies;
    size_t count;
    RnResearchSummary *sum;
} Export;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void remove_tree(const char *path)
{
    if (path[0])
        nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void add_modality(StudyOut *so, const char *m)
{
    if (!m[0])
        return;
    char padded[140];
    rn_format(padded, sizeof padded, ",%s,", so->modalities);
    char needle[24];
    rn_format(needle, sizeof needle, ",%s,", m);
    if (strstr(padded, needle))
        return;
    size_t l = strlen(so->modalities);
    if (l + strlen(m) + 2 < sizeof so->modalities)
        rn_format(so->modalities + l, sizeof so->modalities - l, "%s%s", l ? "," : "", m);
}

/* De-identifies one file into the export. Refusals of the policy are counted
 * in so (with the policy's reason, which names no original value); other
 * failures too, with a generic reason, since a read error can name a path
 * made of original UIDs. Only a failure to write the export is an error. */
static int export_file(Export *x, StudyOut *so, const char *path, bool result, RnError *err)
{
    RnError e = {0};
    RnReadOptions ro = {.defer_threshold = 0};
    RnDicomFile *in = rn_dicom_read_file(path, &ro, &e);
    RnDeidResult res;
    RnDicomFile *out = NULL;
    char sop_class[RN_UID_MAX + 1] = "";
    if (in) {
        rn_dataset_get_string(rn_dicom_file_dataset(in), RN_TAG_SOPClassUID, 0, sop_class,
                              sizeof sop_class, NULL);
        out = rn_deid_file(in, &x->opt, &res, &e);
        rn_dicom_file_destroy(in);
    }
    if (!out) {
        so->left_out++;
        x->sum->left_out++;
        json_array_append_new(
            so->left, json_pack("{s:s, s:s, s:s}", "object", result ? "result" : "instance",
                                "sop_class_uid", sop_class,
                                "reason", e.code == RN_ERR_UNSUPPORTED
                                              ? e.message
                                              : "unreadable or not de-identifiable"));
        return 0;
    }
    char dir[PATH_MAX], dest[PATH_MAX];
    rn_format(dir, sizeof dir, "%s/%s/%s", x->tmp, res.study_uid, res.series_uid);
    rn_format(dest, sizeof dest, "%s/%s.dcm", dir, res.sop_instance_uid);
    int rc = rn_mkdirs(dir, err);
    if (!rc)
        rc = rn_dicom_write_file(out, dest, NULL, err);
    rn_dicom_file_destroy(out);
    if (rc)
        return rc;
    if (!so->have_first || (!so->first.patient_age[0] && res.patient_age[0])) {
        /* The first instance names the study; a later one may carry the age. */
        if (!so->have_first)
            so->first = res;
        else
            memcpy(so->first.patient_age, res.patient_age, sizeof res.patient_age);
        so->have_first = true;
    }
    if (!so->first.patient_sex[0] && res.patient_sex[0])
        memcpy(so->first.patient_sex, res.patient_sex, sizeof res.patient_sex);
    if (result) {
        so->results++;
        x->sum->results++;
    } else {
        add_modality(so, res.modality);
        so->instances++;
        x->sum->instances++;
    }
    return 0;
}

/* A string member of o, "" when absent or not a string. */
static const char *member(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* The analysis's structured findings, without free text or source paths. */
static json_t *findings_of(json_t *f)
{
    json_t *o = json_object();
    json_t *v = json_object_get(f, "analyzer");
    json_object_set_new(o, "analyzer", json_string(json_is_string(v) ? json_string_value(v) : ""));
    v = json_object_get(f, "status");
    json_object_set_new(o, "status", json_string(json_is_string(v) ? json_string_value(v) : ""));
    json_t *ms = json_array(), *codes = json_array();
    json_t *m, *c;
    size_t i;
    json_array_foreach(json_object_get(f, "measurements"), i, m)
    {
        json_t *concept = json_object_get(m, "concept"), *unit = json_object_get(m, "unit");
        json_t *val = json_object_get(m, "value");
        if (!json_is_number(val))
            continue;
        json_t *one = json_pack("{s:s, s:s, s:s, s:f, s:s}", "group", member(m, "group"), "code",
                                member(concept, "value"), "meaning", member(concept, "meaning"),
                                "value", json_number_value(val), "unit", member(unit, "ucum"));
        if (one)
            json_array_append_new(ms, one);
    }
    json_array_foreach(json_object_get(f, "codes"), i, c)
    {
        json_t *concept = json_object_get(c, "concept"), *val = json_object_get(c, "value");
        json_t *one = json_pack("{s:s, s:s, s:s}", "concept", member(concept, "meaning"), "code",
                                member(val, "value"), "value", member(val, "meaning"));
        if (one)
            json_array_append_new(codes, one);
    }
    json_object_set_new(o, "measurements", ms);
    json_object_set_new(o, "codes", codes);
    return o;
}

static void read_findings(StudyOut *so, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        json_error_t je;
        json_t *j = json_loadb(line, (size_t)n, 0, &je);
        if (json_is_object(j))
            json_array_append_new(so->findings, findings_of(j));
        json_decref(j);
    }
    free(line);
    fclose(f);
}

/* The results of the newest finished analysis per (analyzer, series). */
static int export_results(Export *x, StudyOut *so, const char *study_uid, RnError *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(x->db,
                           "SELECT MAX(id) FROM jobs WHERE study_uid=? AND kind='analyze' AND "
                           "state=? GROUP BY target, payload ORDER BY 1",
                           -1, &st, NULL) != SQLITE_OK)
        return rn_error_set(err, RN_ERR_IO, "index: %s", sqlite3_errmsg(x->db));
    sqlite3_bind_text(st, 1, study_uid, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, RN_JOB_DONE);
    int rc = 0;
    while (!rc && sqlite3_step(st) == SQLITE_ROW) {
        long long id = sqlite3_column_int64(st, 0);
        char dir[PATH_MAX], path[PATH_MAX];
        rn_format(path, sizeof path, "%s/jobs/%lld/findings.jsonl", x->cfg->data_dir, id);
        read_findings(so, path);
        rn_format(dir, sizeof dir, "%s/jobs/%lld/out", x->cfg->data_dir, id);
        struct dirent **names = NULL;
        int n = scandir(dir, &names, NULL, alphasort);
        for (int i = 0; i < n; i++) {
            const char *nm = names[i]->d_name;
            size_t l = strlen(nm);
            if (!rc && l > 4 && !strcmp(nm + l - 4, ".dcm")) {
                rn_format(path, sizeof path, "%s/%s", dir, nm);
                rc = export_file(x, so, path, true, err);
            }
            free(names[i]);
        }
        free(names);
    }
    sqlite3_finalize(st);
    return rc;
}

static int export_study(Export *x, const Study *s, json_t *list, FILE *csv, RnError *err)
{
    StudyOut so = {.left = json_array(), .findings = json_array()};
    sqlite3_stmt *st = NULL;
    int rc = 0;
    if (sqlite3_prepare_v2(x->db,
                           "SELECT path FROM instances WHERE study_uid=? AND "
                           "manufacturer<>'radnode' ORDER BY series_uid, instance_number, sop_uid",
                           -1, &st, NULL) != SQLITE_OK)
        rc = rn_error_set(err, RN_ERR_IO, "index: %s", sqlite3_errmsg(x->db));
    if (!rc) {
        sqlite3_bind_text(st, 1, s->uid, -1, SQLITE_STATIC);
        while (!rc && sqlite3_step(st) == SQLITE_ROW) {
            const char *rel = (const char *)sqlite3_column_text(st, 0);
            char path[PATH_MAX];
            /* Paths in the index are relative to the store root and made of UIDs. */
            if (!rel || rel[0] == '/' || strstr(rel, ".."))
                continue;
            rn_format(path, sizeof path, "%s/%s", x->cfg->data_dir, rel);
            rc = export_file(x, &so, path, false, err);
        }
    }
    sqlite3_finalize(st);
    if (!rc)
        rc = export_results(x, &so, s->uid, err);
    if (!rc && !so.have_first) {
        /* Nothing of it could be written (every object refused): the study
         * still appears, under its pseudonym, so the count is honest. */
        char key[80];
        rn_format(key, sizeof key, "id:%s", s->patient_id);
        rn_deid_pseudonym(&x->opt, key, so.first.pseudonym, NULL);
        rn_deid_map_uid(&x->opt, s->uid, so.first.study_uid, NULL);
    }
    if (!rc) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:o, s:o}", "pseudonym",
                              so.first.pseudonym, "study_uid", so.first.study_uid, "age",
                              so.first.patient_age, "sex", so.first.patient_sex, "modality",
                              so.modalities, "instances", (int)so.instances, "results",
                              (int)so.results, "left_out", (int)so.left_out, "findings",
                              json_incref(so.findings), "left_out_reasons", json_incref(so.left));
        json_array_append_new(list, o);
        /* CSV findings: "analyzer: meaning [group] = value unit; concept = value". */
        RnBuf fb;
        rn_buf_init(&fb);
        size_t i, k;
        json_t *f, *m;
        json_array_foreach(so.findings, i, f)
        {
            const char *an = json_string_value(json_object_get(f, "analyzer"));
            json_array_foreach(json_object_get(f, "measurements"), k, m)
            {
                const char *g = json_string_value(json_object_get(m, "group"));
                const char *mn = json_string_value(json_object_get(m, "meaning"));
                rn_buf_printf(&fb, "%s%s: %s%s%s%s = %g %s", fb.len ? "; " : "", an, mn,
                              g && strcmp(g, mn) ? " [" : "", g && strcmp(g, mn) ? g : "",
                              g && strcmp(g, mn) ? "]" : "",
                              json_number_value(json_object_get(m, "value")),
                              json_string_value(json_object_get(m, "unit")));
            }
            json_array_foreach(json_object_get(f, "codes"), k, m)
                rn_buf_printf(&fb, "%s%s: %s = %s", fb.len ? "; " : "", an,
                              json_string_value(json_object_get(m, "concept")),
                              json_string_value(json_object_get(m, "value")));
        }
        rn_buf_append_byte(&fb, 0);
        const char *cols[] = {so.first.pseudonym, so.first.study_uid, so.first.patient_age,
                              so.first.patient_sex, so.modalities, (const char *)fb.data};
        for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++) {
            const char *v = cols[c] ? cols[c] : "";
            if (strpbrk(v, ",\"\n")) {
                fputc('"', csv);
                for (; *v; v++) {
                    if (*v == '"')
                        fputc('"', csv);
                    fputc(*v, csv);
                }
                fputc('"', csv);
            } else {
                fputs(v, csv);
            }
            fputc(',', csv);
        }
        fprintf(csv, "%u,%u,%u\n", so.instances, so.results, so.left_out);
        rn_buf_free(&fb);
        x->sum->studies++;
    }
    json_decref(so.left);
    json_decref(so.findings);
    return rc;
}

/* ---- Selection ---------------------------------------------------------------------------- */

static int select_studies(Export *x, const RnResearchQuery *q, RnError *err)
{
    char sql[1500] = "SELECT s.study_uid, s.patient_id, s.accession_number FROM studies s "
                     "WHERE 1";
    const char *params[8];
    int np = 0;
#define FILTER(cond, value)                                                                        \
    do {                                                                                           \
        if (given(value)) {                                                                        \
            strncat(sql, " AND " cond, sizeof sql - strlen(sql) - 1);                              \
            params[np++] = value;                                                                  \
        }                                                                                          \
    } while (0)
    FILTER("s.patient_id=?", q->patient_id);
    FILTER("EXISTS (SELECT 1 FROM instances i WHERE i.study_uid=s.study_uid AND i.modality=?)",
           q->modality);
    FILTER("s.study_date>=?", q->date_from);
    FILTER("s.study_date<=?", q->date_to);
    FILTER("s.accession_number=?", q->accession);
    FILTER("EXISTS (SELECT 1 FROM jobs j WHERE j.study_uid=s.study_uid AND j.kind='analyze' AND "
           "j.state=2 AND j.target=?)",
           q->analyzer);
    FILTER("s.study_uid=?", q->study_uid);
#undef FILTER
    strncat(sql, " ORDER BY s.study_date, s.study_uid", sizeof sql - strlen(sql) - 1);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(x->db, sql, -1, &st, NULL) != SQLITE_OK)
        return rn_error_set(err, RN_ERR_IO, "index: %s", sqlite3_errmsg(x->db));
    for (int i = 0; i < np; i++)
        sqlite3_bind_text(st, i + 1, params[i], -1, SQLITE_STATIC);
    size_t cap = 0;
    int rc = 0;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (x->count >= MAX_STUDIES) {
            rc = rn_error_set(err, RN_ERR_LIMIT, "the query selects more than %d studies",
                              MAX_STUDIES);
            break;
        }
        if (x->count == cap) {
            cap = cap ? cap * 2 : 16;
            Study *n = rn_realloc(x->studies, cap * sizeof *n);
            if (!n) {
                rc = rn_error_set(err, RN_ERR_NOMEM, "out of memory");
                break;
            }
            x->studies = n;
        }
        Study *s = &x->studies[x->count++];
        memset(s, 0, sizeof *s);
        const char *cols[3];
        for (int c = 0; c < 3; c++)
            cols[c] = (const char *)sqlite3_column_text(st, c);
        rn_format(s->uid, sizeof s->uid, "%s", cols[0] ? cols[0] : "");
        rn_format(s->patient_id, sizeof s->patient_id, "%s", cols[1] ? cols[1] : "");
        rn_format(s->accession, sizeof s->accession, "%s", cols[2] ? cols[2] : "");
    }
    if (!rc && step != SQLITE_DONE)
        rc = rn_error_set(err, RN_ERR_IO, "index: %s", sqlite3_errmsg(x->db));
    sqlite3_finalize(st);
    return rc;
}

/* ---- Options, audit ----------------------------------------------------------------------- */

static int load_options(const RnResearchConfig *r, RnDeidOptions *opt, RnError *err)
{
    memset(opt, 0, sizeof *opt);
    rn_deid_options_set_profile(opt, r->profile);
    if (r->retain_patient_characteristics)
        opt->retain_patient_characteristics = r->retain_patient_characteristics > 0;
    if (r->retain_modified_dates)
        opt->retain_modified_dates = r->retain_modified_dates > 0;
    if (r->clean_descriptors)
        opt->clean_descriptors = r->clean_descriptors > 0;
    if (r->clean_structured_content)
        opt->clean_structured_content = r->clean_structured_content > 0;
    if (r->retain_device_identity)
        opt->retain_device_identity = r->retain_device_identity > 0;
    opt->refuse_burned_in = r->refuse_burned_in;
    opt->region_count = (size_t)r->region_count;
    memcpy(opt->regions, r->regions, sizeof opt->regions);
    RnError e = {0};
    if (rn_deid_secret_load(r->secret_file, opt, &e))
        return rn_error_set(err, e.code ? e.code : RN_ERR_IO, "[research] secret_file: %s",
                            e.message);
    return 0;
}

/* PS3.15 A.5.3.5 Export: the user who asked (requestor), the node (source),
 * the export folder (destination media); the studies by their original UIDs
 * (the audit log is the place for them). */
static void record_audit(Export *x, RnAuditTrail *trail, const char *user, const char *address,
                         const RnResearchQuery *q, const char *where, int outcome,
                         const char *why)
{
    if (!trail)
        return;
    RnAuditEvent ev = {.kind = RN_AUDIT_EXPORT, .outcome = outcome, .outcome_description = why};
    ev.participants[ev.participant_count++] = (RnAuditParticipant){
        .user_id = user && user[0] ? user : "(unknown)",
        .network_address = address && address[0] ? address : NULL,
        .is_requestor = true,
    };
    ev.participants[ev.participant_count++] = (RnAuditParticipant){
        .user_id = x->cfg->ae_title,
        .alt_user_id = "radnode-research-export",
        .role = RN_AUDIT_ROLE_SOURCE,
    };
    ev.participants[ev.participant_count++] = (RnAuditParticipant){
        .user_id = where,
        .role = RN_AUDIT_ROLE_DESTINATION_MEDIA,
    };
    for (size_t i = 0; i < x->count && ev.study_count < RN_AUDIT_MAX_STUDIES; i++)
        ev.studies[ev.study_count++] = (RnAuditStudy){
            .study_uid = x->studies[i].uid,
            .accession = x->studies[i].accession[0] ? x->studies[i].accession : NULL,
        };
    /* One patient: name it; several: the query's patient key if it had one. */
    bool one = x->count > 0;
    for (size_t i = 1; one && i < x->count; i++)
        one = !strcmp(x->studies[i].patient_id, x->studies[0].patient_id);
    ev.patient_id = one ? x->studies[0].patient_id : given(q->patient_id) ? q->patient_id : NULL;
    RnError e = {0};
    if (rn_audit_trail_record(trail, &ev, &e))
        rn_errorlog("research export: audit record lost: %s", e.message);
}

/* ---- The export ----------------------------------------------------------------------------- */

static int write_manifest_json(const Export *x, const char *name, json_t *studies, RnError *err)
{
    static const char *const profiles[] = {"basic", "research", "teaching"};
    json_t *options = json_pack(
        "{s:b, s:b, s:b, s:b, s:b, s:i, s:b}", "retain_patient_characteristics",
        x->opt.retain_patient_characteristics, "retain_modified_dates",
        x->opt.retain_modified_dates, "clean_descriptors", x->opt.clean_descriptors,
        "clean_structured_content", x->opt.clean_structured_content, "retain_device_identity",
        x->opt.retain_device_identity, "blanked_regions", (int)x->opt.region_count,
        "refuse_burned_in", x->opt.refuse_burned_in);
    unsigned p = (unsigned)x->cfg->research.profile;
    json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:o}", "export", name, "deidentification",
                          "DICOM PS3.15 Annex E", "profile", p < 3 ? profiles[p] : "?",
                          "options", options, "studies", json_incref(studies));
    char path[PATH_MAX];
    rn_format(path, sizeof path, "%s/manifest.json", x->tmp);
    int rc = json_dump_file(o, path, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    json_decref(o);
    return rc ? rn_error_set(err, RN_ERR_IO, "cannot write manifest.json") : 0;
}

int rn_research_export(const RnNodeConfig *cfg, const char *name, const RnResearchQuery *q,
                       RnAuditTrail *trail, const char *user, const char *address,
                       RnResearchSummary *sum, RnError *err)
{
    RnResearchSummary local;
    if (!sum)
        sum = &local;
    memset(sum, 0, sizeof *sum);
    if (!cfg || !cfg->research.export_root[0])
        return rn_error_set(err, RN_ERR_UNSUPPORTED,
                            "research exports are disabled ([research] export_root is not set)");
    int rc = rn_research_name_check(name, err);
    if (!rc)
        rc = rn_research_query_check(q, err);
    if (rc)
        return rc;
    char root[PATH_MAX], final[PATH_MAX];
    if (!realpath(cfg->research.export_root, root))
        return rn_error_set(err, RN_ERR_IO, "[research] export_root %s: %s",
                            cfg->research.export_root, strerror(errno));
    struct stat st;
    if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode))
        return rn_error_set(err, RN_ERR_IO, "[research] export_root %s is not a folder", root);
    rn_format(final, sizeof final, "%s/%s", root, name);
    if (lstat(final, &st) == 0)
        return rn_error_set(err, RN_ERR_INVALID, "an export named %s exists already in %s", name,
                            root);

    Export x = {.cfg = cfg, .sum = sum};
    rc = load_options(&cfg->research, &x.opt, err);
    char db_path[PATH_MAX];
    rn_format(db_path, sizeof db_path, "%s/index.sqlite", cfg->data_dir);
    if (!rc && sqlite3_open_v2(db_path, &x.db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                               NULL) != SQLITE_OK)
        rc = rn_error_set(err, RN_ERR_IO, "cannot open the store's index %s: %s", db_path,
                          x.db ? sqlite3_errmsg(x.db) : "out of memory");
    if (!rc)
        sqlite3_busy_timeout(x.db, 5000);
    /* One read transaction: the selection, instance lists and job rows are one
     * snapshot of the index (WAL), whatever the running node commits meanwhile. */
    if (!rc && sqlite3_exec(x.db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        rc = rn_error_set(err, RN_ERR_IO, "index: %s", sqlite3_errmsg(x.db));
    if (!rc)
        rc = select_studies(&x, q, err);
    if (!rc && x.count == 0)
        rc = rn_error_set(err, RN_ERR_NOT_FOUND, "no study in the store matches the query");
    if (!rc) {
        rn_format(x.tmp, sizeof x.tmp, "%s/.tmp-%s-XXXXXX", root, name);
        char real[PATH_MAX];
        if (!mkdtemp(x.tmp)) {
            rc = rn_error_set(err, RN_ERR_IO, "cannot create a folder in %s: %s", root,
                              strerror(errno));
            x.tmp[0] = '\0';
        } else if (!realpath(x.tmp, real) || strncmp(real, root, strlen(root)) ||
                   real[strlen(root)] != '/') {
            rc = rn_error_set(err, RN_ERR_INVALID, "the work folder left the export root");
        }
    }
    FILE *csv = NULL;
    json_t *list = json_array();
    if (!rc) {
        char path[PATH_MAX];
        rn_format(path, sizeof path, "%s/manifest.csv", x.tmp);
        csv = fopen(path, "w");
        if (!csv)
            rc = rn_error_set(err, RN_ERR_IO, "cannot write manifest.csv: %s", strerror(errno));
        else
            fputs("pseudonym,study_uid,age,sex,modality,findings,instances,results,left_out\n",
                  csv);
    }
    for (size_t i = 0; !rc && i < x.count; i++)
        rc = export_study(&x, &x.studies[i], list, csv, err);
    if (csv && fclose(csv) != 0 && !rc)
        rc = rn_error_set(err, RN_ERR_IO, "cannot write manifest.csv");
    if (!rc)
        rc = write_manifest_json(&x, name, list, err);
    json_decref(list);
    if (x.db) {
        sqlite3_exec(x.db, "COMMIT", NULL, NULL, NULL);
        sqlite3_close(x.db);
    }
    /* Complete: into place, never over anything that appeared meanwhile. */
    if (!rc && renameat2(AT_FDCWD, x.tmp, AT_FDCWD, final, RENAME_NOREPLACE) != 0)
        rc = rn_error_set(err, RN_ERR_IO, "cannot move the export into place as %s: %s", final,
                          strerror(errno));
    if (!rc) {
        rn_format(sum->path, sizeof sum->path, "%s", final);
        rn_info("research export %s: %u studies, %u instances, %u results, %u left out", final,
                sum->studies, sum->instances, sum->results, sum->left_out);
    } else {
        remove_tree(x.tmp);
    }
    if (x.count) /* an export that selected nothing exported nothing: no event */
        record_audit(&x, trail, user, address, q, final,
                     rc ? RN_AUDIT_SERIOUS_FAILURE : RN_AUDIT_SUCCESS,
                     rc && err ? err->message : NULL);
    OPENSSL_cleanse(&x.opt, sizeof x.opt);
    free(x.studies);
    return rc;
}
