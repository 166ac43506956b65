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

/* The earlier studies an analyzer wants compared with the current one. The
 * node (not the analyzer, which never opens a socket) looks for them in its
 * store and, when none is there and [priors] fetch is on, asks the PACS
 * (C-FIND, then C-MOVE to itself) before the job runs. A prior is a study of
 * the same patient (Patient ID) with Modality `modality`, a Study Date
 * strictly before the current study's and, when body_part is set, a series
 * with that Body Part Examined; the `count` most recent are fetched and the
 * most recent is handed to the analyzer. A series counts only with at least
 * min_instances instances (a volume, not a scout). count 0: no priors. */
typedef struct RnPriorRule {
    int count;
    const char *modality;  /* required when count > 0 */
    const char *body_part; /* NULL or "": any */
    int min_instances;
} RnPriorRule;

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
    RnPriorRule priors; /* the priors it wants (zero: none) */
} RnAnalyzer;

/* Registry of the analyzers built into this binary. */
const RnAnalyzer *rn_analyzer_find(const char *name);
const RnAnalyzer *rn_analyzer_at(size_t index);
/* The prior rule of a built-in analyzer; NULL when it is unknown or wants none. */
const RnPriorRule *rn_analyzer_prior_rule(const char *name);

#endif
