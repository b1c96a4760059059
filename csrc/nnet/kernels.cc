#include "nnet/kernels.h"

#include <algorithm>
#include <cmath>
#include <vector>
#include <limits>
#include <numeric>

#include "common/device.h"
#include "cuda/cuda_api.h"
#include "math/avx512.h"
#include "math/blas.h"
#include "math/functors.h"
#include "math/simd.h"

namespace nnet2 {
namespace {

// Rows are independent: split them over the OpenMP threads (BLAS owns its own threads).
#define NNET2_FOR_ROWS(i, n) _Pragma("omp parallel for schedule(static)") for (index_t i = 0; i < (n); i++)

void Same(const MatView &a, const MatView &b, const char *what) {
  CheckSameDevice(a.dev, b.dev, what);
  NNET2_CHECK(a.rows == b.rows && a.cols == b.cols, what << ": shape mismatch (" << a.rows << ", " << a.cols
                                                        << ") vs (" << b.rows << ", " << b.cols << ")");
}

// Row loops, compiled per ISA level (math/simd.h); the OpenMP loops over rows call them.
NNET2_SIMD_CLONES void SigmoidRow(const float *x, float *y, index_t n) {
#pragma omp simd
  for (index_t j = 0; j < n; j++) y[j] = f::Sigmoid(x[j]);
}

NNET2_SIMD_CLONES void SigmoidDerivRow(const float *y, const float *dy, float *dx, index_t n) {
#pragma omp simd
  for (index_t j = 0; j < n; j++) dx[j] = f::SigmoidDeriv(y[j], dy[j]);
}

NNET2_SIMD_CLONES float RowMax(const float *x, index_t n) {
  float mx = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : mx)
  for (index_t j = 0; j < n; j++) mx = x[j] > mx ? x[j] : mx;
  return mx;
}

// y = softmax(x) floored (f::SoftmaxFloor); the sum of the exponentials is accumulated in double.
NNET2_SIMD_CLONES void SoftmaxRow(const float *x, float *y, index_t n) {
  float mx = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : mx)
  for (index_t j = 0; j < n; j++) mx = x[j] > mx ? x[j] : mx;
  // Two loops: GCC does not if-convert (vectorize) f::Exp in a loop that also has the double sum.
#pragma omp simd
  for (index_t j = 0; j < n; j++) y[j] = f::Exp(x[j] - mx);
  double s = 0.0;
#pragma omp simd reduction(+ : s)
  for (index_t j = 0; j < n; j++) s += y[j];
  const float inv = (float)(1.0 / s);
#pragma omp simd
  for (index_t j = 0; j < n; j++) y[j] = f::SoftmaxFloor(y[j] * inv);
}

NNET2_SIMD_CLONES void NegateRow(const float *y, float *dz, index_t n) {
#pragma omp simd
  for (index_t j = 0; j < n; j++) dz[j] = -y[j];
}

NNET2_SIMD_CLONES void PnormRow(const float *x, float p, float *y, index_t n_out, index_t G) {
#pragma omp simd
  for (index_t j = 0; j < n_out; j++) {
    float s = 0.f;
    for (index_t k = 0; k < G; k++) s += f::PnormTerm(x[j * G + k], p);
    y[j] = f::PnormFinish(s, p);
  }
}

NNET2_SIMD_CLONES void PnormDerivRow(const float *x, const float *y, const float *dy, float p, float *dx,
                                     index_t n_out, index_t G) {
  if (p == 2.f) {  // one division per group instead of one per element (the same values: f::PnormDeriv2)
    for (index_t j = 0; j < n_out; j++) {
      const float inv = f::PnormInvOut2(y[j]), dyj = dy[j];
#pragma omp simd
      for (index_t k = 0; k < G; k++) dx[j * G + k] = f::PnormDeriv2(x[j * G + k], inv, dyj);
    }
    return;
  }
  for (index_t j = 0; j < n_out; j++) {
    const float yj = y[j], dyj = dy[j];
#pragma omp simd
    for (index_t k = 0; k < G; k++) dx[j * G + k] = f::PnormDeriv(x[j * G + k], yj, dyj, p);
  }
}

#ifdef NNET2_HAVE_AVX512
// The p = 2 p-norm on AVX-512 (the p of Kaldi's p-norm recipes and of ours). The portable loops above run one group
// of G (10 in Kaldi's recipes) at a time, which GCC leaves mostly scalar: 0.065 ms for a 128 x 2000 forward or
// backward on one core, against 0.034 ms for a copy of the matrix.
//
// Forward: 16 rows at a time, transposed in registers 16 columns at a time, so each lane is a row and the
// group's sum runs down the columns in order, s = fma(x, x, s) from s = 0 (the CUDA kernel's order, which nvcc
// contracts the same way); y = sqrt(s), transposed back through `stage` ([y.cols][16]).
NNET2_AVX512 void Pnorm2ForwardBlock(const MatView &x, const MatView &y, index_t r0, index_t G, float *stage) {
  const index_t D = x.cols, n_out = y.cols, nr = std::min<index_t>(16, x.rows - r0);
  __m512 acc = _mm512_setzero_ps();
  index_t k = 0, j = 0;
  for (index_t c0 = 0; c0 < D; c0 += 16) {
    const index_t nc = std::min<index_t>(16, D - c0);
    const __mmask16 m = TailMask(nc);
    __m512 r[16], col[16];
    for (int l = 0; l < 16; l++) r[l] = l < nr ? _mm512_maskz_loadu_ps(m, x.row(r0 + l) + c0) : _mm512_setzero_ps();
    Transpose16(r, col);
    for (index_t t = 0; t < nc; t++) {
      acc = _mm512_fmadd_ps(col[t], col[t], acc);
      if (++k == G) {
        _mm512_storeu_ps(stage + j * 16, _mm512_sqrt_ps(acc));
        acc = _mm512_setzero_ps();
        k = 0;
        j++;
      }
    }
  }
  for (index_t j0 = 0; j0 < n_out; j0 += 16) {
    const index_t nj = std::min<index_t>(16, n_out - j0);
    const __mmask16 m = TailMask(nj);
    __m512 r[16], out[16];
    for (int q = 0; q < 16; q++) r[q] = q < nj ? _mm512_loadu_ps(stage + (j0 + q) * 16) : _mm512_setzero_ps();
    Transpose16(r, out);
    for (index_t l = 0; l < nr; l++) _mm512_mask_storeu_ps(y.row(r0 + l) + j0, m, out[l]);
  }
}

// Backward, one row: dx = (x * (1 / y)) * dy (f::PnormInvOut2, f::PnormDeriv2: the same bits as the portable
// loop), 16 elements at a time, the group values of each lane brought in by a permute: lane l of the chunk at
// column c0 takes group (c0 + l) / G, i.e. entry (c0 + l) / G - c0 / G of the 16 groups from c0 / G on; that
// pattern repeats every P = G / gcd(G, 16) chunks (`idx`, [P][16]; `first`, [P]: 16 c / G for chunk c of the
// period: no integer division per chunk, which made the loop twice as slow). `inv`: room for y.cols + 16 floats.
NNET2_AVX512 void Pnorm2BackwardRow(const float *x, const float *y, const float *dy, float *dx, index_t n_out,
                                    index_t G, const std::int32_t *idx, const index_t *first, index_t P,
                                    float *inv) {
  const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1.0f);
  for (index_t j0 = 0; j0 < n_out; j0 += 16) {
    const __mmask16 m = TailMask(n_out - j0);
    const __m512 yv = _mm512_maskz_loadu_ps(m, y + j0);
    const __mmask16 nz = _mm512_mask_cmp_ps_mask(m, yv, zero, _CMP_NEQ_UQ);  // y == 0: 1 / y taken as 0
    _mm512_storeu_ps(inv + j0, _mm512_maskz_div_ps(nz, one, yv));
  }
  const index_t D = n_out * G, step = 16 * P / G;  // groups per period
  for (index_t p0 = 0, gp = 0; p0 < D; p0 += 16 * P, gp += step) {
    for (index_t c = 0; c < P; c++) {
      const index_t c0 = p0 + 16 * c, g0 = gp + first[c];
      if (c0 >= D) break;
      const __mmask16 m = TailMask(D - c0), mg = TailMask(n_out - g0);
      const __m512i id = _mm512_loadu_si512(idx + c * 16);
      const __m512 iv = _mm512_permutexvar_ps(id, _mm512_maskz_loadu_ps(mg, inv + g0));
      const __m512 dv = _mm512_permutexvar_ps(id, _mm512_maskz_loadu_ps(mg, dy + g0));
      const __m512 xv = _mm512_maskz_loadu_ps(m, x + c0);
      _mm512_mask_storeu_ps(dx + c0, m, _mm512_mul_ps(_mm512_mul_ps(xv, iv), dv));
    }
  }
}

#endif  // NNET2_HAVE_AVX512

constexpr index_t kTransposedForwardMaxRows = 512, kTransposedForwardMinCols = 1024;

// An int table beside a matrix must be on the matrix's device (no host array next to device ones).
void SameDeviceInts(const IntVecView &v, Device d, const char *what) {
  NNET2_CHECK(v.dev == d, what << ": the int32 array is on " << DeviceName(v.dev) << ", the matrices on "
                               << DeviceName(d) << " (put it on the same device)");
}

// The table's contents on the host: the data itself for a CPU table, a copy of a GPU one (the same checks
// then run for both devices).
const std::int32_t *HostInts(const IntVecView &v, std::vector<std::int32_t> *copy) {
  if (v.dev == Device::kCpu) return v.data;
  copy->resize((size_t)v.dim);
  NNET2_ON_GPU(cuda::CopyIntsToHost(v, copy->data()));
  return copy->data();
}

}  // namespace

void AffineForward(const MatView &x, const MatView &W, const VecView &b, const MatView &y) {
  NNET2_CHECK(x.cols == W.cols, "AffineForward: input has " << x.cols << " columns, weights expect "
                                                             << W.cols);
  NNET2_CHECK(b.dim == W.rows, "AffineForward: bias has " << b.dim << " elements, weights have " << W.rows
                                                           << " rows");
  CheckShape(y, x.rows, W.rows, "AffineForward output");
  CheckSameDevice(x.dev, b.dev, "AffineForward");
  CheckSameDevice(x.dev, W.dev, "AffineForward");
  CheckSameDevice(x.dev, y.dev, "AffineForward");
  if (y.dev == Device::kCpu && x.rows <= kTransposedForwardMaxRows && x.cols >= kTransposedForwardMinCols &&
      W.rows >= 64) {
    // Small minibatch, long rows (the 2048-wide sigmoid layers): OpenBLAS runs y^T = W x^T 8-15% faster
    // than y = x W^T (measured, 1 and 2 threads), which pays for a blocked transpose that adds the bias.
    thread_local std::vector<float> zbuf;
    zbuf.resize((size_t)W.rows * x.rows);
    const MatView z(zbuf.data(), W.rows, x.rows, x.rows);
    Gemm(false, true, 1.0f, W, x, 0.0f, z);
    constexpr index_t kB = 32;
    const index_t nbj = (y.cols + kB - 1) / kB;
#pragma omp parallel for schedule(static)
    for (index_t bj = 0; bj < nbj; bj++) {
      const index_t j0 = bj * kB, j1 = std::min(j0 + kB, y.cols);
      for (index_t i0 = 0; i0 < y.rows; i0 += kB) {
        const index_t i1 = std::min(i0 + kB, y.rows);
        for (index_t i = i0; i < i1; i++) {
          float *yr = y.row(i);
          for (index_t j = j0; j < j1; j++) yr[j] = z(j, i) + b.data[j];
        }
      }
    }
    return;
  }
  if (y.dev == Device::kCuda) {
    NNET2_ON_GPU(cuda::CopyRowsFromVec(b, y));
  } else {
    NNET2_FOR_ROWS(i, y.rows) {
      float *yr = y.row(i);
      for (index_t j = 0; j < y.cols; j++) yr[j] = b.data[j];
    }
  }
  Gemm(false, true, 1.0f, x, W, 1.0f, y);
}

void AffineBackward(const MatView &dy, const MatView &W, const MatView &dx) {
  Gemm(false, false, 1.0f, dy, W, 0.0f, dx);
}

void AffineUpdate(const MatView &x, const MatView &dy, float lr, const MatView &W, const VecView &b) {
  NNET2_CHECK(x.rows == dy.rows, "AffineUpdate: input has " << x.rows << " rows, derivative has " << dy.rows);
  Gemm(true, false, lr, dy, x, 1.0f, W);
  AddRowSums(lr, dy, 1.0f, b);
}

void AffineBackpropUpdate(const MatView &x, const MatView &dy, float lr, const MatView &W, const VecView &b,
                          const MatView &dx) {
  NNET2_CHECK(x.rows == dy.rows, "AffineBackpropUpdate: input has " << x.rows << " rows, derivative has "
                                                                   << dy.rows);
  AffineDerivAndUpdate(dy, W, dx, lr, dy, x, nullptr, b);
}

void SigmoidForward(const MatView &x, const MatView &y) {
  Same(x, y, "SigmoidForward");
  if (x.dev == Device::kCuda) { NNET2_ON_GPU(cuda::Sigmoid(x, y)); return; }
  NNET2_FOR_ROWS(i, x.rows) {
    SigmoidRow(x.row(i), y.row(i), x.cols);
  }
}

void SigmoidBackward(const MatView &y, const MatView &dy, const MatView &dx) {
  Same(y, dy, "SigmoidBackward");
  Same(y, dx, "SigmoidBackward");
  if (y.dev == Device::kCuda) { NNET2_ON_GPU(cuda::SigmoidBackward(y, dy, dx)); return; }
  NNET2_FOR_ROWS(i, y.rows) {
    SigmoidDerivRow(y.row(i), dy.row(i), dx.row(i), y.cols);
  }
}

void TanhForward(const MatView &x, const MatView &y) {
  Same(x, y, "TanhForward");
  if (x.dev == Device::kCuda) { NNET2_ON_GPU(cuda::Tanh(x, y)); return; }
  NNET2_FOR_ROWS(i, x.rows) {
    const float *xr = x.row(i);
    float *yr = y.row(i);
    for (index_t j = 0; j < x.cols; j++) yr[j] = f::Tanh(xr[j]);
  }
}

void TanhBackward(const MatView &y, const MatView &dy, const MatView &dx) {
  Same(y, dy, "TanhBackward");
  Same(y, dx, "TanhBackward");
  if (y.dev == Device::kCuda) { NNET2_ON_GPU(cuda::TanhBackward(y, dy, dx)); return; }
  NNET2_FOR_ROWS(i, y.rows) {
    const float *yr = y.row(i), *dyr = dy.row(i);
    float *dxr = dx.row(i);
#pragma omp simd
    for (index_t j = 0; j < y.cols; j++) dxr[j] = f::TanhDeriv(yr[j], dyr[j]);
  }
}

void PnormForward(const MatView &x, float p, const MatView &y) {
  CheckSameDevice(x.dev, y.dev, "PnormForward");
  NNET2_CHECK(x.rows == y.rows && y.cols > 0 && x.cols % y.cols == 0,
              "PnormForward: input dim " << x.cols << " is not a multiple of output dim " << y.cols);
  NNET2_CHECK(p >= 1.0f, "PnormForward: p must be >= 1, got " << p);
  if (x.dev == Device::kCuda) { NNET2_ON_GPU(cuda::PnormForward(x, p, y)); return; }
  const index_t G = x.cols / y.cols;
#ifdef NNET2_HAVE_AVX512
  if (p == 2.f && G >= 1 && Avx512Available()) {
    const index_t blocks = (x.rows + 15) / 16;
#pragma omp parallel
    {
      std::vector<float> stage((size_t)y.cols * 16);
#pragma omp for schedule(static)
      for (index_t b = 0; b < blocks; b++) Pnorm2ForwardBlock(x, y, 16 * b, G, stage.data());
    }
    return;
  }
#endif
  NNET2_FOR_ROWS(i, x.rows) { PnormRow(x.row(i), p, y.row(i), y.cols, G); }
}

void PnormBackward(const MatView &x, const MatView &y, const MatView &dy, float p, const MatView &dx) {
  Same(x, dx, "PnormBackward");
  Same(y, dy, "PnormBackward");
  NNET2_CHECK(x.rows == y.rows && y.cols > 0 && x.cols % y.cols == 0,
              "PnormBackward: input dim " << x.cols << " is not a multiple of output dim " << y.cols);
  if (x.dev == Device::kCuda) { NNET2_ON_GPU(cuda::PnormBackward(x, y, dy, p, dx)); return; }
  const index_t G = x.cols / y.cols;
#ifdef NNET2_HAVE_AVX512
  if (p == 2.f && G >= 1 && Avx512Available()) {
    const index_t P = G / std::gcd<index_t>(G, 16);  // chunks of 16 columns after which the pattern repeats
    std::vector<std::int32_t> idx((size_t)P * 16);
    std::vector<index_t> first((size_t)P);
    for (index_t c = 0; c < P; c++) {
      first[c] = 16 * c / G;
      for (index_t l = 0; l < 16; l++) idx[c * 16 + l] = (std::int32_t)((16 * c + l) / G - first[c]);
    }
#pragma omp parallel
    {
      std::vector<float> inv((size_t)y.cols + 16);
#pragma omp for schedule(static)
      for (index_t i = 0; i < x.rows; i++)
        Pnorm2BackwardRow(x.row(i), y.row(i), dy.row(i), dx.row(i), y.cols, G, idx.data(), first.data(), P,
                          inv.data());
    }
    return;
  }
#endif
  NNET2_FOR_ROWS(i, x.rows) { PnormDerivRow(x.row(i), y.row(i), dy.row(i), p, dx.row(i), y.cols, G); }
}

void NormalizeForward(const MatView &x, const MatView &y) {
  Same(x, y, "NormalizeForward");
  if (x.dev == Device::kCuda) { NNET2_ON_GPU(cuda::NormalizeForward(x, y)); return; }
  NNET2_FOR_ROWS(i, x.rows) {
    const float *xr = x.row(i);
    float *yr = y.row(i);
    double ss = 0.0;
    for (index_t j = 0; j < x.cols; j++) ss += (double)xr[j] * xr[j];
    const float sc = f::NormalizeScale(ss, x.cols);
    for (index_t j = 0; j < x.cols; j++) yr[j] = sc * xr[j];
  }
}

void NormalizeBackward(const MatView &x, const MatView &dy, const MatView &dx) {
  Same(x, dy, "NormalizeBackward");
  Same(x, dx, "NormalizeBackward");
  if (x.dev == Device::kCuda) { NNET2_ON_GPU(cuda::NormalizeBackward(x, dy, dx)); return; }
  NNET2_FOR_ROWS(i, x.rows) {
    const float *xr = x.row(i), *dyr = dy.row(i);
    float *dxr = dx.row(i);
    double ss = 0.0, dot = 0.0;
    for (index_t j = 0; j < x.cols; j++) {
      ss += (double)xr[j] * xr[j];
      dot += (double)xr[j] * dyr[j];
    }
    const float sc = f::NormalizeScale(ss, x.cols);
    const float coef = f::NormalizeFloored(ss, x.cols) ? 0.f : (float)((double)sc * sc * sc * dot / x.cols);
    for (index_t j = 0; j < x.cols; j++) dxr[j] = f::NormalizeDeriv(xr[j], dyr[j], sc, coef);
  }
}

void SoftmaxForward(const MatView &x, const MatView &y) {
  Same(x, y, "SoftmaxForward");
  if (x.dev == Device::kCuda) { NNET2_ON_GPU(cuda::SoftmaxForward(x, y)); return; }
  NNET2_FOR_ROWS(i, x.rows) { SoftmaxRow(x.row(i), y.row(i), x.cols); }
}

ObjfInfo SoftmaxCrossEntropy(const MatView &z, const IntVecView &labels, const MatView &y, const MatView &dz) {
  Same(z, y, "SoftmaxCrossEntropy");
  Same(z, dz, "SoftmaxCrossEntropy");
  NNET2_CHECK(labels.dim == z.rows, "SoftmaxCrossEntropy: " << labels.dim << " labels for " << z.rows
                                                           << " rows");
  SameDeviceInts(labels, z.dev, "SoftmaxCrossEntropy labels");
  ObjfInfo info;
  // GPU labels are range-checked on the device (a per-row flag; the first bad one is named, as below).
  if (z.dev == Device::kCuda) {
    NNET2_ON_GPU(cuda::SoftmaxCrossEntropy(z, labels, y, dz, &info.objf, &info.num_correct));
    return info;
  }
  for (index_t i = 0; i < labels.dim; i++)
    NNET2_CHECK(labels.data[i] >= 0 && labels.data[i] < z.cols,
                "SoftmaxCrossEntropy: label " << labels.data[i] << " at row " << i << " is out of range [0, "
                                              << z.cols << ")");
  double objf = 0.0, correct = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : objf, correct)
  for (index_t i = 0; i < z.rows; i++) {
    float *yr = y.row(i);
    float *dzr = dz.row(i);
    const index_t lab = labels.data[i];
    SoftmaxRow(z.row(i), yr, z.cols);  // the same row again right after: still in cache
    // First index of the largest output (a vectorized max, then a short scan for it).
    const float ymax = RowMax(yr, z.cols);
    index_t best = 0;
    while (best + 1 < z.cols && yr[best] != ymax) best++;  // bounded: NaN rows
    correct += (best == lab) ? 1.0 : 0.0;
    objf += std::log((double)yr[lab]);
    NegateRow(yr, dzr, z.cols);
    dzr[lab] += 1.0f;
  }
  info.objf = objf;
  info.num_correct = correct;
  return info;
}

void SpliceFrames(const MatView &x, const IntVecView &offsets, const MatView &y) {
  CheckSameDevice(x.dev, y.dev, "SpliceFrames");
  SameDeviceInts(offsets, x.dev, "SpliceFrames offsets");
  NNET2_CHECK(y.rows == x.rows && y.cols == x.cols * offsets.dim,
              "SpliceFrames: output shape (" << y.rows << ", " << y.cols << ") should be (" << x.rows << ", "
                                             << x.cols * offsets.dim << ")");
  if (x.dev == Device::kCuda) { NNET2_ON_GPU(cuda::SpliceFrames(x, offsets, y)); return; }
  NNET2_FOR_ROWS(t, y.rows) {
    for (index_t c = 0; c < offsets.dim; c++) {
      const float *src = x.row(f::ClampFrame(t + offsets.data[c], x.rows));
      float *dst = y.row(t) + c * x.cols;
      for (index_t j = 0; j < x.cols; j++) dst[j] = src[j];
    }
  }
}

void SumGroupForward(const MatView &x, const IntVecView &group_starts, const MatView &y) {
  CheckSameDevice(x.dev, y.dev, "SumGroupForward");
  SameDeviceInts(group_starts, x.dev, "SumGroupForward group_starts");
  NNET2_CHECK(group_starts.dim == y.cols + 1 && x.rows == y.rows,
              "SumGroupForward: " << group_starts.dim - 1 << " groups for output dim " << y.cols);
  {
    std::vector<std::int32_t> copy;
    const std::int32_t *st = HostInts(group_starts, &copy);
    NNET2_CHECK(st[0] == 0, "SumGroupForward: group_starts[0] is " << st[0] << ", expected 0");
    for (index_t k = 0; k < y.cols; k++)
      NNET2_CHECK(st[k + 1] >= st[k], "SumGroupForward: group_starts decreases at " << k + 1 << " (" << st[k]
                                                                                    << " then " << st[k + 1] << ")");
    NNET2_CHECK(st[y.cols] == x.cols, "SumGroupForward: group sizes add up to " << st[y.cols]
                                                                                << ", input dim is " << x.cols);
  }
  if (x.dev == Device::kCuda) { NNET2_ON_GPU(cuda::SumGroupForward(x, group_starts, y)); return; }
  NNET2_FOR_ROWS(i, x.rows) {
    const float *xr = x.row(i);
    float *yr = y.row(i);
    for (index_t k = 0; k < y.cols; k++) {
      float s = 0.f;
      for (index_t j = group_starts.data[k]; j < group_starts.data[k + 1]; j++) s += xr[j];
      yr[k] = s;
    }
  }
}

void SumGroupBackward(const MatView &dy, const IntVecView &group_of_input, const MatView &dx) {
  CheckSameDevice(dy.dev, dx.dev, "SumGroupBackward");
  SameDeviceInts(group_of_input, dy.dev, "SumGroupBackward group_of_input");
  NNET2_CHECK(group_of_input.dim == dx.cols && dx.rows == dy.rows,
              "SumGroupBackward: group map has " << group_of_input.dim << " entries for input dim " << dx.cols);
  {
    std::vector<std::int32_t> copy;
    const std::int32_t *g = HostInts(group_of_input, &copy);
    for (index_t j = 0; j < dx.cols; j++)
      NNET2_CHECK(g[j] >= 0 && g[j] < dy.cols, "SumGroupBackward: group_of_input[" << j << "] = " << g[j]
                                                                                    << " is not in [0, " << dy.cols
                                                                                    << ")");
  }
  if (dy.dev == Device::kCuda) { NNET2_ON_GPU(cuda::SumGroupBackward(dy, group_of_input, dx)); return; }
  NNET2_FOR_ROWS(i, dy.rows) {
    const float *dyr = dy.row(i);
    float *dxr = dx.row(i);
    for (index_t j = 0; j < dx.cols; j++) dxr[j] = dyr[group_of_input.data[j]];
  }
}

}  // namespace nnet2
