"""Kaldi egs in and out (NnetExample archives), nnet2 train-simple / compute-prob, and `nnet2 train` on
egs directories laid out as Kaldi's get_egs.sh / get_egs2.sh lay them out.

Kinds of checks (house rule): the byte layout test is written from Kaldi's source
(src/nnet2/nnet-example.cc NnetExample::Write, src/matrix/compressed-matrix.cc) by hand; everything else
is a consistency check of our reader against our writer, and of `train-simple` against `Nnet.train_step`
(whose agreement with Kaldi's order of operations is tests/test_kaldi_update.py). None of it is checked
against bytes or numbers produced by Kaldi's own binaries.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import kaldi_egs_fixtures as kf  # noqa: E402
from conftest import subprocess_pythonpath  # noqa: E402

from nnet2.cli import main  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TM = os.path.join(HERE, "data", "tiny_sigmoid.mdl.bin")  # its TransitionModel has 5 pdfs


def _model(path: str, kind: str, seed: int = 0) -> str:
    from nnet2.nnet.model import init_model, save_model

    aff = "AffineComponent" if kind == "sgd" else \
        "AffineComponentPreconditionedOnline rank-in=4 rank-out=3 update-period=1 max-change-per-sample=0.075"
    cfg = f"""SpliceComponent input-dim={kf.DIM} left-context={kf.CTX} right-context={kf.CTX}
{aff} input-dim={kf.DIM * (2 * kf.CTX + 1)} output-dim=12 learning-rate=0.02 param-stddev=0.3 bias-stddev=0.1
SigmoidComponent dim=12
{aff} input-dim=12 output-dim=NUM_PDFS learning-rate=0.01 param-stddev=0.1 bias-stddev=0
SoftmaxComponent dim=NUM_PDFS
"""
    with open(path + ".config", "w") as f:
        f.write(cfg)
    save_model(init_model(path + ".config", TM, seed=seed), path)
    return path


def _cli(*args) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=subprocess_pythonpath())
    return subprocess.run([sys.executable, "-m", "nnet2", *args], capture_output=True, text=True, env=env)


# ------------------------------------------------------------------------------------------ format
def test_binary_layout_follows_nnet_example_write(tmp_path):
    """From Kaldi's source, by hand: <NnetExample> <Lab1> int-vector <InputFrames> CompressedMatrix
    (3 rows <= 8, so kAutomaticMethod picks CM2: min, range, rows, cols, row-major uint16 of
    int(f*65535+0.499)) <LeftContext> int32 <SpkInfo> FV </NnetExample>, after the key and \\0B."""
    from nnet2.io.nnet_example import NnetExample

    eg = NnetExample.from_frames([[(3, 1.0)]], np.array([[0, 1], [0.5, 2], [1, 3]], np.float32), 1)
    path = kf.write_ark(str(tmp_path / "one.ark"), [("u1-7", eg)])
    i32 = lambda v: b"\x04" + struct.pack("<i", v)  # noqa: E731
    want = (b"u1-7 \0B<NnetExample> <Lab1> \x04" + struct.pack("<i", 1) + struct.pack("<i", 3)
            + b"<InputFrames> CM2 " + struct.pack("<ffii", 0.0, 3.0, 3, 2)
            + np.array([0, 21845, 10922, 43690, 21845, 65535], "<u2").tobytes()
            + b"<LeftContext> " + i32(1) + b"<SpkInfo> FV " + i32(0) + b"</NnetExample> ")
    assert open(path, "rb").read() == want
    np.testing.assert_allclose(eg.input_frames, [[0, 1], [0.5, 2], [1, 3]], atol=3 / 65535)


def test_read_write_round_trips_binary_and_text(tmp_path):
    """Our reader gives back what our writer wrote (labels, simple -> <Lab1>, weighted -> <Lab2>,
    left context, decompressed frames); rewriting what was read is byte-identical (the CM bytes are kept)."""
    from nnet2.data.kaldi_egs import iter_examples

    egs = kf.examples(kf.utterances(2), frames_per_eg=2, soft_every=3)
    for binary in (True, False):
        p = kf.write_ark(str(tmp_path / f"a{binary}.ark"), egs, binary=binary)
        back = list(iter_examples(f"ark:{p}"))
        assert [k for k, _ in back] == [k for k, _ in egs]
        for (_, a), (_, b) in zip(egs, back):
            assert a.labels == b.labels and a.left_context == b.left_context
            assert a.right_context == b.right_context == kf.CTX
            tol = 0 if binary else 1e-5 * np.abs(a.input_frames).max()  # text: %.7g, then re-compressed
            np.testing.assert_allclose(b.input_frames, a.input_frames, atol=tol)
        p2 = kf.write_ark(str(tmp_path / f"b{binary}.ark"), back, binary=binary)
        if binary:
            assert open(p, "rb").read() == open(p2, "rb").read()
        assert (b"<Lab2>" in open(p, "rb").read()) and (b"<Lab1>" in open(p, "rb").read())


def test_plain_matrix_input_is_compressed_as_kaldi_reads_it(tmp_path):
    """An example whose <InputFrames> is a plain FM matrix is compressed on reading
    (CompressedMatrix::Read -> CopyFromMat, kAutomaticMethod), so training sees the compressed values."""
    from nnet2.data.kaldi_egs import iter_examples
    from nnet2.io import compressed
    from nnet2.io.kaldi_io import KaldiWriter

    frames = np.random.default_rng(0).standard_normal((12, 3)).astype(np.float32)
    w = KaldiWriter(True)
    w.token("<NnetExample>"), w.token("<Lab1>"), w.int_vector([2]), w.token("<InputFrames>")
    w.matrix(frames)
    w.token("<LeftContext>"), w.int32(5), w.token("<SpkInfo>"), w.vector(np.zeros(0)), w.token("</NnetExample>")
    (tmp_path / "fm.ark").write_bytes(b"k1 " + w.getvalue())
    (_, eg), = list(iter_examples(f"ark:{tmp_path / 'fm.ark'}"))
    cm = compressed.encode(frames, 1)
    assert cm.startswith(b"CM ")  # 12 rows > 8: kSpeechFeature
    np.testing.assert_array_equal(eg.input_frames, compressed.decode("CM", cm[3:]))
    assert not np.array_equal(eg.input_frames, frames)


def test_bad_egs_give_one_line_naming_the_file(tmp_path):
    mdl = _model(str(tmp_path / "m.mdl"), "sgd")
    good = kf.write_ark(str(tmp_path / "g.ark"), kf.examples(kf.utterances(1)))
    data = open(good, "rb").read()
    cases = {
        "token": data.replace(b"<LeftContext>", b"<LeftContexx>", 1),
        "truncated": data[: len(data) // 2],
        "labels": data.replace(b"<Lab1>", b"<Lab7>", 1),
    }
    for name, bad in cases.items():
        p = tmp_path / f"{name}.ark"
        p.write_bytes(bad)
        for verb in (["compute-prob", mdl, f"ark:{p}"], ["train-simple", mdl, f"ark:{p}", str(tmp_path / "o.mdl")]):
            r = _cli(*verb)
            assert r.returncode == 1, (name, verb[0], r.stderr)
            lines = [ln for ln in r.stderr.splitlines() if "error" in ln]
            assert len(lines) == 1 and str(p) in lines[0] and "Traceback" not in r.stderr, (name, r.stderr)
            assert not (tmp_path / "o.mdl").exists()
    # labels beyond the network's outputs
    from nnet2.io.nnet_example import NnetExample

    eg = NnetExample.from_frames([[(9, 1.0)]], np.zeros((3, kf.DIM), np.float32), 1)
    p = kf.write_ark(str(tmp_path / "range.ark"), [("k", eg)])
    r = _cli("compute-prob", mdl, f"ark:{p}")
    assert r.returncode == 1 and "out of range" in r.stderr and "Traceback" not in r.stderr


# ------------------------------------------------------------------------------------------ train-simple
@pytest.mark.parametrize("kind", ["sgd", "ngd"])
def test_train_simple_one_pass_on_kaldi_egs(tmp_path, kind, caplog):
    """One pass of `nnet2 train-simple` over a Kaldi-format archive (SGD and NG-SGD models): the result
    equals Nnet.train_step over the archive's minibatches in archive order (consistency), the log has
    Kaldi's phase lines and the log-prob-per-frame line, the statistics of the sigmoid and softmax are
    the pass's, and reading from a pipe or stdin gives the same model."""
    import logging

    from nnet2.data.kaldi_egs import format_minibatch, iter_examples
    from nnet2.nnet.model import load_model

    mdl = _model(str(tmp_path / "0.mdl"), kind)
    egs = kf.examples(kf.utterances(8), soft_every=5)
    ark = kf.write_ark(str(tmp_path / "egs.1.ark"), egs)
    out = str(tmp_path / "1.mdl")
    with caplog.at_level(logging.INFO, logger="nnet2"):
        assert main(["train-simple", "--minibatch-size=16", "--minibatches-per-phase=4", mdl, f"ark:{ark}", out]) == 0
    text = caplog.text
    assert text.count("Training objective function (this phase) is") == -(-len(egs) // 64)
    assert "log-prob-per-frame=" in text and f"processed {len(egs)} training examples" in text

    ref = load_model(mdl).nnet
    ref.zero_stats()
    read = [eg for _, eg in iter_examples(f"ark:{ark}")]
    tot = w = 0.0
    for s in range(0, len(read), 16):
        st = ref.train_step(*format_minibatch(ref, read[s:s + 16]))
        tot, w = tot + st.objf, w + st.weight
    got = load_model(out).nnet
    np.testing.assert_array_equal(got.params, ref.params)
    assert f"log-prob-per-frame={tot / w:.6g}" in text
    sig, soft = got.components[2], got.components[4]
    assert sig.count == soft.count == len(egs) and sig.deriv_sum.size == 12 and np.all(sig.deriv_sum > 0)
    np.testing.assert_allclose(soft.value_sum.sum(), len(egs), rtol=1e-5)
    assert not np.array_equal(got.params, load_model(mdl).nnet.params)

    for spec in (f"ark:cat {ark} |", "ark:-"):
        o2 = str(tmp_path / "pipe.mdl")
        env = dict(os.environ, PYTHONPATH=subprocess_pythonpath())
        with open(ark, "rb") as f:
            r = subprocess.run([sys.executable, "-m", "nnet2", "train-simple", "--minibatch-size=16", mdl, spec, o2],
                               stdin=f, capture_output=True, text=True, env=env)
        assert r.returncode == 0, r.stderr
        np.testing.assert_array_equal(load_model(o2).nnet.params, got.params)


def test_compute_prob_prints_average_logprob(tmp_path):
    """stdout: the weighted average log-prob per frame (6 significant digits); log: accuracy."""
    from nnet2.data.kaldi_egs import format_minibatch, iter_examples
    from nnet2.nnet.model import load_model

    mdl = _model(str(tmp_path / "0.mdl"), "sgd")
    ark = kf.write_ark(str(tmp_path / "valid.egs"), kf.examples(kf.utterances(3, seed=2), soft_every=4))
    r = _cli("compute-prob", mdl, f"ark:{ark}")
    assert r.returncode == 0, r.stderr
    nnet = load_model(mdl).nnet
    st = nnet.evaluate(*format_minibatch(nnet, [eg for _, eg in iter_examples(f"ark:{ark}")]))
    assert r.stdout == f"{st.objf / st.weight:.6g}\n"
    assert "accuracy is" in r.stderr


# ------------------------------------------------------------------------------------------ nnet2 train
@pytest.mark.parametrize("layout", ["get_egs", "get_egs2"])
def test_nnet2_train_on_a_kaldi_egs_dir(tmp_path, layout):
    """`nnet2 train` on a get_egs.sh dir (egs.J.K.ark) and a get_egs2.sh dir (egs.N.ark with 3-frame
    examples, info/): it trains (validation objective improves on valid_diagnostic.egs), combines the
    last models on combine.egs (objective before/after in the log) and writes final.mdl."""
    import glob
    import re

    d = str(tmp_path / "egs")
    (kf.make_get_egs_dir if layout == "get_egs" else kf.make_get_egs2_dir)(d)
    mdl = _model(str(tmp_path / "0.mdl"), "ngd")
    out = str(tmp_path / "exp")
    assert main(["train", "--num-epochs", "6", "--minibatch-size", "32", "--progress", "false",
                 "--prior-frames", "200", d, mdl, out]) == 0
    assert os.path.exists(os.path.join(out, "final.mdl"))
    text = "".join(open(f).read() for f in sorted(glob.glob(os.path.join(out, "log", "train.*.log"))))
    vals = [float(v) for v in re.findall(r"Epoch \d+: validation objf (-?[\d.]+)", text)]
    assert len(vals) == 6 and vals[-1] > vals[0] + 0.1, vals
    m = re.search(r"objf per frame changed from (-?[\d.e+-]+) to (-?[\d.e+-]+)", text)
    assert m and float(m.group(2)) >= float(m.group(1))
