/*
 * De-identification per DICOM PS3.15 Annex E: the Basic Application Level
 * Confidentiality Profile (E.2, the actions of Table E.1-1 in deid_table.c)
 * and the options of E.3 that radnode offers (Retain Patient
 * Characteristics E.3.6, Retain Longitudinal Temporal Information with
 * Modified Dates E.3.6, Clean Descriptors E.3.5, Clean Structured Content
 * E.3.3, Retain Device Identity E.3.7, Retain UIDs E.3.9, Clean Pixel Data
 * E.3.1 by blanking configured regions).
 *
 * The profile is applied to every nested item, not only the top level. Rules
 * for what the table leaves open are conservative: private attributes, curve
 * and overlay groups, UN values and group lengths are removed; any other person
 * name is emptied; any other date is shifted (or replaced by a dummy when the
 * dates option is off); any other UID that is not a DICOM-defined one
 * (1.2.840.10008.*, or a SOP class / coding scheme reference) is remapped.
 *
 * Replacement values are keyed hashes (HMAC-SHA256) under the hospital's
 * secret: pseudonym and date offset from the Patient ID, new UIDs from the old
 * UID (PS3.15 E.1 requires referential integrity within the scope of the
 * export; a keyed map gives it across exports without keeping a table).
 * "Clean" (C) of free text keeps the text but overwrites every occurrence of
 * an identifying value found in the same instance (names, IDs, accession,
 * institution, dates in common notations): radnode has no language model, so
 * text naming a person that appears nowhere else in the instance is not found.
 */
#include "dicom/dataset_internal.h"
#include "radnode/codec.h"
#include "radnode/deid.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define TAG_PatientIdentityRemoved RN_TAG(0x0012, 0x0062)
#define TAG_DeidentificationMethod RN_TAG(0x0012, 0x0063)
#define TAG_DeidentificationMethodCodeSequence RN_TAG(0x0012, 0x0064)
#define TAG_BurnedInAnnotation RN_TAG(0x0028, 0x0301)
#define TAG_LongitudinalTemporalInformationModified RN_TAG(0x0028, 0x0303)
#define TAG_TextValue RN_TAG(0x0040, 0xA160)
#define TAG_CodeValue RN_TAG(0x0008, 0x0100)
#define TAG_CodingSchemeDesignator RN_TAG(0x0008, 0x0102)
#define TAG_CodeMeaning RN_TAG(0x0008, 0x0104)
#define TAG_AcquisitionDate RN_TAG(0x0008, 0x0022)
#define TAG_OtherPatientIDs RN_TAG(0x0010, 0x1000)
#define TAG_OtherPatientNames RN_TAG(0x0010, 0x1001)
#define TAG_PatientBirthName RN_TAG(0x0010, 0x1005)
#define TAG_PatientMotherBirthName RN_TAG(0x0010, 0x1060)
#define TAG_PatientAddress RN_TAG(0x0010, 0x1040)
#define TAG_PatientTelephoneNumbers RN_TAG(0x0010, 0x2154)
#define TAG_MedicalRecordLocator RN_TAG(0x0010, 0x1090)
#define TAG_InstitutionName RN_TAG(0x0008, 0x0080)
#define TAG_InstitutionAddress RN_TAG(0x0008, 0x0081)
#define TAG_InstitutionalDepartmentName RN_TAG(0x0008, 0x1040)
#define TAG_StationName RN_TAG(0x0008, 0x1010)
#define TAG_PhysiciansOfRecord RN_TAG(0x0008, 0x1048)
#define TAG_PerformingPhysicianName RN_TAG(0x0008, 0x1050)
#define TAG_NameOfPhysiciansReadingStudy RN_TAG(0x0008, 0x1060)
#define TAG_OperatorsName RN_TAG(0x0008, 0x1070)
#define TAG_RequestingPhysician RN_TAG(0x0032, 0x1032)
#define TAG_AdmissionID RN_TAG(0x0038, 0x0010)
#define TAG_IssuerOfPatientID RN_TAG(0x0010, 0x0021)

/* What to do with one element. */
enum action {
    ACT_KEEP,
    ACT_REMOVE,
    ACT_EMPTY,
    ACT_DUMMY,
    ACT_UID,         /* replace every value by its keyed map */
    ACT_UID_GENERIC, /* replace values that are not DICOM-defined UIDs */
    ACT_SHIFT,       /* shift the date by the patient's offset */
    ACT_CLEAN,       /* scrub free text */
};

#define MAX_IDENTS 160

typedef struct Ctx {
    const RnDeidOptions *opt;
    int shift_days;
    /* Identifying strings of the instance, for scrubbing free text (owned). */
    char *idents[MAX_IDENTS];
    size_t ident_count;
    RnError *err;
} Ctx;

/* ---- Options ------------------------------------------------------------------ */

void rn_deid_options_set_profile(RnDeidOptions *opt, RnDeidProfile profile)
{
    opt->retain_patient_characteristics = profile != RN_DEID_PROFILE_BASIC;
    opt->retain_modified_dates = profile == RN_DEID_PROFILE_RESEARCH;
    opt->clean_descriptors = profile != RN_DEID_PROFILE_BASIC;
    opt->clean_structured_content = profile != RN_DEID_PROFILE_BASIC;
    opt->retain_device_identity = false;
    opt->retain_uids = false;
}

int rn_deid_profile_parse(const char *name, RnDeidProfile *out, RnError *err)
{
    if (!strcmp(name, "basic"))
        *out = RN_DEID_PROFILE_BASIC;
    else if (!strcmp(name, "research"))
        *out = RN_DEID_PROFILE_RESEARCH;
    else if (!strcmp(name, "teaching"))
        *out = RN_DEID_PROFILE_TEACHING;
    else
        return rn_error_set(err, RN_ERR_INVALID,
                            "unknown de-identification profile '%s' (basic, research, teaching)",
                            name);
    return 0;
}

int rn_deid_secret_load(const char *path, RnDeidOptions *opt, RnError *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return rn_error_set(err, RN_ERR_IO, "secret %s: %s", path, strerror(errno));
    /* The secret is what keeps pseudonyms from being reversed by a dictionary
     * of patient IDs: refuse a file others can read, as ssh does for keys. */
    if (st.st_mode & (S_IRWXG | S_IRWXO))
        return rn_error_set(err, RN_ERR_INVALID,
                            "secret %s is accessible by group or others (mode %03o); "
                            "chmod 600 it",
                            path, (unsigned)(st.st_mode & 0777));
    size_t len = 0;
    uint8_t *data = rn_file_read_all(path, RN_DEID_SECRET_MAX + 2, &len, err);
    if (!data)
        return err ? err->code : RN_ERR_IO;
    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
        len--;
    int rc = 0;
    if (len < RN_DEID_SECRET_MIN)
        rc = rn_error_set(err, RN_ERR_INVALID, "secret %s has %zu bytes; at least %d are needed",
                          path, len, RN_DEID_SECRET_MIN);
    else if (len > RN_DEID_SECRET_MAX)
        rc = rn_error_set(err, RN_ERR_INVALID, "secret %s is longer than %d bytes", path,
                          RN_DEID_SECRET_MAX);
    else {
        memcpy(opt->secret, data, len);
        opt->secret_len = len;
    }
    OPENSSL_cleanse(data, len);
    free(data);
    return rc;
}

/* ---- Keyed values --------------------------------------------------------------- */

/* HMAC-SHA256(secret, label || 0x00 || data). The label separates the uses so
 * that a pseudonym never equals, e.g., a UID seed for the same input. */
static int keyed_hash(const RnDeidOptions *opt, const char *label, const char *data,
                      uint8_t out[32], RnError *err)
{
    if (opt->secret_len < RN_DEID_SECRET_MIN || opt->secret_len > RN_DEID_SECRET_MAX)
        return rn_error_set(err, RN_ERR_INVALID, "no de-identification secret loaded");
    size_t ll = strlen(label), dl = strlen(data);
    uint8_t *msg = rn_malloc(ll + 1 + dl);
    if (!msg)
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    memcpy(msg, label, ll);
    msg[ll] = 0;
    memcpy(msg + ll + 1, data, dl);
    unsigned outlen = 0;
    unsigned char *r =
        HMAC(EVP_sha256(), opt->secret, (int)opt->secret_len, msg, ll + 1 + dl, out, &outlen);
    free(msg);
    if (!r || outlen != 32)
        return rn_error_set(err, RN_ERR_INVALID, "HMAC-SHA256 failed");
    return 0;
}

int rn_deid_pseudonym(const RnDeidOptions *opt, const char *patient_id,
                      char out[RN_DEID_PSEUDONYM_MAX], RnError *err)
{
    uint8_t h[32];
    int rc = keyed_hash(opt, "patient", patient_id, h, err);
    if (rc)
        return rc;
    static const char hex[] = "0123456789ABCDEF";
    memcpy(out, "RN-", 3);
    for (int i = 0; i < 8; i++) {
        out[3 + 2 * i] = hex[h[i] >> 4];
        out[4 + 2 * i] = hex[h[i] & 15];
    }
    out[19] = '\0';
    return 0;
}

int rn_deid_map_uid(const RnDeidOptions *opt, const char *uid, char out[RN_UID_MAX + 1],
                    RnError *err)
{
    uint8_t h[32];
    int rc = keyed_hash(opt, "uid", uid, h, err);
    if (rc)
        return rc;
    char seed[65];
    for (int i = 0; i < 32; i++)
        snprintf(seed + 2 * i, 3, "%02x", h[i]);
    rn_uid_derive(seed, out);
    return 0;
}

int rn_deid_date_shift_days(const RnDeidOptions *opt, const char *patient_id, int *days,
                            RnError *err)
{
    uint8_t h[32];
    int rc = keyed_hash(opt, "dateshift", patient_id, h, err);
    if (rc)
        return rc;
    uint32_t v = rn_rd32be(h);
    /* Between 1 and 10 years into the past: large enough that the real dates
     * cannot be guessed from the season, small enough for plausible ages. */
    *days = -(366 + (int)(v % (3652 - 366 + 1)));
    return 0;
}

/* Days since 1970-01-01 of a civil date (proleptic Gregorian), after H. Hinnant. */
static long days_from_civil(int y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long)doe - 719468;
}

static void civil_from_days(long z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long yy = (long)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yy + (*m <= 2));
}

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* Parses YYYYMMDD (or the ACR-NEMA YYYY.MM.DD) at s[0..n). */
static bool parse_date(const char *s, size_t n, int *y, unsigned *m, unsigned *d)
{
    char buf[9];
    if (n == 8 && all_digits(s, 8)) {
        memcpy(buf, s, 8);
    } else if (n == 10 && s[4] == '.' && s[7] == '.' && all_digits(s, 4) &&
               all_digits(s + 5, 2) && all_digits(s + 8, 2)) {
        memcpy(buf, s, 4);
        memcpy(buf + 4, s + 5, 2);
        memcpy(buf + 6, s + 8, 2);
    } else {
        return false;
    }
    buf[8] = '\0';
    *y = (buf[0] - '0') * 1000 + (buf[1] - '0') * 100 + (buf[2] - '0') * 10 + (buf[3] - '0');
    *m = (unsigned)((buf[4] - '0') * 10 + (buf[5] - '0'));
    *d = (unsigned)((buf[6] - '0') * 10 + (buf[7] - '0'));
    return *m >= 1 && *m <= 12 && *d >= 1 && *d <= 31;
}

/* Shifts one DA value or the date part of one DT value into out (always
 * YYYYMMDD form for the date part). Returns false if it is not a date. */
static bool shift_one(const char *s, size_t n, RnVR vr, int days, RnBuf *out)
{
    int y;
    unsigned m, d;
    if (vr == RN_VR_DA) {
        if (!parse_date(s, n, &y, &m, &d))
            return false;
        n = 0;
    } else {
        /* DT: YYYY[MM[DD[...]]]; a partial date is completed with 01, shifted,
         * and cut back to its precision. */
        size_t digits = 0;
        while (digits < n && digits < 8 && isdigit((unsigned char)s[digits]))
            digits++;
        if (digits != 4 && digits != 6 && digits != 8)
            return false;
        char full[9] = "00000101";
        memcpy(full, s, digits);
        if (!parse_date(full, 8, &y, &m, &d))
            return false;
        long z = days_from_civil(y, m, d) + days;
        civil_from_days(z, &y, &m, &d);
        if (y < 0 || y > 9999)
            return false;
        char tmp[16];
        snprintf(tmp, sizeof tmp, "%04d%02u%02u", y, m, d);
        return !rn_buf_append(out, tmp, digits) && !rn_buf_append(out, s + digits, n - digits);
    }
    long z = days_from_civil(y, m, d) + days;
    civil_from_days(z, &y, &m, &d);
    if (y < 0 || y > 9999)
        return false;
    char tmp[16];
    snprintf(tmp, sizeof tmp, "%04d%02u%02u", y, m, d);
    return !rn_buf_append(out, tmp, 8);
}

int rn_deid_shift_date_value(const char *value, RnVR vr, int days, char *out, size_t size,
                             RnError *err)
{
    if (vr != RN_VR_DA && vr != RN_VR_DT)
        return rn_error_set(err, RN_ERR_INVALID, "not a DA or DT value");
    RnBuf b = {0};
    size_t len = strlen(value), start = 0;
    int rc = 0;
    /* Values are separated by '\'; a range query value "A-B" has two dates. */
    for (size_t i = 0; i <= len && !rc; i++) {
        char c = i < len ? value[i] : '\\';
        bool sep = c == '\\' || (vr == RN_VR_DA && c == '-');
        if (!sep)
            continue;
        const char *s = value + start;
        size_t n = i - start;
        while (n > 0 && s[0] == ' ') {
            s++;
            n--;
        }
        while (n > 0 && s[n - 1] == ' ')
            n--;
        if (n > 0 && !shift_one(s, n, vr, days, &b))
            rc = rn_error_set(err, RN_ERR_PARSE, "'%.*s' is not a %s value", (int)n, s,
                              vr == RN_VR_DA ? "DA" : "DT");
        if (!rc && i < len && rn_buf_append_byte(&b, (uint8_t)c))
            rc = rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        start = i + 1;
    }
    if (!rc && b.len + 1 > size)
        rc = rn_error_set(err, RN_ERR_LIMIT, "shifted date does not fit");
    if (!rc) {
        if (b.len)
            memcpy(out, b.data, b.len);
        out[b.len] = '\0';
    }
    rn_buf_free(&b);
    return rc;
}

/* ---- Identifying strings and scrubbing ------------------------------------------ */

static void add_ident(Ctx *c, const char *s, size_t n)
{
    while (n > 0 && (s[0] == ' ' || s[0] == '^' || s[0] == '='))
        s++, n--;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '^' || s[n - 1] == '='))
        n--;
    /* Shorter fragments (initials, "Dr") would blank ordinary words. */
    if (n < 3 || c->ident_count >= MAX_IDENTS)
        return;
    for (size_t i = 0; i < c->ident_count; i++)
        if (strlen(c->idents[i]) == n && !strncasecmp(c->idents[i], s, n))
            return;
    char *dup = rn_strndup(s, n);
    if (dup)
        c->idents[c->ident_count++] = dup;
}

/* Adds the whole value and, for names, each component and word. */
static void collect_value(Ctx *c, const RnDataset *ds, RnTag tag)
{
    char *v = rn_dataset_get_string_all(ds, tag, NULL);
    if (!v)
        return;
    const RnElement *el = rn_dataset_get(ds, tag);
    bool name = el && el->vr == RN_VR_PN;
    size_t len = strlen(v), start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || v[i] == '\\') {
            add_ident(c, v + start, i - start);
            if (name) {
                size_t ws = start;
                for (size_t k = start; k <= i; k++) {
                    if (k == i || v[k] == '^' || v[k] == '=' || v[k] == ' ') {
                        add_ident(c, v + ws, k - ws);
                        ws = k + 1;
                    }
                }
            }
            start = i + 1;
        }
    }
    /* Dates also as they are written in free text. */
    if (el && el->vr == RN_VR_DA && len >= 8 && all_digits(v, 8)) {
        char f[3][16];
        snprintf(f[0], sizeof f[0], "%.4s-%.2s-%.2s", v, v + 4, v + 6);
        snprintf(f[1], sizeof f[1], "%.2s.%.2s.%.4s", v + 6, v + 4, v);
        snprintf(f[2], sizeof f[2], "%.2s/%.2s/%.4s", v + 4, v + 6, v);
        for (int k = 0; k < 3; k++)
            add_ident(c, f[k], strlen(f[k]));
    }
    free(v);
}

static void collect_idents(Ctx *c, const RnDataset *ds)
{
    static const RnTag tags[] = {
        RN_TAG_PatientName, RN_TAG_PatientID, TAG_OtherPatientIDs, TAG_OtherPatientNames,
        TAG_PatientBirthName, TAG_PatientMotherBirthName, RN_TAG_PatientBirthDate,
        TAG_PatientAddress, TAG_PatientTelephoneNumbers, TAG_MedicalRecordLocator,
        RN_TAG_AccessionNumber, RN_TAG_StudyID, TAG_InstitutionName, TAG_InstitutionAddress,
        TAG_InstitutionalDepartmentName, TAG_StationName, RN_TAG_ReferringPhysicianName,
        TAG_PhysiciansOfRecord, TAG_PerformingPhysicianName, TAG_NameOfPhysiciansReadingStudy,
        TAG_OperatorsName, TAG_RequestingPhysician, TAG_AdmissionID, RN_TAG_StudyDate,
        RN_TAG_SeriesDate, TAG_AcquisitionDate, RN_TAG_ContentDate, TAG_IssuerOfPatientID,
    };
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++)
        collect_value(c, ds, tags[i]);
}

/* Overwrites every identifying string found in text (case-insensitive) with
 * X of the same length, so VR length limits still hold. */
static bool scrub(const Ctx *c, char *text)
{
    bool changed = false;
    for (size_t i = 0; i < c->ident_count; i++) {
        const char *id = c->idents[i];
        size_t n = strlen(id);
        char *p = text;
        while ((p = strcasestr(p, id)) != NULL) {
            memset(p, 'X', n);
            p += n;
            changed = true;
        }
    }
    return changed;
}

static void free_idents(Ctx *c)
{
    for (size_t i = 0; i < c->ident_count; i++)
        free(c->idents[i]);
    c->ident_count = 0;
}

/* ---- Deciding the action ----------------------------------------------------------- */

static enum action from_basic(const char *basic)
{
    if (!strcmp(basic, "X"))
        return ACT_REMOVE;
    if (!strcmp(basic, "Z") || !strcmp(basic, "X/Z"))
        return ACT_EMPTY;
    if (!strcmp(basic, "U"))
        return ACT_UID;
    if (!strcmp(basic, "X/Z/U*"))
        return ACT_KEEP; /* sequence kept; its UIDs are replaced item by item */
    /* D, X/D, X/Z/D, Z/D: the type depends on the IOD; a dummy satisfies every
     * type (1, 2 and 3), so the instance stays valid (PS3.15 E.1.1 note). */
    return ACT_DUMMY;
}

static enum action resolve_rule(const Ctx *c, const RnDeidRule *r, RnVR vr)
{
    const RnDeidOptions *o = c->opt;
    if (o->retain_modified_dates && r->modified_dates == 'C') {
        /* E.3.6: dates shifted, times and time zones kept. */
        if (vr == RN_VR_DA || vr == RN_VR_DT)
            return ACT_SHIFT;
        return ACT_KEEP;
    }
    char cols[6] = {
        o->retain_patient_characteristics ? r->patient_characteristics : '-',
        o->retain_device_identity ? r->device_identity : '-',
        o->retain_uids ? r->uids : '-',
        o->clean_descriptors ? r->clean_descriptors : '-',
        o->clean_structured_content ? r->clean_structured_content : '-',
        '-',
    };
    bool keep = false, clean = false, remove = false;
    for (int i = 0; i < 6; i++) {
        keep |= cols[i] == 'K';
        clean |= cols[i] == 'C';
        remove |= cols[i] == 'X';
    }
    if (keep)
        return ACT_KEEP;
    if (clean)
        return ACT_CLEAN;
    if (remove)
        return ACT_REMOVE;
    enum action a = from_basic(r->basic);
    /* X on an attribute that a common IOD requires (Type 2): emptied instead,
     * which the profile allows for X (E.1.1) and keeps the instance valid. */
    if (a == ACT_REMOVE && r->tag == RN_TAG(0x300A, 0x00B2)) /* Treatment Machine Name, RT Beams */
        return ACT_EMPTY;
    if (a == ACT_DUMMY && o->retain_modified_dates && (vr == RN_VR_DA || vr == RN_VR_DT))
        return ACT_SHIFT;
    return a;
}

/* UI attributes that name a definition (SOP class, transfer syntax, coding
 * scheme), never an instance, patient or device. */
static bool is_definition_uid_tag(RnTag t)
{
    switch (t) {
    case RN_TAG(0x0002, 0x0002): case RN_TAG(0x0002, 0x0010): case RN_TAG(0x0004, 0x1510):
    case RN_TAG(0x0004, 0x1512): case RN_TAG(0x0008, 0x0016): case RN_TAG(0x0008, 0x001A):
    case RN_TAG(0x0008, 0x001B): case RN_TAG(0x0008, 0x010C): case RN_TAG(0x0008, 0x0117):
    case RN_TAG(0x0008, 0x0118): case RN_TAG(0x0008, 0x1150): case RN_TAG(0x0008, 0x1199):
    case RN_TAG(0x0040, 0xDB0C):
        return true;
    default:
        return false;
    }
}

static enum action decide(const Ctx *c, const RnElement *el)
{
    RnTag t = el->tag;
    uint16_t g = RN_TAG_GROUP(t), e = RN_TAG_ELEMENT(t);
    if (g & 1)
        return ACT_REMOVE; /* private data elements and creators (Table E.1-1, last row) */
    if (e == 0 || g == 0x0002)
        return ACT_REMOVE; /* group lengths (stale after editing), stray meta */
    /* Curves (50xx) and overlays (60xx): Table E.1-1 removes Curve Data and
     * Overlay Data/Comments; the whole group goes so no half module is left. */
    if ((g >= 0x5000 && g <= 0x50FF) || (g >= 0x6000 && g <= 0x60FF))
        return ACT_REMOVE;
    switch (t) {
    case TAG_PatientIdentityRemoved: case TAG_DeidentificationMethod:
    case TAG_DeidentificationMethodCodeSequence: case TAG_LongitudinalTemporalInformationModified:
        return ACT_REMOVE; /* rewritten for this de-identification */
    case TAG_TextValue:
        /* SR TEXT content items: Content Sequence is D, Clean Structured Content C. */
        return c->opt->clean_structured_content ? ACT_CLEAN : ACT_DUMMY;
    default:
        break;
    }
    const RnDeidRule *r = rn_deid_rule_find(t);
    if (r)
        return resolve_rule(c, r, el->vr);
    switch (el->vr) {
    case RN_VR_UN:
        return ACT_REMOVE; /* unknown content cannot be judged */
    case RN_VR_PN:
        return ACT_EMPTY;
    case RN_VR_DA: case RN_VR_DT:
        return c->opt->retain_modified_dates ? ACT_SHIFT : ACT_DUMMY;
    case RN_VR_TM:
        return c->opt->retain_modified_dates ? ACT_KEEP : ACT_DUMMY;
    case RN_VR_UI:
        if (c->opt->retain_uids || is_definition_uid_tag(t))
            return ACT_KEEP;
        return ACT_UID_GENERIC;
    default:
        return ACT_KEEP;
    }
}

/* ---- Applying ------------------------------------------------------------------------ */

static void remove_at(RnDataset *ds, size_t i)
{
    RnTag tag = ds->elems[i].tag;
    rn_element_clear(&ds->elems[i]);
    memmove(&ds->elems[i], &ds->elems[i + 1], (ds->count - i - 1) * sizeof(RnElement));
    ds->count--;
    if (tag == RN_TAG_SpecificCharacterSet)
        rn_dataset_update_charset(ds);
}

static void clear_items(RnElement *el)
{
    for (size_t k = 0; k < el->item_count; k++)
        rn_dataset_destroy(el->items[k]);
    el->item_count = 0;
}

static const char *dummy_for(RnVR vr)
{
    switch (vr) {
    case RN_VR_PN: return "ANONYMOUS";
    case RN_VR_DA: return "19000101";
    case RN_VR_TM: return "000000";
    case RN_VR_DT: return "19000101000000";
    case RN_VR_AS: return "000Y";
    case RN_VR_IS: case RN_VR_DS: return "0";
    case RN_VR_AE: case RN_VR_CS: case RN_VR_SH: case RN_VR_LO: case RN_VR_ST: case RN_VR_LT:
    case RN_VR_UT: case RN_VR_UC:
        return "ANONYMIZED";
    default:
        return NULL; /* binary and URL values become empty */
    }
}

static int set_text(RnDataset *ds, RnTag tag, RnVR vr, const char *s, RnError *err)
{
    return rn_dataset_set_string(ds, tag, vr, s, err);
}

static int apply_uid(Ctx *c, RnDataset *ds, const RnElement *el, bool generic)
{
    char *v = rn_dataset_get_string_all(ds, el->tag, c->err);
    if (!v)
        return c->err ? c->err->code : RN_ERR_INVALID;
    RnBuf b = {0};
    int rc = 0;
    size_t len = strlen(v), start = 0;
    for (size_t i = 0; i <= len && !rc; i++) {
        if (i < len && v[i] != '\\')
            continue;
        v[i] = '\0';
        char *u = v + start;
        while (*u == ' ')
            u++;
        char mapped[RN_UID_MAX + 1];
        const char *out = u;
        /* DICOM-defined UIDs (SOP classes, transfer syntaxes, well-known
         * frames of reference) identify nothing. */
        bool defined = !strncmp(u, "1.2.840.10008.", 14);
        if (u[0] && !(generic && defined)) {
            rc = rn_deid_map_uid(c->opt, u, mapped, c->err);
            out = mapped;
        }
        if (!rc && ((start > 0 && rn_buf_append_byte(&b, '\\')) || rn_buf_append_str(&b, out)))
            rc = rn_error_set(c->err, RN_ERR_NOMEM, "out of memory");
        start = i + 1;
    }
    if (!rc && rn_buf_append_byte(&b, 0))
        rc = rn_error_set(c->err, RN_ERR_NOMEM, "out of memory");
    if (!rc)
        rc = set_text(ds, el->tag, RN_VR_UI, (const char *)b.data, c->err);
    rn_buf_free(&b);
    free(v);
    return rc;
}

static int apply_shift(Ctx *c, RnDataset *ds, const RnElement *el)
{
    RnVR vr = el->vr;
    char *v = rn_dataset_get_string_all(ds, el->tag, c->err);
    if (!v)
        return c->err ? c->err->code : RN_ERR_INVALID;
    int rc = 0;
    if (v[0]) {
        size_t cap = strlen(v) * 2 + 16;
        char *out = rn_malloc(cap);
        if (!out) {
            free(v);
            return rn_error_set(c->err, RN_ERR_NOMEM, "out of memory");
        }
        /* A value that is not a date cannot be shifted: it is emptied rather
         * than kept, since it may still be the real date in another notation. */
        if (rn_deid_shift_date_value(v, vr, c->shift_days, out, cap, NULL))
            out[0] = '\0';
        rc = set_text(ds, el->tag, vr, out, c->err);
        free(out);
    }
    free(v);
    return rc;
}

static int apply_clean(Ctx *c, RnDataset *ds, const RnElement *el)
{
    if (!rn_vr_is_text(el->vr) || el->vr == RN_VR_PN) {
        if (el->vr == RN_VR_PN)
            return set_text(ds, el->tag, el->vr, "", c->err);
        return 0;
    }
    char *v = rn_dataset_get_string_all(ds, el->tag, c->err);
    if (!v)
        return c->err ? c->err->code : RN_ERR_INVALID;
    int rc = 0;
    if (scrub(c, v))
        rc = set_text(ds, el->tag, el->vr, v, c->err);
    free(v);
    return rc;
}

static int process(Ctx *c, RnDataset *ds, unsigned depth)
{
    if (depth > 64)
        return rn_error_set(c->err, RN_ERR_LIMIT, "sequences nested deeper than 64");
    size_t i = 0;
    while (i < ds->count) {
        const RnElement *el = &ds->elems[i];
        enum action a = decide(c, el);
        if (el->vr == RN_VR_SQ && a != ACT_REMOVE && a != ACT_EMPTY)
            a = ACT_KEEP; /* items are processed below with their own rules */
        int rc = 0;
        switch (a) {
        case ACT_REMOVE:
            remove_at(ds, i);
            continue;
        case ACT_EMPTY:
            if (el->vr == RN_VR_SQ)
                clear_items(&ds->elems[i]);
            else
                rc = rn_dataset_set_bytes(ds, el->tag, el->vr, "", 0, c->err);
            break;
        case ACT_DUMMY: {
            const char *d = dummy_for(el->vr);
            if (el->vr == RN_VR_UI)
                rc = apply_uid(c, ds, el, false);
            else
                rc = d ? set_text(ds, el->tag, el->vr, d, c->err)
                       : rn_dataset_set_bytes(ds, el->tag, el->vr, "", 0, c->err);
            break;
        }
        case ACT_UID:
        case ACT_UID_GENERIC:
            if (el->vr == RN_VR_UI)
                rc = apply_uid(c, ds, el, a == ACT_UID_GENERIC);
            else
                rc = rn_dataset_set_bytes(ds, el->tag, el->vr, "", 0, c->err);
            break;
        case ACT_SHIFT:
            rc = apply_shift(c, ds, el);
            break;
        case ACT_CLEAN:
            rc = apply_clean(c, ds, el);
            break;
        case ACT_KEEP:
            break;
        }
        if (rc)
            return rc;
        RnElement *cur = &ds->elems[i];
        if (cur->vr == RN_VR_SQ)
            for (size_t k = 0; k < cur->item_count; k++) {
                rc = process(c, cur->items[k], depth + 1);
                if (rc)
                    return rc;
            }
        i++;
    }
    return 0;
}

/* PS3.5 AS from a birth date and a reference date: days under a month, months
 * under 18 years (a child's age in years is too coarse for bone age), years
 * after. Returns false when either date is missing or invalid. */
static bool compute_age(const char *birth, const char *ref, char out[8])
{
    int y1, y2;
    unsigned m1, d1, m2, d2;
    if (!parse_date(birth, strlen(birth), &y1, &m1, &d1) ||
        !parse_date(ref, strlen(ref), &y2, &m2, &d2))
        return false;
    long days = days_from_civil(y2, m2, d2) - days_from_civil(y1, m1, d1);
    if (days < 0)
        return false;
    long months = (long)(y2 - y1) * 12 + (long)m2 - (long)m1 - (d2 < d1 ? 1 : 0);
    if (months < 1)
        snprintf(out, 8, "%03ldD", days > 999 ? 999 : days);
    else if (months < 18 * 12)
        snprintf(out, 8, "%03ldM", months);
    else
        snprintf(out, 8, "%03ldY", months / 12 > 999 ? 999 : months / 12);
    return true;
}

struct method_code {
    const char *value;
    const char *meaning;
};

static int add_code(RnDataset *ds, const struct method_code *mc, RnError *err)
{
    RnDataset *item = rn_dataset_add_item(ds, TAG_DeidentificationMethodCodeSequence, err);
    if (!item)
        return err ? err->code : RN_ERR_NOMEM;
    int rc = rn_dataset_set_string(item, TAG_CodeValue, RN_VR_SH, mc->value, err);
    if (!rc)
        rc = rn_dataset_set_string(item, TAG_CodingSchemeDesignator, RN_VR_SH, "DCM", err);
    if (!rc)
        rc = rn_dataset_set_string(item, TAG_CodeMeaning, RN_VR_LO, mc->meaning, err);
    return rc;
}

/* PS3.15 E.1.1: Patient Identity Removed, De-identification Method and its
 * code sequence (CID 7050), Longitudinal Temporal Information Modified. */
static int mark(const Ctx *c, RnDataset *ds, bool blanked, RnError *err)
{
    const RnDeidOptions *o = c->opt;
    struct method_code codes[8];
    size_t n = 0;
    codes[n++] = (struct method_code){"113100", "Basic Application Confidentiality Profile"};
    if (blanked)
        codes[n++] = (struct method_code){"113101", "Clean Pixel Data Option"};
    if (o->clean_structured_content)
        codes[n++] = (struct method_code){"113104", "Clean Structured Content Option"};
    if (o->clean_descriptors)
        codes[n++] = (struct method_code){"113105", "Clean Descriptors Option"};
    if (o->retain_modified_dates)
        codes[n++] = (struct method_code){
            "113107", "Retain Longitudinal Temporal Information Modified Dates Option"};
    if (o->retain_patient_characteristics)
        codes[n++] = (struct method_code){"113108", "Retain Patient Characteristics Option"};
    if (o->retain_device_identity)
        codes[n++] = (struct method_code){"113109", "Retain Device Identity Option"};
    if (o->retain_uids)
        codes[n++] = (struct method_code){"113110", "Retain UIDs Option"};
    RnBuf method = {0};
    int rc = rn_buf_append_str(&method, "radnode " RN_VERSION " PS3.15 Annex E");
    for (size_t i = 0; i < n && !rc; i++) {
        /* LO holds 64 characters per value. */
        char v[65];
        rn_format(v, sizeof v, "%s", codes[i].meaning);
        rc = rn_buf_printf(&method, "\\%s", v);
    }
    if (!rc)
        rc = rn_buf_append_byte(&method, 0);
    if (rc) {
        rn_buf_free(&method);
        return rn_error_set(err, RN_ERR_NOMEM, "out of memory");
    }
    rc = rn_dataset_set_string(ds, TAG_PatientIdentityRemoved, RN_VR_CS, "YES", err);
    if (!rc)
        rc = rn_dataset_set_string(ds, TAG_DeidentificationMethod, RN_VR_LO,
                                   (const char *)method.data, err);
    rn_buf_free(&method);
    for (size_t i = 0; i < n && !rc; i++)
        rc = add_code(ds, &codes[i], err);
    if (!rc)
        rc = rn_dataset_set_string(ds, TAG_LongitudinalTemporalInformationModified, RN_VR_CS,
                                   o->retain_modified_dates ? "MODIFIED" : "REMOVED", err);
    return rc;
}

static void get_str(const RnDataset *ds, RnTag tag, char *buf, size_t size)
{
    if (rn_dataset_get_string(ds, tag, 0, buf, size, NULL))
        buf[0] = '\0';
}

static int deid_dataset(RnDataset *ds, const RnDeidOptions *opt, bool blanked, RnDeidResult *res,
                        RnError *err)
{
    if (!ds || !opt)
        return rn_error_set(err, RN_ERR_INVALID, "no dataset or options");
    int rc = rn_dataset_materialize(ds, err);
    if (rc)
        return rc;
    RnDeidResult local;
    if (!res)
        res = &local;
    memset(res, 0, sizeof *res);

    /* The patient key: Patient ID as the hospital issues it; without one the
     * name and birth date (a pseudonym per person is still better than one
     * per file). */
    char pid[256], key[600], birth[32], ref[32], name[256];
    get_str(ds, RN_TAG_PatientID, pid, sizeof pid);
    get_str(ds, RN_TAG_PatientName, name, sizeof name);
    get_str(ds, RN_TAG_PatientBirthDate, birth, sizeof birth);
    if (pid[0])
        rn_format(key, sizeof key, "id:%s", pid);
    else
        rn_format(key, sizeof key, "name:%s|%s", name, birth);

    Ctx c = {.opt = opt, .err = err};
    rc = rn_deid_pseudonym(opt, key, res->pseudonym, err);
    if (!rc)
        rc = rn_deid_date_shift_days(opt, key, &c.shift_days, err);
    if (rc)
        return rc;

    /* Patient's Age from the real dates, before they go (Retain Patient Characteristics). */
    char age[16];
    get_str(ds, RN_TAG_PatientAge, age, sizeof age);
    if (opt->retain_patient_characteristics && !age[0]) {
        static const RnTag refs[] = {RN_TAG_StudyDate, TAG_AcquisitionDate, RN_TAG_ContentDate,
                                     RN_TAG_SeriesDate};
        for (size_t i = 0; i < sizeof refs / sizeof refs[0] && !age[0]; i++) {
            get_str(ds, refs[i], ref, sizeof ref);
            char tmp[8];
            if (ref[0] && compute_age(birth, ref, tmp))
                rn_format(age, sizeof age, "%s", tmp);
        }
    }
    collect_idents(&c, ds);
    rc = process(&c, ds, 0);
    if (!rc)
        rc = rn_dataset_set_string(ds, RN_TAG_PatientName, RN_VR_PN, res->pseudonym, err);
    if (!rc)
        rc = rn_dataset_set_string(ds, RN_TAG_PatientID, RN_VR_LO, res->pseudonym, err);
    if (!rc && opt->retain_patient_characteristics && age[0])
        rc = rn_dataset_set_string(ds, RN_TAG_PatientAge, RN_VR_AS, age, err);
    if (!rc)
        rc = mark(&c, ds, blanked, err);
    free_idents(&c);
    if (rc)
        return rc;
    get_str(ds, RN_TAG_PatientAge, res->patient_age, sizeof res->patient_age);
    get_str(ds, RN_TAG_PatientSex, res->patient_sex, sizeof res->patient_sex);
    get_str(ds, RN_TAG_Modality, res->modality, sizeof res->modality);
    get_str(ds, RN_TAG_StudyInstanceUID, res->study_uid, sizeof res->study_uid);
    get_str(ds, RN_TAG_SeriesInstanceUID, res->series_uid, sizeof res->series_uid);
    get_str(ds, RN_TAG_SOPInstanceUID, res->sop_instance_uid, sizeof res->sop_instance_uid);
    res->dates_shifted = opt->retain_modified_dates;
    res->pixels_blanked = blanked;
    return 0;
}

int rn_deid_dataset(RnDataset *ds, const RnDeidOptions *opt, RnDeidResult *res, RnError *err)
{
    return deid_dataset(ds, opt, false, res, err);
}

/* ---- Burned-in annotation (PS3.15 E.3.1 Clean Pixel Data) ----------------------------- */

/* SOP classes whose images usually carry burned-in text: Secondary Capture
 * (all kinds), ultrasound, visible light photographs and video endoscopy. */
static bool sop_class_at_risk(const char *uid)
{
    static const char *const prefixes[] = {
        "1.2.840.10008.5.1.4.1.1.7",     /* Secondary Capture family */
        "1.2.840.10008.5.1.4.1.1.6.",    /* Ultrasound */
        "1.2.840.10008.5.1.4.1.1.3.1",   /* Ultrasound Multi-frame */
        "1.2.840.10008.5.1.4.1.1.77.1.", /* Visible light */
    };
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (!strncmp(uid, prefixes[i], strlen(prefixes[i])))
            return true;
    return false;
}

static bool sop_class_is_document(const char *uid)
{
    /* Encapsulated PDF, CDA, STL, ...: the document itself cannot be cleaned. */
    return !strncmp(uid, "1.2.840.10008.5.1.4.1.1.104.", 28);
}

static int blank_regions(RnDicomFile *in, const RnDeidOptions *opt, RnError *err)
{
    RnImageInfo info;
    size_t len = 0;
    uint8_t *px = rn_pixel_decode_all(in, &info, &len, err);
    if (!px)
        return err && err->code ? err->code : RN_ERR_UNSUPPORTED;
    if (info.bits_allocated % 8 != 0 || info.bits_allocated == 0) {
        free(px);
        return rn_error_set(err, RN_ERR_UNSUPPORTED,
                            "cannot blank regions in %u-bit pixel data", info.bits_allocated);
    }
    size_t bpp = info.bits_allocated / 8 * info.samples_per_pixel;
    size_t frame = rn_image_frame_size(&info);
    uint32_t frames = info.number_of_frames ? info.number_of_frames : 1;
    if (frame == 0 || (size_t)frames * frame > len) {
        free(px);
        return rn_error_set(err, RN_ERR_PARSE, "decoded pixel data is shorter than its frames");
    }
    for (uint32_t f = 0; f < frames; f++) {
        uint8_t *base = px + (size_t)f * frame;
        for (size_t r = 0; r < opt->region_count; r++) {
            const RnDeidRegion *g = &opt->regions[r];
            if (g->x >= info.columns || g->y >= info.rows)
                continue;
            uint32_t x1 = g->width > info.columns - g->x ? info.columns : g->x + g->width;
            uint32_t y1 = g->height > info.rows - g->y ? info.rows : g->y + g->height;
            for (uint32_t y = g->y; y < y1; y++)
                memset(base + ((size_t)y * info.columns + g->x) * bpp, 0,
                       (size_t)(x1 - g->x) * bpp);
        }
    }
    RnDataset *ds = rn_dicom_file_dataset(in);
    int rc = rn_dataset_set_bytes_take(ds, RN_TAG_PixelData,
                                       info.bits_allocated > 8 ? RN_VR_OW : RN_VR_OB, px, len,
                                       err);
    if (rc) {
        free(px);
        return rc;
    }
    rn_dataset_remove(ds, RN_TAG_ExtendedOffsetTable);
    rn_dataset_remove(ds, RN_TAG_ExtendedOffsetTableLengths);
    rc = rn_dataset_set_string(ds, RN_TAG_PhotometricInterpretation, RN_VR_CS, info.photometric,
                               err);
    if (!rc && info.samples_per_pixel > 1)
        rc = rn_dataset_set_uint(ds, RN_TAG_PlanarConfiguration, RN_VR_US, 0, err);
    /* The configured regions are where this source burns its text in: the
     * image is now asserted free of it. */
    if (!rc)
        rc = rn_dataset_set_string(ds, TAG_BurnedInAnnotation, RN_VR_CS, "NO", err);
    return rc;
}

RnDicomFile *rn_deid_file(RnDicomFile *in, const RnDeidOptions *opt, RnDeidResult *res,
                          RnError *err)
{
    if (!in || !opt) {
        rn_error_set(err, RN_ERR_INVALID, "no file or options");
        return NULL;
    }
    if (rn_dicom_file_load_all(in, err))
        return NULL;
    RnDataset *ds = rn_dicom_file_dataset(in);
    char sop_class[RN_UID_MAX + 1], burned[16];
    get_str(ds, RN_TAG_SOPClassUID, sop_class, sizeof sop_class);
    get_str(ds, TAG_BurnedInAnnotation, burned, sizeof burned);
    if (!sop_class[0]) {
        rn_error_set(err, RN_ERR_INVALID, "not a composite instance (no SOP Class UID)");
        return NULL;
    }
    if (!strcmp(sop_class, "1.2.840.10008.1.3.10")) {
        rn_error_set(err, RN_ERR_UNSUPPORTED,
                     "refused: a DICOMDIR indexes patients by name; it is not exported");
        return NULL;
    }
    if (sop_class_is_document(sop_class)) {
        rn_error_set(err, RN_ERR_UNSUPPORTED,
                     "refused: encapsulated document (%s) may hold identifying text that "
                     "radnode cannot clean",
                     sop_class);
        return NULL;
    }
    bool has_pixels = rn_dataset_has(ds, RN_TAG_PixelData);
    bool flagged = !strcmp(burned, "YES");
    bool at_risk = flagged || (!burned[0] && sop_class_at_risk(sop_class));
    bool blank = false;
    if (at_risk && has_pixels) {
        if (opt->refuse_burned_in || (flagged && opt->region_count == 0)) {
            rn_error_set(err, RN_ERR_UNSUPPORTED,
                         "refused: %s, and the policy is to %s",
                         flagged ? "Burned In Annotation is YES"
                                 : "the SOP class usually has burned-in annotation",
                         opt->refuse_burned_in ? "refuse such images"
                                               : "blank configured regions, and none are set");
            return NULL;
        }
        blank = opt->region_count > 0;
    }
    char ts[RN_UID_MAX + 1];
    rn_format(ts, sizeof ts, "%s", rn_dicom_file_transfer_syntax(in));
    if (!ts[0])
        rn_format(ts, sizeof ts, "%s", RN_UID_EXPLICIT_VR_LE);
    if (blank) {
        if (blank_regions(in, opt, err))
            return NULL;
        rn_format(ts, sizeof ts, "%s", RN_UID_EXPLICIT_VR_LE);
    }
    ds = rn_dicom_file_take_dataset(in);
    if (!ds) {
        rn_error_set(err, RN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (deid_dataset(ds, opt, blank, res, err)) {
        rn_dataset_destroy(ds);
        return NULL;
    }
    /* A new file object: meta rebuilt from the new UIDs (no Source AE Title),
     * and a zero preamble (the original could hold a TIFF header with text). */
    RnDicomFile *out = rn_dicom_file_create_take(ds, ts, err);
    if (!out)
        rn_dataset_destroy(ds);
    return out;
}
