"""Per-speaker CMVN statistics of a data dir (Kaldi `compute-cmvn-stats --spk2utt`,
`steps/compute_cmvn_stats.sh`): a float64 2x(D+1) matrix per speaker in <featdir>/cmvn_<set>.ark,
indexed by <datadir>/cmvn.scp.

    nnet2 compute-cmvn-stats data/train mfcc
"""

from __future__ import annotations

NAME = "compute-cmvn-stats"
HELP = "per-speaker CMVN stats of a data dir -> cmvn.scp"


def add_arguments(p):
    p.add_argument("datadir", help="data dir with feats.scp and spk2utt")
    p.add_argument("feat_dir", nargs="?", default=None, help="where cmvn_<set>.ark goes (default <datadir>/data)")


def run(args) -> int:
    from nnet2.feat.make_feats import compute_cmvn_stats

    compute_cmvn_stats(args.datadir, args.feat_dir)
    return 0
