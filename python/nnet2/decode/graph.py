"""Decoding graph for the digit task: HCLG = H ∘ C ∘ L ∘ G built as Kaldi's `utils/mkgraph.sh` does.

Construction (each step is the Kaldi one; all FSTs are OpenFst `StdVectorFst`s from kaldifst, which
kaldi-hmm-gmm 1.1.4 shares):

1. **G** — a digit-loop acceptor: state 0 --w--> 1 for every digit word w, state 1 --w--> 1, state 1
   final. So any sequence of >= 1 digits. Each word arc costs `log(num_digits)` (a uniform unigram)
   plus the word insertion penalty (a cost, so a positive value discourages insertions).
2. **L** — the lexicon FST of the lang dir (`L.txt`, `make_lexicon_fst.pl` with optional silence
   before and between words, sil-prob 0.5), so silence is optional around and between digits
   without G having to say so. The `!SIL` word of L cannot appear, since G never emits it.
3. **LG = min(det_log(L ∘ G))** (`fsttablecompose | fstdeterminizestar --use-log=true |
   fstminimizeencoded`). No disambiguation symbols are needed: no digit's pronunciation is a
   homophone or a prefix of another's, and G has no back-off arcs. (A lexicon that needs them
   would make determinization blow up; that is caught by `max_states` and reported.)
4. **C** — `kaldifst.compose_context` with context width 1 / central position 0, i.e. the identity
   for a monophone system; it still yields the `ilabel_info` list H needs.
5. **Ha** — `kaldi_hmm_gmm.get_h_transducer(ilabel_info, tree, trans_model, transition_scale)`:
   Kaldi's `GetHTransducer`, mapping each phone to its HMM's transition-ids, *without* self-loops,
   carrying the non-self-loop transition log-probabilities scaled by `transition_scale`.
6. **HCLGa = min(det_log(Ha ∘ CLG))**, then **HCLG = add_self_loops(HCLGa, self_loop_scale,
   reorder=true)** (Kaldi's `add-self-loops`), which adds each HMM state's self-loop with its
   log-probability times `self_loop_scale` and renormalises the forward transition accordingly.

Input labels of HCLG are transition-ids (1-based), output labels word ids (words.txt of the lang).

The word insertion penalty can also be applied after the fact (`add_word_penalty`): every path of
HCLG emits each of its words exactly once as a non-epsilon output label, so adding the penalty to
those arcs adds `num_words * penalty` to every path, exactly as the G arc cost does. Tuning uses this
to try many penalties on one graph.

Graph dir layout (Kaldi's `exp/<model>/graph`): `HCLG.fst` (OpenFst binary), `words.txt`,
`phones.txt`, `num_pdfs`, `tid2pdf.int` (one line: the pdf-id of transition-ids 1..N, what the
decoder needs to expand per-pdf log-likelihoods), `graph.json` (options used).
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import asdict, dataclass

import kaldi_hmm_gmm as khg
import kaldifst
import numpy as np

from nnet2.gmm.lang import Lang, read_symbols
from nnet2.gmm.mono import load_mono_model
from nnet2.utils.errors import DataError, UserError
from nnet2.utils.fileio import atomic_path, write_bytes_atomic
from nnet2.utils.log import get_logger
from nnet2.utils.options import opt

log = get_logger("decode")

# Symbols of words.txt that are not digits: never words of the grammar.
_NON_WORDS = {"<eps>", "!SIL", "#0", "<s>", "</s>", "<unk>", "<UNK>"}


@dataclass
class GraphOptions:
    """Options of `make_graph` (and `nnet2 make-graph`); defaults as Kaldi's mkgraph.sh."""

    word_ins_penalty: float = opt(0.0, "cost added to every word arc of the digit-loop grammar")
    transition_scale: float = opt(1.0, "scale on the non-self-loop transition log-probabilities")
    self_loop_scale: float = opt(0.1, "scale on the self-loop log-probabilities (add-self-loops)")
    max_states: int = opt(1000000, "give up determinizing beyond this many states")


def grammar_words(words: dict[str, int]) -> list[int]:
    """Word ids of words.txt that the digit-loop grammar loops over (all but <eps>, !SIL, #0, ...)."""
    out = sorted(i for w, i in words.items() if w not in _NON_WORDS and not w.startswith("#"))
    if not out:
        raise DataError("words.txt has no words for the grammar (only <eps>, !SIL, #0, <s>, </s>)")
    return out


def digit_loop_grammar_text(word_ids: list[int], word_ins_penalty: float = 0.0) -> str:
    """OpenFst text of G: one or more words from `word_ids`, uniform, plus the penalty per word."""
    c = math.log(len(word_ids)) + word_ins_penalty
    lines = [f"0 1 {w} {w} {c:.6f}" for w in word_ids] + [f"1 1 {w} {w} {c:.6f}" for w in word_ids]
    return "\n".join(lines + ["1"]) + "\n"


def _det_min(fst, max_states: int, what: str):
    if kaldifst.determinize_star(fst, use_log=True, max_states=max_states):
        raise DataError(f"determinizing {what} exceeded {max_states} states: the lexicon needs "
                        "disambiguation symbols (homophones or a pronunciation that is a prefix "
                        "of another), which this digit-grammar builder does not add")
    kaldifst.minimize_encoded(fst)
    return fst


def build_hclg(lang, sysm, o: GraphOptions | None = None):
    """HCLG (kaldifst.StdVectorFst) from a `Lang` and a `MonoSystem` (tree + TransitionModel)."""
    o = o or GraphOptions()
    G = kaldifst.compile(digit_loop_grammar_text(grammar_words(lang.words), o.word_ins_penalty))
    kaldifst.arcsort(G, sort_type="ilabel")
    L = lang.lexicon_fst()  # olabel-sorted
    LG = _det_min(kaldifst.compose(L, G), o.max_states, "L o G")
    CLG, ilabel_info = kaldifst.compose_context([], 1, 0, LG)
    kaldifst.arcsort(CLG, sort_type="ilabel")
    cfg = khg.HTransducerConfig()
    cfg.transition_scale = o.transition_scale
    Ha, disambig_tids = khg.get_h_transducer(ilabel_info, sysm.tree, sysm.tm, cfg)
    kaldifst.arcsort(Ha, sort_type="olabel")
    HCLGa = _det_min(kaldifst.compose(Ha, CLG), o.max_states, "Ha o CLG")
    HCLG = khg.add_self_loops(self_loop_scale=o.self_loop_scale, disambig_syms=list(disambig_tids),
                              reorder=True, trans_model=sysm.tm, ifst=HCLGa)
    if HCLG.num_states == 0:
        raise DataError("the decoding graph is empty (lexicon and grammar share no word)")
    return HCLG


def make_graph(lang_dir: str, model_dir: str, out_dir: str, o: GraphOptions | None = None) -> dict:
    """Build HCLG for the digit-loop grammar from `lang_dir` (words.txt, phones.txt, L.txt) and the
    monophone model in `model_dir` (written by `train_mono_and_align`) and write the graph dir
    `out_dir` (see module docstring). Returns {"states", "arcs", "num_pdfs", "num_tids"}."""
    o = o or GraphOptions()
    lang = Lang(lang_dir)
    sysm = load_mono_model(model_dir)
    if set(sysm.lang.phones.items()) != set(lang.phones.items()):
        raise DataError(f"{lang_dir}/phones.txt differs from {model_dir}/phones.txt: the model was "
                        "trained with another lang dir")
    hclg = build_hclg(lang, sysm, o)
    os.makedirs(out_dir, exist_ok=True)
    with atomic_path(os.path.join(out_dir, "HCLG.fst"), suffix=".fst") as tmp:
        if not hclg.write(tmp):
            raise DataError(f"cannot write {out_dir}/HCLG.fst")
    for f in ("words.txt", "phones.txt"):
        with atomic_path(os.path.join(out_dir, f)) as tmp:
            shutil.copyfile(os.path.join(lang_dir, f), tmp)
    t2p = np.asarray(sysm.tm.transition_id_to_pdf_array())[1:]
    write_bytes_atomic(os.path.join(out_dir, "tid2pdf.int"), (" ".join(map(str, t2p)) + "\n").encode())
    write_bytes_atomic(os.path.join(out_dir, "num_pdfs"), f"{sysm.tm.num_pdfs}\n".encode())
    write_bytes_atomic(os.path.join(out_dir, "graph.json"),
                       (json.dumps({"model_dir": os.path.abspath(model_dir), **asdict(o)}, indent=1)
                        + "\n").encode())
    n_arcs = sum(hclg.num_arcs(s) for s in range(hclg.num_states))
    log.info(f"HCLG for {len(grammar_words(lang.words))} words: {hclg.num_states} states, "
             f"{n_arcs} arcs -> {out_dir}/HCLG.fst")
    return {"states": hclg.num_states, "arcs": n_arcs, "num_pdfs": int(sysm.tm.num_pdfs),
            "num_tids": len(t2p)}


def add_word_penalty(fst, penalty: float):
    """Copy of `fst` with `penalty` added to the weight of every arc with a non-epsilon output
    label (same effect on every path as adding it to G's word arcs; see module docstring)."""
    if penalty == 0.0:
        return fst.copy()
    # kaldifst 1.7 exposes no mutable arc iterator: copy state by state (exact, same numbering).
    out = kaldifst.StdVectorFst()
    for _ in range(fst.num_states):
        out.add_state()
    out.start = fst.start
    for s in range(fst.num_states):
        out.set_final(s, fst.final(s))
        for a in kaldifst.ArcIterator(fst, s):
            w = a.weight.value + penalty if a.olabel != 0 else a.weight.value
            out.add_arc(s, kaldifst.StdArc(a.ilabel, a.olabel, w, a.nextstate))
    return out


class Graph:
    """A graph dir loaded for decoding: `fst` (HCLG), `words` {word: id}, `id2word`, `tid2pdf`
    (int array [num_tids], entry i = pdf of transition-id i+1), `num_pdfs`."""

    def __init__(self, graph_dir: str):
        self.dir = graph_dir
        for f in ("HCLG.fst", "words.txt", "tid2pdf.int", "num_pdfs"):
            if not os.path.exists(os.path.join(graph_dir, f)):
                raise DataError(f"graph dir {graph_dir}: missing {f} (run nnet2 make-graph)")
        p = os.path.join(graph_dir, "HCLG.fst")
        self.fst = kaldifst.StdVectorFst.read(p)
        if self.fst is None or self.fst.num_states == 0:
            raise DataError(f"{p}: not a readable non-empty OpenFst vector FST")
        self.words = read_symbols(os.path.join(graph_dir, "words.txt"))
        self.id2word = {i: w for w, i in self.words.items()}
        try:
            with open(os.path.join(graph_dir, "tid2pdf.int")) as f:
                self.tid2pdf = np.array(f.read().split(), dtype=np.int64)
            with open(os.path.join(graph_dir, "num_pdfs")) as f:
                self.num_pdfs = int(f.read())
        except ValueError:
            raise DataError(f"graph dir {graph_dir}: tid2pdf.int / num_pdfs are not integers") from None
        if len(self.tid2pdf) == 0 or self.tid2pdf.min() < 0 or self.tid2pdf.max() >= self.num_pdfs:
            raise DataError(f"{graph_dir}/tid2pdf.int: pdf-ids outside [0, {self.num_pdfs})")

    def with_penalty(self, penalty: float):
        """The HCLG fst with an extra word insertion penalty (for tuning)."""
        return add_word_penalty(self.fst, penalty)

    def words_of(self, ids: list[int]) -> list[str]:
        try:
            return [self.id2word[i] for i in ids]
        except KeyError as e:
            raise UserError(f"{self.dir}/words.txt has no word with id {e.args[0]}") from None
