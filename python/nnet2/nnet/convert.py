"""Structural conversions: plain SGD <-> NG-SGD affine components (like Kaldi's
nnet-am-switch-preconditioning / nnet-am-copy --remove-preconditioning), and DBN -> DNN."""

from __future__ import annotations

import os

import numpy as np

from nnet2.data.alignments import ali_to_pdf, initial_priors, iter_alignments
from nnet2.io.nnet1 import dbn_to_layers, feature_transform_to_mean_std, read_nnet1
from nnet2.nnet import components as C
from nnet2.nnet.model import AmNnet, Model, read_transition_model
from nnet2.nnet.ngd_config import DEFAULT_PRESET, NgdConfig, PRESETS
from nnet2.nnet.nnet import Nnet
from nnet2.utils.errors import ModelFormatError, UserError


def set_update_type(nnet: Nnet, update: str, ngd: NgdConfig = PRESETS[DEFAULT_PRESET]) -> Nnet:
    """update='ngd': every plain AffineComponent becomes an AffineComponentPreconditionedOnline with the
    NG-SGD settings `ngd` (layers that already are keep theirs); update='sgd': every
    AffineComponentPreconditionedOnline becomes a plain AffineComponent. Parameters and learning rates
    are kept; repacks the buffer."""
    if update not in ("sgd", "ngd"):
        raise ValueError(f"update must be sgd or ngd, got {update}")
    changed = False
    for i, c in enumerate(nnet.components):
        if update == "ngd" and type(c) is C.AffineComponent:
            nnet.components[i] = C.AffineComponentPreconditionedOnline(
                np.asarray(c.W), np.asarray(c.b), c.learning_rate, ngd=ngd)
            changed = True
        elif update == "sgd" and isinstance(c, C.AffineComponentPreconditionedOnline):
            nnet.components[i] = C.AffineComponent(np.asarray(c.W), np.asarray(c.b), c.learning_rate)
            changed = True
    if changed:
        nnet.pack_params()
    return nnet


# ------------------------------------------------------------------------------------------------ DBN -> DNN
# Initialization of new affine layers follows nnet1's `utils/nnet/make_nnet_proto.py` defaults (the paper
# fine-tuned RBM-pretrained nets in a fork of nnet1): W ~ N(0, (0.1 * glorot(in, out))^2) with
# glorot(in, out) = 35 * sqrt(2 / (in + out)); the first layer of a random net is scaled by sqrt(1/12) more
# (its input is normalized features, of larger range than sigmoid outputs); hidden biases ~ U(-4, 0)
# (BiasMean -2, BiasRange 4); output bias 0. nnet1's 0.1 bias learning-rate coefficient on the output layer
# has no nnet2 equivalent and is not reproduced.
NNET1_PARAM_STDDEV_FACTOR = 0.1
NNET1_HID_BIAS_MEAN, NNET1_HID_BIAS_RANGE = -2.0, 4.0


def nnet1_glorot(dim_in: int, dim_out: int) -> float:
    return 35.0 * float(np.sqrt(2.0 / (dim_in + dim_out)))


def _input_components(feature_transform) -> list:
    """nnet1 <Splice> <AddShift> <Rescale> -> SpliceComponent, FixedBiasComponent, FixedScaleComponent.

    Two element-wise components rather than one FixedAffineComponent (as Kaldi's nnet1-to-raw-nnet does):
    they compute exactly nnet1's (x + shift) * scale with the file's own float32 values, and cost O(D)
    per frame instead of a D x D matrix product."""
    comps = read_nnet1(feature_transform) if isinstance(feature_transform, (str, os.PathLike)) \
        else list(feature_transform)
    name = os.fspath(feature_transform) if isinstance(feature_transform, (str, os.PathLike)) else "feature transform"
    offsets, _, _ = feature_transform_to_mean_std(comps)  # validates the structure
    splice, shift, rescale = comps
    try:
        sp = C.SpliceComponent(splice.input_dim, [int(o) for o in offsets])
    except UserError as e:
        raise ModelFormatError(f"{name}: <Splice>: {e}") from None
    return [sp, C.FixedBiasComponent(shift.shift), C.FixedScaleComponent(rescale.scale)]


def _output_layer(in_dim: int, num_pdfs: int, rng: np.random.Generator, output_init: str, lr: float):
    if output_init == "nnet1":
        W = rng.standard_normal((num_pdfs, in_dim)) * (NNET1_PARAM_STDDEV_FACTOR * nnet1_glorot(in_dim, num_pdfs))
        b = np.zeros(num_pdfs)
    elif output_init == "nnet2":  # nnet-init's AffineComponent defaults (steps/nnet2/convert_nnet1_to_nnet2.sh)
        W = rng.standard_normal((num_pdfs, in_dim)) / np.sqrt(in_dim)
        b = rng.standard_normal(num_pdfs)
    else:
        raise UserError(f"output_init must be nnet1 or nnet2, got '{output_init}'")
    return [C.AffineComponent(W.astype(np.float32), b.astype(np.float32), lr), C.SoftmaxComponent(num_pdfs)]


def dbn_to_nnet(feature_transform, dbn, num_pdfs: int, *, seed: int = 0, learning_rate: float = 0.008,
                output_init: str = "nnet1") -> Nnet:
    """An nnet1 feature transform + DBN -> nnet2 sigmoid DNN (Kaldi `egs/wsj/s5/steps/nnet2/convert_nnet1_to_nnet2.sh`, `src/nnet2bin/nnet1-to-raw-nnet.cc`):

        SpliceComponent (the transform's offsets, e.g. ±5: D -> C·D)
        FixedBiasComponent (<AddShift> = −mean)  FixedScaleComponent (<Rescale> = 1/std)
        { AffineComponent (the RBM's W [H, in], b_hid [H])  SigmoidComponent (H) } per DBN layer
        AffineComponent (H_last -> num_pdfs, new)  SoftmaxComponent (num_pdfs)

    feature_transform / dbn: paths or nnet1 component lists (`nnet2.io.nnet1`). The affine layers are
    plain AffineComponents; training's --update ngd switches them to NG-SGD. The new output layer is
    initialized with `seed` as nnet1 does (`output_init="nnet1"`: W ~ N(0, (0.1·35·sqrt(2/(H+K)))²), b = 0)
    or as Kaldi's convert_nnet1_to_nnet2.sh (`"nnet2"`: W ~ N(0, 1/H), b ~ N(0, 1)).
    """
    name = os.fspath(dbn) if isinstance(dbn, (str, os.PathLike)) else "DBN"
    if num_pdfs <= 0:
        raise UserError(f"num_pdfs must be positive, got {num_pdfs}")
    comps = _input_components(feature_transform)
    layers = dbn_to_layers(dbn)
    if not layers:
        raise ModelFormatError(f"{name}: the DBN has no layers")
    dim = comps[-1].output_dim
    for k, (W, b) in enumerate(layers, 1):
        if W.shape[1] != dim:
            what = "the feature transform outputs" if k == 1 else f"layer {k - 1} outputs"
            raise ModelFormatError(f"{name}: layer {k} takes {W.shape[1]} inputs but {what} {dim} "
                                   f"(wrong feature transform for this DBN?)")
        comps += [C.AffineComponent(W, b, learning_rate), C.SigmoidComponent(W.shape[0])]
        dim = W.shape[0]
    comps += _output_layer(dim, num_pdfs, np.random.default_rng(seed), output_init, learning_rate)
    return Nnet(comps)


def random_sigmoid_nnet(feature_transform, num_pdfs: int, nn_depth: int, hid_dim: int, *, seed: int = 0,
                        learning_rate: float = 0.008, output_init: str = "nnet1") -> Nnet:
    """The same structure as `dbn_to_nnet` with randomly initialized hidden layers (nnet1
    make_nnet_proto.py defaults: first layer W ~ N(0, (0.1·glorot(in, H)·sqrt(1/12))²), other layers
    N(0, (0.1·glorot(H, H))²), biases U(−4, 0)), for the RBM-vs-random comparison."""
    if nn_depth < 1 or hid_dim < 1:
        raise UserError(f"need nn_depth >= 1 and hid_dim >= 1, got {nn_depth} and {hid_dim}")
    if num_pdfs <= 0:
        raise UserError(f"num_pdfs must be positive, got {num_pdfs}")
    comps = _input_components(feature_transform)
    rng = np.random.default_rng(seed)
    dim = comps[-1].output_dim
    for k in range(nn_depth):
        std = NNET1_PARAM_STDDEV_FACTOR * nnet1_glorot(dim, hid_dim) * (np.sqrt(1.0 / 12.0) if k == 0 else 1.0)
        W = rng.standard_normal((hid_dim, dim)) * std
        b = NNET1_HID_BIAS_MEAN + (rng.random(hid_dim) - 0.5) * NNET1_HID_BIAS_RANGE
        comps += [C.AffineComponent(W.astype(np.float32), b.astype(np.float32), learning_rate),
                  C.SigmoidComponent(hid_dim)]
        dim = hid_dim
    comps += _output_layer(dim, num_pdfs, rng, output_init, learning_rate)
    return Nnet(comps)


def alignment_priors(ali_spec, transition_model) -> np.ndarray:
    """Initial priors (`nnet-train-transitions`): pdf counts over the alignments (streamed, so the
    Switchboard alignments never sit in memory at once), normalized and floored. -> float32 [num_pdfs]."""
    counts = np.zeros(transition_model.num_pdfs, np.float64)
    for utt, tids in iter_alignments(ali_spec):
        counts += np.bincount(ali_to_pdf(tids, transition_model.tid2pdf, utt), minlength=counts.size)
    return initial_priors(counts).astype(np.float32)


def dbn_to_model(feature_transform, dbn, transition_model: str, *, seed: int = 0, random_init: bool = False,
                 nn_depth: int = 6, hid_dim: int = 2048, ali=None, output_init: str = "nnet1",
                 learning_rate: float = 0.008):
    """`nnet2 dbn-to-nnet`: `dbn_to_nnet` (or `random_sigmoid_nnet` when random_init, with dbn None)
    + the TransitionModel of `transition_model` (a GMM final.mdl) -> Model; num_pdfs comes from it.
    Priors: initial priors from the alignments `ali` if given, else empty."""
    tm = read_transition_model(transition_model)
    if random_init:
        if dbn is not None:
            raise UserError("with random init the DBN argument must be '-' (the shape comes from "
                            "--nn-depth/--hid-dim)")
        nnet = random_sigmoid_nnet(feature_transform, tm.num_pdfs, nn_depth, hid_dim, seed=seed,
                                   learning_rate=learning_rate, output_init=output_init)
    else:
        if dbn is None:
            raise UserError("a DBN is needed unless random init is asked for")
        nnet = dbn_to_nnet(feature_transform, dbn, tm.num_pdfs, seed=seed, learning_rate=learning_rate,
                           output_init=output_init)
    priors = alignment_priors(ali, tm) if ali else np.zeros(0, np.float32)
    return Model(tm, AmNnet(nnet, priors))
