"""The `nnet2` command line: one subcommand per module in `nnet2.commands`.

Each module in `nnet2/commands/` defines `NAME` (the verb, e.g. "am-info"), `HELP` (one line) and
`add_arguments(parser)` plus `run(args) -> int`. Subcommands are discovered, so adding a verb means
adding one file. Errors that are the user's (bad files, bad options) are raised as `nnet2.utils.errors.UserError`
and printed as one line naming the thing, with exit status 1.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from nnet2.utils.errors import UserError
from nnet2.utils.options import parse_bool, read_conf


def _commands():
    import nnet2.commands as pkg

    mods = []
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name.startswith("_"):
            continue
        mods.append(importlib.import_module(f"nnet2.commands.{info.name}"))
    return sorted(mods, key=lambda m: m.NAME)


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keep the layout of the long help (examples) and show every option's default."""


def build_parser() -> argparse.ArgumentParser:
    from nnet2 import __version__

    parser = argparse.ArgumentParser(
        prog="nnet2",
        description="Train hybrid DNN-HMM acoustic models with model averaging over MPI, online "
        "natural-gradient SGD and RBM pretraining; reads and writes Kaldi formats. "
        "Run several workers as: mpiexec -n N python -m mpi4py -m nnet2 train ...",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"nnet2 {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _commands():
        p = sub.add_parser(
            mod.NAME,
            help=mod.HELP,
            description=(mod.__doc__ or mod.HELP).strip(),
            formatter_class=_HelpFormatter,
            # A verb named after a Kaldi binary shows that binary's usage line first.
            usage=getattr(mod, "USAGE", None),
        )
        mod.add_arguments(p)
        if not any("--config" in a.option_strings for a in p._actions):
            p.add_argument("--config", metavar="FILE", default=None,
                           help="read options from FILE (Kaldi conf: one --name=value per line, "
                                "'#' comments); options on the command line win")
        p.set_defaults(_run=mod.run)
    return parser




def expand_config(argv: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """Kaldi's ParseOptions forms: a bare boolean flag (`--binary`) means `--binary=true` (the next
    word stays a positional argument, as in Kaldi, unless it is true/false: `--binary false` is
    the `--opt value` form), and `--config=FILE` (ReadConfigFile) for verbs
    that have no --config of their own: the file's options go before the command line's, so the
    command line wins."""
    if not argv or argv[0].startswith("-"):
        return argv
    sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    verb = sub.choices.get(argv[0]) if sub else None
    if verb is None:
        return argv
    bools = {o for a in verb._actions if a.type is parse_bool for o in a.option_strings}
    words = {"true", "false", "t", "f", "1", "0", "yes", "no"}
    argv = [argv[0]] + [f"{a}=true" if a in bools and (i + 1 >= len(argv) or argv[i + 1].lower() not in words)
                        else a for i, a in enumerate(argv[1:], start=1)]
    cfg = next((a for a in verb._actions if "--config" in a.option_strings), None)
    if cfg is None or cfg.help is None or not cfg.help.startswith("read options from FILE"):
        return argv  # the verb reads its own --config
    out, conf, i = [], [], 1
    while i < len(argv):
        a = argv[i]
        if a == "--":
            out.extend(argv[i:])
            break
        if a.startswith("--config="):
            conf.extend(read_conf(a.split("=", 1)[1]))
        elif a == "--config" and i + 1 < len(argv):
            conf.extend(read_conf(argv[i + 1]))
            i += 1
        else:
            out.append(a)
        i += 1
    return [argv[0]] + conf + out


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
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        argv = expand_config(argv, parser)
    except UserError as e:
        print(f"nnet2: error: {e}", file=sys.stderr)
        return 1
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except UserError as e:
        print(f"nnet2 {args.command}: error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # e.g. `nnet2 am-info x.mdl | head`
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(f"nnet2 {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
