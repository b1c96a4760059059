"""Kaldi alignments: reading transition-id / pdf-id archives, ali-to-pdf, writing, pdf counts and priors.

Kaldi stores an alignment as one int32 per 10 ms frame (transition-ids, `src/hmm/transition-model.h`). An archive entry in binary form is

    b"<key> " + b"\\0B" + b"\\x04" + int32 length + length * (b"\\x04" + int32 value)   (little endian)

and in text form (`ark,t`) `<key> t1 t2 ... tn\\n`. `ali.N.gz` files are gzipped binary archives.

The bytes are read and written by `nnet2.io.int_vector` (one `np.frombuffer` per utterance).

Accepted alignment sources (`read_alignments(spec)`), alone or as a list:
  * a path: binary or text archive, gzipped or not (detected from the magic bytes), or `*.scp`;
  * a glob: `exp/tri1_ali/ali.*.gz` (files in natural order);
  * an rspecifier: `ark:file`, `ark,t:file`, `ark:gunzip -c exp/x/ali.1.gz |`, `scp:ali.scp`.
"""

from __future__ import annotations

import glob
import gzip
import os
import re
from collections.abc import Iterable, Iterator, Mapping

import numpy as np

from nnet2.io.int_vector import int_vector_ark_bytes, parse_int_vector_ark, read_archive_bytes
from nnet2.io.nnet_format import read_transition_model_from_gmm_mdl
from nnet2.io.table import TableWriter, read_input_bytes, read_table
from nnet2.utils.errors import DataError, UserError
from nnet2.utils.fileio import atomic_path
from nnet2.utils.log import get_logger


_SPEC_RE = re.compile(r"^(ark|scp)((?:,[a-z]+)*):(.*)$", re.S)
PRIOR_FLOOR = 5e-6  # nnet-train-transitions --prior-floor (src/nnet2bin/nnet-train-transitions.cc)


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


def iter_alignments(spec) -> Iterator[tuple[str, np.ndarray]]:
    """Yield (utt, int32 [T]) from every source in `spec` (see module docstring), in file order."""
    for kind, target in expand_specs(spec):
        if kind == "scp":
            yield from read_table("scp:" + target, "int_vector", what="alignments rspecifier")
        else:
            yield from parse_int_vector_ark(read_archive_bytes(kind, target), name=target)


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


def ali_to_pdf_table(model: str, alignments: str, pdfs: str) -> int:
    """Kaldi's ali-to-pdf: the transition-id alignments of the rspecifier `alignments` as pdf-ids
    (through the TransitionModel at the start of `model`), written to the wspecifier `pdfs`.
    Returns the number of alignments converted."""
    tm = read_transition_model_from_gmm_mdl(read_input_bytes(model, what="model"))
    n = 0
    with TableWriter(pdfs, "int_vector", what="pdfs wspecifier") as out:
        for utt, ali in read_table(alignments, "int_vector", what="alignments rspecifier"):
            out.write(utt, ali_to_pdf(ali, tm.tid2pdf, utt))
            n += 1
    get_logger("ali-to-pdf").info(f"Converted {n} alignments to pdf sequences.")
    return n


def ali_to_post_table(alignments: str, posteriors: str) -> int:
    """Kaldi's ali-to-post: every alignment as a posterior with weight 1 on its id at each frame.
    Returns the number of alignments converted."""
    n = 0
    with TableWriter(posteriors, "posterior", what="posteriors wspecifier") as out:
        for utt, ali in read_table(alignments, "int_vector", what="alignments rspecifier"):
            out.write(utt, [[(int(t), 1.0)] for t in ali])
            n += 1
    get_logger("ali-to-post").info(f"Converted {n} alignments.")
    return n
