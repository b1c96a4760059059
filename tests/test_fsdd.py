"""FSDD connected-digit corpus: reproducible, consistent Kaldi data dirs, true boundaries."""

import hashlib
import os

import numpy as np
import pytest

from nnet2.corpora.fsdd import FsddOptions, default_fsdd_dir, prepare_fsdd
from nnet2.data.datadir import load_word_boundaries, validate_data_dir
from nnet2.utils.errors import DataError, UserError


def fsdd_or_skip():
    try:
        return default_fsdd_dir()
    except UserError:
        pytest.skip("FSDD not available")


def digest(root):
    h = hashlib.sha256()
    for dp, _dn, fns in sorted(os.walk(root)):
        for f in sorted(fns):
            h.update(f.encode())
            h.update(open(os.path.join(dp, f), "rb").read().replace(str(root).encode(), b"ROOT"))
    return h.hexdigest()


def test_reproducible_and_valid(tmp_path):
    fsdd = fsdd_or_skip()
    o = FsddOptions(fsdd_dir=fsdd, quick=True)
    s1 = prepare_fsdd(str(tmp_path / "a"), o)
    s2 = prepare_fsdd(str(tmp_path / "b"), o)
    assert s1 == s2
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert s1["train"]["words"] == 6 * 10 * 4 and s1["test"]["words"] == 6 * 10
    s3 = prepare_fsdd(str(tmp_path / "c"), FsddOptions(fsdd_dir=fsdd, quick=True, seed=1))
    assert digest(tmp_path / "c") != digest(tmp_path / "a")
    assert s3["train"]["words"] == s1["train"]["words"]
    for name in ("train", "test"):
        d = validate_data_dir(str(tmp_path / "a" / "data" / name), need_text=True)
        rate, bounds = load_word_boundaries(d.path)
        for u in d.utts:
            words = d.text[u]
            assert len(words) >= 2  # <= 7, except a speaker's last utt may absorb a remainder
            assert [b[0] for b in bounds[u]] == words
            assert u.startswith(d.utt2spk[u] + "-")
            ends = [(s, e) for _, s, e in bounds[u]]
            assert all(e1 < s2 for (_, e1), (s2, _) in zip(ends, ends[1:]))
    lex = (tmp_path / "a" / "data" / "local" / "dict" / "lexicon.txt").read_text()
    assert "zero Z IH R OW\n" in lex and "!SIL SIL\n" in lex
    phones = (tmp_path / "a" / "data" / "lang" / "phones.txt").read_text().splitlines()
    assert phones[0] == "<eps> 0" and phones[1] == "SIL 1"


def test_boundaries_hold_the_recording(tmp_path):
    import soundfile as sf

    fsdd = fsdd_or_skip()
    prepare_fsdd(str(tmp_path), FsddOptions(fsdd_dir=fsdd, quick=True))
    d = validate_data_dir(str(tmp_path / "data" / "test"))
    _, bounds = load_word_boundaries(d.path)
    u = d.utts[0]
    x, _ = sf.read(d.wav_scp[u], dtype="int16")
    w, s, e = bounds[u][0]
    assert 0.05 * 8000 <= s <= 0.30 * 8000 + 1
    assert np.abs(x[:s].astype(float)).max() < 40  # the pause is low-level noise


def test_speaker_split(tmp_path):
    fsdd = fsdd_or_skip()
    prepare_fsdd(str(tmp_path), FsddOptions(fsdd_dir=fsdd, quick=True, split="speaker", test_speaker="theo"))
    test = validate_data_dir(str(tmp_path / "data" / "test"))
    train = validate_data_dir(str(tmp_path / "data" / "train"))
    assert set(test.spk2utt) == {"theo"} and "theo" not in train.spk2utt
    with pytest.raises(UserError, match="nobody"):
        prepare_fsdd(str(tmp_path / "x"), FsddOptions(fsdd_dir=fsdd, split="speaker", test_speaker="nobody"))


def test_missing_corpus(tmp_path):
    with pytest.raises(DataError, match="no recordings"):
        prepare_fsdd(str(tmp_path / "o"), FsddOptions(fsdd_dir=str(tmp_path)))
