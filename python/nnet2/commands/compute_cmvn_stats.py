"""Compute cepstral mean and variance normalization statistics -- Kaldi's `compute-cmvn-stats`
(src/featbin/compute-cmvn-stats.cc): if a wspecifier is given, per utterance by default, or per
speaker with --spk2utt; if a wxfilename, global stats. Stats are double 2 x (dim+1) matrices
(AccCmvnStats, src/transform/cmvn.cc).

e.g.:
  nnet2 compute-cmvn-stats --spk2utt=ark:data/train/spk2utt scp:data/train/feats.scp ark,scp:cmvn.ark,cmvn.scp
  nnet2 compute-cmvn-stats scp:data/train/feats.scp global_cmvn.stats

For a data dir (cmvn.scp written into it) use `nnet2 make-cmvn` (steps/compute_cmvn_stats.sh).
"""

from __future__ import annotations

from nnet2.utils.options import parse_bool

NAME = "compute-cmvn-stats"
KALDI = "compute-cmvn-stats"
USAGE = "nnet2 compute-cmvn-stats [options] <feats-rspecifier> (<stats-wspecifier>|<stats-wxfilename>)"
HELP = "compute-cmvn-stats: CMVN stats per utterance, per speaker (--spk2utt) or global"


def add_arguments(p):
    p.add_argument("--spk2utt", default="", help="rspecifier for speaker to utterance-list map")
    p.add_argument("--binary", type=parse_bool, default=True, metavar="true|false",
                   help="write in binary mode (applies only to global CMN/CVN)")
    p.add_argument("--weights", default="",
                   help="rspecifier for a vector of floats for each utterance, that's a per-frame weight.")
    p.add_argument("feats", metavar="<feats-rspecifier>")
    p.add_argument("stats", metavar="<stats-wspecifier>|<stats-wxfilename>")


def run(args) -> int:
    from nnet2 import api

    api.compute_cmvn_stats_table(args.feats, args.stats, spk2utt=args.spk2utt or None, weights=args.weights or None,
                                 binary=args.binary)
    return 0
