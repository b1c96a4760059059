"""Viterbi beam decoding of per-pdf log-likelihoods over an HCLG graph (Kaldi `decode-faster` /
`nnet-latgen-faster` best path), with kaldi-hmm-gmm's `FasterDecoder`.

kaldi-hmm-gmm's decoders take a `DecodableInterface`; its only decodable that accepts an arbitrary
score matrix is `DecodableCtc(M)`, which returns `M[t, index - 1]` for the 1-based `index` the
decoder asks for — here a transition-id (HCLG's input labels). So the per-pdf scores are expanded
to one column per transition-id, `M[:, tid - 1] = acwt * loglike[:, pdf(tid)]`, and that matrix is
the decodable: the same scores Kaldi's `DecodableAmNnet` gives (`src/nnet2/decodable-am-nnet.h`,
Kaldi `src/nnet2/decodable-am-nnet.h`). (kaldi-decoder's decoders cannot take kaldi-hmm-gmm's decodables: the two packages' Python objects are not interchangeable.)

DNN pseudo-log-likelihoods are `log max(posterior, 1e-20) - log prior` (`DecodableAmNnet`, `src/nnet2/decodable-am-nnet.h`), computed here
from posteriors and priors (`pseudo_loglikes`) rather than with `nnet-am-compute
--divide-by-priors=true --apply-log=true`, which renormalises each row (`src/nnet2bin/nnet-am-compute.cc`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import kaldi_hmm_gmm as khg
import kaldifst
import numpy as np

from nnet2 import _core
from nnet2.decode.graph import Graph
from nnet2.decode.score import compute_wer, read_text, score_texts
from nnet2.feat.make_feats import load_cmvn_feats
from nnet2.gmm.mono import load_mono_model
from nnet2.io.kaldi_io import KaldiReader
from nnet2.io.table import read_table_dict
from nnet2.nnet.model import load_model
from nnet2.utils.errors import DataError, UserError
from nnet2.utils.fileio import atomic_path
from nnet2.utils.log import get_logger
from nnet2.utils.options import opt

log = get_logger("decode")


@dataclass
class DecodeOptions:
    """Options of `decode_dir` (and `nnet2 decode`); defaults of Kaldi's steps/nnet2/decode.sh."""

    acwt: float = opt(0.1, "acoustic scale applied to the log-likelihoods")
    beam: float = opt(15.0, "decoding beam")
    max_active: int = opt(7000, "most active states per frame")
    min_active: int = opt(200, "fewest active states per frame")
    word_ins_penalty: float = opt(0.0, "extra cost per word, on top of the graph's own")


@dataclass
class DecodeResult:
    """Best path of one utterance: `words` (word ids), `alignment` (transition-ids, length T),
    `graph_cost` and `acoustic_cost` (the latter already scaled by acwt), `reached_final`."""

    words: list[int]
    alignment: list[int]
    graph_cost: float
    acoustic_cost: float
    reached_final: bool


def pseudo_loglikes(post: np.ndarray, priors: np.ndarray, utt: str = "utterance") -> np.ndarray:
    """float32 [T, num_pdfs] = log(max(post, 1e-20)) - log(priors), as DecodableAmNnet.
    `post` [T, num_pdfs] (softmax outputs), `priors` [num_pdfs] (positive)."""
    post = np.asarray(post, dtype=np.float64)
    priors = np.asarray(priors, dtype=np.float64).ravel()
    if post.ndim != 2 or post.shape[1] != priors.shape[0]:
        raise DataError(f"utterance '{utt}': posteriors of shape {post.shape} do not match "
                        f"{priors.shape[0]} priors")
    if not np.all(priors > 0):
        raise DataError(f"priors: entry {int(np.argmin(priors))} is not positive")
    return (np.log(np.maximum(post, 1e-20)) - np.log(priors)).astype(np.float32)


def check_loglikes(loglikes, num_pdfs: int, utt: str) -> np.ndarray:
    """float32 [T, num_pdfs] or DataError naming the utterance."""
    m = np.asarray(loglikes)
    if m.ndim != 2 or m.shape[0] == 0:
        raise DataError(f"utterance '{utt}': log-likelihoods must be a non-empty matrix [frames, "
                        f"{num_pdfs}], got shape {m.shape}")
    if m.shape[1] != num_pdfs:
        raise DataError(f"utterance '{utt}': log-likelihoods have {m.shape[1]} columns, the graph's "
                        f"model has {num_pdfs} pdfs")
    if not np.all(np.isfinite(m)):
        bad = int(np.argwhere(~np.isfinite(m))[0, 0])
        raise DataError(f"utterance '{utt}': NaN/Inf log-likelihood at frame {bad}")
    return m.astype(np.float32, copy=False)


def expand_to_tids(loglikes: np.ndarray, tid2pdf: np.ndarray, acwt: float) -> np.ndarray:
    """float32 C-contiguous [T, num_tids]: column tid-1 = acwt * loglikes[:, pdf(tid)].
    `loglikes` [T, num_pdfs]; `tid2pdf` [num_tids] (entry i = pdf of transition-id i+1)."""
    return np.ascontiguousarray(np.float32(acwt) * np.asarray(loglikes, np.float32)[:, tid2pdf])


class Decoder:
    """A FasterDecoder over one graph, reused across utterances.

    `fst`: HCLG (kaldifst.StdVectorFst, input labels transition-ids); `tid2pdf` [num_tids];
    `num_pdfs`: columns expected of the log-likelihoods (default max(tid2pdf) + 1)."""

    def __init__(self, fst, tid2pdf: np.ndarray, beam: float = 15.0, max_active: int = 7000,
                 min_active: int = 200, num_pdfs: int | None = None):
        if beam <= 0:
            raise UserError(f"--beam must be positive, got {beam}")
        self.fst = fst  # the decoder keeps a reference only on the C++ side
        self.tid2pdf = np.asarray(tid2pdf, dtype=np.int64)
        self.num_pdfs = int(self.tid2pdf.max()) + 1 if num_pdfs is None else num_pdfs
        o = khg.FasterDecoderOptions()
        o.beam, o.max_active, o.min_active = float(beam), int(max_active), int(min_active)
        self.dec = khg.FasterDecoder(fst, o)

    def decode(self, loglikes: np.ndarray, acwt: float, utt: str = "utterance") -> DecodeResult:
        """Best path for `loglikes` [T, num_pdfs] (per-pdf log-likelihoods, unscaled)."""
        m = expand_to_tids(check_loglikes(loglikes, self.num_pdfs, utt), self.tid2pdf, acwt)
        self.dec.decode(khg.DecodableCtc(m))
        final = bool(self.dec.reached_final())
        ok, lat = self.dec.get_best_path(use_final_probs=True)
        if not ok or lat.num_states == 0:
            log.warning(f"utterance '{utt}': no surviving path (beam too small?); empty output")
            return DecodeResult([], [], float("inf"), float("inf"), False)
        if not final:
            log.warning(f"utterance '{utt}': no final state reached; using the best partial path")
        ok, tids, words, w = kaldifst.get_linear_symbol_sequence(lat)
        return DecodeResult(list(words), list(tids), float(w.value1), float(w.value2), final)


def decode_utterance(graph, loglikes: np.ndarray, tid2pdf: np.ndarray, acwt: float = 0.1,
                     beam: float = 15.0, max_active: int = 7000, utt: str = "utterance") -> list[int]:
    """Word ids of the best path of `graph` (HCLG fst, or a `Graph`) for `loglikes` [T, num_pdfs]."""
    dec = Decoder(getattr(graph, "fst", graph), tid2pdf, beam, max_active)
    return dec.decode(loglikes, acwt, utt).words


# ------------------------------------------------------------------------------------------------
# Sources of log-likelihoods

def read_matrices(rspecifier: str) -> dict[str, np.ndarray]:
    """{utt: matrix} from a Kaldi rspecifier (`ark:file`, `scp:file`, `ark:cmd |`, `ark:-`)."""
    return read_table_dict(rspecifier, "matrix", what="log-likelihoods rspecifier")


def read_priors(path: str) -> np.ndarray:
    """Priors vector [num_pdfs] from `.npy`, Kaldi text vector (`[ a b ... ]`) or whitespace floats."""
    try:
        if path.endswith(".npy"):
            return np.load(path).astype(np.float64).ravel()
        with open(path, "rb") as f:
            raw = f.read()
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read priors {path}: {e}") from None
    if raw.startswith(b"\0B"):
        r = KaldiReader(raw, name=path)
        if r.peek_token()[1:2] == "M":
            return r.read_matrix(np.float64, what="priors").ravel()
        return r.read_vector(np.float64, what="priors")
    try:
        return np.array(raw.decode().replace("[", " ").replace("]", " ").split(), dtype=np.float64)
    except ValueError:
        raise DataError(f"priors {path}: not a vector of numbers") from None


def gmm_loglikes(am, feats: np.ndarray) -> np.ndarray:
    """float64 [T, num_pdfs]: log p(x_t | pdf) of a kaldi_hmm_gmm.AmDiagGmm for `feats` [T, D]
    (Kaldi's DiagGmm::LogLikelihoods: gconst + x·(μ/σ²) - ½ x²·(1/σ²), log-sum-exp over Gaussians)."""
    x = np.asarray(feats, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != am.dim:
        raise DataError(f"features of shape {x.shape} do not match the GMM dimension {am.dim}")
    out = np.empty((x.shape[0], am.num_pdfs))
    x2 = x * x
    for p in range(am.num_pdfs):
        g = am.get_pdf(p)
        ll = (np.asarray(g.gconsts, np.float64)[None] + x @ np.asarray(g.means_invvars, np.float64).T
              - 0.5 * x2 @ np.asarray(g.inv_vars, np.float64).T)
        mx = ll.max(1, keepdims=True)
        out[:, p] = (mx + np.log(np.exp(ll - mx).sum(1, keepdims=True)))[:, 0]
    return out


def gmm_loglikes_for_data(model_dir: str, data_dir: str) -> dict[str, np.ndarray]:
    """{utt: float32 [T, num_pdfs]} GMM log-likelihoods of every utterance of `data_dir`, with the
    feature pipeline the model was trained on (`cmvn_opts`, `deltas` of `model_dir`)."""
    sysm = load_mono_model(model_dir)

    def flag(name, default):
        p = os.path.join(model_dir, name)
        return open(p).read().strip().split("=")[-1] == "true" if os.path.exists(p) else default

    norm_vars, deltas = flag("cmvn_opts", False), flag("deltas", True)
    return {u: gmm_loglikes(sysm.am, f).astype(np.float32)
            for u, f in load_cmvn_feats(data_dir, norm_vars=norm_vars, deltas=deltas)}


def dnn_loglikes_for_data(model_path: str, data_dir: str, norm_vars: bool = False,
                          threads: int = 0) -> dict[str, np.ndarray]:
    """{utt: float32 [T, num_pdfs]} pseudo-log-likelihoods log p(pdf|x) - log prior(pdf) of an nnet2
    .mdl (with priors) for the per-speaker-CMVN'd features of `data_dir` (the pipeline the egs of
    the recipes use)."""
    if threads > 0:
        _core.set_num_threads(threads)
    m = load_model(model_path)
    priors = np.asarray(m.priors, np.float64)
    if priors.size == 0:
        raise UserError(f"{model_path} has no priors (train to the end, which estimates them)")
    return {u: pseudo_loglikes(m.nnet.compute_utterance(f), priors, u)
            for u, f in load_cmvn_feats(data_dir, norm_vars=norm_vars)}


def load_scores(source: str, data_dir: str | None = None) -> dict[str, np.ndarray]:
    """{utt: [T, num_pdfs]} from `source`: a Kaldi rspecifier of per-pdf scores (`ark:...`,
    `scp:...`), a GMM model dir (with final.mdl, from `train_mono_and_align`) or an nnet2 `.mdl`
    file, whose log-likelihoods are computed for the features of `data_dir`."""
    if os.path.isfile(source) and ":" not in source:
        if data_dir is None:
            raise UserError(f"decoding with the network {source} needs --data DATA_DIR (features)")
        return dnn_loglikes_for_data(source, data_dir)
    if os.path.isdir(source):
        if not os.path.exists(os.path.join(source, "final.mdl")):
            raise DataError(f"{source}: a directory without final.mdl (expected a GMM model dir, "
                            "or give an ark:/scp: rspecifier of log-likelihoods)")
        if data_dir is None:
            raise UserError(f"decoding with the GMM in {source} needs --data DATA_DIR (features)")
        return gmm_loglikes_for_data(source, data_dir)
    return read_matrices(source)


# ------------------------------------------------------------------------------------------------
# Whole sets

def write_text(path: str, hyps: dict[str, list[str]]) -> None:
    """Kaldi text (`utt w1 w2 ...`, C-sorted; an empty hypothesis is the bare key), atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.writelines(" ".join([u, *hyps[u]]) + "\n" for u in sorted(hyps, key=lambda k: k.encode("utf-8")))


def decode_set(graph, loglikes: dict[str, np.ndarray], o: DecodeOptions | None = None,
               utts: list[str] | None = None, priors: np.ndarray | None = None,
               fst=None) -> tuple[dict[str, list[str]], dict]:
    """Decode `utts` (default: all keys of `loglikes`) with a loaded `Graph`.

    `loglikes` {utt: [T, num_pdfs]} are log-likelihoods, or posteriors when `priors` [num_pdfs] is
    given. `fst` overrides graph.fst (e.g. a penalised copy). Every utterance is checked before any
    is decoded. Returns ({utt: [word, ...]}, stats)."""
    o = o or DecodeOptions()
    utts = sorted(loglikes, key=lambda k: k.encode("utf-8")) if utts is None else list(utts)
    mats = {}
    for u in utts:
        if u not in loglikes:
            raise DataError(f"utterance '{u}' has no log-likelihoods")
        m = loglikes[u]
        if priors is not None:
            m = pseudo_loglikes(m, priors, u)
        mats[u] = check_loglikes(m, graph.num_pdfs, u)
    if fst is None:
        fst = graph.with_penalty(o.word_ins_penalty)
    dec = Decoder(fst, graph.tid2pdf, o.beam, o.max_active, o.min_active, graph.num_pdfs)
    hyps, partial, frames, t0 = {}, 0, 0, time.time()
    for u in utts:
        r = dec.decode(mats[u], o.acwt, u)
        partial += not r.reached_final
        frames += mats[u].shape[0]
        hyps[u] = graph.words_of(r.words)
    secs = time.time() - t0
    return hyps, {"utterances": len(utts), "frames": frames, "not_final": partial,
                  "seconds": secs, "frames_per_second": frames / max(secs, 1e-9)}


def decode_dir(graph_dir: str, loglikes: dict[str, np.ndarray] | str, out_dir: str,
               o: DecodeOptions | None = None, ref_text: str | None = None,
               priors: np.ndarray | str | None = None) -> dict:
    """Decode a set and write `out_dir/hyp.txt` (Kaldi text) atomically.

    `loglikes`: {utt: [T, num_pdfs]} or a Kaldi rspecifier of such matrices (posteriors instead
    when `priors` — an array or a file — is given). With `ref_text` (a Kaldi text file) every
    reference utterance must have log-likelihoods, only those are decoded, and the WER is written
    to `out_dir/wer` (compute-wer format) and `out_dir/per_utt`. Returns stats (+ "wer")."""
    o = o or DecodeOptions()
    g = Graph(graph_dir)
    src = loglikes
    if isinstance(loglikes, str):
        loglikes = read_matrices(loglikes)
    if isinstance(priors, str):
        priors = read_priors(priors)
    utts = None
    if ref_text is not None:
        refs = read_text(ref_text)
        missing = [u for u in refs if u not in loglikes]
        if missing:
            where = src if isinstance(src, str) else "the log-likelihoods"
            raise DataError(f"utterance '{missing[0]}' of {ref_text} is missing from {where} "
                            f"({len(missing)} missing)")
        utts = list(refs)
    hyps, stats = decode_set(g, loglikes, o, utts, priors)
    os.makedirs(out_dir, exist_ok=True)
    write_text(os.path.join(out_dir, "hyp.txt"), hyps)
    log.info(f"decoded {stats['utterances']} utterances ({stats['frames']} frames, "
             f"{stats['frames_per_second']:.0f} frames/s) -> {out_dir}/hyp.txt")
    if ref_text is not None:
        res = score_texts(ref_text, os.path.join(out_dir, "hyp.txt"))
        res.write(out_dir)
        stats["wer"] = res.wer  # printed by `nnet2 decode` (stdout), not logged a second time
    return stats


def tune(graph, loglikes: dict[str, np.ndarray], refs: dict[str, list[str]],
         acwts=(0.05, 0.075, 0.1, 0.125, 0.15, 0.2), penalties=(-1.0, -0.5, 0.0, 0.5, 1.0, 2.0),
         beam: float = 15.0, priors: np.ndarray | None = None) -> dict:
    """Grid search of acoustic scale x word insertion penalty on a *dev* set (never test).

    `graph`: a loaded `Graph`; `loglikes` {utt: [T, num_pdfs]} (posteriors if `priors` given);
    `refs` {utt: [word, ...]}. Ties go to the smaller |penalty|, then the acwt nearest 0.1.
    Returns {"acwt", "word_ins_penalty", "wer", "table": [(acwt, penalty, wer%), ...]}."""
    if not refs:
        raise DataError("tune: empty dev set")
    table = []
    utts = list(refs)
    for p in penalties:
        fst = graph.with_penalty(p)
        for a in acwts:
            hyps, _ = decode_set(graph, loglikes, DecodeOptions(acwt=a, beam=beam), utts, priors, fst=fst)
            table.append((float(a), float(p), compute_wer(refs, hyps).wer))
    best = min(table, key=lambda t: (round(t[2], 6), abs(t[1]), abs(t[0] - 0.1)))
    log.info(f"tuned on {len(utts)} dev utterances: acwt {best[0]}, word_ins_penalty {best[1]} "
             f"-> WER {best[2]:.2f}%")
    return {"acwt": best[0], "word_ins_penalty": best[1], "wer": best[2], "table": table}
