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

from nnet2.utils.options import parse_bool

NAME = "make-mfcc"
USAGE = "nnet2 make-mfcc [options] <data-dir> [<log-dir> [<mfcc-dir>]]"
HELP = "steps/make_mfcc.sh: MFCCs of a data dir -> <data-dir>/feats.scp"
KIND = "mfcc"


def add_arguments(p, kind: str = KIND):
    from nnet2.commands.compute_mfcc_feats import add_feature_options

    p.add_argument(f"--{kind}-config", dest="feat_config", default=f"conf/{kind}.conf",
                   help=f"Kaldi conf file of {kind} options (used if it exists)")
    p.add_argument("--nj", type=int, default=4, help="number of parallel jobs")
    p.add_argument("--compress", type=parse_bool, default=True, metavar="true|false",
                   help="store compressed matrices (copy-feats --compress=true), as the script does")
    p.add_argument("--write-utt2num-frames", type=parse_bool, default=True, metavar="true|false",
                   help="also write <data-dir>/utt2num_frames")
    add_feature_options(p, kind)
    p.add_argument("data_dir", metavar="<data-dir>")
    p.add_argument("log_dir", metavar="<log-dir>", nargs="?", default=None)
    p.add_argument("feat_dir", metavar=f"<{kind}-dir>", nargs="?", default=None)


def run(args, kind: str = KIND) -> int:
    import os
    import time

    from nnet2.feat.features import FbankOptions, MfccOptions
    from nnet2.feat.make_feats import make_feats

    cls = MfccOptions if kind == "mfcc" else FbankOptions
    extra = [f"--{k[5:].replace('_', '-')}={v}" for k, v in vars(args).items()
             if k.startswith("feat_") and k != "feat_config" and k != "feat_dir"]
    conf = args.feat_config if args.feat_config and os.path.exists(args.feat_config) else None
    opts = cls.from_conf(conf, extra=extra)
    data = args.data_dir
    log_dir = args.log_dir or os.path.join(data, "log")
    feat_dir = args.feat_dir or os.path.join(data, "data")
    n = make_feats(data, opts, feat_dir, nj=args.nj, compress=args.compress,
                   write_utt2num_frames=args.write_utt2num_frames)
    os.makedirs(log_dir, exist_ok=True)
    name = os.path.basename(os.path.normpath(data))
    with open(os.path.join(log_dir, f"make_{kind}_{name}.log"), "a") as f:
        f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {kind} for {n} utterances of {data} "
                f"into {feat_dir} ({args.nj} job(s), compress={str(args.compress).lower()})\n")
    return 0
