"""End-to-end `nnet2 train` on tiny synthetic egs, with 1 worker and with 2 MPI workers (mpiexec):
training works, outputs are complete, runs are reproducible, a killed run resumes to the same bytes,
and a failing or killed rank ends the whole job promptly with an intact last checkpoint."""

import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import subprocess_pythonpath
from nnet2 import _core

from train_fixtures import make_egs_dir, make_init_model

HERE = os.path.dirname(os.path.abspath(__file__))
EPOCHS, IPE = 3, 2
NUM_ITERS = EPOCHS * IPE


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("train"))
    return make_egs_dir(d), make_init_model(os.path.join(d, "0.mdl"))


def cmd(n: int, egs: str, init: str, out: str, *extra: str) -> list[str]:
    args = ["-m", "nnet2", "train", "--num-epochs", str(EPOCHS), "--iters-per-epoch", str(IPE),
            "--minibatch-size", "32", "--average-every", "3", "--update", "ngd", "--initial-lr", "0.02",
            "--final-lr", "0.005", "--threads", "1", "--prior-frames", "400", "--progress", "false", *extra,
            egs, init, out]
    if n == 1:
        return [sys.executable, *args]
    mpiexec = shutil.which("mpiexec") or os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return [mpiexec, "-n", str(n), sys.executable, "-m", "mpi4py", *args]


def run(n, setup, out, *extra, env=None, timeout=120):
    e = dict(os.environ, PYTHONPATH=subprocess_pythonpath(), OMP_NUM_THREADS="1", **(env or {}))
    return subprocess.run(cmd(n, *setup, str(out), *extra), env=e, capture_output=True, text=True, timeout=timeout)


def final_bytes(out) -> bytes:
    with open(os.path.join(out, "final.mdl"), "rb") as f:
        return f.read()


_REFS = {}


def reference(n, setup, tmp_path_factory, *extra):
    """An uninterrupted run (cached per worker count and options)."""
    key = (n, extra)
    if key not in _REFS:
        out = tmp_path_factory.mktemp(f"ref{n}")
        p = run(n, setup, out, *extra)
        assert p.returncode == 0, p.stderr[-3000:]
        _REFS[key] = str(out)
    return _REFS[key]


@pytest.mark.parametrize("n", [1, 2])
def test_train_end_to_end(setup, tmp_path_factory, n):
    from nnet2.nnet.model import load_model

    out = reference(n, setup, tmp_path_factory)
    for it in range(NUM_ITERS + 1):
        assert os.path.exists(os.path.join(out, f"{it}.mdl"))
        assert os.path.exists(os.path.join(out, "state", f"{it}.json"))
    for it in range(NUM_ITERS):
        for r in range(n):
            log = os.path.join(out, "log", f"train.{it}.{r}.log")
            assert os.path.exists(log) and f"Iter {it} " in open(log).read()
    with open(os.path.join(out, "state", f"{NUM_ITERS}.json")) as f:
        st = json.load(f)
    h = st["history"]
    assert st["identity"]["num_workers"] == n and len(h) == NUM_ITERS
    assert h[-1]["train_objf"] > h[0]["train_objf"] + 0.2
    assert h[-1]["valid_acc"] > 0.6  # 5 classes: chance is ~0.2-0.3
    assert h[-1]["valid_objf"] > h[IPE - 1]["valid_objf"]
    assert h[0]["lr"] == pytest.approx(0.02 * n)  # --scale-lr-by-workers (default true)
    m = load_model(os.path.join(out, "final.mdl"))
    assert m.priors.size == 5 and abs(float(m.priors.astype(np.float64).sum()) - 1.0) < 1e-5
    assert (m.priors > 0).all()
    assert not glob.glob(os.path.join(out, "**", ".*tmp*"), recursive=True)


def test_bmuf_defaults_are_chen_and_huo(setup, tmp_path_factory, tmp_path):
    """--averaging bmuf with the defaults: workers at the single-worker learning rate, block momentum
    1 - 1/N, block LR 1 (Chen & Huo 2016); --scale-lr-by-workers true still asks for LR x N; a bad
    --block-momentum is one clear line."""
    out = reference(2, setup, tmp_path_factory, "--averaging", "bmuf")
    with open(os.path.join(out, "state", f"{NUM_ITERS}.json")) as f:
        h = json.load(f)["history"]
    assert h[0]["lr"] == pytest.approx(0.02)
    log = open(os.path.join(out, "log", "train.setup.0.log")).read()
    assert "block momentum 0.5, block lr 1" in log and "schedule rate x 1" in log
    # each rank says which OpenBLAS kernels it runs, and whether the environment forced them
    kernel = f"OpenBLAS {_core.blas_kernel()} kernels"
    assert f"Rank 0 computes on cpu (1 thread(s), {kernel}" in log, log
    assert ("set by OPENBLAS_CORETYPE=" in log) == ("OPENBLAS_CORETYPE" in os.environ), log
    assert ("OPENBLAS_L2_SIZE=" in log) == ("OPENBLAS_L2_SIZE" in os.environ), log
    p = run(2, setup, tmp_path / "x", "--averaging", "bmuf", "--scale-lr-by-workers", "true", "--num-epochs", "1")
    assert p.returncode == 0, p.stderr[-3000:]
    with open(os.path.join(tmp_path / "x", "state", f"{IPE}.json")) as f:
        assert json.load(f)["history"][0]["lr"] == pytest.approx(0.04)
    p = run(1, setup, tmp_path / "y", "--averaging", "bmuf", "--block-momentum", "1.5")
    assert p.returncode != 0 and "--block-momentum must be auto or a number in [0, 1), got '1.5'" in p.stderr
    assert "Traceback" not in p.stderr


@pytest.mark.parametrize("n", [1, 2])
def test_same_seed_same_bytes_different_seed_differs(setup, tmp_path_factory, tmp_path, n):
    ref = reference(n, setup, tmp_path_factory)
    p = run(n, setup, tmp_path / "again")
    assert p.returncode == 0, p.stderr[-3000:]
    assert final_bytes(tmp_path / "again") == final_bytes(ref)
    p = run(n, setup, tmp_path / "seed1", "--seed", "1")
    assert p.returncode == 0, p.stderr[-3000:]
    assert final_bytes(tmp_path / "seed1") != final_bytes(ref)


def killed_run(n, setup, out, it, *extra):
    """A run whose rank n-1 SIGKILLs itself in iteration `it` (checkpoints 0..it are complete)."""
    p = run(n, setup, out, *extra, env={"NNET2_TEST_FAIL_RANK": str(n - 1), "NNET2_TEST_FAIL_ITER": str(it),
                                        "NNET2_TEST_FAIL_MODE": "kill"})
    assert p.returncode != 0
    assert not os.path.exists(os.path.join(out, "final.mdl"))
    assert os.path.exists(os.path.join(out, "state", f"{it}.json"))
    assert not os.path.exists(os.path.join(out, "state", f"{it + 1}.json"))
    return p


@pytest.mark.parametrize("n,it,extra", [(1, 1, ()), (1, 4, ()), (2, 2, ()), (2, 3, ("--averaging", "bmuf")),
                                        (2, 1, ("--averaging", "overlap"))])
def test_resume_after_kill_gives_identical_model(setup, tmp_path_factory, tmp_path, n, it, extra):
    ref = reference(n, setup, tmp_path_factory, *extra)
    out = tmp_path / "run"
    killed_run(n, setup, out, it, *extra)
    p = run(n, setup, out, *extra, "--resume", "true")
    assert p.returncode == 0, p.stderr[-3000:]
    assert f"Resuming from iteration {it}" in p.stderr
    assert final_bytes(out) == final_bytes(ref)


def _history(out, it=NUM_ITERS) -> list[dict]:
    """state/<it>.json's history without the wall-clock fields."""
    with open(os.path.join(out, "state", f"{it}.json")) as f:
        h = json.load(f)["history"]
    return [{k: v for k, v in r.items() if k not in ("seconds", "avg_seconds")} for r in h]


def _spare_core() -> bool:
    return len(os.sched_getaffinity(0)) >= 2


def test_background_validation_gives_the_same_history_and_bytes(setup, tmp_path_factory, tmp_path):
    """1 worker on 1 thread with a spare core validates each epoch beside the next iteration (what the
    reference run does here); --background-validation false validates in line. Same final bytes, the same
    validation numbers in every epoch's state file, every epoch's validation line in the logs."""
    ref = reference(1, setup, tmp_path_factory)
    out = tmp_path / "inline"
    p = run(1, setup, out, "--background-validation", "false")
    assert p.returncode == 0, p.stderr[-3000:]
    assert final_bytes(out) == final_bytes(ref)
    for it in range(IPE, NUM_ITERS + 1, IPE):  # every epoch's checkpoint: its state file is complete
        assert _history(out, it) == _history(ref, it)
        assert all("valid_acc" in r for r in _history(ref, it) if (r["iter"] + 1) % IPE == 0)
    setup_log = open(os.path.join(ref, "log", "train.setup.0.log")).read()
    assert ("Validation runs on a second thread" in setup_log) == _spare_core()
    assert "Validation runs on a second thread" not in p.stderr
    for d in (ref, out):
        text = "".join(open(f).read() for f in glob.glob(os.path.join(d, "log", "train.*.log")))
        assert sorted(int(e) for e in re.findall(r"Epoch (\d+): validation objf", text)) == \
            list(range(EPOCHS))


def test_killed_beside_a_validation_resumes_with_the_same_history(setup, tmp_path_factory, tmp_path):
    """Killed in the iteration after an epoch end, while that epoch's validation ran beside it: the epoch's
    checkpoint is on disk without its validation (when it ran beside), and --resume validates the
    checkpoint's model, so the history and the final bytes are those of an uninterrupted run."""
    ref = reference(1, setup, tmp_path_factory)
    out = tmp_path / "run"
    killed_run(1, setup, out, 2 * IPE)
    assert ("valid_acc" in _history(out, 2 * IPE)[-1]) != _spare_core()
    p = run(1, setup, out, "--resume", "true")
    assert p.returncode == 0, p.stderr[-3000:]
    assert f"Resuming from iteration {2 * IPE}" in p.stderr
    # the epoch the killed run never gave to its callbacks (here the log line) comes out now
    assert ("Epoch 1: validation objf" in p.stderr) == _spare_core()
    assert final_bytes(out) == final_bytes(ref)
    assert _history(out) == _history(ref)


def test_background_validation_with_one_iteration_per_epoch(setup, tmp_path):
    """Every iteration an epoch end: each validation runs beside the next one (the last in line); the same
    bytes and history as inline."""
    a, b = tmp_path / "beside", tmp_path / "inline"
    for out, flag in ((a, "true"), (b, "false")):
        p = run(1, setup, out, "--iters-per-epoch", "1", "--background-validation", flag)
        assert p.returncode == 0, p.stderr[-3000:]
    assert final_bytes(a) == final_bytes(b)
    assert _history(a, EPOCHS) == _history(b, EPOCHS)
    assert all("valid_acc" in r for r in _history(a, EPOCHS))


def test_validation_interval_and_newbob_noise_warning(setup, tmp_path_factory, tmp_path):
    """Every epoch's validation accuracy comes with its bootstrap interval over the held-out utterances;
    newbob warns when that interval is wider than its halving threshold (here the default 0.5%)."""
    ref = reference(1, setup, tmp_path_factory)
    h = json.load(open(os.path.join(ref, "state", f"{NUM_ITERS}.json")))["history"]
    for r in (x for x in h if "valid_acc" in x):
        assert 0.0 <= r["valid_acc_lo"] <= r["valid_acc"] <= r["valid_acc_hi"] <= 1.0
        assert r["valid_acc_hi"] > r["valid_acc_lo"]
    p = run(1, setup, tmp_path / "nb", "--lr-schedule", "newbob", "--num-epochs", "1")
    assert p.returncode == 0, p.stderr[-3000:]
    assert "newbob: the validation accuracy's 95% interval is +-" in p.stderr


@pytest.mark.parametrize("n", [1, 2])
def test_resume_after_kill_during_a_write(setup, tmp_path_factory, tmp_path, n):
    """Killed while writing checkpoint 4: a torn 4.mdl without its state file and stray temp files."""
    ref = reference(n, setup, tmp_path_factory)
    out = tmp_path / "run"
    killed_run(n, setup, out, 3)
    with open(out / "4.mdl", "wb") as f:
        f.write(open(out / "3.mdl", "rb").read()[:100])
    for stray in (out / ".4.mdl.x1y2.tmp", out / "state" / ".4.json.a1b2.tmp", out / ".final.mdl.zz.tmp"):
        stray.write_bytes(b"half")
    p = run(n, setup, out, "--resume", "true")
    assert p.returncode == 0, p.stderr[-3000:]
    assert "Resuming from iteration 3" in p.stderr
    assert final_bytes(out) == final_bytes(ref)
    assert not glob.glob(str(out / "**" / ".*tmp*"), recursive=True)


def test_resume_after_sigkill_of_the_process_group(setup, tmp_path_factory, tmp_path):
    """A real external kill (mpiexec and both ranks) at whatever point the run has reached."""
    ref = reference(2, setup, tmp_path_factory)
    out = tmp_path / "run"
    e = dict(os.environ, PYTHONPATH=subprocess_pythonpath(), OMP_NUM_THREADS="1")
    p = subprocess.Popen(cmd(2, *setup, str(out)), env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    deadline = time.monotonic() + 60
    while not os.path.exists(out / "state" / "2.json") and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:  # already finished on a fast machine: the resume below then only redoes final.mdl
        pass
    p.wait()
    p = run(2, setup, out, "--resume", "true")
    assert p.returncode == 0, p.stderr[-3000:]
    assert final_bytes(out) == final_bytes(ref)


@pytest.mark.parametrize("change,field", [(("--seed", "5"), "--seed"), ((), "num_workers"),
                                          (("--minibatch-size", "16"), "--minibatch-size")])
def test_resume_refuses_a_different_setup(setup, tmp_path, change, field):
    out = tmp_path / "run"
    killed_run(1, setup, out, 2)
    n = 2 if field == "num_workers" else 1
    p = run(n, setup, out, *change, "--resume", "true")
    assert p.returncode != 0
    assert f"it was trained with {field}=" in p.stderr, p.stderr[-2000:]
    assert not os.path.exists(out / "final.mdl") and not os.path.exists(out / "state" / "3.json")


def unfinished_copy(ref, tmp_path):
    """A copy of the finished run `ref` without its final.mdl: what --resume picks up at the last checkpoint."""
    out = tmp_path / "run"
    shutil.copytree(ref, out)
    os.remove(out / "final.mdl")
    return out


def refused_in_one_line(p, out, *words):
    """The run exited 1 with exactly one error line, holding every one of `words`; no traceback, no MPI abort
    line, no final.mdl."""
    assert p.returncode == 1, p.stderr[-2000:]
    lines = [ln for ln in p.stderr.splitlines() if "error" in ln.lower()]
    assert len(lines) == 1 and all(w in lines[0] for w in words), p.stderr[-2000:]
    assert "Traceback" not in p.stderr and "aborting" not in p.stderr
    assert not os.path.exists(out / "final.mdl")


@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.parametrize("which", ["resumed", "combined"])
def test_resume_with_a_torn_checkpoint(setup, tmp_path_factory, tmp_path, n, which):
    """A checkpoint torn after it was written (its state file intact): the one resumed from, or one the final
    combination reads. Every rank reads it, so it is one line naming it on every worker count (no MPI abort
    racing the message away); nothing is written."""
    extra = ("--iters-per-epoch", "5")  # 15 iterations: the combination reads checkpoints 12..15
    ref = reference(n, setup, tmp_path_factory, *extra)
    out = unfinished_copy(ref, tmp_path)
    bad = out / ("15.mdl" if which == "resumed" else "13.mdl")
    bad.write_bytes(bad.read_bytes()[:100])
    p = run(n, setup, out, *extra, "--resume", "true")
    refused_in_one_line(p, out, str(bad))


@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.parametrize("content", [b"{\"iter\": 6, \"identi", b"[1, 2]", b"\xff\xfe"])
def test_resume_with_a_corrupt_state_file(setup, tmp_path_factory, tmp_path, n, content):
    """The last state file is not JSON, not an object, or not UTF-8: one line naming it on every worker count,
    nothing written."""
    ref = reference(n, setup, tmp_path_factory)
    out = unfinished_copy(ref, tmp_path)
    bad = out / "state" / f"{NUM_ITERS}.json"
    bad.write_bytes(content)
    p = run(n, setup, out, "--resume", "true")
    refused_in_one_line(p, out, str(bad), "not a training state file")


@pytest.mark.parametrize("n", [1, 2])
def test_resume_with_a_bad_schedule_state(setup, tmp_path_factory, tmp_path, n):
    """A state file that is valid JSON but whose newbob schedule state is not: one line naming the file on
    every worker count (not a per-rank traceback and abort), nothing written."""
    extra = ("--lr-schedule", "newbob", "--newbob-start-halving-impr", "0.05")
    ref = reference(n, setup, tmp_path_factory, *extra)
    out = unfinished_copy(ref, tmp_path)
    bad = out / "state" / f"{NUM_ITERS}.json"
    st = json.loads(bad.read_text())
    st["schedule"] = {"no_such_field": 1}
    bad.write_text(json.dumps(st))
    p = run(n, setup, out, *extra, "--resume", "true")
    refused_in_one_line(p, out, str(bad), "no valid schedule state")


def test_resume_with_a_corrupt_averager_state(setup, tmp_path_factory, tmp_path):
    """BMUF's saved state (state/N.npz) torn: one line naming it on both ranks, nothing written."""
    ref = reference(2, setup, tmp_path_factory, "--averaging", "bmuf")
    out = unfinished_copy(ref, tmp_path)
    bad = out / "state" / f"{NUM_ITERS}.npz"
    assert bad.exists()
    bad.write_bytes(bad.read_bytes()[:60])
    p = run(2, setup, out, "--averaging", "bmuf", "--resume", "true")
    refused_in_one_line(p, out, str(bad), "averager state")


def test_fresh_start_removes_the_old_run(setup, tmp_path_factory, tmp_path):
    """Without --resume, earlier checkpoints are discarded so a later resume cannot pick up a stale one."""
    ref = reference(1, setup, tmp_path_factory)
    out = tmp_path / "run"
    shutil.copytree(ref, out)
    killed_run(1, setup, out, 2, "--seed", "3")
    assert not os.path.exists(out / "state" / f"{NUM_ITERS}.json")


@pytest.mark.parametrize("mode", ["raise", "kill"])
def test_failing_rank_stops_the_job(setup, tmp_path, mode):
    from nnet2.nnet.model import load_model

    out = tmp_path / "run"
    p = run(2, setup, out, env={"NNET2_TEST_FAIL_RANK": "1", "NNET2_TEST_FAIL_ITER": "2",
                                "NNET2_TEST_FAIL_MODE": mode}, timeout=600)
    # A job that does not stop hangs in a collective: the subprocess timeout (a hang guard, generous
    # for a loaded machine) is what catches it; nothing here depends on how fast the job ends.
    assert p.returncode != 0
    if mode == "raise":
        log = open(out / "log" / "train.2.1.log").read()
        assert "rank 1 failed: RuntimeError: injected failure on rank 1 in iteration 2" in log
        assert "rank 1 failed" in p.stderr
    else:
        assert "signal 9" in p.stdout + p.stderr or "KILLED" in p.stdout + p.stderr
    assert os.path.exists(out / "state" / "2.json") and not os.path.exists(out / "state" / "3.json")
    load_model(out / "2.mdl")  # the last complete checkpoint is intact


def test_newbob_run_resumes_identically(setup, tmp_path_factory, tmp_path):
    extra = ("--lr-schedule", "newbob", "--newbob-start-halving-impr", "0.05")
    ref = reference(1, setup, tmp_path_factory, *extra)
    st = json.load(open(os.path.join(ref, "state", "0.json")))
    assert st["schedule"]["best_acc"] is not None  # the initial model's validation accuracy
    out = tmp_path / "run"
    killed_run(1, setup, out, 3, *extra)
    p = run(1, setup, out, *extra, "--resume", "true")
    assert p.returncode == 0, p.stderr[-3000:]
    assert final_bytes(out) == final_bytes(ref)


def test_more_threads_than_cores_warns_and_caps(setup, tmp_path):
    """2 workers x T threads with 2T > the cores of the node: one warning, and T is capped at cores / 2 (the
    threads of one worker would otherwise wait for cores the other holds; measured about 20x slower here)."""
    cores = len(os.sched_getaffinity(0))
    threads = cores // 2 + 1
    p = run(2, setup, tmp_path / "run", "--num-epochs", "1", "--threads", str(threads))
    assert p.returncode == 0, p.stderr[-3000:]
    want = (f"2 workers x {threads} threads on this node need {2 * threads} cores, it has {cores}: "
            f"using --threads {max(1, cores // 2)}")
    assert p.stderr.count(want) == 1, p.stderr[-3000:]
    ok = run(2, setup, tmp_path / "ok", "--num-epochs", "1")  # --threads 1
    assert ok.returncode == 0 and "threads on this node need" not in ok.stderr, ok.stderr[-3000:]
