// CUDA launchers mirroring csrc/math/row_ops.cc.
#include "cuda/cuda_common.cuh"
#include "cuda/cuda_row_ops.h"

namespace nnet2 {
namespace cuda {
namespace {

__global__ void AddRowsScaledK(const float *scale, const float *src, index_t ss, float *dst, index_t ds,
                               index_t rows, index_t cols) {
  const index_t j = blockIdx.x * (index_t)blockDim.x + threadIdx.x, i = blockIdx.y * (index_t)blockDim.y + threadIdx.y;
  if (i < rows && j < cols) dst[i * ds + j] += scale[i] * src[i * ss + j];
}

}  // namespace

void AddRowsScaled(const VecView &scale, const MatView &src, const MatView &dst) {
  const dim3 block(32, 8), grid((unsigned)Blocks(src.cols, 32), (unsigned)Blocks(src.rows, 8));
  AddRowsScaledK<<<grid, block>>>(scale.data, src.data, src.stride, dst.data, dst.stride, src.rows, src.cols);
  NNET2_CUDA_LAUNCH_CHECK();
}

}  // namespace cuda
}  // namespace nnet2
