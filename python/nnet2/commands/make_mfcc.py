"""MFCC features for a whole data dir -- the counterpart of Kaldi's steps/make_mfcc.sh, with its
arguments and options: `<data-dir> [<log-dir> [<mfcc-dir>]]`, --mfcc-config, --nj, --compress,
--write-utt2num-frames.

Writes <mfcc-dir>/raw_mfcc_<data-name>.<n>.ark (n = 1..nj, compressed with Kaldi's default method
unless --compress=false) and <data-dir>/feats.scp pointing into them (and
<data-dir>/utt2num_frames); a line per job in <log-dir>/make_mfcc_<data-name>.log. Defaults as in
the script: <log-dir> = <data-dir>/log, <mfcc-dir> = <data-dir>/data. A bad utterance stops the
run and leaves neither archives nor a new feats.scp. For one table in, one table out use
`nnet2 compute-mfcc-feats`.

e.g.:  nnet2 make-mfcc --nj 2 --mfcc-config conf/mfcc.conf data/train exp/make_mfcc/train mfcc
"""

from __future__ import annotations

NAME = "make-mfcc"
USAGE = "nnet2 make-mfcc [options] <data-dir> [<log-dir> [<mfcc-dir>]]"
HELP = "steps/make_mfcc.sh: MFCCs of a data dir -> <data-dir>/feats.scp"
KIND = "mfcc"


def add_arguments(p, kind: str = KIND):
    from nnet2.commands.compute_mfcc_feats import add_feature_options
    from nnet2.feat.make_feats import MakeFeatsOptions
    from nnet2.utils.options import add_options

    p.add_argument(f"--{kind}-config", dest="feat_config", default=f"conf/{kind}.conf",
                   help=f"Kaldi conf file of {kind} options (used if it exists)")
    add_options(p, MakeFeatsOptions)
    add_feature_options(p, kind)
    p.add_argument("data_dir", metavar="<data-dir>")
    p.add_argument("log_dir", metavar="<log-dir>", nargs="?", default=None)
    p.add_argument("feat_dir", metavar=f"<{kind}-dir>", nargs="?", default=None)


def run(args, kind: str = KIND) -> int:
    import os

    from nnet2 import api
    from nnet2.feat.make_feats import MakeFeatsOptions
    from nnet2.utils.options import from_args

    cls = api.MfccOptions if kind == "mfcc" else api.FbankOptions
    extra = [f"--{k[5:].replace('_', '-')}={v}" for k, v in vars(args).items()
             if k.startswith("feat_") and k != "feat_config" and k != "feat_dir"]
    conf = args.feat_config if args.feat_config and os.path.exists(args.feat_config) else None
    api.compute_features(args.data_dir, args.feat_dir, cls.from_conf(conf, extra=extra),
                         from_args(MakeFeatsOptions, args), log_dir=args.log_dir)
    return 0
