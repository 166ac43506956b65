/*
 * The analyzer contract. An analyzer is a pure function from its input (the
 * Part 10 files of a study or series routed to it, and the priors) to
 * findings: a JSON object (jansson) in the common form documented in
 * docs/findings.md. It never opens a socket and never writes into the store;
 * the report module (include/radnode/report.h) turns findings into DICOM SR,
 * Secondary Capture, encapsulated PDF, Key Object Selection and HL7 ORU^R01.
 *
 * Analyzers run in a worker process with time and memory limits (the node
 * forks), so a crash or a hang costs one job.
 */
#ifndef RADNODE_ANALYZER_H
#define RADNODE_ANALYZER_H

#include "radnode/dicom.h"

#include <jansson.h>

typedef struct RnAnalysisInput {
    const char *study_uid;
    const char *const *paths; /* Part 10 files routed to the analyzer */
    size_t count;
    const char *const *prior_paths; /* earlier studies of the patient (may be empty) */
    size_t prior_count;
    const char *models_dir; /* folder holding the model files (default "models") */
    int threads;            /* compute threads the analyzer may use */
} RnAnalysisInput;

typedef struct RnAnalyzer {
    const char *name;    /* "boneage", "lungct" */
    const char *version; /* algorithm version (the model identity is in the findings) */
    const char *description;
    /* Returns a findings object, or an array of findings objects (one per
     * analysed image, e.g. bone age per radiograph of a series), the caller owns
     * the reference; NULL with err set on an internal failure. A refusal
     * ("cannot assess: not a hand") is a findings object with "status":
     * "refused", not an error. */
    json_t *(*run)(const RnAnalysisInput *in, RnError *err);
} RnAnalyzer;

/* Registry of the analyzers built into this binary. */
const RnAnalyzer *rn_analyzer_find(const char *name);
const RnAnalyzer *rn_analyzer_at(size_t index);

#endif
