// The Python boundary: turn numpy arrays (CPU) and objects with __cuda_array_interface__ (cupy, GPU)
// into core views without copying. Shape/dtype/device problems are reported naming the argument.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "common/common.h"
#include "math/matrix.h"

namespace py = pybind11;

namespace nnet2 {
namespace py_boundary {

inline bool IsCuda(const py::handle &o) { return py::hasattr(o, "__cuda_array_interface__"); }

struct CudaArray {
  void *ptr;
  std::vector<index_t> shape, strides;  // strides in bytes (computed for C order when absent)
  std::string typestr;
  bool readonly;
};

inline CudaArray ParseCai(const py::handle &o, const char *name) {
  py::dict cai = o.attr("__cuda_array_interface__");
  CudaArray a;
  py::tuple data = cai["data"];
  a.ptr = reinterpret_cast<void *>(data[0].cast<std::uintptr_t>());
  a.readonly = data[1].cast<bool>();
  a.typestr = cai["typestr"].cast<std::string>();
  for (auto s : cai["shape"].cast<py::tuple>()) a.shape.push_back(s.cast<index_t>());
  index_t item = a.typestr.size() >= 3 ? std::stol(a.typestr.substr(2)) : 4;
  if (cai.contains("strides") && !cai["strides"].is_none()) {
    for (auto s : cai["strides"].cast<py::tuple>()) a.strides.push_back(s.cast<index_t>());
  } else {
    a.strides.assign(a.shape.size(), item);
    for (int i = (int)a.shape.size() - 2; i >= 0; i--) a.strides[i] = a.strides[i + 1] * a.shape[i + 1];
  }
  (void)name;
  return a;
}

// A 2-D float32 matrix with unit column stride (rows may be strided).
inline MatView Mat(const py::handle &o, const char *name, bool writable = false) {
  if (IsCuda(o)) {
    CudaArray a = ParseCai(o, name);
    NNET2_CHECK(a.typestr == "<f4", "argument '" << name << "': expected float32, got " << a.typestr);
    NNET2_CHECK(a.shape.size() == 2, "argument '" << name << "': expected a 2-D array, got " << a.shape.size()
                                                 << "-D");
    NNET2_CHECK(!writable || !a.readonly, "argument '" << name << "': array is read-only");
    NNET2_CHECK(a.shape[1] <= 1 || a.strides[1] == 4,
                "argument '" << name << "': columns must be contiguous (use cupy.ascontiguousarray)");
    NNET2_CHECK(a.strides[0] % 4 == 0 && a.strides[0] >= 0, "argument '" << name << "': bad row stride");
    index_t stride = a.shape[0] <= 1 ? a.shape[1] : a.strides[0] / 4;
    return MatView(static_cast<float *>(a.ptr), a.shape[0], a.shape[1], stride, Device::kCuda);
  }
  NNET2_CHECK(py::isinstance<py::array>(o), "argument '" << name << "': expected a numpy or cupy array, got "
                                                         << std::string(py::str(py::type::handle_of(o).attr("__name__"))));
  py::array arr = py::reinterpret_borrow<py::array>(o);
  NNET2_CHECK(arr.dtype().is(py::dtype::of<float>()),
              "argument '" << name << "': expected float32, got " << std::string(py::str(arr.dtype())));
  NNET2_CHECK(arr.ndim() == 2, "argument '" << name << "': expected a 2-D array, got " << arr.ndim() << "-D");
  NNET2_CHECK(!writable || arr.writeable(), "argument '" << name << "': array is read-only");
  NNET2_CHECK(arr.shape(1) <= 1 || arr.strides(1) == 4,
              "argument '" << name << "': columns must be contiguous (use numpy.ascontiguousarray)");
  NNET2_CHECK(arr.shape(0) <= 1 || (arr.strides(0) % 4 == 0 && arr.strides(0) >= 4 * arr.shape(1)),
              "argument '" << name << "': unsupported row stride " << arr.strides(0));
  index_t stride = arr.shape(0) <= 1 ? arr.shape(1) : arr.strides(0) / 4;
  return MatView(static_cast<float *>(const_cast<void *>(arr.data())), arr.shape(0), arr.shape(1), stride,
                 Device::kCpu);
}

inline VecView Vec(const py::handle &o, const char *name, bool writable = false) {
  if (IsCuda(o)) {
    CudaArray a = ParseCai(o, name);
    NNET2_CHECK(a.typestr == "<f4", "argument '" << name << "': expected float32, got " << a.typestr);
    NNET2_CHECK(a.shape.size() == 1 && (a.shape[0] <= 1 || a.strides[0] == 4),
                "argument '" << name << "': expected a contiguous 1-D array");
    NNET2_CHECK(!writable || !a.readonly, "argument '" << name << "': array is read-only");
    return VecView(static_cast<float *>(a.ptr), a.shape[0], Device::kCuda);
  }
  NNET2_CHECK(py::isinstance<py::array>(o), "argument '" << name << "': expected a numpy or cupy array");
  py::array arr = py::reinterpret_borrow<py::array>(o);
  NNET2_CHECK(arr.dtype().is(py::dtype::of<float>()),
              "argument '" << name << "': expected float32, got " << std::string(py::str(arr.dtype())));
  NNET2_CHECK(arr.ndim() == 1 && (arr.shape(0) <= 1 || arr.strides(0) == 4),
              "argument '" << name << "': expected a contiguous 1-D array");
  NNET2_CHECK(!writable || arr.writeable(), "argument '" << name << "': array is read-only");
  return VecView(static_cast<float *>(const_cast<void *>(arr.data())), arr.shape(0), Device::kCpu);
}

inline IntVecView IntVec(const py::handle &o, const char *name) {
  IntVecView v;
  if (IsCuda(o)) {
    CudaArray a = ParseCai(o, name);
    NNET2_CHECK(a.typestr == "<i4", "argument '" << name << "': expected int32, got " << a.typestr);
    NNET2_CHECK(a.shape.size() == 1 && (a.shape[0] <= 1 || a.strides[0] == 4),
                "argument '" << name << "': expected a contiguous 1-D int32 array");
    v.data = static_cast<const std::int32_t *>(a.ptr);
    v.dim = a.shape[0];
    v.dev = Device::kCuda;
    return v;
  }
  NNET2_CHECK(py::isinstance<py::array>(o), "argument '" << name << "': expected a numpy or cupy array");
  py::array arr = py::reinterpret_borrow<py::array>(o);
  NNET2_CHECK(arr.dtype().is(py::dtype::of<std::int32_t>()),
              "argument '" << name << "': expected int32, got " << std::string(py::str(arr.dtype())));
  NNET2_CHECK(arr.ndim() == 1 && (arr.shape(0) <= 1 || arr.strides(0) == 4),
              "argument '" << name << "': expected a contiguous 1-D int32 array");
  v.data = static_cast<const std::int32_t *>(arr.data());
  v.dim = arr.shape(0);
  v.dev = Device::kCpu;
  return v;
}

}  // namespace py_boundary
}  // namespace nnet2
