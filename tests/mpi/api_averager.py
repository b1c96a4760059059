"""Run by tests/test_api.py under `mpiexec -n 2 python -m mpi4py`: nnet2.api.train twice on the same egs,
with plain averaging and with the custom averager that docs/python.md defines (its code block is executed
here, so the documentation cannot drift from what is tested).

    api_averager.py DOCS_PYTHON_MD EGS_DIR INIT_MDL OUT_PLAIN OUT_CUSTOM K WEIGHT
"""

from __future__ import annotations

import re
import sys

import nnet2.api as nn
from nnet2.train.trainer import TrainOptions

docs, egs, init, out_plain, out_custom, k, weight = sys.argv[1:8]
blocks = re.findall(r"```python\n(.*?)```", open(docs).read(), re.S)
ns: dict = {}
exec([b for b in blocks if "class PartialEveryK" in b][0], ns)  # noqa: S102 -- the documented averager

opts = TrainOptions(num_epochs=2, iters_per_epoch=1, minibatch_size=32, average_every=2, update="sgd",
                    initial_lr=0.02, final_lr=0.005, threads=1, prior_frames=0, progress=False, seed=5,
                    combine=False)  # final.mdl = the averaged model the test replays (no final combination)
comm = nn.world()
nn.train(egs, init, out_plain, opts, comm=comm, averager=nn.PlainAverager(comm))
nn.train(egs, init, out_custom, opts, comm=comm, averager=ns["PartialEveryK"](comm, k=int(k), weight=float(weight)))
