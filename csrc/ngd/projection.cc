#include "ngd/projection.h"

#include <algorithm>

#include "math/avx512.h"
#include "math/blas.h"

#ifdef NNET2_HAVE_AVX512
#define NNET2_PROJECTION_AVX512 1
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

namespace nnet2 {

bool ProjectionAvailable() {
#ifdef NNET2_PROJECTION_AVX512
  return Avx512Available();
#else
  return false;
#endif
}

#ifdef NNET2_PROJECTION_AVX512
namespace {

// a[p][k][c] = W[16p + c][k]: 16 x 16 blocks transposed in registers; rows past R are 0.
NNET2_AVX512 void PackRowsByK(const MatView &W, float *a) {
  const index_t R = W.rows, D = W.cols, nd = (D + 15) / 16;
  for (index_t p = 0; p < (R + 15) / 16; p++) {
    float *dst = a + p * D * 16;
    for (index_t j = 0; j < nd; j++) {
      const index_t k0 = 16 * j, kn = std::min<index_t>(16, D - k0);
      const __mmask16 m = TailMask(kn);
      __m512 r[16], out[16];
      for (int c = 0; c < 16; c++)
        r[c] = 16 * p + c < R ? _mm512_maskz_loadu_ps(m, W.row(16 * p + c) + k0) : _mm512_setzero_ps();
      Transpose16(r, out);
      for (index_t k = 0; k < kn; k++) _mm512_storeu_ps(dst + (k0 + k) * 16, out[k]);
    }
  }
}

// H[0..MR, 16 p0 .. 16 (p0 + V)) = X[0..MR, :] W^T over the packed rows of W: MR x V accumulators, one
// broadcast of X per row and one load of the panel per 16 columns for each k.
template <int MR, int V>
NNET2_AVX512 inline void HTile(const float *X, index_t ldx, index_t D, const float *rows_by_k, index_t p0,
                               index_t R, float *H, index_t ldh) {
  __m512 acc[MR][V];
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
    for (int v = 0; v < V; v++) acc[i][v] = _mm512_setzero_ps();
  const float *b = rows_by_k + p0 * D * 16;
  for (index_t k = 0; k < D; k++) {
    __m512 bv[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; v++) bv[v] = _mm512_loadu_ps(b + (v * D + k) * 16);
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
      const __m512 x = _mm512_set1_ps(X[i * ldx + k]);
#pragma GCC unroll 4
      for (int v = 0; v < V; v++) acc[i][v] = _mm512_fmadd_ps(x, bv[v], acc[i][v]);
    }
  }
#pragma GCC unroll 4
  for (int v = 0; v < V; v++) {
    const index_t c0 = (p0 + v) * 16;
    const __mmask16 m = TailMask(R - c0);
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) _mm512_mask_storeu_ps(H + i * ldh + c0, m, acc[i][v]);
  }
}

template <int MR>
NNET2_AVX512 void HRows(const float *X, index_t ldx, index_t D, const float *rows_by_k, index_t R, float *H,
                        index_t ldh) {
  const index_t np = (R + 15) / 16;
  index_t p = 0;
  for (; p + 3 <= np; p += 3) HTile<MR, 3>(X, ldx, D, rows_by_k, p, R, H, ldh);
  if (np - p == 2) HTile<MR, 2>(X, ldx, D, rows_by_k, p, R, H, ldh);
  if (np - p == 1) HTile<MR, 1>(X, ldx, D, rows_by_k, p, R, H, ldh);
}

NNET2_AVX512 void HBlock(const MatView &X, const PackedProjection &W, const MatView &H, index_t r0, index_t r1) {
  const index_t D = W.dim, R = W.rank;
  const float *a = W.rows_by_k.data();
  index_t i = r0;
  for (; i + 8 <= r1; i += 8) HRows<8>(X.row(i), X.stride, D, a, R, H.row(i), H.stride);
  for (; i + 4 <= r1; i += 4) HRows<4>(X.row(i), X.stride, D, a, R, H.row(i), H.stride);
  for (; i < r1; i++) HRows<1>(X.row(i), X.stride, D, a, R, H.row(i), H.stride);
}

// Row blocks of 8 over the threads (each row whole on one thread), when there is enough work to share.
int ProjectionThreads(index_t N, index_t D, index_t R) {
#ifdef _OPENMP
  if (omp_in_parallel()) return 1;
  const int t = GetNumThreads();
  const index_t blocks = (N + 7) / 8;
  if (t < 2 || blocks < 2 || N * D * R < 200000) return 1;
  return (int)std::min<index_t>(t, blocks);
#else
  (void)N;
  (void)D;
  (void)R;
  return 1;
#endif
}

inline void BlockRows(index_t N, int j, int nt, index_t *r0, index_t *r1) {
  const index_t blocks = (N + 7) / 8;
  *r0 = std::min(N, blocks * j / nt * 8);
  *r1 = std::min(N, blocks * (j + 1) / nt * 8);
}

}  // namespace
#endif  // NNET2_PROJECTION_AVX512

void ProjectionPack(const MatView &W, PackedProjection *packed) {
  NNET2_CHECK(ProjectionAvailable(), "ProjectionPack: needs a CPU with AVX-512 (use Gemm)");
  NNET2_CHECK(W.dev == Device::kCpu && W.rows > 0 && W.cols > 0, "ProjectionPack: W must be a non-empty CPU matrix");
  const index_t R = W.rows, D = W.cols;
  if (packed->rank != R || packed->dim != D) {  // sized once per shape; every element is written below
    packed->rank = R;
    packed->dim = D;
    packed->rows_by_k.resize((size_t)((R + 15) / 16) * D * 16);
  }
#ifdef NNET2_PROJECTION_AVX512
  PackRowsByK(W, packed->rows_by_k.data());
#endif
}

namespace {
void CheckProjection(const MatView &X, const PackedProjection &W, const char *what) {
  NNET2_CHECK(ProjectionAvailable(), what << ": needs a CPU with AVX-512 (use Gemm)");
  NNET2_CHECK(X.dev == Device::kCpu, what << ": X must be on the CPU");
  NNET2_CHECK(X.cols == W.dim && W.rank > 0, what << ": X has " << X.cols << " columns, the packed W is "
                                                  << W.rank << " x " << W.dim);
}
}  // namespace

void ProjectionH(const MatView &X, const PackedProjection &W, const MatView &H) {
  CheckProjection(X, W, "ProjectionH");
  CheckShape(H, X.rows, W.rank, "ProjectionH H");
  NNET2_CHECK(H.dev == Device::kCpu, "ProjectionH: H must be on the CPU");
#ifdef NNET2_PROJECTION_AVX512
  const index_t N = X.rows;
  const int nt = ProjectionThreads(N, W.dim, W.rank);
  if (nt < 2) {
    HBlock(X, W, H, 0, N);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
  {
    const int team = omp_get_num_threads();
    for (int j = omp_get_thread_num(); j < nt; j += team) {  // blocks by index: a short team still does all
      index_t r0, r1;
      BlockRows(N, j, nt, &r0, &r1);
      HBlock(X, W, H, r0, r1);
    }
  }
#endif  // _OPENMP
#endif  // NNET2_PROJECTION_AVX512
}

}  // namespace nnet2
