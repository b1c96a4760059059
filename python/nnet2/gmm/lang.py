"""The lang directory pieces the monophone GMM needs: HMM topology text (Kaldi `utils/gen_topo.pl`:
3-state left-to-right non-silence phones, 5-state silence with the ergodic middle) and the lexicon
FST with optional silence (Kaldi `utils/make_lexicon_fst.pl`), plus symbol-table reading."""

from __future__ import annotations

import math
import os

import kaldi_hmm_gmm as khg
import kaldifst

from nnet2.utils.errors import DataError


def make_topo(nonsil_phones: list[int], sil_phones: list[int], num_nonsil_states: int = 3,
              num_sil_states: int = 5) -> str:
    """Kaldi topology text for the given phone ids (as `utils/gen_topo.pl`)."""
    out = ["<Topology>", "<TopologyEntry>", "<ForPhones>", " ".join(map(str, nonsil_phones)),
           "</ForPhones>"]
    for s in range(num_nonsil_states):
        out.append(f"<State> {s} <PdfClass> {s} <Transition> {s} 0.75 <Transition> {s + 1} 0.25 </State>")
    out += [f"<State> {num_nonsil_states} </State>", "</TopologyEntry>"]
    out += ["<TopologyEntry>", "<ForPhones>", " ".join(map(str, sil_phones)), "</ForPhones>"]
    n = num_sil_states
    if n > 1:
        p = 1.0 / (n - 1)
        out.append("<State> 0 <PdfClass> 0 " + " ".join(f"<Transition> {t} {p:g}" for t in range(n - 1))
                   + " </State>")
        for s in range(1, n - 1):
            out.append(f"<State> {s} <PdfClass> {s} "
                       + " ".join(f"<Transition> {t} {p:g}" for t in range(1, n)) + " </State>")
        out.append(f"<State> {n - 1} <PdfClass> {n - 1} <Transition> {n - 1} 0.75 "
                   f"<Transition> {n} 0.25 </State>")
    else:
        out.append("<State> 0 <PdfClass> 0 <Transition> 0 0.75 <Transition> 1 0.25 </State>")
    out += [f"<State> {n} </State>", "</TopologyEntry>", "</Topology>"]
    return "\n".join(out) + "\n"


def lexicon_fst_text(lexicon: list[tuple[int, list[int]]], sil_phone: int, sil_prob: float = 0.5) -> str:
    """OpenFst text of L (phones in, words out) with optional silence before and between words.

    States: 0 start (optional leading SIL), 1 loop (final), 2 silence state whose one arc emits
    SIL back to the loop. Each word leaves the loop state and, on its last phone, returns to the
    loop state (no silence) or goes to state 2 (silence follows), as `make_lexicon_fst.pl`."""
    nosil = -math.log(1.0 - sil_prob)
    sil = -math.log(sil_prob)
    lines = [f"0 1 0 0 {nosil:.6f}", f"0 1 {sil_phone} 0 {sil:.6f}", f"2 1 {sil_phone} 0"]
    nxt = 3
    for word, phones in lexicon:
        src = 1
        for i, p in enumerate(phones):
            olab = word if i == 0 else 0
            if i == len(phones) - 1:
                lines.append(f"{src} 1 {p} {olab} {nosil:.6f}")
                lines.append(f"{src} 2 {p} {olab} {sil:.6f}")
            else:
                lines.append(f"{src} {nxt} {p} {olab}")
                src = nxt
                nxt += 1
    lines.append("1")
    return "\n".join(lines) + "\n"


def read_symbols(path: str) -> dict[str, int]:
    """Kaldi/OpenFst symbol table `<symbol> <id>` -> dict."""
    out = {}
    try:
        with open(path, encoding="utf-8") as f:
            for i, line in enumerate(f, 1):
                parts = line.split()
                if not parts:
                    continue
                if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
                    raise DataError(f"{path}:{i}: expected '<symbol> <integer-id>', got '{line.strip()}'")
                out[parts[0]] = int(parts[1])
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror}") from None
    return out


class Lang:
    """A lang dir: phones.txt, words.txt, topo, L.txt (and the dict lexicon next to it)."""

    def __init__(self, lang_dir: str):
        self.dir = lang_dir
        for f in ("phones.txt", "words.txt", "topo", "L.txt"):
            if not os.path.exists(os.path.join(lang_dir, f)):
                raise DataError(f"lang dir {lang_dir}: missing {f}")
        self.phones = read_symbols(os.path.join(lang_dir, "phones.txt"))
        self.words = read_symbols(os.path.join(lang_dir, "words.txt"))
        self.id2phone = {i: p for p, i in self.phones.items()}
        self.id2word = {i: w for w, i in self.words.items()}
        with open(os.path.join(lang_dir, "topo")) as f:
            self.topo_text = f.read()
        with open(os.path.join(lang_dir, "L.txt")) as f:
            self.lexicon_fst_text = f.read()
        sil = os.path.join(lang_dir, "silence.csl")
        self.silence_phones = ([int(v) for v in open(sil).read().strip().split(":")]
                               if os.path.exists(sil) else [self.phones.get("SIL", 1)])
        self.prons = self._prons_from_fst()

    def _prons_from_fst(self) -> dict[int, list[int]]:
        """word id -> phone ids, read back from L.txt (paths leaving the loop state 1)."""
        arcs: dict[int, list[tuple[int, int, int]]] = {}
        for line in self.lexicon_fst_text.splitlines():
            f = line.split()
            if len(f) >= 4:
                arcs.setdefault(int(f[0]), []).append((int(f[1]), int(f[2]), int(f[3])))
        prons = {}
        for dst, ilab, olab in arcs.get(1, []):
            if olab == 0:
                continue
            seq = [ilab]
            s = dst
            while s not in (1, 2):
                dst2, ilab2, _ = arcs[s][0]
                seq.append(ilab2)
                s = dst2
            prons[olab] = seq
        return prons

    def topology(self):
        topo = khg.HmmTopology()
        topo.read(self.topo_text)
        return topo

    def lexicon_fst(self):
        fst = kaldifst.compile(self.lexicon_fst_text)
        kaldifst.arcsort(fst, sort_type="olabel")
        return fst

    def word_ids(self, words: list[str], utt: str) -> list[int]:
        out = []
        for w in words:
            if w not in self.words:
                raise DataError(f"utterance '{utt}': word '{w}' not in {self.dir}/words.txt")
            out.append(self.words[w])
        return out
