/*
 * Standard deviation of skeletal age by chronological age and sex, from the
 * Brush Foundation study that underlies the Greulich & Pyle atlas (Greulich
 * WW, Pyle SI. Radiographic Atlas of Skeletal Development of the Hand and
 * Wrist, 2nd ed. Stanford University Press, 1959), as transcribed in
 * ../shared/data/reference/greulich_pyle_brush_sd.csv (see its SOURCE.md:
 * taken from public secondary sources, a published bone-age calculator; to be
 * cross-checked against the atlas before clinical release). The CSV is the
 * reference; the numbers are copied here so that nothing is read at run time.
 * The source gives no female value at 204 months: the female column ends at
 * 192 months.
 *
 * Bone-age SDS = (bone age - chronological age) / SD(chronological age, sex),
 * the SD interpolated linearly between rows and clamped to the first and last
 * row of the sex. Interpretation (issue 7): delayed below -2 SDS, advanced
 * above +2 SDS, within normal limits otherwise.
 */
#include "analyzers/boneage/boneage_internal.h"

#include <math.h>

typedef struct GpSdRow {
    double age;    /* chronological age, months */
    double male;   /* SD of skeletal age, months */
    double female; /* SD of skeletal age, months; < 0: not given by the source */
} GpSdRow;

static const GpSdRow GP_SD[] = {
    {3, 0.69, 0.72},     {6, 1.13, 1.16},     {9, 1.43, 1.36},     {12, 1.97, 1.77},
    {18, 3.52, 3.49},    {24, 3.92, 4.64},    {30, 4.52, 5.37},    {36, 5.08, 5.97},
    {42, 5.40, 7.48},    {48, 6.66, 8.98},    {54, 8.36, 10.73},   {60, 8.79, 11.65},
    {72, 9.17, 10.23},   {84, 8.91, 9.64},    {96, 9.10, 10.23},   {108, 9.00, 10.74},
    {120, 9.79, 11.73},  {132, 10.09, 11.94}, {144, 10.38, 10.24}, {156, 10.44, 10.67},
    {168, 10.72, 11.30}, {180, 11.32, 9.23},  {192, 12.86, 7.31},  {204, 13.05, -1.0},
};
#define GP_ROWS (sizeof GP_SD / sizeof GP_SD[0])

size_t rn_boneage_sd_table_rows(void)
{
    return GP_ROWS;
}

int rn_boneage_sd_table_row(size_t i, double *age_months, double *sd_male, double *sd_female)
{
    if (i >= GP_ROWS)
        return RN_ERR_INVALID;
    if (age_months)
        *age_months = GP_SD[i].age;
    if (sd_male)
        *sd_male = GP_SD[i].male;
    if (sd_female)
        *sd_female = GP_SD[i].female;
    return 0;
}

static double column(size_t i, RnBoneageSex sex)
{
    return sex == RN_BONEAGE_SEX_MALE ? GP_SD[i].male : GP_SD[i].female;
}

double rn_boneage_sd_months(double chrono_months, RnBoneageSex sex)
{
    if (!isfinite(chrono_months) || (sex != RN_BONEAGE_SEX_MALE && sex != RN_BONEAGE_SEX_FEMALE))
        return -1.0;
    /* the rows of this sex that have a value (the female column is shorter) */
    size_t last = GP_ROWS - 1;
    while (last > 0 && column(last, sex) < 0)
        last--;
    if (chrono_months <= GP_SD[0].age)
        return column(0, sex);
    if (chrono_months >= GP_SD[last].age)
        return column(last, sex);
    for (size_t i = 0; i < last; i++) {
        double a0 = GP_SD[i].age, a1 = GP_SD[i + 1].age;
        if (chrono_months <= a1) {
            double t = (chrono_months - a0) / (a1 - a0);
            return column(i, sex) + t * (column(i + 1, sex) - column(i, sex));
        }
    }
    return column(last, sex); /* not reached: the loop covers [first, last] */
}

int rn_boneage_sds(double bone_age_months, double chrono_months, RnBoneageSex sex, double *sds,
                   RnError *err)
{
    if (!isfinite(bone_age_months) || !isfinite(chrono_months) || chrono_months < 0)
        return rn_error_set(err, RN_ERR_INVALID, "boneage: SDS needs finite ages");
    double sd = rn_boneage_sd_months(chrono_months, sex);
    if (!(sd > 0))
        return rn_error_set(err, RN_ERR_INVALID, "boneage: SDS needs the sex (M or F)");
    *sds = (bone_age_months - chrono_months) / sd;
    return 0;
}

RnBoneageInterp rn_boneage_interpret(double sds)
{
    if (sds < -2.0)
        return RN_BONEAGE_DELAYED;
    if (sds > 2.0)
        return RN_BONEAGE_ADVANCED;
    return RN_BONEAGE_NORMAL;
}
