/*
 * False-positive classifier of the lung nodule detector: a logistic regression on shape,
 * intensity and context features of a measured candidate (RN_LUNGCT_NFEAT, listed in
 * lungct_internal.h). The weights are trained by tools/phantom/train_fp.py on phantom scans
 * whose seeds the evaluation (tools/phantom/eval_lungct.py, seeds 1-5) does not use, and
 * written to fpmodel_generated.h with the training summary and the operating point.
 * Phantoms hold vessels, the pleura and nodules only: the classifier has not seen the false
 * positives of real anatomy (scars, bronchial walls, lymph nodes), see docs/lungct.md.
 */
#include "lungct_internal.h"

#include <math.h>

#include "fpmodel_generated.h"

const double RN_LUNGCT_FP_THRESHOLD = FP_THRESHOLD;

double rn_lungct_fp_score(const double f[RN_LUNGCT_NFEAT])
{
    double z = FP_BIAS;
    for (int k = 0; k < RN_LUNGCT_NFEAT; k++)
        z += FP_WEIGHT[k] * (f[k] - FP_MEAN[k]) / FP_SCALE[k];
    return 1.0 / (1.0 + exp(-z));
}
