"""Write a RESULTS.md-style table (system, workers, WER with a 95% bootstrap interval, validation
frame accuracy, training time, throughput, share of time spent averaging) and a PNG of the learning
curves for one or more trained systems.

  nnet2 report --ref data/test/text --out RESULTS.md --plot exp/learning_curves.png \\
      sigmoid-rbm-ngd=exp/dnn_sigmoid pnorm-ngd=exp/dnn_pnorm
"""

NAME = "report"
HELP = "results table (WER, accuracy, timings) and learning-curve plots"


def add_arguments(p):
    p.add_argument("--ref", help="reference text of the decoded set")
    p.add_argument("--decode-subdir", default="decode_test", help="decode directory inside each system dir")
    p.add_argument("--out", default="RESULTS.md", help="Markdown output")
    p.add_argument("--plot", default=None, help="PNG of the learning curves")
    p.add_argument("--title", default="Results", help="title of the table and plot")
    p.add_argument("--prepend", default=None, help="Markdown file whose text goes after the table (e.g. a GMM row)")
    p.add_argument("systems", nargs="+", help="NAME=EXP_DIR pairs")


def run(args) -> int:
    from nnet2 import api
    from nnet2.utils.errors import UserError

    systems = []
    for s in args.systems:
        if "=" not in s:
            raise UserError(f"expected NAME=EXP_DIR, got '{s}'")
        systems.append(tuple(s.split("=", 1)))
    extra = open(args.prepend).read() if args.prepend else ""
    print(api.report(systems, args.out, ref_text=args.ref, png=args.plot, title=args.title,
                     decode_subdir=args.decode_subdir, extra_md=extra), end="")
    return 0
