// Fill matrices from the Philox stream (common/random.h) on the CPU or a CUDA device. Element (r, c)
// of an R x C matrix takes stream element offset + r*C + c (independent of the row stride), so the same
// (seed, offset) gives the same numbers on both devices and the caller advances `offset` by R*C per use.
#pragma once

#include <cstdint>

#include "math/matrix.h"

namespace nnet2 {

// m[r, c] = U(0,1) element offset + r*cols + c of the stream for `seed`.
void FillUniform(std::uint64_t seed, std::uint64_t offset, const MatView &m);

// out[r, c] = 1 if u[r, c] < probs[r, c] else 0, with u drawn as in FillUniform (out may alias probs).
void BernoulliSample(const MatView &probs, std::uint64_t seed, std::uint64_t offset, const MatView &out);

// m *= s (s == 0 writes exact zeros, so a NaN/Inf momentum buffer is really reset).
void ScaleInPlace(const MatView &m, float s);

}  // namespace nnet2
