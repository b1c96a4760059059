"""nnet2: parallel DNN-HMM acoustic model training (Kaldi nnet2 / Su & Chen 2015), Kaldi-compatible.

The Python API is `nnet2.api` (docs/python.md); the command line is `nnet2` (`nnet2.cli`).
"""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("nnet2")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+src"

# OpenMP loops (element-wise kernels) and OpenBLAS's own threads share the cores. By default both
# spin after finishing work, and on a 2-core machine each steals the cores from the other (2 threads
# ran slower than 1). Make idle OpenMP threads sleep and OpenBLAS threads stop spinning quickly.
# These must be set before nnet2._core loads libgomp / libscipy_openblas; users can override them.
import os as _os

_os.environ.setdefault("OMP_WAIT_POLICY", "passive")
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
