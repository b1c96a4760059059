#include "math/ops.h"

#include <cstring>

#include "common/device.h"
#include "cuda/cuda_math_ops.h"
#include "math/simd.h"

namespace nnet2 {

void CopyMat(const MatView &src, const MatView &dst) {
  CheckShape(dst, src.rows, src.cols, "CopyMat destination");
  if (src.rows == 0 || src.cols == 0) return;
  if (src.dev == Device::kCuda || dst.dev == Device::kCuda) {
    NNET2_ON_GPU(cuda::Copy2D(dst.data, dst.stride, src.data, src.stride, src.cols, src.rows,
                              src.dev == Device::kCpu || dst.dev == Device::kCpu));
    return;
  }
  if (src.contiguous() && dst.contiguous()) {
    std::memmove(dst.data, src.data, sizeof(float) * src.rows * src.cols);
    return;
  }
  for (index_t i = 0; i < src.rows; i++) std::memmove(dst.row(i), src.row(i), sizeof(float) * src.cols);
}

void CopyMatAppendConst(const MatView &x, float value, const MatView &y) {
  CheckSameDevice(x.dev, y.dev, "CopyMatAppendConst");
  CheckShape(y, x.rows, x.cols + 1, "CopyMatAppendConst output");
  if (x.dev == Device::kCuda) {
    NNET2_ON_GPU(cuda::CopyMatAppendConst(x, value, y));
    return;
  }
#pragma omp parallel for schedule(static) if (x.rows * x.cols > 32768)
  for (index_t i = 0; i < x.rows; i++) {
    std::memcpy(y.row(i), x.row(i), sizeof(float) * x.cols);
    y.row(i)[x.cols] = value;
  }
}

namespace {
// The row kernel of RowSquaredNorms, shared with the fused copy so that both give the same bits: float
// products summed in double over 32 fixed lanes (lane k takes the elements j = k mod 32 of each full block
// of 32), then the lanes in order, then the tail. The lanes are in the source, not left to the vectorizer,
// so every ISA level sums in the same order (the v3/v4 clones contract v * v + acc into an FMA, which is
// the same value only because the square of a float is exact in double: keep the product exact), and they
// are independent chains: the single-accumulator reduction ran at ~3 Gelem/s, latency-bound, on the NG-SGD
// output side's 128 x 2000 matrices.
template <bool kCopy>
inline float SquaredNormBody(const float *r, float *dst, index_t n) {
  constexpr index_t kLanes = 32;
  double acc[kLanes] = {};
  index_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
#pragma omp simd
    for (index_t k = 0; k < kLanes; k++) {
      const float v = r[j + k];
      if (kCopy) dst[j + k] = v;
      acc[k] += (double)v * v;
    }
  }
  double s = 0.0;
  for (index_t k = 0; k < kLanes; k++) s += acc[k];
  for (; j < n; j++) {
    const float v = r[j];
    if (kCopy) dst[j] = v;
    s += (double)v * v;
  }
  return (float)s;
}

NNET2_SIMD_CLONES float RowSquaredNorm(const float *r, index_t n) { return SquaredNormBody<false>(r, nullptr, n); }

// Copies src[0, n) to dst and returns RowSquaredNorm(src, n), in one pass.
NNET2_SIMD_CLONES float CopyRowSquaredNorm(const float *src, float *dst, index_t n) {
  return SquaredNormBody<true>(src, dst, n);
}
}  // namespace

void CopyMatRowNorms(const MatView &src, const MatView &dst, const VecView &norms) {
  CheckShape(dst, src.rows, src.cols, "CopyMatRowNorms destination");
  CheckSameDevice(src.dev, dst.dev, "CopyMatRowNorms");
  CheckSameDevice(src.dev, norms.dev, "CopyMatRowNorms");
  NNET2_CHECK(norms.dim == src.rows, "CopyMatRowNorms: norms has " << norms.dim << " elements for " << src.rows
                                                                   << " rows");
  if (src.dev == Device::kCuda) {  // two launches on the GPU (memory-bound either way)
    CopyMat(src, dst);
    RowSquaredNorms(dst, norms);
    return;
  }
#pragma omp parallel for schedule(static) if (src.rows * src.cols > 32768)
  for (index_t i = 0; i < src.rows; i++) {
    norms.data[i] = CopyRowSquaredNorm(src.row(i), dst.row(i), src.cols);
  }
}

void CopyMatAppendConstRowNorms(const MatView &x, float value, const MatView &y, const VecView &norms) {
  CheckSameDevice(x.dev, norms.dev, "CopyMatAppendConstRowNorms");
  NNET2_CHECK(norms.dim == x.rows, "CopyMatAppendConstRowNorms: norms has " << norms.dim << " elements for "
                                                                            << x.rows << " rows");
  if (x.dev == Device::kCuda) {
    CopyMatAppendConst(x, value, y);
    RowSquaredNorms(y, norms);
    return;
  }
  CheckSameDevice(x.dev, y.dev, "CopyMatAppendConstRowNorms");
  CheckShape(y, x.rows, x.cols + 1, "CopyMatAppendConstRowNorms output");
#pragma omp parallel for schedule(static) if (x.rows * x.cols > 32768)
  for (index_t i = 0; i < x.rows; i++) {
    std::memcpy(y.row(i), x.row(i), sizeof(float) * x.cols);
    y.row(i)[x.cols] = value;
    norms.data[i] = RowSquaredNorm(y.row(i), y.cols);
  }
}

void RowSquaredNorms(const MatView &x, const VecView &out) {
  CheckSameDevice(x.dev, out.dev, "RowSquaredNorms");
  NNET2_CHECK(out.dim == x.rows, "RowSquaredNorms: output has " << out.dim << " elements for " << x.rows
                                                               << " rows");
  if (x.dev == Device::kCuda) {
    NNET2_ON_GPU(cuda::RowSquaredNorms(x, out));
    return;
  }
#pragma omp parallel for schedule(static) if (x.rows * x.cols > 32768)
  for (index_t i = 0; i < x.rows; i++) out.data[i] = RowSquaredNorm(x.row(i), x.cols);
}

void RowDots(const MatView &a, const MatView &b, const VecView &out) {
  CheckSameDevice(a.dev, b.dev, "RowDots");
  CheckSameDevice(a.dev, out.dev, "RowDots");
  CheckShape(b, a.rows, a.cols, "RowDots second argument");
  NNET2_CHECK(out.dim == a.rows, "RowDots: output has " << out.dim << " elements for " << a.rows << " rows");
  if (a.dev == Device::kCuda) {
    NNET2_ON_GPU(cuda::RowDots(a, b, out));
    return;
  }
#pragma omp parallel for schedule(static) if (a.rows * a.cols > 32768)
  for (index_t i = 0; i < a.rows; i++) {
    const float *ra = a.row(i), *rb = b.row(i);
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (index_t j = 0; j < a.cols; j++) s += (double)ra[j] * rb[j];
    out.data[i] = (float)s;
  }
}

}  // namespace nnet2
