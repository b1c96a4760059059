"""Kaldi nnet2 training examples (`NnetExample`, src/nnet2/nnet-example.{h,cc}), read and written as
Kaldi's `NnetExample::Read`/`Write` do, in binary and text.

    <NnetExample>
      <Lab1> int-vector                      one pdf per frame, all weights 1 ("simple" labels), or
      <Lab2> int32 F, then per frame: int32 n, n × (int32 pdf, float weight)       (general), or
      <Labels> int32 n, n × (int32 pdf, float weight)          (old one-frame form; read only)
    <InputFrames> CompressedMatrix            binary: CM / CM2 / CM3 (a plain FM/DM matrix is also
                                              read, then compressed as Kaldi's CompressedMatrix::Read
                                              does); text: a plain matrix, compressed when read
    <LeftContext> int32                       rows of input before the first labelled frame
    <SpkInfo> Vector<float>                   appended to every input row (usually empty)
    </NnetExample>

`input_frames` is a CompressedMatrix in Kaldi's memory, so whatever the file holds, Kaldi trains on
the decompressed values of a compressed matrix; `NnetExample.input_frames` here holds exactly those
values, and `cm` the compressed bytes (written back unchanged, so copies are byte-identical). A new
example (`NnetExample.from_frames`) is compressed with kAutomaticMethod as nnet-get-egs's assignment
`eg.input_frames = Matrix` does (CM when more than 8 rows, else CM2).

Tables of examples are read and written through `nnet2.io.table` (kind "nnet_example").
"""

from __future__ import annotations

import dataclasses
import struct

import numpy as np

from nnet2.io import compressed
from nnet2.io.kaldi_io import KaldiReader, KaldiWriter
from nnet2.utils.errors import DataError, UserError

_I32 = struct.Struct("<i")
_WS = b" \t\n\r\v\f"


@dataclasses.dataclass
class NnetExample:
    labels: list  # per labelled frame: [(pdf, weight), ...]
    input_frames: np.ndarray  # float32 [left_context + len(labels) + right_context, dim] (decompressed)
    left_context: int
    spk_info: np.ndarray  # float32 [k], usually k = 0
    cm: bytes | None = None  # the CompressedMatrix as written in binary: token, space, header, data

    @classmethod
    def from_frames(cls, labels, frames, left_context: int, spk_info=None) -> "NnetExample":
        cm = compressed.encode(np.asarray(frames, np.float32), 1)
        sp = cm.index(b" ")
        return cls([list(map(lambda p: (int(p[0]), float(np.float32(p[1]))), f)) for f in labels],
                   compressed.decode(cm[:sp].decode(), cm[sp + 1:]), int(left_context),
                   np.zeros(0, np.float32) if spk_info is None else np.asarray(spk_info, np.float32), cm)

    @property
    def right_context(self) -> int:
        return self.input_frames.shape[0] - self.left_context - len(self.labels)

    def simple_labels(self) -> list[int] | None:
        """HasSimpleLabels: the pdf per frame if every frame has one label of weight 1.0, else None."""
        if all(len(f) == 1 and f[0][1] == 1.0 for f in self.labels):
            return [int(f[0][0]) for f in self.labels]
        return None


# ------------------------------------------------------------------------------------- writing
def nnet_example_bytes(eg: NnetExample, binary: bool) -> bytes:
    """NnetExample::Write (with the \\0B header in binary mode, as the table holder writes it)."""
    w = KaldiWriter(binary)
    w.token("<NnetExample>")
    simple = eg.simple_labels()
    if simple is not None:
        w.token("<Lab1>")
        w.int_vector(simple)
    else:
        w.token("<Lab2>")
        w.int32(len(eg.labels))
        for frame in eg.labels:
            w.int32(len(frame))
            for pdf, wt in frame:
                w.int32(int(pdf))
                w.float(float(wt))
    w.token("<InputFrames>")
    if binary:
        cm = eg.cm
        if cm is None:
            cm = compressed.encode(np.asarray(eg.input_frames, np.float32), 1)
        w.raw(cm)
    else:  # CompressedMatrix::Write in text mode writes the decompressed matrix
        w.matrix(np.asarray(eg.input_frames, np.float32))
    w.token("<LeftContext>")
    w.int32(eg.left_context)
    w.token("<SpkInfo>")
    w.vector(np.asarray(eg.spk_info, np.float32))
    w.token("</NnetExample>")
    return w.getvalue()


# ------------------------------------------------------------------------------------- reading
class _Cursor:
    """Kaldi's basic-type readers over a `nnet2.io.table._Stream` (binary or text), with the example's
    name in every message."""

    def __init__(self, s, binary: bool, where: str):
        self.s, self.binary, self.where = s, binary, where

    def fail(self, msg: str):
        raise DataError(f"{self.where}: byte offset {self.s.pos}: {msg}")

    def word(self, what: str) -> bytes:
        self.s.skip_ws()
        out = bytearray()
        while True:
            c = self.s.peek(1)
            if not c or c in _WS:
                break
            out += self.s.read(1)
            if len(out) > 4096:
                self.fail(f"expected {what}, found a word longer than 4096 bytes")
        if not out:
            self.fail(f"expected {what}, found end of input")
        return bytes(out)

    def token(self, what: str = "a token") -> str:
        if self.binary:
            b = self.s.read_until(b" ", what)[:-1]
            return b.decode("latin-1")
        return self.word(what).decode("latin-1")

    def expect(self, tok: str) -> None:
        got = self.token(f"'{tok}'")
        if got != tok:
            self.fail(f"expected '{tok}', found '{got[:40]}'")

    def int32(self, what: str) -> int:
        if self.binary:
            b = self.s.read(5, what)
            if b[0] != 4:
                self.fail(f"expected an int32 for {what} (size byte 4), found size byte {b[0]}")
            return _I32.unpack_from(b, 1)[0]
        w = self.word(what)
        try:
            return int(w)
        except ValueError:
            self.fail(f"expected an integer for {what}, found {w[:40]!r}")

    def float(self, what: str) -> float:
        if self.binary:
            n = self.s.read(1, what)[0]
            if n == 4:
                return float(np.frombuffer(self.s.read(4, what), "<f4")[0])
            if n == 8:
                return float(np.frombuffer(self.s.read(8, what), "<f8")[0])
            self.fail(f"expected a float for {what} (size byte 4 or 8), found size byte {n}")
        w = self.word(what)
        try:
            return float(np.float32(float(w)))
        except ValueError:
            self.fail(f"expected a number for {what}, found {w[:40]!r}")

    def int_vector(self, what: str) -> list[int]:
        if self.binary:
            b = self.s.read(5, what)
            if b[0] != 4:
                self.fail(f"expected an int32 vector for {what} (size byte 4), found size byte {b[0]}")
            n = _I32.unpack_from(b, 1)[0]
            if n < 0:
                self.fail(f"negative length {n} for {what}")
            return np.frombuffer(self.s.read(4 * n, what), "<i4").astype(int).tolist()
        self.s.skip_ws()
        if self.s.peek(1) != b"[":
            self.fail(f"expected '[' starting {what}, found {self.s.peek(8)!r}")
        body = self.s.read_until(b"]", what)[1:-1]
        try:
            return [int(t) for t in body.split()]
        except ValueError:
            self.fail(f"expected integers in {what}, found {body[:40]!r}")

    def _text_array(self, what: str, matrix: bool) -> np.ndarray:
        self.s.skip_ws()
        if self.s.peek(1) != b"[":
            self.fail(f"expected '[' starting {what}, found {self.s.peek(8)!r}")
        body = self.s.read_until(b"]", what)
        r = KaldiReader(b" " + body + b"\n", name=self.where)
        try:
            return r.read_matrix(np.float32, what=what) if matrix else r.read_vector(np.float32, what=what)
        except UserError as e:
            raise DataError(str(e)) from None

    def vector(self, what: str) -> np.ndarray:
        if not self.binary:
            return self._text_array(what, False)
        tok = self.token(what)
        if tok not in ("FV", "DV"):
            self.fail(f"expected a vector (FV or DV) for {what}, found '{tok[:40]}'")
        n = self.int32(what)
        if n < 0:
            self.fail(f"negative dimension {n} for {what}")
        dt = "<f4" if tok == "FV" else "<f8"
        return np.frombuffer(self.s.read(n * np.dtype(dt).itemsize, what), dt).astype(np.float32)

    def compressed_matrix(self, what: str) -> tuple[np.ndarray, bytes]:
        """CompressedMatrix::Read: (decompressed float32 matrix, its CM bytes)."""
        if self.binary and self.s.peek(1) == b"C":
            tok = self.token(what)
            if tok not in compressed.TOKEN_FORMAT:
                self.fail(f"expected CM, CM2 or CM3 for {what}, found '{tok[:40]}'")
            hdr = self.s.read(compressed.HEADER_BYTES, what)
            _, _, rows, cols = struct.unpack("<ffii", hdr)
            if rows < 0 or cols < 0:
                self.fail(f"compressed matrix with negative size {rows}x{cols} for {what}")
            n = 0 if cols == 0 else compressed.data_size(compressed.TOKEN_FORMAT[tok], rows, cols)
            body = hdr + self.s.read(n, what)
            m = compressed.decode(tok, body, self.where)
            return m, tok.encode() + b" " + body
        if self.binary:  # a plain Matrix: read, then CopyFromMat (kAutomaticMethod)
            tok = self.token(what)
            if tok not in ("FM", "DM"):
                self.fail(f"expected a matrix (CM, CM2, CM3, FM or DM) for {what}, found '{tok[:40]}'")
            rows, cols = self.int32(what), self.int32(what)
            if rows < 0 or cols < 0:
                self.fail(f"negative matrix size {rows}x{cols} for {what}")
            dt = "<f4" if tok == "FM" else "<f8"
            m = np.frombuffer(self.s.read(rows * cols * np.dtype(dt).itemsize, what), dt).reshape(rows, cols)
        else:
            m = self._text_array(what, True)
        cm = compressed.encode(np.asarray(m, np.float32), 1)
        sp = cm.index(b" ")
        return compressed.decode(cm[:sp].decode(), cm[sp + 1:], self.where), cm


def read_nnet_example(s, where: str) -> NnetExample:
    """One NnetExample object from a `nnet2.io.table._Stream` positioned at its start (\\0B or text)."""
    binary = s.peek(2) == b"\0B"
    if binary:
        s.read(2)
    c = _Cursor(s, binary, where)
    c.expect("<NnetExample>")
    tok = c.token("<Lab1>, <Lab2> or <Labels>")
    if tok == "<Lab1>":
        labels = [[(p, 1.0)] for p in c.int_vector("<Lab1>")]
    elif tok == "<Lab2>":
        nf = c.int32("the number of labelled frames")
        if nf <= 0:
            c.fail(f"<Lab2> with {nf} frames")
        labels = []
        for _ in range(nf):
            n = c.int32("the number of labels of a frame")
            if n < 0:
                c.fail(f"negative label count {n}")
            labels.append([(c.int32("a pdf-id"), c.float("a label weight")) for _ in range(n)])
    elif tok == "<Labels>":  # back-compatibility: one frame of labels
        n = c.int32("the number of labels")
        if n < 0:
            c.fail(f"negative label count {n}")
        labels = [[(c.int32("a pdf-id"), c.float("a label weight")) for _ in range(n)]]
    else:
        c.fail(f"expected token <Lab1>, <Lab2> or <Labels>, got '{tok[:40]}'")
    c.expect("<InputFrames>")
    frames, cm = c.compressed_matrix("<InputFrames>")
    c.expect("<LeftContext>")
    left = c.int32("<LeftContext>")
    c.expect("<SpkInfo>")
    spk = c.vector("<SpkInfo>")
    c.expect("</NnetExample>")
    if left < 0 or frames.shape[0] < left + len(labels):
        raise DataError(f"{where}: {frames.shape[0]} input frames cannot hold left-context {left} and "
                        f"{len(labels)} labelled frames")
    return NnetExample(labels, frames, left, spk, cm)
