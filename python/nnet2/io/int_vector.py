"""Kaldi int32-vector archives (alignments: BasicVectorHolder<int32>, `src/util/kaldi-holder-inl.h`),
decoded with one `np.frombuffer` per utterance.

An archive entry in binary form is

    b"<key> " + b"\\0B" + b"\\x04" + int32 length + length * (b"\\x04" + int32 value)   (little endian)

and in text form (`ark,t`) `<key> t1 t2 ... tn \\n`. `ali.N.gz` files are gzipped binary archives.
"""

from __future__ import annotations

import gzip
import io
import struct
from collections.abc import Iterable, Iterator, Mapping

import numpy as np

from nnet2.io.table import read_input_bytes
from nnet2.utils.errors import DataError, UserError

_INT_EL = np.dtype([("size", "u1"), ("value", "<i4")])


def read_archive_bytes(kind: str, target: str) -> bytes:
    """All bytes of an archive (gunzipped if needed); alignment archives are small (5 bytes/frame)."""
    try:
        if kind == "pipe":
            data = read_input_bytes(target, what="alignments")
        else:
            with open(target, "rb") as f:
                data = f.read()
    except OSError as e:
        raise DataError(f"cannot read alignments from '{target}': {e.strerror or e}") from None
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise DataError(f"alignment file '{target}' is not valid gzip data: {e}") from None
    return data


def parse_int_vector_ark(data: bytes, name: str = "<ark>") -> Iterator[tuple[str, np.ndarray]]:
    """Yield (key, int32 vector [T]) from the bytes of a binary or text Kaldi int-vector archive."""
    pos, n = 0, len(data)
    while True:
        while pos < n and data[pos : pos + 1].isspace():
            pos += 1
        if pos >= n:
            return
        sp = data.find(b" ", pos)
        nl = data.find(b"\n", pos)
        if sp < 0 or (0 <= nl < sp):
            raise DataError(f"{name}: entry at byte {pos} has a key but no data")
        key = data[pos:sp].decode("utf-8", errors="replace")
        pos = sp + 1
        if data[pos : pos + 2] == b"\0B":
            if data[pos + 2 : pos + 3] != b"\x04" or pos + 7 > n:
                raise DataError(f"{name}: utterance '{key}' at byte {pos}: expected a binary int32 "
                                f"vector (\\0B then size byte 4)")
            (length,) = struct.unpack("<i", data[pos + 3 : pos + 7])
            start = pos + 7
            end = start + 5 * length
            if length < 0 or end > n:
                raise DataError(f"{name}: utterance '{key}' at byte {pos}: truncated int32 vector "
                                f"(length {length}, only {max(0, (n - start) // 5)} elements present)")
            els = np.frombuffer(data, dtype=_INT_EL, count=length, offset=start)
            if length and not np.all(els["size"] == 4):
                bad = int(np.argmax(els["size"] != 4))
                raise DataError(f"{name}: utterance '{key}' at byte {start + 5 * bad}: expected int32 "
                                f"size byte 4, got {int(els['size'][bad])}")
            yield key, els["value"].astype(np.int32)
            pos = end
        else:
            nl = data.find(b"\n", pos)
            nl = n if nl < 0 else nl
            line = data[pos:nl].decode("utf-8", errors="replace").split()
            if line and line[0] == "[":  # `copy-int-vector` never writes brackets, but be lenient
                line = [t for t in line if t not in ("[", "]")]
            try:
                vec = np.array([int(t) for t in line], dtype=np.int64)
            except ValueError:
                raise DataError(f"{name}: utterance '{key}' at byte {pos}: text alignment has a "
                                f"non-integer token") from None
            if vec.size and (vec.min() < -(2**31) or vec.max() >= 2**31):
                raise DataError(f"{name}: utterance '{key}': value out of int32 range")
            yield key, vec.astype(np.int32)
            pos = nl + 1


def int_vector_ark_bytes(alis: Mapping[str, np.ndarray] | Iterable[tuple[str, np.ndarray]]) -> bytes:
    """Kaldi binary archive bytes of int32 vectors, exactly as `copy-int-vector ark:- ark:-` writes them."""
    items = alis.items() if isinstance(alis, Mapping) else alis
    buf = io.BytesIO()
    for k, v in items:
        if not k or any(c.isspace() for c in k):
            raise UserError(f"invalid utterance id '{k}' (empty or contains whitespace)")
        v = np.asarray(v)
        if v.ndim != 1:
            raise UserError(f"alignment of '{k}' must be 1-D, got shape {v.shape}")
        els = np.empty(len(v), dtype=_INT_EL)
        els["size"] = 4
        els["value"] = v
        buf.write(k.encode("utf-8") + b" \0B\x04" + struct.pack("<i", len(v)))
        buf.write(els.tobytes())
    return buf.getvalue()
