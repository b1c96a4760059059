// CUDA side of csrc/math/random.cc: one thread per element, each computing its Philox block (the same
// stream elements as the CPU loop, so results match bit for bit). Grid-stride 2-D launches on the
// current stream; empty matrices launch nothing.
#include "common/random.h"
#include "cuda/cuda_common.cuh"
#include "cuda/rbm_api.h"
#include "rbm/rbm_math.h"

namespace nnet2 {
namespace cuda {
namespace {

__device__ float StreamUniform(std::uint64_t seed, std::uint64_t offset, index_t r, index_t c, index_t cols) {
  return rng::UniformAt(seed, offset + (std::uint64_t)r * (std::uint64_t)cols + (std::uint64_t)c);
}

__global__ void FillUniformK(std::uint64_t seed, std::uint64_t offset, float *m, index_t rows, index_t cols,
                             index_t stride) {
  NNET2_FOR_2D(r, c, rows, cols) m[r * stride + c] = StreamUniform(seed, offset, r, c, cols);
}

__global__ void BernoulliK(const float *p, index_t ps, std::uint64_t seed, std::uint64_t offset, float *o,
                           index_t os, index_t rows, index_t cols) {
  NNET2_FOR_2D(r, c, rows, cols) o[r * os + c] = f::BernoulliState(StreamUniform(seed, offset, r, c, cols), p[r * ps + c]);
}

__global__ void ScaleK(float *m, index_t rows, index_t cols, index_t stride, float s) {
  NNET2_FOR_2D(r, c, rows, cols) m[r * stride + c] = f::ScaleOrZero(m[r * stride + c], s);
}

}  // namespace

void FillUniform(std::uint64_t seed, std::uint64_t offset, const MatView &m) {
  if (m.rows == 0 || m.cols == 0) return;
  FillUniformK<<<Grid2(m.rows, m.cols), Block2(), 0, Stream()>>>(seed, offset, m.data, m.rows, m.cols, m.stride);
  NNET2_CUDA_LAUNCH_CHECK();
}

void BernoulliSample(const MatView &probs, std::uint64_t seed, std::uint64_t offset, const MatView &out) {
  if (out.rows == 0 || out.cols == 0) return;
  BernoulliK<<<Grid2(out.rows, out.cols), Block2(), 0, Stream()>>>(probs.data, probs.stride, seed, offset, out.data,
                                                                   out.stride, out.rows, out.cols);
  NNET2_CUDA_LAUNCH_CHECK();
}

void ScaleInPlace(const MatView &m, float s) {
  if (m.rows == 0 || m.cols == 0) return;
  ScaleK<<<Grid2(m.rows, m.cols), Block2(), 0, Stream()>>>(m.data, m.rows, m.cols, m.stride, s);
  NNET2_CUDA_LAUNCH_CHECK();
}

}  // namespace cuda
}  // namespace nnet2
