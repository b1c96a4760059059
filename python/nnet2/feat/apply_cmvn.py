"""`apply-cmvn` over a whole feature archive: per-speaker CMVN applied once and written as a new
ark + scp (so pretraining, egs and anything else read the same normalized features)."""

from __future__ import annotations

import os

import numpy as np

from nnet2.data.egs import Cmvn, iter_features
from nnet2.feat.make_feats import ArkWriter
from nnet2.utils.errors import DataError
from nnet2.utils.fileio import atomic_path


def apply_cmvn_archive(feats: str, cmvn: str, out_ark: str, out_scp: str, utt2spk: str | None = None,
                       norm_vars: bool = False) -> int:
    """Normalize every utterance of `feats` (rspecifier/path; [T, D] float matrices) with the stats of
    its speaker (`cmvn`: scp:cmvn.scp, keyed by speaker through `utt2spk`, or by utterance without it)
    and write them to `out_ark` with index `out_scp` (both atomically). Returns the utterance count."""
    cm = Cmvn(cmvn, utt2spk, norm_vars)
    out_ark, out_scp = os.path.abspath(out_ark), os.path.abspath(out_scp)
    os.makedirs(os.path.dirname(out_ark), exist_ok=True)
    n = 0
    with atomic_path(out_ark) as tmp:
        w = ArkWriter(tmp, out_ark)
        try:
            for utt, x in iter_features(feats):
                x = np.asarray(x)
                if x.ndim != 2 or not np.isfinite(x).all():
                    raise DataError(f"utterance '{utt}' of '{feats}': features are not a finite matrix")
                w.write(utt, cm.apply(utt, x))
                n += 1
        finally:
            w.close()
        if n == 0:
            raise DataError(f"no utterances in '{feats}'")
    with atomic_path(out_scp) as tmp:
        with open(tmp, "w") as f:
            f.writelines(f"{k} {v}\n" for k, v in w.entries)
    return n
