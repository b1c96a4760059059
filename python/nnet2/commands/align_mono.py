"""Flat-start monophone GMM-HMM training and forced alignment (Kaldi `steps/train_mono.sh`
followed by alignment), with kaldi-hmm-gmm. Needs feats.scp, cmvn.scp and text in the data dir,
and phones.txt, words.txt, topo and L.txt in the lang dir. Writes final.mdl (Kaldi text), tree,
topo, ali.1.gz (transition-ids per frame) and the lang files to the output dir, and reports the
alignment frame accuracy when the data dir has word_boundaries.json (FSDD).

    nnet2 align-mono data/train data/lang exp/mono_ali
"""

from __future__ import annotations

NAME = "align-mono"
HELP = "train a monophone GMM-HMM from a flat start and write Kaldi alignments"


def add_arguments(p):
    from nnet2.gmm.mono import MonoOptions
    from nnet2.utils.options import add_options

    p.add_argument("data_dir")
    p.add_argument("lang_dir")
    p.add_argument("out_dir")
    add_options(p, MonoOptions)


def run(args) -> int:
    from nnet2 import api
    from nnet2.utils.options import from_args

    api.align(args.data_dir, args.lang_dir, args.out_dir, from_args(api.MonoOptions, args))
    return 0
