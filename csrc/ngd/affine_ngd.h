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

// x [N, I] layer input, dy [N, O] derivative of the objective w.r.t. the layer output (not modified unless
// dy_scratch), W [O, I] and b [O] updated in place:  W += lr' X_out_hat^T X_in_hat[:, :I],
// b += lr' X_out_hat^T X_in_hat[:, I] with X_in = [x | 1], X_out = dy, lr' = lr * gamma_in * gamma_out *
// minibatch_scale. max_change_per_sample <= 0 disables the max-change. All arrays on one device. dx [N, I]
// (optional): also the input derivative dy W with W as given (Kaldi's order), fused with the update
// (AffineDerivAndUpdate); it is not written if this throws (unless dy_scratch: see below).
//
// dy_scratch: the caller has no further use for dy (a network's own derivative buffer), so on the CPU, where
// AffineDerivAndUpdate would run its products in turn anyway (1 thread, or no dx wanted), dx = dy W is made
// first and X_out_hat then replaces dy in place (Kaldi preconditions a copy, out_deriv_temp): no copy of dy
// and no second N x O matrix for the update to read. The same operations on the same values: the same bits.
// With the row split (2-4 threads and dx wanted) and on the GPU, dy is left as it is. If this throws (non-finite
// data), dx and dy may have been written.
AffineNgdInfo AffineUpdatePreconditioned(const MatView &x, const MatView &dy, float lr, const MatView &W,
                                         const VecView &b, OnlineNaturalGradient *ngd_in,
                                         OnlineNaturalGradient *ngd_out, float max_change_per_sample,
                                         AffineNgdWorkspace *ws, const MatView *dx = nullptr,
                                         bool dy_scratch = false);

}  // namespace nnet2
