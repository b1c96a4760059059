"""Averaging checks that need several MPI ranks. Run by tests/test_averaging_mpi.py as
    mpiexec -n N python -m mpi4py tests/mpi/averaging_checks.py
(or `mpiexec -n 2 python -m mpi4py -m pytest tests/mpi/averaging_checks.py`). A failing assertion on
any rank aborts the whole job (python -m mpi4py) with a non-zero exit status."""

from __future__ import annotations

import hashlib
import os
import sys

import numpy as np

if os.path.exists(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python", "nnet2")) and \
        "PYTHONPATH" not in os.environ:  # run by hand from a source tree
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

from mpi4py import MPI  # noqa: E402

from nnet2.parallel.averager import BmufAverager, OverlapAverager, PlainAverager  # noqa: E402

comm = MPI.COMM_WORLD
rank, N = comm.Get_rank(), comm.Get_size()


def all_hashes(a: np.ndarray) -> list[str]:
    return comm.allgather(hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest())


def assert_identical(a: np.ndarray, what: str) -> None:
    h = all_hashes(a)
    assert len(set(h)) == 1, f"{what}: parameters differ across ranks: {h}"


def tiny_nnet(seed: int = 3):
    from nnet2.nnet.nnet import init_nnet_from_config

    return init_nnet_from_config(
        "SpliceComponent input-dim=3 left-context=1 right-context=1\n"
        "AffineComponent input-dim=9 output-dim=12 learning-rate=0.01 param-stddev=0.4 bias-stddev=0.2\n"
        "SigmoidComponent dim=12\n"
        "AffineComponent input-dim=12 output-dim=4 learning-rate=0.01 param-stddev=0.3 bias-stddev=0.1\n"
        "SoftmaxComponent dim=4\n", seed=seed)


def minibatch(step: int, r: int, size: int = 16):
    """The fixed minibatch of worker r at step `step` (every rank can make every rank's minibatch)."""
    g = np.random.default_rng([7, step, r])
    return g.standard_normal((size, 9)).astype(np.float32), g.integers(0, 4, size).astype(np.int32)


def test_plain_average_is_the_mean_and_bitwise_identical():
    p = np.random.default_rng([1, rank]).standard_normal(1001).astype(np.float32)
    allp = np.array(comm.allgather(p.copy()), dtype=np.float64)
    av = PlainAverager(comm)
    av.block_end(p)
    assert_identical(p, "plain average")
    np.testing.assert_allclose(p, allp.mean(axis=0), rtol=1e-6, atol=1e-6)
    assert av.rounds == 1


def test_eq1_model_averaging_after_every_step_equals_summed_gradient():
    """Su & Chen eq. 1: N workers with lr*N averaging after every minibatch == one worker whose step is
    lr times the summed gradient of the same N minibatches (plain SGD, gradient summed over frames)."""
    lr = 0.01
    workers, ref = tiny_nnet(), tiny_nnet()
    np.testing.assert_array_equal(workers.params, ref.params)
    workers.set_learning_rate(lr * N)
    ref.set_learning_rate(lr)
    av = PlainAverager(comm)
    for step in range(6):
        X, y = minibatch(step, rank)
        workers.train_step(X, y)
        av.block_end(workers.params)
        assert_identical(workers.params, f"step {step}")
        batches = [minibatch(step, r) for r in range(N)]
        ref.train_step(np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches]))
        np.testing.assert_allclose(workers.params, ref.params, rtol=1e-4, atol=2e-6,
                                   err_msg=f"eq. 1 fails at step {step}")
    # ... and the parameters did move (the check is not vacuous)
    assert np.abs(np.asarray(workers.params) - np.asarray(tiny_nnet().params)).max() > 1e-3


def _train_blocks(averager, steps_per_block=3, blocks=4):
    net = tiny_nnet()
    net.set_learning_rate(0.02)
    averager.start(net.params)
    s = 0
    for b in range(blocks):
        for _ in range(steps_per_block):
            net.train_step(*minibatch(s, rank))
            s += 1
        if b + 1 < blocks:
            averager.block_end(net.params)
        else:
            averager.finish(net.params)
        assert_identical(net.params, f"{averager.kind} block {b}")
    return np.asarray(net.params).copy()


def test_bmuf_without_momentum_equals_plain_averaging():
    """BMUF with block momentum 0 and block LR 1 is plain averaging, bitwise (consistency check)."""
    plain = _train_blocks(PlainAverager(comm))
    for nesterov in (True, False):
        bmuf = _train_blocks(BmufAverager(comm, block_momentum=0.0, block_lr=1.0, nesterov=nesterov))
        np.testing.assert_array_equal(bmuf, plain)


def test_bmuf_hand_computed_chen_huo_example():
    """Chen & Huo (ICASSP 2016) eqs. for N=2 at their default block momentum 1 - 1/N = 0.5, block LR 1,
    worked out by hand (independent of the implementation):
      W0 = (1, 0), Delta0 = 0.
      block 1: both start at W0; local steps r0 (0.2, 0.4), r1 (0.6, -0.2): W_avg = (1.4, 0.1),
               G = (0.4, 0.1), Delta1 = (0.4, 0.1), W1 = (1.4, 0.1);
               start of block 2: Nesterov W1 + 0.5 Delta1 = (1.6, 0.15), classical W1 = (1.4, 0.1).
      block 2: steps r0 (0, 0.2), r1 (0.4, 0): G = (0.2, 0.1), Delta2 = 0.5 (0.4, 0.1) + G = (0.4, 0.15),
               W2 = (1.8, 0.25); start of block 3: Nesterov (2.0, 0.325), classical (1.8, 0.25).
      finish with no local steps: G = 0, Delta3 = (0.2, 0.075), W3 = (2.0, 0.325) = the model handed back.
    """
    if N != 2:
        return
    from nnet2.parallel.averager import default_block_momentum

    bm = default_block_momentum(N)
    assert bm == 0.5
    steps = {0: [(0.2, 0.4), (0.6, -0.2)], 1: [(0.0, 0.2), (0.4, 0.0)]}
    starts = {True: [(1.6, 0.15), (2.0, 0.325)], False: [(1.4, 0.1), (1.8, 0.25)]}
    for nesterov in (True, False):
        av = BmufAverager(comm, block_momentum=bm, block_lr=1.0, nesterov=nesterov)
        p = np.array([1.0, 0.0], dtype=np.float32)
        av.start(p)
        np.testing.assert_array_equal(p, [1.0, 0.0])
        for k in (0, 1):
            p += np.array(steps[k][rank], dtype=np.float32)
            av.block_end(p)
            np.testing.assert_allclose(p, starts[nesterov][k], atol=1e-6, err_msg=f"nesterov={nesterov} block {k}")
        np.testing.assert_allclose(av.global_params, [1.8, 0.25], atol=1e-6)
        np.testing.assert_allclose(av.delta, [0.4, 0.15], atol=1e-6)
        av.finish(p)
        np.testing.assert_allclose(p, [2.0, 0.325], atol=1e-6, err_msg=f"nesterov={nesterov} finish")


def _local_steps(block: int, dim: int) -> np.ndarray:
    """The made-up progress of every rank during `block`: [N, dim] float32."""
    return np.stack([np.random.default_rng([11, block, r]).standard_normal(dim).astype(np.float32) * 0.1
                     for r in range(N)])


def test_bmuf_update_rule_against_float64_reference():
    """Chen & Huo: G = W_avg - W_g; Delta = bm*Delta + lr*G; W += Delta; W_g = W + bm*Delta (Nesterov)."""
    dim, bm, blr = 64, 0.6, 0.9
    for nesterov in (True, False):
        w0 = np.random.default_rng(5).standard_normal(dim).astype(np.float32)
        av = BmufAverager(comm, block_momentum=bm, block_lr=blr, nesterov=nesterov)
        p = w0.copy()
        av.start(p)
        W, D = w0.astype(np.float64), np.zeros(dim)
        for k in range(5):
            start = W + bm * D if nesterov else W.copy()
            np.testing.assert_allclose(p, start, rtol=1e-5, atol=1e-5)
            steps = _local_steps(k, dim)
            p += steps[rank]
            av.block_end(p)
            assert_identical(p, f"bmuf block {k}")
            G = (start + steps.astype(np.float64)).mean(axis=0) - start
            D = bm * D + blr * G
            W = W + D
            np.testing.assert_allclose(av.global_params, W, rtol=1e-5, atol=1e-5, err_msg=f"W, block {k}")
            np.testing.assert_allclose(av.delta, D, rtol=1e-5, atol=1e-5, err_msg=f"Delta, block {k}")
        av.finish(p)
        np.testing.assert_allclose(p, av.global_params)  # the iteration ends on W


def test_overlap_update_rule_and_final_consensus():
    """theta <- mean(S_k) + (theta - S_k) one block late; finish() = pending correction + blocking mean."""
    dim, blocks = 50, 5
    theta0 = np.random.default_rng(9).standard_normal(dim).astype(np.float32)
    av = OverlapAverager(comm)
    p = theta0.copy()
    av.start(p)
    ref = np.tile(theta0.astype(np.float64), (N, 1))  # every rank's theta, simulated
    snap = None
    for k in range(blocks):
        steps = _local_steps(100 + k, dim)
        p += steps[rank]
        ref += steps
        av.poll()
        if k + 1 < blocks:
            av.block_end(p)
            if snap is not None:
                ref += snap.mean(axis=0) - snap
            snap = ref.copy()
        else:
            av.finish(p)
            if snap is not None:
                ref += snap.mean(axis=0) - snap
            ref[:] = ref.mean(axis=0)
        np.testing.assert_allclose(p, ref[rank], rtol=1e-5, atol=1e-5, err_msg=f"overlap block {k}")
    assert_identical(p, "overlap after finish")
    assert av.req is None
    if N > 1:
        # a delayed average really differs from plain averaging of the same steps
        plain = theta0.astype(np.float64) + sum(_local_steps(100 + k, dim).mean(axis=0) for k in range(blocks))
        assert np.allclose(p, plain, atol=1e-5)  # with additive steps both end at the same mean...
        assert np.abs(ref - ref.mean(axis=0)).max() < 1e-9  # ...and all simulated ranks agree


CHECKS = [v for k, v in sorted(globals().items()) if k.startswith("test_")]

if __name__ == "__main__":
    for check in CHECKS:
        check()
        comm.Barrier()
        if rank == 0:
            print(f"ok {check.__name__} (N={N})", flush=True)
