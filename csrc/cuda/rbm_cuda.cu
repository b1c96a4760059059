// CUDA side of csrc/rbm/rbm.cc; the element formulas are csrc/rbm/rbm_math.h.
#include <vector>

#include "cuda/cuda_common.cuh"
#include "cuda/rbm_api.h"
#include "rbm/rbm_math.h"

namespace nnet2 {
namespace cuda {
namespace {

constexpr int kThreads = 256;
const dim3 kBlock(32, 8);
dim3 Grid(const MatView &m) { return dim3((unsigned)Blocks(m.cols, 32), (unsigned)Blocks(m.rows, 8)); }

__global__ void AddBiasActivateK(const float *b, bool linear, float *y, index_t rows, index_t cols, index_t ys) {
  index_t c = blockIdx.x * (index_t)blockDim.x + threadIdx.x, r = blockIdx.y * (index_t)blockDim.y + threadIdx.y;
  if (r < rows && c < cols) y[r * ys + c] = f::VisibleMean(y[r * ys + c] + b[c], linear);
}

__global__ void ApplyIncrementK(float *w, index_t ws, float *inc, index_t is, index_t rows, index_t cols,
                                float neg_lr_l2) {
  index_t c = blockIdx.x * (index_t)blockDim.x + threadIdx.x, r = blockIdx.y * (index_t)blockDim.y + threadIdx.y;
  if (r < rows && c < cols) f::RbmApplyIncrement(w + r * ws + c, inc + r * is + c, neg_lr_l2);
}

// One block per row: the five float64 sums of that row, written to out[5 * row + k].
__global__ void PairMomentsK(const float *a, index_t as, const float *b, index_t bs, index_t cols, double *out) {
  __shared__ double buf[5][kThreads];
  const float *ar = a + blockIdx.x * as, *br = b + blockIdx.x * bs;
  double s[5] = {0, 0, 0, 0, 0};
  for (index_t j = threadIdx.x; j < cols; j += blockDim.x) {
    const double x = ar[j], y = br[j], d = y - x;
    s[0] += x;
    s[1] += x * x;
    s[2] += y;
    s[3] += y * y;
    s[4] += d * d;
  }
  for (int k = 0; k < 5; k++) buf[k][threadIdx.x] = s[k];
  __syncthreads();
  for (int st = kThreads / 2; st > 0; st >>= 1) {
    if (threadIdx.x < st)
      for (int k = 0; k < 5; k++) buf[k][threadIdx.x] += buf[k][threadIdx.x + st];
    __syncthreads();
  }
  if (threadIdx.x == 0)
    for (int k = 0; k < 5; k++) out[5 * blockIdx.x + k] = buf[k][0];
}

}  // namespace

void AddBiasActivate(const VecView &b, bool linear, const MatView &y) {
  if (y.rows == 0 || y.cols == 0) return;
  AddBiasActivateK<<<Grid(y), kBlock>>>(b.data, linear, y.data, y.rows, y.cols, y.stride);
  NNET2_CUDA_LAUNCH_CHECK();
}

void RbmApplyIncrement(const MatView &w, const MatView &inc, float neg_lr_l2) {
  if (w.rows == 0 || w.cols == 0) return;
  ApplyIncrementK<<<Grid(w), kBlock>>>(w.data, w.stride, inc.data, inc.stride, w.rows, w.cols, neg_lr_l2);
  NNET2_CUDA_LAUNCH_CHECK();
}

void PairMoments(const MatView &a, const MatView &b, double *out) {
  for (int k = 0; k < 5; k++) out[k] = 0.0;
  if (a.rows == 0) return;
  double *rows = nullptr;
  NNET2_CUDA_CHECK(cudaMalloc(&rows, sizeof(double) * 5 * a.rows));
  PairMomentsK<<<(unsigned)a.rows, kThreads>>>(a.data, a.stride, b.data, b.stride, a.cols, rows);
  cudaError_t e = cudaGetLastError();
  std::vector<double> host(5 * a.rows);
  if (e == cudaSuccess) e = cudaMemcpy(host.data(), rows, sizeof(double) * 5 * a.rows, cudaMemcpyDeviceToHost);
  cudaFree(rows);
  NNET2_CHECK(e == cudaSuccess, "CUDA error in PairMoments: " << cudaGetErrorString(e));
  for (index_t i = 0; i < a.rows; i++)
    for (int k = 0; k < 5; k++) out[k] += host[5 * i + k];
}

}  // namespace cuda
}  // namespace nnet2
