/*
 * Unit tests of the bone-age clinical arithmetic against hand-computed cases:
 * the Brush Foundation SD table (copied from
 * ../shared/data/reference/greulich_pyle_brush_sd.csv, checked row by row
 * when that file is present), linear interpolation and clamping (below the
 * first row, above the last, the missing female value at 204 months), SDS and
 * its interpretation at the +-2 boundaries, chronological age from dates
 * (leap years, study before birth) and from PatientAge (D/W/M/Y), sex,
 * years+months, and the validated age range.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "analyzers/boneage/boneage_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NEAR(a, b, tol) assert_true(fabs((double)(a) - (double)(b)) <= (tol))

static void sd_rows_exact(void **state)
{
    (void)state;
    /* rows quoted from the CSV */
    NEAR(rn_boneage_sd_months(3, RN_BONEAGE_SEX_MALE), 0.69, 1e-12);
    NEAR(rn_boneage_sd_months(3, RN_BONEAGE_SEX_FEMALE), 0.72, 1e-12);
    NEAR(rn_boneage_sd_months(120, RN_BONEAGE_SEX_MALE), 9.79, 1e-12);
    NEAR(rn_boneage_sd_months(120, RN_BONEAGE_SEX_FEMALE), 11.73, 1e-12);
    NEAR(rn_boneage_sd_months(192, RN_BONEAGE_SEX_FEMALE), 7.31, 1e-12);
    NEAR(rn_boneage_sd_months(204, RN_BONEAGE_SEX_MALE), 13.05, 1e-12);
}

static void sd_interpolation(void **state)
{
    (void)state;
    /* 126 months boy: halfway 120 (9.79) .. 132 (10.09) -> 9.94 */
    NEAR(rn_boneage_sd_months(126, RN_BONEAGE_SEX_MALE), 9.94, 1e-9);
    /* 15 months girl: 12 (1.77) .. 18 (3.49), t = 0.5 -> 2.63 */
    NEAR(rn_boneage_sd_months(15, RN_BONEAGE_SEX_FEMALE), 2.63, 1e-9);
    /* 66 months boy: 60 (8.79) .. 72 (9.17), t = 0.5 -> 8.98 */
    NEAR(rn_boneage_sd_months(66, RN_BONEAGE_SEX_MALE), 8.98, 1e-9);
    /* 140 months girl: 132 (11.94) .. 144 (10.24), t = 8/12 -> 11.94 - 1.70 * 2/3 */
    NEAR(rn_boneage_sd_months(140, RN_BONEAGE_SEX_FEMALE), 11.94 - 1.70 * 2.0 / 3.0, 1e-9);
}

static void sd_clamping(void **state)
{
    (void)state;
    /* below the table: the first row */
    NEAR(rn_boneage_sd_months(0, RN_BONEAGE_SEX_MALE), 0.69, 1e-12);
    NEAR(rn_boneage_sd_months(1.5, RN_BONEAGE_SEX_FEMALE), 0.72, 1e-12);
    /* above the table: the last row */
    NEAR(rn_boneage_sd_months(240, RN_BONEAGE_SEX_MALE), 13.05, 1e-12);
    /* female: no value at 204 months, so the last female row (192) holds from 192 on */
    NEAR(rn_boneage_sd_months(198, RN_BONEAGE_SEX_FEMALE), 7.31, 1e-12);
    NEAR(rn_boneage_sd_months(204, RN_BONEAGE_SEX_FEMALE), 7.31, 1e-12);
    NEAR(rn_boneage_sd_months(230, RN_BONEAGE_SEX_FEMALE), 7.31, 1e-12);
    /* male at 198: halfway 12.86 .. 13.05 */
    NEAR(rn_boneage_sd_months(198, RN_BONEAGE_SEX_MALE), 12.955, 1e-9);
    /* unknown sex and non-finite ages are invalid */
    assert_true(rn_boneage_sd_months(120, RN_BONEAGE_SEX_UNKNOWN) < 0);
    assert_true(rn_boneage_sd_months(NAN, RN_BONEAGE_SEX_MALE) < 0);
}

/* The C table equals the reference CSV (when ../shared/data is present). */
static void sd_table_matches_csv(void **state)
{
    (void)state;
    const char *shared = getenv("RN_SHARED_DATA");
    char path[1024];
    snprintf(path, sizeof path, "%s/reference/greulich_pyle_brush_sd.csv",
             shared ? shared : "../shared/data");
    FILE *f = fopen(path, "r");
    if (!f) {
        skip();
        return;
    }
    char line[256];
    size_t row = 0;
    assert_non_null(fgets(line, sizeof line, f)); /* header */
    while (fgets(line, sizeof line, f)) {
        double age, m, fe = -1;
        char *p = line, *end;
        age = strtod(p, &end);
        assert_true(*end == ',');
        m = strtod(end + 1, &end);
        assert_true(*end == ',');
        if (end[1] != '\n' && end[1] != '\r' && end[1] != 0)
            fe = strtod(end + 1, NULL);
        double a, sm, sf;
        assert_int_equal(rn_boneage_sd_table_row(row, &a, &sm, &sf), 0);
        NEAR(a, age, 1e-12);
        NEAR(sm, m, 1e-12);
        NEAR(sf, fe, 1e-12);
        row++;
    }
    fclose(f);
    assert_int_equal(row, rn_boneage_sd_table_rows());
}

static void sds_and_interpretation(void **state)
{
    (void)state;
    double sds;
    /* boy, CA 120, BA 140: (140 - 120) / 9.79 */
    assert_int_equal(rn_boneage_sds(140, 120, RN_BONEAGE_SEX_MALE, &sds, NULL), 0);
    NEAR(sds, 20.0 / 9.79, 1e-9);
    assert_int_equal(rn_boneage_interpret(sds), RN_BONEAGE_ADVANCED);
    /* girl, CA 126, BA 100: SD 11.835 (halfway 11.73 .. 11.94) */
    assert_int_equal(rn_boneage_sds(100, 126, RN_BONEAGE_SEX_FEMALE, &sds, NULL), 0);
    NEAR(sds, -26.0 / 11.835, 1e-9);
    assert_int_equal(rn_boneage_interpret(sds), RN_BONEAGE_DELAYED);
    /* girl at 204 months (no table value): SD 7.31 */
    assert_int_equal(rn_boneage_sds(210, 204, RN_BONEAGE_SEX_FEMALE, &sds, NULL), 0);
    NEAR(sds, 6.0 / 7.31, 1e-9);
    assert_int_equal(rn_boneage_interpret(sds), RN_BONEAGE_NORMAL);
    /* boundaries: exactly -2 and +2 are within normal limits */
    assert_int_equal(rn_boneage_interpret(-2.0), RN_BONEAGE_NORMAL);
    assert_int_equal(rn_boneage_interpret(2.0), RN_BONEAGE_NORMAL);
    assert_int_equal(rn_boneage_interpret(-2.0001), RN_BONEAGE_DELAYED);
    assert_int_equal(rn_boneage_interpret(2.0001), RN_BONEAGE_ADVANCED);
    /* unknown sex: no SDS */
    RnError e = {0};
    assert_int_equal(rn_boneage_sds(100, 100, RN_BONEAGE_SEX_UNKNOWN, &sds, &e), RN_ERR_INVALID);
    assert_int_equal(rn_boneage_sds(NAN, 100, RN_BONEAGE_SEX_MALE, &sds, NULL), RN_ERR_INVALID);
}

static void dates(void **state)
{
    (void)state;
    int y, m, d;
    assert_int_equal(rn_boneage_parse_date("20240229", &y, &m, &d, NULL), 0);
    assert_int_equal(y * 10000 + m * 100 + d, 20240229);
    assert_int_equal(rn_boneage_parse_date("2012.03.01", &y, &m, &d, NULL), 0);
    assert_int_equal(y * 10000 + m * 100 + d, 20120301);
    assert_int_equal(rn_boneage_parse_date("20230229", &y, &m, &d, NULL), RN_ERR_PARSE);
    assert_int_equal(rn_boneage_parse_date("20241301", &y, &m, &d, NULL), RN_ERR_PARSE);
    assert_int_equal(rn_boneage_parse_date("2024011", &y, &m, &d, NULL), RN_ERR_PARSE);
    assert_int_equal(rn_boneage_parse_date("", &y, &m, &d, NULL), RN_ERR_PARSE);
    assert_int_equal(rn_boneage_parse_date("2024-01-15", &y, &m, &d, NULL), RN_ERR_PARSE);
    assert_int_equal(rn_boneage_day_number(1, 1, 1), 0);
    assert_int_equal(rn_boneage_day_number(2000, 3, 1) - rn_boneage_day_number(2000, 2, 28), 2);
    assert_int_equal(rn_boneage_day_number(2024, 1, 1) - rn_boneage_day_number(2014, 1, 1), 3652);

    double mo = -1;
    /* 10 years incl. 3 leap days (2016, 2020, 2024 is after): 3652 days / 30.4375 */
    assert_int_equal(rn_boneage_chrono_months("20240101", "20140101", NULL, &mo),
                     RN_BONEAGE_AGE_DATES);
    NEAR(mo, 3652 / 30.4375, 1e-9);
    /* 1 day old */
    assert_int_equal(rn_boneage_chrono_months("20240102", "20240101", "099Y", &mo),
                     RN_BONEAGE_AGE_DATES);
    NEAR(mo, 1 / 30.4375, 1e-12);
    /* study before birth: the dates are ignored, PatientAge used */
    assert_int_equal(rn_boneage_chrono_months("20100101", "20140101", "008Y", &mo),
                     RN_BONEAGE_AGE_PATIENT_AGE);
    NEAR(mo, 102.0, 1e-12);
    /* no birth date: PatientAge */
    assert_int_equal(rn_boneage_chrono_months("20240101", "", "010Y", &mo),
                     RN_BONEAGE_AGE_PATIENT_AGE);
    NEAR(mo, 126.0, 1e-12);
    /* nothing usable */
    mo = -7;
    assert_int_equal(rn_boneage_chrono_months("20240101", NULL, "10Y", &mo), RN_BONEAGE_AGE_NONE);
    assert_int_equal(rn_boneage_chrono_months(NULL, NULL, NULL, &mo), RN_BONEAGE_AGE_NONE);
    NEAR(mo, -7, 0);
}

static void patient_age_forms(void **state)
{
    (void)state;
    double mo;
    assert_int_equal(rn_boneage_parse_patient_age("010Y", &mo, NULL), 0);
    NEAR(mo, 126.0, 1e-12); /* 10.5 years: midpoint of the completed year */
    assert_int_equal(rn_boneage_parse_patient_age("018M", &mo, NULL), 0);
    NEAR(mo, 18.5, 1e-12);
    assert_int_equal(rn_boneage_parse_patient_age("010W", &mo, NULL), 0);
    NEAR(mo, 10.5 * 7 / 30.4375, 1e-12);
    assert_int_equal(rn_boneage_parse_patient_age("045D", &mo, NULL), 0);
    NEAR(mo, 45.5 / 30.4375, 1e-12);
    assert_int_equal(rn_boneage_parse_patient_age("000Y", &mo, NULL), 0);
    NEAR(mo, 6.0, 1e-12);
    assert_int_equal(rn_boneage_parse_patient_age("010Y ", &mo, NULL), 0); /* padding */
    assert_int_equal(rn_boneage_parse_patient_age("10Y", &mo, NULL), RN_ERR_PARSE);
    assert_int_equal(rn_boneage_parse_patient_age("010X", &mo, NULL), RN_ERR_PARSE);
    assert_int_equal(rn_boneage_parse_patient_age("0A0Y", &mo, NULL), RN_ERR_PARSE);
    assert_int_equal(rn_boneage_parse_patient_age("", &mo, NULL), RN_ERR_PARSE);
    assert_int_equal(rn_boneage_parse_patient_age(NULL, &mo, NULL), RN_ERR_PARSE);
}

static void sex_and_formatting(void **state)
{
    (void)state;
    assert_int_equal(rn_boneage_parse_sex("M"), RN_BONEAGE_SEX_MALE);
    assert_int_equal(rn_boneage_parse_sex("f "), RN_BONEAGE_SEX_FEMALE);
    assert_int_equal(rn_boneage_parse_sex("O"), RN_BONEAGE_SEX_UNKNOWN);
    assert_int_equal(rn_boneage_parse_sex(""), RN_BONEAGE_SEX_UNKNOWN);
    assert_int_equal(rn_boneage_parse_sex(NULL), RN_BONEAGE_SEX_UNKNOWN);
    assert_int_equal(rn_boneage_parse_sex("MALE"), RN_BONEAGE_SEX_UNKNOWN);
    int y, m;
    rn_boneage_years_months(126.4, &y, &m);
    assert_int_equal(y, 10);
    assert_int_equal(m, 6);
    rn_boneage_years_months(131.6, &y, &m); /* rounds to 132 = 11 y 0 mo */
    assert_int_equal(y, 11);
    assert_int_equal(m, 0);
    rn_boneage_years_months(-3, &y, &m);
    assert_int_equal(y * 100 + m, 0);
    /* validated range: boys 30-204 months, girls 24-180 */
    assert_true(rn_boneage_in_validated_range(30, RN_BONEAGE_SEX_MALE));
    assert_false(rn_boneage_in_validated_range(29.9, RN_BONEAGE_SEX_MALE));
    assert_true(rn_boneage_in_validated_range(204, RN_BONEAGE_SEX_MALE));
    assert_false(rn_boneage_in_validated_range(205, RN_BONEAGE_SEX_MALE));
    assert_true(rn_boneage_in_validated_range(24, RN_BONEAGE_SEX_FEMALE));
    assert_false(rn_boneage_in_validated_range(181, RN_BONEAGE_SEX_FEMALE));
    assert_true(rn_boneage_in_validated_range(200, RN_BONEAGE_SEX_UNKNOWN));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sd_rows_exact),        cmocka_unit_test(sd_interpolation),
        cmocka_unit_test(sd_clamping),          cmocka_unit_test(sd_table_matches_csv),
        cmocka_unit_test(sds_and_interpretation), cmocka_unit_test(dates),
        cmocka_unit_test(patient_age_forms),    cmocka_unit_test(sex_and_formatting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
