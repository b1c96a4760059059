"""Errors that are the user's fault: bad files, bad data, bad options.

They carry a message that names the file/utterance/field; the CLI prints it as one line and exits 1.
"""


class UserError(Exception):
    """An error caused by the user's input; the message names the offending file, utterance or field."""


class DataError(UserError):
    """Bad data: missing or unreadable file, NaN/Inf features, length mismatches, missing utterances."""


class ModelFormatError(UserError):
    """A malformed, truncated or unsupported model file (names the file, byte offset and what was expected)."""
