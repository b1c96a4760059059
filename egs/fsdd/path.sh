# Make `nnet2` available: the installed console script (pip install .), or the source tree.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if ! command -v nnet2 >/dev/null 2>&1 || ! python -c "import nnet2._core" >/dev/null 2>&1; then
  export PYTHONPATH="$root/python${PYTHONPATH:+:$PYTHONPATH}"
  nnet2() { python -m nnet2 "$@"; }
fi
export LC_ALL=C
