"""tools/ngd_flops.py against FLOP counts worked out by hand (a consistency check of our own counting of
the operations in Kaldi's OnlinePreconditioner, src/nnet2/nnet-precondition-online.cc; the arithmetic for
each case is spelled out beside it)."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
import ngd_flops as F  # noqa: E402


def test_one_side_by_hand():
    # N=4, D=6, R=2: H 2*4*6*2=96, X-HW 96, row norms 2*4*6=48 -> 240 every minibatch.
    assert F.per_call_flops(4, 6, 2) == 240
    # N <= D: J 96, K = J J^T lower 2*3*6=36, L = H^T H lower 2*3*4=24, B 2*2*6=24, W' 2*4*6=48, eig 9*8=72.
    assert F.update_flops(4, 6, 2) == 96 + 36 + 24 + 24 + 48 + 72
    # N > D: [L; K] = [W; J] J^T in one product, 4*R^2*D = 96 (J 2*8*6*2=192, B 24, W' 48, eig 72).
    assert F.update_flops(8, 6, 2) == 192 + 96 + 24 + 48 + 72
    # Steady state, period 2: half the minibatches skip (240 + trace 48), half update (240 + 300).
    assert F.side_flops(4, 6, 2, 2) == pytest.approx(0.5 * 288 + 0.5 * 540)
    # An iteration of 12 minibatches, period 2: 10 initial updates + 1 more = 11 updates, 1 skip, plus the 3
    # initialization steps: (288 + 11 * 540 + 3 * 540) / 12 = 654.
    assert F.updates_per_minibatch(2, 12) == (pytest.approx(11 / 12), pytest.approx(3 / 12))
    assert F.side_flops(4, 6, 2, 2, minibatches=12) == pytest.approx(654)
    # The rank is capped at D - 1 (D=3, R=5 counts as R=2); D=1 is the identity (row norms only).
    assert F.side_flops(4, 3, 5, 1) == F.side_flops(4, 3, 2, 1)
    assert F.side_flops(4, 1, 5, 1) == 8


def test_layer_and_share_by_hand():
    # N=4, I=5, O=6, ranks 2, period 2: both sides are the N=4, D=6, R=2 case above (414 each); not factored
    # (N O = 24 <= O I + N (I+1) = 54). SGD: 6*4*6*5 + 2*4*6 = 768 (4*... + 48 = 528 for the first layer).
    assert F.layer_ngd_flops(4, 5, 6, 2, 2, 2) == pytest.approx(828)
    assert F.layer_sgd_flops(4, 5, 6, True) == 768 and F.layer_sgd_flops(4, 5, 6, False) == 528
    assert F.ngd_flop_share([(5, 6), (5, 6)], 4, 2, 2, 2) == pytest.approx(2 * 828 / (528 + 768))


def test_factored_output_side_by_hand():
    # N=100, I=2, O=10, rank_in=1, rank_out=3, every minibatch updates (period 1, steady state).
    # Input side D=3, R=1: 2*100*3*1*2 + 2*100*3 = 1800; update (N > D): J 600, LK 4*1*3=12, B 6, W' 6, eig 9.
    inside = 1800 + 633
    # Output side D=10, R=3: 4*100*10*3 + 2*100*10 = 14000; update: J 6000, LK 4*9*10=360, B 60, W' 180, eig 243.
    kaldi_out = 14000 + 6843
    assert F.layer_ngd_flops(100, 2, 10, 1, 3, 1, form="kaldi") == pytest.approx(inside + kaldi_out)
    # Factored (N O = 1000 > O I + N (I+1) = 320): minus X - H W (6000), plus T = H^T X_in 2*3*100*3=1800 and
    # W^T T 2*10*3*3=180, plus H M 2*100*9=1800, row dots 2*100*3=600 and M = W W^T 2*9*10=180 per update.
    assert F.factored(100, 2, 10)
    assert F.layer_ngd_flops(100, 2, 10, 1, 3, 1) == pytest.approx(inside + kaldi_out - 6000 + 1980 + 2580)
