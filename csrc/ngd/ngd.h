// Online natural-gradient preconditioner (Kaldi's OnlinePreconditioner, src/nnet2/nnet-precondition-online.cc,
// HEAD semantics; docs/ngd.md). Paper: Povey, Zhang, Khudanpur, "Parallel training of DNNs with
// Natural Gradient and Parameter Averaging", ICLR 2015 workshop, arXiv:1410.7455.
//
// It keeps an online, smoothed "rank R + scaled identity" estimate of the scatter of the rows it sees,
//   F_t = R_t^T diag(d_t) R_t + rho_t I,  R_t R_t^T = I,
// stored as W_t = E_t^{1/2} R_t (R x D, on the device of the data), and replaces a minibatch X (N x D) by
// X_hat = X (I - W_t^T W_t) = beta_t X G_t^{-1} with G_t = F_t + (alpha/D) tr(F_t) I. The caller multiplies by
// the returned gamma = ||X||_F / ||X_hat||_F itself. The D-sized products go through Gemm (GPU for device
// data); the R x R algebra (double precision) runs on the host. One object per process and per matrix
// side: no locking (Kaldi's try-lock Hogwild scheme is not needed here).
#pragma once

#include <vector>

#include "math/buffer.h"
#include "math/matrix.h"
#include "ngd/projection.h"

namespace nnet2 {

struct NgdOptions {
  int rank = 40;                       // R (reduced to D-1 if R >= D)
  int update_period = 1;               // after the first 10 updates, re-estimate F every this many calls
  double num_samples_history = 2000.0; // S: eta = 1 - exp(-N/S), capped at 0.9
  double alpha = 4.0;                  // identity smoothing: G = F + (alpha/D) tr(F) I
  void Check() const;                  // throws nnet2::Error naming the bad option
};

class OnlineNaturalGradient {
 public:
  static constexpr double kEpsilon = 1.0e-10;         // absolute floor on rho and d
  static constexpr double kDelta = 5.0e-4;            // floor relative to the largest sqrt(c)
  static constexpr double kConditionThreshold = 1.0e6;
  static constexpr double kOrthogonalityTolerance = 1.0e-3;
  static constexpr int kNumInitialUpdates = 10;
  static constexpr int kNumInitIters = 3;

  explicit OnlineNaturalGradient(const NgdOptions &opts = NgdOptions());

  // X [N, D] is replaced in place by X_hat. If row_prod is given (N elements, same device as X) it receives
  // ||X_hat_i||^2. Returns gamma. The first call fixes D and the device; D == 1 is the identity (gamma = 1).
  // tr_x >= 0: the caller already has tr(X X^T) (the sum of ||X_i||^2 in row order, e.g. from a fused copy,
  // CopyMatRowNorms): minibatches that do not update use it instead of a pass over X (same value).
  float PreconditionDirections(const MatView &X, const VecView *row_prod = nullptr, double tr_x = -1.0);

  // Same computation without forming X_hat: X [N, D] is left unchanged and X_hat = X - H W_used, with
  // H [N, R] and W_used [R, D] (W_t before this call's update) returned as views valid until the next call.
  // row_prod (N, required, same device as X) receives ||X_hat_i||^2. Used by the affine update, where
  // X_hat^T Y = X^T Y - W_used^T (H^T Y) saves the N x D x R product. Returns gamma. Needs D > 1.
  float PreconditionDirectionsFactored(const MatView &X, const VecView &row_prod, MatView *H, MatView *W_used);

  // Forgets the Fisher estimate (the next call re-initializes from its minibatch); options are kept.
  void Reset();

  const NgdOptions &options() const { return opts_; }
  // Changing an option resets the state if it changes the shape of the state (the rank).
  void SetOptions(const NgdOptions &opts);

  bool initialized() const { return t_ >= 0; }
  int t() const { return t_; }
  int num_updates_skipped() const { return num_updates_skipped_; }
  int num_reorthogonalizations() const { return num_reorth_; }  // diagnostics: Cholesky or Gram-Schmidt runs
  int num_gram_schmidt() const { return num_gram_schmidt_; }
  index_t rank() const { return rank_; }  // effective rank (0 before init or when D == 1)
  index_t dim() const { return dim_; }
  double rho() const { return rho_; }
  const std::vector<double> &d() const { return d_; }
  Device device() const { return dev_; }
  // W_t (R x D) on the device of the data; valid until the next call.
  MatView W() const;
  // Installs a state (for tests and checkpoint experiments). W (R x D, any device) is copied to `dev`.
  void SetState(const MatView &W, const std::vector<double> &d, double rho, int t, int num_updates_skipped,
                Device dev);

 private:
  MatView WView() const;  // W_t without the initialized() check
  void InitDefault(index_t D, Device dev);
  void Init(const MatView &X0);
  // One step from the stored state (Kaldi's PreconditionDirectionsInternal); returns gamma.
  // in_place: X becomes X_hat; otherwise X is kept and row_prod comes from FactoredRowNorms.
  float Step(const MatView &X, const VecView &row_prod, bool in_place, double tr_x_given = -1.0);
  void FactoredRowNorms(const MatView &X, const MatView &H, const MatView &W, const VecView &row_prod,
                        double *tr_x, double *tr_xhat);
  double Eta(index_t N) const;
  void ComputeEt(const std::vector<double> &d, double rho, std::vector<double> *e, std::vector<double> *sqrt_e,
                 std::vector<double> *inv_sqrt_e) const;
  // W1 (R x D) is made to satisfy E^{-1/2} W1 W1^T E^{-1/2} = I again.
  void Reorthogonalize(const std::vector<double> &d1, double rho1, const MatView &W1);
  double SumRowNorms(const MatView &X, const VecView &row_prod);

  NgdOptions opts_;
  index_t rank_ = 0, dim_ = 0;
  int t_ = -1, num_updates_skipped_ = 0, num_reorth_ = 0, num_gram_schmidt_ = 0;
  Device dev_ = Device::kCpu;
  double rho_ = 0.0;
  std::vector<double> d_;

  // Two [W; J] buffers (2R x D each): the current W_t lives in rows 0..R of wj_[cur_], J_t is written to rows
  // R..2R of the same buffer (so L = W J^T and K = J J^T come out of one GEMM), then replaced there by
  // B_t = J_t + c W_t, and W_{t+1} = A B_t is written into the other buffer, which then becomes current.
  DeviceBuffer wj_[2];
  int cur_ = 0;
  long w_version_ = 0, m_version_ = -1;  // bumped whenever W changes; M cached for w_version_ == m_version_
  // W_t packed for the CPU kernel of H = X W^T (projection.h): packed when an update makes W_{t+1}, and at the
  // next call whenever packed_version_ != w_version_ (after Init, SetState).
  PackedProjection packed_;
  long packed_version_ = -1;
  DeviceBuffer h_;        // H = X W^T (N x R), then row norms (N)
  DeviceBuffer small_;    // R x 3R device copies of small matrices (L|K|K_1, A|scale, reorth transforms)
  DeviceBuffer x0_;       // scratch copy of the first minibatch for the init iterations
  DeviceBuffer q_;        // H (W W^T - 2I) and row dots (factored row norms)
  DeviceBuffer reorth_;   // R x D scratch for the re-orthogonalization product
  std::vector<float> host_small_;  // host side of small_
  std::vector<float> host_rows_;   // row norms on the host
};

}  // namespace nnet2
