"""The recipes' path.sh and `python -m nnet2` when the package is not built: one line saying what to
run, never an ImportError traceback; and the project's .venv goes on PATH when it exists."""

import os
import shutil
import subprocess
import sys

import pytest

from conftest import subprocess_pythonpath

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def _fake_checkout(tmp_path, recipe):
    """A checkout with the recipe's path.sh (and egs/_common/path.sh, which it sources) and no build."""
    root = tmp_path / "checkout"
    for d in (recipe, "_common"):
        (root / "egs" / d).mkdir(parents=True)
        shutil.copy2(os.path.join(REPO, "egs", d, "path.sh"), root / "egs" / d / "path.sh")
    return root


def _bare_python(tmp_path):
    """A virtualenv without nnet2 (or anything else) installed: `python` on PATH cannot import nnet2."""
    venv = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    return venv / "bin"


@pytest.mark.parametrize("recipe", ["fsdd", "swbd"])
def test_path_sh_without_build_is_one_line(tmp_path, recipe):
    root = _fake_checkout(tmp_path, recipe)
    bare = _bare_python(tmp_path)
    env = {"PATH": f"{bare}:/usr/bin:/bin", "HOME": str(tmp_path)}
    r = subprocess.run(["bash", "-c", "set -e; . ./path.sh; echo REACHED"], cwd=root / "egs" / recipe, env=env,
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert "REACHED" not in r.stdout
    lines = r.stderr.strip().splitlines()
    assert lines == [f"nnet2 is not built: run 'make setup' in {root} (or 'pip install .' there into your own environment)"]


def test_path_sh_puts_project_venv_first(tmp_path):
    """With a .venv in the checkout, its bin/ comes first on PATH (python, mpiexec, nnet2 from it)."""
    root = _fake_checkout(tmp_path, "fsdd")
    vbin = root / ".venv" / "bin"
    vbin.mkdir(parents=True)
    # the checkout's .venv python: the test's own interpreter, which can import nnet2
    (vbin / "python").write_text(f"#!/bin/sh\nPYTHONPATH={subprocess_pythonpath()} exec {sys.executable} \"$@\"\n")
    (vbin / "mpiexec").write_text("#!/bin/sh\necho venv-mpiexec\n")
    for f in ("python", "mpiexec"):
        os.chmod(vbin / f, 0o755)
    bare = _bare_python(tmp_path)
    env = {"PATH": f"{bare}:/usr/bin:/bin", "HOME": str(tmp_path)}
    r = subprocess.run(["bash", "-c", ". ./path.sh; command -v python; mpiexec; nnet2 --version"],
                       cwd=root / "egs" / "fsdd", env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0] == str(vbin / "python")
    assert out[1] == "venv-mpiexec"
    assert out[2].startswith("nnet2 ")


def test_cli_without_core_is_one_line(tmp_path):
    """`python -m nnet2 ...` from a source tree that was never built."""
    import nnet2

    pkg = tmp_path / "src" / "nnet2"
    shutil.copytree(os.path.dirname(nnet2.__file__), pkg,
                    ignore=shutil.ignore_patterns("_core*", "__pycache__"))
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "src"))
    r = subprocess.run([sys.executable, "-m", "nnet2", "am-info", "x.mdl"], cwd=tmp_path, env=env,
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nnet2: error: the compiled core nnet2._core is not built")
    assert "make setup" in lines[0]
