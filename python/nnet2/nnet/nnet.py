"""Networks: an ordered list of Kaldi components with all trainable parameters in one flat buffer.

`Nnet` runs forward/backward over a minibatch (the objective summed over frames, maximized, as in
Kaldi), computes outputs for whole utterances (with edge frames repeated for the splice context), and
packs every updatable component's W and b into one contiguous float32 array (`Nnet.params`) so
averaging, checkpointing and BMUF are one operation each (style rule 4).
"""

from __future__ import annotations

import dataclasses
import math
import re
import shlex
from types import ModuleType

import numpy as np

from nnet2.data.labels import (  # noqa: F401 (re-exported: the label helpers' old home)
    concat_labels, is_soft, make_soft_labels, simplify_labels, soft_label_dtype)
from nnet2.device import Array, asarray_like, copy_into, device_of, to_host, xp_for
from nnet2.io.table import read_matrix_file, read_vector_file
from nnet2.nnet import components as C
from nnet2.nnet.ngd_config import CONFIG_KEYS, KALDI_INIT, NgdConfig
from nnet2.utils.errors import ModelFormatError, UserError


@dataclasses.dataclass
class StepStats:
    """Objective (sum of weighted log-probabilities), examples, total label weight and weighted correct
    frames for one or more minibatches. With one label of weight 1 per frame, weight == frames."""

    objf: float = 0.0
    frames: int = 0
    correct: float = 0.0
    weight: float | None = None

    def __post_init__(self):
        if self.weight is None:
            self.weight = float(self.frames)

    def add(self, other: "StepStats") -> "StepStats":
        """Add `other`'s sums to these (in place); returns self."""
        self.objf += other.objf
        self.frames += other.frames
        self.correct += other.correct
        self.weight += other.weight
        return self

    @property
    def objf_per_frame(self) -> float:
        """Average (weighted) log-probability of the labels per unit of label weight, i.e. per frame
        with one-hot labels (NaN without frames)."""
        return self.objf / self.weight if self.weight else float("nan")

    @property
    def accuracy(self) -> float:
        """Weighted fraction of frames whose most probable output is the label (NaN without frames)."""
        return self.correct / self.weight if self.weight else float("nan")


class Nnet:
    """A Kaldi nnet2 network: `components` applied in order, every trainable parameter in `params`.

    Shapes: N rows (frames) per call; a network starting with a SpliceComponent takes *spliced*
    rows in `forward`/`train_step`/`evaluate` (the egs hold them so: [N, (L+1+R) x D]) and whole
    utterances [T, D] in `compute_utterance`. Arrays are float32 numpy (CPU) or cupy (GPU, after
    `to("cuda")`); inputs on the other device are copied to the network's. The objective is the
    log-probability of the correct label, summed over the frames and maximized (Kaldi's convention).
    """

    def __init__(self, components: list[C.Component]):
        if not components:
            raise UserError("a network needs at least one component")
        for i in range(1, len(components)):
            a, b = components[i - 1], components[i]
            if a.output_dim != b.input_dim:
                raise UserError(f"component {i - 1} ({a.type_name}) outputs dim {a.output_dim} but component {i} "
                                f"({b.type_name}) expects input dim {b.input_dim}")
        self.components = list(components)
        self.params = None
        self._buffers: dict = {}
        self.pack_params()

    # ------------------------------------------------------------------ structure
    @property
    def input_dim(self) -> int:
        """Dimension of an input frame (before the splicing of a leading SpliceComponent)."""
        return self.components[0].input_dim

    @property
    def output_dim(self) -> int:
        """Dimension of the output (the number of pdfs of an acoustic model)."""
        return self.components[-1].output_dim

    @property
    def left_context(self) -> int:
        """Frames of left context the network's SpliceComponents need."""
        return sum(c.left_context for c in self.components if isinstance(c, C.SpliceComponent))

    @property
    def right_context(self) -> int:
        """Frames of right context the network's SpliceComponents need."""
        return sum(c.right_context for c in self.components if isinstance(c, C.SpliceComponent))

    def splice_component(self) -> C.SpliceComponent | None:
        """The leading SpliceComponent, or None."""
        c = self.components[0]
        return c if isinstance(c, C.SpliceComponent) else None

    def frame_input_start(self) -> int:
        """Index of the first component applied to already-spliced examples (1 after a leading Splice)."""
        return 1 if self.splice_component() is not None else 0

    def updatable(self) -> list[C.AffineComponent]:
        """The components with trainable parameters, in order."""
        return [c for c in self.components if c.updatable]

    def num_params(self) -> int:
        """Number of trainable parameters (the size of `params`)."""
        return sum(c.num_params() for c in self.components)

    # ------------------------------------------------------------------ flat parameter buffer
    def pack_params(self, xp: ModuleType = np) -> None:
        """Put all trainable parameters into one contiguous buffer; components keep views into it."""
        arrays = [a for c in self.components for a in c.param_arrays()]
        total = sum(int(a.size) for a in arrays)
        buf = xp.empty(total, dtype=np.float32)
        off = 0
        for c in self.components:
            views = []
            for a in c.param_arrays():
                v = buf[off: off + a.size].reshape(a.shape)
                v[...] = xp.asarray(a)
                views.append(v)
                off += a.size
            c.set_param_arrays(views)
            if hasattr(c, "to_device"):
                c.to_device(xp)
        self.params = buf
        self._buffers.clear()

    @property
    def device(self) -> str:
        """'cpu' or 'cuda': where the parameters (and hence the computation) live."""
        return device_of(self.params)

    def to(self, device: str) -> "Nnet":
        """Move to 'cpu' (numpy) or 'cuda' (cupy, the current GPU); nothing to do if already there."""
        xp = xp_for(device)
        if device == self.device and all(device_of(a) == device for c in self.components
                                         for a in c.param_arrays()):
            return self
        for c in self.components:
            c.set_param_arrays([to_host(a) for a in c.param_arrays()])
        self.pack_params(xp)
        return self

    def asarray(self, a: Array) -> Array:
        """An input array (features, labels) on this network's device (no copy if it is already there)."""
        return asarray_like(a, self.params)

    def params_host(self) -> np.ndarray:
        """The flat parameters as numpy: the buffer itself on the CPU, a copy from a GPU."""
        return to_host(self.params)

    def set_params(self, values: Array) -> None:
        """Overwrite the flat parameters with `values` (any device, same size)."""
        copy_into(self.params, values)

    def set_learning_rate(self, lr: float) -> None:
        """Set the learning rate (per frame) of every updatable component."""
        for c in self.updatable():
            c.learning_rate = float(lr)

    def reset_preconditioners(self) -> None:
        """Forget the NG-SGD preconditioners' state (as every Kaldi training job starts)."""
        for c in self.updatable():
            c.reset_preconditioner()

    def apply_max_norm(self, max_norm: float) -> int:
        """nnet1's max-norm (`src/nnet/nnet-affine-transform.h`, after every update): each row of every
        affine weight matrix (the weights into one output unit; not the bias) whose L2 norm exceeds
        `max_norm` is scaled back onto the sphere of radius max_norm; other rows are untouched. Done in
        float32 like nnet1. Returns the number of rows that were capped. max_norm <= 0: nothing."""
        if max_norm <= 0.0:
            return 0
        capped = 0
        for c in self.updatable():
            if not isinstance(c, C.AffineComponent):
                continue
            W = c.W
            xp = C.xp_of(W)
            norms = xp.sqrt((W * W).sum(axis=1))
            scl = xp.maximum(norms * np.float32(1.0 / max_norm), np.float32(1.0))  # Scale, ApplyFloor(1)
            n = int((scl > 1.0).sum())
            if n:
                W *= (np.float32(1.0) / scl)[:, None]  # InvertElements, MulRowsVec
                capped += n
        return capped

    def zero_stats(self) -> None:
        """Zero the nonlinear components' activation statistics."""
        for c in self.components:
            if isinstance(c, C.NonlinearComponent):
                c.zero_stats()

    def copy(self) -> "Nnet":
        """A deep copy (on the CPU)."""
        return nnet_from_fields(nnet_to_fields(self))

    # ------------------------------------------------------------------ compute
    def _buf(self, key, shape, xp):
        """A float32 scratch array of `shape` for `key`: a view of a flat buffer that only grows, so that
        alternating shapes (training minibatches, validation chunks) reuse its memory instead of allocating
        and page-faulting a fresh one each time (that made the first validation after a training iteration
        take twice as long as the next). The view of the last shape is kept too: `np.prod`, slicing and
        reshaping on each of a step's ~27 calls cost about 0.7 ms a step (p-norm, 1 thread, minibatch 128,
        an 18-21 ms step; NumPy's Python layer runs with cold caches between BLAS calls). Entries are
        (shape, on the host?, flat buffer, view): no module object, so a used network still deep-copies."""
        host = xp is np
        hit = self._buffers.get(key)
        if hit is not None and hit[0] == shape and hit[1] == host:
            return hit[3]  # the same view as last time: no NumPy call on the per-minibatch path
        size = math.prod(shape)
        b = None if hit is None else hit[2]
        if b is None or b.size < size or hit[1] != host:
            b = xp.empty(size, dtype=np.float32)
        view = b[:size].reshape(shape)
        self._buffers[key] = (shape, host, b, view)
        return view

    def forward(self, x: Array, start: int | None = None, keep: bool = False) -> Array | tuple[Array, list[Array]]:
        """Propagate rows x through components[start:] (default: after a leading SpliceComponent, so x is
        spliced, float32 [N, spliced input dim]). Returns the output float32 [N, output_dim] -- for an
        acoustic model the pdf posteriors -- or, with keep, (output, the input and every component's
        output); those are buffers the next call with keep reuses."""
        start = self.frame_input_start() if start is None else start
        x = self.asarray(x)
        xp = C.xp_of(x)
        acts = [x]
        n = x.shape[0]
        for i in range(start, len(self.components)):
            c = self.components[i]
            y = self._buf(("a", i), (n, c.output_dim), xp) if keep else None
            acts.append(c.propagate(acts[-1], y))
        return (acts[-1], acts) if keep else acts[-1]

    def train_step(self, x: Array, labels: Array, update: bool = True) -> StepStats:
        """One minibatch of SGD/NG-SGD on already-spliced input x [N, spliced_dim] with labels: pdf-ids
        int32 [N] or soft labels (`soft_label_dtype`). Returns the summed weighted objective, frames, label
        weight and weighted correct frames, all before the update.

        Kaldi's order (NnetUpdater::ComputeForMinibatch / Backprop in src/nnet2/nnet-update.cc): forward
        through all components; objective and its derivative at the output; then from the last component
        down to the first updatable one, each component computes its input derivative with its current
        parameters and then updates itself in place (affine: the step; nonlinearities: their
        statistics)."""
        stats, acts, deriv, top = self._forward_objective(x, labels, update)
        if update:
            self._backward(acts, deriv, top, "update")
        return stats

    def gradient(self, x: Array, labels: Array) -> tuple[StepStats, list]:
        """(StepStats, [(dW, db) per updatable component]): the gradient of the summed objective with
        respect to each updatable component's parameters at the current point; nothing is modified
        (Kaldi: DoBackprop into an "is-gradient" copy of the network)."""
        stats, acts, deriv, top = self._forward_objective(x, labels, False)
        return stats, self._backward(acts, deriv, top, "gradient")

    def _forward_objective(self, x, labels, update_stats):
        start = self.frame_input_start()
        comps = self.components
        x = self.asarray(x)
        xp = C.xp_of(x)
        n = x.shape[0]
        last = len(comps) - 1
        labels = simplify_labels(labels)
        soft = is_soft(labels)
        fused = isinstance(comps[last], C.SoftmaxComponent) and not soft
        acts = [x]
        stop = last if fused else last + 1
        for i in range(start, stop):
            acts.append(comps[i].propagate(acts[-1], self._buf(("a", i), (n, comps[i].output_dim), xp)))
        if fused:
            # The softmax is fused with the objective: dz = onehot - y (what Kaldi's w/y at the output
            # followed by the softmax backprop gives, up to rounding).
            labels = self.asarray(labels)  # beside the matrices (the kernels take no host array next to device ones)
            if labels.dtype != np.int32:
                labels = labels.astype(np.int32)
            z = acts[-1]
            y = self._buf(("y",), z.shape, xp)
            dz = self._buf(("d", last), z.shape, xp)
            objf, correct = C._core.softmax_cross_entropy(z, labels, y, dz)
            if update_stats:
                comps[last].update_stats(y)
            return StepStats(float(objf), n, float(correct)), acts, dz, last - 1
        out = acts[-1]
        if soft:
            pdf, w = self.asarray(labels["pdf"]), self.asarray(labels["weight"]).astype(np.float32)
        else:
            pdf = self.asarray(labels).astype(np.int32).reshape(n, 1)
            w = xp.ones((n, 1), np.float32)
        if pdf.size and (int(pdf.max()) >= out.shape[1] or int(pdf.min()) < 0):
            raise UserError(f"a label is out of range for the network's {out.shape[1]} outputs")
        rows = xp.arange(n)[:, None]
        p = out[rows, pdf]
        # CuMatrix::CompObjfAndDeriv: objf += w log y[m, pdf], deriv[m, pdf] += w / y[m, pdf].
        lp = xp.log(xp.maximum(p, 1e-20).astype(np.float64))
        objf = float((w.astype(np.float64) * lp).sum())
        deriv = xp.zeros_like(out)
        contrib = xp.where(w != 0, w / xp.maximum(p, 1e-20), 0).astype(np.float32)
        if xp is np:
            np.add.at(deriv, (np.broadcast_to(rows, pdf.shape), pdf), contrib)
        else:
            xp.add.at(deriv, (xp.broadcast_to(rows, pdf.shape), pdf), contrib)
        best = out.argmax(axis=1)[:, None]
        correct = float((w * (pdf == best)).sum())
        return StepStats(objf, n, correct, float(w.astype(np.float64).sum())), acts, deriv, last

    def _backward(self, acts, deriv, top, mode):
        """Backprop from component `top` down to the first updatable one. mode "update": each component
        updates itself after computing its input derivative; "gradient": returns the parameter gradients."""
        start = self.frame_input_start()
        comps = self.components
        n = acts[0].shape[0]
        xp = C.xp_of(acts[0])
        first_upd = next((i for i in range(start, len(comps)) if comps[i].updatable), None)
        grads = {}
        if first_upd is None:
            return []
        # acts[k] is the input of component start+k.
        for i in range(top, first_upd - 1, -1):
            c = comps[i]
            cin = acts[i - start]
            cout = acts[i - start + 1] if i - start + 1 < len(acts) else None
            need_dx = i > first_upd
            if mode == "gradient" and c.updatable:
                grads[i] = c.param_gradient(cin, deriv)
            dx_buf = self._buf(("d", i), (n, c.input_dim), xp) if need_dx else None
            if mode == "update" and c.updatable:
                # deriv is this network's own (a _buf or the objective's fresh array), not read again: the
                # NG-SGD update may precondition it in place (affine_update_ngd's dy_scratch)
                deriv = c.backprop(cin, cout, deriv, need_dx, dx_buf, update=True, consume_dy=True)
            else:
                deriv = c.backprop(cin, cout, deriv, need_dx, dx_buf, update=mode == "update")
        if mode == "gradient":
            return [grads.get(i) for i, c in enumerate(comps) if c.updatable]
        return None

    def evaluate(self, x: Array, labels: Array) -> StepStats:
        """Objective and accuracy without updating (validation / diagnostics; Kaldi's ComputeNnetObjf)."""
        return self._forward_objective(x, labels, False)[0]

    def evaluate_frames(self, x: Array, labels: Array) -> tuple[np.ndarray, np.ndarray]:
        """Per-frame (log-probability of the label float64 [n], correct 0/1 float64 [n]) as host arrays,
        for per-utterance statistics (bootstrap intervals of the validation accuracy)."""
        out, _ = self.forward(x, keep=True)  # in the reused buffers: only host arrays leave this method
        xp = C.xp_of(out)
        labels = simplify_labels(labels)
        if is_soft(labels):  # weighted labels: sums over each frame's (pdf, weight) pairs
            pdf, w = self.asarray(labels["pdf"]), self.asarray(labels["weight"]).astype(np.float64)
            p = xp.maximum(out[xp.arange(out.shape[0])[:, None], pdf], 1e-20)
            logp = (w * xp.log(p.astype(np.float64))).sum(axis=1)
            correct = (w * (out.argmax(axis=1)[:, None] == pdf)).sum(axis=1)

            return to_host(logp), to_host(correct)
        labels = xp.asarray(labels).astype(np.int64)
        lab_p = xp.maximum(out[xp.arange(out.shape[0]), labels], 1e-20)
        logp = xp.log(lab_p.astype(np.float64))
        correct = (out.argmax(axis=1) == labels).astype(np.float64)

        return to_host(logp), to_host(correct)

    def compute_utterance(self, feats: Array, chunk: int = 4096) -> Array:
        """Per-frame outputs [T, output_dim] for one utterance's frames [T, input_dim] (edges padded
        by repeating the first/last frame, as nnet-am-compute --pad-input=true)."""
        xp = C.xp_of(feats)
        feats = xp.ascontiguousarray(feats, dtype=np.float32)
        feats = self.asarray(feats)
        xp = C.xp_of(feats)
        if feats.ndim != 2 or feats.shape[1] != self.input_dim:
            raise UserError(f"features have shape {tuple(feats.shape)} but the network expects dim {self.input_dim}")
        sp = self.splice_component()
        x = sp.propagate(feats) if sp is not None else feats
        start = self.frame_input_start()
        outs = [self.forward(xp.ascontiguousarray(x[i: i + chunk]), start=start) .copy()
                for i in range(0, x.shape[0], chunk)]
        return xp.concatenate(outs, axis=0) if outs else xp.zeros((0, self.output_dim), np.float32)

    def info(self) -> str:
        """A description as Kaldi's nnet-am-info prints it (dimensions, contexts, components)."""
        lines = [f"num-components {len(self.components)}", f"num-updatable-components {len(self.updatable())}",
                 f"left-context {self.left_context}", f"right-context {self.right_context}",
                 f"input-dim {self.input_dim}", f"output-dim {self.output_dim}",
                 f"parameter-dim {self.num_params()}"]
        for i, c in enumerate(self.components):
            lines.append(f"component {i} : {c.info()}")
        return "\n".join(lines)


def nnet_to_fields(nnet: Nnet) -> list[tuple[str, dict]]:
    """The components as (type name, field dict) pairs of `nnet2.io.nnet_format`."""
    return [(c.type_name, c.to_fields()) for c in nnet.components]


def nnet_from_fields(comps: list[tuple[str, dict]], where: str = "") -> Nnet:
    out = []
    for i, (t, f) in enumerate(comps):
        out.append(C.component_from_fields(t, f, f"{where}component {i}: "))
    try:
        return Nnet(out)
    except UserError as e:
        raise ModelFormatError(f"{where}{e}") from None


# ---------------------------------------------------------------------- nnet-init config files
def _parse_list(v: str, typ=int) -> list:
    return [typ(t) for t in v.replace(",", ":").split(":") if t != ""]


def _read_matrix_file(path: str, where: str) -> np.ndarray:
    """A Kaldi matrix file (ReadKaldiObject: binary or text, any rxfilename)."""
    try:
        m = read_matrix_file(path, what="matrix file")
    except UserError as e:
        raise UserError(f"{where}: {e}") from None
    return np.asarray(m, dtype=np.float32)


def init_component(line: str, rng: np.random.Generator, where: str = "") -> C.Component:
    """Build one component from a Kaldi `nnet-init` config line (Kaldi `src/nnet2/nnet-component.cc`, each component's `InitFromString`)."""
    toks = shlex.split(line)
    name, kv = toks[0], {}
    for t in toks[1:]:
        if "=" not in t:
            raise UserError(f"{where}: expected key=value, got '{t}'")
        k, v = t.split("=", 1)
        kv[k] = v
    used = set()

    def get(key, typ, default=None, required=False):
        if key in kv:
            used.add(key)
            try:
                return typ(kv[key])
            except ValueError:
                raise UserError(f"{where}: bad value '{kv[key]}' for {key} in {name}") from None
        if required:
            raise UserError(f"{where}: {name} needs {key}=...")
        return default

    if name == "SpliceComponent":
        input_dim = get("input-dim", int, required=True)
        if "context" in kv:
            used.add("context")
            context = _parse_list(kv["context"])
        else:
            lc, rc = get("left-context", int, 0), get("right-context", int, 0)
            context = list(range(-lc, rc + 1))
        comp = C.SpliceComponent(input_dim, context, get("const-component-dim", int, 0))
    elif name == "FixedAffineComponent":
        m = _read_matrix_file(get("matrix", str, required=True), where)
        comp = C.FixedAffineComponent(m[:, :-1], m[:, -1])
    elif name in ("AffineComponent", "AffineComponentPreconditionedOnline"):
        lr = get("learning-rate", float, 0.001)
        if "matrix" in kv:
            m = _read_matrix_file(get("matrix", str), where)
            W, b = m[:, :-1], m[:, -1]
        else:
            i, o = get("input-dim", int, required=True), get("output-dim", int, required=True)
            ps = get("param-stddev", float, 1.0 / np.sqrt(i))
            bs = get("bias-stddev", float, 1.0)
            W = (rng.standard_normal((o, i)) * ps).astype(np.float32)
            b = (rng.standard_normal(o) * bs).astype(np.float32)
        if name == "AffineComponent":
            comp = C.AffineComponent(W, b, lr)
        else:
            # what the line leaves out gets nnet-init's values (Kaldi's InitFromString), as in Kaldi
            ngd = NgdConfig(**{f: get(key, type(v), v) for (f, key), v in
                               zip(CONFIG_KEYS.items(), KALDI_INIT.as_dict().values())})
            comp = C.AffineComponentPreconditionedOnline(W, b, lr, ngd=ngd)
    elif name in ("SigmoidComponent", "TanhComponent", "NormalizeComponent", "SoftmaxComponent"):
        comp = C.COMPONENT_TYPES[name](get("dim", int, required=True))
    elif name == "PnormComponent":
        o = get("output-dim", int, required=True)
        i = get("input-dim", int, 0) or 10 * o
        comp = C.PnormComponent(i, o, get("p", float, 2.0))
    elif name == "SumGroupComponent":
        used.add("sizes")
        if "sizes" not in kv:
            raise UserError(f"{where}: SumGroupComponent needs sizes=...")
        comp = C.SumGroupComponent(_parse_list(kv["sizes"].strip("[]")))
    elif name in ("FixedScaleComponent", "FixedBiasComponent"):
        key = "scales" if name == "FixedScaleComponent" else "bias"
        path = get(key, str, required=True)
        try:
            v = np.asarray(read_vector_file(path, what="vector file"), np.float32).reshape(-1)
        except UserError as e:
            raise UserError(f"{where}: {e}") from None
        comp = C.COMPONENT_TYPES[name](v)
    else:
        raise UserError(f"{where}: unknown component type '{name}'; known: {', '.join(sorted(C.COMPONENT_TYPES))}")
    unused = set(kv) - used
    if unused:
        raise UserError(f"{where}: unknown option(s) for {name}: {', '.join(sorted(unused))}")
    return comp


_PLACEHOLDER = re.compile(r"\b[A-Z][A-Z0-9_]*\b")
_POWER = re.compile(r"^([-+0-9.eE]+)\^([-+0-9.eE]+)$")


def resolve_placeholders(text: str, values: dict[str, object], name: str = "<config>") -> str:
    """An nnet-init config template -> a plain config (what Kaldi's scripts do with shell variables
    before calling nnet-init). Every upper-case word that is a key of `values` is replaced by its value
    (e.g. NUM_PDFS, FEAT_DIM); then a value of the form A^B (two numbers) becomes A to the power B, so
    `param-stddev=PNORM_INPUT_DIM^-0.5` is Kaldi's 1/sqrt(pnorm_input_dim). A key=value whose value is
    still an upper-case name (or NAME^B) is an error naming the file, line and placeholder."""
    out = []
    for ln, line in enumerate(text.splitlines(), 1):
        body, hash_, comment = line.partition("#")
        body = _PLACEHOLDER.sub(lambda m: str(values[m.group(0)]) if m.group(0) in values else m.group(0), body)
        toks = []
        for t in body.split():
            k, eq, v = t.partition("=")
            if eq:
                left = _PLACEHOLDER.fullmatch(v.split("^", 1)[0])
                if left:
                    raise UserError(f"{name}:{ln}: placeholder {left.group(0)} in '{t}' has no value "
                                    f"(known: {', '.join(sorted(values)) or 'none'})")
                m = _POWER.match(v)
                if m:
                    try:
                        v = f"{float(m.group(1)) ** float(m.group(2)):.9g}"
                    except (ValueError, OverflowError, ZeroDivisionError):
                        raise UserError(f"{name}:{ln}: cannot compute '{t}'") from None
                t = f"{k}={v}"
            toks.append(t)
        out.append(" ".join(toks + ([hash_ + comment] if hash_ else [])))
    return "\n".join(out) + "\n"


def init_nnet_from_config(text: str, seed: int = 0, name: str = "<config>") -> Nnet:
    """`nnet-init`: one component per non-empty line (`#` comments allowed)."""
    rng = np.random.default_rng(seed)
    comps = []
    for ln, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if line:
            comps.append(init_component(line, rng, f"{name}:{ln}"))
    if not comps:
        raise UserError(f"{name}: no components in config")
    return Nnet(comps)
