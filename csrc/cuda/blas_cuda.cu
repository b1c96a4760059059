// cuBLAS side of csrc/math/blas.cc. Row-major C = op(A) op(B) is computed as the column-major
// C^T = op(B)^T op(A)^T, so no data is transposed.
#include <vector>

#include "cuda/cuda_api.h"
#include "cuda/cuda_common.cuh"

namespace nnet2 {
namespace cuda {

cublasHandle_t Handle() {
  static cublasHandle_t handle = [] {
    cublasHandle_t h;
    NNET2_CUBLAS_CHECK(cublasCreate(&h));
    return h;
  }();
  return handle;
}

void Synchronize() { NNET2_CUDA_CHECK(cudaDeviceSynchronize()); }

void Gemm(bool trans_a, bool trans_b, float alpha, const MatView &A, const MatView &B, float beta,
          const MatView &C) {
  const int m = (int)C.rows, n = (int)C.cols;
  const int k = (int)(trans_a ? A.rows : A.cols);
  NNET2_CUBLAS_CHECK(cublasSgemm(Handle(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                                 n, m, k, &alpha, B.data, (int)B.stride, A.data, (int)A.stride, &beta, C.data,
                                 (int)C.stride));
}

__global__ void FillKernel(float *p, index_t n, float v) {
  index_t i = blockIdx.x * (index_t)blockDim.x + threadIdx.x;
  if (i < n) p[i] = v;
}

void AddRowSums(float alpha, const MatView &A, float beta, const VecView &b) {
  float *ones = nullptr;
  NNET2_CUDA_CHECK(cudaMalloc(&ones, sizeof(float) * (A.rows > 0 ? A.rows : 1)));
  FillKernel<<<Blocks(A.rows, 256), 256>>>(ones, A.rows, 1.0f);
  NNET2_CUDA_LAUNCH_CHECK();
  // Column-major view of A is (cols x rows); b = alpha * A_cm * ones + beta * b.
  cublasStatus_t s = cublasSgemv(Handle(), CUBLAS_OP_N, (int)A.cols, (int)A.rows, &alpha, A.data, (int)A.stride,
                                 ones, 1, &beta, b.data, 1);
  cudaFree(ones);
  NNET2_CHECK(s == CUBLAS_STATUS_SUCCESS, "cuBLAS error " << (int)s << " in AddRowSums");
}

}  // namespace cuda
}  // namespace nnet2
