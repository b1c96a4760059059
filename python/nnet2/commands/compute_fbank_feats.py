"""Create Mel-filter-bank feature files -- Kaldi's `compute-fbank-feats`
(src/featbin/compute-fbank-feats.cc): same arguments, option names and defaults (FbankOptions from
src/feat/feature-fbank.h). Reads the wav table, writes the feature table and nothing else.

e.g.:
  nnet2 compute-fbank-feats --config=conf/fbank.conf scp:data/train/wav.scp ark,scp:fbank/raw.ark,fbank/raw.scp

For a whole data dir use `nnet2 make-fbank` (steps/make_fbank.sh).
"""

from __future__ import annotations

from nnet2.commands.compute_mfcc_feats import add_arguments as _add

NAME = "compute-fbank-feats"
KALDI = "compute-fbank-feats"
USAGE = "nnet2 compute-fbank-feats [options...] <wav-rspecifier> <feats-wspecifier>"
HELP = "compute-fbank-feats: log mel filterbanks of a wav table -> feature table (Kaldi options)"


def add_arguments(p):
    _add(p, kind="fbank")


def run(args) -> int:
    from nnet2.commands.compute_mfcc_feats import run as _run

    return _run(args, kind="fbank")
