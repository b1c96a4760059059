"""Tiny synthetic egs + models for the training tests (also imported by the MPI scripts in tests/mpi/)."""

from __future__ import annotations

import os

import kaldiio
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TM_SOURCE = os.path.join(HERE, "data", "tiny_sigmoid.mdl.bin")  # its TransitionModel has 5 pdfs
NPDF, DIM, CTX = 5, 3, 1

NNET_CONFIG = f"""SpliceComponent input-dim={DIM} left-context={CTX} right-context={CTX}
AffineComponent input-dim={DIM * (2 * CTX + 1)} output-dim=16 learning-rate=0.01 param-stddev=0.3 bias-stddev=0.1
SigmoidComponent dim=16
AffineComponent input-dim=16 output-dim=NUM_PDFS learning-rate=0.01 param-stddev=0.1 bias-stddev=0
SoftmaxComponent dim=NUM_PDFS
"""


def make_egs_dir(d: str, n_utts: int = 40, seed: int = 0) -> str:
    """Random features [T, 3] per utterance; the label of frame t is a fixed function of frames t-1..t+1
    (so it can be learnt). Returns the egs directory (about 2000 training frames)."""
    from nnet2.data.egs import EgsOptions, make_egs

    rng = np.random.default_rng(seed)
    proj = rng.standard_normal((DIM * 3, NPDF))
    feats, alis = {}, {}
    for i in range(n_utts):
        t = int(rng.integers(30, 70))
        x = rng.standard_normal((t, DIM)).astype(np.float32)
        xp = np.concatenate([x[:1], x, x[-1:]])
        ctx = np.concatenate([xp[:-2], xp[1:-1], xp[2:]], axis=1)
        feats[f"u{i:03d}"] = x
        alis[f"u{i:03d}"] = np.argmax(ctx @ proj, axis=1).astype(np.int32)
    os.makedirs(d, exist_ok=True)
    kaldiio.save_ark(os.path.join(d, "feats.ark"), feats, scp=os.path.join(d, "feats.scp"))
    egs = os.path.join(d, "egs")
    make_egs(os.path.join(d, "feats.scp"), alis, egs, NPDF,
             EgsOptions(left_context=CTX, right_context=CTX, frames_per_archive=600, num_utts_subset=4,
                        num_frames_diagnostic=150, num_frames_combine=100))
    return egs


def make_init_model(path: str, seed: int = 0) -> str:
    from nnet2.nnet.model import init_model, save_model

    cfg = path + ".config"
    with open(cfg, "w") as f:
        f.write(NNET_CONFIG)
    save_model(init_model(cfg, TM_SOURCE, seed=seed), path)
    return path
