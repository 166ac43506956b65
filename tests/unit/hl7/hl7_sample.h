/*
 * A sample ORU^R01 content (a bone age result) shared by the HL7 unit tests
 * and the MLLP peer helper used by tests/integration/test_hl7_mllp.sh, so the
 * integration script checks exactly the values built here. Codes in the
 * 99RADNODE scheme are local test codes (HL7 table 0396 "99zzz" local
 * coding systems), not LOINC.
 */
#ifndef RN_TEST_HL7_SAMPLE_H
#define RN_TEST_HL7_SAMPLE_H

#include "radnode/hl7.h"

#define SAMPLE_PATIENT_ID "PAT-0042"
#define SAMPLE_AUTHORITY "HOSP"
#define SAMPLE_FAMILY "\xE5\xBC\xA0" /* 张 */
#define SAMPLE_GIVEN "\xE4\xBC\x9F"  /* 伟 */
#define SAMPLE_PLACER "PL-1001"
#define SAMPLE_FILLER "FL-2002"
#define SAMPLE_ACCESSION "ACC123456"
#define SAMPLE_TX_LINE1 "Bone age: 10 years 6 months (Greulich-Pyle)."
#define SAMPLE_TX_LINE2 "Chronological age 11 years | SDS -0.83 & within range ~ 2 SD."

typedef struct SampleOru {
    RnHl7Observation obs[6];
    const char *notes[1];
    RnHl7Oru oru;
} SampleOru;

/* Fills s with the sample; control_id may be NULL (generated). */
static inline void sample_oru(SampleOru *s, const char *control_id)
{
    static const RnHl7Observation obs[6] = {
        {.type = RN_HL7_VALUE_NM,
         .identifier = {"RN-BA-001", "Bone age (Greulich-Pyle)", "99RADNODE"},
         .number = 126.0,
         .decimals = 1,
         .units = {"mo", "month", "UCUM"},
         .observation_datetime = "20240315103000",
         .equipment = "radnode-boneage 0.1.0"},
        {.type = RN_HL7_VALUE_NM,
         .identifier = {"RN-BA-002", "Chronological age", "99RADNODE"},
         .number = 132.0,
         .decimals = 1,
         .units = {"mo", "month", "UCUM"}},
        {.type = RN_HL7_VALUE_NM,
         .identifier = {"RN-BA-003", "Bone age SDS (Brush Foundation)", "99RADNODE"},
         .number = -0.834,
         .decimals = 2,
         .reference_range = "-2 to 2"},
        {.type = RN_HL7_VALUE_CWE,
         .identifier = {"RN-BA-004", "Bone age assessment", "99RADNODE"},
         .coded = {"RN-A-02", "Bone age within normal range", "99RADNODE"}},
        {.type = RN_HL7_VALUE_TX,
         .identifier = {"RN-RPT-001", "Preliminary report text", "99RADNODE"},
         .text = SAMPLE_TX_LINE1 "\n" SAMPLE_TX_LINE2},
        {.type = RN_HL7_VALUE_ST,
         .identifier = {"RN-ALG-001", "Algorithm", "99RADNODE"},
         .text = "radnode boneage 0.1.0 (model 2024-03)"},
    };
    for (int i = 0; i < 6; i++)
        s->obs[i] = obs[i];
    s->notes[0] = "Left hand radiograph; one image analysed.";
    RnHl7Oru o = {
        .header = {.receiving_application = "RIS",
                   .receiving_facility = "RADIOLOGY",
                   .sending_facility = "HOSP",
                   .timestamp = "20240315104500+0800",
                   .control_id = control_id},
        .patient = {.id = SAMPLE_PATIENT_ID,
                    .id_authority = SAMPLE_AUTHORITY,
                    .family_name = SAMPLE_FAMILY,
                    .given_name = SAMPLE_GIVEN,
                    .birth_date = "20130301",
                    .sex = "M"},
        .order = {.placer_order_number = SAMPLE_PLACER,
                  .placer_namespace = "RIS",
                  .filler_order_number = SAMPLE_FILLER,
                  .filler_namespace = "PACS",
                  .accession_number = SAMPLE_ACCESSION,
                  .service = {"RN-XR-HAND", "XR hand left for bone age", "99RADNODE"},
                  .observation_datetime = "20240315101500"},
        .observations = s->obs,
        .observation_count = 6,
        .notes = s->notes,
        .note_count = 1,
    };
    s->oru = o;
}

#endif
