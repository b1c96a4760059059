"""nnet2: parallel DNN-HMM acoustic model training (Kaldi nnet2 / Su & Chen 2015), Kaldi-compatible.

The Python API is `nnet2.api` (docs/python.md); the command line is `nnet2` (`nnet2.cli`).
"""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("nnet2")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+src"

# One pool of worker threads: the core hands OpenBLAS's parallel jobs to its OpenMP threads (csrc/math/blas.cc,
# OmpThreadsCallback), so the element-wise kernels and BLAS share them. Idle OpenMP threads spin briefly before
# they sleep, which keeps the next parallel region of a step cheap: a passive wait (sleep at once) made every
# region wake its threads, which at minibatch 128 cost more than it saved (2 threads ran slower than 1). The
# spin is short (GOMP_SPINCOUNT 10000; libgomp's own default is 300000): with more threads than cores, e.g.
# 2 MPI workers x 2 threads on 2 cores (which `nnet2 train` now caps), the default spin made training 57x
# slower than 1 thread and 10000 about 20x, while a lone 2-thread process ran as fast as with the default
# (measured on tools/bench_core.py's shapes). OpenBLAS's own threads get no work; they stop spinning quickly.
# Both must be set before nnet2._core loads libgomp and libscipy_openblas; users can override them.
import os as _os

_os.environ.setdefault("GOMP_SPINCOUNT", "10000")
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
