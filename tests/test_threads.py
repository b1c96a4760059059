"""Two threads compute what one thread computes. The core hands OpenBLAS's parallel jobs to its own OpenMP
threads (csrc/math/blas.cc: OmpThreadsCallback); a job handed to the wrong thread, or two jobs of one product
queued on the same thread, would give wrong numbers or hang. Run
in a child process with a timeout, so a hang fails the test instead of the suite. Consistency checks of our
threading, not Kaldi checks."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap

import pytest

from conftest import subprocess_pythonpath

SCRIPT = textwrap.dedent("""
    import numpy as np
    from nnet2 import _core
    from nnet2.nnet.ngd_config import KALDI_SCRIPTS
    from nnet2.nnet.nnet import init_nnet_from_config

    rng = np.random.default_rng(0)
    # small and large products, thin NG-SGD-like shapes included
    for m, n, k in [(128, 20, 361), (128, 2000, 80), (256, 2000, 360), (1024, 1024, 1024), (37, 3001, 517)]:
        x = rng.standard_normal((m, k)).astype(np.float32)
        W = rng.standard_normal((n, k)).astype(np.float32)
        b = rng.standard_normal(n).astype(np.float32)
        out = []
        for t in (1, 2, 1, 2):
            _core.set_num_threads(t)
            y = np.empty((m, n), np.float32)
            _core.affine_forward(x, W, b, y)
            out.append(y)
            assert _core.get_num_threads() == t, (t, _core.get_num_threads())
        np.testing.assert_allclose(out[1], out[0], rtol=1e-5, atol=1e-4)
        assert np.array_equal(out[0], out[2]) and np.array_equal(out[1], out[3]), "not deterministic"

    # 50 outputs, not more: the output layer's derivative rows are e_y - softmax, so its Fisher estimate
    # has about one equal eigenvalue per label seen, and a rank-80 estimate of 300 outputs (128 frames, ~100
    # labels) cuts through that degenerate eigenspace: which 80 directions it keeps then depends on the
    # rounding of the products, and one and two threads differed by 0.25% after the first step (seen on an
    # AMD Zen 5 CPU, as did the AVX-512 and portable paths on one thread). With 50 outputs the rank is 49 and
    # the kept space is fixed (all but the all-ones direction, which every row is orthogonal to): the two
    # thread counts then agree to about 1e-7.
    cfg = "\\n".join(
        ["SpliceComponent input-dim=40 left-context=2 right-context=2"]
        + [f"AffineComponentPreconditionedOnline input-dim={d} output-dim=1000 learning-rate=0.001 "
           f"param-stddev={d ** -0.5} bias-stddev=0.5 {KALDI_SCRIPTS.config_line()}\\n"
           "PnormComponent input-dim=1000 output-dim=100 p=2\\nNormalizeComponent dim=100"
           for d in (200, 100)]
        + ["AffineComponentPreconditionedOnline input-dim=100 output-dim=50 learning-rate=0.001 param-stddev=0 "
           f"bias-stddev=0 {KALDI_SCRIPTS.config_line()}", "SoftmaxComponent dim=50"])
    X = rng.standard_normal((20 * 128, 200)).astype(np.float32)
    y = rng.integers(0, 50, 20 * 128).astype(np.int32)
    params = []
    for t in (1, 2):
        _core.set_num_threads(t)
        nnet = init_nnet_from_config(cfg, seed=1)
        for s in range(0, len(y), 128):
            nnet.train_step(X[s:s + 128], y[s:s + 128])
        params.append(nnet.params.copy())
    np.testing.assert_allclose(params[1], params[0], rtol=1e-3, atol=1e-5)
    print("ok")
""")


def test_two_threads_compute_what_one_does():
    p = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, PYTHONPATH=subprocess_pythonpath()))
    assert p.returncode == 0 and "ok" in p.stdout, p.stdout + p.stderr


def test_thread_count_capped_by_openmp_limit():
    """With OMP_THREAD_LIMIT=1 OpenMP cannot give the two-thread team a two-thread OpenBLAS job hand-off
    needs: the core caps its thread count at the limit instead of hanging on a big product."""
    script = textwrap.dedent("""
        import numpy as np
        from nnet2 import _core
        _core.set_num_threads(2)
        assert _core.get_num_threads() == 1, _core.get_num_threads()
        x = np.ones((1024, 1024), np.float32)
        y = np.empty((1024, 1024), np.float32)
        _core.affine_forward(x, x, np.zeros(1024, np.float32), y)
        assert np.all(y == 1024), y[0, :4]
        print("ok")
    """)
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, PYTHONPATH=subprocess_pythonpath(), OMP_THREAD_LIMIT="1"))
    assert p.returncode == 0 and "ok" in p.stdout, p.stdout + p.stderr


@pytest.mark.skipif(platform.machine() != "x86_64", reason="OpenBLAS's x86-64 kernel names")
def test_blas_kernel_names_what_the_environment_forces():
    """_core.blas_kernel() reports OpenBLAS's choice (some machines force an older family through
    OPENBLAS_CORETYPE, which the trainer's log and tools/bench_core.py then name): here forced to Haswell
    (AVX2) in a child process, as some of our machines do, and left to OpenBLAS's detection in another."""
    code = "from nnet2 import _core; print(_core.blas_kernel())"
    env = dict(os.environ, PYTHONPATH=subprocess_pythonpath())
    forced = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env=dict(env, OPENBLAS_CORETYPE="Haswell"))
    assert forced.returncode == 0 and forced.stdout.strip() == "Haswell", forced.stdout + forced.stderr
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("OPENBLAS_L2_SIZE", None)
    detected = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert detected.returncode == 0 and detected.stdout.strip() != "", detected.stdout
