"""Frame labels as Kaldi's NnetExample holds them: one pdf per frame (int32 [N]), or a list of (pdf, weight)
pairs per frame packed into a structured array (`soft_label_dtype`). Data, not network code: the egs readers
build them and the networks consume them (`nnet2.nnet.nnet` re-exports these names)."""

from __future__ import annotations

import numpy as np


def soft_label_dtype(k: int) -> np.dtype:
    """Labels as Kaldi's NnetExample holds them (a list of (pdf, weight) pairs per frame), packed into a
    numpy structured array of shape [N]: `pdf` int32 [N, k] and `weight` float32 [N, k], unused slots
    with weight 0. Slicing and concatenating work as for plain int32 label arrays."""
    return np.dtype([("pdf", np.int32, (k,)), ("weight", np.float32, (k,))])


def is_soft(labels) -> bool:
    return getattr(getattr(labels, "dtype", None), "names", None) is not None


def make_soft_labels(frames: list) -> np.ndarray:
    """[[(pdf, weight), ...] per frame] -> the structured array of `soft_label_dtype`."""
    k = max(1, max((len(f) for f in frames), default=1))
    out = np.zeros(len(frames), soft_label_dtype(k))
    for i, f in enumerate(frames):
        for j, (p, w) in enumerate(f):
            out["pdf"][i, j] = p
            out["weight"][i, j] = w
    return out


def simplify_labels(labels):
    """int32 [N] labels if every frame has exactly one label of weight 1 (the common case, which takes
    the fused softmax/objective kernel), else the soft labels unchanged."""
    if not is_soft(labels):
        return labels
    w = labels["weight"]
    if np.all(w[:, 0] == 1.0) and (w.shape[1] == 1 or not np.any(w[:, 1:])):
        return np.ascontiguousarray(labels["pdf"][:, 0], dtype=np.int32)
    return labels


def concat_labels(parts: list):
    """Concatenate label arrays (int32 or soft, padding soft ones to a common width)."""
    if not any(is_soft(p) for p in parts):
        return np.concatenate(parts)
    k = max(p["pdf"].shape[1] if is_soft(p) else 1 for p in parts)
    out = []
    for p in parts:
        q = np.zeros(len(p), soft_label_dtype(k))
        if is_soft(p):
            q["pdf"][:, : p["pdf"].shape[1]] = p["pdf"]
            q["weight"][:, : p["pdf"].shape[1]] = p["weight"]
        else:
            q["pdf"][:, 0] = p
            q["weight"][:, 0] = 1.0
        out.append(q)
    return np.concatenate(out)
