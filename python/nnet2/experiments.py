"""The paper's comparisons in miniature (H. Su, H. Chen, arXiv:1507.01239, 2015: its WER tables), run on the FSDD task.

Each experiment is one `nnet2 train` run (its own output dir, resumable), decoded with the acoustic
scale / insertion penalty tuned on dev; the tables put the paper's Hub5'00 SWB numbers beside ours
(different task, same shape of comparison). The paper's minibatch of 1024 frames is scaled to this
~0.5 h corpus: with 16 workers a 1024-frame minibatch and averaging every 10 would average about once
per epoch, so minibatch 256 plays the role of 1024 (and 64 of 256) here.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import subprocess
import sys

from nnet2.utils.errors import UserError
from nnet2.utils.log import get_logger

log = get_logger(__name__)


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

    @property
    def name(self) -> str:
        parts = [self.model, self.init if self.model == "sigmoid" else "", self.update, f"n{self.workers}",
                 f"k{self.average_every}", f"mb{self.minibatch}", self.lr_schedule[:3], self.averaging]
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
             rows=[("plain averaging", [BASE, r(BASE, workers=16)]),
                   ("BMUF (block momentum 0.5)", [None, r(BASE, workers=16, averaging="bmuf")]),
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
                  seed: int) -> list[str]:
    cmd = ["mpiexec", "-n", str(e.workers), sys.executable, "-m", "mpi4py", "-m", "nnet2", "train",
           "--update", e.update, "--average-every", str(e.average_every), "--minibatch-size", str(e.minibatch),
           "--lr-schedule", e.lr_schedule, "--averaging", e.averaging, "--num-epochs", str(epochs),
           "--initial-lr", str(lr[0]), "--final-lr", str(lr[1]), "--seed", str(seed), "--threads", "1",
           "--resume", "true", "--progress", "false", "--block-momentum", "0.5"]
    return cmd + [egs_dir, init_mdl, out_dir]


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
    from nnet2.report import collect

    return collect(e.name, os.path.join(root, e.name), ref_text)


def write_tables(root: str, ref_text: str, out_dir: str) -> str:
    """Markdown tables (ours beside the paper) + WER-vs-N plot; returns the Markdown."""
    os.makedirs(out_dir, exist_ok=True)
    cache = {}

    def res(e):
        if e not in cache:
            cache[e] = results_of(root, e, ref_text)
        return cache[e]

    md = ["# The paper's comparisons on FSDD connected digits\n",
          "WER % on the FSDD test set [bootstrap 95% CI] / validation frame accuracy %. Paper columns: "
          "Hub5'00 SWB WER % from Su & Chen (2015) — a different task; compare the *shape* (how much is "
          "lost going from 1 to 16 workers), not the values.\n"]
    for t in table_specs():
        md.append(f"\n## {t['title']}\n")
        md.append("| | " + " | ".join(t["cols"]) + " |")
        md.append("|---" * (len(t["cols"]) + 1) + "|")
        for label, cells in t["rows"]:
            vals = []
            for e in cells:
                if e is None:
                    vals.append("")
                    continue
                r = res(e)
                vals.append(f"{r.wer:.2f} [{r.wer_lo:.2f}, {r.wer_hi:.2f}] / {100 * r.valid_acc:.1f}")
            md.append(f"| {label} | " + " | ".join(vals) + " |")
        for label, vals in t["paper"]:
            md.append(f"| *{label}* | " + " | ".join(vals) + " |")
    md += _learning_speed_md(res, out_dir)
    text = "\n".join(md) + "\n"
    _plot_wer_vs_n(root, ref_text, [res(dataclasses.replace(BASE, workers=n)) for n in (1, 2, 4, 8, 16)],
                   os.path.join(out_dir, "wer_vs_workers.png"))
    from nnet2.report import plot_learning_curves

    plot_learning_curves([dataclasses.replace(res(dataclasses.replace(BASE, workers=n)),
                                              name=f"{n} worker{'s' if n > 1 else ''}") for n in (1, 2, 4, 8, 16)],
                         os.path.join(out_dir, "learning_curves_workers.png"),
                         "Sigmoid DNN (RBM init, NG-SGD, averaging every 10) on 1-16 workers")
    text += "\n![WER vs workers](wer_vs_workers.png)\n\n![learning curves](learning_curves_workers.png)\n"
    from nnet2.utils.fileio import write_bytes_atomic

    write_bytes_atomic(os.path.join(out_dir, "paper_tables.md"), text.encode())
    write_bytes_atomic(os.path.join(out_dir, "paper_tables.json"),
                       json.dumps({e.name: dataclasses.asdict(res(e)) | {"history": None}
                                   for e in cache}, indent=1).encode())
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nnet2.utils.fileio import atomic_path

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
    fig, ax = plt.subplots(figsize=(6, 4))
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
    plt.close(fig)
    md.append("\n![NG-SGD vs SGD](ngd_vs_sgd.png)\n")
    return md


def _plot_wer_vs_n(root, ref_text, rows, png):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nnet2.utils.fileio import atomic_path

    ns = [r.workers for r in rows]
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
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
    plt.close(fig)
