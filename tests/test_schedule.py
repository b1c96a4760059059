import math

import pytest

from nnet2.train.schedule import NewbobState, exponential_lr, worker_lr


def test_exponential_matches_kaldi_formula():
    # Kaldi: ($x >= $n ? $f : $i*exp($x*log($f/$i)/$n))
    i, f, n = 0.02, 0.002, 7
    for x in range(n + 2):
        ref = f if x >= n else i * math.exp(x * math.log(f / i) / n)
        assert exponential_lr(x, n, i, f) == pytest.approx(ref, rel=1e-12)
    assert exponential_lr(0, n, i, f) == i
    assert exponential_lr(n - 1, n, i, f) > f  # the last iteration is one step above lrF
    assert exponential_lr(n, n, i, f) == f
    # geometric: constant ratio between consecutive iterations
    r = [exponential_lr(x + 1, n, i, f) / exponential_lr(x, n, i, f) for x in range(n - 1)]
    assert max(r) == pytest.approx(min(r), rel=1e-12) == pytest.approx((f / i) ** (1 / n))


def test_exponential_single_iteration_uses_initial():
    assert exponential_lr(0, 1, 0.1, 0.01) == 0.1


def test_worker_lr_scales_by_n():
    assert worker_lr(0.008, 8, True) == pytest.approx(0.064)
    assert worker_lr(0.008, 8, False) == 0.008
    assert worker_lr(0.008, 1, True) == 0.008


def test_newbob_constant_then_halving_then_stop():
    s = NewbobState(lr=0.32, best_acc=0.50)  # best_acc = the initial model's accuracy (CROSSVAL PRERUN)
    assert s.end_epoch(0.60) and s.lr == 0.32 and not s.halving  # +10%: keep the rate
    assert s.end_epoch(0.62) and s.lr == 0.32 and not s.halving  # +2%
    assert s.end_epoch(0.624) and s.halving and s.lr == 0.16 and not s.stop  # +0.4% < 0.5%: start halving
    assert s.end_epoch(0.634) and s.lr == 0.08 and not s.stop  # +1% while halving: keep halving, go on
    assert s.end_epoch(0.6345) and s.stop  # +0.05% < 0.1% while halving: stop
    assert s.best_acc == pytest.approx(0.6345)


def test_newbob_gain_just_above_thresholds():
    s = NewbobState(lr=1.0, best_acc=0.5)
    assert s.end_epoch(0.5 + 0.0051) and not s.halving and s.lr == 1.0
    s.end_epoch(0.5051 + 0.0049)
    assert s.halving and s.lr == 0.5 and not s.stop
    s.end_epoch(0.51 + 0.0011)
    assert not s.stop and s.lr == 0.25


def test_newbob_rejects_a_worse_epoch():
    s = NewbobState(lr=0.1, best_acc=0.70)
    assert s.end_epoch(0.75)
    assert not s.end_epoch(0.74)  # worse: rejected, the best stays, its gain counts as 0 -> halving
    assert s.best_acc == 0.75 and s.halving and s.lr == pytest.approx(0.05) and not s.stop
    assert not s.end_epoch(0.73)  # rejected again while halving: gain 0 < 0.1% -> stop
    assert s.stop and s.best_acc == 0.75


def test_newbob_first_epoch_without_reference_is_accepted():
    s = NewbobState(lr=0.1)
    assert s.end_epoch(0.3) and s.best_acc == 0.3 and s.lr == 0.1


def test_newbob_state_round_trip():
    s = NewbobState(lr=0.25, halving=True, best_acc=0.6, stop=False)
    assert NewbobState.from_dict(s.to_dict()) == s
