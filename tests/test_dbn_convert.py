"""DBN -> DNN conversion (`nnet2.nnet.convert.dbn_to_nnet`, `nnet2 dbn-to-nnet`)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from nnet2.nnet import components as C
from nnet2.nnet.convert import dbn_to_model, dbn_to_nnet, nnet1_glorot, random_sigmoid_nnet
from nnet2.nnet.model import load_model, save_model
from nnet2.io.nnet1 import AddShift, AffineTransform, Rescale, Sigmoid, Splice, write_nnet1
from nnet2.utils.errors import ModelFormatError, UserError

D, CTX = 6, 2  # feature dim, splice ±CTX


def _transform(rng, d=D, ctx=CTX):
    n = d * (2 * ctx + 1)
    return [Splice(d, np.arange(-ctx, ctx + 1, dtype=np.int32)),
            AddShift(rng.standard_normal(n).astype(np.float32)),
            Rescale((0.5 + rng.random(n)).astype(np.float32))]


def _dbn(rng, dims):
    comps = []
    for i, o in zip(dims, dims[1:]):
        comps += [AffineTransform((rng.standard_normal((o, i)) * 0.3).astype(np.float32),
                                  rng.standard_normal(o).astype(np.float32)), Sigmoid(o)]
    return comps


def _reference_hidden(feats, ft, dbn):
    """float64: splice (edges repeated) -> (x + shift) * scale -> sigmoid layers."""
    x = np.asarray(feats, np.float64)
    T = len(x)
    offs = ft[0].offsets
    sp = np.concatenate([x[np.clip(np.arange(T) + o, 0, T - 1)] for o in offs], axis=1)
    h = (sp + ft[1].shift.astype(np.float64)) * ft[2].scale.astype(np.float64)
    for a in dbn[::2]:
        h = 1.0 / (1.0 + np.exp(-(h @ a.W.T.astype(np.float64) + a.b.astype(np.float64))))
    return h


@pytest.fixture(scope="module")
def gmm_mdl(tmp_path_factory):
    pytest.importorskip("kaldi_hmm_gmm")
    from swbd_fixture import make_transition_model, write_gmm_mdl

    tm, _ = make_transition_model()
    path = str(tmp_path_factory.mktemp("gmm") / "final.mdl")
    write_gmm_mdl(path, tm, 40, np.random.default_rng(0))
    return path


@pytest.mark.parametrize("binary", [True, False])
def test_conversion_keeps_dbn_outputs(tmp_path, rng, binary):
    ft, dbn = _transform(rng), _dbn(rng, [D * (2 * CTX + 1), 16, 12])
    write_nnet1(tmp_path / "ft", ft, binary=binary)
    write_nnet1(tmp_path / "dbn", dbn, binary=binary)
    nnet = dbn_to_nnet(str(tmp_path / "ft"), str(tmp_path / "dbn"), num_pdfs=9, seed=3)
    types = [type(c) for c in nnet.components]
    assert types == [C.SpliceComponent, C.FixedBiasComponent, C.FixedScaleComponent,
                     C.AffineComponent, C.SigmoidComponent, C.AffineComponent, C.SigmoidComponent,
                     C.AffineComponent, C.SoftmaxComponent]
    assert nnet.components[0].context == list(range(-CTX, CTX + 1))
    assert (nnet.input_dim, nnet.output_dim) == (D, 9)
    assert (nnet.left_context, nnet.right_context) == (CTX, CTX)

    feats = rng.standard_normal((23, D)).astype(np.float32)
    h = nnet.components[0].propagate(feats)
    for c in nnet.components[1:7]:
        h = c.propagate(np.ascontiguousarray(h))
    ref = _reference_hidden(feats, ft, dbn)
    np.testing.assert_allclose(h, ref, rtol=0, atol=2e-6)
    # whole-network output = softmax of the new layer on those activations
    W, b = nnet.components[7].W.astype(np.float64), nnet.components[7].b.astype(np.float64)
    z = ref @ W.T + b
    p = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(nnet.compute_utterance(feats), p / p.sum(1, keepdims=True), atol=2e-6)


def test_output_layer_init_follows_nnet1_and_seed(rng):
    ft, dbn = _transform(rng), _dbn(rng, [D * (2 * CTX + 1), 300])
    a = dbn_to_nnet(ft, dbn, 400, seed=1)
    out = a.components[-2]
    assert np.all(out.b == 0)
    assert abs(out.W.std() / (0.1 * nnet1_glorot(300, 400)) - 1) < 0.02
    assert np.array_equal(dbn_to_nnet(ft, dbn, 400, seed=1).params, a.params)
    assert not np.array_equal(dbn_to_nnet(ft, dbn, 400, seed=2).params, a.params)
    b = dbn_to_nnet(ft, dbn, 400, seed=1, output_init="nnet2").components[-2]
    assert abs(b.W.std() * np.sqrt(300) - 1) < 0.02 and abs(b.b.std() - 1) < 0.2
    # the hidden layer is the DBN's, bit for bit
    assert np.array_equal(a.components[3].W, dbn[0].W) and np.array_equal(a.components[3].b, dbn[0].b)


def test_random_init_has_same_structure(rng):
    ft = _transform(rng)
    r = random_sigmoid_nnet(ft, 50, nn_depth=3, hid_dim=200, seed=0)
    d = dbn_to_nnet(ft, _dbn(rng, [D * (2 * CTX + 1), 200, 200, 200]), 50)
    assert [(type(c), c.input_dim, c.output_dim) for c in r.components] == \
           [(type(c), c.input_dim, c.output_dim) for c in d.components]
    first, second = r.components[3], r.components[5]
    assert abs(first.W.std() / (0.1 * nnet1_glorot(30, 200) * np.sqrt(1 / 12)) - 1) < 0.05
    assert abs(second.W.std() / (0.1 * nnet1_glorot(200, 200)) - 1) < 0.05
    assert -4 <= first.b.min() and first.b.max() <= 0
    with pytest.raises(UserError, match="nn_depth"):
        random_sigmoid_nnet(ft, 50, nn_depth=0, hid_dim=10)


@pytest.mark.parametrize("binary", [True, False])
def test_mdl_round_trip_with_gmm_transition_model(tmp_path, rng, gmm_mdl, binary):
    from nnet2.io.nnet_format import read_transition_model_from_gmm_mdl

    ft, dbn = _transform(rng, d=40, ctx=1), _dbn(rng, [120, 32, 32])
    write_nnet1(tmp_path / "ft", ft)
    write_nnet1(tmp_path / "dbn", dbn)
    m = dbn_to_model(str(tmp_path / "ft"), str(tmp_path / "dbn"), gmm_mdl, seed=5)
    tm = read_transition_model_from_gmm_mdl(gmm_mdl)
    assert m.nnet.output_dim == tm.num_pdfs == 17 and m.priors.size == 0
    save_model(m, tmp_path / "0.mdl", binary=binary)
    back = load_model(tmp_path / "0.mdl")
    assert back.transition_model.to_bytes(False) == tm.to_bytes(False)
    if binary:
        assert np.array_equal(back.nnet.params, m.nnet.params)
    else:  # Kaldi's text form keeps 7 significant digits
        np.testing.assert_allclose(back.nnet.params, m.nnet.params, rtol=1e-6, atol=1e-9)
    assert [c.type_name for c in back.nnet.components] == [c.type_name for c in m.nnet.components]
    feats = rng.standard_normal((9, 40)).astype(np.float32)
    np.testing.assert_allclose(back.nnet.compute_utterance(feats), m.nnet.compute_utterance(feats), atol=1e-6)


def test_priors_from_alignments(tmp_path, rng, gmm_mdl):
    from nnet2.data.alignments import write_ali
    from nnet2.io.nnet_format import read_transition_model_from_gmm_mdl

    tm = read_transition_model_from_gmm_mdl(gmm_mdl)
    alis = {f"u{i}": rng.integers(1, tm.num_transition_ids + 1, size=50).astype(np.int32) for i in range(4)}
    write_ali(tmp_path / "ali.1.gz", alis)
    write_nnet1(tmp_path / "ft", _transform(rng, d=40, ctx=0))
    m = dbn_to_model(str(tmp_path / "ft"), None, gmm_mdl, random_init=True, nn_depth=1, hid_dim=8,
                     ali=str(tmp_path / "ali.*.gz"))
    counts = np.bincount(np.concatenate([tm.tid2pdf[a] for a in alis.values()]), minlength=tm.num_pdfs)
    p = np.maximum(counts / counts.sum(), 5e-6)
    np.testing.assert_allclose(m.priors, p / p.sum(), rtol=1e-6)


def test_bad_inputs(tmp_path, rng, gmm_mdl):
    ft = _transform(rng)
    with pytest.raises(ModelFormatError, match="layer 1 takes 20 inputs but the feature transform outputs 30"):
        dbn_to_nnet(ft, _dbn(rng, [20, 8]), 5)
    with pytest.raises(ModelFormatError, match="layer 2 takes 7 inputs but layer 1 outputs 8"):
        dbn_to_nnet(ft, _dbn(rng, [30, 8])[:2] + _dbn(rng, [7, 4]), 5)
    (tmp_path / "empty.dbn").write_text("<Nnet>\n</Nnet>\n")
    with pytest.raises(ModelFormatError, match="empty.dbn: the DBN has no layers"):
        dbn_to_nnet(ft, str(tmp_path / "empty.dbn"), 5)
    with pytest.raises(ModelFormatError, match="AffineTransform>\\+<Sigmoid> pairs"):
        dbn_to_nnet(ft, _dbn(rng, [30, 8])[:1], 5)
    with pytest.raises(ModelFormatError, match="expected <Splice> <AddShift> <Rescale>"):
        dbn_to_nnet(ft[:2], _dbn(rng, [30, 8]), 5)
    with pytest.raises(UserError, match="num_pdfs"):
        dbn_to_nnet(ft, _dbn(rng, [30, 8]), 0)
    write_nnet1(tmp_path / "ft", ft)
    write_nnet1(tmp_path / "dbn", _dbn(rng, [30, 8]))
    with pytest.raises(UserError, match="must be '-'"):
        dbn_to_model(str(tmp_path / "ft"), str(tmp_path / "dbn"), gmm_mdl, random_init=True)
    with pytest.raises(UserError, match="transition model file not found"):
        dbn_to_model(str(tmp_path / "ft"), str(tmp_path / "dbn"), str(tmp_path / "nope.mdl"))


def test_cli(tmp_path, rng, gmm_mdl, capsys):
    from nnet2.cli import main

    write_nnet1(tmp_path / "ft", _transform(rng, d=40, ctx=5))
    write_nnet1(tmp_path / "dbn", _dbn(rng, [440, 16, 16]))
    out = tmp_path / "0.mdl"
    assert main(["dbn-to-nnet", "--seed", "2", str(tmp_path / "ft"), str(tmp_path / "dbn"), gmm_mdl, str(out)]) == 0
    m = load_model(out)
    assert m.nnet.output_dim == 17 and m.nnet.left_context == 5
    assert main(["dbn-to-nnet", "--random-init", "true", "--nn-depth", "2", "--hid-dim", "16",
                 str(tmp_path / "ft"), "-", gmm_mdl, str(tmp_path / "r.mdl")]) == 0
    assert [c.type_name for c in load_model(tmp_path / "r.mdl").nnet.components] == \
           [c.type_name for c in m.nnet.components]
    # a mismatched DBN: one clear error line, exit 1, nothing written
    write_nnet1(tmp_path / "bad.dbn", _dbn(rng, [400, 16]))
    assert main(["dbn-to-nnet", str(tmp_path / "ft"), str(tmp_path / "bad.dbn"), gmm_mdl,
                 str(tmp_path / "bad.mdl")]) == 1
    assert "layer 1 takes 400 inputs but the feature transform outputs 440" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "bad.mdl")
