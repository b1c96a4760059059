"""Copy a (nnet2) neural net and its associated transition model, possibly changing the binary
mode -- Kaldi's `nnet-am-copy` (src/nnet2bin/nnet-am-copy.cc), same arguments and option names.

The model is copied at the file-format level: every component type we read is written back
unchanged (a copy without options is byte-identical to its input in the same mode). Options apply
in Kaldi's order: --learning-rate-factor, --learning-rate, --learning-rates, --scales, --truncate,
--remove-preconditioning, --stats-from.

e.g.:
  nnet2 am-copy --binary=false 1.mdl text.mdl
  nnet2 am-copy --learning-rate=0.001 0.mdl 0_lr.mdl
  nnet2 am-copy --remove-preconditioning=true final.mdl - | nnet2 am-info -
"""

from __future__ import annotations

NAME = "am-copy"
KALDI = "nnet-am-copy"
USAGE = "nnet2 am-copy [options] <nnet-in> <nnet-out>"
HELP = "nnet-am-copy: copy a .mdl (text <-> binary, learning rates, remove preconditioning)"


def add_arguments(p):
    from nnet2.nnet.model import AmCopyOptions
    from nnet2.utils.options import add_options

    add_options(p, AmCopyOptions)
    p.add_argument("nnet_in", metavar="<nnet-in>", help="input model (file, '-' or 'cmd |')")
    p.add_argument("nnet_out", metavar="<nnet-out>", help="output model (file, '-' or '| cmd')")


def run(args) -> int:
    from nnet2 import api
    from nnet2.utils.options import from_args

    api.copy_model(args.nnet_in, args.nnet_out, from_args(api.AmCopyOptions, args))
    return 0
