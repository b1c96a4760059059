"""The package's import graph, read from the source (every `import`, at module top or inside a function):
no cycles, layers that only point down, imports at module top outside the CLI.

The layers (style: csrc does the maths, io owns the Kaldi bytes, the rest composes networks and holds
data, MPI and the CLI) from the bottom up; a module may import from lower layers and from its own
subpackage only:

    utils, _core                        errors, logging, options, atomic files; the C++ core (extension)
    io, device                          Kaldi formats (io imports only utils), CPU/GPU arrays
    parallel                            MPI averaging
    data                                data dirs, alignments, egs
    feat, rbm                           features; RBM pretraining
    nnet                                components, networks, models, conversions
    gmm                                 monophone GMM-HMM (kaldi-hmm-gmm)
    corpora                             corpus preparation (FSDD)
    decode, train                       decoding and scoring; parallel training
    report                              results tables and plots
    api                                 the Python API (one function per stage)
    commands                            one module per CLI verb
    cli                                 the `nnet2` command line
    __main__

Imports inside functions are allowed in commands/ (CLI start-up time) and, anywhere, only for
LAZY_OK: cupy (an optional dependency), mpi4py (importing mpi4py.MPI initializes MPI) and matplotlib
(0.4 s of start-up for every verb that goes through the API, used only to draw plots); and in
cli.main's probe of the compiled core.
"""

from __future__ import annotations

import ast
import functools
import os

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PKG_ROOT = os.path.join(REPO, "python")

LAYERS = [["utils", "_core"], ["io", "device"], ["parallel"], ["data"], ["feat", "rbm"], ["nnet"], ["gmm"],
          ["corpora"], ["decode", "train"], ["report"], ["api"], ["commands"], ["cli"], ["__main__"]]
LAYER = {part: i for i, parts in enumerate(LAYERS) for part in parts}
LAZY_OK = {"cupy", "cupyx", "mpi4py", "matplotlib"}
LAZY_PARTS = {"commands"}
# cli.main first tries to import the compiled core, to say in one line that it is not built
LAZY_OK_IN = {("nnet2.cli", "nnet2._core")}
# Known upward arrows, each to be removed (listed here so that no new one appears unseen): none.
KNOWN_UPWARD: set[tuple[str, str]] = set()


def module_files(root: str, package: str = "nnet2") -> dict[str, str]:
    """{dotted module name: path} of every .py file of the package under `root`."""
    out = {}
    base = os.path.join(root, package)
    for d, _, files in os.walk(base):
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(d, f), root)[:-3].replace(os.sep, ".")
                out[rel[: -len(".__init__")] if rel.endswith(".__init__") else rel] = os.path.join(d, f)
    return out


def imports_of(name: str, path: str):
    """(line, imported module, inside a function?) for every import statement of a module; `from a
    import b` counts as importing a.b when that is a module, else a."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    is_pkg = path.endswith("__init__.py")
    out = []

    def visit(node, in_func):
        for child in ast.iter_child_nodes(node):
            f = in_func or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                out.extend((child.lineno, a.name, in_func) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                mod = child.module or ""
                if child.level:
                    base = name.split(".")
                    base = base[: len(base) - child.level + (1 if is_pkg else 0)]
                    mod = ".".join(base + ([mod] if mod else []))
                out.append((child.lineno, mod, in_func, [a.name for a in child.names]))
            visit(child, f)

    visit(tree, False)
    return out


@functools.lru_cache(maxsize=None)
def graph(root: str, package: str = "nnet2"):
    """({module: {imported package module}}, [(module, line, imported, inside a function)])."""
    mods = module_files(root, package)
    edges, records = {m: set() for m in mods}, []
    for m, p in mods.items():
        for rec in imports_of(m, p):
            line, mod, in_func = rec[:3]
            targets = [mod]
            if len(rec) == 4:  # from mod import names: the names that are modules themselves
                subs = [f"{mod}.{n}" for n in rec[3] if f"{mod}.{n}" in mods or f"{mod}.{n}" == f"{package}._core"]
                targets = subs or [mod]
            for t in targets:
                records.append((m, line, t, in_func))
                if (t in mods or t == f"{package}._core") and t != m:
                    edges[m].add(t)
    return edges, records


def find_cycle(edges: dict[str, set]) -> list[str] | None:
    state, stack = {}, []

    def dfs(v):
        state[v] = 1
        stack.append(v)
        for w in sorted(edges.get(v, ())):
            if state.get(w) == 1:
                return stack[stack.index(w):] + [w]
            if w not in state:
                c = dfs(w)
                if c:
                    return c
        state[v] = 2
        stack.pop()
        return None

    for v in sorted(edges):
        if v not in state:
            c = dfs(v)
            if c:
                return c
    return None


def part(module: str) -> str:
    """The first component below the package: nnet2.decode.score -> decode; the package itself -> ''."""
    bits = module.split(".")
    return bits[1] if len(bits) > 1 else ""


def layer_violations(edges: dict[str, set]) -> list[str]:
    bad = []
    for a, bs in sorted(edges.items()):
        for b in sorted(bs):
            pa, pb = part(a), part(b)
            if pb == "" or pa == pb:  # the package's __init__ (version, environment) / same subpackage
                continue
            for p in (pa, pb):
                if p and p not in LAYER:
                    bad.append(f"{p}: not in LAYERS of {__name__} (add it to the layer it belongs to)")
            if pa in LAYER and pb in LAYER and not LAYER[pa] > LAYER[pb] and (a, b) not in KNOWN_UPWARD:
                bad.append(f"{a} imports {b}: {pa} may only import from layers below it")
    return sorted(set(bad))


def late_imports(records) -> list[str]:
    return [f"{m}:{line}: imports {t} inside a function"
            for m, line, t, in_func in records
            if in_func and part(m) not in LAZY_PARTS and t.split(".")[0] not in LAZY_OK and (m, t) not in LAZY_OK_IN]


# ------------------------------------------------------------------------------------------------ tests
def test_package_import_graph_is_acyclic():
    edges, _ = graph(PKG_ROOT)
    assert len(edges) > 50  # it read the package
    assert find_cycle(edges) is None, " -> ".join(find_cycle(edges))


def test_layers_only_point_down():
    edges, _ = graph(PKG_ROOT)
    assert layer_violations(edges) == []


def test_io_imports_only_utils_and_io():
    edges, _ = graph(PKG_ROOT)
    bad = [f"{a} -> {b}" for a, bs in edges.items() if part(a) == "io" for b in bs if part(b) not in ("io", "utils")]
    assert bad == []


def test_only_the_cli_imports_commands():
    edges, _ = graph(PKG_ROOT)
    bad = [f"{a} -> {b}" for a, bs in edges.items() for b in bs
           if part(b) == "commands" and part(a) not in ("commands", "cli")]
    assert bad == []


def test_imports_at_module_top_outside_commands():
    _, records = graph(PKG_ROOT)
    assert late_imports(records) == []


def test_the_checks_can_fail(tmp_path):
    """A made-up package with a cycle hidden in a function, an upward import and a late import."""
    pkg = tmp_path / "nnet2"
    for sub in ("", "decode", "utils", "io"):
        (pkg / sub).mkdir(parents=True, exist_ok=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "decode" / "decoder.py").write_text("from nnet2.decode.score import wer\n")
    (pkg / "decode" / "score.py").write_text("def tune():\n    from nnet2.decode import decoder\n")
    (pkg / "utils" / "log.py").write_text("from . import fileio\nfrom ..io import kaldi_io\n")
    (pkg / "utils" / "fileio.py").write_text("")
    (pkg / "io" / "kaldi_io.py").write_text("import os\nimport kaldiio\n")
    edges, records = graph(str(tmp_path))
    assert edges["nnet2.utils.log"] == {"nnet2.utils.fileio", "nnet2.io.kaldi_io"}  # relative imports resolved
    cyc = find_cycle(edges)
    assert cyc is not None and set(cyc) == {"nnet2.decode.decoder", "nnet2.decode.score"}
    assert layer_violations(edges) == ["nnet2.utils.log imports nnet2.io.kaldi_io: utils may only import from "
                                       "layers below it"]
    assert late_imports(records) == ["nnet2.decode.score:2: imports nnet2.decode.decoder inside a function"]
