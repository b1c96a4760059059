"""Make the FSDD connected-digit corpus: wavs of 2-7 digits of one speaker with short pauses,
Kaldi data dirs data/train and data/test (text, wav.scp, utt2spk, spk2utt, word_boundaries.json,
ref.ctm), data/local/dict and data/lang. Same seed -> identical files.

    nnet2 prepare-fsdd --fsdd-dir ../shared/data/fsdd exp_root      # writes exp_root/{wav,data}
"""

from __future__ import annotations

NAME = "prepare-fsdd"
HELP = "build connected-digit data dirs and the lang dir from FSDD recordings"


def add_arguments(p):
    from nnet2.corpora.fsdd import FsddOptions
    from nnet2.utils.options import add_options

    p.add_argument("out_dir", help="output root (gets wav/ and data/)")
    add_options(p, FsddOptions)


def run(args) -> int:
    from nnet2 import api
    from nnet2.utils.options import from_args

    api.prepare_fsdd(args.out_dir, from_args(api.FsddOptions, args))
    return 0
