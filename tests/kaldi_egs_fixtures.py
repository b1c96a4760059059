"""Tiny Kaldi-format egs (NnetExample archives written by our writer, laid out as Kaldi's get_egs.sh /
get_egs2.sh lay them out), for tests/test_kaldi_egs.py."""

from __future__ import annotations

import os

import numpy as np

NPDF, DIM, CTX = 5, 3, 1


def utterances(n_utts: int = 12, seed: int = 0) -> dict:
    """{utt: (feats float32 [T, DIM], pdfs int32 [T])}; the pdf of a frame is a fixed function of its
    context, so it can be learnt."""
    rng = np.random.default_rng(seed)
    proj = rng.standard_normal((DIM * 3, NPDF))
    out = {}
    for i in range(n_utts):
        t = int(rng.integers(15, 30))
        x = rng.standard_normal((t, DIM)).astype(np.float32)
        xp = np.concatenate([x[:1], x, x[-1:]])
        ctx = np.concatenate([xp[:-2], xp[1:-1], xp[2:]], axis=1)
        out[f"utt{i:02d}"] = (x, np.argmax(ctx @ proj, axis=1).astype(np.int32))
    return out


def examples(utts: dict, left: int = CTX, right: int = CTX, frames_per_eg: int = 1, soft_every: int = 0):
    """(key, NnetExample) as nnet-get-egs makes them: key utt-t, input rows t-left .. t+frames_per_eg-1+right
    clamped to the utterance. soft_every=k: every k-th example gets two weighted labels on its frames."""
    from nnet2.io.nnet_example import NnetExample

    out = []
    for utt, (x, pdf) in utts.items():
        T = len(x)
        for t in range(0, T, frames_per_eg):
            nf = min(frames_per_eg, T - t)
            rows = np.clip(np.arange(t - left, t + nf + right), 0, T - 1)
            labels = [[(int(pdf[t + k]), 1.0)] for k in range(nf)]
            if soft_every and len(out) % soft_every == 0:
                labels = [[(int(pdf[t + k]), 0.75), (int((pdf[t + k] + 1) % NPDF), 0.25)] for k in range(nf)]
            out.append((f"{utt}-{t}", NnetExample.from_frames(labels, x[rows], left)))
    return out


def write_ark(path: str, egs, binary: bool = True) -> str:
    from nnet2.io.table import write_table

    write_table(("ark:" if binary else "ark,t:") + path, egs, kind="nnet_example")
    return path


def make_get_egs_dir(d: str, num_jobs: int = 2, seed: int = 0) -> str:
    """A get_egs.sh-style egs dir: egs.J.0.ark (examples dealt round-robin to J jobs, shuffled),
    valid_diagnostic.egs, train_diagnostic.egs, combine.egs, num_jobs_nnet, iters_per_epoch."""
    utts = utterances(14, seed)
    names = sorted(utts)
    valid = {u: utts[u] for u in names[:2]}
    train = {u: utts[u] for u in names[2:]}
    rng = np.random.default_rng(seed + 1)
    tr = examples(train)
    os.makedirs(d, exist_ok=True)
    for j in range(num_jobs):
        part = tr[j::num_jobs]
        part = [part[i] for i in rng.permutation(len(part))]
        write_ark(os.path.join(d, f"egs.{j + 1}.0.ark"), part)
    write_ark(os.path.join(d, "valid_diagnostic.egs"), examples(valid))
    sub = [tr[i] for i in rng.choice(len(tr), 60, replace=False)]
    write_ark(os.path.join(d, "train_diagnostic.egs"), sub[:30])
    write_ark(os.path.join(d, "combine.egs"), sub[30:])
    for name, val in (("num_jobs_nnet", num_jobs), ("iters_per_epoch", 1), ("samples_per_iter", len(tr) // num_jobs)):
        with open(os.path.join(d, name), "w") as f:
            f.write(f"{val}\n")
    return d


def make_get_egs2_dir(d: str, frames_per_eg: int = 3, seed: int = 0) -> str:
    """A get_egs2.sh-style egs dir: egs.N.ark with multi-frame examples and info/ files."""
    utts = utterances(14, seed)
    names = sorted(utts)
    tr = examples({u: utts[u] for u in names[2:]}, frames_per_eg=frames_per_eg)
    os.makedirs(os.path.join(d, "info"), exist_ok=True)
    for n in range(2):
        write_ark(os.path.join(d, f"egs.{n + 1}.ark"), tr[n::2])
    write_ark(os.path.join(d, "valid_diagnostic.egs"), examples({u: utts[u] for u in names[:2]}))
    write_ark(os.path.join(d, "train_diagnostic.egs"), examples({u: utts[u] for u in names[2:4]}))
    write_ark(os.path.join(d, "combine.egs"), examples({u: utts[u] for u in names[4:6]}))
    for name, val in (("num_archives", 2), ("frames_per_eg", frames_per_eg), ("feat_dim", DIM),
                      ("ivector_dim", 0), ("left_context", CTX), ("right_context", CTX),
                      ("num_frames", sum(len(utts[u][0]) for u in names[2:]))):
        with open(os.path.join(d, "info", name), "w") as f:
            f.write(f"{val}\n")
    return d
