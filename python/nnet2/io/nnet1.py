"""Kaldi nnet1 model files: RBMs (`k.rbm`), DBNs (`k.dbn`) and feature transforms
(`final.feature_transform`), text and binary, written byte-for-byte as nnet1 writes them.

Layout (Kaldi `src/nnet/nnet-nnet.cc`, `nnet-component.cc`; basic I/O rules of `src/base/io-funcs.h`):
binary files start with ``\\0B``; then ``<Nnet>`` and per component ``<Type> out_dim in_dim`` + data +
``<!EndOfComponent>``, then ``</Nnet>``. Component data:

* ``<Rbm>``: ``bern|gauss`` (visible) ``bern|gauss`` (hidden), W [H, V], b_vis [V], b_hid [H]
* ``<AffineTransform>``: ``<LearnRateCoef> f <BiasLearnRateCoef> f <MaxNorm> f``, W [out, in], b [out]
  (the three coefficient tokens are optional on reading: ``rbm-convert-to-nnet`` omits them)
* ``<Sigmoid>``, ``<Softmax>``: no data
* ``<Splice>``: integer vector of frame offsets
* ``<AddShift>``, ``<Rescale>``: ``<LearnRateCoef> f`` (optional on reading) then a vector

Text floats use 7 significant digits (Kaldi sets the stream precision to 7).
"""

from __future__ import annotations

import dataclasses
import os
import struct

import numpy as np

from nnet2.utils.errors import ModelFormatError
from nnet2.utils.fileio import write_bytes_atomic


# --------------------------------------------------------------------------------------------- components
@dataclasses.dataclass
class Rbm:
    """RBM parameters: W [H, V] (hidden x visible, as nnet1 stores it), b_vis [V], b_hid [H] (float32)."""

    W: np.ndarray
    b_vis: np.ndarray
    b_hid: np.ndarray
    vis_type: str = "bern"  # "bern" | "gauss"
    hid_type: str = "bern"

    @property
    def input_dim(self) -> int:
        return int(self.W.shape[1])

    @property
    def output_dim(self) -> int:
        return int(self.W.shape[0])


@dataclasses.dataclass
class AffineTransform:
    """y = x W^T + b; W [out, in], b [out] (float32)."""

    W: np.ndarray
    b: np.ndarray
    learn_rate_coef: float = 1.0
    bias_learn_rate_coef: float = 1.0
    max_norm: float = 0.0

    @property
    def input_dim(self) -> int:
        return int(self.W.shape[1])

    @property
    def output_dim(self) -> int:
        return int(self.W.shape[0])


@dataclasses.dataclass
class Sigmoid:
    dim: int

    @property
    def input_dim(self) -> int:
        return self.dim

    output_dim = input_dim


@dataclasses.dataclass
class Softmax(Sigmoid):
    pass


@dataclasses.dataclass
class Splice:
    """y[t] = concat_k x[t + offsets[k]]; output_dim = input_dim * len(offsets)."""

    input_dim: int
    offsets: np.ndarray  # int32

    @property
    def output_dim(self) -> int:
        return self.input_dim * len(self.offsets)


@dataclasses.dataclass
class AddShift:
    """y = x + shift; shift [D]."""

    shift: np.ndarray
    learn_rate_coef: float = 0.0

    @property
    def input_dim(self) -> int:
        return int(self.shift.shape[0])

    output_dim = input_dim


@dataclasses.dataclass
class Rescale:
    """y = x * scale; scale [D]."""

    scale: np.ndarray
    learn_rate_coef: float = 0.0

    @property
    def input_dim(self) -> int:
        return int(self.scale.shape[0])

    output_dim = input_dim


_MARKERS = {Rbm: "<Rbm>", AffineTransform: "<AffineTransform>", Sigmoid: "<Sigmoid>", Softmax: "<Softmax>",
            Splice: "<Splice>", AddShift: "<AddShift>", Rescale: "<Rescale>"}


# --------------------------------------------------------------------------------------------- writing
class _Writer:
    def __init__(self, binary: bool):
        self.binary = binary
        self.parts: list[bytes] = []

    def raw(self, s: str | bytes) -> None:
        self.parts.append(s.encode() if isinstance(s, str) else s)

    def newline(self) -> None:
        if not self.binary:
            self.raw("\n")

    def token(self, t: str) -> None:
        self.raw(t + " ")

    def int32(self, v: int) -> None:
        self.raw(b"\x04" + struct.pack("<i", int(v)) if self.binary else f"{int(v)} ")

    def float(self, v: float) -> None:
        self.raw(b"\x04" + struct.pack("<f", float(v)) if self.binary else _fmt(v) + " ")

    def matrix(self, m: np.ndarray) -> None:
        m = np.asarray(m, dtype=np.float32)
        if self.binary:
            self.token("FM")
            self.int32(m.shape[0])
            self.int32(m.shape[1])
            self.raw(np.ascontiguousarray(m, dtype="<f4").tobytes())
        elif m.size == 0:
            self.raw(" [ ]\n")
        else:
            rows = ["\n  " + "".join(_fmt(x) + " " for x in r) for r in m.tolist()]
            self.raw(" [" + "".join(rows) + "]\n")

    def vector(self, v: np.ndarray) -> None:
        v = np.asarray(v, dtype=np.float32)
        if self.binary:
            self.token("FV")
            self.int32(v.shape[0])
            self.raw(np.ascontiguousarray(v, dtype="<f4").tobytes())
        else:
            self.raw(" [ " + "".join(_fmt(x) + " " for x in v.tolist()) + "]\n")

    def int_vector(self, v) -> None:
        v = np.asarray(v, dtype=np.int32)
        if self.binary:
            self.raw(b"\x04" + struct.pack("<i", v.shape[0]) + v.astype("<i4").tobytes())
        else:
            self.raw("[ " + "".join(f"{int(x)} " for x in v) + "]\n")


def _fmt(x: float) -> str:
    # C++ ostream with precision 7 in the default float field: %g with 7 significant digits.
    return "%.7g" % x


def _write_component(w: _Writer, c) -> None:
    w.token(_MARKERS[type(c)])
    w.int32(c.output_dim)
    w.int32(c.input_dim)
    w.newline()
    if isinstance(c, Rbm):
        w.token(c.vis_type)
        w.token(c.hid_type)
        w.matrix(c.W)
        w.vector(c.b_vis)
        w.vector(c.b_hid)
    elif isinstance(c, AffineTransform):
        w.token("<LearnRateCoef>")
        w.float(c.learn_rate_coef)
        w.token("<BiasLearnRateCoef>")
        w.float(c.bias_learn_rate_coef)
        w.token("<MaxNorm>")
        w.float(c.max_norm)
        w.newline()
        w.matrix(c.W)
        w.vector(c.b)
    elif isinstance(c, Splice):
        w.int_vector(c.offsets)
    elif isinstance(c, (AddShift, Rescale)):
        w.token("<LearnRateCoef>")
        w.float(c.learn_rate_coef)
        w.vector(c.shift if isinstance(c, AddShift) else c.scale)
    w.token("<!EndOfComponent>")
    w.newline()


def nnet1_to_bytes(components, binary: bool = True) -> bytes:
    """Serialize a list of components as an nnet1 ``Nnet`` (with the ``\\0B`` header when binary)."""
    for a, b in zip(components, components[1:]):
        if a.output_dim != b.input_dim:
            raise ValueError(f"nnet1: component {type(a).__name__} outputs {a.output_dim} dims but the next "
                             f"component {type(b).__name__} takes {b.input_dim}")
    w = _Writer(binary)
    if binary:
        w.raw(b"\0B")
    w.token("<Nnet>")
    w.newline()
    for c in components:
        _write_component(w, c)
    w.token("</Nnet>")
    w.newline()
    return b"".join(w.parts)


def write_nnet1(path: str | os.PathLike, components, binary: bool = True) -> None:
    """Write components to `path` atomically (temp file + rename)."""
    write_bytes_atomic(path, nnet1_to_bytes(list(components), binary))


# --------------------------------------------------------------------------------------------- reading
class _Reader:
    def __init__(self, data: bytes, name: str):
        self.d = data
        self.name = name
        self.binary = data[:2] == b"\0B"
        self.pos = 2 if self.binary else 0

    def fail(self, what: str):
        raise ModelFormatError(f"{self.name}: at byte {self.pos}: {what}")

    def skip_ws(self) -> None:
        d, p = self.d, self.pos
        while p < len(d) and d[p] in b" \t\n\r":
            p += 1
        self.pos = p

    def at_end(self) -> bool:
        self.skip_ws()
        return self.pos >= len(self.d)

    def peek(self) -> bytes:
        self.skip_ws()
        return self.d[self.pos:self.pos + 1]

    def token(self) -> str:
        self.skip_ws()
        start = self.pos
        d = self.d
        p = start
        while p < len(d) and d[p] not in b" \t\n\r":
            p += 1
        if p == start:
            self.fail("expected a token, found end of file")
        self.pos = p + 1 if p < len(d) and d[p] == 0x20 and self.binary else p
        try:
            return d[start:p].decode()
        except UnicodeDecodeError:
            self.fail("expected a token, found binary data")

    def expect(self, tok: str) -> None:
        start = self.pos
        t = self.token()
        if t != tok:
            self.pos = start
            self.fail(f"expected token {tok}, got {t!r}")

    def _binary_scalar(self, kind: str):
        if self.pos + 5 > len(self.d):
            self.fail(f"truncated file: expected a binary {kind}")
        size = self.d[self.pos]
        if kind == "int" and size == 4:
            v = struct.unpack_from("<i", self.d, self.pos + 1)[0]
        elif kind == "float" and size in (4, 8):
            if self.pos + 1 + size > len(self.d):
                self.fail("truncated file: expected a binary float")
            v = struct.unpack_from("<f" if size == 4 else "<d", self.d, self.pos + 1)[0]
        else:
            self.fail(f"expected a binary {kind} (size byte 4), got size byte {size}")
        self.pos += 1 + size
        return v

    def int32(self) -> int:
        if self.binary:
            return self._binary_scalar("int")
        start = self.pos
        t = self.token()
        try:
            return int(t)
        except ValueError:
            self.pos = start
            self.fail(f"expected an integer, got {t!r}")

    def float(self) -> float:
        if self.binary:
            return self._binary_scalar("float")
        start = self.pos
        t = self.token()
        try:
            return float(t)
        except ValueError:
            self.pos = start
            self.fail(f"expected a number, got {t!r}")

    def _raw(self, n: int, dtype: str, what: str) -> np.ndarray:
        nbytes = n * np.dtype(dtype).itemsize
        if self.pos + nbytes > len(self.d):
            self.fail(f"truncated file: {what} needs {nbytes} bytes, {len(self.d) - self.pos} left")
        a = np.frombuffer(self.d, dtype=dtype, count=n, offset=self.pos)
        self.pos += nbytes
        return a

    def _text_numbers(self, what: str) -> list[bytes]:
        """The lines between '[' and ']' (as byte strings)."""
        self.skip_ws()
        if self.d[self.pos:self.pos + 1] != b"[":
            self.fail(f"expected '[' starting {what}")
        end = self.d.find(b"]", self.pos)
        if end < 0:
            self.fail(f"truncated file: no ']' closing {what}")
        body = self.d[self.pos + 1:end]
        self.pos = end + 1
        return body.split(b"\n")

    def _parse_floats(self, chunks: list[bytes], what: str, start: int) -> list[np.ndarray]:
        out = []
        for line in chunks:
            if line.strip():
                try:
                    out.append(np.array(line.split(), dtype=np.float64).astype(np.float32))
                except ValueError:
                    self.pos = start
                    self.fail(f"non-numeric value in {what}")
        return out

    def matrix(self, what: str) -> np.ndarray:
        if self.binary:
            t = self.token()
            if t not in ("FM", "DM"):
                self.fail(f"expected FM or DM starting {what}, got {t!r}")
            rows, cols = self.int32(), self.int32()
            if rows < 0 or cols < 0:
                self.fail(f"negative dimension in {what}")
            a = self._raw(rows * cols, "<f4" if t == "FM" else "<f8", what)
            return a.astype(np.float32).reshape(rows, cols)
        start = self.pos
        rows = self._parse_floats(self._text_numbers(what), what, start)
        if not rows:
            return np.zeros((0, 0), np.float32)
        if len({len(r) for r in rows}) != 1:
            self.pos = start
            self.fail(f"rows of different lengths in {what}")
        return np.stack(rows)

    def vector(self, what: str) -> np.ndarray:
        if self.binary:
            t = self.token()
            if t not in ("FV", "DV"):
                self.fail(f"expected FV or DV starting {what}, got {t!r}")
            n = self.int32()
            if n < 0:
                self.fail(f"negative dimension in {what}")
            return self._raw(n, "<f4" if t == "FV" else "<f8", what).astype(np.float32)
        start = self.pos
        rows = self._parse_floats(self._text_numbers(what), what, start)
        return np.concatenate(rows) if rows else np.zeros(0, np.float32)

    def int_vector(self, what: str) -> np.ndarray:
        if self.binary:
            if self.pos + 5 > len(self.d) or self.d[self.pos] != 4:
                self.fail(f"expected an int32 vector (size byte 4) for {what}")
            n = struct.unpack_from("<i", self.d, self.pos + 1)[0]
            self.pos += 5
            if n < 0:
                self.fail(f"negative length in {what}")
            return self._raw(n, "<i4", what).astype(np.int32)
        start = self.pos
        vals = b" ".join(self._text_numbers(what)).split()
        try:
            return np.array([int(v) for v in vals], dtype=np.int32)
        except ValueError:
            self.pos = start
            self.fail(f"non-integer value in {what}")

    def optional_coefs(self, names: tuple[str, ...]) -> dict[str, float]:
        out = {}
        while self.peek() == b"<":
            start = self.pos
            t = self.token()
            if t not in names:
                self.pos = start
                break
            out[t] = self.float()
        return out


def _check_dims(r: _Reader, what: str, got, want) -> None:
    if tuple(got) != tuple(want):
        r.fail(f"{what} has shape {tuple(got)}, the component header says {tuple(want)}")


def _read_component(r: _Reader, marker: str):
    start = r.pos
    out_dim, in_dim = r.int32(), r.int32()
    if marker == "<Rbm>":
        vis, hid = r.token(), r.token()
        for t, name in ((vis, "visible"), (hid, "hidden")):
            if t not in ("bern", "gauss"):
                r.fail(f"<Rbm>: {name} type must be bern or gauss, got {t!r}")
        W = r.matrix("<Rbm> weights")
        _check_dims(r, "<Rbm> weights", W.shape, (out_dim, in_dim))
        bv = r.vector("<Rbm> visible bias")
        _check_dims(r, "<Rbm> visible bias", bv.shape, (in_dim,))
        bh = r.vector("<Rbm> hidden bias")
        _check_dims(r, "<Rbm> hidden bias", bh.shape, (out_dim,))
        c = Rbm(W, bv, bh, vis, hid)
    elif marker == "<AffineTransform>":
        co = r.optional_coefs(("<LearnRateCoef>", "<BiasLearnRateCoef>", "<MaxNorm>"))
        W = r.matrix("<AffineTransform> weights")
        _check_dims(r, "<AffineTransform> weights", W.shape, (out_dim, in_dim))
        b = r.vector("<AffineTransform> bias")
        _check_dims(r, "<AffineTransform> bias", b.shape, (out_dim,))
        c = AffineTransform(W, b, co.get("<LearnRateCoef>", 1.0), co.get("<BiasLearnRateCoef>", 1.0),
                            co.get("<MaxNorm>", 0.0))
    elif marker in ("<Sigmoid>", "<Softmax>"):
        if in_dim != out_dim:
            r.fail(f"{marker}: input dim {in_dim} != output dim {out_dim}")
        c = Sigmoid(in_dim) if marker == "<Sigmoid>" else Softmax(in_dim)
    elif marker == "<Splice>":
        offs = r.int_vector("<Splice> offsets")
        if len(offs) * in_dim != out_dim:
            r.fail(f"<Splice>: {len(offs)} offsets x input dim {in_dim} != output dim {out_dim}")
        c = Splice(in_dim, offs)
    elif marker in ("<AddShift>", "<Rescale>"):
        co = r.optional_coefs(("<LearnRateCoef>",))
        v = r.vector(f"{marker} data")
        _check_dims(r, f"{marker} data", v.shape, (in_dim,))
        if in_dim != out_dim:
            r.fail(f"{marker}: input dim {in_dim} != output dim {out_dim}")
        cls = AddShift if marker == "<AddShift>" else Rescale
        c = cls(v, co.get("<LearnRateCoef>", 0.0))
    else:
        r.pos = start
        r.fail(f"unsupported nnet1 component {marker}")
    if r.peek() == b"<":
        s = r.pos
        if r.token() != "<!EndOfComponent>":
            r.pos = s
    return c


def nnet1_from_bytes(data: bytes, name: str = "<bytes>") -> list:
    """Parse an nnet1 ``Nnet`` (text or binary) into a list of component objects."""
    r = _Reader(data, name)
    comps = []
    if r.at_end():
        r.fail("empty file")
    tok = r.token()
    if tok == "<Nnet>":
        tok = None
    while True:
        if tok is None:
            if r.at_end():
                r.fail("truncated file: expected </Nnet>")
            tok = r.token()
        if tok == "</Nnet>":
            break
        if not tok.startswith("<"):
            r.fail(f"expected a component marker such as <AffineTransform>, got {tok!r}")
        c = _read_component(r, tok)
        if comps and comps[-1].output_dim != c.input_dim:
            r.fail(f"{tok} takes {c.input_dim} inputs but the previous component outputs {comps[-1].output_dim}")
        comps.append(c)
        tok = None
        if r.at_end():  # nnet1 also accepts a file without </Nnet>
            break
    return comps


def read_nnet1(path: str | os.PathLike) -> list:
    """Read an nnet1 model file (text or binary)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ModelFormatError(f"cannot read nnet1 model {os.fspath(path)}: {e.strerror}") from None
    return nnet1_from_bytes(data, os.fspath(path))


# --------------------------------------------------------------------------------------------- conversions
def rbm_to_components(rbm: Rbm) -> list:
    """rbm-convert-to-nnet: <AffineTransform> (W, b_hid) followed by <Sigmoid> for Bernoulli hidden units."""
    out = [AffineTransform(np.asarray(rbm.W, np.float32).copy(), np.asarray(rbm.b_hid, np.float32).copy())]
    if rbm.hid_type == "bern":
        out.append(Sigmoid(rbm.output_dim))
    return out


def dbn_to_layers(dbn) -> list[tuple[np.ndarray, np.ndarray]]:
    """A DBN (path or component list of <AffineTransform>+<Sigmoid> pairs) -> [(W [out, in], b [out]), ...]
    (float32); each pair is one sigmoid layer y = sigmoid(x W^T + b)."""
    comps = read_nnet1(dbn) if isinstance(dbn, (str, os.PathLike)) else list(dbn)
    name = os.fspath(dbn) if isinstance(dbn, (str, os.PathLike)) else "DBN"
    layers = []
    if len(comps) % 2:
        raise ModelFormatError(f"{name}: a DBN is <AffineTransform>+<Sigmoid> pairs; got {len(comps)} components")
    for i in range(0, len(comps), 2):
        a, s = comps[i], comps[i + 1]
        if not isinstance(a, AffineTransform) or type(s) is not Sigmoid:
            raise ModelFormatError(f"{name}: component {i + 1} and {i + 2} should be <AffineTransform> and "
                                   f"<Sigmoid>, got {type(a).__name__} and {type(s).__name__}")
        layers.append((np.ascontiguousarray(a.W, np.float32), np.ascontiguousarray(a.b, np.float32)))
    return layers


def feature_transform_to_mean_std(ft) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A feature transform (path or components: <Splice>, <AddShift>, <Rescale>) -> (offsets int32 [C],
    mean [C*D], std [C*D]) with x_norm = (spliced - mean) / std, i.e. mean = -shift, std = 1 / scale."""
    comps = read_nnet1(ft) if isinstance(ft, (str, os.PathLike)) else list(ft)
    name = os.fspath(ft) if isinstance(ft, (str, os.PathLike)) else "feature transform"
    kinds = [type(c) for c in comps]
    if kinds != [Splice, AddShift, Rescale]:
        raise ModelFormatError(f"{name}: expected <Splice> <AddShift> <Rescale>, got "
                               f"{' '.join(_MARKERS.get(k, k.__name__) for k in kinds)}")
    splice, shift, rescale = comps
    if np.any(rescale.scale == 0):
        raise ModelFormatError(f"{name}: <Rescale> has zero entries (infinite std)")
    return (np.asarray(splice.offsets, np.int32), (-shift.shift.astype(np.float64)).astype(np.float32),
            (1.0 / rescale.scale.astype(np.float64)).astype(np.float32))
