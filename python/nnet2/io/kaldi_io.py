"""Kaldi's basic object I/O (tokens, scalars, vectors, matrices), byte-exact in text and binary.

The rules below are Kaldi's, from `src/base/io-funcs.cc`, `src/base/io-funcs-inl.h`,
`src/matrix/kaldi-vector.cc` and `src/matrix/kaldi-matrix.cc`:

* A stream written by Kaldi starts with ``\\0B`` if binary (`InitKaldiOutputStream`), and text
  output uses ``precision(7)``, i.e. floats print like C's ``%.7g`` (``0.001``, ``1e-05``, ``4``).
* Token: the string and one space, in both modes.
* int32: text ``"%d "``; binary one size byte (4) then 4 little-endian bytes.
* float/double: text ``"%.7g "``; binary one size byte (4 or 8) then the raw value. Readers accept
  either size and convert.
* bool: ``T``/``F``, followed by a space only in text mode.
* Vector: text ``" [ v1 v2 ... ]\\n"`` (empty ``" [ ]\\n"``); binary token ``FV``/``DV``, int32 dim,
  raw data.
* Matrix: text ``" ["`` then per row ``"\\n  "`` and ``"%.7g "`` per value, then ``"]\\n"``; a matrix
  with no columns is ``" [ ]\\n"``. Binary token ``FM``/``DM``, int32 rows, int32 cols, raw data.
* Integer vector inside an object (`WriteIntegerVector`): text ``"[ 1 2 3 ]\\n"``; binary one byte
  (4), a raw (size-byte-less) int32 count, then raw int32 data.

All readers raise :class:`nnet2.utils.errors.ModelFormatError` naming the file, the byte offset,
what was found and what was expected; truncated input is reported as such, never as IndexError.
"""

from __future__ import annotations

import struct

import numpy as np

from nnet2.utils.errors import ModelFormatError

_WS = b" \t\n\v\f\r"
_WS_SET = frozenset(_WS)
_I32 = struct.Struct("<i")
_F32 = struct.Struct("<f")
_F64 = struct.Struct("<d")


def format_float(x: float) -> str:
    """Kaldi's text form of a scalar (C++ ostream with precision 7, i.e. ``%.7g``)."""
    return "%.7g" % x


def _show(b: bytes) -> str:
    """A short printable rendering of bytes found in the input, for error messages."""
    if not b:
        return "end of file"
    s = b[:24].decode("latin-1")
    return repr(s) + ("..." if len(b) > 24 else "")


class KaldiReader:
    """Sequential reader over the bytes of a Kaldi object file (text or binary).

    `binary` is detected from a ``\\0B`` header at `pos`, which is then skipped. `pos` is the
    current byte offset into `data` (used in every error message).
    """

    def __init__(self, data: bytes, name: str = "<bytes>", pos: int = 0):
        self.data = bytes(data)
        self.name = name
        self.pos = pos
        self.binary = False
        if self.data[pos:pos + 2] == b"\0B":
            self.binary = True
            self.pos += 2
        elif self.data[pos:pos + 1] == b"\0":
            self.fail("binary header '\\0B'", self.data[pos:pos + 2])

    # ------------------------------------------------------------------ errors / low level
    def fail(self, expected: str, found=None, at: int | None = None, what: str | None = None):
        """Raise ModelFormatError: '<file>: byte <off>: expected X, found Y'."""
        at = self.pos if at is None else at
        if found is None:
            found = self.data[at:at + 24]
        if isinstance(found, (bytes, bytearray)):
            found = _show(bytes(found))
        ctx = f" while reading {what}" if what else ""
        raise ModelFormatError(
            f"{self.name}: byte offset {at}{ctx}: expected {expected}, found {found}")

    def _need(self, n: int, what: str) -> int:
        """Check that `n` more bytes exist; return the current position."""
        p = self.pos
        if p + n > len(self.data):
            raise ModelFormatError(
                f"{self.name}: byte offset {p}: truncated file: needed {n} bytes for {what}, "
                f"only {len(self.data) - p} left")
        return p

    def _skip_ws(self) -> None:
        d, p, n = self.data, self.pos, len(self.data)
        while p < n and d[p] in _WS_SET:
            p += 1
        self.pos = p

    def at_eof(self) -> bool:
        """True if only whitespace remains (text) / no bytes remain (binary)."""
        if self.binary:
            return self.pos >= len(self.data)
        p = self.pos
        while p < len(self.data) and self.data[p] in _WS_SET:
            p += 1
        return p >= len(self.data)

    def _word_end(self, p: int) -> int:
        d, n = self.data, len(self.data)
        while p < n and d[p] not in _WS_SET:
            p += 1
        return p

    # ------------------------------------------------------------------ tokens
    def peek_token(self) -> str:
        """The next whitespace-delimited word, without consuming it ('' at end of file)."""
        save = self.pos
        self._skip_ws()
        end = self._word_end(self.pos)
        tok = self.data[self.pos:end].decode("latin-1")
        self.pos = save
        return tok

    def read_token(self, what: str = "a token") -> str:
        """Read a token such as ``<Nnet>`` (operator>> skips leading whitespace in both modes)
        and the single whitespace character after it."""
        self._skip_ws()
        start = self.pos
        end = self._word_end(start)
        if end == start:
            self.fail(what, at=start)
        if end >= len(self.data):
            # Kaldi's ReadToken requires the space after a token.
            self.fail(f"whitespace after token {_show(self.data[start:end])}", at=end,
                      what=what)
        self.pos = end + 1
        return self.data[start:end].decode("latin-1")

    def expect_token(self, tok: str) -> None:
        start = self.pos
        got = self.read_token(what=f"token {tok}")
        if got != tok:
            self.fail(f"token {tok}", found=repr(got), at=start)

    # ------------------------------------------------------------------ scalars
    def _text_word(self, what: str) -> tuple[int, bytes]:
        self._skip_ws()
        start = self.pos
        end = self._word_end(start)
        if end == start:
            self.fail(what, at=start)
        self.pos = end
        return start, self.data[start:end]

    def read_int(self, what: str = "an int32") -> int:
        if self.binary:
            p = self._need(1, what)
            if self.data[p] != 4:
                self.fail(f"{what} (size byte 4)", found=f"size byte {self.data[p]}", at=p)
            self._need(5, what)
            self.pos = p + 5
            return _I32.unpack_from(self.data, p + 1)[0]
        start, w = self._text_word(what)
        try:
            v = int(w.decode("latin-1"), 10)
        except ValueError:
            self.fail(what, found=_show(w), at=start)
        if not -2**31 <= v < 2**31:
            self.fail(f"{what} in int32 range", found=str(v), at=start)
        return v

    read_basic_int32 = read_int

    def _read_real(self, what: str, single: bool) -> float:
        if self.binary:
            p = self._need(1, what)
            size = self.data[p]
            if size == 4:
                self._need(5, what)
                self.pos = p + 5
                return _F32.unpack_from(self.data, p + 1)[0]
            if size == 8:
                self._need(9, what)
                self.pos = p + 9
                v = _F64.unpack_from(self.data, p + 1)[0]
                return float(np.float32(v)) if single else v
            self.fail(f"{what} (size byte 4 or 8)", found=f"size byte {size}", at=p)
        start, w = self._text_word(what)
        try:
            v = float(w.decode("latin-1"))
        except ValueError:
            self.fail(what, found=_show(w), at=start)
        return float(np.float32(v)) if single else v

    def read_float(self, what: str = "a float") -> float:
        """A BaseFloat (float32) scalar, returned as a Python float holding the float32 value."""
        return self._read_real(what, single=True)

    def read_double(self, what: str = "a double") -> float:
        return self._read_real(what, single=False)

    def read_bool(self, what: str = "a bool") -> bool:
        if not self.binary:
            self._skip_ws()
        p = self._need(1, what)
        c = self.data[p]
        if c not in (ord("T"), ord("F")):
            self.fail(f"{what} (T or F)", at=p)
        self.pos = p + 1
        return c == ord("T")

    # ------------------------------------------------------------------ vectors / matrices
    def _binary_array_header(self, kind: str, what: str) -> np.dtype:
        """Reads 'FV '/'DV ' (kind='V') or 'FM '/'DM ' (kind='M'); returns the stored dtype."""
        start = self.pos
        self._need(3, what)
        tok = self.data[start:start + 3]
        if tok == b"F" + kind.encode() + b" ":
            dt = np.dtype("<f4")
        elif tok == b"D" + kind.encode() + b" ":
            dt = np.dtype("<f8")
        else:
            if kind == "M" and tok[:1] == b"C":
                self.fail("an uncompressed matrix (FM or DM); compressed matrices are not "
                          "supported in model files", found=tok, at=start, what=what)
            self.fail(f"F{kind} or D{kind}", found=tok, at=start, what=what)
        self.pos = start + 3
        return dt

    def _text_open_bracket(self, what: str) -> bool:
        """Consumes '[' (returns False) or the '[]' variant (returns True: empty)."""
        self._skip_ws()
        start = self.pos
        end = self._word_end(start)
        w = self.data[start:end]
        if w == b"[]":
            self.pos = end
            self._eat_newline()
            return True
        if w != b"[":
            self.fail("'['", found=w, at=start, what=what)
        self.pos = end
        return False

    def _eat_newline(self) -> None:
        d = self.data
        if d[self.pos:self.pos + 2] == b"\r\n":
            self.pos += 2
        elif d[self.pos:self.pos + 1] == b"\n":
            self.pos += 1

    def _parse_numbers(self, start: int, span: bytes, dtype, what: str) -> np.ndarray:
        """Parses whitespace-separated numbers; names the first bad word on failure."""
        if not span.strip():
            return np.zeros(0, dtype=dtype)
        try:
            return np.fromstring(span, dtype=dtype, sep=" ")
        except ValueError:
            pass
        off = 0
        for w in span.split():
            off = span.index(w, off)
            try:
                float(w)
            except ValueError:
                self.fail(f"a number in {what}", found=w, at=start + off)
            off += len(w)
        self.fail(f"numbers in {what}", found=span, at=start)

    def read_vector(self, dtype=np.float32, what: str = "a vector") -> np.ndarray:
        """1-D array (dim,) of `dtype`; accepts float (FV) or double (DV) storage."""
        if self.binary:
            stored = self._binary_array_header("V", what)
            dim = self.read_int(what=f"dimension of {what}")
            if dim < 0:
                self.fail(f"non-negative dimension of {what}", found=str(dim))
            p = self._need(dim * stored.itemsize, what)
            arr = np.frombuffer(self.data, dtype=stored, count=dim, offset=p)
            self.pos = p + dim * stored.itemsize
            return arr.astype(dtype)
        if self._text_open_bracket(what):
            return np.zeros(0, dtype=dtype)
        start = self.pos
        end = self.data.find(b"]", start)
        if end < 0:
            self.fail(f"']' closing {what}", found="end of file", at=len(self.data))
        span = self.data[start:end]
        nl = span.find(b"\n")
        if nl >= 0:
            self.fail(f"']' closing {what} (a vector must be on one line)",
                      found="newline", at=start + nl)
        arr = self._parse_numbers(start, span, np.float64, what)
        self.pos = end + 1
        self._eat_newline()
        return arr.astype(dtype)

    def read_matrix(self, dtype=np.float32, what: str = "a matrix") -> np.ndarray:
        """2-D array (rows, cols) of `dtype`; accepts FM or DM storage and the text forms
        ``[ ... ]``, ``[ ]`` and ``[]``."""
        if self.binary:
            stored = self._binary_array_header("M", what)
            rows = self.read_int(what=f"row count of {what}")
            cols = self.read_int(what=f"column count of {what}")
            if rows < 0 or cols < 0:
                self.fail(f"non-negative dimensions of {what}", found=f"{rows}x{cols}")
            n = rows * cols * stored.itemsize
            p = self._need(n, what)
            arr = np.frombuffer(self.data, dtype=stored, count=rows * cols, offset=p)
            self.pos = p + n
            return arr.reshape(rows, cols).astype(dtype)
        if self._text_open_bracket(what):
            return np.zeros((0, 0), dtype=dtype)
        start = self.pos
        end = self.data.find(b"]", start)
        if end < 0:
            self.fail(f"']' closing {what}", found="end of file", at=len(self.data))
        span = self.data[start:end]
        # Kaldi ends a row at '\n' or ';' (empty rows are ignored).
        if b";" in span:
            span = span.replace(b";", b"\n")
        # Count words per line without a Python loop: a word starts at a non-space byte that
        # follows a space (or the span start); lines are delimited by '\n'.
        u = np.frombuffer(span, dtype=np.uint8)
        is_ws = np.zeros(256, dtype=bool)
        is_ws[list(_WS)] = True
        ws = is_ws[u]
        starts = ~ws & np.concatenate(([True], ws[:-1])) if u.size else np.zeros(0, bool)
        line_id = np.cumsum(u == 10)
        counts = np.bincount(line_id[starts], minlength=int(line_id[-1]) + 1 if u.size else 0)
        row_counts = counts[counts > 0]
        arr = self._parse_numbers(start, span, np.float64, what)
        if row_counts.size == 0:
            self.pos = end + 1
            self._eat_newline()
            return np.zeros((0, 0), dtype=dtype)
        cols = int(row_counts[0])
        bad = np.nonzero(row_counts != cols)[0]
        if bad.size:
            r = int(bad[0])
            self.fail(f"{cols} numbers in every row of {what}",
                      found=f"{int(row_counts[r])} in row {r}", at=start)
        if arr.size != row_counts.sum():
            self.fail(f"{int(row_counts.sum())} numbers in {what}", found=str(arr.size), at=start)
        self.pos = end + 1
        self._eat_newline()
        return arr.reshape(row_counts.size, cols).astype(dtype)

    def read_int_vector(self, what: str = "an integer vector") -> np.ndarray:
        """Kaldi's `ReadIntegerVector<int32>` (in-object form); returns int32 array (n,)."""
        if self.binary:
            p = self._need(1, what)
            if self.data[p] != 4:
                self.fail(f"{what} (element size byte 4)", found=f"size byte {self.data[p]}",
                          at=p)
            self._need(5, what)
            n = _I32.unpack_from(self.data, p + 1)[0]
            if n < 0:
                self.fail(f"non-negative length of {what}", found=str(n), at=p + 1)
            self.pos = p + 5
            q = self._need(4 * n, what)
            arr = np.frombuffer(self.data, dtype="<i4", count=n, offset=q).astype(np.int32)
            self.pos = q + 4 * n
            return arr
        self._skip_ws()
        p = self.pos
        if self.data[p:p + 1] != b"[":
            self.fail(f"'[' starting {what}", at=p)
        end = self.data.find(b"]", p + 1)
        if end < 0:
            self.fail(f"']' closing {what}", found="end of file", at=len(self.data))
        vals = []
        off = p + 1
        for w in self.data[p + 1:end].split():
            off = self.data.index(w, off)
            try:
                v = int(w.decode("latin-1"), 10)
            except ValueError:
                self.fail(f"an integer in {what}", found=w, at=off)
            if not -2**31 <= v < 2**31:
                self.fail(f"an int32 in {what}", found=w, at=off)
            vals.append(v)
            off += len(w)
        self.pos = end + 1
        return np.array(vals, dtype=np.int32)


class KaldiWriter:
    """Accumulates a Kaldi object file in memory; `getvalue()` returns its bytes.

    Binary output starts with ``\\0B``. Every method writes exactly what the corresponding Kaldi
    function writes for the same value.
    """

    def __init__(self, binary: bool):
        self.binary = bool(binary)
        self._parts: list[bytes] = [b"\0B"] if self.binary else []

    def getvalue(self) -> bytes:
        return b"".join(self._parts)

    def raw(self, b: bytes) -> None:
        self._parts.append(b)

    def token(self, s: str) -> None:
        if not s or any(c in s for c in " \t\n\v\f\r"):
            raise ValueError(f"invalid Kaldi token {s!r}")
        self._parts.append(s.encode("latin-1") + b" ")

    def newline_if_text(self) -> None:
        if not self.binary:
            self._parts.append(b"\n")

    def int32(self, i: int) -> None:
        i = int(i)
        if not -2**31 <= i < 2**31:
            raise ValueError(f"{i} does not fit in int32")
        if self.binary:
            self._parts.append(b"\x04" + _I32.pack(i))
        else:
            self._parts.append(b"%d " % i)

    def float(self, f: float) -> None:
        """A BaseFloat: rounded to float32 first, as Kaldi stores it."""
        f32 = np.float32(f)
        if self.binary:
            self._parts.append(b"\x04" + f32.tobytes())
        else:
            self._parts.append((format_float(float(f32)) + " ").encode())

    def double(self, f: float) -> None:
        if self.binary:
            self._parts.append(b"\x08" + _F64.pack(float(f)))
        else:
            self._parts.append((format_float(float(f)) + " ").encode())

    def bool(self, b: bool) -> None:
        self._parts.append((b"T" if b else b"F") + (b"" if self.binary else b" "))

    def vector(self, v, dtype=np.float32) -> None:
        """`v` shape (dim,); written as FV (float32) or DV (float64) per `dtype`."""
        dt = np.dtype(dtype)
        a = np.ascontiguousarray(np.asarray(v), dtype=dt.newbyteorder("<"))
        if a.ndim != 1:
            raise ValueError(f"vector must be 1-D, got shape {a.shape}")
        if self.binary:
            self._parts.append(b"FV " if dt.itemsize == 4 else b"DV ")
            self.int32(a.shape[0])
            self._parts.append(a.tobytes())
        elif a.shape[0] == 0:
            self._parts.append(b" [ ]\n")
        else:
            body = ("%.7g " * a.shape[0]) % tuple(a.tolist())
            self._parts.append(b" [ " + body.encode() + b"]\n")

    def matrix(self, m, dtype=np.float32) -> None:
        """`m` shape (rows, cols); written as FM (float32) or DM (float64) per `dtype`."""
        dt = np.dtype(dtype)
        a = np.ascontiguousarray(np.asarray(m), dtype=dt.newbyteorder("<"))
        if a.ndim != 2:
            raise ValueError(f"matrix must be 2-D, got shape {a.shape}")
        rows, cols = a.shape
        if self.binary:
            self._parts.append(b"FM " if dt.itemsize == 4 else b"DM ")
            self.int32(rows)
            self.int32(cols)
            self._parts.append(a.tobytes())
        elif cols == 0:
            self._parts.append(b" [ ]\n")
        else:
            fmt = "\n  " + "%.7g " * cols
            # One C-level format call per row keeps a 2048x2048 matrix under a second.
            body = "".join([fmt % tuple(r) for r in a.tolist()])
            self._parts.append(b" [" + body.encode() + b"]\n")

    def int_vector(self, v) -> None:
        """Kaldi's `WriteIntegerVector<int32>`: `v` shape (n,) of ints."""
        a = np.ascontiguousarray(np.asarray(v, dtype="<i4"))
        if self.binary:
            self._parts.append(b"\x04" + _I32.pack(a.shape[0]) + a.tobytes())
        else:
            self._parts.append(b"[ " + "".join("%d " % x for x in a.tolist()).encode() + b"]\n")
