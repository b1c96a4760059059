"""Connected-digit utterances made reproducibly from the Free Spoken Digit Dataset (FSDD).

FSDD has 3000 single-digit recordings `recordings/{digit}_{speaker}_{take}.wav` (8 kHz, int16,
trimmed to near-minimal silence; 6 speakers x 10 digits x 50 takes). Each synthetic utterance is
2-7 digits of one speaker, concatenated with short pauses of low-level seeded noise before, between
and after the digits. Since the recordings hold only the digit, the true word boundaries are
known exactly; they are written as `word_boundaries.json` (sample offsets) and `ref.ctm` (seconds).

Output (Kaldi layout, under `out_dir`):

    wav/<set>/<utt>.wav
    data/<set>/{wav.scp,text,utt2spk,spk2utt,word_boundaries.json,ref.ctm}     set = train, test
    data/local/dict/{lexicon.txt,silence_phones.txt,nonsilence_phones.txt,optional_silence.txt}
    data/lang/{phones.txt,words.txt,topo,L.txt,oov.txt}

Split: by take (takes 0-4 are test, FSDD's own convention) or by held-out speaker. Each recording of
a split is used once per "pass" over it (`--passes`), so the default train set has ~600 utterances.
Same seed and options -> byte-identical files.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from nnet2.corpora.fsdd_download import FSDD_TAG, cached_fsdd, default_cache_dir, fetch_fsdd
from nnet2.data.datadir import utt2spk_to_spk2utt, write_table
from nnet2.gmm.lang import lexicon_fst_text, make_topo
from nnet2.utils.errors import DataError, UserError
from nnet2.utils.fileio import atomic_path
from nnet2.utils.log import get_logger
from nnet2.utils.options import opt

log = get_logger("fsdd")

DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
LEXICON = {
    "zero": "Z IH R OW", "one": "W AH N", "two": "T UW", "three": "TH R IY", "four": "F AO R",
    "five": "F AY V", "six": "S IH K S", "seven": "S EH V AH N", "eight": "EY T", "nine": "N AY N",
}
SIL_WORD, SIL_PHONE = "!SIL", "SIL"
SAMPLE_RATE = 8000
_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")


@dataclass
class FsddOptions:
    """Options of `prepare_fsdd` (and `nnet2 prepare-fsdd`)."""

    fsdd_dir: str = opt("", "FSDD root (holding recordings/); default: $FSDD_DIR, else ../shared/data/fsdd "
                            "beside the repository, else FSDD's pinned release downloaded (and checked "
                            "against nnet2's SHA-256 manifest) into $NNET2_FSDD_CACHE (~/.cache/nnet2/fsdd-<tag>)")
    seed: int = opt(777, "random seed: same seed -> identical corpus")
    split: str = opt("take", "how to split train/test", choices=["take", "speaker"])
    test_takes: str = opt("0-4", "takes used for test with --split=take (range 'a-b')")
    test_speaker: str = opt("theo", "held-out speaker with --split=speaker")
    min_digits: int = opt(2, "fewest digits per utterance")
    max_digits: int = opt(7, "most digits per utterance")
    passes: int = opt(1, "times each recording of a split is used")
    min_pause: float = opt(0.05, "shortest pause between digits (seconds)")
    max_pause: float = opt(0.25, "longest pause between digits (seconds)")
    edge_pause_min: float = opt(0.10, "shortest leading/trailing silence (seconds)")
    edge_pause_max: float = opt(0.30, "longest leading/trailing silence (seconds)")
    noise_std: float = opt(4.0, "std-dev of the pause noise on the int16 scale")
    quick: bool = opt(False, "small subset: 4 takes per digit and speaker for train, 1 for test")


def shared_candidates() -> list[str]:
    """`../shared/data/fsdd` beside the repository (from the source tree), then beside the current
    directory and each of its parents (for an installed package run from a checkout)."""
    repo_root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
    starts = [repo_root]
    d = os.path.abspath(os.getcwd())
    while True:
        starts.append(d)
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    return [os.path.normpath(os.path.join(r, "..", "shared", "data", "fsdd")) for r in starts]


def default_fsdd_dir() -> str:
    """A local FSDD copy (never downloads): $FSDD_DIR, else `../shared/data/fsdd` beside the
    repository (found from the source tree, or from the current directory and its parents when the
    package is installed), else the verified download cache. Raises UserError when there is none."""
    env = os.environ.get("FSDD_DIR")
    if env:
        return env
    tried = shared_candidates()
    for cand in tried:
        if os.path.isdir(os.path.join(cand, "recordings")):
            return cand
    cached = cached_fsdd()
    if cached:
        return cached
    raise UserError(f"FSDD corpus not found: pass --fsdd-dir, or set FSDD_DIR (looked for {tried[0]}/recordings, "
                    f"../shared/data/fsdd above the current directory and the cache {default_cache_dir()})")


def resolve_fsdd_dir(fsdd_dir: str = "") -> str:
    """`fsdd_dir` when given, else a local copy (`default_fsdd_dir`), else download FSDD's pinned
    release into the cache (verified against the committed manifest) and use that."""
    if fsdd_dir:
        return fsdd_dir
    try:
        return default_fsdd_dir()
    except UserError:
        pass
    log.info(f"no local FSDD copy (--fsdd-dir, $FSDD_DIR, ../shared/data/fsdd): downloading {FSDD_TAG}")
    return fetch_fsdd()


def list_recordings(fsdd_dir: str) -> list[tuple[int, str, int, str]]:
    """(digit, speaker, take, path) for every FSDD recording, sorted by (speaker, digit, take)."""
    rec_dir = os.path.join(fsdd_dir, "recordings")
    if not os.path.isdir(rec_dir):
        raise DataError(f"FSDD directory {fsdd_dir} has no recordings/ folder")
    out = []
    for name in os.listdir(rec_dir):
        m = _NAME.match(name)
        if m:
            out.append((int(m.group(1)), m.group(2), int(m.group(3)), os.path.join(rec_dir, name)))
    if not out:
        raise DataError(f"{rec_dir}: no FSDD recordings ({{digit}}_{{speaker}}_{{take}}.wav)")
    out.sort(key=lambda r: (r[1], r[0], r[2]))
    return out


def _read_int16(path: str) -> np.ndarray:
    try:
        x, sr = sf.read(path, dtype="int16", always_2d=True)
    except Exception as e:
        raise DataError(f"cannot read FSDD recording {path}: {e}") from None
    if sr != SAMPLE_RATE:
        raise DataError(f"{path}: sample rate {sr}, expected {SAMPLE_RATE}")
    return x[:, 0]


def _parse_range(s: str) -> set[int]:
    try:
        a, b = (int(v) for v in s.split("-")) if "-" in s else (int(s), int(s))
    except ValueError:
        raise UserError(f"--test-takes: expected 'a-b', got '{s}'") from None
    return set(range(a, b + 1))


def split_recordings(recs, o: FsddOptions) -> dict[str, list]:
    if o.split == "take":
        test_takes = _parse_range(o.test_takes)
        sets = {"train": [r for r in recs if r[2] not in test_takes],
                "test": [r for r in recs if r[2] in test_takes]}
    else:
        speakers = sorted({r[1] for r in recs})
        if o.test_speaker not in speakers:
            raise UserError(f"--test-speaker '{o.test_speaker}' not in FSDD speakers {speakers}")
        sets = {"train": [r for r in recs if r[1] != o.test_speaker],
                "test": [r for r in recs if r[1] == o.test_speaker]}
    if o.quick:
        # first takes of each (speaker, digit) in each set
        for name, n in (("train", 4), ("test", 1)):
            seen: dict[tuple[str, int], int] = {}
            keep = []
            for r in sets[name]:
                k = (r[1], r[0])
                if seen.get(k, 0) < n:
                    seen[k] = seen.get(k, 0) + 1
                    keep.append(r)
            sets[name] = keep
    return sets


def _make_utterances(recs, o: FsddOptions, rng: np.random.Generator) -> list[tuple[str, list]]:
    """Group recordings into utterances of one speaker: list of (speaker, [recording, ...])."""
    by_spk: dict[str, list] = {}
    for r in recs:
        by_spk.setdefault(r[1], []).append(r)
    utts = []
    for spk in sorted(by_spk):
        pool = []
        for _ in range(o.passes):
            perm = rng.permutation(len(by_spk[spk]))
            pool.extend(by_spk[spk][i] for i in perm)
        i = 0
        while i < len(pool):
            n = int(rng.integers(o.min_digits, o.max_digits + 1))
            group = pool[i:i + n]
            i += n
            if len(group) < o.min_digits and utts and utts[-1][0] == spk:
                utts[-1][1].extend(group)  # keep every recording; the last utt may get longer
            else:
                utts.append((spk, group))
    return utts


def prepare_fsdd(out_dir: str, o: FsddOptions | None = None) -> dict[str, dict]:
    """Build wavs, data/train, data/test and the lang/dict dirs under `out_dir`.

    Returns {set: {"utterances": n, "seconds": s, "words": w}}."""
    o = o or FsddOptions()
    if not (1 <= o.min_digits <= o.max_digits):
        raise UserError(f"need 1 <= --min-digits <= --max-digits, got {o.min_digits}, {o.max_digits}")
    fsdd_dir = resolve_fsdd_dir(o.fsdd_dir)
    recs = list_recordings(fsdd_dir)
    sets = split_recordings(recs, o)
    summary = {}
    for si, (name, srecs) in enumerate(sorted(sets.items())):
        if not srecs:
            raise DataError(f"FSDD split '{name}' is empty (check --split/--test-takes/--test-speaker)")
        rng = np.random.default_rng([o.seed, si])
        summary[name] = _write_set(out_dir, name, _make_utterances(srecs, o, rng), o, rng)
        log.info(f"FSDD {name}: {summary[name]['utterances']} utterances, "
                 f"{summary[name]['words']} digits, {summary[name]['seconds'] / 3600:.3f} h")
    write_dict_and_lang(out_dir)
    return summary


def _write_set(out_dir, name, utts, o: FsddOptions, rng) -> dict:
    wav_dir = os.path.abspath(os.path.join(out_dir, "wav", name))
    data_dir = os.path.join(out_dir, "data", name)
    os.makedirs(wav_dir, exist_ok=True)
    os.makedirs(data_dir, exist_ok=True)
    wav_scp, text, utt2spk, bounds, ctm = {}, {}, {}, {}, []
    total = 0
    count = {}
    for spk, group in utts:
        count[spk] = count.get(spk, 0) + 1
        utt = f"{spk}-{name}{count[spk]:04d}"
        pieces, words, segs = [], [], []
        pos = 0

        def pause(lo, hi):
            n = int(round(rng.uniform(lo, hi) * SAMPLE_RATE))
            return np.round(rng.standard_normal(n) * o.noise_std)

        for k, (digit, _spk, _take, path) in enumerate(group):
            p = pause(o.edge_pause_min, o.edge_pause_max) if k == 0 else pause(o.min_pause, o.max_pause)
            pieces.append(p)
            pos += len(p)
            x = _read_int16(path).astype(np.float64)
            pieces.append(x)
            segs.append([DIGIT_WORDS[digit], pos, pos + len(x)])
            words.append(DIGIT_WORDS[digit])
            pos += len(x)
        tail = pause(o.edge_pause_min, o.edge_pause_max)
        pieces.append(tail)
        pos += len(tail)
        audio = np.clip(np.concatenate(pieces), -32768, 32767).astype(np.int16)
        wav_path = os.path.join(wav_dir, utt + ".wav")
        with atomic_path(wav_path, suffix=".wav") as tmp:
            sf.write(tmp, audio, SAMPLE_RATE, subtype="PCM_16", format="WAV")
        wav_scp[utt] = wav_path
        text[utt] = " ".join(words)
        utt2spk[utt] = spk
        bounds[utt] = segs
        for w, s, e in segs:
            ctm.append(f"{utt} 1 {s / SAMPLE_RATE:.4f} {(e - s) / SAMPLE_RATE:.4f} {w}")
        total += pos
    write_table(os.path.join(data_dir, "wav.scp"), wav_scp)
    write_table(os.path.join(data_dir, "text"), text)
    write_table(os.path.join(data_dir, "utt2spk"), utt2spk)
    write_table(os.path.join(data_dir, "spk2utt"), utt2spk_to_spk2utt(utt2spk))
    with atomic_path(os.path.join(data_dir, "word_boundaries.json")) as tmp:
        with open(tmp, "w") as f:
            json.dump({"sample_rate": SAMPLE_RATE, "utterances": dict(sorted(bounds.items()))}, f,
                      indent=0, sort_keys=False)
    with atomic_path(os.path.join(data_dir, "ref.ctm")) as tmp:
        with open(tmp, "w") as f:
            f.write("".join(line + "\n" for line in sorted(ctm)))
    for f in ("feats.scp", "cmvn.scp"):  # stale features would no longer match the new wavs
        p = os.path.join(data_dir, f)
        if os.path.exists(p):
            os.unlink(p)
    return {"utterances": len(utts), "seconds": total / SAMPLE_RATE,
            "words": sum(len(g) for _, g in utts)}


# --------------------------------------------------------------------------------------------
# Dictionary and lang directory

def write_dict_and_lang(out_dir: str) -> None:
    """data/local/dict (Kaldi prepare_lang input) and data/lang (phones.txt, words.txt, topo,
    L.txt: the lexicon FST with optional silence in OpenFst text form)."""
    dict_dir = os.path.join(out_dir, "data", "local", "dict")
    lang_dir = os.path.join(out_dir, "data", "lang")
    lex = {SIL_WORD: SIL_PHONE, **LEXICON}
    write_table(os.path.join(dict_dir, "lexicon.txt"), lex)
    nonsil = sorted({p for pr in LEXICON.values() for p in pr.split()})
    _write_lines(os.path.join(dict_dir, "silence_phones.txt"), [SIL_PHONE])
    _write_lines(os.path.join(dict_dir, "optional_silence.txt"), [SIL_PHONE])
    _write_lines(os.path.join(dict_dir, "nonsilence_phones.txt"), nonsil)
    phones = ["<eps>", SIL_PHONE] + nonsil
    words = ["<eps>", SIL_WORD] + sorted(LEXICON) + ["#0", "<s>", "</s>"]
    _write_lines(os.path.join(lang_dir, "phones.txt"), [f"{p} {i}" for i, p in enumerate(phones)])
    _write_lines(os.path.join(lang_dir, "words.txt"), [f"{w} {i}" for i, w in enumerate(words)])
    _write_lines(os.path.join(lang_dir, "oov.txt"), [SIL_WORD])
    _write_lines(os.path.join(lang_dir, "silence.csl"), ["1"])
    _write_lines(os.path.join(lang_dir, "nonsilence.csl"),
                 [":".join(str(i) for i in range(2, len(phones)))])

    with atomic_path(os.path.join(lang_dir, "topo")) as tmp:
        with open(tmp, "w") as f:
            f.write(make_topo(list(range(2, len(phones))), [1]))
    pid = {p: i for i, p in enumerate(phones)}
    wid = {w: i for i, w in enumerate(words)}
    lex_ids = [(wid[w], [pid[p] for p in pr.split()]) for w, pr in sorted(lex.items())]
    with atomic_path(os.path.join(lang_dir, "L.txt")) as tmp:
        with open(tmp, "w") as f:
            f.write(lexicon_fst_text(lex_ids, sil_phone=pid[SIL_PHONE], sil_prob=0.5))


def _write_lines(path: str, lines: list[str]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            f.write("".join(line + "\n" for line in lines))
