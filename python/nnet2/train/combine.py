"""Final model combination, after Kaldi's `nnet-combine-fast` (src/nnet2/combine-nnet-fast.cc).

The combined network has, for every updatable component c, parameters sum_n a[n, c] * theta[n, c] over
the input models n (same structure); everything else (non-updatable components, the nonlinearities'
statistics) is the first model's (`CombineNnets`: `*dest = nnets[0]`, then ScaleComponents/AddNnet on
the updatable components only). The weights a (N x U, not constrained to sum to 1) maximize the
objective on the combination examples:

* objective: the summed log-probability divided by the number of examples; its gradient with respect
  to a[n, c] is <theta[n, c], dObjf/dparams_c> / (total label weight) (`ComputeObjfAndGradient`);
* start: every weight 1/N (what the scripts ask for with --initial-model=100000: starting from one
  model gives zero Fisher entries for the others' scale-invariant layers);
* preconditioning (`ComputePreconditioner`): at the start point, the gradients of minibatches of
  `fisher_minibatch_size` examples, g_b, give F = sum_b g_b g_b^T, scaled to trace = dim, diagonal
  floored at `fisher_floor` and multiplied by 1 + alpha; with F = C C^T the optimization runs on
  p_hat = C^T p with gradient C^{-1} g;
* optimizer: L-BFGS maximization with memory min(dim, max_lbfgs_dim) and exactly `num_lbfgs_iters`
  objective evaluations, returning the best point evaluated. Kaldi's `OptimizeLbfgs` (src/optimization)
  has its own step-acceptance rules; this is a plain numpy L-BFGS in its spirit: the first step is
  scaled so that the predicted improvement is `initial_impr`, later steps take the L-BFGS direction
  with step 1, halved while the objective does not improve. Results are therefore close to, not equal
  to, Kaldi's.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from tqdm import tqdm

from nnet2.nnet.components import host
from nnet2.utils.errors import UserError
from nnet2.utils.log import get_logger
from nnet2.utils.options import opt


@dataclasses.dataclass
class CombineOptions:
    num_lbfgs_iters: int = opt(40, "objective evaluations of the L-BFGS optimization (the scripts' value)")
    initial_impr: float = opt(0.01, "predicted objective improvement of the first L-BFGS step")
    fisher_minibatch_size: int = opt(64, "examples per minibatch for the Fisher-matrix preconditioner")
    minibatch_size: int = opt(1024, "examples per minibatch when computing the objective and gradient")
    alpha: float = opt(0.01, "smoothing of the Fisher matrix's diagonal (times 1 + alpha)")
    fisher_floor: float = opt(1e-20, "floor on the Fisher matrix's diagonal")
    max_lbfgs_dim: int = opt(10, "L-BFGS memory")


class _Combiner:
    """The N input models' updatable parameters as one matrix per updatable component u, Theta_u [N, P_u]
    (each model's W then b, flattened), in single precision as Kaldi holds them: the combined network is then
    one matrix-vector product per component (Theta_u^T a_u) and the gradient's dot products with every model
    another (Theta_u g_u, Kaldi's ComponentDotProducts). The gradient over the examples is accumulated in
    single precision too (Kaldi sums it into an "is-gradient" network of BaseFloat)."""

    def __init__(self, nnets, X, y, opts: CombineOptions, comm=None):
        self.X, self.y, self.o = X, y, opts
        self.comm = comm if comm is not None and comm.Get_size() > 1 else None
        self.rank, self.size = (comm.Get_rank(), comm.Get_size()) if self.comm is not None else (0, 1)
        self.N, self.U = len(nnets), len(nnets[0].updatable())
        self.shapes = [[np.shape(a) for a in c.param_arrays()] for c in nnets[0].updatable()]
        self.theta = []  # [u] -> [N, P_u] float32
        for u, shapes in enumerate(self.shapes):
            T = np.empty((self.N, sum(int(np.prod(sh)) for sh in shapes)), np.float32)
            for n, net in enumerate(nnets):
                T[n] = np.concatenate([np.asarray(host(a), np.float32).ravel()
                                       for a in net.updatable()[u].param_arrays()])
            self.theta.append(T)
        self.n_egs = len(y)
        self.work = nnets[0].copy()

    def combined(self, raw: np.ndarray):
        """The network with weights raw [N*U] (model-major, as Kaldi's scale_params)."""
        a = raw.reshape(self.N, self.U).astype(np.float32)
        out = self.work
        for u, c in enumerate(out.updatable()):
            flat = a[:, u] @ self.theta[u]
            o = 0
            for dst, sh in zip(c.param_arrays(), self.shapes[u]):
                k = int(np.prod(sh))
                dst[...] = flat[o:o + k].reshape(sh)
                o += k
        return out

    def _grads(self, s: int, e: int, acc: list | None = None):
        """(StepStats, [u] -> flat float32 gradient) of examples [s, e), added into acc when given."""
        st, grads = self.work.gradient(np.ascontiguousarray(self.X[s:e]), self.y[s:e])
        if acc is None:
            acc = [np.zeros(T.shape[1], np.float32) for T in self.theta]
        for u, gu in enumerate(grads):
            o = 0
            for g in gu:
                g = np.asarray(host(g), np.float32).ravel()
                acc[u][o:o + g.size] += g
                o += g.size
        return st, acc

    def _grad_dots(self, acc) -> np.ndarray:
        """<theta[n][u], G_u> for all n, u (model-major); zeros for acc None (no examples)."""
        if acc is None:
            return np.zeros(self.N * self.U)
        return np.stack([T @ g for T, g in zip(self.theta, acc)], axis=1).astype(np.float64).reshape(-1)

    def _starts(self, mb: int) -> range:
        """The first example of each minibatch of size mb that this rank computes: with several ranks
        (workers), minibatch b goes to rank b mod size, and the sums are added up over the ranks."""
        return range(self.rank * mb, self.n_egs, self.size * mb)

    def _sum_over_ranks(self, v: np.ndarray) -> np.ndarray:
        """v summed over the ranks, the same bits on every rank (summed on rank 0 and broadcast: an Allreduce
        may round differently on different ranks), so that every rank takes the same optimizer steps."""
        if self.comm is None:
            return v
        from mpi4py import MPI  # mpi4py.MPI initializes MPI when imported: only with several ranks

        out = np.empty_like(v)
        self.comm.Reduce(np.ascontiguousarray(v), out, op=MPI.SUM, root=0)
        self.comm.Bcast(out, root=0)
        return out

    def share_point(self, raw: np.ndarray) -> np.ndarray:
        """Rank 0's copy of raw on every rank (the point the gradient is evaluated at)."""
        if self.comm is not None:
            raw = np.ascontiguousarray(raw, np.float64)
            self.comm.Bcast(raw, root=0)
        return raw

    def objf_and_grad(self, raw: np.ndarray) -> tuple[float, np.ndarray]:
        self.combined(raw)
        tot_objf = tot_w = 0.0
        acc = None
        mb = self.o.minibatch_size
        for s in self._starts(mb):
            st, acc = self._grads(s, s + mb, acc)
            tot_objf += st.objf
            tot_w += st.weight
        v = self._sum_over_ranks(np.concatenate([[tot_objf, tot_w], self._grad_dots(acc)]))
        return v[0] / self.n_egs, v[2:] / v[1]

    def fisher_cholesky(self, raw: np.ndarray) -> np.ndarray:
        self.combined(raw)
        dim = self.N * self.U
        F = np.zeros((dim, dim))
        mb = self.o.fisher_minibatch_size
        for s in self._starts(mb):
            g = self._grad_dots(self._grads(s, s + mb)[1])
            F += np.outer(g, g)
        F = self._sum_over_ranks(F)
        tr = np.trace(F)
        if not tr > 0:
            raise UserError("model combination: the gradient on the combination examples is zero")
        F *= dim / tr
        d = np.maximum(np.diag(F), self.o.fisher_floor) * (1.0 + self.o.alpha)
        F[np.diag_indices(dim)] = d
        return np.linalg.cholesky(F)


def _lbfgs_maximize(f_and_g, x0: np.ndarray, iters: int, m: int, first_impr: float):
    """Best (f, x) over exactly `iters` evaluations (see the module docstring)."""
    x = x0.copy()
    f, g = f_and_g(x)
    evals = 1
    f0 = f
    best_f, best_x = f, x.copy()
    S, Y = [], []

    def direction(g):
        q = -g  # gradient of -f
        alphas = []
        for s, yv in reversed(list(zip(S, Y))):
            rho = 1.0 / float(yv @ s)
            a = rho * float(s @ q)
            alphas.append((a, rho, s, yv))
            q = q - a * yv
        if S:
            q = q * float(S[-1] @ Y[-1]) / float(Y[-1] @ Y[-1])
        else:
            gg = float(g @ g)
            q = q * (first_impr / gg if gg > 0 else 0.0)
        for a, rho, s, yv in reversed(alphas):
            b = rho * float(yv @ q)
            q = q + s * (a - b)
        return -q  # ascent direction for f

    d, t = direction(g), 1.0
    while evals < iters:
        xn = x + t * d
        fn, gn = f_and_g(xn)
        evals += 1
        if fn > best_f:
            best_f, best_x = fn, xn.copy()
        if fn > f:
            s, yv = xn - x, g - gn  # y of the minimized function -f
            if float(s @ yv) > 1e-30:
                S.append(s)
                Y.append(yv)
                if len(S) > m:
                    S.pop(0)
                    Y.pop(0)
            x, f, g = xn, fn, gn
            d, t = direction(g), 1.0
        else:
            t *= 0.5
    return f0, best_f, best_x


def combine_nnets(nnets: list, X: np.ndarray, y, opts: CombineOptions | None = None, log=None, comm=None,
                  progress: bool = False):
    """(combined Nnet, info) for the input networks and the combination examples (X, y); info has the
    objective per frame before/after and the N x U weight matrix.

    comm (several MPI ranks, each with the same nnets and examples): the ranks share the gradient passes
    (minibatch b on rank b mod size) and add up the objective, the gradient's dot products and the Fisher
    matrix; every rank then takes the same steps from rank 0's numbers and returns the same result. The
    sums are over the same minibatches in another order: the objective, gradient and Fisher matrix agree
    with one rank's to single-precision rounding, and the optimizer's path may drift slightly from one
    rank's (its accept/halve decisions amplify rounding). progress: a tqdm bar over the objective
    evaluations on stderr (when it is a terminal)."""
    opts = opts or CombineOptions()
    log = log or get_logger("combine")
    if not nnets:
        raise UserError("model combination needs at least one model")
    if len(y) == 0:
        raise UserError("model combination needs combination examples (none found)")
    sig = [(c.type_name, c.input_dim, c.output_dim) for c in nnets[0].components]
    for n in nnets[1:]:
        if [(c.type_name, c.input_dim, c.output_dim) for c in n.components] != sig:
            raise UserError("model combination: the models do not have the same structure")
    cb = _Combiner(nnets, X, y, opts, comm)
    dim = cb.N * cb.U
    if dim == 0:
        raise UserError("model combination: the models have no updatable components")
    raw0 = np.full(dim, 1.0 / cb.N)
    log.info(f"Initializing with all {cb.N} neural nets averaged.")
    C = cb.fisher_cholesky(raw0)
    Cinv = np.linalg.inv(C)

    iters = max(1, opts.num_lbfgs_iters)
    bar = tqdm(total=iters, desc="combining", unit="eval", leave=False, disable=None if progress else True)

    def f_and_g(p_hat):
        raw = cb.share_point(Cinv.T @ p_hat)  # p = C^{-T} p_hat
        f, g = cb.objf_and_grad(raw)
        bar.update(1)
        bar.set_postfix(objf=f"{f:.4f}")
        return f, Cinv @ g  # g_hat = C^{-1} g

    try:
        f0, f1, p_best = _lbfgs_maximize(f_and_g, C.T @ raw0, iters, min(dim, opts.max_lbfgs_dim),
                                         opts.initial_impr)
    finally:
        bar.close()
    raw = cb.share_point(Cinv.T @ p_best)
    out = cb.combined(raw)
    weights = raw.reshape(cb.N, cb.U)
    log.info("Scale parameters are " + "[ " + " ; ".join(" ".join(f"{v:.6g}" for v in row) for row in weights)
             + " ]")
    log.info(f"Combining nnets, objf per frame changed from {f0:.6g} to {f1:.6g}")
    return out, {"objf_before": f0, "objf_after": f1, "weights": weights.tolist(), "num_models": cb.N}
