"""nnet-am-compute: network outputs for whole utterances, Kaldi rspecifiers in and wspecifiers out."""

from __future__ import annotations

import numpy as np

from nnet2 import _core
from nnet2.io.table import TableWriter, read_table
from nnet2.nnet.model import load_model
from nnet2.utils.errors import DataError, UserError
from nnet2.utils.log import get_logger

logger = get_logger(__name__)


def pseudo_loglikes(post: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """log p(x|s) up to a constant: log max(post, 1e-20) - log prior (decodable-am-nnet.h)."""
    return (np.log(np.maximum(post, 1e-20)) - np.log(priors)[None, :]).astype(np.float32)


def divide_by_priors_renorm(post: np.ndarray, priors: np.ndarray) -> np.ndarray:
    """Kaldi nnet-am-compute --divide-by-priors: q = post / prior, renormalized per row."""
    q = post / priors[None, :]
    return (q / q.sum(axis=1, keepdims=True)).astype(np.float32)


def iter_rspecifier(rs: str):
    """(key, matrix) of a features rspecifier (nnet2.io.table)."""
    yield from read_table(rs, "matrix", what="features rspecifier")


def compute_outputs(model_path: str, feats_rspecifier: str, out_wspecifier: str, apply_log: bool = False,
                    divide_by_priors: bool = False, threads: int = 0) -> int:
    if threads > 0:
        _core.set_num_threads(threads)
    model = load_model(model_path)
    nnet, priors = model.nnet, np.asarray(model.priors, np.float64)
    if divide_by_priors and priors.size == 0:
        raise UserError(f"{model_path}: --divide-by-priors=true but the model has no priors")
    n = 0
    with TableWriter(out_wspecifier, "matrix", what="output wspecifier") as tw:
        for utt, feats in iter_rspecifier(feats_rspecifier):
            feats = np.asarray(feats, np.float32)
            if feats.ndim != 2 or feats.shape[1] != nnet.input_dim:
                raise DataError(f"utterance {utt}: features have dim {feats.shape[-1]} but the network expects "
                                f"{nnet.input_dim}")
            if not np.isfinite(feats).all():
                raise DataError(f"utterance {utt}: features contain NaN or Inf")
            if feats.shape[0] == 0:  # as Kaldi's nnet-am-compute (--pad-input=true: output frames = input frames)
                logger.warning(f"Skipping utterance {utt} because output would be empty.")
                continue
            out = nnet.compute_utterance(feats).astype(np.float64)
            if divide_by_priors:
                out = out / priors[None, :]
                out /= out.sum(axis=1, keepdims=True)
            if apply_log:
                out = np.log(np.maximum(out, 1e-20))
            tw.write(utt, out.astype(np.float32))
            n += 1
        if n == 0:  # Kaldi's nnet-am-compute exits 1 when it processed nothing
            raise DataError(f"{feats_rspecifier}: no utterance with frames to process")
    logger.info(f"Processed {n} utterances")
    return n
