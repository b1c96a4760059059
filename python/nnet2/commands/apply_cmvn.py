"""Apply per-speaker CMVN to features and write them as a new archive (Kaldi `apply-cmvn`,
mean normalization by default, `--norm-vars true` for variances too).

    nnet2 apply-cmvn --utt2spk data/train/utt2spk scp:data/train/cmvn.scp scp:data/train/feats.scp \\
        exp/feats/cmvn_feats.ark exp/feats/feats.scp
"""

from nnet2.utils.options import parse_bool

NAME = "apply-cmvn"
HELP = "apply per-speaker CMVN stats to features -> new ark + scp"


def add_arguments(p):
    p.add_argument("--utt2spk", default=None, help="utt2spk (stats are per speaker); without it, per utterance")
    p.add_argument("--norm-vars", type=parse_bool, default=False, metavar="true|false",
                   help="also normalize variances")
    p.add_argument("cmvn", help="CMVN stats rspecifier, e.g. scp:data/train/cmvn.scp")
    p.add_argument("feats", help="features rspecifier, e.g. scp:data/train/feats.scp")
    p.add_argument("out_ark", help="output archive")
    p.add_argument("out_scp", help="output scp (points into out_ark)")


def run(args) -> int:
    from nnet2.feat.apply_cmvn import apply_cmvn_archive
    from nnet2.utils.log import get_logger

    n = apply_cmvn_archive(args.feats, args.cmvn, args.out_ark, args.out_scp, args.utt2spk, args.norm_vars)
    get_logger("apply-cmvn").info(f"normalized {n} utterances -> {args.out_scp}")
    return 0
