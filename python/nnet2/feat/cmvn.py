"""Cepstral mean (and variance) normalization, as Kaldi's `src/transform/cmvn.cc` (AccCmvnStats,
ApplyCmvn), in the same float/double arithmetic.

Stats: float64 (2, D+1): row 0 = per-dim sums, last column = frame count (sum of weights);
row 1 = per-dim sums of squares, last column 0.
"""

from __future__ import annotations

import numpy as np

from nnet2.utils.errors import DataError


def cmvn_stats(feats: np.ndarray, weights: np.ndarray | None = None,
               into: np.ndarray | None = None) -> np.ndarray:
    """AccCmvnStats: (T, D) float features (and optional per-frame weights (T,); frames with weight
    <= 0 are skipped) -> float64 (2, D+1) stats, added to `into` if given (as Kaldi accumulates a
    speaker's utterances into one matrix). As Kaldi: x*w and x*x*w are formed in float and added
    to the double accumulators frame by frame (cumsum keeps that order)."""
    x = np.asarray(feats, dtype=np.float32)
    st = np.zeros((2, x.shape[1] + 1), dtype=np.float64) if into is None else into
    if st.shape != (2, x.shape[1] + 1):
        raise DataError(f"features of dimension {x.shape[1]} do not match stats of shape {st.shape}")
    if weights is None:
        w = np.ones(x.shape[0], np.float32)
    else:
        w = np.asarray(weights, np.float32)
        keep = w > 0
        x, w = x[keep], w[keep]
    if x.shape[0] == 0:
        return st
    xw = (x * w[:, None]).astype(np.float32)
    x2w = ((x * x).astype(np.float32) * w[:, None]).astype(np.float32)
    st[0, :-1] = np.cumsum(np.vstack([st[0, :-1], xw.astype(np.float64)]), axis=0)[-1]
    st[1, :-1] = np.cumsum(np.vstack([st[1, :-1], x2w.astype(np.float64)]), axis=0)[-1]
    st[0, -1] = np.cumsum(np.concatenate([[st[0, -1]], w.astype(np.float64)]))[-1]
    return st


def apply_cmvn(feats: np.ndarray, stats: np.ndarray, norm_vars: bool = False,
               name: str = "<utt>") -> np.ndarray:
    """ApplyCmvn: normalize (T, D) float32 features with (2, D+1) stats. Mean only:
    x + float(-1/count) * sum (offset formed in float); with norm_vars: x * scale + offset, where
    scale = 1/sqrt(max(E[x^2] - mean^2, 1e-20)), offset = -mean*scale (double, stored as float).
    Returns float32 (T, D)."""
    stats = np.asarray(stats, dtype=np.float64)
    x = np.asarray(feats, dtype=np.float32)
    d = x.shape[1]
    if stats.shape != (2, d + 1):
        raise DataError(f"{name}: CMVN stats have shape {stats.shape}, features need (2, {d + 1})")
    count = stats[0, -1]
    if count < 1.0:
        raise DataError(f"{name}: insufficient stats for cepstral mean and variance normalization: "
                        f"count = {count:g}")
    if not norm_vars:
        alpha = np.float32(-1.0 / count)
        offset = (np.float64(alpha) * stats[0, :-1]).astype(np.float32)
        return (x + offset).astype(np.float32)
    mean = stats[0, :-1] / count
    var = np.maximum(stats[1, :-1] / count - mean * mean, 1.0e-20)
    scale = 1.0 / np.sqrt(var)
    if not np.all(np.isfinite(scale)):
        raise DataError(f"{name}: NaN or infinity in cepstral mean/variance computation")
    offset = -(mean * scale)
    return ((x * scale.astype(np.float32)).astype(np.float32) + offset.astype(np.float32)).astype(np.float32)
