"""One default and one help text per option (style rule 5).

Options live in dataclasses whose fields are declared with `opt(default, help)`. The same class
registers its flags on an argparse parser (`add_options`), builds itself from parsed args
(`from_args`), and reads Kaldi-style config files (`--name=value` per line, `#` comments) that hold
only the options that differ from the defaults (`read_conf`).

    @dataclass
    class EgsOptions:
        left_context: int = opt(4, "frames of left context per example")

    add_options(parser, EgsOptions)          # adds --left-context (default 4)
    o = from_args(EgsOptions, args)
"""

from __future__ import annotations

import argparse
import dataclasses
import typing

from nnet2.utils.errors import UserError


def opt(default, help: str, *, choices=None, flag: str | None = None):
    """A dataclass field with its default and help text (and optional choices / explicit flag name)."""
    md = {"help": help}
    if choices is not None:
        md["choices"] = list(choices)
    if flag is not None:
        md["flag"] = flag
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda d=default: type(d)(d), metadata=md)
    return dataclasses.field(default=default, metadata=md)


def parse_bool(s: str | bool) -> bool:
    if isinstance(s, bool):
        return s
    v = s.strip().lower()
    if v in ("true", "t", "1", "yes"):
        return True
    if v in ("false", "f", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got '{s}'")


def _flag(f: dataclasses.Field, prefix: str) -> str:
    return "--" + prefix + f.metadata.get("flag", f.name.replace("_", "-"))


def _field_type(cls, f: dataclasses.Field):
    hints = typing.get_type_hints(cls)
    t = hints.get(f.name, str)
    origin = typing.get_origin(t)
    if origin is typing.Union or str(origin) == "types.UnionType":
        args = [a for a in typing.get_args(t) if a is not type(None)]
        t = args[0] if args else str
    return t


def add_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls, prefix: str = "",
                title: str | None = None) -> None:
    group = parser.add_argument_group(title) if title and hasattr(parser, "add_argument_group") else parser
    for f in dataclasses.fields(cls):
        t = _field_type(cls, f)
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        kw = dict(default=default, help=f.metadata.get("help", ""), dest=prefix.replace("-", "_") + f.name)
        if "choices" in f.metadata:
            kw["choices"] = f.metadata["choices"]
        if t is bool:
            kw.update(type=parse_bool, metavar="true|false")
        elif t in (int, float, str):
            kw["type"] = t
        group.add_argument(_flag(f, prefix), **kw)


def from_args(cls, args: argparse.Namespace, prefix: str = ""):
    kw = {}
    for f in dataclasses.fields(cls):
        dest = prefix.replace("-", "_") + f.name
        if hasattr(args, dest):
            kw[f.name] = getattr(args, dest)
    return cls(**kw)


def read_conf(path: str) -> list[str]:
    """Read a Kaldi-style conf file into a list of `--name=value` arguments (comments stripped)."""
    out = []
    try:
        with open(path) as fh:
            lines = fh.readlines()
    except OSError as e:
        raise UserError(f"cannot read config file {path}: {e.strerror}") from None
    for i, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if not line.startswith("--"):
            raise UserError(f"{path}:{i}: expected '--name=value', got '{line}'")
        out.append(line)
    return out


def to_dict(obj) -> dict:
    return dataclasses.asdict(obj)
