"""Keep N lines of an scp file spread evenly over it, in order (Kaldi's utils/subset_scp.pl N):
deterministic, and every part of a speaker-sorted list is represented.

    nnet2 subset-scp 20000 data/train_nodup/feats.scp exp/dbn/feats_subset.scp
"""

NAME = "subset-scp"
HELP = "keep N evenly spread lines of an scp (utils/subset_scp.pl)"


def add_arguments(p):
    p.add_argument("num", type=int, help="number of lines to keep")
    p.add_argument("scp_in", help="input scp (or any keyed table)")
    p.add_argument("scp_out", help="output (written atomically)")


def run(args) -> int:
    from nnet2 import api

    api.subset_scp(args.scp_in, args.scp_out, args.num)
    return 0
