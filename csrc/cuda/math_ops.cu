// CUDA side of csrc/math/buffer.cc and csrc/math/ops.cc. Everything runs on the current stream.
#include "cuda/cuda_common.cuh"
#include "cuda/cuda_math_ops.h"

namespace nnet2 {
namespace cuda {
namespace {

constexpr int kThreads = 256;

// y[:, :cols] = x, y[:, cols] = value (y has cols + 1 columns).
__global__ void AppendConstK(const float *x, index_t xs, float value, float *y, index_t ys, index_t rows,
                             index_t cols) {
  NNET2_FOR_2D(i, j, rows, cols + 1) y[i * ys + j] = j < cols ? x[i * xs + j] : value;
}

// One block per row (grid-stride over rows); double accumulation like the CPU loop, combined in a fixed
// order. out[i] = a_i . b_i (b == a for squared norms).
__global__ void RowDotsK(const float *a, index_t as, const float *b, index_t bs, index_t rows, index_t cols,
                         float *out) {
  __shared__ double buf[kThreads];
  NNET2_FOR_ROWS_BLOCK(i, rows) {
    const float *ra = a + i * as, *rb = b + i * bs;
    double s = 0.0;
    for (index_t j = threadIdx.x; j < cols; j += kThreads) s += (double)ra[j] * rb[j];
    buf[threadIdx.x] = s;
    __syncthreads();
    for (int k = kThreads / 2; k > 0; k >>= 1) {
      if (threadIdx.x < k) buf[threadIdx.x] += buf[threadIdx.x + k];
      __syncthreads();
    }
    if (threadIdx.x == 0) out[i] = (float)buf[0];
    __syncthreads();  // buf is reused by the next row
  }
}

}  // namespace

void *Malloc(index_t bytes) {
  void *p = nullptr;
  NNET2_CUDA_CHECK(cudaMalloc(&p, (size_t)bytes));
  return p;
}

void Free(void *p) noexcept { cudaFree(p); }

void Copy2D(float *dst, index_t dst_stride, const float *src, index_t src_stride, index_t cols, index_t rows,
            bool host_side) {
  if (rows == 0 || cols == 0) return;
  NNET2_CUDA_CHECK(cudaMemcpy2DAsync(dst, sizeof(float) * std::max<index_t>(dst_stride, cols), src,
                                     sizeof(float) * std::max<index_t>(src_stride, cols), sizeof(float) * cols,
                                     (size_t)rows, cudaMemcpyDefault, Stream()));
  // Host memory is read or written by the caller right after: the copy must be complete.
  if (host_side) SynchronizeStream();
}

void CopyMatAppendConst(const MatView &x, float value, const MatView &y) {
  if (y.rows == 0) return;
  AppendConstK<<<Grid2(y.rows, y.cols), Block2(), 0, Stream()>>>(x.data, x.stride, value, y.data, y.stride, x.rows,
                                                                  x.cols);
  NNET2_CUDA_LAUNCH_CHECK();
}

void RowSquaredNorms(const MatView &x, const VecView &out) {
  if (x.rows == 0) return;
  RowDotsK<<<RowBlocks(x.rows), kThreads, 0, Stream()>>>(x.data, x.stride, x.data, x.stride, x.rows, x.cols,
                                                          out.data);
  NNET2_CUDA_LAUNCH_CHECK();
}

void RowDots(const MatView &a, const MatView &b, const VecView &out) {
  if (a.rows == 0) return;
  RowDotsK<<<RowBlocks(a.rows), kThreads, 0, Stream()>>>(a.data, a.stride, b.data, b.stride, a.rows, a.cols,
                                                          out.data);
  NNET2_CUDA_LAUNCH_CHECK();
}

}  // namespace cuda
}  // namespace nnet2
