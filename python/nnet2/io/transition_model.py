"""Kaldi's TransitionModel (HMM topology + transition-state tuples + transition log-probs).

Format and derived tables follow `src/hmm/hmm-topology.cc` (`HmmTopology::Read/Write/Check`) and
`src/hmm/transition-model.cc` (`TransitionModel::Read/Write/ComputeDerived/IsSelfLoop/Check`):

* Text topology: ``<Topology> \\n`` then per entry ``<TopologyEntry> \\n<ForPhones> \\n1 2 3 \\n</ForPhones> \\n``,
  one line per state ``<State> j [<PdfClass> c | <ForwardPdfClass> f <SelfLoopPdfClass> s]
  {<Transition> dst prob} </State> \\n``, then ``</TopologyEntry> \\n``, finally ``</Topology> \\n``.
  Phones of an entry are written in increasing order (Kaldi iterates over phone2idx).
* Binary topology: int vector phones, int vector phone2idx, [int32 -1 if not HMM], #entries, then per
  entry #states and per state forward pdf class [, self-loop pdf class], #transitions,
  (int32 dst, float prob) pairs; then ``</Topology> ``.
* ``<Triples> n`` (HMM topologies) or ``<Tuples> n`` (forward != self-loop pdf classes somewhere), one
  line per tuple, ``</Triples>``, ``<LogProbs>`` float vector ``</LogProbs>`` ``</TransitionModel>``.
* Transition-ids: tuples are transition states 1..T in file order; each gets one id per outgoing
  transition of its HMM state, numbered consecutively from 1. An id maps to the self-loop pdf if its
  transition goes back to the same HMM state, else to the forward pdf.
"""

from __future__ import annotations

import hashlib

from dataclasses import dataclass, field

import numpy as np

from nnet2.io.kaldi_io import KaldiReader, KaldiWriter
from nnet2.utils.errors import ModelFormatError

NO_PDF = -1
# Largest phone id accepted in a text topology. Kaldi takes any int32 and allocates a phone2idx table of
# 4*(id+1) bytes; real phone sets have at most a few thousand phones, so an id above this is a corrupt file
# (a table of this size is 8 MB; the binary form stores the table itself, so its size is bounded by the file).
MAX_PHONE_ID = 1 << 20


@dataclass
class HmmState:
    """One HMM state: pdf classes (-1 = non-emitting) and (destination state, probability) arcs."""
    forward_pdf_class: int = NO_PDF
    self_loop_pdf_class: int = NO_PDF
    transitions: list = field(default_factory=list)  # list[tuple[int, float]]


@dataclass
class HmmTopology:
    """`entries[e]` is a list of HmmState; `phone2idx[p]` is the entry of phone p (-1 if none)."""
    entries: list
    phone2idx: list

    @property
    def phones(self) -> list:
        return [p for p, e in enumerate(self.phone2idx) if e >= 0]

    def is_hmm(self) -> bool:
        return all(s.forward_pdf_class == s.self_loop_pdf_class
                   for entry in self.entries for s in entry)

    def entry_for_phone(self, phone: int) -> list:
        if not 0 <= phone < len(self.phone2idx) or self.phone2idx[phone] < 0:
            raise KeyError(phone)
        return self.entries[self.phone2idx[phone]]

    # ---------------------------------------------------------------- I/O
    @classmethod
    def read(cls, r: KaldiReader) -> "HmmTopology":
        start = r.pos
        r.expect_token("<Topology>")
        entries: list = []
        phone2idx: list = []
        if r.binary:
            phones = r.read_int_vector("topology phones").tolist()
            phone2idx = r.read_int_vector("topology phone2idx").tolist()
            n = r.read_int("number of topology entries")
            is_hmm = True
            if n == -1:
                is_hmm = False
                n = r.read_int("number of topology entries")
            if n < 0:
                r.fail("non-negative number of topology entries", found=str(n))
            for _ in range(n):
                ns = r.read_int("number of states")
                if ns < 0:
                    r.fail("non-negative number of states", found=str(ns))
                entry = []
                for _ in range(ns):
                    fwd = r.read_int("pdf class")
                    slp = fwd if is_hmm else r.read_int("self-loop pdf class")
                    nt = r.read_int("number of transitions")
                    if nt < 0:
                        r.fail("non-negative number of transitions", found=str(nt))
                    trans = [(r.read_int("transition destination"),
                              r.read_float("transition probability")) for _ in range(nt)]
                    entry.append(HmmState(fwd, slp, trans))
                entries.append(entry)
            r.expect_token("</Topology>")
            topo = cls(entries, phone2idx)
            if sorted(phones) != topo.phones:
                r.fail("phone list consistent with phone2idx", found=str(phones), at=start)
        else:
            while True:
                tpos = r.pos
                tok = r.read_token("<TopologyEntry> or </Topology>")
                if tok == "</Topology>":
                    break
                if tok != "<TopologyEntry>":
                    r.fail("<TopologyEntry> or </Topology>", found=repr(tok), at=tpos)
                r.expect_token("<ForPhones>")
                phones = []
                while True:
                    ppos = r.pos
                    w = r.read_token("a phone or </ForPhones>")
                    if w == "</ForPhones>":
                        break
                    try:
                        phones.append(int(w))
                    except ValueError:
                        r.fail("an integer phone or </ForPhones>", found=repr(w), at=ppos)
                    if not 0 < phones[-1] <= MAX_PHONE_ID:
                        r.fail(f"a phone id in 1..{MAX_PHONE_ID} in <ForPhones>", found=w, at=ppos)
                entry = []
                tpos = r.pos
                tok = r.read_token("<State> or </TopologyEntry>")
                while tok != "</TopologyEntry>":
                    if tok != "<State>":
                        r.fail("<State> or </TopologyEntry>", found=repr(tok), at=tpos)
                    spos = r.pos
                    s = r.read_int("state index")
                    if s != len(entry):
                        r.fail(f"state index {len(entry)} (states in order from zero)",
                               found=str(s), at=spos)
                    tpos = r.pos
                    tok = r.read_token("state contents")
                    if tok == "<PdfClass>":
                        c = r.read_int("pdf class")
                        st = HmmState(c, c, [])
                        tpos = r.pos
                        tok = r.read_token("state contents")
                        if tok == "<SelfLoopPdfClass>":
                            r.fail("<ForwardPdfClass>/<SelfLoopPdfClass> pair or <PdfClass> alone",
                                   found=repr(tok), at=tpos)
                    elif tok == "<ForwardPdfClass>":
                        f = r.read_int("forward pdf class")
                        r.expect_token("<SelfLoopPdfClass>")
                        sl = r.read_int("self-loop pdf class")
                        st = HmmState(f, sl, [])
                        tpos = r.pos
                        tok = r.read_token("state contents")
                    else:
                        st = HmmState(NO_PDF, NO_PDF, [])
                    entry.append(st)
                    while tok == "<Transition>":
                        dst = r.read_int("transition destination")
                        prob = r.read_float("transition probability")
                        st.transitions.append((dst, prob))
                        tpos = r.pos
                        tok = r.read_token("<Transition> or </State>")
                    if tok != "</State>":
                        r.fail("<Transition> or </State>", found=repr(tok), at=tpos)
                    tpos = r.pos
                    tok = r.read_token("<State> or </TopologyEntry>")
                idx = len(entries)
                entries.append(entry)
                for p in phones:
                    if p <= 0:
                        r.fail("positive phone ids in <ForPhones>", found=str(p), at=start)
                    if len(phone2idx) <= p:
                        phone2idx.extend([-1] * (p + 1 - len(phone2idx)))
                    if phone2idx[p] != -1:
                        r.fail("each phone in one topology entry",
                               found=f"phone {p} in two entries", at=start)
                    phone2idx[p] = idx
            topo = cls(entries, phone2idx)
        topo.check(r.name, start)
        return topo

    def write(self, w: KaldiWriter) -> None:
        is_hmm = self.is_hmm()
        w.token("<Topology>")
        if not w.binary:
            w.raw(b"\n")
            for i, entry in enumerate(self.entries):
                w.token("<TopologyEntry>")
                w.raw(b"\n")
                w.token("<ForPhones>")
                w.raw(b"\n")
                w.raw("".join(f"{p} " for p, e in enumerate(self.phone2idx) if e == i).encode())
                w.raw(b"\n")
                w.token("</ForPhones>")
                w.raw(b"\n")
                for j, st in enumerate(entry):
                    w.token("<State>")
                    w.int32(j)
                    if st.forward_pdf_class != NO_PDF:
                        if is_hmm:
                            w.token("<PdfClass>")
                            w.int32(st.forward_pdf_class)
                        else:
                            w.token("<ForwardPdfClass>")
                            w.int32(st.forward_pdf_class)
                            w.token("<SelfLoopPdfClass>")
                            w.int32(st.self_loop_pdf_class)
                    for dst, prob in st.transitions:
                        w.token("<Transition>")
                        w.int32(dst)
                        w.float(prob)
                    w.token("</State>")
                    w.raw(b"\n")
                w.token("</TopologyEntry>")
                w.raw(b"\n")
        else:
            w.int_vector(self.phones)
            w.int_vector(self.phone2idx)
            if not is_hmm:
                w.int32(-1)
            w.int32(len(self.entries))
            for entry in self.entries:
                w.int32(len(entry))
                for st in entry:
                    w.int32(st.forward_pdf_class)
                    if not is_hmm:
                        w.int32(st.self_loop_pdf_class)
                    w.int32(len(st.transitions))
                    for dst, prob in st.transitions:
                        w.int32(dst)
                        w.float(prob)
        w.token("</Topology>")
        w.newline_if_text()

    def check(self, name: str = "<topology>", offset: int = 0) -> None:
        """Kaldi's HmmTopology::Check, raising ModelFormatError."""
        def bad(msg):
            raise ModelFormatError(f"{name}: byte offset {offset}: invalid HMM topology: {msg}")
        if not self.entries or not self.phones:
            bad("empty topology")
        for p, e in enumerate(self.phone2idx):
            if not -1 <= e < len(self.entries):
                bad(f"phone {p} maps to topology entry {e}, but there are {len(self.entries)} entries")
        used = {self.phone2idx[p] for p in self.phones}
        for i, entry in enumerate(self.entries):
            if i not in used:
                bad(f"entry {i} has no phones")
            ns = len(entry)
            if ns <= 1:
                bad(f"entry {i} must have at least one emitting state and a final state")
            if entry[-1].transitions or entry[-1].forward_pdf_class != NO_PDF:
                bad(f"entry {i}: last state must be non-emitting with no transitions")
            classes = set()
            for j, st in enumerate(entry):
                if st.forward_pdf_class != NO_PDF:
                    classes.update((st.forward_pdf_class, st.self_loop_pdf_class))
                seen = set()
                for dst, prob in st.transitions:
                    if not 0 <= dst < ns:
                        bad(f"entry {i} state {j}: invalid destination state {dst}")
                    if dst in seen:
                        bad(f"entry {i} state {j}: duplicate transition to {dst}")
                    if not prob > 0.0:
                        bad(f"entry {i} state {j}: non-positive transition probability {prob}")
                    if dst == j and st.self_loop_pdf_class == NO_PDF:
                        bad(f"entry {i} state {j}: non-emitting state with a self-loop")
                    seen.add(dst)
                if j + 1 < ns and not st.transitions:
                    bad(f"entry {i} state {j}: non-final state without transitions")
            if not classes or sorted(classes) != list(range(len(classes))):
                bad(f"entry {i}: pdf classes must be contiguous from 0, got {sorted(classes)}")


class TransitionModel:
    """A Kaldi TransitionModel as read, with the derived transition-id tables.

    Attributes: `topology` (HmmTopology); `tuples` int32 (T, 4) = (phone, hmm_state, forward_pdf,
    self_loop_pdf) per transition state 1..T; `log_probs` float32 (num_transition_ids + 1,),
    index 0 unused. Derived int32 arrays indexed by transition-id (index 0 = -1): `tid2pdf`,
    `tid2phone`, `tid2hmm_state`, `tid2tstate`.
    """

    def __init__(self, topology: HmmTopology, tuples, log_probs, name: str = "<transition-model>"):
        self.topology = topology
        self.tuples = np.asarray(tuples, dtype=np.int32).reshape(-1, 4)
        self.log_probs = np.asarray(log_probs, dtype=np.float32)
        self._compute_derived(name)

    # ---------------------------------------------------------------- derived
    def _compute_derived(self, name: str) -> None:
        def bad(msg):
            raise ModelFormatError(f"{name}: invalid TransitionModel: {msg}")
        topo = self.topology
        tid2pdf, tid2phone, tid2hs, tid2ts = [-1], [-1], [-1], [-1]
        for ts, (phone, hs, fpdf, spdf) in enumerate(self.tuples.tolist(), start=1):
            try:
                entry = topo.entry_for_phone(phone)
            except KeyError:
                bad(f"transition state {ts} refers to phone {phone}, which is not in the topology "
                    f"(phones {topo.phones[:10]}{'...' if len(topo.phones) > 10 else ''})")
            if not 0 <= hs < len(entry) - 1:
                bad(f"transition state {ts}: hmm-state {hs} out of range for phone {phone}")
            if fpdf < 0 or spdf < 0:
                bad(f"transition state {ts}: negative pdf-id")
            for dst, _ in entry[hs].transitions:
                tid2pdf.append(spdf if dst == hs else fpdf)
                tid2phone.append(phone)
                tid2hs.append(hs)
                tid2ts.append(ts)
        if len(self.tuples) == 0:
            bad("no transition states")
        keys = [tuple(t) for t in self.tuples.tolist()]
        if any(a >= b for a, b in zip(keys, keys[1:])):
            bad("tuples must be sorted and unique (Kaldi looks them up by binary search)")
        self.tid2pdf = np.array(tid2pdf, dtype=np.int32)
        self.tid2phone = np.array(tid2phone, dtype=np.int32)
        self.tid2hmm_state = np.array(tid2hs, dtype=np.int32)
        self.tid2tstate = np.array(tid2ts, dtype=np.int32)
        if self.log_probs.shape != (self.num_transition_ids + 1,):
            bad(f"<LogProbs> has dimension {self.log_probs.shape[0]}, expected "
                f"{self.num_transition_ids + 1} (number of transition-ids + 1)")
        lp = self.log_probs[1:]
        if not np.all(np.isfinite(lp)) or np.any(lp > 0):
            bad("transition log-probabilities must be finite and <= 0")

    @property
    def num_pdfs(self) -> int:
        return int(self.tuples[:, 2:].max()) + 1

    @property
    def num_transition_ids(self) -> int:
        return len(self.tid2pdf) - 1

    @property
    def num_transition_states(self) -> int:
        return len(self.tuples)

    @property
    def phones(self) -> list:
        return self.topology.phones

    def is_hmm(self) -> bool:
        return self.topology.is_hmm()

    # ---------------------------------------------------------------- I/O
    @classmethod
    def read(cls, r: KaldiReader) -> "TransitionModel":
        start = r.pos
        r.expect_token("<TransitionModel>")
        topo = HmmTopology.read(r)
        tpos = r.pos
        tok = r.read_token("<Triples> or <Tuples>")
        if tok not in ("<Triples>", "<Tuples>"):
            r.fail("<Triples> or <Tuples>", found=repr(tok), at=tpos)
        n = r.read_int("number of tuples")
        if n < 0:
            r.fail("non-negative number of tuples", found=str(n))
        rows = []
        for _ in range(n):
            p = r.read_int("phone")
            h = r.read_int("hmm-state")
            f = r.read_int("forward pdf")
            s = r.read_int("self-loop pdf") if tok == "<Tuples>" else f
            rows.append((p, h, f, s))
        tpos = r.pos
        end = r.read_token("</Triples> or </Tuples>")
        if end not in ("</Triples>", "</Tuples>"):
            r.fail("</Triples> or </Tuples>", found=repr(end), at=tpos)
        r.expect_token("<LogProbs>")
        lp = r.read_vector(np.float32, what="<LogProbs>")
        r.expect_token("</LogProbs>")
        r.expect_token("</TransitionModel>")
        return cls(topo, np.array(rows, dtype=np.int32).reshape(-1, 4), lp,
                   name=f"{r.name} (starting at byte offset {start})")

    def write(self, w: KaldiWriter) -> None:
        is_hmm = self.is_hmm()
        w.token("<TransitionModel>")
        w.newline_if_text()
        self.topology.write(w)
        w.token("<Triples>" if is_hmm else "<Tuples>")
        w.int32(len(self.tuples))
        w.newline_if_text()
        for p, h, f, s in self.tuples.tolist():
            w.int32(p)
            w.int32(h)
            w.int32(f)
            if not is_hmm:
                w.int32(s)
            w.newline_if_text()
        w.token("</Triples>" if is_hmm else "</Tuples>")
        w.newline_if_text()
        w.token("<LogProbs>")
        w.newline_if_text()
        w.vector(self.log_probs)
        w.token("</LogProbs>")
        w.newline_if_text()
        w.token("</TransitionModel>")
        w.newline_if_text()

    def identity(self) -> str:
        """A fingerprint of what decides the meaning of a transition-id: the topology and the
        (phone, hmm-state, pdf) tuples that the tree produced -- not the transition probabilities,
        which every GMM iteration re-estimates. Two models with the same identity map every
        transition-id to the same phone, HMM state and pdf (Kaldi's scripts check this by comparing
        the `tree` files, e.g. steps/nnet2/train_pnorm_simple2.sh: `cmp $alidir/tree $dir/tree`)."""
        w = KaldiWriter(True)
        self.topology.write(w)
        return hashlib.sha256(w.getvalue() + np.ascontiguousarray(self.tuples, "<i4").tobytes()).hexdigest()[:16]

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "<bytes>") -> "TransitionModel":
        return cls.read(KaldiReader(data, name))

    def to_bytes(self, binary: bool) -> bytes:
        w = KaldiWriter(binary)
        self.write(w)
        return w.getvalue()

    @classmethod
    def from_kaldi_hmm_gmm(cls, tm_obj) -> "TransitionModel":
        """From a `kaldi_hmm_gmm.TransitionModel`, via its Kaldi text form (`str(tm_obj)`)."""
        return cls.from_bytes(str(tm_obj).encode(), name="<kaldi_hmm_gmm.TransitionModel>")
