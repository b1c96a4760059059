import os

import numpy as np
import pytest

# Keep the test suite deterministic and light on a 2-core CI machine.
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def cupy_or_skip():
    """Return cupy if a CUDA GPU is usable, else skip the test (GPU tests run only where one exists)."""
    try:
        import cupy
    except Exception:  # not installed, or its CUDA libraries are missing
        pytest.skip("cupy not installed")
    try:
        ok = cupy.is_available()
    except Exception:
        ok = False
    if not ok:
        pytest.skip("no CUDA GPU available (cupy.is_available() is False)")
    from nnet2 import _core

    if not _core.cuda_compiled():
        pytest.skip("nnet2 was built without CUDA")
    return cupy


def subprocess_pythonpath() -> str:
    """PYTHONPATH for child processes: wherever *this* process imported nnet2 from (the source tree's
    python/ with an in-tree build, or site-packages when installed), plus the tests directory."""
    import nnet2

    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(nnet2.__file__)))
    here = os.path.dirname(os.path.abspath(__file__))
    return os.pathsep.join([pkg_parent, here])
