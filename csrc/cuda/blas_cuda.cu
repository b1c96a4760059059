// cuBLAS side of csrc/math/blas.cc. Row-major C = op(A) op(B) is computed as the column-major
// C^T = op(B)^T op(A)^T, so no data is transposed. Everything runs on the current stream (context.cu).
#include <climits>

#include "cuda/cuda_api.h"
#include "cuda/cuda_common.cuh"
#include "rbm/rbm_math.h"

namespace nnet2 {
namespace cuda {
namespace {

__global__ void ScaleOrZeroK(float *c, index_t cs, index_t rows, index_t cols, float beta) {
  NNET2_FOR_2D(i, j, rows, cols) c[i * cs + j] = f::ScaleOrZero(c[i * cs + j], beta);
}

// b[j] = alpha * sum_i A[i, j] + (beta == 0 ? 0 : beta * b[j]). A block takes 32 columns; its 8 row
// lanes sum every 8th row in float64 and lane 0 adds the 8 partial sums in a fixed order (deterministic,
// no atomics). The column loop is uniform over the block, so the __syncthreads() are reached by all.
__global__ void ColSumsK(const float *A, index_t as, index_t rows, index_t cols, float alpha, float beta, float *b) {
  __shared__ double part[kBy][kBx];
  for (index_t j0 = blockIdx.x * (index_t)kBx; j0 < cols; j0 += (index_t)gridDim.x * kBx) {
    const index_t j = j0 + threadIdx.x;
    double s = 0.0;
    if (j < cols)
      for (index_t i = threadIdx.y; i < rows; i += kBy) s += (double)A[i * as + j];
    part[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && j < cols) {
      double t = 0.0;
      for (int r = 0; r < kBy; r++) t += part[r][threadIdx.x];
      const float old = beta == 0.f ? 0.f : beta * b[j];
      b[j] = (float)((double)alpha * t) + old;
    }
    __syncthreads();
  }
}

int Ld(const MatView &M, const char *what) {
  NNET2_CHECK(M.stride <= INT_MAX, what << ": row stride " << M.stride << " is too large for cuBLAS");
  return (int)std::max<index_t>(M.stride, 1);
}

}  // namespace

void Gemm(bool trans_a, bool trans_b, float alpha, const MatView &A, const MatView &B, float beta,
          const MatView &C) {
  const index_t m = C.rows, n = C.cols, k = trans_a ? A.rows : A.cols;
  if (m == 0 || n == 0) return;
  if (k == 0) {  // C = beta C, as BLAS defines it (0 when beta == 0, whatever C held)
    ScaleOrZeroK<<<Grid2(m, n), Block2(), 0, Stream()>>>(C.data, C.stride, m, n, beta);
    NNET2_CUDA_LAUNCH_CHECK();
    return;
  }
  NNET2_CHECK(m <= INT_MAX && n <= INT_MAX && k <= INT_MAX,
              "Gemm: dimensions " << m << "x" << n << "x" << k << " are too large for cuBLAS");
  BlasLease blas;
  const cublasStatus_t s = blas.Sgemm(trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                                      (int)n, (int)m, (int)k, &alpha, B.data, Ld(B, "Gemm B"), A.data,
                                      Ld(A, "Gemm A"), &beta, C.data, Ld(C, "Gemm C"));
  NNET2_CHECK(s == CUBLAS_STATUS_SUCCESS, "cuBLAS error " << (int)s << " in cublasSgemm");
}

void AddRowSums(float alpha, const MatView &A, float beta, const VecView &b) {
  if (b.dim == 0) return;
  const unsigned gx = (unsigned)std::min<index_t>((b.dim + kBx - 1) / kBx, 65535);
  ColSumsK<<<gx, Block2(), 0, Stream()>>>(A.data, A.stride, A.rows, b.dim, alpha, beta, b.data);
  NNET2_CUDA_LAUNCH_CHECK();
}

}  // namespace cuda
}  // namespace nnet2
