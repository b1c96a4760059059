"""Results tables and plots for trained systems (used by the recipes' last stage).

A *system* is a training directory (`nnet2 train` output: `state/<iter>.json` holds the per-iteration
history) with a decode directory holding `hyp.txt`. WER comes from scoring hyp.txt against the
reference text, with a bootstrap 95% confidence interval over utterances.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os

from nnet2.decode.score import score_texts
from nnet2.utils.errors import UserError
from nnet2.utils.fileio import atomic_path


@dataclasses.dataclass
class SystemResult:
    name: str
    exp_dir: str
    workers: int
    wer: float | None
    wer_lo: float | None
    wer_hi: float | None
    errors: str
    valid_acc: float | None
    valid_acc_lo: float | None
    valid_acc_hi: float | None
    best_epoch: int | None      # 1-based epoch with the highest validation accuracy (the last model is used)
    best_valid_acc: float | None
    last_epoch: int | None
    train_seconds: float
    avg_share: float
    frames_per_second: float
    history: list


def _last_state(exp_dir: str) -> dict:
    files = glob.glob(os.path.join(exp_dir, "state", "*.json"))
    its = sorted(int(os.path.basename(f)[:-5]) for f in files if os.path.basename(f)[:-5].isdigit())
    if not its:
        raise UserError(f"{exp_dir}: no training state (state/<iter>.json); was it trained with nnet2 train?")
    with open(os.path.join(exp_dir, "state", f"{its[-1]}.json")) as f:
        return json.load(f)


def collect(name: str, exp_dir: str, ref_text: str | None, decode_subdir: str = "decode_test",
            replications: int | None = None) -> SystemResult:
    st = _last_state(exp_dir)
    hist = st["history"]
    wer = lo = hi = None
    errors = ""
    hyp = os.path.join(exp_dir, decode_subdir, "hyp.txt")
    if ref_text and os.path.exists(hyp):
        r = score_texts(ref_text, hyp)
        ci = r.interval(replications)
        wer, lo, hi = ci.value, ci.lo, ci.hi
        errors = r.kaldi_lines().strip().splitlines()[0]
    ep = [h for h in hist if "valid_acc" in h]
    last = ep[-1] if ep else {}
    best = max(ep, key=lambda h: h["valid_acc"]) if ep else {}  # first of equals: the earliest epoch
    secs = sum(h["seconds"] for h in hist)
    avg = sum(h.get("avg_seconds", 0.0) for h in hist)
    frames = sum(h["frames"] for h in hist)
    return SystemResult(name, exp_dir, int(st["identity"]["num_workers"]), wer, lo, hi, errors,
                        last.get("valid_acc"), last.get("valid_acc_lo"), last.get("valid_acc_hi"),
                        best["epoch"] + 1 if best else None, best.get("valid_acc"),
                        last["epoch"] + 1 if last else None, secs, avg / secs if secs else 0.0,
                        frames / secs if secs else 0.0, hist)


def acc_text(r: SystemResult) -> str:
    """'79.20 [77.9, 80.4]' (validation frame accuracy % of the last epoch with its interval) and, when an
    earlier epoch was better, ' (best 79.50 at epoch 5)'."""
    if r.valid_acc is None:
        return "-"
    t = f"{100 * r.valid_acc:.2f}"
    if r.valid_acc_lo is not None:
        t += f" [{100 * r.valid_acc_lo:.1f}, {100 * r.valid_acc_hi:.1f}]"
    if r.best_epoch is not None and r.best_epoch != r.last_epoch and r.best_valid_acc > r.valid_acc:
        t += f" (best {100 * r.best_valid_acc:.2f} at epoch {r.best_epoch})"
    return t


def markdown_table(rows: list[SystemResult], title: str = "") -> str:
    fmt = lambda v, f: (f % v) if v is not None else "-"  # noqa: E731
    out = [f"### {title}\n" if title else "",
           "| system | workers | WER % [95% CI] | valid frame acc % [95% CI] (last epoch; best if earlier) | train time (s) | frames/s (all workers) | averaging share |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        w = f"{r.wer:.2f} [{r.wer_lo:.2f}, {r.wer_hi:.2f}]" if r.wer is not None else "-"
        out.append(f"| {r.name} | {r.workers} | {w} | {acc_text(r)} | "
                   f"{r.train_seconds:.0f} | {r.frames_per_second:.0f} | {100 * r.avg_share:.1f}% |")
    return "\n".join(x for x in out if x) + "\n"


def _iters_per_epoch(history: list[dict]) -> int:
    return max(1, sum(1 for h in history if h["epoch"] == history[0]["epoch"])) if history else 1


def plot_learning_curves(rows: list[SystemResult], png: str, title: str = "") -> None:
    """Two panels over epochs (integer ticks): the training objective after each iteration and the
    validation frame accuracy after each epoch; one line per system, labelled with its name."""
    from matplotlib.figure import Figure  # lazy: 0.4 s of every `nnet2` verb's start-up otherwise
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(11, 4))  # no pyplot: no GUI backend, no global figure state
    axes = fig.subplots(1, 2)
    for r in rows:
        ipe = _iters_per_epoch(r.history)
        x = [(h["iter"] + 1) / ipe for h in r.history]
        axes[0].plot(x, [h["train_objf"] for h in r.history], label=r.name)
        ep = [h["epoch"] + 1 for h in r.history if "valid_acc" in h]
        axes[1].plot(ep, [100 * h["valid_acc"] for h in r.history if "valid_acc" in h], marker="o", label=r.name)
    axes[0].set_title("Training objective")
    axes[0].set_ylabel("log-prob per frame (training minibatches)")
    axes[1].set_title("Validation frame accuracy")
    axes[1].set_ylabel("frame accuracy (%)")
    for a in axes:
        a.set_xlabel("epoch")
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(png, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")


def write_report(systems: list[tuple[str, str]], ref_text: str | None, out_md: str, png: str | None,
                 title: str = "Results", decode_subdir: str = "decode_test", extra_md: str = "") -> list[SystemResult]:
    rows = [collect(n, d, ref_text, decode_subdir) for n, d in systems]
    md = f"# {title}\n\n" + markdown_table(rows) + "\n" + extra_md
    if png:
        plot_learning_curves(rows, png, title)
        md += f"\n![learning curves]({os.path.relpath(png, os.path.dirname(os.path.abspath(out_md)))})\n"
    with atomic_path(out_md) as tmp, open(tmp, "w") as f:
        f.write(md)
    return rows
