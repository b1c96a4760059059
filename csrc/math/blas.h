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

// b = beta * b + alpha * (sum over rows of A)   (b has A.cols elements).
void AddRowSums(float alpha, const MatView &A, float beta, const VecView &b);

// Sets the threads used by OpenBLAS and by our OpenMP loops. Returns the previous BLAS setting.
int SetNumThreads(int n);
int GetNumThreads();

}  // namespace nnet2
