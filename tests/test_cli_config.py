"""`--config FILE` on every verb through the one parser of conf files (`nnet2.utils.options.parse_with_conf`),
as Kaldi's ParseOptions reads it: the file's `--name=value` lines first, the command line wins."""

import argparse
import os
import sys

import pytest

from nnet2.cli import build_parser, main
from nnet2.feat.features import MfccOptions
from nnet2.utils.errors import UserError
from nnet2.utils.options import parse_options, parse_with_conf


def _parser():
    p = argparse.ArgumentParser()
    p.add_argument("--config")
    p.add_argument("--n", type=int, default=1)
    p.add_argument("--name", default="a")
    p.add_argument("pos")
    return p


def test_conf_first_command_line_wins(tmp_path):
    c = tmp_path / "x.conf"
    c.write_text("# comment\n--n=5\n\n--name=fromconf  # trailing comment\n")
    ns = parse_with_conf(_parser(), ["--config", str(c), "--n", "7", "P"])
    assert (ns.n, ns.name, ns.pos) == (7, "fromconf", "P")


@pytest.mark.parametrize("line, msg", [("--nope=1", "x.conf:2: unknown option '--nope'"),
                                       ("--n=abc", "x.conf:2: argument --n: invalid int value: 'abc'"),
                                       ("n=3", "x.conf:2: expected '--name=value', got 'n=3'"),
                                       ("--n", "x.conf:2: argument --n: expected one argument")])
def test_bad_conf_line_is_one_error_naming_file_and_line(tmp_path, line, msg):
    c = tmp_path / "x.conf"
    c.write_text(f"--name=b\n{line}\n")
    with pytest.raises(UserError) as e:
        parse_with_conf(_parser(), ["--config", str(c), "P"])
    assert str(e.value).endswith(msg) and str(c) in str(e.value)


def test_every_verb_takes_config():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    missing = [v for v, p in sub.choices.items() if "--config" not in p._option_string_actions]
    assert len(sub.choices) > 20 and missing == []


def test_main_parses_the_argv_it_is_given(tmp_path, monkeypatch, capsys):
    """main(argv) reads argv (and the conf named there), never sys.argv."""
    c = tmp_path / "t.conf"
    c.write_text("--num-epochs=x\n")
    monkeypatch.setattr(sys, "argv", ["nnet2", "am-info", "/nonexistent.mdl"])
    assert main(["train", "--config", str(c), "egs", "in.mdl", "out"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"nnet2 train: error: {c}:1: argument --num-epochs: invalid int value: 'x'"
    assert not os.path.exists("out")


def test_options_class_from_conf_and_arguments(tmp_path):
    c = tmp_path / "mfcc.conf"
    c.write_text("--sample-frequency=8000\n--use-energy=false\n")
    o = parse_options(MfccOptions, [f"--config={c}", "--num-ceps=10"])
    assert (o.sample_frequency, o.use_energy, o.num_ceps) == (8000.0, False, 10)
    assert MfccOptions.from_conf(str(c), extra=["--use-energy=true"]).use_energy is True
    with pytest.raises(UserError, match="unknown option '--bogus' for MfccOptions"):
        parse_options(MfccOptions, ["--bogus=1"])


def test_conf_file_and_a_verb_reading_config_files(tmp_path):
    """am-init reads an nnet-init config as an argument; --config FILE is the verb's conf file, and a
    bare boolean line means true (Kaldi's ReadConfigFile)."""
    from nnet2.nnet.model import load_model

    data = os.path.join(os.path.dirname(__file__), "data")
    net = tmp_path / "nnet.config"
    net.write_text("AffineComponent input-dim=4 output-dim=NUM_PDFS\nSoftmaxComponent dim=NUM_PDFS\n")
    conf = tmp_path / "am-init.conf"
    conf.write_text("--binary=false\n")
    out = tmp_path / "0.mdl"
    assert main(["am-init", "--config", str(conf), os.path.join(data, "tiny_pnorm.mdl.txt"), str(net), str(out)]) == 0
    assert out.read_bytes()[:2] != b"\0B" and load_model(str(out)).nnet.input_dim == 4
    conf.write_text("--binary\n")
    assert main(["am-init", "--config", str(conf), os.path.join(data, "tiny_pnorm.mdl.txt"), str(net), str(out)]) == 0
    assert out.read_bytes()[:2] == b"\0B"


def test_a_verb_alone_parses_as_among_all():
    """A run of one verb builds the parser of that verb only (`build_parser(verb)`: importing every command
    module took most of a verb's start-up). Every module is named after its verb, and each verb's parser,
    built alone, prints the same help as among all of them."""
    from nnet2.cli import _commands, _verbs

    verbs = _verbs()
    mods = _commands()
    assert sorted(m.NAME for m in mods) == sorted(verbs)
    assert all(m.__name__ == verbs[m.NAME] for m in mods)
    full = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    for verb in verbs:
        one = next(a for a in build_parser(verb)._actions if isinstance(a, argparse._SubParsersAction)).choices
        assert list(one) == [verb]
        assert one[verb].format_help() == full[verb].format_help(), verb


def test_a_verb_imports_only_its_own_command_module():
    import subprocess

    from conftest import subprocess_pythonpath

    code = ("import sys, contextlib, io\nfrom nnet2 import cli\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n        cli.main(['am-info', '--help'])\n    except SystemExit:\n        pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('nnet2.commands.')))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PYTHONPATH=subprocess_pythonpath()))
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "['nnet2.commands.am_info']"
