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

from nnet2.utils.options import parse_bool

NAME = "get-lda"
KALDI = "nnet-get-feature-transform"
USAGE = ("nnet2 get-lda [options] <transition-model> <feats-rspecifier> <alignments-rspecifier> "
         "<lda-matrix-out>")
HELP = "steps/nnet2/get_lda.sh in one process: splice, LDA stats (silence weight 0), nnet-get-feature-transform"


def add_arguments(p):
    p.add_argument("--dim", type=int, default=0,
                   help="Dimension to project to with LDA (default: the spliced dimension, no reduction, "
                        "as get_lda.sh)")
    p.add_argument("--within-class-factor", type=float, default=0.0001,
                   help="Scales the within-class variance of the output (get_lda.sh's default; "
                        "nnet-get-feature-transform's own default is 0.001)")
    p.add_argument("--max-singular-value", type=float, default=5.0,
                   help="If >0, maximum allowed singular value of final transform")
    p.add_argument("--remove-offset", type=parse_bool, default=True, metavar="true|false",
                   help="If true, output an affine transform that makes the projected data mean zero")
    p.add_argument("--left-context", type=int, default=4, help="frames of left context (splice-feats)")
    p.add_argument("--right-context", type=int, default=4, help="frames of right context (splice-feats)")
    p.add_argument("--silence-phones", default="",
                   help="colon-separated silence phone ids (lang/phones/silence.csl): their frames get weight 0")
    p.add_argument("--binary", type=parse_bool, default=True, metavar="true|false", help="Write output in binary mode")
    p.add_argument("transition_model", metavar="<transition-model>",
                   help="a .mdl starting with the TransitionModel (e.g. exp/mono/final.mdl)")
    p.add_argument("feats", metavar="<feats-rspecifier>")
    p.add_argument("alignments", metavar="<alignments-rspecifier>", help="transition-id alignments")
    p.add_argument("out", metavar="<lda-matrix-out>")


def run(args) -> int:
    import numpy as np

    from nnet2.feat.lda import LdaStats, estimate_lda, splice
    from nnet2.io.nnet_format import read_transition_model_from_gmm_mdl
    from nnet2.io.table import RandomAccessTable, read_input_bytes, read_table, write_matrix_file
    from nnet2.utils.errors import DataError, UserError
    from nnet2.utils.log import get_logger

    log = get_logger(NAME)
    if args.left_context < 0 or args.right_context < 0:
        raise UserError("--left-context and --right-context must be >= 0")
    try:
        sil = [int(x) for x in args.silence_phones.split(":") if x.strip()]
    except ValueError:
        raise UserError(f"--silence-phones: expected colon-separated integers, got '{args.silence_phones}'") from None
    tm = read_transition_model_from_gmm_mdl(read_input_bytes(args.transition_model, what="transition model"))
    unknown = sorted(set(sil) - set(int(p) for p in tm.tid2phone[1:]))
    if unknown:
        raise UserError(f"--silence-phones: phone(s) {unknown} are not in the transition model")
    is_sil = np.isin(tm.tid2phone, sil)
    alis = RandomAccessTable(args.alignments, "int_vector", what="alignments rspecifier")
    stats = None
    n_done = n_fail = 0
    for utt, feats in read_table(args.feats, "matrix", what="features rspecifier"):
        if utt not in alis:
            log.warning(f"No alignment for utterance {utt}")
            n_fail += 1
            continue
        ali = np.asarray(alis[utt])
        if len(ali) != feats.shape[0]:
            log.warning(f"Alignment vs. feats size mismatch {len(ali)} vs. {feats.shape[0]} for utterance {utt}")
            n_fail += 1
            continue
        if ali.size and (ali.min() < 1 or ali.max() > tm.num_transition_ids):
            raise DataError(f"utterance '{utt}': transition-id out of range for {args.transition_model}")
        x = splice(np.asarray(feats, np.float32), args.left_context, args.right_context)
        if stats is None:
            stats = LdaStats(tm.num_pdfs, x.shape[1])
        elif x.shape[1] != stats.dim:
            raise DataError(f"utterance '{utt}': spliced dimension {x.shape[1]} differs from {stats.dim}")
        stats.accumulate(x, tm.tid2pdf[ali], (~is_sil[ali]).astype(np.float64))
        n_done += 1
    if stats is None:
        raise DataError(f"no utterance of '{args.feats}' has an alignment in '{args.alignments}'")
    log.info(f"Accumulated LDA stats for {n_done} utterances, {n_fail} skipped")
    dim = args.dim or stats.dim
    m = estimate_lda(stats, dim=dim, within_class_factor=args.within_class_factor,
                     max_singular_value=args.max_singular_value, remove_offset=args.remove_offset)
    write_matrix_file(args.out, m, binary=args.binary)
    log.info(f"Wrote {m.shape[0]} x {m.shape[1]} transform to {args.out}")
    return 0
