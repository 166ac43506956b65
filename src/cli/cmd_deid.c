/*
 * `radnode deid IN OUT [options]`: de-identifies a DICOM file or a folder of
 * them (recursively) per DICOM PS3.15 Annex E (see src/dicom/deid.c) and
 * prints a CSV manifest, one row per instance written: pseudonym, age, sex,
 * modality, new Study/Series/SOP Instance UIDs and the output path. The
 * manifest holds no original value.
 *
 * A folder is written as OUT/<pseudonym>/<study UID>/<series UID>/<SOP
 * Instance UID>.dcm: the input's own folder and file names are not mirrored,
 * because they often carry patient names or IDs. A file that is not DICOM is
 * skipped; one that is refused (burned-in annotation policy, encapsulated
 * document, DICOMDIR) or fails is reported and makes the exit status 1.
 */
#include "cli/commands.h"
#include "radnode/deid.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

typedef struct DeidRun {
    RnDeidOptions opt;
    const char *out_root;
    bool out_is_dir;
    FILE *manifest;
    unsigned written, skipped, failed;
} DeidRun;

static void usage(void)
{
    fprintf(stderr,
            "usage: radnode deid IN OUT [--secret FILE] [--profile basic|research|teaching]\n"
            "                   [--blank x,y,w,h]... [--refuse-burned-in]\n"
            "                   [--retain-device-identity] [--retain-uids] [--manifest FILE]\n"
            "  IN is a DICOM file or a folder (searched recursively); OUT is a file for a\n"
            "  file, a folder otherwise. --secret: the hospital's key for pseudonyms, date\n"
            "  shifts and UIDs (mode 600, >= 16 bytes); without it a random key is used and\n"
            "  nothing is stable across runs. research = Basic + Retain Patient\n"
            "  Characteristics + Retain Longitudinal Modified Dates + Clean Descriptors +\n"
            "  Clean Structured Content; teaching = the same without dates.\n");
}

static int parse_region(const char *s, RnDeidRegion *r)
{
    unsigned x, y, w, h;
    char extra;
    if (sscanf(s, "%u,%u,%u,%u%c", &x, &y, &w, &h, &extra) != 4 || w == 0 || h == 0)
        return -1;
    r->x = x;
    r->y = y;
    r->width = w;
    r->height = h;
    return 0;
}

static void csv_field(FILE *f, const char *s, bool last)
{
    /* Values here are UIDs, codes and our own paths; quote anyway if needed. */
    if (strpbrk(s, ",\"\n")) {
        fputc('"', f);
        for (; *s; s++) {
            if (*s == '"')
                fputc('"', f);
            fputc(*s, f);
        }
        fputc('"', f);
    } else {
        fputs(s, f);
    }
    fputc(last ? '\n' : ',', f);
}

static void deid_one(DeidRun *run, const char *path, bool from_folder)
{
    RnError err = {0};
    RnReadOptions ro = {.defer_threshold = 0};
    RnDicomFile *in = rn_dicom_read_file(path, &ro, &err);
    if (!in) {
        if (from_folder) {
            run->skipped++;
            fprintf(stderr, "radnode deid: skipped %s (not DICOM: %s)\n", path, err.message);
        } else {
            run->failed++;
            fprintf(stderr, "radnode deid: %s: %s\n", path, err.message);
        }
        return;
    }
    RnDeidResult res;
    RnDicomFile *out = rn_deid_file(in, &run->opt, &res, &err);
    rn_dicom_file_destroy(in);
    if (!out) {
        run->failed++;
        fprintf(stderr, "radnode deid: %s: %s\n", path, err.message);
        return;
    }
    char dest[4096], rel[1024];
    if (run->out_is_dir) {
        rn_format(rel, sizeof rel, "%s/%s/%s/%s.dcm", res.pseudonym, res.study_uid, res.series_uid,
                  res.sop_instance_uid);
        rn_format(dest, sizeof dest, "%s/%s", run->out_root, rel);
        char dir[4096];
        rn_format(dir, sizeof dir, "%s", dest);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        if (rn_mkdirs(dir, &err)) {
            run->failed++;
            fprintf(stderr, "radnode deid: %s: %s\n", dir, err.message);
            rn_dicom_file_destroy(out);
            return;
        }
    } else {
        rn_format(dest, sizeof dest, "%s", run->out_root);
        rn_format(rel, sizeof rel, "%s", run->out_root);
    }
    int rc = rn_dicom_write_file(out, dest, NULL, &err);
    rn_dicom_file_destroy(out);
    if (rc) {
        run->failed++;
        fprintf(stderr, "radnode deid: writing %s: %s\n", dest, err.message);
        return;
    }
    run->written++;
    csv_field(run->manifest, res.pseudonym, false);
    csv_field(run->manifest, res.patient_age, false);
    csv_field(run->manifest, res.patient_sex, false);
    csv_field(run->manifest, res.modality, false);
    csv_field(run->manifest, res.study_uid, false);
    csv_field(run->manifest, res.series_uid, false);
    csv_field(run->manifest, res.sop_instance_uid, false);
    csv_field(run->manifest, rel, true);
}

static int walk(DeidRun *run, const char *dir, unsigned depth)
{
    if (depth > 32) {
        fprintf(stderr, "radnode deid: %s: folders nested too deep\n", dir);
        run->failed++;
        return 0;
    }
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "radnode deid: %s: %s\n", dir, strerror(errno));
        run->failed++;
        return 0;
    }
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        if (strcmp(name, ".") && strcmp(name, "..")) {
            char path[4096];
            rn_format(path, sizeof path, "%s/%s", dir, name);
            struct stat st;
            if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
                walk(run, path, depth + 1);
            else if (S_ISREG(st.st_mode))
                deid_one(run, path, true);
        }
        free(names[i]);
    }
    free(names);
    return 0;
}

int rn_cmd_deid(int argc, char **argv)
{
    DeidRun run;
    memset(&run, 0, sizeof run);
    const char *in = NULL, *out = NULL, *secret = NULL, *manifest = NULL;
    RnDeidProfile profile = RN_DEID_PROFILE_BASIC;
    bool device = false, uids = false;
    RnError err = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_next = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        } else if (!strcmp(a, "--secret") && has_next) {
            secret = argv[++i];
        } else if (!strcmp(a, "--profile") && has_next) {
            if (rn_deid_profile_parse(argv[++i], &profile, &err)) {
                fprintf(stderr, "radnode deid: %s\n", err.message);
                return 2;
            }
        } else if (!strcmp(a, "--blank") && has_next) {
            if (run.opt.region_count >= RN_DEID_MAX_REGIONS ||
                parse_region(argv[++i], &run.opt.regions[run.opt.region_count])) {
                fprintf(stderr, "radnode deid: --blank wants x,y,width,height (at most %d)\n",
                        RN_DEID_MAX_REGIONS);
                return 2;
            }
            run.opt.region_count++;
        } else if (!strcmp(a, "--refuse-burned-in")) {
            run.opt.refuse_burned_in = true;
        } else if (!strcmp(a, "--retain-device-identity")) {
            device = true;
        } else if (!strcmp(a, "--retain-uids")) {
            uids = true;
        } else if (!strcmp(a, "--manifest") && has_next) {
            manifest = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "radnode deid: unknown or incomplete option %s\n", a);
            usage();
            return 2;
        } else if (!in) {
            in = a;
        } else if (!out) {
            out = a;
        } else {
            usage();
            return 2;
        }
    }
    if (!in || !out) {
        usage();
        return 2;
    }
    rn_deid_options_set_profile(&run.opt, profile);
    run.opt.retain_device_identity = device;
    run.opt.retain_uids = uids;
    if (secret) {
        if (rn_deid_secret_load(secret, &run.opt, &err)) {
            fprintf(stderr, "radnode deid: %s\n", err.message);
            return 2;
        }
    } else {
        if (getrandom(run.opt.secret, 32, 0) != 32) {
            fprintf(stderr, "radnode deid: no randomness for a one-time secret\n");
            return 2;
        }
        run.opt.secret_len = 32;
        fprintf(stderr, "radnode deid: no --secret: using a one-time random key; pseudonyms, "
                        "dates and UIDs will not match other exports\n");
    }
    struct stat st;
    if (stat(in, &st) != 0) {
        fprintf(stderr, "radnode deid: %s: %s\n", in, strerror(errno));
        return 2;
    }
    bool folder = S_ISDIR(st.st_mode);
    struct stat ost;
    run.out_root = out;
    run.out_is_dir = folder || (stat(out, &ost) == 0 && S_ISDIR(ost.st_mode));
    if (folder && rn_mkdirs(out, &err)) {
        fprintf(stderr, "radnode deid: %s: %s\n", out, err.message);
        return 2;
    }
    run.manifest = stdout;
    if (manifest) {
        run.manifest = fopen(manifest, "w");
        if (!run.manifest) {
            fprintf(stderr, "radnode deid: %s: %s\n", manifest, strerror(errno));
            return 2;
        }
    }
    fputs("pseudonym,age,sex,modality,study_uid,series_uid,sop_instance_uid,file\n", run.manifest);
    if (folder)
        walk(&run, in, 0);
    else
        deid_one(&run, in, false);
    OPENSSL_cleanse(run.opt.secret, sizeof run.opt.secret);
    if (run.manifest != stdout && fclose(run.manifest) != 0) {
        fprintf(stderr, "radnode deid: writing %s failed\n", manifest);
        return 1;
    }
    fprintf(stderr, "radnode deid: %u written, %u skipped (not DICOM), %u refused or failed\n",
            run.written, run.skipped, run.failed);
    return run.failed ? 1 : 0;
}
