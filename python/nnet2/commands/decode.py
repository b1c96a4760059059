"""Decode a set over a graph made by `nnet2 make-graph` and write OUT_DIR/hyp.txt (Kaldi text).

SOURCE is either a Kaldi rspecifier of per-pdf scores, one [frames x num_pdfs] matrix per
utterance — DNN pseudo-log-likelihoods log p(pdf|x) - log prior(pdf), or posteriors together with
--priors (then log max(post, 1e-20) - log prior is computed here, as Kaldi's DecodableAmNnet) —
or a monophone GMM dir (exp/mono) to decode with GMM log-likelihoods of --data's features.
With a reference (--ref, or DATA/text when --data is given) the WER is written to OUT_DIR/wer
and OUT_DIR/per_utt, and every reference utterance must be present in SOURCE.

    nnet2 decode exp/mono/graph 'ark:exp/dnn/loglikes_test.ark' exp/dnn/decode_test --ref data/test/text
    nnet2 decode --priors exp/dnn/priors.npy exp/mono/graph scp:exp/dnn/post_test.scp exp/dnn/decode_test
    nnet2 decode --data data/test exp/mono/graph exp/mono exp/mono/decode_test
"""

from __future__ import annotations

NAME = "decode"
HELP = "decode per-pdf log-likelihoods (DNN or GMM) over HCLG.fst; write hyp.txt (and WER)"


def add_arguments(p) -> None:
    from nnet2.decode.decoder import DecodeOptions
    from nnet2.utils.options import add_options

    p.add_argument("graph_dir", help="graph dir from make-graph")
    p.add_argument("source", help="rspecifier of per-pdf scores (ark:..., scp:...) or a GMM model dir or an nnet2 .mdl (these score the features of --data)")
    p.add_argument("out_dir", help="output decode dir")
    p.add_argument("--data", default=None, help="data dir whose features a GMM SOURCE scores")
    p.add_argument("--ref", default=None, help="reference Kaldi text to score against")
    p.add_argument("--priors", default=None,
                   help="priors (.npy, Kaldi vector): SOURCE holds posteriors, not log-likelihoods")
    add_options(p, DecodeOptions)


def run(args) -> int:
    import os

    from nnet2 import api
    from nnet2.utils.options import from_args

    stats = api.decode(args.graph_dir, args.source, args.out_dir, from_args(api.DecodeOptions, args), data=args.data,
                       ref=args.ref, priors=args.priors)
    if "wer" in stats:  # the WER once, as Kaldi's compute-wer prints it
        with open(os.path.join(args.out_dir, "wer")) as f:
            print(f.read(), end="")
    return 0
