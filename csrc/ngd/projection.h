// H = X W^T (N x R), the first product of every NG-SGD minibatch, on the CPU with W_t kept packed between its
// updates: for OnlineNaturalGradient (ngd.cc), which otherwise makes it with OpenBLAS (and always on the GPU).
//
// Why not OpenBLAS: with R = 20-80 and N = 128 the product is thin, and OpenBLAS packs both operands on every
// call. W_t changes only every update_period minibatches, so here it is packed once per change
// (ProjectionPack, right after the update makes it) into panels of 16 of its rows, k-major, and the kernel
// streams X directly: MR = 8 rows of X by 3 panels (48 columns of H) of FMA accumulators, one broadcast of X
// and three panel loads per k. Each row of X is computed by one thread start to end, so the bits do not depend
// on the thread count. AVX-512 and FMA; ProjectionAvailable() is false on other CPUs, and the caller then uses
// Gemm.
//
// Measured inside the p-norm training step (tools/bench_core.py's network, minibatch 128, the output sides:
// R 80, D 2000-3000): 0.36-0.38 ms a call against 0.50 ms through OpenBLAS on 1 thread. The second product,
// X_hat = X - H W, was also written this way (packed W, row norms from the registers) and was 25% faster
// than OpenBLAS's GEMM and norm pass with everything in cache, but inside the step (W_t no longer cached by the
// next minibatch) it was no faster, and its second packed copy of W_t cost more to write than it saved, so
// that product stays with OpenBLAS.
#pragma once

#include <vector>

#include "math/matrix.h"

namespace nnet2 {

// True on a CPU with AVX-512F and FMA (checked once).
bool ProjectionAvailable();

// W (R x D, CPU) as panels of 16 of its rows, k-major: rows_by_k[p][k][c] = W[16p + c][k] ([ceil(R/16)][D][16],
// rows past R zero).
struct PackedProjection {
  index_t rank = 0, dim = 0;
  std::vector<float> rows_by_k;
};
void ProjectionPack(const MatView &W, PackedProjection *packed);

// H [N, R] = X W^T. X [N, D], CPU; H may not alias X. Rows split over the threads in blocks of 8 when there is
// enough work.
void ProjectionH(const MatView &X, const PackedProjection &W, const MatView &H);

}  // namespace nnet2
