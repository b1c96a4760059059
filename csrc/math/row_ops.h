// Row-scaled matrix helpers for the NG-SGD state update (device-generic; CUDA launchers in
// csrc/cuda/row_ops.cu).
#pragma once

#include "math/matrix.h"

namespace nnet2 {

// dst[i, :] += scale[i] * src[i, :]   (scale has src.rows elements; all three on the same device).
void AddRowsScaled(const VecView &scale, const MatView &src, const MatView &dst);

}  // namespace nnet2
