"""Flat-start monophone GMM-HMM training and forced alignment with kaldi-hmm-gmm (Kaldi
`steps/train_mono.sh` + `steps/align_si.sh`, monophone only).

Flow: features = per-speaker CMN'd MFCC + deltas (Kaldi's `apply-cmvn | add-deltas`);
`gmm-init-mono` (every pdf = one Gaussian with the global mean/variance) -> training graphs from
the transcripts (TrainingGraphCompiler over the lexicon FST with optional silence) ->
`align-equal-compiled` -> EM passes: accumulate (`gmm-acc-stats-ali`), ML update of GMMs and
transitions with Gaussian splitting towards `tot_gauss` (`gmm-est --mix-up`), Viterbi realignment
on `realign_iters` (`gmm-align-compiled`, acoustic scale 0.1, self-loop scale 0.1). A final pass
aligns every utterance with the final model.

Outputs in `out_dir`: `final.mdl` (Kaldi text: TransitionModel + AmDiagGmm), `tree` (Kaldi binary
ContextDependency), `topo`, `phones.txt`, `words.txt`, `ali.1.gz` (gzipped binary int32-vector archive
of transition-ids, one per frame), `num_jobs`, `trans_stats.npy` (transition accumulators of each
update, so `load_mono_model` rebuilds the exact TransitionModel), `cmvn_opts`, `deltas`.
"""

from __future__ import annotations

import heapq
import os
import shutil
from dataclasses import dataclass

import kaldi_hmm_gmm as khg
import kaldifst
import numpy as np

from nnet2.data.alignments import read_alignments as read_ali_archive, write_ali
from nnet2.data.datadir import load_word_boundaries, validate_data_dir
from nnet2.feat.make_feats import load_cmvn_feats, progress
from nnet2.gmm.lang import Lang
from nnet2.io.gmm_text import am_diag_gmm_text, parse_am_diag_gmm_text  # noqa: F401 (re-exported)
from nnet2.utils.errors import DataError, ModelFormatError
from nnet2.utils.fileio import atomic_path, write_bytes_atomic
from nnet2.utils.log import get_logger
from nnet2.utils.options import opt

log = get_logger("gmm")


@dataclass
class MonoOptions:
    """Options of `train_mono_and_align` (defaults from Kaldi's steps/train_mono.sh)."""

    num_iters: int = opt(40, "number of EM passes")
    max_iter_inc: int = opt(30, "last pass that increases the number of Gaussians")
    tot_gauss: int = opt(1000, "target total number of Gaussians")
    realign_iters: str = opt("1 2 3 4 5 6 7 8 9 10 12 14 16 18 20 23 26 29 32 35 38",
                             "passes before which the data is realigned")
    beam: float = opt(6.0, "Viterbi alignment beam")
    retry_beam: float = opt(40.0, "beam for a second try when alignment fails")
    acoustic_scale: float = opt(0.1, "acoustic scale in alignment")
    transition_scale: float = opt(1.0, "transition-probability scale in alignment")
    self_loop_scale: float = opt(0.1, "self-loop scale in alignment")
    power: float = opt(0.25, "exponent of the state occupancy when allocating Gaussians")
    perturb_factor: float = opt(0.01, "mean perturbation (x stddev) when splitting Gaussians")
    min_gaussian_occupancy: float = opt(3.0, "skip updating Gaussians with less occupancy (frames)")
    deltas: bool = opt(True, "append delta and delta-delta features (add-deltas)")
    norm_vars: bool = opt(False, "variance normalization in CMVN (Kaldi GMM recipes: false)")
    seed: int = opt(3, "seed of the equal alignment and of the Gaussian splits")


def _feats(data_dir: str, o: MonoOptions) -> dict[str, np.ndarray]:
    return dict(load_cmvn_feats(data_dir, norm_vars=o.norm_vars, deltas=o.deltas))


def _triples(tm) -> list[tuple[int, int, int]]:
    """(phone, hmm_state, pdf) of each transition state (1-based -> index+1), from Kaldi text."""
    s = str(tm)
    i, j = s.find("<Triples>"), s.find("</Triples>")
    if i < 0:
        i, j = s.find("<Tuples>"), s.find("</Tuples>")
    toks = s[i:j].split()[2:]
    width = 3 if "<Triples>" in s else 4
    return [tuple(int(v) for v in toks[k:k + 3]) for k in range(0, len(toks), width)]


class MonoSystem:
    """HmmTopology + monophone ContextDependency + TransitionModel + AmDiagGmm, and the lang."""

    def __init__(self, lang: Lang, topo, tree, tm, am):
        self.lang, self.topo, self.tree, self.tm, self.am = lang, topo, tree, tm, am
        tr = _triples(tm)
        id2state = list(tm.id2state)
        self.tid_phone = np.array([0] + [tr[id2state[t] - 1][0] for t in range(1, tm.num_transition_ids + 1)])
        self.tid_hmm_state = np.array([0] + [tr[id2state[t] - 1][1] for t in range(1, tm.num_transition_ids + 1)])
        self._gc = None

    def graph_compiler(self):
        if self._gc is None:
            self._gc = khg.TrainingGraphCompiler(self.tm, self.tree, self.lang.lexicon_fst(), [],
                                                 khg.TrainingGraphCompilerOptions())
        return self._gc

    def align(self, utt: str, graph, feats: np.ndarray, o: MonoOptions):
        """Viterbi alignment -> list of transition-ids (len T), or None when it fails."""
        g = graph.copy()
        khg.add_transition_probs(trans_model=self.tm, transition_scale=o.transition_scale,
                                 self_loop_scale=o.self_loop_scale, fst=g)
        dec = khg.DecodableAmDiagGmmScaled(self.am, self.tm, feats, o.acoustic_scale)
        cfg = khg.AlignConfig()
        cfg.beam, cfg.retry_beam, cfg.careful = o.beam, o.retry_beam, False
        done, err, _retried, _like, _frames, ali, _words = khg.align_utterance_wrapper(
            cfg, utt, o.acoustic_scale, g, dec, 0, 0, 0, 0.0, 0)
        if done != 1 or len(ali) != feats.shape[0]:
            return None
        return list(ali)

    def phone_instances(self, ali) -> list[tuple[int, int, int]]:
        """Split an alignment into phone instances: [(phone, first_frame, end_frame), ...].
        A new instance starts where the phone changes or the HMM state goes back (the same
        non-silence phone twice in a row, e.g. "nine nine")."""
        ali = np.asarray(ali)
        ph, st = self.tid_phone[ali], self.tid_hmm_state[ali]
        out, start = [], 0
        for t in range(1, len(ali) + 1):
            if t == len(ali) or ph[t] != ph[t - 1] or (st[t] < st[t - 1] and ph[t] not in self.lang.silence_phones):
                out.append((int(ph[start]), start, t))
                start = t
        return out

    def frame_words(self, ali, word_ids: list[int]) -> np.ndarray:
        """Per-frame word index (0..W-1 into `word_ids`) or -1 for silence, from an alignment."""
        insts = [p for p in self.phone_instances(ali)]
        lab = np.full(len(ali), -1, dtype=np.int64)
        k = 0
        for wi, w in enumerate(word_ids):
            for p in self.lang.prons[w]:
                while k < len(insts) and insts[k][0] in self.lang.silence_phones:
                    k += 1
                if k >= len(insts) or insts[k][0] != p:
                    raise DataError(f"alignment does not follow the transcript at word {wi}")
                lab[insts[k][1]:insts[k][2]] = wi
                k += 1
        return lab


def _init_mono(lang: Lang, feats: dict[str, np.ndarray]) -> MonoSystem:
    topo = lang.topology()
    tree = khg.monophone_context_dependency(topo.phones, topo.get_phone_to_num_pdf_classes())
    tm = khg.TransitionModel(tree, topo)
    x = np.concatenate(list(feats.values())).astype(np.float64)
    mean, var = x.mean(0), np.maximum(x.var(0), 1e-3)
    g = khg.DiagGmm(1, x.shape[1])
    g.set_weights(np.ones(1, np.float32))
    g.set_means(mean[None].astype(np.float32))
    g.set_invvars((1.0 / var)[None].astype(np.float32))
    g.compute_gconsts()
    am = khg.AmDiagGmm()
    for _ in range(tree.num_pdfs):
        am.add_pdf(g)
    return MonoSystem(lang, topo, tree, tm, am)


def _accumulate(sysm: MonoSystem, feats, alis):
    acc = khg.AccumAmDiagGmm()
    acc.init(sysm.am, int(khg.GmmUpdateFlags.kGmmAll))
    tstats = sysm.tm.init_stats()
    like = 0.0
    t2p = np.array(sysm.tm.transition_id_to_pdf_array())
    for u, ali in alis.items():
        f = feats[u]
        pdfs = t2p[np.asarray(ali)]
        for t, tid in enumerate(ali):
            tstats = sysm.tm.accumulate(1.0, int(tid), tstats)
            like += acc.accumulate_for_gmm(sysm.am, f[t], int(pdfs[t]), 1.0)
    return acc, tstats, like


def split_targets(state_occs: np.ndarray, target_components: int, power: float, min_count: float) -> list[int]:
    """Kaldi's GetSplitTargets (`src/gmm/am-diag-gmm.cc`): Gaussians per pdf, growing the pdf with the
    largest occ**power / #Gauss one at a time until `target_components`; a pdf stops growing when
    (#Gauss + 1) * min_count >= its occupancy. Ties of Kaldi's priority queue go to the lower pdf index."""
    occ = [float(np.float32(np.float32(o) ** np.float32(power))) for o in state_occs]
    num = [1] * len(occ)
    alive = [o for o in occ]
    heap = [(-alive[i] / (1 + 1.0e-10), i) for i in range(len(occ))]
    heapq.heapify(heap)
    total = len(occ)
    while total < target_components and heap:
        _, i = heapq.heappop(heap)
        if alive[i] == 0:
            break  # the best remaining pdf may not split: nothing can (Kaldi warns and stops)
        if (num[i] + 1) * min_count >= float(state_occs[i]):
            alive[i] = 0.0
        else:
            num[i] += 1
            total += 1
        heapq.heappush(heap, (-alive[i] / (num[i] + 1.0e-10), i))
    return num


def split_gmm(g, target: int, perturb_factor: float, rng: np.random.Generator) -> None:
    """Kaldi's DiagGmm::Split (`src/gmm/diag-gmm.cc`) with its RandGauss() draws taken from `rng`:
    repeatedly halve the heaviest component (first of equals) and move the two copies' means apart by
    +-perturb_factor * N(0, 1) standard deviations. kaldi-hmm-gmm's own split seeds its generator from
    std::random_device, which made `align-mono` differ between runs with the same seed."""
    w = np.array(g.weights, dtype=np.float32)
    mi = np.array(g.means_invvars, dtype=np.float32)
    iv = np.array(g.inv_vars, dtype=np.float32)
    n, dim = mi.shape
    w = np.concatenate([w, np.zeros(target - n, np.float32)])
    mi = np.concatenate([mi, np.zeros((target - n, dim), np.float32)])
    iv = np.concatenate([iv, np.zeros((target - n, dim), np.float32)])
    pf = np.float32(perturb_factor)
    for cur in range(n, target):
        k = int(np.argmax(w[:cur]))
        w[k] /= np.float32(2)
        w[cur] = w[k]
        r = rng.standard_normal(dim).astype(np.float32) * np.sqrt(iv[k])
        iv[cur] = iv[k]
        mi[cur] = mi[k] + pf * r
        mi[k] = mi[k] - pf * r
    g.resize(target, dim)
    g.set_weights(w)
    g.set_invvars_and_means(iv, mi / iv)
    g.compute_gconsts()


def split_by_count(am, state_occs: np.ndarray, target_components: int, perturb_factor: float, power: float,
                   min_count: float, rng: np.random.Generator) -> None:
    """Kaldi's AmDiagGmm::SplitByCount, seeded (see `split_gmm`)."""
    targets = split_targets(state_occs, target_components, power, min_count)
    for i, t in enumerate(targets):
        g = am.get_pdf(i)
        if g.num_gauss < t:
            split_gmm(g, t, perturb_factor, rng)


def _update(sysm: MonoSystem, acc, tstats, o: MonoOptions, num_gauss: int, rng: np.random.Generator) -> None:
    tcfg = khg.MleTransitionUpdateConfig()
    sysm.tm.mle_update(tstats, tcfg)
    gopts = khg.MleDiagGmmOptions()
    gopts.min_gaussian_occupancy = o.min_gaussian_occupancy
    khg.mle_am_diag_gmm_update(gopts, acc, int(khg.GmmUpdateFlags.kGmmAll), sysm.am)
    occs = np.array([acc.get_acc(i).occupancy.sum() for i in range(acc.num_accs)], dtype=np.float32)
    if num_gauss > sysm.am.num_gauss:
        split_by_count(sysm.am, occs, num_gauss, o.perturb_factor, o.power, 20.0, rng)


def train_mono_and_align(data_dir: str, lang_dir: str, out_dir: str, o: MonoOptions | None = None,
                         ) -> dict:
    """Train a monophone system on `data_dir` (needs feats.scp, cmvn.scp, text) and write it and the
    final alignments to `out_dir`. Returns a summary (frames, utterances aligned/failed, log-like,
    and frame accuracy vs `word_boundaries.json` when the data dir has one)."""
    o = o or MonoOptions()
    lang = Lang(lang_dir)

    d = validate_data_dir(data_dir, need_text=True, need_feats=True, need_wav=False)
    feats = _feats(data_dir, o)
    sysm = _init_mono(lang, feats)
    gc = sysm.graph_compiler()
    graphs, wids = {}, {}
    for u in d.utts:
        wids[u] = lang.word_ids(d.text[u], u)
        graphs[u] = gc.compile_graph_from_text(wids[u])
    alis, failed = {}, []
    sil_word = lang.words.get("!SIL")
    for u in d.utts:
        # The flat start pins silence at both ends: with only optional silence, the equal alignment
        # rarely picks it, the silence model starts untrained and words swallow the pauses.
        g0 = graphs[u] if sil_word is None else gc.compile_graph_from_text([sil_word] + wids[u] + [sil_word])
        ok, af = kaldifst.equal_align(g0, feats[u].shape[0], o.seed, 10)
        if ok:
            ok, seq, _osym, _w = kaldifst.get_linear_symbol_sequence(af)
        if not ok:
            failed.append(u)
            continue
        alis[u] = list(seq)
    if failed:
        log.warning(f"equal alignment failed for {len(failed)} utterances (too short for their "
                    f"transcript), e.g. {failed[0]}; they are skipped")
    num_gauss = sysm.am.num_gauss
    inc = max(0, (o.tot_gauss - num_gauss) // max(1, o.max_iter_inc))
    realign = {int(v) for v in o.realign_iters.split()}
    all_tstats = []
    rng = np.random.default_rng([o.seed, 1])  # the Gaussian splits' perturbations
    acc, tstats, like = _accumulate(sysm, feats, alis)
    _update(sysm, acc, tstats, o, num_gauss, rng)
    all_tstats.append(np.asarray(tstats, dtype=np.float64).ravel())
    for it in progress(range(1, o.num_iters), desc="mono EM", total=o.num_iters - 1):
        if it in realign:
            alis, failed = _align_all(sysm, graphs, feats, d.utts, o)
        acc, tstats, like = _accumulate(sysm, feats, alis)
        nfr = sum(len(a) for a in alis.values())
        log.info(f"pass {it}: avg log-like per frame {like / max(1, nfr):.4f} over {nfr} frames, "
                 f"{sysm.am.num_gauss} Gaussians")
        if it <= o.max_iter_inc:
            num_gauss += inc
        _update(sysm, acc, tstats, o, num_gauss, rng)
        all_tstats.append(np.asarray(tstats, dtype=np.float64).ravel())
    alis, failed = _align_all(sysm, graphs, feats, d.utts, o)
    if failed:
        log.warning(f"{len(failed)} of {len(d.utts)} utterances failed to align and are skipped "
                    f"(e.g. {failed[0]})")
    write_mono_system(sysm, out_dir, np.stack(all_tstats), o)
    write_alignments(os.path.join(out_dir, "ali.1.gz"), alis)
    summary = {"utterances": len(d.utts), "aligned": len(alis), "failed": len(failed),
               "frames": int(sum(len(a) for a in alis.values())), "num_pdfs": sysm.am.num_pdfs,
               "num_gauss": sysm.am.num_gauss,
               "avg_loglike": float(like / max(1, sum(len(a) for a in alis.values())))}
    log.info(f"aligned {summary['aligned']} of {summary['utterances']} utterances ({summary['frames']} frames; "
             f"{summary['num_pdfs']} pdfs, {summary['num_gauss']} Gaussians, avg log-like per frame "
             f"{summary['avg_loglike']:.4f}) -> {out_dir}/ali.1.gz")
    if os.path.exists(os.path.join(data_dir, "word_boundaries.json")):
        summary["frame_accuracy"] = alignment_accuracy(sysm, data_dir, alis, wids)
        log.info(f"alignment frame accuracy vs true word boundaries: {summary['frame_accuracy']:.4f}")
    return summary


def _align_all(sysm, graphs, feats, utts, o):
    alis, failed = {}, []
    for u in utts:
        a = sysm.align(u, graphs[u], feats[u], o)
        if a is None:
            failed.append(u)
        else:
            alis[u] = a
    return alis, failed


def alignment_accuracy(sysm: MonoSystem, data_dir: str, alis: dict, wids: dict,
                       frame_shift: int = 80, frame_length: int = 200) -> float:
    """Fraction of frames whose aligned word (or silence) equals the true one; a frame's truth is
    the word whose sample span holds the frame's centre sample."""
    _rate, bounds = load_word_boundaries(data_dir)
    right = total = 0
    for u, ali in alis.items():
        hyp = sysm.frame_words(ali, wids[u])
        centre = np.arange(len(ali)) * frame_shift + frame_length // 2
        ref = np.full(len(ali), -1)
        for wi, (_w, s, e) in enumerate(bounds[u]):
            ref[(centre >= s) & (centre < e)] = wi
        right += int((hyp == ref).sum())
        total += len(ali)
    return right / max(1, total)


def write_alignments(path: str, alis: dict[str, list[int]]) -> None:
    """Gzipped binary Kaldi archive of int32 vectors (`BasicVectorHolder`, `src/util/kaldi-holder-inl.h`), keys in C order, atomically."""
    write_ali(path, {u: np.asarray(alis[u], dtype=np.int32)
                     for u in sorted(alis, key=lambda k: k.encode("utf-8"))}, gz=True)


def read_alignments(path: str) -> dict[str, np.ndarray]:
    return read_ali_archive(path)


def write_mono_system(sysm: MonoSystem, out_dir: str, trans_stats: np.ndarray, o: MonoOptions) -> None:
    os.makedirs(out_dir, exist_ok=True)
    write_bytes_atomic(os.path.join(out_dir, "final.mdl"),
                       (str(sysm.tm) + am_diag_gmm_text(sysm.am)).encode())
    write_bytes_atomic(os.path.join(out_dir, "topo"), sysm.lang.topo_text.encode())
    with atomic_path(os.path.join(out_dir, "tree")) as tmp:
        sysm.tree.write(True, tmp)
    with atomic_path(os.path.join(out_dir, "trans_stats.npy"), suffix=".npy") as tmp:
        np.save(tmp, trans_stats)
    for f in ("phones.txt", "words.txt", "L.txt"):
        shutil.copyfile(os.path.join(sysm.lang.dir, f), os.path.join(out_dir, f))
    write_bytes_atomic(os.path.join(out_dir, "num_jobs"), b"1\n")
    write_bytes_atomic(os.path.join(out_dir, "cmvn_opts"),
                       (f"--norm-vars={'true' if o.norm_vars else 'false'}\n").encode())
    write_bytes_atomic(os.path.join(out_dir, "deltas"), (f"{'true' if o.deltas else 'false'}\n").encode())


def load_mono_model(out_dir: str, lang_dir: str | None = None) -> MonoSystem:
    """Rebuild the HmmTopology, monophone ContextDependency, TransitionModel (transition
    probabilities replayed from trans_stats.npy; checked against final.mdl) and AmDiagGmm
    written by `train_mono_and_align`. `lang_dir` defaults to the copy of the lang files in out_dir."""
    mdl = os.path.join(out_dir, "final.mdl")
    try:
        text = open(mdl).read()
    except OSError as e:
        raise ModelFormatError(f"cannot read {mdl}: {e.strerror}") from None
    k = text.find("</TransitionModel>")
    if k < 0:
        raise ModelFormatError(f"{mdl}: no </TransitionModel> (not a text GMM model)")
    k = text.index("\n", k) + 1
    lang = _OutDirLang(out_dir) if lang_dir is None else Lang(lang_dir)
    topo = khg.HmmTopology()
    topo.read(open(os.path.join(out_dir, "topo")).read())
    tree = khg.monophone_context_dependency(topo.phones, topo.get_phone_to_num_pdf_classes())
    tm = khg.TransitionModel(tree, topo)
    cfg = khg.MleTransitionUpdateConfig()
    for st in np.load(os.path.join(out_dir, "trans_stats.npy")):
        tm.mle_update(st.reshape(-1, 1), cfg)
    if str(tm) != text[:k]:
        raise ModelFormatError(f"{mdl}: TransitionModel does not match the one rebuilt from "
                               f"{out_dir}/topo and trans_stats.npy")
    am = parse_am_diag_gmm_text(text[k:], mdl)
    return MonoSystem(lang, topo, tree, tm, am)


class _OutDirLang(Lang):
    """Lang files copied into an alignment dir (phones.txt, words.txt, topo, L.txt)."""
