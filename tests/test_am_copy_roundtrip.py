"""`nnet2 am-copy` round trips of every component type, byte-identical in binary and text.

These are checks against Kaldi's source (`src/nnet2/nnet-component.cc` *::Write, `src/nnet2/nnet-nnet.cc`,
`src/nnet2/am-nnet.cc`, `src/cudamatrix/cu-vector.cc` CuVector::Write), not against Kaldi-written
bytes: no Kaldi binary is available here. A model holding every component type we support is
written once; `am-copy` must reproduce it exactly in each direction (binary->binary, text->text,
binary->text->binary, text->binary->text), as `nnet-am-copy` does.
"""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest

from nnet2.cli import main
from nnet2.io import nnet_format as nf

DATA = os.path.join(os.path.dirname(__file__), "data")


def _all_types_model() -> nf.Mdl:
    tm = nf.read_mdl(os.path.join(DATA, "tiny_pnorm.mdl.txt")).transition_model
    rng = np.random.default_rng(0)
    # Values with few binary digits (k/16): their 7-digit text form reads back to the same float,
    # so text and binary forms of the same model convert into each other exactly (as the golden
    # files in tests/data are made).
    f32 = lambda *s: (rng.integers(-64, 64, s) / 16).astype(np.float32)  # noqa: E731
    stats = lambda d, ds=True: {"dim": d, "value_sum": rng.integers(0, 999, d) / 8,  # noqa: E731
                                "deriv_sum": rng.integers(0, 99, d) / 4 if ds else np.zeros(0), "count": 128.0}
    comps = [
        ("SpliceComponent", {"input_dim": 2, "context": [-1, 0, 1], "const_component_dim": 0}),
        ("FixedAffineComponent", {"linear_params": f32(6, 6), "bias_params": f32(6)}),
        ("FixedScaleComponent", {"scales": f32(6)}),
        ("FixedBiasComponent", {"bias": f32(6)}),
        ("AffineComponent", {"learning_rate": 0.001, "linear_params": f32(6, 6), "bias_params": f32(6),
                             "is_gradient": False}),
        ("SigmoidComponent", stats(6)),
        ("AffineComponentPreconditioned", {"learning_rate": 0.002, "linear_params": f32(6, 6),
                                           "bias_params": f32(6), "alpha": 4.0, "max_change": 10.0}),
        ("TanhComponent", stats(6)),
        ("RectifiedLinearComponent", stats(6)),
        ("SoftHingeComponent", {"dim": 6, "value_sum": np.zeros(0), "deriv_sum": np.zeros(0), "count": 0.0}),
        ("AffineComponentPreconditionedOnline", {
            "learning_rate": 0.01, "linear_params": f32(4, 6), "bias_params": f32(4), "rank_in": 20,
            "rank_out": 80, "update_period": 4, "num_samples_history": 2000.0, "alpha": 4.0,
            "max_change_per_sample": 0.075}),
        ("PnormComponent", {"input_dim": 4, "output_dim": 2, "p": 2.0}),
        ("NormalizeComponent", stats(2)),
        ("SumGroupComponent", {"sizes": [1, 1]}),
        ("AffineComponent", {"learning_rate": 0.001, "linear_params": f32(5, 2), "bias_params": f32(5),
                             "is_gradient": False}),
        ("LogSoftmaxComponent", stats(5, ds=False)),
        ("SoftmaxComponent", stats(5, ds=False)),
    ]
    assert {t for t, _ in comps} == set(nf.COMPONENT_FIELDS), "every supported type is covered"
    priors = np.array([0.5, 0.25, 0.125, 0.0625, 0.0625], np.float32)
    return nf.Mdl(tm, comps, priors)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("amcopy")
    m = _all_types_model()
    b, t = d / "all.mdl", d / "all.txt"
    b.write_bytes(nf.mdl_to_bytes(m, True))
    t.write_bytes(nf.mdl_to_bytes(m, False))
    return d, b, t


@pytest.mark.parametrize("src,binary", [("all.mdl", "true"), ("all.txt", "false"),
                                        ("all.mdl", "false"), ("all.txt", "true")])
def test_am_copy_every_component_byte_identical(models, src, binary):
    """am-copy --binary=B of the model gives exactly the bytes of the golden form B; a second
    copy back reproduces the original file."""
    d, b, t = models
    out = d / f"copy_{src}_{binary}"
    assert main(["am-copy", f"--binary={binary}", str(d / src), str(out)]) == 0
    want = b if binary == "true" else t
    assert out.read_bytes() == want.read_bytes()
    back = d / f"back_{src}_{binary}"
    assert main(["am-copy", f"--binary={'true' if src.endswith('.mdl') else 'false'}", str(out), str(back)]) == 0
    assert back.read_bytes() == (d / src).read_bytes()


def test_nonlinear_stats_are_float_vectors_in_binary(models):
    """Kaldi writes <ValueSum>/<DerivSum> through CuVector<double>::Write, which copies into a
    Vector<BaseFloat>: `FV`, never `DV`; <Count> is a double (size byte 8)."""
    _, b, _ = models
    data = b.read_bytes()
    assert b"DV " not in data
    i = data.index(b"<SigmoidComponent> <Dim> ")
    seg = data[i:data.index(b"</SigmoidComponent>", i)]
    assert seg.startswith(b"<SigmoidComponent> <Dim> \x04" + struct.pack("<i", 6) + b"<ValueSum> FV \x04"
                          + struct.pack("<i", 6))
    assert b"<Count> \x08" + struct.pack("<d", 128.0) in seg
    # empty statistics: "FV " + int32 0 in binary, " [ ]" in text
    assert b"<DerivSum> FV \x04" + struct.pack("<i", 0) + b"<Count>" in data
