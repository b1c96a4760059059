// The execution context of the CUDA launchers: the current stream (per thread), one cuBLAS handle and
// one scratch buffer per device, the device-pointer check, and cuBLAS itself, loaded on first use.
#include <dlfcn.h>

#include <memory>
#include <mutex>
#include <vector>

#include "cuda/cuda_common.cuh"

namespace nnet2 {
namespace cuda {
namespace {

thread_local std::uintptr_t t_stream = 0;  // 0: the default stream
thread_local bool t_chosen = false;        // a StreamScope has taken its stream

struct DeviceState {
  std::mutex blas_mu;
  cublasHandle_t blas = nullptr;
  std::mutex scratch_mu;
  void *scratch = nullptr;
  size_t scratch_bytes = 0;
};

// Never destroyed: handles and scratch live until the process exits (destroying them after the CUDA
// runtime has shut down would fail).
DeviceState &State(int device) {
  static std::mutex mu;
  static auto *states = new std::vector<std::unique_ptr<DeviceState>>();
  std::lock_guard<std::mutex> g(mu);
  NNET2_CHECK(device >= 0, "invalid CUDA device " << device);
  if ((size_t)device >= states->size()) states->resize((size_t)device + 1);
  if (!(*states)[device]) (*states)[device].reset(new DeviceState);
  return *(*states)[device];
}

int CurrentDevice() {
  int d = 0;
  NNET2_CUDA_CHECK(cudaGetDevice(&d));
  return d;
}

#define NNET2_STR2(x) #x
#define NNET2_STR(x) NNET2_STR2(x)

// cuBLAS is opened with dlopen when the first GEMM runs, so a CUDA build imports and runs on the CPU
// where libcublas is absent; the library is searched along the extension's RUNPATH (the nvidia-cublas
// wheel beside it in site-packages, or where the build found cuBLAS), then the usual places.
struct CublasApi {
  decltype(&cublasCreate_v2) create = nullptr;
  decltype(&cublasSetStream_v2) set_stream = nullptr;
  decltype(&cublasSgemm_v2) sgemm = nullptr;
};

const CublasApi &Cublas() {
  static std::mutex mu;
  static CublasApi api;
  std::lock_guard<std::mutex> g(mu);
  if (api.sgemm != nullptr) return api;
  const char *names[] = {"libcublas.so." NNET2_STR(CUBLAS_VER_MAJOR), "libcublas.so"};
  void *h = nullptr;
  const char *err = "";
  for (const char *n : names) {
    h = dlopen(n, RTLD_NOW | RTLD_GLOBAL);
    if (h != nullptr) break;
    const char *e = dlerror();
    if (e != nullptr && *err == '\0') err = e;
  }
  NNET2_CHECK(h != nullptr, "cuBLAS (libcublas.so." NNET2_STR(CUBLAS_VER_MAJOR) ") was not found: install "
                            "the GPU extra (pip install 'nnet2[gpu]', which brings nvidia-cublas) or put the "
                            "CUDA toolkit's lib64 on LD_LIBRARY_PATH ("
                                << err << ")");
  CublasApi a;
  a.create = reinterpret_cast<decltype(a.create)>(dlsym(h, "cublasCreate_v2"));
  a.set_stream = reinterpret_cast<decltype(a.set_stream)>(dlsym(h, "cublasSetStream_v2"));
  a.sgemm = reinterpret_cast<decltype(a.sgemm)>(dlsym(h, "cublasSgemm_v2"));
  NNET2_CHECK(a.create != nullptr && a.set_stream != nullptr && a.sgemm != nullptr,
              "the cuBLAS library found lacks cublasCreate_v2/cublasSetStream_v2/cublasSgemm_v2");
  api = a;
  return api;
}

}  // namespace

// ---- streams -----------------------------------------------------------------------------------
StreamScope::StreamScope() : prev_stream_(t_stream), prev_chosen_(t_chosen) {
  t_stream = 0;
  t_chosen = false;
}

StreamScope::~StreamScope() {
  t_stream = prev_stream_;
  t_chosen = prev_chosen_;
}

void StreamScope::Use(std::uintptr_t stream) {
  if (!t_chosen) {
    t_stream = stream;
    t_chosen = true;
    return;
  }
  if (stream == t_stream) return;
  // Another array names another stream: its pending work must be done before ours starts.
  cudaEvent_t ev;
  NNET2_CUDA_CHECK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
  cudaError_t e = cudaEventRecord(ev, reinterpret_cast<cudaStream_t>(stream));
  if (e == cudaSuccess) e = cudaStreamWaitEvent(reinterpret_cast<cudaStream_t>(t_stream), ev, 0);
  cudaEventDestroy(ev);  // released once the wait is satisfied
  NNET2_CHECK(e == cudaSuccess, "CUDA error joining streams: " << cudaGetErrorString(e));
}

std::uintptr_t CurrentStream() { return t_stream; }

void SynchronizeStream() { NNET2_CUDA_CHECK(cudaStreamSynchronize(Stream())); }

void Synchronize() { NNET2_CUDA_CHECK(cudaDeviceSynchronize()); }

void CheckDevicePointer(const void *p, const char *name) {
  if (p == nullptr) return;
  cudaPointerAttributes a;
  cudaError_t e = cudaPointerGetAttributes(&a, p);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error state
    NNET2_CHECK(false, "argument '" << name << "': cannot query its GPU memory (" << cudaGetErrorString(e) << ")");
  }
  NNET2_CHECK(a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged,
              "argument '" << name << "': its __cuda_array_interface__ pointer is not GPU memory");
  const int cur = CurrentDevice();
  NNET2_CHECK(a.type == cudaMemoryTypeManaged || a.device == cur,
              "argument '" << name << "' is on GPU " << a.device << " but the current GPU is " << cur
                           << " (make it current, e.g. with cupy.cuda.Device(" << a.device << "), or copy the array)");
}

// ---- cuBLAS --------------------------------------------------------------------------------------
std::string CublasLibraryPath() {
  Dl_info info;
  const CublasApi &api = Cublas();
  if (dladdr(reinterpret_cast<void *>(api.sgemm), &info) != 0 && info.dli_fname != nullptr) return info.dli_fname;
  return "libcublas";
}

BlasLease::BlasLease() : device_(CurrentDevice()) {
  const CublasApi &api = Cublas();
  DeviceState &s = State(device_);
  s.blas_mu.lock();
  try {
    if (s.blas == nullptr) NNET2_CUBLAS_CHECK(api.create(&s.blas));
    NNET2_CUBLAS_CHECK(api.set_stream(s.blas, Stream()));
    handle_ = s.blas;
  } catch (...) {
    s.blas_mu.unlock();
    throw;
  }
}

BlasLease::~BlasLease() { State(device_).blas_mu.unlock(); }

cublasStatus_t BlasLease::Sgemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const float *alpha,
                                const float *A, int lda, const float *B, int ldb, const float *beta, float *C,
                                int ldc) {
  return Cublas().sgemm(handle_, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

// ---- scratch -------------------------------------------------------------------------------------
ScratchLease::ScratchLease(size_t bytes) : data_(nullptr), device_(CurrentDevice()) {
  DeviceState &s = State(device_);
  s.scratch_mu.lock();
  try {
    if (s.scratch_bytes < bytes) {
      if (s.scratch != nullptr) {
        cudaFree(s.scratch);  // waits for the device: nothing still uses the old buffer
        s.scratch = nullptr;
        s.scratch_bytes = 0;
      }
      const size_t nb = std::max<size_t>(bytes, (size_t)1 << 20);
      NNET2_CUDA_CHECK(cudaMalloc(&s.scratch, nb));
      s.scratch_bytes = nb;
    }
    data_ = s.scratch;
  } catch (...) {
    s.scratch_mu.unlock();
    throw;
  }
}

ScratchLease::~ScratchLease() { State(device_).scratch_mu.unlock(); }

}  // namespace cuda
}  // namespace nnet2
