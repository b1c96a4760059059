"""Acoustic models: `AmNnet` (Nnet + priors) and `Model` (a Kaldi nnet2 `.mdl`: TransitionModel + AmNnet).

Reading and writing go through `nnet2.io.nnet_format` (Kaldi's text and binary forms); the mapping
between component classes and the plain field dicts of that module lives here.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from nnet2.io import nnet_format
from nnet2.nnet import components as C
from nnet2.nnet.nnet import (Nnet, init_nnet_from_config, nnet_from_fields, nnet_to_fields,
                             resolve_placeholders)
from nnet2.utils.errors import ModelFormatError, UserError


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
