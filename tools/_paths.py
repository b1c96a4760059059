"""Where the tools import nnet2 from: this checkout's python/ when it has an in-tree build
(`make dev`), else the installed package. Child processes get the same place via PYTHONPATH."""

import glob
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def use_source_tree_if_built() -> None:
    src = os.path.join(ROOT, "python")
    if glob.glob(os.path.join(src, "nnet2", "_core*.so")) and src not in sys.path:
        sys.path.insert(0, src)


def child_pythonpath() -> str:
    """PYTHONPATH for subprocesses: the directory this process imported nnet2 from (+ any existing)."""
    import nnet2

    here = os.path.dirname(os.path.dirname(os.path.abspath(nnet2.__file__)))
    return os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p)
