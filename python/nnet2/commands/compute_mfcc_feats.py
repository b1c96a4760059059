"""Create MFCC feature files -- Kaldi's `compute-mfcc-feats` (src/featbin/compute-mfcc-feats.cc):
same arguments, option names and defaults (MfccOptions from src/feat/feature-mfcc.h), features by
kaldi-native-fbank. It reads the wav table and writes the feature table, and nothing else.

e.g.:
  nnet2 compute-mfcc-feats --config=conf/mfcc.conf scp:data/train/wav.scp ark,scp:mfcc/raw.ark,mfcc/raw.scp
  nnet2 compute-mfcc-feats --dither=0 scp:wav.scp ark,t:mfcc.txt
  nnet2 compute-mfcc-feats scp:wav.scp ark:- | nnet2 copy-feats --compress=true ark:- ark:feats.ark

As in Kaldi, an utterance shorter than --min-duration, or that cannot be read or computed, is
skipped with a warning; the exit status is 1 when no utterance succeeded. Dither noise is seeded
(--seed and the utterance id) so runs are reproducible. For a whole data dir (feats.scp written
into it, parallel jobs) use `nnet2 make-mfcc`, the counterpart of steps/make_mfcc.sh.
"""

from __future__ import annotations

NAME = "compute-mfcc-feats"
KALDI = "compute-mfcc-feats"
USAGE = "nnet2 compute-mfcc-feats [options...] <wav-rspecifier> <feats-wspecifier>"
HELP = "compute-mfcc-feats: MFCCs of a wav table -> feature table (Kaldi options)"
KIND = "mfcc"


def add_feature_options(p, kind: str) -> None:
    """The MfccOptions/FbankOptions flags, collected without defaults (those live in
    nnet2.feat.features): only the options given (on the command line or in --config) are set."""
    import argparse
    import dataclasses

    from nnet2.feat.features import FbankOptions, MfccOptions

    cls = MfccOptions if kind == "mfcc" else FbankOptions
    g = p.add_argument_group(f"{kind} options (Kaldi names)")
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else None
        g.add_argument("--" + f.name.replace("_", "-"), dest="feat_" + f.name, default=argparse.SUPPRESS,
                       help=f"{f.metadata.get('help', '')} (default: {default})")


def feature_options(args, kind: str):
    from nnet2.feat.features import FbankOptions, MfccOptions

    cls = MfccOptions if kind == "mfcc" else FbankOptions
    extra = [f"--{k[5:].replace('_', '-')}={v}" for k, v in vars(args).items() if k.startswith("feat_")]
    return cls.from_argv(extra)  # a --config FILE has already been read into args (nnet2.cli)


def add_arguments(p, kind: str = KIND):
    p.add_argument("--output-format", default="kaldi", choices=["kaldi"],
                   help="Format of the output files (Kaldi's 'htk' is not supported)")
    p.add_argument("--subtract-mean", type=_bool, default=False, metavar="true|false",
                   help="Subtract mean of each feature file [CMS]; not recommended to do it this way.")
    p.add_argument("--vtln-warp", type=float, default=1.0, help="Vtln warp factor (only 1.0 is supported)")
    p.add_argument("--channel", type=int, default=-1,
                   help="Channel to extract (-1 -> expect mono, 0 -> left, 1 -> right)")
    p.add_argument("--min-duration", type=float, default=0.0,
                   help="Minimum duration of segments to process (in seconds).")
    add_feature_options(p, kind)
    p.add_argument("wav_rspecifier", metavar="<wav-rspecifier>", help="e.g. scp:data/train/wav.scp")
    p.add_argument("feats_wspecifier", metavar="<feats-wspecifier>",
                   help="e.g. ark:feats.ark, ark,t:feats.txt, ark,scp:feats.ark,feats.scp, ark:-")


def _bool(s):
    from nnet2.utils.options import parse_bool

    return parse_bool(s)


def run(args, kind: str = KIND) -> int:
    from nnet2 import api

    n = api.compute_feats_table(args.wav_rspecifier, args.feats_wspecifier, feature_options(args, kind),
                                subtract_mean=args.subtract_mean, channel=args.channel,
                                min_duration=args.min_duration, vtln_warp=args.vtln_warp)
    return 0 if n else 1
