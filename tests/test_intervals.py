"""The one confidence-interval implementation (nnet2.utils.intervals): hand-computed cases, valid ranges,
coverage on simulated data with a known rate, consistency with kaldialign's bootstrap (a library we did
not write: a consistency check of the spread, not proof of identity -- kaldialign reports mean +- 1.96 sd),
and `nnet2 score` / `nnet2 report` printing the same interval for the same file."""

import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import subprocess_pythonpath

from nnet2.utils import intervals as I


def test_constant_ratio_has_a_point_interval():
    # every utterance has 1 error in 10 words: every resample gives exactly 10%
    ci = I.ratio_interval([1] * 20, [10] * 20)
    assert (ci.value, ci.lo, ci.hi) == (0.1, 0.1, 0.1)
    assert ci.scaled(100).fmt() == "10.00 [10.00, 10.00]"


def test_grouped_sums_hand_computed():
    correct, frames = I.grouped_sums([7, 7, 3, 9, 3, 3], [1, 0, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1])
    np.testing.assert_array_equal(correct, [2, 1, 1])  # units 3, 7, 9
    np.testing.assert_array_equal(frames, [3, 2, 1])


def test_intervals_stay_in_the_valid_range():
    # 3 errors in 300 words on 100 utterances: the normal approximation would go below 0
    err = np.zeros(100)
    err[[5, 50, 70]] = 1
    ci = I.ratio_interval(err, np.full(100, 3.0), lower=0.0)
    assert ci.value == pytest.approx(0.01) and ci.lo == 0.0 and 0.01 < ci.hi < 0.03
    acc = I.ratio_interval(np.full(50, 10.0) - (np.arange(50) == 0), np.full(50, 10.0), lower=0.0, upper=1.0)
    assert acc.hi == 1.0 and acc.lo < acc.value < 1.0


def test_coverage_on_simulated_utterances():
    """95% intervals cover the true rate in about 95% of simulated test sets (seeded simulation)."""
    rng = np.random.default_rng(1)
    p, hits, sims = 0.2, 0, 300
    for s in range(sims):
        words = rng.integers(2, 9, 60)
        err = rng.binomial(words, p)
        ci = I.ratio_interval(err, words, replications=500, seed=s)
        hits += ci.lo <= p <= ci.hi
    assert 0.90 <= hits / sims <= 0.99, hits / sims


def test_spread_agrees_with_kaldialign_bootstrap():
    kaldialign = pytest.importorskip("kaldialign")
    rng = np.random.default_rng(3)
    refs, hyps = [], []
    for u in range(80):
        ref = [f"w{int(x)}" for x in rng.integers(0, 10, rng.integers(3, 8))]
        hyp = [w if rng.random() > 0.15 else "x" for w in ref]
        refs.append(ref)
        hyps.append(hyp)
    ka = kaldialign.bootstrap_wer_ci(refs, hyps, replications=4000, seed=0)
    err = [kaldialign.edit_distance(r, h)["total"] for r, h in zip(refs, hyps)]
    ours = I.ratio_interval(err, [len(r) for r in refs], replications=4000)
    # kaldialign: mean +- 1.96 sd; ours: 2.5/97.5 percentiles: the widths agree within 15%
    assert (ours.hi - ours.lo) == pytest.approx(2 * ka["ci95"], rel=0.15)
    assert ours.value == pytest.approx(sum(err) / sum(len(r) for r in refs))


def test_paired_comparison():
    rng = np.random.default_rng(5)
    words = rng.integers(3, 8, 200).astype(float)
    a = rng.binomial(words.astype(int), 0.10).astype(float)
    same = I.paired_comparison(a, a, words)
    assert same.diff.value == 0.0 and not same.significant
    b = np.maximum(a - rng.binomial(1, 0.5, 200), 0)  # b fixes about half an error per utterance
    c = I.paired_comparison(a, b, words)
    assert c.diff.value > 0 and c.significant and c.p_b_better > 0.99
    # a small difference on few units is not significant
    d = I.paired_comparison(a[:20], np.where(np.arange(20) == 3, np.maximum(a[:20] - 1, 0), a[:20]), words[:20])
    assert not d.significant


def test_score_and_report_print_the_same_interval(tmp_path):
    """The numbers of the issue: 3 errors in 300 words. `nnet2 score` and the report table agree and the
    interval is never negative."""
    from nnet2.decode.score import score_texts

    ref, hyp = tmp_path / "ref.txt", tmp_path / "hyp.txt"
    lines_r, lines_h = [], []
    for u in range(100):
        words = ["one", "two", "three"]
        lines_r.append(f"u{u:03d} " + " ".join(words))
        lines_h.append(f"u{u:03d} " + " ".join(words if u not in (4, 40, 77) else words[:2]))
    ref.write_text("\n".join(lines_r) + "\n")
    hyp.write_text("\n".join(lines_h) + "\n")
    ci = score_texts(str(ref), str(hyp)).interval()
    assert ci.value == 1.0 and ci.lo == 0.0
    p = subprocess.run([sys.executable, "-m", "nnet2", "score", str(ref), str(hyp)], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=subprocess_pythonpath()))
    assert p.returncode == 0, p.stderr
    assert f"%WER 1.00 95% CI [ {ci.lo:.2f}, {ci.hi:.2f} ]" in p.stdout
    from nnet2.report import collect
    import json

    exp = tmp_path / "exp"
    (exp / "state").mkdir(parents=True)
    (exp / "decode_test").mkdir()
    (exp / "decode_test" / "hyp.txt").write_text(hyp.read_text())
    (exp / "state" / "1.json").write_text(json.dumps({"identity": {"num_workers": 1}, "history": [
        {"iter": 0, "epoch": 0, "frames": 10, "seconds": 1.0, "train_objf": -1.0, "valid_acc": 0.5}]}))
    r = collect("x", str(exp), str(ref))
    assert (r.wer, r.wer_lo, r.wer_hi) == (ci.value, ci.lo, ci.hi)


def test_report_names_the_best_epoch_when_the_last_overfits(tmp_path):
    import json

    from nnet2.report import acc_text, collect

    (tmp_path / "state").mkdir()
    hist = [{"iter": e, "epoch": e, "frames": 10, "seconds": 1.0, "train_objf": -1.0, "valid_acc": a,
             "valid_acc_lo": a - 0.01, "valid_acc_hi": a + 0.01} for e, a in enumerate([0.5, 0.7, 0.6])]
    (tmp_path / "state" / "3.json").write_text(json.dumps({"identity": {"num_workers": 2}, "history": hist}))
    r = collect("x", str(tmp_path), None)
    assert (r.best_epoch, r.last_epoch, r.valid_acc) == (2, 3, 0.6)
    assert acc_text(r) == "60.00 [59.0, 61.0] (best 70.00 at epoch 2)"
    hist[2]["valid_acc"] = 0.8
    (tmp_path / "state" / "3.json").write_text(json.dumps({"identity": {"num_workers": 2}, "history": hist}))
    assert "best" not in acc_text(collect("x", str(tmp_path), None))


def test_median_interval_brackets_the_median_and_covers_the_true_one():
    vals = [0.30, 0.45, 0.38, 0.41, 0.36, 0.52, 0.39, 0.40, 0.37, 0.44]
    iv = I.median_interval(vals)
    assert iv.value == pytest.approx(0.395)
    assert min(vals) <= iv.lo <= iv.value <= iv.hi <= max(vals)
    assert I.median_interval(vals) == iv  # fixed seed: the same values give the same interval
    assert I.median_interval([0.4] * 5) == I.Interval(0.4, 0.4, 0.4)
    with pytest.raises(ValueError):
        I.median_interval([])
    # coverage on simulated measurements whose true median is 1: about 95% of the 95% intervals hold it
    rng = np.random.default_rng(1)
    hits = sum(I.median_interval(1 + 0.1 * rng.standard_normal(30), replications=500, seed=k).excludes(1.0) is False
               for k in range(200))
    assert 0.88 <= hits / 200 <= 0.995
