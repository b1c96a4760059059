#include "ngd/affine_ngd.h"

#include <cmath>
#include <vector>

#include "math/blas.h"
#include "math/ops.h"

namespace nnet2 {

AffineNgdInfo AffineUpdatePreconditioned(const MatView &x, const MatView &dy, float lr, const MatView &W,
                                         const VecView &b, OnlineNaturalGradient *ngd_in,
                                         OnlineNaturalGradient *ngd_out, float max_change_per_sample,
                                         AffineNgdWorkspace *ws) {
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
  AffineNgdInfo info;
  if (N == 0) return info;

  // Layout: X_in [N, I+1] | X_out [N, O] | p_in [N] | p_out [N].
  const index_t n_in = N * (I + 1), n_out = N * O;
  ws->buf.Reserve(n_in + n_out + 2 * N, x.dev);
  const MatView X_in = ws->buf.Mat(N, I + 1), X_out = ws->buf.Mat(N, O, n_in);
  const VecView p_in = ws->buf.Vec(N, n_in + n_out), p_out = ws->buf.Vec(N, n_in + n_out + N);
  CopyMatAppendConst(x, 1.0f, X_in);
  CopyMat(dy, X_out);

  info.gamma_in = ngd_in->PreconditionDirections(X_in, &p_in);
  info.gamma_out = ngd_out->PreconditionDirections(X_out, &p_out);
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
  Gemm(true, false, local_lr, X_out, X_in.ColRange(0, I), 1.0f, W);
  // b += local_lr X_out_hat^T X_in_hat[:, I]: the last column of X_in, as an [N, 1] matrix.
  Gemm(true, false, local_lr, X_out, X_in.ColRange(I, 1), 1.0f, MatView(b.data, O, 1, 1, b.dev));
  return info;
}

}  // namespace nnet2
