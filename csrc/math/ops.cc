#include "math/ops.h"

#include <cstring>

#include "common/device.h"
#include "cuda/cuda_math_ops.h"

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
// The row kernel of RowSquaredNorms, shared so that the fused copies give the same bits.
inline float RowSquaredNorm(const float *r, index_t n) {
  double s = 0.0;
#pragma omp simd reduction(+ : s)
  for (index_t j = 0; j < n; j++) s += (double)r[j] * r[j];
  return (float)s;
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
    std::memcpy(dst.row(i), src.row(i), sizeof(float) * src.cols);
    norms.data[i] = RowSquaredNorm(dst.row(i), src.cols);
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
