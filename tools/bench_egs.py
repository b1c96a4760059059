#!/usr/bin/env python3
"""Throughput of the egs minibatch reader (frames/s): shuffled ±context gathers from memory-mapped archives.

Builds a synthetic egs directory (random 40-dim features, --frames frames) in a temp dir, then times
one epoch of `EgsReader.iter_minibatches` for one worker. The p-norm network of bench_core.py runs
at ≈8,000 frames/s, so the reader must exceed 160,000 frames/s (20x).

    PYTHONPATH=python python tools/bench_egs.py --frames 2000000 --minibatch-size 128
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time

from nnet2.data.egs import EgsOptions, EgsReader, make_egs
import kaldiio  # noqa: E402  (imports NumPy)
import numpy as np  # noqa: E402  (after nnet2, which sets OpenBLAS's thread timeout before any OpenBLAS loads)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=2_000_000)
    ap.add_argument("--dim", type=int, default=40)
    ap.add_argument("--context", type=int, default=4)
    ap.add_argument("--minibatch-size", type=int, default=128)
    ap.add_argument("--num-workers", type=int, default=1)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    d = tempfile.mkdtemp(prefix="bench_egs.")
    try:
        feats, alis, n = {}, {}, 0
        while n < args.frames:
            t = int(rng.integers(200, 800))
            k = f"utt{len(feats):07d}"
            feats[k] = rng.standard_normal((t, args.dim), dtype=np.float32)
            alis[k] = rng.integers(0, 3000, t).astype(np.int32)
            n += t
        kaldiio.save_ark(f"{d}/feats.ark", feats, scp=f"{d}/feats.scp")
        del feats
        t0 = time.perf_counter()
        opts = EgsOptions(left_context=args.context, right_context=args.context)
        make_egs(f"{d}/feats.scp", alis, f"{d}/egs", 3000, opts)
        t_make = time.perf_counter() - t0
        r = EgsReader(f"{d}/egs")
        for _ in r.iter_minibatches(0, 0, args.minibatch_size, num_workers=args.num_workers):
            pass  # warm the page cache
        t0 = time.perf_counter()
        nfr = nb = 0
        for X, y in r.iter_minibatches(0, 1, args.minibatch_size, num_workers=args.num_workers):
            nfr += len(y)
            nb += 1
        dt = time.perf_counter() - t0
        print(f"get-egs: {r.num_frames} frames in {t_make:.2f} s ({r.num_frames / t_make:,.0f} frames/s)")
        print(f"reader: {nfr} frames, {nb} minibatches of {args.minibatch_size}, input dim "
              f"{X.shape[1]}: {dt:.2f} s = {nfr / dt:,.0f} frames/s")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(dict(frames=r.num_frames, get_egs_frames_per_s=r.num_frames / t_make,
                               reader_frames_per_s=nfr / dt, minibatch=args.minibatch_size,
                               num_workers=args.num_workers), f, indent=1)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
