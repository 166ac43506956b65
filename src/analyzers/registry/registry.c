/*
 * The analyzers built into this binary. Each analyzer defines one
 * `const RnAnalyzer rn_analyzer_<name>` in src/analyzers/<name>/; the
 * references are weak so that the node builds while an analyzer is absent.
 */
#include "radnode/analyzer.h"

#include <string.h>

extern const RnAnalyzer rn_analyzer_boneage __attribute__((weak));
extern const RnAnalyzer rn_analyzer_lungct __attribute__((weak));
extern const RnAnalyzer rn_analyzer_echo __attribute__((weak));

static const RnAnalyzer *entry(size_t i)
{
    switch (i) {
    case 0: return &rn_analyzer_boneage;
    case 1: return &rn_analyzer_lungct;
    case 2: return &rn_analyzer_echo;
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
