// Helpers for the .cu launchers: error checks that name the call, the shared cuBLAS handle.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "common/common.h"

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
cublasHandle_t Handle();
inline int Blocks(index_t n, int threads) { return (int)((n + threads - 1) / threads); }
}  // namespace cuda
}  // namespace nnet2
