# Make `nnet2`, `python` and `mpiexec` available to a recipe: every egs/<recipe>/path.sh sources this one.
#  - The project's virtualenv (.venv, made by `make setup` / `make recipe`) goes first on PATH when
#    it exists, so its python, mpiexec and nnet2 are the ones used.
#  - `nnet2` runs as `python -m nnet2`: the installed package (`make setup` or `pip install .`), else
#    this checkout's python/ (after `make dev`), which is then exported on PYTHONPATH so that MPI
#    workers (`python -m mpi4py -m nnet2`) find it too.
#  - No build at all: one line saying what to run, and the recipe stops.
NNET2_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)  # egs/_common/../..
if [ -x "$NNET2_ROOT/.venv/bin/python" ]; then
  case ":$PATH:" in *":$NNET2_ROOT/.venv/bin:"*) ;; *) export PATH="$NNET2_ROOT/.venv/bin:$PATH" ;; esac
fi
if ! python -c "import nnet2._core" >/dev/null 2>&1; then
  if PYTHONPATH="$NNET2_ROOT/python${PYTHONPATH:+:$PYTHONPATH}" python -c "import nnet2._core" >/dev/null 2>&1; then
    export PYTHONPATH="$NNET2_ROOT/python${PYTHONPATH:+:$PYTHONPATH}"
  else
    echo "nnet2 is not built: run 'make setup' in $NNET2_ROOT (or 'pip install .' there into your own environment)" >&2
    return 1
  fi
fi
nnet2() { python -m nnet2 "$@"; }
export LC_ALL=C
export PYTHONUNBUFFERED=1
# Transparent huge pages for malloc's memory (glibc 2.35 and later; older ones and other C libraries ignore
# the setting): a training step streams tens of MB, more 4 KiB pages than the TLB maps. `nnet2 train` with
# 1 worker on the FSDD networks ran 1.5-6% faster with it (tools/bench_train.py, six pairs of runs); run.sh's
# own 2-worker p-norm training, within the noise (results/bench/ab-2026-12-02.md). Only where memory lives
# changes, not a value computed (the recipe's results are the same).
case ":${GLIBC_TUNABLES:-}:" in
  *glibc.malloc.hugetlb=*) ;;
  *) export GLIBC_TUNABLES="${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}glibc.malloc.hugetlb=1" ;;
esac
