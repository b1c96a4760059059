#!/usr/bin/env python3
"""Markdown summary of the JSON files tools/bench_all.sh writes (results/bench/*.json).

    python tools/bench_summary.py results/bench > results/bench/summary.md
    python tools/bench_summary.py --readme results/bench     # the README's speed tables from the same files
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys


def _load(d: str, name: str):
    p = os.path.join(d, name)
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)


def _f(v, fmt: str) -> str:
    return "-" if v is None else fmt % v


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _pct(v):
    return None if v is None else 100 * v


def paired_median_overhead(r) -> float | None:
    """NG-SGD's overhead as the median over the interleaved rounds of SGD fr/s / NG-SGD fr/s - 1 (each round
    times both steppers back to back, so a pair shares the machine's state): steadier than the ratio of the
    two bests, which can pair a quiet SGD round with a noisy NG-SGD one."""
    s = r.get("samples") or {}
    pairs = [a / b - 1.0 for a, b in zip(s.get("sgd", []), s.get("ngd", []))]
    return statistics.median(pairs) if pairs else None


def pairs_over_floor(r) -> str:
    """`bench_core.py --ngd-pairs`'s overhead over its FLOP floor: "1.17x [1.09-1.25x] (30 pairs)", or "-"."""
    med, ci, share, pairs = (r.get("ngd_overhead_pairs_median"), r.get("ngd_overhead_pairs_ci95"),
                             r.get("ngd_flop_share"), r.get("ngd_pairs"))
    if med is None or not ci or not share:
        return "-"
    return f"{med / share:.2f}x [{ci[0] / share:.2f}-{ci[1] / share:.2f}x] ({len(pairs or [])} pairs)"


def core_table(rows) -> list[str]:
    out = ["| net | threads | minibatch | ours SGD fr/s | ours NG-SGD fr/s | PyTorch eager fr/s | PyTorch compiled fr/s "
           "| SGD / eager | SGD / compiled | % of sgemm ceiling | its GEMMs alone | its products in the step's order "
           "| NG-SGD overhead | NG-SGD FLOP floor | overhead / floor | overhead, median of the rounds' pairs "
           "| overhead / floor, short pairs: median [95% CI] |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ovh, share, med = r.get("ngd_overhead"), r.get("ngd_flop_share"), paired_median_overhead(r)
        out.append(f"| {r['net']} | {r['threads']} | {r['minibatch']} | {r['ours_sgd']:.0f} | {_f(r['ours_ngd'], '%.0f')} "
                   f"| {_f(r['torch'], '%.0f')} | {_f(r.get('torch_compiled'), '%.0f')} "
                   f"| {_f(r['ratio_torch'], '%.2fx')} | {_f(r.get('ratio_torch_compiled'), '%.2fx')} "
                   f"| {100 * r['ceiling_frac']:.1f}% | {_f(_pct(r.get('gemm_bound_frac')), '%.1f%%')} "
                   f"| {_f(_pct(r.get('products_in_order_frac')), '%.1f%%')} "
                   f"| {_f(ovh if ovh is None else 100 * ovh, '%.1f%%')} "
                   f"| {_f(share if share is None else 100 * share, '%.1f%%')} "
                   f"| {_f(ovh / share if ovh is not None and share else None, '%.2fx')} "
                   f"| {_f(_pct(med), '%.1f%%')} | {pairs_over_floor(r)} |")
    return out


def train_table(rows) -> list[str]:
    out = ["| network | threads | update | frames | `nnet2 train` fr/s | `Nnet.train_step` fr/s | trainer / step "
           "| up to the last checkpoint / step | trainer's phases (s) |",
           "|---|---:|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        ph = r.get("phases") or {}
        out.append(f"| {r['net']} | {r['threads']} | {r['update']} | {r['frames']} | {r['trainer_frames_per_s']:.0f} "
                   f"| {r['step_frames_per_s']:.0f} | {100 * r['ratio']:.1f}% "
                   f"| {_f(_pct(r.get('loop_ratio')), '%.1f%%')} "
                   f"| {', '.join(f'{k} {v:.2f}' for k, v in ph.items()) or '-'} |")
    return out


def load_line(d: str) -> str | None:
    """The machine's load during the run, if bench_all.sh recorded it (load.txt: one `uptime` per line)."""
    p = os.path.join(d, "load.txt")
    if not os.path.exists(p):
        return None
    with open(p) as f:
        lines = [ln.strip() for ln in f if ln.strip()]
    return "; ".join(lines) if lines else None


NET_NAMES = {"pnorm": "p-norm (2.5 M params)", "sigmoid": "sigmoid (the paper's, 40 M)"}


def readme_tables(d: str) -> list[str]:
    def n(v):
        return "-" if v is None else f"{v:,.0f}"

    out = ["| network | threads | minibatch | ours SGD fr/s | ours NG-SGD fr/s | PyTorch eager fr/s | PyTorch compiled fr/s "
           "| SGD / eager | SGD / compiled | % of sgemm ceiling | its GEMMs alone | its products in the step's order "
           "| NG-SGD overhead | its FLOP floor |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for net in ("pnorm", "sigmoid"):
        for k, r in enumerate(_load(d, f"core_{net}.json") or []):
            ovh, share = r.get("ngd_overhead"), r.get("ngd_flop_share")
            out.append(f"| {NET_NAMES[net] if k == 0 else ''} | {r['threads']} | {r['minibatch']} | {n(r['ours_sgd'])} "
                       f"| {n(r['ours_ngd'])} | {n(r['torch'])} | {n(r.get('torch_compiled'))} "
                       f"| {_f(r['ratio_torch'], '%.2f×')} | {_f(r.get('ratio_torch_compiled'), '%.2f×')} "
                       f"| {100 * r['ceiling_frac']:.0f}% | {_f(_pct(r.get('gemm_bound_frac')), '%.0f%%')} "
                       f"| {_f(_pct(r.get('products_in_order_frac')), '%.0f%%')} "
                       f"| {_f(ovh if ovh is None else 100 * ovh, '%.0f%%')} "
                       f"| {_f(share if share is None else 100 * share, '%.0f%%')} |")
    tr = _load(d, "train.json")
    if tr:
        out += ["", *train_table(tr)]
    return out


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--readme":
        print("\n".join(readme_tables(sys.argv[2] if len(sys.argv) > 2 else "results/bench")))
        return 0
    d = sys.argv[1] if len(sys.argv) > 1 else "results/bench"
    lines = [f"# Benchmarks ({cpu_name()}, {os.cpu_count()} cores)", ""]
    load = load_line(d)
    if load:
        lines += [f"Machine load (`uptime`) during the run: {load}", ""]
    for net in ("pnorm", "sigmoid"):
        rows = _load(d, f"core_{net}.json")
        if rows:
            ceil = ", ".join(f"{r['sgemm_gflops']:.0f} GFLOP/s on {r['threads']} thread(s)"
                             for r in rows if r["minibatch"] == rows[0]["minibatch"])
            kern = (f"; OpenBLAS {rows[0]['blas_kernel']} kernels, {rows[0]['blas_env']}"
                    if "blas_kernel" in rows[0] else "")
            lines += [f"## Training step, {net} network ({rows[0]['params'] / 1e6:.2f} M parameters; sgemm 2048^3: "
                      f"{ceil}{kern})",
                      "", *core_table(rows), ""]
    tr = _load(d, "train.json")
    if tr:
        lines += ["## The trainer vs its step (tools/bench_train.py: `nnet2 train`, 1 worker, FSDD configurations, "
                  "synthetic egs)", "", *train_table(tr), ""]
    ngd = _load(d, "ngd.json")
    if ngd:
        lines += ["## NG-SGD vs SGD, kernels only (tools/bench_ngd.py)", "",
                  "| threads | minibatch | SGD fr/s | NG-SGD fr/s | overhead |", "|---:|---:|---:|---:|---:|"]
        lines += [f"| {r['threads']} | {r['minibatch']} | {r['sgd']:.0f} | {r['ngd']:.0f} | {100 * r['overhead']:.1f}% |"
                  for r in ngd] + [""]
    egs = _load(d, "egs.json")
    if egs:
        lines += ["## egs", "", f"get-egs {egs['get_egs_frames_per_s']:,.0f} frames/s; reader "
                  f"{egs['reader_frames_per_s']:,.0f} frames/s (minibatch {egs['minibatch']}, "
                  f"{egs['num_workers']} worker(s), {egs['frames']} frames)", ""]
    rbm = _load(d, "rbm.json")
    if rbm:
        lines += ["## RBM CD-1 (tools/bench_rbm.py)", "", "| threads | layer | minibatch | frames/s | GFLOP/s | % of sgemm |",
                  "|---:|---|---:|---:|---:|---:|"]
        lines += [f"| {r['threads']} | {r['layer']} | {r['minibatch']} | {r['frames_per_s']:.0f} | {r['gflops']:.1f} "
                  f"| {100 * r['gflops'] / r['sgemm_gflops']:.0f}% |" for r in rbm] + [""]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
