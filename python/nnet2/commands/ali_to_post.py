"""Convert alignments to posteriors -- Kaldi's `ali-to-post` (src/bin/ali-to-post.cc): each frame
becomes the single pair (id, 1.0). Works on transition-ids or on pdf-ids (ali-to-pdf output).

Usage:  ali-to-post [options] <alignments-rspecifier> <posteriors-wspecifier>
e.g.:
  nnet2 ali-to-post "ark:gunzip -c exp/mono/ali.1.gz|" ark:post.ark
"""

from __future__ import annotations

NAME = "ali-to-post"
KALDI = "ali-to-post"
USAGE = "nnet2 ali-to-post [options] <alignments-rspecifier> <posteriors-wspecifier>"
HELP = "ali-to-post: alignments -> posteriors (one (id, 1.0) per frame)"


def add_arguments(p):
    p.add_argument("alignments", metavar="<alignments-rspecifier>")
    p.add_argument("posteriors", metavar="<posteriors-wspecifier>")


def run(args) -> int:
    from nnet2.io.table import TableWriter, read_table
    from nnet2.utils.log import get_logger

    n = 0
    with TableWriter(args.posteriors, "posterior", what="posteriors wspecifier") as out:
        for utt, ali in read_table(args.alignments, "int_vector", what="alignments rspecifier"):
            out.write(utt, [[(int(t), 1.0)] for t in ali])
            n += 1
    get_logger(NAME).info(f"Converted {n} alignments.")
    return 0
