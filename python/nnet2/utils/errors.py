"""Errors that are the user's fault: bad files, bad data, bad options.

They carry a message that names the file/utterance/field; the CLI prints it as one line and exits 1.
"""

import os


class UserError(Exception):
    """An error caused by the user's input; the message names the offending file, utterance or field."""


class DataError(UserError):
    """Bad data: missing or unreadable file, NaN/Inf features, length mismatches, missing utterances."""


class ModelFormatError(UserError):
    """A malformed, truncated or unsupported model file (names the file, byte offset and what was expected)."""


def error_line(e: BaseException) -> str | None:
    """The one-line message for an error that is the user's or the environment's (a bad input, a full
    disk, a read-only or missing directory, a file-size limit, a permission): `None` for anything else
    (a bug, which keeps its traceback)."""
    if isinstance(e, UserError):
        return str(e)
    if isinstance(e, OSError) and not isinstance(e, BrokenPipeError) and e.errno is not None:
        what = e.strerror or str(e)
        if isinstance(e, FileExistsError) and e.filename is not None:
            if not os.path.isdir(e.filename):  # os.makedirs() through a file
                what = "Not a directory"
        if e.filename is not None and e.filename2 is not None:
            return f"{e.filename} -> {e.filename2}: {what}"
        if e.filename is not None:
            return f"{e.filename}: {what}"
        return what
    return None


class SharedError(UserError):
    """A user error every MPI rank knows about (they checked together): only rank `rank` prints it, and all
    ranks end without an MPI abort."""

    def __init__(self, msg: str, rank: int = 0):
        super().__init__(msg)
        self.rank = rank
