// The parameter update of Kaldi's AffineComponentPreconditionedOnline (src/nnet2/nnet-component.cc,
// AffineComponentPreconditionedOnline::Update; docs/ngd.md §8): both sides of the gradient are
// preconditioned by their own OnlineNaturalGradient, the product of the two gammas is folded into the learning
// rate, and a per-sample max-change bound limits the step.
#pragma once

#include "math/buffer.h"
#include "math/matrix.h"
#include "ngd/ngd.h"

namespace nnet2 {

struct AffineNgdInfo {
  float gamma_in = 1.0f, gamma_out = 1.0f;
  float minibatch_scale = 1.0f;  // < 1 when max-change clipped the step
};

// Scratch kept between calls so the training loop does not allocate (one per layer or per process).
struct AffineNgdWorkspace {
  DeviceBuffer buf;
};

// x [N, I] layer input, dy [N, O] derivative of the objective w.r.t. the layer output (not modified),
// W [O, I] and b [O] updated in place:  W += lr' X_out_hat^T X_in_hat[:, :I],  b += lr' X_out_hat^T X_in_hat[:, I]
// with X_in = [x | 1], X_out = dy, lr' = lr * gamma_in * gamma_out * minibatch_scale. max_change_per_sample <= 0
// disables the max-change. All arrays on one device. dx [N, I] (optional): also the input derivative dy W with W
// as given (Kaldi's order), fused with the update (AffineDerivAndUpdate); it is not written if this throws.
AffineNgdInfo AffineUpdatePreconditioned(const MatView &x, const MatView &dy, float lr, const MatView &W,
                                         const VecView &b, OnlineNaturalGradient *ngd_in,
                                         OnlineNaturalGradient *ngd_out, float max_change_per_sample,
                                         AffineNgdWorkspace *ws, const MatView *dx = nullptr);

}  // namespace nnet2
