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
    from nnet2 import api

    api.ali_to_post(args.alignments, args.posteriors)
    return 0
