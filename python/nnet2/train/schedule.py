"""Learning-rate schedules (tested Python, never shell arithmetic; style rule 11).

* exponential (Kaldi nnet2 `_simple`, the paper's default): iteration x of X in total uses
  lr(x) = lr0 * (lrF / lr0) ** (x / X), and exactly lrF on the last iteration.
* newbob (nnet1, the paper's alternative): constant lr0 until the validation frame-accuracy gain of an
  epoch falls below `start_halving_impr` (0.5% absolute); from then on halve after every epoch; stop
  when the gain falls below `end_halving_impr` (0.1%) while halving. An epoch that makes validation
  accuracy worse is rejected (the previous model is kept) and halving starts, as nnet1 does.

The learning rate of a worker is multiplied by the number of workers when `scale_by_workers` is on
(each replica makes only 1/N of the updates; the paper's rule).
"""

from __future__ import annotations

import dataclasses


def exponential_lr(iteration: int, num_iters: int, initial: float, final: float) -> float:
    if num_iters <= 1 or iteration + 1 >= num_iters:
        return float(final) if iteration + 1 >= num_iters and num_iters > 1 else float(initial)
    return float(initial) * (float(final) / float(initial)) ** (iteration / num_iters)


@dataclasses.dataclass
class NewbobState:
    lr: float
    halving: bool = False
    best_acc: float | None = None  # validation accuracy of the last accepted epoch
    stop: bool = False

    def end_epoch(self, acc: float, start_halving_impr: float = 0.005, end_halving_impr: float = 0.001,
                  halving_factor: float = 0.5) -> bool:
        """Update with this epoch's validation accuracy (a fraction); returns True if the epoch is accepted."""
        if self.best_acc is None:
            self.best_acc = acc
            return True
        gain = acc - self.best_acc
        accepted = gain >= 0.0
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
