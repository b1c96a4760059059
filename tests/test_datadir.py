"""Kaldi data dir validation (file + line in errors), fix/subset, wav loading, feature extraction
errors leaving nothing half-written."""

import os

import numpy as np
import pytest
import soundfile as sf

from nnet2.data.datadir import fix_data_dir, load_wav, subset_data_dir, validate_data_dir
from nnet2.feat import MfccOptions, compute_cmvn_stats, make_feats
from nnet2.utils.errors import DataError


def make_dir(root, n=3, rate=8000):
    d = root / "data"
    d.mkdir()
    wav, u2s, text = [], [], []
    rng = np.random.default_rng(0)
    for i in range(n):
        u = f"spk{i % 2}-utt{i}"
        p = root / f"{u}.wav"
        sf.write(str(p), (rng.standard_normal(4000) * 1000).astype(np.int16), rate, subtype="PCM_16")
        wav.append(f"{u} {p}")
        u2s.append(f"{u} spk{i % 2}")
        text.append(f"{u} one two")
    for name, lines in (("wav.scp", wav), ("utt2spk", u2s), ("text", text)):
        (d / name).write_text("".join(sorted(line + "\n" for line in lines)))
    spk = {}
    for line in u2s:
        u, s = line.split()
        spk.setdefault(s, []).append(u)
    (d / "spk2utt").write_text("".join(f"{s} {' '.join(sorted(us))}\n" for s, us in sorted(spk.items())))
    return str(d)


OPTS = MfccOptions.from_argv(["--sample-frequency=8000", "--use-energy=false", "--dither=0"])


def test_valid_dir_and_load_wav(tmp_path):
    d = validate_data_dir(make_dir(tmp_path), need_text=True)
    assert d.utts == ["spk0-utt0", "spk0-utt2", "spk1-utt1"]
    rate, x = load_wav(d, "spk0-utt0")
    assert rate == 8000 and x.shape == (4000,) and x.dtype == np.float32


def test_unsorted_names_file_and_line(tmp_path):
    d = make_dir(tmp_path)
    lines = open(os.path.join(d, "text")).read().splitlines()
    open(os.path.join(d, "text"), "w").write("\n".join([lines[1], lines[0], lines[2]]) + "\n")
    with pytest.raises(DataError, match=r"text:2: not sorted"):
        validate_data_dir(d)
    fix_data_dir(d)
    validate_data_dir(d)


def test_duplicate_key(tmp_path):
    d = make_dir(tmp_path)
    with open(os.path.join(d, "utt2spk"), "a") as f:
        f.write("spk1-utt1 spk1\n")
    with pytest.raises(DataError, match=r"utt2spk:4: duplicate key 'spk1-utt1'"):
        validate_data_dir(d)


def test_text_utt_without_audio(tmp_path):
    d = make_dir(tmp_path)
    with open(os.path.join(d, "text"), "a") as f:
        f.write("spk9-zz one\n")
    with pytest.raises(DataError, match=r"text:4: utterance 'spk9-zz' not in utt2spk"):
        validate_data_dir(d)


def test_spk2utt_disagrees(tmp_path):
    d = make_dir(tmp_path)
    open(os.path.join(d, "spk2utt"), "w").write("spk0 spk0-utt0\nspk1 spk1-utt1\n")
    with pytest.raises(DataError, match=r"spk2utt:1: utterances of speaker 'spk0'"):
        validate_data_dir(d)


def test_segments_and_pipe(tmp_path):
    d = make_dir(tmp_path)
    wav = open(os.path.join(d, "wav.scp")).read().split()[1]
    open(os.path.join(d, "wav.scp"), "w").write(f"rec1 cat {wav} |\n")
    open(os.path.join(d, "segments"), "w").write(
        "spk0-utt0 rec1 0.00 0.25\nspk0-utt2 rec1 0.10 0.30\nspk1-utt1 rec1 0.25 0.50\n")
    dd = validate_data_dir(d)
    rate, x = load_wav(dd, "spk0-utt2")
    assert x.shape == (1600,)
    _, first = load_wav(dd, "spk0-utt0")
    assert first.shape == (2000,)


def test_subset(tmp_path):
    d = make_dir(tmp_path)
    s = subset_data_dir(d, str(tmp_path / "sub"), first=2)
    assert s.utts == ["spk0-utt0", "spk0-utt2"] and list(s.spk2utt) == ["spk0"]
    s = subset_data_dir(d, str(tmp_path / "sub2"), utt_list=["spk1-utt1"])
    assert s.utts == ["spk1-utt1"]


def test_make_feats_and_cmvn(tmp_path):
    import kaldiio

    d = make_dir(tmp_path)
    assert make_feats(d, OPTS, str(tmp_path / "mfcc"), nj=2) == 3
    feats = kaldiio.load_scp(os.path.join(d, "feats.scp"))
    assert feats["spk0-utt0"].shape == (1 + (4000 - 200) // 80, 13)
    compute_cmvn_stats(d, str(tmp_path / "mfcc"))
    cm = kaldiio.load_scp(os.path.join(d, "cmvn.scp"))
    st = cm["spk0"]
    assert st.dtype == np.float64 and st[0, -1] == 2 * 48
    np.testing.assert_allclose(st[0, :-1], feats["spk0-utt0"].sum(0) + feats["spk0-utt2"].sum(0), rtol=1e-5)
    validate_data_dir(d, need_feats=True)


def test_missing_wav_leaves_nothing(tmp_path):
    d = make_dir(tmp_path)
    os.unlink(str(tmp_path / "spk1-utt1.wav"))
    with pytest.raises(DataError, match=r"recording 'spk1-utt1'.*does not exist"):
        make_feats(d, OPTS, str(tmp_path / "mfcc"), nj=1)
    assert not os.path.exists(os.path.join(d, "feats.scp"))
    assert not os.path.exists(tmp_path / "mfcc")  # no empty feature dir left behind


def test_unreadable_wav(tmp_path):
    d = make_dir(tmp_path)
    (tmp_path / "spk0-utt2.wav").write_bytes(b"not a wav")
    with pytest.raises(DataError, match=r"recording 'spk0-utt2': cannot read"):
        make_feats(d, OPTS, str(tmp_path / "mfcc"), nj=2)
    assert not os.path.exists(tmp_path / "mfcc")  # no empty feature dir left behind


def test_nan_features_named(tmp_path):
    import kaldiio

    d = make_dir(tmp_path)
    make_feats(d, OPTS, str(tmp_path / "mfcc"))
    m = np.ones((5, 13), np.float32)
    m[3, 2] = np.nan
    kaldiio.save_ark(str(tmp_path / "bad.ark"), {"spk0-utt0": m}, scp=str(tmp_path / "bad.scp"))
    lines = open(os.path.join(d, "feats.scp")).read().splitlines()
    lines[0] = open(tmp_path / "bad.scp").read().strip()
    open(os.path.join(d, "feats.scp"), "w").write("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"utterance 'spk0-utt0': NaN/Inf in features at frame 3"):
        compute_cmvn_stats(d, str(tmp_path / "cm"))
    assert not os.path.exists(os.path.join(d, "cmvn.scp"))
    assert not os.path.exists(tmp_path / "cm") or os.listdir(tmp_path / "cm") == []


def test_subset_scp(tmp_path):
    from nnet2.data.datadir import subset_scp
    from nnet2.utils.errors import DataError

    src = tmp_path / "feats.scp"
    src.write_text("".join(f"u{i:02d} a.ark:{i}\n" for i in range(10)))
    assert subset_scp(str(src), str(tmp_path / "o"), 4) == 4
    assert [ln.split()[0] for ln in (tmp_path / "o").read_text().splitlines()] == ["u00", "u02", "u05", "u07"]
    assert subset_scp(str(src), str(tmp_path / "o"), 50) == 10
    assert (tmp_path / "o").read_text() == src.read_text()
    with pytest.raises(DataError, match="positive"):
        subset_scp(str(src), str(tmp_path / "o"), 0)
    with pytest.raises(DataError, match="cannot read"):
        subset_scp(str(tmp_path / "nope"), str(tmp_path / "o"), 3)
