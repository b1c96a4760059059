#!/usr/bin/env python3
"""The paper's comparisons in miniature on FSDD (H. Su, H. Chen, "Experiments on parallel training of
deep neural network using model averaging", arXiv:1507.01239, 2015: its WER tables). Run by
local/run_paper_tables.sh, which prepares data, egs, the DBN and the initial models with run.sh's
stages; a recipe-local study, not part of the nnet2 package.

Each experiment is one `nnet2 train` run on N MPI workers launched through cmd.sh's `mpi_cmd` (its
own output dir, resumable), decoded with the acoustic scale / insertion penalty tuned on dev. The
tables put the paper's published Hub5'00 SWB WERs beside ours (a different task: compare the shape
of each comparison, not the values). The paper's minibatch of 1024 frames is scaled to this ~0.5 h
corpus: with 16 workers a 1024-frame minibatch and averaging every 10 would average about once per
epoch, so minibatch 256 plays the role of 1024 (and 64 of 256) here. Finished experiments are
skipped and an interrupted one resumes from its last checkpoint, so the script can simply be rerun.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import subprocess
import sys

import numpy as np
from matplotlib.figure import Figure

from nnet2.data.egs import EgsReader
from nnet2.decode.score import score_texts
from nnet2.nnet import components as C
from nnet2.nnet.model import load_model
from nnet2.report import collect, plot_learning_curves
from nnet2.utils.errors import UserError
from nnet2.utils.fileio import atomic_path, write_bytes_atomic
from nnet2.utils.intervals import grouped_sums, paired_comparison
from nnet2.utils.log import get_logger

log = get_logger("paper_tables")
RECIPE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass(frozen=True)
class Exp:
    workers: int
    update: str = "ngd"
    init: str = "rbm"          # rbm | random (sigmoid), or the p-norm model
    model: str = "sigmoid"     # sigmoid | pnorm
    average_every: int = 10
    minibatch: int = 256       # plays the paper's 1024
    lr_schedule: str = "exponential"
    averaging: str = "plain"   # plain | bmuf | overlap
    block_momentum: str = "auto"  # bmuf: auto = 1 - 1/N (Chen & Huo)
    scale_lr: str = "auto"     # --scale-lr-by-workers: auto = x N except under bmuf
    lr_factor: float = 1.0     # multiplies the schedule's rates (a control at a given effective step)

    @property
    def name(self) -> str:
        parts = [self.model, self.init if self.model == "sigmoid" else "", self.update, f"n{self.workers}",
                 f"k{self.average_every}", f"mb{self.minibatch}", self.lr_schedule[:3], self.averaging,
                 "" if self.block_momentum == "auto" else f"bm{self.block_momentum}",
                 "" if self.scale_lr == "auto" else f"xN{self.scale_lr}",
                 "" if self.lr_factor == 1.0 else f"lrx{self.lr_factor:g}"]
        return "_".join(p for p in parts if p)


BASE = Exp(1)


def table_specs() -> list[dict]:
    """The tables: title, paper columns/rows, and our experiments per cell."""
    N = [1, 2, 4, 8, 16]
    r = dataclasses.replace
    return [
        dict(key="workers", title="1. WER vs number of workers (RBM init, NG-SGD, MB 1024-equiv., average every 10, exponential LR)",
             cols=[f"N={n}" for n in N], rows=[("ours", [r(BASE, workers=n) for n in N])],
             paper=[("paper Hub5'00 SWB (GPUs)", ["14.7", "--", "--", "15.1 (8)", "15.1"])]),
        dict(key="ngd", title="2. NG-SGD vs plain SGD", cols=["N=1", "N=16"],
             rows=[("SGD", [r(BASE, update="sgd"), r(BASE, workers=16, update="sgd")]),
                   ("NG-SGD", [BASE, r(BASE, workers=16)])],
             paper=[("paper SGD", ["14.9", "16.3"]), ("paper NG-SGD", ["14.7", "15.1"])]),
        dict(key="init", title="3. RBM pretraining vs random initialization", cols=["N=1", "N=16"],
             rows=[("random init", [r(BASE, init="random"), r(BASE, workers=16, init="random")]),
                   ("RBM pretraining", [BASE, r(BASE, workers=16)])],
             paper=[("paper random (1 / 32 GPUs)", ["15.6", "16.4"]), ("paper RBM (1 / 32 GPUs)", ["14.7", "15.2"])]),
        dict(key="freq", title="4. Averaging every 10 vs every 20 minibatches (N=16)", cols=["N=16"],
             rows=[("every 10", [r(BASE, workers=16)]), ("every 20", [r(BASE, workers=16, average_every=20)])],
             paper=[("paper every 10", ["15.1"]), ("paper every 20", ["15.8"])]),
        dict(key="minibatch", title="5. Minibatch 256 vs 1024 (here 64 vs 256)", cols=["N=1", "N=16"],
             rows=[("MB 256-equiv. (64)", [r(BASE, minibatch=64), r(BASE, workers=16, minibatch=64)]),
                   ("MB 1024-equiv. (256)", [BASE, r(BASE, workers=16)])],
             paper=[("paper MB 256", ["15.3", "15.6"]), ("paper MB 1024", ["14.7", "15.1"])]),
        dict(key="lr", title="6. Newbob vs exponential learning rate", cols=["N=1", "N=16"],
             rows=[("newbob", [r(BASE, lr_schedule="newbob"), r(BASE, workers=16, lr_schedule="newbob")]),
                   ("exponential", [BASE, r(BASE, workers=16)])],
             paper=[("paper newbob", ["14.9", "15.4"]), ("paper exponential", ["14.7", "15.1"])]),
        dict(key="beyond", title="7. Beyond the paper: BMUF and overlapped averaging (N=16); p-norm vs sigmoid",
             cols=["N=1", "N=16"],
             rows=[("plain averaging, LR x N (control for BMUF: the same effective step)", [BASE, r(BASE, workers=16)]),
                   ("BMUF, Chen & Huo defaults (block momentum 1-1/N = 0.9375, block LR 1, worker LR x 1)",
                    [None, r(BASE, workers=16, averaging="bmuf")]),
                   ("BMUF as in the earlier table (block momentum 0.5, worker LR x N: twice the step)",
                    [None, r(BASE, workers=16, averaging="bmuf", block_momentum="0.5", scale_lr="true")]),
                   ("plain averaging, LR x 2N (control for the row above: the same effective step)",
                    [None, r(BASE, workers=16, lr_factor=2.0)]),
                   ("overlapped Iallreduce", [None, r(BASE, workers=16, averaging="overlap")]),
                   ("p-norm DNN (random init)", [r(BASE, model="pnorm", init="random"),
                                                 r(BASE, workers=16, model="pnorm", init="random")])],
             paper=[]),
    ]


def all_experiments() -> list[Exp]:
    seen, out = set(), []
    for t in table_specs():
        for _, cells in t["rows"]:
            for e in cells:
                if e is not None and e not in seen:
                    seen.add(e)
                    out.append(e)
    return out


def train_command(e: Exp, egs_dir: str, init_mdl: str, out_dir: str, epochs: int, lr: tuple[float, float],
                  seed: int, cmd_sh: str = os.path.join(RECIPE_DIR, "cmd.sh")) -> list[str]:
    """`nnet2 train` on e.workers MPI workers, launched by cmd.sh's `mpi_cmd N ARGS...` (the recipe's
    one site-specific contract: it runs `python -m mpi4py ARGS...` on N workers)."""
    train = ["-m", "nnet2", "train",
             "--update", e.update, "--average-every", str(e.average_every), "--minibatch-size", str(e.minibatch),
             "--lr-schedule", e.lr_schedule, "--averaging", e.averaging, "--num-epochs", str(epochs),
             "--initial-lr", f"{lr[0] * e.lr_factor:g}", "--final-lr", f"{lr[1] * e.lr_factor:g}",
             "--seed", str(seed), "--threads", "1", "--resume", "true", "--progress", "false",
             "--block-momentum", e.block_momentum, "--scale-lr-by-workers", e.scale_lr]
    return ["bash", "-c", '. "$0" && mpi_cmd "$@"', cmd_sh, str(e.workers), *train, egs_dir, init_mdl, out_dir]


def run_experiment(e: Exp, root: str, egs: dict, inits: dict, graph_dir: str, dev_dir: str, test_dir: str,
                   epochs: int, lr: tuple[float, float], seed: int) -> str:
    out = os.path.join(root, e.name)
    init = inits[(e.model, e.init)]
    egs_dir = egs[e.model]
    if not os.path.exists(os.path.join(out, "final.mdl")):
        cmd = train_command(e, egs_dir, init, out, epochs, lr, seed)
        log.info("training %s: %s", e.name, " ".join(shlex.quote(c) for c in cmd))
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "train.stderr"), "w") as f:
            r = subprocess.run(cmd, stderr=f, stdout=f)
        if r.returncode != 0:
            raise UserError(f"training {e.name} failed (exit {r.returncode}); see {out}/train.stderr and {out}/log/")
    if not os.path.exists(os.path.join(out, "decode_test", "hyp.txt")):
        nn = [sys.executable, "-m", "nnet2"]
        subprocess.run(nn + ["tune-decode", "--data", dev_dir, graph_dir, os.path.join(out, "final.mdl"),
                             os.path.join(out, "tune_dev")], check=True, stdout=subprocess.DEVNULL)
        best = open(os.path.join(out, "tune_dev", "best.conf")).read().split()
        subprocess.run(nn + ["decode", *best, "--data", test_dir, graph_dir, os.path.join(out, "final.mdl"),
                             os.path.join(out, "decode_test")], check=True, stdout=subprocess.DEVNULL)
    return out


def results_of(root: str, e: Exp, ref_text: str):
    return collect(e.name, os.path.join(root, e.name), ref_text)


def valid_per_utterance(exp_dir: str, egs_dir: str):
    """(units, correct frames per held-out utterance, frames per utterance) of the final model on the egs'
    validation set, for paired comparisons between systems."""
    egs = EgsReader(egs_dir)
    X, y = egs.valid_set()
    units = egs.valid_utterances()
    nnet = load_model(os.path.join(exp_dir, "final.mdl")).nnet
    corr = np.concatenate([nnet.evaluate_frames(X[s:s + 4096], y[s:s + 4096])[1] for s in range(0, len(y), 4096)])
    c, f = grouped_sums(units, corr, np.ones(len(y)))
    return np.unique(units), c, f


def _paired(a, b, what: str):
    """Comparison of systems a and b ((units, num, den) each) or None when they are not on the same units."""
    if a is None or b is None or len(a[0]) != len(b[0]) or not np.array_equal(a[0], b[0]):
        return None
    return paired_comparison(a[1], b[1], a[2], lower_is_better=(what == "WER"))


def write_tables(root: str, ref_text: str, out_dir: str, egs: dict | None = None, run_info: str = "") -> str:
    """Markdown tables (ours with 95% intervals, the paper's numbers beside them, and which differences
    are significant) + plots; returns the Markdown."""
    os.makedirs(out_dir, exist_ok=True)
    cache, tests, valids = {}, {}, {}

    def done(e):
        return os.path.exists(os.path.join(root, e.name, "decode_test", "hyp.txt"))

    def res(e):
        if e not in cache:
            cache[e] = results_of(root, e, ref_text)
        return cache[e]

    def test_units(e):
        if e not in tests:
            r = score_texts(ref_text, os.path.join(root, e.name, "decode_test", "hyp.txt"))
            utts = sorted(r.per_utt)
            err, words = r.utt_errors(utts)
            tests[e] = (np.arange(len(utts)), np.asarray(err, float), np.asarray(words, float))
        return tests[e]

    def valid_units(e):
        if e not in valids:
            valids[e] = valid_per_utterance(os.path.join(root, e.name), egs[e.model]) if egs else None
        return valids[e]

    def cell(e):
        r = res(e)
        acc = f"{100 * r.valid_acc:.1f} [{100 * r.valid_acc_lo:.1f}, {100 * r.valid_acc_hi:.1f}]" \
            if r.valid_acc_lo is not None else f"{100 * r.valid_acc:.1f}"
        best = f" (best {100 * r.best_valid_acc:.1f} @{r.best_epoch})" if r.best_epoch != r.last_epoch \
            and r.best_valid_acc > r.valid_acc else ""
        return f"{r.wer:.2f} [{r.wer_lo:.2f}, {r.wer_hi:.2f}] / {acc}{best}"

    exps = [e for e in all_experiments() if done(e)]
    missing = [e.name for e in all_experiments() if not done(e)]
    epochs = sorted({1 + max(h["epoch"] for h in res(e).history) for e in exps})
    md = ["# The paper's comparisons on FSDD connected digits\n",
          (f"**Not run** (time): {', '.join(missing)}; their cells say so. " if missing else "") +
          f"What ran: the {len(exps)} training runs named in `paper_tables.json`, {' / '.join(map(str, epochs))} "
          f"epochs each, one seed (0), decoded with the acoustic scale and insertion penalty tuned on dev. "
          + run_info + "\n",
          "Each cell: test WER % [95% bootstrap interval over the 73 test utterances] / validation frame "
          "accuracy % of the last epoch [95% interval over the held-out utterances] (and the best epoch's "
          "accuracy when an earlier epoch was better: the last model is the one decoded). Intervals: "
          "`nnet2.utils.intervals` (percentile bootstrap over utterances, the same as `nnet2 score`). "
          "*paper* cells: Hub5'00 SWB WER % from Su & Chen (2015) -- a different task and scale; compare "
          "the *shape* of each comparison, not the values. *Significant* below means the 95% paired-"
          "bootstrap interval of the difference (same utterances, both systems) excludes 0.\n"]
    for t in table_specs():
        md.append(f"\n## {t['title']}\n")
        ncol = len(t["cols"])
        md.append("| | " + " | ".join(t["cols"]) + " |")
        md.append("|---" * (ncol + 1) + "|")
        for label_, cells in t["rows"]:
            vals = ["" if e is None else cell(e) if done(e) else "not run" for e in cells]
            md.append(f"| {label_} | " + " | ".join(vals) + " |")
        for plabel, pvals in t["paper"]:
            md.append(f"| *{plabel}* | " + " | ".join(pvals) + " |")
        # significance: each pair of rows in each column, and first vs last column in each row
        sig, notsig = [], []
        pairs = []
        rows = t["rows"]
        for ci in range(ncol):
            for i in range(len(rows)):
                for j in range(i + 1, len(rows)):
                    a, b = rows[i][1][ci], rows[j][1][ci]
                    if a is not None and b is not None and a != b and done(a) and done(b):
                        pairs.append((f"{rows[i][0].split(' (')[0]} vs {rows[j][0].split(' (')[0]}, {t['cols'][ci]}", a, b))
        for lbl, cells in rows:
            present = [c for c in cells if c is not None and done(c)]
            if len(present) >= 2 and present[0] != present[-1]:
                pairs.append((f"{lbl.split(' (')[0]}: {t['cols'][cells.index(present[0])]} vs "
                              f"{t['cols'][cells.index(present[-1])]}", present[0], present[-1]))
        for lbl, a, b in pairs:
            for what, fa, fb, scale in (("valid acc", valid_units(a), valid_units(b), 100.0),
                                        ("WER", test_units(a), test_units(b), 100.0)):
                c = _paired(fa, fb, what)
                if c is None:
                    continue
                d = c.diff.scaled(scale)
                txt = f"{lbl}: {what} {d.value:+.2f} [{d.lo:+.2f}, {d.hi:+.2f}]"
                (sig if c.significant else notsig).append(txt)
        md.append("")
        md.append("Differences (first minus second, in points; paired bootstrap over the same utterances, 95%):")
        md.append("- **significant**: " + ("; ".join(sig) if sig else "none"))
        md.append("- not significant: " + ("; ".join(notsig) if notsig else "none"))
    r = dataclasses.replace
    speed_runs = [r(BASE, workers=n, update=u, init=i) for n in (1, 16) for u in ("ngd", "sgd") for i in ("rbm", "random")
                  if not (u == "sgd" and i == "random")]
    if all(done(e) for e in speed_runs):
        md += _learning_speed_md(res, out_dir)
    text = "\n".join(md) + "\n"
    n_runs = [r(BASE, workers=n) for n in (1, 2, 4, 8, 16) if done(r(BASE, workers=n))]
    if len(n_runs) >= 2:
        _plot_wer_vs_n(root, ref_text, [res(e) for e in n_runs], os.path.join(out_dir, "wer_vs_workers.png"))
        plot_learning_curves([dataclasses.replace(res(e), name=f"{e.workers} worker{'s' if e.workers > 1 else ''}")
                              for e in n_runs], os.path.join(out_dir, "learning_curves_workers.png"),
                             "Sigmoid DNN (RBM init, NG-SGD, averaging every 10) on 1-16 workers")
        text += "\n![WER vs workers](wer_vs_workers.png)\n\n![learning curves](learning_curves_workers.png)\n"
    write_bytes_atomic(os.path.join(out_dir, "paper_tables.md"), text.encode())
    write_bytes_atomic(os.path.join(out_dir, "paper_tables.json"),
                       json.dumps({e.name: {k: v for k, v in dataclasses.asdict(res(e)).items()
                                            if k not in ("history", "exp_dir")} for e in cache}, indent=1).encode())
    return text


def _frames_to_reach(hist: list, objf: float) -> int | None:
    """Training frames (all workers) until an iteration's training objective first reaches `objf`."""
    seen = 0
    for h in hist:
        seen += h["frames"]
        if h["train_objf"] >= objf:
            return seen
    return None


def _learning_speed_md(res, out_dir: str) -> list[str]:
    """RBM vs random init after one epoch, and NG-SGD vs SGD frames-to-objective (+ plot)."""
    r = dataclasses.replace
    md = ["\n## Learning speed\n",
          "| | N=1 | N=16 |", "|---|---|---|"]
    for label, init in (("valid frame acc % after 1 epoch, RBM init", "rbm"),
                        ("valid frame acc % after 1 epoch, random init", "random")):
        vals = []
        for n in (1, 16):
            h = [x for x in res(r(BASE, workers=n, init=init)).history if "valid_acc" in x]
            vals.append(f"{100 * h[0]['valid_acc']:.2f}" if h else "-")
        md.append(f"| {label} | " + " | ".join(vals) + " |")
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for n in (1, 16):
        ngd, sgd = res(r(BASE, workers=n)), res(r(BASE, workers=n, update="sgd"))
        target = max(sgd.history[-1]["train_objf"], ngd.history[-1]["train_objf"]) - 0.1
        fn, fs = _frames_to_reach(ngd.history, target), _frames_to_reach(sgd.history, target)
        md.append(f"| frames to reach training objective {target:.2f}, NG-SGD / SGD (N={n}) | "
                  f"{fn or 'not reached'} / {fs or 'not reached'} | |")
        for e, st in ((ngd, "-"), (sgd, "--")):
            xs, acc = [], 0
            for h in e.history:
                acc += h["frames"]
                xs.append(acc / 1e6)
            ax.plot(xs, [h["train_objf"] for h in e.history], st, label=f"{e.exp_dir.split('_')[2]} N={n}")
    ax.set_xlabel("training frames (millions, all workers)")
    ax.set_ylabel("training objective (log-prob per frame)")
    ax.set_title("NG-SGD vs plain SGD, same learning-rate schedule")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(os.path.join(out_dir, "ngd_vs_sgd.png"), suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    md.append("\n![NG-SGD vs SGD](ngd_vs_sgd.png)\n")
    return md


def _plot_wer_vs_n(root, ref_text, rows, png):
    ns = [r.workers for r in rows]
    fig = Figure(figsize=(10, 3.8))
    ax = fig.subplots(1, 2)
    ax[0].errorbar(ns, [r.wer for r in rows], yerr=[[r.wer - r.wer_lo for r in rows], [r.wer_hi - r.wer for r in rows]],
                   marker="o", capsize=3, label="ours (FSDD)")
    ax[0].set_xscale("log", base=2)
    ax[0].set_xlabel("workers")
    ax[0].set_ylabel("WER %")
    ax[0].set_title("WER vs workers (95% CI)")
    ax[1].plot(ns, [100 * r.valid_acc for r in rows], marker="o")
    ax[1].set_xscale("log", base=2)
    ax[1].set_xlabel("workers")
    ax[1].set_ylabel("validation frame accuracy %")
    for a in ax:
        a.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(png, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")


def sigmoid_shape(model_path: str) -> tuple[int, int]:
    """(hidden layers, units per layer) of a sigmoid DNN, e.g. run.sh's RBM-initialized init.mdl."""
    sig = [c for c in load_model(model_path).nnet.components if isinstance(c, C.SigmoidComponent)]
    if not sig or len({c.output_dim for c in sig}) != 1:
        raise UserError(f"{model_path}: expected a sigmoid DNN with equally wide hidden layers")
    return len(sig), sig[0].output_dim


def make_random_init(init_rbm: str, feature_transform: str, transition_model: str, out: str, seed: int) -> str:
    """The RBM-initialized sigmoid DNN's shape with random hidden layers (the paper's A.4 comparison)."""
    if not os.path.exists(out):
        depth, hid = sigmoid_shape(init_rbm)
        subprocess.run([sys.executable, "-m", "nnet2", "dbn-to-nnet", "--random-init", "true", "--nn-depth",
                        str(depth), "--hid-dim", str(hid), "--seed", str(seed), feature_transform, "-",
                        transition_model, out], check=True)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=8, help="epochs per experiment")
    p.add_argument("--initial-lr", type=float, default=0.004, help="initial learning rate (x workers)")
    p.add_argument("--final-lr", type=float, default=0.0004, help="final learning rate (x workers)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data order and of the random init")
    p.add_argument("--only", default="", help="comma-separated experiment names to run, in this order (default: all)")
    p.add_argument("--note", default="", help="a sentence for the top of paper_tables.md (e.g. what was reduced)")
    p.add_argument("--list", action="store_true", help="list the experiments and exit")
    p.add_argument("--tables-only", action="store_true", help="do not train; write tables from finished runs")
    p.add_argument("exp_root", help="where each experiment gets its directory")
    p.add_argument("egs_sigmoid", help="egs for the sigmoid DNN (context +-5)")
    p.add_argument("egs_pnorm", help="egs for the p-norm DNN (context +-4)")
    p.add_argument("init_rbm", help="sigmoid DNN initialized from the DBN (.mdl)")
    p.add_argument("feature_transform", help="the DBN's nnet1 feature transform (for the random init)")
    p.add_argument("transition_model", help="GMM final.mdl (for the random init)")
    p.add_argument("init_pnorm", help="p-norm DNN (.mdl)")
    p.add_argument("graph_dir", help="decoding graph dir")
    p.add_argument("dev_dir", help="dev data dir (tuning)")
    p.add_argument("test_dir", help="test data dir")
    p.add_argument("out_dir", help="where paper_tables.md and the plots go")
    args = p.parse_args(argv)
    exps = all_experiments()
    if args.list:
        print("\n".join(e.name for e in exps))
        return 0
    if args.only:  # in the order given (run the most important first)
        by_name = {e.name: e for e in exps}
        unknown = [n for n in args.only.split(",") if n not in by_name]
        if unknown:
            raise SystemExit(f"paper_tables.py: unknown experiment(s) {', '.join(unknown)} (see --list)")
        exps = [by_name[n] for n in args.only.split(",")]
    if not args.tables_only:
        os.makedirs(args.exp_root, exist_ok=True)
        init_random = make_random_init(args.init_rbm, args.feature_transform, args.transition_model,
                                       os.path.join(args.exp_root, "init_random.mdl"), args.seed)
        egs = {"sigmoid": args.egs_sigmoid, "pnorm": args.egs_pnorm}
        inits = {("sigmoid", "rbm"): args.init_rbm, ("sigmoid", "random"): init_random,
                 ("pnorm", "random"): args.init_pnorm, ("pnorm", "rbm"): args.init_pnorm}
        for i, e in enumerate(exps):
            print(f"[{i + 1}/{len(exps)}] {e.name}", flush=True)
            run_experiment(e, args.exp_root, egs, inits, args.graph_dir, args.dev_dir, args.test_dir,
                           args.epochs, (args.initial_lr, args.final_lr), args.seed)
    egs = {"sigmoid": args.egs_sigmoid, "pnorm": args.egs_pnorm}
    print(write_tables(args.exp_root, os.path.join(args.test_dir, "text"), args.out_dir, egs, args.note))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as e:
        print(f"paper_tables.py: error: {e}", file=sys.stderr)
        sys.exit(1)
