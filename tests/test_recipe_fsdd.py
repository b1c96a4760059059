"""The default recipe end to end in quick mode (what a newcomer runs first), in a scratch copy that
starts from the recipe's sources only; then, on its outputs, what a newcomer does next: rerun it,
rerun a stage with other options, and run every command line of the README's command-line section.

These are behaviour checks of our own recipe and CLI (consistency, not Kaldi compatibility)."""

import os
import re
import shutil
import subprocess

import pytest

from conftest import subprocess_pythonpath

from nnet2.corpora.fsdd import default_fsdd_dir
from nnet2.utils.errors import UserError

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
RECIPE_FILES = ("run.sh", "cmd.sh", "path.sh", "conf", "local")  # + egs/_common, which the scripts source
pytestmark = pytest.mark.slow


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = subprocess_pythonpath()
    return env


def _run(args, cwd, timeout=900):
    return subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    """egs/fsdd copied without any outputs, and `./run.sh --quick true` run once in it."""
    try:
        fsdd = default_fsdd_dir()
    except UserError:
        pytest.skip("FSDD not available")
    egs = tmp_path_factory.mktemp("checkout") / "egs"
    src = os.path.join(REPO, "egs", "fsdd")
    (egs / "fsdd").mkdir(parents=True)
    for name in RECIPE_FILES:
        p = os.path.join(src, name)
        if os.path.isdir(p):
            shutil.copytree(p, egs / "fsdd" / name, symlinks=True)
        elif os.path.exists(p) or os.path.islink(p):
            shutil.copy2(p, egs / "fsdd" / name, follow_symlinks=False)
    shutil.copytree(os.path.join(REPO, "egs", "_common"), egs / "_common")
    d = egs / "fsdd"
    r = _run(["bash", "run.sh", "--quick", "true", "--fsdd-dir", fsdd], d)
    assert r.returncode == 0, r.stderr[-4000:]
    return d, fsdd, r


def test_quick_recipe_outputs(recipe):
    d, _, r = recipe
    res = (d / "exp_quick" / "RESULTS.md").read_text()
    for m in ("sigmoid", "pnorm"):
        name = f"dnn_{m}_ngd_2w_avg10"
        assert f"| {name} | 2 |" in res
        assert (d / "exp_quick" / name / "final.mdl").exists()
        assert (d / "exp_quick" / name / "decode_test" / "wer").exists()
    assert (d / "exp_quick" / "learning_curves.png").stat().st_size > 1000
    # no JSON on stdout; each of the 3 test decodes (GMM, 2 DNNs) prints its WER once
    assert not any(line.lstrip().startswith("{") for line in r.stdout.splitlines())
    assert len(re.findall(r"^%WER ", r.stdout + r.stderr, re.M)) == 3
    assert "%WER" not in r.stderr


def test_rerun_skips_every_finished_step(recipe):
    d, fsdd, _ = recipe
    r = _run(["bash", "run.sh", "--quick", "true", "--fsdd-dir", fsdd], d, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    skipped = [line for line in r.stdout.splitlines() if line.endswith(": skipped (done)")]
    assert len(skipped) == 17, r.stdout
    assert "Rank 0 computes" not in r.stderr  # nothing was trained


def test_stage6_with_other_workers_trains_a_new_model(recipe):
    """`--stage 6 --nj 1` trains (it does not skip because a 2-worker final.mdl exists) into a
    directory named after the workers, and the report labels it so; the 2-worker model is kept."""
    d, fsdd, _ = recipe
    before = (d / "exp_quick" / "dnn_pnorm_ngd_2w_avg10" / "final.mdl").read_bytes()
    r = _run(["bash", "run.sh", "--quick", "true", "--fsdd-dir", fsdd, "--stage", "6", "--nj", "1",
              "--models", "pnorm"], d, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Rank 0 computes" in r.stderr
    new = d / "exp_quick" / "dnn_pnorm_ngd_1w_avg10"
    assert (new / "final.mdl").exists() and (new / "decode_test" / "wer").exists()
    assert "| dnn_pnorm_ngd_1w_avg10 | 1 |" in (d / "exp_quick" / "RESULTS.md").read_text()
    assert (d / "exp_quick" / "dnn_pnorm_ngd_2w_avg10" / "final.mdl").read_bytes() == before
    # the same command again: done
    r = _run(["bash", "run.sh", "--quick", "true", "--fsdd-dir", fsdd, "--stage", "6", "--nj", "1",
              "--models", "pnorm"], d, timeout=300)
    assert r.returncode == 0
    assert "training exp_quick/dnn_pnorm_ngd_1w_avg10: skipped (done)" in r.stdout


def test_help_lists_every_option_and_nothing_else(recipe):
    d, _, _ = recipe
    r = _run(["bash", "run.sh", "--help"], d)
    assert r.returncode == 0
    listed = re.findall(r"^  --([a-z-]+) ", r.stdout.split("Options (current values):")[1], re.M)
    src = (d / "run.sh").read_text().split(". ../_common/parse_options.sh")[0]
    declared = [v.replace("_", "-") for v in re.findall(r"^([a-z][a-z0-9_]*)=", src, re.M) if v != "help_message"]
    assert sorted(listed) == sorted(declared)
    assert "root" not in listed


def readme_commands() -> list[str]:
    """The command lines of the README's 'The command line' section (continuations joined)."""
    text = open(os.path.join(REPO, "README.md")).read()
    block = text.split("## The command line", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    lines, cur = [], ""
    for raw in block.splitlines():
        cur += raw.rstrip()
        if cur.endswith("\\"):
            cur = cur[:-1] + " "
            continue
        if cur.strip():
            lines.append(cur.strip())
        cur = ""
    return lines


def test_readme_commands_run(recipe):
    """Each README command line, on the quick recipe's outputs (exp/ -> exp_quick/, data/ ->
    data_quick/), with path.sh in place of `source .venv/bin/activate` (the test's nnet2 is the one
    under test), and the 8-worker training shortened to one epoch."""
    d, _, _ = recipe
    cmds = readme_commands()
    assert len(cmds) == 8 and cmds[0].startswith("source ../../.venv/bin/activate")
    assert any("data/train_nodev" in c and c.startswith("nnet2 get-egs") for c in cmds)
    for c in cmds[1:]:
        assert c.startswith(("nnet2 ", "mpiexec ")), c
        line = re.sub(r"\bexp/", "exp_quick/", c)
        line = re.sub(r"\bdata/", "data_quick/", line)
        if line.startswith("mpiexec"):
            line += " --num-epochs 1 --iters-per-epoch 1"
        r = _run(["bash", "-c", f"set -eo pipefail; . ./path.sh; {line}"], d, timeout=600)
        assert r.returncode == 0, f"{line}\n{r.stderr[-3000:]}"
        assert "Traceback" not in r.stderr, line
    q = d / "exp_quick"
    assert (q / "final_sigmoid.txt").read_text().startswith("<TransitionModel>")
    assert (q / "egs" / "info.json").exists() and (q / "dbn_4x512" / "4.dbn").exists()
    assert (q / "dnn_sigmoid_ngd_8w_avg10" / "final.mdl").exists()


def test_readme_python_snippet_runs(recipe):
    """The README's `nnet2.api` snippet, on the quick recipe's outputs (exp/ -> exp_quick/): the paths it
    names are ones the recipe makes, and it trains and loads a model."""
    d, _, _ = recipe
    text = open(os.path.join(REPO, "README.md")).read()
    snippet = text.split("After `make recipe`, from `egs/fsdd` (the recipe's egs", 1)[1]
    snippet = snippet.split("```python", 1)[1].split("```", 1)[0]
    assert "nn.train(" in snippet and "nn.load_model(" in snippet
    code = re.sub(r'"exp/', '"exp_quick/', snippet) + "\nprint('ok', model.nnet.num_params())\n"
    r = _run(["bash", "-c", '. ./path.sh; python -c "$0"', code], d, timeout=600)
    assert r.returncode == 0 and "ok " in r.stdout, r.stderr[-3000:]
    assert (d / "exp_quick" / "dnn_api" / "final.mdl").exists()
