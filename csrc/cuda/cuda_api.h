// Declarations of the CUDA launchers (definitions in csrc/cuda/*.cu, compiled only in CUDA builds).
// No CUDA types here, so CPU-only translation units can include this header.
#pragma once

#include "math/matrix.h"

namespace nnet2 {
namespace cuda {

void Synchronize();
void Gemm(bool trans_a, bool trans_b, float alpha, const MatView &A, const MatView &B, float beta,
          const MatView &C);
void AddRowSums(float alpha, const MatView &A, float beta, const VecView &b);

// Component kernels (mirroring csrc/nnet/kernels.cc).
void CopyRowsFromVec(const VecView &b, const MatView &y);
void Sigmoid(const MatView &x, const MatView &y);
void SigmoidBackward(const MatView &y, const MatView &dy, const MatView &dx);
void Tanh(const MatView &x, const MatView &y);
void TanhBackward(const MatView &y, const MatView &dy, const MatView &dx);
void PnormForward(const MatView &x, float p, const MatView &y);
void PnormBackward(const MatView &x, const MatView &y, const MatView &dy, float p, const MatView &dx);
void NormalizeForward(const MatView &x, const MatView &y);
void NormalizeBackward(const MatView &x, const MatView &dy, const MatView &dx);
void SoftmaxForward(const MatView &x, const MatView &y);
// Per-row objective log y[label] (double) and correctness, then reduced on the host.
void SoftmaxCrossEntropy(const MatView &z, const IntVecView &labels, const MatView &y, const MatView &dz,
                         double *objf, double *num_correct);
void SpliceFrames(const MatView &x, const IntVecView &offsets, const MatView &y);
void SumGroupForward(const MatView &x, const IntVecView &group_starts, const MatView &y);
void SumGroupBackward(const MatView &dy, const IntVecView &group_of_input, const MatView &dx);

}  // namespace cuda
}  // namespace nnet2
