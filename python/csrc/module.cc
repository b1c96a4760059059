// nnet2._core: thin bindings over the C++ core (one bind_*.cc per core area).
#include <pybind11/pybind11.h>

#include "common/common.h"
#include "common/device.h"
#include "cuda/cuda_api.h"
#include "math/blas.h"

namespace py = pybind11;

namespace nnet2 {
void BindNnet(py::module_ &m);
void BindNgd(py::module_ &m);
void BindRbm(py::module_ &m);
}  // namespace nnet2

PYBIND11_MODULE(_core, m) {
  m.doc() = "nnet2 C++/CUDA core: component kernels, online NG-SGD, RBM CD-1 (numpy = CPU, cupy = GPU)";
  py::register_exception<nnet2::Error>(m, "CoreError", PyExc_ValueError);
  m.def("cuda_compiled", &nnet2::CudaCompiled, "True if this build includes the CUDA kernels.");
  m.def(
      "cublas_library",
      []() -> std::string {
#ifdef NNET2_WITH_CUDA
        return nnet2::cuda::CublasLibraryPath();
#else
        throw nnet2::Error("nnet2 was built without CUDA: no cuBLAS to load");
#endif
      },
      "Load cuBLAS as the first GPU GEMM does (no GPU needed) and return its path; raises with one line "
      "naming the GPU extra when it is missing.");
  m.def("set_num_threads", &nnet2::SetNumThreads, py::arg("n"),
        "Set the threads used by OpenBLAS and the OpenMP loops; returns the previous BLAS setting.");
  m.def("get_num_threads", &nnet2::GetNumThreads, "Threads OpenBLAS uses.");
  m.def("blas_kernel", &nnet2::BlasCoreName,
        "The kernel family OpenBLAS picked for this CPU when it loaded (e.g. 'SkylakeX', 'Haswell'): its own "
        "detection, or the one OPENBLAS_CORETYPE in the environment forced.");
  m.def("synchronize", &nnet2::DeviceSynchronize, py::call_guard<py::gil_scoped_release>(),
        "Wait for queued GPU work (no-op on the CPU); call before handing device memory to MPI.");
  nnet2::BindNnet(m);
  nnet2::BindNgd(m);
  nnet2::BindRbm(m);
}
