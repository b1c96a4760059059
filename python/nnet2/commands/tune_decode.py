"""Grid-search the acoustic scale and word insertion penalty on a dev set (a held-out part of the
training data, never the test set) and write OUT_DIR/tune.json (the whole grid) and
OUT_DIR/best.conf (`--acwt=...` and `--word-ins-penalty=...`, to pass on to `nnet2 decode`).
SOURCE is as for `nnet2 decode` (rspecifier of per-pdf scores, or a GMM dir with --data).

    nnet2 tune-decode --data data/dev exp/mono/graph exp/mono exp/mono/tune
    nnet2 decode $(cat exp/mono/tune/best.conf) --data data/test exp/mono/graph exp/mono exp/mono/decode_test
"""

from __future__ import annotations

NAME = "tune-decode"
HELP = "tune acoustic scale and word insertion penalty on a dev set"


def add_arguments(p) -> None:
    p.add_argument("graph_dir", help="graph dir from make-graph")
    p.add_argument("source", help="rspecifier of per-pdf scores (ark:..., scp:...) or a GMM model dir or an nnet2 .mdl (these score the features of --data)")
    p.add_argument("out_dir", help="where tune.json and best.conf go")
    p.add_argument("--data", default=None, help="dev data dir (features for a GMM SOURCE; its text)")
    p.add_argument("--ref", default=None, help="dev reference text (default: DATA/text)")
    p.add_argument("--priors", default=None, help="priors: SOURCE holds posteriors")
    p.add_argument("--acwts", default="0.05 0.075 0.1 0.125 0.15 0.2", help="acoustic scales to try")
    p.add_argument("--penalties", default="-1 -0.5 0 0.5 1 2", help="word insertion penalties to try")
    p.add_argument("--beam", type=float, default=15.0, help="decoding beam")


def run(args) -> int:
    from nnet2 import api
    from nnet2.utils.errors import UserError

    try:
        acwts = [float(v) for v in args.acwts.split()]
        pens = [float(v) for v in args.penalties.split()]
    except ValueError:
        raise UserError("--acwts/--penalties: expected space-separated numbers") from None
    api.tune_decode(args.graph_dir, args.source, args.out_dir, data=args.data, ref=args.ref, priors=args.priors,
                    acwts=acwts, penalties=pens, beam=args.beam)
    return 0
