"""The default recipe end to end in quick mode (what a newcomer runs first), in a scratch copy."""

import os
import shutil
import subprocess

import pytest

from conftest import subprocess_pythonpath

from nnet2.corpora.fsdd import default_fsdd_dir
from nnet2.utils.errors import UserError

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
RECIPE_FILES = ("run.sh", "cmd.sh", "path.sh", "parse_options.sh", "conf", "local")


@pytest.mark.slow
def test_fsdd_quick_recipe(tmp_path):
    try:
        fsdd = default_fsdd_dir()
    except UserError:
        pytest.skip("FSDD not available")
    # Start from nothing: only the recipe's own sources, never outputs left in the checkout.
    egs = tmp_path / "egs"
    src = os.path.join(REPO, "egs", "fsdd")
    (egs / "fsdd").mkdir(parents=True)
    for name in RECIPE_FILES:
        p = os.path.join(src, name)
        if os.path.isdir(p):
            shutil.copytree(p, egs / "fsdd" / name, symlinks=True)
        elif os.path.exists(p) or os.path.islink(p):
            shutil.copy2(p, egs / "fsdd" / name, follow_symlinks=False)
    shutil.copytree(os.path.join(REPO, "egs", "_common"), egs / "_common")
    env = dict(os.environ)
    env["PYTHONPATH"] = subprocess_pythonpath()
    r = subprocess.run(["bash", "run.sh", "--quick", "true", "--fsdd-dir", fsdd], cwd=egs / "fsdd", env=env,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-4000:]
    res = (egs / "fsdd" / "exp_quick" / "RESULTS.md").read_text()
    for m in ("sigmoid", "pnorm"):
        assert f"{m}-ngd-2w" in res
        assert (egs / "fsdd" / "exp_quick" / f"dnn_{m}" / "final.mdl").exists()
        assert (egs / "fsdd" / "exp_quick" / f"dnn_{m}" / "decode_test" / "wer").exists()
    assert (egs / "fsdd" / "exp_quick" / "learning_curves.png").stat().st_size > 1000
    # idempotent: a rerun skips every finished stage and succeeds
    r2 = subprocess.run(["bash", "run.sh", "--quick", "true", "--fsdd-dir", fsdd], cwd=egs / "fsdd", env=env,
                        capture_output=True, text=True, timeout=300)
    assert r2.returncode == 0, r2.stderr[-2000:]
