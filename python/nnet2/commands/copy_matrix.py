"""Copy matrices, or archives of matrices (e.g. features or transforms), with optional scaling and
element-wise operations -- Kaldi's `copy-matrix` (src/bin/copy-matrix.cc). Operations apply in
Kaldi's order: --scale, --apply-log (floored at 1e-20), --apply-exp, --apply-softmax-per-row,
--apply-power.

Usage: copy-matrix [options] <matrix-in-rspecifier> <matrix-out-wspecifier>
  or: copy-matrix [options] <matrix-in-rxfilename> <matrix-out-wxfilename>
e.g.:
  nnet2 copy-matrix --binary=false lda.mat lda.txt
  nnet2 copy-matrix ark:2.trans ark,t:-
"""

from __future__ import annotations

from nnet2.utils.options import parse_bool

NAME = "copy-matrix"
KALDI = "copy-matrix"
USAGE = ("nnet2 copy-matrix [options] <matrix-in-rspecifier> <matrix-out-wspecifier>\n"
         "   or: nnet2 copy-matrix [options] <matrix-in-rxfilename> <matrix-out-wxfilename>")
HELP = "copy-matrix: copy a matrix or a matrix archive (text/binary, scale, log/exp/softmax/power)"


def add_arguments(p):
    p.add_argument("--binary", type=parse_bool, default=True, metavar="true|false",
                   help="Write in binary mode (only relevant if output is a wxfilename)")
    p.add_argument("--scale", type=float, default=1.0, help="This option can be used to scale the matrices being copied.")
    p.add_argument("--apply-log", type=parse_bool, default=False, metavar="true|false",
                   help="This option can be used to apply log on the matrices. Must be avoided if matrix has negative quantities.")
    p.add_argument("--apply-exp", type=parse_bool, default=False, metavar="true|false",
                   help="This option can be used to apply exp on the matrices")
    p.add_argument("--apply-softmax-per-row", type=parse_bool, default=False, metavar="true|false",
                   help="This option can be used to Apply softmax per row")
    p.add_argument("--apply-power", type=float, default=1.0,
                   help="This option can be used to apply a power on the matrices")
    p.add_argument("input", metavar="<matrix-in-rspecifier>|<matrix-in-rxfilename>")
    p.add_argument("output", metavar="<matrix-out-wspecifier>|<matrix-out-wxfilename>")


def run(args) -> int:
    from nnet2 import api

    api.copy_matrix(args.input, args.output, binary=args.binary, scale=args.scale, apply_log=args.apply_log,
                    apply_exp=args.apply_exp, apply_softmax_per_row=args.apply_softmax_per_row,
                    apply_power=args.apply_power)
    return 0
