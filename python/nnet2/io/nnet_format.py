"""Kaldi nnet2 model files as plain data: components, `Nnet`, `AmNnet`, and `.mdl` files.

Token order and back-compatibility branches follow Kaldi's `src/nnet2/nnet-component.cc`
(`<Type>::Read/Write`), `src/nnet2/nnet-nnet.cc` (`Nnet::Read/Write`) and `src/nnet2/am-nnet.cc`
(`AmNnet::Read/Write`: the Nnet followed directly by the priors vector). A `.mdl` is a
TransitionModel followed by an AmNnet (what `nnet-am-copy` reads and writes).

A component is represented as ``(type_name, fields)``, e.g.
``("AffineComponentPreconditionedOnline", {"learning_rate": 0.001, "linear_params": W, ...})``.
Field names per type are listed in :data:`COMPONENT_FIELDS`; matrices are float32 (out, in),
parameter vectors float32 (dim,), NonlinearComponent statistics float64 (dim,) or (0,).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from nnet2.io.kaldi_io import KaldiReader, KaldiWriter
from nnet2.io.transition_model import TransitionModel
from nnet2.utils.errors import ModelFormatError
from nnet2.utils.fileio import write_bytes_atomic

NONLINEAR_TYPES = ("SigmoidComponent", "TanhComponent", "SoftmaxComponent", "LogSoftmaxComponent",
                   "RectifiedLinearComponent", "SoftHingeComponent", "NormalizeComponent")

#: Field names (in file order) for every component type this module reads and writes.
COMPONENT_FIELDS: dict[str, tuple[str, ...]] = {
    "SpliceComponent": ("input_dim", "context", "const_component_dim"),
    "FixedAffineComponent": ("linear_params", "bias_params"),
    "AffineComponent": ("learning_rate", "linear_params", "bias_params", "is_gradient"),
    "AffineComponentPreconditioned": ("learning_rate", "linear_params", "bias_params", "alpha",
                                      "max_change"),
    "AffineComponentPreconditionedOnline": ("learning_rate", "linear_params", "bias_params",
                                            "rank_in", "rank_out", "update_period",
                                            "num_samples_history", "alpha",
                                            "max_change_per_sample"),
    "PnormComponent": ("input_dim", "output_dim", "p"),
    "SumGroupComponent": ("sizes",),
    "FixedScaleComponent": ("scales",),
    "FixedBiasComponent": ("bias",),
    **{t: ("dim", "value_sum", "deriv_sum", "count") for t in NONLINEAR_TYPES},
}

KNOWN_TYPES = tuple(sorted(COMPONENT_FIELDS))


def _bad(r: KaldiReader, at: int, ctype: str, msg: str):
    raise ModelFormatError(f"{r.name}: byte offset {at}: {ctype}: {msg}")


# --------------------------------------------------------------------------------- readers
def _read_splice(r, t, start):
    input_dim = r.read_int("<InputDim>")
    tpos = r.pos
    tok = r.read_token("<Context> or <LeftContext>")
    if tok == "<LeftContext>":  # files written before the <Context> vector existed
        left = r.read_int("<LeftContext>")
        r.expect_token("<RightContext>")
        right = r.read_int("<RightContext>")
        context = list(range(-left, right + 1))
    elif tok == "<Context>":
        context = r.read_int_vector("<Context>").tolist()
    else:
        r.fail("<Context> or <LeftContext>", found=repr(tok), at=tpos, what=t)
    r.expect_token("<ConstComponentDim>")
    const = r.read_int("<ConstComponentDim>")
    r.expect_token("</SpliceComponent>")
    if not context or context != sorted(set(context)) or context[0] > 0 or context[-1] < 0:
        _bad(r, start, t, f"context {context} must be sorted, unique and include 0")
    if input_dim <= 0 or not 0 <= const < input_dim:
        _bad(r, start, t, f"bad input_dim {input_dim} / const_component_dim {const}")
    return {"input_dim": input_dim, "context": context, "const_component_dim": const}


def _read_affine_params(r, t, start, learning_rate=True):
    f = {}
    if learning_rate:
        f["learning_rate"] = r.read_float("<LearningRate>")
        r.expect_token("<LinearParams>")
    f["linear_params"] = r.read_matrix(what=f"{t} <LinearParams>")
    r.expect_token("<BiasParams>")
    f["bias_params"] = r.read_vector(what=f"{t} <BiasParams>")
    rows, cols = f["linear_params"].shape
    if rows == 0 or cols == 0:
        _bad(r, start, t, "empty <LinearParams>")
    if f["bias_params"].shape[0] != rows:
        _bad(r, start, t, f"<BiasParams> has dimension {f['bias_params'].shape[0]} but "
                          f"<LinearParams> has {rows} rows")
    return f


def _read_fixed_affine(r, t, start):
    f = _read_affine_params(r, t, start, learning_rate=False)
    r.expect_token("</FixedAffineComponent>")
    return f


def _read_affine(r, t, start):
    f = _read_affine_params(r, t, start)
    tpos = r.pos
    tok = r.read_token("<IsGradient> or end token")
    if tok == "<AvgInput>":  # old files: discarded statistics
        r.read_vector(what="<AvgInput>")
        r.expect_token("<AvgInputCount>")
        r.read_float("<AvgInputCount>")
        tpos = r.pos
        tok = r.read_token("<IsGradient> or end token")
    f["is_gradient"] = False
    if tok == "<IsGradient>":
        f["is_gradient"] = r.read_bool("<IsGradient>")
        r.expect_token(f"</{t}>")
    elif tok != f"</{t}>":
        r.fail(f"<IsGradient> or </{t}>", found=repr(tok), at=tpos, what=t)
    return f


def _read_affine_precond(r, t, start):
    f = _read_affine_params(r, t, start)
    r.expect_token("<Alpha>")
    f["alpha"] = r.read_float("<Alpha>")
    tpos = r.pos
    tok = r.read_token("<MaxChange> or end token")
    f["max_change"] = 0.0
    if tok == "<MaxChange>":
        f["max_change"] = r.read_float("<MaxChange>")
        r.expect_token(f"</{t}>")
    elif tok != f"</{t}>":
        r.fail(f"<MaxChange> or </{t}>", found=repr(tok), at=tpos, what=t)
    return f


def _read_affine_online(r, t, start):
    f = _read_affine_params(r, t, start)
    tpos = r.pos
    tok = r.read_token("<RankIn>")
    if tok == "<Rank>":  # old files had one rank for both sides
        f["rank_in"] = f["rank_out"] = r.read_int("<Rank>")
    elif tok == "<RankIn>":
        f["rank_in"] = r.read_int("<RankIn>")
        r.expect_token("<RankOut>")
        f["rank_out"] = r.read_int("<RankOut>")
    else:
        r.fail("<RankIn> or <Rank>", found=repr(tok), at=tpos, what=t)
    tpos = r.pos
    tok = r.read_token("<UpdatePeriod> or <NumSamplesHistory>")
    f["update_period"] = 1
    if tok == "<UpdatePeriod>":
        f["update_period"] = r.read_int("<UpdatePeriod>")
        r.expect_token("<NumSamplesHistory>")
    elif tok != "<NumSamplesHistory>":
        r.fail("<UpdatePeriod> or <NumSamplesHistory>", found=repr(tok), at=tpos, what=t)
    f["num_samples_history"] = r.read_float("<NumSamplesHistory>")
    r.expect_token("<Alpha>")
    f["alpha"] = r.read_float("<Alpha>")
    r.expect_token("<MaxChangePerSample>")
    f["max_change_per_sample"] = r.read_float("<MaxChangePerSample>")
    r.expect_token(f"</{t}>")
    return f


def _read_nonlinear(r, t, start):
    dim = r.read_int("<Dim>")
    tpos = r.pos
    tok = r.read_token("<ValueSum>")
    empty = np.zeros(0, dtype=np.float64)
    if tok == "<ValueSum>":
        vs = r.read_vector(np.float64, what=f"{t} <ValueSum>")
        r.expect_token("<DerivSum>")
        ds = r.read_vector(np.float64, what=f"{t} <DerivSum>")
        r.expect_token("<Count>")
        count = r.read_double("<Count>")
        r.expect_token(f"</{t}>")
    elif tok == "<Counts>":  # old SoftmaxComponent files
        vs = r.read_vector(np.float64, what=f"{t} <Counts>")
        ds, count = empty, float(vs.sum())
        r.expect_token(f"</{t}>")
    elif tok == f"</{t}>":  # very old files without statistics
        vs, ds, count = empty, empty, 0.0
    else:
        r.fail(f"<ValueSum> or </{t}>", found=repr(tok), at=tpos, what=t)
    if dim <= 0:
        _bad(r, start, t, f"non-positive <Dim> {dim}")
    for name, v in (("value_sum", vs), ("deriv_sum", ds)):
        if v.shape[0] not in (0, dim):
            _bad(r, start, t, f"{name} has dimension {v.shape[0]}, expected 0 or {dim}")
    return {"dim": dim, "value_sum": vs, "deriv_sum": ds, "count": count}


def _read_pnorm(r, t, start):
    f = {"input_dim": r.read_int("<InputDim>")}
    r.expect_token("<OutputDim>")
    f["output_dim"] = r.read_int("<OutputDim>")
    r.expect_token("<P>")
    f["p"] = r.read_float("<P>")
    r.expect_token("</PnormComponent>")
    if f["output_dim"] <= 0 or f["input_dim"] <= 0 or f["input_dim"] % f["output_dim"]:
        _bad(r, start, t, f"input_dim {f['input_dim']} must be a positive multiple of "
                          f"output_dim {f['output_dim']}")
    return f


def _read_sum_group(r, t, start):
    sizes = r.read_int_vector("<Sizes>").tolist()
    tpos = r.pos
    tok = r.read_token("</SumGroupComponent>")
    # Kaldi's reader also accepts <SumGroupComponent> here.
    if tok not in ("</SumGroupComponent>", "<SumGroupComponent>"):
        r.fail("</SumGroupComponent>", found=repr(tok), at=tpos, what=t)
    if not sizes or min(sizes) <= 0:
        _bad(r, start, t, f"sizes must be non-empty and positive, got {sizes[:20]}")
    return {"sizes": sizes}


def _read_vec_component(field_tok, field):
    def read(r, t, start):
        v = r.read_vector(what=f"{t} {field_tok}")
        r.expect_token(f"</{t}>")
        if v.shape[0] == 0:
            _bad(r, start, t, f"empty {field_tok}")
        return {field: v}
    return read


# First token after the type token, and the reader for the rest.
_READERS = {
    "SpliceComponent": ("<InputDim>", _read_splice),
    "FixedAffineComponent": ("<LinearParams>", _read_fixed_affine),
    "AffineComponent": ("<LearningRate>", _read_affine),
    "AffineComponentPreconditioned": ("<LearningRate>", _read_affine_precond),
    "AffineComponentPreconditionedOnline": ("<LearningRate>", _read_affine_online),
    "PnormComponent": ("<InputDim>", _read_pnorm),
    "SumGroupComponent": ("<Sizes>", _read_sum_group),
    "FixedScaleComponent": ("<Scales>", _read_vec_component("<Scales>", "scales")),
    "FixedBiasComponent": ("<Bias>", _read_vec_component("<Bias>", "bias")),
    **{t: ("<Dim>", _read_nonlinear) for t in NONLINEAR_TYPES},
}


def read_component(r: KaldiReader) -> tuple[str, dict]:
    """Reads one component starting at its ``<TypeName>`` token; returns (type_name, fields)."""
    start = r.pos
    tok = r.read_token("a component type token")
    if not (tok.startswith("<") and tok.endswith(">") and len(tok) > 2):
        r.fail("a component type token like <AffineComponent>", found=repr(tok), at=start)
    t = tok[1:-1]
    if t not in _READERS:
        raise ModelFormatError(
            f"{r.name}: byte offset {start}: unknown component type {t!r}; "
            f"known types: {', '.join(KNOWN_TYPES)}")
    first, reader = _READERS[t]
    # Kaldi's ExpectOneOrTwoTokens: the type token may be repeated before the first field.
    if r.peek_token() == tok:
        r.read_token()
    r.expect_token(first)
    return t, reader(r, t, start)


# --------------------------------------------------------------------------------- writers
def _get(fields: dict, t: str, name: str):
    try:
        return fields[name]
    except KeyError:
        raise ValueError(f"{t}: missing field {name!r} (fields are {COMPONENT_FIELDS[t]})") \
            from None


def _check_affine(t, W, b):
    W = np.asarray(W)
    b = np.asarray(b)
    if W.ndim != 2 or b.ndim != 1 or W.shape[0] != b.shape[0] or W.size == 0:
        raise ValueError(f"{t}: linear_params shape {W.shape} and bias_params shape {b.shape} "
                         "are inconsistent (need (out, in) and (out,))")


def write_component(w: KaldiWriter, type_name: str, fields: dict) -> None:
    """Writes one component exactly as Kaldi's `<type_name>::Write` does."""
    t = type_name
    if t not in COMPONENT_FIELDS:
        raise ValueError(f"unknown component type {t!r}; known types: {', '.join(KNOWN_TYPES)}")
    g = lambda name: _get(fields, t, name)  # noqa: E731
    w.token(f"<{t}>")
    if t == "SpliceComponent":
        w.token("<InputDim>")
        w.int32(g("input_dim"))
        w.token("<Context>")
        w.int_vector(list(g("context")))
        w.token("<ConstComponentDim>")
        w.int32(g("const_component_dim"))
    elif t == "FixedAffineComponent":
        _check_affine(t, g("linear_params"), g("bias_params"))
        w.token("<LinearParams>")
        w.matrix(g("linear_params"))
        w.token("<BiasParams>")
        w.vector(g("bias_params"))
    elif t.startswith("AffineComponent"):
        _check_affine(t, g("linear_params"), g("bias_params"))
        w.token("<LearningRate>")
        w.float(g("learning_rate"))
        w.token("<LinearParams>")
        w.matrix(g("linear_params"))
        w.token("<BiasParams>")
        w.vector(g("bias_params"))
        if t == "AffineComponent":
            w.token("<IsGradient>")
            w.bool(g("is_gradient"))
        elif t == "AffineComponentPreconditioned":
            w.token("<Alpha>")
            w.float(g("alpha"))
            w.token("<MaxChange>")
            w.float(g("max_change"))
        else:
            for tok, name, kind in (("<RankIn>", "rank_in", "i"), ("<RankOut>", "rank_out", "i"),
                                    ("<UpdatePeriod>", "update_period", "i"),
                                    ("<NumSamplesHistory>", "num_samples_history", "f"),
                                    ("<Alpha>", "alpha", "f"),
                                    ("<MaxChangePerSample>", "max_change_per_sample", "f")):
                w.token(tok)
                (w.int32 if kind == "i" else w.float)(g(name))
    elif t == "PnormComponent":
        w.token("<InputDim>")
        w.int32(g("input_dim"))
        w.token("<OutputDim>")
        w.int32(g("output_dim"))
        w.token("<P>")
        w.float(g("p"))
    elif t == "SumGroupComponent":
        w.token("<Sizes>")
        w.int_vector(list(g("sizes")))
    elif t == "FixedScaleComponent":
        w.token("<Scales>")
        w.vector(g("scales"))
    elif t == "FixedBiasComponent":
        w.token("<Bias>")
        w.vector(g("bias"))
    else:
        # NonlinearComponent: the statistics are CuVector<double>, but CuVector<Real>::Write
        # (src/cudamatrix/cu-vector.cc) copies into a Vector<BaseFloat> before writing, so they
        # are float ("FV" in binary, float-rounded in text); the count is a double.
        w.token("<Dim>")
        w.int32(g("dim"))
        w.token("<ValueSum>")
        w.vector(g("value_sum"), dtype=np.float32)
        w.token("<DerivSum>")
        w.vector(g("deriv_sum"), dtype=np.float32)
        w.token("<Count>")
        w.double(g("count"))
    w.token(f"</{t}>")


def component_dims(type_name: str, fields: dict) -> tuple[int, int]:
    """(input_dim, output_dim) of a component."""
    t, f = type_name, fields
    if t == "SpliceComponent":
        c = f["const_component_dim"]
        return f["input_dim"], (f["input_dim"] - c) * len(f["context"]) + c
    if "linear_params" in f:
        rows, cols = np.shape(f["linear_params"])
        return cols, rows
    if t == "PnormComponent":
        return f["input_dim"], f["output_dim"]
    if t == "SumGroupComponent":
        return int(sum(f["sizes"])), len(f["sizes"])
    if t == "FixedScaleComponent":
        return len(f["scales"]), len(f["scales"])
    if t == "FixedBiasComponent":
        return len(f["bias"]), len(f["bias"])
    return f["dim"], f["dim"]


# --------------------------------------------------------------------------------- Nnet / AmNnet
def read_nnet(r: KaldiReader) -> list[tuple[str, dict]]:
    """Reads ``<Nnet> <NumComponents> n <Components> ... </Components> </Nnet>`` and checks
    that each component's output dim equals the next one's input dim."""
    start = r.pos
    r.expect_token("<Nnet>")
    r.expect_token("<NumComponents>")
    n = r.read_int("<NumComponents>")
    if not 0 < n < 100000:
        r.fail("a positive number of components", found=str(n))
    r.expect_token("<Components>")
    comps = []
    positions = []
    for _ in range(n):
        positions.append(r.pos)
        comps.append(read_component(r))
    r.expect_token("</Components>")
    r.expect_token("</Nnet>")
    for i in range(n - 1):
        out_dim = component_dims(*comps[i])[1]
        in_dim = component_dims(*comps[i + 1])[0]
        if out_dim != in_dim:
            raise ModelFormatError(
                f"{r.name}: byte offset {positions[i + 1]}: component {i + 1} "
                f"({comps[i + 1][0]}) has input dim {in_dim} but component {i} "
                f"({comps[i][0]}) has output dim {out_dim}")
    del start
    return comps


def write_nnet(w: KaldiWriter, comps) -> None:
    w.token("<Nnet>")
    w.token("<NumComponents>")
    w.int32(len(comps))
    w.token("<Components>")
    for t, f in comps:
        write_component(w, t, f)
        w.newline_if_text()
    w.token("</Components>")
    w.token("</Nnet>")


def read_am_nnet(r: KaldiReader) -> tuple[list, np.ndarray]:
    """AmNnet = Nnet then the priors vector (float32 (num_pdfs,) or (0,)); no extra tokens."""
    comps = read_nnet(r)
    pos = r.pos
    priors = r.read_vector(np.float32, what="priors")
    out_dim = component_dims(*comps[-1])[1]
    if priors.shape[0] not in (0, out_dim):
        raise ModelFormatError(f"{r.name}: byte offset {pos}: priors have dimension "
                               f"{priors.shape[0]}, but the network output dimension is {out_dim}")
    return comps, priors


def write_am_nnet(w: KaldiWriter, comps, priors) -> None:
    write_nnet(w, comps)
    w.vector(np.asarray(priors, dtype=np.float32))


# --------------------------------------------------------------------------------- files
@dataclass
class Mdl:
    """An nnet2 acoustic model file: TransitionModel, components [(type, fields)], priors
    float32 (num_pdfs,) (or (0,) when not yet estimated)."""
    transition_model: TransitionModel
    components: list
    priors: np.ndarray


def _load(path_or_bytes) -> tuple[bytes, str]:
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        return bytes(path_or_bytes), "<bytes>"
    path = os.fspath(path_or_bytes)
    try:
        with open(path, "rb") as f:
            return f.read(), path
    except OSError as e:
        raise ModelFormatError(f"{path}: cannot read model file: {e.strerror}") from None


def _expect_end(r: KaldiReader, what: str) -> None:
    if not r.at_eof():
        r.fail(f"end of file after the {what}")


def read_mdl(path_or_bytes, name: str | None = None) -> Mdl:
    """Reads an nnet2 `.mdl` (text or binary) from a path or from bytes (`name`: what errors call them)."""
    data, name0 = _load(path_or_bytes)
    name = name or name0
    r = KaldiReader(data, name)
    tm = TransitionModel.read(r)
    pos = r.pos
    comps, priors = read_am_nnet(r)
    _expect_end(r, "priors")
    out_dim = component_dims(*comps[-1])[1]
    if out_dim != tm.num_pdfs:
        raise ModelFormatError(f"{name}: byte offset {pos}: network output dimension {out_dim} "
                               f"differs from the transition model's number of pdfs {tm.num_pdfs}")
    return Mdl(tm, comps, priors)


def mdl_to_bytes(mdl: Mdl, binary: bool) -> bytes:
    w = KaldiWriter(binary)
    mdl.transition_model.write(w)
    write_am_nnet(w, mdl.components, mdl.priors)
    return w.getvalue()


def write_mdl(path, mdl: Mdl, binary: bool = True) -> None:
    """Writes `mdl` like `nnet-am-copy --binary=...` (atomically: temp file, then rename)."""
    write_bytes_atomic(path, mdl_to_bytes(mdl, binary))


def read_raw_nnet(path_or_bytes) -> list[tuple[str, dict]]:
    """Reads a raw nnet (no TransitionModel, no priors; `nnet-to-raw-nnet` output)."""
    data, name = _load(path_or_bytes)
    r = KaldiReader(data, name)
    comps = read_nnet(r)
    _expect_end(r, "network")
    return comps


def raw_nnet_to_bytes(comps, binary: bool) -> bytes:
    w = KaldiWriter(binary)
    write_nnet(w, comps)
    return w.getvalue()


def write_raw_nnet(path, comps, binary: bool = True) -> None:
    write_bytes_atomic(path, raw_nnet_to_bytes(comps, binary))


def read_transition_model_from_gmm_mdl(path_or_bytes) -> TransitionModel:
    """The TransitionModel at the start of any `.mdl` (GMM `final.mdl` or nnet2), ignoring the
    acoustic model that follows it."""
    data, name = _load(path_or_bytes)
    return TransitionModel.read(KaldiReader(data, name))
