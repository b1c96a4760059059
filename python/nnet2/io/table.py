"""Kaldi tables: rspecifiers, wspecifiers, rxfilenames and wxfilenames, and archive/script reading
and writing for the object types our verbs use.

Grammar (from Kaldi's `src/util/kaldi-table.cc` ClassifyRspecifier / ClassifyWspecifier and
`src/util/kaldi-io.cc` ClassifyRxfilename / ClassifyWxfilename):

* rspecifier: ``OPTS:rxfilename`` where OPTS is a list separated by ',' or ' ' holding exactly one
  of ``ark``/``scp`` and any of ``b t`` (ignored), ``o no s ns cs ncs p np bg``. Anything else, a
  missing ':' or a trailing space is not an rspecifier.
* wspecifier: ``OPTS:wxfilename`` with ``ark``, ``scp`` or ``ark`` before ``scp``
  (``ark,scp:A,S``: the archive A and a script S pointing into it, split at the first ','), and any
  of ``b t f nf p``. ``scp,ark`` and repeated ``ark``/``scp`` are invalid. Binary unless ``t``.
* rxfilename: ``-`` or empty = stdin; ``cmd |`` = the output of a shell command; ``file:123`` = the
  file from byte offset 123 (scp entries, optionally followed by a ``[r1:r2,c1:c2]`` range); else a
  file. wxfilename: ``-`` or empty = stdout, ``| cmd`` = into a shell command, else a file.

Archive entry: ``key`` + ' ' + the object as its holder writes it (binary objects start with
``\\0B``). Objects handled here ("kinds"):

* ``matrix``: Matrix (``FM``/``DM``, compressed ``CM``/``CM2``/``CM3``, text ``[ ... ]``)
* ``vector``: Vector (``FV``/``DV``, text ``[ ... ]``)
* ``int_vector``: BasicVectorHolder<int32> (alignments): binary int32 size then int32 values, each
  with a size byte 4; text ``1 2 3 \\n``
* ``posterior``: PosteriorHolder (`src/hmm/posterior.cc`): binary int32 frames, per frame int32
  count and (int32 id, float weight) pairs; text ``[ id w id w ] [ ... ] \\n``
* ``wave``: WaveHolder (a RIFF/WAV file) -> (rate, int16-scale float32 samples (channels, S))
* ``int32``: BasicHolder<int32> (binary size byte 4 + int32; text ``123 \\n``)
* ``token`` / ``token_vector``: TokenHolder / TokenVectorHolder (text lines: ``utt2spk``, ``spk2utt``)

Outputs that are files are written to a temporary name and renamed when the table is closed
without error (nothing half-written is left under the user's name); stdout and pipes are streamed.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import struct
import subprocess
import sys
from dataclasses import dataclass

import kaldiio
import numpy as np
import soundfile as sf

from nnet2.io import compressed
from nnet2.io.kaldi_io import KaldiReader, KaldiWriter, format_float
from nnet2.io.nnet_example import nnet_example_bytes, read_nnet_example
from nnet2.utils.errors import DataError, UserError
from nnet2.utils.fileio import atomic_path

_I32 = struct.Struct("<i")
_F32S = struct.Struct("<f")


# ------------------------------------------------------------------------------------------- grammar
@dataclass
class RSpec:
    kind: str  # "ark" | "scp"
    target: str  # rxfilename
    once: bool = False
    sorted: bool = False
    called_sorted: bool = False
    permissive: bool = False
    background: bool = False
    text: str = ""


@dataclass
class WSpec:
    kind: str  # "ark" | "scp" | "both"
    ark: str | None
    scp: str | None
    binary: bool = True
    flush: bool | None = None
    permissive: bool = False
    text: str = ""


def _split_opts(before: str) -> list[str]:
    # SplitStringToVector(before_colon, ", ", false, ...): split on ',' or ' ', keep empties.
    return re.split(r"[, ]", before)


def classify_rspecifier(s: str) -> RSpec | None:
    """Kaldi's ClassifyRspecifier; None for kNoRspecifier."""
    pos = s.find(":")
    if pos < 0 or not s or s[-1].isspace():
        return None
    r = RSpec(kind="", target=s[pos + 1:], text=s)
    flags = {"o": ("once", True), "no": ("once", False), "p": ("permissive", True),
             "np": ("permissive", False), "s": ("sorted", True), "ns": ("sorted", False),
             "cs": ("called_sorted", True), "ncs": ("called_sorted", False),
             "bg": ("background", True)}
    for o in _split_opts(s[:pos]):
        if o in ("b", "t"):
            continue
        if o in flags:
            setattr(r, *flags[o])
        elif o in ("ark", "scp"):
            if r.kind:
                return None
            r.kind = o
        else:
            return None
    return r if r.kind else None


def classify_wspecifier(s: str) -> WSpec | None:
    """Kaldi's ClassifyWspecifier; None for kNoWspecifier."""
    pos = s.find(":")
    if pos < 0 or not s or s[-1].isspace():
        return None
    w = WSpec(kind="", ark=None, scp=None, text=s)
    for o in _split_opts(s[:pos]):
        if o == "b":
            w.binary = True
        elif o == "t":
            w.binary = False
        elif o == "f":
            w.flush = True
        elif o == "nf":
            w.flush = False
        elif o == "p":
            w.permissive = True
        elif o == "ark":
            if w.kind:
                return None
            w.kind = "ark"
        elif o == "scp":
            if not w.kind:
                w.kind = "scp"
            elif w.kind == "ark":
                w.kind = "both"
            else:
                return None
        else:
            return None
    after = s[pos + 1:]
    if w.kind == "ark":
        w.ark = after
    elif w.kind == "scp":
        w.scp = after
    elif w.kind == "both":
        c = after.find(",")
        if c < 0:
            return None
        w.ark, w.scp = after[:c], after[c + 1:]
    else:
        return None
    return w


def parse_rspecifier(s: str, what: str = "rspecifier") -> RSpec:
    r = classify_rspecifier(s)
    if r is None:
        raise UserError(f"{what} '{s}' is not a Kaldi rspecifier (expected ark:FILE, scp:FILE, 'ark:CMD |', ark:- "
                        f"with options from o,no,s,ns,cs,ncs,p,np,b,t)")
    return r


def parse_wspecifier(s: str, what: str = "wspecifier") -> WSpec:
    w = classify_wspecifier(s)
    if w is None:
        raise UserError(f"{what} '{s}' is not a Kaldi wspecifier (expected ark:FILE, ark,t:FILE, ark,scp:A.ark,B.scp, "
                        f"scp:FILE, 'ark:| CMD', ark:- with options from b,t,f,nf,p)")
    return w


def is_rspecifier(s: str) -> bool:
    return classify_rspecifier(s) is not None


def is_wspecifier(s: str) -> bool:
    return classify_wspecifier(s) is not None


_OFFSET_RE = re.compile(r"^(.*):(\d+)$", re.S)


def classify_rxfilename(name: str) -> str:
    """'stdin' | 'pipe' | 'offset' | 'file' (ClassifyRxfilename); UserError if invalid."""
    if name in ("", "-"):
        return "stdin"
    if name[0] == "|":
        raise UserError(f"invalid input name '{name}': a pipe into a command is an output form")
    if name[0].isspace() or name[-1].isspace() and name[-1] != "|":
        raise UserError(f"invalid input name '{name}' (leading or trailing space)")
    if name.endswith("|"):
        return "pipe"
    if name[-1].isdigit() and _OFFSET_RE.match(name):
        return "offset"
    return "file"


def classify_wxfilename(name: str) -> str:
    """'stdout' | 'pipe' | 'file' (ClassifyWxfilename); UserError if invalid."""
    if name in ("", "-"):
        return "stdout"
    if name[0] == "|":
        return "pipe"
    if name.endswith("|"):
        raise UserError(f"invalid output name '{name}': 'CMD |' is an input form, use '| CMD'")
    if name[0].isspace() or name[-1].isspace():
        raise UserError(f"invalid output name '{name}' (leading or trailing space)")
    if _OFFSET_RE.match(name):
        raise UserError(f"invalid output name '{name}' (looks like an offset into a file)")
    return "file"


# --------------------------------------------------------------------------------- opening streams
class _PipeIn:
    """Binary reader of a shell command's stdout; a failing command is an error when closed."""

    def __init__(self, cmd: str):
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, shell=True, stdout=subprocess.PIPE)
        self.f = self.proc.stdout

    def read(self, n=-1):
        return self.f.read(n)

    def readline(self):
        return self.f.readline()

    def close(self, check: bool = True):
        self.f.close()
        rc = self.proc.wait()
        if check and rc != 0:
            raise DataError(f"command '{self.cmd}' failed (exit status {rc})")


@contextlib.contextmanager
def open_input(rxfilename: str, what: str = "input"):
    """Binary file object for an rxfilename (file, `file:offset`, `cmd |`, `-`)."""
    kind = classify_rxfilename(rxfilename)
    if kind == "stdin":
        yield sys.stdin.buffer
        return
    if kind == "pipe":
        p = _PipeIn(rxfilename[:-1].strip())
        ok = False
        try:
            yield p
            ok = True
        finally:
            p.close(check=ok)
        return
    path, off = rxfilename, 0
    if kind == "offset":
        m = _OFFSET_RE.match(rxfilename)
        path, off = m.group(1), int(m.group(2))
    try:
        f = open(path, "rb")
    except OSError as e:
        raise DataError(f"cannot open {what} '{path}': {e.strerror}") from None
    with f:
        if off:
            f.seek(off)
        yield f


def read_input_bytes(rxfilename: str, what: str = "input") -> bytes:
    with open_input(rxfilename, what) as f:
        return f.read()


class Output:
    """A binary output for a wxfilename: a file (written atomically on `commit`), stdout or `| cmd`."""

    def __init__(self, wxfilename: str, what: str = "output"):
        self.name, self.what = wxfilename, what
        self.kind = classify_wxfilename(wxfilename)
        self._cm = None
        self.proc = None
        if self.kind == "stdout":
            self.f = sys.stdout.buffer
        elif self.kind == "pipe":
            self.proc = subprocess.Popen(wxfilename[1:].strip(), shell=True, stdin=subprocess.PIPE)
            self.f = self.proc.stdin
        else:
            if os.path.isdir(wxfilename):
                raise UserError(f"{what} '{wxfilename}' is a directory")
            parent = os.path.dirname(wxfilename) or "."
            if not os.path.isdir(parent):  # as Kaldi: outputs go into existing directories
                raise UserError(f"cannot write {what} '{wxfilename}': no directory '{parent}'")
            self._cm = atomic_path(wxfilename)
            try:
                self.tmp = self._cm.__enter__()
            except OSError as e:
                raise UserError(f"cannot write {what} '{wxfilename}': {e.strerror}") from None
            self.f = open(self.tmp, "wb")

    def tell(self) -> int:
        return self.f.tell()

    def write(self, b: bytes) -> None:
        try:
            self.f.write(b)
        except OSError as e:  # disk full, file too large: name the output, not the temporary file
            if isinstance(e, BrokenPipeError):
                raise
            raise OSError(e.errno, e.strerror, self.name) from None

    def commit(self) -> None:
        if self.kind == "stdout":
            self.f.flush()
        elif self.kind == "pipe":
            self.f.close()
            rc = self.proc.wait()
            if rc != 0:
                raise DataError(f"output command '{self.name[1:].strip()}' failed (exit status {rc})")
        else:
            try:
                self.f.close()  # flushes: may fail with ENOSPC as well
            except OSError as e:
                self.abort()
                raise OSError(e.errno, e.strerror, self.name) from None
            self._cm.__exit__(None, None, None)

    def abort(self) -> None:
        if self.kind == "file":
            with contextlib.suppress(OSError):  # the data is being thrown away: a failing flush is moot
                self.f.close()
            exc = RuntimeError("aborted")
            with contextlib.suppress(RuntimeError):
                self._cm.__exit__(RuntimeError, exc, None)
        elif self.kind == "pipe":
            with contextlib.suppress(OSError):
                self.f.close()
            self.proc.wait()
        else:
            with contextlib.suppress(OSError):
                self.f.flush()


def write_output_bytes(wxfilename: str, data: bytes, what: str = "output") -> None:
    o = Output(wxfilename, what)
    try:
        o.write(data)
    except BaseException:
        o.abort()
        raise
    o.commit()


# ------------------------------------------------------------------------------- object reading
class _Stream:
    """Byte reader over a binary file object with the position for messages."""

    def __init__(self, f, name: str):
        self.f, self.name = f, name
        self.buf = b""
        self.pos = 0  # bytes consumed

    _CHUNK = 1 << 24

    def _fill(self, n: int) -> None:
        """Buffer at least `n` bytes if the input has them. Reads in bounded chunks, so a size field that
        claims more than the input holds (a corrupt or truncated archive) costs no more memory than the
        input itself before `read` reports the truncation."""
        have = len(self.buf)
        if have >= n:
            return
        parts = [self.buf]
        while have < n:
            chunk = self.f.read(min(max(65536, n - have), self._CHUNK))
            if not chunk:
                break
            parts.append(chunk)
            have += len(chunk)
        self.buf = b"".join(parts)

    def peek(self, n: int) -> bytes:
        self._fill(n)
        return self.buf[:n]

    def read(self, n: int, what: str = "data") -> bytes:
        self._fill(n)
        if len(self.buf) < n:
            raise DataError(f"{self.name}: byte offset {self.pos}: truncated input: needed {n} bytes "
                            f"for {what}, found {len(self.buf)}")
        out, self.buf = self.buf[:n], self.buf[n:]
        self.pos += n
        return out

    def read_until(self, delim: bytes, what: str) -> bytes:
        """Bytes up to and including `delim`."""
        start = 0
        while True:
            i = self.buf.find(delim, start)
            if i >= 0:
                return self.read(i + len(delim), what)
            start = max(0, len(self.buf) - len(delim) + 1)
            before = len(self.buf)
            self._fill(before + 65536)
            if len(self.buf) == before:
                raise DataError(f"{self.name}: byte offset {self.pos}: end of input inside {what}")

    def skip_ws(self) -> None:
        while True:
            self._fill(1)
            if not self.buf:
                return
            stripped = self.buf.lstrip(b" \t\n\r\v\f")
            self.pos += len(self.buf) - len(stripped)
            self.buf = stripped
            if self.buf:
                return

    def at_eof(self) -> bool:
        self._fill(1)
        return not self.buf


def _read_matrix_or_vector(s: _Stream, kind: str, where: str) -> np.ndarray:
    """One Matrix/Vector object from the stream (binary with \\0B, or text)."""
    if s.peek(2) == b"\0B":
        s.read(2)
        head = s.peek(5)  # the longest token is CM2/CM3: a corrupt one is never read beyond this
        sp = head.find(b" ")
        if sp < 1:
            raise DataError(f"{where}: byte offset {s.pos}: expected a type token (FM, DM, FV, DV, CM, ...) and a "
                            f"space, found {head!r}")
        tok = s.read(sp + 1, f"the type token of {where}")[:-1].decode("latin-1")
        if kind == "matrix" and tok in compressed.TOKEN_FORMAT:
            hdr = s.read(compressed.HEADER_BYTES, f"the compressed-matrix header of {where}")
            _, _, rows, cols = struct.unpack("<ffii", hdr)
            if rows < 0 or cols < 0:
                raise DataError(f"{where}: compressed matrix with negative size {rows}x{cols}")
            n = 0 if cols == 0 else compressed.data_size(compressed.TOKEN_FORMAT[tok], rows, cols)
            return compressed.decode(tok, hdr + s.read(n, f"the data of {where}"), where)
        want = ("FM", "DM") if kind == "matrix" else ("FV", "DV")
        if tok not in want:
            raise DataError(f"{where}: expected a {kind} ({' or '.join(want)}"
                            f"{', CM, CM2 or CM3' if kind == 'matrix' else ''}), found {tok!r}")
        dt = np.dtype("<f4") if tok[0] == "F" else np.dtype("<f8")
        nhead = 10 if kind == "matrix" else 5
        head = s.read(nhead, f"the dimensions of {where}")
        if head[0] != 4 or (kind == "matrix" and head[5] != 4):
            raise DataError(f"{where}: bad dimension size byte in {tok} header")
        rows = _I32.unpack_from(head, 1)[0]
        cols = _I32.unpack_from(head, 6)[0] if kind == "matrix" else 1
        if rows < 0 or cols < 0:
            raise DataError(f"{where}: negative dimension {rows}x{cols}")
        data = s.read(rows * cols * dt.itemsize, f"the data of {where}")
        a = np.frombuffer(data, dtype=dt)
        return a.reshape(rows, cols) if kind == "matrix" else a
    # text: " [ ... ]\n" (or "[]")
    s.skip_ws()
    head = s.peek(2)
    if head == b"[]":
        s.read(2)
        if s.peek(1) == b"\n":
            s.read(1)
        return np.zeros((0, 0) if kind == "matrix" else 0, np.float32)
    if head[:1] != b"[":
        raise DataError(f"{where}: expected '[' or a binary header, found {head!r}")
    body = s.read_until(b"]", f"the text {kind} {where}")
    if s.peek(1) == b"\n":
        s.read(1)
    r = KaldiReader(b" " + body + b"\n", name=where)
    try:
        return r.read_matrix(np.float32, what=where) if kind == "matrix" else \
            r.read_vector(np.float32, what=where)
    except UserError as e:
        raise DataError(str(e)) from None


def _read_int_vector(s: _Stream, where: str) -> np.ndarray:
    if s.peek(2) == b"\0B":
        s.read(2)
        h = s.read(5, f"the size of {where}")
        if h[0] != 4:
            raise DataError(f"{where}: expected an int32 vector (size byte 4), found size byte {h[0]}")
        n = _I32.unpack_from(h, 1)[0]
        if n < 0:
            raise DataError(f"{where}: negative length {n}")
        els = np.frombuffer(s.read(5 * n, f"the {n} values of {where}"),
                            dtype=np.dtype([("size", "u1"), ("value", "<i4")]))
        if n and not np.all(els["size"] == 4):
            raise DataError(f"{where}: expected int32 elements (size byte 4)")
        return els["value"].astype(np.int32)
    line = s.read_until(b"\n", where) if not s.at_eof() else b""
    try:
        v = np.array([int(t) for t in line.split()], dtype=np.int64)
    except ValueError:
        raise DataError(f"{where}: expected integers, found {line[:40]!r}") from None
    if v.size and (v.min() < -2**31 or v.max() >= 2**31):
        raise DataError(f"{where}: value out of int32 range")
    return v.astype(np.int32)


def _read_posterior(s: _Stream, where: str) -> list[list[tuple[int, float]]]:
    if s.peek(2) == b"\0B":
        s.read(2)

        def i32():
            b = s.read(5, where)
            if b[0] != 4:
                raise DataError(f"{where}: expected int32 (size byte 4), found size byte {b[0]}")
            return _I32.unpack_from(b, 1)[0]

        def f32():
            b = s.read(1, where)
            if b[0] == 4:
                return _F32S.unpack(s.read(4, where))[0]
            if b[0] == 8:
                return struct.unpack("<d", s.read(8, where))[0]
            raise DataError(f"{where}: expected a float (size byte 4 or 8), found size byte {b[0]}")

        out = []
        for _ in range(i32()):
            out.append([(i32(), f32()) for _ in range(i32())])
        return out
    line = s.read_until(b"\n", where).decode("latin-1")
    out = []
    for m in re.finditer(r"\[([^\]]*)\]", line):
        t = m.group(1).split()
        if len(t) % 2:
            raise DataError(f"{where}: odd number of values in '[{m.group(1)}]'")
        try:
            out.append([(int(t[i]), float(np.float32(t[i + 1]))) for i in range(0, len(t), 2)])
        except ValueError:
            raise DataError(f"{where}: bad posterior entry '[{m.group(1)}]'") from None
    return out


def _read_wave(s: _Stream, where: str):
    """WaveHolder: a RIFF/WAVE file; in an archive the RIFF size says where it ends."""
    head = s.peek(8)
    if head[:4] == b"RIFF" and len(head) == 8:
        size = struct.unpack("<I", head[4:8])[0]
        data = s.read(8 + size, f"the WAV data of {where}") if size < 0xFFFFFFF0 else \
            s.read(8, where) + s.buf + s.f.read()
    else:
        data = s.buf + s.f.read()
    s.buf = b""
    try:
        x, rate = sf.read(io.BytesIO(data), dtype="int16", always_2d=True)
    except Exception as e:  # soundfile raises several types
        raise DataError(f"{where}: not a readable WAV file: {e}") from None
    return int(rate), np.ascontiguousarray(x.T, dtype=np.float32)  # (channels, samples)


def _read_tokens(s: _Stream, where: str) -> list[str]:
    """TokenHolder / TokenVectorHolder: the rest of the line, split on whitespace (text only)."""
    line = s.read_until(b"\n", where) if not s.at_eof() else b""
    if s.at_eof() and not line:
        raise DataError(f"{where}: no value after the key")
    return line.decode("utf-8").split()


def read_object(s: _Stream, kind: str, where: str):
    if kind == "token":
        t = _read_tokens(s, where)
        if len(t) != 1:
            raise DataError(f"{where}: expected one token after the key, found {len(t)}")
        return t[0]
    if kind == "token_vector":
        return _read_tokens(s, where)
    if kind in ("matrix", "vector"):
        return _read_matrix_or_vector(s, kind, where)
    if kind == "int32":
        if s.peek(2) == b"\0B":
            b = s.read(7, where)
            if b[2] != 4:
                raise DataError(f"{where}: expected an int32 (size byte 4)")
            return _I32.unpack_from(b, 3)[0]
        t = _read_tokens(s, where)
        try:
            (v,) = t
            return int(v)
        except ValueError:
            raise DataError(f"{where}: expected one integer, found {' '.join(t)[:40]!r}") from None
    if kind == "int_vector":
        return _read_int_vector(s, where)
    if kind == "posterior":
        return _read_posterior(s, where)
    if kind == "wave":
        return _read_wave(s, where)
    if kind == "nnet_example":
        return read_nnet_example(s, where)
    raise ValueError(f"unknown table object kind {kind!r}")


_RANGE_RE = re.compile(r"^(.*)\[(\d*):(\d*)(?:,(\d*):(\d*))?\]$", re.S)


def read_rxfilename_object(rx: str, kind: str, where: str):
    """One object from an rxfilename (scp entry), honouring `file:offset` and `[r1:r2,c1:c2]`."""
    rng = None
    if kind == "matrix" and rx.endswith("]"):
        m = _RANGE_RE.match(rx)
        if m:
            rx, rng = m.group(1), m.groups()[1:]
    with open_input(rx, what=where) as f:
        obj = read_object(_Stream(f, rx), kind, where)
    if rng:
        r1, r2, c1, c2 = rng
        rs = slice(int(r1) if r1 else None, int(r2) + 1 if r2 else None)
        cs = slice(int(c1) if c1 else None, int(c2) + 1 if c2 else None)
        obj = obj[rs, cs]
    return obj


# ------------------------------------------------------------------------------- sequential reading
def _read_key(s: _Stream, name: str, kind: str):
    """The key of the next entry and its separating space (None if the line has no object)."""
    start = 0
    while True:
        sp, nl = s.buf.find(b" ", start), s.buf.find(b"\n", start)
        if sp >= 0 and (nl < 0 or sp < nl):
            return s.read(sp + 1, "a key")[:-1]
        if nl >= 0:
            if kind == "token_vector":
                return s.read(nl, "a key")
            return None
        start = len(s.buf)
        s._fill(len(s.buf) + 65536)
        if len(s.buf) == start:
            return None


def iter_archive(f, name: str, kind: str):
    s = _Stream(f, name)
    while True:
        s.skip_ws()
        if s.at_eof():
            return
        key = _read_key(s, name, kind)
        if key is None:
            rest = s.buf.split(b"\n", 1)[0][:40]
            raise DataError(f"{name}: byte offset {s.pos}: entry {rest!r} has a key but no object")
        key = key.decode("utf-8", errors="replace")
        yield key, read_object(s, kind, f"{name}: utterance '{key}'")


def read_script(rx: str) -> list[tuple[str, str]]:
    """Lines `key rxfilename` of a script file (ReadScriptFile: split at the first space)."""
    out = []
    with open_input(rx, what="script file") as f:
        for i, line in enumerate(f.read().decode("utf-8").split("\n"), 1):
            if not line.strip():
                continue
            k, _, rest = line.strip().partition(" ")
            rest = rest.strip()
            if not k or not rest:
                raise DataError(f"{rx}:{i}: expected '<key> <rxfilename>', got '{line}'")
            out.append((k, rest))
    return out


def read_table(rspecifier: str, kind: str = "matrix", what: str = "rspecifier"):
    """Yield (key, object) from an rspecifier, in table order (SequentialTableReader)."""
    r = parse_rspecifier(rspecifier, what)
    if r.kind == "ark":
        with open_input(r.target, what=f"archive of '{rspecifier}'") as f:
            yield from iter_archive(f, r.target if r.target not in ("", "-") else "stdin", kind)
        return
    for key, rx in read_script(r.target):
        try:
            yield key, read_rxfilename_object(rx, kind, f"{r.target}: '{key}' ({rx})")
        except DataError:
            if r.permissive:
                continue
            raise


def read_table_dict(rspecifier: str, kind: str = "matrix", what: str = "rspecifier") -> dict:
    """All entries of an rspecifier as {key: object}; a repeated key is an error."""
    out = {}
    for k, v in read_table(rspecifier, kind, what):
        if k in out:
            raise DataError(f"{rspecifier}: key '{k}' appears twice")
        out[k] = v
    return out


class RandomAccessTable:
    """Random access by key (RandomAccessTableReader): archives are read in full, scripts lazily."""

    def __init__(self, rspecifier: str, kind: str = "matrix", what: str = "rspecifier"):
        self.spec = parse_rspecifier(rspecifier, what)
        self.text, self.kind = rspecifier, kind
        if self.spec.kind == "ark":
            self._data = read_table_dict(rspecifier, kind, what)
            self._scp = None
        else:
            self._data = {}
            self._scp = dict(read_script(self.spec.target))

    def __contains__(self, key: str) -> bool:
        return key in (self._scp if self._scp is not None else self._data)

    def keys(self):
        return (self._scp if self._scp is not None else self._data).keys()

    def __getitem__(self, key: str):
        if self._scp is None:
            try:
                return self._data[key]
            except KeyError:
                raise DataError(f"key '{key}' not found in '{self.text}'") from None
        if key not in self._data:
            if key not in self._scp:
                raise DataError(f"key '{key}' not found in '{self.text}'")
            self._data = {key: read_rxfilename_object(self._scp[key], self.kind,
                                                      f"{self.spec.target}: '{key}'")}
        return self._data[key]


# ------------------------------------------------------------------------------------- writing
def object_bytes(obj, kind: str, binary: bool, compress: int | None = None, double: bool = False) -> bytes:
    """What the holder writes for `obj` (with the binary header in binary mode)."""
    if kind in ("matrix", "vector"):
        a = np.asarray(obj)
        if compress is not None and kind == "matrix":
            if binary:
                return b"\0B" + compressed.encode(a, compress)
            a = compressed.decode(*_split_cm(compressed.encode(a, compress)))
        w = KaldiWriter(binary)
        dt = np.float64 if double else np.float32
        if kind == "matrix":
            if a.ndim != 2:
                raise UserError(f"expected a matrix, got an array of shape {a.shape}")
            w.matrix(a, dt)
        else:
            w.vector(np.ravel(a), dt)
        return w.getvalue()
    if kind == "int32":  # BasicHolder<int32>: WriteBasicType, then '\n' in text mode
        return (b"\0B\x04" + _I32.pack(int(obj))) if binary else b"%d \n" % int(obj)
    if kind == "token":
        return str(obj).encode("utf-8") + b"\n"
    if kind == "token_vector":
        return "".join(f" {t}" for t in obj).encode("utf-8")[1:] + b"\n"
    if kind == "int_vector":
        v = np.asarray(obj, dtype=np.int64).ravel()
        if v.size and (v.min() < -2**31 or v.max() >= 2**31):
            raise UserError("integer vector value out of int32 range")
        if binary:
            els = np.empty(v.size, dtype=np.dtype([("size", "u1"), ("value", "<i4")]))
            els["size"] = 4
            els["value"] = v
            return b"\0B\x04" + _I32.pack(v.size) + els.tobytes()
        return "".join(f"{int(x)} " for x in v).encode() + b"\n"
    if kind == "posterior":
        if binary:
            parts = [b"\0B\x04" + _I32.pack(len(obj))]
            for frame in obj:
                parts.append(b"\x04" + _I32.pack(len(frame)))
                for i, wgt in frame:
                    parts.append(b"\x04" + _I32.pack(int(i)) + b"\x04" + _F32S.pack(float(wgt)))
            return b"".join(parts)

        return ("".join("[ " + "".join(f"{int(i)} {format_float(float(np.float32(wgt)))} "
                                       for i, wgt in frame) + "] " for frame in obj) + "\n").encode()
    if kind == "nnet_example":
        return nnet_example_bytes(obj, binary)
    raise ValueError(f"unknown table object kind {kind!r}")


def _split_cm(b: bytes) -> tuple[str, bytes]:
    sp = b.index(b" ")
    return b[:sp].decode(), b[sp + 1:]


def _valid_key(key: str) -> None:
    if not key or any(c.isspace() for c in key):
        raise UserError(f"invalid table key '{key}' (empty or contains whitespace)")


class TableWriter:
    """Write (key, object) entries to a wspecifier. Use as a context manager: on an error nothing is
    left under the output names (files are temporary until the table closes without error)."""

    def __init__(self, wspecifier: str, kind: str = "matrix", compress: int | None = None,
                 double: bool = False, what: str = "wspecifier"):
        self.w = parse_wspecifier(wspecifier, what)
        self.kind, self.compress, self.double = kind, compress, double
        self.binary = self.w.binary
        self._ark = self._scp = None
        self._scp_targets = None
        self.count = 0
        if self.w.kind == "scp":
            # Kaldi's "scp:" wspecifier: each object goes to the wxfilename the script gives its key.
            self._scp_targets = dict(read_script(self.w.scp))
            return
        self._ark = Output(self.w.ark, what=f"archive of '{wspecifier}'")
        if self.w.kind == "both":
            if self._ark.kind != "file":
                self._ark.abort()
                raise UserError(f"'{wspecifier}': the archive of an ark,scp wspecifier must be a file "
                                f"(the script gives offsets into it)")
            try:
                self._scp = Output(self.w.scp, what=f"script of '{wspecifier}'")
            except BaseException:
                self._ark.abort()
                raise

    def write(self, key: str, obj) -> None:
        _valid_key(key)
        data = object_bytes(obj, self.kind, self.binary, self.compress, self.double)
        if self._scp_targets is not None:
            if key not in self._scp_targets:
                raise DataError(f"key '{key}' is not in the script '{self.w.scp}'")
            write_output_bytes(self._scp_targets[key], data, what=f"output for '{key}'")
            self.count += 1
            return
        head = key.encode("utf-8") + b" "
        pos = self._ark.tell() + len(head) if self._scp is not None else 0
        self._ark.write(head + data)
        if self._scp is not None:
            self._scp.write(f"{key} {self.w.ark}:{pos}\n".encode("utf-8"))
        if self.w.flush:
            self._ark.f.flush()
        self.count += 1

    def close(self) -> None:
        if self._ark is not None:
            self._ark.commit()
        if self._scp is not None:
            self._scp.commit()

    def abort(self) -> None:
        for o in (self._scp, self._ark):  # reverse order of creation: the directories the first made go last
            if o is not None:
                o.abort()

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if et is None:
            self.close()
        else:
            self.abort()
        return False


def write_table(wspecifier: str, items, kind: str = "matrix", **kw) -> int:
    """Write all (key, object) pairs of `items` (a dict or an iterable of pairs); returns the count."""
    items = items.items() if isinstance(items, dict) else items
    with TableWriter(wspecifier, kind, **kw) as t:
        for k, v in items:
            t.write(k, v)
    return t.count


# ------------------------------------------------------------------------------------ single objects
def read_matrix_file(rxfilename: str, what: str = "matrix") -> np.ndarray:
    """A whole-file Matrix (ReadKaldiObject; e.g. an LDA transform), binary or text, any rxfilename."""
    with open_input(rxfilename, what=what) as f:
        s = _Stream(f, rxfilename)
        return _read_matrix_or_vector(s, "matrix", f"{what} '{rxfilename}'")


def read_vector_file(rxfilename: str, what: str = "vector") -> np.ndarray:
    with open_input(rxfilename, what=what) as f:
        return _read_matrix_or_vector(_Stream(f, rxfilename), "vector", f"{what} '{rxfilename}'")


def write_matrix_file(wxfilename: str, mat, binary: bool = True, double: bool = False) -> None:
    """WriteKaldiObject of a Matrix: binary (``\\0BFM ...``) or text (`` [\\n  ... ]\\n``)."""
    write_output_bytes(wxfilename, object_bytes(mat, "matrix", binary, double=double))


def write_vector_file(wxfilename: str, vec, binary: bool = True, double: bool = False) -> None:
    write_output_bytes(wxfilename, object_bytes(vec, "vector", binary, double=double))


def load_mat(path_or_rx: str) -> np.ndarray:
    """A matrix or vector from an `ark:offset`/file via kaldiio (any object kaldiio reads)."""
    try:
        return np.asarray(kaldiio.load_mat(path_or_rx))
    except Exception as e:  # kaldiio raises several types
        raise DataError(f"cannot read '{path_or_rx}': {e}") from None


def open_like_kaldi(name: str, mode: str = "rb"):
    """kaldiio's opener for files, `cmd |`, `| cmd` and `-` (used for wav.scp pipes)."""
    return kaldiio.open_like_kaldi(name, mode)
