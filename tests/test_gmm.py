"""FSDD subset -> MFCC+CMVN -> flat-start monophone GMM -> alignments; Kaldi formats and accuracy."""

import gzip
import os
import struct

import numpy as np
import pytest

from nnet2.corpora.fsdd import FsddOptions, default_fsdd_dir, prepare_fsdd
from nnet2.feat import MfccOptions, compute_cmvn_stats, make_feats
from nnet2.gmm import MonoOptions, load_mono_model, read_alignments, train_mono_and_align
from nnet2.utils.errors import DataError, UserError


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    try:
        fsdd = default_fsdd_dir()
    except UserError:
        pytest.skip("FSDD not available")
    root = tmp_path_factory.mktemp("fsdd")
    prepare_fsdd(str(root), FsddOptions(fsdd_dir=fsdd, quick=True))
    o = MfccOptions.from_argv(["--use-energy=false", "--sample-frequency=8000", "--dither=0"])
    d = str(root / "data" / "train")
    make_feats(d, o, str(root / "mfcc"), nj=2)
    compute_cmvn_stats(d, str(root / "mfcc"))
    return root


def test_align_quick_subset(quick):
    out = str(quick / "exp" / "mono_ali")
    o = MonoOptions(num_iters=20, max_iter_inc=15, tot_gauss=400)
    s = train_mono_and_align(str(quick / "data" / "train"), str(quick / "data" / "lang"), out, o)
    assert s["failed"] == 0 and s["aligned"] == s["utterances"]
    assert s["frame_accuracy"] > 0.7
    # Alignment archive: gzipped, binary int32 vectors as Kaldi's BasicVectorHolder (src/util/kaldi-holder-inl.h).
    raw = gzip.open(os.path.join(out, "ali.1.gz")).read()
    key, rest = raw.split(b" ", 1)
    assert rest[:2] == b"\0B" and rest[2] == 4
    n = struct.unpack("<i", rest[3:7])[0]
    assert rest[7] == 4
    alis = read_alignments(os.path.join(out, "ali.1.gz"))
    import kaldiio

    feats = kaldiio.load_scp(str(quick / "data" / "train" / "feats.scp"))
    first = alis[key.decode()]
    assert len(first) == n == feats[key.decode()].shape[0]
    # The model comes back exactly from out_dir.
    m = load_mono_model(out)
    assert m.tm.num_pdfs == m.am.num_pdfs == 19 * 3 + 5
    assert m.am.num_gauss == s["num_gauss"]
    assert set(np.unique(np.concatenate(list(alis.values())))) <= set(range(1, m.tm.num_transition_ids + 1))
    text = open(os.path.join(out, "final.mdl")).read()
    assert text.startswith("<TransitionModel>") and "<DIMENSION> 39 <NUMPDFS> 62" in text
    assert np.isfinite(m.am.log_likelihood(0, np.zeros(39, np.float32)))


def test_missing_feats_and_bad_word(quick, tmp_path):
    import shutil

    d = tmp_path / "d"
    shutil.copytree(quick / "data" / "train", d)
    os.unlink(d / "feats.scp")
    with pytest.raises(DataError, match="feats.scp"):
        train_mono_and_align(str(d), str(quick / "data" / "lang"), str(tmp_path / "o"))
    shutil.copy(quick / "data" / "train" / "feats.scp", d / "feats.scp")
    lines = (d / "text").read_text().splitlines()
    lines[0] = lines[0].split()[0] + " eleven"
    (d / "text").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="word 'eleven' not in"):
        train_mono_and_align(str(d), str(quick / "data" / "lang"), str(tmp_path / "o"))
    assert not os.path.exists(tmp_path / "o" / "ali.1.gz")


def _flat_am(n: int, dim: int = 2):
    import kaldi_hmm_gmm as khg

    am = khg.AmDiagGmm()
    for i in range(n):
        g = khg.DiagGmm(1, dim)
        g.set_weights(np.ones(1, np.float32))
        g.set_means(np.full((1, dim), float(i), np.float32))
        g.set_invvars(np.full((1, dim), 1.0 + i, np.float32))
        g.compute_gconsts()
        am.add_pdf(g)
    return am


def test_seeded_split_matches_kaldi_split_by_count():
    """Our SplitByCount port against Kaldi's own (compiled into kaldi-hmm-gmm) with the perturbation off
    (the only random part): the same Gaussians per pdf, weights and means. With the perturbation on,
    the same seed gives the same model and the mean moves are +-perturb x stddev."""
    from nnet2.gmm.mono import split_by_count, split_targets

    rng = np.random.default_rng(0)
    for trial in range(4):
        occs = rng.gamma(1.0, 200, 40).astype(np.float32)
        ref, ours = _flat_am(40), _flat_am(40)
        ref.split_by_count(occs, 200, 0.0, 0.25, 20.0)
        split_by_count(ours, occs, 200, 0.0, 0.25, 20.0, np.random.default_rng(1))
        assert split_targets(occs, 200, 0.25, 20.0) == [ref.get_pdf(i).num_gauss for i in range(40)]
        for i in range(40):
            np.testing.assert_array_equal(ours.get_pdf(i).weights, ref.get_pdf(i).weights)
            np.testing.assert_array_equal(ours.get_pdf(i).means, ref.get_pdf(i).means)
            np.testing.assert_allclose(ours.get_pdf(i).gconsts, ref.get_pdf(i).gconsts, rtol=1e-6)
    occs = np.array([500, 90, 1000], np.float32)
    a, b = _flat_am(3), _flat_am(3)
    split_by_count(a, occs, 9, 0.01, 0.25, 20.0, np.random.default_rng(7))
    split_by_count(b, occs, 9, 0.01, 0.25, 20.0, np.random.default_rng(7))
    for i in range(3):
        np.testing.assert_array_equal(a.get_pdf(i).means, b.get_pdf(i).means)
    m = a.get_pdf(2).means  # pdf 2 (mean 2, variance 1/3) split: means moved by at most a few 0.01 stddevs
    assert a.get_pdf(2).num_gauss > 1 and np.abs(m - 2.0).max() < 0.05 * np.sqrt(1 / 3) * 4 and np.abs(m - 2.0).max() > 0


def test_align_mono_twice_gives_identical_bytes(quick, tmp_path):
    """Same data, same seed, one thread: byte-identical final.mdl and alignments (Kaldi's DiagGmm::Split
    in kaldi-hmm-gmm draws from std::random_device; ours is seeded)."""
    o = MonoOptions(num_iters=6, max_iter_inc=4, tot_gauss=150, realign_iters="1 3 5")
    outs = []
    for k in range(2):
        out = str(tmp_path / f"m{k}")
        train_mono_and_align(str(quick / "data" / "train"), str(quick / "data" / "lang"), out, o)
        outs.append([open(os.path.join(out, f), "rb").read() for f in ("final.mdl", "ali.1.gz", "trans_stats.npy")])
    assert outs[0] == outs[1]
    assert load_mono_model(str(tmp_path / "m0")).am.num_gauss > 62  # the splits happened
