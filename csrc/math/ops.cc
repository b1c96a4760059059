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

void RowSquaredNorms(const MatView &x, const VecView &out) {
  CheckSameDevice(x.dev, out.dev, "RowSquaredNorms");
  NNET2_CHECK(out.dim == x.rows, "RowSquaredNorms: output has " << out.dim << " elements for " << x.rows
                                                               << " rows");
  if (x.dev == Device::kCuda) {
    NNET2_ON_GPU(cuda::RowSquaredNorms(x, out));
    return;
  }
#pragma omp parallel for schedule(static) if (x.rows * x.cols > 32768)
  for (index_t i = 0; i < x.rows; i++) {
    const float *r = x.row(i);
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (index_t j = 0; j < x.cols; j++) s += (double)r[j] * r[j];
    out.data[i] = (float)s;
  }
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
