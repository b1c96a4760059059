"""tools/bench_core.py end to end on a tiny run (one thread, minibatch 16, no PyTorch): every row it writes
carries the step's rate, the ceiling, and the products-in-the-step's-order figures, and those are
consistent with each other. A smoke test of our own benchmark, not a speed test: nothing here depends on
how fast the machine is."""
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TOOL = os.path.join(HERE, "..", "tools", "bench_core.py")


@pytest.mark.parametrize("ngd", [False, True])
def test_a_tiny_run_writes_consistent_rows(tmp_path, ngd):
    out = tmp_path / "rows.json"
    cmd = [sys.executable, TOOL, "--net", "pnorm", "--minibatch", "16", "--threads", "1", "--no-torch",
           "--repeat", "1", "--seconds", "0.05", "--json", str(out)] + (["--ngd"] if ngd else [])
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "in order" in p.stdout
    (r,) = json.loads(out.read_text())
    assert r["ours_sgd"] > 0 and r["products_in_order_fps"] > 0 and r["sgemm_gflops"] > 0
    assert r["step_over_products"] == pytest.approx(r["ours_sgd"] / r["products_in_order_fps"])
    # both fractions count 6 x parameters per frame against the same ceiling
    assert r["products_in_order_frac"] / r["ceiling_frac"] == pytest.approx(1 / r["step_over_products"])
    assert (r["ours_ngd"] is not None) == ngd


def test_a_tiny_run_with_short_pairs_writes_them(tmp_path):
    out = tmp_path / "rows.json"
    cmd = [sys.executable, TOOL, "--net", "pnorm", "--minibatch", "16", "--threads", "1", "--no-torch", "--ngd",
           "--repeat", "1", "--seconds", "0.05", "--ngd-pairs", "4", "--ngd-block", "0.02", "--json", str(out)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "pairs of 0.02 s blocks" in p.stdout
    (r,) = json.loads(out.read_text())
    assert len(r["ngd_pairs"]) == 4 and r["ngd_pair_block_s"] == 0.02
    lo, hi = r["ngd_overhead_pairs_ci95"]
    assert lo <= r["ngd_overhead_pairs_median"] <= hi


def test_bad_pair_options_are_refused():
    p = subprocess.run([sys.executable, TOOL, "--ngd-pairs", "-1"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "--ngd-pairs must be >= 0" in p.stderr
    assert "Traceback" not in p.stderr
    p = subprocess.run([sys.executable, TOOL, "--ngd-pairs", "5"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "--ngd-pairs times NG-SGD: add --ngd" in p.stderr
