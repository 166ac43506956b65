/*
 * `radnode research-export --config FILE --name NAME [filters]`: a
 * de-identified research export (src/node/research.c) from the store of a
 * node, stopped or running (the store's index is read through its own
 * read-only SQLite connection; WAL lets it run beside the node's writers).
 *
 * The Export audit event goes to the node's audit log ([audit] log) through
 * a trail of this process that only appends (transport none): with a
 * repository configured, the running node's sender forwards the line the
 * next time the node starts, from its delivery cursor.
 */
#include "cli/commands.h"
#include "radnode/research.h"

#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void usage(void)
{
    fprintf(stderr,
            "usage: radnode research-export --config FILE --name NAME [--patient-id X]\n"
            "         [--modality M] [--from YYYYMMDD] [--to YYYYMMDD] [--accession A]\n"
            "         [--analyzer A] [--study-uid UID]\n"
            "  Writes the matching studies de-identified (PS3.15 Annex E, [research] of the\n"
            "  configuration) with manifest.csv and manifest.json to <export_root>/NAME.\n"
            "  At least one filter is needed.\n");
}

int rn_cmd_research_export(int argc, char **argv)
{
    const char *config = NULL, *name = NULL;
    RnResearchQuery q = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_next = i + 1 < argc;
        const char **slot = NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        } else if (!strcmp(a, "--config")) {
            slot = &config;
        } else if (!strcmp(a, "--name")) {
            slot = &name;
        } else if (!strcmp(a, "--patient-id")) {
            slot = &q.patient_id;
        } else if (!strcmp(a, "--modality")) {
            slot = &q.modality;
        } else if (!strcmp(a, "--from")) {
            slot = &q.date_from;
        } else if (!strcmp(a, "--to")) {
            slot = &q.date_to;
        } else if (!strcmp(a, "--accession")) {
            slot = &q.accession;
        } else if (!strcmp(a, "--analyzer")) {
            slot = &q.analyzer;
        } else if (!strcmp(a, "--study-uid")) {
            slot = &q.study_uid;
        }
        if (!slot || !has_next) {
            fprintf(stderr, "radnode research-export: unknown or incomplete option %s\n", a);
            usage();
            return 2;
        }
        *slot = argv[++i];
    }
    if (!config || !name) {
        usage();
        return 2;
    }
    RnError err = {0};
    static RnNodeConfig cfg; /* large; one per process */
    rn_node_config_defaults(&cfg);
    if (rn_node_config_load(config, &cfg, &err)) {
        fprintf(stderr, "radnode research-export: %s\n", err.message);
        return 2;
    }
    if (rn_research_name_check(name, &err) || rn_research_query_check(&q, &err)) {
        fprintf(stderr, "radnode research-export: %s\n", err.message);
        return 2;
    }
    char log_path[512];
    if (cfg.audit.log_path[0])
        rn_format(log_path, sizeof log_path, "%s", cfg.audit.log_path);
    else
        rn_format(log_path, sizeof log_path, "%s/audit.log", cfg.data_dir);
    RnAuditConfig ac = {
        .log_path = log_path,
        .transport = RN_AUDIT_TRANSPORT_NONE,
        .source_id = cfg.ae_title,
        .site_id = cfg.audit.site_id[0] ? cfg.audit.site_id : NULL,
    };
    RnAuditTrail *trail = rn_audit_trail_create(&ac, &err);
    if (!trail) {
        fprintf(stderr, "radnode research-export: the audit log cannot be opened: %s\n",
                err.message);
        return 1;
    }
    const struct passwd *pw = getpwuid(getuid());
    RnResearchSummary sum;
    int rc = rn_research_export(&cfg, name, &q, trail, pw ? pw->pw_name : "(unknown)", NULL,
                                &sum, &err);
    rn_audit_trail_destroy(trail);
    if (rc) {
        fprintf(stderr, "radnode research-export: %s\n", err.message);
        return rc == RN_ERR_INVALID || rc == RN_ERR_UNSUPPORTED ? 2 : 1;
    }
    printf("%s\n", sum.path);
    fprintf(stderr,
            "radnode research-export: %u studies, %u instances, %u result objects written; "
            "%u left out by the de-identification policy (see manifest.json)\n",
            sum.studies, sum.instances, sum.results, sum.left_out);
    return 0;
}
