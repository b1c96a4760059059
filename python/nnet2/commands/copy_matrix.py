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


def _ops(m, args):
    import numpy as np

    m = np.asarray(m, dtype=np.float32)
    if args.scale != 1.0:
        m = (m * np.float32(args.scale)).astype(np.float32)
    if args.apply_log:
        m = np.log(np.maximum(m, np.float32(1e-20))).astype(np.float32)
    if args.apply_exp:
        m = np.exp(m).astype(np.float32)
    if args.apply_softmax_per_row:
        e = np.exp(m - m.max(axis=1, keepdims=True))
        m = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    if args.apply_power != 1.0:
        m = np.power(m, np.float32(args.apply_power)).astype(np.float32)
    return m


def run(args) -> int:
    from nnet2.io.table import (TableWriter, is_rspecifier, is_wspecifier, read_matrix_file, read_table,
                                write_matrix_file)
    from nnet2.utils.errors import UserError
    from nnet2.utils.log import get_logger

    in_table, out_table = is_rspecifier(args.input), is_wspecifier(args.output)
    if in_table != out_table:
        raise UserError("copy-matrix: both arguments must be tables (rspecifier and wspecifier) or both "
                        f"files (rxfilename and wxfilename); got '{args.input}' and '{args.output}'")
    if not in_table:
        write_matrix_file(args.output, _ops(read_matrix_file(args.input), args), binary=args.binary)
        get_logger(NAME).info(f"Copied matrix to {args.output}")
        return 0
    n = 0
    with TableWriter(args.output, "matrix", what="matrix wspecifier") as out:
        for k, m in read_table(args.input, "matrix", what="matrix rspecifier"):
            out.write(k, _ops(m, args))
            n += 1
    get_logger(NAME).info(f"Copied {n} matrices.")
    return 0
