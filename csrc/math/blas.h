// GEMM and friends, dispatched to OpenBLAS (CPU) or cuBLAS (GPU). The only device branch for BLAS.
#pragma once

#include <string>

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

// An affine layer's input derivative and update, in Kaldi's order (the derivative sees W as given):
//   dx = dy W,  then  W += alpha G^T X  and  b += alpha (G^T v, or the row sums of G when v is null).
// dy, G [N, O]; W [O, I]; dx, X [N, I]; v [N, 1] (a column of a matrix); b [O]. On the CPU with 2+ threads
// each thread takes a block of W's rows for both products, through 1-thread BLAS calls, and keeps it in its
// cache between them; dx is then the sum of the threads' partial products (in thread order). OpenBLAS's own
// 2-thread split of each product ran the p-norm network's backward products at minibatch 128 about 15%
// slower (6.6 vs 5.7 ms a step; the sigmoid's 2048-wide ones the same within the noise). Only on 2-4 threads
// with at least 512 rows of W per thread; otherwise (1 or more than 4 threads, fewer rows, inside a parallel
// region) and on the GPU: the three products in turn.
void AffineDerivAndUpdate(const MatView &dy, const MatView &W, const MatView &dx, float alpha, const MatView &G,
                          const MatView &X, const MatView *v, const VecView &b);
// True when AffineDerivAndUpdate would split W's rows over threads for a W of `rows` rows on `dev` (otherwise it
// runs its three products in turn).
bool AffineDerivAndUpdateSplits(index_t rows, Device dev);

// OpenBLAS on 1 thread while this object lives, for a parallel region whose threads each make BLAS (or LAPACK)
// calls (a per-call switch inside the region would race with the other threads' calls, one of them then taking
// OpenBLAS's threaded path inside the region, which hangs). Made and destroyed by the master thread, outside
// the region.
class BlasSerialSection {
 public:
  BlasSerialSection();
  ~BlasSerialSection();
  BlasSerialSection(const BlasSerialSection &) = delete;
  BlasSerialSection &operator=(const BlasSerialSection &) = delete;

 private:
  int threads_;
};

// Sets the threads used by OpenBLAS and by our OpenMP loops. Returns the previous BLAS setting.
int SetNumThreads(int n);
int GetNumThreads();
// The name of the kernel family OpenBLAS picked for this CPU at load time ("SkylakeX", "Haswell", "Zen", ...):
// its own detection, or what OPENBLAS_CORETYPE in the environment forced.
std::string BlasCoreName();

}  // namespace nnet2
