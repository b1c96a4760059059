"""Word error rate of a hypothesis text against a reference text (both Kaldi text format), printed
as Kaldi's compute-wer does (`%WER 1.23 [ 12 / 975, 3 ins, 4 del, 5 sub ]`), plus a 95% bootstrap
confidence interval over utterances (Bisani & Ney, as compute-wer-bootci; percentile interval, never
below 0: the same interval `nnet2 report` and the results tables print).

    nnet2 score data/test/text exp/mono/decode_test/hyp.txt
"""

from __future__ import annotations

NAME = "score"
HELP = "WER (ins/del/sub) of a hypothesis text against a reference, with a bootstrap interval"


def add_arguments(p) -> None:
    p.add_argument("ref_text", help="reference Kaldi text")
    p.add_argument("hyp_text", help="hypothesis Kaldi text")
    p.add_argument("--mode", default="strict", choices=["strict", "present", "all"],
                   help="missing hypotheses: error (strict), skip (present), count as empty (all)")
    from nnet2.utils import intervals

    p.add_argument("--replications", type=int, default=intervals.REPLICATIONS, help="bootstrap replications (0: none)")
    p.add_argument("--seed", type=int, default=intervals.SEED, help="bootstrap seed")
    p.add_argument("--out-dir", default=None, help="also write OUT_DIR/wer and OUT_DIR/per_utt")


def run(args) -> int:
    from nnet2 import api

    r = api.score(args.ref_text, args.hyp_text, args.mode, out_dir=args.out_dir)
    print(r.kaldi_lines(), end="")
    if args.replications > 0 and r.per_utt:
        ci = r.interval(args.replications, args.seed)
        print(f"%WER {ci.value:.2f} 95% CI [ {ci.lo:.2f}, {ci.hi:.2f} ] (bootstrap over {len(r.per_utt)} "
              f"utterances, {args.replications} replications)")
    return 0
