#!/usr/bin/env python3
"""Time of one parameter-averaging round vs parameter count, for 2 and 4 MPI ranks, with exactly the
training code's averaging (nnet2.parallel.average.average_flat_: in-place MPI Allreduce(SUM) on the flat
float32 buffer, then x 1/N), and the alpha-beta fit of a ring allreduce

    t(N, B) = 2(N-1) * alpha + 2(N-1)/N * beta * B        (B = bytes = 4 x parameters)

(alpha: latency per ring step; beta: seconds per byte, which here also absorbs the reduction and the
rescale passes over memory). The fit minimizes relative errors over all (N, size) points, alpha, beta >= 0
(tools/scaling_model.py fit_alpha_beta); per-N fits are shown too, since on one shared-memory machine
"latency" and "bandwidth" are whatever MPICH's shared-memory path gives.

The script launches itself under `mpiexec -n N python -m mpi4py tools/bench_allreduce.py --worker ...`
for each N. Each size: 2 warm-up rounds, then --repeat timings, each of enough back-to-back rounds to last
>= --min-seconds; a timing is the slowest rank's mean round time (a collective ends for all when the last
rank ends); the median over repeats is reported. With more ranks than cores (4 ranks on a 2-core machine)
the ranks time-share the cores while MPICH busy-polls: the numbers then measure that, not a network.

"Bus GB/s" = 2(N-1)/N x B / t: the per-rank traffic of a ring allreduce over time (comparable across N);
"alg GB/s" = B / t.

Usage: python tools/bench_allreduce.py [--ranks 2 4] [--params 0.1 1 4 10 40] [--json out.json] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _paths import child_pythonpath as _child_pythonpath  # noqa: E402
from _paths import use_source_tree_if_built as _use_source_tree  # noqa: E402
_use_source_tree()
sys.path.insert(0, HERE)

MARK = "BENCH_ALLREDUCE_JSON "


def worker(sizes: list[int], repeat: int, min_seconds: float) -> None:
    from mpi4py import MPI

    from nnet2.parallel.average import average_flat_

    comm = MPI.COMM_WORLD
    rank, n = comm.Get_rank(), comm.Get_size()
    rows = []
    for size in sizes:
        buf = np.full(size, float(rank), dtype=np.float32)
        for _ in range(2):  # first touch of the buffer and of MPICH's internal ones
            average_flat_(comm, buf)
        # Every rank must run the same number of rounds: calibrate on the slowest rank's time.
        comm.Barrier()
        t = time.perf_counter()
        average_flat_(comm, buf)
        one = comm.allreduce(time.perf_counter() - t, op=MPI.MAX)
        rounds = int(min(1000, max(1, np.ceil(min_seconds / max(one, 1e-9)))))
        times = []
        for _ in range(repeat):
            comm.Barrier()
            t = time.perf_counter()
            for _ in range(rounds):
                average_flat_(comm, buf)
            times.append(comm.allreduce((time.perf_counter() - t) / rounds, op=MPI.MAX))
        # The mean of 0..N-1 is exact in float32 and averaging it again leaves it unchanged.
        ok = comm.allreduce(bool(np.all(buf == np.float32((n - 1) / 2))), op=MPI.LAND)
        if not ok:
            raise SystemExit(f"bench_allreduce: wrong average for {size} parameters on {n} ranks")
        rows.append({"n": n, "params": size, "bytes": 4 * size, "seconds": statistics.median(times),
                     "repeats": times, "rounds_per_repeat": rounds})
        del buf
    if rank == 0:
        print(MARK + json.dumps(rows), flush=True)


def mpiexec() -> str:
    exe = shutil.which("mpiexec") or os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if not os.path.exists(exe):
        raise SystemExit("bench_allreduce.py: mpiexec not found")
    return exe


def run_ranks(n: int, sizes: list[int], repeat: int, min_seconds: float) -> list[dict]:
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=_child_pythonpath())
    cmd = [mpiexec(), "-n", str(n), sys.executable, "-m", "mpi4py", os.path.abspath(__file__), "--worker",
           "--sizes", *map(str, sizes), "--repeat", str(repeat), "--min-seconds", str(min_seconds)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        raise SystemExit(f"bench_allreduce.py: `{' '.join(cmd)}` failed:\n{p.stdout[-2000:]}{p.stderr[-3000:]}")
    for line in p.stdout.splitlines():
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    raise SystemExit(f"bench_allreduce.py: no result from the {n}-rank run:\n{p.stdout[-2000:]}{p.stderr[-2000:]}")


def markdown(rows: list[dict], ranks: list[int], fit: dict) -> list[str]:
    from scaling_model import ring_allreduce_seconds

    sizes = sorted({r["params"] for r in rows})
    by = {(r["n"], r["params"]): r for r in rows}
    a, b = fit["alpha"], fit["beta"]
    head = "| parameters | MB |" + "".join(f" {n} ranks ms | fit ms | bus GB/s | alg GB/s |" for n in ranks)
    out = [f"## Allreduce averaging round (average_flat_: in-place Allreduce + x 1/N), {os.cpu_count()} cores", "",
           head, "|---:|---:|" + "---:|---:|---:|---:|" * len(ranks)]
    for s in sizes:
        cells = [f"| {s / 1e6:g} M | {4 * s / 1e6:.1f} |"]
        for n in ranks:
            r = by.get((n, s))
            if r is None:
                cells.append(" - | - | - | - |")
                continue
            t = r["seconds"]
            model = float(ring_allreduce_seconds(n, 4 * s, a, b))
            cells.append(f" {t * 1e3:.3f} | {model * 1e3:.3f} | {2 * (n - 1) / n * 4 * s / t / 1e9:.2f} | "
                         f"{4 * s / t / 1e9:.2f} |")
        out.append("".join(cells))
    out += ["", f"Ring allreduce fit, t = 2(N−1)·α + 2(N−1)/N·β·bytes, all points (relative least squares): "
            f"**α = {a * 1e6:.1f} µs, β = {b * 1e9:.4f} ns/byte ({1e-9 / b if b > 0 else float('inf'):.2f} GB/s)**"]
    for n, f in fit.get("per_n", {}).items():
        out.append(f"* {n} ranks only: α = {f['alpha'] * 1e6:.1f} µs, β = {f['beta'] * 1e9:.4f} ns/byte "
                   f"({1e-9 / f['beta'] if f['beta'] > 0 else float('inf'):.2f} GB/s)")
    over = [n for n in ranks if n > (os.cpu_count() or 1)]
    if over:
        out.append(f"* {', '.join(map(str, over))} ranks exceed the {os.cpu_count()} cores: those ranks time-share "
                   "the cores (MPICH busy-polls), so their times are not a network's.")
    return out + [""]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ranks", type=int, nargs="+", default=[2, 4], help="MPI world sizes to run")
    ap.add_argument("--params", type=float, nargs="+", default=[0.1, 1, 4, 10, 40], help="parameter counts, millions")
    ap.add_argument("--repeat", type=int, default=5, help="timings per size (median reported)")
    ap.add_argument("--min-seconds", type=float, default=0.2, help="each timing runs rounds for at least this long")
    ap.add_argument("--quick", action="store_true", help="smoke run: 0.1, 1, 4 M parameters, 3 repeats, 0.05 s")
    ap.add_argument("--json", help="write rows and fit here (atomically)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--sizes", type=int, nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        worker(a.sizes, a.repeat, a.min_seconds)
        return 0
    if a.quick:
        a.params, a.repeat, a.min_seconds = [0.1, 1, 4], 3, 0.05
    if any(n < 2 for n in a.ranks) or any(p <= 0 for p in a.params):
        raise SystemExit("bench_allreduce.py: --ranks must be >= 2 and --params > 0")

    from scaling_model import fit_alpha_beta

    sizes = [int(round(p * 1e6)) for p in a.params]
    rows = []
    for n in a.ranks:
        t = time.perf_counter()
        rows += run_ranks(n, sizes, a.repeat, a.min_seconds)
        print(f"bench_allreduce: {n} ranks done in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    alpha, beta = fit_alpha_beta([r["n"] for r in rows], [r["bytes"] for r in rows], [r["seconds"] for r in rows])
    fit = {"form": "t = 2(N-1)*alpha + 2(N-1)/N*beta*bytes", "alpha": alpha, "beta": beta, "per_n": {}}
    for n in a.ranks:
        sub = [r for r in rows if r["n"] == n]
        if len(sub) >= 2:
            pa, pb = fit_alpha_beta([r["n"] for r in sub], [r["bytes"] for r in sub], [r["seconds"] for r in sub])
            fit["per_n"][str(n)] = {"alpha": pa, "beta": pb}
    if a.json:
        from nnet2.utils.fileio import write_bytes_atomic

        write_bytes_atomic(a.json, (json.dumps({"rows": rows, "fit": fit, "ranks": a.ranks,
                                                "cores": os.cpu_count()}, indent=1) + "\n").encode())
    print("\n".join(markdown(rows, a.ranks, fit)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
