// One contrastive-divergence (CD-1) step of a Bernoulli-Bernoulli or Gaussian-Bernoulli RBM, as Kaldi
// nnet1 runs it (src/nnet/nnet-rbm.h, src/nnetbin/rbm-train-cd1-frmshuff.cc).
// Hinton, "A practical guide to training restricted Boltzmann machines" (UTML TR 2010-003).
//
// Shapes: N frames in the minibatch, V visible units, H hidden units. W is [H, V] (hidden x visible,
// as nnet1 stores it), b_vis [V], b_hid [H]; dW, db_vis, db_hid are the momentum buffers (same shapes).
#pragma once

#include <cstdint>

#include "math/matrix.h"

namespace nnet2 {

struct RbmWorkspace {
  MatView pos_hid;  // [N, H] P(h | pos_vis)
  MatView neg_vis;  // [N, V] reconstruction from the sampled hidden states
  MatView neg_hid;  // [N, H] holds the sampled states h_s, then P(h | neg_vis)
};

struct RbmStepResult {
  double sse = 0.0;          // sum over the minibatch of (neg_vis - pos_vis)^2
  double pos_vis_std = 0.0;  // std over all elements of pos_vis (nnet1 ComputeStdDev)
  double neg_vis_std = 0.0;
  float lr = 0.f;            // learning rate to use next (x 0.9 when the explosion guard fired)
  bool skipped = false;      // the guard fired: parameters rescaled, momenta zeroed, no update
};

// The step, in nnet1's order:
//   pos_hid = sigmoid(pos_vis W^T + b_hid);  h_s = 1[u < pos_hid], u = Philox(seed) from offset
//   `counter` (N*H numbers);  neg_vis = h_s W + b_vis (sigmoid if Bernoulli visibles);
//   neg_hid = sigmoid(neg_vis W^T + b_hid);
//   Gaussian visibles and std(neg_vis) > 2 std(pos_vis): W, b_vis, b_hid *= std(pos)/std(neg),
//     momenta = 0, lr *= 0.9, no update;
//   else dW = mu dW + (lr/N)(pos_hid^T pos_vis - neg_hid^T neg_vis) - lr l2 W;  W += dW;
//        db_vis = mu db_vis + (lr/N) sum(pos_vis - neg_vis);  b_vis += db_vis;  (same for b_hid).
// Throws if pos_vis or the reconstruction contains NaN/Inf.
RbmStepResult RbmCd1Step(const MatView &pos_vis, const MatView &W, const VecView &b_vis, const VecView &b_hid,
                         const MatView &dW, const VecView &db_vis, const VecView &db_hid, float lr, float momentum,
                         float l2, bool gaussian_visible, std::uint64_t seed, std::uint64_t counter,
                         const RbmWorkspace &ws);

// Sums over all elements of a and b, of their squares, and of (a - b)^2 (float64). a, b: same shape.
struct PairMoments {
  double sum_a = 0, sumsq_a = 0, sum_b = 0, sumsq_b = 0, sse = 0;
};
PairMoments ComputePairMoments(const MatView &a, const MatView &b);

}  // namespace nnet2
