"""tools/bench_summary.py turns bench_core.py's JSON rows into tables. The NG-SGD overhead is reported both
as the ratio of the best SGD and best NG-SGD timings and as the median over the interleaved rounds' pairs;
this checks the pairing (round i of SGD with round i of NG-SGD) on hand-made rows. A check of our own tool."""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
import bench_summary as S  # noqa: E402


def row(sgd, ngd):
    return dict(net="pnorm", threads=1, minibatch=128, ours_sgd=max(sgd), ours_ngd=max(ngd), torch=None,
                torch_compiled=None, ratio_torch=None, ratio_torch_compiled=None, ceiling_frac=0.8,
                gemm_bound_frac=0.9, products_in_order_frac=0.85, ngd_overhead=max(sgd) / max(ngd) - 1,
                ngd_flop_share=0.334, samples=dict(sgd=sgd, ngd=ngd))


def test_the_overhead_median_pairs_each_round():
    # the bests pair round 2's SGD (130) with round 3's NG-SGD (100): 30%; the rounds' own pairs give 25%,
    # 62.5% and 0%, median 25%
    r = row([100.0, 130.0, 100.0], [80.0, 80.0, 100.0])
    assert S.paired_median_overhead(r) == pytest.approx(0.25)
    line = S.core_table([r])[2]
    assert line.endswith("| 80.0% | 90.0% | 85.0% | 30.0% | 33.4% | 0.90x | 25.0% | - |"), line


def test_rows_without_samples_leave_the_median_blank():
    r = row([100.0], [80.0])
    del r["samples"]
    assert S.paired_median_overhead(r) is None
    assert S.core_table([r])[2].endswith("| - | - |")


def test_rows_from_before_the_in_order_products_leave_that_column_blank():
    r = row([100.0], [80.0])
    del r["products_in_order_frac"]
    assert "| 80.0% | 90.0% | - | 25.0% |" in S.core_table([r])[2]


def test_the_short_pairs_column_gives_median_and_interval_over_the_floor():
    r = row([100.0], [80.0])
    r.update(ngd_pairs=[0.4] * 30, ngd_overhead_pairs_median=0.3674, ngd_overhead_pairs_ci95=[0.334, 0.4008])
    assert S.core_table([r])[2].endswith("| 1.10x [1.00-1.20x] (30 pairs) |")
