"""The settings of an online NG-SGD affine layer, and the one place their defaults live.

An `AffineComponentPreconditionedOnline` carries six numbers (Kaldi's `src/nnet2/nnet-component.h`):
the ranks of its input- and output-side preconditioners, how often they re-estimate their subspace,
their forgetting constant and identity smoothing, and the per-sample max-change of its step. Kaldi sets
them differently in different places, and we keep each of those sets under a name:

* `KALDI_INIT`: what `nnet-init` gives a config line that does not set them
  (`AffineComponentPreconditionedOnline::InitFromString` in `src/nnet2/nnet-component.cc`):
  rank-in 30, rank-out 80, update-period 1, num-samples-history 2000, alpha 4, max-change-per-sample 0.1.
* `KALDI_SCRIPTS`: what every p-norm training script passes (`egs/wsj/s5/steps/nnet2/train_pnorm_fast.sh`,
  `train_pnorm_simple2.sh`: `precondition_rank_in=20 precondition_rank_out=80 update_period=4
  num_samples_history=2000 alpha=4.0 max_change_per_sample=0.075`).
* `PAPER`: Su & Chen's (2015) Kaldi fork: rank-in 30, rank-out 60, update-period 4,
  num-samples-history 2000, alpha 4, max-change-per-sample 0.075.

Who uses which: an nnet-init config line (`nnet2 am-init`) gets `KALDI_INIT` for what it leaves out, as
Kaldi's nnet-init would; `nnet2 train --update ngd` gives the plain AffineComponents it converts
`PRESETS[--ngd-preset]` (default `DEFAULT_PRESET`, Kaldi's script values); a model read from a file keeps
the values stored in it. The C++ preconditioner object (`csrc/ngd/ngd.h`, Kaldi's `OnlineNaturalGradient`)
has its own constructor defaults (rank 40, update period 1) for standalone use; a component always passes
all of its values explicitly.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class NgdConfig:
    rank_in: int                  # rank of the input-side ([x | 1]) preconditioner
    rank_out: int                 # rank of the output-derivative preconditioner
    update_period: int            # after 10 updates, re-estimate the subspace every this many minibatches
    num_samples_history: float    # S: forgetting factor eta = 1 - exp(-N / S)
    alpha: float                  # identity smoothing of the Fisher estimate
    max_change_per_sample: float  # step-norm bound per frame (0 = off)

    def __post_init__(self):
        # normalize types, so values read from config lines, files or the CLI compare equal
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, (int if f.type in ("int", int) else float)(getattr(self, f.name)))

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> "NgdConfig":
        return dataclasses.replace(self, **changes)

    def config_line(self) -> str:
        """The nnet-init key=value form, e.g. 'rank-in=20 rank-out=80 ...'."""
        return " ".join(f"{CONFIG_KEYS[k]}={v:g}" for k, v in self.as_dict().items())


# nnet-init config-line keys (Kaldi's InitFromString) of the fields, in field order.
CONFIG_KEYS = {f.name: f.name.replace("_", "-") for f in dataclasses.fields(NgdConfig)}

KALDI_INIT = NgdConfig(rank_in=30, rank_out=80, update_period=1, num_samples_history=2000.0, alpha=4.0,
                       max_change_per_sample=0.1)
KALDI_SCRIPTS = NgdConfig(rank_in=20, rank_out=80, update_period=4, num_samples_history=2000.0, alpha=4.0,
                          max_change_per_sample=0.075)
PAPER = NgdConfig(rank_in=30, rank_out=60, update_period=4, num_samples_history=2000.0, alpha=4.0,
                  max_change_per_sample=0.075)

PRESETS = {"kaldi-scripts": KALDI_SCRIPTS, "kaldi-init": KALDI_INIT, "paper": PAPER}
DEFAULT_PRESET = "kaldi-scripts"


def preset(name: str) -> NgdConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown NG-SGD preset '{name}'; known: {', '.join(PRESETS)}") from None


def presets_help() -> str:
    """One line per preset, for --help texts."""
    return "; ".join(f"{n}: {c.config_line()}" for n, c in PRESETS.items())
