"""tools/scaling_model.py (alpha-beta ring-allreduce speed-up model, its fits) and tools/bench_allreduce.py:
formulas on hand-computed cases, fits recovering known parameters, the paper fit reproducing the paper's
speed-ups. No wall-clock assertions."""

import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import subprocess_pythonpath

TOOLS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools")
sys.path.insert(0, TOOLS)

import scaling_model as sm  # noqa: E402


def test_paper_network_parameter_count():
    # 440*2048+2048 + 5*(2048*2048+2048) + 2048*8806+8806
    assert sm.mlp_params(*sm.PAPER_NET) == 903168 + 5 * 4196352 + 18043494 == 39928422


def test_mlp_params_matches_the_core_network():
    from nnet2.nnet.nnet import init_nnet_from_config

    nnet = init_nnet_from_config(sm.sigmoid_config(7, [5, 6], 3, ngd=False), seed=0)
    assert nnet.num_params() == sm.mlp_params(7, [5, 6], 3) == 7 * 5 + 5 + 5 * 6 + 6 + 6 * 3 + 3


def test_ring_allreduce_hand_computed():
    assert sm.ring_allreduce_seconds(1, 1e9, 1e-3, 1e-9) == 0.0
    # N = 4: 6 steps of alpha, 2*3/4 = 1.5 passes of the bytes
    assert sm.ring_allreduce_seconds(4, 1e6, 1e-5, 1e-9) == pytest.approx(6e-5 + 1.5e-3, rel=1e-12)
    np.testing.assert_allclose(sm.ring_allreduce_seconds(np.array([2, 8]), 8e6, 0.0, 1e-9), [8e-3, 14e-3])


def test_speedup_hand_computed():
    # T_c = 0.1 s, N = 2, B = 4 MB at 1 GB/s -> T_ar = 1 * 4e-3 s; K = 10 -> 4e-4 s per minibatch
    s = sm.speedup(2, t_compute=0.1, nbytes=4e6, alpha=0.0, beta=1e-9, k=10)
    assert s == pytest.approx(2 * 0.1 / (0.1 + 4e-4), rel=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 64])
def test_never_averaging_gives_n(n):
    assert sm.speedup(n, t_compute=0.02, nbytes=1e8, alpha=1.0, beta=1.0, k=math.inf) == pytest.approx(n)


@pytest.mark.parametrize("n", [2, 4, 32])
def test_zero_compute_gives_zero(n):
    assert sm.speedup(n, t_compute=0.0, nbytes=1e6, alpha=1e-6, beta=1e-9, k=10) == 0.0


def test_plain_model_is_the_closed_form_and_independent_of_m(rng):
    for _ in range(20):
        n, t_c, b = int(rng.integers(2, 100)), float(rng.uniform(1e-3, 1)), float(rng.uniform(1e3, 1e9))
        alpha, beta, k = float(rng.uniform(0, 1e-3)), float(rng.uniform(0, 1e-9)), int(rng.integers(1, 50))
        tar = 2 * (n - 1) * alpha + 2 * (n - 1) / n * beta * b
        want = n * t_c / (t_c + tar / k)
        for m in (1.0, 1234.0):
            got = sm.speedup(n, t_compute=t_c, nbytes=b, alpha=alpha, beta=beta, k=k, minibatches=m)
            assert got == pytest.approx(want, rel=1e-12)


def test_time_sharing_and_fixed_cost():
    kw = dict(nbytes=1.0, alpha=0.0, beta=0.0, k=math.inf)
    assert sm.speedup(4, t_compute=1.0, cores=2, **kw) == pytest.approx(2.0)
    assert sm.speedup(2, t_compute=1.0, cores=2, **kw) == pytest.approx(2.0)
    # Amdahl: work W = M T_c = 90 s parallel, F = 10 s serial -> S(10) = 100 / (9 + 10)
    assert sm.speedup(10, t_compute=0.9, minibatches=100, fixed=10.0, **kw) == pytest.approx(100 / 19)
    # eps: compute 25% slower whenever N > 1
    assert sm.speedup(4, t_compute=1.0, eps=0.25, **kw) == pytest.approx(4 / 1.25)


def test_fit_recovers_alpha_beta_exactly():
    ns = np.repeat([2, 4, 8], 4)
    b = np.tile([4e5, 4e6, 4e7, 1.6e8], 3)
    t = sm.ring_allreduce_seconds(ns, b, 7e-6, 2.5e-10)
    alpha, beta = sm.fit_alpha_beta(ns, b, t)
    assert alpha == pytest.approx(7e-6, rel=1e-9) and beta == pytest.approx(2.5e-10, rel=1e-9)


def test_fit_recovers_alpha_beta_from_noisy_data(rng):
    ns = np.repeat([2, 4, 8, 16], 5)
    b = np.tile([4e4, 4e5, 4e6, 4e7, 1.6e8], 4)
    t = sm.ring_allreduce_seconds(ns, b, 2e-5, 1e-10) * np.exp(rng.normal(0, 0.01, ns.size))
    alpha, beta = sm.fit_alpha_beta(ns, b, t)
    assert alpha == pytest.approx(2e-5, rel=0.05) and beta == pytest.approx(1e-10, rel=0.05)


def test_fit_keeps_parameters_non_negative():
    # pure bandwidth data with a little downward bias at small sizes would give alpha < 0 unconstrained
    ns = np.array([2, 2, 2, 4, 4, 4])
    b = np.array([1e3, 1e6, 1e8, 1e3, 1e6, 1e8])
    t = sm.ring_allreduce_seconds(ns, b, 0.0, 1e-9) * np.array([0.5, 1, 1, 0.5, 1, 1])
    alpha, beta = sm.fit_alpha_beta(ns, b, t)
    assert alpha >= 0 and beta > 0


@pytest.mark.parametrize("n,b,t", [([1, 2], [1e6, 1e6], [1e-3, 1e-3]), ([2, 4], [1e6, 1e6], [1e-3, 0.0]),
                                   ([2], [1e6], [1e-3]), ([2, 4], [1e6, 1e6, 1e6], [1e-3, 1e-3, 1e-3])])
def test_fit_rejects_bad_measurements(n, b, t):
    with pytest.raises(ValueError):
        sm.fit_alpha_beta(n, b, t)


def test_paper_fit_reproduces_the_paper_speedups():
    fit = sm.fit_paper()
    for r in fit["rows"]:
        # the full model (alpha, beta, eps, F: 4 parameters for 10 numbers) within 2% of every speed-up
        assert r["full_speedup"] == pytest.approx(r["paper_speedup"], rel=0.02), r
        if r["n"] > 1:
            assert r["pred_comm"] == pytest.approx(r["paper_comm"], rel=0.10), r
            # communication alone does not explain the paper's losses
            assert r["plain_speedup"] > r["paper_speedup"] * 1.2, r
    assert fit["alpha"] >= 0 and 0.2e9 < 1 / fit["beta"] < 5e9  # sub-GB/s: host-staged MPI over InfiniBand
    assert 0.2 < fit["eps"] < 0.4 and fit["fixed"] > 0


def test_paper_speedups_do_not_depend_on_the_epoch_length_assumption():
    a, b = sm.fit_paper(hours=300), sm.fit_paper(hours=150)
    for ra, rb in zip(a["rows"], b["rows"]):
        assert ra["full_speedup"] == pytest.approx(rb["full_speedup"], rel=1e-9)
        assert ra["plain_speedup"] == pytest.approx(rb["plain_speedup"], rel=1e-9)
    assert b["beta"] == pytest.approx(2 * a["beta"], rel=1e-9)  # half the rounds carry the same comm time


def test_script_writes_markdown_json_and_plot(tmp_path):
    meas = {"ranks": {"1": {"seconds": 10.0, "avg_seconds": 0.0, "avg_rounds": 10, "frames": 25600},
                      "2": {"seconds": 5.5, "avg_seconds": 0.4, "avg_rounds": 5, "frames": 25600}},
            "params": 864261, "minibatch": 256, "k": 10}
    mpath = tmp_path / "measured.json"
    mpath.write_text(json.dumps(meas))
    env = dict(os.environ, PYTHONPATH=subprocess_pythonpath())
    p = subprocess.run([sys.executable, os.path.join(TOOLS, "scaling_model.py"), "--compute-ms", "20",
                        "--measured", str(mpath), "--json", str(tmp_path / "s.json"), "--plot",
                        str(tmp_path / "s.png")], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "projections" in p.stdout and "| 32 | 16.70 |" in p.stdout and "| 2 | 5.50 |" in p.stdout
    with open(tmp_path / "s.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    out = json.loads((tmp_path / "s.json").read_text())
    assert out["ours"]["t_compute"] == pytest.approx(0.02) and len(out["paper_fit"]["rows"]) == 6
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_bench_allreduce_under_mpiexec(tmp_path):
    if not (shutil.which("mpiexec") or os.path.exists(os.path.join(os.path.dirname(sys.executable), "mpiexec"))):
        pytest.skip("mpiexec not found")
    env = dict(os.environ, PYTHONPATH=subprocess_pythonpath())
    out = tmp_path / "ar.json"
    p = subprocess.run([sys.executable, os.path.join(TOOLS, "bench_allreduce.py"), "--ranks", "2", "--params",
                        "0.001", "0.01", "--repeat", "2", "--min-seconds", "0", "--json", str(out)],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    res = json.loads(out.read_text())
    assert [(r["n"], r["params"], r["bytes"]) for r in res["rows"]] == [(2, 1000, 4000), (2, 10000, 40000)]
    assert all(r["seconds"] > 0 and len(r["repeats"]) == 2 for r in res["rows"])
    assert res["fit"]["alpha"] >= 0 and res["fit"]["beta"] >= 0
    assert "| 0.001 M |" in p.stdout and "α =" in p.stdout


def test_measured_runs_one_and_two_ranks():
    meas = sm.run_measured([1, 2], frames=6000, epochs=1)
    assert set(meas["ranks"]) == {1, 2}
    assert all(v["seconds"] > 0 and v["frames"] > 5000 for v in meas["ranks"].values())
    assert meas["ranks"][2]["avg_rounds"] >= 1
