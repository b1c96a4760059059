// CUDA launchers mirroring csrc/nnet/kernels.cc; the per-element maths is the shared code in
// csrc/math/functors.h. Elementwise kernels use the grid-stride 2-D launch of cuda_common.cuh; row
// reductions use one block per row (grid-stride over rows). Shapes, devices and table contents are
// checked by the callers in csrc/nnet/kernels.cc; empty matrices return before any launch.
#include <vector>

#include "cuda/cuda_api.h"
#include "cuda/cuda_common.cuh"
#include "cuda/reduce.cuh"
#include "math/functors.h"

namespace nnet2 {
namespace cuda {
namespace {

__global__ void CopyRowsK(const float *b, float *y, index_t rows, index_t cols, index_t ys) {
  NNET2_FOR_2D(i, j, rows, cols) y[i * ys + j] = b[j];
}

template <int kOp>
__global__ void UnaryK(const float *x, index_t xs, float *y, index_t ys, index_t rows, index_t cols) {
  NNET2_FOR_2D(i, j, rows, cols) {
    const float v = x[i * xs + j];
    y[i * ys + j] = kOp == 0 ? f::Sigmoid(v) : f::Tanh(v);
  }
}

template <int kOp>
__global__ void UnaryBackK(const float *y, index_t ys, const float *dy, index_t dys, float *dx, index_t dxs,
                           index_t rows, index_t cols) {
  NNET2_FOR_2D(i, j, rows, cols) {
    const float yv = y[i * ys + j], g = dy[i * dys + j];
    dx[i * dxs + j] = kOp == 0 ? f::SigmoidDeriv(yv, g) : f::TanhDeriv(yv, g);
  }
}

// y [rows, cols]; x [rows, cols * G].
__global__ void PnormK(const float *x, index_t xs, float p, float *y, index_t ys, index_t rows, index_t cols,
                       index_t G) {
  NNET2_FOR_2D(i, j, rows, cols) {
    float s = 0.f;
    for (index_t k = 0; k < G; k++) s += f::PnormTerm(x[i * xs + j * G + k], p);
    y[i * ys + j] = f::PnormFinish(s, p);
  }
}

// dx, x [rows, in_cols]; y, dy [rows, in_cols / G].
__global__ void PnormBackK(const float *x, index_t xs, const float *y, index_t ys, const float *dy, index_t dys,
                           float p, float *dx, index_t dxs, index_t rows, index_t in_cols, index_t G) {
  NNET2_FOR_2D(i, j, rows, in_cols) {
    const index_t g = j / G;
    dx[i * dxs + j] = f::PnormDeriv(x[i * xs + j], y[i * ys + g], dy[i * dys + g], p);
  }
}

__global__ void NormalizeK(const float *x, index_t xs, float *y, index_t ys, index_t rows, index_t cols) {
  NNET2_FOR_ROWS_BLOCK(i, rows) {
    const float *xr = x + i * xs;
    float *yr = y + i * ys;
    double ss = 0.0;
    for (index_t j = threadIdx.x; j < cols; j += blockDim.x) ss += (double)xr[j] * xr[j];
    ss = BlockSum(ss);
    const float sc = f::NormalizeScale(ss, cols);
    for (index_t j = threadIdx.x; j < cols; j += blockDim.x) yr[j] = sc * xr[j];
  }
}

__global__ void NormalizeBackK(const float *x, index_t xs, const float *dy, index_t dys, float *dx, index_t dxs,
                               index_t rows, index_t cols) {
  NNET2_FOR_ROWS_BLOCK(i, rows) {
    const float *xr = x + i * xs, *dyr = dy + i * dys;
    float *dxr = dx + i * dxs;
    double ss = 0.0, dot = 0.0;
    for (index_t j = threadIdx.x; j < cols; j += blockDim.x) {
      ss += (double)xr[j] * xr[j];
      dot += (double)xr[j] * dyr[j];
    }
    ss = BlockSum(ss);
    dot = BlockSum(dot);
    const float sc = f::NormalizeScale(ss, cols);
    const float coef = f::NormalizeFloored(ss, cols) ? 0.f : (float)((double)sc * sc * sc * dot / cols);
    for (index_t j = threadIdx.x; j < cols; j += blockDim.x) dxr[j] = f::NormalizeDeriv(xr[j], dyr[j], sc, coef);
  }
}

// First index of the block-wide maximum of v (NaN never wins; ties go to the lower index, as the CPU's
// scan for the first element equal to the row max). Every thread must call it.
__device__ index_t BlockArgMax(float v, index_t idx) {
  __shared__ float bv[kThreads];
  __shared__ index_t bi[kThreads];
  bv[threadIdx.x] = v;
  bi[threadIdx.x] = idx;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) {
      const float v2 = bv[threadIdx.x + s];
      const index_t i2 = bi[threadIdx.x + s];
      if (v2 > bv[threadIdx.x] || (v2 == bv[threadIdx.x] && i2 < bi[threadIdx.x])) {
        bv[threadIdx.x] = v2;
        bi[threadIdx.x] = i2;
      }
    }
    __syncthreads();
  }
  const index_t r = bi[0];
  __syncthreads();
  return r;
}

// Softmax of one row per block (grid-stride over rows), as the CPU's SoftmaxRow: max, float64 sum of the
// exponentials, floored outputs. With labels also: row_objf[i] = log y[i, label], row_correct[i] = 1 if
// the first arg-max is the label, dz = onehot(label) - y (dz may alias x). A label outside [0, cols)
// sets row_bad[i] = 1 (the host then reports it) and contributes nothing.
__global__ void SoftmaxK(const float *x, index_t xs, float *y, index_t ys, index_t rows, index_t cols,
                         const int *labels, float *dz, index_t dzs, double *row_objf, double *row_correct,
                         double *row_bad) {
  NNET2_FOR_ROWS_BLOCK(i, rows) {
    const float *xr = x + i * xs;
    float *yr = y + i * ys;
    float mx = -INFINITY;
    for (index_t j = threadIdx.x; j < cols; j += blockDim.x) mx = fmaxf(mx, xr[j]);
    mx = BlockMax(mx);
    double s = 0.0;
    for (index_t j = threadIdx.x; j < cols; j += blockDim.x) s += (double)f::Exp(xr[j] - mx);
    s = BlockSum(s);
    const float inv = (float)(1.0 / s);
    float best = -INFINITY;
    index_t best_j = cols;
    for (index_t j = threadIdx.x; j < cols; j += blockDim.x) {
      const float v = f::SoftmaxFloor(f::Exp(xr[j] - mx) * inv);
      yr[j] = v;
      if (v > best) {  // j increases within a thread: the first maximum of this thread's elements
        best = v;
        best_j = j;
      }
    }
    if (labels == nullptr) continue;  // uniform over the block
    best_j = BlockArgMax(best, best_j);  // also orders the y writes above before the reads below
    const int lab = labels[i];
    const bool ok = lab >= 0 && (index_t)lab < cols;
    if (threadIdx.x == 0) {
      row_bad[i] = ok ? 0.0 : 1.0;
      row_objf[i] = ok ? log((double)yr[lab]) : 0.0;
      row_correct[i] = ok && best_j == (index_t)lab ? 1.0 : 0.0;
    }
    float *dzr = dz + i * dzs;
    for (index_t j = threadIdx.x; j < cols; j += blockDim.x) dzr[j] = (ok && j == lab ? 1.0f : 0.0f) - yr[j];
    __syncthreads();  // thread 0's read of yr[lab] is done before the next row's shared-memory use
  }
}

__global__ void SpliceK(const float *x, index_t xs, index_t T, index_t D, const int *offsets, index_t C, float *y,
                        index_t ys) {
  NNET2_FOR_2D(t, j, T, C * D) {
    const index_t c = j / D, d = j % D;
    y[t * ys + j] = x[f::ClampFrame(t + offsets[c], T) * xs + d];
  }
}

__global__ void SumGroupK(const float *x, index_t xs, const int *starts, float *y, index_t ys, index_t rows,
                          index_t cols) {
  NNET2_FOR_2D(i, k, rows, cols) {
    float s = 0.f;
    for (index_t j = starts[k]; j < starts[k + 1]; j++) s += x[i * xs + j];
    y[i * ys + k] = s;
  }
}

__global__ void SumGroupBackK(const float *dy, index_t dys, const int *group, float *dx, index_t dxs, index_t rows,
                              index_t cols) {
  NNET2_FOR_2D(i, j, rows, cols) dx[i * dxs + j] = dy[i * dys + group[j]];
}

bool Empty(const MatView &m) { return m.rows == 0 || m.cols == 0; }

}  // namespace

void CopyRowsFromVec(const VecView &b, const MatView &y) {
  if (Empty(y)) return;
  CopyRowsK<<<Grid2(y.rows, y.cols), Block2(), 0, Stream()>>>(b.data, y.data, y.rows, y.cols, y.stride);
  NNET2_CUDA_LAUNCH_CHECK();
}
void Sigmoid(const MatView &x, const MatView &y) {
  if (Empty(x)) return;
  UnaryK<0><<<Grid2(x.rows, x.cols), Block2(), 0, Stream()>>>(x.data, x.stride, y.data, y.stride, x.rows, x.cols);
  NNET2_CUDA_LAUNCH_CHECK();
}
void Tanh(const MatView &x, const MatView &y) {
  if (Empty(x)) return;
  UnaryK<1><<<Grid2(x.rows, x.cols), Block2(), 0, Stream()>>>(x.data, x.stride, y.data, y.stride, x.rows, x.cols);
  NNET2_CUDA_LAUNCH_CHECK();
}
void SigmoidBackward(const MatView &y, const MatView &dy, const MatView &dx) {
  if (Empty(y)) return;
  UnaryBackK<0><<<Grid2(y.rows, y.cols), Block2(), 0, Stream()>>>(y.data, y.stride, dy.data, dy.stride, dx.data,
                                                                   dx.stride, y.rows, y.cols);
  NNET2_CUDA_LAUNCH_CHECK();
}
void TanhBackward(const MatView &y, const MatView &dy, const MatView &dx) {
  if (Empty(y)) return;
  UnaryBackK<1><<<Grid2(y.rows, y.cols), Block2(), 0, Stream()>>>(y.data, y.stride, dy.data, dy.stride, dx.data,
                                                                   dx.stride, y.rows, y.cols);
  NNET2_CUDA_LAUNCH_CHECK();
}
void PnormForward(const MatView &x, float p, const MatView &y) {
  if (Empty(y)) return;
  PnormK<<<Grid2(y.rows, y.cols), Block2(), 0, Stream()>>>(x.data, x.stride, p, y.data, y.stride, y.rows, y.cols,
                                                           x.cols / y.cols);
  NNET2_CUDA_LAUNCH_CHECK();
}
void PnormBackward(const MatView &x, const MatView &y, const MatView &dy, float p, const MatView &dx) {
  if (Empty(x) || y.cols == 0) return;
  PnormBackK<<<Grid2(x.rows, x.cols), Block2(), 0, Stream()>>>(x.data, x.stride, y.data, y.stride, dy.data,
                                                               dy.stride, p, dx.data, dx.stride, x.rows, x.cols,
                                                               x.cols / y.cols);
  NNET2_CUDA_LAUNCH_CHECK();
}
void NormalizeForward(const MatView &x, const MatView &y) {
  if (Empty(x)) return;
  NormalizeK<<<RowBlocks(x.rows), kThreads, 0, Stream()>>>(x.data, x.stride, y.data, y.stride, x.rows, x.cols);
  NNET2_CUDA_LAUNCH_CHECK();
}
void NormalizeBackward(const MatView &x, const MatView &dy, const MatView &dx) {
  if (Empty(x)) return;
  NormalizeBackK<<<RowBlocks(x.rows), kThreads, 0, Stream()>>>(x.data, x.stride, dy.data, dy.stride, dx.data,
                                                               dx.stride, x.rows, x.cols);
  NNET2_CUDA_LAUNCH_CHECK();
}
void SoftmaxForward(const MatView &x, const MatView &y) {
  if (Empty(x)) return;
  SoftmaxK<<<RowBlocks(x.rows), kThreads, 0, Stream()>>>(x.data, x.stride, y.data, y.stride, x.rows, x.cols, nullptr,
                                                         nullptr, 0, nullptr, nullptr, nullptr);
  NNET2_CUDA_LAUNCH_CHECK();
}
void SoftmaxCrossEntropy(const MatView &z, const IntVecView &labels, const MatView &y, const MatView &dz,
                         double *objf, double *num_correct) {
  *objf = 0.0;
  *num_correct = 0.0;
  if (z.rows == 0) return;
  NNET2_CHECK(z.cols > 0, "SoftmaxCrossEntropy: " << z.rows << " rows with no columns");
  const index_t n = z.rows;
  ScratchLease scratch(sizeof(double) * (3 * n + 3));  // per-row objf | correct | bad, then the 3 sums
  double *rows = static_cast<double *>(scratch.data());
  SoftmaxK<<<RowBlocks(n), kThreads, 0, Stream()>>>(z.data, z.stride, y.data, y.stride, n, z.cols, labels.data,
                                                    dz.data, dz.stride, rows, rows + n, rows + 2 * n);
  NNET2_CUDA_LAUNCH_CHECK();
  double sums[3];
  SumRowsToHost<3>(rows, n, sums);
  if (sums[2] > 0.0) {  // name the first bad label, as the CPU check does
    std::vector<std::int32_t> host(n);
    CopyIntsToHost(labels, host.data());
    for (index_t i = 0; i < n; i++)
      NNET2_CHECK(host[i] >= 0 && host[i] < z.cols, "SoftmaxCrossEntropy: label " << host[i] << " at row " << i
                                                        << " is out of range [0, " << z.cols << ")");
  }
  *objf = sums[0];
  *num_correct = sums[1];
}
void SpliceFrames(const MatView &x, const IntVecView &offsets, const MatView &y) {
  if (Empty(y)) return;
  SpliceK<<<Grid2(y.rows, y.cols), Block2(), 0, Stream()>>>(x.data, x.stride, x.rows, x.cols, offsets.data,
                                                            offsets.dim, y.data, y.stride);
  NNET2_CUDA_LAUNCH_CHECK();
}
void SumGroupForward(const MatView &x, const IntVecView &group_starts, const MatView &y) {
  if (Empty(y)) return;
  SumGroupK<<<Grid2(y.rows, y.cols), Block2(), 0, Stream()>>>(x.data, x.stride, group_starts.data, y.data, y.stride,
                                                              y.rows, y.cols);
  NNET2_CUDA_LAUNCH_CHECK();
}
void SumGroupBackward(const MatView &dy, const IntVecView &group_of_input, const MatView &dx) {
  if (Empty(dx)) return;
  SumGroupBackK<<<Grid2(dx.rows, dx.cols), Block2(), 0, Stream()>>>(dy.data, dy.stride, group_of_input.data, dx.data,
                                                                    dx.stride, dx.rows, dx.cols);
  NNET2_CUDA_LAUNCH_CHECK();
}
void CopyIntsToHost(const IntVecView &v, std::int32_t *host) {
  if (v.dim == 0) return;
  NNET2_CUDA_CHECK(cudaMemcpyAsync(host, v.data, sizeof(std::int32_t) * v.dim, cudaMemcpyDefault, Stream()));
  SynchronizeStream();
}

}  // namespace cuda
}  // namespace nnet2
