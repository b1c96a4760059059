# Make `nnet2` available to the recipe: the installed console script (`pip install .`) when it is on
# PATH, otherwise this checkout's package run as `python -m nnet2` (after `make dev`).
# PYTHONPATH is exported in the second case so MPI workers (`python -m mpi4py -m nnet2`) find it too.
NNET2_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if ! command -v nnet2 >/dev/null 2>&1; then
  export PYTHONPATH="$NNET2_ROOT/python${PYTHONPATH:+:$PYTHONPATH}"
  nnet2() { python -m nnet2 "$@"; }
fi
export PYTHONUNBUFFERED=1
