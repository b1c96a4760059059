#include "rbm/rbm.h"

#include <cmath>

#include "common/device.h"
#include "cuda/rbm_api.h"
#include "math/blas.h"
#include "math/random.h"
#include "rbm/rbm_math.h"

namespace nnet2 {
namespace {

MatView AsRow(const VecView &v) { return MatView(v.data, 1, v.dim, v.dim, v.dev); }

// y = f(y + b) row-wise (f = sigmoid unless linear).
void AddBiasActivate(const VecView &b, bool linear, const MatView &y) {
  if (y.dev == Device::kCuda) { NNET2_ON_GPU(cuda::AddBiasActivate(b, linear, y)); return; }
#pragma omp parallel for schedule(static)
  for (index_t i = 0; i < y.rows; i++) {
    float *yr = y.row(i);
    for (index_t j = 0; j < y.cols; j++) yr[j] = f::VisibleMean(yr[j] + b.data[j], linear);
  }
}

void ApplyIncrement(const MatView &w, const MatView &inc, float neg_lr_l2) {
  if (w.dev == Device::kCuda) { NNET2_ON_GPU(cuda::RbmApplyIncrement(w, inc, neg_lr_l2)); return; }
#pragma omp parallel for schedule(static)
  for (index_t i = 0; i < w.rows; i++) {
    float *wr = w.row(i), *ir = inc.row(i);
    for (index_t j = 0; j < w.cols; j++) f::RbmApplyIncrement(wr + j, ir + j, neg_lr_l2);
  }
}

// nnet1 ComputeStdDev: population std over all elements, variance clamped at 0.
double StdDev(double sum, double sumsq, double n) {
  const double mean = sum / n, var = sumsq / n - mean * mean;
  return std::sqrt(var < 0.0 ? 0.0 : var);
}

}  // namespace

PairMoments ComputePairMoments(const MatView &a, const MatView &b) {
  CheckSameDevice(a.dev, b.dev, "PairMoments");
  CheckShape(b, a.rows, a.cols, "PairMoments second argument");
  PairMoments m;
  if (a.dev == Device::kCuda) {
    double out[5] = {0, 0, 0, 0, 0};
    NNET2_ON_GPU(cuda::PairMoments(a, b, out));
    m.sum_a = out[0];
    m.sumsq_a = out[1];
    m.sum_b = out[2];
    m.sumsq_b = out[3];
    m.sse = out[4];
    return m;
  }
  double s1 = 0, s2 = 0, t1 = 0, t2 = 0, e = 0;
#pragma omp parallel for schedule(static) reduction(+ : s1, s2, t1, t2, e)
  for (index_t i = 0; i < a.rows; i++) {
    const float *ar = a.row(i), *br = b.row(i);
    for (index_t j = 0; j < a.cols; j++) {
      const double x = ar[j], y = br[j], d = y - x;
      s1 += x;
      s2 += x * x;
      t1 += y;
      t2 += y * y;
      e += d * d;
    }
  }
  m.sum_a = s1;
  m.sumsq_a = s2;
  m.sum_b = t1;
  m.sumsq_b = t2;
  m.sse = e;
  return m;
}

RbmStepResult RbmCd1Step(const MatView &pos_vis, const MatView &W, const VecView &b_vis, const VecView &b_hid,
                         const MatView &dW, const VecView &db_vis, const VecView &db_hid, float lr, float momentum,
                         float l2, bool gaussian_visible, std::uint64_t seed, std::uint64_t counter,
                         const RbmWorkspace &ws) {
  const index_t N = pos_vis.rows, V = W.cols, H = W.rows;
  NNET2_CHECK(N > 0, "RbmCd1Step: empty minibatch");
  NNET2_CHECK(pos_vis.cols == V, "RbmCd1Step: minibatch has " << pos_vis.cols << " columns, the RBM has " << V
                                                               << " visible units");
  CheckShape(dW, H, V, "RbmCd1Step momentum dW");
  NNET2_CHECK(b_vis.dim == V && db_vis.dim == V,
              "RbmCd1Step: visible bias / its momentum have " << b_vis.dim << " / " << db_vis.dim
                                                              << " elements, expected " << V);
  NNET2_CHECK(b_hid.dim == H && db_hid.dim == H,
              "RbmCd1Step: hidden bias / its momentum have " << b_hid.dim << " / " << db_hid.dim
                                                             << " elements, expected " << H);
  CheckShape(ws.pos_hid, N, H, "RbmCd1Step workspace pos_hid");
  CheckShape(ws.neg_vis, N, V, "RbmCd1Step workspace neg_vis");
  CheckShape(ws.neg_hid, N, H, "RbmCd1Step workspace neg_hid");
  for (Device d : {W.dev, dW.dev, b_vis.dev, b_hid.dev, db_vis.dev, db_hid.dev, ws.pos_hid.dev, ws.neg_vis.dev,
                   ws.neg_hid.dev})
    CheckSameDevice(pos_vis.dev, d, "RbmCd1Step");

  // Positive phase, sampling, reconstruction, negative phase.
  Gemm(false, true, 1.0f, pos_vis, W, 0.0f, ws.pos_hid);
  AddBiasActivate(b_hid, false, ws.pos_hid);
  BernoulliSample(ws.pos_hid, seed, counter, ws.neg_hid);
  Gemm(false, false, 1.0f, ws.neg_hid, W, 0.0f, ws.neg_vis);
  AddBiasActivate(b_vis, gaussian_visible, ws.neg_vis);
  Gemm(false, true, 1.0f, ws.neg_vis, W, 0.0f, ws.neg_hid);
  AddBiasActivate(b_hid, false, ws.neg_hid);

  const PairMoments m = ComputePairMoments(pos_vis, ws.neg_vis);
  NNET2_CHECK(std::isfinite(m.sum_a) && std::isfinite(m.sumsq_a),
              "RbmCd1Step: the minibatch (pos_vis) contains NaN or Inf");
  NNET2_CHECK(std::isfinite(m.sum_b) && std::isfinite(m.sumsq_b),
              "RbmCd1Step: the reconstruction (neg_vis) contains NaN or Inf: the RBM has diverged "
              "(lower the learning rate, or normalize Gaussian inputs to zero mean / unit variance)");
  RbmStepResult res;
  const double n = (double)N * (double)V;
  res.sse = m.sse;
  res.pos_vis_std = StdDev(m.sum_a, m.sumsq_a, n);
  res.neg_vis_std = StdDev(m.sum_b, m.sumsq_b, n);
  res.lr = lr;

  // Gaussian-Bernoulli explosion guard (nnet1): the reconstruction's spread feeds back into the weights.
  if (gaussian_visible && (float)res.pos_vis_std * 2.0f < (float)res.neg_vis_std) {
    const float scale = (float)(res.pos_vis_std / res.neg_vis_std);
    ScaleInPlace(W, scale);
    ScaleInPlace(AsRow(b_vis), scale);
    ScaleInPlace(AsRow(b_hid), scale);
    ScaleInPlace(dW, 0.0f);
    ScaleInPlace(AsRow(db_vis), 0.0f);
    ScaleInPlace(AsRow(db_hid), 0.0f);
    res.lr = lr * 0.9f;
    res.skipped = true;
    return res;
  }

  const float a = lr / (float)N;
  Gemm(true, false, -a, ws.neg_hid, ws.neg_vis, momentum, dW);
  Gemm(true, false, a, ws.pos_hid, pos_vis, 1.0f, dW);
  ApplyIncrement(W, dW, -lr * l2);
  AddRowSums(-a, ws.neg_vis, momentum, db_vis);
  AddRowSums(a, pos_vis, 1.0f, db_vis);
  ApplyIncrement(AsRow(b_vis), AsRow(db_vis), 0.0f);
  AddRowSums(-a, ws.neg_hid, momentum, db_hid);
  AddRowSums(a, ws.pos_hid, 1.0f, db_hid);
  ApplyIncrement(AsRow(b_hid), AsRow(db_hid), 0.0f);
  return res;
}

}  // namespace nnet2
