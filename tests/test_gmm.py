"""FSDD subset -> MFCC+CMVN -> flat-start monophone GMM -> alignments; Kaldi formats and accuracy."""

import gzip
import os
import struct

import numpy as np
import pytest

from nnet2.corpora.fsdd import FsddOptions, default_fsdd_dir, prepare_fsdd
from nnet2.feat import MfccOptions, compute_cmvn_stats, make_feats
from nnet2.gmm import MonoOptions, load_mono_model, read_alignments, train_mono_and_align
from nnet2.utils.errors import DataError, UserError


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    try:
        fsdd = default_fsdd_dir()
    except UserError:
        pytest.skip("FSDD not available")
    root = tmp_path_factory.mktemp("fsdd")
    prepare_fsdd(str(root), FsddOptions(fsdd_dir=fsdd, quick=True))
    o = MfccOptions.from_argv(["--use-energy=false", "--sample-frequency=8000", "--dither=0"])
    d = str(root / "data" / "train")
    make_feats(d, o, str(root / "mfcc"), nj=2)
    compute_cmvn_stats(d, str(root / "mfcc"))
    return root


def test_align_quick_subset(quick):
    out = str(quick / "exp" / "mono_ali")
    o = MonoOptions(num_iters=20, max_iter_inc=15, tot_gauss=400)
    s = train_mono_and_align(str(quick / "data" / "train"), str(quick / "data" / "lang"), out, o)
    assert s["failed"] == 0 and s["aligned"] == s["utterances"]
    assert s["frame_accuracy"] > 0.7
    # Alignment archive: gzipped, binary int32 vectors as Kaldi's BasicVectorHolder (spec §7.5).
    raw = gzip.open(os.path.join(out, "ali.1.gz")).read()
    key, rest = raw.split(b" ", 1)
    assert rest[:2] == b"\0B" and rest[2] == 4
    n = struct.unpack("<i", rest[3:7])[0]
    assert rest[7] == 4
    alis = read_alignments(os.path.join(out, "ali.1.gz"))
    import kaldiio

    feats = kaldiio.load_scp(str(quick / "data" / "train" / "feats.scp"))
    first = alis[key.decode()]
    assert len(first) == n == feats[key.decode()].shape[0]
    # The model comes back exactly from out_dir.
    m = load_mono_model(out)
    assert m.tm.num_pdfs == m.am.num_pdfs == 19 * 3 + 5
    assert m.am.num_gauss == s["num_gauss"]
    assert set(np.unique(np.concatenate(list(alis.values())))) <= set(range(1, m.tm.num_transition_ids + 1))
    text = open(os.path.join(out, "final.mdl")).read()
    assert text.startswith("<TransitionModel>") and "<DIMENSION> 39 <NUMPDFS> 62" in text
    assert np.isfinite(m.am.log_likelihood(0, np.zeros(39, np.float32)))


def test_missing_feats_and_bad_word(quick, tmp_path):
    import shutil

    d = tmp_path / "d"
    shutil.copytree(quick / "data" / "train", d)
    os.unlink(d / "feats.scp")
    with pytest.raises(DataError, match="feats.scp"):
        train_mono_and_align(str(d), str(quick / "data" / "lang"), str(tmp_path / "o"))
    shutil.copy(quick / "data" / "train" / "feats.scp", d / "feats.scp")
    lines = (d / "text").read_text().splitlines()
    lines[0] = lines[0].split()[0] + " eleven"
    (d / "text").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="word 'eleven' not in"):
        train_mono_and_align(str(d), str(quick / "data" / "lang"), str(tmp_path / "o"))
    assert not os.path.exists(tmp_path / "o" / "ali.1.gz")
