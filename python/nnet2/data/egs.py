"""Training examples ("egs"; Kaldi `steps/nnet2/get_egs.sh`, `src/nnet2/nnet-example.h`): storage, sharding across workers, minibatch reading.

Storage (an egs directory, written atomically: built in a temporary sibling directory, then renamed):

    info.json                 feat_dim, num_pdfs, left/right context, num_frames, archives, seed, version
    feats.<a>.npy             float32 [rows_a, D]: the un-spliced (CMVN'd) frames of the utterances of archive a
    index.<a>.npy             int32 [n_a, 4]: one example per row (row, utt_start, utt_end, label), pre-shuffled;
                              utt_end is exclusive; the example's input is rows row−L … row+R clamped to
                              [utt_start, utt_end−1] (edge frames repeated, as Kaldi does)
    valid.feats.npy, valid_diag.index.npy                held-out utterances (`valid_split`), all their
                                                         frames or a sample of `num_frames_valid`
    train_subset.feats.npy, train_diag.index.npy,        training-subset utterances: diagnostic frames and
        combine.index.npy                                frames for final model combination

Frames are spliced only when a minibatch is read (`gather_spliced`: one fancy-index of [B, L+1+R] rows),
so storage is 1× the features instead of (L+1+R)×.

Sharding is decided at read time, so one egs directory serves any number of workers N: for epoch e the
archives are put in an order drawn from (seed, e), concatenated into one virtual sequence of all F
examples, circularly shifted by an offset drawn from (seed, e), and worker w gets the contiguous range
[⌊wF/N⌋, ⌊(w+1)F/N⌋) of it — disjoint, covering every example exactly once per epoch, sizes differing by
at most one, and touching only ~F/(N·frames_per_archive)+2 archive files (locality). Each piece is then
shuffled with a generator seeded by (seed, epoch, worker, N). All workers yield the same number of
minibatches (`num_minibatches`), so the training loop can average after a fixed number of steps.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import queue
import shutil
import tempfile
import threading
from dataclasses import dataclass

import numpy as np

from nnet2.data.alignments import expand_specs, read_pdf_alignments
from nnet2.data.datadir import c_sort_key
from nnet2.io.table import RandomAccessTable, is_rspecifier, parse_rspecifier, read_script, read_table
from nnet2.io.transition_model import TransitionModel
from nnet2.utils.errors import DataError, UserError
from nnet2.utils.log import get_logger
from nnet2.utils.options import opt, to_dict

logger = get_logger(__name__)

EGS_VERSION = 1
_NPY_HEADER_LEN = 128  # fixed so the shape can be written after the frames have been streamed


@dataclass
class EgsOptions:
    """Options of `get_egs` (and `nnet2 get-egs`); the defaults follow Kaldi's steps/nnet2/get_egs.sh."""

    left_context: int = opt(4, "frames of left context per example (splice width)", range="[0, inf)")
    right_context: int = opt(4, "frames of right context per example (splice width)", range="[0, inf)")
    frames_per_archive: int = opt(200000, "approximate number of training frames per archive file",
                                  range="[1, inf)")
    num_utts_subset: int = opt(300, "held-out validation utterances and training-subset utterances "
                               "(at most 10%% of the utterances are held out)", range="[0, inf)")
    valid_split: str = opt("random", "held-out utterances: random = --num-utts-subset random utterances, at most 10%% "
                           "(Kaldi nnet2 get_egs.sh); last-utts = the last --valid-percent %% of the utterances, "
                           "boundary moved back to a speaker change (the paper's and nnet1's default, "
                           "utils/subset_data_dir_tr_cv.sh --cv-utt-percent); speakers = --valid-percent %% of the "
                           "speakers at random (subset_data_dir_tr_cv.sh --cv-spk-percent; needs --utt2spk)",
                           choices=["random", "last-utts", "speakers"])
    valid_percent: float = opt(10.0, "with --valid-split last-utts or speakers: the held-out percentage",
                               range="(0, 100)")
    num_frames_valid: int = opt(0, "held-out frames scored after every epoch: 0 = every frame of the held-out "
                                "utterances; N = a random sample of N frames (for large hold-outs, e.g. "
                                "Switchboard's 10%%: 300000 frames give a standard error near 0.1%%)",
                                range="[0, inf)")
    num_frames_diagnostic: int = opt(4000, "frames in the train diagnostic set", range="[0, inf)")
    num_frames_combine: int = opt(10000, "training-subset frames for final model combination",
                                  range="[0, inf)")
    max_missing_frac: float = opt(0.05, "fail if more than this fraction of the utterances with "
                                  "features have no alignment", range="[0, 1]")
    norm_vars: bool = opt(False, "with --cmvn: also normalize variances (apply-cmvn --norm-vars)")
    seed: int = opt(0, "random seed for the held-out split, archive assignment and shuffling")


# ----------------------------------------------------------------------------------------------------
# Gathering spliced examples (the hot path)


def gather_spliced(feats: np.ndarray, rows: np.ndarray, left: int, right: int, starts: np.ndarray,
                   ends: np.ndarray) -> np.ndarray:
    """Spliced inputs of examples: out[i] = concat(feats[clamp(rows[i]+c, starts[i], ends[i]−1)], c=−left…right).

    feats: [R, D]; rows, starts, ends (exclusive): int [B]. Returns float32 [B, (left+1+right)·D].
    """
    b = rows.shape[0]
    r = rows[:, None] + np.arange(-left, right + 1, dtype=rows.dtype)[None, :]
    np.clip(r, starts[:, None], (ends - 1)[:, None], out=r)
    return np.take(feats, r.ravel(), axis=0).reshape(b, -1)


def _gather_index(feats: np.ndarray, index: np.ndarray, left: int, right: int) -> tuple[np.ndarray, np.ndarray]:
    return gather_spliced(feats, index[:, 0], left, right, index[:, 1], index[:, 2]), index[:, 3].copy()


# ----------------------------------------------------------------------------------------------------
# .npy files written by streaming


def _npy_header(shape: tuple[int, int]) -> bytes:
    d = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % shape
    pad = _NPY_HEADER_LEN - 10 - len(d) - 1
    if pad < 0:
        raise UserError(f"array shape {shape} too large for an egs archive")
    body = (d + " " * pad + "\n").encode("latin1")
    return b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body


class _StreamNpy:
    """A float32 [rows, D] .npy file written row-block by row-block; the header is fixed at close."""

    def __init__(self, path: str, dim: int):
        self.path, self.dim, self.rows = path, dim, 0
        self.f = open(path, "wb")
        self.f.write(_npy_header((10**12, dim)))

    def append(self, x: np.ndarray) -> int:
        row0 = self.rows
        self.f.write(np.ascontiguousarray(x, dtype="<f4").tobytes())
        self.rows += x.shape[0]
        return row0

    def close(self) -> None:
        self.f.seek(0)
        self.f.write(_npy_header((self.rows, self.dim)))
        self.f.flush()
        os.fsync(self.f.fileno())
        self.f.close()


def _save_npy(path: str, arr: np.ndarray) -> None:
    with open(path, "wb") as f:
        np.save(f, arr)
        f.flush()
        os.fsync(f.fileno())


# ----------------------------------------------------------------------------------------------------
# Feature input


def _read_text_map(path: str, what: str) -> dict[str, str]:
    out = {}
    try:
        with open(path) as f:
            for i, line in enumerate(f, 1):
                p = line.split()
                if not p:
                    continue
                if len(p) != 2:
                    raise DataError(f"{path}:{i}: expected '<utt> <{what}>', got '{line.strip()}'")
                out[p[0]] = p[1]
    except OSError as e:
        raise DataError(f"cannot read {what} map '{path}': {e.strerror}") from None
    return out


def _feature_spec(spec: str) -> str:
    """An rspecifier for an rspecifier or a plain path (`x.scp` -> `scp:x.scp`, else `ark:x`)."""
    spec = os.fspath(spec).strip()
    if is_rspecifier(spec):
        return spec
    return ("scp:" if spec.endswith(".scp") else "ark:") + spec


def scp_keys(path: str) -> list[str]:
    """Keys of an scp file, in file order, without loading anything."""
    try:
        with open(path) as f:
            return [line.split(None, 1)[0] for line in f if line.strip()]
    except OSError as e:
        raise DataError(f"cannot read '{path}': {e.strerror}") from None


def iter_features(spec: str):
    """Yield (utt, float32 [T, D]) from a features rspecifier (`scp:feats.scp`, `ark:…`, pipes) or path."""
    yield from read_table(_feature_spec(spec), "matrix", what="features rspecifier")


class Cmvn:
    """Per-speaker (or per-utterance) CMVN from Kaldi stats (`cmvn.scp`: 2×(D+1) float64 per key)."""

    def __init__(self, cmvn_spec: str, utt2spk: str | dict | None = None, norm_vars: bool = False):
        self.stats = RandomAccessTable(_feature_spec(cmvn_spec), "matrix", what="CMVN stats rspecifier")
        self.utt2spk = _read_text_map(utt2spk, "speaker") if isinstance(utt2spk, str) else utt2spk
        self.norm_vars = norm_vars
        self.spec = cmvn_spec

    def apply(self, utt: str, x: np.ndarray) -> np.ndarray:
        """x [T, D] -> normalized float32 [T, D] (apply-cmvn: x − μ, and / σ with norm_vars)."""
        key = utt if self.utt2spk is None else self.utt2spk.get(utt)
        if key is None:
            raise DataError(f"utterance '{utt}' has no speaker in utt2spk")
        if key not in self.stats:
            raise DataError(f"no CMVN stats for '{key}' (utterance '{utt}') in {self.spec}")
        st = np.asarray(self.stats[key], dtype=np.float64)
        d = x.shape[1]
        if st.shape != (2, d + 1):
            raise DataError(f"CMVN stats for '{key}' have shape {st.shape}, expected (2, {d + 1}) "
                            f"for {d}-dim features")
        count = st[0, d]
        if not count >= 1.0:
            raise DataError(f"CMVN stats for '{key}' have count {count:g}")
        mean = st[0, :d] / count
        y = x.astype(np.float64) - mean
        if self.norm_vars:
            var = np.maximum(st[1, :d] / count - mean * mean, 1e-20)
            y /= np.sqrt(var)
        return y.astype(np.float32)


def _fix_length(utt: str, labels: np.ndarray, t: int) -> np.ndarray:
    diff = len(labels) - t
    if diff == 0:
        return labels
    if abs(diff) > 1:
        raise DataError(f"utterance '{utt}': {t} feature frames but alignment has {len(labels)} "
                        f"(mismatch of more than 1 frame; were the features and alignments made from "
                        f"the same data and frame shift?)")
    if diff == 1:
        return labels[:t]
    return np.concatenate([labels, labels[-1:]]) if len(labels) else labels


# ----------------------------------------------------------------------------------------------------
# Writing


def _atomic_dir_commit(tmp: str, egs_dir: str) -> None:
    if os.path.exists(egs_dir):
        if not os.path.isdir(egs_dir):
            raise UserError(f"'{egs_dir}' exists and is not a directory")
        if os.listdir(egs_dir) and not os.path.exists(os.path.join(egs_dir, "info.json")):
            raise UserError(f"'{egs_dir}' exists and is not an egs directory (no info.json); "
                            f"refusing to replace it")
        old = tempfile.mkdtemp(prefix="." + os.path.basename(egs_dir) + ".old-",
                               dir=os.path.dirname(egs_dir))
        os.replace(egs_dir, os.path.join(old, "egs"))
        os.replace(tmp, egs_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, egs_dir)


def _split_utts(utts: list[str], frames: dict[str, int], opts: EgsOptions,
                utt2uniq: dict[str, str] | None, rng: np.random.Generator,
                utt2spk: dict[str, str] | None = None):
    """Held-out valid utts (whole utt2uniq groups), train utts, train-subset utts. `utts` is sorted."""
    n = len(utts)
    groups: dict[str, list[str]] = {}
    for u in utts:
        groups.setdefault(utt2uniq.get(u, u) if utt2uniq else u, []).append(u)
    valid: set[str] = set()
    if opts.valid_split == "random":
        n_valid = min(opts.num_utts_subset, n // 10)
        gkeys = sorted(groups)
        for gi in rng.permutation(len(gkeys)):
            if len(valid) >= n_valid:
                break
            valid.update(groups[gkeys[gi]])
    else:
        if not 0 < opts.valid_percent < 100:
            raise UserError(f"--valid-percent must be in (0, 100), got {opts.valid_percent:g}")
        spk = [(utt2spk or {}).get(u, u) for u in utts]
        if opts.valid_split == "last-utts":
            # subset_data_dir_tr_cv.sh: N_head = N - N*P/100, moved back to the last speaker change
            n_head = n - int(n * opts.valid_percent / 100)
            head, i = 0, 0
            while i < n:
                j = i
                while j < n and spk[j] == spk[i]:
                    j += 1
                if head + (j - i) > n_head:
                    break
                head, i = head + (j - i), j
            head = head or n_head
            valid.update(utts[head:])
        else:
            if utt2spk is None:
                raise UserError("--valid-split speakers needs --utt2spk")
            speakers = sorted(set(spk))
            n_spk = int(len(speakers) * opts.valid_percent / 100)
            held = {speakers[i] for i in rng.permutation(len(speakers))[:n_spk]}
            valid.update(u for u, s in zip(utts, spk) if s in held)
        for g in groups.values():  # copies of a held-out utterance (utt2uniq) are held out too
            if any(u in valid for u in g):
                valid.update(g)
        if len(valid) >= n:
            raise UserError(f"--valid-split {opts.valid_split} holds out all {n} utterances")
    if not valid and (opts.valid_split != "random" or opts.num_utts_subset > 0):
        # the validation set decides newbob and reports progress: an empty one is a mistake, not a set of 0 frames
        why = "at most 10% of them are held out" if opts.valid_split == "random" else \
            f"--valid-percent {opts.valid_percent:g} of them is less than one {'speaker' if opts.valid_split == 'speakers' else 'utterance'}"
        raise UserError(f"only {n} utterances: too few for a validation set ({why}); give more data, or "
                        f"--num-utts-subset 0 for no validation set")
    train = [u for u in utts if u not in valid]
    nsub = min(opts.num_utts_subset, len(train))
    subset = {train[i] for i in rng.choice(len(train), size=nsub, replace=False)} if nsub else set()
    return valid, train, subset


def _assign_archives(train: list[str], frames: dict[str, int], frames_per_archive: int,
                     rng: np.random.Generator) -> tuple[dict[str, int], int]:
    """Shuffle the training utterances and cut them into contiguous groups of ~equal frame counts."""
    order = [train[i] for i in rng.permutation(len(train))]
    lens = np.array([frames[u] for u in order], dtype=np.float64)
    total = lens.sum()
    num_archives = max(1, int(round(total / max(1, frames_per_archive))))
    before = np.cumsum(lens) - lens
    arch = np.minimum((before * num_archives / max(total, 1.0)).astype(np.int64), num_archives - 1)
    return {u: int(a) for u, a in zip(order, arch)}, num_archives


def make_egs(feats: str, pdf_alis: dict[str, np.ndarray], egs_dir: str, num_pdfs: int,
             opts: EgsOptions | None = None, cmvn: Cmvn | None = None,
             utt2uniq: str | dict | None = None, utt2spk: str | dict | None = None,
             transition_model_id: str | None = None) -> dict:
    """Build an egs directory from features and pdf-id alignments; returns the info dict.

    feats: rspecifier/path of float matrices [T, D]; pdf_alis: {utt: int32 [T]} pdf-ids in 0..num_pdfs−1.
    Utterances without alignment are skipped (warned; DataError if more than `max_missing_frac`).
    NaN/Inf frames, >1-frame length mismatches and out-of-range pdf-ids raise DataError naming the
    utterance; on any error no egs directory is left behind.
    """
    opts = opts or EgsOptions()
    if opts.left_context < 0 or opts.right_context < 0:
        raise UserError("left/right context must be >= 0")
    if num_pdfs <= 0:
        raise UserError(f"num_pdfs must be positive, got {num_pdfs}")
    if isinstance(utt2uniq, str):
        utt2uniq = _read_text_map(utt2uniq, "uniq-id")
    if isinstance(utt2spk, str):
        utt2spk = _read_text_map(utt2spk, "speaker")
    egs_dir = os.path.abspath(os.fspath(egs_dir))
    rs = parse_rspecifier(_feature_spec(feats), "features rspecifier")
    feat_keys = [k for k, _ in read_script(rs.target)] if rs.kind == "scp" else None
    if feat_keys is not None:
        # The egs depend on the order of the utterances: a data dir's feats.scp is sorted in C order with
        # unique keys (utils/validate_data_dir.sh), so an unsorted one is refused, as validate-data-dir does.
        for i in range(1, len(feat_keys)):
            if c_sort_key(feat_keys[i]) <= c_sort_key(feat_keys[i - 1]):
                what = "duplicate key" if feat_keys[i] == feat_keys[i - 1] else "not sorted in C order"
                raise DataError(f"{rs.target}:{i + 1}: {what} ('{feat_keys[i]}' after '{feat_keys[i - 1]}'); "
                                f"run fix_data_dir")

    planned = sorted(pdf_alis) if feat_keys is None else sorted(set(feat_keys) & set(pdf_alis))
    if feat_keys is not None:
        _check_missing(len(feat_keys), [u for u in feat_keys if u not in pdf_alis], opts)
    if not planned:
        raise DataError(f"no utterance of '{feats}' has an alignment")
    for u in planned:
        p = pdf_alis[u]
        if p.size and (p.min() < 0 or p.max() >= num_pdfs):
            raise DataError(f"utterance '{u}': pdf-id {int(p.max() if p.max() >= num_pdfs else p.min())} "
                            f"out of range for {num_pdfs} pdfs")
    frames = {u: len(pdf_alis[u]) for u in planned}
    rng = np.random.default_rng([opts.seed, 0])
    valid, train, subset = _split_utts(planned, frames, opts, utt2uniq, rng, utt2spk)
    arch_of, num_archives = _assign_archives(train, frames, opts.frames_per_archive, rng)

    parent = os.path.dirname(egs_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="." + os.path.basename(egs_dir) + ".tmp-", dir=parent)
    writers: list[_StreamNpy] = []
    try:
        info = _write_egs(tmp, feats, pdf_alis, num_pdfs, opts, cmvn, valid, subset, arch_of,
                          num_archives, feat_keys, writers, transition_model_id)
        _atomic_dir_commit(tmp, egs_dir)
    except BaseException as e:
        for w in writers:
            with contextlib.suppress(Exception):
                w.f.close()
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError) and (e.filename is None or os.fspath(e.filename).startswith(tmp)):
            raise OSError(e.errno, e.strerror, egs_dir) from None  # name the output, not the temporary dir
        raise
    logger.info(f"wrote {info['num_frames']} training examples in {len(info['archives'])} archives, "
                f"{info['num_valid_frames']} valid / {info['num_train_diag_frames']} train-diagnostic "
                f"frames to {egs_dir}")
    return info


def _check_missing(num_feat_utts: int, missing: list[str], opts: EgsOptions) -> None:
    if not missing:
        return
    frac = len(missing) / max(1, num_feat_utts)
    msg = (f"{len(missing)} of {num_feat_utts} utterances have no alignment "
           f"(e.g. '{missing[0]}'); they are skipped")
    if frac > opts.max_missing_frac:
        raise DataError(f"{msg[:msg.rfind(';')]}: {100 * frac:.1f}% exceeds --max-missing-frac="
                        f"{opts.max_missing_frac} (do the alignments belong to these features?)")
    logger.warning(msg)


def _write_egs(tmp, feats, pdf_alis, num_pdfs, opts, cmvn, valid, subset, arch_of, num_archives,
               feat_keys, writers, transition_model_id=None) -> dict:
    L, R = opts.left_context, opts.right_context
    dim = None
    index_parts: list[list[np.ndarray]] = [[] for _ in range(num_archives)]
    valid_parts, subset_parts = [], []
    seen, missing, num_feat_utts, num_train_utts = set(), [], 0, 0
    for utt, x in iter_features(feats):
        num_feat_utts += 1
        if utt in seen:
            raise DataError(f"utterance '{utt}' appears twice in the features '{feats}'")
        if utt not in pdf_alis:
            missing.append(utt)
            continue
        seen.add(utt)
        if utt not in arch_of and utt not in valid:
            continue
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[0] == 0:
            raise DataError(f"utterance '{utt}': features must be a non-empty matrix, got shape {x.shape}")
        if dim is None:
            dim = x.shape[1]
            writers.extend(_StreamNpy(os.path.join(tmp, f"feats.{a + 1}.npy"), dim)
                           for a in range(num_archives))
        elif x.shape[1] != dim:
            raise DataError(f"utterance '{utt}': feature dim {x.shape[1]} differs from {dim} "
                            f"(first utterance)")
        if not np.isfinite(x).all():
            bad = np.argwhere(~np.isfinite(x))[0]
            raise DataError(f"utterance '{utt}': non-finite feature value at frame {bad[0]}, dim {bad[1]}")
        labels = _fix_length(utt, pdf_alis[utt], x.shape[0])
        if cmvn is not None:
            x = cmvn.apply(utt, x)
        x = x.astype(np.float32, copy=False)
        t = x.shape[0]
        if utt in valid:
            valid_parts.append((x, labels))
            continue
        a = arch_of[utt]
        num_train_utts += 1
        row0 = writers[a].append(x)
        if row0 + t >= 2**31:
            raise UserError(f"archive {a + 1} exceeds 2^31 rows; lower --frames-per-archive")
        ix = np.empty((t, 4), dtype=np.int32)  # int32 keeps the in-memory index at 16 bytes/frame
        ix[:, 0] = np.arange(row0, row0 + t)
        ix[:, 1], ix[:, 2], ix[:, 3] = row0, row0 + t, labels
        index_parts[a].append(ix)
        if utt in subset:
            subset_parts.append((x, labels))

    if feat_keys is None:
        _check_missing(num_feat_utts, missing, opts)
    no_feats = len(set(arch_of) | set(valid)) - len(seen)
    if no_feats:
        logger.warning(f"{no_feats} utterances have alignments but no features; they are skipped")
    if dim is None:
        raise DataError(f"no utterance of '{feats}' has an alignment")

    archives = []
    rng = np.random.default_rng([opts.seed, 1])
    for a, w in enumerate(writers):
        w.close()
        if not index_parts[a]:
            os.unlink(w.path)
            continue
        idx = np.concatenate(index_parts[a])
        idx = idx[rng.permutation(len(idx))]
        n = len(archives) + 1
        fname, iname = f"feats.{n}.npy", f"index.{n}.npy"
        os.replace(w.path, os.path.join(tmp, fname))
        _save_npy(os.path.join(tmp, iname), idx)
        archives.append({"feats": fname, "index": iname, "num_examples": int(len(idx)),
                         "num_rows": int(w.rows)})
    num_frames = sum(a["num_examples"] for a in archives)
    if num_frames == 0:
        raise DataError("no training frames left after holding out the validation utterances")

    def subset_files(parts, name, index_names_sizes):
        xs = [p[0] for p in parts]
        feats_all = np.concatenate(xs) if xs else np.zeros((0, dim), np.float32)
        _save_npy(os.path.join(tmp, f"{name}.feats.npy"), feats_all)
        lens = np.array([len(x) for x in xs], dtype=np.int64)
        ends = np.cumsum(lens)
        starts = ends - lens
        rows = np.arange(len(feats_all), dtype=np.int64)
        utt_of = np.repeat(np.arange(len(xs)), lens)
        labels = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
        full = np.stack([rows, starts[utt_of], ends[utt_of], labels], axis=1) if len(rows) else \
            np.zeros((0, 4), np.int64)
        out = {}
        for iname, size in index_names_sizes:
            size = len(full) if size <= 0 else min(size, len(full))  # 0: all frames
            sel = np.sort(rng.choice(len(full), size=size, replace=False))
            _save_npy(os.path.join(tmp, f"{iname}.index.npy"), full[sel].astype(np.int32))
            out[iname] = int(len(sel))
        return out

    nv = subset_files(valid_parts, "valid", [("valid_diag", opts.num_frames_valid)])
    nt = subset_files(subset_parts, "train_subset", [("train_diag", opts.num_frames_diagnostic),
                                                     ("combine", opts.num_frames_combine)])
    info = {
        "version": EGS_VERSION,
        "feat_dim": int(dim),
        "num_pdfs": int(num_pdfs),
        "left_context": L,
        "right_context": R,
        "num_frames": int(num_frames),
        "num_train_utts": num_train_utts,
        "num_valid_utts": len(valid_parts),
        "num_valid_frames": nv["valid_diag"],
        "num_valid_held_out_frames": int(sum(len(p[1]) for p in valid_parts)),
        "num_train_diag_frames": nt["train_diag"],
        "num_combine_frames": nt["combine"],
        "num_missing_alignments": len(missing),
        "transition_model_id": transition_model_id,
        "cmvn": None if cmvn is None else {"stats": cmvn.spec, "norm_vars": cmvn.norm_vars},
        "seed": opts.seed,
        "options": to_dict(opts),
        "archives": archives,
    }
    with open(os.path.join(tmp, "info.json"), "w") as f:
        json.dump(info, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    return info


# ----------------------------------------------------------------------------------------------------
# Reading


def _batch_sizes(n: int, mb: int, k: int) -> np.ndarray:
    """Sizes of k minibatches covering n examples: full size mb, the rest in the last one(s)."""
    sizes = [mb] * (n // mb) + ([n % mb] if n % mb else [])
    while len(sizes) < k:
        j = int(np.argmax(sizes))
        if sizes[j] < 2:
            raise UserError(f"cannot split {n} examples into {k} minibatches; use fewer workers "
                            f"or a larger minibatch")
        sizes[j:j + 1] = [sizes[j] - sizes[j] // 2, sizes[j] // 2]
    return np.array(sizes, dtype=np.int64)


_DONE = object()


def _read_ahead(gen):
    """The items of iterator `gen`, produced one ahead on a background thread. An exception in `gen` is
    raised here, where the item would have come; closing this generator early stops the thread (at the
    next item) and waits for it."""
    q: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(x) -> bool:  # False once the consumer has stopped
        while not stop.is_set():
            try:
                q.put(x, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run():
        try:
            it = iter(gen)
            while not stop.is_set():  # checked before every item: a closed consumer costs no further block
                try:
                    item = next(it)
                except StopIteration:
                    put((_DONE, None))
                    return
                if not put((item, None)):
                    return
        except BaseException as e:  # handed to the consumer, which raises it
            put((_DONE, e))
        finally:
            close = getattr(gen, "close", None)  # a generator: run its cleanup here, on its own thread
            if close is not None:
                close()

    t = threading.Thread(target=run, name="nnet2-egs-read-ahead", daemon=True)
    t.start()
    try:
        while True:
            item, err = q.get()
            if err is not None:
                raise err
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            q.get_nowait()  # unblock a put waiting for room
        t.join()


class EgsReader:
    """Reads an egs directory (see module docstring). Feature archives are memory-mapped."""

    def __init__(self, egs_dir: str):
        self.dir = os.fspath(egs_dir)
        path = os.path.join(self.dir, "info.json")
        try:
            with open(path) as f:
                self.info = json.load(f)
        except OSError as e:
            raise DataError(f"cannot read '{path}': {e.strerror} (not an egs directory?)") from None
        except json.JSONDecodeError as e:
            raise DataError(f"'{path}' is not valid JSON: {e}") from None
        if self.info.get("version") != EGS_VERSION:
            raise DataError(f"'{path}': unsupported egs version {self.info.get('version')}")
        self.left = int(self.info["left_context"])
        self.right = int(self.info["right_context"])
        self.feat_dim = int(self.info["feat_dim"])
        self.num_pdfs = int(self.info["num_pdfs"])
        self.input_dim = (self.left + 1 + self.right) * self.feat_dim
        self.archives = self.info["archives"]
        self.sizes = np.array([a["num_examples"] for a in self.archives], dtype=np.int64)
        self.num_frames = int(self.sizes.sum())
        self._cache: dict[str, np.ndarray] = {}
        # which frames file each index file points into (checked when the index is first loaded)
        self._index_feats = {a["index"]: a["feats"] for a in self.archives}
        self._index_feats.update({"valid_diag.index.npy": "valid.feats.npy",
                                  "train_diag.index.npy": "train_subset.feats.npy",
                                  "combine.index.npy": "train_subset.feats.npy"})

    def _load(self, name: str) -> np.ndarray:
        if name not in self._cache:
            path = os.path.join(self.dir, name)
            try:
                arr = np.load(path, mmap_mode="r")
            except (OSError, ValueError) as e:
                raise DataError(f"cannot read egs file '{path}': {e}") from None
            index_feats = getattr(self, "_index_feats", {})  # (a subclass reading another layout has none)
            if name in index_feats:
                self._check_index(path, arr, self._load(index_feats[name]), index_feats[name])
            elif index_feats and (arr.ndim != 2 or arr.shape[1] != self.feat_dim):
                raise DataError(f"egs file '{path}': expected frames of dim {self.feat_dim}, found shape {arr.shape}")
            self._cache[name] = arr
        return self._cache[name]

    def check_all(self) -> None:
        """Load (and so check) every index file now, before a trainer creates its outputs."""
        for name in getattr(self, "_index_feats", {}):
            self._load(name)

    def _check_index(self, path: str, idx: np.ndarray, feats: np.ndarray, feats_name: str) -> None:
        """Every example's row inside its utterance, every utterance inside the frames file, every label a
        pdf: a corrupt or foreign index is an error naming the example, never clamped or wrapped."""
        if idx.ndim != 2 or idx.shape[1] != 4 or not np.issubdtype(idx.dtype, np.integer):
            raise DataError(f"egs file '{path}': expected an integer [n, 4] index, found {idx.dtype} {idx.shape}")
        a = np.asarray(idx, dtype=np.int64)
        row, start, end, label = a[:, 0], a[:, 1], a[:, 2], a[:, 3]
        checks = [((start < 0) | (end > len(feats)) | (start >= end),
                   lambda k: f"utterance rows [{start[k]}, {end[k]}) outside the {len(feats)} frames of {feats_name}"),
                  ((row < start) | (row >= end), lambda k: f"row {row[k]} outside its utterance [{start[k]}, {end[k]})"),
                  ((label < 0) | (label >= self.num_pdfs),
                   lambda k: f"label {label[k]} is not a pdf-id (the egs have {self.num_pdfs} pdfs)")]
        for bad, msg in checks:
            if bad.any():
                k = int(np.argmax(bad))
                raise DataError(f"egs file '{path}': example {k}: {msg(k)}")

    def _check_split(self, worker: int, num_workers: int) -> None:
        if not 0 <= worker < num_workers:
            raise UserError(f"worker {worker} out of range for {num_workers} workers")
        if self.num_frames < num_workers:
            raise UserError(f"{self.num_frames} training examples cannot be shared by {num_workers} workers")

    def worker_archive(self, worker: int, num_workers: int, epoch: int,
                       seed: int | None = None) -> list[tuple[int, int, int]]:
        """The examples of `worker` in `epoch`: [(archive index, start, stop)] into that archive's index.

        Depends only on (seed, num_workers, epoch, worker); pieces of all workers partition all examples.
        """
        self._check_split(worker, num_workers)
        seed = self.info["seed"] if seed is None else seed
        rng = np.random.default_rng([seed, 2, epoch])
        order = rng.permutation(len(self.sizes))
        offset = int(rng.integers(self.num_frames))
        f = self.num_frames
        lo = offset + worker * f // num_workers
        hi = offset + (worker + 1) * f // num_workers
        bounds = np.concatenate([[0], np.cumsum(self.sizes[order])])
        pieces = []
        for seg_lo, seg_hi in ((lo, min(hi, f)), (max(lo, f) - f, hi - f)):  # the range may wrap once
            if seg_hi <= seg_lo:
                continue
            for j in range(len(order)):
                s, e = max(seg_lo, bounds[j]), min(seg_hi, bounds[j + 1])
                if e > s:
                    pieces.append((int(order[j]), int(s - bounds[j]), int(e - bounds[j])))
        return pieces

    def num_examples(self, worker: int, num_workers: int) -> int:
        """Examples of `worker` per epoch (⌊F/N⌋ or ⌈F/N⌉)."""
        self._check_split(worker, num_workers)
        return (worker + 1) * self.num_frames // num_workers - worker * self.num_frames // num_workers

    def num_minibatches(self, worker: int, num_workers: int, minibatch_size: int) -> int:
        """Minibatches per epoch; identical for every worker (the larger shard's count)."""
        self._check_split(worker, num_workers)
        if minibatch_size < 1:
            raise UserError(f"minibatch size must be >= 1, got {minibatch_size}")
        return math.ceil(math.ceil(self.num_frames / num_workers) / minibatch_size)

    def iter_minibatches(self, worker: int, epoch: int, minibatch_size: int, seed: int | None = None,
                         num_workers: int = 1, block: int = 16384, start: int = 0):
        """Yield (X float32 [B, (L+1+R)·D], y int32 [B]) for `worker`'s shard of `epoch`, shuffled.

        Exactly `num_minibatches(worker, num_workers, minibatch_size)` minibatches, all of size
        `minibatch_size` except the last one (or two). X may be a view into a larger gathered block.
        `start`: begin at minibatch `start` (the same minibatches as skipping the first `start` of the
        full sequence, but the examples before it are never gathered: only their shuffles are replayed).
        """
        seed = self.info["seed"] if seed is None else seed
        k = self.num_minibatches(worker, num_workers, minibatch_size)
        sizes = _batch_sizes(self.num_examples(worker, num_workers), minibatch_size, k)
        if not 0 <= start <= k:
            raise UserError(f"minibatch {start} out of range for {k} minibatches")
        rng = np.random.default_rng([seed, 3, epoch, worker, num_workers])
        skip = int(sizes[:start].sum())
        # Gathered on a background thread one block ahead (Kaldi's NnetExampleBackgroundReader does the same for
        # nnet-train-simple): the gather is a NumPy copy that runs without the GIL while the step computes.
        blocks = _read_ahead(self._blocks(self.worker_archive(worker, num_workers, epoch, seed), rng, block, skip))
        bi, pend_x, pend_y, have = start, [], [], 0
        for X, y in blocks:
            p = 0
            while p < len(y):
                need = int(sizes[bi]) - have
                take = min(need, len(y) - p)
                if have == 0 and take == need:
                    yield X[p:p + take], y[p:p + take]
                    bi += 1
                else:
                    pend_x.append(X[p:p + take])
                    pend_y.append(y[p:p + take])
                    have += take
                    if have == sizes[bi]:
                        yield np.concatenate(pend_x), np.concatenate(pend_y)
                        bi, pend_x, pend_y, have = bi + 1, [], [], 0
                p += take
        assert bi == len(sizes) and have == 0

    def _blocks(self, pieces, rng: np.random.Generator, block: int, skip: int = 0):
        """Gathered blocks of the shuffled pieces, leaving out the first `skip` examples (whose shuffles
        are still drawn, so the generator is where a full read would have it)."""
        for a, s, e in pieces:
            perm = rng.permutation(e - s)
            if skip >= e - s:
                skip -= e - s
                continue
            idx = self._load(self.archives[a]["index"])[s:e]
            idx = idx[perm[skip:]]
            skip = 0
            feats = self._load(self.archives[a]["feats"])
            for b in range(0, len(idx), block):
                yield _gather_index(feats, idx[b:b + block], self.left, self.right)

    def _subset(self, feats_name: str, index_name: str) -> tuple[np.ndarray, np.ndarray]:
        feats = self._load(feats_name)
        idx = np.asarray(self._load(index_name))
        if len(idx) == 0:
            return np.zeros((0, self.input_dim), np.float32), np.zeros(0, np.int32)
        return _gather_index(feats, idx, self.left, self.right)

    def valid_set(self) -> tuple[np.ndarray, np.ndarray]:
        """Held-out diagnostic examples: (X float32 [n, (L+1+R)·D], y int32 [n]); n may be 0."""
        return self._subset("valid.feats.npy", "valid_diag.index.npy")

    def valid_utterances(self) -> np.ndarray:
        """int [n]: which held-out utterance each example of `valid_set` belongs to (its first row), the
        unit of the bootstrap interval of the validation accuracy."""
        return np.asarray(self._load("valid_diag.index.npy"))[:, 1].astype(np.int64)

    def train_diag_set(self) -> tuple[np.ndarray, np.ndarray]:
        """Training-subset diagnostic examples (X, y)."""
        return self._subset("train_subset.feats.npy", "train_diag.index.npy")

    def combine_set(self) -> tuple[np.ndarray, np.ndarray]:
        """Training-subset examples for final model combination (X, y)."""
        return self._subset("train_subset.feats.npy", "combine.index.npy")

    def prior_examples(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """The first n examples of the training archives in a fixed order (independent of the number of
        workers): (X, y), for the priors."""
        Xs, ys, have = [], [], 0
        for feats, idx in self.iter_archive_frames():
            take = idx[: n - have]
            X, y = _gather_index(feats, take, self.left, self.right)
            Xs.append(X)
            ys.append(y)
            have += len(take)
            if have >= n:
                break
        return np.concatenate(Xs), np.concatenate(ys)

    def iter_archive_frames(self):
        """Yield (feats float32 [rows, D], index int32 [n, 4]) per training archive (e.g. for LDA stats)."""
        for a in self.archives:
            yield self._load(a["feats"]), np.asarray(self._load(a["index"]))


def load_transition_model(model_path: str) -> TransitionModel:
    """The TransitionModel of a Kaldi model or transition-model file (text or binary)."""
    try:
        with open(model_path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise DataError(f"cannot read transition model '{model_path}': {e.strerror}") from None
    return TransitionModel.from_bytes(data, name=model_path)


def load_tid2pdf(model_path: str) -> tuple[np.ndarray, int]:
    """(tid2pdf int32 [num_tids+1], num_pdfs) from a Kaldi model or transition-model file (text or binary)."""
    tm = load_transition_model(model_path)
    return tm.tid2pdf, tm.num_pdfs


def check_alignment_model(alignments, transition_model: str, tm: TransitionModel) -> None:
    """Refuse alignments made with a different tree or topology than `transition_model`, even when
    their transition-ids happen to be in range. Kaldi keeps the model that wrote `ali.*.gz` beside
    them (`final.mdl` in the alignment directory); its identity (topology + tuples, see
    `TransitionModel.identity`) must equal the given model's. Pipes cannot be checked this way."""
    want = tm.identity()
    seen = set()
    for kind, target in expand_specs(alignments):
        if kind == "pipe":
            continue
        mdl = os.path.join(os.path.dirname(os.path.abspath(target)), "final.mdl")
        if mdl in seen or not os.path.isfile(mdl):
            continue
        seen.add(mdl)
        if os.path.exists(transition_model) and os.path.samefile(mdl, transition_model):
            continue
        if load_transition_model(mdl).identity() != want:
            raise DataError(f"the alignments '{target}' were made with '{mdl}', whose transition model "
                            f"(tree/topology) differs from --transition-model '{transition_model}': "
                            f"use the model the alignments were made with")


def get_egs(feats: str, alignments, egs_dir: str, transition_model: str | None = None,
            ali_is_pdf: bool = False, num_pdfs: int | None = None, cmvn: str | None = None,
            utt2spk: str | None = None, utt2uniq: str | None = None,
            opts: EgsOptions | None = None) -> dict:
    """`nnet2 get-egs`: read alignments (→ pdf-ids), optional per-speaker CMVN, then `make_egs`."""
    opts = opts or EgsOptions()
    tid2pdf = None
    tm_id = None
    if transition_model:
        tm = load_transition_model(transition_model)
        tid2pdf, model_pdfs, tm_id = tm.tid2pdf, tm.num_pdfs, tm.identity()
        check_alignment_model(alignments, transition_model, tm)
        if num_pdfs is not None and num_pdfs != model_pdfs:
            raise UserError(f"--num-pdfs={num_pdfs} but '{transition_model}' has {model_pdfs} pdfs")
        num_pdfs = model_pdfs
    elif not ali_is_pdf:
        raise UserError("give --transition-model for transition-id alignments, or --ali-is-pdf=true "
                        "for pdf-id alignments (ali-to-pdf output)")
    alis = read_pdf_alignments(alignments, tid2pdf=tid2pdf, num_pdfs=num_pdfs, is_pdf=tid2pdf is None)
    if num_pdfs is None:
        num_pdfs = 1 + max((int(v.max()) for v in alis.values() if len(v)), default=-1)
        logger.warning(f"--num-pdfs not given; using {num_pdfs} (largest pdf-id in the alignments + 1)")
    cm = Cmvn(cmvn, utt2spk, opts.norm_vars) if cmvn else None
    return make_egs(feats, alis, egs_dir, num_pdfs, opts, cmvn=cm, utt2uniq=utt2uniq, utt2spk=utt2spk,
                    transition_model_id=tm_id)
