import json
import os

import kaldiio
import numpy as np
import pytest

from nnet2.cli import main as cli_main
from nnet2.data.alignments import write_ali
from nnet2.data.egs import (Cmvn, EgsOptions, EgsReader, _batch_sizes, gather_spliced, get_egs,
                            make_egs)
from nnet2.feat.lda import lda_stats_from_egs, splice
from nnet2.utils.errors import DataError, UserError

L = R = 2
NPDF = 11


def make_corpus(d, n=60, seed=0):
    """Features whose column 0 is the utterance number and column 1 the frame index (so a gathered
    frame says where it came from), column 2 random; labels (utt*7 + t) % NPDF."""
    rng = np.random.default_rng(seed)
    feats, alis = {}, {}
    for i in range(n):
        t = int(rng.integers(1, 30))
        x = np.c_[np.full(t, i), np.arange(t), rng.standard_normal(t)].astype(np.float32)
        feats[f"utt{i:03d}"] = x
        alis[f"utt{i:03d}"] = ((i * 7 + np.arange(t)) % NPDF).astype(np.int32)
    kaldiio.save_ark(str(d / "feats.ark"), feats, scp=str(d / "feats.scp"))
    return feats, alis


def opts(**kw):
    base = dict(left_context=L, right_context=R, frames_per_archive=150, num_utts_subset=5,
                num_frames_diagnostic=50, num_frames_combine=80)
    base.update(kw)
    return EgsOptions(**base)


@pytest.fixture(scope="module")
def egs(tmp_path_factory):
    d = tmp_path_factory.mktemp("egs")
    feats, alis = make_corpus(d)
    info = make_egs(str(d / "feats.scp"), alis, str(d / "egs"), NPDF, opts())
    return d, feats, alis, info


def check_examples(X, y, feats, alis):
    """Every example's context frames are its own utterance's frames t+c clamped to the edges."""
    X = X.reshape(len(y), L + 1 + R, 3)
    keys = list(feats)
    out = []
    for x, lab in zip(X, y):
        u, t = int(x[L, 0]), int(x[L, 1])
        f = feats[keys[u]]
        ref = f[np.clip(np.arange(t - L, t + R + 1), 0, len(f) - 1)]
        np.testing.assert_array_equal(x, ref)
        assert lab == alis[keys[u]][t]
        out.append((u, t))
    return out


@pytest.mark.parametrize("nw", [1, 2, 3, 4])
def test_every_frame_once_per_epoch(egs, nw):
    d, feats, alis, info = egs
    r = EgsReader(str(d / "egs"))
    valid_utts = set()
    Xv, yv = r.valid_set()
    for u, _ in check_examples(Xv, yv, feats, alis):
        valid_utts.add(u)
    expect = {(i, t) for i, k in enumerate(feats) if i not in valid_utts for t in range(len(feats[k]))}
    assert r.num_frames == len(expect) == info["num_frames"]
    for epoch in range(2):
        seen = []
        nmb = {r.num_minibatches(w, nw, 16) for w in range(nw)}
        assert len(nmb) == 1
        for w in range(nw):
            batches = list(r.iter_minibatches(w, epoch, 16, num_workers=nw))
            assert len(batches) == r.num_minibatches(w, nw, 16)
            assert all(len(b[1]) <= 16 for b in batches)
            assert all(b[0].dtype == np.float32 and b[1].dtype == np.int32 for b in batches)
            got = [e for X, y in batches for e in check_examples(X, y, feats, alis)]
            assert abs(len(got) - r.num_frames / nw) < 1
            seen.extend(got)
        assert len(seen) == len(set(seen)) and set(seen) == expect


def test_sharding_reproducible_and_varies(egs):
    d = egs[0]
    r1, r2 = EgsReader(str(d / "egs")), EgsReader(str(d / "egs"))
    a = [y for _, y in r1.iter_minibatches(1, 3, 8, num_workers=2)]
    b = [y for _, y in r2.iter_minibatches(1, 3, 8, num_workers=2)]
    assert all(np.array_equal(x, z) for x, z in zip(a, b)) and len(a) == len(b)
    assert r1.worker_archive(1, 2, 3) == r2.worker_archive(1, 2, 3)
    assert r1.worker_archive(0, 2, 0) != r1.worker_archive(0, 2, 1)
    c = np.concatenate([y for _, y in r1.iter_minibatches(1, 3, 8, seed=5, num_workers=2)])
    assert not np.array_equal(np.concatenate(a), c)


def test_subsets(egs):
    d, feats, alis, info = egs
    r = EgsReader(str(d / "egs"))
    Xv, yv = r.valid_set()
    Xt, yt = r.train_diag_set()
    Xc, yc = r.combine_set()
    # every frame of the held-out utterances is scored (--num-frames-valid 0, the default)
    assert len(yv) == info["num_valid_frames"] == info["num_valid_held_out_frames"] > 50
    assert len(np.unique(r.valid_utterances())) == info["num_valid_utts"]
    assert len(yt) == 50 and len(yc) == info["num_combine_frames"] <= 80
    assert Xt.shape[1] == Xc.shape[1] == r.input_dim == 15
    valid = {u for u, _ in check_examples(Xv, yv, feats, alis)}
    train = {u for u, _ in check_examples(Xt, yt, feats, alis)} | \
        {u for u, _ in check_examples(Xc, yc, feats, alis)}
    assert valid and not valid & train
    assert info["num_valid_utts"] == 5 and len(valid) == 5
    assert sum(len(feats[k]) for i, k in enumerate(feats) if i in valid) == len(yv)
    with open(d / "egs" / "info.json") as f:
        on_disk = json.load(f)
    assert on_disk["feat_dim"] == 3 and on_disk["num_pdfs"] == NPDF and on_disk["left_context"] == L
    assert len(on_disk["archives"]) > 1


def _held_out(info, d, feats, alis):
    r = EgsReader(str(d))
    return sorted({u for u, _ in check_examples(*r.valid_set(), feats, alis)}), r


def test_valid_splits_and_sample(tmp_path):
    """--valid-split last-utts (subset_data_dir_tr_cv.sh --cv-utt-percent: the last P% of the utterances,
    moved back to a speaker change), speakers (--cv-spk-percent: whole speakers), and a bounded sample."""
    feats, alis = make_corpus(tmp_path, n=60)
    keys = list(feats)
    # speakers of 7 utterances each, in utterance order (utt000-006 spk0, ...): 60 utts, 9 speakers
    utt2spk = {k: f"spk{i // 7}" for i, k in enumerate(keys)}
    # last 10% = 6 utterances, so 54 in training; spk7 (utt049-055) does not fit whole into those 54:
    # the training part ends at the speaker change before it (049), all of spk7 and spk8 are held out
    info = make_egs(str(tmp_path / "feats.scp"), alis, str(tmp_path / "e1"), NPDF,
                    opts(valid_split="last-utts"), utt2spk=utt2spk)
    held, r = _held_out(info, tmp_path / "e1", feats, alis)
    assert held == list(range(49, 60)) and info["num_valid_utts"] == 11
    # without speakers: exactly the last 6
    info = make_egs(str(tmp_path / "feats.scp"), alis, str(tmp_path / "e2"), NPDF, opts(valid_split="last-utts"))
    assert _held_out(info, tmp_path / "e2", feats, alis)[0] == list(range(54, 60))
    # speakers: int(9 * 20%) = 1 whole speaker at random
    info = make_egs(str(tmp_path / "feats.scp"), alis, str(tmp_path / "e3"), NPDF,
                    opts(valid_split="speakers", valid_percent=20.0), utt2spk=utt2spk)
    held, _ = _held_out(info, tmp_path / "e3", feats, alis)
    assert len({utt2spk[keys[u]] for u in held}) == 1
    assert {k for k, s in utt2spk.items() if s == utt2spk[keys[held[0]]]} == {keys[u] for u in held}
    with pytest.raises(UserError, match="--valid-split speakers needs --utt2spk"):
        make_egs(str(tmp_path / "feats.scp"), alis, str(tmp_path / "e4"), NPDF, opts(valid_split="speakers"))
    # a bounded sample of the held-out frames
    info = make_egs(str(tmp_path / "feats.scp"), alis, str(tmp_path / "e5"), NPDF, opts(num_frames_valid=20))
    assert info["num_valid_frames"] == 20 < info["num_valid_held_out_frames"]
    assert len(EgsReader(str(tmp_path / "e5")).valid_set()[1]) == 20


def test_gather_spliced_matches_splice():
    rng = np.random.default_rng(0)
    f = rng.standard_normal((20, 4)).astype(np.float32)
    # two utterances: rows 0..6 and 7..19
    rows = np.array([0, 3, 6, 7, 8, 19, 18], np.int32)
    starts = np.array([0, 0, 0, 7, 7, 7, 7], np.int32)
    ends = np.array([7, 7, 7, 20, 20, 20, 20], np.int32)
    got = gather_spliced(f, rows, 3, 2, starts, ends)
    ref = np.concatenate([splice(f[:7], 3, 2), splice(f[7:], 3, 2)])[rows]
    np.testing.assert_array_equal(got, ref)


def test_batch_sizes():
    assert list(_batch_sizes(10, 4, 3)) == [4, 4, 2]
    assert sorted(_batch_sizes(8, 4, 3)) == [2, 2, 4]
    with pytest.raises(UserError):
        _batch_sizes(2, 1, 3)


def test_length_tolerance_and_cmvn(tmp_path):
    feats, alis = make_corpus(tmp_path, n=20)
    alis = dict(alis)
    k0, k1 = "utt000", "utt001"
    alis[k0] = np.concatenate([alis[k0], [1]]).astype(np.int32)  # one frame too many: truncated
    alis[k1] = alis[k1][:-1] if len(alis[k1]) > 1 else alis[k1]  # one too few: last label repeated
    spk = {k: ("a" if i % 2 else "b") for i, k in enumerate(feats)}
    (tmp_path / "utt2spk").write_text("".join(f"{k} {s}\n" for k, s in spk.items()))
    stats = {}
    for s in "ab":
        x = np.concatenate([feats[k] for k in feats if spk[k] == s]).astype(np.float64)
        st = np.zeros((2, 4))
        st[0, :3], st[0, 3], st[1, :3] = x.sum(0), len(x), (x * x).sum(0)
        stats[s] = st
    kaldiio.save_ark(str(tmp_path / "cmvn.ark"), stats, scp=str(tmp_path / "cmvn.scp"))
    cm = Cmvn("scp:" + str(tmp_path / "cmvn.scp"), str(tmp_path / "utt2spk"))
    make_egs(str(tmp_path / "feats.scp"), alis, str(tmp_path / "egs"), NPDF,
             opts(num_utts_subset=0), cmvn=cm)
    r = EgsReader(str(tmp_path / "egs"))
    X, y = next(r.iter_minibatches(0, 0, 10**6))
    assert len(y) == sum(len(v) for v in feats.values())
    means = {s: stats[s][0, :3] / stats[s][0, 3] for s in "ab"}
    X = X.reshape(len(y), -1, 3)[:, L]
    keys = list(feats)
    for x, lab in zip(X, y):
        for i, k in enumerate(keys):  # find the frame: undo the speaker's mean
            u, t = x[:2] + means[spk[k]][:2]
            if abs(u - i) < 1e-4 and 0 <= round(t) < len(feats[k]) and abs(t - round(t)) < 1e-4:
                np.testing.assert_allclose(x, feats[k][round(t)] - means[spk[k]], atol=1e-5)
                ali = alis[k] if len(alis[k]) >= len(feats[k]) else np.r_[alis[k], alis[k][-1]]
                assert lab == ali[round(t)]
                break
        else:
            raise AssertionError("frame not found")
    with pytest.raises(DataError, match="no CMVN stats for 'zz'"):
        Cmvn("scp:" + str(tmp_path / "cmvn.scp"), {k: "zz" for k in feats}).apply("utt000", feats["utt000"])


def assert_nothing_written(d):
    assert not os.path.exists(d / "egs")
    assert not [p for p in os.listdir(d) if p.startswith(".egs")]


def test_bad_inputs_leave_nothing(tmp_path):
    feats, alis = make_corpus(tmp_path, n=40)
    bad = dict(alis)
    k = next(k for k in feats if len(feats[k]) > 3)
    bad[k] = bad[k][:-2]
    with pytest.raises(DataError, match=f"'{k}'.*mismatch of more than 1"):
        make_egs(str(tmp_path / "feats.scp"), bad, str(tmp_path / "egs"), NPDF, opts())
    assert_nothing_written(tmp_path)
    few = {k: v for i, (k, v) in enumerate(alis.items()) if i % 3}
    with pytest.raises(DataError, match="no alignment.*max-missing-frac"):
        make_egs(str(tmp_path / "feats.scp"), few, str(tmp_path / "egs"), NPDF, opts())
    assert_nothing_written(tmp_path)
    with pytest.raises(DataError, match=f"'{k}': pdf-id 11 out of range"):
        make_egs(str(tmp_path / "feats.scp"), {**alis, k: np.full(len(feats[k]), 11, np.int32)},
                 str(tmp_path / "egs"), NPDF, opts())
    assert_nothing_written(tmp_path)
    nanfeats = dict(feats)
    nanfeats[k] = feats[k].copy()
    nanfeats[k][2, 1] = np.nan
    kaldiio.save_ark(str(tmp_path / "nan.ark"), nanfeats, scp=str(tmp_path / "nan.scp"))
    with pytest.raises(DataError, match=f"'{k}': non-finite feature value at frame 2, dim 1"):
        make_egs(str(tmp_path / "nan.scp"), alis, str(tmp_path / "egs"), NPDF, opts())
    assert_nothing_written(tmp_path)
    # a few missing (below the threshold) are skipped; pipe input works
    one_missing = {k2: v for k2, v in alis.items() if k2 != k}
    info = make_egs(f"ark:cat {tmp_path}/feats.ark |", one_missing, str(tmp_path / "egs"), NPDF,
                    opts(max_missing_frac=0.05))
    assert info["num_missing_alignments"] == 1
    # an existing egs dir is replaced; a foreign directory is not
    make_egs(str(tmp_path / "feats.scp"), alis, str(tmp_path / "egs"), NPDF, opts())
    assert EgsReader(str(tmp_path / "egs")).info["num_missing_alignments"] == 0
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x").write_text("mine")
    with pytest.raises(UserError, match="not an egs directory"):
        make_egs(str(tmp_path / "feats.scp"), alis, str(tmp_path / "other"), NPDF, opts())
    assert (tmp_path / "other" / "x").read_text() == "mine"
    with pytest.raises(DataError, match="not an egs directory"):
        EgsReader(str(tmp_path / "other"))


def test_cli_and_bad_tid(tmp_path, capsys):
    feats, alis = make_corpus(tmp_path, n=30)
    (tmp_path / "pdf.txt").write_text("".join(f"{k} {' '.join(map(str, v))}\n" for k, v in alis.items()))
    rc = cli_main(["get-egs", "--ali-is-pdf", "true", "--num-pdfs", str(NPDF), "--left-context", "2",
                   "--right-context", "2", "--num-utts-subset", "3", str(tmp_path / "feats.scp"),
                   f"ark,t:{tmp_path}/pdf.txt", str(tmp_path / "egs")])
    assert rc == 0
    r = EgsReader(str(tmp_path / "egs"))
    assert r.info["num_valid_utts"] == 3 and r.num_pdfs == NPDF
    rc = cli_main(["get-egs", "--ali-is-pdf", "true", "--num-pdfs", "5", str(tmp_path / "feats.scp"),
                   f"ark,t:{tmp_path}/pdf.txt", str(tmp_path / "egs2")])
    assert rc == 1 and "out of range" in capsys.readouterr().err
    # transition-id alignments against a transition model that is too small for them
    write_ali(tmp_path / "ali.1.gz", {k: v + 1 for k, v in alis.items()})
    with pytest.raises(DataError, match=r"transition-id \d+ is out of range .*10 transition-ids"):
        get_egs(str(tmp_path / "feats.scp"), str(tmp_path / "ali.1.gz"), str(tmp_path / "egs3"),
                transition_model=TINY_MDL)
    assert not os.path.exists(tmp_path / "egs3")
    with pytest.raises(UserError, match="--transition-model"):
        get_egs(str(tmp_path / "feats.scp"), str(tmp_path / "ali.1.gz"), str(tmp_path / "egs3"))


TINY_MDL = os.path.join(os.path.dirname(__file__), "data", "tiny_sigmoid.mdl.txt")


def _other_tree(tm):
    """The same topology and number of transition-ids and pdfs, but another tree: the pdfs of two
    states swapped, so every transition-id is still in range and means something else."""
    from nnet2.io.transition_model import TransitionModel

    t = tm.tuples.copy()
    t[[1, 3], 2:] = t[[3, 1], 2:]
    return TransitionModel(tm.topology, t, tm.log_probs)


def test_alignments_from_another_tree_are_refused(tmp_path):
    """Issue #14 item 8: alignments whose transition-ids fit the given model but were made with a
    different tree (Kaldi keeps that model as final.mdl beside ali.*.gz) are refused, and so is
    training a model of another tree on egs made with the first (same pdf count)."""
    from nnet2.data.egs import load_transition_model

    tm = load_transition_model(TINY_MDL)
    other = _other_tree(tm)
    assert other.num_pdfs == tm.num_pdfs and other.identity() != tm.identity()
    rng = np.random.default_rng(0)
    feats = {f"u{i:02d}": rng.standard_normal((20, 3)).astype(np.float32) for i in range(12)}
    from nnet2.io.table import write_table

    write_table(f"ark,scp:{tmp_path}/f.ark,{tmp_path}/feats.scp", feats, "matrix")
    alidir = tmp_path / "ali"
    alidir.mkdir()
    write_ali(alidir / "ali.1.gz", {k: rng.integers(1, 11, size=20).astype(np.int32) for k in feats})
    (alidir / "final.mdl").write_bytes(other.to_bytes(binary=True))
    with pytest.raises(DataError, match="transition model .*differs from --transition-model"):
        get_egs(str(tmp_path / "feats.scp"), str(alidir / "ali.1.gz"), str(tmp_path / "egs"),
                transition_model=TINY_MDL)
    assert not os.path.exists(tmp_path / "egs")
    # the alignment directory's own model (same identity, other transition probabilities) is fine
    same = type(tm)(tm.topology, tm.tuples, tm.log_probs * 0.5)
    assert same.identity() == tm.identity()
    (alidir / "final.mdl").write_bytes(same.to_bytes(binary=False))
    info = get_egs(str(tmp_path / "feats.scp"), str(alidir / "ali.1.gz"), str(tmp_path / "egs"),
                   transition_model=TINY_MDL, opts=EgsOptions(left_context=0, right_context=0,
                                                              num_utts_subset=2))
    assert info["transition_model_id"] == tm.identity()
    # training a model of the other tree on these egs is refused before anything is written
    from nnet2.nnet.model import load_model, save_model
    from nnet2.train.trainer import TrainOptions, Trainer

    m = load_model(TINY_MDL)
    m.transition_model = other
    save_model(m, str(tmp_path / "other.mdl"), binary=True)
    with pytest.raises(UserError, match="different transition model"):
        Trainer(str(tmp_path / "egs"), str(tmp_path / "other.mdl"), str(tmp_path / "run"), TrainOptions())
    assert not os.path.exists(tmp_path / "run")


def test_lda_stats_from_egs(egs):
    d, feats, alis, info = egs
    r = EgsReader(str(d / "egs"))
    st = lda_stats_from_egs(str(d / "egs"), silence_pdfs=[0])
    X, y = next(r.iter_minibatches(0, 0, 10**6))
    keep = y != 0
    mu = X[keep].astype(np.float64).mean(0)
    np.testing.assert_allclose(st.covariances()[2], mu, rtol=1e-6, atol=1e-6)
    assert st.counts.sum() == keep.sum() and st.counts[0] == 0


@pytest.mark.parametrize("nw,mb,block", [(1, 16, 16384), (2, 7, 40), (3, 16, 5)])
def test_seek_gives_the_same_minibatches(egs, nw, mb, block):
    """iter_minibatches(start=s) yields exactly minibatches s.. of a full read (blocks smaller and larger
    than archive pieces), without gathering the examples before s."""
    d = egs[0]
    r = EgsReader(str(d / "egs"))
    for w in range(nw):
        full = list(r.iter_minibatches(w, 1, mb, num_workers=nw, block=block))
        for s in (0, 1, len(full) // 2, len(full) - 1, len(full)):
            part = list(r.iter_minibatches(w, 1, mb, num_workers=nw, block=block, start=s))
            assert len(part) == len(full) - s
            for (X1, y1), (X2, y2) in zip(full[s:], part):
                np.testing.assert_array_equal(X1, X2)
                np.testing.assert_array_equal(y1, y2)
    with pytest.raises(UserError, match="out of range"):
        next(r.iter_minibatches(0, 1, mb, num_workers=nw, start=10**6))


def test_seek_does_not_gather_earlier_examples(egs, monkeypatch):
    import nnet2.data.egs as E

    d = egs[0]
    r = EgsReader(str(d / "egs"))
    gathered = []
    real = E._gather_index
    monkeypatch.setattr(E, "_gather_index", lambda f, i, left, right: (gathered.append(len(i)), real(f, i, left, right))[1])
    n = sum(len(y) for _, y in r.iter_minibatches(0, 0, 16, start=20))
    assert sum(gathered) == n == r.num_frames - 20 * 16


def test_read_ahead_yields_the_same_items_raises_in_place_and_stops_when_closed():
    """The background read-ahead of the egs blocks (nnet2.data.egs._read_ahead): the generator's items in
    order; its exception where its item would have come (the items before it delivered); and an early close
    (a training iteration that stops at its last minibatch) ends the thread instead of leaving it blocked."""
    import threading

    from nnet2.data.egs import _read_ahead

    assert list(_read_ahead(iter(range(50)))) == list(range(50))
    assert list(_read_ahead(x for x in ())) == []

    def failing():
        yield 1
        yield 2
        raise DataError("egs archive 3 is truncated")

    got = []
    with pytest.raises(DataError, match="truncated"):
        for x in _read_ahead(failing()):
            got.append(x)
    assert got == [1, 2]

    closed = threading.Event()
    produced = []

    def endless():
        try:
            i = 0
            while True:
                produced.append(i)
                yield i
                i += 1
        finally:
            closed.set()

    g = _read_ahead(endless())
    assert [next(g) for _ in range(3)] == [0, 1, 2]
    g.close()
    assert closed.wait(10), "the producer was not closed"
    assert not any(t.name == "nnet2-egs-read-ahead" and t.is_alive() for t in threading.enumerate())
    # at most the item in the queue and the one waiting to enter it: no block is gathered after the close
    assert len(produced) <= 5, produced


def test_closing_iter_minibatches_ends_its_read_ahead(egs):
    """A training iteration closes its minibatch generator when it stops early or a step raises
    (nnet2.train.trainer: contextlib.closing), and that ends the background read-ahead at once."""
    import threading

    r = EgsReader(str(egs[0] / "egs"))
    g = r.iter_minibatches(0, 0, 4, block=8)
    next(g)
    assert any(t.name == "nnet2-egs-read-ahead" and t.is_alive() for t in threading.enumerate())
    g.close()
    assert not any(t.name == "nnet2-egs-read-ahead" and t.is_alive() for t in threading.enumerate())
