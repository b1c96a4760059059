// Element formulas shared by the CPU loops (csrc/nnet/*.cc) and the CUDA kernels (csrc/cuda/*.cu).
// Keeping them here means the CPU tests check the exact formulas the GPU runs (style rule 3).
#pragma once

#include <math.h>

#include <cstdint>

#include "common/common.h"

namespace nnet2 {
namespace f {

// exp(x) for x <= 88.37 (+inf above, 0 below -87.34, where the true value is denormal), within 2 ulp
// of the exact value, NaN in -> NaN out. Branch-free and call-free (Cephes' expf polynomial, round to
// nearest by the 1.5 * 2^23 trick, 2^n built from its bits), so the CPU loops vectorize (libm's expf
// does not), and the CUDA kernels run the very same formula. Used where the argument is <= 0 (sigmoid,
// softmax), so the upper limit never matters there.
constexpr float kExpHi = 88.3762626647949f, kExpLo = -87.3365447504f;
NNET2_HD float Exp(float x) {
  const float xc = x > kExpHi ? kExpHi : (x < kExpLo ? kExpLo : x);  // NaN passes through
  const float t = xc * 1.44269504088896341f + 12582912.0f;            // 1.5 * 2^23: rounds to nearest
  const float n = t - 12582912.0f;
  const float r = (xc - n * 0.693359375f) - n * -2.12194440e-4f;      // ln 2 in two parts
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // 2^n, n in [-126, 127], from the bits of t (= 0x4B400000 + n): integer ops only, no float -> int
  // conversion, which GCC will not if-convert under -ftrapping-math (the loops would not vectorize).
  union { float f; std::int32_t i; } tb, scale;
  tb.f = t;
  scale.i = (tb.i - 0x4B400000 + 127) << 23;
  const float e = p * scale.f;
  return x > kExpHi ? HUGE_VALF : (x < kExpLo ? 0.0f : e);
}

// Kaldi's sigmoid 1 / (1 + exp(-x)), as e^-|x| based so that nothing overflows and the loop stays
// branch-free: s = 1 / (1 + e^-|x|) is sigmoid(|x|), and sigmoid(-|x|) = e^-|x| s.
NNET2_HD float Sigmoid(float x) {
  const float e = Exp(-fabsf(x));
  const float s = 1.f / (1.f + e);
  return x >= 0.f ? s : e * s;
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
// dx = (|x|^(p-1) y^(1-p) sign(x)) dy, with 0 for (|x|^(p-1) y^(1-p) sign(x)) when y == 0: Kaldi's CPU order
// (MatrixBase::GroupPnormDeriv, then MulRowsGroupMat by the output derivative; src/matrix/kaldi-matrix.cc),
// sign(x) = x >= 0 ? 1 : -1 (for p = 1: x == 0 ? 0 : sign(x)), and a non-finite dy passed on as Kaldi's 0 * dy
// does. p = 1 and p > 2 call powf as Kaldi does (the same bits). For p = 2 Kaldi computes |x| * powf(y, -1);
// we divide, x * (1 / y): glibc's powf(y, -1) is not always correctly rounded and differs from 1 / y by one
// ulp for about 0.06% of floats, while a powf call per group would cost more than the whole backward pass.
NNET2_HD float PnormDeriv(float x, float y, float dy, float p) {
  if (p == 1.f) return (x == 0.f ? 0.f : (x > 0.f ? 1.f : -1.f)) * dy;
  if (y == 0.f) return 0.f * dy;
  if (p == 2.f) return (x * (1.f / y)) * dy;
  const float s = x >= 0.f ? 1.f : -1.f;
  return (powf(fabsf(x), p - 1.f) * powf(y, 1.f - p) * s) * dy;
}
// The p = 2 derivative with the group's 1 / y (0 for y == 0) computed once: the same values as PnormDeriv
// (in a group with y == 0 every x is 0, so (x * 0) * dy is Kaldi's 0 * dy, up to the sign of a zero).
NNET2_HD float PnormInvOut2(float y) { return y == 0.f ? 0.f : 1.f / y; }
NNET2_HD float PnormDeriv2(float x, float inv_y, float dy) { return (x * inv_y) * dy; }

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
