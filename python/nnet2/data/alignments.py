"""Kaldi alignments: reading transition-id / pdf-id archives, ali-to-pdf, writing, pdf counts and priors.

Kaldi stores an alignment as one int32 per 10 ms frame (spec §7.5). An archive entry in binary form is

    b"<key> " + b"\\0B" + b"\\x04" + int32 length + length * (b"\\x04" + int32 value)   (little endian)

and in text form (`ark,t`) `<key> t1 t2 ... tn\\n`. `ali.N.gz` files are gzipped binary archives.

kaldiio opens rspecifiers and pipes for us (`open_like_kaldi`, `parse_specifier`, `load_scp`), but its
int32-vector reader unpacks one element per Python call (~1 µs/frame, minutes for 300 h); here the
entries are decoded with one `np.frombuffer` per utterance instead.

Accepted alignment sources (`read_alignments(spec)`), alone or as a list:
  * a path: binary or text archive, gzipped or not (detected from the magic bytes), or `*.scp`;
  * a glob: `exp/tri1_ali/ali.*.gz` (files in natural order);
  * an rspecifier: `ark:file`, `ark,t:file`, `ark:gunzip -c exp/x/ali.1.gz |`, `scp:ali.scp`.
"""

from __future__ import annotations

import glob
import gzip
import io
import os
import re
import struct
from collections.abc import Iterable, Iterator, Mapping

import numpy as np

from nnet2.utils.errors import DataError, UserError
from nnet2.utils.fileio import atomic_path


_SPEC_RE = re.compile(r"^(ark|scp)((?:,[a-z]+)*):(.*)$", re.S)
_INT_EL = np.dtype([("size", "u1"), ("value", "<i4")])
PRIOR_FLOOR = 5e-6  # nnet-train-transitions --prior-floor (spec §4.9)


def _natural_key(s: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def expand_specs(spec: str | os.PathLike | Iterable) -> list[tuple[str, str]]:
    """Turn an alignment source (or a list of them) into [(kind, target)], kind in {"ark", "scp", "pipe"}."""
    if isinstance(spec, (list, tuple)):
        out = []
        for s in spec:
            out.extend(expand_specs(s))
        return out
    spec = os.fspath(spec).strip()
    m = _SPEC_RE.match(spec)
    if m:
        kind, target = m.group(1), m.group(3).strip()
        if target.endswith("|"):
            if kind == "scp":
                raise UserError(f"scp from a pipe is not supported: '{spec}'")
            return [("pipe", target)]
        paths = [target]
    else:
        if spec.endswith("|"):
            return [("pipe", spec)]
        kind, paths = None, [spec]
    target = paths[0]
    if any(c in target for c in "*?[") and not os.path.exists(target):
        paths = sorted(glob.glob(target), key=_natural_key)
        if not paths:
            raise DataError(f"no alignment files match '{target}'")
    out = []
    for p in paths:
        k = kind or ("scp" if p.endswith(".scp") else "ark")
        out.append((k, p))
    return out


def _read_source(kind: str, target: str) -> bytes:
    """All bytes of an archive (gunzipped if needed); alignment archives are small (5 bytes/frame)."""
    from kaldiio.utils import open_like_kaldi

    try:
        if kind == "pipe":
            with open_like_kaldi(target, "rb") as f:
                data = f.read()
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


def iter_alignments(spec) -> Iterator[tuple[str, np.ndarray]]:
    """Yield (utt, int32 [T]) from every source in `spec` (see module docstring), in file order."""
    for kind, target in expand_specs(spec):
        if kind == "scp":
            import kaldiio

            try:
                d = kaldiio.load_scp(target)
                for k in d:
                    v = np.asarray(d[k])
                    if v.ndim != 1 or v.dtype.kind not in "iu":
                        raise DataError(f"{target}: utterance '{k}' is not an int32 vector")
                    yield k, v.astype(np.int32)
            except (OSError, ValueError, AssertionError) as e:
                raise DataError(f"cannot read alignments from scp '{target}': {e}") from None
        else:
            yield from parse_int_vector_ark(_read_source(kind, target), name=target)


def read_alignments(spec) -> dict[str, np.ndarray]:
    """Read all alignments of `spec` into {utt: int32 [T]}; a key present twice is a DataError."""
    out: dict[str, np.ndarray] = {}
    for k, v in iter_alignments(spec):
        if k in out:
            raise DataError(f"utterance '{k}' appears twice in the alignments ({spec})")
        out[k] = v
    return out


def ali_to_pdf(tids: np.ndarray, tid2pdf: np.ndarray, utt: str = "?") -> np.ndarray:
    """Map transition-ids [T] to pdf-ids [T] (int32) with `tid2pdf` [num_tids+1] (index 0 unused).

    A transition-id outside 1..num_tids means the TransitionModel does not match the alignments.
    """
    tids = np.asarray(tids)
    ntid = len(tid2pdf) - 1
    if tids.size:
        lo, hi = int(tids.min()), int(tids.max())
        if lo < 1 or hi > ntid:
            bad = lo if lo < 1 else hi
            raise DataError(f"utterance '{utt}': transition-id {bad} is out of range for the "
                            f"transition model (it has {ntid} transition-ids): the model does not "
                            f"match the alignments")
    return tid2pdf[tids].astype(np.int32, copy=False)


def read_pdf_alignments(spec, tid2pdf: np.ndarray | None = None, num_pdfs: int | None = None,
                        is_pdf: bool = False) -> dict[str, np.ndarray]:
    """Read alignments as pdf-ids {utt: int32 [T]}.

    Give `tid2pdf` for transition-id alignments (`ali.*.gz`), or `is_pdf=True` for archives that
    already hold pdf-ids (`ali-to-pdf` output). If `num_pdfs` is given, pdf-ids are range-checked.
    """
    if not is_pdf and tid2pdf is None:
        raise UserError("transition-id alignments need a transition model (tid2pdf); "
                        "pass pdf-id alignments with is_pdf=True instead")
    out: dict[str, np.ndarray] = {}
    for k, v in iter_alignments(spec):
        if k in out:
            raise DataError(f"utterance '{k}' appears twice in the alignments ({spec})")
        p = v if is_pdf else ali_to_pdf(v, tid2pdf, utt=k)
        if num_pdfs is not None and p.size and (p.min() < 0 or p.max() >= num_pdfs):
            bad = int(p.min()) if p.min() < 0 else int(p.max())
            raise DataError(f"utterance '{k}': pdf-id {bad} is out of range (model has {num_pdfs} pdfs)")
        out[k] = p
    return out


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


def write_ali(path: str | os.PathLike, alis: Mapping[str, np.ndarray], gz: bool | None = None) -> None:
    """Write {utt: int32 [T]} as a Kaldi binary int-vector archive (gzipped if `gz` or path ends .gz).

    Written atomically; gzip uses mtime 0 so identical input gives identical bytes.
    """
    path = os.fspath(path)
    gz = path.endswith(".gz") if gz is None else gz
    data = int_vector_ark_bytes(alis)
    if gz:
        data = gzip.compress(data, mtime=0)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def pdf_counts(pdf_alis: Mapping[str, np.ndarray] | Iterable[np.ndarray], num_pdfs: int) -> np.ndarray:
    """Occurrence count of each pdf over all frames: float64 [num_pdfs]."""
    vals = pdf_alis.values() if isinstance(pdf_alis, Mapping) else pdf_alis
    counts = np.zeros(num_pdfs, dtype=np.float64)
    for v in vals:
        if len(v):
            if v.min() < 0 or v.max() >= num_pdfs:
                raise DataError(f"pdf-id {int(v.max())} out of range for {num_pdfs} pdfs")
            counts += np.bincount(v, minlength=num_pdfs)
    return counts


def initial_priors(counts: np.ndarray, floor: float = PRIOR_FLOOR) -> np.ndarray:
    """Initial priors as `nnet-train-transitions`: normalize counts, floor at `floor`, renormalize.

    counts: [num_pdfs]; returns float64 [num_pdfs] summing to 1.
    """
    counts = np.asarray(counts, dtype=np.float64)
    tot = counts.sum()
    if not tot > 0:
        raise DataError("cannot estimate priors: the alignments contain no frames")
    p = np.maximum(counts / tot, floor)
    return p / p.sum()
