"""Compute log mel filterbank features for a data dir, like Kaldi's `compute-fbank-feats`
(`steps/make_fbank.sh`). Same arguments as `nnet2 compute-mfcc-feats`:

    nnet2 compute-fbank-feats --config=conf/fbank.conf scp:data/train/wav.scp \\
        ark,scp:fbank/raw_fbank_train.ark,data/train/feats.scp
"""

from __future__ import annotations

from nnet2.commands.compute_mfcc_feats import add_arguments as _add

NAME = "compute-fbank-feats"
HELP = "log mel filterbank features of a data dir (Kaldi options) -> feats.scp"


def add_arguments(p):
    _add(p, kind="fbank")


def run(args) -> int:
    from nnet2.commands.compute_mfcc_feats import run as _run

    return _run(args, kind="fbank")
