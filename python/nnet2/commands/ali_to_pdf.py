"""Convert transition-id alignments to pdf-ids -- Kaldi's `ali-to-pdf` (src/bin/ali-to-pdf.cc).
The model is any .mdl that starts with the TransitionModel (a GMM final.mdl or an nnet2 .mdl).

Usage:  ali-to-pdf  [options] <model> <alignments-rspecifier> <pdfs-wspecifier>
e.g.:
  nnet2 ali-to-pdf exp/mono/final.mdl "ark:gunzip -c exp/mono/ali.1.gz |" ark,t:-
"""

from __future__ import annotations

NAME = "ali-to-pdf"
KALDI = "ali-to-pdf"
USAGE = "nnet2 ali-to-pdf [options] <model> <alignments-rspecifier> <pdfs-wspecifier>"
HELP = "ali-to-pdf: transition-id alignments -> pdf-id vectors"


def add_arguments(p):
    p.add_argument("model", metavar="<model>")
    p.add_argument("alignments", metavar="<alignments-rspecifier>")
    p.add_argument("pdfs", metavar="<pdfs-wspecifier>")


def run(args) -> int:
    from nnet2 import api

    api.ali_to_pdf(args.model, args.alignments, args.pdfs)
    return 0
