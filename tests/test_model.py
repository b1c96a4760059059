"""Models through our component classes: Kaldi text/binary round trips are exact, CLI verbs work,
malformed models give one clear error."""

import os
import subprocess
import sys

import numpy as np
import pytest

from nnet2.cli import main as cli
from nnet2.io import nnet_format
from nnet2.nnet import components as C
from nnet2.nnet.model import load_model, save_model

DATA = os.path.join(os.path.dirname(__file__), "data")


@pytest.mark.parametrize("name", ["tiny_pnorm", "tiny_sigmoid"])
@pytest.mark.parametrize("src,dst,binary", [("txt", "txt", False), ("bin", "bin", True), ("bin", "txt", False),
                                            ("txt", "bin", True)])
def test_round_trip_through_classes(tmp_path, name, src, dst, binary):
    m = load_model(os.path.join(DATA, f"{name}.mdl.{src}"))
    out = tmp_path / "out.mdl"
    save_model(m, out, binary=binary)
    with open(os.path.join(DATA, f"{name}.mdl.{dst}"), "rb") as f:
        assert out.read_bytes() == f.read()


def test_am_copy_info_average_cli(tmp_path, capsys):
    src = os.path.join(DATA, "tiny_pnorm.mdl.txt")
    assert cli(["am-copy", "--binary=true", src, str(tmp_path / "a.mdl")]) == 0
    assert cli(["am-info", str(tmp_path / "a.mdl")]) == 0
    assert "parameter-dim 43" in capsys.readouterr().out
    m = load_model(src)
    m2 = load_model(src)
    m2.nnet.params[...] += 1.0
    save_model(m2, tmp_path / "b.mdl")
    assert cli(["am-average", str(tmp_path / "a.mdl"), str(tmp_path / "b.mdl"), str(tmp_path / "avg.mdl")]) == 0
    avg = load_model(tmp_path / "avg.mdl")
    np.testing.assert_allclose(avg.nnet.params, m.nnet.params + 0.5, rtol=1e-6, atol=1e-6)
    assert cli(["am-average", "--weights=3:1", str(tmp_path / "a.mdl"), str(tmp_path / "b.mdl"),
                str(tmp_path / "w.mdl")]) == 0
    np.testing.assert_allclose(load_model(tmp_path / "w.mdl").nnet.params, m.nnet.params + 0.25, rtol=1e-6,
                               atol=1e-6)


def test_am_init_and_compute(tmp_path):
    import kaldiio

    cfg = tmp_path / "nnet.config"
    cfg.write_text("SpliceComponent input-dim=2 left-context=1 right-context=1\n"
                   "AffineComponentPreconditionedOnline input-dim=6 output-dim=8 learning-rate=0.01\n"
                   "PnormComponent input-dim=8 output-dim=4\nNormalizeComponent dim=4\n"
                   "AffineComponent input-dim=4 output-dim=NUM_PDFS param-stddev=0.5 bias-stddev=0\n"
                   "SoftmaxComponent dim=NUM_PDFS\n")
    out = tmp_path / "0.mdl"
    assert cli(["am-init", "--srand=3", os.path.join(DATA, "tiny_pnorm.mdl.txt"), str(cfg), str(out)]) == 0
    m = load_model(out)
    assert m.nnet.output_dim == 5 and isinstance(m.nnet.components[1], C.AffineComponentPreconditionedOnline)
    m.am.priors = np.array([0.1, 0.2, 0.3, 0.2, 0.2], np.float32)
    save_model(m, out)
    rng = np.random.default_rng(0)
    feats = {"u1": rng.standard_normal((7, 2)).astype(np.float32), "u2": rng.standard_normal((1, 2)).astype(np.float32)}
    kaldiio.save_ark(str(tmp_path / "f.ark"), feats, scp=str(tmp_path / "f.scp"))
    assert cli(["am-compute", str(out), f"scp:{tmp_path / 'f.scp'}", f"ark,scp:{tmp_path / 'o.ark'},{tmp_path / 'o.scp'}"]) == 0
    got = kaldiio.load_scp(str(tmp_path / "o.scp"))
    # reference: splice with edges repeated, then the network
    for u, x in feats.items():
        T = x.shape[0]
        sp = np.concatenate([x[np.clip(np.arange(T) + o, 0, T - 1)] for o in (-1, 0, 1)], 1)
        ref = m.nnet.forward(sp)
        np.testing.assert_allclose(got[u], ref, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got[u].sum(1), 1.0, rtol=1e-5)
    assert cli(["am-compute", "--apply-log=true", "--divide-by-priors=true", str(out), f"scp:{tmp_path / 'f.scp'}",
                f"ark:{tmp_path / 'l.ark'}"]) == 0
    lg = dict(kaldiio.load_ark(str(tmp_path / "l.ark")))
    q = got["u1"] / m.priors
    np.testing.assert_allclose(lg["u1"], np.log(q / q.sum(1, keepdims=True)), rtol=1e-4, atol=1e-5)


def test_bad_inputs_give_one_clear_error(tmp_path, capsys):
    text = open(os.path.join(DATA, "tiny_pnorm.mdl.txt")).read()
    bad = tmp_path / "bad.mdl"
    bad.write_text(text.replace("<PnormComponent>", "<FancyComponent>"))
    assert cli(["am-info", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "FancyComponent" in err and str(bad) in err and "Traceback" not in err
    bad.write_text(text[: len(text) // 2])
    assert cli(["am-info", str(bad)]) == 1
    assert "offset" in capsys.readouterr().err
    assert cli(["am-info", str(tmp_path / "missing.mdl")]) == 1
    assert "not found" in capsys.readouterr().err
    cfg = tmp_path / "c.config"
    cfg.write_text("AffineComponent input-dim=6 output-dim=3 bogus=1\n")
    assert cli(["am-init", os.path.join(DATA, "tiny_pnorm.mdl.txt"), str(cfg), str(tmp_path / "o.mdl")]) == 1
    assert "bogus" in capsys.readouterr().err and not (tmp_path / "o.mdl").exists()
    # features of the wrong dimension name the utterance, and no output is left behind
    import kaldiio

    kaldiio.save_ark(str(tmp_path / "f.ark"), {"uttX": np.zeros((3, 5), np.float32)})
    assert cli(["am-compute", os.path.join(DATA, "tiny_pnorm.mdl.txt"), f"ark:{tmp_path / 'f.ark'}",
                f"ark:{tmp_path / 'o.ark'}"]) == 1
    assert "uttX" in capsys.readouterr().err and not (tmp_path / "o.ark").exists()


def test_help_of_every_subcommand():
    from nnet2.cli import build_parser

    p = build_parser()
    sub = [a for a in p._actions if a.__class__.__name__ == "_SubParsersAction"][0]
    assert {"am-info", "am-copy", "am-compute", "am-init", "am-average"} <= set(sub.choices)
    for name, sp in sub.choices.items():
        h = sp.format_help()
        assert len(h) > 100, name


def test_module_entry_point():
    r = subprocess.run([sys.executable, "-m", "nnet2", "--help"], capture_output=True, text=True,
                       env=dict(os.environ))
    assert r.returncode == 0 and "am-compute" in r.stdout
