"""Word error rate (kaldialign), Kaldi `compute-wer` output, bootstrap confidence intervals over
utterances (`nnet2.utils.intervals`, Bisani & Ney as Kaldi's compute-wer-bootci). (Tuning the acoustic
scale and insertion penalty decodes: `decoder.tune`.)

WER = (ins + del + sub) / reference words, the minimum edit distance per utterance with equal
costs (Kaldi's compute-wer), summed over utterances.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import kaldialign

from nnet2.data.datadir import read_table
from nnet2.utils import intervals as I
from nnet2.utils.errors import DataError, UserError
from nnet2.utils.fileio import atomic_path
from nnet2.utils.log import get_logger

if TYPE_CHECKING:
    from nnet2.utils.intervals import Interval

log = get_logger("score")

EPS = "***"  # Kaldi's per-utterance alignment blank (align-text --special-symbol)


def read_text(path: str) -> dict[str, list[str]]:
    """Kaldi text file -> {utt: [word, ...]} (file order; a bare key is an empty transcript)."""
    return {u: v.split() for u, v in read_table(path, min_fields=1, check_sorted=False).items()}


@dataclass
class WerResult:
    """Error counts of a scored set. `per_utt[utt]` = {"ref_len", "ins", "del", "sub", "total"};
    `alignments[utt]` = [(ref_word | EPS, hyp_word | EPS), ...]; `missing` = reference utterances
    without a hypothesis (scored as empty with mode "all")."""

    per_utt: dict[str, dict] = field(default_factory=dict)
    alignments: dict[str, list] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    refs: dict[str, list[str]] = field(default_factory=dict)
    hyps: dict[str, list[str]] = field(default_factory=dict)

    def _sum(self, k: str) -> int:
        return int(sum(v[k] for v in self.per_utt.values()))

    @property
    def ins(self) -> int:
        """Inserted words."""
        return self._sum("ins")

    @property
    def dels(self) -> int:
        """Deleted words."""
        return self._sum("del")

    @property
    def subs(self) -> int:
        """Substituted words."""
        return self._sum("sub")

    @property
    def errors(self) -> int:
        """Insertions + deletions + substitutions."""
        return self.ins + self.dels + self.subs

    @property
    def ref_words(self) -> int:
        """Words in the scored references."""
        return self._sum("ref_len")

    @property
    def wer(self) -> float:
        """Word error rate in percent (0 without reference words)."""
        return 100.0 * self.errors / self.ref_words if self.ref_words else 0.0

    @property
    def sentence_errors(self) -> int:
        """Utterances with at least one error."""
        return sum(1 for v in self.per_utt.values() if v["total"] > 0)

    def kaldi_lines(self) -> str:
        """compute-wer's three lines, e.g. `%WER 1.23 [ 12 / 975, 3 ins, 4 del, 5 sub ]`."""
        n = len(self.per_utt)
        partial = " [PARTIAL]" if self.missing else ""
        return (f"%WER {self.wer:.2f} [ {self.errors} / {self.ref_words}, {self.ins} ins, "
                f"{self.dels} del, {self.subs} sub ]{partial}\n"
                f"%SER {100.0 * self.sentence_errors / max(n, 1):.2f} [ {self.sentence_errors} / {n} ]\n"
                f"Scored {n} sentences, {len(self.missing)} not present in hyp.\n")

    def per_utt_lines(self) -> str:
        """Kaldi's `wer_per_utt_details.pl` layout: ref / hyp / op / #csid lines per utterance."""
        out = []
        for u, ali in self.alignments.items():
            ops = ["C" if r == h else "I" if r == EPS else "D" if h == EPS else "S" for r, h in ali]
            c = self.per_utt[u]
            out += [f"{u} ref  " + " ".join(r for r, _ in ali),
                    f"{u} hyp  " + " ".join(h for _, h in ali),
                    f"{u} op   " + " ".join(ops),
                    f"{u} #csid {ops.count('C')} {c['sub']} {c['ins']} {c['del']}"]
        return "".join(line + "\n" for line in out)

    def interval(self, replications: int | None = None, seed: int | None = None) -> Interval:
        """The WER (percent) with its 95% bootstrap interval over utterances (`nnet2.utils.intervals`,
        the one implementation every report uses; never below 0)."""
        utts = list(self.per_utt)
        return I.ratio_interval([self.per_utt[u]["total"] for u in utts], [self.per_utt[u]["ref_len"] for u in utts],
                                lower=0.0, replications=replications or I.REPLICATIONS,
                                seed=I.SEED if seed is None else seed).scaled(100.0)

    def utt_errors(self, utts: list[str]) -> tuple[list[int], list[int]]:
        """(errors, reference words) of `utts`, for paired comparisons of systems (`intervals.paired_comparison`)."""
        return [self.per_utt[u]["total"] for u in utts], [self.per_utt[u]["ref_len"] for u in utts]

    def write(self, out_dir: str, name: str = "wer") -> None:
        """`out_dir/<name>` (compute-wer lines) and `out_dir/per_utt`, atomically."""
        os.makedirs(out_dir, exist_ok=True)
        for fname, text in ((name, self.kaldi_lines()), ("per_utt", self.per_utt_lines())):
            with atomic_path(os.path.join(out_dir, fname)) as tmp, \
                    open(tmp, "w", encoding="utf-8") as f:
                f.write(text)


def compute_wer(refs: dict[str, list[str]], hyps: dict[str, list[str]], mode: str = "strict",
                ref_name: str = "reference", hyp_name: str = "hypothesis") -> WerResult:
    """Score `hyps` against `refs` ({utt: [word, ...]}).

    mode (as compute-wer): "strict" — every reference utterance needs a hypothesis (DataError
    naming the first missing one); "present" — score only utterances with a hypothesis; "all" —
    a missing hypothesis counts as empty. A hypothesis for an utterance not in `refs` is an error."""
    if mode not in ("strict", "present", "all"):
        raise UserError(f"scoring mode must be strict, present or all, got '{mode}'")
    extra = [u for u in hyps if u not in refs]
    if extra:
        raise DataError(f"utterance '{extra[0]}' of the {hyp_name} is not in the {ref_name} "
                        f"({len(extra)} such)")
    res = WerResult(refs=refs, hyps=hyps)
    for u, ref in refs.items():
        if u not in hyps:
            if mode == "strict":
                raise DataError(f"utterance '{u}' of the {ref_name} has no {hyp_name} "
                                "(use mode 'present' or 'all' to score anyway)")
            res.missing.append(u)
            if mode == "present":
                continue
        hyp = hyps.get(u, [])
        e = kaldialign.edit_distance(ref, hyp)
        res.per_utt[u] = {"ref_len": len(ref), "ins": int(e["ins"]), "del": int(e["del"]),
                          "sub": int(e["sub"]), "total": int(e["total"])}
        res.alignments[u] = kaldialign.align(ref, hyp, EPS)
    return res


def score_texts(ref_path: str, hyp_path: str, mode: str = "strict") -> WerResult:
    """WER of Kaldi text `hyp_path` against Kaldi text `ref_path`."""
    return compute_wer(read_text(ref_path), read_text(hyp_path), mode, ref_path, hyp_path)
