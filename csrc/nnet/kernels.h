// Component kernels (Kaldi nnet2 semantics, src/nnet2/nnet-component.cc). Each function takes views on one
// device and dispatches to the CPU loop here or the CUDA launcher in csrc/cuda/nnet_kernels.cu.
// Shapes: N = rows (frames in the minibatch); the matrices are row-major, rows may be strided.
#pragma once

#include "math/matrix.h"

namespace nnet2 {

// y[N,O] = x[N,I] W[O,I]^T + b[O]
void AffineForward(const MatView &x, const MatView &W, const VecView &b, const MatView &y);
// dx[N,I] = dy[N,O] W[O,I]  (uses the W it is given: call before AffineUpdate, as Kaldi does)
void AffineBackward(const MatView &dy, const MatView &W, const MatView &dx);
// W += lr dy^T x ;  b += lr sum_rows(dy)   (gradient ascent on the summed objective)
void AffineUpdate(const MatView &x, const MatView &dy, float lr, const MatView &W, const VecView &b);
// AffineBackward then AffineUpdate, fused (AffineDerivAndUpdate: split over W's rows on 2-4 CPU threads).
void AffineBackpropUpdate(const MatView &x, const MatView &dy, float lr, const MatView &W, const VecView &b,
                          const MatView &dx);

void SigmoidForward(const MatView &x, const MatView &y);
void SigmoidBackward(const MatView &y, const MatView &dy, const MatView &dx);  // dx = dy y (1 - y)
void TanhForward(const MatView &x, const MatView &y);
void TanhBackward(const MatView &y, const MatView &dy, const MatView &dx);  // dx = dy (1 - y^2)

// Contiguous groups of G = x.cols / y.cols inputs.
void PnormForward(const MatView &x, float p, const MatView &y);
void PnormBackward(const MatView &x, const MatView &y, const MatView &dy, float p, const MatView &dx);

void NormalizeForward(const MatView &x, const MatView &y);
void NormalizeBackward(const MatView &x, const MatView &dy, const MatView &dx);

// Row softmax with Kaldi's 1e-20 output floor.
void SoftmaxForward(const MatView &x, const MatView &y);
// Fused softmax + cross-entropy: y = softmax(z) (floored), dz = onehot(label) - y (the derivative of the
// objective sum_i log y[i, label_i], which is maximized), returns the objective and the number of rows
// whose arg-max equals the label. dz may alias z.
struct ObjfInfo {
  double objf = 0.0;
  double num_correct = 0.0;
};
ObjfInfo SoftmaxCrossEntropy(const MatView &z, const IntVecView &labels, const MatView &y, const MatView &dz);

// y[T, C*D] = concat_c x[clamp(t + offsets[c]), :]  (utterance edges repeated, as Kaldi pads at test time)
void SpliceFrames(const MatView &x, const IntVecView &offsets, const MatView &y);

// SumGroupComponent: y[:, k] = sum_{j in group k} x[:, j]; group_starts has K+1 entries.
void SumGroupForward(const MatView &x, const IntVecView &group_starts, const MatView &y);
void SumGroupBackward(const MatView &dy, const IntVecView &group_of_input, const MatView &dx);

}  // namespace nnet2
