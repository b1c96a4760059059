// Block reductions shared by the .cu files (kThreads threads per block, float64 sums in a fixed order,
// so results do not depend on scheduling).
#pragma once

#include "cuda/cuda_common.cuh"

namespace nnet2 {
namespace cuda {

constexpr int kThreads = 256;

// Sum of v over the block. Every thread of the block must call it (it synchronizes).
__device__ inline double BlockSum(double v) {
  __shared__ double buf[kThreads];
  buf[threadIdx.x] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) buf[threadIdx.x] += buf[threadIdx.x + s];
    __syncthreads();
  }
  const double r = buf[0];
  __syncthreads();
  return r;
}

// Max of v over the block (NaN ignored, like fmaxf). Every thread must call it.
__device__ inline float BlockMax(float v) {
  __shared__ float buf[kThreads];
  buf[threadIdx.x] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) buf[threadIdx.x] = fmaxf(buf[threadIdx.x], buf[threadIdx.x + s]);
    __syncthreads();
  }
  const float r = buf[0];
  __syncthreads();
  return r;
}

// Q row-wise float64 quantities stored quantity-major (v[q * n + i], i < n) summed over i into out[q],
// by one block of kThreads threads in a fixed order (deterministic).
template <int Q>
__global__ void SumRowsK(const double *v, index_t n, double *out) {
  __shared__ double buf[Q][kThreads];
  double s[Q];
  for (int q = 0; q < Q; q++) s[q] = 0.0;
  for (index_t i = threadIdx.x; i < n; i += kThreads)
    for (int q = 0; q < Q; q++) s[q] += v[q * n + i];
  for (int q = 0; q < Q; q++) buf[q][threadIdx.x] = s[q];
  __syncthreads();
  for (int st = kThreads / 2; st > 0; st >>= 1) {
    if (threadIdx.x < st)
      for (int q = 0; q < Q; q++) buf[q][threadIdx.x] += buf[q][threadIdx.x + st];
    __syncthreads();
  }
  if (threadIdx.x == 0)
    for (int q = 0; q < Q; q++) out[q] = buf[q][0];
}

// Launches SumRowsK<Q> on per-row values already in scratch (v = Q * n doubles, out = Q doubles after
// them) and copies the Q sums to host (waits for the stream).
template <int Q>
void SumRowsToHost(double *v, index_t n, double *host_out) {
  double *out = v + (size_t)Q * n;
  SumRowsK<Q><<<1, kThreads, 0, Stream()>>>(v, n, out);
  NNET2_CUDA_LAUNCH_CHECK();
  NNET2_CUDA_CHECK(cudaMemcpyAsync(host_out, out, sizeof(double) * Q, cudaMemcpyDeviceToHost, Stream()));
  SynchronizeStream();
}

}  // namespace cuda
}  // namespace nnet2
