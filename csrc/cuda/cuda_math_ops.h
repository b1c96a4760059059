// Declarations of the CUDA launchers behind csrc/math/buffer.cc and csrc/math/ops.cc (definitions in
// csrc/cuda/math_ops.cu). No CUDA types here, so CPU-only translation units can include it.
#pragma once

#include <cstddef>

#include "math/matrix.h"

namespace nnet2 {
namespace cuda {

void *Malloc(index_t bytes);
void Free(void *p) noexcept;
// Row-by-row copy of a rows x cols float matrix on the current stream; either side may be host or device
// memory. host_side: one side is host memory, so the copy is complete when this returns.
void Copy2D(float *dst, index_t dst_stride, const float *src, index_t src_stride, index_t cols, index_t rows,
            bool host_side);
void CopyMatAppendConst(const MatView &x, float value, const MatView &y);
void RowSquaredNorms(const MatView &x, const VecView &out);
void RowDots(const MatView &a, const MatView &b, const VecView &out);

}  // namespace cuda
}  // namespace nnet2
