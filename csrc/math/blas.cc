#include "math/blas.h"

#include <algorithm>
#include <vector>

#include "common/device.h"
#include "cuda/cuda_api.h"

#ifdef _OPENMP
#include <omp.h>
#endif

extern "C" {
// scipy-openblas32 exports prefixed CBLAS symbols (so it never clashes with numpy's own OpenBLAS).
void scipy_cblas_sgemm(int order, int transa, int transb, int m, int n, int k, float alpha,
                       const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
void scipy_cblas_ssyrk(int order, int uplo, int trans, int n, int k, float alpha, const float *a, int lda,
                       float beta, float *c, int ldc);
void scipy_cblas_sgemv(int order, int trans, int m, int n, float alpha, const float *a, int lda,
                       const float *x, int incx, float beta, float *y, int incy);
void scipy_openblas_set_num_threads(int n);
int scipy_openblas_get_num_threads(void);
char *scipy_openblas_get_corename(void);
// OpenBLAS >= 0.3.27: caller-managed threading (cblas.h, openblas_set_threads_callback_function).
typedef void (*openblas_dojob_callback)(int thread_num, void *jobdata, int dojob_data);
typedef void (*openblas_threads_callback)(int sync, openblas_dojob_callback dojob, int numjobs, size_t jobdata_elsize,
                                          void *jobdata, int dojob_data);
void scipy_openblas_set_threads_callback_function(openblas_threads_callback callback);
}

namespace {
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112, kLower = 122;

int g_num_threads = 0;  // what SetNumThreads last set (0: not yet read from OpenBLAS)
int g_serial_sections = 0;  // > 0: inside a BlasSerialSection (OpenBLAS already on 1 thread, set by the master)

#ifdef _OPENMP
// OpenBLAS's parallel jobs run on our OpenMP threads: one pool of worker threads for BLAS and for the
// elementwise kernels, instead of OpenBLAS's own pthreads spinning beside OpenMP's (on 2 cores, each pool's
// idle spinning took the core the other pool's next parallel region needed; even the thin NG-SGD products,
// 128 x 20 x 361, ran 2-4x slower on 2 threads than on 1, and now run 1.3-1.7x faster). The jobs of one call
// wait on each other (threaded level 3), so each needs its own thread: a team of exactly numjobs threads.
void OmpThreadsCallback(int sync, openblas_dojob_callback dojob, int numjobs, size_t jobdata_elsize, void *jobdata,
                        int dojob_data) {
  (void)sync;  // OpenBLAS always waits for the jobs (sync = 1)
#pragma omp parallel for num_threads(numjobs) schedule(static, 1)
  for (int i = 0; i < numjobs; i++) dojob(i, static_cast<char *>(jobdata) + (size_t)i * jobdata_elsize, dojob_data);
}
#endif

// At most the team OpenMP can give (OMP_THREAD_LIMIT); a shorter team than OpenBLAS's job count would hang.
int ClampThreads(int n) {
#ifdef _OPENMP
  return std::max(1, std::min(n, omp_get_thread_limit()));
#else
  return std::max(1, n);
#endif
}

int NumThreads() {
  if (g_num_threads == 0) {
#ifdef _OPENMP
    omp_set_dynamic(0);  // teams of exactly the size asked for (OMP_DYNAMIC could shrink them)
    scipy_openblas_set_threads_callback_function(OmpThreadsCallback);
#endif
    g_num_threads = scipy_openblas_get_num_threads();
    if (ClampThreads(g_num_threads) != g_num_threads) {
      g_num_threads = ClampThreads(g_num_threads);
      scipy_openblas_set_num_threads(g_num_threads);
    }
  }
  return g_num_threads;
}

// One OpenBLAS thread for the lifetime of this object when called inside an OpenMP parallel region, where a
// team of numjobs threads cannot be had (the job hand-off would hang); otherwise OpenBLAS's own choice.
class SerialInsideParallelRegion {
 public:
  SerialInsideParallelRegion() : threads_(NumThreads()) {
#ifdef _OPENMP
    // (inside a BlasSerialSection the master has set 1 thread for the whole region: a per-call toggle here
    // would race with the other threads' calls, one of them then running OpenBLAS's 2-thread path)
    serial_ = threads_ > 1 && omp_in_parallel() && g_serial_sections == 0;
#endif
    if (serial_) scipy_openblas_set_num_threads(1);
  }
  ~SerialInsideParallelRegion() {
    if (serial_) scipy_openblas_set_num_threads(threads_);
  }
  SerialInsideParallelRegion(const SerialInsideParallelRegion &) = delete;
  SerialInsideParallelRegion &operator=(const SerialInsideParallelRegion &) = delete;

 private:
  int threads_;
  bool serial_ = false;
};

// How many blocks of W's `rows` rows a product is split into, one per thread, each of at least 512 rows: all
// of the threads or none (1: no split; also on the GPU and inside a parallel region). Measured at minibatch
// 128 on 2 threads: the p-norm's 2000-3000-row layers, blocks of 1000-1500 rows, gained; the sigmoid's
// 2048-row ones neither gained nor lost; 256-row blocks for the FSDD recipe's 1000- and 512-row layers made
// their backward products alone 10-20% faster but the whole step no faster. Not measured above 2 threads:
// at most 4 (each block past the first keeps a partial product of dx, and a split that leaves threads idle
// would lose to OpenBLAS's own).
int RowSplitThreads(nnet2::index_t rows, nnet2::Device dev) {
  constexpr nnet2::index_t kMinRowsPerThread = 512;
  constexpr int kMaxThreads = 4;
#ifdef _OPENMP
  const int t = NumThreads();
  if (dev == nnet2::Device::kCpu && !omp_in_parallel() && t >= 2 && t <= kMaxThreads &&
      rows >= kMinRowsPerThread * t)
    return t;
#else
  (void)rows;
  (void)dev;
#endif
  return 1;
}
}  // namespace

namespace nnet2 {

void Gemm(bool trans_a, bool trans_b, float alpha, const MatView &A, const MatView &B, float beta,
          const MatView &C) {
  const index_t m = trans_a ? A.cols : A.rows, k = trans_a ? A.rows : A.cols;
  const index_t kb = trans_b ? B.cols : B.rows, n = trans_b ? B.rows : B.cols;
  NNET2_CHECK(k == kb && C.rows == m && C.cols == n,
              "Gemm: dimension mismatch: op(A) is " << m << "x" << k << ", op(B) is " << kb << "x" << n
                                                   << ", C is " << C.rows << "x" << C.cols);
  CheckSameDevice(A.dev, B.dev, "Gemm");
  CheckSameDevice(A.dev, C.dev, "Gemm");
  if (m == 0 || n == 0) return;
  if (C.dev == Device::kCuda) {
    NNET2_ON_GPU(cuda::Gemm(trans_a, trans_b, alpha, A, B, beta, C));
    return;
  }
  if (k == 0) {  // BLAS may not scale C when k == 0
    for (index_t i = 0; i < m; i++)
      for (index_t j = 0; j < n; j++) C(i, j) = beta == 0.f ? 0.f : beta * C(i, j);
    return;
  }
  SerialInsideParallelRegion serial;
  scipy_cblas_sgemm(kRowMajor, trans_a ? kTrans : kNoTrans, trans_b ? kTrans : kNoTrans, (int)m,
                    (int)n, (int)k, alpha, A.data, (int)std::max<index_t>(A.stride, 1), B.data,
                    (int)std::max<index_t>(B.stride, 1), beta, C.data, (int)std::max<index_t>(C.stride, 1));
}

void SyrkLower(bool trans, float alpha, const MatView &A, float beta, const MatView &C) {
  const index_t n = trans ? A.cols : A.rows, k = trans ? A.rows : A.cols;
  NNET2_CHECK(C.rows == n && C.cols == n, "SyrkLower: op(A) is " << n << "x" << k << ", C is " << C.rows << "x"
                                                                 << C.cols);
  CheckSameDevice(A.dev, C.dev, "SyrkLower");
  if (C.dev == Device::kCuda || k == 0) {
    Gemm(trans, !trans, alpha, A, A, beta, C);
    return;
  }
  if (n == 0) return;
  SerialInsideParallelRegion serial;
  scipy_cblas_ssyrk(kRowMajor, kLower, trans ? kTrans : kNoTrans, (int)n, (int)k, alpha, A.data,
                    (int)std::max<index_t>(A.stride, 1), beta, C.data, (int)std::max<index_t>(C.stride, 1));
}

void GemvTrans(float alpha, const MatView &A, const MatView &x_col, float beta, const VecView &y) {
  NNET2_CHECK(x_col.rows == A.rows && x_col.cols == 1 && y.dim == A.cols,
              "GemvTrans: A is " << A.rows << "x" << A.cols << ", x is " << x_col.rows << "x" << x_col.cols
                                 << ", y has " << y.dim << " elements");
  CheckSameDevice(A.dev, x_col.dev, "GemvTrans");
  CheckSameDevice(A.dev, y.dev, "GemvTrans");
  if (y.dim == 0) return;
  if (y.dev == Device::kCuda || A.rows == 0) {  // Gemm scales y by beta when A has no rows
    Gemm(true, false, alpha, A, x_col, beta, MatView(y.data, y.dim, 1, 1, y.dev));
    return;
  }
  SerialInsideParallelRegion serial;
  scipy_cblas_sgemv(kRowMajor, kTrans, (int)A.rows, (int)A.cols, alpha, A.data, (int)std::max<index_t>(A.stride, 1),
                    x_col.data, (int)std::max<index_t>(x_col.stride, 1), beta, y.data, 1);
}

void AddRowSums(float alpha, const MatView &A, float beta, const VecView &b) {
  NNET2_CHECK(b.dim == A.cols, "AddRowSums: vector has " << b.dim << " elements, matrix has " << A.cols
                                                        << " columns");
  CheckSameDevice(A.dev, b.dev, "AddRowSums");
  if (A.dev == Device::kCuda) {
    NNET2_ON_GPU(cuda::AddRowSums(alpha, A, beta, b));
    return;
  }
  if (A.rows == 0) {
    for (index_t j = 0; j < b.dim; j++) b[j] = beta == 0.f ? 0.f : beta * b[j];
    return;
  }
  // y = alpha * A^T 1 + beta * y, through BLAS gemv (row-major A, transposed).
  std::vector<float> ones(A.rows, 1.0f);
  SerialInsideParallelRegion serial;
  scipy_cblas_sgemv(kRowMajor, kTrans, (int)A.rows, (int)A.cols, alpha, A.data,
                    (int)std::max<index_t>(A.stride, 1), ones.data(), 1, beta, b.data, 1);
}

bool AffineDerivAndUpdateSplits(index_t rows, Device dev) { return RowSplitThreads(rows, dev) >= 2; }

void AffineDerivAndUpdate(const MatView &dy, const MatView &W, const MatView &dx, float alpha, const MatView &G,
                          const MatView &X, const MatView *v, const VecView &b) {
  const index_t N = dy.rows, O = W.rows, I = W.cols;
  CheckShape(dy, N, O, "AffineDerivAndUpdate dy");
  CheckShape(dx, N, I, "AffineDerivAndUpdate dx");
  CheckShape(G, N, O, "AffineDerivAndUpdate G");
  CheckShape(X, N, I, "AffineDerivAndUpdate X");
  NNET2_CHECK(b.dim == O, "AffineDerivAndUpdate: bias has " << b.dim << " elements, W has " << O << " rows");
  if (v != nullptr) CheckShape(*v, N, 1, "AffineDerivAndUpdate v");
  for (Device d : {W.dev, dx.dev, G.dev, X.dev, b.dev}) CheckSameDevice(dy.dev, d, "AffineDerivAndUpdate");
  if (v != nullptr) CheckSameDevice(dy.dev, v->dev, "AffineDerivAndUpdate");
  const int nt = N > 0 && I > 0 ? RowSplitThreads(O, dy.dev) : 1;
  if (nt < 2) {
    Gemm(false, false, 1.0f, dy, W, 0.0f, dx);
    Gemm(true, false, alpha, G, X, 1.0f, W);
    if (v != nullptr)
      GemvTrans(alpha, G, *v, 1.0f, b);
    else
      AddRowSums(alpha, G, 1.0f, b);
    return;
  }
#ifdef _OPENMP
  // Everything the region needs is allocated before it (nothing in it throws: the shapes are checked).
  thread_local std::vector<float> partial_buf;  // the partial products of blocks 1..nt-1
  partial_buf.resize((size_t)(nt - 1) * N * I);
  float *partial = partial_buf.data();
  thread_local std::vector<float> ones_buf;  // the bias's input when v is null: the row sums of G
  if (v == nullptr) ones_buf.assign((size_t)N, 1.0f);
  const MatView bias_in = v != nullptr ? *v : MatView(ones_buf.data(), N, 1, 1);
  BlasSerialSection serial;
#pragma omp parallel num_threads(nt)
  {
    // Blocks by index, not by thread: a smaller team than asked for (OMP_DYNAMIC) still does every block.
    const int team = omp_get_num_threads();
    for (int j = omp_get_thread_num(); j < nt; j += team) {
      const index_t o0 = O * j / nt, n = O * (j + 1) / nt - o0;
      const MatView out = j == 0 ? dx : MatView(partial + (size_t)(j - 1) * N * I, N, I, I);
      Gemm(false, false, 1.0f, dy.ColRange(o0, n), W.RowRange(o0, n), 0.0f, out);
      Gemm(true, false, alpha, G.ColRange(o0, n), X, 1.0f, W.RowRange(o0, n));
      GemvTrans(alpha, G.ColRange(o0, n), bias_in, 1.0f, VecView(b.data + o0, n, b.dev));
    }
#pragma omp barrier
#pragma omp for schedule(static)
    for (index_t i = 0; i < N; i++) {
      float *r = dx.row(i);
      for (int k = 0; k < nt - 1; k++) {
        const float *p = partial + (size_t)k * N * I + (size_t)i * I;
        for (index_t c = 0; c < I; c++) r[c] += p[c];
      }
    }
  }
#endif
}

BlasSerialSection::BlasSerialSection() : threads_(NumThreads()) {
  if (threads_ > 1) scipy_openblas_set_num_threads(1);
  g_serial_sections++;
}

BlasSerialSection::~BlasSerialSection() {
  g_serial_sections--;
  if (threads_ > 1) scipy_openblas_set_num_threads(threads_);
}

int SetNumThreads(int n) {
  int prev = scipy_openblas_get_num_threads();
  NumThreads();  // installs the threads callback before OpenBLAS runs anything threaded
  if (n > 0) {
    n = ClampThreads(n);
    scipy_openblas_set_num_threads(n);
    g_num_threads = n;
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
  }
  return prev;
}

int GetNumThreads() { return scipy_openblas_get_num_threads(); }

std::string BlasCoreName() {
  const char *name = scipy_openblas_get_corename();
  return name != nullptr ? std::string(name) : std::string();
}

}  // namespace nnet2
