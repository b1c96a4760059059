"""The Python API (nnet2.api) and the extension's stubs (nnet2/_core.pyi), checked against docs/python.md.

* The documented walkthrough of the default recipe runs end to end on the quick FSDD subset, as a script
  with one in-process worker and under `mpiexec -n 2 python -m mpi4py` (the code block is taken from
  docs/python.md, so the documentation cannot drift).
* The documented custom averager, plugged into `train` under MPI, gives the model its formula predicts:
  the expected parameters are computed here independently, by replaying both workers' minibatches in
  one process with the rule written out in numpy (a consistency check of the trainer's orchestration
  and of the averager against its formula, not a comparison with Kaldi, which has no such rule).
* Every public name has a docstring and type hints; `_core.pyi` lists exactly the functions of the
  built extension, with matching parameter names; the kernel-timing example runs.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import subprocess_pythonpath
from train_fixtures import make_egs_dir, make_init_model

HERE = os.path.dirname(os.path.abspath(__file__))
DOCS = os.path.join(HERE, "..", "docs", "python.md")


def doc_block(containing: str) -> str:
    """The ```python block of docs/python.md that contains `containing`."""
    with open(DOCS) as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
    found = [b for b in blocks if containing in b]
    assert len(found) == 1, f"docs/python.md: expected one python block containing {containing!r}"
    return found[0]


def mpiexec() -> str:
    return shutil.which("mpiexec") or os.path.join(os.path.dirname(sys.executable), "mpiexec")


def child_env(**extra: str) -> dict:
    return dict(os.environ, PYTHONPATH=subprocess_pythonpath(), OMP_NUM_THREADS="1", **extra)


# ------------------------------------------------------------------------------------------ walkthrough
@pytest.mark.slow
@pytest.mark.parametrize("ranks", [1, 2])
def test_documented_walkthrough_runs_end_to_end(tmp_path, ranks):
    """docs/python.md's walkthrough on the quick FSDD subset: `python walkthrough.py` (ranks=1: every
    stage in-process, one training worker) and `mpiexec -n 2 python -m mpi4py walkthrough.py`."""
    from nnet2.corpora.fsdd import default_fsdd_dir
    from nnet2.utils.errors import UserError

    try:
        fsdd = default_fsdd_dir()
    except UserError:
        pytest.skip("FSDD not available")
    script = tmp_path / "walkthrough.py"
    script.write_text(doc_block("nn.prepare_fsdd("))
    cmd = [sys.executable, str(script)]
    if ranks > 1:
        cmd = [mpiexec(), "-n", str(ranks), sys.executable, "-m", "mpi4py", str(script)]
    p = subprocess.run(cmd, cwd=tmp_path, env=child_env(FSDD_DIR=fsdd), capture_output=True, text=True,
                       timeout=900)
    assert p.returncode == 0, p.stderr[-4000:]
    exp = tmp_path / "exp_py"
    for f in ("corpus/data/lang/words.txt", "mono/final.mdl", "mono/graph/HCLG.fst", "egs/info.json",
              "dbn/2.dbn", "dnn/init.mdl", "dnn/final.mdl", "dnn/tune_dev/best.conf", "dnn/decode_test/wer"):
        assert (exp / f).exists(), f
    for r in range(ranks):  # every rank trained (and only train ran on more than rank 0)
        assert (exp / "dnn" / "log" / f"train.1.{r}.log").exists()
    assert not (exp / "dnn" / "log" / f"train.1.{ranks}.log").exists()
    # every rank printed the WER (rank 0's result is handed to the others)
    m = re.findall(r"^%WER ([0-9.]+) \[", p.stdout, re.M)
    assert len(m) == ranks, p.stdout
    assert len(set(m)) == 1 and 0.0 <= float(m[0]) < 100.0
    assert m[0] in (exp / "dnn" / "decode_test" / "wer").read_text()
    assert len(re.findall(r"^iter 1: accuracy", p.stdout, re.M)) == 1  # the documented callback, rank 0


# ------------------------------------------------------------------------------------------ custom averager
def _replay(egs_dir: str, init: str, rule, num_workers: int, epochs: int, minibatch: int, every: int,
            seed: int, lr0: float, lr1: float) -> np.ndarray:
    """Both workers' training, in one process: every worker runs its own minibatches of each epoch with
    Nnet.train_step at the learning rate lr0 * (lr1/lr0)^(it/X) x N; after every `every`-th minibatch
    but an iteration's last, `rule(params_of_all_workers, block)` is applied; at the end of an
    iteration the workers' parameters are replaced by their mean. Returns worker 0's final parameters."""
    from nnet2 import _core
    from nnet2.data.egs import EgsReader
    from nnet2.nnet.model import load_model

    _core.set_num_threads(1)
    egs = EgsReader(egs_dir)
    nets = [load_model(init).nnet for _ in range(num_workers)]
    for it in range(epochs):  # one iteration per epoch
        lr = lr0 * (lr1 / lr0) ** (it / epochs) * num_workers
        for n in nets:
            n.set_learning_rate(lr)
            n.reset_preconditioners()
            n.zero_stats()
        streams = [list(egs.iter_minibatches(r, it, minibatch, seed, num_workers)) for r in range(num_workers)]
        assert len({len(s) for s in streams}) == 1
        num_mb, block = len(streams[0]), 0
        for i in range(num_mb):
            for n, s in zip(nets, streams):
                n.train_step(*s[i])
            if (i + 1) % every == 0 and i + 1 < num_mb:
                block += 1
                rule([n.params for n in nets], block)
        mean = np.mean([n.params.astype(np.float64) for n in nets], axis=0)
        for n in nets:
            n.params[...] = mean.astype(np.float32)
    return nets[0].params.copy()


def _plain_rule(params: list[np.ndarray], block: int) -> None:
    mean = np.mean([p.astype(np.float64) for p in params], axis=0)
    for p in params:
        p[...] = mean.astype(np.float32)


def _partial_every_k_rule(k: int, w: float):
    def rule(params: list[np.ndarray], block: int) -> None:
        if block % k:
            return  # not the k-th block: the workers keep their own parameters
        mean = np.mean([p.astype(np.float64) for p in params], axis=0)
        for p in params:
            p[...] = (p + w * (mean - p)).astype(np.float32)  # theta + w (mean - theta)

    return rule


@pytest.mark.mpi
def test_custom_averager_changes_the_model_as_its_formula_says(tmp_path):
    from nnet2.nnet.model import load_model

    egs = make_egs_dir(str(tmp_path / "data"))
    init = make_init_model(str(tmp_path / "0.mdl"))
    k, w = 2, 0.5
    plain, custom = tmp_path / "plain", tmp_path / "custom"
    p = subprocess.run([mpiexec(), "-n", "2", sys.executable, "-m", "mpi4py", os.path.join(HERE, "mpi", "api_averager.py"),
                        DOCS, egs, init, str(plain), str(custom), str(k), str(w)],
                       env=child_env(), capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-4000:]
    got_plain = load_model(plain / "final.mdl").nnet.params
    got_custom = load_model(custom / "final.mdl").nnet.params
    # the options of tests/mpi/api_averager.py
    kw = dict(num_workers=2, epochs=2, minibatch=32, every=2, seed=5, lr0=0.02, lr1=0.005)
    want_plain = _replay(egs, init, _plain_rule, **kw)
    want_custom = _replay(egs, init, _partial_every_k_rule(k, w), **kw)
    tol = dict(rtol=1e-4, atol=1e-5)  # float32 sums in another order (MPI, float64 means here)
    np.testing.assert_allclose(got_plain, want_plain, **tol)
    np.testing.assert_allclose(got_custom, want_custom, **tol)
    # ... and the two rules' models differ far beyond that tolerance
    assert np.abs(got_custom - got_plain).max() > 100 * (1e-5 + 1e-4 * np.abs(got_plain).max())
    assert np.abs(want_custom - want_plain).max() > 100 * (1e-5 + 1e-4 * np.abs(want_plain).max())


# ------------------------------------------------------------------------------------------ surface
def _public_members(cls: type) -> list[tuple[str, object]]:
    """Public methods and properties defined by nnet2 on `cls` (and its nnet2 bases)."""
    out = []
    for klass in cls.__mro__:
        if not klass.__module__.startswith("nnet2"):
            continue
        for name, obj in vars(klass).items():
            if name.startswith("_") or name in dict(out):
                continue
            if isinstance(obj, property) or inspect.isfunction(obj) or isinstance(obj, (classmethod, staticmethod)):
                out.append((name, obj))
    return out


def _check_hints(fn, where: str, problems: list[str]) -> None:
    fn = getattr(fn, "__func__", fn)
    sig = inspect.signature(fn)
    for pname, par in sig.parameters.items():
        if pname in ("self", "cls") or par.kind in (par.VAR_POSITIONAL, par.VAR_KEYWORD) and pname in ("args", "kwargs"):
            continue
        if par.annotation is inspect.Parameter.empty:
            problems.append(f"{where}: parameter '{pname}' has no type hint")
    if sig.return_annotation is inspect.Signature.empty and fn.__name__ != "__init__":
        problems.append(f"{where}: no return type hint")


def test_every_public_name_has_a_docstring_and_type_hints():
    import nnet2.api as nn

    problems: list[str] = []
    assert len(set(nn.__all__)) == len(nn.__all__)
    for name in nn.__all__:
        obj = getattr(nn, name)
        doc = inspect.getdoc(obj) or ""
        auto = dataclasses.is_dataclass(obj) and doc.startswith(f"{obj.__name__}(")  # dataclass's own repr doc
        if not doc.strip() or auto:
            problems.append(f"{name}: no docstring")
        if inspect.isfunction(obj):
            _check_hints(obj, name, problems)
        elif inspect.isclass(obj):
            if dataclasses.is_dataclass(obj):
                for f in dataclasses.fields(obj):
                    if f.type in (None, inspect.Parameter.empty):
                        problems.append(f"{name}.{f.name}: no type")
            for mname, member in _public_members(obj):
                target = member.fget if isinstance(member, property) else member
                if not (inspect.getdoc(target) or "").strip():
                    # an override documented by the base class it implements is documented
                    base = next((vars(b)[mname] for b in obj.__mro__[1:] if mname in vars(b)), None)
                    if base is None or not (inspect.getdoc(getattr(base, "fget", base)) or "").strip():
                        problems.append(f"{name}.{mname}: no docstring")
                _check_hints(target, f"{name}.{mname}", problems)
    assert not problems, "\n".join(problems)


def _stub() -> ast.Module:
    import nnet2

    path = os.path.join(os.path.dirname(nnet2.__file__), "_core.pyi")
    assert os.path.exists(path), "the package ships no _core.pyi next to the extension"
    with open(path) as f:
        return ast.parse(f.read())


def _signature_names(doc: str, name: str) -> list[str]:
    """Parameter names from pybind11's first docstring line `name(a: T, b: T = ...) -> R`."""
    line = next(ln for ln in doc.splitlines() if ln.startswith(name + "("))
    inner = line[len(name) + 1: line.rindex(") ->")]
    names, depth, cur = [], 0, ""
    for ch in inner:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            names.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        names.append(cur)
    return [n.split(":")[0].strip() for n in names if n.split(":")[0].strip() != "self"]


def test_core_stub_lists_every_function_of_the_extension():
    from nnet2 import _core

    tree = _stub()
    helpers = {"Matrix", "Vector", "IntVector", "Cd1Result"}  # typing names of the stub, not of the extension
    stub_defs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    stub_names = {n for n in stub_defs if not n.startswith("_")} | \
        {t.id for n in tree.body if isinstance(n, ast.AnnAssign) for t in [n.target] if isinstance(t, ast.Name)}
    built = {n for n in dir(_core) if not n.startswith("_")}
    assert built == stub_names - helpers, (f"in the extension, not in _core.pyi: {sorted(built - stub_names)}; "
                                           f"in _core.pyi, not in the extension: {sorted(stub_names - helpers - built)}")
    for name in sorted(built):
        node, obj = stub_defs[name], getattr(_core, name)
        assert ast.get_docstring(node), f"_core.pyi: {name} has no docstring"
        if isinstance(node, ast.FunctionDef):
            stub_args = [a.arg for a in node.args.args]
            assert stub_args == _signature_names(obj.__doc__, name), f"_core.pyi: parameters of {name}"
            assert node.returns is not None and all(a.annotation is not None for a in node.args.args), name
        elif name != "CoreError":  # a pybind11 class: its methods and properties
            members = {m.name for m in node.body if isinstance(m, ast.FunctionDef)} | \
                {m.target.id for m in node.body if isinstance(m, ast.AnnAssign)}
            public = {m for m in dir(obj) if not m.startswith("_")} | {"__init__"}
            assert members == public, f"_core.pyi: members of {name}: {sorted(members ^ public)}"
            for m in node.body:
                if isinstance(m, ast.FunctionDef):
                    assert ast.get_docstring(m), f"_core.pyi: {name}.{m.name} has no docstring"
                    if m.name != "__init__":
                        assert [a.arg for a in m.args.args][1:] == _signature_names(getattr(obj, m.name).__doc__,
                                                                                    m.name), f"{name}.{m.name}"
    for name in ("affine_forward", "affine_backward", "affine_update", "affine_update_ngd", "pnorm_forward",
                 "pnorm_backward", "softmax_cross_entropy", "rbm_cd1_step"):  # the benchmarking surface
        doc = ast.get_docstring(stub_defs[name])
        assert "float32 [" in doc or "[N," in doc, f"_core.pyi: {name} does not state shapes and dtypes"


def test_documented_kernel_timing_example_runs(capsys):
    exec(doc_block("_core.affine_update_ngd("), {})  # noqa: S102 -- docs/python.md's example
    assert re.search(r"^[0-9.]+ GFLOP/s", capsys.readouterr().out, re.M)


# ------------------------------------------------------------------------------------------ the CLI over the API
NOT_YET: set[str] = set()  # verbs whose run() still does its own work (none)


def test_every_cli_verb_calls_the_api():
    """Each verb's run() calls a function of nnet2.api (or runs another verb's run(), as make-fbank runs
    make-mfcc's): read from the source, so a verb that grows its own logic again shows up here."""
    import importlib
    import pkgutil

    import nnet2.api as nn
    import nnet2.commands as pkg

    problems = []
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"nnet2.commands.{info.name}")
        tree = ast.parse(inspect.getsource(mod))
        run = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "run")
        calls = {n.func.attr for n in ast.walk(run) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                 and isinstance(n.func.value, ast.Name) and n.func.value.id == "api"}
        delegates = any(isinstance(n, ast.ImportFrom) and (n.module or "").startswith("nnet2.commands.")
                        for n in ast.walk(run))
        if mod.NAME in NOT_YET:
            continue
        if not calls and not delegates:
            problems.append(f"{mod.NAME}: run() calls no nnet2.api function")
        problems += [f"{mod.NAME}: api.{c} is not in nnet2.api.__all__" for c in calls - set(nn.__all__)]
        big = len(run.body) > 12
        if big:
            problems.append(f"{mod.NAME}: run() has {len(run.body)} statements (parsing only, please)")
    assert not problems, "\n".join(problems)
