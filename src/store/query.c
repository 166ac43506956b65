/*
 * Query/Retrieve over the store's index: the matching of PS3.4 C.2.2.2 for
 * the Patient Root and Study Root information models (PS3.4 C.6.1, C.6.2)
 * at the PATIENT, STUDY, SERIES and IMAGE levels.
 *
 * An identifier's keys are matched against index rows (one per instance,
 * joined with its study): single value matching (exact; PN without regard
 * to case, C.2.2.2.1), wildcard matching with * and ? (C.2.2.2.4, text VRs
 * only), range matching of DA/TM/DT values "a-b", "a-", "-b" (C.2.2.2.5),
 * lists of UIDs (C.2.2.2.2) and universal matching of empty keys (C.2.2.2.3).
 * Matching rows are then grouped into the entities of the requested level,
 * and each entity becomes one response holding every requested key (the
 * "return keys"), with the computed attributes of C.3 (numbers of related
 * studies/series/instances, Modalities in Study, SOP Classes in Study).
 *
 * Keys that describe levels below the query level do not restrict the match
 * (relational queries are not offered) and come back empty, as do keys the
 * index does not hold. Sequence matching is not supported: a sequence key is
 * returned empty. Combined date-time matching (C.2.2.2.5.1) is not done:
 * Study Date and Study Time are matched independently.
 */
#include "store/store_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rn_qr_level_parse(const char *text)
{
    static const char *const names[] = {"PATIENT", "STUDY", "SERIES", "IMAGE"};
    for (int i = 0; i < 4; i++)
        if (text && !strcmp(text, names[i]))
            return i;
    return -1;
}

const char *rn_qr_level_name(RnQrLevel level)
{
    static const char *const names[] = {"PATIENT", "STUDY", "SERIES", "IMAGE"};
    return (unsigned)level < 4 ? names[level] : "?";
}

/* ---- The attributes radnode can match and return --------------------------------------- */

enum {
    F_PATIENT_NAME, F_PATIENT_ID, F_BIRTH_DATE, F_SEX,
    F_STUDY_UID, F_STUDY_DATE, F_STUDY_TIME, F_ACCESSION, F_STUDY_ID, F_STUDY_DESC, F_REFERRING,
    F_SERIES_UID, F_MODALITY, F_SERIES_NUMBER, F_SERIES_DESC, F_BODY_PART,
    F_SOP_UID, F_SOP_CLASS, F_INSTANCE_NUMBER,
    /* Computed over the entity (PS3.4 C.3.2-C.3.4): */
    F_PAT_STUDIES, F_PAT_SERIES, F_PAT_INSTANCES,
    F_MODALITIES_IN_STUDY, F_SOP_CLASSES_IN_STUDY, F_STUDY_SERIES, F_STUDY_INSTANCES,
    F_SERIES_INSTANCES,
};

typedef struct Attr {
    RnTag tag;
    RnVR vr;
    RnQrLevel level;
    int field;
    bool computed;
} Attr;

static const Attr ATTRS[] = {
    {RN_TAG_PatientName, RN_VR_PN, RN_QR_PATIENT, F_PATIENT_NAME, false},
    {RN_TAG_PatientID, RN_VR_LO, RN_QR_PATIENT, F_PATIENT_ID, false},
    {RN_TAG_PatientBirthDate, RN_VR_DA, RN_QR_PATIENT, F_BIRTH_DATE, false},
    {RN_TAG_PatientSex, RN_VR_CS, RN_QR_PATIENT, F_SEX, false},
    {RN_TAG(0x0020, 0x1200), RN_VR_IS, RN_QR_PATIENT, F_PAT_STUDIES, true},
    {RN_TAG(0x0020, 0x1202), RN_VR_IS, RN_QR_PATIENT, F_PAT_SERIES, true},
    {RN_TAG(0x0020, 0x1204), RN_VR_IS, RN_QR_PATIENT, F_PAT_INSTANCES, true},
    {RN_TAG_StudyInstanceUID, RN_VR_UI, RN_QR_STUDY, F_STUDY_UID, false},
    {RN_TAG_StudyDate, RN_VR_DA, RN_QR_STUDY, F_STUDY_DATE, false},
    {RN_TAG_StudyTime, RN_VR_TM, RN_QR_STUDY, F_STUDY_TIME, false},
    {RN_TAG_AccessionNumber, RN_VR_SH, RN_QR_STUDY, F_ACCESSION, false},
    {RN_TAG_StudyID, RN_VR_SH, RN_QR_STUDY, F_STUDY_ID, false},
    {RN_TAG_StudyDescription, RN_VR_LO, RN_QR_STUDY, F_STUDY_DESC, false},
    {RN_TAG_ReferringPhysicianName, RN_VR_PN, RN_QR_STUDY, F_REFERRING, false},
    {RN_TAG(0x0008, 0x0061), RN_VR_CS, RN_QR_STUDY, F_MODALITIES_IN_STUDY, true},
    {RN_TAG(0x0008, 0x0062), RN_VR_UI, RN_QR_STUDY, F_SOP_CLASSES_IN_STUDY, true},
    {RN_TAG(0x0020, 0x1206), RN_VR_IS, RN_QR_STUDY, F_STUDY_SERIES, true},
    {RN_TAG(0x0020, 0x1208), RN_VR_IS, RN_QR_STUDY, F_STUDY_INSTANCES, true},
    {RN_TAG_SeriesInstanceUID, RN_VR_UI, RN_QR_SERIES, F_SERIES_UID, false},
    {RN_TAG_Modality, RN_VR_CS, RN_QR_SERIES, F_MODALITY, false},
    {RN_TAG_SeriesNumber, RN_VR_IS, RN_QR_SERIES, F_SERIES_NUMBER, false},
    {RN_TAG_SeriesDescription, RN_VR_LO, RN_QR_SERIES, F_SERIES_DESC, false},
    {RN_TAG_BodyPartExamined, RN_VR_CS, RN_QR_SERIES, F_BODY_PART, false},
    {RN_TAG(0x0020, 0x1209), RN_VR_IS, RN_QR_SERIES, F_SERIES_INSTANCES, true},
    {RN_TAG_SOPInstanceUID, RN_VR_UI, RN_QR_IMAGE, F_SOP_UID, false},
    {RN_TAG_SOPClassUID, RN_VR_UI, RN_QR_IMAGE, F_SOP_CLASS, false},
    {RN_TAG_InstanceNumber, RN_VR_IS, RN_QR_IMAGE, F_INSTANCE_NUMBER, false},
};
#define ATTR_COUNT (sizeof ATTRS / sizeof ATTRS[0])

static const Attr *attr_find(RnTag tag)
{
    for (size_t i = 0; i < ATTR_COUNT; i++)
        if (ATTRS[i].tag == tag)
            return &ATTRS[i];
    return NULL;
}

/* The stored value of a row attribute (not for computed ones). */
static const char *row_value(const RnInstanceInfo *r, int field, char *tmp, size_t size)
{
    switch (field) {
    case F_PATIENT_NAME: return r->patient_name;
    case F_PATIENT_ID: return r->patient_id;
    case F_BIRTH_DATE: return r->patient_birth_date;
    case F_SEX: return r->patient_sex;
    case F_STUDY_UID: return r->study_uid;
    case F_STUDY_DATE: return r->study_date;
    case F_STUDY_TIME: return r->study_time;
    case F_ACCESSION: return r->accession_number;
    case F_STUDY_ID: return r->study_id;
    case F_STUDY_DESC: return r->study_description;
    case F_REFERRING: return r->referring_physician;
    case F_SERIES_UID: return r->series_uid;
    case F_MODALITY: return r->modality;
    case F_SERIES_NUMBER:
        snprintf(tmp, size, "%d", r->series_number);
        return tmp;
    case F_SERIES_DESC: return r->series_description;
    case F_BODY_PART: return r->body_part;
    case F_SOP_UID: return r->sop_uid;
    case F_SOP_CLASS: return r->sop_class_uid;
    case F_INSTANCE_NUMBER:
        snprintf(tmp, size, "%d", r->instance_number);
        return tmp;
    default: return "";
    }
}

/* ---- Matching (PS3.4 C.2.2.2) ------------------------------------------------------------ */

static bool vr_is_range(RnVR vr) { return vr == RN_VR_DA || vr == RN_VR_TM || vr == RN_VR_DT; }

static bool vr_allows_wildcards(RnVR vr)
{
    return vr == RN_VR_AE || vr == RN_VR_CS || vr == RN_VR_LO || vr == RN_VR_LT ||
           vr == RN_VR_PN || vr == RN_VR_SH || vr == RN_VR_ST || vr == RN_VR_UC ||
           vr == RN_VR_UT || vr == RN_VR_UR;
}

/* * matches any sequence (also empty), ? one character; fold: ignore case. */
static bool glob_match(const char *pat, const char *s, bool fold)
{
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*pat == '*') {
            star = pat++;
            resume = s;
        } else if (*pat == '?' ||
                   (fold ? tolower((unsigned char)*pat) == tolower((unsigned char)*s)
                         : *pat == *s)) {
            pat++;
            s++;
        } else if (star) {
            pat = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*pat == '*')
        pat++;
    return *pat == '\0';
}

/* Legacy ACR-NEMA time separators ("12:30") are dropped before comparing. */
static void strip_separators(const char *in, char *out, size_t size)
{
    size_t o = 0;
    for (; *in && o + 1 < size; in++)
        if (*in != ':')
            out[o++] = *in;
    out[o] = '\0';
}

/* Compares a value against a range bound at the bound's precision: "1200" as
 * an upper bound includes 12:00:59. */
static int cmp_prefix(const char *value, const char *bound)
{
    size_t bl = strlen(bound);
    return strncmp(value, bound, bl);
}

static bool range_match(RnVR vr, const char *key, const char *value)
{
    (void)vr;
    if (!value[0])
        return false;
    const char *dash = strchr(key, '-');
    char lo[40] = "", hi[40] = "", v[40];
    size_t ll = (size_t)(dash - key);
    if (ll >= sizeof lo)
        return false;
    memcpy(lo, key, ll);
    lo[ll] = '\0';
    snprintf(hi, sizeof hi, "%s", dash + 1);
    char a[40], b[40];
    strip_separators(lo, a, sizeof a);
    strip_separators(hi, b, sizeof b);
    strip_separators(value, v, sizeof v);
    if (a[0] && strcmp(v, a) < 0)
        return false;
    if (b[0] && cmp_prefix(v, b) > 0)
        return false;
    return true;
}

/* Checks a key before matching: returns false for a value that is no valid
 * pattern for its VR (the SCP answers "identifier does not match"). */
static bool key_is_valid(RnVR vr, const char *key)
{
    if (vr == RN_VR_UI)
        return !strpbrk(key, "*?");
    if (vr_is_range(vr)) {
        const char *d = strchr(key, '-');
        if (d && strchr(d + 1, '-'))
            return false;
        for (const char *p = key; *p; p++)
            if (!isdigit((unsigned char)*p) && !strchr("-.:+ ", *p))
                return false;
        return !(d && d == key && !d[1]); /* a lone "-" */
    }
    if (vr == RN_VR_IS) {
        for (const char *p = key; *p; p++)
            if (!isdigit((unsigned char)*p) && !strchr("+-\\ ", *p))
                return false;
    }
    return true;
}

/* One value (of one row or entity) against one key. */
static bool value_match(RnVR vr, const char *key, const char *value)
{
    if (!key[0] || !strcmp(key, "*"))
        return true; /* universal matching (C.2.2.2.3) */
    if (vr == RN_VR_UI || vr == RN_VR_IS) {
        /* A list of UIDs (C.2.2.2.2); IS values compare as numbers. */
        const char *p = key;
        while (*p) {
            const char *e = strchr(p, '\\');
            size_t l = e ? (size_t)(e - p) : strlen(p);
            if (vr == RN_VR_UI ? (strlen(value) == l && !strncmp(p, value, l))
                               : (value[0] && atol(p) == atol(value)))
                return true;
            if (!e)
                break;
            p = e + 1;
        }
        return false;
    }
    if (vr_is_range(vr) && strchr(key, '-'))
        return range_match(vr, key, value);
    if (vr_is_range(vr)) {
        char a[40], v[40];
        strip_separators(key, a, sizeof a);
        strip_separators(value, v, sizeof v);
        return !strcmp(a, v);
    }
    bool fold = vr == RN_VR_PN;
    if (vr_allows_wildcards(vr) && strpbrk(key, "*?"))
        return glob_match(key, value, fold);
    return fold ? !strcasecmp(key, value) : !strcmp(key, value);
}

/* ---- Keys of an identifier ---------------------------------------------------------------- */

typedef struct Key {
    RnTag tag;
    RnVR vr;          /* as the identifier encoded it (the dictionary's when implicit) */
    const Attr *attr; /* NULL: not indexed, returned empty */
    char *value;      /* UTF-8, malloc'd, "" for universal matching */
} Key;

typedef struct KeySet {
    Key *keys;
    size_t n;
} KeySet;

static void keys_free(KeySet *ks)
{
    for (size_t i = 0; i < ks->n; i++)
        free(ks->keys[i].value);
    free(ks->keys);
    ks->keys = NULL;
    ks->n = 0;
}

static int keys_read(const RnDataset *id, RnQrLevel level, KeySet *ks, RnError *err)
{
    size_t count = rn_dataset_count(id);
    ks->keys = rn_calloc(count ? count : 1, sizeof *ks->keys);
    ks->n = 0;
    if (!ks->keys)
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < count; i++) {
        const RnElement *el = rn_dataset_at(id, i);
        RnTag tag = rn_element_tag(el);
        uint16_t group = (uint16_t)(tag >> 16);
        /* Command/meta groups, the level itself and the character set are not keys. */
        if (group == 0x0000 || group == 0x0002 || tag == RN_TAG_QueryRetrieveLevel ||
            tag == RN_TAG_SpecificCharacterSet || (tag & 0xFFFF) == 0x0000)
            continue;
        Key *k = &ks->keys[ks->n++];
        k->tag = tag;
        k->vr = rn_element_vr(el);
        k->attr = attr_find(tag);
        if (k->vr == RN_VR_SQ) {
            k->value = rn_strdup("");
        } else {
            k->value = rn_dataset_get_string_all(id, tag, NULL);
            if (!k->value)
                k->value = rn_strdup("");
        }
        if (!k->value) {
            keys_free(ks);
            return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        }
        if (k->attr && k->attr->level <= level && !key_is_valid(k->attr->vr, k->value)) {
            const RnDictEntry *d = rn_dict_find_tag(tag);
            rn_error_set(err, RN_ERR_INVALID, "(%04X,%04X) %s: \"%s\" is no valid match for its VR",
                         group, tag & 0xFFFF, d ? d->keyword : "", k->value);
            keys_free(ks);
            return RN_ERR_INVALID;
        }
    }
    return 0;
}

static const Key *key_of(const KeySet *ks, RnTag tag)
{
    for (size_t i = 0; i < ks->n; i++)
        if (ks->keys[i].tag == tag)
            return &ks->keys[i];
    return NULL;
}

/* Row filter: every non-computed key at or above the level. */
static bool row_matches(const KeySet *ks, RnQrLevel level, const RnInstanceInfo *r)
{
    for (size_t i = 0; i < ks->n; i++) {
        const Key *k = &ks->keys[i];
        if (!k->attr || k->attr->computed || k->attr->level > level || !k->value[0])
            continue;
        char tmp[32];
        if (!value_match(k->attr->vr, k->value, row_value(r, k->attr->field, tmp, sizeof tmp)))
            return false;
    }
    return true;
}

/* The single value of a key usable as an SQL equality filter, or NULL. */
static const char *exact_value(const KeySet *ks, RnTag tag, RnVR vr)
{
    const Key *k = key_of(ks, tag);
    if (!k || !k->value[0] || strpbrk(k->value, "*?\\"))
        return NULL;
    if (vr == RN_VR_PN)
        return NULL; /* case-insensitive */
    return k->value;
}

/* ---- Entities ------------------------------------------------------------------------------ */

static const char *entity_id(const RnInstanceInfo *r, RnQrLevel level)
{
    switch (level) {
    case RN_QR_PATIENT: return r->patient_id;
    case RN_QR_STUDY: return r->study_uid;
    case RN_QR_SERIES: return r->series_uid;
    default: return r->sop_uid;
    }
}

/* Distinct values of a string field over rows[0..n), joined by backslash. */
static void distinct_join(const RnInstanceInfo *rows, size_t n, int field, char *out, size_t size)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char tmp[32];
        const char *v = row_value(&rows[i], field, tmp, sizeof tmp);
        if (!v[0])
            continue;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) {
            char t2[32];
            seen = !strcmp(row_value(&rows[j], field, t2, sizeof t2), v);
        }
        if (seen)
            continue;
        int w = snprintf(out + o, size - o, "%s%s", o ? "\\" : "", v);
        if (w < 0 || (size_t)w >= size - o) {
            out[o] = '\0';
            return;
        }
        o += (size_t)w;
    }
}

static size_t distinct_count(const RnInstanceInfo *rows, size_t n, int field)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) {
        char t1[32];
        const char *v = row_value(&rows[i], field, t1, sizeof t1);
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) {
            char t2[32];
            seen = !strcmp(row_value(&rows[j], field, t2, sizeof t2), v);
        }
        c += !seen;
    }
    return c;
}

/* Computed attribute of an entity (its rows are rows[0..n), all of one entity). */
static void computed_value(const RnInstanceInfo *rows, size_t n, int field, char *out,
                           size_t size)
{
    switch (field) {
    case F_PAT_STUDIES: snprintf(out, size, "%zu", distinct_count(rows, n, F_STUDY_UID)); break;
    case F_PAT_SERIES:
    case F_STUDY_SERIES: snprintf(out, size, "%zu", distinct_count(rows, n, F_SERIES_UID)); break;
    case F_PAT_INSTANCES:
    case F_STUDY_INSTANCES:
    case F_SERIES_INSTANCES: snprintf(out, size, "%zu", n); break;
    case F_MODALITIES_IN_STUDY: distinct_join(rows, n, F_MODALITY, out, size); break;
    case F_SOP_CLASSES_IN_STUDY: distinct_join(rows, n, F_SOP_CLASS, out, size); break;
    default: out[0] = '\0';
    }
}

/* Multi-valued computed attributes (Modalities in Study) match when any value does. */
static bool computed_matches(const Key *k, const char *value)
{
    if (!k->value[0])
        return true;
    if (k->attr->vr == RN_VR_IS)
        return value_match(RN_VR_IS, k->value, value);
    char *copy = rn_strdup(value);
    if (!copy)
        return false;
    bool hit = false;
    for (char *save = NULL, *v = strtok_r(copy, "\\", &save); v && !hit;
         v = strtok_r(NULL, "\\", &save)) {
        /* The key itself may list several values ("CT\MR"): any of them. */
        char *kc = rn_strdup(k->value);
        for (char *s2 = NULL, *kv = kc ? strtok_r(kc, "\\", &s2) : NULL; kv && !hit;
             kv = strtok_r(NULL, "\\", &s2))
            hit = value_match(k->attr->vr, kv, v);
        free(kc);
    }
    free(copy);
    return hit;
}

static bool has_non_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return true;
    return false;
}

/* One response identifier for an entity. */
static RnDataset *build_response(const KeySet *ks, RnQrLevel level, const RnInstanceInfo *rows,
                                 size_t n, RnError *err)
{
    RnDataset *ds = rn_dataset_create();
    if (!ds) {
        rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    /* Values the index holds are UTF-8: say so when they are not plain ASCII,
     * before any value is set (setters encode through the character set). */
    bool utf8 = false;
    for (size_t i = 0; i < ks->n && !utf8; i++) {
        const Key *k = &ks->keys[i];
        if (k->attr && !k->attr->computed && k->attr->level <= level) {
            char tmp[32];
            utf8 = has_non_ascii(row_value(&rows[0], k->attr->field, tmp, sizeof tmp));
        }
    }
    int rc = 0;
    if (utf8)
        rc = rn_dataset_set_string(ds, RN_TAG_SpecificCharacterSet, RN_VR_CS, "ISO_IR 192", err);
    if (!rc)
        rc = rn_dataset_set_string(ds, RN_TAG_QueryRetrieveLevel, RN_VR_CS,
                                   rn_qr_level_name(level), err);
    for (size_t i = 0; i < ks->n && !rc; i++) {
        const Key *k = &ks->keys[i];
        if (k->vr == RN_VR_SQ) {
            rc = rn_dataset_set_sequence(ds, k->tag, err);
            continue;
        }
        char buf[1024] = "";
        const char *v = "";
        RnVR vr = k->vr;
        if (k->attr && k->attr->level <= level) {
            vr = k->attr->vr;
            if (k->attr->computed) {
                computed_value(rows, n, k->attr->field, buf, sizeof buf);
                v = buf;
            } else {
                v = row_value(&rows[0], k->attr->field, buf, sizeof buf);
            }
        }
        rc = rn_dataset_set_string(ds, k->tag, vr, v, err);
    }
    if (rc) {
        rn_dataset_destroy(ds);
        return NULL;
    }
    return ds;
}

static int cmp_str(const char *a, const char *b) { return strcmp(a, b); }

/* Rows of one entity must be adjacent: the SQL order is patient, study,
 * series, instance, so they are for every level but PATIENT across
 * interleaved studies of different patients with equal IDs (adjacent too). */
static int select_matching(RnStore *s, RnQrLevel level, const KeySet *ks, RnInstanceInfo **rows,
                           size_t *n, RnError *err)
{
    RnRowFilter f = {
        .study_uid = level >= RN_QR_STUDY ? exact_value(ks, RN_TAG_StudyInstanceUID, RN_VR_UI)
                                          : NULL,
        .series_uid = level >= RN_QR_SERIES
                          ? exact_value(ks, RN_TAG_SeriesInstanceUID, RN_VR_UI)
                          : NULL,
        .sop_uid = level >= RN_QR_IMAGE ? exact_value(ks, RN_TAG_SOPInstanceUID, RN_VR_UI) : NULL,
        .patient_id = exact_value(ks, RN_TAG_PatientID, RN_VR_LO),
    };
    int rc = rn_store_select_rows_(s, &f, rows, n, err);
    if (rc)
        return rc;
    size_t kept = 0;
    for (size_t i = 0; i < *n; i++)
        if (row_matches(ks, level, &(*rows)[i]))
            (*rows)[kept++] = (*rows)[i];
    *n = kept;
    return 0;
}

int rn_store_find(RnStore *s, RnQrLevel level, const RnDataset *identifier, RnQrMatchFn fn,
                  void *user, RnError *err)
{
    if ((unsigned)level > RN_QR_IMAGE)
        return rn_error_set(err, RN_ERR_INVALID, "unknown query level");
    KeySet ks = {0};
    int rc = keys_read(identifier, level, &ks, err);
    if (rc)
        return rc;
    RnInstanceInfo *rows = NULL;
    size_t n = 0;
    rc = select_matching(s, level, &ks, &rows, &n, err);
    for (size_t i = 0; rc == 0 && i < n;) {
        size_t j = i + 1;
        while (j < n && !cmp_str(entity_id(&rows[i], level), entity_id(&rows[j], level)))
            j++;
        bool ok = true;
        for (size_t k = 0; k < ks.n && ok; k++) {
            const Key *key = &ks.keys[k];
            if (!key->attr || !key->attr->computed || key->attr->level > level)
                continue;
            char v[1024];
            computed_value(&rows[i], j - i, key->attr->field, v, sizeof v);
            ok = computed_matches(key, v);
        }
        if (ok) {
            RnDataset *rsp = build_response(&ks, level, &rows[i], j - i, err);
            if (!rsp) {
                rc = err && err->code ? err->code : RN_ERR_NOMEM;
                break;
            }
            int stop = fn(rsp, user);
            rn_dataset_destroy(rsp);
            if (stop)
                break;
        }
        i = j;
    }
    free(rows);
    keys_free(&ks);
    return rc;
}

int rn_store_retrieve(RnStore *s, RnQrLevel level, const RnDataset *identifier, RnInstanceFn fn,
                      void *user, RnError *err)
{
    static const RnTag unique[] = {RN_TAG_PatientID, RN_TAG_StudyInstanceUID,
                                   RN_TAG_SeriesInstanceUID, RN_TAG_SOPInstanceUID};
    if ((unsigned)level > RN_QR_IMAGE)
        return rn_error_set(err, RN_ERR_INVALID, "unknown retrieve level");
    KeySet ks = {0};
    int rc = keys_read(identifier, level, &ks, err);
    if (rc)
        return rc;
    /* PS3.4 C.4.2.2.1: the unique key of the level identifies what to move;
     * an empty one would mean "everything", which no SCU means. */
    const Key *k = key_of(&ks, unique[level]);
    if (!k || !k->value[0] || !strcmp(k->value, "*")) {
        const RnDictEntry *d = rn_dict_find_tag(unique[level]);
        keys_free(&ks);
        return rn_error_set(err, RN_ERR_INVALID, "%s level retrieve without a %s value",
                            rn_qr_level_name(level), d ? d->keyword : "unique key");
    }
    RnInstanceInfo *rows = NULL;
    size_t n = 0;
    rc = select_matching(s, level, &ks, &rows, &n, err);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (fn(&rows[i], user))
            break;
    free(rows);
    keys_free(&ks);
    return rc;
}
