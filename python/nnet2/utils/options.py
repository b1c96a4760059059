"""One default and one help text per option (style rule 5).

Options live in dataclasses whose fields are declared with `opt(default, help)`. The same class
registers its flags on an argparse parser (`add_options`), builds itself from parsed args
(`from_args`), and reads Kaldi-style config files (`--name=value` per line, `#` comments) that hold
only the options that differ from the defaults. `parse_with_conf` is the one parser of such files:
every `nnet2` verb accepts `--config FILE` through it (the command line wins), and `parse_options`
builds an options class from arguments and files with it.

    @dataclass
    class EgsOptions:
        left_context: int = opt(4, "frames of left context per example")

    add_options(parser, EgsOptions)          # adds --left-context (default 4)
    o = from_args(EgsOptions, args)

A field may declare the values it accepts as an interval, `opt(0.008, "...", range="(0, inf)")`
(`[`/`]` closed, `(`/`)` open, `inf` unbounded). `from_args` (and `check_options` for an options object
built in code) rejects a value outside it -- and NaN or infinity in any float option -- with one
`UserError` line naming the flag, before a command creates anything.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import typing

from nnet2.utils.errors import UserError


def opt(default, help: str, *, choices=None, flag: str | None = None, range: str | None = None):
    """A dataclass field with its default and help text (and optional choices / explicit flag name /
    interval of accepted values, e.g. `range="[0, 1)"`)."""
    md = {"help": help}
    if range is not None:
        _parse_range(range)  # a malformed interval is a programming error: fail at import
        md["range"] = range
    if choices is not None:
        md["choices"] = list(choices)
    if flag is not None:
        md["flag"] = flag
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda d=default: type(d)(d), metadata=md)
    return dataclasses.field(default=default, metadata=md)


def _parse_range(spec: str) -> tuple[float, float, bool, bool]:
    """'[a, b)' -> (a, b, a closed?, b closed?); 'inf' / '-inf' for unbounded ends."""
    t = spec.strip()
    if len(t) < 5 or t[0] not in "[(" or t[-1] not in "])" or "," not in t:
        raise ValueError(f"bad option range {spec!r} (expected e.g. '[0, 1)' or '(0, inf)')")
    lo, hi = (float(x) for x in t[1:-1].split(","))
    return lo, hi, t[0] == "[", t[-1] == "]"


def check_value(flag: str, value, range: str | None) -> None:
    """Raise UserError if `value` is NaN/inf (floats) or outside the interval `range`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise UserError(f"{flag} must be a finite number, got {value}")
    if range is None:
        return
    lo, hi, lo_closed, hi_closed = _parse_range(range)
    ok = (value >= lo if lo_closed else value > lo) and (value <= hi if hi_closed else value < hi)
    if not ok:
        if math.isinf(hi):
            want = f"{'>=' if lo_closed else '>'} {lo:g}"
        elif math.isinf(lo):
            want = f"{'<=' if hi_closed else '<'} {hi:g}"
        else:
            want = f"in {range}"
        raise UserError(f"{flag} must be {want}, got {value}")


def check_options(obj, prefix: str = "") -> None:
    """Validate every field of an options dataclass instance against its declared range (module docstring)."""
    for f in dataclasses.fields(obj):
        check_value(_flag(f, prefix), getattr(obj, f.name), f.metadata.get("range"))


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
    obj = cls(**kw)
    check_options(obj, prefix)
    return obj


def read_conf_lines(path: str) -> list[tuple[int, str]]:
    """(line number, `--name=value`) of a Kaldi-style conf file, comments and blank lines skipped."""
    try:
        with open(path) as fh:
            lines = fh.readlines()
    except OSError as e:
        raise UserError(f"cannot read config file {path}: {e.strerror}") from None
    out = []
    for i, line in enumerate(lines, 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if not line.startswith("--"):
            raise UserError(f"{path}:{i}: expected '--name=value', got '{line}'")
        out.append((i, line))
    return out


def read_conf(path: str) -> list[str]:
    """Read a Kaldi-style conf file into a list of `--name=value` arguments (comments stripped)."""
    return [a for _, a in read_conf_lines(path)]


def _option_checker(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """A parser with `parser`'s options only (no positionals, no help), raising instead of exiting."""
    checker = argparse.ArgumentParser(add_help=False, allow_abbrev=False, exit_on_error=False)
    for a in parser._actions:
        if a.option_strings and not isinstance(a, (argparse._HelpAction, argparse._VersionAction)):
            checker._add_action(a)
    return checker


def _check_args(checker: argparse.ArgumentParser, args: list[tuple[str, str]]) -> None:
    """Each (where, `--name=value`) must be one known option with a valid value: else one UserError line."""
    for where, arg in args:
        try:
            _, unknown = checker.parse_known_args([arg])
        except argparse.ArgumentError as e:
            raise UserError(f"{where}: {e}") from None
        if unknown:
            raise UserError(f"{where}: unknown option '{unknown[0].split('=', 1)[0]}'")


def parse_with_conf(parser: argparse.ArgumentParser, argv: list[str], dest: str = "config") -> argparse.Namespace:
    """Parse `argv` like Kaldi's ParseOptions: when it has `--config FILE`, the file's `--name=value`
    lines are read first and the command line after them, so the command line wins (`dest`: where
    `parser` puts --config's value). A line naming an unknown option or holding a bad value is one
    UserError naming the file and line.

    The one place where a conf file meets an option parser: every `nnet2` verb is parsed through it
    (cli.main), and so are the option classes read from files (`parse_options`)."""
    argv = list(argv)
    ns = parser.parse_args(argv)
    conf = getattr(ns, dest, None)
    if not conf:
        return ns
    checker = _option_checker(parser)
    # a bare boolean line (`--binary`) means true, as in Kaldi's ReadConfigFile
    bools = {o for a in checker._actions if a.type is parse_bool for o in a.option_strings}
    lines = [(ln, f"{a}=true" if a in bools else a) for ln, a in read_conf_lines(conf)]
    _check_args(checker, [(f"{conf}:{ln}", a) for ln, a in lines])
    return parser.parse_args([a for _, a in lines] + argv)


def parse_options(cls, argv: list[str], source: str = "command line"):
    """An options dataclass from `--name=value` arguments (a `--config FILE` among them is read first,
    the arguments win); a bad argument is one UserError naming `source` (or the file and line)."""
    p = argparse.ArgumentParser(add_help=False, allow_abbrev=False, exit_on_error=False)
    p.add_argument("--config", default=None)
    add_options(p, cls)
    try:
        _, unknown = p.parse_known_args(argv)
    except argparse.ArgumentError as e:
        raise UserError(f"{source}: {e}") from None
    if unknown:
        raise UserError(f"{source}: unknown option '{unknown[0].split('=', 1)[0]}' for {cls.__name__}")
    return from_args(cls, parse_with_conf(p, argv))


def to_dict(obj) -> dict:
    return dataclasses.asdict(obj)
