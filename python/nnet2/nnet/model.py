"""Acoustic models: `AmNnet` (Nnet + priors) and `Model` (a Kaldi nnet2 `.mdl`: TransitionModel + AmNnet).

Reading and writing go through `nnet2.io.nnet_format` (Kaldi's text and binary forms); the mapping
between component classes and the plain field dicts of that module lives here.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from nnet2.nnet import components as C
from nnet2.nnet.nnet import Nnet
from nnet2.utils.errors import ModelFormatError, UserError


def nnet_to_fields(nnet: Nnet) -> list[tuple[str, dict]]:
    return [(c.type_name, c.to_fields()) for c in nnet.components]


def nnet_from_fields(comps: list[tuple[str, dict]], where: str = "") -> Nnet:
    out = []
    for i, (t, f) in enumerate(comps):
        out.append(C.component_from_fields(t, f, f"{where}component {i}: "))
    try:
        return Nnet(out)
    except UserError as e:
        raise ModelFormatError(f"{where}{e}") from None


@dataclasses.dataclass
class AmNnet:
    nnet: Nnet
    priors: np.ndarray  # [num_pdfs] float32, may be empty

    def __post_init__(self):
        self.priors = np.asarray(self.priors, dtype=np.float32).reshape(-1)
        if self.priors.size and self.priors.size != self.nnet.output_dim:
            raise ModelFormatError(f"priors have dim {self.priors.size} but the network output dim is "
                                   f"{self.nnet.output_dim}")

    @property
    def num_pdfs(self) -> int:
        return self.nnet.output_dim


@dataclasses.dataclass
class Model:
    """A Kaldi nnet2 `.mdl`: TransitionModel followed by the AmNnet."""

    transition_model: object  # nnet2.io.transition_model.TransitionModel
    am: AmNnet

    @property
    def nnet(self) -> Nnet:
        return self.am.nnet

    @property
    def priors(self) -> np.ndarray:
        return self.am.priors


def load_model(path: str | os.PathLike) -> Model:
    from nnet2.io import nnet_format

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
    from nnet2.io import nnet_format

    mdl = nnet_format.Mdl(model.transition_model, nnet_to_fields(model.nnet), np.asarray(model.priors, np.float32))
    nnet_format.write_mdl(os.fspath(path), mdl, binary=binary)
