#include "math/random.h"

#include "common/device.h"
#include "common/random.h"
#include "cuda/rbm_api.h"
#include "rbm/rbm_math.h"

namespace nnet2 {

namespace {
// Calls fn(r, c, u) for every element with its stream uniform; one Philox block per 4 elements.
template <class Fn>
void ForEachUniform(std::uint64_t seed, std::uint64_t offset, index_t rows, index_t cols, Fn fn) {
#pragma omp parallel for schedule(static)
  for (index_t r = 0; r < rows; r++) {
    const std::uint64_t base = offset + (std::uint64_t)r * (std::uint64_t)cols;
    rng::U32x4 blk = rng::StreamBlock(seed, base >> 2);
    for (index_t c = 0; c < cols; c++) {
      const std::uint64_t i = base + (std::uint64_t)c;
      if (c > 0 && (i & 3) == 0) blk = rng::StreamBlock(seed, i >> 2);
      fn(r, c, rng::ToUniform(blk.v[i & 3]));
    }
  }
}
}  // namespace

void FillUniform(std::uint64_t seed, std::uint64_t offset, const MatView &m) {
  if (m.dev == Device::kCuda) { NNET2_ON_GPU(cuda::FillUniform(seed, offset, m)); return; }
  ForEachUniform(seed, offset, m.rows, m.cols, [&](index_t r, index_t c, float u) { m(r, c) = u; });
}

void BernoulliSample(const MatView &probs, std::uint64_t seed, std::uint64_t offset, const MatView &out) {
  CheckSameDevice(probs.dev, out.dev, "BernoulliSample");
  CheckShape(out, probs.rows, probs.cols, "BernoulliSample output");
  if (out.dev == Device::kCuda) { NNET2_ON_GPU(cuda::BernoulliSample(probs, seed, offset, out)); return; }
  ForEachUniform(seed, offset, out.rows, out.cols,
                 [&](index_t r, index_t c, float u) { out(r, c) = f::BernoulliState(u, probs(r, c)); });
}

void ScaleInPlace(const MatView &m, float s) {
  if (m.dev == Device::kCuda) { NNET2_ON_GPU(cuda::ScaleInPlace(m, s)); return; }
#pragma omp parallel for schedule(static)
  for (index_t r = 0; r < m.rows; r++) {
    float *p = m.row(r);
    for (index_t c = 0; c < m.cols; c++) p[c] = f::ScaleOrZero(p[c], s);
  }
}

}  // namespace nnet2
