"""Model averaging strategies for data-parallel training (Su & Chen 2015; Kaldi nnet2; Chen & Huo 2016).

Every `average_every` minibatches ("a block") each worker's flat parameter buffer is replaced by the
mean over workers (`PlainAverager`). Beyond the paper:

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

import time

import numpy as np

from nnet2.device import asarray_like, to_host, xp_of


class PlainAverager:
    kind = "plain"

    def __init__(self, comm):
        self.comm = comm
        self.n = comm.Get_size()
        self.seconds = 0.0
        self.rounds = 0

    def _allreduce_mean(self, buf):
        from nnet2.parallel.average import average_flat_

        average_flat_(self.comm, buf)

    def block_end(self, params) -> None:
        """Called every `average_every` minibatches with the flat parameter buffer (modified in place)."""
        t = time.perf_counter()
        self._allreduce_mean(params)
        self.seconds += time.perf_counter() - t
        self.rounds += 1

    def finish(self, params) -> None:
        """End of an iteration: make every rank hold the same parameters."""
        self.block_end(params)

    # checkpointed state
    def state(self) -> dict:
        return {}

    def load_state(self, st: dict, params) -> None:
        pass

    def start(self, params) -> None:
        """Start of an iteration (after loading/averaging): no state for plain averaging."""

    def reset(self, params) -> None:
        """The model was replaced (e.g. a rejected newbob epoch): forget any history."""


class BmufAverager(PlainAverager):
    kind = "bmuf"

    def __init__(self, comm, block_momentum: float, block_lr: float = 1.0, nesterov: bool = True):
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

    def start(self, params) -> None:
        """Start of an iteration: `params` holds W (the checkpointed model); move the workers to W_g."""
        if self.global_params is None:
            self.reset(params)
        params[...] = self._start_point()

    def reset(self, params) -> None:
        self.global_params = xp_of(params).array(params, dtype=np.float32)  # a copy, on params' device
        self.delta = xp_of(params).zeros_like(self.global_params)

    def block_end(self, params) -> None:
        t = time.perf_counter()
        self._allreduce_mean(params)  # params = W_avg
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
        self.seconds += time.perf_counter() - t
        self.rounds += 1

    def finish(self, params) -> None:
        # The model to evaluate/save is W; the momentum carries over to the next iteration.
        self.block_end(params)
        params[...] = self.global_params

    def state(self) -> dict:
        return {k: None if v is None else to_host(v) for k, v in
                (("global_params", self.global_params), ("delta", self.delta))}

    def load_state(self, st: dict, params) -> None:
        if st.get("global_params") is not None:
            self.global_params = asarray_like(np.array(st["global_params"], dtype=np.float32), params)
            self.delta = asarray_like(np.array(st["delta"], dtype=np.float32), params)
        else:
            self.reset(params)


class OverlapAverager(PlainAverager):
    kind = "overlap"

    def __init__(self, comm):
        super().__init__(comm)
        self.snapshot = None  # S_k, the parameters whose average is in flight
        self.recv = None
        self.req = None

    def poll(self) -> None:
        """Let MPI progress the in-flight average (called between minibatches)."""
        if self.req is not None:
            self.req.Test()

    def block_end(self, params) -> None:
        t = time.perf_counter()
        if self.n == 1:
            self.rounds += 1
            return
        from mpi4py import MPI

        from nnet2.parallel.average import mpi_buffer

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
            from nnet2.device import synchronize

            synchronize(params)  # the copy into the snapshot is queued on the GPU
        self.req = self.comm.Iallreduce(self.snapshot, self.recv, op=MPI.SUM)
        self.seconds += time.perf_counter() - t
        self.rounds += 1

    def _apply_pending(self, params) -> None:
        """theta <- mean(S_k) + (theta - S_k), computed where the MPI buffers live."""
        params += asarray_like(self.recv * np.float32(1.0 / self.n) - self.snapshot, params)

    def finish(self, params) -> None:
        t = time.perf_counter()
        if self.req is not None:
            self.req.Wait()
            self._apply_pending(params)
            self.req = None
        self._allreduce_mean(params)
        self.seconds += time.perf_counter() - t
        self.rounds += 1


def default_block_momentum(num_workers: int) -> float:
    """Chen & Huo's block momentum for N workers, 1 - 1/N (0 for one worker: plain averaging)."""
    return 1.0 - 1.0 / max(1, int(num_workers))


def make_averager(kind: str, comm, block_momentum: float = 0.0, block_lr: float = 1.0):
    if kind == "plain":
        return PlainAverager(comm)
    if kind == "bmuf":
        return BmufAverager(comm, block_momentum, block_lr)
    if kind == "overlap":
        return OverlapAverager(comm)
    raise ValueError(f"unknown averaging '{kind}' (plain, bmuf, overlap)")
