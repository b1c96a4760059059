"""Compute MFCC features for a data dir, like Kaldi's `compute-mfcc-feats` / `steps/make_mfcc.sh`.

Kaldi-like form (the data dir is the one holding wav.scp):

    nnet2 compute-mfcc-feats --config=conf/mfcc.conf scp:data/train/wav.scp \\
        ark,scp:mfcc/raw_mfcc_train.ark,data/train/feats.scp

or simply `nnet2 compute-mfcc-feats --config=conf/mfcc.conf data/train mfcc`. Archives are written
to the feature dir under a temporary name and renamed; feats.scp goes into the data dir. Any MFCC
option (Kaldi names: --sample-frequency, --use-energy, --dither, ...) may follow and overrides the
config file.
"""

from __future__ import annotations

import os

NAME = "compute-mfcc-feats"
HELP = "MFCC features of a data dir (kaldi-native-fbank, Kaldi options) -> feats.scp"
KIND = "mfcc"


def add_arguments(p, kind: str = KIND):
    import argparse
    import dataclasses

    from nnet2.feat.features import FbankOptions, MfccOptions

    p.add_argument("--config", default=None, help="Kaldi conf file of feature options (--name=value lines)")
    p.add_argument("--nj", type=int, default=1, help="number of parallel jobs")
    p.add_argument("input", help="data dir, or scp:<datadir>/wav.scp")
    p.add_argument("output", help="feature dir, or ark,scp:<featdir>/<name>.ark,<datadir>/feats.scp")
    # Feature options are only collected here (no defaults), so they override the config file;
    # their types, defaults and validation live in the options class.
    cls = MfccOptions if kind == "mfcc" else FbankOptions
    g = p.add_argument_group(f"{kind} options (override --config)")
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else None
        g.add_argument("--" + f.name.replace("_", "-"), dest="feat_" + f.name, default=argparse.SUPPRESS,
                       help=f"{f.metadata.get('help', '')} (default: {default})")


def parse_io(inp: str, out: str) -> tuple[str, str]:
    from nnet2.utils.errors import UserError

    datadir = inp[4:] if inp.startswith("scp:") else inp
    if datadir.endswith("wav.scp"):
        datadir = os.path.dirname(datadir) or "."
    if out.startswith("ark,scp:") or out.startswith("ark:"):
        spec = out.split(":", 1)[1].split(",")
        feat_dir = os.path.dirname(spec[0]) or "."
        if len(spec) > 1 and os.path.normpath(os.path.dirname(spec[1]) or ".") != os.path.normpath(datadir):
            raise UserError(f"the scp must be <datadir>/feats.scp ({datadir}), got {spec[1]}")
    else:
        feat_dir = out
    return datadir, feat_dir


def run(args, kind: str = KIND) -> int:
    from nnet2.feat.features import FbankOptions, MfccOptions
    from nnet2.feat.make_feats import make_feats

    cls = MfccOptions if kind == "mfcc" else FbankOptions
    extra = [f"--{k[5:].replace('_', '-')}={v}" for k, v in vars(args).items() if k.startswith("feat_")]
    opts = cls.from_conf(args.config, extra=extra)
    datadir, feat_dir = parse_io(args.input, args.output)
    make_feats(datadir, opts, feat_dir, nj=args.nj)
    return 0
