#include "ngd/ngd.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "math/blas.h"
#include "math/ops.h"
#include "math/row_ops.h"

#ifdef _OPENMP
#include <omp.h>
#endif

extern "C" {
// LAPACK from libscipy_openblas (prefixed symbols). Trailing size_t: Fortran hidden string lengths.
void scipy_dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
                   double *work, const int *lwork, int *iwork, const int *liwork, int *info, size_t, size_t);
void scipy_dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info, size_t);
void scipy_dtrtri_(const char *uplo, const char *diag, const int *n, double *a, const int *lda, int *info, size_t,
                   size_t);
}

namespace nnet2 {
namespace {

// Symmetric eigendecomposition of the column-major R x R matrix a (overwritten): eigenvalues descending in
// c, eigenvector of c[j] in column j of u (row-major: u[i * R + j]). Returns false if LAPACK failed.
bool SymEigDescending(int R, std::vector<double> *a, std::vector<double> *c, std::vector<double> *u) {
  std::vector<double> w(R), work(1 + 6 * R + 2 * R * R);
  std::vector<int> iwork(3 + 5 * R);
  int lwork = (int)work.size(), liwork = (int)iwork.size(), info = 0;
  scipy_dsyevd_("V", "L", &R, a->data(), &R, w.data(), work.data(), &lwork, iwork.data(), &liwork, &info, 1, 1);
  if (info != 0) return false;
  c->resize(R);
  u->resize((size_t)R * R);
  for (int j = 0; j < R; j++) {
    const int src = R - 1 - j;  // LAPACK returns ascending order
    (*c)[j] = w[src];
    for (int i = 0; i < R; i++) (*u)[(size_t)i * R + j] = (*a)[(size_t)src * R + i];
  }
  return true;
}

// Threads for running two independent parts of an update step side by side (Overlap): 2 on the CPU with 2+
// threads outside a parallel region, else 1.
int OverlapThreads() {
#ifdef _OPENMP
  return !omp_in_parallel() && GetNumThreads() >= 2 ? 2 : 1;
#else
  return 1;
#endif
}

// Runs first() and second() on two threads, each with 1-thread BLAS; in turn when OverlapThreads() is 1 (and
// a team of one runs both in turn). Neither may throw (an exception cannot leave an OpenMP region): they report
// failure through what they capture.
template <class First, class Second>
void Overlap(First &&first, Second &&second) {
#ifdef _OPENMP
  if (OverlapThreads() < 2) {
    first();
    second();
    return;
  }
  BlasSerialSection serial;
#pragma omp parallel num_threads(2)
  {
    const int team = omp_get_num_threads();
    if (omp_get_thread_num() == 0) first();
    if (omp_get_thread_num() == (team > 1 ? 1 : 0)) second();
  }
#else
  first();
  second();
#endif
}

// Gram-Schmidt on the rows of w (R x D, row-major), repeating a row when most of it was removed (its
// remainder is then mostly roundoff) and replacing an exactly-zero row by a fixed pseudo-random one.
void OrthogonalizeRows(index_t R, index_t D, std::vector<double> *w) {
  std::mt19937 rng(1234);
  std::normal_distribution<double> gauss;
  for (index_t i = 0; i < R; i++) {
    double *ri = w->data() + i * D;
    for (int attempt = 0;; attempt++) {
      NNET2_CHECK(attempt <= 100, "OnlineNaturalGradient: Gram-Schmidt did not converge on row " << i);
      double start = 0.0;
      for (index_t k = 0; k < D; k++) start += ri[k] * ri[k];
      for (index_t j = 0; j < i; j++) {
        const double *rj = w->data() + j * D;
        double p = 0.0;
        for (index_t k = 0; k < D; k++) p += ri[k] * rj[k];
        for (index_t k = 0; k < D; k++) ri[k] -= p * rj[k];
      }
      double end = 0.0;
      for (index_t k = 0; k < D; k++) end += ri[k] * ri[k];
      if (end > 0.01 * start && end > 0.0) {
        const double s = 1.0 / std::sqrt(end);
        for (index_t k = 0; k < D; k++) ri[k] *= s;
        break;
      }
      if (end == 0.0)
        for (index_t k = 0; k < D; k++) ri[k] = gauss(rng);
    }
  }
}

}  // namespace

void NgdOptions::Check() const {
  NNET2_CHECK(rank > 0, "OnlineNaturalGradient: rank must be > 0, got " << rank);
  NNET2_CHECK(update_period > 0, "OnlineNaturalGradient: update_period must be > 0, got " << update_period);
  NNET2_CHECK(num_samples_history > 0.0 && num_samples_history <= 1.0e6,
              "OnlineNaturalGradient: num_samples_history must be in (0, 1e6], got " << num_samples_history);
  NNET2_CHECK(alpha >= 0.0, "OnlineNaturalGradient: alpha must be >= 0, got " << alpha);
}

OnlineNaturalGradient::OnlineNaturalGradient(const NgdOptions &opts) : opts_(opts) { opts_.Check(); }

void OnlineNaturalGradient::Reset() {
  t_ = -1;
  num_updates_skipped_ = 0;
  rank_ = 0;
  dim_ = 0;
  rho_ = 0.0;
  d_.clear();
}

void OnlineNaturalGradient::SetOptions(const NgdOptions &opts) {
  opts.Check();
  const bool reshape = opts.rank != opts_.rank;
  opts_ = opts;
  if (reshape) Reset();
}

MatView OnlineNaturalGradient::W() const {
  if (!initialized() || rank_ == 0) return MatView();
  return WView();
}

MatView OnlineNaturalGradient::WView() const {
  return wj_[cur_].Mat(2 * rank_, dim_).RowRange(0, rank_);
}

double OnlineNaturalGradient::Eta(index_t N) const {
  const double eta = 1.0 - std::exp(-(double)N / opts_.num_samples_history);
  return std::min(eta, 0.9);  // eta near 1 gives NaNs for an all-zero minibatch
}

void OnlineNaturalGradient::ComputeEt(const std::vector<double> &d, double rho, std::vector<double> *e,
                                      std::vector<double> *sqrt_e, std::vector<double> *inv_sqrt_e) const {
  const index_t R = (index_t)d.size();
  double sum_d = 0.0;
  for (double v : d) sum_d += v;
  const double beta = rho * (1.0 + opts_.alpha) + opts_.alpha * sum_d / (double)dim_;
  e->resize(R);
  sqrt_e->resize(R);
  inv_sqrt_e->resize(R);
  for (index_t i = 0; i < R; i++) {
    (*e)[i] = 1.0 / (beta / d[i] + 1.0);
    (*sqrt_e)[i] = std::sqrt((*e)[i]);
    (*inv_sqrt_e)[i] = 1.0 / (*sqrt_e)[i];
  }
}

void OnlineNaturalGradient::InitDefault(index_t D, Device dev) {
  dim_ = D;
  dev_ = dev;
  rank_ = std::min<index_t>(opts_.rank, D - 1);
  const index_t R = rank_;
  rho_ = kEpsilon;
  d_.assign(R, kEpsilon);
  for (auto &b : wj_) b.Reserve(2 * R * D, dev);
  cur_ = 0;
  // R_0: row r has entries at columns r, r+R, r+2R, ... (1.1 for the first, 1 for the rest), unit rows; the
  // 1.1 keeps every combination of rows away from the all-ones vector. W_0 = sqrt(e_0) R_0 with e_0 the
  // same for every row when d = rho = epsilon.
  const double e0 = 1.0 / (2.0 + (double)(D + R) * opts_.alpha / (double)D);
  std::vector<float> w0((size_t)R * D, 0.0f);
  for (index_t r = 0; r < R; r++) {
    const index_t count = (D - 1 - r) / R + 1;
    const double norm = 1.0 / std::sqrt(1.1 * 1.1 + (double)(count - 1));
    for (index_t c = r, k = 0; c < D; c += R, k++)
      w0[r * D + c] = (float)(std::sqrt(e0) * norm * (k == 0 ? 1.1 : 1.0));
  }
  CopyMat(MatView(w0.data(), R, D, D), WView());
  w_version_++;
  t_ = 0;
}

void OnlineNaturalGradient::Init(const MatView &X0) {
  InitDefault(X0.cols, X0.dev);
  // Three full updates on a scratch copy of the first minibatch: a cheap substitute for an eigensolve.
  x0_.Reserve(X0.rows * X0.cols, X0.dev);
  const MatView X = x0_.Mat(X0.rows, X0.cols);
  h_.Reserve(X0.rows * (rank_ + 1), X0.dev);
  for (int it = 0; it < kNumInitIters; it++) {
    CopyMat(X0, X);
    h_.Reserve(X0.rows * (rank_ + 1), X0.dev);
    Step(X, h_.Vec(X0.rows, X0.rows * rank_), true);
  }
  t_ = 0;
  num_updates_skipped_ = 0;
}

void OnlineNaturalGradient::SetState(const MatView &W, const std::vector<double> &d, double rho, int t,
                                     int num_updates_skipped, Device dev) {
  NNET2_CHECK(W.rows >= 1 && W.cols >= 2 && W.rows < W.cols,
              "OnlineNaturalGradient::SetState: W must be R x D with 1 <= R < D, got " << W.rows << " x " << W.cols);
  NNET2_CHECK((index_t)d.size() == W.rows, "OnlineNaturalGradient::SetState: d has " << d.size()
                                                << " elements, W has " << W.rows << " rows");
  NNET2_CHECK(rho > 0.0, "OnlineNaturalGradient::SetState: rho must be > 0, got " << rho);
  for (double v : d) NNET2_CHECK(v > 0.0, "OnlineNaturalGradient::SetState: d must be > 0, got " << v);
  NNET2_CHECK(t >= 0 && num_updates_skipped >= 0, "OnlineNaturalGradient::SetState: negative counters");
  rank_ = W.rows;
  dim_ = W.cols;
  dev_ = dev;
  for (auto &b : wj_) b.Reserve(2 * rank_ * dim_, dev);
  cur_ = 0;
  CopyMat(W, WView());
  w_version_++;
  d_ = d;
  rho_ = rho;
  t_ = t;
  num_updates_skipped_ = num_updates_skipped;
}

double OnlineNaturalGradient::SumRowNorms(const MatView &X, const VecView &row_prod) {
  RowSquaredNorms(X, row_prod);
  host_rows_.resize(X.rows);
  CopyMat(MatView(row_prod.data, 1, X.rows, X.rows, row_prod.dev), MatView(host_rows_.data(), 1, X.rows, X.rows));
  double s = 0.0;
  for (float v : host_rows_) s += v;
  return s;
}

float OnlineNaturalGradient::PreconditionDirections(const MatView &X, const VecView *row_prod, double tr_x) {
  const index_t N = X.rows, D = X.cols;
  if (row_prod != nullptr) {
    NNET2_CHECK(row_prod->dim == N, "OnlineNaturalGradient: row_prod has " << row_prod->dim << " elements for "
                                                                           << N << " rows");
    CheckSameDevice(row_prod->dev, X.dev, "OnlineNaturalGradient row_prod");
  }
  if (N == 0) return 1.0f;
  if (D == 1) {  // rank would be 0: the natural gradient with rescaling is the identity
    if (row_prod != nullptr) RowSquaredNorms(X, *row_prod);
    return 1.0f;
  }
  if (initialized()) {
    NNET2_CHECK(D == dim_, "OnlineNaturalGradient: got a matrix with " << D << " columns, but the preconditioner "
                           "was initialized with dimension " << dim_ << " (call reset() to change it)");
    NNET2_CHECK(X.dev == dev_, "OnlineNaturalGradient: data is on " << DeviceName(X.dev) << " but the state is on "
                               << DeviceName(dev_) << " (call reset() to move it)");
  } else {
    Init(X);
  }
  h_.Reserve(N * (rank_ + 1), X.dev);
  return Step(X, row_prod != nullptr ? *row_prod : h_.Vec(N, N * rank_), true, tr_x);
}

float OnlineNaturalGradient::PreconditionDirectionsFactored(const MatView &X, const VecView &row_prod, MatView *H,
                                                            MatView *W_used) {
  const index_t N = X.rows, D = X.cols;
  NNET2_CHECK(row_prod.dim == N, "OnlineNaturalGradient: row_prod has " << row_prod.dim << " elements for " << N
                                                                        << " rows");
  CheckSameDevice(row_prod.dev, X.dev, "OnlineNaturalGradient row_prod");
  NNET2_CHECK(N > 0 && D > 1, "OnlineNaturalGradient::PreconditionDirectionsFactored: needs N > 0 and D > 1, got "
                                  << N << " x " << D);
  if (initialized()) {
    NNET2_CHECK(D == dim_, "OnlineNaturalGradient: got a matrix with " << D << " columns, but the preconditioner "
                           "was initialized with dimension " << dim_ << " (call reset() to change it)");
    NNET2_CHECK(X.dev == dev_, "OnlineNaturalGradient: data is on " << DeviceName(X.dev) << " but the state is on "
                               << DeviceName(dev_) << " (call reset() to move it)");
  } else {
    Init(X);
  }
  h_.Reserve(N * (rank_ + 1), X.dev);
  const MatView W_t = WView();  // Step swaps the [W; J] buffers but leaves W_t where it is
  const float gamma = Step(X, row_prod, false);
  *H = h_.Mat(N, rank_);
  *W_used = W_t;
  return gamma;
}

// ||x_i - W^T h_i||^2 = ||x_i||^2 + h_i . (h_i (W W^T - 2 I)), without forming X_hat: an R-sized computation
// instead of an N x D x R product. Returns tr(X X^T) and tr(X_hat X_hat^T).
void OnlineNaturalGradient::FactoredRowNorms(const MatView &X, const MatView &H, const MatView &W,
                                             const VecView &row_prod, double *tr_x, double *tr_xhat) {
  const index_t N = X.rows, R = rank_;
  // M = W W^T - 2I only changes when W does (every update_period calls): cached at the front of q_.
  const index_t need = R * R + N * R + N;
  if (need > q_.capacity() || q_.dev() != dev_) {
    q_.Reserve(need, dev_);
    m_version_ = -1;
  }
  const MatView M = q_.Mat(R, R);
  if (m_version_ != w_version_) {
    Gemm(false, true, 1.0f, W, W, 0.0f, M);
    host_small_.resize(R * R);
    CopyMat(M, MatView(host_small_.data(), R, R, R));
    for (index_t i = 0; i < R; i++) host_small_[i * R + i] -= 2.0f;
    CopyMat(MatView(host_small_.data(), R, R, R), M);
    m_version_ = w_version_;
  }
  const MatView Q = q_.Mat(N, R, R * R);
  const VecView dots = q_.Vec(N, R * R + N * R);
  Gemm(false, false, 1.0f, H, M, 0.0f, Q);
  RowDots(H, Q, dots);
  *tr_x = SumRowNorms(X, row_prod);
  std::vector<float> nx(host_rows_);
  CopyMat(MatView(dots.data, 1, N, N, dots.dev), MatView(host_rows_.data(), 1, N, N));
  double s = 0.0;
  for (index_t i = 0; i < N; i++) {
    // Clamped at 0: cancellation can leave a tiny negative where X_hat is ~0.
    host_rows_[i] = std::max(0.0f, (float)((double)nx[i] + host_rows_[i]));
    s += host_rows_[i];
  }
  CopyMat(MatView(host_rows_.data(), 1, N, N), MatView(row_prod.data, 1, N, N, row_prod.dev));
  *tr_xhat = s;
}

float OnlineNaturalGradient::Step(const MatView &X, const VecView &row_prod, bool in_place, double tr_x_given) {
  const index_t N = X.rows, D = X.cols, R = rank_;
  const int Ri = (int)R;
  const double eta = Eta(N);
  const MatView WJ = wj_[cur_].Mat(2 * R, D);
  const MatView W = WJ.RowRange(0, R), J = WJ.RowRange(R, R);
  const MatView H = h_.Mat(N, R);

  // On an AVX-512 CPU, H comes from W_t packed once per change (projection.h); elsewhere from OpenBLAS/cuBLAS.
  const bool packed = dev_ == Device::kCpu && ProjectionAvailable();
  if (packed && packed_version_ != w_version_) {
    ProjectionPack(W, &packed_);
    packed_version_ = w_version_;
  }
  if (packed)
    ProjectionH(X, packed_, H);
  else
    Gemm(false, true, 1.0f, X, W, 0.0f, H);  // H = X W^T

  const bool update = !(t_ >= kNumInitialUpdates && num_updates_skipped_ < opts_.update_period - 1);
  std::vector<double> L, K, e, sqrt_e, inv_sqrt_e;
  // On the CPU with N <= D, J and K = J J^T are made in two halves of J's columns, each K_h = J_h J_h^T on the
  // thread that made J_h (side by side on 2+ threads, in turn on 1: the same bits), and K = K_0 + K_1.
  const bool halves = update && dev_ == Device::kCpu && N <= D && D >= 2;
  if (update) {
    small_.Reserve(3 * R * R, dev_);
    const MatView LK = small_.Mat(2 * R, R);
    if (halves) {
      const index_t D0 = D / 2;
      auto half = [&](index_t c0, index_t n, const MatView &Kh) {
        Gemm(true, false, 1.0f, H, X.ColRange(c0, n), 0.0f, J.ColRange(c0, n));  // J_h = H^T X_h
        SyrkLower(false, 1.0f, J.ColRange(c0, n), 0.0f, Kh);                      // K_h = J_h J_h^T
      };
      auto first = [&]() { half(0, D0, LK.RowRange(R, R)); };
      auto second = [&]() { half(D0, D - D0, small_.Mat(R, R, 2 * R * R)); };
      Overlap(first, second);
      SyrkLower(true, 1.0f, H, 0.0f, LK.RowRange(0, R));  // L = H^T H
    } else {
      Gemm(true, false, 1.0f, H, X, 0.0f, J);  // J = H^T X
      if (N > D) {
        Gemm(false, true, 1.0f, WJ, J, 0.0f, LK);  // [L; K] = [W; J] J^T  (L = W J^T = H^T H)
      } else {
        // Lower triangles only (Kaldi's SymAddMat2): half the FLOPs of the full products.
        SyrkLower(true, 1.0f, H, 0.0f, LK.RowRange(0, R));   // L = H^T H
        SyrkLower(false, 1.0f, J, 0.0f, LK.RowRange(R, R));  // K = J J^T
      }
    }
    const index_t blocks = halves ? 3 : 2;  // L, K (and K_1)
    host_small_.resize(blocks * R * R);
    CopyMat(small_.Mat(blocks * R, R), MatView(host_small_.data(), blocks * R, R, R));
    L.resize(R * R);
    K.resize(R * R);
    for (index_t i = 0; i < R; i++)
      for (index_t j = 0; j < R; j++) {
        if (N > D) {
          L[i * R + j] = 0.5 * ((double)host_small_[i * R + j] + host_small_[j * R + i]);
          K[i * R + j] = 0.5 * ((double)host_small_[(R + i) * R + j] + host_small_[(R + j) * R + i]);
        } else {
          const index_t lo = std::max(i, j) * R + std::min(i, j);
          L[i * R + j] = host_small_[lo];
          K[i * R + j] = host_small_[R * R + lo];
          if (halves) K[i * R + j] += host_small_[2 * R * R + lo];
        }
      }
    ComputeEt(d_, rho_, &e, &sqrt_e, &inv_sqrt_e);
  }

  // Z = Y Y^T with Y = R_t (eta S_t + (1 - eta) F_t): one power-method step on the smoothed scatter. Double,
  // and scaled to unit trace, because it is proportional to the fourth power of the data. Its eigenproblem
  // needs only L and K, so on the CPU with 2+ threads it runs beside X_hat = X - H W (Overlap below).
  const double a = eta / (double)N, b = 1.0 - eta;
  std::vector<double> c, U;
  double z_scale = 1.0;
  auto eigen = [&]() -> bool {
    std::vector<double> Z(R * R);
    double tr_z = 0.0;
    for (index_t i = 0; i < R; i++) {
      const double ci = d_[i] + rho_;
      for (index_t j = 0; j < R; j++) {
        const double cj = d_[j] + rho_;
        const double s = inv_sqrt_e[i] * inv_sqrt_e[j];
        Z[i * R + j] = a * a * s * K[i * R + j] + a * b * s * L[i * R + j] * (ci + cj) + (i == j ? b * b * ci * ci : 0.0);
      }
      tr_z += Z[i * R + i];
    }
    z_scale = std::max(1.0, tr_z);
    for (double &v : Z) v /= z_scale;
    return SymEigDescending(Ri, &Z, &c, &U);
  };

  // B = J + ((1-eta)/(eta/N)) diag(d_t + rho_t) W, formed in place of J (see W_{t+1} below): it needs no
  // eigenvalue either.
  auto form_b = [&]() {
    host_small_.resize(R);
    for (index_t i = 0; i < R; i++) host_small_[i] = (float)((b / a) * (d_[i] + rho_));
    CopyMat(MatView(host_small_.data(), 1, R, R), small_.Mat(1, R, R * R));
    AddRowsScaled(small_.Vec(R, R * R), W, J);
  };

  double tr_x = 0.0, tr_xhat = 0.0;
  bool eigen_ok = false, eigen_done = false;
  if (in_place) {
    if (!update) tr_x = tr_x_given >= 0.0 ? tr_x_given : SumRowNorms(X, row_prod);
    auto subtract = [&]() {
      Gemm(false, false, -1.0f, H, W, 1.0f, X);  // X_hat = X - H W
      tr_xhat = SumRowNorms(X, row_prod);
    };
    if (update && dev_ == Device::kCpu && OverlapThreads() >= 2) {
      Overlap([&]() { eigen_ok = eigen(); },
              [&]() {
                subtract();
                form_b();
              });
      eigen_done = true;
    } else {
      subtract();
    }
    if (update) {
      // tr(X X^T) = tr(X_hat X_hat^T) + sum_i L_ii (2 - e_i): avoids a second pass over X.
      tr_x = tr_xhat;
      for (index_t i = 0; i < R; i++) tr_x += L[i * R + i] * (2.0 - e[i]);
    }
  } else {
    FactoredRowNorms(X, H, W, row_prod, &tr_x, &tr_xhat);
  }
  NNET2_CHECK(std::isfinite(tr_xhat) && std::isfinite(tr_x),
              "OnlineNaturalGradient: non-finite values in the minibatch (" << N << " x " << D << ")");
  const float gamma = tr_xhat == 0.0 ? 1.0f : (float)std::sqrt(tr_x / tr_xhat);
  if (!update) {
    num_updates_skipped_++;
    return gamma;
  }

  if (!eigen_done) eigen_ok = eigen();
  NNET2_CHECK(eigen_ok, "OnlineNaturalGradient: eigendecomposition failed (non-finite data in the minibatch?)");
  for (double &v : c) v *= z_scale;

  bool must_reorth = c[0] > kConditionThreshold * c[R - 1];  // also true if c[R-1] < 0
  const double c_floor = std::pow(rho_ * (1.0 - eta), 2);
  for (double &v : c)
    if (v < c_floor) {
      v = c_floor;
      must_reorth = true;
    }

  std::vector<double> sqrt_c(R);
  double sum_sqrt_c = 0.0, max_sqrt_c = 0.0, sum_d = 0.0;
  for (index_t i = 0; i < R; i++) {
    sqrt_c[i] = std::sqrt(c[i]);
    sum_sqrt_c += sqrt_c[i];
    max_sqrt_c = std::max(max_sqrt_c, sqrt_c[i]);
    sum_d += d_[i];
  }
  // Chosen so that tr F_{t+1} = tr(eta S_t + (1 - eta) F_t).
  double rho1 = (a * tr_x + b * ((double)D * rho_ + sum_d) - sum_sqrt_c) / (double)(D - R);
  std::vector<double> d1(R);
  for (index_t i = 0; i < R; i++) d1[i] = sqrt_c[i] - rho1;
  const double floor_val = std::max(kEpsilon, kDelta * max_sqrt_c);
  rho1 = std::max(rho1, floor_val);
  for (double &v : d1) v = std::max(v, floor_val);

  // W_{t+1} = A B with B = J + ((1-eta)/(eta/N)) diag(d_t + rho_t) W and
  // A = (eta/N) E_{t+1}^{1/2} C^{-1/2} U^T E_t^{-1/2}. B is formed in place of J (not needed after this;
  // W_t must stay intact for PreconditionDirectionsFactored): R x D work, then one R x R x D GEMM.
  std::vector<double> e1, sqrt_e1, inv_sqrt_e1;
  ComputeEt(d1, rho1, &e1, &sqrt_e1, &inv_sqrt_e1);
  if (!eigen_done) form_b();
  host_small_.resize(R * R);
  for (index_t i = 0; i < R; i++) {
    const double fi = a * sqrt_e1[i] / sqrt_c[i];
    for (index_t j = 0; j < R; j++) host_small_[i * R + j] = (float)(fi * U[j * R + i] * inv_sqrt_e[j]);
  }
  const MatView A = small_.Mat(R, R);
  CopyMat(MatView(host_small_.data(), R, R, R), A);
  const MatView W1 = wj_[1 - cur_].Mat(2 * R, D).RowRange(0, R);
  Gemm(false, false, 1.0f, A, J, 0.0f, W1);

  if (must_reorth) Reorthogonalize(d1, rho1, W1);

  cur_ = 1 - cur_;
  w_version_++;
  if (packed) {  // now, while W_{t+1} is in cache (by the next minibatch it may not be)
    ProjectionPack(W1, &packed_);
    packed_version_ = w_version_;
  }
  t_ += 1;
  num_updates_skipped_ = 0;
  d_ = d1;
  rho_ = rho1;
  return gamma;
}

void OnlineNaturalGradient::Reorthogonalize(const std::vector<double> &d1, double rho1, const MatView &W1) {
  const index_t R = rank_, D = dim_;
  const int Ri = (int)R;
  std::vector<double> e1, sqrt_e1, inv_sqrt_e1;
  ComputeEt(d1, rho1, &e1, &sqrt_e1, &inv_sqrt_e1);

  small_.Reserve(2 * R * R, dev_);
  const MatView Od = small_.Mat(R, R);
  Gemm(false, true, 1.0f, W1, W1, 0.0f, Od);
  host_small_.resize(R * R);
  CopyMat(Od, MatView(host_small_.data(), R, R, R));
  // O = E^{-1/2} W W^T E^{-1/2} (= R R^T), symmetric: column-major storage equals row-major.
  std::vector<double> O(R * R);
  double max_dev = 0.0;
  for (index_t i = 0; i < R; i++)
    for (index_t j = 0; j < R; j++) {
      const double lo = host_small_[std::max(i, j) * R + std::min(i, j)];  // lower triangle, as Kaldi reads it
      O[i * R + j] = lo * inv_sqrt_e1[i] * inv_sqrt_e1[j];
      max_dev = std::max(max_dev, std::fabs(O[i * R + j] - (i == j ? 1.0 : 0.0)));
    }
  if (max_dev <= kOrthogonalityTolerance) return;
  num_reorth_++;

  // Cholesky O = C C^T, then C^{-1}; col-major lower triangle C^{-1}(i, j) = O[j * R + i], i >= j.
  int info = 0;
  scipy_dpotrf_("L", &Ri, O.data(), &Ri, &info, 1);
  bool ok = info == 0;
  if (ok) {
    scipy_dtrtri_("L", "N", &Ri, O.data(), &Ri, &info, 1, 1);
    ok = info == 0;
  }
  if (ok) {
    double mx = -HUGE_VAL;
    for (index_t j = 0; j < R; j++)
      for (index_t i = j; i < R; i++) mx = std::max(mx, O[j * R + i]);
    ok = mx < 100.0;  // false for NaN too
  }
  if (!ok) {
    // Gram-Schmidt on the host: slower but robust; then W = E^{1/2} R.
    num_gram_schmidt_++;
    std::vector<float> wf(R * D);
    CopyMat(W1, MatView(wf.data(), R, D, D));
    std::vector<double> w(wf.begin(), wf.end());
    OrthogonalizeRows(R, D, &w);
    for (index_t i = 0; i < R; i++)
      for (index_t k = 0; k < D; k++) wf[i * D + k] = (float)(w[i * D + k] * sqrt_e1[i]);
    CopyMat(MatView(wf.data(), R, D, D), W1);
    return;
  }
  // W <- (E^{1/2} C^{-1} E^{-1/2}) W: lower-triangular, so the leading rows (largest eigenvalues) are kept.
  host_small_.assign(R * R, 0.0f);
  for (index_t i = 0; i < R; i++)
    for (index_t j = 0; j <= i; j++)
      host_small_[i * R + j] = (float)(O[j * R + i] * (i == j ? 1.0 : sqrt_e1[i] * inv_sqrt_e1[j]));
  CopyMat(MatView(host_small_.data(), R, R, R), Od);
  // Not the old W's rows as scratch: PreconditionDirectionsFactored hands W_t to the caller after the step.
  reorth_.Reserve(R * D, dev_);
  const MatView scratch = reorth_.Mat(R, D);
  Gemm(false, false, 1.0f, Od, W1, 0.0f, scratch);
  CopyMat(scratch, W1);
}

}  // namespace nnet2
