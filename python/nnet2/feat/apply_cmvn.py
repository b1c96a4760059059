"""Kaldi's `apply-cmvn` over a feature table (`apply_cmvn_table`, src/featbin/apply-cmvn.cc); a whole archive
written as a new ark + scp is the wspecifier `ark,scp:out.ark,out.scp`."""

from __future__ import annotations

import os

from nnet2.feat.cmvn import apply_cmvn
from nnet2.io.table import RandomAccessTable, TableWriter, is_rspecifier, read_matrix_file, read_table
from nnet2.utils.errors import DataError, UserError
from nnet2.utils.log import get_logger


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
        if n_ok == 0:
            # Kaldi exits 1 here too, but leaves an empty table behind; nothing is written instead.
            raise DataError(f"apply-cmvn: no utterance of '{feats}' was normalized ({n_err} without statistics"
                            f"{', see the warnings above' if n_err else ''}); nothing written to '{out}'")
    log.info(f"Applied cepstral mean{' and variance' if norm_vars else ''} normalization to "
             f"{n_ok} utterances, errors on {n_err}")
    return n_ok
