// Declarations of the CUDA launchers for csrc/math/random.cc and csrc/rbm/rbm.cc (definitions in
// csrc/cuda/random_cuda.cu and rbm_cuda.cu). No CUDA types here, so CPU translation units can include it.
#pragma once

#include <cstdint>

#include "math/matrix.h"

namespace nnet2 {
namespace cuda {

void FillUniform(std::uint64_t seed, std::uint64_t offset, const MatView &m);
void BernoulliSample(const MatView &probs, std::uint64_t seed, std::uint64_t offset, const MatView &out);
void ScaleInPlace(const MatView &m, float s);

// y[i, :] = f(y[i, :] + b) where f = identity if linear, else sigmoid; y already holds the GEMM result.
void AddBiasActivate(const VecView &b, bool linear, const MatView &y);
// w, inc (same shape): inc += neg_lr_l2 * w; w += inc.
void RbmApplyIncrement(const MatView &w, const MatView &inc, float neg_lr_l2);
// out[0..4] = sum a, sum a^2, sum b, sum b^2, sum (a-b)^2 (float64, reduced on the host).
void PairMoments(const MatView &a, const MatView &b, double *out);

}  // namespace cuda
}  // namespace nnet2
