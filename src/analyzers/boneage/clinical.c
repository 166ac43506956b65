/*
 * Clinical facts around a bone age: the chronological age from StudyDate
 * minus PatientBirthDate (DA, PS3.5 6.2), or from PatientAge (AS, PS3.5 6.2:
 * "nnnD", "nnnW", "nnnM", "nnnY") when the birth date is absent; the sex
 * from PatientSex (PS3.3 C.7.1.1: M, F, O); the years+months form used in
 * reports; the age range the method is validated for (BoneXpert-like: boys
 * 2.5-17 years, girls 2-15 years; docs/boneage-analyzer.md).
 *
 * Months are days / (365.25 / 12), the convention of growth calculators, so
 * that a month is the same length whatever the calendar month.
 */
#include "analyzers/boneage/boneage_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define DAYS_PER_MONTH (365.25 / 12.0)

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : d[m - 1];
}

static bool digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

static int num(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

int rn_boneage_parse_date(const char *da, int *year, int *month, int *day, RnError *err)
{
    if (!da)
        return rn_error_set(err, RN_ERR_PARSE, "boneage: no date");
    /* DA values may be padded with a trailing space (PS3.5 6.2) */
    size_t n = strlen(da);
    while (n > 0 && da[n - 1] == ' ')
        n--;
    int y, m, d;
    if (n == 8 && digits(da, 8)) {
        y = num(da, 4), m = num(da + 4, 2), d = num(da + 6, 2);
    } else if (n == 10 && digits(da, 4) && da[4] == '.' && digits(da + 5, 2) && da[7] == '.' &&
               digits(da + 8, 2)) { /* ACR-NEMA 2.0 form, still seen in old archives */
        y = num(da, 4), m = num(da + 5, 2), d = num(da + 8, 2);
    } else {
        return rn_error_set(err, RN_ERR_PARSE, "boneage: not a DICOM date: \"%.*s\"", (int)(n > 20 ? 20 : n), da);
    }
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return rn_error_set(err, RN_ERR_PARSE, "boneage: no such date: \"%.*s\"", (int)n, da);
    *year = y, *month = m, *day = d;
    return 0;
}

long rn_boneage_day_number(int year, int month, int day)
{
    long y = year - 1;
    long n = y * 365 + y / 4 - y / 100 + y / 400;
    for (int m = 1; m < month; m++)
        n += days_in_month(year, m);
    return n + day - 1;
}

int rn_boneage_parse_patient_age(const char *as, double *months, RnError *err)
{
    if (!as)
        return rn_error_set(err, RN_ERR_PARSE, "boneage: no PatientAge");
    size_t n = strlen(as);
    while (n > 0 && as[n - 1] == ' ')
        n--;
    if (n != 4 || !digits(as, 3))
        return rn_error_set(err, RN_ERR_PARSE, "boneage: PatientAge is not nnnD/W/M/Y: \"%.*s\"",
                            (int)(n > 20 ? 20 : n), as);
    double v = num(as, 3);
    switch (as[3]) {
    case 'D': *months = (v + 0.5) / DAYS_PER_MONTH; break;
    case 'W': *months = (v + 0.5) * 7.0 / DAYS_PER_MONTH; break;
    case 'M': *months = v + 0.5; break;
    case 'Y': *months = (v + 0.5) * 12.0; break;
    default:
        return rn_error_set(err, RN_ERR_PARSE, "boneage: PatientAge unit is not D/W/M/Y: \"%.4s\"", as);
    }
    return 0;
}

RnBoneageAgeSource rn_boneage_chrono_months(const char *study_date, const char *birth_date,
                                            const char *patient_age, double *months)
{
    int y0, m0, d0, y1, m1, d1;
    if (study_date && birth_date && !rn_boneage_parse_date(birth_date, &y0, &m0, &d0, NULL) &&
        !rn_boneage_parse_date(study_date, &y1, &m1, &d1, NULL)) {
        long days = rn_boneage_day_number(y1, m1, d1) - rn_boneage_day_number(y0, m0, d0);
        if (days >= 0) {
            *months = (double)days / DAYS_PER_MONTH;
            return RN_BONEAGE_AGE_DATES;
        }
    }
    double m;
    if (patient_age && !rn_boneage_parse_patient_age(patient_age, &m, NULL)) {
        *months = m;
        return RN_BONEAGE_AGE_PATIENT_AGE;
    }
    return RN_BONEAGE_AGE_NONE;
}

RnBoneageSex rn_boneage_parse_sex(const char *cs)
{
    if (!cs)
        return RN_BONEAGE_SEX_UNKNOWN;
    while (*cs == ' ')
        cs++;
    char c = (char)toupper((unsigned char)cs[0]);
    if (!c || (cs[1] && cs[1] != ' '))
        return RN_BONEAGE_SEX_UNKNOWN;
    return c == 'M' ? RN_BONEAGE_SEX_MALE : c == 'F' ? RN_BONEAGE_SEX_FEMALE : RN_BONEAGE_SEX_UNKNOWN;
}

void rn_boneage_years_months(double months, int *years, int *rest_months)
{
    long m = isfinite(months) && months > 0 ? lround(months) : 0;
    if (m > 100000)
        m = 100000;
    *years = (int)(m / 12);
    *rest_months = (int)(m % 12);
}

bool rn_boneage_in_validated_range(double bone_age_months, RnBoneageSex sex)
{
    double lo = sex == RN_BONEAGE_SEX_MALE ? 30.0 : 24.0;
    double hi = sex == RN_BONEAGE_SEX_FEMALE ? 180.0 : 204.0;
    return bone_age_months >= lo && bone_age_months <= hi;
}
