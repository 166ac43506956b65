/*
 * `radnode analyze FILE|DIR... --out DIR` runs the analyzers offline, without
 * a network: the inputs (folders walked recursively) are grouped by series,
 * each group goes to the analyzer chosen by --analyzer or by its modality
 * (CT -> lungct, DX/CR -> boneage), and every result object the report
 * module builds (include/radnode/report.h: SR, Secondary Capture, PDF, Key
 * Object Selection, HL7 ORU^R01) is written into DIR as a Part 10 file in
 * Explicit VR Little Endian (PS3.10) or as HL7 text. With --json, one line of
 * findings per analysed group goes to stdout. --prior FILE|DIR (repeatable)
 * names the files of an earlier study of the same patient, handed to the
 * analyzer as its prior (lungct: follow-up, volume doubling time); the prior's
 * files are compared, not reported on. With --findings FILE the
 * analyzer is skipped and the given findings are applied to the inputs: the
 * way to re-issue or check results from stored findings.
 */
#include "cli/commands.h"
#include "radnode/analyzer.h"
#include "radnode/report.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_INPUT_FILES 100000

static int usage(void)
{
    fprintf(stderr,
            "usage: radnode analyze FILE|DIR... [--out DIR] [--json] [--analyzer NAME]\n"
            "       [--lang en|zh] [--findings FILE.json] [--objects sr,sc,pdf,kos,hl7]\n"
            "       [--institution NAME] [--station AE] [--charset 'ISO_IR 192'|GB18030]\n"
            "       [--datetime YYYYMMDDHHMMSS] [--models DIR] [--prior FILE|DIR]...\n"
            "Without --out no result object is written and the findings are printed as one\n"
            "JSON object per line per analysed series (as with --json).\n");
    return 2;
}

typedef struct PathList {
    char **paths;
    size_t count;
} PathList;

static int push_path(PathList *l, const char *p)
{
    if (l->count >= MAX_INPUT_FILES)
        return -1;
    char **g = realloc(l->paths, (l->count + 1) * sizeof *g);
    if (!g)
        return -1;
    l->paths = g;
    l->paths[l->count] = strdup(p);
    return l->paths[l->count++] ? 0 : -1;
}

static void path_list_free(PathList *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->paths[i]);
    free(l->paths);
    l->paths = NULL;
    l->count = 0;
}

static int cmp_path(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk(const char *path, PathList *l, int depth)
{
    struct stat st;
    if (depth > 32 || stat(path, &st) != 0) {
        fprintf(stderr, "radnode analyze: cannot read %s\n", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return S_ISREG(st.st_mode) ? push_path(l, path) : 0;
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "radnode analyze: cannot open folder %s\n", path);
        return -1;
    }
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        size_t n = strlen(path) + strlen(e->d_name) + 2;
        char *child = malloc(n);
        if (!child) {
            rc = -1;
            break;
        }
        snprintf(child, n, "%s/%s", path, e->d_name);
        rc = walk(child, l, depth + 1);
        free(child);
    }
    closedir(d);
    return rc;
}

static unsigned parse_objects(const char *s)
{
    unsigned m = 0;
    char *copy = strdup(s), *save = NULL;
    for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; t; t = strtok_r(NULL, ",", &save)) {
        if (!strcmp(t, "sr")) m |= RN_REPORT_SR;
        else if (!strcmp(t, "sc")) m |= RN_REPORT_SC;
        else if (!strcmp(t, "pdf")) m |= RN_REPORT_PDF;
        else if (!strcmp(t, "kos")) m |= RN_REPORT_KOS;
        else if (!strcmp(t, "hl7")) m |= RN_REPORT_HL7;
        else if (!strcmp(t, "all")) m |= RN_REPORT_ALL;
        else {
            free(copy);
            return 0;
        }
    }
    free(copy);
    return m;
}

/* One group of inputs: the files of one series. */
typedef struct Group {
    char series[RN_UID_MAX + 1];
    char study[RN_UID_MAX + 1];
    char modality[17];
    char body_part[17];
    RnReportSource *sources;
    const char **paths;
    size_t count;
} Group;

static const RnAnalyzer *choose(const char *name, const Group *g)
{
    if (name)
        return rn_analyzer_find(name);
    if (!strcmp(g->modality, "CT"))
        return rn_analyzer_find("lungct");
    if (!strcmp(g->modality, "DX") || !strcmp(g->modality, "CR") || !strcmp(g->modality, "RG"))
        return rn_analyzer_find("boneage");
    return NULL;
}

static int report(const json_t *findings, const Group *g, const RnReportOptions *ro,
                  const char *out, bool quiet)
{
    RnError err = {0};
    RnReportSet set = {0};
    if (rn_report_build(findings, g->sources, g->count, ro, &set, &err) ||
        rn_report_write(&set, out, &err)) {
        fprintf(stderr, "radnode analyze: series %s: %s\n", g->series, err.message);
        rn_report_set_free(&set);
        return 1;
    }
    for (size_t i = 0; i < set.count && !quiet; i++)
        fprintf(stderr, "radnode analyze: wrote %s/%s\n", out, set.objects[i].name);
    rn_report_set_free(&set);
    return 0;
}

int rn_cmd_analyze(int argc, char **argv)
{
    const char *out = NULL, *analyzer = NULL, *findings_path = NULL, *models = "models";
    bool json = false;
    RnReportOptions ro = {0};
    PathList inputs = {0}, priors = {0};
    int status = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(a, "--out") && has) out = argv[++i];
        else if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--analyzer") && has) analyzer = argv[++i];
        else if (!strcmp(a, "--lang") && has) ro.language = argv[++i];
        else if (!strcmp(a, "--findings") && has) findings_path = argv[++i];
        else if (!strcmp(a, "--institution") && has) ro.institution = argv[++i];
        else if (!strcmp(a, "--station") && has) ro.station_ae = argv[++i];
        else if (!strcmp(a, "--charset") && has) ro.charset = argv[++i];
        else if (!strcmp(a, "--datetime") && has) ro.content_datetime = argv[++i];
        else if (!strcmp(a, "--models") && has) models = argv[++i];
        else if (!strcmp(a, "--prior") && has) {
            if (walk(argv[++i], &priors, 0))
                status = 1;
        } else if (!strcmp(a, "--objects") && has) {
            ro.objects = parse_objects(argv[++i]);
            if (!ro.objects)
                return usage();
        } else if (a[0] == '-' && a[1]) {
            return usage();
        } else if (walk(a, &inputs, 0)) {
            status = 1;
        }
    }
    if (!out)
        json = true; /* nothing is written: the findings are the output */
    if (!inputs.count) {
        path_list_free(&inputs);
        path_list_free(&priors);
        return usage();
    }
    if (ro.language && strcmp(ro.language, "en") && strcmp(ro.language, "zh")) {
        fprintf(stderr, "radnode analyze: --lang must be en or zh\n");
        return 2;
    }
    json_t *given = NULL;
    if (findings_path) {
        json_error_t je;
        given = json_load_file(findings_path, JSON_REJECT_DUPLICATES, &je);
        if (!given) {
            fprintf(stderr, "radnode analyze: %s:%d: %s\n", findings_path, je.line, je.text);
            return 1;
        }
    } else if (!rn_analyzer_at(0)) {
        fprintf(stderr, "radnode analyze: no analyzers built in (use --findings FILE to apply "
                        "stored findings)\n");
        return 2;
    }
    qsort(inputs.paths, inputs.count, sizeof *inputs.paths, cmp_path);
    if (priors.count)
        qsort(priors.paths, priors.count, sizeof *priors.paths, cmp_path);

    /* Read the inputs and group them by series (with --findings: one group). */
    Group *groups = NULL;
    size_t ngroups = 0;
    for (size_t i = 0; i < inputs.count; i++) {
        RnError err = {0};
        RnDicomFile *f = rn_dicom_read_file(inputs.paths[i], NULL, &err);
        if (!f) {
            fprintf(stderr, "radnode analyze: skipping %s: %s\n", inputs.paths[i], err.message);
            continue;
        }
        const RnDataset *ds = rn_dicom_file_dataset(f);
        char series[RN_UID_MAX + 1] = "";
        rn_dataset_get_string(ds, RN_TAG_SeriesInstanceUID, 0, series, sizeof series, NULL);
        Group *g = NULL;
        for (size_t k = 0; k < ngroups; k++)
            if (given || !strcmp(groups[k].series, series))
                g = &groups[k];
        if (!g) {
            Group *grown = realloc(groups, (ngroups + 1) * sizeof *grown);
            if (!grown) {
                rn_dicom_file_destroy(f);
                status = 1;
                break;
            }
            groups = grown;
            g = &groups[ngroups++];
            memset(g, 0, sizeof *g);
            snprintf(g->series, sizeof g->series, "%s", series);
            rn_dataset_get_string(ds, RN_TAG_StudyInstanceUID, 0, g->study, sizeof g->study, NULL);
            rn_dataset_get_string(ds, RN_TAG_Modality, 0, g->modality, sizeof g->modality, NULL);
            rn_dataset_get_string(ds, RN_TAG_BodyPartExamined, 0, g->body_part,
                                  sizeof g->body_part, NULL);
        }
        RnReportSource *s = realloc(g->sources, (g->count + 1) * sizeof *s);
        const char **p = s ? realloc(g->paths, (g->count + 1) * sizeof *p) : NULL;
        if (s)
            g->sources = s;
        if (p)
            g->paths = p;
        if (!s || !p) {
            rn_dicom_file_destroy(f);
            status = 1;
            break;
        }
        g->sources[g->count].file = f;
        g->paths[g->count++] = inputs.paths[i];
    }

    for (size_t k = 0; k < ngroups; k++) {
        Group *g = &groups[k];
        json_t *findings = NULL;
        if (given) {
            findings = json_incref(given);
        } else {
            const RnAnalyzer *a = choose(analyzer, g);
            if (!a) {
                fprintf(stderr, "radnode analyze: series %s (%s %s): %s\n", g->series,
                        g->modality, g->body_part,
                        analyzer ? "no such analyzer in this build"
                                 : "no analyzer for this modality (use --analyzer)");
                status = 1;
                continue;
            }
            RnAnalysisInput in = {.study_uid = g->study, .paths = g->paths, .count = g->count,
                                  .prior_paths = (const char *const *)priors.paths,
                                  .prior_count = priors.count, .models_dir = models,
                                  .threads = 2};
            RnError err = {0};
            findings = a->run(&in, &err);
            if (!findings) {
                fprintf(stderr, "radnode analyze: %s on series %s: %s\n", a->name, g->series,
                        err.message);
                status = 1;
                continue;
            }
        }
        if (json) {
            char *line = json_dumps(findings, JSON_COMPACT | JSON_ENSURE_ASCII);
            if (line)
                printf("%s\n", line);
            free(line);
            fflush(stdout);
        }
        if (out && report(findings, g, &ro, out, json))
            status = 1;
        json_decref(findings);
    }

    for (size_t k = 0; k < ngroups; k++) {
        for (size_t i = 0; i < groups[k].count; i++)
            rn_dicom_file_destroy(groups[k].sources[i].file);
        free(groups[k].sources);
        free(groups[k].paths);
    }
    free(groups);
    path_list_free(&inputs);
    path_list_free(&priors);
    json_decref(given);
    return status;
}
