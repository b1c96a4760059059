"""Build the decoding graph HCLG.fst for the digit-loop grammar (one or more digits, optional
silence around and between them), as Kaldi's utils/mkgraph.sh: min(det(L o G)), identity C
(monophones), H from the model's HMMs and transitions, min(det(Ha o CLG)), add-self-loops.
Writes HCLG.fst (OpenFst binary), words.txt, phones.txt, tid2pdf.int, num_pdfs, graph.json.

    nnet2 make-graph data/lang exp/mono exp/mono/graph
"""

from __future__ import annotations

NAME = "make-graph"
HELP = "build HCLG.fst for the digit-loop grammar from a lang dir and a monophone model"


def add_arguments(p) -> None:
    from nnet2.decode.graph import GraphOptions
    from nnet2.utils.options import add_options

    p.add_argument("lang_dir", help="lang dir (words.txt, phones.txt, L.txt)")
    p.add_argument("model_dir", help="monophone model dir (final.mdl, topo, trans_stats.npy)")
    p.add_argument("graph_dir", help="output graph dir")
    add_options(p, GraphOptions)


def run(args) -> int:
    from nnet2 import api
    from nnet2.utils.options import from_args

    api.make_graph(args.lang_dir, args.model_dir, args.graph_dir, from_args(api.GraphOptions, args))
    return 0
