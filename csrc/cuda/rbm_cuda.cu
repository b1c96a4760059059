// CUDA side of csrc/rbm/rbm.cc; the element formulas are csrc/rbm/rbm_math.h. Grid-stride launches on
// the current stream; empty matrices launch nothing.
#include "cuda/cuda_common.cuh"
#include "cuda/rbm_api.h"
#include "cuda/reduce.cuh"
#include "rbm/rbm_math.h"

namespace nnet2 {
namespace cuda {
namespace {

__global__ void AddBiasActivateK(const float *b, bool linear, float *y, index_t rows, index_t cols, index_t ys) {
  NNET2_FOR_2D(r, c, rows, cols) y[r * ys + c] = f::VisibleMean(y[r * ys + c] + b[c], linear);
}

__global__ void ApplyIncrementK(float *w, index_t ws, float *inc, index_t is, index_t rows, index_t cols,
                                float neg_lr_l2) {
  NNET2_FOR_2D(r, c, rows, cols) f::RbmApplyIncrement(w + r * ws + c, inc + r * is + c, neg_lr_l2);
}

// One block per row (grid-stride over rows): the five float64 sums of row i, written quantity-major to
// out[k * rows + i] for SumRowsK.
__global__ void PairMomentsK(const float *a, index_t as, const float *b, index_t bs, index_t rows, index_t cols,
                             double *out) {
  NNET2_FOR_ROWS_BLOCK(i, rows) {
    const float *ar = a + i * as, *br = b + i * bs;
    double s[5] = {0, 0, 0, 0, 0};
    for (index_t j = threadIdx.x; j < cols; j += blockDim.x) {
      const double x = ar[j], y = br[j], d = y - x;
      s[0] += x;
      s[1] += x * x;
      s[2] += y;
      s[3] += y * y;
      s[4] += d * d;
    }
    for (int k = 0; k < 5; k++) {
      const double t = BlockSum(s[k]);  // every thread calls it (it synchronizes)
      if (threadIdx.x == 0) out[k * rows + i] = t;
    }
  }
}

}  // namespace

void AddBiasActivate(const VecView &b, bool linear, const MatView &y) {
  if (y.rows == 0 || y.cols == 0) return;
  AddBiasActivateK<<<Grid2(y.rows, y.cols), Block2(), 0, Stream()>>>(b.data, linear, y.data, y.rows, y.cols,
                                                                     y.stride);
  NNET2_CUDA_LAUNCH_CHECK();
}

void RbmApplyIncrement(const MatView &w, const MatView &inc, float neg_lr_l2) {
  if (w.rows == 0 || w.cols == 0) return;
  ApplyIncrementK<<<Grid2(w.rows, w.cols), Block2(), 0, Stream()>>>(w.data, w.stride, inc.data, inc.stride, w.rows,
                                                                    w.cols, neg_lr_l2);
  NNET2_CUDA_LAUNCH_CHECK();
}

void PairMoments(const MatView &a, const MatView &b, double *out) {
  for (int k = 0; k < 5; k++) out[k] = 0.0;
  if (a.rows == 0) return;
  ScratchLease scratch(sizeof(double) * (5 * a.rows + 5));  // per-row sums, then the 5 totals
  double *rows = static_cast<double *>(scratch.data());
  PairMomentsK<<<RowBlocks(a.rows), kThreads, 0, Stream()>>>(a.data, a.stride, b.data, b.stride, a.rows, a.cols,
                                                             rows);
  NNET2_CUDA_LAUNCH_CHECK();
  SumRowsToHost<5>(rows, a.rows, out);
}

}  // namespace cuda
}  // namespace nnet2
