"""A tiny Switchboard-shaped Kaldi system in Kaldi's own formats, for the dbn-to-nnet and egs/swbd tests.

Layout (as egs/swbd/s5c leaves it):
  data/train_nodup/{wav.scp,segments,text,utt2spk,spk2utt,feats.scp,cmvn.scp}   13-dim "MFCC" (raw)
  data-fmllr-tri4/train_nodup/{utt2spk,spk2utt,feats.scp,...}                  40-dim "fMLLR" features
  exp/tri4_ali_nodup/{final.mdl,ali.1.gz,ali.2.gz,num_jobs,final.mat,splice_opts,cmvn_opts}

final.mdl is a text GMM model (TransitionModel from kaldi-hmm-gmm + AmDiagGmm). Alignments are
transition-id sequences walking each phone's HMM, and the features carry the pdf identity (a per-pdf
mean plus noise), so a small network can learn them.
"""

from __future__ import annotations

import os

import numpy as np

NUM_NONSIL_PHONES = 4  # phones 2..5 (3 states), silence phone 1 (5 states): 4*3 + 5 = 17 pdfs


def make_transition_model():
    """(kaldi_hmm_gmm.TransitionModel, topology text)."""
    import kaldi_hmm_gmm as khg

    from nnet2.gmm.lang import make_topo

    topo_text = make_topo(list(range(2, 2 + NUM_NONSIL_PHONES)), [1])
    topo = khg.HmmTopology()
    topo.read(topo_text)
    tree = khg.monophone_context_dependency(list(topo.phones), topo.get_phone_to_num_pdf_classes())
    return khg.TransitionModel(tree, topo), topo_text


def write_gmm_mdl(path: str, tm, dim: int, rng) -> None:
    """A text GMM final.mdl: TransitionModel + an AmDiagGmm of one Gaussian per pdf."""
    import kaldi_hmm_gmm as khg

    from nnet2.io.gmm_text import am_diag_gmm_text

    am = khg.AmDiagGmm()
    for _ in range(tm.num_pdfs):
        g = khg.DiagGmm(1, dim)
        g.set_weights(np.ones(1, np.float32))
        g.set_means(rng.standard_normal((1, dim)).astype(np.float32))
        g.set_invvars(np.ones((1, dim), np.float32))
        g.compute_gconsts()
        am.add_pdf(g)
    with open(path, "w") as f:
        f.write(str(tm) + am_diag_gmm_text(am))


def _alignment(tm, rng, num_phones: int) -> np.ndarray:
    """Transition-ids of a left-to-right walk through `num_phones` random phones' HMMs."""
    from nnet2.io.transition_model import TransitionModel

    t = TransitionModel.from_kaldi_hmm_gmm(tm)
    tids = []
    for _ in range(num_phones):
        phone = int(rng.integers(1, 2 + NUM_NONSIL_PHONES))
        # (tid, hmm_state) of this phone's transitions; take self-loops then the forward arc per state
        by_state: dict[int, list[int]] = {}
        for tid in range(1, t.num_transition_ids + 1):
            if t.tid2phone[tid] == phone:
                by_state.setdefault(int(t.tid2hmm_state[tid]), []).append(tid)
        for hs in sorted(by_state):
            loop, fwd = by_state[hs][0], by_state[hs][-1]
            tids += [loop] * int(rng.integers(1, 5)) + [fwd]
    return np.asarray(tids, np.int32)


def make_swbd_system(root: str, num_utts: int = 40, seed: int = 0) -> dict:
    """Write the fixture under `root`; returns {"num_pdfs", "utts", "tm_text"}."""
    import kaldiio

    from nnet2.data.alignments import write_ali
    from nnet2.data.datadir import c_sort_key

    rng = np.random.default_rng(seed)
    tm, _ = make_transition_model()
    from nnet2.io.transition_model import TransitionModel

    ntm = TransitionModel.from_kaldi_hmm_gmm(tm)
    ali_dir = os.path.join(root, "exp", "tri4_ali_nodup")
    data = os.path.join(root, "data", "train_nodup")
    fdata = os.path.join(root, "data-fmllr-tri4", "train_nodup")
    for d in (ali_dir, data, fdata, os.path.join(root, "mfcc"), os.path.join(fdata, "data")):
        os.makedirs(d, exist_ok=True)
    write_gmm_mdl(os.path.join(ali_dir, "final.mdl"), tm, 40, rng)

    pdf_means = rng.standard_normal((ntm.num_pdfs, 40)).astype(np.float32) * 2.0
    convs = [f"sw0{2001 + i}" for i in range(max(2, num_utts // 5))]
    utts, alis, fmllr, mfcc, seg = [], {}, {}, {}, {}
    for i in range(num_utts):
        spk = f"{convs[i % len(convs)]}-{'AB'[i % 2]}"
        start = 100 * i
        ali = _alignment(tm, rng, int(rng.integers(4, 9)))
        utt = f"{spk}_{start:06d}-{start + len(ali):06d}"
        utts.append(utt)
        alis[utt] = ali
        pdfs = ntm.tid2pdf[ali]
        fmllr[utt] = pdf_means[pdfs] + 0.5 * rng.standard_normal((len(ali), 40)).astype(np.float32)
        mfcc[utt] = (rng.standard_normal((len(ali), 13)) + 5.0).astype(np.float32)
        seg[utt] = (spk, start / 100.0, (start + len(ali)) / 100.0)
    utts.sort(key=c_sort_key)

    def write(path, lines):
        with open(path, "w") as f:
            f.writelines(line + "\n" for line in lines)

    spk_of = {u: u.split("_")[0] for u in utts}
    spks = sorted(set(spk_of.values()), key=c_sort_key)
    for d in (data, fdata):
        write(os.path.join(d, "utt2spk"), [f"{u} {spk_of[u]}" for u in utts])
        write(os.path.join(d, "spk2utt"), [f"{s} " + " ".join(u for u in utts if spk_of[u] == s) for s in spks])
        write(os.path.join(d, "text"), [f"{u} uh-huh yeah" for u in utts])
        write(os.path.join(d, "segments"), [f"{u} {seg[u][0]} {seg[u][1]:.2f} {seg[u][2]:.2f}" for u in utts])
        write(os.path.join(d, "wav.scp"), [f"{s} sph2pipe -f wav -p -c {1 if s.endswith('A') else 2} "
                                           f"/corpora/swb1/{s[:7]}.sph |" for s in spks])
    with kaldiio.WriteHelper(f"ark,scp:{root}/mfcc/raw_mfcc.ark,{data}/feats.scp") as w:
        for u in utts:
            w(u, mfcc[u])
    from nnet2.feat.cmvn import cmvn_stats

    with kaldiio.WriteHelper(f"ark,scp:{root}/mfcc/cmvn.ark,{data}/cmvn.scp") as w:
        for s in spks:
            w(s, cmvn_stats(np.concatenate([mfcc[u] for u in utts if spk_of[u] == s])))
    with kaldiio.WriteHelper(f"ark,scp:{fdata}/data/feats_fmllr.ark,{fdata}/feats.scp") as w:
        for u in utts:
            w(u, fmllr[u])
    half = len(utts) // 2
    write_ali(os.path.join(ali_dir, "ali.1.gz"), {u: alis[u] for u in utts[:half]})
    write_ali(os.path.join(ali_dir, "ali.2.gz"), {u: alis[u] for u in utts[half:]})
    write(os.path.join(ali_dir, "num_jobs"), ["2"])
    write(os.path.join(ali_dir, "splice_opts"), ["--left-context=3 --right-context=3"])
    write(os.path.join(ali_dir, "cmvn_opts"), [""])
    kaldiio.save_mat(os.path.join(ali_dir, "final.mat"), rng.standard_normal((40, 91)).astype(np.float32))
    return {"num_pdfs": ntm.num_pdfs, "utts": utts, "tm_text": str(tm), "num_frames": sum(map(len, alis.values()))}
