// GEMM and friends, dispatched to OpenBLAS (CPU) or cuBLAS (GPU). The only device branch for BLAS.
#pragma once

#include "math/matrix.h"

namespace nnet2 {

// C = alpha * op(A) * op(B) + beta * C, with op(X) = X or X^T.
void Gemm(bool trans_a, bool trans_b, float alpha, const MatView &A, const MatView &B, float beta,
          const MatView &C);

// The lower triangle (row-major: C(i, j), j <= i) of C = alpha * op(A) op(A)^T + beta * C, op(A) = A or A^T
// (BLAS syrk: half the FLOPs of the Gemm); the strict upper triangle is not defined afterwards. On the GPU the
// full product (Gemm).
void SyrkLower(bool trans, float alpha, const MatView &A, float beta, const MatView &C);

// y = beta * y + alpha * A^T x, with x one column of a matrix ([A.rows, 1], any row stride): BLAS gemv on the
// CPU (OpenBLAS's sgemm with a one-column output ran at ~2 GFLOP/s), a one-column Gemm on the GPU.
void GemvTrans(float alpha, const MatView &A, const MatView &x_col, float beta, const VecView &y);

// b = beta * b + alpha * (sum over rows of A)   (b has A.cols elements).
void AddRowSums(float alpha, const MatView &A, float beta, const VecView &b);

// Sets the threads used by OpenBLAS and by our OpenMP loops. Returns the previous BLAS setting.
int SetNumThreads(int n);
int GetNumThreads();

}  // namespace nnet2
