// Non-owning views of row-major float32 matrices and vectors on the CPU or a CUDA device.
// Rows may be padded (stride >= cols), columns are contiguous: that is what BLAS and our kernels take.
#pragma once

#include "common/common.h"

namespace nnet2 {

struct MatView {
  float *data = nullptr;
  index_t rows = 0, cols = 0, stride = 0;  // stride: elements between row starts
  Device dev = Device::kCpu;

  MatView() = default;
  MatView(float *d, index_t r, index_t c, index_t s, Device dv = Device::kCpu)
      : data(d), rows(r), cols(c), stride(s), dev(dv) {}
  float *row(index_t i) const { return data + i * stride; }
  float &operator()(index_t i, index_t j) const { return data[i * stride + j]; }
  MatView RowRange(index_t r0, index_t n) const { return MatView(data + r0 * stride, n, cols, stride, dev); }
  MatView ColRange(index_t c0, index_t n) const { return MatView(data + c0, rows, n, stride, dev); }
  bool contiguous() const { return stride == cols || rows <= 1; }
};

struct VecView {
  float *data = nullptr;
  index_t dim = 0;
  Device dev = Device::kCpu;
  VecView() = default;
  VecView(float *d, index_t n, Device dv = Device::kCpu) : data(d), dim(n), dev(dv) {}
  float &operator[](index_t i) const { return data[i]; }
};

struct IntVecView {
  const std::int32_t *data = nullptr;
  index_t dim = 0;
  Device dev = Device::kCpu;
};

inline void CheckSameDevice(Device a, Device b, const char *what) {
  NNET2_CHECK(a == b, what << ": arrays are on different devices (" << DeviceName(a) << " vs "
                           << DeviceName(b) << ")");
}

inline void CheckShape(const MatView &m, index_t rows, index_t cols, const char *what) {
  NNET2_CHECK(m.rows == rows && m.cols == cols, what << ": expected shape (" << rows << ", " << cols
                                                     << "), got (" << m.rows << ", " << m.cols << ")");
}

}  // namespace nnet2
