"""nnet2 components, Nnet, AmNnet and .mdl files: golden bytes, round trips, malformed input."""

import os

import numpy as np
import pytest

from nnet2.io.kaldi_io import KaldiReader, KaldiWriter
from nnet2.io.nnet_format import (COMPONENT_FIELDS, Mdl, mdl_to_bytes, raw_nnet_to_bytes,
                                  read_component, read_mdl, read_raw_nnet,
                                  read_transition_model_from_gmm_mdl, write_component, write_mdl,
                                  write_raw_nnet)
from nnet2.utils.errors import ModelFormatError

DATA = os.path.join(os.path.dirname(__file__), "data")
NAMES = ["tiny_pnorm", "tiny_sigmoid"]


def golden(name, ext):
    with open(os.path.join(DATA, f"{name}.mdl.{ext}"), "rb") as f:
        return f.read()


@pytest.mark.parametrize("name", NAMES)
def test_golden_roundtrips_are_byte_exact(name):
    t, b = golden(name, "txt"), golden(name, "bin")
    mt, mb = read_mdl(t), read_mdl(b)
    assert mdl_to_bytes(mt, False) == t
    assert mdl_to_bytes(mb, True) == b
    # conversion in both directions gives Kaldi's bytes of the other mode
    assert mdl_to_bytes(mt, True) == b
    assert mdl_to_bytes(mb, False) == t
    for (ta, fa), (tb, fb) in zip(mt.components, mb.components):
        assert ta == tb and fa.keys() == fb.keys()
        for k in fa:
            assert np.array_equal(np.asarray(fa[k]), np.asarray(fb[k])), (ta, k)


def test_golden_pnorm_values():
    m = read_mdl(golden("tiny_pnorm", "txt"))
    types = [t for t, _ in m.components]
    assert types == ["SpliceComponent", "FixedAffineComponent",
                     "AffineComponentPreconditionedOnline", "PnormComponent",
                     "NormalizeComponent", "AffineComponentPreconditionedOnline",
                     "SoftmaxComponent"]
    splice, fixed, aff = (f for _, f in m.components[:3])
    assert splice == {"input_dim": 2, "context": [-1, 0, 1], "const_component_dim": 0}
    assert fixed["bias_params"].dtype == np.float32
    assert fixed["bias_params"][4] == np.float32(-3.402823e38)
    assert aff["linear_params"].shape == (4, 6)
    assert aff["learning_rate"] == pytest.approx(0.00214, rel=1e-7)
    assert (aff["rank_in"], aff["rank_out"], aff["update_period"]) == (20, 80, 4)
    assert aff["num_samples_history"] == 2000.0 and aff["alpha"] == 4.0
    assert aff["max_change_per_sample"] == pytest.approx(0.075, rel=1e-7)
    soft = m.components[-1][1]
    assert soft["value_sum"].dtype == np.float64 and soft["count"] == 128.0
    assert m.components[4][1]["value_sum"].shape == (0,)
    np.testing.assert_allclose(m.priors, [0.1, 0.2, 0.3, 0.25, 0.15], rtol=1e-7)
    assert m.transition_model.num_pdfs == 5


def test_golden_sigmoid_values():
    m = read_mdl(golden("tiny_sigmoid", "bin"))
    aff = m.components[0][1]
    assert aff["is_gradient"] is False and aff["linear_params"].shape == (3, 2)
    assert m.components[1][1]["deriv_sum"].tolist() == [0.75, 0.5, 0.25]
    assert m.components[4][1]["max_change"] == 10.0
    assert m.components[-1] == ("SumGroupComponent", {"sizes": [1, 1, 1, 1, 1]})
    assert m.priors.shape == (0,)


def test_write_read_files_atomically(tmp_path):
    m = read_mdl(golden("tiny_pnorm", "bin"))
    p = tmp_path / "final.mdl"
    write_mdl(p, m, binary=False)
    assert p.read_bytes() == golden("tiny_pnorm", "txt")
    write_mdl(p, m, binary=True)
    assert read_mdl(str(p)).components[2][0] == "AffineComponentPreconditionedOnline"
    assert sorted(os.listdir(tmp_path)) == ["final.mdl"]
    raw = tmp_path / "raw.nnet"
    write_raw_nnet(raw, m.components, binary=True)
    comps = read_raw_nnet(raw)
    assert raw_nnet_to_bytes(comps, False) == raw_nnet_to_bytes(m.components, False)
    tm = read_transition_model_from_gmm_mdl(p)
    assert tm.tid2pdf.tolist() == m.transition_model.tid2pdf.tolist()


def test_transition_model_from_gmm_mdl_ignores_the_rest():
    data = golden("tiny_pnorm", "txt").split(b"<Nnet>")[0] + b"<DIMENSION> 39 <NUMPDFS> 5 ..."
    assert read_transition_model_from_gmm_mdl(data).num_pdfs == 5


def _comp_text(text):
    return KaldiReader(text.encode(), "comp.txt")


@pytest.mark.parametrize("text,expected", [
    ("<SpliceComponent> <InputDim> 3 <LeftContext> 2 <RightContext> 1 <ConstComponentDim> 1 "
     "</SpliceComponent> ", {"input_dim": 3, "context": [-2, -1, 0, 1], "const_component_dim": 1}),
    ("<AffineComponentPreconditionedOnline> <LearningRate> 0.1 <LinearParams> [ 1 ] <BiasParams> "
     "[ 2 ] <Rank> 5 <NumSamplesHistory> 2000 <Alpha> 4 <MaxChangePerSample> 0.1 "
     "</AffineComponentPreconditionedOnline> ",
     {"rank_in": 5, "rank_out": 5, "update_period": 1}),
    ("<AffineComponent> <LearningRate> 0.1 <LinearParams> [ 1 ] <BiasParams> [ 2 ] <AvgInput> "
     "[ 3 ] <AvgInputCount> 4 </AffineComponent> ", {"is_gradient": False}),
    ("<AffineComponentPreconditioned> <LearningRate> 0.1 <LinearParams> [ 1 ] <BiasParams> [ 2 ] "
     "<Alpha> 0.1 </AffineComponentPreconditioned> ", {"max_change": 0.0}),
    ("<SoftmaxComponent> <Dim> 2 <Counts> [ 1 3 ] </SoftmaxComponent> ", {"count": 4.0}),
    ("<SigmoidComponent> <SigmoidComponent> <Dim> 2 </SigmoidComponent> ", {"count": 0.0}),
    ("<SumGroupComponent> <Sizes> [ 2 1 ] <SumGroupComponent> ", {"sizes": [2, 1]}),
])
def test_back_compat_reading(text, expected):
    t, f = read_component(_comp_text(text))
    for k, v in expected.items():
        assert f[k] == v, k
    assert set(f) == set(COMPONENT_FIELDS[t])


@pytest.mark.parametrize("text,msg", [
    ("<FooComponent> <Dim> 3 </FooComponent> ", "unknown component type 'FooComponent'"),
    ("<AffineComponent> <LearningRate> 0.1 <LinearParams> [\n 1 2 \n 3 4 ]\n<BiasParams> [ 1 ]\n"
     "<IsGradient> F </AffineComponent> ", "has 2 rows"),
    ("<AffineComponent> <LearningRate> 0.1 <LinearParams> [ 1 ] <BiasParams> [ 1 ] <IsGradient> "
     "X </AffineComponent> ", "T or F"),
    ("<AffineComponent> <LearningRate> 0.1 <LinearParams> [ 1 ] <BiasParams> [ 1 ] <Oops> ",
     "<IsGradient> or </AffineComponent>"),
    ("<PnormComponent> <InputDim> 5 <OutputDim> 2 <P> 2 </PnormComponent> ", "multiple"),
    ("<SpliceComponent> <InputDim> 3 <Context> [ 1 0 ]\n<ConstComponentDim> 0 </SpliceComponent> ",
     "sorted"),
    ("<NormalizeComponent> <Dim> 3 <ValueSum> [ 1 ] <DerivSum> [ ] <Count> 1 "
     "</NormalizeComponent> ", "value_sum has dimension 1"),
    ("<SumGroupComponent> <Sizes> [ 1 0 ]\n</SumGroupComponent> ", "positive"),
    ("<FixedScaleComponent> <Scales> [ ]\n</FixedScaleComponent> ", "empty"),
    ("<PnormComponent> <OutputDim> 2 ", "token <InputDim>"),
    ("AffineComponent ", "component type token"),
])
def test_malformed_components(text, msg):
    with pytest.raises(ModelFormatError) as ei:
        read_component(_comp_text(text))
    assert msg in str(ei.value) and "comp.txt" in str(ei.value)


def test_unknown_component_lists_known_types():
    with pytest.raises(ModelFormatError) as ei:
        read_component(_comp_text("<MaxoutComponent> <InputDim> 4 "))
    assert "PnormComponent" in str(ei.value) and "SpliceComponent" in str(ei.value)


def test_dimension_mismatch_between_components():
    t = golden("tiny_pnorm", "txt").replace(b"<PnormComponent> <InputDim> 4 <OutputDim> 2",
                                            b"<PnormComponent> <InputDim> 6 <OutputDim> 2")
    with pytest.raises(ModelFormatError, match="component 3 .PnormComponent. has input dim 6"):
        read_mdl(t)


def test_priors_and_pdf_count_mismatch():
    t = golden("tiny_pnorm", "txt")
    with pytest.raises(ModelFormatError, match="priors have dimension 4"):
        read_mdl(t.replace(b"[ 0.1 0.2 0.3 0.25 0.15 ]", b"[ 0.1 0.2 0.3 0.25 ]"))
    with pytest.raises(ModelFormatError, match="end of file"):
        read_mdl(t + b"garbage")
    bad_tm = t.replace(b"3 1 4 \n</Triples>", b"3 1 5 \n</Triples>")
    with pytest.raises(ModelFormatError, match="number of pdfs 6"):
        read_mdl(bad_tm)


def test_missing_file_is_a_model_format_error(tmp_path):
    with pytest.raises(ModelFormatError, match="nope.mdl"):
        read_mdl(tmp_path / "nope.mdl")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("ext", ["txt", "bin"])
def test_truncation_at_every_offset(name, ext):
    data = golden(name, ext)
    # every prefix that removes at least one byte of content (text may end in "]\n")
    last = len(data.rstrip()) if ext == "txt" else len(data)
    for cut in range(last - 1):
        with pytest.raises(ModelFormatError):
            read_mdl(data[:cut])


@pytest.mark.parametrize("binary", [False, True])
def test_write_component_rejects_bad_fields(binary):
    w = KaldiWriter(binary)
    with pytest.raises(ValueError, match="missing field 'p'"):
        write_component(w, "PnormComponent", {"input_dim": 4, "output_dim": 2})
    with pytest.raises(ValueError, match="inconsistent"):
        write_component(w, "AffineComponent", {"learning_rate": 0.1, "is_gradient": False,
                                               "linear_params": np.zeros((2, 3)),
                                               "bias_params": np.zeros(3)})
    with pytest.raises(ValueError, match="unknown component type"):
        write_component(w, "Foo", {})


@pytest.mark.slow
def test_big_text_model_round_trip():
    """A large text model (6 x 2048 x 2048, the paper's hidden layers) writes and reads back intact.
    Consistency check of our own writer and reader (no timing: tests never time)."""
    rng = np.random.default_rng(0)
    big = [("AffineComponent", {"learning_rate": 0.001, "is_gradient": False,
                                "linear_params": rng.standard_normal((2048, 2048), np.float32),
                                "bias_params": rng.standard_normal(2048).astype(np.float32)})
           for _ in range(6)]
    comps = read_raw_nnet(raw_nnet_to_bytes(big, False))
    assert len(comps) == 6
    for (kind, want), (got_kind, got) in zip(big, comps):  # text keeps 7 significant digits
        assert got_kind == kind
        np.testing.assert_allclose(np.asarray(got["linear_params"]), want["linear_params"], rtol=1e-6)
        np.testing.assert_allclose(np.asarray(got["bias_params"]), want["bias_params"], rtol=1e-6)
