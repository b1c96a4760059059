"""Kaldi data directories (`data/<set>/`): read, validate, fix, subset (Kaldi `utils/validate_data_dir.sh`, `utils/fix_data_dir.sh`).

A data dir holds text tables keyed by the first whitespace-separated field:

    wav.scp    <recording-id> <path>   or   <recording-id> <command> |
    segments   <utt-id> <recording-id> <start-sec> <end-sec>      (optional)
    text       <utt-id> <word> <word> ...
    utt2spk    <utt-id> <spk-id>
    spk2utt    <spk-id> <utt-id> <utt-id> ...
    feats.scp  <utt-id> <ark-path>:<offset>
    cmvn.scp   <spk-id> <ark-path>:<offset>

All files are sorted by key in C (byte) order, keys are unique and consistent across files
(Kaldi's `utils/validate_data_dir.sh`). `validate_data_dir` checks that and raises `DataError`
naming the file and line; `write_table` writes a sorted file atomically (`fix_data_dir.sh`-like);
`subset_data_dir` copies the first N utterances or a given list (`subset_data_dir.sh`).
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field

import numpy as np
import soundfile as sf

from nnet2.io.table import open_input
from nnet2.utils.errors import DataError
from nnet2.utils.fileio import atomic_path, write_bytes_atomic

TABLES = ("wav.scp", "segments", "text", "utt2spk", "spk2utt", "feats.scp", "cmvn.scp",
          "reco2file_and_channel")


def c_sort_key(key: str) -> bytes:
    """Kaldi sorts with LC_ALL=C: byte order of the UTF-8 encoding."""
    return key.encode("utf-8")


def read_table(path: str, *, min_fields: int = 2, max_fields: int | None = None,
               check_sorted: bool = True) -> dict[str, str]:
    """Read `<key> <rest of line>` into an ordered dict key -> rest (rest stripped).

    Raises DataError naming `path:line` on a duplicate key, a line with too few/many fields,
    or (with `check_sorted`) keys not in C order.
    """
    out: dict[str, str] = {}
    prev = None
    try:
        fh = open(path, encoding="utf-8")
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror}") from None
    with fh:
        for i, line in enumerate(fh, 1):
            line = line.rstrip("\n")
            if not line.strip():
                raise DataError(f"{path}:{i}: empty line")
            parts = line.split(None, 1)
            key = parts[0]
            rest = parts[1].strip() if len(parts) > 1 else ""
            nf = 1 + len(rest.split())
            if nf < min_fields:
                raise DataError(f"{path}:{i}: expected at least {min_fields} fields, got {nf}: '{line}'")
            if max_fields is not None and nf > max_fields:
                raise DataError(f"{path}:{i}: expected at most {max_fields} fields, got {nf}: '{line}'")
            if key in out:
                raise DataError(f"{path}:{i}: duplicate key '{key}'")
            if check_sorted and prev is not None and c_sort_key(key) < c_sort_key(prev):
                raise DataError(f"{path}:{i}: not sorted in C order ('{key}' after '{prev}'); "
                                "run fix_data_dir")
            out[key] = rest
            prev = key
    return out


def write_table(path: str, table: dict[str, str] | list[tuple[str, str]]) -> None:
    """Write `<key> <value>` lines sorted in C order, atomically (temp file + rename)."""
    items = list(table.items()) if isinstance(table, dict) else list(table)
    items.sort(key=lambda kv: c_sort_key(kv[0]))
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            for k, v in items:
                f.write(f"{k} {v}\n" if v != "" else f"{k}\n")


def utt2spk_to_spk2utt(utt2spk: dict[str, str]) -> dict[str, str]:
    spk2utt: dict[str, list[str]] = {}
    for utt in sorted(utt2spk, key=c_sort_key):
        spk2utt.setdefault(utt2spk[utt], []).append(utt)
    return {s: " ".join(u) for s, u in sorted(spk2utt.items(), key=lambda kv: c_sort_key(kv[0]))}


@dataclass
class Segment:
    recording: str
    start: float
    end: float


@dataclass
class DataDir:
    """A loaded data dir. Dicts keep file order (C-sorted after validation)."""

    path: str
    wav_scp: dict[str, str] = field(default_factory=dict)
    segments: dict[str, Segment] | None = None
    text: dict[str, list[str]] | None = None
    utt2spk: dict[str, str] = field(default_factory=dict)
    spk2utt: dict[str, list[str]] = field(default_factory=dict)
    feats_scp: dict[str, str] | None = None
    cmvn_scp: dict[str, str] | None = None

    @property
    def utts(self) -> list[str]:
        return list(self.utt2spk)

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def recording_of(self, utt: str) -> str:
        return self.segments[utt].recording if self.segments is not None else utt


def validate_data_dir(path: str, *, need_text: bool = False, need_feats: bool = False,
                      need_wav: bool = True) -> DataDir:
    """Check a data dir like `utils/validate_data_dir.sh` and return it loaded.

    Checks: each table sorted in C order without duplicate keys; utt2spk and spk2utt describe the
    same mapping; text/segments/feats.scp keys equal utt2spk's; without segments, wav.scp keys equal
    the utterances; with segments, each segment's recording is in wav.scp and start < end;
    cmvn.scp covers every speaker. Raises DataError naming the file (and line when there is one).
    """
    if not os.path.isdir(path):
        raise DataError(f"data dir {path} does not exist")
    d = DataDir(path=path)
    f = d.file
    if not os.path.exists(f("utt2spk")):
        raise DataError(f"{f('utt2spk')}: missing (every data dir needs utt2spk)")
    d.utt2spk = read_table(f("utt2spk"), min_fields=2, max_fields=2)
    if not d.utt2spk:  # as utils/validate_data_dir.sh ("empty file utt2spk")
        raise DataError(f"{f('utt2spk')}: empty file (a data dir needs at least one utterance)")
    utt_order = {u: i for i, u in enumerate(d.utt2spk)}

    if os.path.exists(f("spk2utt")):
        raw = read_table(f("spk2utt"), min_fields=2)
        d.spk2utt = {s: v.split() for s, v in raw.items()}
        expect = {s: v.split() for s, v in utt2spk_to_spk2utt(d.utt2spk).items()}
        for lineno, (s, us) in enumerate(d.spk2utt.items(), 1):
            if s not in expect:
                raise DataError(f"{f('spk2utt')}:{lineno}: speaker '{s}' not in utt2spk")
            if sorted(us, key=c_sort_key) != expect[s]:
                raise DataError(f"{f('spk2utt')}:{lineno}: utterances of speaker '{s}' disagree "
                                f"with utt2spk")
        for s in expect:
            if s not in d.spk2utt:
                raise DataError(f"{f('spk2utt')}: speaker '{s}' (from utt2spk) missing")
    else:
        raise DataError(f"{f('spk2utt')}: missing (make it from utt2spk with fix_data_dir)")

    def check_keys(name: str, keys, what="utterance"):
        ks = list(keys)
        for lineno, k in enumerate(ks, 1):
            if k not in utt_order:
                raise DataError(f"{f(name)}:{lineno}: {what} '{k}' not in utt2spk")
        if len(ks) != len(utt_order):
            missing = next(u for u in utt_order if u not in set(ks))
            raise DataError(f"{f(name)}: utterance '{missing}' (from utt2spk) missing")

    if os.path.exists(f("segments")):
        raw = read_table(f("segments"), min_fields=4, max_fields=4)
        d.segments = {}
        for lineno, (u, v) in enumerate(raw.items(), 1):
            rec, s, e = v.split()
            try:
                st, en = float(s), float(e)
            except ValueError:
                raise DataError(f"{f('segments')}:{lineno}: bad start/end time '{s} {e}'") from None
            if not (0 <= st < en or (en == -1 and st >= 0)):
                raise DataError(f"{f('segments')}:{lineno}: need 0 <= start < end, got {st} {en}")
            d.segments[u] = Segment(rec, st, en)
        check_keys("segments", d.segments)
    if need_wav or os.path.exists(f("wav.scp")):
        if not os.path.exists(f("wav.scp")):
            raise DataError(f"{f('wav.scp')}: missing")
        d.wav_scp = read_table(f("wav.scp"), min_fields=2)
        if d.segments is not None:
            for lineno, (u, seg) in enumerate(d.segments.items(), 1):
                if seg.recording not in d.wav_scp:
                    raise DataError(f"{f('segments')}:{lineno}: recording '{seg.recording}' of "
                                    f"utterance '{u}' not in wav.scp")
        else:
            check_keys("wav.scp", d.wav_scp, "recording")
    if os.path.exists(f("text")):
        raw = read_table(f("text"), min_fields=1)
        d.text = {u: v.split() for u, v in raw.items()}
        check_keys("text", d.text)
    elif need_text:
        raise DataError(f"{f('text')}: missing")
    if os.path.exists(f("feats.scp")):
        d.feats_scp = read_table(f("feats.scp"), min_fields=2, max_fields=2)
        check_keys("feats.scp", d.feats_scp)
    elif need_feats:
        raise DataError(f"{f('feats.scp')}: missing (run compute-mfcc-feats first)")
    if os.path.exists(f("cmvn.scp")):
        d.cmvn_scp = read_table(f("cmvn.scp"), min_fields=2, max_fields=2)
        for lineno, s in enumerate(d.cmvn_scp, 1):
            if s not in d.spk2utt:
                raise DataError(f"{f('cmvn.scp')}:{lineno}: speaker '{s}' not in spk2utt")
        for s in d.spk2utt:
            if s not in d.cmvn_scp:
                raise DataError(f"{f('cmvn.scp')}: speaker '{s}' missing")
    return d


def fix_data_dir(path: str) -> None:
    """Sort every table in C order (atomically), regenerate spk2utt from utt2spk, and keep only
    utterances present in all of utt2spk/text/segments-or-wav.scp/feats.scp (like fix_data_dir.sh).
    Duplicate keys are an error (naming file and line) rather than silently dropped."""
    def load(name, **kw):
        p = os.path.join(path, name)
        return read_table(p, check_sorted=False, **kw) if os.path.exists(p) else None

    utt2spk = load("utt2spk")
    if utt2spk is None:
        raise DataError(f"{os.path.join(path, 'utt2spk')}: missing")
    keep = set(utt2spk)
    text, segs, wav, feats = load("text", min_fields=1), load("segments"), load("wav.scp"), load("feats.scp")
    for t in (text, segs, feats):
        if t is not None:
            keep &= set(t)
    if segs is None and wav is not None:
        keep &= set(wav)
    if segs is not None and wav is not None:
        keep = {u for u in keep if segs[u].split()[0] in wav}

    def sub(t):
        return {k: v for k, v in t.items() if k in keep}

    utt2spk = sub(utt2spk)
    write_table(os.path.join(path, "utt2spk"), utt2spk)
    write_table(os.path.join(path, "spk2utt"), utt2spk_to_spk2utt(utt2spk))
    for name, t in (("text", text), ("segments", segs), ("feats.scp", feats)):
        if t is not None:
            write_table(os.path.join(path, name), sub(t))
    if wav is not None:
        recs = {segs[u].split()[0] for u in keep} if segs is not None else keep
        write_table(os.path.join(path, "wav.scp"), {k: v for k, v in wav.items() if k in recs})
    cmvn = load("cmvn.scp")
    if cmvn is not None:
        spks = set(utt2spk.values())
        write_table(os.path.join(path, "cmvn.scp"), {k: v for k, v in cmvn.items() if k in spks})


def subset_data_dir(src: str, dst: str, *, first: int | None = None,
                    utt_list: list[str] | None = None) -> DataDir:
    """Copy the first `first` utterances (C order) or those in `utt_list` of `src` to `dst`
    (`utils/subset_data_dir.sh`). Speakers and recordings are restricted accordingly;
    cmvn.scp is copied for the speakers kept (stats are per full speaker, as in Kaldi)."""
    d = validate_data_dir(src, need_wav=False)
    if (first is None) == (utt_list is None):
        raise DataError("subset_data_dir: give exactly one of first= or utt_list=")
    if first is not None:
        keep = d.utts[:first]
    else:
        for u in utt_list:
            if u not in d.utt2spk:
                raise DataError(f"subset_data_dir: utterance '{u}' not in {d.file('utt2spk')}")
        keep = sorted(set(utt_list), key=c_sort_key)
    ks = set(keep)
    os.makedirs(dst, exist_ok=True)
    u2s = {u: d.utt2spk[u] for u in keep}
    write_table(os.path.join(dst, "utt2spk"), u2s)
    write_table(os.path.join(dst, "spk2utt"), utt2spk_to_spk2utt(u2s))
    if d.text is not None:
        write_table(os.path.join(dst, "text"), {u: " ".join(d.text[u]) for u in keep})
    if d.segments is not None:
        write_table(os.path.join(dst, "segments"),
                    {u: f"{s.recording} {s.start:.2f} {s.end:.2f}" for u, s in d.segments.items() if u in ks})
    if d.wav_scp:
        recs = {d.recording_of(u) for u in keep}
        write_table(os.path.join(dst, "wav.scp"), {r: v for r, v in d.wav_scp.items() if r in recs})
    if d.feats_scp is not None:
        write_table(os.path.join(dst, "feats.scp"), {u: d.feats_scp[u] for u in keep})
    if d.cmvn_scp is not None:
        spks = set(u2s.values())
        write_table(os.path.join(dst, "cmvn.scp"), {s: v for s, v in d.cmvn_scp.items() if s in spks})
    return validate_data_dir(dst, need_wav=False)


def _read_recording(rec: str, spec: str) -> tuple[int, np.ndarray]:
    """Read one wav.scp entry (file path or `cmd |`) -> (rate, int16-scale samples, shape (S,))."""
    try:
        if spec.rstrip().endswith("|"):
            with open_input(spec.rstrip(), what=f"recording '{rec}'") as fh:
                rate, x = _read_wav_stream(fh)
        else:
            if not os.path.exists(spec):
                raise DataError(f"recording '{rec}': wav file {spec} does not exist")
            x, rate = sf.read(spec, dtype="int16", always_2d=True)
            if x.shape[1] != 1:
                raise DataError(f"recording '{rec}': {spec} has {x.shape[1]} channels, expected 1")
            x = x[:, 0]
    except DataError:
        raise
    except Exception as e:  # soundfile/pipe errors come in many types
        raise DataError(f"recording '{rec}': cannot read '{spec}': {e}") from None
    if x.size == 0:
        raise DataError(f"recording '{rec}': '{spec}' has no samples")
    return int(rate), x


def _read_wav_stream(fh) -> tuple[int, np.ndarray]:
    data = fh.read()
    x, rate = sf.read(io.BytesIO(data), dtype="int16", always_2d=True)
    return rate, x[:, 0]


def load_wav(d: DataDir, utt: str) -> tuple[int, np.ndarray]:
    """Samples of utterance `utt` as (sample_rate, float32 array (S,) on the int16 scale), cutting
    the `segments` range out of its recording when the data dir has segments."""
    rec = d.recording_of(utt)
    if rec not in d.wav_scp:
        raise DataError(f"utterance '{utt}': recording '{rec}' not in {d.file('wav.scp')}")
    rate, x = _read_recording(rec, d.wav_scp[rec])
    if d.segments is not None:
        seg = d.segments[utt]
        s = int(round(seg.start * rate))
        e = len(x) if seg.end == -1 else int(round(seg.end * rate))
        if e > len(x) + int(0.01 * rate):  # Kaldi tolerates small overruns at the end
            raise DataError(f"utterance '{utt}': segment end {seg.end}s beyond recording '{rec}' "
                            f"({len(x) / rate:.3f}s)")
        x = x[s:min(e, len(x))]
    return rate, x.astype(np.float32)


def load_word_boundaries(data_dir: str) -> tuple[int, dict[str, list[tuple[str, int, int]]]]:
    """(sample_rate, {utt: [(word, start_sample, end_sample), ...]}) from the data dir's optional
    word_boundaries.json (written by corpora whose word timings are known, e.g. FSDD's)."""
    p = os.path.join(data_dir, "word_boundaries.json")
    try:
        with open(p) as f:
            j = json.load(f)
    except OSError as e:
        raise DataError(f"cannot read {p}: {e.strerror}") from None
    return int(j["sample_rate"]), {u: [tuple(s) for s in v] for u, v in j["utterances"].items()}


def describe_data_dir(path: str, *, need_text: bool = False, need_feats: bool = False, need_wav: bool = False,
                      need_cmvn: bool = False) -> str:
    """`validate_data_dir` (and cmvn.scp when `need_cmvn`), then a one-line summary of what the data dir has."""
    d = validate_data_dir(path, need_text=need_text, need_feats=need_feats, need_wav=need_wav)
    if need_cmvn and d.cmvn_scp is None:
        raise DataError(f"{os.path.join(path, 'cmvn.scp')}: missing")
    parts = [f"{len(d.utts)} utterances", f"{len(d.spk2utt)} speakers"]
    if d.segments is not None:
        parts.append(f"{len(d.wav_scp)} recordings (segments)")
    parts += [f"{name}: {'yes' if have else 'no'}" for name, have in
              (("text", d.text is not None), ("feats.scp", d.feats_scp is not None),
               ("cmvn.scp", d.cmvn_scp is not None))]
    return f"{path}: OK: " + ", ".join(parts)


def subset_scp(src: str, dst: str, num: int) -> int:
    """Keep `num` lines of an scp (or any keyed table) spread evenly over it, in order, like Kaldi's
    `utils/subset_scp.pl N` (deterministic, and it samples every part of a speaker-sorted list).
    Writes `dst` atomically; returns the number of lines kept (all of them if num >= the count)."""
    if num <= 0:
        raise DataError(f"subset_scp: the number of lines must be positive, got {num}")
    try:
        with open(src, "rb") as f:
            lines = [ln for ln in f.read().splitlines(keepends=True) if ln.strip()]
    except OSError as e:
        raise DataError(f"cannot read {src}: {e.strerror}") from None
    n = len(lines)
    if n == 0:
        raise DataError(f"{src}: empty")
    keep = lines if num >= n else [lines[(i * n) // num] for i in range(num)]
    write_bytes_atomic(dst, b"".join(ln if ln.endswith(b"\n") else ln + b"\n" for ln in keep))
    return len(keep)
