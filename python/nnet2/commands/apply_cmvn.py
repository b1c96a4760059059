"""Apply cepstral mean and (optionally) variance normalization -- Kaldi's `apply-cmvn`
(src/featbin/apply-cmvn.cc, ApplyCmvn in src/transform/cmvn.cc). Per utterance by default, or per
speaker if --utt2spk is given; the stats may also be a single (global) stats file.

e.g.:
  nnet2 apply-cmvn --utt2spk=ark:data/train/utt2spk scp:data/train/cmvn.scp scp:data/train/feats.scp ark:-
  nnet2 apply-cmvn --norm-vars=true global_cmvn.stats scp:feats.scp ark,scp:cmvn_feats.ark,cmvn_feats.scp
"""

from __future__ import annotations

from nnet2.utils.options import parse_bool

NAME = "apply-cmvn"
KALDI = "apply-cmvn"
USAGE = ("nnet2 apply-cmvn [options] (<cmvn-stats-rspecifier>|<cmvn-stats-rxfilename>) "
         "<feats-rspecifier> <feats-wspecifier>")
HELP = "apply-cmvn: apply CMVN stats (per utterance, per speaker, or global) to features"


def add_arguments(p):
    p.add_argument("--utt2spk", default="",
                   help="rspecifier for utterance to speaker map (e.g. ark:data/train/utt2spk)")
    p.add_argument("--norm-vars", type=parse_bool, default=False, metavar="true|false",
                   help="If true, normalize variances.")
    p.add_argument("--norm-means", type=parse_bool, default=True, metavar="true|false",
                   help="You can set this to false to turn off mean normalization.  Note, the same can "
                        "be achieved by using 'fake' CMVN stats; setting the option to false is more "
                        "efficient.")
    p.add_argument("--reverse", type=parse_bool, default=False, metavar="true|false",
                   help="If true, apply CMVN in a reverse sense, so as to transform the normalized "
                        "features back (not supported here)")
    p.add_argument("cmvn", metavar="<cmvn-stats-rspecifier>|<cmvn-stats-rxfilename>")
    p.add_argument("feats", metavar="<feats-rspecifier>")
    p.add_argument("out", metavar="<feats-wspecifier>")


def run(args) -> int:
    from nnet2 import api
    from nnet2.utils.errors import UserError

    if args.reverse:
        raise UserError("--reverse=true is not supported")
    n = api.apply_cmvn(args.cmvn, args.feats, args.out, utt2spk=args.utt2spk or None, norm_vars=args.norm_vars,
                       norm_means=args.norm_means)
    return 0 if n else 1
