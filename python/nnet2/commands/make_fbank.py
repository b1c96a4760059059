"""Log mel filterbank features for a whole data dir -- the counterpart of Kaldi's
steps/make_fbank.sh: `<data-dir> [<log-dir> [<fbank-dir>]]`, --fbank-config, --nj, --compress.
Same behaviour as `nnet2 make-mfcc`.

e.g.:  nnet2 make-fbank --nj 2 --fbank-config conf/fbank.conf data/train exp/make_fbank/train fbank
"""

from __future__ import annotations

NAME = "make-fbank"
USAGE = "nnet2 make-fbank [options] <data-dir> [<log-dir> [<fbank-dir>]]"
HELP = "steps/make_fbank.sh: filterbanks of a data dir -> <data-dir>/feats.scp"


def add_arguments(p):
    from nnet2.commands.make_mfcc import add_arguments as _add

    _add(p, kind="fbank")


def run(args) -> int:
    from nnet2.commands.make_mfcc import run as _run

    return _run(args, kind="fbank")
