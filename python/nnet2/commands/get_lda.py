"""Estimate the LDA-like input transform of Kaldi's nnet2 recipes in one process: what
steps/nnet2/get_lda.sh runs as a pipeline,

    ali-to-post | weight-silence-post 0.0 <silence-phones> | acc-lda <splice-feats> ; nnet-get-feature-transform

i.e. splice the features (--left-context/--right-context, edge frames repeated as splice-feats),
label each frame with the pdf of its transition-id, give frames of silence phones weight 0, accumulate
LDA statistics (src/transform/lda-estimate.cc; every frame, no random pruning) and estimate the
transform as nnet-get-feature-transform does (src/nnet2/get-feature-transform.cc: within-class
Cholesky, SVD of the whitened between-class covariance, rows scaled by
sqrt((within-class-factor + s) / (1 + s)), singular values capped at --max-singular-value, mean
offset as a last column). Writes the D x (dim+1) matrix as Kaldi does: binary by default,
--binary=false for text (`nnet2 copy-matrix` converts). Use it as a FixedAffineComponent after the
SpliceComponent, as Kaldi's p-norm recipes do.

The features must be what the network will see (e.g. with CMVN applied:
'ark:nnet2 apply-cmvn --utt2spk=ark:data/train/utt2spk scp:data/train/cmvn.scp scp:data/train/feats.scp ark:- |').
An utterance without an alignment, or whose length differs from its features', is skipped with a
warning (as acc-lda does).

e.g.:
  nnet2 get-lda --silence-phones=1 exp/mono/final.mdl scp:feats_cmvn.scp 'ark:gunzip -c exp/mono/ali.*.gz |' lda.mat
"""

from __future__ import annotations

NAME = "get-lda"
KALDI = "nnet-get-feature-transform"
USAGE = ("nnet2 get-lda [options] <transition-model> <feats-rspecifier> <alignments-rspecifier> "
         "<lda-matrix-out>")
HELP = "steps/nnet2/get_lda.sh in one process: splice, LDA stats (silence weight 0), nnet-get-feature-transform"


def add_arguments(p):
    from nnet2.feat.lda import LdaOptions
    from nnet2.utils.options import add_options

    add_options(p, LdaOptions)
    p.add_argument("transition_model", metavar="<transition-model>",
                   help="a .mdl starting with the TransitionModel (e.g. exp/mono/final.mdl)")
    p.add_argument("feats", metavar="<feats-rspecifier>")
    p.add_argument("alignments", metavar="<alignments-rspecifier>", help="transition-id alignments")
    p.add_argument("out", metavar="<lda-matrix-out>")


def run(args) -> int:
    from nnet2 import api
    from nnet2.utils.options import from_args

    api.get_lda(args.transition_model, args.feats, args.alignments, args.out, from_args(api.LdaOptions, args))
    return 0
