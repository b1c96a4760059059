"""Feature extraction for a whole data dir (Kaldi `steps/make_mfcc.sh`, `steps/compute_cmvn_stats.sh`).

Archives go to `feat_dir/raw_<kind>_<set>.<job>.ark` (binary Kaldi float matrices, written by nnet2.io.table);
`<datadir>/feats.scp` points into them. Every archive is written under a temporary name and renamed
when complete; feats.scp is written (atomically) only after all archives are in place, so a failure
(unreadable wav, NaN features) leaves no half-written archive and no stale feats.scp.
"""

from __future__ import annotations

import contextlib
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from nnet2.data.datadir import DataDir, load_wav, validate_data_dir, write_table
from nnet2.feat.cmvn import apply_cmvn, cmvn_stats
from nnet2.feat.features import FbankOptions, MfccOptions, add_deltas, compute_fbank, compute_mfcc
from nnet2.io.table import RandomAccessTable, object_bytes
from nnet2.utils.errors import DataError
from nnet2.utils.fileio import atomic_path, make_parents, remove_dirs
from nnet2.utils.log import get_logger
from nnet2.utils.options import opt

log = get_logger("feat")


def progress(it, desc: str, total: int | None = None):
    """tqdm progress bar on stderr when it is a terminal (quiet in logs and CI)."""
    return tqdm(it, desc=desc, total=total, disable=not sys.stderr.isatty(), leave=False)


class ArkWriter:
    """Write (key, matrix) entries to a binary Kaldi archive at a temporary path and collect scp
    lines that point at the *final* path. `entries` is a list of (key, "path:offset")."""

    def __init__(self, tmp_path: str, final_path: str):
        self.fh = open(tmp_path, "wb")
        self.final = final_path
        self.entries: list[tuple[str, str]] = []

    def write(self, key: str, mat: np.ndarray, compress: int | None = None) -> None:
        pos = self.fh.tell()
        head = key.encode("utf-8") + b" "
        self.fh.write(head + object_bytes(mat, "matrix", binary=True, compress=compress,
                                          double=np.asarray(mat).dtype == np.float64))
        # scp offsets point just past "key " (at the binary marker "\0B"), as Kaldi's.
        self.entries.append((key, f"{self.final}:{pos + len(head)}"))

    def close(self) -> None:
        self.fh.close()


def _job(args) -> tuple[list[tuple[str, str]], dict[str, int]]:
    d, utts, kind, opts, ark_path, compress = args
    frames = {}
    compute = compute_mfcc if kind == "mfcc" else compute_fbank
    with atomic_path(ark_path) as tmp:
        w = ArkWriter(tmp, ark_path)
        try:
            for u in progress(utts, desc=f"{kind} {os.path.basename(ark_path)}"):
                rate, x = load_wav(d, u)
                feats = compute(x, opts, rate=rate, utt=u)
                if feats.shape[0] == 0:
                    raise DataError(f"utterance '{u}': too short for one frame "
                                    f"({len(x)} samples)")
                # copy-feats --compress=true (--compression-method=1, Kaldi's default) as in
                # steps/make_mfcc.sh
                w.write(u, feats, compress=1 if compress else None)
                frames[u] = feats.shape[0]
        finally:
            w.close()
    return w.entries, frames


@dataclass
class MakeFeatsOptions:
    """How `nnet2 make-mfcc` / `make-fbank` (`nnet2.api.compute_features`) run, as Kaldi's steps/make_mfcc.sh."""

    nj: int = opt(4, "number of parallel jobs")
    compress: bool = opt(True, "store compressed matrices (copy-feats --compress=true), as the script does")
    write_utt2num_frames: bool = opt(True, "also write <data-dir>/utt2num_frames")


def make_feats(datadir: str, opts: MfccOptions | FbankOptions, feat_dir: str, nj: int = 1,
               compress: bool = False, write_utt2num_frames: bool = False) -> int:
    """Compute features for every utterance of `datadir`, write `feat_dir/raw_<kind>_<set>.<j>.ark`
    and `datadir/feats.scp` (and `datadir/utt2num_frames` if asked). Returns the number of
    utterances. Any bad utterance raises DataError naming it, and nothing is left behind (no
    partial ark, feats.scp unchanged)."""
    d = validate_data_dir(datadir)
    kind = "mfcc" if isinstance(opts, MfccOptions) else "fbank"
    name = os.path.basename(os.path.normpath(datadir))
    if not d.utts:
        raise DataError(f"data dir {datadir} has no utterances")
    created = make_parents(os.path.join(feat_dir, "x"))  # removed again if nothing is written
    utts = d.utts
    nj = max(1, min(nj, len(utts)))
    chunks = [utts[i * len(utts) // nj:(i + 1) * len(utts) // nj] for i in range(nj)]
    arks = [os.path.abspath(os.path.join(feat_dir, f"raw_{kind}_{name}.{j + 1}.ark")) for j in range(nj)]
    jobs = [(d, c, kind, opts, a, compress) for c, a in zip(chunks, arks)]
    try:
        if nj == 1:
            results = [_job(jobs[0])]
        else:
            with ProcessPoolExecutor(nj) as ex:
                results = list(ex.map(_job, jobs))
    except BaseException:
        for a in arks:  # finished jobs' archives are useless without the others
            with contextlib.suppress(FileNotFoundError):
                os.unlink(a)
        remove_dirs(created)
        raise
    entries = [e for r, _ in results for e in r]
    try:
        write_table(os.path.join(datadir, "feats.scp"), entries)
        if write_utt2num_frames:
            write_table(os.path.join(datadir, "utt2num_frames"),
                        [(u, str(n)) for _, fr in results for u, n in fr.items()])
    except BaseException:
        for a in arks:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(a)
        remove_dirs(created)
        raise
    log.info(f"computed {kind} features for {len(entries)} utterances of {datadir} "
             f"({nj} job(s)) into {feat_dir}")
    return len(entries)


def compute_cmvn_stats(datadir: str, feat_dir: str | None = None) -> int:
    """Per-speaker CMVN stats for `datadir` (needs feats.scp): writes `feat_dir/cmvn_<set>.ark`
    (float64 (2, D+1) per speaker) and `datadir/cmvn.scp`. Returns the number of speakers."""
    d = validate_data_dir(datadir, need_feats=True, need_wav=False)
    feat_dir = feat_dir or os.path.join(datadir, "data")
    name = os.path.basename(os.path.normpath(datadir))
    ark = os.path.abspath(os.path.join(feat_dir, f"cmvn_{name}.ark"))
    feats = RandomAccessTable("scp:" + d.file("feats.scp"))
    with atomic_path(ark) as tmp:
        w = ArkWriter(tmp, ark)
        try:
            for spk, utts in d.spk2utt.items():
                st = None
                for u in utts:
                    st = cmvn_stats(read_feats(feats, u, d), into=st)
                w.write(spk, st)
        finally:
            w.close()
    write_table(d.file("cmvn.scp"), w.entries)
    log.info(f"computed CMVN stats for {len(w.entries)} speakers of {datadir}")
    return len(w.entries)


def read_feats(feats_scp, utt: str, d: DataDir | None = None) -> np.ndarray:
    """One utterance's features from a random-access feature table, with errors naming the utterance."""
    if utt not in feats_scp:
        where = d.file("feats.scp") if d else "feats.scp"
        raise DataError(f"utterance '{utt}' not in {where}")
    try:
        m = feats_scp[utt]
    except DataError as e:
        raise DataError(f"utterance '{utt}': cannot read features: {e}") from None
    m = np.asarray(m, dtype=np.float32)
    if not np.all(np.isfinite(m)):
        bad = int(np.argwhere(~np.isfinite(m))[0, 0])
        raise DataError(f"utterance '{utt}': NaN/Inf in features at frame {bad}")
    return m


def load_cmvn_feats(datadir: str, norm_vars: bool = False, deltas: bool = False):
    """Iterate (utt, float32 (T, D')) over `datadir`'s utterances with per-speaker CMVN applied
    (`apply-cmvn --utt2spk`), and optionally `add-deltas` (D' = 3D)."""
    d = validate_data_dir(datadir, need_feats=True, need_wav=False)
    feats = RandomAccessTable("scp:" + d.file("feats.scp"))
    cmvn = RandomAccessTable("scp:" + d.file("cmvn.scp")) if d.cmvn_scp is not None else None
    if cmvn is None:
        raise DataError(f"{d.file('cmvn.scp')}: missing (run compute-cmvn-stats first)")
    for u in d.utts:
        m = apply_cmvn(read_feats(feats, u, d), cmvn[d.utt2spk[u]], norm_vars, name=u)
        yield u, (add_deltas(m) if deltas else m)
