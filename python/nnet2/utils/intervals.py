"""Confidence intervals of error rates and accuracies: the one implementation every number we print uses
(`nnet2 score`, `nnet2 report`, the training log's validation accuracy, results/paper_tables.md).

A WER or a frame accuracy is a ratio of sums over *units* (utterances): errors / reference words, or
correct frames / frames. Frames of one utterance are not independent draws, so the unit of resampling is
the utterance (Bisani & Ney, "Bootstrap estimates for confidence intervals in ASR performance
evaluation", ICASSP 2004 -- the method of Kaldi's `compute-wer-bootci` and kaldialign's
`bootstrap_wer_ci`). The interval is the percentile bootstrap interval of the ratio, clipped to the
ratio's valid range (a WER is never negative; an accuracy lies in [0, 1]); the point value is the
measured ratio itself. kaldialign's `bootstrap_wer_ci` (and compute-wer-bootci) report instead the
bootstrap mean +- 1.96 standard deviations, which is symmetric and can leave the valid range (it gave
[-0.43, 2.43] for a 1.00 % WER on 300 words); kaldialign still supplies the per-utterance edit counts
(`nnet2.decode.score`), and tests/test_intervals.py checks that both bootstraps agree on the spread.

Two systems scored on the same units are compared with the paired bootstrap (Bisani & Ney, sec. 4):
the difference of the two ratios over the same resampled units; "significant" means its 95 % interval
excludes 0.

The benchmarks' repeated measurements (tools/bench_core.py's SGD / NG-SGD pairs) get the same percentile
bootstrap for their median (`median_interval`): each measurement is a unit.
"""

from __future__ import annotations

import dataclasses

import numpy as np

REPLICATIONS = 2000  # bootstrap replications, the one default
SEED = 0
LEVEL = 0.95


@dataclasses.dataclass(frozen=True)
class Interval:
    """A measured ratio `value` with its `level` confidence interval [lo, hi] (same scale as value)."""

    value: float
    lo: float
    hi: float
    level: float = LEVEL

    def scaled(self, k: float) -> "Interval":
        return Interval(self.value * k, self.lo * k, self.hi * k, self.level)

    def fmt(self, digits: int = 2) -> str:
        """'1.00 [0.00, 2.33]'."""
        return f"{self.value:.{digits}f} [{self.lo:.{digits}f}, {self.hi:.{digits}f}]"

    def excludes(self, x: float = 0.0) -> bool:
        return not (self.lo <= x <= self.hi)


def _resampled_sums(arrays: list[np.ndarray], replications: int, seed: int, chunk: int = 256) -> list[np.ndarray]:
    """For each array a [n], the sums of a over `replications` bootstrap resamples of the n units (the
    same resamples for every array: paired). Memory is O(chunk * n)."""
    n = len(arrays[0])
    rng = np.random.default_rng(seed)
    out = [np.empty(replications) for _ in arrays]
    p = np.full(n, 1.0 / n)
    for s in range(0, replications, chunk):
        m = min(chunk, replications - s)
        counts = rng.multinomial(n, p, size=m).astype(np.float64)  # [m, n]: how often each unit is drawn
        for a, o in zip(arrays, out):
            o[s:s + m] = counts @ a
    return out


def _check(num, den) -> tuple[np.ndarray, np.ndarray]:
    num, den = np.asarray(num, dtype=np.float64).ravel(), np.asarray(den, dtype=np.float64).ravel()
    if num.shape != den.shape or num.size == 0:
        raise ValueError(f"need equally many (> 0) numerators and denominators, got {num.size} and {den.size}")
    return num, den


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a), where=b > 0)


def ratio_interval(num, den, lower: float | None = 0.0, upper: float | None = None,
                   replications: int = REPLICATIONS, seed: int = SEED, level: float = LEVEL) -> Interval:
    """sum(num) / sum(den) over units, with its percentile-bootstrap interval over units, clipped to
    [lower, upper] (None: unbounded). E.g. WER: num = errors, den = reference words per utterance,
    lower 0, no upper bound (insertions); accuracy: num = correct, den = frames, [0, 1]."""
    num, den = _check(num, den)
    value = float(num.sum() / den.sum()) if den.sum() > 0 else 0.0
    sn, sd = _resampled_sums([num, den], replications, seed)
    r = _ratio(sn, sd)
    a = (1.0 - level) / 2
    lo, hi = (float(v) for v in np.quantile(r, [a, 1.0 - a]))
    lo, hi = min(lo, value), max(hi, value)
    if lower is not None:
        lo, hi = max(lo, lower), max(hi, lower)
    if upper is not None:
        lo, hi = min(lo, upper), min(hi, upper)
    return Interval(value, lo, hi, level)


def median_interval(values, replications: int = REPLICATIONS, seed: int = SEED, level: float = LEVEL) -> Interval:
    """The median of `values` (independent repeated measurements, e.g. the overheads of a benchmark's
    timing pairs) with its percentile-bootstrap interval over the values."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        raise ValueError("need at least one value")
    value = float(np.median(v))
    rng = np.random.default_rng(seed)
    meds = np.median(v[rng.integers(0, v.size, (replications, v.size))], axis=1)
    a = (1.0 - level) / 2
    lo, hi = (float(x) for x in np.quantile(meds, [a, 1.0 - a]))
    return Interval(value, min(lo, value), max(hi, value), level)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """System a minus system b on the same units: `diff` (with its interval) and the share of bootstrap
    resamples in which b is better than a (lower ratio if lower_is_better), Bisani & Ney's
    "probability of improvement"."""

    diff: Interval
    p_b_better: float

    @property
    def significant(self) -> bool:
        return self.diff.excludes(0.0)


def paired_comparison(num_a, num_b, den, lower_is_better: bool = True, replications: int = REPLICATIONS,
                      seed: int = SEED, level: float = LEVEL) -> Comparison:
    """Paired bootstrap of ratio_a - ratio_b where both systems share the units and denominators
    (e.g. the errors of two systems on the same test utterances, divided by the same reference words)."""
    num_a, den = _check(num_a, den)
    num_b, _ = _check(num_b, den)
    d = float((num_a.sum() - num_b.sum()) / den.sum()) if den.sum() > 0 else 0.0
    sa, sb, sd = _resampled_sums([num_a, num_b, den], replications, seed)
    diff = _ratio(sa, sd) - _ratio(sb, sd)
    a = (1.0 - level) / 2
    lo, hi = (float(v) for v in np.quantile(diff, [a, 1.0 - a]))
    better = np.mean(diff > 0) if lower_is_better else np.mean(diff < 0)
    return Comparison(Interval(d, min(lo, d), max(hi, d), level), float(better))


def grouped_sums(groups, *values) -> tuple[np.ndarray, ...]:
    """Per-unit sums of per-frame `values` (each [n]) for unit labels `groups` [n] (any integers), in
    the order of the sorted unique labels: e.g. correct frames and frames per utterance."""
    g = np.asarray(groups)
    _, inv = np.unique(g, return_inverse=True)
    k = int(inv.max()) + 1 if inv.size else 0
    return tuple(np.bincount(inv, weights=np.asarray(v, dtype=np.float64), minlength=k) for v in values)
