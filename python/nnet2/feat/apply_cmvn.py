"""Kaldi's `apply-cmvn` over a feature table (`apply_cmvn_table`, src/featbin/apply-cmvn.cc), and over a
whole archive written as a new ark + scp (`apply_cmvn_archive`)."""

from __future__ import annotations

import os

import numpy as np

from nnet2.data.egs import Cmvn, iter_features
from nnet2.feat.cmvn import apply_cmvn
from nnet2.feat.make_feats import ArkWriter
from nnet2.io.table import RandomAccessTable, TableWriter, is_rspecifier, read_matrix_file, read_table
from nnet2.utils.errors import DataError, UserError
from nnet2.utils.fileio import atomic_path
from nnet2.utils.log import get_logger


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


def apply_cmvn_table(cmvn: str, feats: str, out: str, utt2spk: str | None = None, norm_vars: bool = False,
                     norm_means: bool = True) -> int:
    """Kaldi's apply-cmvn: normalize every utterance of the features rspecifier `feats` and write it to
    the wspecifier `out`. `cmvn` is an rspecifier of stats (per utterance, or per speaker through the
    `utt2spk` rspecifier or file) or a single (global) stats file. An utterance without a speaker or
    without stats is skipped with a warning, as in Kaldi. Returns the number of utterances written."""
    log = get_logger("apply-cmvn")
    if norm_vars and not norm_means:
        raise UserError("You cannot normalize the variance but not the mean.")
    spk_of = None
    if utt2spk:
        # Kaldi takes an rspecifier; a plain utt2spk path is read as its text archive.
        spec = utt2spk if is_rspecifier(utt2spk) else "ark:" + utt2spk
        if not is_rspecifier(utt2spk) and not os.path.exists(utt2spk):
            raise UserError(f"--utt2spk: '{utt2spk}' is neither an rspecifier nor a file")
        spk_of = dict(read_table(spec, "token", what="--utt2spk"))
    if is_rspecifier(cmvn):
        table, glob = RandomAccessTable(cmvn, "matrix", what="cmvn rspecifier"), None
    else:
        table, glob = None, read_matrix_file(cmvn, what="CMVN stats")
    n_ok = n_err = 0
    with TableWriter(out, "matrix", what="feature wspecifier") as w:
        for utt, x in read_table(feats, "matrix", what="feature rspecifier"):
            if norm_means:
                if table is not None:
                    key = utt
                    if spk_of is not None:
                        if utt not in spk_of:
                            log.warning(f"No speaker for utterance {utt} in --utt2spk; skipping")
                            n_err += 1
                            continue
                        key = spk_of[utt]
                    if key not in table:
                        log.warning(f"No normalization statistics available for key {key}, producing "
                                    f"no output for this utterance")
                        n_err += 1
                        continue
                    stats = table[key]
                else:
                    stats = glob
                x = apply_cmvn(x, stats, norm_vars, name=f"utterance '{utt}'")
            w.write(utt, x)
            n_ok += 1
    log.info(f"Applied cepstral mean{' and variance' if norm_vars else ''} normalization to "
             f"{n_ok} utterances, errors on {n_err}")
    return n_ok
