// CUDA side of csrc/math/buffer.cc and csrc/math/ops.cc.
#include "cuda/cuda_common.cuh"
#include "cuda/cuda_math_ops.h"

namespace nnet2 {
namespace cuda {
namespace {

constexpr int kThreads = 256;

__global__ void AppendConstK(const float *x, index_t xs, float value, float *y, index_t ys, index_t rows,
                             index_t cols) {
  index_t j = blockIdx.x * (index_t)blockDim.x + threadIdx.x, i = blockIdx.y * (index_t)blockDim.y + threadIdx.y;
  if (i >= rows || j > cols) return;
  y[i * ys + j] = j < cols ? x[i * xs + j] : value;
}

// One block per row; double accumulation like the CPU loop. out[i] = a_i . b_i (b == a for squared norms).
__global__ void RowDotsK(const float *a, index_t as, const float *b, index_t bs, index_t cols, float *out) {
  __shared__ double buf[kThreads];
  const float *ra = a + blockIdx.x * as, *rb = b + blockIdx.x * bs;
  double s = 0.0;
  for (index_t j = threadIdx.x; j < cols; j += kThreads) s += (double)ra[j] * rb[j];
  buf[threadIdx.x] = s;
  __syncthreads();
  for (int k = kThreads / 2; k > 0; k >>= 1) {
    if (threadIdx.x < k) buf[threadIdx.x] += buf[threadIdx.x + k];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = (float)buf[0];
}

}  // namespace

void *Malloc(index_t bytes) {
  void *p = nullptr;
  NNET2_CUDA_CHECK(cudaMalloc(&p, (size_t)bytes));
  return p;
}

void Free(void *p) noexcept { cudaFree(p); }

void Copy2D(float *dst, index_t dst_stride, const float *src, index_t src_stride, index_t cols, index_t rows) {
  NNET2_CUDA_CHECK(cudaMemcpy2D(dst, sizeof(float) * dst_stride, src, sizeof(float) * src_stride,
                                sizeof(float) * cols, (size_t)rows, cudaMemcpyDefault));
}

void CopyMatAppendConst(const MatView &x, float value, const MatView &y) {
  if (y.rows == 0) return;
  dim3 block(32, 8), grid((unsigned)Blocks(y.cols, 32), (unsigned)Blocks(y.rows, 8));
  AppendConstK<<<grid, block>>>(x.data, x.stride, value, y.data, y.stride, x.rows, x.cols);
  NNET2_CUDA_LAUNCH_CHECK();
}

void RowSquaredNorms(const MatView &x, const VecView &out) {
  if (x.rows == 0) return;
  RowDotsK<<<(unsigned)x.rows, kThreads>>>(x.data, x.stride, x.data, x.stride, x.cols, out.data);
  NNET2_CUDA_LAUNCH_CHECK();
}

void RowDots(const MatView &a, const MatView &b, const VecView &out) {
  if (a.rows == 0) return;
  RowDotsK<<<(unsigned)a.rows, kThreads>>>(a.data, a.stride, b.data, b.stride, a.cols, out.data);
  NNET2_CUDA_LAUNCH_CHECK();
}

}  // namespace cuda
}  // namespace nnet2
