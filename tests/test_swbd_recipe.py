"""egs/swbd/run.sh end to end on a tiny Switchboard-shaped Kaldi system in Kaldi's own formats
(tests/swbd_fixture.py), with tiny network sizes, and the shared recipe helpers in egs/_common."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from conftest import subprocess_pythonpath

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = os.path.join(ROOT, "egs", "swbd", "run.sh")

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _env():
    env = dict(os.environ)
    # The venv's python and mpiexec; `nnet2` itself comes from path.sh (console script or python -m nnet2).
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = subprocess_pythonpath()
    env["OMP_NUM_THREADS"] = "1"
    return env


def _run(args, cwd, check=True):
    p = subprocess.run(["bash", RUN, *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=600)
    if check and p.returncode != 0:
        raise AssertionError(f"run.sh failed ({p.returncode}):\nSTDOUT:\n{p.stdout[-4000:]}\nSTDERR:\n{p.stderr[-4000:]}")
    return p


@pytest.fixture(scope="module")
def kaldi_system(tmp_path_factory):
    pytest.importorskip("kaldi_hmm_gmm")
    from swbd_fixture import make_swbd_system

    root = str(tmp_path_factory.mktemp("s5c"))
    info = make_swbd_system(root, num_utts=40)
    return root, info


TINY = ["--nn-depth", "2", "--pretrain-num-utts", "30", "--hid-dim", "64", "--num-epochs", "1", "--num-frames-diagnostic", "300",
        "--pretrain-opts", "--momentum-step-period 1000 --min-frames-per-layer 4000 --randomizer-size 0",
        "--train-opts", "--minibatch-size 64 --iters-per-epoch 2 --prior-frames 1000 --progress false"]


@pytest.mark.mpi
def test_run_sh_end_to_end(kaldi_system, tmp_path):
    import numpy as np

    from nnet2.data.egs import EgsReader
    from nnet2.io.nnet_format import read_transition_model_from_gmm_mdl
    from nnet2.nnet import components as C
    from nnet2.nnet.model import load_model

    root, info = kaldi_system
    p = _run(["--swbd-kaldi-dir", root, "--num-workers", "2", *TINY], cwd=tmp_path)
    for n in range(6):
        assert f"Stage {n}:" in p.stdout
    assert "steps/nnet2/decode.sh" in p.stdout and "--transform-dir" in p.stdout

    d = tmp_path / "exp" / "nnet2_dbn"
    egs = EgsReader(str(d / "egs"))
    assert (egs.left, egs.right) == (5, 5)
    sub = open(d / "dbn" / "feats.scp").read().splitlines()  # pretraining subset, evenly spread
    assert len(sub) == 30 and sub[0].split()[0] == info["utts"][0]
    # the paper's CV set: the last 10% of the utterances (4 of 40), moved back to a speaker change
    # (subset_data_dir_tr_cv.sh): the fixture's last speaker has 5 utterances, all held out
    import json

    ei = json.load(open(d / "egs" / "info.json"))
    last_spk = info["utts"][-1].split("_")[0]
    assert ei["num_valid_utts"] == sum(u.startswith(last_spk + "_") for u in info["utts"]) == 5
    assert "Averaging" in open(d / "log" / "train.setup.0.log").read()
    assert "max-norm 10 capped" in open(d / "log" / "train.0.0.log").read()  # conf/train.conf: the paper's
    assert 0 < ei["num_frames"] < info["num_frames"]

    m = load_model(d / "final.mdl")
    gmm_tm = read_transition_model_from_gmm_mdl(os.path.join(root, "exp", "tri4_ali_nodup", "final.mdl"))
    assert m.transition_model.to_bytes(False) == gmm_tm.to_bytes(False)
    assert m.nnet.output_dim == info["num_pdfs"] == gmm_tm.num_pdfs
    assert m.priors.size == info["num_pdfs"] and abs(float(m.priors.sum()) - 1) < 1e-4
    kinds = [type(c) for c in m.nnet.components]
    assert kinds[:3] == [C.SpliceComponent, C.FixedBiasComponent, C.FixedScaleComponent]
    assert kinds.count(C.SigmoidComponent) == 2 and kinds[-1] is C.SoftmaxComponent
    assert all(type(c) is C.AffineComponentPreconditionedOnline for c in m.nnet.updatable())
    assert m.nnet.updatable()[0].output_dim == 64 and m.nnet.input_dim == 40
    for f in ("final.mat", "splice_opts", "cmvn_opts"):  # for decode.sh's feat_type=lda + --transform-dir
        assert (d / f).exists()
    # the trained model fits the (separable) fixture better than chance on held-out frames
    X, y = egs.valid_set()
    acc = float((m.nnet.forward(np.ascontiguousarray(X)).argmax(1) == y).mean())
    assert acc > 2.0 / info["num_pdfs"]

    # idempotent stages: rerunning the export alone works
    p = _run(["--swbd-kaldi-dir", root, "--stage", "5", *TINY], cwd=tmp_path)
    assert "Stage 5:" in p.stdout and "Stage 4:" not in p.stdout


def test_import_raw_features_with_cmvn_and_random_init(kaldi_system, tmp_path):
    from nnet2.nnet.model import load_model

    root, info = kaldi_system
    _run(["--swbd-kaldi-dir", root, "--cmvn", "true", "--random-init", "true", "--stop-stage", "3", *TINY],
         cwd=tmp_path)
    d = tmp_path / "exp" / "nnet2_dbn"
    assert not (d / "dbn" / "1.rbm").exists() and (d / "dbn" / "final.feature_transform").exists()
    m = load_model(d / "0.mdl")
    assert m.nnet.input_dim == 13 and m.nnet.output_dim == info["num_pdfs"] and m.priors.size == info["num_pdfs"]
    import kaldiio
    import numpy as np

    feats = kaldiio.load_scp(str(tmp_path / "data" / "train_nodup" / "feats.scp"))
    spk_means = {}
    for u in info["utts"]:
        spk_means.setdefault(u.split("_")[0], []).append(feats[u])
    for xs in spk_means.values():  # per-speaker mean normalization was applied
        assert np.abs(np.concatenate(xs).mean(0)).max() < 1e-4


def test_bad_inputs(kaldi_system, tmp_path):
    root, _ = kaldi_system
    p = _run([], cwd=tmp_path, check=False)
    assert p.returncode == 1 and "--swbd-kaldi-dir is required" in p.stderr
    p = _run(["--swbd-kaldi-dir", root, "--nn-dpeth", "2"], cwd=tmp_path, check=False)
    assert p.returncode == 1 and "unknown option --nn-dpeth" in p.stderr
    p = _run(["--swbd-kaldi-dir", root, "--cmvn", "yes"], cwd=tmp_path, check=False)
    assert p.returncode == 1 and "expects true or false" in p.stderr
    p = _run(["--swbd-kaldi-dir", root, "--ali-dir", str(tmp_path / "nope"), "--stop-stage", "0"], cwd=tmp_path,
             check=False)
    assert p.returncode == 1 and "nope/final.mdl: missing" in p.stderr
    # a data dir whose feats.scp misses an utterance: validate-data-dir names it
    bad = tmp_path / "feats.scp"
    lines = open(os.path.join(root, "data-fmllr-tri4", "train_nodup", "feats.scp")).read().splitlines()
    bad.write_text("\n".join(lines[1:]) + "\n")
    p = _run(["--swbd-kaldi-dir", root, "--feats-scp", str(bad), "--stop-stage", "0"], cwd=tmp_path, check=False)
    assert p.returncode == 1 and lines[0].split()[0] in p.stderr and "missing" in p.stderr
    p = subprocess.run(["bash", RUN, "--help"], env=_env(), capture_output=True, text=True)
    assert p.returncode == 0 and "--swbd-kaldi-dir" in p.stdout and "--num-workers" in p.stdout


def test_apply_cmvn_to_an_archive_matches_reference_and_fails_cleanly(tmp_path, rng):
    """`nnet2 apply-cmvn` as the recipe calls it (per-speaker stats through --utt2spk, --norm-vars, output
    `ark,scp:`) against (x - mean) / std from the stats (a reference of ours); with no statistics for any
    utterance it warns per utterance as Kaldi does, exits 1 as Kaldi does, says so in one error line, and writes
    nothing (Kaldi would leave an empty archive)."""
    import kaldiio
    import numpy as np

    from nnet2.cli import main as cli_main
    from nnet2.feat.cmvn import cmvn_stats

    feats = {f"s{i % 2}_u{i}": rng.standard_normal((7 + i, 5)).astype(np.float32) + 3 for i in range(4)}
    with kaldiio.WriteHelper(f"ark,scp:{tmp_path}/f.ark,{tmp_path}/f.scp") as w:
        for k in sorted(feats):
            w(k, feats[k])
    (tmp_path / "utt2spk").write_text("".join(f"{k} {k[:2]}\n" for k in sorted(feats)))
    stats = {s: cmvn_stats(np.concatenate([v for k, v in sorted(feats.items()) if k[:2] == s])) for s in ("s0", "s1")}
    with kaldiio.WriteHelper(f"ark,scp:{tmp_path}/c.ark,{tmp_path}/c.scp") as w:
        for s in ("s0", "s1"):
            w(s, stats[s])
    assert cli_main(["apply-cmvn", "--norm-vars=true", f"--utt2spk=ark:{tmp_path}/utt2spk", f"scp:{tmp_path}/c.scp",
                     f"scp:{tmp_path}/f.scp", f"ark,scp:{tmp_path}/o.ark,{tmp_path}/o.scp"]) == 0
    out = kaldiio.load_scp(str(tmp_path / "o.scp"))
    assert sorted(out) == sorted(feats)
    for k, x in feats.items():
        st = stats[k[:2]]
        mean = st[0, :-1] / st[0, -1]
        std = np.sqrt(st[1, :-1] / st[0, -1] - mean ** 2)
        np.testing.assert_allclose(out[k], (x.astype(np.float64) - mean) / std, atol=1e-5)
    (tmp_path / "utt2spk").write_text("".join(f"{k} nobody\n" for k in sorted(feats)))
    p = subprocess.run([sys.executable, "-m", "nnet2", "apply-cmvn", f"--utt2spk=ark:{tmp_path}/utt2spk",
                        f"scp:{tmp_path}/c.scp", f"scp:{tmp_path}/f.scp", f"ark,scp:{tmp_path}/p.ark,{tmp_path}/p.scp"],
                       env=_env(), capture_output=True, text=True, timeout=120)
    assert p.returncode == 1, p.stderr[-2000:]
    errors = [ln for ln in p.stderr.splitlines() if "error" in ln.lower()]
    assert len(errors) == 1 and "no utterance of" in errors[0] and "f.scp" in errors[0], p.stderr[-2000:]
    assert p.stderr.count("No normalization statistics available for key nobody") == 4
    assert "Traceback" not in p.stderr
    assert not (tmp_path / "p.ark").exists() and not (tmp_path / "p.scp").exists()

