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
    from nnet2.data.alignments import ali_to_pdf
    from nnet2.io.nnet_format import read_transition_model_from_gmm_mdl
    from nnet2.io.table import TableWriter, read_input_bytes, read_table
    from nnet2.utils.log import get_logger

    tm = read_transition_model_from_gmm_mdl(read_input_bytes(args.model, what="model"))
    n = 0
    with TableWriter(args.pdfs, "int_vector", what="pdfs wspecifier") as out:
        for utt, ali in read_table(args.alignments, "int_vector", what="alignments rspecifier"):
            out.write(utt, ali_to_pdf(ali, tm.tid2pdf, utt))
            n += 1
    get_logger(NAME).info(f"Converted {n} alignments to pdf sequences.")
    return 0
