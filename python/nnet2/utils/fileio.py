"""Writing outputs safely: atomic for regular files, straight through for everything else.

`atomic_path(path)` yields the name the caller should write to:

* a regular file (existing or new): a temporary file in the same directory, fsynced and renamed onto
  `path` on success and deleted on failure, so a crash or a full disk never leaves a half-written
  model or archive under the final name and never clobbers the previous contents;
* a symlink: the link is followed and the file it points to is replaced as above (the link stays);
* `-`: standard output (`/dev/stdout`);
* anything else that exists (a device such as `/dev/null`, a FIFO, a socket): `path` itself, written
  through -- renaming a regular file onto it would destroy the device or the pipe.

An `OSError` raised while writing names the final path (not the temporary one), so the CLI's error line
says which output failed and why (`No space left on device`, `File too large`, ...). Parent directories
that do not exist are created, and removed again if the write fails.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile


def _needs_rename(path: str) -> bool:
    """True if `path` (symlinks already resolved) is a regular file or does not exist yet."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except FileNotFoundError:
        return True
    except NotADirectoryError:  # a parent is a file: let the write report it
        return True


def resolve_output(path: str | os.PathLike) -> tuple[str, bool]:
    """(the path to write, whether it gets the temp-file-and-rename treatment)."""
    path = os.fspath(path)
    if path == "-":
        return "/dev/stdout", False
    real = os.path.realpath(path)
    return real, _needs_rename(real)


def make_parents(path: str) -> list[str]:
    """Create the missing parent directories of `path`; return the ones created (deepest first)."""
    created = []
    d = os.path.dirname(os.path.abspath(path))
    while d and not os.path.lexists(d):
        created.append(d)
        d = os.path.dirname(d)
    for c in reversed(created):
        try:
            os.mkdir(c)
        except FileExistsError:
            pass
    return created


def remove_dirs(created: list[str]) -> None:
    """Undo `make_parents` (only directories that are still empty)."""
    for c in created:
        with contextlib.suppress(OSError):
            os.rmdir(c)


def naming(e: OSError, path: str, target: str, *tmps: str) -> OSError:
    """`e` with its file name replaced by `path` when it names none, `target` or a temporary file of it."""
    f = e.filename
    if f is None or f == target or f in tmps or \
            os.path.basename(os.fspath(f)).startswith("." + os.path.basename(target) + "."):
        return OSError(e.errno, e.strerror, path)
    return e


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ""):
    """Yield the name to write `path` through (module docstring); rename/clean up on exit."""
    path = os.fspath(path)
    target, rename = resolve_output(path)
    if not rename:
        try:
            yield target
        except OSError as e:
            raise naming(e, path, target) from None
        return
    created = []
    tmp = None
    try:
        created = make_parents(target)
        d = os.path.dirname(target)
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(target) + ".", suffix=".tmp" + suffix, dir=d)
        os.close(fd)
        # mkstemp creates 0600; give the final file the permissions a plain open() would (0666 & ~umask).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException as e:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        remove_dirs(created)
        if isinstance(e, OSError) and not isinstance(e, BrokenPipeError):
            raise naming(e, path, target, tmp) from None
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
