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
