/*
 * Research export from the node (issue 9): studies selected from the store's
 * index by a query, every instance and radnode's own result objects
 * de-identified per PS3.15 Annex E (radnode/deid.h) with the hospital's
 * secret, written below the configured export root with a manifest
 * (manifest.csv, manifest.json: pseudonym, pseudonymous study UID, age, sex,
 * modality, the findings of radnode's analyses), atomically, and recorded as
 * a PS3.15 A.5.3.x Export audit event (110106).
 */
#ifndef RADNODE_RESEARCH_H
#define RADNODE_RESEARCH_H

#include "radnode/audit.h"
#include "radnode/node.h"

/* The study filters of the operator API's study search; NULL or "" = any. */
typedef struct RnResearchQuery {
    const char *patient_id;
    const char *modality;
    const char *date_from; /* YYYYMMDD, inclusive */
    const char *date_to;   /* YYYYMMDD, inclusive */
    const char *accession;
    const char *analyzer;  /* studies with a finished analysis by this analyzer */
    const char *study_uid;
} RnResearchQuery;

typedef struct RnResearchSummary {
    char path[1024];    /* the finished export folder */
    unsigned studies;   /* studies exported */
    unsigned instances; /* acquired instances written */
    unsigned results;   /* radnode result objects (SR, SC) written */
    unsigned left_out;  /* instances or results the de-identification policy refused */
} RnResearchSummary;

/* Checks a query's values (lengths, characters, dates); RN_ERR_INVALID with a
 * message naming the key. A query with no key at all is refused: an export of
 * the whole store is not made by accident. */
int rn_research_query_check(const RnResearchQuery *q, RnError *err);
/* An export name: 1..64 of [A-Za-z0-9._-], not starting with '.'. */
int rn_research_name_check(const char *name, RnError *err);

/* Makes the export export_root/<name> from the node's store (cfg->data_dir,
 * read through its own read-only SQLite connection, so it works beside a
 * running node). The folder is built as export_root/.tmp-<name>-XXXXXX and
 * renamed into place (never over an existing name) when complete. trail:
 * where the Export audit event goes (NULL = none); user and address name the
 * requestor in it. Errors: RN_ERR_UNSUPPORTED when [research] is not
 * configured, RN_ERR_INVALID for a bad name or query or an existing name,
 * RN_ERR_NOT_FOUND when no study matches, RN_ERR_IO otherwise. */
int rn_research_export(const RnNodeConfig *cfg, const char *name, const RnResearchQuery *q,
                       RnAuditTrail *trail, const char *user, const char *address,
                       RnResearchSummary *sum, RnError *err);

#endif
