"""MFCC/fbank vs a float64 NumPy implementation of Kaldi's formulas (feature-window.cc,
mel-computations.cc, feature-mfcc.cc), CMVN, options, and bad input."""

import os

import numpy as np
import pytest

from nnet2.feat import FbankOptions, MfccOptions, apply_cmvn, cmvn_stats, compute_fbank, compute_mfcc
from nnet2.utils.errors import DataError, UserError

def _samples():
    from nnet2.corpora.fsdd import default_fsdd_dir

    try:  # $FSDD_DIR, ../shared/data/fsdd, or the verified download cache
        wav = os.path.join(default_fsdd_dir(), "recordings", "3_jackson_7.wav")
    except UserError:
        pytest.skip("FSDD not available")
    import soundfile as sf

    x, sr = sf.read(wav, dtype="int16")
    return x.astype(np.float64), sr


def _mel(f):
    return 1127.0 * np.log(1.0 + f / 700.0)


def ref_fbank(x, sr, num_bins=23, low=20.0, high=0.0, shift=80, length=200):
    """Kaldi's log mel energies (T, num_bins), float64, snip_edges, povey window, power spectrum."""
    n = 1 + (len(x) - length) // shift
    nfft = 1 << int(np.ceil(np.log2(length)))
    frames = np.stack([x[t * shift:t * shift + length] for t in range(n)])
    frames = frames - frames.mean(axis=1, keepdims=True)          # remove DC
    pre = frames.copy()
    pre[:, 1:] -= 0.97 * frames[:, :-1]                           # pre-emphasis, first sample x0-0.97x0
    pre[:, 0] -= 0.97 * frames[:, 0]
    i = np.arange(length)
    win = (0.5 - 0.5 * np.cos(2 * np.pi * i / (length - 1))) ** 0.85   # povey
    spec = np.abs(np.fft.rfft(pre * win, nfft)) ** 2                # (T, nfft/2+1)
    nyq = sr / 2
    high = high if high > 0 else nyq + high
    ml, mh = _mel(low), _mel(high)
    delta = (mh - ml) / (num_bins + 1)
    fft_freqs = np.arange(nfft // 2) * sr / nfft
    m = _mel(fft_freqs)
    banks = np.zeros((num_bins, nfft // 2 + 1))
    for b in range(num_bins):
        left, centre, right = ml + b * delta, ml + (b + 1) * delta, ml + (b + 2) * delta
        up = (m > left) & (m <= centre)
        down = (m > centre) & (m < right)
        banks[b, :nfft // 2][up] = ((m - left) / (centre - left))[up]
        banks[b, :nfft // 2][down] = ((right - m) / (right - centre))[down]
    e = spec @ banks.T
    return np.log(np.maximum(e, np.finfo(np.float32).eps))


def ref_mfcc(x, sr, num_ceps=13, lifter=22.0):
    fb = ref_fbank(x, sr)
    nb = fb.shape[1]
    k = np.arange(num_ceps)[:, None]
    n = np.arange(nb)[None, :]
    dct = np.sqrt(2.0 / nb) * np.cos(np.pi / nb * (n + 0.5) * k)
    dct[0] = np.sqrt(1.0 / nb)
    c = fb @ dct.T
    lift = 1.0 + 0.5 * lifter * np.sin(np.pi * np.arange(num_ceps) / lifter)
    return c * lift


def test_mfcc_matches_numpy_reference():
    x, sr = _samples()
    o = MfccOptions.from_argv(["--use-energy=false", "--sample-frequency=8000", "--dither=0"])
    got = compute_mfcc(x.astype(np.float32), o, rate=sr)
    ref = ref_mfcc(x, sr)
    assert got.shape == ref.shape == (1 + (len(x) - 200) // 80, 13)
    np.testing.assert_allclose(got, ref, atol=2e-3, rtol=1e-4)
    assert np.max(np.abs(got - ref) / (1 + np.abs(ref))) < 1e-4


def test_fbank_matches_numpy_reference():
    x, sr = _samples()
    o = FbankOptions.from_argv(["--sample-frequency=8000", "--dither=0"])
    got = compute_fbank(x.astype(np.float32), o, rate=sr)
    ref = ref_fbank(x, sr)
    assert got.shape == ref.shape
    assert np.max(np.abs(got - ref) / (1 + np.abs(ref))) < 1e-4


def test_dither_is_seeded():
    x, sr = _samples()
    o = MfccOptions.from_argv(["--sample-frequency=8000", "--dither=1.0"])
    a = compute_mfcc(x.astype(np.float32), o, rate=sr, utt="u1")
    b = compute_mfcc(x.astype(np.float32), o, rate=sr, utt="u1")
    c = compute_mfcc(x.astype(np.float32), o, rate=sr, utt="u2")
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_conf_unknown_option_and_bad_value(tmp_path):
    p = tmp_path / "mfcc.conf"
    p.write_text("--use-energy=false  # comment\n--sample-frequency=8000\n")
    o = MfccOptions.from_conf(str(p))
    assert o.use_energy is False and o.sample_frequency == 8000 and o.num_ceps == 13
    p.write_text("--use-energy=false\n--num-cepstra=13\n")
    with pytest.raises(UserError, match="num-cepstra"):
        MfccOptions.from_conf(str(p))
    with pytest.raises(UserError, match="use-energy"):
        MfccOptions.from_argv(["--use-energy=maybe"])


def test_sample_rate_mismatch_names_utt():
    o = MfccOptions()
    with pytest.raises(DataError, match="uttX.*8000"):
        compute_mfcc(np.zeros(1000, np.float32), o, rate=8000, utt="uttX")


def test_cmvn_stats_and_apply():
    rng = np.random.default_rng(0)
    f = (rng.standard_normal((50, 4)) * 3 + 7).astype(np.float32)
    st = cmvn_stats(f)
    assert st.dtype == np.float64 and st.shape == (2, 5)
    assert st[0, -1] == 50 and st[1, -1] == 0
    np.testing.assert_allclose(st[0, :4], f.astype(np.float64).sum(0))
    out = apply_cmvn(f, st)
    np.testing.assert_allclose(out.mean(0), 0, atol=1e-5)
    out = apply_cmvn(f, st, norm_vars=True)
    np.testing.assert_allclose(out.std(0), 1, atol=1e-4)
    with pytest.raises(DataError, match="spk1"):
        apply_cmvn(f, st[:, :3], name="spk1")
