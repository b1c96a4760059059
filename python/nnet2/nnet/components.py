"""Kaldi nnet2 components (Kaldi `src/nnet2/nnet-component.{h,cc}`) over the C++ core.

Arrays are numpy (CPU) or cupy (GPU) float32; the core kernels take either without copying.
Shapes: N = frames in the minibatch, I = input dim, O = output dim.

Semantics follow Kaldi: the objective (sum over frames of log y[label]) is *maximized*, derivatives are
of that objective, gradients are summed over the minibatch (the learning rate is per frame), and an
updatable component computes its input derivative with the *old* parameters before updating itself.

Each component maps to/from the plain field dicts of `nnet2.io.nnet_format` (`to_fields`/`from_fields`),
so the Kaldi reader/writer never needs to know these classes.
"""

from __future__ import annotations

import numpy as np

from nnet2 import _core
from nnet2.device import to_host, xp_of
from nnet2.nnet.ngd_config import CONFIG_KEYS, NgdConfig
from nnet2.utils.errors import ModelFormatError, UserError


def host(a) -> np.ndarray:
    """A numpy view/copy of a CPU or GPU array."""
    return to_host(a)


def _f32(a) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(host(a), dtype=np.float32))


class Component:
    """Base class. `propagate(x) -> y`; `backprop(x, y, dy, need_dx) -> dx` (and, with update=True, updates
    itself after computing dx: parameters for updatable components, statistics for nonlinearities)."""

    type_name = "Component"
    updatable = False

    def __init__(self, input_dim: int, output_dim: int):
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)

    # Parameters (only updatable components have any); views into the Nnet's flat buffer.
    def param_arrays(self) -> list[np.ndarray]:
        return []

    def set_param_arrays(self, arrays: list) -> None:
        pass

    def num_params(self) -> int:
        return sum(int(a.size) for a in self.param_arrays())

    def propagate(self, x, y=None):
        raise NotImplementedError

    def backprop(self, x, y, dy, need_dx: bool = True, dx=None, update: bool = True):
        raise NotImplementedError

    def to_fields(self) -> dict:
        raise NotImplementedError

    @classmethod
    def from_fields(cls, f: dict) -> "Component":
        raise NotImplementedError

    def info(self) -> str:
        return f"{self.type_name}, input-dim={self.input_dim}, output-dim={self.output_dim}"

    def _out(self, x, y, cols):
        if y is None:
            y = xp_of(x).empty((x.shape[0], cols), dtype=np.float32)
        return y


# ----------------------------------------------------------------------------------------------
class SpliceComponent(Component):
    """Concatenate frames t+c for c in `context` (edges repeated); const_component_dim trailing columns
    (an iVector part) are copied once from the central frame."""

    type_name = "SpliceComponent"

    def __init__(self, input_dim: int, context: list[int], const_component_dim: int = 0):
        context = [int(c) for c in context]
        if not context or sorted(context) != context or context[0] > 0 or context[-1] < 0:
            raise UserError(f"SpliceComponent: context must be sorted and include 0, got {context}")
        if not 0 <= const_component_dim < input_dim:
            raise UserError(f"SpliceComponent: bad const-component-dim {const_component_dim} for input-dim {input_dim}")
        self.context = context
        self.const_component_dim = int(const_component_dim)
        out = (input_dim - const_component_dim) * len(context) + const_component_dim
        super().__init__(input_dim, out)
        self._offsets = np.asarray(context, dtype=np.int32)

    @property
    def left_context(self) -> int:
        return -self.context[0]

    @property
    def right_context(self) -> int:
        return self.context[-1]

    def is_contiguous(self) -> bool:
        return self.context == list(range(self.context[0], self.context[-1] + 1))

    def propagate(self, x, y=None):
        """x: [T, input_dim] frames of one utterance -> y: [T, output_dim] (edges clamped)."""
        xp = xp_of(x)
        y = self._out(x, y, self.output_dim)
        v = self.input_dim - self.const_component_dim
        offs = self._offsets if xp is np else xp.asarray(self._offsets)
        if self.const_component_dim == 0:
            _core.splice_frames(x, offs, y)
        else:
            tmp = xp.empty((x.shape[0], v * len(self.context)), dtype=np.float32)
            _core.splice_frames(xp.ascontiguousarray(x[:, :v]), offs, tmp)
            y[:, : tmp.shape[1]] = tmp
            y[:, tmp.shape[1]:] = x[:, v:]
        return y

    def backprop(self, x, y, dy, need_dx=True, dx=None, update=True):
        raise UserError("SpliceComponent: backprop below the first updatable component is not supported")

    def to_fields(self):
        return {"input_dim": self.input_dim, "context": list(self.context),
                "const_component_dim": self.const_component_dim}

    @classmethod
    def from_fields(cls, f):
        return cls(f["input_dim"], f["context"], f.get("const_component_dim", 0))

    def info(self):
        return f"{super().info()}, context={self.context[0]}:{self.context[-1]}"


# ----------------------------------------------------------------------------------------------
class FixedAffineComponent(Component):
    """y = x M^T + m (the LDA-like input transform); never updated."""

    type_name = "FixedAffineComponent"

    def __init__(self, linear, bias):
        linear, bias = _f32(linear), _f32(bias)
        if linear.ndim != 2 or bias.shape != (linear.shape[0],):
            raise UserError(f"FixedAffineComponent: linear {linear.shape} and bias {bias.shape} do not match")
        super().__init__(linear.shape[1], linear.shape[0])
        self.W, self.b = linear, bias

    def to_device(self, xp):
        self.W, self.b = xp.asarray(self.W), xp.asarray(self.b)

    def propagate(self, x, y=None):
        y = self._out(x, y, self.output_dim)
        _core.affine_forward(x, self.W, self.b, y)
        return y

    def backprop(self, x, y, dy, need_dx=True, dx=None, update=True):
        if not need_dx:
            return None
        dx = self._out(dy, dx, self.input_dim)
        _core.affine_backward(dy, self.W, dx)
        return dx

    def to_fields(self):
        return {"linear_params": host(self.W), "bias_params": host(self.b)}

    @classmethod
    def from_fields(cls, f):
        return cls(f["linear_params"], f["bias_params"])


class FixedScaleComponent(Component):
    """y = x * s (elementwise)."""

    type_name = "FixedScaleComponent"

    def __init__(self, scales):
        self.scales = _f32(scales).reshape(-1)
        super().__init__(self.scales.size, self.scales.size)

    def to_device(self, xp):
        self.scales = xp.asarray(self.scales)

    def propagate(self, x, y=None):
        y = self._out(x, y, self.output_dim)
        xp_of(x).multiply(x, self.scales[None, :], out=y)
        return y

    def backprop(self, x, y, dy, need_dx=True, dx=None, update=True):
        if not need_dx:
            return None
        dx = self._out(dy, dx, self.input_dim)
        xp_of(dy).multiply(dy, self.scales[None, :], out=dx)
        return dx

    def to_fields(self):
        return {"scales": host(self.scales)}

    @classmethod
    def from_fields(cls, f):
        return cls(f["scales"])


class FixedBiasComponent(Component):
    """y = x + b."""

    type_name = "FixedBiasComponent"

    def __init__(self, bias):
        self.bias = _f32(bias).reshape(-1)
        super().__init__(self.bias.size, self.bias.size)

    def to_device(self, xp):
        self.bias = xp.asarray(self.bias)

    def propagate(self, x, y=None):
        y = self._out(x, y, self.output_dim)
        xp_of(x).add(x, self.bias[None, :], out=y)
        return y

    def backprop(self, x, y, dy, need_dx=True, dx=None, update=True):
        if not need_dx:
            return None
        dx = self._out(dy, dx, self.input_dim)
        dx[...] = dy
        return dx

    def to_fields(self):
        return {"bias": host(self.bias)}

    @classmethod
    def from_fields(cls, f):
        return cls(f["bias"])


# ----------------------------------------------------------------------------------------------
class AffineComponent(Component):
    """y = x W^T + b, W: [O, I]; plain SGD update W += lr dy^T x, b += lr sum(dy)."""

    type_name = "AffineComponent"
    updatable = True

    def __init__(self, linear, bias, learning_rate: float = 0.001, is_gradient: bool = False):
        linear, bias = _f32(linear), _f32(bias)
        if linear.ndim != 2 or bias.shape != (linear.shape[0],):
            raise UserError(f"{self.type_name}: linear params {linear.shape} and bias {bias.shape} do not match")
        super().__init__(linear.shape[1], linear.shape[0])
        self.W, self.b = linear, bias
        self.learning_rate = float(learning_rate)
        self.is_gradient = bool(is_gradient)

    def param_arrays(self):
        return [self.W, self.b]

    def set_param_arrays(self, arrays):
        self.W, self.b = arrays

    def propagate(self, x, y=None):
        y = self._out(x, y, self.output_dim)
        _core.affine_forward(x, self.W, self.b, y)
        return y

    def backprop(self, x, y, dy, need_dx=True, dx=None, update=True, consume_dy=False):
        # Input derivative with the old parameters, then the in-place update (Kaldi's order:
        # AffineComponent::Backprop in src/nnet2/nnet-component.cc), one fused core call when both are
        # wanted. update=False: derivative only. consume_dy: dy is the network's scratch, which the
        # update may overwrite (Nnet.train_step's derivative buffers).
        dx = self._out(dy, dx, self.input_dim) if need_dx else None
        if update and self.learning_rate != 0.0:
            self.update(x, dy, dx, consume_dy=consume_dy)
        elif need_dx:
            _core.affine_backward(dy, self.W, dx)
        return dx

    def param_gradient(self, x, dy):
        """(dW, db) = (dy^T x, sum of dy over rows): the gradient of the summed objective, what Kaldi's
        UpdateSimple adds to an "is-gradient" copy with learning rate 1 -- here through the core's own update
        (its BLAS and --threads), not NumPy's matmul, which would run on a second thread pool beside it."""
        xp = xp_of(dy)
        dW, db = xp.zeros(self.W.shape, np.float32), xp.zeros(self.b.shape, np.float32)
        _core.affine_update(x, dy, 1.0, dW, db)
        return dW, db

    def update(self, x, dy, dx=None, consume_dy=False):
        """W += lr dy^T x, b += lr sum(dy); with dx [N, I], first dx = dy W (the W before the step).
        consume_dy: dy may be overwritten (used by the NG-SGD subclass; plain SGD leaves it)."""
        if self.learning_rate == 0.0:
            if dx is not None:
                _core.affine_backward(dy, self.W, dx)
        elif dx is not None:
            _core.affine_backprop_update(x, dy, self.learning_rate, self.W, self.b, dx)
        else:
            _core.affine_update(x, dy, self.learning_rate, self.W, self.b)

    def reset_preconditioner(self):
        pass

    def to_fields(self):
        return {"learning_rate": self.learning_rate, "linear_params": host(self.W),
                "bias_params": host(self.b), "is_gradient": self.is_gradient}

    @classmethod
    def from_fields(cls, f):
        return cls(f["linear_params"], f["bias_params"], f.get("learning_rate", 0.001), f.get("is_gradient", False))

    def info(self):
        w = host(self.W)
        return (f"{super().info()}, learning-rate={self.learning_rate:g}, "
                f"linear-params-stddev={float(w.std()) if w.size else 0.0:.4g}, "
                f"bias-params-stddev={float(host(self.b).std()) if self.b.size else 0.0:.4g}")


class AffineComponentPreconditionedOnline(AffineComponent):
    """Affine layer trained with online natural-gradient SGD (docs/ngd.md §8): two preconditioners, one for
    the input [x | 1] (rank_in) and one for the output derivatives (rank_out); step scaled by
    gamma_in*gamma_out and limited by max-change per sample. Preconditioner state is not saved (as in
    Kaldi): it restarts from the first minibatch of every training run/iteration."""

    type_name = "AffineComponentPreconditionedOnline"

    def __init__(self, linear, bias, learning_rate=0.001, *, ngd: NgdConfig, is_gradient=False):
        super().__init__(linear, bias, learning_rate, is_gradient)
        self.ngd = ngd  # its six settings; defaults only in nnet2.nnet.ngd_config
        self._pre_in = self._pre_out = None
        self.last_update_info = None

    def reset_preconditioner(self):
        self._pre_in = self._pre_out = None

    def _preconditioners(self):
        if self._pre_in is None:
            mk = _core.OnlineNaturalGradient
            g = self.ngd
            self._pre_in = mk(rank=g.rank_in, update_period=g.update_period,
                              num_samples_history=g.num_samples_history, alpha=g.alpha)
            self._pre_out = mk(rank=g.rank_out, update_period=g.update_period,
                               num_samples_history=g.num_samples_history, alpha=g.alpha)
        return self._pre_in, self._pre_out

    def update(self, x, dy, dx=None, consume_dy=False):
        if self.learning_rate == 0.0 or self.is_gradient:
            # learning rate 0: the derivative only; gradient accumulation mode: plain sums, no
            # preconditioning (Kaldi's UpdateSimple)
            super().update(x, dy, dx)
            return
        pin, pout = self._preconditioners()
        self.last_update_info = _core.affine_update_ngd(x, dy, self.learning_rate, self.W, self.b, pin, pout,
                                                        self.ngd.max_change_per_sample, dx, dy_scratch=consume_dy)

    def to_fields(self):
        f = super().to_fields()
        f.pop("is_gradient")
        f.update(self.ngd.as_dict())
        return f

    @classmethod
    def from_fields(cls, f):
        # the reader always gives every field (Kaldi's Read: a missing <UpdatePeriod> means 1, in io/)
        return cls(f["linear_params"], f["bias_params"], f["learning_rate"],
                   ngd=NgdConfig(**{k: f[k] for k in CONFIG_KEYS}), is_gradient=f.get("is_gradient", False))

    def info(self):
        return f"{super().info()}, " + self.ngd.config_line().replace(" ", ", ")


class AffineComponentPreconditioned(AffineComponent):
    """Kaldi's older "simple" preconditioned affine layer (docs/ngd.md §9). Read, written, evaluated and
    averaged; training it is not supported (convert with `nnet2 am-copy --remove-preconditioning`
    or train with `--update ngd`). With learning rate 0 it is frozen: backprop passes the derivative
    through it and updates nothing (as every affine layer at learning rate 0)."""

    type_name = "AffineComponentPreconditioned"

    def __init__(self, linear, bias, learning_rate=0.001, alpha=0.1, max_change=0.0):
        super().__init__(linear, bias, learning_rate)
        self.alpha, self.max_change = float(alpha), float(max_change)

    def update(self, x, dy, dx=None, consume_dy=False):
        raise UserError("training AffineComponentPreconditioned is not supported; use --update ngd or sgd")

    def to_fields(self):
        f = super().to_fields()
        f.pop("is_gradient")
        f.update(alpha=self.alpha, max_change=self.max_change)
        return f

    @classmethod
    def from_fields(cls, f):
        return cls(f["linear_params"], f["bias_params"], f.get("learning_rate", 0.001), f.get("alpha", 0.1),
                   f.get("max_change", 0.0))


# ----------------------------------------------------------------------------------------------
class NonlinearComponent(Component):
    """Kaldi's NonlinearComponent: dim plus statistics (value_sum, deriv_sum: float64 vectors; count).

    Training accumulates them as Kaldi's backprop does (`NonlinearComponent::UpdateStats` in
    src/nnet2/nnet-component.cc): for every minibatch that is backpropagated through the component
    (i.e. above the first updatable component), value_sum += column sums of the output, count += rows,
    and for Sigmoid/Tanh also deriv_sum += column sums of the element-wise derivative of the
    nonlinearity (y(1-y), 1-y^2); the softmax keeps value_sum/count only, Normalize keeps none.
    Each minibatch's column sums are taken in float32 and added to the float64 totals, as Kaldi does."""

    keeps_deriv_stats = False

    def __init__(self, dim: int, value_sum=None, deriv_sum=None, count: float = 0.0):
        super().__init__(dim, dim)
        self.value_sum = np.zeros(0, np.float64) if value_sum is None else np.asarray(value_sum, np.float64)
        self.deriv_sum = np.zeros(0, np.float64) if deriv_sum is None else np.asarray(deriv_sum, np.float64)
        self.count = float(count)

    def to_fields(self):
        return {"dim": self.input_dim, "value_sum": self.value_sum, "deriv_sum": self.deriv_sum,
                "count": self.count}

    @classmethod
    def from_fields(cls, f):
        return cls(f["dim"], f.get("value_sum"), f.get("deriv_sum"), f.get("count", 0.0))

    def zero_stats(self):
        """Nnet::ZeroStats (nnet-train-simple --zero-stats=true): Scale(0.0), dimensions kept."""
        self.scale_stats(0.0)

    def scale_stats(self, alpha: float) -> None:
        """NonlinearComponent::Scale."""
        self.value_sum = self.value_sum * alpha
        self.deriv_sum = self.deriv_sum * alpha
        self.count *= alpha

    def add_stats(self, alpha: float, other: "NonlinearComponent") -> None:
        """NonlinearComponent::Add: this += alpha * other; an empty vector on either side adds nothing
        (an empty one here takes the other's dimension)."""
        for name in ("value_sum", "deriv_sum"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if theirs.size:
                if mine.size == 0:
                    mine = np.zeros(theirs.size, np.float64)
                setattr(self, name, mine + alpha * theirs)
        self.count += alpha * other.count

    def update_stats(self, y, deriv=None) -> None:
        """NonlinearComponent::UpdateStats(out_value, deriv): resize rules as Kaldi's (a vector of the
        wrong size is reset to zeros of the right size, and the count restarts)."""
        d = self.input_dim
        if self.value_sum.size != d:
            self.value_sum = np.zeros(d, np.float64)
            self.count = 0.0
        if deriv is not None and self.deriv_sum.size != d:
            self.deriv_sum = np.zeros(d, np.float64)
            self.count = 0.0
            self.value_sum = np.zeros(d, np.float64)
        self.count += float(y.shape[0])
        self.value_sum = self.value_sum + _col_sums(y)
        if deriv is not None:
            self.deriv_sum = self.deriv_sum + _col_sums(deriv)


def _col_sums(a) -> np.ndarray:
    """Column sums in float32 (Kaldi's AddRowSumMat into a float vector), returned as float64 on the host."""
    return host(a.sum(axis=0, dtype=np.float32)).astype(np.float64)


class SigmoidComponent(NonlinearComponent):
    type_name = "SigmoidComponent"
    keeps_deriv_stats = True

    def propagate(self, x, y=None):
        y = self._out(x, y, self.output_dim)
        _core.sigmoid_forward(x, y)
        return y

    def backprop(self, x, y, dy, need_dx=True, dx=None, update=True):
        dx = self._out(dy, dx, self.input_dim)
        _core.sigmoid_backward(y, dy, dx)
        if update:
            self.update_stats(y, y * (1.0 - y))  # the derivative of the nonlinearity, y(1-y)
        return dx


class TanhComponent(NonlinearComponent):
    type_name = "TanhComponent"
    keeps_deriv_stats = True

    def propagate(self, x, y=None):
        y = self._out(x, y, self.output_dim)
        _core.tanh_forward(x, y)
        return y

    def backprop(self, x, y, dy, need_dx=True, dx=None, update=True):
        dx = self._out(dy, dx, self.input_dim)
        _core.tanh_backward(y, dy, dx)
        if update:
            self.update_stats(y, 1.0 - y * y)  # the derivative of the nonlinearity, 1 - y^2
        return dx


class NormalizeComponent(NonlinearComponent):
    """Rows scaled to unit RMS (2^-66 floor)."""

    type_name = "NormalizeComponent"

    def propagate(self, x, y=None):
        y = self._out(x, y, self.output_dim)
        _core.normalize_forward(x, y)
        return y

    def backprop(self, x, y, dy, need_dx=True, dx=None, update=True):
        dx = self._out(dy, dx, self.input_dim)
        _core.normalize_backward(x, dy, dx)
        return dx


class SoftmaxComponent(NonlinearComponent):
    """Row softmax floored at 1e-20. In training the objective is fused with it (see Nnet.train_step)."""

    type_name = "SoftmaxComponent"

    def propagate(self, x, y=None):
        y = self._out(x, y, self.output_dim)
        _core.softmax_forward(x, y)
        return y

    def backprop(self, x, y, dy, need_dx=True, dx=None, update=True):
        # Kaldi's DiffSoftmaxPerRow: dx = y * (dy - <dy, y>); then UpdateStats(out_value) (no deriv).
        dot = (dy * y).sum(axis=1, keepdims=True)
        out = y * (dy - dot)
        if update:
            self.update_stats(y)
        if dx is None:
            return out.astype(np.float32, copy=False)
        dx[...] = out
        return dx


class PnormComponent(Component):
    """y_j = ||x over group j||_p, contiguous groups of G = input_dim / output_dim."""

    type_name = "PnormComponent"

    def __init__(self, input_dim: int, output_dim: int, p: float = 2.0):
        if output_dim <= 0 or input_dim % output_dim:
            raise UserError(f"PnormComponent: input-dim {input_dim} is not a multiple of output-dim {output_dim}")
        if p < 1:
            raise UserError(f"PnormComponent: p must be >= 1, got {p}")
        super().__init__(input_dim, output_dim)
        self.p = float(p)

    def propagate(self, x, y=None):
        y = self._out(x, y, self.output_dim)
        _core.pnorm_forward(x, self.p, y)
        return y

    def backprop(self, x, y, dy, need_dx=True, dx=None, update=True):
        dx = self._out(dy, dx, self.input_dim)
        _core.pnorm_backward(x, y, dy, self.p, dx)
        return dx

    def to_fields(self):
        return {"input_dim": self.input_dim, "output_dim": self.output_dim, "p": self.p}

    @classmethod
    def from_fields(cls, f):
        return cls(f["input_dim"], f["output_dim"], f.get("p", 2.0))

    def info(self):
        return f"{super().info()}, p={self.p:g}"


class SumGroupComponent(Component):
    """Output k = sum of a contiguous block of sizes[k] inputs (mix-up sub-outputs -> pdfs)."""

    type_name = "SumGroupComponent"

    def __init__(self, sizes):
        sizes = [int(s) for s in sizes]
        if not sizes or min(sizes) < 1:
            raise UserError(f"SumGroupComponent: sizes must be positive, got {sizes[:10]}")
        self.sizes = sizes
        super().__init__(sum(sizes), len(sizes))
        self._starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)
        self._group = np.repeat(np.arange(len(sizes), dtype=np.int32), sizes)

    def _table(self, name: str, like):
        """The int32 group table on the device of `like` (copied there once, then cached)."""
        t = getattr(self, name)
        if xp_of(like) is np:
            return t
        cache = self.__dict__.setdefault("_device_tables", {})
        if name not in cache:
            cache[name] = xp_of(like).asarray(t)
        return cache[name]

    def propagate(self, x, y=None):
        y = self._out(x, y, self.output_dim)
        _core.sum_group_forward(x, self._table("_starts", x), y)
        return y

    def backprop(self, x, y, dy, need_dx=True, dx=None, update=True):
        dx = self._out(dy, dx, self.input_dim)
        _core.sum_group_backward(dy, self._table("_group", dy), dx)
        return dx

    def to_fields(self):
        return {"sizes": list(self.sizes)}

    @classmethod
    def from_fields(cls, f):
        return cls(f["sizes"])


COMPONENT_TYPES: dict[str, type[Component]] = {
    c.type_name: c
    for c in (SpliceComponent, FixedAffineComponent, FixedScaleComponent, FixedBiasComponent, AffineComponent,
              AffineComponentPreconditionedOnline, AffineComponentPreconditioned, SigmoidComponent, TanhComponent, NormalizeComponent,
              SoftmaxComponent, PnormComponent, SumGroupComponent)
}


def component_from_fields(type_name: str, fields: dict, where: str = "") -> Component:
    cls = COMPONENT_TYPES.get(type_name)
    if cls is None:
        raise ModelFormatError(f"{where}unsupported component type '{type_name}'; known: "
                               f"{', '.join(sorted(COMPONENT_TYPES))}")
    return cls.from_fields(fields)
