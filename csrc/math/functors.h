// Element formulas shared by the CPU loops (csrc/nnet/*.cc) and the CUDA kernels (csrc/cuda/*.cu).
// Keeping them here means the CPU tests check the exact formulas the GPU runs (style rule 3).
#pragma once

#include <math.h>

#include "common/common.h"

namespace nnet2 {
namespace f {

// Kaldi's sigmoid: 1 / (1 + exp(-x)), computed so that neither branch overflows.
NNET2_HD float Sigmoid(float x) {
  if (x >= 0.f) return 1.f / (1.f + expf(-x));
  float e = expf(x);
  return e / (1.f + e);
}
NNET2_HD float SigmoidDeriv(float y, float dy) { return dy * y * (1.f - y); }
NNET2_HD float Tanh(float x) { return tanhf(x); }
NNET2_HD float TanhDeriv(float y, float dy) { return dy * (1.f - y * y); }

// p-norm over a group: y = (sum |x|^p)^(1/p); p = 2 is special-cased (about 40% of Kaldi's CPU time
// went to pow() in its p-norm backward).
NNET2_HD float PnormTerm(float x, float p) {
  float a = fabsf(x);
  return p == 2.f ? a * a : (p == 1.f ? a : powf(a, p));
}
NNET2_HD float PnormFinish(float sum, float p) {
  return p == 2.f ? sqrtf(sum) : (p == 1.f ? sum : powf(sum, 1.f / p));
}
// dx = dy * sign(x) |x|^(p-1) y^(1-p); 0 when y == 0.
NNET2_HD float PnormDeriv(float x, float y, float dy, float p) {
  if (y == 0.f) return 0.f;
  if (p == 2.f) return dy * x / y;
  if (p == 1.f) return x > 0.f ? dy : (x < 0.f ? -dy : 0.f);
  float s = x > 0.f ? 1.f : (x < 0.f ? -1.f : 0.f);
  return dy * s * powf(fabsf(x), p - 1.f) * powf(y, 1.f - p);
}

// NormalizeComponent: unit RMS with Kaldi's 2^-66 floor on the mean square.
constexpr float kNormalizeFloor = 1.3552527156068805e-20f;  // 2^-66
NNET2_HD float NormalizeScale(double sumsq, index_t dim) {
  double ms = sumsq / (double)dim;
  return (float)(1.0 / sqrt(ms < kNormalizeFloor ? (double)kNormalizeFloor : ms));
}
NNET2_HD bool NormalizeFloored(double sumsq, index_t dim) { return sumsq / (double)dim < kNormalizeFloor; }
// dx = f dy - (f^3 / D)(dy . x) x  (second term dropped where the floor was hit).
NNET2_HD float NormalizeDeriv(float x, float dy, float scale, float coef) { return scale * dy - coef * x; }

// Softmax output floor (Kaldi floors the output at 1e-20 so log() is finite).
constexpr float kSoftmaxFloor = 1e-20f;
NNET2_HD float SoftmaxFloor(float y) { return y < kSoftmaxFloor ? kSoftmaxFloor : y; }

// Splice: source frame index with the utterance edges repeated.
NNET2_HD index_t ClampFrame(index_t t, index_t num_frames) {
  return t < 0 ? 0 : (t >= num_frames ? num_frames - 1 : t);
}

}  // namespace f
}  // namespace nnet2
