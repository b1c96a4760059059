#!/usr/bin/env bash
# Runs every benchmark of tools/ and writes results/bench/*.json plus results/bench/summary.md.
#
#   tools/bench_all.sh [--quick] [--out DIR]
#
# Run it from the repository root with the core built (`make dev`) on a machine as quiet as you can get:
# the core and PyTorch are timed interleaved in one process (best of --repeat), so their ratio survives
# some background load better than the absolute numbers. --quick: shorter timings, for a smoke run.
set -euo pipefail

out=results/bench
seconds=2.0
repeat=3
egs_frames=2000000
ar_opts=()
scale_frames=24000
train_frames=20000
train_repeat=3
ngd_pairs=20
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) seconds=0.5; repeat=1; egs_frames=200000; ar_opts=(--quick); scale_frames=8000; train_frames=3000; train_repeat=1; ngd_pairs=4; shift ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "bench_all.sh: unknown option '$1'" >&2; exit 1 ;;
  esac
done
cd "$(dirname "$0")/.."
export PYTHONPATH="python${PYTHONPATH:+:$PYTHONPATH}"
py=${PYTHON:-python}
mkdir -p "$out"
log() { echo "$(date +%H:%M:%S) bench_all: $*" >&2; }

uptime > "$out/load.txt"
log "core, p-norm network (SGD, NG-SGD, PyTorch eager and compiled)"
$py tools/bench_core.py --net pnorm --ngd --seconds "$seconds" --repeat "$repeat" --ngd-pairs "$ngd_pairs" \
  --json "$out/core_pnorm.json"
uptime >> "$out/load.txt"
log "core, sigmoid network (SGD, NG-SGD, PyTorch eager and compiled)"
$py tools/bench_core.py --net sigmoid --ngd --seconds "$seconds" --repeat "$repeat" --json "$out/core_sigmoid.json"
uptime >> "$out/load.txt"
log "the trainer vs its step (nnet2 train, 1 worker, FSDD p-norm and sigmoid configurations)"
$py tools/bench_train.py --net pnorm sigmoid --threads 1 --frames "$train_frames" --repeat "$train_repeat" \
  --json "$out/train.json"
log "NG-SGD overhead, kernels only"
$py tools/bench_ngd.py --json "$out/ngd.json"
log "egs reader"
$py tools/bench_egs.py --frames "$egs_frames" --json "$out/egs.json"
log "RBM CD-1"
$py tools/bench_rbm.py --seconds "$seconds" --json "$out/rbm.json"
log "allreduce averaging round vs size, 2 and 4 MPI ranks"
$py tools/bench_allreduce.py "${ar_opts[@]}" --json "$out/allreduce.json" > "$out/allreduce.md"
log "scaling model (paper fit, our network) and measured 1/2/4-rank training"
$py tools/scaling_model.py --allreduce-json "$out/allreduce.json" --run-ranks 1 2 4 --frames "$scale_frames" \
  --json "$out/scaling.json" --plot "$out/scaling.png" > "$out/scaling.md"
uptime >> "$out/load.txt"
$py tools/bench_summary.py "$out" > "$out/summary.md"
cat "$out/allreduce.md" "$out/scaling.md" >> "$out/summary.md"
log "wrote $out/*.json and $out/summary.md"
cat "$out/summary.md"
