// The Python boundary: turn numpy arrays (CPU) and objects with __cuda_array_interface__ (cupy, GPU)
// into core views without copying. The same checks run for both kinds (dtype, dimensions, contiguous
// columns, row strides that neither repeat nor overlap rows, writability); GPU arrays are also checked
// to live on the current device, and the stream each names becomes the stream of this call
// (cuda::StreamScope). Every binding that takes arrays opens a CallScope first.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <memory>
#include <string>
#include <vector>

#include "common/common.h"
#include "common/device.h"
#include "cuda/cuda_api.h"
#include "math/matrix.h"

namespace py = pybind11;

namespace nnet2 {
namespace py_boundary {

// One binding call: the stream the GPU arrays name (CUDA builds) is made current for its duration.
class CallScope {
 public:
  CallScope() {
#ifdef NNET2_WITH_CUDA
    scope_.reset(new cuda::StreamScope());
    Current() = this;
#endif
  }
  ~CallScope() {
#ifdef NNET2_WITH_CUDA
    Current() = nullptr;
#endif
  }
  CallScope(const CallScope &) = delete;
  CallScope &operator=(const CallScope &) = delete;

  // Called for each GPU array with its __cuda_array_interface__ "stream" (absent / None: nothing to order).
  static void UseStream(const py::dict &cai) {
#ifdef NNET2_WITH_CUDA
    if (Current() == nullptr || !cai.contains("stream") || cai["stream"].is_none()) return;
    Current()->scope_->Use(cai["stream"].cast<std::uintptr_t>());
#else
    (void)cai;
#endif
  }

 private:
#ifdef NNET2_WITH_CUDA
  static CallScope *&Current() {
    static thread_local CallScope *cur = nullptr;
    return cur;
  }
  std::unique_ptr<cuda::StreamScope> scope_;
#endif
};

inline bool IsCuda(const py::handle &o) { return py::hasattr(o, "__cuda_array_interface__"); }

// What both kinds of array share, in elements (not bytes) for the strides.
struct ArrayInfo {
  void *ptr = nullptr;
  std::vector<index_t> shape, strides;  // strides in bytes
  std::string dtype;                    // "float32" / "int32" / other
  bool writable = true;
  Device dev = Device::kCpu;
};

inline std::string DtypeName(const std::string &typestr) {
  if (typestr == "<f4") return "float32";
  if (typestr == "<i4") return "int32";
  return typestr;
}

inline ArrayInfo Inspect(const py::handle &o, const char *name) {
  ArrayInfo a;
  if (IsCuda(o)) {
    py::dict cai = o.attr("__cuda_array_interface__");
    py::tuple data = cai["data"];
    a.ptr = reinterpret_cast<void *>(data[0].cast<std::uintptr_t>());
    a.writable = !data[1].cast<bool>();
    const std::string typestr = cai["typestr"].cast<std::string>();
    a.dtype = DtypeName(typestr);
    for (auto s : cai["shape"].cast<py::tuple>()) a.shape.push_back(s.cast<index_t>());
    const index_t item = typestr.size() >= 3 ? std::stol(typestr.substr(2)) : 4;
    if (cai.contains("strides") && !cai["strides"].is_none()) {
      for (auto s : cai["strides"].cast<py::tuple>()) a.strides.push_back(s.cast<index_t>());
    } else {  // C-contiguous
      a.strides.assign(a.shape.size(), item);
      for (int i = (int)a.shape.size() - 2; i >= 0; i--) a.strides[i] = a.strides[i + 1] * a.shape[i + 1];
    }
    a.dev = Device::kCuda;
    index_t size = 1;
    for (index_t s : a.shape) size *= s;
    if (size > 0) {
      NNET2_ON_GPU(cuda::CheckDevicePointer(a.ptr, name));
      CallScope::UseStream(cai);
    }
    return a;
  }
  NNET2_CHECK(py::isinstance<py::array>(o), "argument '" << name << "': expected a numpy or cupy array, got "
                                                         << std::string(py::str(py::type::handle_of(o).attr("__name__"))));
  py::array arr = py::reinterpret_borrow<py::array>(o);
  a.ptr = const_cast<void *>(arr.data());
  a.writable = arr.writeable();
  if (arr.dtype().is(py::dtype::of<float>()))
    a.dtype = "float32";
  else if (arr.dtype().is(py::dtype::of<std::int32_t>()))
    a.dtype = "int32";
  else
    a.dtype = std::string(py::str(arr.dtype()));
  for (py::ssize_t i = 0; i < arr.ndim(); i++) {
    a.shape.push_back(arr.shape(i));
    a.strides.push_back(arr.strides(i));
  }
  return a;
}

inline void CheckCommon(const ArrayInfo &a, const char *name, const char *dtype, size_t ndim, bool writable) {
  NNET2_CHECK(a.dtype == dtype, "argument '" << name << "': expected " << dtype << ", got " << a.dtype);
  NNET2_CHECK(a.shape.size() == ndim, "argument '" << name << "': expected a " << ndim << "-D array, got "
                                                   << a.shape.size() << "-D");
  NNET2_CHECK(!writable || a.writable, "argument '" << name << "': array is read-only");
}

// A 2-D float32 matrix with unit column stride; rows may be strided but never repeat or overlap
// (row stride >= number of columns), on either device.
inline MatView Mat(const py::handle &o, const char *name, bool writable = false) {
  const ArrayInfo a = Inspect(o, name);
  CheckCommon(a, name, "float32", 2, writable);
  const index_t rows = a.shape[0], cols = a.shape[1];
  const bool empty = rows == 0 || cols == 0;  // no element: its strides mean nothing (numpy gives 0)
  NNET2_CHECK(empty || cols == 1 || a.strides[1] == 4,
              "argument '" << name << "': columns must be contiguous (use "
                           << (a.dev == Device::kCuda ? "cupy" : "numpy") << ".ascontiguousarray)");
  NNET2_CHECK(empty || rows == 1 || (a.strides[0] % 4 == 0 && a.strides[0] >= 4 * cols && a.strides[0] > 0),
              "argument '" << name << "': unsupported row stride " << a.strides[0] << " bytes for " << cols
                           << " columns (rows must not repeat or overlap)");
  const index_t stride = empty || rows == 1 ? cols : a.strides[0] / 4;
  return MatView(static_cast<float *>(a.ptr), rows, cols, stride, a.dev);
}

inline VecView Vec(const py::handle &o, const char *name, bool writable = false) {
  const ArrayInfo a = Inspect(o, name);
  CheckCommon(a, name, "float32", 1, writable);
  NNET2_CHECK(a.shape[0] <= 1 || a.strides[0] == 4, "argument '" << name << "': expected a contiguous 1-D array");
  return VecView(static_cast<float *>(a.ptr), a.shape[0], a.dev);
}

inline IntVecView IntVec(const py::handle &o, const char *name) {
  const ArrayInfo a = Inspect(o, name);
  CheckCommon(a, name, "int32", 1, false);
  NNET2_CHECK(a.shape[0] <= 1 || a.strides[0] == 4,
              "argument '" << name << "': expected a contiguous 1-D int32 array");
  IntVecView v;
  v.data = static_cast<const std::int32_t *>(a.ptr);
  v.dim = a.shape[0];
  v.dev = a.dev;
  return v;
}

}  // namespace py_boundary
}  // namespace nnet2
