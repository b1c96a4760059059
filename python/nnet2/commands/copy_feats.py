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


def run(args) -> int:
    from nnet2 import api
    from nnet2.utils.errors import UserError

    if args.htk_in or args.sphinx_in:
        raise UserError("--htk-in / --sphinx-in are not supported")
    if not 1 <= args.compression_method <= 7:
        raise UserError(f"invalid --compression-method={args.compression_method} (1 through 7)")
    n = api.copy_feats(args.input, args.output, binary=args.binary,
                       compression_method=args.compression_method if args.compress else None,
                       write_num_frames=args.write_num_frames or None)
    return 0 if n else 1
