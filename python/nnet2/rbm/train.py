"""RBM pretraining of a DBN as Kaldi nnet1 runs it (`steps/nnet/pretrain_dbn.sh`,
`rbm-train-cd1-frmshuff`; Kaldi `egs/wsj/s5/steps/nnet/pretrain_dbn.sh`, `src/nnet/nnet-rbm.h`): a Gaussian-Bernoulli first RBM on globally normalized
spliced features, Bernoulli-Bernoulli RBMs above on the sigmoid outputs of the layers below, CD-1 with
nnet1's momentum/learning-rate schedule, frame-shuffled minibatches of 100.

Order: as pretrain_dbn.sh, the utterance list is shuffled once (`shuffle_list.pl --srand 777` of
feats.scp) and read in that order every epoch; frames then go through nnet1's buffer randomizer
(`randomizer_size` = 32768 frames by default): the buffer is filled with the next frames, shuffled,
emptied in minibatches, and the fewer-than-a-minibatch leftover is carried into the next buffer (also
across epochs); `randomizer_size=0` shuffles a whole epoch at once (in-memory data only). Data larger
than `input_cache_mb` is streamed from the features on every pass (`UtteranceSource`), so memory is
bounded by the buffer, not by the training set.
The shuffling generator is numpy's PCG64 seeded with `randomizer_seed` (not nnet1's std::rand, so the
order differs from Kaldi's); hidden states are sampled from the Philox stream (`_core.fill_uniform`).
Same inputs and seeds give the same DBN bit for bit on the CPU (for a fixed thread count, as OpenBLAS
sums in thread-dependent order).

`device="cuda"` (`pretrain-dbn --device cuda`) runs the CD-1 steps and the lower layers' forward passes
on the GPU with the same formulas and the same Philox stream (seed, offset): the GPU draws the very same
uniforms, so the sampled hidden states differ from the CPU's only where the GEMM rounding moves a
probability across its uniform. Shuffling, normalization statistics and initialization stay on the host.
"""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np
from tqdm import tqdm

from nnet2 import _core
from nnet2.device import activate, asarray_like, copy_into, to_device, to_host, xp_of
from nnet2.io import nnet1 as nnet1_io
from nnet2.io.nnet1 import AddShift, Rbm, Rescale, Splice
from nnet2.io.table import RandomAccessTable, parse_rspecifier, read_table
from nnet2.parallel.average import average_flat_
from nnet2.parallel.comm import local_rank
from nnet2.utils.errors import DataError, UserError
from nnet2.utils.log import get_logger
from nnet2.utils.options import opt


logger = get_logger("nnet2.rbm")


# --------------------------------------------------------------------------------------------- options
@dataclasses.dataclass
class RbmTrainOptions:
    """One RBM's CD-1 training (nnet1 `RbmTrainOptions` + `rbm-train-cd1-frmshuff` options)."""

    learn_rate: float = opt(0.4, "learning rate; the RBM steps with learn_rate*(1-m_k) (nnet1 --learn-rate)")
    momentum: float = opt(0.5, "initial momentum m_0")
    momentum_max: float = opt(0.9, "final momentum")
    momentum_steps: int = opt(40, "number of steps from momentum to momentum_max")
    momentum_step_period: int = opt(500000, "frames between momentum/learning-rate steps (nnet1: 500000; "
                                            "scale it down for small data)")
    l2_penalty: float = opt(0.0002, "L2 penalty on the weights (not on the biases)")
    with_bug: bool = opt(True, "as nnet1's default --with-bug=true: momentum jumps to momentum_max after the "
                               "first minibatch while the learning rate follows learn_rate*(1-m_k)")
    minibatch_size: int = opt(100, "frames per CD-1 step")
    randomizer_size: int = opt(32768, "frames in the shuffling buffer; 0 shuffles a whole epoch")
    randomizer_seed: int = opt(777, "seed of the frame shuffling")
    num_iters: int = opt(1, "epochs over the data")


@dataclasses.dataclass
class DbnOptions:
    """DBN pretraining (nnet1 `pretrain_dbn.sh` defaults)."""

    nn_depth: int = opt(6, "number of RBMs (hidden layers)")
    hid_dim: int = opt(2048, "hidden units per RBM")
    rbm_iter: int = opt(1, "epochs per Bernoulli RBM; the Gaussian first RBM gets twice as many")
    rbm_lrate: float = opt(0.4, "learning rate of the Bernoulli-Bernoulli RBMs")
    rbm_lrate_low: float = opt(0.01, "learning rate of the Gaussian-Bernoulli RBM")
    rbm_l2penalty: float = opt(0.0002, "L2 penalty on RBM weights")
    splice: int = opt(5, "frames of context on each side (the feature transform splices +-splice)")
    input_vis_type: str = opt("gauss", "visible type of the first RBM", choices=("gauss", "bern"))
    param_stddev_first: float = opt(0.1, "stddev of the first RBM's initial weights")
    param_stddev: float = opt(0.1, "stddev of the other RBMs' initial weights")
    minibatch_size: int = opt(100, "frames per CD-1 step")
    randomizer_size: int = opt(32768, "frames in the shuffling buffer; 0 shuffles a whole epoch")
    seed: int = opt(777, "seed of weight init, frame shuffling and hidden-state sampling")
    momentum_step_period: int = opt(500000, "frames between momentum/learning-rate steps (scale down for "
                                            "small data)")
    min_frames_per_layer: int = opt(0, "repeat the data so each RBM trains on at least this many frames "
                                       "(0: just rbm_iter epochs, as nnet1)")
    var_floor: float = opt(1e-10, "variance floor of the global mean/variance normalization")
    binary: bool = opt(True, "write the nnet1 files in Kaldi binary format")
    average_every: int = opt(0, "with several MPI workers: average the RBM parameters every K minibatches "
                                "(0: no averaging)")
    input_cache_mb: int = opt(1024, "hold the spliced frames (and each layer's input) in memory when they fit in "
                                    "this many MB; otherwise stream them from the features on every pass, holding "
                                    "only the shuffling buffer (bounded memory, the whole training set is used)")
    device: str = opt("cpu", "where the CD-1 steps and the lower layers' forward passes run",
                      choices=("cpu", "cuda"))
    gpu: int = opt(-1, "GPU index for --device cuda (-1 = the rank's local rank on its node modulo the number "
                       "of GPUs)")


# --------------------------------------------------------------------------------------------- schedule
class MomentumSchedule:
    """nnet1's momentum / learning-rate schedule (`src/nnetbin/rbm-train-cd1-frmshuff.cc`), stepped after each minibatch.

    Before the first minibatch: momentum m_0, rate learn_rate*(1-m_0). After every minibatch (frames
    counted over all epochs of the layer): k = frames // momentum_step_period, m_k = m_0 + k*(m_max-m_0)/steps
    (m_max once k > steps); when k grows (including the first minibatch, as nnet1 starts from k_prev = -1)
    rate = learn_rate*(1-m_k) and momentum = m_max (with_bug) or m_k. The explosion guard's x0.9 on the
    rate lasts until the next such change.
    """

    def __init__(self, o: RbmTrainOptions):
        self.o = o
        self.k_prev = -1
        self.frames = 0
        self.momentum = float(np.float32(o.momentum))
        self.lr = float(np.float32(o.learn_rate) * (np.float32(1) - np.float32(o.momentum)))

    def after_minibatch(self, num_frames: int) -> bool:
        o = self.o
        self.frames += num_frames
        step = np.float32((np.float32(o.momentum_max) - np.float32(o.momentum)) / np.float32(o.momentum_steps))
        k = self.frames // o.momentum_step_period
        m = np.float32(o.momentum_max) if k > o.momentum_steps else np.float32(o.momentum) + np.float32(k) * step
        if k > self.k_prev:
            self.k_prev = k
            self.lr = float(np.float32(o.learn_rate) * (np.float32(1) - m))
            self.momentum = float(np.float32(o.momentum_max) if o.with_bug else m)
            return True
        return False


# --------------------------------------------------------------------------------------------- shuffling
class FrameRandomizer:
    """Minibatches of frame indices over `num_iters` epochs of `num_frames` frames (see module doc)."""

    def __init__(self, num_frames: int, minibatch_size: int, randomizer_size: int, seed: int):
        if minibatch_size <= 0:
            raise UserError(f"minibatch size must be positive, got {minibatch_size}")
        self.n, self.mb, self.size, self.seed = num_frames, minibatch_size, randomizer_size, seed

    def num_minibatches(self, num_iters: int) -> int:
        return (num_iters * self.n) // self.mb

    def minibatches(self, num_iters: int):
        rng = np.random.Generator(np.random.PCG64(self.seed))
        total = num_iters * self.n
        pos = 0
        left = np.zeros(0, np.int64)
        while pos < total:
            want = (self.size - len(left)) if self.size > 0 else self.n
            take = max(min(want, total - pos), 1)
            new = (np.arange(pos, pos + take, dtype=np.int64)) % self.n
            pos += take
            buf = np.concatenate([left, new])
            buf = buf[rng.permutation(len(buf))]
            full = (len(buf) // self.mb) * self.mb
            for s in range(0, full, self.mb):
                yield buf[s:s + self.mb]
            left = buf[full:]


class BufferRandomizer:
    """nnet1's buffer randomizer over a *stream* of frame blocks (utterances), in bounded memory: the
    buffer is filled with the next `randomizer_size` frames of the stream (epoch after epoch), shuffled,
    emptied in minibatches, and the leftover is carried into the next buffer; at most randomizer_size +
    one block of frames are held. Over an array fed in order it yields exactly the minibatches of
    `FrameRandomizer` (same generator, same draws)."""

    def __init__(self, minibatch_size: int, randomizer_size: int, seed: int):
        if minibatch_size <= 0:
            raise UserError(f"minibatch size must be positive, got {minibatch_size}")
        if randomizer_size <= 0:
            raise UserError("streaming needs a bounded shuffling buffer (--randomizer-size > 0)")
        self.mb, self.size, self.seed = minibatch_size, randomizer_size, seed
        self.max_held = 0  # the most frames held at once (buffer + pending block), for tests and logs

    def minibatches(self, blocks):
        """blocks: an iterable of float32 [n, D] arrays (all epochs, in order) -> minibatches [mb, D]."""
        rng = np.random.Generator(np.random.PCG64(self.seed))
        left = None
        parts, have = [], 0
        for blk in blocks:
            p = 0
            while p < len(blk):
                want = self.size - (0 if left is None else len(left)) - have
                take = min(want, len(blk) - p)
                parts.append(blk[p:p + take])
                have += take
                p += take
                self.max_held = max(self.max_held, have + (0 if left is None else len(left)) + len(blk) - p)
                if have + (0 if left is None else len(left)) == self.size:
                    left = yield from self._flush(rng, left, parts)
                    parts, have = [], 0
        if have:
            left = yield from self._flush(rng, left, parts)

    def _flush(self, rng, left, parts):
        buf = np.concatenate(([left] if left is not None and len(left) else []) + parts)
        buf = buf[rng.permutation(len(buf))]
        full = (len(buf) // self.mb) * self.mb
        for s in range(0, full, self.mb):
            yield buf[s:s + self.mb]
        return buf[full:].copy()


class FrameSource:
    """Frames of RBM training, re-read every epoch: `blocks()` yields float32 [n, D] blocks in a fixed
    order; `num_frames`, `dim`. `ArraySource` holds them in memory; `UtteranceSource` streams utterances
    from disk."""

    num_frames: int
    dim: int

    def blocks(self):
        raise NotImplementedError


class ArraySource(FrameSource):
    def __init__(self, x: np.ndarray, block: int = 65536):
        self.x, self.block = x, block
        self.num_frames, self.dim = x.shape

    def blocks(self):
        for s in range(0, self.num_frames, self.block):
            yield self.x[s:s + self.block]


class UtteranceSource(FrameSource):
    """Utterances -> spliced (+-splice, edges repeated) and normalized (x + shift) * scale frames, one
    utterance per block, in nnet1's order: the utterance list shuffled once with `seed` (pretrain_dbn.sh:
    `shuffle_list.pl --srand 777` of feats.scp), then read in that order every epoch.

    `utts` is a list of arrays (in memory) or a `kaldiio.load_scp` mapping (read from disk on demand:
    only one utterance is held at a time)."""

    def __init__(self, utts, splice: int, seed: int):
        self.utts = utts
        keys = list(utts.keys()) if hasattr(utts, "keys") else list(range(len(utts)))
        self.order = [keys[i] for i in np.random.default_rng([seed, 5]).permutation(len(keys))]
        self.splice = splice
        self.shift = self.scale = None
        self.num_frames = self.dim = None

    def raw(self):
        for k in self.order:
            try:
                x = np.asarray(self.utts[k])
            except (OSError, ValueError, KeyError, EOFError) as e:
                raise DataError(f"cannot read the features of utterance {k}: {e}") from None
            if x.ndim != 2:
                raise DataError(f"utterance {k}: expected a matrix, got shape {x.shape}")
            if not np.all(np.isfinite(x)):
                raise DataError(f"utterance {k} contains NaN or Inf")
            if len(x):
                yield k, splice_utterance(x.astype(np.float32, copy=False), self.splice)

    def blocks(self):
        for _, x in self.raw():
            if self.shift is not None:
                x += self.shift
                x *= self.scale
            yield x


def _layer_blocks(source: FrameSource, layers, num_iters: int, chunk: int = 4096):
    """`num_iters` epochs of `source` pushed through sigmoid `layers`, block by block."""
    for _ in range(num_iters):
        for b in source.blocks():
            if not layers:
                yield b
                continue
            for s in range(0, len(b), chunk):
                yield _host_sigmoid_layers(b[s:s + chunk], layers)


def mean_activations(source: FrameSource, layers) -> np.ndarray:
    """Mean over all frames of the outputs of sigmoid `layers` (float64 [out]), streamed."""
    tot, n = None, 0
    for y in _layer_blocks(source, layers, 1):
        s = y.sum(0, dtype=np.float64)
        tot = s if tot is None else tot + s
        n += len(y)
    return tot / max(n, 1)


# --------------------------------------------------------------------------------------------- helpers
def _sigmoid_layers(x, layers):
    """x [N, D] -> sigmoid(... sigmoid(x W1^T + b1) ...) [N, out] through the core kernels, on the device
    of x (where the layers must be too)."""
    for W, b in layers:
        y = xp_of(x).empty((x.shape[0], W.shape[0]), np.float32)
        _core.affine_forward(x, W, b, y)
        _core.sigmoid_forward(y, y)
        x = y
    return x


def _host_sigmoid_layers(x: np.ndarray, layers) -> np.ndarray:
    """Host frames through `layers`, computed on the layers' device, back on the host."""
    return to_host(_sigmoid_layers(asarray_like(np.ascontiguousarray(x), layers[0][0]), layers))


def forward_in_chunks(data: np.ndarray, layers, chunk: int = 4096) -> np.ndarray:
    """Push all frames data [N, D] through sigmoid `layers` [(W [out,in], b [out]), ...] -> [N, out]
    (host arrays in and out; computed on the device the layers are on)."""
    if not layers:
        return data
    out = np.empty((data.shape[0], layers[-1][0].shape[0]), np.float32)
    for s in range(0, data.shape[0], chunk):
        out[s:s + chunk] = _host_sigmoid_layers(data[s:s + chunk], layers)
    return out


def _flat_rbm(rbm: Rbm) -> np.ndarray:
    """Move the RBM's parameters into one flat float32 buffer [H*V + V + H] (W, b_vis, b_hid are views)."""
    H, V = rbm.W.shape
    flat = np.concatenate([np.asarray(rbm.W, np.float32).ravel(), np.asarray(rbm.b_vis, np.float32),
                           np.asarray(rbm.b_hid, np.float32)])
    rbm.W = flat[:H * V].reshape(H, V)
    rbm.b_vis = flat[H * V:H * V + V]
    rbm.b_hid = flat[H * V + V:]
    return flat


def _stream_seed(*parts: int) -> int:
    s = np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint32)
    return int(s[0]) | (int(s[1]) << 32)


def _progress(total: int, desc: str, enabled: bool):
    return tqdm(total=total, desc=desc, unit="mb", disable=None if enabled else True, leave=False)


# --------------------------------------------------------------------------------------------- one RBM
def train_rbm(data, rbm: Rbm, opts: RbmTrainOptions, *, lower_layers=(), seed: int = 777,
              name: str = "rbm", comm=None, average_every: int = 0, input_cache_mb: int = 1024,
              progress: bool = True, device: str = "cpu") -> dict:
    """Train `rbm` in place with CD-1 (nnet1 rbm-train-cd1-frmshuff).

    data: [N, D] float32 frames (already normalized), or a `FrameSource` streaming them (then only the
    shuffling buffer and one block are held), pushed through `lower_layers` [(W [out, in], b [out])] as
    sigmoid layers to give the RBM's visible input [N, V]. The parameters end up as views of one flat
    buffer; with `comm` of size > 1 and average_every = K > 0 they are averaged over the ranks every K
    minibatches and at the end (each rank trains on its own `data`). device: "cpu" or "cuda" (the current
    GPU), where the steps run; `rbm` ends with host (numpy) arrays either way.
    Returns dict(epoch_mse = per-epoch mean squared reconstruction error per element, epoch_avg_loss =
    Kaldi's Mse AvgLoss 0.5*sum sq/frame, guard_hits, frames, lr, momentum, max_frames_held).
    """
    if isinstance(data, FrameSource):
        source = data
    else:
        data = np.asarray(data)
        if data.dtype != np.float32 or data.ndim != 2:
            raise DataError(f"{name}: training data must be a 2-D float32 array, got {data.dtype} {data.shape}")
        source = ArraySource(data)
    lower = [(np.ascontiguousarray(W, np.float32), np.ascontiguousarray(b, np.float32)) for W, b in lower_layers]
    in_dim = lower[-1][0].shape[0] if lower else source.dim
    if lower and lower[0][0].shape[1] != source.dim:
        raise DataError(f"{name}: data has {source.dim} columns, the first lower layer takes "
                        f"{lower[0][0].shape[1]}")
    if in_dim != rbm.input_dim:
        raise DataError(f"{name}: the RBM has {rbm.input_dim} visible units, its input has {in_dim} dims")
    N, mb, H, V = source.num_frames, opts.minibatch_size, rbm.output_dim, rbm.input_dim
    if N < mb:
        raise DataError(f"{name}: {N} frames is fewer than one minibatch of {mb}")
    gaussian = rbm.vis_type == "gauss"
    world = comm.Get_size() if comm is not None else 1
    rank = comm.Get_rank() if comm is not None else 0

    flat = _flat_rbm(rbm)
    if world > 1:
        comm.Bcast(flat, root=0)
    # What the steps update: `flat` itself on the CPU, a device copy (written back at the end) on a GPU.
    dflat = to_device(flat, device)
    W, b_vis, b_hid = dflat[:H * V].reshape(H, V), dflat[H * V:H * V + V], dflat[H * V + V:]
    xp = xp_of(dflat)
    dW = xp.zeros_like(W)
    db_vis = xp.zeros_like(b_vis)
    db_hid = xp.zeros_like(b_hid)
    pos_hid = xp.empty((mb, H), np.float32)
    neg_vis = xp.empty((mb, V), np.float32)
    neg_hid = xp.empty((mb, H), np.float32)
    lower = [(to_device(lw, device), to_device(lb, device)) for lw, lb in lower]

    if lower and isinstance(source, ArraySource) and N * in_dim * 4 <= input_cache_mb * 2**20:
        source, lower = ArraySource(forward_in_chunks(source.x, lower)), []  # the layer's input fits: cache it
    randomizer_seed = opts.randomizer_seed + rank
    if opts.randomizer_size > 0:
        rnd = BufferRandomizer(mb, opts.randomizer_size, randomizer_seed)
        batches = rnd.minibatches(_layer_blocks(source, lower, opts.num_iters))
    elif isinstance(source, ArraySource):  # shuffle whole epochs of an in-memory array
        rnd = FrameRandomizer(N, mb, 0, randomizer_seed)
        gather = np.empty((mb, source.dim), np.float32)

        def _whole_epochs():
            for idx in rnd.minibatches(opts.num_iters):
                np.take(source.x, idx, axis=0, out=gather)
                yield _host_sigmoid_layers(gather, lower) if lower else gather
        batches = _whole_epochs()
    else:
        raise UserError(f"{name}: streamed data needs a bounded shuffling buffer (--randomizer-size > 0)")
    total = (opts.num_iters * N) // mb
    averaging = world > 1 and average_every > 0
    if averaging:
        from mpi4py import MPI  # mpi4py.MPI initializes MPI when imported: import it on first use

        total = comm.allreduce(total, op=MPI.MIN)
    sched = MomentumSchedule(opts)
    sample_seed = _stream_seed(seed, rank)
    counter = 0
    sse_epoch = [0.0] * (opts.num_iters + 1)
    frames_epoch = [0] * (opts.num_iters + 1)
    guard_hits = 0
    # one progress bar per epoch: minibatch k belongs to epoch min(k*mb // N, num_iters - 1)
    ep_start = [min(total, -(-e * N // mb)) for e in range(opts.num_iters)] + [total]
    ep_start[-1] = total

    def epoch_bar(e: int):
        return _progress(ep_start[e + 1] - ep_start[e], f"{name} epoch {e + 1}/{opts.num_iters}", progress)

    bar = epoch_bar(0)
    logger.info(f"{name}: {V} -> {H} ({'Gaussian' if gaussian else 'Bernoulli'} visible), {N} frames, "
                f"{opts.num_iters} epochs, {total} minibatches of {mb}, learn rate {opts.learn_rate}")

    def log_epoch(e: int) -> None:
        if frames_epoch[e]:
            logger.info(f"{name}: epoch {e + 1}/{opts.num_iters}: reconstruction MSE "
                        f"{sse_epoch[e] / (frames_epoch[e] * V):.6g} per element (AvgLoss "
                        f"{0.5 * sse_epoch[e] / frames_epoch[e]:.6g} per frame), lr {sched.lr:.4g}, "
                        f"momentum {sched.momentum:.3g}, guard hits {guard_hits}")

    epoch = 0
    for k, vis in enumerate(batches):
        if k >= total:
            break
        e = min((k * mb) // N, opts.num_iters - 1)
        if e != epoch:
            if bar is not None:
                bar.close()
            log_epoch(epoch)
            epoch = e
            bar = epoch_bar(e)
        vis = to_device(np.ascontiguousarray(vis), device)
        r = _core.rbm_cd1_step(vis, W, b_vis, b_hid, dW, db_vis, db_hid, sched.lr, sched.momentum,
                               opts.l2_penalty, gaussian, sample_seed, counter, pos_hid, neg_vis, neg_hid)
        counter += mb * H
        sched.lr = r["lr"]
        if r["skipped"]:
            guard_hits += 1
            logger.warning(f"{name}: minibatch {k}: reconstruction std {r['neg_vis_std']:.4g} > 2 x data std "
                           f"{r['pos_vis_std']:.4g}: weights scaled down, momentum reset, lr -> {r['lr']:.4g}")
        sse_epoch[e] += r["sse"]
        frames_epoch[e] += mb
        sched.after_minibatch(mb)
        if averaging and (k + 1) % average_every == 0:
            average_flat_(comm, dflat)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    if averaging and total % average_every != 0:
        average_flat_(comm, dflat)
    if dflat is not flat:
        copy_into(flat, dflat)  # rbm.W, b_vis, b_hid are views of flat
    log_epoch(epoch)
    n_ep = opts.num_iters
    return dict(epoch_mse=[sse_epoch[i] / (frames_epoch[i] * V) for i in range(n_ep) if frames_epoch[i]],
                epoch_avg_loss=[0.5 * sse_epoch[i] / frames_epoch[i] for i in range(n_ep) if frames_epoch[i]],
                guard_hits=guard_hits, frames=sched.frames, lr=sched.lr, momentum=sched.momentum,
                max_frames_held=getattr(rnd, "max_held", N))


# --------------------------------------------------------------------------------------------- the DBN
def splice_utterance(x: np.ndarray, context: int) -> np.ndarray:
    """x [T, D] -> [T, (2*context+1)*D]: frames t-context .. t+context, utterance edges repeated."""
    T = x.shape[0]
    idx = np.clip(np.arange(T)[:, None] + np.arange(-context, context + 1)[None, :], 0, T - 1)
    return np.ascontiguousarray(x[idx].reshape(T, -1), dtype=np.float32)


def init_rbm(vis_dim: int, hid_dim: int, vis_type: str, param_stddev: float, seed: int,
             vis_mean: np.ndarray | None = None) -> Rbm:
    """nnet1 Rbm::InitData: W ~ N(0, stddev^2) [H, V], b_hid = 0, b_vis = 0 or logit(clip(vis_mean, 1e-4,
    0.9999)) (the mean activation of the input, for Bernoulli visibles)."""
    rng = np.random.default_rng(seed)
    W = (rng.standard_normal((hid_dim, vis_dim), dtype=np.float32) * np.float32(param_stddev)).astype(np.float32)
    b_vis = np.zeros(vis_dim, np.float32)
    if vis_mean is not None:
        p = np.clip(np.asarray(vis_mean, np.float64), 1e-4, 0.9999)
        b_vis = (np.log(p) - np.log1p(-p)).astype(np.float32)
    return Rbm(W, b_vis, np.zeros(hid_dim, np.float32), vis_type, "bern")


@dataclasses.dataclass
class DbnResult:
    feature_transform: list  # [Splice, AddShift, Rescale] nnet1 components
    rbms: list               # [Rbm, ...]
    history: list            # per layer: the dict returned by train_rbm

    @property
    def dbn(self) -> list:
        """The DBN as nnet1 components (<AffineTransform>+<Sigmoid> per RBM)."""
        return [c for r in self.rbms for c in nnet1_io.rbm_to_components(r)]

    def layers(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return nnet1_io.dbn_to_layers(self.dbn)


DEAD_ACTIVATION = 0.01  # a hidden unit whose mean activation over the data is below this is "dead"


def _global_cmvn(src: "UtteranceSource", comm, var_floor: float) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Mean and std of the spliced frames (one streamed pass), the frame and utterance counts; checks
    every utterance (finite, one dimension)."""
    stats, dim, n_utts = None, None, 0
    for k, x in src.raw():
        if dim is None:
            dim = x.shape[1]
            stats = np.zeros((2, dim + 1), np.float64)
        elif x.shape[1] != dim:
            raise DataError(f"pretrain_dbn: utterance {k} has {x.shape[1] // (2 * src.splice + 1)}-dim features, "
                            f"the others {dim // (2 * src.splice + 1)} (one feature dimension for all)")
        c = x.astype(np.float64)
        stats[0, :-1] += c.sum(0)
        stats[1, :-1] += (c * c).sum(0)
        stats[0, -1] += x.shape[0]
        n_utts += 1
    if stats is None:
        raise DataError("pretrain_dbn: no features")
    n = int(stats[0, -1])
    if comm is not None and comm.Get_size() > 1:
        average_flat_(comm, stats.ravel())
    mean = stats[0, :-1] / stats[0, -1]
    var = np.maximum(stats[1, :-1] / stats[0, -1] - mean * mean, var_floor)
    return mean, np.sqrt(var), n, n_utts


def _mean_activations(source: FrameSource, layers, comm) -> np.ndarray:
    m = np.concatenate([mean_activations(source, layers) * source.num_frames, [source.num_frames]])
    if comm is not None and comm.Get_size() > 1:
        average_flat_(comm, m)
    return m[:-1] / m[-1]


def pretrain_dbn(feats, opts: DbnOptions | None = None, out_dir: str | None = None, *, comm=None,
                 progress: bool = True) -> DbnResult:
    """Greedy layer-wise RBM pretraining (nnet1 pretrain_dbn.sh).

    feats: per-utterance feature matrices [T_u, D] -- a list of arrays, a mapping such as
    `kaldiio.load_scp(...)` (read from disk on demand), or one 2-D array [N, D] taken as a single
    utterance. The utterances are shuffled once (nnet1's `shuffle_list.pl --srand`), spliced +-opts.splice
    within each utterance (edges repeated) and normalized by the global mean and std of the spliced
    frames (the feature transform). RBM 1 (Gaussian visible, lr rbm_lrate_low, 2*rbm_iter epochs) and RBMs
    2..nn_depth (Bernoulli, lr rbm_lrate, rbm_iter epochs; input = sigmoid outputs of the layers below) are
    trained in turn through nnet1's frame-shuffling buffer. When the spliced frames fit in
    `input_cache_mb` they are held in memory; otherwise every pass streams the utterances (from disk for
    a mapping), holding only the shuffling buffer and one utterance, so the whole training set is used in
    bounded memory. After each RBM the mean activation of its hidden units is measured: units below
    0.01 are reported as dead (a warning when more than 5% are).
    With out_dir, writes out_dir/final.feature_transform, out_dir/{k}.rbm and out_dir/{k}.dbn (Kaldi
    nnet1 format, atomically, rank 0 only) and skips layers whose k.rbm already exists (resuming as
    pretrain_dbn.sh does).
    """
    o = opts or DbnOptions()
    if isinstance(feats, np.ndarray):
        feats = [feats]
    if not hasattr(feats, "keys"):
        feats = list(feats)
        for i, f in enumerate(feats):
            if np.ndim(f) != 2:
                raise DataError(f"pretrain_dbn: utterances must be 2-D with one feature dimension, utterance {i} "
                                f"has shape {np.shape(f)}")
    if not len(list(feats.keys()) if hasattr(feats, "keys") else feats):
        raise DataError("pretrain_dbn: no features")
    rank = comm.Get_rank() if comm is not None else 0
    writer = out_dir is not None and rank == 0

    where = activate(o.device, local_rank(comm) if comm is not None else 0, o.gpu)
    logger.info(f"pretrain_dbn: rank {rank} computes on {where}")

    def on_device(layers):
        return [(to_device(W, o.device), to_device(b, o.device)) for W, b in layers]

    src = UtteranceSource(feats, o.splice, o.seed)
    mean, std, N, n_utts = _global_cmvn(src, comm, o.var_floor)
    shift = (-mean).astype(np.float32)
    scale = (1.0 / std).astype(np.float32)
    src.shift, src.scale = shift, scale
    src.num_frames, src.dim = N, len(mean)
    D = len(mean) // (2 * o.splice + 1)
    ft = [Splice(D, np.arange(-o.splice, o.splice + 1, dtype=np.int32)), AddShift(shift), Rescale(scale)]
    if writer:
        nnet1_io.write_nnet1(os.path.join(out_dir, "final.feature_transform"), ft, binary=o.binary)
    in_memory = N * src.dim * 4 <= o.input_cache_mb * 2**20
    source: FrameSource = ArraySource(np.concatenate(list(src.blocks()))) if in_memory else src
    logger.info(f"pretrain_dbn: {n_utts} utterances (shuffled), {N} frames, input {D} x {2 * o.splice + 1} = "
                f"{src.dim} dims, {o.nn_depth} RBMs of {o.hid_dim}; "
                + ("frames held in memory" if in_memory else
                   f"streamed every pass through a {o.randomizer_size}-frame shuffling buffer"))

    rbms: list[Rbm] = []
    history = []
    act = None  # mean activation of the top layer so far (the next RBM's visible mean)
    for layer in range(1, o.nn_depth + 1):
        lower = [lay for r in rbms for lay in nnet1_io.dbn_to_layers(nnet1_io.rbm_to_components(r))]
        vis_dim = src.dim if layer == 1 else o.hid_dim
        gaussian = layer == 1 and o.input_vis_type == "gauss"
        rbm_path = os.path.join(out_dir, f"{layer}.rbm") if out_dir else None
        if rbm_path and os.path.exists(rbm_path):
            comps = nnet1_io.read_nnet1(rbm_path)
            if len(comps) != 1 or not isinstance(comps[0], Rbm) or comps[0].W.shape != (o.hid_dim, vis_dim):
                raise UserError(f"{rbm_path}: exists but is not a {vis_dim} -> {o.hid_dim} RBM; remove it to retrain")
            logger.info(f"pretrain_dbn: RBM {layer}: {rbm_path} exists, skipping")
            rbms.append(comps[0])
            history.append({})
            act = None
            continue
        epochs = (2 if gaussian else 1) * o.rbm_iter
        if o.min_frames_per_layer > 0:
            epochs = max(epochs, math.ceil(o.min_frames_per_layer / N))
        vis_mean = None
        if not gaussian:
            vis_mean = act if act is not None else _mean_activations(source, on_device(lower), comm)
        rbm = init_rbm(vis_dim, o.hid_dim, "gauss" if gaussian else "bern",
                       o.param_stddev_first if layer == 1 else o.param_stddev, _stream_seed(o.seed, layer, 0),
                       vis_mean)
        ro = RbmTrainOptions(learn_rate=o.rbm_lrate_low if gaussian else o.rbm_lrate, l2_penalty=o.rbm_l2penalty,
                             momentum_step_period=o.momentum_step_period, minibatch_size=o.minibatch_size,
                             randomizer_size=o.randomizer_size, randomizer_seed=o.seed, num_iters=epochs)
        h = train_rbm(source, rbm, ro, lower_layers=lower, seed=_stream_seed(o.seed, layer, 1), name=f"RBM {layer}",
                      comm=comm, average_every=o.average_every, input_cache_mb=o.input_cache_mb, progress=progress,
                      device=o.device)
        rbms.append(rbm)
        act = _mean_activations(source, on_device(lower + nnet1_io.dbn_to_layers(nnet1_io.rbm_to_components(rbm))),
                                comm)
        dead = int((act < DEAD_ACTIVATION).sum())
        h.update(dead_units=dead, mean_activation=float(act.mean()),
                 saturated_units=int((act > 1 - DEAD_ACTIVATION).sum()))
        msg = (f"RBM {layer}: {dead} of {o.hid_dim} hidden units dead (mean activation < {DEAD_ACTIVATION}), "
               f"{h['saturated_units']} saturated (> {1 - DEAD_ACTIVATION}); mean activation {act.mean():.3f}")
        if dead > 0.05 * o.hid_dim:
            logger.warning(msg + ": the layers above learn from few units (try a lower --rbm-lrate, more data "
                           "or epochs, see the README)")
        else:
            logger.info(msg)
        history.append(h)
        if writer:
            nnet1_io.write_nnet1(rbm_path, [rbm], binary=o.binary)
            nnet1_io.write_nnet1(os.path.join(out_dir, f"{layer}.dbn"),
                                 [c for r in rbms for c in nnet1_io.rbm_to_components(r)], binary=o.binary)
    if rank == 0 and any("dead_units" in h for h in history):
        logger.info("pretrain_dbn: dead hidden units per layer: "
                    + ", ".join(f"{h['dead_units']}" if "dead_units" in h else "-" for h in history)
                    + f" (of {o.hid_dim})")
    return DbnResult(ft, rbms, history)


def read_features(rspecifier: str) -> RandomAccessTable | list[np.ndarray]:
    """The utterances of a Kaldi rspecifier: for `scp:` a random-access table that reads each one from disk
    when asked (nnet2.io.table.RandomAccessTable), else all of them as a list of float32 arrays [T, D]."""
    if parse_rspecifier(rspecifier, "features rspecifier").kind == "scp":
        m = RandomAccessTable(rspecifier, "matrix", what="features rspecifier")
        if not len(m.keys()):
            raise DataError(f"{rspecifier}: no utterances")
        return m

    feats = []
    for key, mat in read_table(rspecifier, "matrix", what="features rspecifier"):
        mat = np.asarray(mat)
        if mat.ndim != 2:
            raise DataError(f"{rspecifier}: utterance {key}: expected a matrix, got shape {mat.shape}")
        if not np.all(np.isfinite(mat)):
            raise DataError(f"{rspecifier}: utterance {key}: NaN or Inf in the features")
        if feats and mat.shape[1] != feats[0].shape[1]:
            raise DataError(f"{rspecifier}: utterance {key}: feature dim {mat.shape[1]} differs from "
                            f"{feats[0].shape[1]}")
        feats.append(np.ascontiguousarray(mat, dtype=np.float32))
    if not feats:
        raise DataError(f"{rspecifier}: no utterances")
    return feats
