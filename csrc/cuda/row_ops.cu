// CUDA launchers mirroring csrc/math/row_ops.cc (grid-stride launch on the current stream).
#include "cuda/cuda_common.cuh"
#include "cuda/cuda_row_ops.h"

namespace nnet2 {
namespace cuda {
namespace {

__global__ void AddRowsScaledK(const float *scale, const float *src, index_t ss, float *dst, index_t ds,
                               index_t rows, index_t cols) {
  NNET2_FOR_2D(i, j, rows, cols) dst[i * ds + j] += scale[i] * src[i * ss + j];
}

}  // namespace

void AddRowsScaled(const VecView &scale, const MatView &src, const MatView &dst) {
  if (src.rows == 0 || src.cols == 0) return;
  AddRowsScaledK<<<Grid2(src.rows, src.cols), Block2(), 0, Stream()>>>(scale.data, src.data, src.stride, dst.data,
                                                                       dst.stride, src.rows, src.cols);
  NNET2_CUDA_LAUNCH_CHECK();
}

}  // namespace cuda
}  // namespace nnet2
