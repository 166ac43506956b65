/*
 * Private interface between the store's files: store.c owns the SQLite
 * handle and its lock; query.c (Query/Retrieve matching) reads index rows
 * through rn_store_select_rows_ without touching SQLite itself.
 */
#ifndef RN_STORE_INTERNAL_H
#define RN_STORE_INTERNAL_H

#include "radnode/store.h"

/* Equality filters pushed into SQL; NULL fields do not restrict. */
typedef struct RnRowFilter {
    const char *study_uid, *series_uid, *sop_uid, *patient_id;
} RnRowFilter;

/* Every indexed instance (joined with its study) passing the filter, ordered
 * by patient, study, series, instance number; *rows is malloc'd (free it). */
int rn_store_select_rows_(RnStore *s, const RnRowFilter *f, RnInstanceInfo **rows, size_t *count,
                          RnError *err);

#endif
