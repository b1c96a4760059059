"""NG-SGD settings have one source (`nnet2.nnet.ngd_config`) and each user takes the right preset.

The preset values are transcribed from Kaldi's source (`src/nnet2/nnet-component.cc`
AffineComponentPreconditionedOnline::InitFromString; `egs/wsj/s5/steps/nnet2/train_pnorm_simple2.sh`);
pinning them here is a consistency check against that transcription, not a run of Kaldi."""

import ast
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import subprocess_pythonpath

from nnet2.nnet import components as C
from nnet2.nnet.convert import set_update_type
from nnet2.nnet.model import load_model, nnet_from_fields, nnet_to_fields
from nnet2.nnet.ngd_config import KALDI_INIT, KALDI_SCRIPTS, PAPER, PRESETS, NgdConfig
from nnet2.nnet.nnet import Nnet, init_nnet_from_config
from nnet2.utils.errors import UserError

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
# "alpha" is left out: the name is also matplotlib's and AffineComponentPreconditioned's.
NAMES = {"rank_in", "rank_out", "update_period", "num_samples_history", "max_change_per_sample"}


def test_presets_are_kaldis_and_the_papers():
    assert KALDI_INIT == NgdConfig(30, 80, 1, 2000, 4, 0.1)
    assert KALDI_SCRIPTS == NgdConfig(20, 80, 4, 2000, 4, 0.075)
    assert PAPER == NgdConfig(30, 60, 4, 2000, 4, 0.075)
    assert set(PRESETS) == {"kaldi-init", "kaldi-scripts", "paper"}


def test_config_line_gets_nnet_init_values_for_what_it_omits():
    n = init_nnet_from_config("AffineComponentPreconditionedOnline input-dim=6 output-dim=8 rank-out=7 alpha=2\n"
                              "SoftmaxComponent dim=8")
    assert n.components[0].ngd == KALDI_INIT.replace(rank_out=7, alpha=2.0)
    full = "AffineComponentPreconditionedOnline input-dim=6 output-dim=8 " + PAPER.config_line()
    assert init_nnet_from_config(full + "\nSoftmaxComponent dim=8").components[0].ngd == PAPER


def test_config_line_rejects_rank_without_side():
    # Kaldi's InitFromString knows rank-in and rank-out only; anything else is an error there too.
    with pytest.raises(UserError, match="unknown option.*rank"):
        init_nnet_from_config("AffineComponentPreconditionedOnline input-dim=6 output-dim=8 rank=5")


def _plain(seed=0):
    rng = np.random.default_rng(seed)
    return Nnet([C.AffineComponent(rng.standard_normal((4, 3)).astype(np.float32), np.zeros(4, np.float32), 0.01),
                 C.SoftmaxComponent(4)])


def test_switch_to_ngd_uses_the_given_preset_and_keeps_existing_settings():
    n = set_update_type(_plain(), "ngd")
    assert n.components[0].ngd == KALDI_SCRIPTS  # the default preset
    set_update_type(n, "ngd", PAPER)  # already NG-SGD: keeps its own settings
    assert n.components[0].ngd == KALDI_SCRIPTS
    assert set_update_type(_plain(), "ngd", PAPER).components[0].ngd == PAPER
    assert type(set_update_type(n, "sgd").components[0]) is C.AffineComponent


def test_settings_survive_write_and_read():
    n = set_update_type(_plain(), "ngd", PAPER.replace(update_period=3))
    back = nnet_from_fields(nnet_to_fields(n))
    assert back.components[0].ngd == PAPER.replace(update_period=3)


def _literal_defaults(path):
    """(line, name) of NG-SGD option names bound to numeric literals: function defaults, keyword
    arguments, dict entries and .get(name, default) calls."""
    tree = ast.parse(open(path).read(), path)
    num = lambda v: isinstance(v, ast.Constant) and isinstance(v.value, (int, float)) \
        and not isinstance(v.value, bool)  # noqa: E731
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            a = node.args
            pos = a.posonlyargs + a.args
            for arg, d in list(zip(pos[len(pos) - len(a.defaults):], a.defaults)) + \
                    [(k, d) for k, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None]:
                if arg.arg in NAMES and num(d):
                    out.append((node.lineno, arg.arg))
        elif isinstance(node, ast.Call):
            out += [(node.lineno, k.arg) for k in node.keywords if k.arg in NAMES and num(k.value)]
            if isinstance(node.func, ast.Attribute) and node.func.attr == "get" and len(node.args) == 2 \
                    and isinstance(node.args[0], ast.Constant) and node.args[0].value in NAMES and num(node.args[1]):
                out.append((node.lineno, node.args[0].value))
        elif isinstance(node, ast.Dict):
            out += [(node.lineno, k.value) for k, v in zip(node.keys, node.values)
                    if isinstance(k, ast.Constant) and k.value in NAMES and num(v)]
    return out


def test_no_ngd_default_outside_ngd_config():
    found = []
    for top in ("python/nnet2", "tools"):
        for d, _, files in os.walk(os.path.join(REPO, top)):
            for f in files:
                p = os.path.join(d, f)
                if f.endswith(".py") and not p.endswith(os.path.join("nnet", "ngd_config.py")):
                    found += [f"{os.path.relpath(p, REPO)}:{ln}: {name}" for ln, name in _literal_defaults(p)]
    assert not found, "NG-SGD defaults outside nnet2/nnet/ngd_config.py:\n" + "\n".join(found)


def test_the_checker_finds_a_literal_default(tmp_path):
    p = tmp_path / "x.py"
    p.write_text("def f(a, rank_in=20):\n    g(update_period=4)\n    d = {'num_samples_history': 2e3}\n"
                 "    d.get('rank_out', 80)\n")
    assert sorted(n for _, n in _literal_defaults(str(p))) == ["num_samples_history", "rank_in", "rank_out",
                                                                "update_period"]


def test_train_ngd_preset_reaches_the_model(tmp_path):
    from train_fixtures import make_egs_dir, make_init_model

    egs, init = make_egs_dir(str(tmp_path / "d")), make_init_model(str(tmp_path / "0.mdl"))
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=subprocess_pythonpath(), OMP_NUM_THREADS="1")
    p = subprocess.run([sys.executable, "-m", "nnet2", "train", "--num-epochs", "1", "--minibatch-size", "64",
                        "--update", "ngd", "--ngd-preset", "paper", "--prior-frames", "0", "--threads", "1",
                        "--progress", "false", egs, init, str(out)], env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr[-3000:]
    affs = load_model(str(out / "final.mdl")).nnet.updatable()
    # the file holds the float settings as float32 (Kaldi's WriteBasicType of a BaseFloat)
    f32 = NgdConfig(**{k: float(np.float32(v)) if isinstance(v, float) else v for k, v in PAPER.as_dict().items()})
    assert affs and all(type(c) is C.AffineComponentPreconditionedOnline and c.ngd == f32 for c in affs)
