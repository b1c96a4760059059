// CUDA launchers mirroring csrc/nnet/kernels.cc; the per-element maths is the shared code in
// csrc/math/functors.h. Row reductions use one block per row.
#include <vector>

#include "cuda/cuda_api.h"
#include "cuda/cuda_common.cuh"
#include "math/functors.h"

namespace nnet2 {
namespace cuda {
namespace {

constexpr int kThreads = 256;

// Block-wide sum of a double (kThreads threads).
__device__ double BlockSum(double v) {
  __shared__ double buf[kThreads];
  buf[threadIdx.x] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) buf[threadIdx.x] += buf[threadIdx.x + s];
    __syncthreads();
  }
  double r = buf[0];
  __syncthreads();
  return r;
}

__device__ float BlockMax(float v) {
  __shared__ float buf[kThreads];
  buf[threadIdx.x] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) buf[threadIdx.x] = fmaxf(buf[threadIdx.x], buf[threadIdx.x + s]);
    __syncthreads();
  }
  float r = buf[0];
  __syncthreads();
  return r;
}

dim3 Grid2(const MatView &m) { return dim3((unsigned)Blocks(m.cols, 32), (unsigned)Blocks(m.rows, 8)); }
const dim3 kBlock2(32, 8);

__global__ void CopyRowsK(const float *b, float *y, index_t rows, index_t cols, index_t ys) {
  index_t j = blockIdx.x * (index_t)blockDim.x + threadIdx.x, i = blockIdx.y * (index_t)blockDim.y + threadIdx.y;
  if (i < rows && j < cols) y[i * ys + j] = b[j];
}

template <int kOp>
__global__ void UnaryK(const float *x, index_t xs, float *y, index_t ys, index_t rows, index_t cols) {
  index_t j = blockIdx.x * (index_t)blockDim.x + threadIdx.x, i = blockIdx.y * (index_t)blockDim.y + threadIdx.y;
  if (i >= rows || j >= cols) return;
  const float v = x[i * xs + j];
  y[i * ys + j] = kOp == 0 ? f::Sigmoid(v) : f::Tanh(v);
}

template <int kOp>
__global__ void UnaryBackK(const float *y, index_t ys, const float *dy, index_t dys, float *dx, index_t dxs,
                           index_t rows, index_t cols) {
  index_t j = blockIdx.x * (index_t)blockDim.x + threadIdx.x, i = blockIdx.y * (index_t)blockDim.y + threadIdx.y;
  if (i >= rows || j >= cols) return;
  const float yv = y[i * ys + j], g = dy[i * dys + j];
  dx[i * dxs + j] = kOp == 0 ? f::SigmoidDeriv(yv, g) : f::TanhDeriv(yv, g);
}

__global__ void PnormK(const float *x, index_t xs, float p, float *y, index_t ys, index_t rows, index_t cols,
                       index_t G) {
  index_t j = blockIdx.x * (index_t)blockDim.x + threadIdx.x, i = blockIdx.y * (index_t)blockDim.y + threadIdx.y;
  if (i >= rows || j >= cols) return;
  float s = 0.f;
  for (index_t k = 0; k < G; k++) s += f::PnormTerm(x[i * xs + j * G + k], p);
  y[i * ys + j] = f::PnormFinish(s, p);
}

__global__ void PnormBackK(const float *x, index_t xs, const float *y, index_t ys, const float *dy, index_t dys,
                           float p, float *dx, index_t dxs, index_t rows, index_t in_cols, index_t G) {
  index_t j = blockIdx.x * (index_t)blockDim.x + threadIdx.x, i = blockIdx.y * (index_t)blockDim.y + threadIdx.y;
  if (i >= rows || j >= in_cols) return;
  const index_t g = j / G;
  dx[i * dxs + j] = f::PnormDeriv(x[i * xs + j], y[i * ys + g], dy[i * dys + g], p);
}

__global__ void NormalizeK(const float *x, index_t xs, float *y, index_t ys, index_t cols) {
  const float *xr = x + blockIdx.x * xs;
  float *yr = y + blockIdx.x * ys;
  double ss = 0.0;
  for (index_t j = threadIdx.x; j < cols; j += blockDim.x) ss += (double)xr[j] * xr[j];
  ss = BlockSum(ss);
  const float sc = f::NormalizeScale(ss, cols);
  for (index_t j = threadIdx.x; j < cols; j += blockDim.x) yr[j] = sc * xr[j];
}

__global__ void NormalizeBackK(const float *x, index_t xs, const float *dy, index_t dys, float *dx, index_t dxs,
                               index_t cols) {
  const float *xr = x + blockIdx.x * xs, *dyr = dy + blockIdx.x * dys;
  float *dxr = dx + blockIdx.x * dxs;
  double ss = 0.0, dot = 0.0;
  for (index_t j = threadIdx.x; j < cols; j += blockDim.x) {
    ss += (double)xr[j] * xr[j];
    dot += (double)xr[j] * dyr[j];
  }
  ss = BlockSum(ss);
  dot = BlockSum(dot);
  const float sc = f::NormalizeScale(ss, cols);
  const float coef = f::NormalizeFloored(ss, cols) ? 0.f : (float)((double)sc * sc * sc * dot / cols);
  for (index_t j = threadIdx.x; j < cols; j += blockDim.x) dxr[j] = f::NormalizeDeriv(xr[j], dyr[j], sc, coef);
}

// Softmax of one row per block; with labels, also the objective/derivative (dz may alias z).
__global__ void SoftmaxK(const float *x, index_t xs, float *y, index_t ys, index_t cols, const int *labels,
                         float *dz, index_t dzs, double *row_objf, double *row_correct) {
  const index_t i = blockIdx.x;
  const float *xr = x + i * xs;
  float *yr = y + i * ys;
  float mx = -INFINITY;
  for (index_t j = threadIdx.x; j < cols; j += blockDim.x) mx = fmaxf(mx, xr[j]);
  mx = BlockMax(mx);
  double s = 0.0;
  for (index_t j = threadIdx.x; j < cols; j += blockDim.x) s += f::Exp(xr[j] - mx);
  s = BlockSum(s);
  const float inv = (float)(1.0 / s);
  float best = -1.f;
  for (index_t j = threadIdx.x; j < cols; j += blockDim.x) {
    const float v = f::SoftmaxFloor(f::Exp(xr[j] - mx) * inv);
    yr[j] = v;
    best = fmaxf(best, v);
  }
  if (labels == nullptr) return;
  best = BlockMax(best);
  __syncthreads();
  const int lab = labels[i];
  if (threadIdx.x == 0) {
    const float yl = yr[lab];
    row_objf[i] = log((double)yl);
    // Ties resolve to the lowest index on the CPU; count correct only if no earlier column equals the max.
    bool first = yl == best;
    for (index_t j = 0; first && j < lab; j++) first = yr[j] < best;
    row_correct[i] = first ? 1.0 : 0.0;
  }
  __syncthreads();
  float *dzr = dz + i * dzs;
  for (index_t j = threadIdx.x; j < cols; j += blockDim.x) dzr[j] = (j == lab ? 1.0f : 0.0f) - yr[j];
}

__global__ void SpliceK(const float *x, index_t xs, index_t T, index_t D, const int *offsets, index_t C, float *y,
                        index_t ys) {
  index_t j = blockIdx.x * (index_t)blockDim.x + threadIdx.x, t = blockIdx.y * (index_t)blockDim.y + threadIdx.y;
  if (t >= T || j >= C * D) return;
  const index_t c = j / D, d = j % D;
  y[t * ys + j] = x[f::ClampFrame(t + offsets[c], T) * xs + d];
}

__global__ void SumGroupK(const float *x, index_t xs, const int *starts, float *y, index_t ys, index_t rows,
                          index_t cols) {
  index_t k = blockIdx.x * (index_t)blockDim.x + threadIdx.x, i = blockIdx.y * (index_t)blockDim.y + threadIdx.y;
  if (i >= rows || k >= cols) return;
  float s = 0.f;
  for (int j = starts[k]; j < starts[k + 1]; j++) s += x[i * xs + j];
  y[i * ys + k] = s;
}

__global__ void SumGroupBackK(const float *dy, index_t dys, const int *group, float *dx, index_t dxs, index_t rows,
                              index_t cols) {
  index_t j = blockIdx.x * (index_t)blockDim.x + threadIdx.x, i = blockIdx.y * (index_t)blockDim.y + threadIdx.y;
  if (i >= rows || j >= cols) return;
  dx[i * dxs + j] = dy[i * dys + group[j]];
}

}  // namespace

void CopyRowsFromVec(const VecView &b, const MatView &y) {
  CopyRowsK<<<Grid2(y), kBlock2>>>(b.data, y.data, y.rows, y.cols, y.stride);
  NNET2_CUDA_LAUNCH_CHECK();
}
void Sigmoid(const MatView &x, const MatView &y) {
  UnaryK<0><<<Grid2(x), kBlock2>>>(x.data, x.stride, y.data, y.stride, x.rows, x.cols);
  NNET2_CUDA_LAUNCH_CHECK();
}
void Tanh(const MatView &x, const MatView &y) {
  UnaryK<1><<<Grid2(x), kBlock2>>>(x.data, x.stride, y.data, y.stride, x.rows, x.cols);
  NNET2_CUDA_LAUNCH_CHECK();
}
void SigmoidBackward(const MatView &y, const MatView &dy, const MatView &dx) {
  UnaryBackK<0><<<Grid2(y), kBlock2>>>(y.data, y.stride, dy.data, dy.stride, dx.data, dx.stride, y.rows, y.cols);
  NNET2_CUDA_LAUNCH_CHECK();
}
void TanhBackward(const MatView &y, const MatView &dy, const MatView &dx) {
  UnaryBackK<1><<<Grid2(y), kBlock2>>>(y.data, y.stride, dy.data, dy.stride, dx.data, dx.stride, y.rows, y.cols);
  NNET2_CUDA_LAUNCH_CHECK();
}
void PnormForward(const MatView &x, float p, const MatView &y) {
  PnormK<<<Grid2(y), kBlock2>>>(x.data, x.stride, p, y.data, y.stride, y.rows, y.cols, x.cols / y.cols);
  NNET2_CUDA_LAUNCH_CHECK();
}
void PnormBackward(const MatView &x, const MatView &y, const MatView &dy, float p, const MatView &dx) {
  PnormBackK<<<Grid2(x), kBlock2>>>(x.data, x.stride, y.data, y.stride, dy.data, dy.stride, p, dx.data, dx.stride,
                                    x.rows, x.cols, x.cols / y.cols);
  NNET2_CUDA_LAUNCH_CHECK();
}
void NormalizeForward(const MatView &x, const MatView &y) {
  if (x.rows == 0) return;
  NormalizeK<<<(unsigned)x.rows, kThreads>>>(x.data, x.stride, y.data, y.stride, x.cols);
  NNET2_CUDA_LAUNCH_CHECK();
}
void NormalizeBackward(const MatView &x, const MatView &dy, const MatView &dx) {
  if (x.rows == 0) return;
  NormalizeBackK<<<(unsigned)x.rows, kThreads>>>(x.data, x.stride, dy.data, dy.stride, dx.data, dx.stride, x.cols);
  NNET2_CUDA_LAUNCH_CHECK();
}
void SoftmaxForward(const MatView &x, const MatView &y) {
  if (x.rows == 0) return;
  SoftmaxK<<<(unsigned)x.rows, kThreads>>>(x.data, x.stride, y.data, y.stride, x.cols, nullptr, nullptr, 0, nullptr,
                                           nullptr);
  NNET2_CUDA_LAUNCH_CHECK();
}
void SoftmaxCrossEntropy(const MatView &z, const IntVecView &labels, const MatView &y, const MatView &dz,
                         double *objf, double *num_correct) {
  *objf = 0.0;
  *num_correct = 0.0;
  if (z.rows == 0) return;
  double *rows = nullptr;
  NNET2_CUDA_CHECK(cudaMalloc(&rows, sizeof(double) * 2 * z.rows));
  SoftmaxK<<<(unsigned)z.rows, kThreads>>>(z.data, z.stride, y.data, y.stride, z.cols, labels.data, dz.data,
                                           dz.stride, rows, rows + z.rows);
  cudaError_t e = cudaGetLastError();
  std::vector<double> host(2 * z.rows);
  if (e == cudaSuccess) e = cudaMemcpy(host.data(), rows, sizeof(double) * 2 * z.rows, cudaMemcpyDeviceToHost);
  cudaFree(rows);
  NNET2_CHECK(e == cudaSuccess, "CUDA error in SoftmaxCrossEntropy: " << cudaGetErrorString(e));
  for (index_t i = 0; i < z.rows; i++) {
    *objf += host[i];
    *num_correct += host[z.rows + i];
  }
}
void SpliceFrames(const MatView &x, const IntVecView &offsets, const MatView &y) {
  SpliceK<<<Grid2(y), kBlock2>>>(x.data, x.stride, x.rows, x.cols, offsets.data, offsets.dim, y.data, y.stride);
  NNET2_CUDA_LAUNCH_CHECK();
}
void SumGroupForward(const MatView &x, const IntVecView &group_starts, const MatView &y) {
  SumGroupK<<<Grid2(y), kBlock2>>>(x.data, x.stride, group_starts.data, y.data, y.stride, y.rows, y.cols);
  NNET2_CUDA_LAUNCH_CHECK();
}
void SumGroupBackward(const MatView &dy, const IntVecView &group_of_input, const MatView &dx) {
  SumGroupBackK<<<Grid2(dx), kBlock2>>>(dy.data, dy.stride, group_of_input.data, dx.data, dx.stride, dx.rows,
                                         dx.cols);
  NNET2_CUDA_LAUNCH_CHECK();
}

}  // namespace cuda
}  // namespace nnet2
