#!/usr/bin/env python3
"""The whole trainer against its kernels: `nnet2 train` with 1 worker vs `Nnet.train_step` alone, on the
same minibatches of synthetic egs, for the FSDD recipe's networks (egs/fsdd/run.sh, egs/fsdd/conf).

Builds, in a temp dir, synthetic 13-dim features (--frames frames, the held-out, train-diagnostic and
prior-estimation subsets scaled to the FSDD egs' proportions; the label of a frame is a fixed
function of the frame, so the network learns), a TransitionModel of 21 three-state phones (63 pdfs; the
FSDD monophone system has 62), egs with the project's own writer (`make_egs`, the recipe's context) and
the recipe's initial network:
  pnorm  : Splice +-4 (117) -> 3 x [affine 1000 -> p-norm 100 -> normalize] -> affine 63 -> softmax
  sigmoid: Splice +-5 (143) -> 4 x [affine 512 -> sigmoid] -> affine 63 -> softmax (random init: the RBM
           pretraining and the feature transform of dbn-to-nnet are left out; they do not change the step)
Then it times, interleaved and best of --repeat:
  trainer: `nnet2 train --config egs/fsdd/conf/<net>.conf --threads T` (10 epochs x 2 iterations) run in-process
           (the CLI's main(), so argument parsing, setup, egs reading, Python, logging, validation, checkpoints,
           averaging with 1 rank and the priors at the end all count; the interpreter's start-up does not;
           with --threads 1 on a machine with a second core, each epoch's validation runs on it beside the
           next iteration, the trainer's default there: --background-validation);
  step   : the same iterations' minibatches (read beforehand), the same learning rates and preconditioner
           resets, through `Nnet.train_step` alone.
Both report training frames / seconds; the ratio trainer / step is what the trainer keeps of its kernels.
A second ratio counts the trainer only up to its last checkpoint (the whole command less the final model
combination and the prior estimation, which Kaldi's scripts run as separate jobs after training:
nnet-combine-fast, nnet-adjust-priors); the trainer's own per-phase seconds (its final "Time:" log line)
are printed and kept in the JSON.

    PYTHONPATH=python python tools/bench_train.py --net pnorm sigmoid --threads 1 --json out.json
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _paths import ROOT, use_source_tree_if_built  # noqa: E402

use_source_tree_if_built()

import nnet2  # noqa: E402,F401  (first: its thread settings before NumPy's OpenBLAS loads)
import numpy as np  # noqa: E402

FEAT_DIM, PHONES, STATES = 13, 21, 3
# The FSDD recipe's egs (exp/egs_c4/info.json): 138,642 training frames, 10% of the utterances held out for
# validation, 4,000 train-diagnostic and 10,000 combination frames (get-egs's defaults, as Kaldi's
# get_egs2.sh); `nnet2 train` estimates the priors on 20,000 frames at the end. Smaller synthetic egs scale
# the diagnostic, combination and prior subsets to keep those proportions (the final combination makes 40
# gradient passes over its subset: unscaled, it would weigh 7x more against 20,000 training frames than
# against FSDD's 138,642).
FSDD_FRAMES, FSDD_DIAG, FSDD_COMBINE, PRIOR_FRAMES = 138642, 4000, 10000, 20000
CONTEXT = {"pnorm": 4, "sigmoid": 5}


def network_config(net: str) -> str:
    c = CONTEXT[net]
    lines = [f"SpliceComponent input-dim={FEAT_DIM} left-context={c} right-context={c}"]
    d = FEAT_DIM * (2 * c + 1)
    if net == "pnorm":
        for _ in range(3):
            lines += [f"AffineComponent input-dim={d} output-dim=1000 learning-rate=0.001 param-stddev={1000 ** -0.5} "
                      "bias-stddev=0.5", "PnormComponent input-dim=1000 output-dim=100 p=2", "NormalizeComponent dim=100"]
            d = 100
    else:
        for _ in range(4):
            lines += [f"AffineComponent input-dim={d} output-dim=512 learning-rate=0.001 param-stddev={d ** -0.5} "
                      "bias-stddev=0.1", "SigmoidComponent dim=512"]
            d = 512
    lines += [f"AffineComponent input-dim={d} output-dim=NUM_PDFS learning-rate=0.001 param-stddev=0 bias-stddev=0",
              "SoftmaxComponent dim=NUM_PDFS"]
    return "\n".join(lines) + "\n"


def transition_model_bytes() -> bytes:
    """A monophone TransitionModel: PHONES phones, each a 3-state left-to-right HMM with its own pdfs."""
    from nnet2.io.transition_model import HmmState, HmmTopology, TransitionModel

    entry = [HmmState(s, s, [(s, 0.5), (s + 1, 0.5)]) for s in range(STATES)] + [HmmState()]
    topo = HmmTopology([entry], [-1] + [0] * PHONES)
    tuples = [(p, s, (p - 1) * STATES + s, (p - 1) * STATES + s) for p in range(1, PHONES + 1) for s in range(STATES)]
    log_probs = np.full(1 + 2 * len(tuples), np.log(0.5), np.float32)
    return TransitionModel(topo, tuples, log_probs).to_bytes(binary=True)


def make_setup(d: str, net: str, frames: int, seed: int = 0) -> tuple[str, str]:
    """(egs dir, initial model) for `net` under d."""
    import kaldiio

    from nnet2.data.egs import EgsOptions, make_egs
    from nnet2.nnet.model import init_model, save_model

    rng = np.random.default_rng(seed)
    num_pdfs = PHONES * STATES
    proj = rng.standard_normal((FEAT_DIM, num_pdfs))
    feats, alis, n = {}, {}, 0
    while n < frames:
        t = int(rng.integers(80, 200))
        x = rng.standard_normal((t, FEAT_DIM)).astype(np.float32)
        k = f"utt{len(feats):05d}"
        feats[k] = x
        alis[k] = np.argmax(x @ proj + 0.5 * rng.standard_normal((t, num_pdfs)), axis=1).astype(np.int32)
        n += t
    kaldiio.save_ark(os.path.join(d, "feats.ark"), feats, scp=os.path.join(d, "feats.scp"))
    c = CONTEXT[net]
    egs = os.path.join(d, f"egs_c{c}")
    if not os.path.exists(egs):
        diag = max(100, round(FSDD_DIAG * frames / FSDD_FRAMES))
        comb = max(100, round(FSDD_COMBINE * frames / FSDD_FRAMES))
        make_egs(os.path.join(d, "feats.scp"), alis, egs, num_pdfs,
                 EgsOptions(left_context=c, right_context=c, num_frames_diagnostic=diag, num_frames_combine=comb))
    tm = os.path.join(d, "tm.bin")
    with open(tm, "wb") as f:
        f.write(transition_model_bytes())
    cfg = os.path.join(d, f"{net}.config")
    with open(cfg, "w") as f:
        f.write(network_config(net))
    mdl = os.path.join(d, f"{net}_init.mdl")
    save_model(init_model(cfg, tm, seed=seed), mdl)
    return egs, mdl


def train_args(net: str, egs: str, mdl: str, out: str, epochs: int | None, threads: int, update: str,
               frames: int) -> list[str]:
    prior = max(1000, round(PRIOR_FRAMES * frames / FSDD_FRAMES))
    return (["train", "--config", os.path.join(ROOT, "egs", "fsdd", "conf", f"{net}.conf")]
            + (["--num-epochs", str(epochs)] if epochs else [])
            + ["--threads", str(threads), "--update", update, "--prior-frames", str(prior), "--progress", "false",
               egs, mdl, out])


PHASES = ("setup", "training", "validation", "checkpoints", "combination", "priors")


def time_trainer(argv: list[str]) -> tuple[float, dict[str, float]]:
    """(seconds of the CLI's main() for `nnet2 <argv>`, the trainer's own seconds per phase from its final
    "Time:" log line); the log to stderr is swallowed."""
    from nnet2 import cli

    err = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(err):
        rc = cli.main(argv)
    el = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(f"bench_train: nnet2 {' '.join(argv)} failed (exit {rc}):\n{err.getvalue()[-2000:]}")
    line = [x for x in err.getvalue().splitlines() if "Time: " in x and "in all:" in x]
    if not line:
        raise SystemExit("bench_train: the trainer's log has no 'Time: ... in all:' line")
    phases = {}
    for item in line[-1].split("in all:", 1)[1].split(" (")[0].split(","):
        k, v = item.split()
        phases[k] = float(v.rstrip("s"))
    if set(phases) != set(PHASES):
        raise SystemExit(f"bench_train: unexpected phases in the trainer's Time line: {sorted(phases)}")
    return el, phases


def step_replay(argv: list[str], scratch: str):
    """(run, frames): run() replays the trainer's iterations through Nnet.train_step alone and returns
    (seconds in train_step, the trained network)."""
    from nnet2.cli import parse_args
    from nnet2.nnet import ngd_config
    from nnet2.nnet.convert import set_update_type
    from nnet2.nnet.model import load_model
    from nnet2.train.trainer import TrainOptions, Trainer
    from nnet2.utils.options import from_args

    args = parse_args(list(argv))  # as `nnet2 train` parses them (--config: the conf first, command line wins)
    opts = from_args(TrainOptions, args)
    with contextlib.redirect_stderr(io.StringIO()):
        tr = Trainer(args.egs_dir, args.init_model, scratch, opts)
    iters = []
    for it in range(tr.num_iters):
        epoch, mb0, mb1 = tr._iter_bounds(it)
        mbs = []
        for i, (X, y) in enumerate(tr.egs.iter_minibatches(0, epoch, opts.minibatch_size, opts.seed, 1, start=mb0),
                                   start=mb0):
            if i >= mb1:
                break
            mbs.append((np.ascontiguousarray(X), np.ascontiguousarray(y)))
        iters.append((tr.learning_rate(it), mbs))
    frames = sum(len(y) for _, mbs in iters for _, y in mbs)

    def run() -> tuple[float, object]:
        nnet = load_model(args.init_model).nnet
        set_update_type(nnet, opts.update, ngd_config.preset(opts.ngd_preset))
        el = 0.0
        for lr, mbs in iters:
            nnet.set_learning_rate(lr)
            nnet.reset_preconditioners()
            nnet.zero_stats()
            t0 = time.perf_counter()
            for X, y in mbs:
                nnet.train_step(X, y)
            el += time.perf_counter() - t0
        return el, nnet

    return run, frames


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--net", nargs="+", choices=["pnorm", "sigmoid"], default=["pnorm", "sigmoid"])
    ap.add_argument("--frames", type=int, default=20000, help="synthetic frames (10%% of the utterances are held out)")
    ap.add_argument("--epochs", type=int, default=None, help="--num-epochs of the timed run (default: the conf's)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--update", choices=["ngd", "sgd"], default="ngd")
    ap.add_argument("--repeat", type=int, default=2, help="interleaved repeats (best kept)")
    ap.add_argument("--json", help="write results here")
    a = ap.parse_args()
    from nnet2 import _core

    rows = []
    print(f"{'net':>8} {'thr':>3} {'frames':>8} {'trainer fr/s':>12} {'step fr/s':>10} {'trainer/step':>12} "
          f"{'to last ckpt':>14}  trainer phases (s, best run)")
    for net in a.net:
        d = tempfile.mkdtemp(prefix=f"bench_train_{net}.")
        try:
            egs, mdl = make_setup(d, net, a.frames)
            argv = train_args(net, egs, mdl, os.path.join(d, "out"), a.epochs, a.threads, a.update, a.frames)
            replay, frames = step_replay(argv, os.path.join(d, "scratch"))
            _core.set_num_threads(a.threads)
            replay()  # warm-up (page cache, allocations)
            t_tr, t_st, ph = [], [], []
            for r in range(a.repeat):
                out = os.path.join(d, f"out{r}")
                el, phases = time_trainer(train_args(net, egs, mdl, out, a.epochs, a.threads, a.update, a.frames))
                t_tr.append(el)
                ph.append(phases)
                shutil.rmtree(out, ignore_errors=True)
                _core.set_num_threads(a.threads)
                t_st.append(replay()[0])
            best = min(range(a.repeat), key=lambda r: t_tr[r])
            # up to the last checkpoint: the whole command less the final combination and the priors, the two
            # stages Kaldi's scripts run as separate jobs after training (nnet-combine-fast, nnet-adjust-priors)
            t_loop = [t - p["combination"] - p["priors"] for t, p in zip(t_tr, ph)]
            fr_tr, fr_st, fr_loop = frames / min(t_tr), frames / min(t_st), frames / min(t_loop)
            row = dict(net=net, threads=a.threads, update=a.update, frames=frames,
                       argv=[os.path.relpath(x, ROOT) if x.startswith(ROOT + os.sep) else x for x in argv[:-3]],
                       trainer_frames_per_s=fr_tr, step_frames_per_s=fr_st, ratio=fr_tr / fr_st,
                       loop_frames_per_s=fr_loop, loop_ratio=fr_loop / fr_st,
                       trainer_seconds=t_tr, step_seconds=t_st, loop_seconds=t_loop, phases=ph[best])
            rows.append(row)
            print(f"{net:>8} {a.threads:>3} {frames:>8} {fr_tr:>12.0f} {fr_st:>10.0f} {100 * row['ratio']:>11.1f}% "
                  f"{100 * row['loop_ratio']:>13.1f}%  " + " ".join(f"{k} {v:.2f}" for k, v in ph[best].items()),
                  flush=True)
        finally:
            shutil.rmtree(d, ignore_errors=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
