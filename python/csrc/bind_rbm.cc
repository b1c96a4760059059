// Bindings for csrc/rbm (CD-1 step) and csrc/math/random (Philox fills). The GIL is released around the
// compute. Workspaces may be passed in (required for GPU arrays); on the CPU they are allocated if absent.
#include <pybind11/pybind11.h>

#include <cstdint>

#include "common/random.h"
#include "math/random.h"
#include "python/csrc/array.h"
#include "rbm/rbm.h"

namespace py = pybind11;

namespace nnet2 {

using py_boundary::IsCuda;
using py_boundary::Mat;
using py_boundary::Vec;

namespace {
py::object WorkspaceOrNew(py::object given, index_t rows, index_t cols, bool on_gpu, const char *name) {
  if (!given.is_none()) return given;
  NNET2_CHECK(!on_gpu, "rbm_cd1_step: pass the workspace array '" << name << "' (" << rows << " x " << cols
                                                                   << " float32) for GPU inputs");
  return py::array_t<float>({(py::ssize_t)rows, (py::ssize_t)cols});
}
}  // namespace

void BindRbm(py::module_ &m) {
  m.def(
      "philox4x32_10",
      [](py::tuple ctr, py::tuple key) {
        NNET2_CHECK(ctr.size() == 4 && key.size() == 2, "philox4x32_10: expected 4 counter words and 2 key words");
        auto c = [&](py::tuple t, int i) { return t[i].cast<std::uint32_t>(); };
        rng::U32x4 r = rng::Philox4x32_10(c(ctr, 0), c(ctr, 1), c(ctr, 2), c(ctr, 3), c(key, 0), c(key, 1));
        return py::make_tuple(r.v[0], r.v[1], r.v[2], r.v[3]);
      },
      py::arg("ctr"), py::arg("key"), "Philox4x32-10 of a (4-word counter, 2-word key): 4 uint32 words.");
  m.def(
      "fill_uniform",
      [](py::handle out, std::uint64_t seed, std::uint64_t offset) {
        py_boundary::CallScope call_scope;
        auto o = Mat(out, "out", true);
        py::gil_scoped_release r;
        FillUniform(seed, offset, o);
      },
      py::arg("out"), py::arg("seed"), py::arg("offset"),
      "out[r, c] = U[0,1) element offset + r*cols + c of the Philox stream for `seed` (same on CPU and GPU).");
  m.def(
      "bernoulli_sample",
      [](py::handle probs, py::handle out, std::uint64_t seed, std::uint64_t offset) {
        py_boundary::CallScope call_scope;
        auto p = Mat(probs, "probs"), o = Mat(out, "out", true);
        py::gil_scoped_release r;
        BernoulliSample(p, seed, offset, o);
      },
      py::arg("probs"), py::arg("out"), py::arg("seed"), py::arg("offset"),
      "out = 1[u < probs] with u drawn as in fill_uniform(seed, offset).");
  m.def(
      "rbm_cd1_step",
      [](py::handle pos_vis, py::handle W, py::handle b_vis, py::handle b_hid, py::handle dW, py::handle db_vis,
         py::handle db_hid, float lr, float momentum, float l2, bool gaussian_visible, std::uint64_t seed,
         std::uint64_t counter, py::object pos_hid, py::object neg_vis, py::object neg_hid) {
        py_boundary::CallScope call_scope;
        auto pv = Mat(pos_vis, "pos_vis"), Wv = Mat(W, "W", true), dWv = Mat(dW, "dW", true);
        auto bv = Vec(b_vis, "b_vis", true), bh = Vec(b_hid, "b_hid", true);
        auto dbv = Vec(db_vis, "db_vis", true), dbh = Vec(db_hid, "db_hid", true);
        const bool gpu = IsCuda(pos_vis);
        pos_hid = WorkspaceOrNew(pos_hid, pv.rows, Wv.rows, gpu, "pos_hid");
        neg_vis = WorkspaceOrNew(neg_vis, pv.rows, Wv.cols, gpu, "neg_vis");
        neg_hid = WorkspaceOrNew(neg_hid, pv.rows, Wv.rows, gpu, "neg_hid");
        RbmWorkspace ws{Mat(pos_hid, "pos_hid", true), Mat(neg_vis, "neg_vis", true), Mat(neg_hid, "neg_hid", true)};
        RbmStepResult res;
        {
          py::gil_scoped_release r;
          res = RbmCd1Step(pv, Wv, bv, bh, dWv, dbv, dbh, lr, momentum, l2, gaussian_visible, seed, counter, ws);
        }
        const double n = (double)pv.rows * (double)pv.cols;
        py::dict d;
        d["sse"] = res.sse;
        d["mse"] = res.sse / n;
        d["lr"] = res.lr;
        d["skipped"] = res.skipped;
        d["pos_vis_std"] = res.pos_vis_std;
        d["neg_vis_std"] = res.neg_vis_std;
        return d;
      },
      py::arg("pos_vis"), py::arg("W"), py::arg("b_vis"), py::arg("b_hid"), py::arg("dW"), py::arg("db_vis"),
      py::arg("db_hid"), py::arg("lr"), py::arg("momentum"), py::arg("l2"), py::arg("gaussian_visible"),
      py::arg("seed"), py::arg("counter"), py::arg("pos_hid") = py::none(), py::arg("neg_vis") = py::none(),
      py::arg("neg_hid") = py::none(),
      "One CD-1 step (Kaldi nnet1 RbmUpdate), in place on W [H,V], b_vis [V], b_hid [H] and the momentum "
      "buffers dW, db_vis, db_hid. pos_vis: [N,V] minibatch. Hidden states are sampled with the Philox "
      "stream (seed) from offset `counter` (N*H numbers). Returns dict(mse = sum sq. error / (N*V), sse, "
      "lr = learning rate to use next (x0.9 when the Gaussian explosion guard fired), skipped, pos_vis_std, "
      "neg_vis_std). Optional workspaces pos_hid [N,H], neg_vis [N,V], neg_hid [N,H] receive P(h|v), the "
      "reconstruction and P(h|reconstruction).");
}

}  // namespace nnet2
