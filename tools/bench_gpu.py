#!/usr/bin/env python3
"""Training throughput on one GPU: the nnet2 core vs PyTorch on the same GPU, the paper's network
(440 -> 6 x 2048 sigmoid -> 8806 softmax, 39.9 M parameters; tools/bench_core.py --net sigmoid).

Each step = forward + backward + update with the objective summed over the minibatch: ours through
`Nnet.train_step` on CuPy arrays (plain SGD, and NG-SGD with --ngd), PyTorch as nn.Sequential with summed
cross-entropy and SGD without momentum. Both in float32 with TF32 off (cuBLAS's default math for ours;
torch.backends.cuda.matmul.allow_tf32 = False for PyTorch), inputs already on the GPU. After warm-up
steps, each is timed for --seconds with the GPU synchronized at both ends; the best of --repeat
interleaved timings is kept. Prints a Markdown table (and --json).

Usage: python tools/bench_gpu.py [--minibatch 256 1024] [--seconds 3] [--repeat 2] [--ngd] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _paths import use_source_tree_if_built  # noqa: E402

use_source_tree_if_built()

from bench_core import config, dims  # noqa: E402
from nnet2.nnet.nnet import init_nnet_from_config  # noqa: E402
import numpy as np  # noqa: E402  (after nnet2, which sets OpenBLAS's thread timeout before any OpenBLAS loads)


def timed(step, sync, seconds: float) -> float:
    """Steps per second of step() over about `seconds` (GPU synchronized before and after)."""
    sync()
    n, t0 = 0, time.perf_counter()
    while True:
        step()
        n += 1
        if n % 5 == 0:
            sync()
            el = time.perf_counter() - t0
            if el >= seconds:
                return n / el


def ours(mb: int, ngd: bool, cp):
    nnet = init_nnet_from_config(config("sigmoid", ngd), seed=0).to("cuda")
    rng = np.random.default_rng(0)
    x = cp.asarray(rng.standard_normal((mb, 440)).astype(np.float32))
    y = cp.asarray(rng.integers(0, 8806, mb).astype(np.int32))
    return lambda: nnet.train_step(x, y)


def torch_step(mb: int, torch):
    d_in, hidden, d_out = dims("sigmoid")
    layers, d = [], d_in
    for h in hidden:
        layers += [torch.nn.Linear(d, h), torch.nn.Sigmoid()]
        d = h
    layers.append(torch.nn.Linear(d, d_out))
    net = torch.nn.Sequential(*layers).cuda()
    opt = torch.optim.SGD(net.parameters(), lr=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss(reduction="sum")
    g = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn(mb, d_in, device="cuda", generator=g)
    y = torch.randint(0, d_out, (mb,), device="cuda", generator=g)

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(net(x), y).backward()
        opt.step()
    return step


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minibatch", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=15, help="steps before timing (NG-SGD: past its first 10 updates)")
    ap.add_argument("--ngd", action="store_true", help="also time ours with NG-SGD")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args()
    import cupy as cp

    torch = None
    if not a.no_torch:
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False

    def sync():
        cp.cuda.Device().synchronize()
        if torch is not None:
            torch.cuda.synchronize()

    name = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)["name"]
    name = name.decode() if isinstance(name, bytes) else str(name)
    rows = []
    for mb in a.minibatch:
        steps = {"ours_sgd": ours(mb, False, cp)}
        if a.ngd:
            steps["ours_ngd"] = ours(mb, True, cp)
        if torch is not None:
            steps["torch"] = torch_step(mb, torch)
        for s in steps.values():
            for _ in range(a.warmup):
                s()
        best = {k: 0.0 for k in steps}
        for _ in range(a.repeat):
            for k, s in steps.items():
                best[k] = max(best[k], timed(s, sync, a.seconds) * mb)
        row = {"minibatch": mb, **{f"{k}_fps": v for k, v in best.items()}}
        if torch is not None:
            row["sgd_vs_torch"] = best["ours_sgd"] / best["torch"]
        rows.append(row)
        del steps
        cp.get_default_memory_pool().free_all_blocks()
    print(f"Paper's network (440 -> 6 x 2048 sigmoid -> 8806 softmax) on {name}, float32, TF32 off; "
          f"frames/s, best of {a.repeat} x {a.seconds:g} s:\n")
    cols = ["minibatch", "ours_sgd_fps"] + (["ours_ngd_fps"] if a.ngd else []) + \
           (["torch_fps", "sgd_vs_torch"] if torch is not None else [])
    heads = {"minibatch": "minibatch", "ours_sgd_fps": "ours SGD fr/s", "ours_ngd_fps": "ours NG-SGD fr/s",
             "torch_fps": "PyTorch fr/s", "sgd_vs_torch": "ours SGD / PyTorch"}
    print("| " + " | ".join(heads[c] for c in cols) + " |")
    print("|" + "|".join("---:" for _ in cols) + "|")
    for r in rows:
        print("| " + " | ".join(f"{r[c]:.2f}x" if c == "sgd_vs_torch" else f"{r[c]:.0f}" for c in cols) + " |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"gpu": name, "rows": rows, "seconds": a.seconds, "repeat": a.repeat}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
