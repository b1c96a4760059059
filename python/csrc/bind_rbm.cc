// Bindings for csrc/rbm (CD-1 step). Filled in by the RBM work.
#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace nnet2 {
void BindRbm(py::module_ &m) { (void)m; }
}  // namespace nnet2
