"""Per-speaker CMVN statistics of a data dir -- the counterpart of Kaldi's
steps/compute_cmvn_stats.sh: `<data-dir> [<log-dir> [<cmvn-dir>]]` (defaults <data-dir>/log and
<data-dir>/data). Writes <cmvn-dir>/cmvn_<data-name>.ark (a double 2 x (dim+1) matrix per speaker,
as `compute-cmvn-stats --spk2utt`) and <data-dir>/cmvn.scp.

e.g.:  nnet2 make-cmvn data/train exp/make_mfcc/train mfcc
"""

from __future__ import annotations

NAME = "make-cmvn"
USAGE = "nnet2 make-cmvn [options] <data-dir> [<log-dir> [<cmvn-dir>]]"
HELP = "steps/compute_cmvn_stats.sh: per-speaker CMVN stats of a data dir -> cmvn.scp"


def add_arguments(p):
    p.add_argument("data_dir", metavar="<data-dir>", help="data dir with feats.scp and spk2utt")
    p.add_argument("log_dir", metavar="<log-dir>", nargs="?", default=None)
    p.add_argument("cmvn_dir", metavar="<cmvn-dir>", nargs="?", default=None)


def run(args) -> int:
    from nnet2 import api

    api.compute_cmvn(args.data_dir, args.cmvn_dir, log_dir=args.log_dir)
    return 0
