// Bindings for csrc/ngd (online natural-gradient preconditioner). Filled in by the NG-SGD work.
#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace nnet2 {
void BindNgd(py::module_ &m) { (void)m; }
}  // namespace nnet2
