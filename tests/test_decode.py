"""Decoding graph, FasterDecoder over expanded pdf scores, WER scoring and tuning.

A quick FSDD subset (prepare_fsdd quick + MFCC + a short monophone training, ~3 s) is built once
per session; the GMM's own log-likelihoods are decoded through the graph as an end-to-end check."""

import math
import os

import numpy as np
import pytest

from nnet2.cli import main
from nnet2.corpora.fsdd import FsddOptions, default_fsdd_dir, prepare_fsdd
from nnet2.decode import (
    DecodeOptions,
    Decoder,
    Graph,
    GraphOptions,
    WerResult,
    add_word_penalty,
    build_hclg,
    compute_wer,
    decode_dir,
    decode_set,
    decode_utterance,
    expand_to_tids,
    gmm_loglikes,
    gmm_loglikes_for_data,
    make_graph,
    pseudo_loglikes,
    read_text,
    score_texts,
    tune,
)
from nnet2.decode.graph import digit_loop_grammar_text
from nnet2.feat import MfccOptions, compute_cmvn_stats, make_feats
from nnet2.gmm import MonoOptions, load_mono_model, read_alignments, train_mono_and_align
from nnet2.utils.errors import DataError, UserError


@pytest.fixture(scope="session")
def sysdir(tmp_path_factory):
    try:
        fsdd = default_fsdd_dir()
    except UserError:
        pytest.skip("FSDD not available")
    root = tmp_path_factory.mktemp("fsdd_dec")
    prepare_fsdd(str(root), FsddOptions(fsdd_dir=fsdd, quick=True))
    o = MfccOptions.from_argv(["--use-energy=false", "--sample-frequency=8000", "--dither=0"])
    for s in ("train", "test"):
        d = str(root / "data" / s)
        make_feats(d, o, str(root / "mfcc"), nj=1)
        compute_cmvn_stats(d, str(root / "mfcc"))
    train_mono_and_align(str(root / "data" / "train"), str(root / "data" / "lang"),
                         str(root / "exp" / "mono"), MonoOptions(num_iters=20, max_iter_inc=15, tot_gauss=400))
    make_graph(str(root / "data" / "lang"), str(root / "exp" / "mono"), str(root / "exp" / "graph"))
    return root


@pytest.fixture(scope="session")
def test_ll(sysdir):
    return gmm_loglikes_for_data(str(sysdir / "exp" / "mono"), str(sysdir / "data" / "test"))


def test_graph_dir(sysdir):
    g = Graph(str(sysdir / "exp" / "graph"))
    m = load_mono_model(str(sysdir / "exp" / "mono"))
    assert g.num_pdfs == m.tm.num_pdfs == 62
    assert len(g.tid2pdf) == m.tm.num_transition_ids
    assert (g.tid2pdf == np.asarray(m.tm.transition_id_to_pdf_array())[1:]).all()
    import kaldifst

    ilabels, olabels = set(), set()
    for s in range(g.fst.num_states):
        for a in kaldifst.ArcIterator(g.fst, s):
            ilabels.add(a.ilabel)
            olabels.add(a.olabel)
    assert ilabels - {0} <= set(range(1, m.tm.num_transition_ids + 1))
    digits = {g.words[w] for w in ("zero", "one", "two", "three", "four", "five", "six", "seven",
                                   "eight", "nine")}
    assert olabels - {0} == digits  # never !SIL, #0, <s>, </s>
    magic = (sysdir / "exp" / "graph" / "HCLG.fst").read_bytes()[:4]
    assert magic == b"\xd6\xfd\xb2\x7e"  # OpenFst magic number


def test_grammar_text():
    t = digit_loop_grammar_text([2, 3], 0.5).splitlines()
    c = f"{math.log(2) + 0.5:.6f}"
    assert t == [f"0 1 2 2 {c}", f"0 1 3 3 {c}", f"1 1 2 2 {c}", f"1 1 3 3 {c}", "1"]


def test_gmm_loglikes_match_kaldi(sysdir, test_ll):
    m = load_mono_model(str(sysdir / "exp" / "mono"))
    from nnet2.feat.make_feats import load_cmvn_feats

    u, x = next(iter(load_cmvn_feats(str(sysdir / "data" / "test"), deltas=True)))
    ll = gmm_loglikes(m.am, x[:5])
    ref = np.array([[m.am.log_likelihood(p, x[t]) for p in range(m.am.num_pdfs)] for t in range(5)])
    np.testing.assert_allclose(ll, ref, rtol=1e-5, atol=1e-3)  # Kaldi's side is float32
    np.testing.assert_allclose(test_ll[u][:5], ll, rtol=1e-6, atol=1e-4)


def test_gmm_decode_wer(sysdir, test_ll, tmp_path):
    stats = decode_dir(str(sysdir / "exp" / "graph"), test_ll, str(tmp_path / "dec"),
                       DecodeOptions(acwt=0.1, beam=15.0), ref_text=str(sysdir / "data" / "test" / "text"))
    print(f"GMM WER on the quick test subset: {stats['wer']:.2f}% ({stats['utterances']} utts)")
    assert stats["wer"] < 30.0
    assert stats["not_final"] == 0
    hyp = read_text(str(tmp_path / "dec" / "hyp.txt"))
    assert set(hyp) == set(test_ll)
    assert (tmp_path / "dec" / "wer").read_text().startswith("%WER ")


def test_synthetic_reference_path_decodes_exactly(sysdir):
    """Scores 0 on each frame's reference pdf and -10 elsewhere: the best path is the reference."""
    g = Graph(str(sysdir / "exp" / "graph"))
    alis = read_alignments(str(sysdir / "exp" / "mono" / "ali.1.gz"))
    refs = read_text(str(sysdir / "data" / "train" / "text"))
    dec = Decoder(g.fst, g.tid2pdf, beam=15.0)
    for u in sorted(alis)[:12]:
        pdfs = g.tid2pdf[alis[u] - 1]
        ll = np.full((len(pdfs), g.num_pdfs), -10.0, np.float32)
        ll[np.arange(len(pdfs)), pdfs] = 0.0
        r = dec.decode(ll, acwt=1.0, utt=u)
        assert g.words_of(r.words) == refs[u], u
        assert r.reached_final
        assert (g.tid2pdf[np.asarray(r.alignment) - 1] == pdfs).all(), u
        assert r.acoustic_cost == pytest.approx(0.0, abs=1e-4)
    # The functional wrapper gives the same words.
    assert g.words_of(decode_utterance(g, ll, g.tid2pdf, acwt=1.0)) == refs[u]


def test_expand_to_tids():
    ll = np.arange(12, dtype=np.float32).reshape(3, 4)
    t2p = np.array([0, 0, 3, 1, 2, 2])
    m = expand_to_tids(ll, t2p, 0.5)
    assert m.shape == (3, 6) and m.dtype == np.float32 and m.flags.c_contiguous
    np.testing.assert_array_equal(m, 0.5 * ll[:, t2p])
    import kaldi_hmm_gmm as khg

    d = khg.DecodableCtc(m)
    assert d.log_likelihood(2, 3) == m[2, 2]  # 1-based transition-id -> column tid-1


def test_word_penalty_on_graph_equals_grammar_cost(sysdir, test_ll):
    lang_dir, mono = str(sysdir / "data" / "lang"), str(sysdir / "exp" / "mono")
    from nnet2.gmm.lang import Lang

    lang, sysm = Lang(lang_dir), load_mono_model(mono)
    g = Graph(str(sysdir / "exp" / "graph"))
    for p in (-2.0, 1.5):
        in_g = build_hclg(lang, sysm, GraphOptions(word_ins_penalty=p))
        after = add_word_penalty(g.fst, p)
        d1, d2 = Decoder(in_g, g.tid2pdf), Decoder(after, g.tid2pdf)
        for u in sorted(test_ll)[:6]:
            r1, r2 = d1.decode(test_ll[u], 0.1, u), d2.decode(test_ll[u], 0.1, u)
            assert r1.words == r2.words
            assert r1.graph_cost + r1.acoustic_cost == pytest.approx(r2.graph_cost + r2.acoustic_cost,
                                                                     abs=1e-2)
    # A huge penalty leaves one word per utterance (the grammar's minimum); a huge bonus inserts.
    few = decode_set(g, test_ll, DecodeOptions(word_ins_penalty=100.0))[0]
    many = decode_set(g, test_ll, DecodeOptions(word_ins_penalty=-30.0))[0]
    refs = read_text(str(sysdir / "data" / "test" / "text"))
    assert all(len(h) == 1 for h in few.values())
    assert sum(map(len, many.values())) > sum(map(len, refs.values()))


def test_posteriors_with_priors(sysdir, test_ll):
    g = Graph(str(sysdir / "exp" / "graph"))
    rng = np.random.default_rng(0)
    priors = rng.uniform(0.5, 1.5, g.num_pdfs)
    priors /= priors.sum()
    post = {}
    for u in sorted(test_ll)[:4]:
        z = test_ll[u].astype(np.float64) * 0.1
        p = np.exp(z - z.max(1, keepdims=True))
        post[u] = (p / p.sum(1, keepdims=True)).astype(np.float32)
    post[u][0, 0] = 0.0  # floored at 1e-20, as DecodableAmNnet
    ref = np.log(np.maximum(post[u].astype(np.float64), 1e-20)) - np.log(priors)
    np.testing.assert_allclose(pseudo_loglikes(post[u], priors, u), ref, rtol=1e-6)
    a = decode_set(g, post, priors=priors)[0]
    b = decode_set(g, {k: pseudo_loglikes(v, priors) for k, v in post.items()})[0]
    assert a == b


def test_ark_source_and_cli(sysdir, test_ll, tmp_path, capsys):
    import kaldiio

    ark = str(tmp_path / "ll.ark")
    kaldiio.save_ark(ark, {u: test_ll[u] for u in sorted(test_ll)})
    graph = str(sysdir / "exp" / "graph")
    ref = str(sysdir / "data" / "test" / "text")
    assert main(["decode", "--ref", ref, graph, f"ark:{ark}", str(tmp_path / "d1")]) == 0
    assert main(["decode", "--data", str(sysdir / "data" / "test"), graph,
                 str(sysdir / "exp" / "mono"), str(tmp_path / "d2")]) == 0
    h1 = (tmp_path / "d1" / "hyp.txt").read_text()
    assert h1 == (tmp_path / "d2" / "hyp.txt").read_text()
    capsys.readouterr()
    assert main(["score", "--replications", "200", ref, str(tmp_path / "d1" / "hyp.txt")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("%WER ") and "95% CI" in out
    assert main(["make-graph", str(sysdir / "data" / "lang"), str(sysdir / "exp" / "mono"),
                 str(tmp_path / "g")]) == 0
    assert (tmp_path / "g" / "HCLG.fst").read_bytes() == (sysdir / "exp" / "graph" / "HCLG.fst").read_bytes()


def test_tune_on_dev(sysdir):
    """Dev = part of train (the GMM saw it: only a functional test of the grid search)."""
    g = Graph(str(sysdir / "exp" / "graph"))
    refs = dict(list(read_text(str(sysdir / "data" / "train" / "text")).items())[:10])
    ll = gmm_loglikes_for_data(str(sysdir / "exp" / "mono"), str(sysdir / "data" / "train"))
    best = tune(g, ll, refs, acwts=(0.05, 0.1), penalties=(0.0, 1.0))
    assert len(best["table"]) == 4
    assert best["wer"] == min(t[2] for t in best["table"])
    assert best["acwt"] in (0.05, 0.1) and best["word_ins_penalty"] in (0.0, 1.0)


# ------------------------------------------------------------------------------------------------
# Bad input

def test_wrong_columns_missing_utt_nan(sysdir, test_ll, tmp_path):
    graph = str(sysdir / "exp" / "graph")
    ref = str(sysdir / "data" / "test" / "text")
    u0 = min(test_ll)
    bad = dict(test_ll)
    bad[u0] = test_ll[u0][:, :-1]
    with pytest.raises(DataError, match=f"utterance '{u0}': log-likelihoods have 61 columns.*62 pdfs"):
        decode_dir(graph, bad, str(tmp_path / "o"), ref_text=ref)
    bad = dict(test_ll)
    del bad[u0]
    with pytest.raises(DataError, match=f"utterance '{u0}' of .*text is missing"):
        decode_dir(graph, bad, str(tmp_path / "o"), ref_text=ref)
    bad = dict(test_ll)
    bad[u0] = test_ll[u0].copy()
    bad[u0][3, 5] = np.nan
    with pytest.raises(DataError, match=f"utterance '{u0}': NaN/Inf log-likelihood at frame 3"):
        decode_dir(graph, bad, str(tmp_path / "o"))
    assert not os.path.exists(tmp_path / "o" / "hyp.txt")
    with pytest.raises(DataError, match="missing HCLG.fst"):
        Graph(str(tmp_path))
    with pytest.raises(UserError, match="not a Kaldi rspecifier"):
        decode_dir(graph, "ll.ark", str(tmp_path / "o"))
    rc = main(["decode", graph, str(sysdir / "exp" / "mono"), str(tmp_path / "o")])
    assert rc == 1  # a GMM source without --data


# ------------------------------------------------------------------------------------------------
# Scoring

def test_wer_hand_computed():
    refs = {"u1": ["a", "b", "c", "d"], "u2": ["e", "f"], "u3": ["g"]}
    hyps = {"u1": ["a", "x", "c", "d", "y"],   # 1 sub (b->x), 1 ins (y)
            "u2": ["f"],           # 1 del (e)
            "u3": ["g"]}           # correct
    r = compute_wer(refs, hyps)
    assert (r.ins, r.dels, r.subs, r.errors, r.ref_words) == (1, 1, 1, 3, 7)
    assert r.per_utt["u1"] == {"ref_len": 4, "ins": 1, "del": 0, "sub": 1, "total": 2}
    assert r.kaldi_lines() == ("%WER 42.86 [ 3 / 7, 1 ins, 1 del, 1 sub ]\n"
                               "%SER 66.67 [ 2 / 3 ]\n"
                               "Scored 3 sentences, 0 not present in hyp.\n")
    assert "u1 op   C S C C I\nu1 #csid 3 1 1 0\n" in r.per_utt_lines()
    ci = r.interval(2000, seed=1)
    assert ci == r.interval(2000, seed=1)  # seeded
    assert ci.value == pytest.approx(100 * 3 / 7) and 0.0 <= ci.lo <= ci.value <= ci.hi
    # Missing hypotheses.
    with pytest.raises(DataError, match="utterance 'u3' of the reference has no hypothesis"):
        compute_wer(refs, {"u1": hyps["u1"], "u2": hyps["u2"]})
    r = compute_wer(refs, {"u1": hyps["u1"], "u2": hyps["u2"]}, mode="all")
    assert (r.errors, r.ref_words, r.missing) == (4, 7, ["u3"])
    assert "[PARTIAL]" in r.kaldi_lines() and "1 not present" in r.kaldi_lines()
    r = compute_wer(refs, {"u1": hyps["u1"], "u2": hyps["u2"]}, mode="present")
    assert (r.errors, r.ref_words) == (3, 6)
    with pytest.raises(DataError, match="utterance 'zz' of the hypothesis is not in the reference"):
        compute_wer(refs, {**hyps, "zz": ["a"]})
    assert WerResult().wer == 0.0


def test_score_texts_files(tmp_path):
    (tmp_path / "ref").write_text("u1 one two three\nu2 four\n")
    (tmp_path / "hyp").write_text("u1 one three\nu2\n")  # an empty hypothesis is a bare key
    r = score_texts(str(tmp_path / "ref"), str(tmp_path / "hyp"))
    assert (r.dels, r.ref_words) == (2, 4)
    r.write(str(tmp_path / "out"))
    assert (tmp_path / "out" / "wer").read_text().startswith("%WER 50.00 [ 2 / 4, 0 ins, 2 del, 0 sub ]")
    (tmp_path / "dup").write_text("u1 one\nu1 two\n")
    with pytest.raises(DataError, match="dup:2: duplicate key 'u1'"):
        score_texts(str(tmp_path / "ref"), str(tmp_path / "dup"))
