// Declarations of the CUDA launchers behind csrc/math/row_ops.cc (definitions in csrc/cuda/row_ops.cu).
// No CUDA types here, so CPU-only translation units can include it.
#pragma once

#include "math/matrix.h"

namespace nnet2 {
namespace cuda {

void AddRowsScaled(const VecView &scale, const MatView &src, const MatView &dst);

}  // namespace cuda
}  // namespace nnet2
