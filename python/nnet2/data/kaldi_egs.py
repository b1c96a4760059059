"""Kaldi's nnet2 egs: examples from an rspecifier formatted into network input, and egs directories made
by Kaldi's `steps/nnet2/get_egs.sh` (egs.J.K.ark) or `get_egs2.sh` (egs.N.ark + info/) for `nnet2 train`.

Formatting follows `FormatNnetInput` (src/nnet2/nnet-update.cc): an example holds input rows for its
left context, its labelled frame(s) and its right context; a network with left/right context L/R uses the
L+1+R rows starting at `eg.left_context - L` (extra context in the example is ignored), with the
example's `spk_info` appended to every row; the network's leading SpliceComponent then turns those rows
into one input row. Training uses the labels of the first (only) labelled frame, as Kaldi's training
code, which refuses multi-frame examples; `nnet2 train` on a get_egs2.sh directory splits each
multi-frame example into one example per frame, as `nnet-copy-egs --frame=k` does.
"""

from __future__ import annotations

import glob
import os
import re

import numpy as np

from nnet2.data.egs import EgsReader
from nnet2.io.table import read_table
from nnet2.data.labels import concat_labels, make_soft_labels, simplify_labels
from nnet2.utils.errors import DataError, UserError


def iter_examples(rspecifier: str):
    """(key, NnetExample) pairs of an rspecifier (`ark:egs.1.ark`, `scp:...`, `ark:- `, `ark:cmd |`)."""
    yield from read_table(rspecifier, kind="nnet_example", what="examples rspecifier")


def network_context(nnet) -> tuple[int, int]:
    """(left, right) context of the network; only a leading SpliceComponent may splice."""
    n_splice = sum(c.type_name == "SpliceComponent" for c in nnet.components)
    if n_splice > (1 if nnet.splice_component() is not None else 0):
        raise UserError("only networks whose sole SpliceComponent is the first component can be trained on egs")
    return nnet.left_context, nnet.right_context


def example_chunks(egs: list, left: int, right: int, frame: int = 0, where: str = "") -> np.ndarray:
    """FormatNnetInput: float32 [B, left+1+right, dim+spk_dim] input rows of labelled frame `frame` of
    each example."""
    rows = left + 1 + right
    dims = {(eg.input_frames.shape[1], eg.spk_info.size) for eg in egs}
    if len(dims) != 1:
        raise DataError(f"{where}examples of different dimensions (feature, spk-info) in one minibatch: "
                        f"{sorted(dims)}")
    (fdim, sdim), = dims
    out = np.empty((len(egs), rows, fdim + sdim), np.float32)
    for i, eg in enumerate(egs):
        start = eg.left_context - left + frame
        if eg.left_context < left or start + rows > eg.input_frames.shape[0]:
            raise DataError(f"{where}an example has left-context {eg.left_context} and right-context "
                            f"{eg.right_context}; the network needs {left} and {right}")
        out[i, :, :fdim] = eg.input_frames[start:start + rows]
        if sdim:
            out[i, :, fdim:] = eg.spk_info[None, :]
    return out


def chunks_to_input(nnet, chunks: np.ndarray) -> np.ndarray:
    """[B, L+1+R, D] rows -> [B, input of the component after the leading splice] (the splice applied
    to the central row, as the network's SpliceComponent does)."""
    sp = nnet.splice_component()
    left = nnet.left_context
    if sp is None:
        return np.ascontiguousarray(chunks[:, 0, :])
    if chunks.shape[2] != sp.input_dim:
        raise DataError(f"the examples have {chunks.shape[2]}-dim input rows but the network expects "
                        f"{sp.input_dim}")
    v = sp.input_dim - sp.const_component_dim
    idx = [left + c for c in sp.context]
    x = chunks[:, idx, :v].reshape(len(chunks), -1)
    if sp.const_component_dim:
        x = np.concatenate([x, chunks[:, left, v:]], axis=1)
    return np.ascontiguousarray(x, dtype=np.float32)


def example_labels(egs: list, frame: int = 0, where: str = ""):
    """Labels of labelled frame `frame` of each example: int32 [B] when simple, else soft labels."""
    return simplify_labels(make_soft_labels([eg.labels[frame] for eg in egs]))


def format_minibatch(nnet, egs: list, where: str = ""):
    """(X, labels) for a minibatch of one-frame examples (NnetExample, or (key, NnetExample) pairs), as
    Kaldi's training and nnet-compute-prob format them. Multi-frame examples are refused, as Kaldi's
    training code does; a pdf-id beyond the network's outputs is an error naming the example."""
    if egs and isinstance(egs[0], tuple):
        keys, egs = [k for k, _ in egs], [e for _, e in egs]
    else:
        keys = [f"#{i}" for i in range(len(egs))]
    for key, eg in zip(keys, egs):
        if len(eg.labels) != 1:
            raise DataError(f"{where}example '{key}' has {len(eg.labels)} labelled frames; training and "
                            f"nnet-compute-prob need one-frame examples (split them with nnet-copy-egs --frame)")
        for pdf, _ in eg.labels[0]:
            if not 0 <= pdf < nnet.output_dim:
                raise DataError(f"{where}example '{key}': pdf-id {pdf} is out of range for the network's "
                                f"{nnet.output_dim} outputs (egs from alignments of a different model?)")
    left, right = network_context(nnet)
    return chunks_to_input(nnet, example_chunks(egs, left, right, 0, where)), example_labels(egs, 0, where)


# ---------------------------------------------------------------------------------------------------
# Kaldi egs directories for `nnet2 train`


def is_kaldi_egs_dir(d: str) -> bool:
    return (not os.path.exists(os.path.join(d, "info.json")) and
            bool(glob.glob(os.path.join(d, "egs.*.ark"))))


def _archive_sort_key(path: str):
    return [int(t) for t in re.findall(r"\d+", os.path.basename(path))]


def _load_archive(path: str):
    """All examples of one archive, split into one-frame examples: (chunks [n, L+1+R, D], labels, L, R)."""
    chunks, labels, ctx, keys = [], [], None, []
    for key, eg in iter_examples(f"ark:{path}"):
        c = (eg.left_context, eg.right_context, eg.input_frames.shape[1] + eg.spk_info.size)
        if ctx is None:
            ctx = c
        elif c != ctx:
            raise DataError(f"{path}: example '{key}' has left/right context and input dim {c}, the first "
                            f"example of the archive {ctx}")
        for f in range(len(eg.labels)):
            chunks.append(example_chunks([eg], c[0], c[1], f, f"{path}: example '{key}': ")[0])
            labels.append(example_labels([eg], f))
            keys.append(key)
    if ctx is None:
        raise DataError(f"{path}: no examples")
    return np.stack(chunks), concat_labels(labels), ctx, keys


class KaldiEgsReader(EgsReader):
    """An egs directory written by Kaldi's get_egs.sh / get_egs2.sh, read into memory, with EgsReader's
    sharding, shuffling and minibatching (its archives are the training archives egs.*.ark in numeric
    order). Diagnostic sets: valid_diagnostic.egs, train_diagnostic.egs; combination: combine.egs."""

    def __init__(self, egs_dir: str, seed: int = 0):
        self.dir = os.fspath(egs_dir)
        paths = sorted(glob.glob(os.path.join(self.dir, "egs.*.ark")), key=_archive_sort_key)
        if not paths:
            raise DataError(f"{self.dir}: no egs.*.ark archives")
        self._arch = []
        ctx = None
        for p in paths:
            ch, lab, c, _ = _load_archive(p)
            if ctx is not None and c != ctx:
                raise DataError(f"{p}: examples with left/right context and input dim {c}, but {paths[0]} has {ctx}")
            ctx = c
            self._arch.append((ch, lab))
        self.left, self.right, self.feat_dim = ctx
        info_dir = os.path.join(self.dir, "info")
        for name, have in (("left_context", self.left), ("right_context", self.right)):
            f = os.path.join(info_dir, name)
            if os.path.exists(f):
                with open(f) as fh:
                    val = fh.read().strip()
                if val != str(have):
                    raise DataError(f"{f} says {val} but the examples have {have}")
        self.num_pdfs = None  # not recorded by Kaldi; labels are range-checked against the network
        self.input_dim = (self.left + 1 + self.right) * self.feat_dim
        self.archives = [{"name": os.path.basename(p)} for p in paths]
        self.sizes = np.array([len(a[1]) for a in self._arch], dtype=np.int64)
        self.num_frames = int(self.sizes.sum())
        self.info = {"seed": seed, "kaldi": True}
        self._cache = {}
        self._sets = {}
        self._keys = {}

    def _spliced(self, chunks: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(chunks.reshape(len(chunks), -1))

    def _blocks(self, pieces, rng: np.random.Generator, block: int, skip: int = 0):
        for a, s, e in pieces:
            ch, lab = self._arch[a]
            sel = s + rng.permutation(e - s)
            if skip >= e - s:
                skip -= e - s
                continue
            sel, skip = sel[skip:], 0
            for b in range(0, len(sel), block):
                idx = sel[b:b + block]
                yield self._spliced(ch[idx]), lab[idx]

    def _set(self, name: str):
        if name not in self._sets:
            path = os.path.join(self.dir, name)
            if not os.path.exists(path):
                self._sets[name] = (np.zeros((0, self.input_dim), np.float32), np.zeros(0, np.int32))
            else:
                ch, lab, c, keys = _load_archive(path)
                if c != (self.left, self.right, self.feat_dim):
                    raise DataError(f"{path}: examples with left/right context and input dim {c}, the "
                                    f"training archives {(self.left, self.right, self.feat_dim)}")
                self._sets[name] = (self._spliced(ch), lab)
                self._keys[name] = keys
        return self._sets[name]

    def valid_utterances(self) -> np.ndarray:
        """int [n]: the utterance of each valid_set example, from nnet-get-egs's keys `<utt>-<frame>`."""
        self._set("valid_diagnostic.egs")
        utts = [k.rsplit("-", 1)[0] for k in self._keys.get("valid_diagnostic.egs", [])]
        ids = {u: i for i, u in enumerate(dict.fromkeys(utts))}
        return np.array([ids[u] for u in utts], dtype=np.int64)

    def valid_set(self):
        return self._set("valid_diagnostic.egs")

    def train_diag_set(self):
        return self._set("train_diagnostic.egs")

    def combine_set(self):
        return self._set("combine.egs")

    def prior_examples(self, n: int):
        """The first n training examples in archive order (for the priors)."""
        xs, ys, have = [], [], 0
        for ch, lab in self._arch:
            take = min(n - have, len(lab))
            xs.append(self._spliced(ch[:take]))
            ys.append(lab[:take])
            have += take
            if have >= n:
                break
        return np.concatenate(xs), concat_labels(ys)


def open_egs(egs_dir: str):
    """EgsReader for our own egs directories (info.json), KaldiEgsReader for Kaldi's."""
    if not os.path.isdir(egs_dir):
        raise UserError(f"egs directory '{egs_dir}' does not exist")
    return KaldiEgsReader(egs_dir) if is_kaldi_egs_dir(egs_dir) else EgsReader(egs_dir)
