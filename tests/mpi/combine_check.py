"""The final model combination shared over MPI ranks (nnet2.train.combine with comm). Run by
tests/test_combine.py as
    mpiexec -n N python -m mpi4py tests/mpi/combine_check.py OUT.npz
Every rank takes the same models and examples (tests/test_combine.py's _problem) with the gradient passes
split over the ranks; rank 0 writes to OUT.npz the objective and gradient at two points, the Fisher matrix's
Cholesky factor and the combination's objectives, after checking that every rank ended with the same bits. A failing assertion on any rank aborts
the job (python -m mpi4py) with a non-zero exit status."""

from __future__ import annotations

import hashlib
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
if os.path.exists(os.path.join(HERE, "..", "..", "python", "nnet2")) and "PYTHONPATH" not in os.environ:
    sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))  # run by hand from a source tree
sys.path.insert(0, os.path.join(HERE, ".."))

from mpi4py import MPI  # noqa: E402

from nnet2.train.combine import CombineOptions, _Combiner, combine_nnets  # noqa: E402
from test_combine import OPTS, _problem  # noqa: E402

comm = MPI.COMM_WORLD
nets, X, y = _problem()
cb = _Combiner(nets, X, y, CombineOptions(**OPTS), comm)
points = np.stack([np.full(cb.N * cb.U, 1.0 / cb.N), np.linspace(0.1, 0.6, cb.N * cb.U)])
fg = np.array([np.concatenate([[f], g]) for f, g in (cb.objf_and_grad(p) for p in points)])
chol = cb.fisher_cholesky(points[0])
out, info = combine_nnets(nets, X, y, CombineOptions(**OPTS), comm=comm)
h = comm.allgather(hashlib.sha256(np.ascontiguousarray(out.params).tobytes()).hexdigest())
assert len(set(h)) == 1, f"the combined parameters differ across ranks: {h}"
if comm.Get_rank() == 0:
    np.savez(sys.argv[1], points=points, fg=fg, chol=chol, objf=np.array([info["objf_before"], info["objf_after"]]))
