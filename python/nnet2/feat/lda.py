"""Splicing, the LDA-like fixed input transform (Kaldi `src/nnet2/get-feature-transform.cc`, `steps/nnet2/get_lda.sh`) and global mean/variance normalization.

The transform follows Kaldi's `nnet-get-feature-transform` (`src/nnet2/get-feature-transform.cc`):
with total covariance T, between-class covariance B and within-class W = T − B (all float64),

    W = L Lᵀ (Cholesky),  L⁻¹ B L⁻ᵀ = U diag(s) Uᵀ (s descending),  M = Uᵀ L⁻¹ (first `dim` rows),
    row i of M *= sqrt((wcf + s_i) / (1 + s_i)),   singular values of M clamped at `max_singular_value`,
    output [M | −M μ]  (float32, dim × (D+1)),  used as FixedAffineComponent: y = x Mᵀ + m.

After `M = Uᵀ L⁻¹`, M W Mᵀ = I and M B Mᵀ = diag(s); the row scaling then makes the total variance of
output i equal `wcf + s_i`, so directions with little between-class variance are shrunk.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from nnet2.data.egs import EgsReader, gather_spliced
from nnet2.io.nnet_format import read_transition_model_from_gmm_mdl
from nnet2.io.table import RandomAccessTable, read_input_bytes, read_table, write_matrix_file
from nnet2.utils.errors import DataError, UserError
from nnet2.utils.log import get_logger
from nnet2.utils.options import opt

logger = get_logger(__name__)


def splice(feats: np.ndarray, left: int, right: int) -> np.ndarray:
    """Splice frames: out[t] = concat(x[t−left], …, x[t+right]) with edge frames repeated.

    feats: [T, D] -> [T, (left+1+right)·D], same dtype.
    """
    feats = np.asarray(feats)
    if feats.ndim != 2:
        raise UserError(f"splice: features must be 2-D [frames, dim], got shape {feats.shape}")
    if left < 0 or right < 0:
        raise UserError(f"splice: contexts must be >= 0, got left={left} right={right}")
    t = feats.shape[0]
    if t == 0:
        return np.zeros((0, (left + 1 + right) * feats.shape[1]), dtype=feats.dtype)
    idx = np.clip(np.arange(t)[:, None] + np.arange(-left, right + 1)[None, :], 0, t - 1)
    return feats[idx].reshape(t, -1)


class LdaStats:
    """Class-conditional float64 statistics for the LDA-like transform (Kaldi `acc-lda`).

    Holds per-class weighted counts [C], per-class sums [C, D] and the total weighted scatter Σ w x xᵀ [D, D].
    """

    def __init__(self, num_classes: int, dim: int):
        self.num_classes, self.dim = int(num_classes), int(dim)
        self.counts = np.zeros(self.num_classes, dtype=np.float64)
        self.sums = np.zeros((self.num_classes, self.dim), dtype=np.float64)
        self.scatter = np.zeros((self.dim, self.dim), dtype=np.float64)

    def accumulate(self, x: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> None:
        """Add frames x [N, D] (e.g. spliced) with class labels [N] and optional weights [N]."""
        x = np.asarray(x, dtype=np.float64)
        labels = np.asarray(labels)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise DataError(f"LDA stats: expected features of dim {self.dim}, got shape {x.shape}")
        if labels.shape != (x.shape[0],):
            raise DataError(f"LDA stats: {x.shape[0]} frames but {labels.size} labels")
        if labels.size and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise DataError(f"LDA stats: label {int(labels.max())} out of range for {self.num_classes} classes")
        w = np.ones(x.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
        keep = w != 0
        if not keep.all():
            x, labels, w = x[keep], labels[keep], w[keep]
        self.counts += np.bincount(labels, weights=w, minlength=self.num_classes)
        np.add.at(self.sums, labels, x * w[:, None])
        self.scatter += (x * w[:, None]).T @ x

    def covariances(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """Return (total covariance T [D,D], between-class covariance B [D,D], mean μ [D], count n)."""
        n = float(self.counts.sum())
        if not n > 0:
            raise DataError("LDA: no (non-silence) frames were accumulated")
        mu = self.sums.sum(0) / n
        total = self.scatter / n - np.outer(mu, mu)
        used = self.counts > 0
        cmeans = self.sums[used] / self.counts[used, None]
        between = (cmeans.T * (self.counts[used] / n)) @ cmeans - np.outer(mu, mu)
        return total, between, mu, n


def estimate_lda(stats: LdaStats, dim: int | None = None, within_class_factor: float = 0.001,
                 max_singular_value: float = 5.0, remove_offset: bool = True) -> np.ndarray:
    """Estimate the LDA-like transform (see module docstring) from `stats`.

    Returns float32 [dim, D+1] (`[M | −M μ]`) if remove_offset else [dim, D]. `dim` defaults to D.
    Defaults are Kaldi's code defaults; the nnet2 scripts pass within_class_factor=0.0001.
    """
    total, between, mu, n = stats.covariances()
    d = stats.dim
    dim = d if dim is None else int(dim)
    if not 0 < dim <= d:
        raise UserError(f"LDA dim must be in 1..{d}, got {dim}")
    within = total - between
    mean_var = np.trace(within) / d
    try:
        chol = np.linalg.cholesky(within)
        # Kaldi only smooths when Cholesky throws; a (numerically) constant dimension passes Cholesky
        # with a round-off pivot and would give a garbage transform, so treat that as a failure too.
        if np.min(np.diag(chol)) ** 2 < 1e-10 * mean_var:
            raise np.linalg.LinAlgError("near-singular")
    except np.linalg.LinAlgError:
        smooth = 1.0e-3 * mean_var
        logger.info(f"Cholesky failed (possibly not +ve definite), so adding {smooth:g} to diagonal")
        within = within + smooth * np.eye(d)
        try:
            chol = np.linalg.cholesky(within)
        except np.linalg.LinAlgError:
            raise DataError("LDA: within-class covariance is singular even after smoothing "
                            "(constant or NaN features?)") from None
    linv = np.linalg.inv(chol)
    tmp = linv @ between @ linv.T
    tmp = 0.5 * (tmp + tmp.T)
    # L⁻¹BL⁻ᵀ is symmetric PSD, so Kaldi's SVD + SortSvd equals an eigen-decomposition sorted descending.
    s, u = np.linalg.eigh(tmp)
    s = np.abs(s)  # singular values, as Kaldi's SVD gives (negative eigenvalues are round-off)
    order = np.argsort(-s, kind="stable")
    s, u = s[order], u[:, order]
    logger.info(f"LDA: data count {n:g}; sum of singular values {s.sum():g}, of selected {s[:dim].sum():g}")
    # From here on Kaldi works on M, a Matrix<BaseFloat>: the double product is rounded to float
    # (CopyFromMat), and the row scales, the singular-value ceiling and the offset are float.
    m = (u.T @ linv)[:dim].astype(np.float32)
    if within_class_factor != 1.0:
        old_var = (1.0 + s[:dim]).astype(np.float32)  # BaseFloat old_var = 1.0 + svd_d(i)
        new_var = (np.float64(np.float32(within_class_factor)) + s[:dim]).astype(np.float32)
        m *= np.sqrt(new_var / old_var).astype(np.float32)[:, None]
    if max_singular_value > 0.0:
        uu, sv, vt = np.linalg.svd(m, full_matrices=False)
        nclamp = int((sv > np.float32(max_singular_value)).sum())
        if nclamp:
            logger.info(f"Applied ceiling to {nclamp} out of {sv.size} singular values of transform "
                        f"using ceiling {max_singular_value:g}, max is {sv.max():g}")
            m = (uu @ (np.minimum(sv, np.float32(max_singular_value))[:, None] * vt)).astype(np.float32)
    if remove_offset:  # AddMeanOffset: -(M mean) with the mean as float
        m = np.concatenate([m, -(m @ mu.astype(np.float32))[:, None]], axis=1)
    return m.astype(np.float32)


def apply_affine(x: np.ndarray, mat: np.ndarray) -> np.ndarray:
    """y = x Mᵀ + m for mat = [M | m] (FixedAffineComponent); x [N, D] -> [N, rows(mat)]."""
    return x @ mat[:, :-1].T + mat[:, -1]


class GlobalCmvnStats:
    """Global mean/variance stats (Kaldi `compute-cmvn-stats` without utt2spk, then `cmvn-to-nnet`).

    Used for the RBM path (nnet1's `steps/nnet/pretrain_dbn.sh`): splice ±5, then shift = −mean, scale = std_dev / sqrt(max(var, floor)).
    """

    def __init__(self, dim: int):
        self.dim = int(dim)
        self.count = 0.0
        self.sum = np.zeros(self.dim, dtype=np.float64)
        self.sumsq = np.zeros(self.dim, dtype=np.float64)

    def accumulate(self, x: np.ndarray) -> None:
        """Add frames x [N, D]."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise DataError(f"CMVN stats: expected features of dim {self.dim}, got shape {x.shape}")
        self.count += x.shape[0]
        self.sum += x.sum(0)
        self.sumsq += np.einsum("ij,ij->j", x, x)

    def shift_scale(self, var_floor: float = 1e-10, std_dev: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """Return float32 (shift [D] = −mean, scale [D] = std_dev/std) so that (x + shift)·scale is normalized."""
        if not self.count > 0:
            raise DataError("CMVN: no frames were accumulated")
        mean = self.sum / self.count
        var = self.sumsq / self.count - mean * mean
        nfloored = int((var <= var_floor).sum())
        if nfloored:
            logger.warning(f"CMVN: {nfloored} dimensions have variance <= {var_floor:g}; flooring")
        var = np.maximum(var, var_floor)
        return (-mean).astype(np.float32), (std_dev / np.sqrt(var)).astype(np.float32)


def lda_stats_from_egs(egs_dir: str, silence_pdfs=(), max_frames: int | None = None,
                       block: int = 20000) -> LdaStats:
    """Accumulate LdaStats over the spliced training examples of an egs directory (as `nnet-get-feature-transform`, `src/nnet2bin/nnet-get-feature-transform.cc`).

    Frames whose label is in `silence_pdfs` get weight 0 (`weight-silence-post 0.0`). With
    `max_frames`, stops after roughly that many frames (archives are already shuffled).
    """
    r = EgsReader(egs_dir)
    st = LdaStats(r.num_pdfs, r.input_dim)
    sil = np.zeros(r.num_pdfs, dtype=bool)
    sil[np.asarray(list(silence_pdfs), dtype=np.int64)] = True
    done = 0
    for feats, index in r.iter_archive_frames():
        for b in range(0, len(index), block):
            ix = index[b:b + block]
            x = gather_spliced(feats, ix[:, 0], r.left, r.right, ix[:, 1], ix[:, 2])
            st.accumulate(x, ix[:, 3], (~sil[ix[:, 3]]).astype(np.float64))
            done += len(ix)
            if max_frames is not None and done >= max_frames:
                return st
    return st


@dataclasses.dataclass
class LdaOptions:
    """Options of `get_lda` (`nnet2 get-lda`): nnet-get-feature-transform's and get_lda.sh's."""

    dim: int = opt(0, "Dimension to project to with LDA (default: the spliced dimension, no reduction, as "
                      "get_lda.sh)")
    within_class_factor: float = opt(0.0001, "Scales the within-class variance of the output (get_lda.sh's "
                                             "default; nnet-get-feature-transform's own default is 0.001)")
    max_singular_value: float = opt(5.0, "If >0, maximum allowed singular value of final transform")
    remove_offset: bool = opt(True, "If true, output an affine transform that makes the projected data mean zero")
    left_context: int = opt(4, "frames of left context (splice-feats)")
    right_context: int = opt(4, "frames of right context (splice-feats)")
    silence_phones: str = opt("", "colon-separated silence phone ids (lang/phones/silence.csl): their frames get "
                                  "weight 0")
    binary: bool = opt(True, "Write output in binary mode")


def get_lda(transition_model: str, feats: str, alignments: str, out: str, o: LdaOptions | None = None) -> np.ndarray:
    """Kaldi's steps/nnet2/get_lda.sh in one process: splice the features of the rspecifier `feats`
    (edges repeated, as splice-feats), label each frame with the pdf of its transition-id from the
    rspecifier `alignments` (through the TransitionModel of `transition_model`), weight frames of
    silence phones 0, accumulate LDA statistics (every frame, no random pruning) and estimate the
    transform as nnet-get-feature-transform does (`estimate_lda`); write it to `out` (Kaldi matrix
    [dim, D+1], or [dim, D] without the offset). An utterance without an alignment, or whose length
    differs from its features', is skipped with a warning (as acc-lda does). Returns the matrix."""
    o = o or LdaOptions()
    log = get_logger("get-lda")
    if o.left_context < 0 or o.right_context < 0:
        raise UserError("--left-context and --right-context must be >= 0")
    try:
        sil = [int(x) for x in o.silence_phones.split(":") if x.strip()]
    except ValueError:
        raise UserError(f"--silence-phones: expected colon-separated integers, got '{o.silence_phones}'") from None
    tm = read_transition_model_from_gmm_mdl(read_input_bytes(transition_model, what="transition model"))
    unknown = sorted(set(sil) - set(int(p) for p in tm.tid2phone[1:]))
    if unknown:
        raise UserError(f"--silence-phones: phone(s) {unknown} are not in the transition model")
    is_sil = np.isin(tm.tid2phone, sil)
    alis = RandomAccessTable(alignments, "int_vector", what="alignments rspecifier")
    stats = None
    n_done = n_fail = 0
    for utt, x in read_table(feats, "matrix", what="features rspecifier"):
        if utt not in alis:
            log.warning(f"No alignment for utterance {utt}")
            n_fail += 1
            continue
        ali = np.asarray(alis[utt])
        if len(ali) != x.shape[0]:
            log.warning(f"Alignment vs. feats size mismatch {len(ali)} vs. {x.shape[0]} for utterance {utt}")
            n_fail += 1
            continue
        if ali.size and (ali.min() < 1 or ali.max() > tm.num_transition_ids):
            raise DataError(f"utterance '{utt}': transition-id out of range for {transition_model}")
        x = splice(np.asarray(x, np.float32), o.left_context, o.right_context)
        if stats is None:
            stats = LdaStats(tm.num_pdfs, x.shape[1])
        elif x.shape[1] != stats.dim:
            raise DataError(f"utterance '{utt}': spliced dimension {x.shape[1]} differs from {stats.dim}")
        stats.accumulate(x, tm.tid2pdf[ali], (~is_sil[ali]).astype(np.float64))
        n_done += 1
    if stats is None:
        raise DataError(f"no utterance of '{feats}' has an alignment in '{alignments}'")
    log.info(f"Accumulated LDA stats for {n_done} utterances, {n_fail} skipped")
    m = estimate_lda(stats, dim=o.dim or stats.dim, within_class_factor=o.within_class_factor,
                     max_singular_value=o.max_singular_value, remove_offset=o.remove_offset)
    write_matrix_file(out, m, binary=o.binary)
    log.info(f"Wrote {m.shape[0]} x {m.shape[1]} transform to {out}")
    return m
