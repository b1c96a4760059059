"""Where arrays live: numpy on the CPU, CuPy on a CUDA GPU (the Python side of the array layer).

This module is the only place in Python that asks which device an array is on; networks (`Nnet.to`, `Nnet.asarray`, `Nnet.params_host`), the averagers and the RBM trainer
call these helpers, so the training loops have no device branches.

Which GPU a process uses: with `--device cuda` every MPI rank picks GPU `local_rank % num_gpus`, where
the local rank is the rank among the processes on the same node (an MPI shared-memory split, see
`nnet2.parallel.comm.local_rank`), unless a GPU index is given (`gpu >= 0`, e.g. `nnet2 train --gpu 1`).
CUDA_VISIBLE_DEVICES restricts and renumbers the GPUs as usual.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, TypeAlias

import numpy as np

from nnet2 import _core
from nnet2.utils.errors import UserError

if TYPE_CHECKING:
    import cupy

DEVICES = ("cpu", "cuda")

Array: TypeAlias = "np.ndarray | cupy.ndarray"
"""An array on either device: numpy on the CPU, cupy on a GPU (parameters, activations, labels)."""


def is_device_array(a) -> bool:
    """True for GPU arrays (anything with __cuda_array_interface__, e.g. CuPy)."""
    return hasattr(a, "__cuda_array_interface__")


def xp_of(a):
    """numpy for CPU arrays, cupy for GPU arrays."""
    if is_device_array(a):
        import cupy  # cupy is optional (the gpu extra): import it only for GPU arrays

        return cupy
    return np


def device_of(a) -> str:
    return "cuda" if is_device_array(a) else "cpu"


def _cupy():
    try:
        import cupy  # cupy is optional (the gpu extra): import it only for GPU arrays
    except Exception as e:  # not installed, or its CUDA libraries are missing
        raise UserError(f"--device cuda needs CuPy (pip install 'nnet2[gpu]'): {e}") from None
    return cupy


def xp_for(device: str):
    """The array module for a device name ('cpu' -> numpy, 'cuda' -> cupy)."""
    if device == "cpu":
        return np
    if device == "cuda":
        return _cupy()
    raise UserError(f"unknown device '{device}' (expected cpu or cuda)")


def to_host(a) -> np.ndarray:
    """A numpy array with a's values: a itself (or a view) for CPU arrays, a copy for GPU arrays."""
    return a.get() if is_device_array(a) else np.asarray(a)


def to_device(a, device: str):
    """a on `device` (no copy when it is already there)."""
    if device == "cpu":
        return to_host(a)
    return xp_for(device).asarray(a)


def asarray_like(a, like):
    """a on the device of `like` (no copy when it is already there)."""
    return xp_of(like).asarray(a) if is_device_array(like) else to_host(a)


def copy_into(dst, src) -> None:
    """dst[...] = src across devices (dst keeps its device)."""
    if is_device_array(dst):
        if is_device_array(src):
            dst[...] = src
        else:
            dst.set(np.ascontiguousarray(src, dtype=dst.dtype).reshape(dst.shape))
    else:
        dst[...] = to_host(src)


def synchronize(a=None) -> None:
    """Wait until the GPU work queued on the current device is done (nothing for CPU arrays), e.g. before
    MPI reads device memory."""
    if a is None or is_device_array(a):
        _core.synchronize()


def activate(device: str, local_rank: int = 0, gpu: int = -1) -> str:
    """Make `device` current for this process and return a description for the log. For 'cuda': GPU
    `gpu` if >= 0, else `local_rank % number of GPUs`; fails with one line if there is none."""
    if device == "cpu":
        return "cpu"
    cp = xp_for(device)

    if not _core.cuda_compiled():
        raise UserError("--device cuda: this nnet2 was built without CUDA (rebuild with `make setup-gpu` or "
                        "NNET2_WITH_CUDA=ON on a machine with nvcc)")
    try:
        n = cp.cuda.runtime.getDeviceCount()
    except Exception as e:
        raise UserError(f"--device cuda: no usable CUDA GPU ({e})") from None
    if n < 1:
        raise UserError("--device cuda: no CUDA GPU found")
    idx = gpu if gpu >= 0 else local_rank % n
    if idx >= n:
        raise UserError(f"--gpu {gpu}: this node has {n} GPU(s) (0..{n - 1})")
    cp.cuda.Device(idx).use()
    name = cp.cuda.runtime.getDeviceProperties(idx)["name"]
    name = name.decode() if isinstance(name, bytes) else str(name)
    how = "--gpu" if gpu >= 0 else f"local rank {local_rank} % {n} GPUs"
    return f"cuda:{idx} ({name}; {how})"


def openblas_overrides() -> str:
    """The environment's settings that override OpenBLAS's own choice of kernels and blocking, as
    'NAME=value ...' ('' if none): some machines force an older family through OPENBLAS_CORETYPE (e.g.
    'Haswell', AVX2, on an AVX-512 CPU: about half the GEMM rate)."""
    return " ".join(f"{k}={os.environ[k]}" for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ)


def cpu_blas_description(threads: int) -> str:
    """For the log: the CPU's threads and the OpenBLAS kernel family in use, and the environment's overrides."""
    env = openblas_overrides()
    return (f"{threads} thread(s), OpenBLAS {_core.blas_kernel()} kernels"
            + (f", set by {env} in the environment" if env else ""))
