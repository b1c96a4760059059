"""Acoustic models: `AmNnet` (Nnet + priors) and `Model` (a Kaldi nnet2 `.mdl`: TransitionModel + AmNnet).

Reading and writing go through `nnet2.io.nnet_format` (Kaldi's text and binary forms); the mapping
between component classes and the plain field dicts of that module lives here.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from nnet2.data.egs import EgsReader
from nnet2.io import nnet_format
from nnet2.io.nnet_format import NONLINEAR_TYPES, component_dims, mdl_to_bytes, read_mdl
from nnet2.io.table import read_input_bytes, write_output_bytes
from nnet2.nnet import components as C
from nnet2.nnet.nnet import (Nnet, init_nnet_from_config, nnet_from_fields, nnet_to_fields,
                             resolve_placeholders)
from nnet2.utils.errors import ModelFormatError, UserError
from nnet2.utils.log import get_logger
from nnet2.utils.options import opt


@dataclasses.dataclass
class AmNnet:
    """Kaldi's AmNnet: the network and the pdf priors that turn its posteriors into likelihoods."""

    nnet: Nnet
    priors: np.ndarray  # [num_pdfs] float32, may be empty

    def __post_init__(self):
        self.priors = np.asarray(self.priors, dtype=np.float32).reshape(-1)
        if self.priors.size and self.priors.size != self.nnet.output_dim:
            raise ModelFormatError(f"priors have dim {self.priors.size} but the network output dim is "
                                   f"{self.nnet.output_dim}")

    @property
    def num_pdfs(self) -> int:
        """The number of pdfs (the network's output dimension)."""
        return self.nnet.output_dim


@dataclasses.dataclass
class Model:
    """A Kaldi nnet2 `.mdl`: TransitionModel followed by the AmNnet."""

    transition_model: object  # nnet2.io.transition_model.TransitionModel
    am: AmNnet

    @property
    def nnet(self) -> Nnet:
        """The network."""
        return self.am.nnet

    @property
    def priors(self) -> np.ndarray:
        """Prior of every pdf, float32 [num_pdfs] (empty until training has estimated them)."""
        return self.am.priors


def load_model(path: str | os.PathLike) -> Model:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise UserError(f"model file not found: {path}")
    mdl = nnet_format.read_mdl(path)
    nnet = nnet_from_fields(mdl.components, f"{path}: ")
    tm = mdl.transition_model
    if tm is not None and tm.num_pdfs != nnet.output_dim:
        raise ModelFormatError(f"{path}: the TransitionModel has {tm.num_pdfs} pdfs but the network output dim is "
                               f"{nnet.output_dim}")
    return Model(tm, AmNnet(nnet, mdl.priors))


def save_model(model: Model, path: str | os.PathLike, binary: bool = True) -> None:
    mdl = nnet_format.Mdl(model.transition_model, nnet_to_fields(model.nnet), np.asarray(model.priors, np.float32))
    nnet_format.write_mdl(os.fspath(path), mdl, binary=binary)


def read_transition_model(path: str):
    """The TransitionModel at the start of a GMM final.mdl, a transition-model file or an nnet2 .mdl."""
    if not os.path.exists(path):
        raise UserError(f"transition model file not found: {path}")
    return nnet_format.read_transition_model_from_gmm_mdl(path)


def init_model(config_path: str, transition_model_path: str, seed: int = 0,
               values: dict[str, object] | None = None) -> Model:
    """`nnet-init` + `nnet-am-init` of a config template (`resolve_placeholders`): NUM_PDFS is the
    transition model's number of pdfs, the other placeholders come from `values`. Priors start empty
    (set from alignments or at the end of training)."""
    tm = read_transition_model(transition_model_path)
    try:
        with open(config_path) as f:
            text = f.read()
    except OSError as e:
        raise UserError(f"cannot read config {config_path}: {e.strerror}") from None
    text = resolve_placeholders(text, {**(values or {}), "NUM_PDFS": tm.num_pdfs}, config_path)
    nnet = init_nnet_from_config(text, seed=seed, name=config_path)
    if nnet.output_dim != tm.num_pdfs:
        raise UserError(f"{config_path}: the network outputs {nnet.output_dim} values but the transition model "
                        f"{transition_model_path} has {tm.num_pdfs} pdfs")
    return Model(tm, AmNnet(nnet, np.zeros(0, np.float32)))


def am_init(transition_model: str, raw_nnet: str, model_out: str, *, seed: int = 0, binary: bool = True,
            egs_dir: str | None = None, values: dict[str, object] | None = None) -> None:
    """nnet-am-init: the TransitionModel of `transition_model` and the network `raw_nnet` written as the
    .mdl `model_out` with empty priors. `raw_nnet` is a raw nnet2 network (text or binary, as nnet-init
    writes it; copied at the format level) or an nnet-init config template (`init_model`, `seed`):
    NUM_PDFS is the transition model's pdfs, FEAT_DIM, LEFT_CONTEXT, RIGHT_CONTEXT and SPLICED_DIM come
    from `egs_dir` when given, other upper-case placeholders from `values`."""
    raw = read_input_bytes(raw_nnet, what="raw nnet")
    if raw.lstrip()[:6] == b"<Nnet>" or raw[:2] == b"\0B":
        comps = nnet_format.read_raw_nnet(raw)
        tm = nnet_format.read_transition_model_from_gmm_mdl(read_input_bytes(transition_model, what="transition model"))
        if component_dims(*comps[-1])[1] != tm.num_pdfs:
            raise UserError(f"{raw_nnet}: the network outputs {component_dims(*comps[-1])[1]} values but "
                            f"the transition model {transition_model} has {tm.num_pdfs} pdfs")
        write_output_bytes(model_out, mdl_to_bytes(nnet_format.Mdl(tm, comps, np.zeros(0, np.float32)), binary))
        return
    filled: dict[str, object] = {}
    if egs_dir:
        egs = EgsReader(egs_dir)
        filled.update(FEAT_DIM=egs.feat_dim, LEFT_CONTEXT=egs.left, RIGHT_CONTEXT=egs.right, SPLICED_DIM=egs.input_dim)
    for name, value in (values or {}).items():
        if name == "NUM_PDFS" or name in filled:
            raise UserError(f"--var {name}={value}: {name} comes from the "
                            f"{'transition model' if name == 'NUM_PDFS' else 'egs'}")
        filled[name] = value
    save_model(init_model(raw_nnet, transition_model, seed=seed, values=filled), model_out, binary=binary)


def average_models(models: list[Model], weights=None, names=None, total: bool = False) -> Model:
    """nnet-am-average (src/nnet2bin/nnet-am-average.cc): the first model scaled by w_1, then
    `Nnet::AddNnet(w_i, model_i)` for the others, with w_i = 1/N (or --weights, normalized; `total`:
    --sum=true, all 1). That acts on every updatable component's W and b (through the flat buffers) and
    on every nonlinear component's statistics (value_sum, deriv_sum, count: a weighted mean, an empty
    vector contributing nothing, as NonlinearComponent::Add); the rest (TransitionModel, priors, learning
    rates) comes from the first model."""
    n = len(models)
    names = names or [f"model {i}" for i in range(n)]
    if total:
        w = np.ones(n)
    else:
        w = np.full(n, 1.0 / n) if weights is None else np.asarray(weights, np.float64) / float(np.sum(weights))
    ref = models[0].nnet
    sig = [(c.type_name, c.input_dim, c.output_dim) for c in ref.components]
    for m, name in zip(models[1:], names[1:]):
        if [(c.type_name, c.input_dim, c.output_dim) for c in m.nnet.components] != sig:
            raise UserError(f"{name} does not have the same structure as {names[0]}")
    out = ref.copy()
    acc = np.zeros(out.params.size, np.float64)
    for m, wi in zip(models, w):
        acc += wi * np.asarray(m.nnet.params, np.float64)
    out.params[...] = acc.astype(np.float32)
    for i, c in enumerate(out.components):
        if isinstance(c, C.NonlinearComponent):
            c.scale_stats(float(w[0]))
            for m, wi in zip(models[1:], w[1:]):
                c.add_stats(float(wi), m.nnet.components[i])
    return Model(models[0].transition_model, AmNnet(out, models[0].priors.copy()))


# ------------------------------------------------------------------------------------------------ nnet-am-copy
UPDATABLE_TYPES = ("AffineComponent", "AffineComponentPreconditioned", "AffineComponentPreconditionedOnline")


@dataclasses.dataclass
class AmCopyOptions:
    """Options of `copy_model` (`nnet2 am-copy`), Kaldi's nnet-am-copy names and defaults."""

    binary: bool = opt(True, "Write output in binary mode")
    learning_rate_factor: float = opt(1.0, "Before copying, multiply all the learning rates in the model by this "
                                           "factor.")
    learning_rate: float = opt(-1.0, "If supplied (>= 0), all the learning rates of updatable layers are set to "
                                     "this value.")
    learning_rates: str = opt("", "Colon-separated list of learning rates, one per updatable layer.")
    scales: str = opt("", "Colon-separated list of scaling factors, one per updatable layer (scales the "
                          "parameters).")
    truncate: int = opt(-1, "If set, truncate the network to this many components (priors are dropped if the "
                            "output dimension changes).")
    remove_preconditioning: bool = opt(False, "Replace AffineComponentPreconditioned(Online) with AffineComponent.")
    stats_from: str = opt("", "Copy the statistics of every NonlinearComponent from this model.")


def _colon_floats(s: str, what: str, n: int) -> list[float]:
    try:
        v = [float(x) for x in s.split(":")]
    except ValueError:
        v = []
    if len(v) != n:
        raise UserError(f"Expected {what} option to be a colon-separated string with {n} elements, "
                        f"instead got \"{s}\"")
    return v


def copy_model(nnet_in: str, nnet_out: str, o: AmCopyOptions | None = None) -> None:
    """nnet-am-copy at the file-format level: every component type read is written back unchanged (a copy
    without options is byte-identical to its input in the same mode). The options apply in Kaldi's
    order: learning-rate factor, learning rate, learning rates, scales, truncate, remove
    preconditioning, stats from another model. `nnet_in` / `nnet_out`: files, '-' or pipes."""
    o = o or AmCopyOptions()
    m = read_mdl(read_input_bytes(nnet_in, what="model"), name=nnet_in)
    comps = [(t, dict(f)) for t, f in m.components]
    upd = [i for i, (t, _) in enumerate(comps) if t in UPDATABLE_TYPES]
    f32 = lambda x: float(np.float32(x))  # noqa: E731
    if o.learning_rate_factor != 1.0:
        for i in upd:
            comps[i][1]["learning_rate"] = f32(comps[i][1]["learning_rate"] * o.learning_rate_factor)
    if o.learning_rate >= 0:
        for i in upd:
            comps[i][1]["learning_rate"] = f32(o.learning_rate)
    if o.learning_rates:
        for i, lr in zip(upd, _colon_floats(o.learning_rates, "--learning-rates", len(upd))):
            comps[i][1]["learning_rate"] = f32(lr)
    if o.scales:
        for i, sc in zip(upd, _colon_floats(o.scales, "--scales", len(upd))):
            f = comps[i][1]
            f["linear_params"] = (np.asarray(f["linear_params"], np.float32) * np.float32(sc)).astype(np.float32)
            f["bias_params"] = (np.asarray(f["bias_params"], np.float32) * np.float32(sc)).astype(np.float32)
    priors = m.priors
    if o.truncate >= 0:
        if not 0 < o.truncate <= len(comps):
            raise UserError(f"--truncate={o.truncate}: the network has {len(comps)} components")
        comps = comps[:o.truncate]
        if component_dims(*comps[-1])[1] != len(priors):
            priors = np.zeros(0, np.float32)
    if o.remove_preconditioning:
        for i, (t, f) in enumerate(comps):
            if t in ("AffineComponentPreconditioned", "AffineComponentPreconditionedOnline"):
                comps[i] = ("AffineComponent", {"learning_rate": f["learning_rate"],
                                                "linear_params": f["linear_params"],
                                                "bias_params": f["bias_params"], "is_gradient": False})
    if o.stats_from:
        other = read_mdl(read_input_bytes(o.stats_from, what="model"), name=o.stats_from).components
        if len(other) != len(comps):
            raise UserError(f"--stats-from={o.stats_from}: {len(other)} components, this model has {len(comps)}")
        for i, (t, f) in enumerate(comps):
            if t in NONLINEAR_TYPES:
                ot, of = other[i]
                if ot != t or of["dim"] != f["dim"]:
                    raise UserError(f"--stats-from={o.stats_from}: component {i} is {ot}, not {t}")
                for k in ("value_sum", "deriv_sum", "count"):
                    f[k] = of[k]
    m.components, m.priors = comps, priors
    write_output_bytes(nnet_out, mdl_to_bytes(m, o.binary), what="output model")
    get_logger("am-copy").info(f"Copied neural net from {nnet_in} to {nnet_out}")


def model_info(model: Model) -> str:
    """What nnet-am-info prints: the transition model's sizes, the network (`Nnet.info`) and the priors."""
    lines = []
    tm = model.transition_model
    if tm is not None:
        lines += [f"num-pdfs {tm.num_pdfs}", f"num-transition-ids {tm.num_transition_ids}",
                  f"num-phones {len(tm.phones)}"]
    lines.append(model.nnet.info())
    pr = np.asarray(model.priors)
    if pr.size:
        lines.append(f"prior dimension: {pr.size}, prior sum: {pr.sum():.6g}, prior min: {pr.min():.6g}, "
                     f"prior max: {pr.max():.6g}")
    else:
        lines.append("prior dimension: 0")
    return "\n".join(lines) + "\n"
