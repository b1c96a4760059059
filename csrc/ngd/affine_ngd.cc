#include "ngd/affine_ngd.h"

#include <cmath>
#include <vector>

#include "math/blas.h"
#include "math/ops.h"

namespace nnet2 {
namespace {

// Sum of v's elements in index order, in double (as OnlineNaturalGradient sums its row norms).
double SumInOrder(const VecView &v, std::vector<float> *host) {
  const float *p = v.data;
  if (v.dev != Device::kCpu) {
    host->resize(v.dim);
    CopyMat(MatView(v.data, 1, v.dim, v.dim, v.dev), MatView(host->data(), 1, v.dim, v.dim));
    p = host->data();
  }
  double s = 0.0;
  for (index_t i = 0; i < v.dim; i++) s += p[i];
  return s;
}

}  // namespace

AffineNgdInfo AffineUpdatePreconditioned(const MatView &x, const MatView &dy, float lr, const MatView &W,
                                         const VecView &b, OnlineNaturalGradient *ngd_in,
                                         OnlineNaturalGradient *ngd_out, float max_change_per_sample,
                                         AffineNgdWorkspace *ws, const MatView *dx, bool dy_scratch) {
  const index_t N = x.rows, I = x.cols, O = dy.cols;
  NNET2_CHECK(dy.rows == N, "AffineUpdatePreconditioned: x has " << N << " rows, dy has " << dy.rows);
  CheckShape(W, O, I, "AffineUpdatePreconditioned W");
  NNET2_CHECK(b.dim == O, "AffineUpdatePreconditioned: bias has " << b.dim << " elements, W has " << O << " rows");
  CheckSameDevice(x.dev, dy.dev, "AffineUpdatePreconditioned");
  CheckSameDevice(x.dev, W.dev, "AffineUpdatePreconditioned");
  CheckSameDevice(x.dev, b.dev, "AffineUpdatePreconditioned");
  NNET2_CHECK(ngd_in != nullptr && ngd_out != nullptr && ws != nullptr,
              "AffineUpdatePreconditioned: missing preconditioner or workspace");
  NNET2_CHECK(ngd_in != ngd_out, "AffineUpdatePreconditioned: the input and output sides need separate "
                                 "preconditioners");
  if (dx != nullptr) {
    CheckShape(*dx, N, I, "AffineUpdatePreconditioned dx");
    CheckSameDevice(x.dev, dx->dev, "AffineUpdatePreconditioned");
  }
  AffineNgdInfo info;
  if (N == 0) return info;

  // Layout: X_in [N, I+1] | X_out [N, O] or T [R_out, I+1] | p_in [N] | p_out [N].
  // The output side is usually not materialized: X_out_hat = dy - H W_t, so X_out_hat^T X_in_hat =
  // dy^T X_in_hat - W_t^T (H^T X_in_hat), which trades the N x O x R product for R x O x I + N x R x I ones:
  // cheaper when N is larger than about I (big minibatches). Otherwise X_out_hat is formed as Kaldi does.
  const index_t R_out = ngd_out->options().rank;
  const bool factored = O > 1 && N * O > O * I + N * (I + 1);
  // X_out_hat in dy's own memory (see the header): the minibatch's dx first, while dy is still dy.
  const bool in_dy = dy_scratch && !factored && x.dev == Device::kCpu &&
                     (dx == nullptr || !AffineDerivAndUpdateSplits(O, x.dev));
  const index_t n_in = N * (I + 1), n_mid = factored ? R_out * (I + 1) : in_dy ? 0 : N * O;
  ws->buf.Reserve(n_in + n_mid + 2 * N, x.dev);
  const MatView X_in = ws->buf.Mat(N, I + 1);
  const VecView p_in = ws->buf.Vec(N, n_in + n_mid), p_out = ws->buf.Vec(N, n_in + n_mid + N);
  // The copies also give the row norms of X_in and dy, so a minibatch that does not re-estimate the Fisher
  // matrix needs no pass over them for tr(X X^T).
  std::vector<float> host;
  CopyMatAppendConstRowNorms(x, 1.0f, X_in, p_in);
  info.gamma_in = ngd_in->PreconditionDirections(X_in, &p_in, SumInOrder(p_in, &host));
  MatView H, W_t, G = dy;  // G: the output-side matrix the update multiplies (dy, or X_out_hat)
  if (factored) {
    info.gamma_out = ngd_out->PreconditionDirectionsFactored(dy, p_out, &H, &W_t);
  } else if (in_dy) {
    if (dx != nullptr) Gemm(false, false, 1.0f, dy, W, 0.0f, *dx);  // dx = dy W, W as given
    info.gamma_out = ngd_out->PreconditionDirections(dy, &p_out);
  } else {
    G = ws->buf.Mat(N, O, n_in);
    CopyMatRowNorms(dy, G, p_out);
    info.gamma_out = ngd_out->PreconditionDirections(G, &p_out, SumInOrder(p_out, &host));
  }
  const double scale = (double)info.gamma_in * info.gamma_out;

  if (max_change_per_sample > 0.0f) {
    // Sum of the Frobenius norms of the rank-1 terms: an upper bound on the norm of the whole step.
    std::vector<float> pi(N), po(N);
    CopyMat(MatView(p_in.data, 1, N, N, p_in.dev), MatView(pi.data(), 1, N, N));
    CopyMat(MatView(p_out.data, 1, N, N, p_out.dev), MatView(po.data(), 1, N, N));
    double s = 0.0;
    for (index_t i = 0; i < N; i++) s += std::sqrt((double)pi[i] * (double)po[i]);
    const double tot = (double)lr * scale * s, limit = (double)max_change_per_sample * (double)N;
    NNET2_CHECK(std::isfinite(tot), "AffineUpdatePreconditioned: non-finite step size (NaN/inf in x or dy?)");
    if (tot > limit) info.minibatch_scale = (float)(limit / tot);
  }
  const float local_lr = (float)((double)lr * scale * info.minibatch_scale);
  const MatView bias_in = X_in.ColRange(I, 1);  // the last column of X_in_hat: the bias's input
  if (dx != nullptr && !in_dy) {
    AffineDerivAndUpdate(dy, W, *dx, local_lr, G, X_in.ColRange(0, I), &bias_in, b);  // dx from W as given
  } else {
    Gemm(true, false, local_lr, G, X_in.ColRange(0, I), 1.0f, W);
    GemvTrans(local_lr, G, bias_in, 1.0f, b);
  }
  if (factored) {
    const MatView T = ws->buf.Mat(H.cols, I + 1, n_in);
    Gemm(true, false, 1.0f, H, X_in, 0.0f, T);  // T = H^T X_in_hat
    Gemm(true, false, -local_lr, W_t, T.ColRange(0, I), 1.0f, W);
    GemvTrans(-local_lr, W_t, T.ColRange(I, 1), 1.0f, b);
  }
  return info;
}

}  // namespace nnet2
