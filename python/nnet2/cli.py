"""The `nnet2` command line: one subcommand per module in `nnet2.commands`.

Each module in `nnet2/commands/` defines `NAME` (the verb, e.g. "am-info"), `HELP` (one line) and
`add_arguments(parser)` plus `run(args) -> int`. Subcommands are discovered, so adding a verb means
adding one file (named after the verb, '_' for '-'); a run of one verb imports only that verb's module. Every verb takes `--config FILE` (Kaldi's ParseOptions: the file's `--name=value`
lines first, the command line wins), read by `nnet2.utils.options.parse_with_conf`. Errors that are the user's (bad files, bad options) are raised as `nnet2.utils.errors.UserError`
and printed as one line naming the thing, with exit status 1; so are failures of the environment (an `OSError`:
disk full, file too large, read-only or missing directory, permission denied), naming the path and the cause.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

import nnet2.commands
from nnet2 import __version__
from nnet2.utils.errors import UserError, error_line
from nnet2.utils.options import parse_bool, parse_with_conf

CONF_DEST = "_config_file"  # not "config": a verb may have a positional of that name


def _verbs() -> dict[str, str]:
    """{verb: module name} of every command, without importing any: a module's NAME is its file name with
    '-' for '_' (tests/test_kaldi_verbs.py checks it)."""
    return {info.name.replace("_", "-"): f"nnet2.commands.{info.name}"
            for info in pkgutil.iter_modules(nnet2.commands.__path__) if not info.name.startswith("_")}


def _commands(only: str | None = None):
    """The command modules, sorted by verb; only the one for `only` when that is a verb (what a run of one
    verb needs: importing all of them, with everything they import, took most of a verb's start-up)."""
    verbs = _verbs()
    names = [verbs[only]] if only in verbs else sorted(verbs.values())
    return sorted((importlib.import_module(n) for n in names), key=lambda m: m.NAME)


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keep the layout of the long help (examples) and show every option's default."""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The `nnet2` parser with every verb, or with just `only` when that is a verb (the same parse of a command
    line of that verb)."""
    parser = argparse.ArgumentParser(
        prog="nnet2",
        description="Train hybrid DNN-HMM acoustic models with model averaging over MPI, online "
        "natural-gradient SGD and RBM pretraining; reads and writes Kaldi formats. "
        "Run several workers as: mpiexec -n N python -m mpi4py -m nnet2 train ...",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"nnet2 {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _commands(only):
        p = sub.add_parser(
            mod.NAME,
            help=mod.HELP,
            description=(mod.__doc__ or mod.HELP).strip(),
            formatter_class=_HelpFormatter,
            # A verb named after a Kaldi binary shows that binary's usage line first.
            usage=getattr(mod, "USAGE", None),
        )
        p.add_argument("--config", metavar="FILE", default=None, dest=CONF_DEST,
                       help="read options from FILE (Kaldi conf: one --name=value per line, "
                            "'#' comments); options on the command line win")
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run, _parser=p)
    return parser




def expand_bare_booleans(argv: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """Kaldi's ParseOptions form of a boolean: a bare flag (`--binary`) means `--binary=true` (the next
    word stays a positional argument, as in Kaldi, unless it is true/false: `--binary false` is the
    `--opt value` form)."""
    if not argv or argv[0].startswith("-"):
        return argv
    sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    verb = sub.choices.get(argv[0]) if sub else None
    if verb is None:
        return argv
    bools = {o for a in verb._actions if a.type is parse_bool for o in a.option_strings}
    words = {"true", "false", "t", "f", "1", "0", "yes", "no"}
    return [argv[0]] + [f"{a}=true" if a in bools and (i + 1 >= len(argv) or argv[i + 1].lower() not in words)
                        else a for i, a in enumerate(argv[1:], start=1)]


def parse_args(argv: list[str], parser: argparse.ArgumentParser | None = None) -> argparse.Namespace:
    """`nnet2 VERB ...` arguments as the command line parses them: bare booleans (Kaldi's form), then
    a --config FILE read before the command line (`nnet2.utils.options.parse_with_conf`)."""
    argv = list(argv)
    parser = parser or build_parser(_verb_of(argv))
    argv = expand_bare_booleans(argv, parser)
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) and getattr(args, CONF_DEST):
        # Kaldi's --config: the verb's own parser again, the file's lines before the command line
        verb = args.command
        args = parse_with_conf(args._parser, argv[argv.index(verb) + 1:], CONF_DEST)
        args.command = verb
    return args


def _verb_of(argv: list[str]) -> str:
    """The verb of a command line: its first word that is not an option ('' if none)."""
    return next((a for a in argv if not a.startswith("-")), "")


def _core_missing() -> str | None:
    """None when nnet2._core imports, else the first line of why not (never a traceback)."""
    try:
        import nnet2._core  # noqa: F401
    except ImportError as e:
        return str(e).splitlines()[0] if str(e) else type(e).__name__
    return None


def main(argv: list[str] | None = None) -> int:
    missing = _core_missing()  # before the parser: the commands' modules import the core
    if missing:
        print(f"nnet2: error: the compiled core nnet2._core is not built or does not load ({missing}): "
              "run 'make setup' (or 'pip install .'; 'make dev' for this source tree)", file=sys.stderr)
        return 1
    argv = list(sys.argv[1:] if argv is None else argv)
    verb = _verb_of(argv)
    parser = build_parser(verb)  # every verb only for `nnet2 --help`, no verb or an unknown one
    try:
        args = parse_args(argv, parser)
        if not getattr(args, "_run", None):
            parser.print_help()
            return 2
        return int(args._run(args) or 0)
    except UserError as e:
        print(f"nnet2 {verb}: error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. `nnet2 am-info x.mdl | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(f"nnet2 {verb}: interrupted", file=sys.stderr)
        return 130
    except OSError as e:
        line = error_line(e)
        if line is None:
            raise
        print(f"nnet2 {args.command}: error: {line}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
