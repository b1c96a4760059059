"""Kaldi-style logging: every line says who (rank/world size) and when.

    LOG (nnet2 train[rank 0/2]:run():2026-11-25 10:00:00) message

`get_logger(name)` returns a logger; `setup_logging(log_file=..., rank=..., world=...)` adds a file
handler (e.g. exp/dir/log/train.3.0.log) besides stderr. Rank/world default to the MPI environment
variables set by mpiexec (PMI_RANK/PMI_SIZE, OMPI_COMM_WORLD_*), so no MPI import is needed.
"""

from __future__ import annotations

import logging
import os
import sys

_LEVEL_NAMES = {logging.DEBUG: "VLOG", logging.INFO: "LOG", logging.WARNING: "WARNING",
                logging.ERROR: "ERROR", logging.CRITICAL: "ERROR"}


def env_rank_world() -> tuple[int, int]:
    for r, s in (("PMI_RANK", "PMI_SIZE"), ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
                 ("PMIX_RANK", "PMIX_SIZE")):
        if r in os.environ:
            return int(os.environ[r]), int(os.environ.get(s, "1"))
    return 0, 1


class _KaldiFormatter(logging.Formatter):
    def __init__(self, rank: int, world: int):
        super().__init__(datefmt="%Y-%m-%d %H:%M:%S")
        self.rank, self.world = rank, world

    def format(self, record: logging.LogRecord) -> str:
        lvl = _LEVEL_NAMES.get(record.levelno, record.levelname)
        ts = self.formatTime(record, self.datefmt)
        who = f"{record.name}[rank {self.rank}/{self.world}]"
        msg = record.getMessage()
        if record.exc_info:
            msg += "\n" + self.formatException(record.exc_info)
        return f"{lvl} ({who}:{record.funcName}():{ts}) {msg}"


_configured = False


def setup_logging(log_file: str | None = None, rank: int | None = None, world: int | None = None,
                  verbose: int = 0, stderr: bool = True) -> None:
    """Configure the `nnet2` logger tree. Call again to add/replace the file handler."""
    global _configured
    er, ew = env_rank_world()
    rank = er if rank is None else rank
    world = ew if world is None else world
    root = logging.getLogger("nnet2")
    root.setLevel(logging.DEBUG if verbose > 0 else logging.INFO)
    root.propagate = False
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    fmt = _KaldiFormatter(rank, world)
    if stderr:
        sh = logging.StreamHandler(sys.stderr)
        sh.setFormatter(fmt)
        root.addHandler(sh)
    if log_file:
        # A log line that cannot be written (disk full) must not print a traceback of its own; the write
        # that matters (a checkpoint) reports the cause as one line.
        logging.raiseExceptions = False
        os.makedirs(os.path.dirname(os.path.abspath(log_file)), exist_ok=True)
        fh = logging.FileHandler(log_file, mode="a")
        fh.setFormatter(fmt)
        root.addHandler(fh)
    _configured = True


def get_logger(name: str) -> logging.Logger:
    if not _configured:
        setup_logging()
    if not name.startswith("nnet2"):
        name = "nnet2." + name
    return logging.getLogger(name)
