"""Copy features [and possibly change format] -- Kaldi's `copy-feats` (src/featbin/copy-feats.cc).
Reads plain, double and compressed matrices (CM, CM2, CM3: every --compression-method Kaldi
writes) and writes float matrices, or compressed ones with --compress=true
--compression-method=N (1 automatic, 2 speech-feature, 3 two-byte auto, 4 two-byte signed
integer, 5 one-byte auto, 6 one-byte unsigned integer, 7 one-byte 0..1; src/matrix/compressed-matrix.h).

Usage:  copy-feats [options] <feature-rspecifier> <feature-wspecifier>
   or:  copy-feats [options] <feats-rxfilename> <feats-wxfilename>
e.g.:
  nnet2 copy-feats ark:- ark,scp:foo.ark,foo.scp
  nnet2 copy-feats ark:foo.ark ark,t:txt.ark
  nnet2 copy-feats --compress=true --compression-method=2 scp:feats.scp ark,scp:c.ark,c.scp
"""

from __future__ import annotations

from nnet2.utils.options import parse_bool

NAME = "copy-feats"
KALDI = "copy-feats"
USAGE = ("nnet2 copy-feats [options] <feature-rspecifier> <feature-wspecifier>\n"
         "   or: nnet2 copy-feats [options] <feats-rxfilename> <feats-wxfilename>")
HELP = "copy-feats: copy features, changing format (text/binary, compressed CM/CM2/CM3)"


def add_arguments(p):
    p.add_argument("--binary", type=parse_bool, default=True, metavar="true|false",
                   help="Binary-mode output (not relevant if writing to archive)")
    p.add_argument("--compress", type=parse_bool, default=False, metavar="true|false",
                   help="If true, write output in compressed form")
    p.add_argument("--compression-method", type=int, default=1,
                   help="Only relevant if --compress=true; the method (1 through 7) to compress the matrix. "
                        "Search for CompressionMethod in src/matrix/compressed-matrix.h.")
    p.add_argument("--write-num-frames", default="",
                   help="Wspecifier to write length in frames of each utterance. e.g. 'ark,t:utt2num_frames'. "
                        "Only applicable if writing tables, not when this program is writing individual files.")
    p.add_argument("--htk-in", type=parse_bool, default=False, metavar="true|false",
                   help="Read input as HTK features (not supported)")
    p.add_argument("--sphinx-in", type=parse_bool, default=False, metavar="true|false",
                   help="Read input as Sphinx features (not supported)")
    p.add_argument("input", metavar="<feature-rspecifier>|<feats-rxfilename>")
    p.add_argument("output", metavar="<feature-wspecifier>|<feats-wxfilename>")


def check_method(m: int) -> None:
    from nnet2.utils.errors import UserError

    if not 1 <= m <= 7:
        raise UserError(f"invalid --compression-method={m} (1 through 7)")


def run(args) -> int:
    from nnet2.io.table import (TableWriter, is_rspecifier, is_wspecifier, object_bytes, read_matrix_file,
                                read_table, write_output_bytes)
    from nnet2.utils.errors import UserError
    from nnet2.utils.log import get_logger

    if args.htk_in or args.sphinx_in:
        raise UserError("--htk-in / --sphinx-in are not supported")
    check_method(args.compression_method)
    method = args.compression_method if args.compress else None
    in_table, out_table = is_rspecifier(args.input), is_wspecifier(args.output)
    if in_table != out_table:
        raise UserError("copy-feats: both arguments must be tables (rspecifier and wspecifier) or both "
                        f"files (rxfilename and wxfilename); got '{args.input}' and '{args.output}'")
    if not in_table:
        if args.write_num_frames:
            raise UserError("--write-num-frames is only applicable when writing tables")
        m = read_matrix_file(args.input, what="features")
        write_output_bytes(args.output, object_bytes(m, "matrix", args.binary, compress=method))
        get_logger(NAME).info(f"Copied features from {args.input} to {args.output}")
        return 0
    n = 0
    nf = TableWriter(args.write_num_frames, "int32", what="--write-num-frames") if args.write_num_frames else None
    try:
        with TableWriter(args.output, "matrix", compress=method, what="feature wspecifier") as out:
            for utt, m in read_table(args.input, "matrix", what="feature rspecifier"):
                out.write(utt, m)
                if nf is not None:
                    nf.write(utt, m.shape[0])
                n += 1
    except BaseException:
        if nf is not None:
            nf.abort()
        raise
    if nf is not None:
        nf.close()
    get_logger(NAME).info(f"Copied {n} feature matrices.")
    return 0 if n else 1
