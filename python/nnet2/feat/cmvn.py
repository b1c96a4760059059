"""Per-speaker cepstral mean (and variance) normalization, as Kaldi's `compute-cmvn-stats
--spk2utt` and `apply-cmvn` (`src/transform/cmvn.cc`; spec §7.3).

Stats of a speaker: float64 (2, D+1): row 0 = per-dim sums, last column = frame count;
row 1 = per-dim sums of squares, last column 0.
"""

from __future__ import annotations

import numpy as np

from nnet2.utils.errors import DataError


def cmvn_stats(feats: np.ndarray) -> np.ndarray:
    """(T, D) features -> float64 (2, D+1) stats."""
    x = np.asarray(feats, dtype=np.float64)
    st = np.zeros((2, x.shape[1] + 1), dtype=np.float64)
    st[0, :-1] = x.sum(axis=0)
    st[0, -1] = x.shape[0]
    st[1, :-1] = (x * x).sum(axis=0)
    return st


def apply_cmvn(feats: np.ndarray, stats: np.ndarray, norm_vars: bool = False,
               name: str = "<utt>") -> np.ndarray:
    """Normalize (T, D) float32 features with (2, D+1) stats: x - mean, and with norm_vars
    (x - mean) / sqrt(max(E[x^2] - mean^2, 1e-20)). Returns float32 (T, D)."""
    stats = np.asarray(stats, dtype=np.float64)
    d = feats.shape[1]
    if stats.shape != (2, d + 1):
        raise DataError(f"{name}: CMVN stats have shape {stats.shape}, features need (2, {d + 1})")
    count = stats[0, -1]
    if count < 1.0:
        raise DataError(f"{name}: CMVN stats have count {count} < 1")
    mean = stats[0, :-1] / count
    out = np.asarray(feats, dtype=np.float64) - mean
    if norm_vars:
        var = stats[1, :-1] / count - mean * mean
        out /= np.sqrt(np.maximum(var, 1e-20))
    return out.astype(np.float32)
