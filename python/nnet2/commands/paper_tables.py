"""Run the paper's comparisons in miniature (Su & Chen 2015) and write the tables and plots.

Each experiment is a `nnet2 train` run on N MPI workers (more ranks than cores is fine: accuracy does
not depend on wall time), decoded with parameters tuned on dev. Finished experiments are skipped, and
an interrupted one resumes from its last checkpoint, so the command can simply be rerun. Normally
called by egs/fsdd/local/run_paper_tables.sh, which prepares the egs and initial models.
"""

NAME = "paper-tables"
HELP = "run the paper's experiments on FSDD and write results/paper_tables.md"


def add_arguments(p):
    p.add_argument("--epochs", type=int, default=8, help="epochs per experiment")
    p.add_argument("--initial-lr", type=float, default=0.004, help="initial learning rate (x workers)")
    p.add_argument("--final-lr", type=float, default=0.0004, help="final learning rate (x workers)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data order")
    p.add_argument("--only", default="", help="comma-separated experiment names to run (default: all)")
    p.add_argument("--list", action="store_true", help="list the experiments and exit")
    p.add_argument("--tables-only", action="store_true", help="do not train; write tables from finished runs")
    p.add_argument("exp_root", help="where each experiment gets its directory")
    p.add_argument("egs_sigmoid", help="egs for the sigmoid DNN (context +-5)")
    p.add_argument("egs_pnorm", help="egs for the p-norm DNN (context +-4)")
    p.add_argument("init_rbm", help="sigmoid DNN initialized from the DBN (.mdl)")
    p.add_argument("init_random", help="same sigmoid DNN, random initialization (.mdl)")
    p.add_argument("init_pnorm", help="p-norm DNN (.mdl)")
    p.add_argument("graph_dir", help="decoding graph dir")
    p.add_argument("dev_dir", help="dev data dir (tuning)")
    p.add_argument("test_dir", help="test data dir")
    p.add_argument("out_dir", help="where paper_tables.md and the plots go")


def run(args) -> int:
    import os

    from nnet2 import experiments as X

    exps = X.all_experiments()
    if args.list:
        for e in exps:
            print(e.name)
        return 0
    if args.only:
        want = set(args.only.split(","))
        exps = [e for e in exps if e.name in want]
    if not args.tables_only:
        egs = {"sigmoid": args.egs_sigmoid, "pnorm": args.egs_pnorm}
        inits = {("sigmoid", "rbm"): args.init_rbm, ("sigmoid", "random"): args.init_random,
                 ("pnorm", "random"): args.init_pnorm, ("pnorm", "rbm"): args.init_pnorm}
        for i, e in enumerate(exps):
            print(f"[{i + 1}/{len(exps)}] {e.name}", flush=True)
            X.run_experiment(e, args.exp_root, egs, inits, args.graph_dir, args.dev_dir, args.test_dir,
                             args.epochs, (args.initial_lr, args.final_lr), args.seed)
    print(X.write_tables(args.exp_root, os.path.join(args.test_dir, "text"), args.out_dir))
    return 0
