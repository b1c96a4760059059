"""Config templates resolved by `nnet2 am-init` (NUM_PDFS, --egs-dir, --var, A^B), and the recipe's
conf/pnorm_nnet.config. Consistency checks of our template layer (Kaldi's scripts do the same with shell
variables before nnet-init); the resolved lines are plain nnet-init syntax."""

import os

import numpy as np
import pytest

from nnet2.cli import main
from nnet2.nnet import components as C
from nnet2.nnet.model import load_model
from nnet2.nnet.nnet import resolve_placeholders
from nnet2.utils.errors import UserError

from train_fixtures import CTX, DIM, NPDF, TM_SOURCE, make_egs_dir

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PNORM = os.path.join(REPO, "egs", "fsdd", "conf", "pnorm_nnet.config")


def test_resolve_names_and_powers():
    t = "# FEAT_DIM in a comment stays\nSpliceComponent input-dim=FEAT_DIM left-context=L\n" \
        "AffineComponent input-dim=D output-dim=NUM_PDFS param-stddev=D^-0.5 matrix=dir/LDA.mat\n"
    out = resolve_placeholders(t, {"FEAT_DIM": 13, "L": 4, "D": 400, "NUM_PDFS": 7}).splitlines()
    assert out[0] == "# FEAT_DIM in a comment stays"
    assert out[1] == "SpliceComponent input-dim=13 left-context=4"
    assert out[2] == "AffineComponent input-dim=400 output-dim=7 param-stddev=0.05 matrix=dir/LDA.mat"


def test_unresolved_placeholder_names_file_line_and_name():
    with pytest.raises(UserError, match=r"x.config:2: placeholder PNORM_DIM in 'param-stddev=PNORM_DIM\^-0.5'"):
        resolve_placeholders("SoftmaxComponent dim=3\nAffineComponent param-stddev=PNORM_DIM^-0.5\n", {},
                             "x.config")


def test_am_init_pnorm_template_from_egs(tmp_path, capsys):
    egs = make_egs_dir(str(tmp_path / "d"))
    d = DIM * (2 * CTX + 1)
    lda = tmp_path / "lda.mat"  # an identity "LDA" with a zero offset column, Kaldi text form
    lda.write_text(" [\n" + "\n".join("  " + " ".join(str(int(i == j)) for j in range(d + 1)) for i in range(d))
                   + " ]\n")
    out = tmp_path / "init.mdl"
    assert main(["am-init", "--srand", "1", "--egs-dir", egs, "--var", f"LDA_MAT={lda}", "--var",
                 "PNORM_INPUT_DIM=40", "--var", "PNORM_OUTPUT_DIM=4", TM_SOURCE, PNORM, str(out)]) == 0, \
        capsys.readouterr().err
    nnet = load_model(str(out)).nnet
    sp = nnet.components[0]
    assert isinstance(sp, C.SpliceComponent) and (sp.input_dim, sp.left_context, sp.right_context) == (DIM, CTX, CTX)
    affs = [c for c in nnet.components if type(c) is C.AffineComponent]
    assert [(c.input_dim, c.output_dim) for c in affs] == [(DIM * (2 * CTX + 1), 40), (4, 40), (4, 40), (4, NPDF)]
    assert [type(c).__name__ for c in nnet.components[1:5]] == ["FixedAffineComponent", "AffineComponent",
                                                                "PnormComponent", "NormalizeComponent"]
    # Kaldi's p-norm init: hidden weights N(0, 1/pnorm_input_dim), output layer zero
    w = np.concatenate([np.asarray(c.W).ravel() for c in affs[:3]])
    assert abs(w.std() - 40 ** -0.5) < 0.02
    assert not np.asarray(affs[3].W).any()


@pytest.mark.parametrize("var, msg", [("PNORM_INPUT_DIM", "expected NAME=VALUE"),
                                      ("pnorm=3", "expected NAME=VALUE with an upper-case NAME"),
                                      ("NUM_PDFS=3", "NUM_PDFS comes from the transition model")])
def test_am_init_bad_var_is_one_line(tmp_path, capsys, var, msg):
    out = tmp_path / "x.mdl"
    assert main(["am-init", "--var", var, TM_SOURCE, PNORM, str(out)]) == 1
    err = capsys.readouterr().err
    assert msg in err and len(err.strip().splitlines()) == 1 and not out.exists()


def test_am_init_missing_var_is_one_line(tmp_path, capsys):
    out = tmp_path / "x.mdl"
    assert main(["am-init", "--var", "PNORM_INPUT_DIM=40", "--var", "PNORM_OUTPUT_DIM=4", TM_SOURCE, PNORM,
                 str(out)]) == 1
    err = capsys.readouterr().err
    assert "pnorm_nnet.config:8: placeholder FEAT_DIM" in err and not out.exists()
