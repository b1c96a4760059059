// Device-generic matrix helpers used by algorithm code (NG-SGD): copies between any two devices,
// row norms, the [x | c] copy. Each dispatches to a CPU loop here or a launcher in csrc/cuda/math_ops.cu.
#pragma once

#include "math/matrix.h"

namespace nnet2 {

// dst = src (same shape); src and dst may be on different devices (host <-> GPU copies).
void CopyMat(const MatView &src, const MatView &dst);
// y[N, I+1] = [x[N, I] | value]  (same device).
void CopyMatAppendConst(const MatView &x, float value, const MatView &y);
// dst = src (same shape, same device) and norms[i] = sum_j src[i, j]^2, computed exactly as RowSquaredNorms
// does; on the CPU in one pass over src (each row is summed while it is in cache).
void CopyMatRowNorms(const MatView &src, const MatView &dst, const VecView &norms);
// CopyMatAppendConst, and norms[i] = sum_j y[i, j]^2 (value^2 included), exactly as RowSquaredNorms(y, norms).
void CopyMatAppendConstRowNorms(const MatView &x, float value, const MatView &y, const VecView &norms);
// out[i] = sum_j x[i, j]^2   (accumulated in double; out has x.rows elements, same device).
void RowSquaredNorms(const MatView &x, const VecView &out);
// out[i] = sum_j a[i, j] b[i, j]   (accumulated in double; a and b the same shape, out has a.rows elements).
void RowDots(const MatView &a, const MatView &b, const VecView &out);

}  // namespace nnet2
