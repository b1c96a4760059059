"""Model averaging strategies for data-parallel training (Su & Chen 2015; Kaldi nnet2; Chen & Huo 2016).

Every `average_every` minibatches ("a block") each worker's flat parameter buffer is replaced by the
mean over workers (`PlainAverager`). `Averager` is the interface the trainer calls; a new averaging
rule is a subclass of it passed to `nnet2.api.train(..., averager=...)` (docs/python.md). Beyond the paper:

* `BmufAverager` -- blockwise model-update filtering (Chen & Huo, ICASSP 2016). A global model W and a
  block-momentum buffer Delta are kept (identical on every rank). All workers start a block from the
  same point W_g (W itself, or with Nesterov momentum -- the default -- the look-ahead W + bm * Delta).
  After the block, with W_avg the worker average:
      G      = W_avg - W_g                    (the block's averaged progress from where it started)
      Delta <- bm * Delta + block_lr * G
      W     <- W + Delta
      W_g   <- W + bm * Delta  (Nesterov)  or  W
  and the workers continue from the new W_g. W is computed as W_avg + ((block_lr - 1) G + c) with
  c = 0 (Nesterov: W_g = W_old + bm Delta_old, so W_old + Delta = W_g + block_lr G) or c = bm Delta_old
  (classical), the same value as W + Delta in exact arithmetic; in float32 it makes bm = 0, block_lr = 1
  plain averaging *exactly* (bitwise), not up to rounding. The model evaluated and checkpointed at the
  end of an iteration is W; the next iteration starts from W_g again (`start`). W and Delta are
  checkpointed (state/<it>.npz).

  Published defaults (Chen & Huo 2016, sec. 3-4): block learning rate 1 and block momentum close to
  1 - 1/N, with every worker at the *single-worker* learning rate. Then the filtered step is
  block_lr / (1 - bm) = N times the averaged block progress, i.e. block momentum itself plays the role
  of the paper's (Su & Chen) learning rate x N -- which is why `nnet2 train` does not also multiply the
  workers' learning rate by N under BMUF unless --scale-lr-by-workers=true is given (`default_block_momentum`).

* `OverlapAverager` -- the allreduce of a block's parameters runs (nonblocking `Iallreduce`) while the
  next block is computed. At the end of block k the worker snapshots S_k = theta and starts summing it;
  at the end of block k+1 it waits for that sum and sets
      theta <- mean(S_k) + (theta - S_k)
  i.e. the local progress made during block k+1 is re-applied on top of the averaged snapshot, and
  then snapshots the result as S_{k+1}. The result lags plain averaging by one block (a delayed
  average) while communication is hidden behind computation. `finish()` (end of an iteration) applies
  any pending average and then performs one blocking average, so all ranks end every iteration with
  bitwise-identical parameters and nothing in flight: there is no overlap state to checkpoint.

Devices: `params` may be a numpy (CPU) or cupy (GPU) buffer; the averagers keep their state (W, Delta)
beside it and stage what MPI reads through host memory when MPI is not CUDA-aware
(`nnet2.parallel.average.mpi_buffer`), so callers never copy parameters between devices. `state()`
returns numpy arrays (for the checkpoint) and `load_state` puts them back on the device of `params`.
"""

from __future__ import annotations

import abc
import time
from typing import TYPE_CHECKING

import numpy as np

from nnet2.device import Array, asarray_like, synchronize, to_host, xp_of
from nnet2.parallel.average import average_flat_, mpi_buffer

if TYPE_CHECKING:
    from mpi4py import MPI  # mpi4py.MPI initializes MPI when imported: import it on first use


class Averager(abc.ABC):
    """The averaging hook of data-parallel training (`nnet2.train.trainer.Trainer`, `nnet2.api.train`).

    Every rank of `comm` holds one; the trainer calls, on every rank in the same order:
    * `start(params)` at the start of every iteration (after any resume);
    * `block_end(params)` every `average_every` minibatches (not after an iteration's last one);
    * `finish(params)` at the end of every iteration, which must leave *every rank with identical
      parameters* (the trainer then evaluates and checkpoints them);
    * `poll()` between minibatches (to progress nonblocking communication);
    * `reset(params)` when the model was replaced (a rejected newbob epoch);
    * `state()` / `load_state(state, params)` to checkpoint arrays (state/<iter>.npz) for --resume.

    `params` is the network's flat float32 parameter buffer (`Nnet.params`, numpy or cupy), to be
    modified in place. A subclass implements `average_block(params)` (and `average_final(params)` if
    the end of an iteration differs); `block_end` / `finish` time those calls and count them
    (`seconds`, `rounds`, reset by the trainer every iteration). `allreduce_mean(buf)` replaces `buf` by
    its mean over the ranks (one in-place Allreduce, staged through the host for GPU buffers when MPI is
    not CUDA-aware).
    """

    kind: str = "custom"

    def __init__(self, comm: MPI.Comm):
        self.comm = comm
        self.n = comm.Get_size()
        self.seconds = 0.0
        self.rounds = 0

    def allreduce_mean(self, buf: Array) -> None:
        """Replace the contiguous 1-D array `buf` (numpy or cupy) by its mean over the ranks, in place."""
        average_flat_(self.comm, buf)

    @abc.abstractmethod
    def average_block(self, params: Array) -> None:
        """The averaging rule at the end of a block of `average_every` minibatches (in place)."""

    def average_final(self, params: Array) -> None:
        """The end of an iteration: must leave identical parameters on every rank (default: a block end,
        which is right for rules that end every block with an exact average)."""
        self.average_block(params)

    def block_end(self, params: Array) -> None:
        """Called every `average_every` minibatches with the flat parameter buffer (modified in place)."""
        t = time.perf_counter()
        self.average_block(params)
        self.seconds += time.perf_counter() - t
        self.rounds += 1

    def finish(self, params: Array) -> None:
        """End of an iteration: afterwards every rank holds the same parameters."""
        t = time.perf_counter()
        self.average_final(params)
        self.seconds += time.perf_counter() - t
        self.rounds += 1

    def poll(self) -> None:
        """Between minibatches: let MPI progress communication in flight (nothing by default)."""

    def start(self, params: Array) -> None:
        """Start of an iteration (after loading/averaging)."""

    def reset(self, params: Array) -> None:
        """The model was replaced (e.g. a rejected newbob epoch): forget any history."""

    # checkpointed state
    def state(self) -> dict:
        """Arrays (numpy, or None) to checkpoint with the model; {} when there is nothing to keep."""
        return {}

    def load_state(self, st: dict, params: Array) -> None:
        """Restore what `state()` returned (onto the device of `params`)."""


class PlainAverager(Averager):
    """Su & Chen's model averaging: every block end is an exact mean over the workers."""

    kind = "plain"

    def average_block(self, params: Array) -> None:
        self.allreduce_mean(params)


class BmufAverager(Averager):
    """Blockwise model-update filtering (Chen & Huo 2016; module docstring)."""

    kind = "bmuf"

    def __init__(self, comm: MPI.Comm, block_momentum: float, block_lr: float = 1.0, nesterov: bool = True):
        super().__init__(comm)
        self.block_momentum = float(block_momentum)
        self.block_lr = float(block_lr)
        self.nesterov = bool(nesterov)
        self.global_params = None  # W
        self.delta = None  # Delta

    def _start_point(self):
        """W_g, where every worker starts a block."""
        if self.nesterov and self.block_momentum != 0.0:
            return self.global_params + np.float32(self.block_momentum) * self.delta
        return self.global_params.copy()

    def start(self, params: Array) -> None:
        """Start of an iteration: `params` holds W (the checkpointed model); move the workers to W_g."""
        if self.global_params is None:
            self.reset(params)
        params[...] = self._start_point()

    def reset(self, params: Array) -> None:
        self.global_params = xp_of(params).array(params, dtype=np.float32)  # a copy, on params' device
        self.delta = xp_of(params).zeros_like(self.global_params)

    def average_block(self, params: Array) -> None:
        self.allreduce_mean(params)  # params = W_avg
        bm, blr = np.float32(self.block_momentum), np.float32(self.block_lr)
        g = params - self._start_point()
        # W_new = W_old + Delta_new, written as W_avg + correction (exactly W_avg for bm = 0, block_lr = 1)
        corr = (blr - np.float32(1.0)) * g
        if not self.nesterov:
            corr += bm * self.delta
        self.delta *= bm
        self.delta += blr * g
        np.add(params, corr, out=self.global_params)
        params[...] = self._start_point()

    def average_final(self, params: Array) -> None:
        # The model to evaluate/save is W; the momentum carries over to the next iteration.
        self.average_block(params)
        params[...] = self.global_params

    def state(self) -> dict:
        return {k: None if v is None else to_host(v) for k, v in
                (("global_params", self.global_params), ("delta", self.delta))}

    def load_state(self, st: dict, params: Array) -> None:
        if st.get("global_params") is not None:
            self.global_params = asarray_like(np.array(st["global_params"], dtype=np.float32), params)
            self.delta = asarray_like(np.array(st["delta"], dtype=np.float32), params)
        else:
            self.reset(params)


class OverlapAverager(Averager):
    """Plain averaging one block late, its Iallreduce hidden behind the next block (module docstring)."""

    kind = "overlap"

    def __init__(self, comm: MPI.Comm):
        super().__init__(comm)
        self.snapshot = None  # S_k, the parameters whose average is in flight
        self.recv = None
        self.req = None

    def poll(self) -> None:
        """Let MPI progress the in-flight average (called between minibatches)."""
        if self.req is not None:
            self.req.Test()

    def average_block(self, params: Array) -> None:
        if self.n == 1:
            return
        from mpi4py import MPI  # mpi4py.MPI initializes MPI when imported: import it on first use


        if self.req is not None:
            self.req.Wait()
            self._apply_pending(params)
        # S_k: params itself when it can go to MPI as is (then copied: training keeps changing params),
        # else the host copy mpi_buffer made, which is already a snapshot.
        staged = mpi_buffer(params)
        if self.snapshot is None or xp_of(self.snapshot) is not xp_of(staged):
            self.snapshot = xp_of(staged).empty_like(staged)
            self.recv = xp_of(staged).empty_like(staged)
        self.snapshot[...] = staged
        if staged is params and xp_of(params) is not np:
            synchronize(params)  # the copy into the snapshot is queued on the GPU
        self.req = self.comm.Iallreduce(self.snapshot, self.recv, op=MPI.SUM)

    def _apply_pending(self, params: Array) -> None:
        """theta <- mean(S_k) + (theta - S_k), computed where the MPI buffers live."""
        params += asarray_like(self.recv * np.float32(1.0 / self.n) - self.snapshot, params)

    def average_final(self, params: Array) -> None:
        if self.req is not None:
            self.req.Wait()
            self._apply_pending(params)
            self.req = None
        self.allreduce_mean(params)


def default_block_momentum(num_workers: int) -> float:
    """Chen & Huo's block momentum for N workers, 1 - 1/N (0 for one worker: plain averaging)."""
    return 1.0 - 1.0 / max(1, int(num_workers))


def make_averager(kind: str, comm: MPI.Comm, block_momentum: float = 0.0, block_lr: float = 1.0) -> Averager:
    """The averager `nnet2 train --averaging KIND` uses."""
    if kind == "plain":
        return PlainAverager(comm)
    if kind == "bmuf":
        return BmufAverager(comm, block_momentum, block_lr)
    if kind == "overlap":
        return OverlapAverager(comm)
    raise ValueError(f"unknown averaging '{kind}' (plain, bmuf, overlap)")
