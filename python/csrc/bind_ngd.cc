// Bindings for csrc/ngd: the online natural-gradient preconditioner and the preconditioned affine update.
// The GIL is released around compute; one preconditioner object must not be used by two threads at once.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <vector>

#include "common/device.h"
#include "math/ops.h"
#include "ngd/affine_ngd.h"
#include "ngd/ngd.h"
#include "ngd/projection.h"
#include "python/csrc/array.h"

namespace py = pybind11;

namespace nnet2 {
namespace {

using py_boundary::Mat;
using py_boundary::Vec;

// The preconditioner plus the scratch of the affine update it serves as the input side of.
struct PyNgd {
  OnlineNaturalGradient ngd;
  AffineNgdWorkspace ws;
  explicit PyNgd(const NgdOptions &o) : ngd(o) {}
};

NgdOptions MakeOptions(int rank, int update_period, double num_samples_history, double alpha) {
  NgdOptions o;
  o.rank = rank;
  o.update_period = update_period;
  o.num_samples_history = num_samples_history;
  o.alpha = alpha;
  o.Check();
  return o;
}

}  // namespace

void BindNgd(py::module_ &m) {
  py::class_<PyNgd>(m, "OnlineNaturalGradient",
                    "Kaldi's OnlinePreconditioner (online NG-SGD, HEAD semantics). precondition(X) replaces X [N, D] "
                    "(float32 numpy or cupy, modified in place) by X_hat and returns gamma; the state (W [R, D], d [R], "
                    "rho, t) is initialized from the first minibatch and lives on its device.")
      .def(py::init([](int rank, int update_period, double num_samples_history, double alpha) {
             return new PyNgd(MakeOptions(rank, update_period, num_samples_history, alpha));
           }),
           // the preconditioner's own defaults are NgdOptions' (csrc/ngd/ngd.h); an NG-SGD layer passes all
           // of its settings (python/nnet2/nnet/ngd_config.py)
           py::arg("rank") = NgdOptions().rank, py::arg("update_period") = NgdOptions().update_period,
           py::arg("num_samples_history") = NgdOptions().num_samples_history,
           py::arg("alpha") = NgdOptions().alpha)
      .def(
          "precondition",
          [](PyNgd &self, py::handle X, py::object row_prod) {
            py_boundary::CallScope call_scope;
            MatView xv = Mat(X, "X", true);
            VecView rv;
            const bool has_rp = !row_prod.is_none();
            if (has_rp) rv = Vec(row_prod, "row_prod", true);
            py::gil_scoped_release r;
            return self.ngd.PreconditionDirections(xv, has_rp ? &rv : nullptr);
          },
          py::arg("X"), py::arg("row_prod") = py::none(),
          "X [N, D] <- X_hat in place; row_prod [N] (optional, same device) <- squared row norms of X_hat; "
          "returns gamma = ||X||_F / ||X_hat||_F.")
      .def("reset", [](PyNgd &self) { self.ngd.Reset(); }, "Forget the Fisher estimate (re-initialize on next call).")
      .def(
          "state",
          [](const PyNgd &self) {
            const OnlineNaturalGradient &g = self.ngd;
            py::dict s;
            const index_t R = g.rank(), D = g.dim();
            py::array_t<float> W({(py::ssize_t)R, (py::ssize_t)D});
            if (g.initialized() && R > 0) {
              // W was last written on whichever stream the last call used: wait for the whole device.
              if (g.device() == Device::kCuda) DeviceSynchronize();
              CopyMat(g.W(), MatView(W.mutable_data(), R, D, D));
            }
            py::array_t<double> d((py::ssize_t)g.d().size());
            std::copy(g.d().begin(), g.d().end(), d.mutable_data());
            s["W"] = W;
            s["d"] = d;
            s["rho"] = g.rho();
            s["t"] = g.t();
            s["num_updates_skipped"] = g.num_updates_skipped();
            s["rank"] = (py::ssize_t)R;
            s["dim"] = (py::ssize_t)D;
            s["num_reorthogonalizations"] = g.num_reorthogonalizations();
            s["num_gram_schmidt"] = g.num_gram_schmidt();
            return s;
          },
          "Copy of the state: dict(W=float32 [R, D] numpy, d=float64 [R], rho, t, num_updates_skipped, rank, dim, "
          "num_reorthogonalizations, num_gram_schmidt). t == -1 before the first call.")
      .def(
          "set_state",
          [](PyNgd &self, py::handle W, py::array_t<double, py::array::c_style | py::array::forcecast> d, double rho,
             int t, int num_updates_skipped) {
            py_boundary::CallScope call_scope;
            MatView wv = Mat(W, "W");
            NNET2_CHECK(d.ndim() == 1, "argument 'd': expected a 1-D array");
            std::vector<double> dv(d.data(), d.data() + d.shape(0));
            py::gil_scoped_release r;
            self.ngd.SetState(wv, dv, rho, t, num_updates_skipped, wv.dev);
          },
          py::arg("W"), py::arg("d"), py::arg("rho"), py::arg("t") = 0, py::arg("num_updates_skipped") = 0,
          "Install a state (W [R, D] float32 numpy or cupy: the state moves to that device).")
#define NNET2_NGD_OPT(name, type)                                          \
  def_property(                                                            \
      #name, [](const PyNgd &self) { return self.ngd.options().name; },    \
      [](PyNgd &self, type v) {                                            \
        NgdOptions o = self.ngd.options();                                 \
        o.name = v;                                                        \
        self.ngd.SetOptions(o);                                            \
      })
      .NNET2_NGD_OPT(rank, int)
      .NNET2_NGD_OPT(update_period, int)
      .NNET2_NGD_OPT(num_samples_history, double)
      .NNET2_NGD_OPT(alpha, double)
#undef NNET2_NGD_OPT
      .def("__repr__", [](const PyNgd &self) {
        const NgdOptions &o = self.ngd.options();
        return "OnlineNaturalGradient(rank=" + std::to_string(o.rank) +
               ", update_period=" + std::to_string(o.update_period) +
               ", num_samples_history=" + std::to_string(o.num_samples_history) +
               ", alpha=" + std::to_string(o.alpha) + ")";
      });

  m.def("ngd_cpu_kernel", &ProjectionAvailable,
        "True if the CPU preconditioner makes H = X W^T with the packed AVX-512 kernel (csrc/ngd/projection.h), "
        "False where it uses OpenBLAS for it (no AVX-512, or NNET2_NO_AVX512 set). The p = 2 p-norm passes take "
        "their AVX-512 kernels under the same condition.");
  m.def(
      "affine_update_ngd",
      [](py::handle x, py::handle dy, float lr, py::handle W, py::handle b, PyNgd &ngd_in, PyNgd &ngd_out,
         float max_change_per_sample, py::handle dx, bool dy_scratch) {
        py_boundary::CallScope call_scope;
        auto xv = Mat(x, "x"), dv = Mat(dy, "dy", dy_scratch), Wv = Mat(W, "W", true);
        auto bv = Vec(b, "b", true);
        MatView dxv;
        const bool want_dx = !dx.is_none();
        if (want_dx) dxv = Mat(dx, "dx", true);
        AffineNgdInfo info;
        {
          py::gil_scoped_release r;
          info = AffineUpdatePreconditioned(xv, dv, lr, Wv, bv, &ngd_in.ngd, &ngd_out.ngd, max_change_per_sample,
                                            &ngd_in.ws, want_dx ? &dxv : nullptr, dy_scratch);
        }
        py::dict d;
        d["gamma_in"] = info.gamma_in;
        d["gamma_out"] = info.gamma_out;
        d["minibatch_scale"] = info.minibatch_scale;
        return d;
      },
      py::arg("x"), py::arg("dy"), py::arg("lr"), py::arg("W"), py::arg("b"), py::arg("ngd_in"), py::arg("ngd_out"),
      py::arg("max_change_per_sample"), py::arg("dx") = py::none(), py::arg("dy_scratch") = false,
      "AffineComponentPreconditionedOnline update: x [N, I], dy [N, O] (not modified unless dy_scratch), W [O, I] "
      "and b [O] updated in place with the NG-SGD step (gamma_in * gamma_out folded into lr, max-change per sample; "
      "<= 0 disables it). dx [N, I] (optional): also the input derivative dy W with W as it was before the step, "
      "fused with it. dy_scratch: dy is yours to lose (a network's own derivative buffer): on the CPU, unless the "
      "backward's row split runs (2-4 threads with dx), dx is made first and the preconditioned dy replaces dy in "
      "place, with no copy of it (the same bits); dy's contents are then unspecified. "
      "Returns dict(gamma_in, gamma_out, minibatch_scale).");
}

}  // namespace nnet2
