"""The verbs named after Kaldi binaries take those binaries' arguments and options and write exactly
the files they are told to.

Argument orders, option names, defaults and output forms are taken from Kaldi's sources
(src/featbin/compute-mfcc-feats.cc, compute-cmvn-stats.cc, apply-cmvn.cc, copy-feats.cc,
src/bin/copy-matrix.cc, ali-to-pdf.cc, ali-to-post.cc, src/transform/cmvn.cc,
src/nnet2bin/nnet-am-*.cc). No Kaldi binary is available here: these are checks against the
source's rules and hand-derived values, not against Kaldi-written bytes. Feature values are
checked against nnet2.feat (kaldi-native-fbank), i.e. a consistency check.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from nnet2.cli import build_parser, main as cli
from nnet2.feat import MfccOptions, compute_mfcc
from nnet2.io import table

from conftest import subprocess_pythonpath

DATA = os.path.join(os.path.dirname(__file__), "data")


def _env():
    return dict(os.environ, PYTHONPATH=subprocess_pythonpath())


def _sh(cmd: str, cwd) -> subprocess.CompletedProcess:
    nnet2 = f"{sys.executable} -m nnet2"
    return subprocess.run(cmd.replace("nnet2 ", nnet2 + " "), shell=True, cwd=cwd, env=_env(),
                          capture_output=True)


@pytest.fixture
def wavdir(tmp_path):
    """A folder with two 16 kHz wav files and a wav.scp (one entry a pipe), nothing else."""
    rng = np.random.default_rng(0)
    d = tmp_path / "w"
    d.mkdir()
    for i, n in enumerate((8000, 4000)):
        x = (3000 * np.sin(np.arange(n) * (0.05 + 0.02 * i)) + 100 * rng.standard_normal(n)).astype(np.int16)
        sf.write(d / f"u{i}.wav", x, 16000, subtype="PCM_16")
    (d / "wav.scp").write_text(f"u0 {d}/u0.wav\nu1 cat {d}/u1.wav |\n")
    return d


def _ref_mfcc(d, utt):
    x, _ = sf.read(d / f"{utt}.wav", dtype="int16")
    return compute_mfcc(x.astype(np.float32), MfccOptions(dither=0.0), rate=16000, utt=utt)


def test_compute_mfcc_feats_writes_only_what_it_is_told(wavdir, monkeypatch):
    """`compute-mfcc-feats --dither=0 scp:wav.scp ark,t:out.txt` writes out.txt and nothing else:
    no data dir, no feats.scp, no utt2spk/spk2utt needed (compute-mfcc-feats.cc reads a wav table
    and writes a feature table)."""
    monkeypatch.chdir(wavdir)
    before = sorted(os.listdir("."))
    assert cli(["compute-mfcc-feats", "--dither=0", "scp:wav.scp", "ark,t:out.txt"]) == 0
    assert sorted(os.listdir(".")) == sorted(before + ["out.txt"])
    got = table.read_table_dict("ark:out.txt")
    assert list(got) == ["u0", "u1"]
    for u in got:
        np.testing.assert_allclose(got[u], _ref_mfcc(wavdir, u), rtol=1e-6, atol=2e-5)  # text: 7 digits
    assert open("out.txt").read().startswith("u0  [\n  ")


def test_compute_mfcc_feats_ark_scp_honours_both_names(wavdir, monkeypatch):
    """`ark,scp:a.ark,b.scp`: the archive is a.ark, the script b.scp, pointing into a.ark by the name
    given (ClassifyWspecifier splits at the first comma)."""
    monkeypatch.chdir(wavdir)
    os.mkdir("out")
    assert cli(["compute-mfcc-feats", "--dither", "0", "--num-ceps=10", "scp:wav.scp",
                "ark,scp:out/a.ark,out/b.scp"]) == 0
    assert sorted(os.listdir("out")) == ["a.ark", "b.scp"]
    lines = open("out/b.scp").read().splitlines()
    assert [ln.split()[0] for ln in lines] == ["u0", "u1"] and all(" out/a.ark:" in ln for ln in lines)
    got = table.read_table_dict("scp:out/b.scp")
    assert got["u0"].shape[1] == 10
    np.testing.assert_array_equal(got["u1"], table.read_table_dict("ark:out/a.ark")["u1"])


def test_config_file_and_command_line_override(wavdir, monkeypatch):
    """--config=FILE holds --name=value lines; an option on the command line wins (ParseOptions)."""
    monkeypatch.chdir(wavdir)
    open("mfcc.conf", "w").write("--num-ceps=7  # comment\n--dither=0\n")
    assert cli(["compute-mfcc-feats", "--config=mfcc.conf", "scp:wav.scp", "ark:a.ark"]) == 0
    assert cli(["compute-mfcc-feats", "--config=mfcc.conf", "--num-ceps=5", "scp:wav.scp", "ark:b.ark"]) == 0
    assert table.read_table_dict("ark:a.ark")["u0"].shape[1] == 7
    assert table.read_table_dict("ark:b.ark")["u0"].shape[1] == 5


def test_pipes_stdin_stdout_and_compression(wavdir):
    """`ark:-` out of one verb into `ark:-` of the next, `| gzip` out and `gunzip |` in, and
    copy-feats --compress=true: the archive holds CM (rows > 8, method 1) matrices."""
    r = _sh("nnet2 compute-mfcc-feats --dither=0 scp:wav.scp ark:- | "
            "nnet2 copy-feats --compress=true ark:- 'ark:| gzip -c > c.ark.gz'", wavdir)
    assert r.returncode == 0, r.stderr.decode()
    r = _sh("nnet2 copy-feats 'ark:gunzip -c c.ark.gz |' ark,t:-", wavdir)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.startswith(b"u0  [\n  ")
    import gzip

    raw = gzip.decompress((wavdir / "c.ark.gz").read_bytes())
    assert raw.startswith(b"u0 \0BCM ")
    got = table.read_table_dict("ark:gunzip -c %s |" % (wavdir / "c.ark.gz"))
    ref = _ref_mfcc(wavdir, "u0")
    # CM resolution: 1/255 of each column's inter-percentile range
    assert np.abs(got["u0"] - ref).max() < (ref.max() - ref.min()) / 100


@pytest.mark.parametrize("method,token", [(1, b"CM "), (2, b"CM "), (3, b"CM2"), (4, b"CM2"),
                                          (5, b"CM3"), (6, b"CM3"), (7, b"CM3")])
def test_copy_feats_compression_methods(tmp_path, method, token):
    """copy-feats --compress=true --compression-method=N writes the token Kaldi's
    ComputeGlobalHeader picks, and copy-feats reads every one of them back."""
    x = np.arange(60, dtype=np.float32).reshape(12, 5)
    if method not in (4, 6):  # the integer methods store integers exactly
        x = x / 60
    table.write_table(f"ark:{tmp_path}/in.ark", {"a": x})
    assert cli(["copy-feats", "--compress=true", f"--compression-method={method}", f"ark:{tmp_path}/in.ark",
                f"ark:{tmp_path}/c.ark"]) == 0
    assert (tmp_path / "c.ark").read_bytes()[4:7] == token
    assert cli(["copy-feats", f"ark:{tmp_path}/c.ark", f"ark,t:{tmp_path}/c.txt"]) == 0
    back = table.read_table_dict(f"ark:{tmp_path}/c.txt")["a"]
    tol = {6: 0.0, 4: 1e-4}.get(method, 0.01)
    np.testing.assert_allclose(back, x, atol=tol)


def test_copy_feats_reads_hand_made_cm2(tmp_path):
    """A CM2 entry built by hand per compressed-matrix.cc (header min/range/rows/cols, row-major
    uint16) decodes to min + u*range/65535."""
    body = struct.pack("<ffii", -1.0, 2.0, 1, 3) + struct.pack("<3H", 0, 65535, 16384)
    (tmp_path / "h.ark").write_bytes(b"k \0BCM2 " + body)
    assert cli(["copy-feats", f"ark:{tmp_path}/h.ark", f"ark:{tmp_path}/o.ark"]) == 0
    got = table.read_table_dict(f"ark:{tmp_path}/o.ark")["k"]
    np.testing.assert_allclose(got, [[-1.0, 1.0, -1.0 + 2 * 16384 / 65535]], atol=1e-6)
    assert (tmp_path / "o.ark").read_bytes().startswith(b"k \0BFM ")


def test_copy_matrix_file_forms(tmp_path):
    """copy-matrix <rxfilename> <wxfilename>: binary by default, --binary=false for text
    (Matrix::Write), --scale; table forms too."""
    m = np.array([[1.0, -2.0, 0.5], [3.0, 4.0, 0.25]], np.float32)
    table.write_matrix_file(str(tmp_path / "m.bin"), m)
    assert cli(["copy-matrix", "--binary=false", str(tmp_path / "m.bin"), str(tmp_path / "m.txt")]) == 0
    assert (tmp_path / "m.txt").read_text() == " [\n  1 -2 0.5 \n  3 4 0.25 ]\n"
    assert cli(["copy-matrix", "--scale=2", str(tmp_path / "m.txt"), str(tmp_path / "m2.bin")]) == 0
    b = (tmp_path / "m2.bin").read_bytes()
    assert b == b"\0BFM \x04" + struct.pack("<i", 2) + b"\x04" + struct.pack("<i", 3) + (2 * m).tobytes()
    assert cli(["copy-matrix", str(tmp_path / "m.bin"), f"ark:{tmp_path}/x.ark"]) == 1  # mixed forms


def test_cmvn_stats_and_apply(tmp_path):
    """compute-cmvn-stats per utterance / --spk2utt / global (AccCmvnStats: sums, sums of squares,
    count; double), apply-cmvn per speaker via --utt2spk (x - mean) and --norm-vars."""
    rng = np.random.default_rng(1)
    feats = {"a1": rng.standard_normal((6, 3)).astype(np.float32) + 5,
             "a2": rng.standard_normal((4, 3)).astype(np.float32) + 5,
             "b1": rng.standard_normal((5, 3)).astype(np.float32)}
    table.write_table(f"ark,scp:{tmp_path}/f.ark,{tmp_path}/f.scp", feats)
    (tmp_path / "spk2utt").write_text("A a1 a2\nB b1\n")
    (tmp_path / "utt2spk").write_text("a1 A\na2 A\nb1 B\n")
    assert cli(["compute-cmvn-stats", f"--spk2utt=ark:{tmp_path}/spk2utt", f"scp:{tmp_path}/f.scp",
                f"ark:{tmp_path}/cmvn.ark"]) == 0
    st = table.read_table_dict(f"ark:{tmp_path}/cmvn.ark")
    assert (tmp_path / "cmvn.ark").read_bytes()[:8] == b"A \0BDM \x04"  # DoubleMatrixWriter
    xa = np.concatenate([feats["a1"], feats["a2"]]).astype(np.float64)
    np.testing.assert_allclose(st["A"][0], np.append(xa.sum(0), 10), rtol=1e-12)
    np.testing.assert_allclose(st["A"][1, :3], (xa * xa).sum(0), rtol=1e-6)
    assert st["A"][1, 3] == 0
    assert cli(["compute-cmvn-stats", f"scp:{tmp_path}/f.scp", f"ark,t:{tmp_path}/u.txt"]) == 0
    assert list(table.read_table_dict(f"ark:{tmp_path}/u.txt")) == ["a1", "a2", "b1"]
    assert cli(["compute-cmvn-stats", "--binary=false", f"scp:{tmp_path}/f.scp", str(tmp_path / "g.txt")]) == 0
    g = table.read_matrix_file(str(tmp_path / "g.txt"))
    assert g.shape == (2, 4) and g[0, 3] == 15
    assert cli(["apply-cmvn", f"--utt2spk=ark:{tmp_path}/utt2spk", f"ark:{tmp_path}/cmvn.ark",
                f"scp:{tmp_path}/f.scp", f"ark:{tmp_path}/n.ark"]) == 0
    n = table.read_table_dict(f"ark:{tmp_path}/n.ark")
    np.testing.assert_allclose(n["a2"], feats["a2"] - xa.mean(0), atol=1e-5)
    assert cli(["apply-cmvn", "--norm-vars=true", f"--utt2spk=ark:{tmp_path}/utt2spk",
                f"ark:{tmp_path}/cmvn.ark", f"scp:{tmp_path}/f.scp", f"ark:{tmp_path}/v.ark"]) == 0
    v = table.read_table_dict(f"ark:{tmp_path}/v.ark")
    np.testing.assert_allclose(v["a1"], (feats["a1"] - xa.mean(0)) / xa.std(0), atol=1e-5)
    # global stats file as the first argument
    assert cli(["apply-cmvn", str(tmp_path / "g.txt"), f"scp:{tmp_path}/f.scp", f"ark:{tmp_path}/gn.ark"]) == 0


def test_ali_to_pdf_and_post(tmp_path):
    """ali-to-pdf <model> <ali-rspecifier> <pdf-wspecifier> maps transition-ids through the
    TransitionModel at the start of the model; ali-to-post writes one (id, 1) pair per frame."""
    from nnet2.io.nnet_format import read_mdl

    mdl = os.path.join(DATA, "tiny_pnorm.mdl.txt")
    tm = read_mdl(mdl).transition_model
    tids = np.arange(1, tm.num_transition_ids + 1, dtype=np.int32)
    table.write_table(f"ark:| gzip -c > {tmp_path}/ali.1.gz", {"u": tids, "v": tids[:2]}, kind="int_vector")
    assert cli(["ali-to-pdf", mdl, f"ark:gunzip -c {tmp_path}/ali.1.gz|", f"ark,t:{tmp_path}/pdf.txt"]) == 0
    lines = (tmp_path / "pdf.txt").read_text().splitlines()
    assert lines[0] == "u " + "".join(f"{p} " for p in tm.tid2pdf[1:])
    assert cli(["ali-to-post", f"ark:gunzip -c {tmp_path}/ali.1.gz|", f"ark,t:{tmp_path}/post.txt"]) == 0
    assert (tmp_path / "post.txt").read_text().splitlines()[1] == "v [ 1 1 ] [ 2 1 ] "
    assert cli(["ali-to-pdf", mdl, f"ark:{tmp_path}/missing.ark", f"ark:{tmp_path}/p.ark"]) == 1
    assert not (tmp_path / "p.ark").exists()


def test_bad_input_one_line_no_output(wavdir, monkeypatch, capsys):
    """A wav table naming a missing file: one error line naming it, exit 1, no output file."""
    monkeypatch.chdir(wavdir)
    open("bad.scp", "w").write(f"u0 {wavdir}/nope.wav\n")
    assert cli(["compute-mfcc-feats", "scp:bad.scp", "ark:o.ark"]) == 1
    err = capsys.readouterr().err
    assert "nope.wav" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not os.path.exists("o.ark")
    # as Kaldi, outputs go into existing directories: nothing is created
    assert cli(["compute-mfcc-feats", "scp:wav.scp", "ark:nodir/o.ark"]) == 1
    assert "no directory 'nodir'" in capsys.readouterr().err and not os.path.exists("nodir")
    assert cli(["copy-feats", "ark:x.ark", "not-a-wspecifier"]) == 1
    assert "both arguments must be tables" in capsys.readouterr().err


def _kaldi_verbs():
    from nnet2.cli import _commands

    return [m for m in _commands() if getattr(m, "KALDI", None)]


def test_every_kaldi_named_verb_shows_the_kaldi_form_first():
    """--help of each verb named after a Kaldi binary starts with that binary's usage line (with
    nnet2 VERB in place of the binary)."""
    verbs = {m.NAME: m for m in _kaldi_verbs()}
    need = {"compute-mfcc-feats", "compute-fbank-feats", "compute-cmvn-stats", "apply-cmvn", "copy-feats",
            "copy-matrix", "ali-to-pdf", "ali-to-post", "am-compute", "am-copy", "am-info", "am-init",
            "am-average", "get-lda"}
    assert need <= set(verbs)
    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    for name in verbs:
        first = sub.choices[name].format_help().splitlines()[0]
        assert first.startswith(f"usage: nnet2 {name} [options"), (name, first)
        assert "<" in first, (name, first)


def test_bare_boolean_flag_means_true(tmp_path):
    """Kaldi's ParseOptions: `--binary` alone is `--binary=true`."""
    src = os.path.join(DATA, "tiny_pnorm.mdl.txt")
    assert cli(["am-copy", "--binary", src, str(tmp_path / "a.mdl")]) == 0
    assert (tmp_path / "a.mdl").read_bytes()[:2] == b"\0B"
    assert cli(["am-copy", "--binary=false", str(tmp_path / "a.mdl"), str(tmp_path / "a.txt")]) == 0
    assert open(src, "rb").read() == (tmp_path / "a.txt").read_bytes()
