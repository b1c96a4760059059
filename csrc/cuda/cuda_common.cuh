// Helpers for the .cu launchers: error checks that name the call, the current stream, the per-device
// cuBLAS handle and scratch memory, and the launch shapes every elementwise kernel uses.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>

#include "common/common.h"
#include "cuda/cuda_api.h"

#define NNET2_CUDA_CHECK(call)                                                                  \
  do {                                                                                          \
    cudaError_t e_ = (call);                                                                    \
    NNET2_CHECK(e_ == cudaSuccess, "CUDA error in " #call ": " << cudaGetErrorString(e_));      \
  } while (0)

#define NNET2_CUBLAS_CHECK(call)                                                                \
  do {                                                                                          \
    cublasStatus_t s_ = (call);                                                                 \
    NNET2_CHECK(s_ == CUBLAS_STATUS_SUCCESS, "cuBLAS error " << (int)s_ << " in " #call);      \
  } while (0)

#define NNET2_CUDA_LAUNCH_CHECK() NNET2_CUDA_CHECK(cudaGetLastError())

namespace nnet2 {
namespace cuda {

// The stream this thread's work goes to (see StreamScope in cuda_api.h).
inline cudaStream_t Stream() { return reinterpret_cast<cudaStream_t>(CurrentStream()); }

// cuBLAS through a handle of the current device bound to the current stream; the lease holds that
// device's lock, so two threads never rebind one handle under each other.
class BlasLease {
 public:
  BlasLease();
  ~BlasLease();
  BlasLease(const BlasLease &) = delete;
  BlasLease &operator=(const BlasLease &) = delete;
  cublasHandle_t handle() const { return handle_; }
  // The cuBLAS entry points (loaded from libcublas at first use: CPU work never needs it).
  cublasStatus_t Sgemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const float *alpha,
                       const float *A, int lda, const float *B, int ldb, const float *beta, float *C, int ldc);

 private:
  cublasHandle_t handle_;
  int device_;
};

// Scratch device memory of the current device, cached between calls (grows, never shrinks, never freed
// per call). The lease holds the device's scratch lock until it is destroyed: users must have finished
// with the memory by then (they synchronize the stream to read their results), so a later call on
// another stream cannot overwrite it early. Exception-safe: nothing to free on a throw.
class ScratchLease {
 public:
  explicit ScratchLease(size_t bytes);
  ~ScratchLease();
  ScratchLease(const ScratchLease &) = delete;
  ScratchLease &operator=(const ScratchLease &) = delete;
  void *data() const { return data_; }

 private:
  void *data_;
  int device_;
};

// Elementwise launches: 32 x 8 threads, columns on gridDim.x and rows on gridDim.y, both capped so the
// grid is always legal (gridDim.y <= 65535); kernels loop over the rest with NNET2_FOR_2D (grid-stride).
// Callers return early for empty matrices: a zero-size grid is an error on the GPU.
constexpr int kBx = 32, kBy = 8;
inline dim3 Block2() { return dim3(kBx, kBy); }
inline dim3 Grid2(index_t rows, index_t cols) {
  const index_t gx = std::min<index_t>((cols + kBx - 1) / kBx, 65535);
  const index_t gy = std::min<index_t>((rows + kBy - 1) / kBy, 65535);
  return dim3((unsigned)std::max<index_t>(gx, 1), (unsigned)std::max<index_t>(gy, 1));
}
// One block per row for row reductions: blockIdx.x is the first row, then a grid-stride loop.
inline unsigned RowBlocks(index_t rows) { return (unsigned)std::min<index_t>(std::max<index_t>(rows, 1), 1 << 30); }
inline int Blocks(index_t n, int threads) { return (int)std::min<index_t>((n + threads - 1) / threads, 1 << 30); }

}  // namespace cuda
}  // namespace nnet2

#define NNET2_FOR_2D(i, j, rows, cols)                                                                   \
  for (index_t i = blockIdx.y * (index_t)blockDim.y + threadIdx.y; i < (rows);                          \
       i += (index_t)gridDim.y * blockDim.y)                                                             \
    for (index_t j = blockIdx.x * (index_t)blockDim.x + threadIdx.x; j < (cols);                        \
         j += (index_t)gridDim.x * blockDim.x)

// Row loop for kernels with one block per row (all threads of a block take the same rows, so the
// __syncthreads() inside the body are reached by the whole block).
#define NNET2_FOR_ROWS_BLOCK(i, rows) for (index_t i = blockIdx.x; i < (rows); i += gridDim.x)
