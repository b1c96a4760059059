// Element formulas of the RBM CD-1 step, shared by csrc/rbm/rbm.cc and csrc/cuda/rbm_cuda.cu.
#pragma once

#include "common/common.h"
#include "math/functors.h"

namespace nnet2 {
namespace f {

// Binary state of a Bernoulli unit: 1[u < p] with u ~ U[0,1) (nnet1's CuRand::BinarizeProbs).
NNET2_HD float BernoulliState(float u, float p) { return u < p ? 1.0f : 0.0f; }

// Visible reconstruction: sigmoid for Bernoulli visibles, the linear mean for Gaussian ones
// (nnet1 adds no sampled noise to Gaussian visibles).
NNET2_HD float VisibleMean(float x, bool gaussian) { return gaussian ? x : Sigmoid(x); }

// Momentum step with L2 on the weights (nnet1 RbmUpdate): the increment already holds
// mu*inc + (lr/N)(pos - neg); add -lr*l2*w (old w), then w += inc.
NNET2_HD void RbmApplyIncrement(float *w, float *inc, float neg_lr_l2) {
  const float d = *inc + neg_lr_l2 * *w;
  *inc = d;
  *w += d;
}

NNET2_HD float ScaleOrZero(float x, float s) { return s == 0.f ? 0.f : x * s; }

}  // namespace f
}  // namespace nnet2
