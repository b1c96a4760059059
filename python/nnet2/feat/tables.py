"""Kaldi's feature and matrix table tools, one function each: compute-mfcc-feats / compute-fbank-feats
(src/featbin/compute-mfcc-feats.cc), compute-cmvn-stats (compute-cmvn-stats.cc), copy-feats
(copy-feats.cc) and copy-matrix (src/bin/copy-matrix.cc). They read and write Kaldi tables through
`nnet2.io.table` (rspecifiers, wspecifiers, rx/wxfilenames) and behave as the binaries do: an
utterance that cannot be processed is skipped with a warning, and the count of utterances done is
returned (the verbs exit 1 when it is 0)."""

from __future__ import annotations

import numpy as np

from nnet2.feat.cmvn import cmvn_stats
from nnet2.feat.features import FbankOptions, MfccOptions, compute_fbank, compute_mfcc
from nnet2.io.table import (RandomAccessTable, TableWriter, is_rspecifier, is_wspecifier, object_bytes,
                            parse_rspecifier, read_matrix_file, read_table, write_matrix_file, write_output_bytes)
from nnet2.utils.errors import DataError, UserError
from nnet2.utils.log import get_logger


def compute_feats_table(wav_rspecifier: str, feats_wspecifier: str, opts: MfccOptions | FbankOptions, *,
                        subtract_mean: bool = False, channel: int = -1, min_duration: float = 0.0,
                        vtln_warp: float = 1.0) -> int:
    """compute-mfcc-feats (or, with FbankOptions, compute-fbank-feats): the features of every wave of
    `wav_rspecifier` written to `feats_wspecifier`. channel -1 expects mono (else takes channel 0 with
    a warning); waves shorter than `min_duration` seconds or that cannot be computed are skipped with
    a warning; subtract_mean removes each utterance's mean (CMS). Returns the number written."""
    kind = "mfcc" if isinstance(opts, MfccOptions) else "fbank"
    log = get_logger(f"compute-{kind}-feats")
    if vtln_warp != 1.0:
        raise UserError("--vtln-warp other than 1.0 is not supported")
    compute = compute_mfcc if kind == "mfcc" else compute_fbank
    parse_rspecifier(wav_rspecifier, "wav rspecifier")
    n_utts = n_ok = 0
    with TableWriter(feats_wspecifier, "matrix", what="feature wspecifier") as out:
        it = read_table(wav_rspecifier, "wave", what="wav rspecifier")
        while True:
            try:
                utt, (rate, x) = next(it)
            except StopIteration:
                break
            n_utts += 1
            dur = x.shape[1] / rate
            if dur < min_duration:
                log.warning(f"File: {utt} is too short ({dur:g} sec): producing no output.")
                continue
            chan = channel
            if chan == -1:
                chan = 0
                if x.shape[0] != 1:
                    log.warning(f"Channel not specified but you have data with {x.shape[0]} channels; "
                                f"defaulting to zero")
            elif chan >= x.shape[0]:
                log.warning(f"File with id {utt} has {x.shape[0]} channels but you specified channel "
                            f"{chan}, producing no output.")
                continue
            x = x[chan]
            if rate != opts.sample_frequency:
                raise DataError(f"Sample frequency mismatch: you specified {opts.sample_frequency:g} but data "
                                f"has {rate} (use --sample-frequency option).  Utterance is {utt}")
            try:
                feats = compute(x, opts, rate=rate, utt=utt)
            except DataError as e:
                log.warning(f"Failed to compute features for utterance {utt}: {e}")
                continue
            if subtract_mean and feats.shape[0]:
                feats = (feats - feats.mean(axis=0, dtype=np.float64)).astype(np.float32)
            out.write(utt, feats)
            n_ok += 1
    log.info(f"Done {n_ok} out of {n_utts} utterances.")
    return n_ok


def compute_cmvn_stats_table(feats: str, stats: str, *, spk2utt: str | None = None, weights: str | None = None,
                             binary: bool = True) -> int:
    """compute-cmvn-stats: float64 [2, D+1] CMVN statistics of the features rspecifier `feats`, per
    utterance to the wspecifier `stats`, per speaker with the `spk2utt` rspecifier, or global to the
    wxfilename `stats` (not a wspecifier). weights: rspecifier of per-frame weight vectors. Returns the
    number of stats written (utterances, speakers) or, for global stats, of utterances accumulated."""
    log = get_logger("compute-cmvn-stats")
    wtable = RandomAccessTable(weights, "vector", what="--weights") if weights else None

    def stats_of(utt, m, into=None):
        w = None
        if wtable is not None:
            if utt not in wtable:
                log.warning(f"No weights available for utterance {utt}")
                return None
            w = wtable[utt]
            if len(w) != m.shape[0]:
                raise DataError(f"weights for utterance {utt} have wrong size {len(w)} vs. {m.shape[0]}")
        return cmvn_stats(m, w, into)

    if not is_wspecifier(stats):  # global stats to a single file
        tot, n = None, 0
        for utt, m in read_table(feats, "matrix", what="feature rspecifier"):
            st = stats_of(utt, m, tot)
            if st is None:
                continue
            tot = st
            n += 1
        if tot is None:
            raise DataError(f"no features in '{feats}'")
        write_matrix_file(stats, tot, binary=binary, double=True)
        log.info(f"Wrote global CMVN stats to {stats} ({n} utterances)")
        return n
    n = 0
    with TableWriter(stats, "matrix", double=True, what="stats wspecifier") as out:
        if spk2utt:
            table = RandomAccessTable(feats, "matrix", what="feature rspecifier")
            for spk, utts in read_table(spk2utt, "token_vector", what="--spk2utt"):
                tot = None
                for u in utts:
                    if u not in table:
                        log.warning(f"Did not find features for utterance {u}")
                        continue
                    st = stats_of(u, table[u], tot)
                    if st is not None:
                        tot = st
                if tot is None:
                    log.warning(f"No stats accumulated for speaker {spk}")
                else:
                    out.write(spk, tot)
                    n += 1
        else:
            for utt, m in read_table(feats, "matrix", what="feature rspecifier"):
                st = stats_of(utt, m)
                if st is not None:
                    out.write(utt, st)
                    n += 1
    log.info(f"Wrote CMVN stats for {n} {'speakers' if spk2utt else 'utterances'}")
    return n


def _tables_or_files(tool: str, inp: str, out: str) -> bool:
    """True if both arguments are tables, False if both are files; else one clear error."""
    in_table, out_table = is_rspecifier(inp), is_wspecifier(out)
    if in_table != out_table:
        raise UserError(f"{tool}: both arguments must be tables (rspecifier and wspecifier) or both "
                        f"files (rxfilename and wxfilename); got '{inp}' and '{out}'")
    return in_table


def copy_feats(inp: str, out: str, *, binary: bool = True, compression_method: int | None = None,
               write_num_frames: str | None = None) -> int:
    """copy-feats: a feature table (rspecifier -> wspecifier) or one matrix file (rx -> wxfilename).
    compression_method 1-7 (Kaldi's CompressionMethod) compresses, None does not; write_num_frames:
    wspecifier of each utterance's frame count (tables only). Returns the number of matrices copied."""
    log = get_logger("copy-feats")
    if compression_method is not None and not 1 <= compression_method <= 7:
        raise UserError(f"invalid --compression-method={compression_method} (1 through 7)")
    if not _tables_or_files("copy-feats", inp, out):
        if write_num_frames:
            raise UserError("--write-num-frames is only applicable when writing tables")
        m = read_matrix_file(inp, what="features")
        write_output_bytes(out, object_bytes(m, "matrix", binary, compress=compression_method))
        log.info(f"Copied features from {inp} to {out}")
        return 1
    n = 0
    nf = TableWriter(write_num_frames, "int32", what="--write-num-frames") if write_num_frames else None
    try:
        with TableWriter(out, "matrix", compress=compression_method, what="feature wspecifier") as w:
            for utt, m in read_table(inp, "matrix", what="feature rspecifier"):
                w.write(utt, m)
                if nf is not None:
                    nf.write(utt, m.shape[0])
                n += 1
    except BaseException:
        if nf is not None:
            nf.abort()
        raise
    if nf is not None:
        nf.close()
    log.info(f"Copied {n} feature matrices.")
    return n


def transform_matrix(m: np.ndarray, *, scale: float = 1.0, apply_log: bool = False, apply_exp: bool = False,
                     apply_softmax_per_row: bool = False, apply_power: float = 1.0) -> np.ndarray:
    """copy-matrix's operations, in its order: scale, log (floored at 1e-20), exp, row softmax, power."""
    m = np.asarray(m, dtype=np.float32)
    if scale != 1.0:
        m = (m * np.float32(scale)).astype(np.float32)
    if apply_log:
        m = np.log(np.maximum(m, np.float32(1e-20))).astype(np.float32)
    if apply_exp:
        m = np.exp(m).astype(np.float32)
    if apply_softmax_per_row:
        e = np.exp(m - m.max(axis=1, keepdims=True))
        m = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    if apply_power != 1.0:
        m = np.power(m, np.float32(apply_power)).astype(np.float32)
    return m


def copy_matrix(inp: str, out: str, *, binary: bool = True, scale: float = 1.0, apply_log: bool = False,
                apply_exp: bool = False, apply_softmax_per_row: bool = False, apply_power: float = 1.0) -> int:
    """copy-matrix: a matrix table or one matrix file, with `transform_matrix`'s operations applied.
    Returns the number of matrices copied."""
    log = get_logger("copy-matrix")
    ops = dict(scale=scale, apply_log=apply_log, apply_exp=apply_exp, apply_softmax_per_row=apply_softmax_per_row,
               apply_power=apply_power)
    if not _tables_or_files("copy-matrix", inp, out):
        write_matrix_file(out, transform_matrix(read_matrix_file(inp), **ops), binary=binary)
        log.info(f"Copied matrix to {out}")
        return 1
    n = 0
    with TableWriter(out, "matrix", what="matrix wspecifier") as w:
        for k, m in read_table(inp, "matrix", what="matrix rspecifier"):
            w.write(k, transform_matrix(m, **ops))
            n += 1
    log.info(f"Copied {n} matrices.")
    return n
