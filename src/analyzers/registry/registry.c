/*
 * The analyzers built into this binary. Each analyzer defines one
 * `const RnAnalyzer rn_analyzer_<name>` in src/analyzers/<name>/; the build
 * defines RN_HAVE_ANALYZER_<NAME> for every such folder, and the references
 * below are strong so the linker pulls each analyzer out of the static library.
 */
#include "radnode/analyzer.h"

#include <string.h>

#ifdef RN_HAVE_ANALYZER_BONEAGE
extern const RnAnalyzer rn_analyzer_boneage;
#endif
#ifdef RN_HAVE_ANALYZER_LUNGCT
extern const RnAnalyzer rn_analyzer_lungct;
#endif
#ifdef RN_HAVE_ANALYZER_ECHO
extern const RnAnalyzer rn_analyzer_echo;
#endif

static const RnAnalyzer *entry(size_t i)
{
    switch (i) {
#ifdef RN_HAVE_ANALYZER_BONEAGE
    case 0: return &rn_analyzer_boneage;
#endif
#ifdef RN_HAVE_ANALYZER_LUNGCT
    case 1: return &rn_analyzer_lungct;
#endif
#ifdef RN_HAVE_ANALYZER_ECHO
    case 2: return &rn_analyzer_echo;
#endif
    default: return NULL;
    }
}

#define ANALYZER_SLOTS 3

const RnAnalyzer *rn_analyzer_at(size_t index)
{
    size_t k = 0;
    for (size_t i = 0; i < ANALYZER_SLOTS; i++) {
        const RnAnalyzer *a = entry(i);
        if (!a)
            continue;
        if (k++ == index)
            return a;
    }
    return NULL;
}

const RnAnalyzer *rn_analyzer_find(const char *name)
{
    for (size_t i = 0; i < ANALYZER_SLOTS; i++) {
        const RnAnalyzer *a = entry(i);
        if (a && !strcmp(a->name, name))
            return a;
    }
    return NULL;
}

const RnPriorRule *rn_analyzer_prior_rule(const char *name)
{
    const RnAnalyzer *a = name ? rn_analyzer_find(name) : NULL;
    if (!a || a->priors.count <= 0 || !a->priors.modality || !a->priors.modality[0])
        return NULL;
    return &a->priors;
}
