"""nnet-am-compute: network outputs for whole utterances, Kaldi rspecifiers in and wspecifiers out."""

from __future__ import annotations

import contextlib
import os

import numpy as np

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


def _parse_wspecifier(ws: str):
    """Split `ark[,t][,scp]:path[,scp_path]` into (opts, targets) and tell whether outputs are plain files."""
    if ":" not in ws:
        raise UserError(f"bad wspecifier '{ws}' (expected e.g. ark:out.ark or ark,scp:o.ark,o.scp)")
    kind, rest = ws.split(":", 1)
    opts = kind.split(",")
    if opts[0] not in ("ark", "scp"):
        raise UserError(f"bad wspecifier '{ws}'")
    targets = rest.split(",") if "scp" in opts[1:] else [rest]
    plain = all(t and t != "-" and not t.strip().endswith("|") and not t.strip().startswith("|") for t in targets)
    return opts, targets, plain


@contextlib.contextmanager
def atomic_wspecifier(ws: str):
    """Yield a wspecifier that writes to temporary files when `ws` names files; rename on success."""
    opts, targets, plain = _parse_wspecifier(ws)
    if not plain:
        yield ws
        return
    tmps = [os.path.join(os.path.dirname(os.path.abspath(t)), "." + os.path.basename(t) + ".tmp") for t in targets]
    for t in targets:
        os.makedirs(os.path.dirname(os.path.abspath(t)), exist_ok=True)
    try:
        yield ",".join(opts) + ":" + ",".join(tmps)
        if len(tmps) == 2:  # the scp refers to the archive by name: rewrite it to the final name
            with open(tmps[1]) as f:
                scp = f.read().replace(tmps[0], os.path.abspath(targets[0]) if os.path.isabs(targets[0]) else targets[0])
            with open(tmps[1], "w") as f:
                f.write(scp)
        for tmp, t in zip(tmps, targets):
            os.replace(tmp, t)
    except BaseException:
        for tmp in tmps:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise


def iter_rspecifier(rs: str):
    import kaldiio

    try:
        reader = kaldiio.ReadHelper(rs)
    except Exception as e:
        raise UserError(f"cannot open rspecifier '{rs}': {e}") from None
    with reader:
        for key, mat in reader:
            yield key, mat


def compute_outputs(model_path: str, feats_rspecifier: str, out_wspecifier: str, apply_log: bool = False,
                    divide_by_priors: bool = False, threads: int = 0) -> int:
    import kaldiio

    from nnet2 import _core
    from nnet2.nnet.model import load_model

    if threads > 0:
        _core.set_num_threads(threads)
    model = load_model(model_path)
    nnet, priors = model.nnet, np.asarray(model.priors, np.float64)
    if divide_by_priors and priors.size == 0:
        raise UserError(f"{model_path}: --divide-by-priors=true but the model has no priors")
    n = 0
    with atomic_wspecifier(out_wspecifier) as ws, kaldiio.WriteHelper(ws) as writer:
        for utt, feats in iter_rspecifier(feats_rspecifier):
            feats = np.asarray(feats, np.float32)
            if feats.ndim != 2 or feats.shape[1] != nnet.input_dim:
                raise DataError(f"utterance {utt}: features have dim {feats.shape[-1]} but the network expects "
                                f"{nnet.input_dim}")
            if not np.isfinite(feats).all():
                raise DataError(f"utterance {utt}: features contain NaN or Inf")
            out = nnet.compute_utterance(feats).astype(np.float64)
            if divide_by_priors:
                out = out / priors[None, :]
                out /= out.sum(axis=1, keepdims=True)
            if apply_log:
                out = np.log(np.maximum(out, 1e-20))
            writer(utt, out.astype(np.float32))
            n += 1
    logger.info(f"Processed {n} utterances")
    return n
