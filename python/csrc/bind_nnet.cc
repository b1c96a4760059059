// Bindings for csrc/nnet/kernels.h. Every function releases the GIL around the compute.
#include <pybind11/pybind11.h>

#include "nnet/kernels.h"
#include "python/csrc/array.h"

namespace py = pybind11;

namespace nnet2 {

using py_boundary::IntVec;
using py_boundary::Mat;
using py_boundary::Vec;

void BindNnet(py::module_ &m) {
  m.def(
      "affine_forward",
      [](py::handle x, py::handle W, py::handle b, py::handle y) {
        py_boundary::CallScope call_scope;
        auto xv = Mat(x, "x"), Wv = Mat(W, "W"), yv = Mat(y, "y", true);
        auto bv = Vec(b, "b");
        py::gil_scoped_release r;
        AffineForward(xv, Wv, bv, yv);
      },
      py::arg("x"), py::arg("W"), py::arg("b"), py::arg("y"), "y[N,O] = x[N,I] W[O,I]^T + b[O] (in place into y).");
  m.def(
      "affine_backward",
      [](py::handle dy, py::handle W, py::handle dx) {
        py_boundary::CallScope call_scope;
        auto a = Mat(dy, "dy"), Wv = Mat(W, "W"), o = Mat(dx, "dx", true);
        py::gil_scoped_release r;
        AffineBackward(a, Wv, o);
      },
      py::arg("dy"), py::arg("W"), py::arg("dx"), "dx[N,I] = dy[N,O] W[O,I].");
  m.def(
      "affine_update",
      [](py::handle x, py::handle dy, float lr, py::handle W, py::handle b) {
        py_boundary::CallScope call_scope;
        auto xv = Mat(x, "x"), dv = Mat(dy, "dy"), Wv = Mat(W, "W", true);
        auto bv = Vec(b, "b", true);
        py::gil_scoped_release r;
        AffineUpdate(xv, dv, lr, Wv, bv);
      },
      py::arg("x"), py::arg("dy"), py::arg("lr"), py::arg("W"), py::arg("b"),
      "W += lr dy^T x; b += lr sum_rows(dy) (gradient ascent, summed over the minibatch).");
  m.def(
      "affine_backprop_update",
      [](py::handle x, py::handle dy, float lr, py::handle W, py::handle b, py::handle dx) {
        py_boundary::CallScope call_scope;
        auto xv = Mat(x, "x"), dv = Mat(dy, "dy"), Wv = Mat(W, "W", true), o = Mat(dx, "dx", true);
        auto bv = Vec(b, "b", true);
        py::gil_scoped_release r;
        AffineBackpropUpdate(xv, dv, lr, Wv, bv, o);
      },
      py::arg("x"), py::arg("dy"), py::arg("lr"), py::arg("W"), py::arg("b"), py::arg("dx"),
      "dx[N,I] = dy W with W as given, then W += lr dy^T x; b += lr sum_rows(dy): affine_backward then "
      "affine_update, fused (on 2+ CPU threads each thread takes a block of W's rows for both products).");

#define NNET2_BIND_UNARY(pyname, fn, doc)                                  \
  m.def(                                                                   \
      pyname,                                                              \
      [](py::handle x, py::handle y) {                                     \
        py_boundary::CallScope call_scope;                                 \
        auto a = Mat(x, "x"), b = Mat(y, "y", true);                       \
        py::gil_scoped_release r;                                          \
        fn(a, b);                                                          \
      },                                                                   \
      py::arg("x"), py::arg("y"), doc)
#define NNET2_BIND_BACK(pyname, fn, a1, doc)                               \
  m.def(                                                                   \
      pyname,                                                              \
      [](py::handle p, py::handle dy, py::handle dx) {                     \
        py_boundary::CallScope call_scope;                                 \
        auto a = Mat(p, a1), b = Mat(dy, "dy"), c = Mat(dx, "dx", true);   \
        py::gil_scoped_release r;                                          \
        fn(a, b, c);                                                       \
      },                                                                   \
      py::arg(a1), py::arg("dy"), py::arg("dx"), doc)

  NNET2_BIND_UNARY("sigmoid_forward", SigmoidForward, "y = 1 / (1 + exp(-x)).");
  NNET2_BIND_BACK("sigmoid_backward", SigmoidBackward, "y", "dx = dy * y * (1 - y).");
  NNET2_BIND_UNARY("tanh_forward", TanhForward, "y = tanh(x).");
  NNET2_BIND_BACK("tanh_backward", TanhBackward, "y", "dx = dy * (1 - y^2).");
  NNET2_BIND_UNARY("normalize_forward", NormalizeForward, "Unit-RMS rows (2^-66 floor on the mean square).");
  NNET2_BIND_BACK("normalize_backward", NormalizeBackward, "x", "Backward of normalize_forward, given its input x.");
  NNET2_BIND_UNARY("softmax_forward", SoftmaxForward, "Row softmax, output floored at 1e-20.");

  m.def(
      "pnorm_forward",
      [](py::handle x, float p, py::handle y) {
        py_boundary::CallScope call_scope;
        auto a = Mat(x, "x"), b = Mat(y, "y", true);
        py::gil_scoped_release r;
        PnormForward(a, p, b);
      },
      py::arg("x"), py::arg("p"), py::arg("y"), "y[:, j] = ||x[:, jG:(j+1)G]||_p with G = x.cols / y.cols.");
  m.def(
      "pnorm_backward",
      [](py::handle x, py::handle y, py::handle dy, float p, py::handle dx) {
        py_boundary::CallScope call_scope;
        auto a = Mat(x, "x"), b = Mat(y, "y"), c = Mat(dy, "dy"), d = Mat(dx, "dx", true);
        py::gil_scoped_release r;
        PnormBackward(a, b, c, p, d);
      },
      py::arg("x"), py::arg("y"), py::arg("dy"), py::arg("p"), py::arg("dx"), "Backward of pnorm_forward.");
  m.def(
      "softmax_cross_entropy",
      [](py::handle z, py::handle labels, py::handle y, py::handle dz) {
        py_boundary::CallScope call_scope;
        auto zv = Mat(z, "z"), yv = Mat(y, "y", true), dv = Mat(dz, "dz", true);
        auto lv = IntVec(labels, "labels");
        ObjfInfo info;
        {
          py::gil_scoped_release r;
          info = SoftmaxCrossEntropy(zv, lv, yv, dv);
        }
        return py::make_tuple(info.objf, info.num_correct);
      },
      py::arg("z"), py::arg("labels"), py::arg("y"), py::arg("dz"),
      "y = softmax(z); dz = onehot(labels) - y; returns (sum log y[label], number of correct rows).");
  m.def(
      "splice_frames",
      [](py::handle x, py::handle offsets, py::handle y) {
        py_boundary::CallScope call_scope;
        auto a = Mat(x, "x"), b = Mat(y, "y", true);
        auto o = IntVec(offsets, "offsets");
        py::gil_scoped_release r;
        SpliceFrames(a, o, b);
      },
      py::arg("x"), py::arg("offsets"), py::arg("y"), "y[t] = concat_c x[clamp(t + offsets[c])].");
  m.def(
      "sum_group_forward",
      [](py::handle x, py::handle starts, py::handle y) {
        py_boundary::CallScope call_scope;
        auto a = Mat(x, "x"), b = Mat(y, "y", true);
        auto s = IntVec(starts, "group_starts");
        py::gil_scoped_release r;
        SumGroupForward(a, s, b);
      },
      py::arg("x"), py::arg("group_starts"), py::arg("y"), "y[:, k] = sum of x over group k.");
  m.def(
      "sum_group_backward",
      [](py::handle dy, py::handle group_of_input, py::handle dx) {
        py_boundary::CallScope call_scope;
        auto a = Mat(dy, "dy"), b = Mat(dx, "dx", true);
        auto g = IntVec(group_of_input, "group_of_input");
        py::gil_scoped_release r;
        SumGroupBackward(a, g, b);
      },
      py::arg("dy"), py::arg("group_of_input"), py::arg("dx"), "dx[:, j] = dy[:, group_of_input[j]].");
}

}  // namespace nnet2
