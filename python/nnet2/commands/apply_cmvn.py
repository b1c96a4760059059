"""Apply per-speaker CMVN to features (like Kaldi's apply-cmvn --utt2spk) and write them out.

  nnet2 apply-cmvn --utt2spk=data/train/utt2spk scp:data/train/cmvn.scp scp:data/train/feats.scp \\
      ark,scp:exp/feats/train_cmvn.ark,exp/feats/train_cmvn.scp
"""

from nnet2.utils.options import parse_bool

NAME = "apply-cmvn"
HELP = "apply per-speaker CMVN statistics to features"


def add_arguments(p):
    p.add_argument("--utt2spk", help="utt2spk map (stats are per speaker); without it stats are per utterance")
    p.add_argument("--norm-vars", type=parse_bool, default=False, metavar="true|false", help="also normalize variances")
    p.add_argument("cmvn_rspecifier", help="CMVN stats, e.g. scp:data/train/cmvn.scp")
    p.add_argument("feats_rspecifier", help="features, e.g. scp:data/train/feats.scp")
    p.add_argument("out_wspecifier", help="output, e.g. ark,scp:out.ark,out.scp")


def run(args) -> int:
    import kaldiio

    from nnet2.data.datadir import read_table
    from nnet2.feat.cmvn import apply_cmvn
    from nnet2.nnet.compute import atomic_wspecifier, iter_rspecifier
    from nnet2.utils.errors import DataError

    utt2spk = read_table(args.utt2spk) if args.utt2spk else None
    stats = {k: v for k, v in iter_rspecifier(args.cmvn_rspecifier)}
    n = 0
    with atomic_wspecifier(args.out_wspecifier) as ws, kaldiio.WriteHelper(ws) as w:
        for utt, feats in iter_rspecifier(args.feats_rspecifier):
            key = utt if utt2spk is None else utt2spk.get(utt)
            if key is None:
                raise DataError(f"utterance {utt} is not in {args.utt2spk}")
            if key not in stats:
                raise DataError(f"no CMVN stats for '{key}' (utterance {utt}) in {args.cmvn_rspecifier}")
            w(utt, apply_cmvn(feats, stats[key], args.norm_vars, name=utt).astype("float32"))
            n += 1
    print(f"applied CMVN to {n} utterances")
    return 0
