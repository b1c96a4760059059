"""nnet2: parallel DNN-HMM acoustic model training (Kaldi nnet2 / Su & Chen 2015), Kaldi-compatible.

The Python API is `nnet2.api` (docs/python.md); the command line is `nnet2` (`nnet2.cli`).
"""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("nnet2")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+src"

# One pool of worker threads: the core hands OpenBLAS's parallel jobs to its OpenMP threads (csrc/math/blas.cc,
# OmpThreadsCallback), so the element-wise kernels and BLAS share them. OpenMP's default wait (spin a little,
# then sleep; libgomp cuts the spinning when threads outnumber cores) keeps the next parallel region cheap: a
# passive wait (sleep at once) made every region wake its threads, which at minibatch 128 cost more than it
# saved (2 threads ran slower than 1). OpenBLAS's own threads get no work; they stop spinning quickly.
# This must be set before nnet2._core loads libscipy_openblas; users can override it.
import os as _os

_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
