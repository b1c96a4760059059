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
    import json
    import os

    from nnet2.decode.decoder import load_scores, read_priors, tune
    from nnet2.decode.graph import Graph
    from nnet2.decode.score import read_text
    from nnet2.utils.errors import UserError
    from nnet2.utils.fileio import write_bytes_atomic

    ref = args.ref or (os.path.join(args.data, "text") if args.data else None)
    if ref is None:
        raise UserError("tune-decode needs --ref or --data with a text file")
    try:
        acwts = [float(v) for v in args.acwts.split()]
        pens = [float(v) for v in args.penalties.split()]
    except ValueError:
        raise UserError("--acwts/--penalties: expected space-separated numbers") from None
    priors = read_priors(args.priors) if args.priors else None
    refs = read_text(ref)
    scores = load_scores(args.source, args.data)
    missing = [u for u in refs if u not in scores]
    if missing:
        raise UserError(f"utterance '{missing[0]}' of {ref} is missing from {args.source}")
    best = tune(Graph(args.graph_dir), scores, refs, acwts, pens, args.beam, priors)
    os.makedirs(args.out_dir, exist_ok=True)
    write_bytes_atomic(os.path.join(args.out_dir, "tune.json"), (json.dumps(best, indent=1) + "\n").encode())
    write_bytes_atomic(os.path.join(args.out_dir, "best.conf"),
                       f"--acwt={best['acwt']}\n--word-ins-penalty={best['word_ins_penalty']}\n".encode())
    return 0
