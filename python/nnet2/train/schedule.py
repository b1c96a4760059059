"""Learning-rate schedules (tested Python, never shell arithmetic; style rule 11).

* exponential (Kaldi nnet2 `train_*_simple.sh`, the paper's default; `egs/wsj/s5/steps/nnet2/train_pnorm_simple.sh`): iteration x of X in total
  uses lr(x) = lr0 * (lrF / lr0) ** (x / X) for x < X, and lrF for x >= X. So iteration 0 uses lr0 and the
  last one (x = X-1) lr0 * (lrF/lr0)**((X-1)/X); lrF itself is the rate Kaldi stores in final.mdl.
* newbob (nnet1 `train_scheduler.sh`, the paper's alternative): the validation frame accuracy of the
  initial model is the reference. Constant lr0 until the accuracy gain of an epoch over the last
  accepted model falls below `start_halving_impr` (0.5% absolute); from then on halve after every epoch;
  stop when the gain falls below `end_halving_impr` (0.1%) while halving. An epoch that makes validation
  accuracy worse is rejected (the previous model is kept; its gain counts as 0, as in nnet1).

The thresholds are absolute gains of a frame accuracy measured on a finite held-out set, so they only
mean something when the accuracy's sampling noise is well below them. The noise is set by the number of
held-out *utterances* (frames of one utterance are correlated): nnet1 holds out 10% of Switchboard
(~25k utterances, a 95% interval of about +-0.1%), where 0.5% / 0.1% are decisions about real gains;
on FSDD's ~60 held-out utterances the interval is about +-1%, and newbob halves and stops on noise.
`nnet2 train` warns when the interval of the initial model's accuracy is wider than
`start_halving_impr`; get-egs --valid-split last-utts / --valid-percent hold out more.

The learning rate of a worker is multiplied by the number of workers when `scale_by_workers` is on
(each replica makes only 1/N of the updates; the paper's rule; `nnet2 train` turns it off by default
under BMUF, whose block momentum already scales the step): `worker_lr`.
"""

from __future__ import annotations

import abc
import dataclasses


def exponential_lr(iteration: int, num_iters: int, initial: float, final: float) -> float:
    """Kaldi's `($x >= $n ? $f : $i*exp($x*log($f/$i)/$n))` for iteration x of n."""
    if iteration >= num_iters:
        return float(final)
    return float(initial) * (float(final) / float(initial)) ** (iteration / num_iters)


def worker_lr(lr: float, num_workers: int, scale_by_workers: bool) -> float:
    """The learning rate each of `num_workers` averaging workers uses for a schedule rate `lr`."""
    return float(lr) * (num_workers if scale_by_workers else 1)


@dataclasses.dataclass
class NewbobState:
    lr: float
    halving: bool = False
    best_acc: float | None = None  # validation accuracy of the last accepted model (initially: the start model)
    stop: bool = False

    def end_epoch(self, acc: float, start_halving_impr: float = 0.005, end_halving_impr: float = 0.001,
                  halving_factor: float = 0.5) -> bool:
        """Update with this epoch's validation accuracy (a fraction); returns True if the epoch is accepted.
        Afterwards `lr` is the rate for the next epoch and `stop` says whether training ends."""
        acc = float(acc)  # may be a numpy scalar; the state goes to JSON
        if self.best_acc is None:
            self.best_acc = acc
            return True
        accepted = bool(acc >= self.best_acc)
        gain = acc - self.best_acc if accepted else 0.0
        if accepted:
            self.best_acc = acc
        if self.halving and gain < end_halving_impr:
            self.stop = True
        if gain < start_halving_impr:
            self.halving = True
        if self.halving:
            self.lr *= halving_factor
        return accepted

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "NewbobState":
        return cls(**d)


class LearningRateSchedule(abc.ABC):
    """The learning-rate schedule hook of `nnet2.train.trainer.Trainer` (and `nnet2.api.train`).

    The trainer calls, on every rank with the same arguments (so every rank holds the same schedule):
    * `start(initial_valid_acc)` once, before the first iteration of a fresh run: the validation frame
      accuracy of the initial model when `needs_initial_validation` is true, else None;
    * `learning_rate(iteration, num_iters)` at the start of every iteration: the rate per frame for a
      single worker (the trainer multiplies it by N under plain averaging, `worker_lr`);
    * `end_epoch(epoch, valid_acc)` after the validation at the end of every epoch; returning False
      rejects the epoch (the trainer goes back to the model it started the epoch from);
    * `stop` after every epoch: True ends training early;
    * `state()` / `load_state(d)` to checkpoint it (JSON-serializable) for `--resume`.

    Subclass it and override `learning_rate` (and what else the rule needs). `name` identifies the
    schedule in checkpoints: a run cannot resume under a different schedule.
    """

    name: str = "custom"
    needs_initial_validation: bool = False

    def start(self, initial_valid_acc: float | None) -> None:
        """Called once before the first iteration of a fresh (not resumed) run."""

    @abc.abstractmethod
    def learning_rate(self, iteration: int, num_iters: int) -> float:
        """The learning rate of iteration `iteration` (0-based) of `num_iters`."""

    def end_epoch(self, epoch: int, valid_acc: float) -> bool:
        """Called after epoch `epoch` (0-based) with its validation frame accuracy; False rejects the epoch."""
        return True

    @property
    def stop(self) -> bool:
        """True once the schedule wants training to end (checked after every epoch)."""
        return False

    def state(self) -> dict:
        """What must be checkpointed to resume (JSON-serializable)."""
        return {}

    def load_state(self, state: dict) -> None:
        """Restore what `state()` returned."""


class ExponentialSchedule(LearningRateSchedule):
    """Kaldi nnet2's exponentially decreasing rate from `initial` to `final` (`exponential_lr`)."""

    name = "exponential"

    def __init__(self, initial: float, final: float):
        if not (initial > 0 and final > 0):
            raise ValueError(f"exponential schedule: learning rates must be > 0, got {initial} and {final}")
        self.initial, self.final = float(initial), float(final)

    def learning_rate(self, iteration: int, num_iters: int) -> float:
        return exponential_lr(iteration, num_iters, self.initial, self.final)


class NewbobSchedule(LearningRateSchedule):
    """nnet1's newbob (`NewbobState`): constant `initial` until an epoch gains less than
    `start_halving_impr` validation accuracy, then x `halving_factor` per epoch; stop when halving and
    the gain is below `end_halving_impr`; an epoch that lowers validation accuracy is rejected."""

    name = "newbob"
    needs_initial_validation = True

    def __init__(self, initial: float, start_halving_impr: float = 0.005, end_halving_impr: float = 0.001,
                 halving_factor: float = 0.5):
        self.newbob = NewbobState(lr=float(initial))
        self.start_halving_impr = float(start_halving_impr)
        self.end_halving_impr = float(end_halving_impr)
        self.halving_factor = float(halving_factor)

    def start(self, initial_valid_acc: float | None) -> None:
        # nnet1's "CROSSVAL PRERUN": the first epoch's gain is measured against the initial model.
        if initial_valid_acc is not None:
            self.newbob.best_acc = float(initial_valid_acc)

    def learning_rate(self, iteration: int, num_iters: int) -> float:
        return self.newbob.lr

    def end_epoch(self, epoch: int, valid_acc: float) -> bool:
        return self.newbob.end_epoch(valid_acc, self.start_halving_impr, self.end_halving_impr, self.halving_factor)

    @property
    def stop(self) -> bool:
        return self.newbob.stop

    @property
    def best_acc(self) -> float | None:
        """Validation accuracy of the last accepted model."""
        return self.newbob.best_acc

    def state(self) -> dict:
        return self.newbob.to_dict()

    def load_state(self, state: dict) -> None:
        self.newbob = NewbobState.from_dict(state)
