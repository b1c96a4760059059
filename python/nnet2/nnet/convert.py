"""Structural conversions: plain SGD <-> NG-SGD affine components (like Kaldi's
nnet-am-switch-preconditioning / nnet-am-copy --remove-preconditioning), and DBN -> DNN."""

from __future__ import annotations

import numpy as np

from nnet2.nnet import components as C
from nnet2.nnet.nnet import Nnet

# Kaldi's training-script values for the online preconditioner (spec §1.2, §4.4).
NGD_DEFAULTS = dict(rank_in=20, rank_out=80, update_period=4, num_samples_history=2000.0, alpha=4.0,
                    max_change_per_sample=0.075)


def set_update_type(nnet: Nnet, update: str, **ngd_opts) -> Nnet:
    """update='ngd': every AffineComponent becomes AffineComponentPreconditionedOnline (script defaults,
    overridable); update='sgd': the reverse. Parameters and learning rates are kept; repacks the buffer."""
    if update not in ("sgd", "ngd"):
        raise ValueError(f"update must be sgd or ngd, got {update}")
    opts = dict(NGD_DEFAULTS, **ngd_opts)
    changed = False
    for i, c in enumerate(nnet.components):
        if update == "ngd" and type(c) is C.AffineComponent:
            nnet.components[i] = C.AffineComponentPreconditionedOnline(
                np.asarray(c.W), np.asarray(c.b), c.learning_rate, **opts)
            changed = True
        elif update == "ngd" and isinstance(c, C.AffineComponentPreconditionedOnline) and ngd_opts:
            for k, v in ngd_opts.items():
                setattr(c, k, type(getattr(c, k))(v))
            c.reset_preconditioner()
        elif update == "sgd" and isinstance(c, C.AffineComponentPreconditionedOnline):
            nnet.components[i] = C.AffineComponent(np.asarray(c.W), np.asarray(c.b), c.learning_rate)
            changed = True
    if changed:
        nnet.pack_params()
    return nnet
