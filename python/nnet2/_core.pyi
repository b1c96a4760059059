"""Type stubs for `nnet2._core`, the compiled C++/CUDA core (pybind11, python/csrc/).

Every function works in place on arrays the caller allocates; nothing is returned but small results.
Arrays are either numpy arrays (the computation runs on the CPU, through OpenBLAS and OpenMP) or
objects with `__cuda_array_interface__` such as cupy arrays (it runs on the current GPU; needs a build
with CUDA, see `cuda_compiled()`). All arrays of one call must live on the same device.

Conventions, checked at the boundary (a violation raises `CoreError`, a `ValueError`, naming the
argument):
* matrices are 2-D float32 with contiguous columns; rows may be strided (a row slice of a bigger
  C-contiguous matrix is fine, a column slice is not); vectors are contiguous 1-D float32;
* index vectors (labels, offsets, groups) are contiguous 1-D int32;
* outputs must be writable and must not alias inputs unless stated;
* shapes use named dimensions: N rows (frames of a minibatch), I input dim, O output dim, D a
  matrix's width, R a preconditioner rank, V visible and H hidden units of an RBM.

Objectives are *maximized* (as in Kaldi): derivatives are of sum_n log y[n, label_n], and parameter
updates add `lr * gradient`.

These functions are the benchmarking surface too: to time a kernel without building a network,
allocate its arrays once and call it in a loop (docs/python.md, "Timing a kernel"):

    import time, numpy as np
    from nnet2 import _core
    _core.set_num_threads(1)
    x = np.random.rand(512, 440).astype(np.float32)      # [N, I]
    W = np.random.rand(2048, 440).astype(np.float32)     # [O, I]
    b = np.zeros(2048, np.float32); y = np.empty((512, 2048), np.float32)
    t = time.perf_counter(); _core.affine_forward(x, W, b, y); print(time.perf_counter() - t)
"""

from typing import Any, Protocol, TypedDict, TypeAlias

import numpy as np
import numpy.typing as npt

class _CudaArray(Protocol):
    """A GPU array (e.g. cupy.ndarray): anything exposing `__cuda_array_interface__`."""

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]: ...

Matrix: TypeAlias = npt.NDArray[np.float32] | _CudaArray
"""2-D float32 [rows, cols], contiguous columns (numpy on the CPU, cupy on the GPU)."""
Vector: TypeAlias = npt.NDArray[np.float32] | _CudaArray
"""Contiguous 1-D float32."""
IntVector: TypeAlias = npt.NDArray[np.int32] | _CudaArray
"""Contiguous 1-D int32."""

class CoreError(ValueError):
    """A check in the core failed (shape, dtype, device, option value, NaN in the data); the message
    names the argument or option."""

# ----------------------------------------------------------------------------------- build and threads
def cuda_compiled() -> bool:
    """True if this build includes the CUDA kernels (then cupy arrays are accepted everywhere)."""

def cublas_library() -> str:
    """Load cuBLAS as the first GPU GEMM does (no GPU needed) and return the path of the library loaded;
    raises CoreError with one line naming the GPU extra when it is missing, or when nnet2 was built
    without CUDA."""

def set_num_threads(n: int) -> int:
    """Set the threads of OpenBLAS and of the OpenMP element-wise loops to `n` (n <= 0: unchanged).
    Returns the previous OpenBLAS setting. Set it before timing a kernel."""

def get_num_threads() -> int:
    """The number of threads OpenBLAS uses."""

def blas_kernel() -> str:
    """The kernel family OpenBLAS picked for this CPU when the core loaded it ("SkylakeX", "Haswell", "Zen",
    ...): its own detection, or the one OPENBLAS_CORETYPE in the environment forced (a Haswell kernel on an
    AVX-512 CPU runs the GEMMs at about half speed)."""

def synchronize() -> None:
    """Wait for all queued GPU work to finish (a no-op on the CPU). GPU kernels are asynchronous:
    call this before reading a clock when timing them, and before handing device memory to MPI."""

# ----------------------------------------------------------------------------------- affine layer
def affine_forward(x: Matrix, W: Matrix, b: Vector, y: Matrix) -> None:
    """Affine forward pass, y = x W^T + b, written into y.

    x: float32 [N, I] input rows; W: float32 [O, I] weights (Kaldi's layout: one row per output);
    b: float32 [O] bias; y: float32 [N, O] output (overwritten). One GEMM (sgemm / cuBLAS)."""

def affine_backward(dy: Matrix, W: Matrix, dx: Matrix) -> None:
    """Derivative with respect to the input, dx = dy W, written into dx.

    dy: float32 [N, O] derivative of the objective w.r.t. the output; W: float32 [O, I] (the weights
    *before* this minibatch's update, as Kaldi orders it); dx: float32 [N, I] (overwritten)."""

def affine_update(x: Matrix, dy: Matrix, lr: float, W: Matrix, b: Vector) -> None:
    """Plain SGD step on the summed objective (gradient ascent), in place:
    W += lr dy^T x, b += lr sum_n dy[n].

    x: float32 [N, I] the layer's input; dy: float32 [N, O] derivative w.r.t. its output;
    lr: learning rate per frame (the gradient is summed over the N rows, not averaged);
    W: float32 [O, I], b: float32 [O] updated in place."""

def affine_backprop_update(x: Matrix, dy: Matrix, lr: float, W: Matrix, b: Vector, dx: Matrix) -> None:
    """`affine_backward` then `affine_update`, fused: dx = dy W with W as given (Kaldi's order), then
    W += lr dy^T x, b += lr sum_n dy[n]. On the CPU with 2-4 threads and at least 512 rows of W a
    thread, each thread takes a block of W's rows for both products (1-thread BLAS calls); dx is then
    the sum of the threads' partial products, so it can differ from `affine_backward`'s in the last bits.

    x: float32 [N, I]; dy: float32 [N, O]; W: float32 [O, I] and b: float32 [O] updated in place;
    dx: float32 [N, I] (overwritten)."""

def ngd_cpu_kernel() -> bool:
    """True if the CPU preconditioner makes its first product H = X W^T with the packed AVX-512 kernel
    (csrc/ngd/projection.h), False where OpenBLAS makes it (a CPU without AVX-512, or NNET2_NO_AVX512 set in
    the environment before the first call). Same maths either way. The p = 2 p-norm forward and backward use
    their AVX-512 kernels under the same condition."""

def affine_update_ngd(
    x: Matrix,
    dy: Matrix,
    lr: float,
    W: Matrix,
    b: Vector,
    ngd_in: OnlineNaturalGradient,
    ngd_out: OnlineNaturalGradient,
    max_change_per_sample: float,
    dx: Matrix | None = None,
    dy_scratch: bool = False,
) -> dict[str, float]:
    """Online natural-gradient SGD step of Kaldi's AffineComponentPreconditionedOnline (Kaldi
    src/nnet2/nnet-component.cc, Update), in place on W and b.

    The input rows [x | 1] are preconditioned by `ngd_in` (dimension I + 1) and dy by `ngd_out`
    (dimension O); then W += lr' dy_hat^T x_hat[:, :I] and b += lr' dy_hat^T x_hat[:, I] with
    lr' = lr * gamma_in * gamma_out * minibatch_scale, where minibatch_scale <= 1 keeps the bound on
    the step's norm, lr * gamma_in * gamma_out * sum_n ||x_hat_n|| ||dy_hat_n||, at most
    max_change_per_sample * N (max_change_per_sample <= 0: no limit).

    x: float32 [N, I]; dy: float32 [N, O] (not modified unless dy_scratch); W: float32 [O, I]; b: float32 [O].
    ngd_in / ngd_out: preconditioners whose state lives on the device of x (created on first use).
    dx: float32 [N, I] (optional): also the input derivative dy W, with W as it was before the step,
    fused with the step as in `affine_backprop_update` (not written if the step raises, unless dy_scratch).
    dy_scratch: dy is the caller's to lose (a network's own derivative buffer, as `Nnet.train_step` passes
    it): on the CPU, unless the row split of `affine_backprop_update` runs (2-4 threads, dx wanted), dx is
    made first and the preconditioned dy replaces dy in place, without the copy Kaldi makes (the same
    bits); dy's contents are unspecified afterwards.
    Returns dict(gamma_in, gamma_out, minibatch_scale): the two preconditioners' scale factors and the
    max-change factor applied (1.0 when the limit did not bind)."""

class OnlineNaturalGradient:
    """Kaldi's online natural-gradient preconditioner (OnlinePreconditioner, src/nnet2/
    nnet-precondition-online.cc; Povey, Zhang, Khudanpur, arXiv:1410.7455).

    It keeps a smoothed "rank R + scaled identity" estimate F of the scatter of the rows it sees and
    replaces a minibatch X [N, D] by X_hat = X (I - W^T W), i.e. beta X (F + (alpha/D) tr(F) I)^-1.
    The state (W float32 [R, D], d float64 [R], rho, t) is created from the first minibatch, on its
    device. One object per matrix side; not to be shared between threads."""

    rank: int
    """R (reduced to D - 1 when R >= D). Changing it resets the state."""
    update_period: int
    """After the first 10 calls, re-estimate F every this many calls."""
    num_samples_history: float
    """S: the estimate forgets with eta = 1 - exp(-N / S) per minibatch of N rows (capped at 0.9)."""
    alpha: float
    """Identity smoothing of the Fisher estimate."""

    def __init__(
        self, rank: int = 40, update_period: int = 1, num_samples_history: float = 2000.0, alpha: float = 4.0
    ) -> None:
        """Create an uninitialized preconditioner with Kaldi's option names and nnet-init defaults;
        a bad value raises CoreError naming the option."""

    def precondition(self, X: Matrix, row_prod: Vector | None = None) -> float:
        """Replace X [N, D] (float32, modified in place) by X_hat and return gamma = ||X||_F / ||X_hat||_F,
        the scale the caller multiplies the step by. row_prod: optional float32 [N] on the same device,
        receives ||X_hat_n||^2. The first call fixes D and the device."""

    def reset(self) -> None:
        """Forget the Fisher estimate (the next call re-initializes from its minibatch); keep the options."""

    def state(self) -> dict[str, Any]:
        """A copy of the state: dict(W=float32 [R, D] numpy, d=float64 [R], rho, t,
        num_updates_skipped, rank, dim, num_reorthogonalizations, num_gram_schmidt); t == -1 before
        the first call."""

    def set_state(
        self, W: Matrix, d: npt.ArrayLike, rho: float, t: int = 0, num_updates_skipped: int = 0
    ) -> None:
        """Install a state: W float32 [R, D] (numpy or cupy: the state moves to that device), d float64 [R]."""

# ----------------------------------------------------------------------------------- nonlinearities
def sigmoid_forward(x: Matrix, y: Matrix) -> None:
    """y = 1 / (1 + exp(-x)) element-wise. x, y: float32 [N, D] (y may be x itself)."""

def sigmoid_backward(y: Matrix, dy: Matrix, dx: Matrix) -> None:
    """dx = dy * y * (1 - y), given the forward output y. y, dy, dx: float32 [N, D]."""

def tanh_forward(x: Matrix, y: Matrix) -> None:
    """y = tanh(x) element-wise. x, y: float32 [N, D]."""

def tanh_backward(y: Matrix, dy: Matrix, dx: Matrix) -> None:
    """dx = dy * (1 - y^2), given the forward output y. y, dy, dx: float32 [N, D]."""

def pnorm_forward(x: Matrix, p: float, y: Matrix) -> None:
    """Kaldi's PnormComponent: y[:, j] = ||x[:, jG:(j+1)G]||_p with group size G = I / O.

    x: float32 [N, I]; y: float32 [N, O], O divides I; p >= 1 (p = 2 in Kaldi's recipes)."""

def pnorm_backward(x: Matrix, y: Matrix, dy: Matrix, p: float, dx: Matrix) -> None:
    """Backward of pnorm_forward: dx[:, i] = dy[:, j] * d y[:, j] / d x[:, i] for i in group j.

    x: float32 [N, I] forward input; y: float32 [N, O] forward output; dy: float32 [N, O];
    dx: float32 [N, I] (overwritten)."""

def normalize_forward(x: Matrix, y: Matrix) -> None:
    """Kaldi's NormalizeComponent: each row scaled to unit root-mean-square,
    y[n] = x[n] / sqrt(max(mean_i x[n, i]^2, 2^-66)). x, y: float32 [N, D]."""

def normalize_backward(x: Matrix, dy: Matrix, dx: Matrix) -> None:
    """Backward of normalize_forward, given its input x. x, dy, dx: float32 [N, D]."""

def softmax_forward(x: Matrix, y: Matrix) -> None:
    """Row-wise softmax with Kaldi's 1e-20 floor on the outputs. x, y: float32 [N, D]."""

def softmax_cross_entropy(z: Matrix, labels: IntVector, y: Matrix, dz: Matrix) -> tuple[float, float]:
    """Fused softmax + cross-entropy on logits z, the output layer of training:
    y = softmax(z) (floored at 1e-20), dz = onehot(labels) - y (the derivative of the objective, which
    is maximized).

    z: float32 [N, K] logits; labels: int32 [N] class (pdf) ids in [0, K); y: float32 [N, K] (written);
    dz: float32 [N, K] (written; may be z itself). Returns (objf, correct): sum_n log y[n, labels[n]]
    (accumulated in float64) and the number of rows whose arg-max equals the label."""

def splice_frames(x: Matrix, offsets: IntVector, y: Matrix) -> None:
    """Kaldi's SpliceComponent on one utterance: y[t] = concat_c x[clamp(t + offsets[c], 0, T - 1)]
    (edge frames repeated).

    x: float32 [T, D]; offsets: int32 [C] (e.g. -4..4); y: float32 [T, C * D] (overwritten)."""

def sum_group_forward(x: Matrix, group_starts: IntVector, y: Matrix) -> None:
    """Kaldi's SumGroupComponent: y[:, k] = sum of x[:, group_starts[k]:group_starts[k + 1]].

    x: float32 [N, I]; group_starts: int32 [K + 1], increasing, from 0 to I; y: float32 [N, K]."""

def sum_group_backward(dy: Matrix, group_of_input: IntVector, dx: Matrix) -> None:
    """Backward of sum_group_forward: dx[:, i] = dy[:, group_of_input[i]].

    dy: float32 [N, K]; group_of_input: int32 [I] with values in [0, K); dx: float32 [N, I]."""

# ----------------------------------------------------------------------------------- RBM pretraining
class Cd1Result(TypedDict):
    """What `rbm_cd1_step` returns."""

    mse: float
    """Sum of squared reconstruction errors / (N * V)."""
    sse: float
    """Sum of squared reconstruction errors."""
    lr: float
    """Learning rate for the next step (x 0.9 when the Gaussian explosion guard fired)."""
    skipped: bool
    """The guard fired: parameters rescaled, momenta zeroed, no update."""
    pos_vis_std: float
    """Standard deviation over all elements of pos_vis."""
    neg_vis_std: float
    """Standard deviation over all elements of the reconstruction."""

def rbm_cd1_step(
    pos_vis: Matrix,
    W: Matrix,
    b_vis: Vector,
    b_hid: Vector,
    dW: Matrix,
    db_vis: Vector,
    db_hid: Vector,
    lr: float,
    momentum: float,
    l2: float,
    gaussian_visible: bool,
    seed: int,
    counter: int,
    pos_hid: Matrix | None = None,
    neg_vis: Matrix | None = None,
    neg_hid: Matrix | None = None,
) -> Cd1Result:
    """One contrastive-divergence (CD-1) step of a Bernoulli-Bernoulli or Gaussian-Bernoulli RBM, as
    Kaldi nnet1's RbmUpdate (src/nnet/nnet-rbm.h), in place on the parameters and momenta.

    pos_vis: float32 [N, V] minibatch; W: float32 [H, V]; b_vis: float32 [V]; b_hid: float32 [H];
    dW [H, V], db_vis [V], db_hid [H]: float32 momentum buffers (zeros at the start).
    lr: learning rate (the gradient is divided by N); momentum: mu; l2: weight decay on W.
    gaussian_visible: linear visible units (the first RBM over normalized features).
    Hidden states are sampled with the Philox stream of `seed`, numbers counter .. counter + N*H - 1
    (give each step its own range: the result is then the same on CPU and GPU).
    pos_hid [N, H], neg_vis [N, V], neg_hid [N, H]: float32 workspaces; optional on the CPU (allocated
    per call when absent, so pass them when timing), required on the GPU; afterwards they hold
    P(h | v), the reconstruction and P(h | reconstruction)."""

def fill_uniform(out: Matrix, seed: int, offset: int) -> None:
    """out[r, c] = element offset + r * cols + c of the uniform [0, 1) Philox4x32-10 stream of `seed`
    (identical on CPU and GPU). out: float32 [rows, cols]."""

def bernoulli_sample(probs: Matrix, out: Matrix, seed: int, offset: int) -> None:
    """out = 1.0 where u < probs else 0.0, with u as fill_uniform(seed, offset) would draw it.
    probs, out: float32 [rows, cols]."""

def philox4x32_10(ctr: tuple[int, int, int, int], key: tuple[int, int]) -> tuple[int, int, int, int]:
    """The Philox4x32-10 block function (Salmon et al., SC'11) of a 4-word counter and a 2-word key:
    four uint32 words. The random streams above are built from it."""
