"""Data-parallel training with model averaging over MPI (H. Su, H. Chen, "Experiments on Parallel Training of Deep Neural Network using Model
Averaging", arXiv:1507.01239, 2015; Kaldi nnet2's `steps/nnet2/train_pnorm_simple.sh` + `nnet-am-average`).

N ranks each train on their own shard of the egs (the shard depends only on seed, N and the epoch) and
average their flat parameter buffers every `average_every` minibatches with one in-place Allreduce
(`average_every=0`: once per iteration, Kaldi nnet2 style). Every rank performs the same number of
minibatches, hence the same number of collectives. An epoch is split into `iters_per_epoch`
iterations; each iteration ends with an average (so all ranks hold bitwise-identical parameters), and
rank 0 writes the checkpoint `<dir>/<iter>.mdl` and then `<dir>/state/<iter>.json` (the commit marker)
atomically. `resume` continues from the last iteration whose state file exists.

What makes a resumed run end with the same bytes as an uninterrupted one (CPU):
* the data order of iteration x is a function of (seed, N, epoch) and the minibatch offset;
* NG-SGD preconditioners restart at the start of every iteration (as each Kaldi training job does), or
  with --preconditioner-lifetime epoch at the start of every epoch (the paper's fork: one MPI process
  per epoch) -- and at a resume, so with `epoch` a resume in mid-epoch is *not* bitwise-identical to an
  uninterrupted run (the state is not checkpointed);
* the nonlinear components' statistics are zeroed at the start of an iteration and averaged at its end;
* the learning rate depends only on the iteration (exponential) or on the checkpointed schedule state
  (newbob; any `LearningRateSchedule.state()`);
* BMUF state (global model and block momentum) is checkpointed with the model (state/<iter>.npz);
  the overlap averager has nothing in flight at an iteration end, so it has no state to save.

Averaging semantics (details and formulas in nnet2.parallel.averager):
* plain: Allreduce mean every K minibatches and at the end of every iteration.
* bmuf: the block update G is measured from the point W_g where all workers started the block (with
  Nesterov momentum the look-ahead W + bm*Delta, not W: measuring from W counted the momentum twice).
  The model evaluated and checkpointed at an iteration end is the global model W; the next iteration
  (also after a resume) starts the workers from W_g again.
* overlap: a delayed (one block late) average hidden behind computation; every iteration still ends
  with a blocking average, so all ranks hold bitwise-identical parameters at every checkpoint.

Validation beside training (`background_validation`, 1 worker on 1 thread with a spare core, a schedule that
does not decide on the validation): an epoch's checkpoint is written at its end as always, but its held-out
and train-diagnostic evaluation runs on a second thread, on a copy of the parameters, while the next
iteration trains (Kaldi's scripts run their compute-prob jobs in the background the same way); after that
iteration the validation fields are added to the history, the epoch's state file is rewritten with them and
the callbacks see the epoch. Same numbers as inline. A run killed in between resumes from that checkpoint
and validates it first.

The checkpoint of iteration x is complete when state/x.json exists (written last). A resumed run
starts from the highest such x (decided on rank 0, broadcast), deletes stray temporary files left by a
kill during a write, and refuses if the seed, number of workers or another option that determines the
result differs (learning rates and schedule, BMUF and newbob settings, update, minibatch size, averaging,
prior frames; the message names the option). Options, egs and the initial model are checked on every
rank before the output directory is created, and rank 0 holds an exclusive lock (`flock` on
`<dir>/.lock`, which records its pid and host) on the directory for the whole run, with or without
--resume: a second run into the same directory is refused. Starting afresh (no --resume) in a
directory that has checkpoints deletes its state files and final.mdl, so a later --resume can never
pick up a stale checkpoint of the earlier run.

Test hook (for tests/test_train.py only): NNET2_TEST_FAIL_RANK=r NNET2_TEST_FAIL_ITER=x makes rank r
fail after its first minibatch of iteration x -- by raising RuntimeError, or with
NNET2_TEST_FAIL_MODE=kill by sending itself SIGKILL (a dead rank, which mpiexec must tear down).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import math
import os
import signal
import socket
import sys
import time
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from tqdm import tqdm

from nnet2 import _core
from nnet2.data.kaldi_egs import open_egs
from nnet2.device import activate, cpu_blas_description, to_host
from nnet2.nnet import components as C
from nnet2.nnet import ngd_config
from nnet2.nnet.convert import set_update_type
from nnet2.nnet.model import AmNnet, Model, average_models, load_model, save_model
from nnet2.nnet.nnet import StepStats
from nnet2.parallel.averager import Averager, BmufAverager, default_block_momentum, make_averager
from nnet2.parallel.comm import fit_threads, local_rank, world
from nnet2.train.combine import combine_nnets
from nnet2.train.schedule import ExponentialSchedule, LearningRateSchedule, NewbobSchedule, worker_lr
from nnet2.utils.errors import DataError, SharedError, UserError, error_line
from nnet2.utils.fileio import atomic_path, write_bytes_atomic
from nnet2.utils.intervals import ratio_interval
from nnet2.utils.log import get_logger, setup_logging
from nnet2.utils.options import check_options, opt


@dataclasses.dataclass
class TrainOptions:
    """Options of `nnet2 train` / `nnet2.api.train` (one default and help text each)."""

    num_epochs: int = opt(15, "epochs (passes over the training egs)", range="[1, inf)")
    iters_per_epoch: int = opt(1, "iterations (checkpoints) per epoch", range="[1, inf)")
    minibatch_size: int = opt(1024, "frames per minibatch per worker (Kaldi uses 128 for p-norm nets)",
                              range="[1, inf)")
    average_every: int = opt(10, "average the workers' parameters every K minibatches (0 = once per iteration)",
                             range="[0, inf)")
    averaging: str = opt("plain", "plain Allreduce averaging, bmuf (block momentum) or overlap (nonblocking "
                         "Iallreduce overlapped with the next block)", choices=["plain", "bmuf", "overlap"])
    block_momentum: str = opt("auto", "BMUF block momentum in [0, 1); auto = 1 - 1/N for N workers (Chen & Huo "
                              "2016; 0 = plain averaging)")
    block_lr: float = opt(1.0, "BMUF block learning rate (Chen & Huo: 1)", range="(0, inf)")
    lr_schedule: str = opt("exponential", "learning-rate schedule", choices=["exponential", "newbob"])
    initial_lr: float = opt(0.008, "initial learning rate per frame (gradients are summed over the minibatch)",
                            range="(0, inf)")
    final_lr: float = opt(0.0008, "final learning rate (exponential schedule)", range="(0, inf)")
    scale_lr_by_workers: str = opt("auto", "multiply the learning rate by the number of workers N (Su & Chen's rule "
                                   "for plain averaging); auto = true for plain/overlap averaging, false for bmuf, "
                                   "whose block momentum 1-1/N already makes the step N times larger",
                                   choices=["auto", "true", "false"])
    newbob_start_halving_impr: float = opt(0.005, "newbob: start halving when the validation frame-accuracy "
                                           "gain of an epoch is below this (absolute)", range="[0, inf)")
    newbob_end_halving_impr: float = opt(0.001, "newbob: stop when halving and the gain is below this",
                                         range="[0, inf)")
    newbob_halving_factor: float = opt(0.5, "newbob: learning-rate factor per epoch once halving",
                                       range="(0, 1]")
    update: str = opt("ngd", "parameter update: plain SGD or online natural-gradient SGD", choices=["sgd", "ngd"])
    max_norm: float = opt(0.0, "after every update, scale each affine weight row (the weights into one unit) whose "
                          "L2 norm exceeds this back to it (nnet1's max-norm; the paper's fork used 10); 0 = off")
    preconditioner_lifetime: str = opt("iteration", "NG-SGD preconditioner state: reset at the start of every "
                                       "iteration (as each Kaldi nnet2 training job starts afresh) or kept for the "
                                       "whole epoch (the paper's MPI fork: one process per epoch)",
                                       choices=["iteration", "epoch"])
    ngd_preset: str = opt(ngd_config.DEFAULT_PRESET, "NG-SGD settings for the plain affine layers that --update ngd "
                          "converts (layers already NG-SGD keep theirs): " + ngd_config.presets_help(),
                          choices=list(ngd_config.PRESETS))
    seed: int = opt(0, "seed for the data order")
    threads: int = opt(0, "BLAS/OpenMP threads per worker (0 = the node's cores / its workers, at least 1; more "
                        "than that is capped to it, with a warning; 1 worker on 1 thread also validates on a "
                        "second core: --background-validation)", range="[0, inf)")
    prior_frames: int = opt(20000, "training frames used to estimate the priors at the end (0 = no priors)",
                            range="[0, inf)")
    device: str = opt("cpu", "where to train", choices=["cpu", "cuda"])
    gpu: int = opt(-1, "GPU index for --device cuda (-1 = this rank's local rank on its node modulo the number "
                   "of GPUs, so the ranks of a node spread over its GPUs)")
    resume: bool = opt(False, "continue from the last complete checkpoint in the output directory")
    progress: bool = opt(True, "progress bar on rank 0 (when stderr is a terminal)")
    combine: bool = opt(True, "at the end, combine the last iterations' models with per-component weights "
                        "optimized on the combination examples (Kaldi's nnet-combine-fast)")
    background_validation: bool = opt(True, "with 1 worker on 1 thread and a second core in the process's CPU set, "
                                      "validate each epoch's model on a second thread while the next iteration "
                                      "trains, as Kaldi's scripts run their compute-prob jobs in the background "
                                      "(the same numbers; the epoch's validation line comes one iteration later; "
                                      "not with newbob, which decides on the validation before the next "
                                      "iteration). It takes that second core: false leaves it to other jobs")


# identity fields added after checkpoints were first written: a checkpoint without one was trained with
# the value that was then the only behaviour
_IDENTITY_ADDED = {"max_norm": 0.0, "preconditioner_lifetime": "iteration"}


# (IterationStats field, history key) of every history record (the validation fields follow at epoch ends)
_RECORD_FIELDS = (("iteration", "iter"), ("epoch", "epoch"), ("learning_rate", "lr"), ("train_objf", "train_objf"),
                  ("train_acc", "train_acc"), ("frames", "frames"), ("seconds", "seconds"),
                  ("avg_seconds", "avg_seconds"), ("avg_rounds", "avg_rounds"))


@dataclasses.dataclass
class IterationStats:
    """What the per-iteration callbacks of `Trainer` receive on every rank (the same values but `rank`),
    and what the history in state/<iter>.json records (`to_record`)."""

    iteration: int                  # 0-based iteration just finished
    num_iters: int                  # iterations in the whole run
    epoch: int                      # 0-based epoch it belongs to
    learning_rate: float            # the rate each worker used (schedule rate x N when scaled)
    train_objf: float               # training objective (log-probability) per frame, all workers
    train_acc: float                # training frame accuracy, all workers
    frames: int                     # frames trained on, all workers
    seconds: float                  # wall time of the iteration
    avg_seconds: float              # of which in the averager
    avg_rounds: int                 # averager calls (block ends + the final one)
    model_path: str                 # the checkpoint <out_dir>/<iteration + 1>.mdl (written before the call)
    rank: int = 0                   # this process's rank (the only field that differs between ranks)
    num_workers: int = 1            # N
    valid_objf: float | None = None       # at the end of an epoch: validation objective per frame,
    valid_acc: float | None = None        # validation frame accuracy,
    train_diag_objf: float | None = None  # objective and accuracy on the training-diagnostic subset,
    train_diag_acc: float | None = None
    valid_acc_lo: float | None = None     # 95% bootstrap interval of valid_acc over the held-out utterances,
    valid_acc_hi: float | None = None
    valid_frames: int | None = None       # held-out frames and utterances scored
    valid_utterances: int | None = None
    accepted: bool | None = None          # and whether the schedule accepted the epoch

    @property
    def epoch_end(self) -> bool:
        """True after the last iteration of an epoch (the validation fields are set)."""
        return self.valid_acc is not None

    def to_record(self) -> dict:
        """The history entry of state/<iter>.json (key names as `nnet2 report` reads them)."""
        r = {k: getattr(self, f) for f, k in _RECORD_FIELDS}
        if self.epoch_end:
            r.update(valid_objf=self.valid_objf, valid_acc=self.valid_acc, train_diag_objf=self.train_diag_objf,
                     train_diag_acc=self.train_diag_acc)
        if self.valid_acc_lo is not None:
            r.update(valid_acc_lo=self.valid_acc_lo, valid_acc_hi=self.valid_acc_hi)
        if self.accepted is not None:
            r["accepted"] = self.accepted
        return r


IterationCallback = Callable[[IterationStats], None]


def make_schedule(opts: TrainOptions) -> LearningRateSchedule:
    """The schedule `--lr-schedule` names, with its options."""
    if opts.lr_schedule == "newbob":
        return NewbobSchedule(opts.initial_lr, opts.newbob_start_halving_impr, opts.newbob_end_halving_impr,
                              opts.newbob_halving_factor)
    if opts.lr_schedule == "exponential":
        return ExponentialSchedule(opts.initial_lr, opts.final_lr)
    raise UserError(f"unknown --lr-schedule '{opts.lr_schedule}' (exponential, newbob)")


def log_iteration(stats: IterationStats) -> None:
    """The default per-iteration callback: the epoch's validation line in the training log (rank 0)."""
    if not stats.epoch_end or stats.rank != 0:
        return
    ci = "" if stats.valid_acc_lo is None else \
        f" [95% CI {stats.valid_acc_lo:.4f}, {stats.valid_acc_hi:.4f} over {stats.valid_utterances} utterances]"
    get_logger("train").info(
        f"Epoch {stats.epoch}: validation objf {stats.valid_objf:.4f} accuracy {stats.valid_acc:.4f}{ci} "
        f"({stats.valid_frames} frames); train-diagnostic objf {stats.train_diag_objf:.4f} accuracy "
        f"{stats.train_diag_acc:.4f}")


def _atomic_json(path: str, obj: dict) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode())


def _fill_validation(rec: IterationStats, result: tuple) -> None:
    """Set an epoch's validation fields from `Trainer._validate_sets`."""
    ((rec.valid_objf, rec.valid_acc, rec.valid_frames), vci), utts, (rec.train_diag_objf, rec.train_diag_acc, _) = result
    if vci is not None:
        rec.valid_acc_lo, rec.valid_acc_hi = vci.lo, vci.hi
        rec.valid_utterances = utts



class Trainer:
    """Data-parallel training of one model on one egs directory (module docstring).

    comm: the MPI communicator of the workers (default COMM_WORLD: size 1 without mpiexec).
    schedule: the learning-rate schedule (default: the one `opts.lr_schedule` names, `make_schedule`).
    averager: the averaging rule, built on `comm` (default: `opts.averaging`, `make_averager`).
    callbacks: called after every iteration's checkpoint with its `IterationStats`, on every rank (after
    the trainer's own `log_iteration`, which writes the epoch's validation line to the log), in order; an
    epoch validated beside training is called after the next iteration (module docstring).
    """

    def __init__(self, egs_dir: str, init_model: str, out_dir: str, opts: TrainOptions, comm=None,
                 schedule: LearningRateSchedule | None = None, averager: Averager | None = None,
                 callbacks: Sequence[IterationCallback] = ()):
        check_options(opts)
        self.opts = opts
        self.comm = comm if comm is not None else world()
        self.rank, self.nw = self.comm.Get_rank(), self.comm.Get_size()
        # The device first: a missing GPU is reported before anything is written.
        self.where = activate(opts.device, local_rank(self.comm), opts.gpu)
        self.schedule = schedule if schedule is not None else make_schedule(opts)
        if averager is not None and averager.comm.Get_size() != self.nw:
            raise UserError(f"the averager's communicator has {averager.comm.Get_size()} ranks, training has {self.nw}")
        self.averager = averager
        self.averaging = averager.kind if averager is not None else opts.averaging  # what identifies the rule
        self.callbacks = [log_iteration, *callbacks]
        self.out_dir = os.path.abspath(out_dir)
        self.egs_dir = os.path.abspath(egs_dir)
        self.init_model = init_model
        self._init = None
        self._lock_fd = None
        self._objf_start = None  # held-out objective per frame of the model this run starts from
        # Everything is checked before anything is created; a failed check ends all ranks with one line.
        self._collective(self._validate)
        self._collective(self._make_out_dir_and_lock)
        setup_logging(os.path.join(self.out_dir, "log", f"train.setup.{self.rank}.log"), self.rank, self.nw,
                      stderr=self.rank == 0)  # other ranks: their log files only (errors still reach stderr)
        self.log = get_logger("train")
        self.num_iters = opts.num_epochs * opts.iters_per_epoch
        threads, warning = fit_threads(self.comm if self.nw > 1 else None, opts.threads)
        if warning and self.rank == 0:
            self.log.warning(warning)
        _core.set_num_threads(threads)
        self.threads = threads

    def _collective(self, fn) -> None:
        """Run `fn` on every rank; if it fails on any (a user or environment error), every rank raises
        `SharedError` carrying the lowest failing rank's line, which only that rank prints."""
        line = None
        try:
            fn()
        except (UserError, OSError) as e:
            line = error_line(e)
            if line is None or self.nw == 1:
                raise
        lines = self.comm.allgather(line) if self.nw > 1 else [line]
        bad = [(r, m) for r, m in enumerate(lines) if m is not None]
        if bad:
            r, m = bad[0]
            raise SharedError(m if r == 0 else f"rank {r}: {m}", rank=r)

    def _validate(self) -> None:
        """The egs and (unless resuming) the initial model, before the output directory is touched."""
        o = self.opts
        if self.averager is None:
            self.block_momentum  # noqa: B018 -- a bad --block-momentum fails here, before anything is created
        self.egs = open_egs(self.egs_dir)  # ours (info.json) or Kaldi's (egs.*.ark)
        if hasattr(self.egs, "check_all"):
            self.egs.check_all()
        self.num_mb = self.egs.num_minibatches(self.rank, self.nw, o.minibatch_size)
        if o.iters_per_epoch > self.num_mb:
            raise UserError(f"--iters-per-epoch must be between 1 and the {self.num_mb} minibatches of an epoch")
        if not (o.resume and os.path.isdir(os.path.join(self.out_dir, "state"))):
            self._init = load_model(self.init_model)
            nnet = self._init.nnet
            self._check_transition_model(self._init)
            if nnet.input_dim != self.egs.feat_dim and nnet.frame_input_start() == 1:
                raise UserError(f"model {self.init_model} expects {nnet.input_dim}-dim features but the egs in "
                                f"{self.egs_dir} have {self.egs.feat_dim}")
            self._check_model(nnet)

    def _make_out_dir_and_lock(self) -> None:
        """Rank 0 creates out_dir and holds an exclusive lock on it for the whole run (also with --resume):
        a second `nnet2 train` into the same directory is refused with the holder's pid and host."""
        if self.rank == 0:
            os.makedirs(self.out_dir, exist_ok=True)
            path = os.path.join(self.out_dir, ".lock")
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
                os.close(fd)
                raise UserError(f"{self.out_dir} is in use by another `nnet2 train` ({holder}); wait for it to "
                                f"finish or choose another output directory") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
            self._lock_fd = fd  # released when the process exits
            os.makedirs(os.path.join(self.out_dir, "log"), exist_ok=True)
            os.makedirs(os.path.join(self.out_dir, "state"), exist_ok=True)
        if self.nw > 1:
            self.comm.Barrier()

    # ------------------------------------------------------------------ bookkeeping
    def _mdl(self, it: int) -> str:
        return os.path.join(self.out_dir, f"{it}.mdl")

    def _state_path(self, it: int) -> str:
        return os.path.join(self.out_dir, "state", f"{it}.json")

    def _identity(self) -> dict:
        o = self.opts
        ident = {"seed": o.seed, "num_workers": self.nw, "egs_dir": self.egs_dir, "minibatch_size": o.minibatch_size,
                 "iters_per_epoch": o.iters_per_epoch, "num_epochs": o.num_epochs, "update": o.update,
                 "max_norm": o.max_norm, "preconditioner_lifetime": o.preconditioner_lifetime,
                 "averaging": self.averaging, "average_every": o.average_every, "lr_schedule": self.schedule.name,
                 "initial_lr": o.initial_lr, "final_lr": o.final_lr, "scale_lr_by_workers": self.scale_lr,
                 "prior_frames": o.prior_frames}
        if self.averager is None and o.averaging == "bmuf":  # (a given averager carries its own settings)
            ident.update(block_momentum=self.block_momentum, block_lr=o.block_lr)
        if self.schedule.name == "newbob":
            ident.update(newbob_start_halving_impr=o.newbob_start_halving_impr,
                         newbob_end_halving_impr=o.newbob_end_halving_impr,
                         newbob_halving_factor=o.newbob_halving_factor)
        return ident

    def _last_checkpoint(self) -> int | None:
        d = os.path.join(self.out_dir, "state")
        its = [int(f[:-5]) for f in os.listdir(d) if f.endswith(".json") and f[:-5].isdigit()]
        its = [i for i in its if os.path.exists(self._mdl(i))]
        return max(its) if its else None

    def _iter_bounds(self, it: int) -> tuple[int, int, int]:
        """(epoch, first minibatch, end minibatch) of iteration `it`."""
        e, j = divmod(it, self.opts.iters_per_epoch)
        k = self.opts.iters_per_epoch
        return e, j * self.num_mb // k, (j + 1) * self.num_mb // k

    def learning_rate(self, it: int) -> float:
        """The rate every worker uses in iteration `it`: the schedule's, x N when scaled by workers."""
        return worker_lr(self.schedule.learning_rate(it, self.num_iters), self.nw, self.scale_lr)

    @property
    def scale_lr(self) -> bool:
        """--scale-lr-by-workers resolved: auto is on except under BMUF (see nnet2.parallel.averager)."""
        s = str(self.opts.scale_lr_by_workers).lower()
        return self.averaging != "bmuf" if s == "auto" else s == "true"

    @property
    def block_momentum(self) -> float:
        """--block-momentum resolved (auto = 1 - 1/N)."""
        v = str(self.opts.block_momentum)
        if v == "auto":
            return default_block_momentum(self.nw)
        try:
            bm = float(v)
        except ValueError:
            bm = -1.0
        if not 0.0 <= bm < 1.0:
            raise UserError(f"--block-momentum must be auto or a number in [0, 1), got '{v}'")
        return bm

    def _reduce_stats(self, arr: np.ndarray) -> np.ndarray:
        from mpi4py import MPI  # mpi4py.MPI initializes MPI when imported: import it on first use
        out = np.array(arr, dtype=np.float64)
        if self.nw > 1:
            self.comm.Allreduce(MPI.IN_PLACE, out, op=MPI.SUM)
        return out

    def evaluate(self, nnet, X, y, chunk: int = 4096) -> tuple[float, float, int]:
        """(objf per frame, accuracy, frames) over a set split across ranks and reduced."""
        n = len(y)
        lo, hi = self.rank * n // self.nw, (self.rank + 1) * n // self.nw
        tot = np.zeros(3)
        for s in range(lo, hi, chunk):
            st = nnet.evaluate(np.ascontiguousarray(X[s:min(hi, s + chunk)]), y[s:min(hi, s + chunk)])
            tot += (st.objf, st.correct, st.weight)  # weight = frames unless labels are weighted
        tot = self._reduce_stats(tot)
        f = max(tot[2], 1.0)
        return tot[0] / f, tot[1] / f, int(tot[2])

    def evaluate_units(self, nnet, X, y, units, chunk: int = 4096):
        """`evaluate` plus the 95% bootstrap interval of the accuracy over the units (held-out utterances)
        `units` [n] (nnet2.utils.intervals): ((objf, accuracy, frames), Interval | None)."""
        n = len(y)
        uniq, inv = np.unique(units, return_inverse=True)
        lo, hi = self.rank * n // self.nw, (self.rank + 1) * n // self.nw
        per = np.zeros((3, len(uniq)))  # objf, correct, frames per unit
        for s in range(lo, hi, chunk):
            e = min(hi, s + chunk)
            logp, corr = nnet.evaluate_frames(np.ascontiguousarray(X[s:e]), y[s:e])
            per[0] += np.bincount(inv[s:e], weights=logp, minlength=len(uniq))
            per[1] += np.bincount(inv[s:e], weights=corr, minlength=len(uniq))
            per[2] += np.bincount(inv[s:e], minlength=len(uniq))
        per = self._reduce_stats(per.ravel()).reshape(3, -1)
        f = max(per[2].sum(), 1.0)
        ci = ratio_interval(per[1], per[2], lower=0.0, upper=1.0) if len(uniq) else None
        return (per[0].sum() / f, per[1].sum() / f, int(per[2].sum())), ci

    # ------------------------------------------------------------------ main loop
    def run(self) -> str:
        """Train; the path of final.mdl. With validation beside training, a failure (or Ctrl-C) in the iteration
        beside a validation waits for that validation to end, and an error in the validation itself comes out
        after that iteration; the epoch's checkpoint is on disk either way (a resume validates it)."""
        self._validator, self._eval_nnet, self._pending = None, None, None
        try:
            return self._run()
        finally:
            if self._validator is not None:
                self._validator.shutdown(wait=True)  # (after a failure: lets a validation in flight end)
                self._validator = None

    def _run(self) -> str:
        o = self.opts
        t_start = time.perf_counter()
        # wall-clock seconds per phase (rank 0 logs them at the end; tools/bench_train.py reads that line)
        self.timing = {k: 0.0 for k in ("setup", "training", "validation", "checkpoints", "combination", "priors")}
        ident = self._identity()
        schedule = self.schedule
        start_it, history, avg_state = 0, [], None
        last = None
        if self.rank == 0:
            self._remove_temp_files()
            if o.resume:
                last = self._last_checkpoint()
            elif self._last_checkpoint() is not None:
                self.log.warning(f"{self.out_dir} already has checkpoints; starting over (use --resume true to "
                                 f"continue): removing its state files and final.mdl")
                self._remove_old_run()
        if self.nw > 1:
            last = self.comm.bcast(last, root=0)
        loaded = {}

        def load():
            # every rank reads the same state file and checks the same identity: a refusal is found on all
            # ranks together, so it is one SharedError line (no MPI abort racing rank 0's message)
            if last is not None:
                path = self._state_path(last)
                try:
                    with open(path, encoding="utf-8") as f:
                        st = json.load(f)
                    if not isinstance(st.get("identity"), dict) or not isinstance(st.get("history"), list):
                        raise ValueError("no identity or history")
                except (ValueError, AttributeError) as e:  # bad JSON or bytes, not an object, missing fields
                    raise DataError(f"cannot resume {self.out_dir}: {path} is not a training state file ({e}); "
                                    f"start afresh without --resume") from None
                for k, v in ident.items():
                    # (a key missing from an older state file: the then only behaviour, or not checked)
                    if st["identity"].get(k, _IDENTITY_ADDED.get(k, v)) != v:
                        flag = "--" + k.replace("_", "-") if k not in ("num_workers", "egs_dir") else k

                        def show(x):
                            return str(x).lower() if isinstance(x, bool) else str(x)
                        raise UserError(f"cannot resume {self.out_dir}: it was trained with {flag}="
                                        f"{show(st['identity'].get(k))}, this run has {flag}={show(v)} (start "
                                        f"afresh without --resume, or resume with the same value)")
                try:  # the learning-rate schedule's saved state ("newbob": checkpoints before the hook)
                    schedule.load_state(st.get("schedule", st.get("newbob", {})))
                except (KeyError, TypeError, ValueError, AttributeError) as e:
                    raise DataError(f"cannot resume {self.out_dir}: {path} has no valid schedule state ({e!r}); "
                                    f"start afresh without --resume") from None
                npz = os.path.join(self.out_dir, "state", f"{last}.npz")
                avg = None
                if os.path.exists(npz):
                    try:
                        with np.load(npz) as z:
                            avg = {k: z[k] for k in z.files}
                    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
                        raise DataError(f"cannot resume {self.out_dir}: {npz} is not a readable averager state "
                                        f"({e}); start afresh without --resume") from None
                loaded.update(st=st, model=load_model(self._mdl(last)), avg_state=avg)
            else:
                model = self._init if self._init is not None else load_model(self.init_model)
                if model.nnet.input_dim != self.egs.feat_dim and model.nnet.frame_input_start() == 1:
                    raise UserError(f"model {self.init_model} expects {model.nnet.input_dim}-dim features but the "
                                    f"egs in {self.egs_dir} have {self.egs.feat_dim}")
                loaded.update(model=model)
            self._check_model(loaded["model"].nnet)

        self._collective(load)
        model = loaded["model"]
        if last is not None:
            st = loaded["st"]
            start_it, history, avg_state = last, st["history"], loaded["avg_state"]
            if self.rank == 0:
                self.log.info(f"Resuming from iteration {last} ({self._mdl(last)})")
        nnet = model.nnet
        set_update_type(nnet, o.update, ngd_config.preset(o.ngd_preset))
        self.log.info(f"Rank {self.rank} computes on {self.where}"
                      + (f" ({cpu_blas_description(self.threads)})" if self.where == "cpu" else ""))
        nnet.to(o.device)
        averager = self.averager or make_averager(o.averaging, self.comm, self.block_momentum, o.block_lr)
        if self.rank == 0:
            self.log.info(f"Averaging: {averager.kind} every {o.average_every or 'iteration'} minibatches"
                          + (f", block momentum {averager.block_momentum:g}, block lr {averager.block_lr:g}"
                             if isinstance(averager, BmufAverager) else "")
                          + f"; worker learning rate = schedule rate x {self.nw if self.scale_lr else 1}")
        if avg_state is not None:
            averager.load_state({k: avg_state[k] for k in avg_state}, nnet.params)
        valid, train_diag = self.egs.valid_set(), self.egs.train_diag_set()
        valid_units = self.egs.valid_utterances()
        # where the objective starts (the same number on every rank), for the divergence check
        start_objf, _, nstart = self.evaluate(nnet, *(valid if len(valid[1]) else train_diag))
        self._objf_start = start_objf if nstart > 0 and math.isfinite(start_objf) else None
        self._chance = -math.log(max(nnet.output_dim, 2))  # the objective of a uniform posterior
        if last is None:
            acc0 = None
            if schedule.needs_initial_validation:
                # nnet1 newbob's "CROSSVAL PRERUN": the first epoch's gain is measured against the initial model.
                (_, acc0, nv), ci0 = self.evaluate_units(nnet, *valid, valid_units)
                half = (ci0.hi - ci0.lo) / 2 if ci0 is not None else 0.0
                if self.rank == 0 and isinstance(schedule, NewbobSchedule) and half > schedule.start_halving_impr:
                    self.log.warning(f"newbob: the validation accuracy's 95% interval is +-{100 * half:.2f}% "
                                     f"({nv} frames of {len(np.unique(valid_units))} held-out utterances), wider "
                                     f"than --newbob-start-halving-impr {100 * schedule.start_halving_impr:g}%: "
                                     f"halving and stopping will follow noise (hold out more utterances with "
                                     f"get-egs --valid-split, or raise the thresholds)")
            schedule.start(None if acc0 is None else float(acc0))
            if self.rank == 0:
                self._save(model, 0, ident, history, schedule, averager)
        self.comm.Barrier()
        self.timing["setup"] = time.perf_counter() - t_start
        if last is not None and history and (last % o.iters_per_epoch == 0) and "valid_acc" not in history[-1]:
            # killed while this epoch's validation ran beside the next iteration: validate the checkpoint's model
            # (the same parameters, so the same numbers), complete its state file and give the epoch to the
            # callbacks, which the killed run never did
            t_val = time.perf_counter()
            rec = IterationStats(**{f: history[-1][k] for f, k in _RECORD_FIELDS}, num_iters=self.num_iters,
                                 model_path=self._mdl(last), rank=self.rank, num_workers=self.nw)
            _fill_validation(rec, self._validate_sets(nnet, valid, train_diag, valid_units))
            rec.accepted = schedule.end_epoch(rec.epoch, rec.valid_acc)  # (the base class's: accepted)
            history[-1] = rec.to_record()
            if self.rank == 0:
                self._rewrite_state(last, history)
            self.timing["validation"] += time.perf_counter() - t_val
            for callback in self.callbacks:
                callback(rec)
        stop = schedule.stop  # a resumed run whose schedule had already stopped only writes final.mdl
        overlap = self._overlap_validation(schedule)
        if overlap:
            self.log.info("Validation runs on a second thread beside training (1 worker, 1 thread, a spare core): "
                          "each epoch's validation line follows one iteration later")
        for it in range(start_it, self.num_iters):
            if stop:
                break
            epoch, mb0, mb1 = self._iter_bounds(it)
            setup_logging(os.path.join(self.out_dir, "log", f"train.{it}.{self.rank}.log"), self.rank, self.nw,
                          stderr=self.rank == 0)
            self.log = get_logger("train")
            lr = self.learning_rate(it)
            nnet.set_learning_rate(lr)
            if o.preconditioner_lifetime == "iteration" or it % o.iters_per_epoch == 0 or it == start_it:
                nnet.reset_preconditioners()
            nnet.zero_stats()
            t_it = time.perf_counter()
            rec = self._train_iteration(nnet, averager, epoch, mb0, mb1, it, lr)
            t_val = time.perf_counter()
            self.timing["training"] += t_val - t_it
            if self._pending is not None:  # the previous epoch's validation ran beside this iteration
                self._complete_epoch(history, schedule)
                t_val = time.perf_counter()
            epoch_end = (it + 1) % o.iters_per_epoch == 0
            background = epoch_end and overlap and it + 1 < self.num_iters
            if background:
                self._start_validation(nnet, rec, len(history), valid, train_diag, valid_units)
            elif epoch_end:
                _fill_validation(rec, self._validate_sets(nnet, valid, train_diag, valid_units))
                rec.accepted = schedule.end_epoch(epoch, rec.valid_acc)
                if not rec.accepted:
                    # Reject the epoch (nnet1 newbob): go back to the model from the start of this epoch.
                    prev = load_model(self._mdl(it + 1 - o.iters_per_epoch)).nnet
                    nnet.set_params(prev.params)
                    averager.reset(nnet.params)
                    if self.rank == 0:
                        self.log.info(f"Epoch {epoch} rejected by the {schedule.name} schedule (accuracy "
                                      f"{rec.valid_acc:.4f}); learning rate now "
                                      f"{schedule.learning_rate(it + 1, self.num_iters):g}")
                stop = schedule.stop
            history.append(rec.to_record())
            t_save = time.perf_counter()
            self.timing["validation"] += t_save - t_val
            if self.rank == 0:
                self._save(model, it + 1, ident, history, schedule, averager)
            self.comm.Barrier()
            self.timing["checkpoints"] += time.perf_counter() - t_save
            if not background:
                for callback in self.callbacks:
                    callback(rec)
        if self._pending is not None:  # (a schedule stopped early: only newbob does, which never overlaps)
            self._complete_epoch(history, schedule)
        self._log_best_epoch(history)
        t_comb = time.perf_counter()
        if o.combine:
            model = self._combine(model)
        t_fin = time.perf_counter()
        self.timing["combination"] = t_fin - t_comb
        final = self._finish(model)
        self.timing["priors"] = time.perf_counter() - t_fin
        if self.rank == 0:
            total = time.perf_counter() - t_start
            self.log.info(f"Time: {total:.2f}s in all: " + ", ".join(f"{k} {v:.2f}s" for k, v in self.timing.items())
                          + " (setup: checks and the initial validation; training: the iterations' minibatches, "
                          "averaging included; priors: prior estimation and writing final.mdl)")
        return final

    # ------------------------------------------------------------------ validation beside training
    def _overlap_validation(self, schedule: LearningRateSchedule) -> bool:
        """Whether each epoch's validation can run on a second thread while the next iteration trains: one
        worker (no collectives from the second thread), the CPU with 1 thread and a spare core (the validation
        takes that core, not training's), and a schedule that neither decides on the validation (`end_epoch`)
        nor stops on it (newbob does both: it needs the result before the next iteration)."""
        o = self.opts
        if not o.background_validation or self.nw != 1 or self.threads != 1 or o.device != "cpu":
            return False
        base = LearningRateSchedule
        if type(schedule).end_epoch is not base.end_epoch or type(schedule).stop is not base.stop:
            return False
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # not Linux
            cores = os.cpu_count() or 1
        return cores >= 2

    def _start_validation(self, nnet, rec, index, valid, train_diag, valid_units) -> None:
        """Validate a copy of the model's parameters as they are now on the validation thread; history[index]
        is the epoch's record (the checkpoint is written meanwhile without its validation fields, and
        `_complete_epoch` adds them)."""
        if self._validator is None:
            self._validator = ThreadPoolExecutor(1, thread_name_prefix="nnet2-validation")
            # the thread's own OpenMP team size (OpenBLAS's setting is process-wide, and already 1)
            self._validator.submit(_core.set_num_threads, 1).result()
        if self._eval_nnet is None:
            self._eval_nnet = nnet.copy()
        self._eval_nnet.set_params(nnet.params)
        fut = self._validator.submit(self._validate_sets, self._eval_nnet, valid, train_diag, valid_units)
        self._pending = {"rec": rec, "index": index, "future": fut}

    def _complete_epoch(self, history, schedule) -> None:
        """The rest of an epoch's end validated beside training, as the synchronous path does it: the validation
        fields, the schedule's `end_epoch` (the base class's: accepted), the history (also in the epoch's state
        file, rewritten) and the callbacks."""
        p, self._pending = self._pending, None
        t0 = time.perf_counter()
        rec = p["rec"]
        _fill_validation(rec, p["future"].result())
        rec.accepted = schedule.end_epoch(rec.epoch, rec.valid_acc)
        history[p["index"]] = rec.to_record()
        t1 = time.perf_counter()
        self.timing["validation"] += t1 - t0
        if self.rank == 0:
            self._rewrite_state(rec.iteration + 1, history[:p["index"] + 1])
        self.timing["checkpoints"] += time.perf_counter() - t1
        for callback in self.callbacks:
            callback(rec)

    def _validate_sets(self, nnet, valid, train_diag, valid_units) -> tuple:
        """An epoch's validation: ((objf, accuracy, frames), interval) on the held-out set, its number of
        utterances, and (objf, accuracy, frames) on the train-diagnostic set."""
        return (self.evaluate_units(nnet, *valid, valid_units), len(np.unique(valid_units)),
                self.evaluate(nnet, *train_diag))

    def _rewrite_state(self, it: int, history: list) -> None:
        """state/<it>.json again with `history` (its last record now validated); the rest as written."""
        path = self._state_path(it)
        with open(path, encoding="utf-8") as f:
            st = json.load(f)
        st["history"] = history
        _atomic_json(path, st)

    def _log_best_epoch(self, history: list) -> None:
        """Say when an earlier epoch validated better than the last one (the model written is the last)."""
        ep = [h for h in history if "valid_acc" in h]
        if self.rank != 0 or not ep:
            return
        best, last = max(ep, key=lambda h: h["valid_acc"]), ep[-1]
        if best["valid_acc"] > last["valid_acc"]:
            self.log.warning(f"validation accuracy peaked at epoch {best['epoch'] + 1} ({best['valid_acc']:.4f}); the "
                             f"last epoch {last['epoch'] + 1} ({last['valid_acc']:.4f}) is the model written")
        else:
            self.log.info(f"best validation accuracy at the last epoch {last['epoch'] + 1} ({last['valid_acc']:.4f})")

    def _remove_temp_files(self) -> None:
        """Temporary files of writes interrupted by a kill (`atomic_path` names them .<name>.*.tmp*)."""
        for d in (self.out_dir, os.path.join(self.out_dir, "state")):
            for f in os.listdir(d):
                if f.startswith(".") and ".tmp" in f and os.path.isfile(os.path.join(d, f)):
                    os.unlink(os.path.join(d, f))

    def _remove_old_run(self) -> None:
        d = os.path.join(self.out_dir, "state")
        for f in os.listdir(d):
            if f.endswith((".json", ".npz")) and f.split(".")[0].isdigit():
                os.unlink(os.path.join(d, f))
        final = os.path.join(self.out_dir, "final.mdl")
        if os.path.exists(final):
            os.unlink(final)

    def _check_transition_model(self, model) -> None:
        """The egs' labels are pdf-ids of the tree they were aligned with (recorded by get-egs); a model
        from another tree can have the same number of pdfs and still mean other things by them."""
        info = getattr(self.egs, "info", None)
        want = info.get("transition_model_id") if isinstance(info, dict) else None
        tm = getattr(model, "transition_model", None)
        if want and tm is not None and tm.identity() != want:
            raise UserError(f"the model {self.init_model} has a different transition model (tree/topology) "
                            f"than the one the egs in {self.egs_dir} were made with: initialize it with "
                            f"the alignment model's tree")

    def _check_model(self, nnet) -> None:
        if nnet.frame_input_start() == 1:
            sp = nnet.splice_component()
            if not sp.is_contiguous() or sp.left_context != self.egs.left or sp.right_context != self.egs.right:
                raise UserError(f"the model's splice context {sp.context[0]}:{sp.context[-1]} does not match the egs "
                                f"context -{self.egs.left}:{self.egs.right}")
            if sp.input_dim != self.egs.feat_dim:
                raise UserError(f"the model expects {sp.input_dim}-dim frames, the egs have {self.egs.feat_dim}")
        elif nnet.input_dim != self.egs.input_dim:
            raise UserError(f"the model (no SpliceComponent) expects input dim {nnet.input_dim}; the egs give "
                            f"{self.egs.input_dim} (= (L+1+R) x {self.egs.feat_dim})")
        if self.egs.num_pdfs is not None and nnet.output_dim != self.egs.num_pdfs:
            raise UserError(f"the model has {nnet.output_dim} outputs but the egs have {self.egs.num_pdfs} pdfs")

    def _train_iteration(self, nnet, averager, epoch, mb0, mb1, it, lr) -> IterationStats:
        """Train minibatches [mb0, mb1) of the epoch; the iteration's statistics (validation fields unset)."""
        o = self.opts
        k_avg = o.average_every
        bar = None
        if self.rank == 0 and o.progress:
            bar = tqdm(total=mb1 - mb0, desc=f"iter {it} (epoch {epoch})", unit="mb", leave=False,
                       disable=not sys.stderr.isatty(), dynamic_ncols=True)
        averager.seconds, averager.rounds = 0.0, 0
        averager.start(nnet.params)
        fail_rank, fail_iter = os.environ.get("NNET2_TEST_FAIL_RANK"), os.environ.get("NNET2_TEST_FAIL_ITER")
        inject = fail_rank is not None and int(fail_rank) == self.rank and int(fail_iter or 0) == it
        tot = StepStats()
        t0 = time.perf_counter()
        since_avg, capped = 0, 0
        block = (0.0, 0.0)  # (objf, label weight) of tot at the last averaging point
        mbs = self.egs.iter_minibatches(self.rank, epoch, o.minibatch_size, o.seed, self.nw, start=mb0)
        with contextlib.closing(mbs):  # an exception in a step also ends the egs read-ahead thread now
            for i, (X, y) in enumerate(mbs, start=mb0):  # seeks to mb0: earlier minibatches are not read
                if i >= mb1:
                    break
                try:
                    tot.add(nnet.train_step(X, y))
                except Exception as e:  # the NG-SGD update refuses non-finite values: the model has diverged
                    if "non-finite" not in str(e):
                        raise
                    self._diverged(it, epoch, float("nan"), f"in minibatch {i} of rank {self.rank} ({e})")
                if o.max_norm > 0.0:
                    capped += nnet.apply_max_norm(o.max_norm)
                if inject:
                    _injected_failure(self.rank, it)
                since_avg += 1
                if hasattr(averager, "poll"):
                    averager.poll()
                if k_avg > 0 and since_avg == k_avg and i + 1 < mb1:
                    # The objective over the block just trained, checked at every averaging point: summed over
                    # the ranks (one more small blocking Allreduce next to the blocking average), so all ranks
                    # decide alike; the overlap averager keeps its ranks unsynchronised, so it is checked per
                    # iteration only.
                    if self.nw == 1 or averager.kind != "overlap":
                        b = self._reduce_stats(np.array([tot.objf - block[0], tot.weight - block[1]]))
                        self._check_divergence(it, epoch, b[0], b[1], "all ranks", shared=True)
                    block = (tot.objf, tot.weight)
                    averager.block_end(nnet.params)
                    since_avg = 0
                if bar is not None:
                    el = time.perf_counter() - t0
                    bar.update(1)
                    bar.set_postfix(fps=f"{tot.frames * self.nw / max(el, 1e-9):.0f}", objf=f"{tot.objf_per_frame:.3f}",
                                    acc=f"{tot.accuracy:.3f}", avg=f"{averager.seconds / max(el, 1e-9):.0%}")
        # End of iteration: one final (blocking) average so every rank holds the same model, plus stats.
        averager.finish(nnet.params)
        self._average_nonlinear_stats(nnet)
        el = time.perf_counter() - t0
        red = self._reduce_stats(np.array([tot.objf, tot.correct, tot.weight]))
        objf, acc = red[0] / max(red[2], 1), red[1] / max(red[2], 1)
        if bar is not None:
            bar.close()
        # the iteration's objective over all ranks: every rank takes the same decision
        self._check_divergence(it, epoch, red[0], red[2], "all ranks", shared=True)
        self.log.info(f"Iter {it} (epoch {epoch}, minibatches {mb0}-{mb1}, lr {lr:g}): training objf {objf:.4f} "
                      f"accuracy {acc:.4f} over {int(red[2])} frames in {el:.1f}s "
                      f"({red[2] / max(el, 1e-9):.0f} frames/s in all); averaging {averager.rounds} rounds, "
                      f"{averager.seconds:.2f}s ({100 * averager.seconds / max(el, 1e-9):.1f}% of the time)"
                      + (f"; max-norm {o.max_norm:g} capped {capped} weight rows" if o.max_norm > 0 else ""))
        return IterationStats(iteration=it, num_iters=self.num_iters, epoch=epoch, learning_rate=lr,
                              train_objf=float(objf), train_acc=float(acc), frames=int(red[2]), seconds=el,
                              avg_seconds=averager.seconds, avg_rounds=averager.rounds,
                              model_path=self._mdl(it + 1), rank=self.rank, num_workers=self.nw)

    # ------------------------------------------------------------------ divergence
    def _check_divergence(self, it: int, epoch: int, objf: float, frames: float, who: str,
                          shared: bool = False) -> None:
        """Stop a diverged run: an objective that is not finite, or far below where it started (below three times
        the lower of the starting model's held-out objective and chance level, -log(num_pdfs))."""
        if frames <= 0:
            return
        per_frame = objf / frames
        start = self._objf_start if self._objf_start is not None else 0.0
        floor = 3.0 * min(start, self._chance)
        if not math.isfinite(per_frame) or per_frame < floor:
            who = f"{who}; " if self.nw > 1 else ""
            self._diverged(it, epoch, per_frame, f"({who}the model started at {start:.4g}, the limit is "
                           f"{floor:.4g})", shared)

    def _diverged(self, it: int, epoch: int, per_frame: float, detail: str, shared: bool = False) -> None:
        msg = (f"training diverged in iteration {it} (epoch {epoch}): objective per frame {per_frame:.4g} {detail}; "
               f"no final.mdl written; lower --initial-lr (now {self.opts.initial_lr:g}) and start again without "
               f"--resume")
        if shared and self.nw > 1:
            raise SharedError(msg, rank=0)
        raise UserError(msg)

    def _average_nonlinear_stats(self, nnet) -> None:
        """Every nonlinear component's value_sum, deriv_sum and count averaged over the ranks, as
        nnet-am-average averages them over the jobs' models (all ranks ran the same minibatches, so the
        vectors have the same sizes everywhere)."""
        if self.nw == 1:
            return
        for c in nnet.components:
            if isinstance(c, C.NonlinearComponent) and (c.value_sum.size or c.deriv_sum.size or c.count):
                nv = c.value_sum.size
                buf = self._reduce_stats(np.concatenate([c.value_sum, c.deriv_sum, [c.count]])) / self.nw
                c.value_sum, c.deriv_sum, c.count = buf[:nv], buf[nv:-1], float(buf[-1])

    def _save(self, model, it, ident, history, schedule, averager) -> None:
        nnet = model.nnet
        save_model(model, self._mdl(it), binary=True)  # the writer copies device parameters to the host
        st = averager.state()
        if any(v is not None for v in st.values()):
            with atomic_path(os.path.join(self.out_dir, "state", f"{it}.npz"), suffix=".npz") as tmp:
                np.savez(tmp, **{k: v for k, v in st.items() if v is not None})
        _atomic_json(self._state_path(it), {"iter": it, "identity": ident, "history": history,
                                            "schedule": schedule.state(), "num_params": nnet.num_params()})

    def _finish(self, model) -> str:
        """Priors from the model's average posterior over training frames (Kaldi `nnet-adjust-priors`, `src/nnet2bin/nnet-adjust-priors.cc`), then final.mdl."""
        o = self.opts
        nnet = model.nnet
        final = os.path.join(self.out_dir, "final.mdl")
        if o.prior_frames > 0:
            X, _ = self._prior_frames(o.prior_frames)
            n = len(X)
            lo, hi = self.rank * n // self.nw, (self.rank + 1) * n // self.nw
            acc = np.zeros(nnet.output_dim + 1)
            for s in range(lo, hi, 4096):
                out = to_host(nnet.forward(np.ascontiguousarray(X[s:min(hi, s + 4096)])))
                acc[:-1] += out.sum(axis=0, dtype=np.float64)
                acc[-1] += out.shape[0]
            acc = self._reduce_stats(acc)
            pri = acc[:-1] / max(acc[:-1].sum(), 1e-30)
            model.am.priors = pri.astype(np.float32)
            if self.rank == 0:
                self.log.info(f"Priors from {int(acc[-1])} frames: min {pri.min():.3g}, max {pri.max():.3g}")
        if self.rank == 0:
            save_model(model, final, binary=True)
            self.log.info(f"Wrote {final}")
        self.comm.Barrier()
        return final

    def _prior_frames(self, n: int):
        return self.egs.prior_examples(n)

    def _combine(self, model):
        """nnet-combine-fast over the last iterations' checkpoints, as the nnet2 scripts run it at the end
        (train_pnorm_simple2.sh): num_models_combine = min(max(20, iterations per epoch),
        2/3 of the iterations after the midpoint) (at least 1; the midpoint stands for the scripts'
        mix-up iteration), more than 20 pre-averaged in 20 consecutive groups; combination examples:
        the egs' combination set. The ranks share the gradient passes (nnet2.train.combine) and rank 0
        broadcasts the parameters (the same bits everywhere). With --max-norm the
        combined model's rows are capped too (the combination may scale a layer up)."""
        o = self.opts
        n_it = self._last_checkpoint() if self.rank == 0 else None  # < num_iters if newbob stopped early
        if self.nw > 1:
            n_it = self.comm.bcast(n_it, root=0)
        X, y = self.egs.combine_set()
        if len(y) == 0:
            if self.rank == 0:
                self.log.warning("no combination examples in the egs; skipping the final combination")
            return model
        max_models = 20
        num = min(max(max_models, o.iters_per_epoch), ((n_it - n_it // 2 - 1) * 2) // 3)
        num = max(1, num)
        first = n_it - num + 1
        # Every rank reads the checkpoints (as a resume does) and takes its share of the gradient passes.
        its = list(range(first, n_it + 1))
        if num > max_models:
            groups = [its[(g * num) // max_models:((g + 1) * num) // max_models] for g in range(max_models)]
        else:
            groups = [[i] for i in its]
        nets = []

        def read_checkpoints():  # a bad checkpoint fails every rank: one line, no abort racing it
            for grp in groups:
                ms = [load_model(self._mdl(i)) for i in grp]
                nets.append((average_models(ms) if len(ms) > 1 else ms[0]).nnet)
        self._collective(read_checkpoints)
        if self.rank == 0:
            self.log.info(f"Combining the models of iterations {first}..{n_it} ({len(nets)} inputs) on "
                          f"{len(y)} combination examples" + (f", split over {self.nw} ranks" if self.nw > 1 else ""))
        try:
            comb, info = combine_nnets(nets, X, y, log=self.log, comm=self.comm,
                                       progress=o.progress and self.rank == 0)
        except UserError as e:  # the same on every rank: they all computed the same sums
            if self.nw > 1 and not isinstance(e, SharedError):
                raise SharedError(str(e), rank=0) from e
            raise
        if self.nw > 1:
            self.comm.Bcast(comb.params, root=0)
        comb.to(o.device)
        if o.max_norm > 0:  # the combination rescales layers; final.mdl keeps honouring --max-norm
            capped = comb.apply_max_norm(o.max_norm)
            if self.rank == 0 and capped:
                self.log.info(f"max-norm {o.max_norm:g} capped {capped} weight rows of the combined model")
        vo, va, vn = self.evaluate(comb, *self.egs.valid_set())
        if self.rank == 0 and vn:
            self.log.info(f"Combined model: validation objf {vo:.4f} accuracy {va:.4f} ({vn} frames)")
        return Model(model.transition_model, AmNnet(comb, model.priors))


def _injected_failure(rank: int, it: int) -> None:
    """The NNET2_TEST_FAIL_* test hook (module docstring)."""
    if os.environ.get("NNET2_TEST_FAIL_MODE", "raise") == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    raise RuntimeError(f"injected failure on rank {rank} in iteration {it} (NNET2_TEST_FAIL_RANK/ITER)")


def train(egs_dir: str, init_model: str, out_dir: str, opts: TrainOptions, comm=None, *,
          schedule: LearningRateSchedule | None = None, averager: Averager | None = None,
          callbacks: Sequence[IterationCallback] = ()) -> str:
    """Train `init_model` on `egs_dir` into `out_dir` with the workers of `comm`; returns final.mdl's path."""
    return Trainer(egs_dir, init_model, out_dir, opts, comm, schedule=schedule, averager=averager,
                   callbacks=callbacks).run()
