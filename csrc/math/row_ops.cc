#include "math/row_ops.h"

#include "common/device.h"
#include "cuda/cuda_row_ops.h"

namespace nnet2 {

void AddRowsScaled(const VecView &scale, const MatView &src, const MatView &dst) {
  CheckShape(dst, src.rows, src.cols, "AddRowsScaled destination");
  NNET2_CHECK(scale.dim == src.rows, "AddRowsScaled: " << scale.dim << " scales for " << src.rows << " rows");
  CheckSameDevice(src.dev, dst.dev, "AddRowsScaled");
  CheckSameDevice(src.dev, scale.dev, "AddRowsScaled");
  if (src.rows == 0 || src.cols == 0) return;
  if (src.dev == Device::kCuda) {
    NNET2_ON_GPU(cuda::AddRowsScaled(scale, src, dst));
    return;
  }
#pragma omp parallel for schedule(static) if (src.rows * src.cols > 32768)
  for (index_t i = 0; i < src.rows; i++) {
    const float s = scale.data[i], *a = src.row(i);
    float *b = dst.row(i);
#pragma omp simd
    for (index_t j = 0; j < src.cols; j++) b[j] += s * a[j];
  }
}

}  // namespace nnet2
