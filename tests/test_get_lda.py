"""`nnet2 get-lda`: steps/nnet2/get_lda.sh's pipeline in one process.

Checks against Kaldi's source (src/nnet2/get-feature-transform.cc, src/transform/lda-estimate.cc,
src/nnet2bin/nnet-get-feature-transform.cc, steps/nnet2/get_lda.sh): the properties the estimate
must have by construction (M W Mᵀ = diag((wcf+s)/(1+s)), M T Mᵀ = diag(wcf+s) with s the
descending generalized eigenvalues of B against W, zero projected mean), silence frames weighted 0,
the output forms (binary `FM` by default, text with --binary=false, equal to copy-matrix's
conversion). No Kaldi binary is available, so nothing here is compared with Kaldi-written bytes.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from nnet2.cli import main as cli
from nnet2.feat.lda import splice
from nnet2.io import table
from nnet2.io.nnet_format import read_mdl

DATA = os.path.join(os.path.dirname(__file__), "data")
MDL = os.path.join(DATA, "tiny_pnorm.mdl.txt")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Features whose mean depends on the pdf of each frame, alignments of transition-ids."""
    d = tmp_path_factory.mktemp("lda")
    tm = read_mdl(MDL).transition_model
    rng = np.random.default_rng(5)
    sil_tids = np.nonzero(tm.tid2phone == 1)[0]
    speech_tids = np.nonzero((tm.tid2phone != 1) & (tm.tid2phone > 0))[0]
    centers = rng.standard_normal((tm.num_pdfs, 2)) * 3
    feats, alis = {}, {}
    for i in range(40):
        t = 30
        tids = rng.choice(speech_tids, t)
        tids[:3] = rng.choice(sil_tids, 3)
        x = centers[tm.tid2pdf[tids]] + rng.standard_normal((t, 2)) * 2
        feats[f"u{i:02d}"], alis[f"u{i:02d}"] = x.astype(np.float32), tids.astype(np.int32)
    # an all-silence utterance (its values must not matter) and one without an alignment
    feats["zsil"] = (rng.standard_normal((10, 2)) * 100).astype(np.float32)
    alis["zsil"] = rng.choice(sil_tids, 10).astype(np.int32)
    feats["zzz_noali"] = np.zeros((5, 2), np.float32)
    table.write_table(f"ark:{d}/feats.ark", feats)
    table.write_table(f"ark:{d}/ali.ark", alis, kind="int_vector")
    return d, tm, feats, alis


def _run(d, *extra, out="lda.mat", feats="feats.ark"):
    return cli(["get-lda", "--silence-phones=1", "--left-context=1", "--right-context=1", *extra, MDL,
                f"ark:{d}/{feats}", f"ark:{d}/ali.ark", str(d / out)])


def test_estimate_has_the_properties_of_kaldis_transform(corpus):
    d, tm, feats, alis = corpus
    assert _run(d, "--dim=4", "--within-class-factor=0.0001") == 0
    raw = (d / "lda.mat").read_bytes()
    assert raw[:5] == b"\0BFM "  # WriteKaldiObject(Matrix<BaseFloat>, binary)
    m = table.read_matrix_file(str(d / "lda.mat")).astype(np.float64)
    assert m.shape == (4, 7)  # dim x (3*2 spliced + 1)
    xs, ys = [], []
    for u, x in feats.items():
        if u not in alis or u == "zsil":
            continue
        sp = splice(x, 1, 1).astype(np.float64)
        keep = tm.tid2phone[alis[u]] != 1
        xs.append(sp[keep])
        ys.append(tm.tid2pdf[alis[u]][keep])
    x, y = np.concatenate(xs), np.concatenate(ys)
    mu = x.mean(0)
    tot = np.cov(x.T, bias=True)
    between = sum((y == c).mean() * np.outer(x[y == c].mean(0) - mu, x[y == c].mean(0) - mu)
                  for c in np.unique(y))
    within = tot - between
    # s: generalized eigenvalues of (B, W), descending
    s = np.sort(np.real(np.linalg.eigvals(np.linalg.solve(within, between))))[::-1][:4]
    a = m[:, :-1]
    wcf = 0.0001
    np.testing.assert_allclose(a @ within @ a.T, np.diag((wcf + s) / (1 + s)), atol=2e-4)
    np.testing.assert_allclose(a @ tot @ a.T, np.diag(wcf + s), rtol=1e-4, atol=2e-4)
    np.testing.assert_allclose(a @ mu + m[:, -1], 0, atol=1e-4)  # remove-offset: projected mean 0


def test_silence_frames_have_weight_zero(corpus, tmp_path):
    """Changing the features of an all-silence utterance (weight 0 from weight-silence-post 0.0)
    does not change the transform."""
    d, tm, feats, alis = corpus
    assert _run(d, out="a.mat") == 0
    f2 = dict(feats)
    f2["zsil"] = f2["zsil"] * -7 + 3
    table.write_table(f"ark:{d}/feats2.ark", f2)
    assert _run(d, out="b.mat", feats="feats2.ark") == 0
    assert (d / "a.mat").read_bytes() == (d / "b.mat").read_bytes()


def test_text_output_and_copy_matrix(corpus):
    """--binary=false writes Matrix::Write's text form; copy-matrix --binary=false of the binary
    output gives the same bytes, and copy-matrix converts back."""
    d, *_ = corpus
    assert _run(d, out="b.mat") == 0
    assert _run(d, "--binary=false", out="t.mat") == 0
    assert (d / "t.mat").read_text().startswith(" [\n  ")
    assert table.read_matrix_file(str(d / "b.mat")).shape == (6, 7)  # default: no dimension reduction
    assert cli(["copy-matrix", "--binary=false", str(d / "b.mat"), str(d / "c.txt")]) == 0
    assert (d / "c.txt").read_bytes() == (d / "t.mat").read_bytes()


def test_bad_silence_phone_is_one_clear_error(corpus, capsys):
    d, *_ = corpus
    assert cli(["get-lda", "--silence-phones=1:99", MDL, f"ark:{d}/feats.ark", f"ark:{d}/ali.ark",
                str(d / "x.mat")]) == 1
    err = capsys.readouterr().err
    assert "99" in err and "Traceback" not in err
    assert not (d / "x.mat").exists()
