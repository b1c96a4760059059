#!/usr/bin/env bash
# The GPU proof in one command, for a machine with an NVIDIA GPU and no internet:
#   1. builds nnet2's core for the local GPU (nvcc, CMAKE_CUDA_ARCHITECTURES=native),
#   2. runs every GPU test (pytest -m gpu: each CUDA kernel vs its CPU twin, NG-SGD, RBM, train 1/2 ranks),
#   3. trains the FSDD quick egs (p-norm DNN) with `nnet2 train --device cpu` and `--device cuda` and
#      compares them iteration by iteration,
#   4. times the paper's network (440 -> 6 x 2048 -> 8806, minibatch 256 and 1024): our core vs PyTorch
#      on the same GPU (tools/bench_gpu.py),
# and writes one Markdown summary (default results/gpu_check/summary.md). About 5-6 minutes on one
# H100/H200 with 16 cores. Each step runs under a time limit cut to what is left of a 470-second budget,
# so the whole run ends within 8 minutes; a step with too little time left is reported as not run.
#
#   tools/gpu_check.sh --wheels DIR [--fsdd-dir DIR] [--out DIR] [--skip tests,recipe,bench]
#
# Needs on the machine: Python >= 3.11, the NVIDIA driver and a GPU, the CUDA toolkit (nvcc), CuPy,
# PyTorch with CUDA, cuBLAS (the toolkit's or the nvidia-cublas wheel), cmake >= 3.24 and ninja (or
# their wheels in DIR); DIR holds the wheels of nnet2's other dependencies (tools/README.md says how to
# make it). FSDD: --fsdd-dir, $FSDD_DIR, or ../shared/data/fsdd beside the checkout. Anything missing
# stops the script at once with one line saying what. Everything it builds or installs stays in
# build/gpu_check/ (a virtualenv that sees the system's packages) and python/nnet2/_core*.so.
set -euo pipefail

fail() { echo "gpu_check: $*" >&2; exit 1; }

wheels=""
fsdd_dir="${FSDD_DIR:-}"
out=results/gpu_check
skip=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --wheels) wheels="${2:-}"; shift 2 ;;
    --fsdd-dir) fsdd_dir="${2:-}"; shift 2 ;;
    --out) out="${2:-}"; shift 2 ;;
    --skip) skip="${2:-}"; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) fail "unknown option '$1' (see --help)" ;;
  esac
done
cd "$(dirname "$0")/.."
root=$(pwd)
skipped() { [[ ",$skip," == *",$1,"* ]]; }
t_start=$(date +%s)
deadline=$((t_start + 470))
stamp() { echo "$(date +%H:%M:%S) gpu_check: $*" >&2; }
# limit N: seconds step may take, N at most, never past the deadline (1 = no time left: the step is stopped at once and reported).
limit() { local left=$((deadline - $(date +%s))); [ "$left" -lt "$1" ] && { [ "$left" -ge 15 ] && echo "$left" || echo 1; } || echo "$1"; }

# ---- 0. what must be there (one line each, before anything is built) -------------------------------
PY=${PYTHON:-python3}
command -v "$PY" >/dev/null 2>&1 || fail "no $PY on PATH (set PYTHON=/path/to/python3.11+)"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || fail "Python >= 3.11 needed, $PY is $("$PY" -V 2>&1)"
command -v nvidia-smi >/dev/null 2>&1 || fail "nvidia-smi not found: no NVIDIA driver on this machine"
nvidia-smi -L >/dev/null 2>&1 || fail "nvidia-smi sees no GPU"
command -v nvcc >/dev/null 2>&1 || fail "nvcc not found: put the CUDA toolkit's bin/ on PATH"
"$PY" -c 'import cupy' >/dev/null 2>&1 || fail "CuPy is not importable by $PY (install the cupy wheel matching the CUDA driver)"
"$PY" -c 'import cupy, sys; sys.exit(0 if cupy.is_available() else 1)' >/dev/null 2>&1 \
  || fail "CuPy is installed but sees no usable GPU (driver/toolkit mismatch?)"
if ! skipped bench; then
  "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1 \
    || fail "PyTorch with CUDA is not importable by $PY (needed for the timing; or --skip bench)"
fi
cuda_home=$(cd "$(dirname "$(readlink -f "$(command -v nvcc)")")/.." && pwd)
cublas_h=$(ls "$cuda_home"/include/cublas_v2.h "$cuda_home"/targets/*/include/cublas_v2.h 2>/dev/null | head -1 || true)
if [ -z "$cublas_h" ]; then
  cublas_h=$("$PY" -c "import os, nvidia
for d in nvidia.__path__:
    for s in ('cu13', 'cu12', 'cublas'):
        p = os.path.join(d, s, 'include', 'cublas_v2.h')
        if os.path.exists(p): print(p); raise SystemExit" 2>/dev/null || true)
fi
[ -n "$cublas_h" ] || fail "cuBLAS not found: neither $cuda_home/include/cublas_v2.h nor the nvidia-cublas wheel"
if ! skipped recipe; then
  [ -n "$fsdd_dir" ] || [ ! -d ../shared/data/fsdd ] || fsdd_dir=$(cd ../shared/data/fsdd && pwd)
  [ -n "$fsdd_dir" ] && [ -d "$fsdd_dir/recordings" ] \
    || fail "FSDD not found: pass --fsdd-dir DIR (a copy of FSDD holding recordings/) or --skip recipe"
fi
[ -z "$wheels" ] || [ -d "$wheels" ] || fail "--wheels $wheels is not a directory"

# ---- 1. environment and build ----------------------------------------------------------------------
mkdir -p build/gpu_check "$out"
venv=build/gpu_check/venv
if [ ! -x "$venv/bin/python" ]; then
  "$PY" -m venv --system-site-packages "$venv" || fail "cannot create a virtualenv with $PY (python3-venv missing?)"
fi
VPY=$root/$venv/bin/python
reqs=$("$VPY" - <<'EOF'
import shutil, subprocess, tomllib
p = tomllib.load(open("pyproject.toml", "rb"))
r = list(p["project"]["dependencies"]) + list(p["project"]["optional-dependencies"]["test"]) + ["pybind11>=2.13"]
def cmake_ok():
    try:
        v = subprocess.run(["cmake", "--version"], capture_output=True, text=True).stdout.split()[2]
        return tuple(int(x) for x in v.split(".")[:2]) >= (3, 24)
    except Exception:
        return False
if not cmake_ok():
    r.append("cmake>=3.24")
if shutil.which("ninja") is None:
    r.append("ninja")
print("\n".join(r))
EOF
)
stamp "installing nnet2's dependencies (offline${wheels:+, from $wheels})"
mapfile -t req_list <<< "$reqs"
"$VPY" -m pip install --no-index ${wheels:+--find-links "$wheels"} "${req_list[@]}" > build/gpu_check/pip.log 2>&1 \
  || fail "cannot install nnet2's dependencies offline: $(grep -m1 -iE 'no matching distribution|could not find' build/gpu_check/pip.log || tail -1 build/gpu_check/pip.log) (see build/gpu_check/pip.log and tools/README.md)"
export PATH="$root/$venv/bin:$PATH"
stamp "building the core for the local GPU"
jobs=$(nproc 2>/dev/null || echo 4)
{ cmake -S . -B build/gpu_check/build -G Ninja -DCMAKE_BUILD_TYPE=Release -DNNET2_WITH_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES=native -DPython_EXECUTABLE="$VPY" \
  && timeout 200 cmake --build build/gpu_check/build -j "$jobs"; } > build/gpu_check/build.log 2>&1 \
  || fail "the CUDA build failed: $(grep -m1 -iE 'error' build/gpu_check/build.log || tail -1 build/gpu_check/build.log) (see build/gpu_check/build.log)"
cp build/gpu_check/build/_core*.so python/nnet2/
export PYTHONPATH="$root/python${PYTHONPATH:+:$PYTHONPATH}"
gpu_info=$("$VPY" -c "
from nnet2 import _core
import cupy
assert _core.cuda_compiled(), 'the build has no CUDA kernels'
lib = _core.cublas_library()
p = cupy.cuda.runtime.getDeviceProperties(0)
n = p['name'].decode() if isinstance(p['name'], bytes) else p['name']
print(f\"{n} (sm_{p['major']}{p['minor']}, {p['totalGlobalMem'] / 2**30:.0f} GiB), {cupy.cuda.runtime.getDeviceCount()} GPU(s); cuBLAS {lib}\")
" 2>build/gpu_check/import.log) || fail "the built core does not load: $(tail -1 build/gpu_check/import.log)"
stamp "$gpu_info"

summary=$out/summary.md
{
  echo "# nnet2 GPU check"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (+ local changes)')"
  echo "- GPU: $gpu_info"
  echo "- $(nvcc --version | tail -1); $("$VPY" -c 'import cupy, sys; print(f"CuPy {cupy.__version__}, Python {sys.version.split()[0]}")')$(skipped bench || "$VPY" -c 'import torch; print(f", PyTorch {torch.__version__}")')"
  echo "- driver: $(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1)"
} > "$summary"
status=0

# ---- 2. GPU tests -------------------------------------------------------------------------------------
if ! skipped tests; then
  stamp "GPU tests (pytest -m gpu)"
  set +e
  (cd tests && timeout "$(limit 200)" "$VPY" -m pytest -p no:cacheprovider --rootdir=.. -c ../pyproject.toml -m gpu -q -rs \
     --junitxml="$root/$out/gpu_tests.xml" .) > "$out/gpu_tests.log" 2>&1
  rc=$?
  set -e
  line=$(grep -E '^(=+ )?[0-9]+ (passed|failed|error)|no tests ran' "$out/gpu_tests.log" | tail -1 | sed 's/=//g')
  [ $rc -ne 124 ] || line="stopped by the time limit"
  {
    echo
    echo "## GPU tests (\`pytest -m gpu\`)"
    echo
    echo "Result: **${line:-no result (rc $rc)}** (rc $rc; full log \`gpu_tests.log\`)."
    if [ $rc -ne 0 ]; then
      echo
      echo '```'
      grep -E '^(FAILED|ERROR)' "$out/gpu_tests.log" | head -40
      echo '```'
    fi
    if grep -q '^SKIPPED' "$out/gpu_tests.log"; then
      echo
      echo "Skipped:"
      echo
      grep '^SKIPPED' "$out/gpu_tests.log" | sed 's/^/- /' | head -20
    fi
  } >> "$summary"
  [ $rc -eq 0 ] || status=1
fi

# ---- 3. FSDD quick egs: GPU vs CPU training ----------------------------------------------------------------
if ! skipped recipe; then
  stamp "FSDD quick recipe up to the initial p-norm model (CPU)"
  set +e
  (cd egs/fsdd && timeout "$(limit 150)" ./run.sh --quick true --models pnorm --stop-stage 5 --fsdd-dir "$fsdd_dir") \
    > "$out/recipe.log" 2>&1
  rc=$?
  set -e
  {
    echo
    echo "## FSDD quick egs: \`nnet2 train --device cuda\` vs \`--device cpu\`"
    echo
  } >> "$summary"
  if [ $rc -ne 0 ]; then
    echo "Recipe stages 0-5 failed (rc $rc): \`$(tail -1 "$out/recipe.log")\` (log \`recipe.log\`)." >> "$summary"
    status=1
  else
    exp=egs/fsdd/exp_quick
    for dev in cpu cuda; do
      stamp "training the quick p-norm DNN on $dev"
      rm -rf "$out/train_$dev"
      set +e
      (cd egs/fsdd && timeout "$(limit 45)" python -m nnet2 train --config conf/pnorm.conf --num-epochs 2 --iters-per-epoch 1 \
         --threads 4 --progress false --device "$dev" exp_quick/egs_c4 exp_quick/dnn_pnorm/init.mdl \
         "$root/$out/train_$dev") > "$out/train_$dev.log" 2>&1
      rc=$?
      set -e
      [ $rc -eq 0 ] || { echo "Training on $dev failed (rc $rc): \`$(tail -1 "$out/train_$dev.log")\`." >> "$summary"; status=1; }
    done
    if [ -f "$out/train_cpu/final.mdl" ] && [ -f "$out/train_cuda/final.mdl" ]; then
      "$VPY" - "$out/train_cpu" "$out/train_cuda" >> "$summary" <<'EOF' || status=1
import glob, json, os, sys
import numpy as np
from nnet2.nnet.model import load_model
cpu, gpu = sys.argv[1], sys.argv[2]
def hist(d):
    last = max(glob.glob(os.path.join(d, "state", "*.json")), key=lambda p: int(os.path.basename(p)[:-5]))
    return json.load(open(last))["history"]
hc, hg = hist(cpu), hist(gpu)
print("| iter | train objf cpu | train objf cuda | valid acc cpu | valid acc cuda | frames/s cpu | frames/s cuda |")
print("|---:|---:|---:|---:|---:|---:|---:|")
for a, b in zip(hc, hg):
    fa, fb = a["frames"] / a["seconds"], b["frames"] / b["seconds"]
    print(f"| {a['iter']} | {a['train_objf']:.4f} | {b['train_objf']:.4f} | {a.get('valid_acc', float('nan')):.4f} | "
          f"{b.get('valid_acc', float('nan')):.4f} | {fa:.0f} | {fb:.0f} |")
pc = np.asarray(load_model(os.path.join(cpu, "final.mdl")).nnet.params, np.float64)
pg = np.asarray(load_model(os.path.join(gpu, "final.mdl")).nnet.params, np.float64)
rel = float(np.linalg.norm(pg - pc) / np.linalg.norm(pc))
dobj = max(abs(a["train_objf"] - b["train_objf"]) / abs(a["train_objf"]) for a, b in zip(hc, hg))
dacc = max(abs(a["valid_acc"] - b["valid_acc"]) for a, b in zip(hc, hg) if "valid_acc" in a)
ok = rel < 0.02 and dobj < 0.01 and dacc <= 0.02
print(f"\nAgreement: final parameters differ by {rel:.2e} (relative Frobenius), training objective by at most "
      f"{dobj:.2e} (relative), validation accuracy by at most {dacc:.4f}; tolerance 2e-2 / 1e-2 / 0.02 "
      f"(the tests' tolerance): **{'PASS' if ok else 'FAIL'}**.")
sys.exit(0 if ok else 1)
EOF
    fi
  fi
fi

# ---- 4. timing: the paper's network, ours vs PyTorch on this GPU -------------------------------------------
if ! skipped bench; then
  stamp "timing the paper's network, ours vs PyTorch"
  {
    echo
    echo "## Speed: the paper's network on this GPU"
    echo
  } >> "$summary"
  set +e
  timeout "$(limit 60)" "$VPY" tools/bench_gpu.py --minibatch 256 1024 --seconds 2 --repeat 2 --ngd \
    --json "$out/bench_gpu.json" > "$out/bench_gpu.md" 2> "$out/bench_gpu.log"
  rc=$?
  set -e
  if [ $rc -eq 0 ]; then cat "$out/bench_gpu.md" >> "$summary"; else
    echo "tools/bench_gpu.py failed (rc $rc): \`$(tail -1 "$out/bench_gpu.log")\`." >> "$summary"; status=1; fi
fi

{
  echo
  echo "Total time: $(( $(date +%s) - t_start )) s; overall: **$([ $status -eq 0 ] && echo PASS || echo FAIL)**."
} >> "$summary"
stamp "wrote $summary"
cat "$summary"
exit $status
