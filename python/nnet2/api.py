"""The nnet2 Python API: one function per stage of a recipe, the models, and training with hooks.

    import nnet2.api as nn

Everything a script or a notebook needs is here, and only what is here is a stable contract (the
modules behind it may move). Each stage function takes the same option dataclass as the CLI verb of
the same name (`nnet2 <verb> --help` lists the options with their defaults), writes Kaldi-format
files, and returns a small summary; the CLI verbs are thin layers over these functions. Bad input
raises `nnet2.UserError` (a `ValueError`) with a message naming the file, utterance or field.

MPI: a script launched as `mpiexec -n N python -m mpi4py script.py` runs on N ranks. `train` is
data-parallel over all of them (or over the communicator passed as `comm`); every other stage is
serial: it runs on rank 0 while the other ranks wait, and every rank gets rank 0's result (or the
same exception). So a script calls every stage on every rank, without `if rank == 0`. Without
mpiexec everything runs in-process (one worker).

The walkthrough of the default recipe from Python, and a custom averaging rule, are in docs/python.md.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from nnet2 import _core
from nnet2 import device as _device
from nnet2 import report as _report
from nnet2.corpora import fsdd as _fsdd
from nnet2.corpora import fsdd_download as _fsdd_download
from nnet2.corpora.fsdd import FsddOptions
from nnet2.data import alignments as _alignments
from nnet2.data import datadir as _datadir
from nnet2.data import egs as _egs
from nnet2.data.egs import EgsOptions
from nnet2.decode import decoder as _decoder
from nnet2.decode import graph as _graph
from nnet2.decode import score as _score
from nnet2.decode.decoder import DecodeOptions
from nnet2.decode.graph import GraphOptions
from nnet2.decode.score import WerResult
from nnet2.feat.apply_cmvn import apply_cmvn_table as _apply_cmvn_table
from nnet2.feat import lda as _lda
from nnet2.feat.make_feats import MakeFeatsOptions
from nnet2.feat.make_feats import compute_cmvn_stats as _compute_cmvn_stats
from nnet2.feat.make_feats import make_feats as _make_feats_fn
from nnet2.feat.features import FbankOptions, MfccOptions
from nnet2.feat import tables as _tables
from nnet2.feat.lda import LdaOptions
from nnet2.gmm import mono as _mono
from nnet2.gmm.mono import MonoOptions
from nnet2.nnet import compute as _compute
from nnet2.nnet import convert as _convert
from nnet2.nnet import model as _model
from nnet2.nnet.model import AmCopyOptions, Model
from nnet2.nnet.nnet import Nnet, StepStats
from nnet2.parallel import comm as _comm
from nnet2.parallel.averager import Averager, BmufAverager, OverlapAverager, PlainAverager
from nnet2.rbm import train as _rbm
from nnet2.rbm.train import DbnOptions
from nnet2.train import simple as _simple
from nnet2.train import trainer as _trainer
from nnet2.train.schedule import ExponentialSchedule, LearningRateSchedule, NewbobSchedule
from nnet2.train.trainer import IterationStats, TrainOptions
from nnet2.utils import log as _log
from nnet2.utils.errors import SharedError, UserError, error_line
from nnet2.utils.fileio import write_bytes_atomic

if TYPE_CHECKING:
    from mpi4py import MPI

__all__ = [
    # options (the CLI's dataclasses)
    "FsddOptions", "MfccOptions", "FbankOptions", "MakeFeatsOptions", "MonoOptions", "GraphOptions", "EgsOptions", "LdaOptions",
    "DbnOptions", "TrainOptions", "DecodeOptions",
    # stages, in recipe order
    "prepare_fsdd", "compute_features", "compute_cmvn", "apply_cmvn", "subset_data_dir", "align", "make_graph",
    "get_egs", "get_lda", "pretrain_dbn", "init_model", "dbn_to_model", "train", "compute", "decode",
    "tune_decode", "score",
    # models
    "Model", "Nnet", "StepStats", "load_model", "save_model",
    # training hooks
    "LearningRateSchedule", "ExponentialSchedule", "NewbobSchedule", "Averager", "PlainAverager", "BmufAverager",
    "OverlapAverager", "IterationStats",
    # Kaldi tools and data-dir utilities
    "AmCopyOptions", "train_simple", "compute_prob", "compute_feats_table", "compute_cmvn_stats_table", "copy_feats", "copy_matrix", "ali_to_pdf",
    "ali_to_post", "copy_model", "model_info", "average_models", "copy_transition_model", "subset_scp",
    "describe_data_dir", "download_fsdd", "report",
    # MPI and errors
    "world", "UserError", "WerResult",
]

_T = TypeVar("_T")


# ------------------------------------------------------------------------------------------------ MPI
def world() -> MPI.Comm:
    """The MPI world communicator (mpi4py's `MPI.COMM_WORLD`): N ranks under `mpiexec -n N python -m
    mpi4py script.py`, one without a launcher."""
    return _comm.world()


def _launched_ranks() -> int:
    """The number of ranks mpiexec started (from its environment, without initializing MPI)."""
    return _log.env_rank_world()[1]


def _serial(fn: Callable[..., _T]) -> Callable[..., _T]:
    """Make a stage that is not data-parallel run on rank 0 of COMM_WORLD under mpiexec; the other ranks
    wait and return rank 0's result, or raise when rank 0 failed (so no rank runs on alone)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> _T:
        if _launched_ranks() <= 1:
            return fn(*args, **kwargs)
        comm = world()
        if comm.Get_size() == 1:
            return fn(*args, **kwargs)
        result, error = None, None
        if comm.Get_rank() == 0:
            try:
                result = fn(*args, **kwargs)
            except BaseException as e:  # noqa: BLE001 -- handed to the other ranks, then re-raised
                error = e
        failure = comm.bcast(None if error is None else f"{type(error).__name__}: {error}", root=0)
        if error is not None:
            raise error
        if failure is not None:
            raise UserError(f"{fn.__name__} failed on rank 0: {failure}")
        return comm.bcast(result, root=0)

    return wrapper


# ------------------------------------------------------------------------------------------------ data
@_serial
def prepare_fsdd(out_dir: str, opts: FsddOptions | None = None) -> dict[str, dict]:
    """Make the connected-digit corpus from the Free Spoken Digit Dataset (`nnet2 prepare-fsdd`).

    Writes `out_dir/wav/` (the utterances' wavs), the Kaldi data dirs `out_dir/data/train` and
    `out_dir/data/test` (text, wav.scp, utt2spk, spk2utt, word_boundaries.json, ref.ctm),
    `out_dir/data/local/dict` and the lang dir `out_dir/data/lang`. The FSDD copy is
    `opts.fsdd_dir`, else the default one (`nnet2.corpora.fsdd.default_fsdd_dir`). Same seed ->
    identical files. Returns per-set statistics {set: {utterances, speakers, ...}}."""
    return _fsdd.prepare_fsdd(out_dir, opts or FsddOptions())


@_serial
def compute_features(data_dir: str, feat_dir: str | None = None, opts: MfccOptions | FbankOptions | None = None,
                     run_opts: MakeFeatsOptions | None = None, *, log_dir: str | None = None) -> int:
    """MFCC (or, with `FbankOptions`, filterbank) features of every utterance of `data_dir` (`nnet2
    make-mfcc` / `make-fbank`, Kaldi's steps/make_mfcc.sh; features as compute-mfcc-feats, Kaldi's
    options and defaults: `MfccOptions.from_conf("conf/mfcc.conf")` reads a Kaldi conf file).

    Writes `feat_dir/raw_<kind>_<set>.<j>.ark` (j = 1..nj parallel jobs; default feat_dir
    `data_dir/data`), `data_dir/feats.scp` (and utt2num_frames), and a line in
    `log_dir/make_<kind>_<set>.log` (default log_dir `data_dir/log`); `run_opts` sets the jobs and
    the compression. Nothing is left behind when an utterance fails. Returns the number of utterances."""
    opts = opts if opts is not None else MfccOptions()
    r = run_opts or MakeFeatsOptions()
    kind = "mfcc" if isinstance(opts, MfccOptions) else "fbank"
    feat_dir = feat_dir or os.path.join(data_dir, "data")
    n = _make_feats_fn(data_dir, opts, feat_dir, nj=r.nj, compress=r.compress,
                       write_utt2num_frames=r.write_utt2num_frames)
    _append_log(log_dir or os.path.join(data_dir, "log"), f"make_{kind}_{_set_name(data_dir)}.log",
                f"{kind} for {n} utterances of {data_dir} into {feat_dir} ({r.nj} job(s), "
                f"compress={str(r.compress).lower()})")
    return n


@_serial
def compute_cmvn(data_dir: str, cmvn_dir: str | None = None, *, log_dir: str | None = None) -> int:
    """Per-speaker CMVN statistics of `data_dir`'s features (`nnet2 make-cmvn`, Kaldi's
    steps/compute_cmvn_stats.sh): a float64 [2, D+1] matrix per speaker in
    `cmvn_dir/cmvn_<set>.ark` (default cmvn_dir `data_dir/data`), indexed by `data_dir/cmvn.scp`;
    a line in `log_dir/cmvn_<set>.log` (default `data_dir/log`). Returns the number of speakers."""
    n = _compute_cmvn_stats(data_dir, cmvn_dir or os.path.join(data_dir, "data"))
    _append_log(log_dir or os.path.join(data_dir, "log"), f"cmvn_{_set_name(data_dir)}.log",
                f"CMVN stats for {n} speakers of {data_dir}")
    return n


def _set_name(data_dir: str) -> str:
    return os.path.basename(os.path.normpath(data_dir))


def _append_log(log_dir: str, name: str, line: str) -> None:
    """A timestamped line in `log_dir/name`, as the Kaldi scripts leave a log per stage."""
    os.makedirs(log_dir, exist_ok=True)
    with open(os.path.join(log_dir, name), "a") as f:
        f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")


@_serial
def apply_cmvn(cmvn: str, feats: str, out: str, *, utt2spk: str | None = None, norm_vars: bool = False,
               norm_means: bool = True) -> int:
    """Normalize features with CMVN statistics (`nnet2 apply-cmvn`, Kaldi's apply-cmvn).

    cmvn: stats rspecifier (`scp:data/train/cmvn.scp`), per speaker with `utt2spk`
    (`ark:data/train/utt2spk`, or its path), else per utterance; or one global stats file.
    feats: features rspecifier; out: wspecifier (`ark,scp:feats.ark,feats.scp`, `ark:-`).
    norm_vars: variances too. An utterance without stats is skipped with a warning, as in Kaldi.
    Returns the number of utterances written."""
    return _apply_cmvn_table(cmvn, feats, out, utt2spk, norm_vars, norm_means)


@_serial
def subset_data_dir(src: str, dst: str, *, first: int | None = None, every: int | None = None,
                    utt_list: str | Sequence[str] | None = None, exclude: bool = False) -> int:
    """Copy a subset of the data dir `src` to `dst` (`nnet2 subset-data-dir`, Kaldi's
    utils/subset_data_dir.sh): the `first` N utterances, `every` K-th utterance (C order, starting
    with the first), or those of `utt_list` (ids, or a file with one per line); exactly one of the
    three. exclude: keep the complement instead. Returns the number of utterances in `dst`."""
    if sum(x is not None for x in (first, every, utt_list)) != 1:
        raise UserError("subset-data-dir: give exactly one of --first, --every, --utt-list")
    utts = _datadir.validate_data_dir(src, need_wav=False).utts
    if first is not None:
        sel = utts[:first]
    elif every is not None:
        if every < 1:
            raise UserError(f"--every must be >= 1, got {every}")
        sel = utts[::every]
    elif isinstance(utt_list, str):
        try:
            with open(utt_list) as f:
                sel = [ln.split()[0] for ln in f if ln.strip()]
        except OSError as e:
            raise UserError(f"cannot read --utt-list {utt_list}: {e.strerror}") from None
    else:
        sel = list(utt_list or [])
    if exclude:
        drop = set(sel)
        sel = [u for u in utts if u not in drop]
    if not sel:
        raise UserError(f"the subset of {src} is empty")
    return len(_datadir.subset_data_dir(src, dst, utt_list=sel).utts)


# ------------------------------------------------------------------------------------------------ GMM
@_serial
def align(data_dir: str, lang_dir: str, out_dir: str, opts: MonoOptions | None = None) -> dict:
    """Flat-start monophone GMM-HMM training and forced alignment (`nnet2 align-mono`; Kaldi's
    steps/train_mono.sh then align_si.sh), with kaldi-hmm-gmm.

    Needs feats.scp, cmvn.scp and text in `data_dir`. Writes `out_dir/final.mdl` (Kaldi text),
    tree, topo, `ali.1.gz` (transition-ids per frame) and the lang files. Returns a summary
    (frames, utterances aligned/failed, log-likelihood, and the alignment's frame accuracy when the
    data dir has word_boundaries.json)."""
    return _mono.train_mono_and_align(data_dir, lang_dir, out_dir, opts or MonoOptions())


@_serial
def make_graph(lang_dir: str, model_dir: str, graph_dir: str, opts: GraphOptions | None = None) -> dict:
    """The decoding graph HCLG.fst of the digit-loop grammar for a monophone model (`nnet2
    make-graph`, Kaldi's utils/mkgraph.sh). Writes HCLG.fst, words.txt, phones.txt, tid2pdf.int,
    num_pdfs and graph.json to `graph_dir`; returns the graph's statistics."""
    return _graph.make_graph(lang_dir, model_dir, graph_dir, opts or GraphOptions())


# ------------------------------------------------------------------------------------------------ egs, LDA
@_serial
def get_egs(feats: str, alignments: str | Sequence[str], egs_dir: str, *, transition_model: str | None = None,
            ali_is_pdf: bool = False, num_pdfs: int | None = None, cmvn: str | None = None,
            utt2spk: str | None = None, utt2uniq: str | None = None, opts: EgsOptions | None = None) -> str:
    """Training examples from features and alignments (`nnet2 get-egs`, Kaldi's steps/nnet2/get_egs.sh).

    feats: features rspecifier (`scp:data/train/feats.scp`); alignments: archive paths, globs
    (`exp/mono/ali.*.gz`) or rspecifiers, of transition-ids (mapped to pdfs through
    `transition_model`, a GMM or nnet2 .mdl) or of pdf-ids (`ali_is_pdf`, with `num_pdfs`).
    cmvn / utt2spk: per-speaker CMVN applied on the fly; utt2uniq: utterances held out together.
    Writes the egs directory atomically (shuffled archives plus validation, training-diagnostic and
    combination subsets; usable by any number of workers). Returns `egs_dir`."""
    _egs.get_egs(feats, [alignments] if isinstance(alignments, str) else list(alignments), egs_dir,
             transition_model=transition_model, ali_is_pdf=ali_is_pdf, num_pdfs=num_pdfs, cmvn=cmvn,
             utt2spk=utt2spk, utt2uniq=utt2uniq, opts=opts or EgsOptions())
    return egs_dir


@_serial
def get_lda(transition_model: str, feats: str, alignments: str, out: str, opts: LdaOptions | None = None) -> np.ndarray:
    """The LDA-like input transform of Kaldi's nnet2 recipes (`nnet2 get-lda`: steps/nnet2/get_lda.sh,
    nnet-get-feature-transform): from the spliced features of the rspecifier `feats` labelled by the
    transition-id `alignments` (pdfs of `transition_model`; silence phones weight 0), written to `out`
    as a Kaldi matrix [dim, D+1] to use as `FixedAffineComponent matrix=<out>` after the
    SpliceComponent. Returns the matrix (float32)."""
    return _lda.get_lda(transition_model, feats, alignments, out, opts)


# ------------------------------------------------------------------------------------------------ models
def pretrain_dbn(feats: str | Sequence[np.ndarray] | Mapping[str, np.ndarray], out_dir: str, opts: DbnOptions | None = None, *,
                 threads: int = 1, comm: MPI.Comm | None = None) -> str:
    """RBM pretraining of a sigmoid DBN (`nnet2 pretrain-dbn`, Kaldi nnet1's pretrain_dbn.sh).

    feats: a features rspecifier (`scp:...` utterances are read from disk as needed, `ark:...`), or
    float32 [T, D] arrays, one per utterance (a list, or a mapping utterance -> array). Writes `out_dir/final.feature_transform`, `out_dir/<k>.rbm` and `out_dir/<k>.dbn`
    (Kaldi nnet1 format) and logs in `out_dir/log/`; existing k.rbm files are reused. Returns the
    path of the full DBN, `out_dir/<nn_depth>.dbn`.

    Under mpiexec this runs on rank 0 only, unless `comm` is given: then every rank of `comm` trains
    on the features *it* passes and the RBMs are averaged every `opts.average_every` minibatches."""
    o = opts or DbnOptions()
    if comm is None:
        return _serial(_pretrain_dbn)(feats, out_dir, o, threads, None)
    return _pretrain_dbn(feats, out_dir, o, threads, comm)


def _pretrain_dbn(feats: str | Sequence[np.ndarray] | Mapping[str, np.ndarray], out_dir: str, o: DbnOptions,
                  threads: int, comm: MPI.Comm | None) -> str:
    rank = comm.Get_rank() if comm is not None else 0
    multi = comm is not None and comm.Get_size() > 1
    _device.activate(o.device, _comm.local_rank(comm) if multi else 0, o.gpu)  # no GPU: fail before writing
    if isinstance(feats, str):
        feats = _rbm.read_features(feats)  # checked before the output directory is created
    os.makedirs(os.path.join(out_dir, "log"), exist_ok=True)
    log_file = os.path.join(out_dir, "log", f"pretrain_dbn.{rank}.log" if multi else "pretrain_dbn.log")
    _log.setup_logging(log_file=log_file, rank=rank, world=comm.Get_size() if comm is not None else 1)
    threads, warning = _comm.fit_threads(comm if multi else None, threads)  # (collective with several ranks)
    if warning and rank == 0:
        _log.get_logger("rbm").warning(warning)
    _core.set_num_threads(threads)
    _rbm.pretrain_dbn(feats, o, out_dir, comm=comm if multi else None)
    _log.setup_logging()  # later stages log to stderr only, not into this stage's log file
    return os.path.join(out_dir, f"{o.nn_depth}.dbn")


@_serial
def init_model(transition_model: str, raw_nnet: str, model_out: str, *, seed: int = 0, binary: bool = True,
               egs_dir: str | None = None, values: dict[str, object] | None = None) -> str:
    """A new acoustic model (`nnet2 am-init`, Kaldi's nnet-am-init in its argument order): the
    TransitionModel of `transition_model` (a GMM final.mdl) and the network `raw_nnet`, written to
    `model_out` with empty priors. `raw_nnet` is a raw nnet2 network or an nnet-init config template
    (e.g. egs/fsdd/conf/pnorm_nnet.config): NUM_PDFS is filled from the transition model, FEAT_DIM,
    LEFT_CONTEXT, RIGHT_CONTEXT and SPLICED_DIM from `egs_dir`, other upper-case placeholders from
    `values` ({"PNORM_INPUT_DIM": 1000}; `A^B` is A to the power B); `seed` draws the weights.
    Returns `model_out`."""
    _model.am_init(transition_model, raw_nnet, model_out, seed=seed, binary=binary, egs_dir=egs_dir, values=values)
    return model_out


@_serial
def dbn_to_model(feature_transform: str, dbn: str | None, transition_model: str, model_out: str, *, seed: int = 0,
                 random_init: bool = False, nn_depth: int = 6, hid_dim: int = 2048, ali: str | None = None,
                 output_init: str = "nnet1", learning_rate: float = 0.008, binary: bool = True) -> str:
    """An nnet2 sigmoid DNN from an nnet1 feature transform and DBN, with a new softmax layer of the
    transition model's pdfs (`nnet2 dbn-to-nnet`, Kaldi's convert_nnet1_to_nnet2.sh + nnet-am-init).
    random_init: random hidden layers (nn_depth x hid_dim; dbn must be None) instead of the DBN.
    ali: alignments for the initial priors. Writes `model_out`; returns it."""
    model = _convert.dbn_to_model(feature_transform, dbn, transition_model, seed=seed, random_init=random_init,
                     nn_depth=nn_depth, hid_dim=hid_dim, ali=ali, output_init=output_init,
                     learning_rate=learning_rate)
    _model.save_model(model, model_out, binary=binary)
    return model_out


def load_model(path: str | os.PathLike) -> Model:
    """Read a Kaldi nnet2 acoustic model (.mdl, text or binary): `Model` with `.nnet` (the network),
    `.priors` (float32 [num_pdfs], empty before training ends) and `.transition_model`."""
    return _model.load_model(path)


def save_model(model: Model, path: str | os.PathLike, binary: bool = True) -> None:
    """Write `model` as a Kaldi nnet2 .mdl (binary or text), atomically (GPU parameters are copied to
    the host; the model itself is not moved). Unlike the stages, this runs on every rank that calls
    it: under mpiexec, save from one rank (`nn.world().Get_rank() == 0`) or to a path per rank."""
    _model.save_model(model, path, binary=binary)


# ------------------------------------------------------------------------------------------------ training
def train(egs_dir: str, init_model: str, out_dir: str, opts: TrainOptions | None = None, *, comm: MPI.Comm | None = None,
          schedule: LearningRateSchedule | None = None, averager: Averager | None = None,
          callbacks: Sequence[Callable[[IterationStats], None]] = ()) -> str:
    """Data-parallel training with model averaging (`nnet2 train`; Su & Chen 2015, Kaldi nnet2).

    Every rank of `comm` (default: the MPI world, i.e. N ranks under `mpiexec -n N python -m mpi4py
    script.py` and one in-process otherwise) trains on its own shard of the egs and the ranks
    average their parameters every `opts.average_every` minibatches and at the end of every
    iteration. Writes `out_dir/<iter>.mdl` and `out_dir/state/<iter>.json` after every iteration
    (rank 0), per-rank logs in `out_dir/log/`, and `out_dir/final.mdl` with priors; returns its path.
    `opts.resume` continues an interrupted run from its last complete iteration.

    Hooks (defaults: what `opts` names):
    * schedule: the learning rate per iteration (`ExponentialSchedule`, `NewbobSchedule` or your own
      `LearningRateSchedule`);
    * averager: the averaging rule, constructed on the same communicator (`PlainAverager(comm)`,
      `BmufAverager`, `OverlapAverager` or your own `Averager` subclass);
    * callbacks: functions called on every rank after every iteration with its `IterationStats`
      (after the checkpoint `stats.model_path` is written).
    A failing rank logs its error and aborts the whole job rather than leaving the others waiting."""
    comm = comm if comm is not None else world()
    try:
        final = _trainer.train(egs_dir, init_model, out_dir, opts or TrainOptions(), comm, schedule=schedule,
                               averager=averager, callbacks=callbacks)
    except BaseException as e:
        if comm.Get_size() > 1:
            _end_mpi_job(comm, e)
        raise
    # Later stages log to stderr only, not to the last iteration's file. (Not after a failure: closing that
    # file could raise again, e.g. on a full disk, and hide the error that matters.)
    _log.setup_logging(stderr=comm.Get_rank() == 0)
    return final


def _end_mpi_job(comm: MPI.Comm, e: BaseException) -> None:
    """End one rank of a failed MPI job so that the job prints one line for one error.

    * An error all ranks found together (`SharedError`): the rank it names prints it, every rank leaves MPI
      cleanly and exits 1 (no abort).
    * Ctrl-C (mpiexec forwards SIGINT to every rank): rank 0 prints `interrupted`, every rank exits 130.
    * Anything else happened on this rank alone: it prints its line (a bug also gets its traceback in the
      rank's log file), then aborts the job so that no rank waits in a collective.
    """
    rank = comm.Get_rank()
    if isinstance(e, SharedError):
        from mpi4py import MPI

        MPI.Finalize()  # every rank reaches this point: nothing to abort
        if rank != e.rank:
            raise SystemExit(1)
        return  # the caller (the CLI) prints the line and exits 1
    if isinstance(e, KeyboardInterrupt):
        # Other ranks may be inside a collective, so neither finalize nor abort can wait for them: leave with
        # os._exit. Rank 0 says `interrupted` and exits, and mpiexec then ends the other ranks. They wait
        # for that (exiting first could end rank 0 before its line is out); if it does not come, rank 0 is
        # stuck in a collective that cannot see the signal, and the waiting rank says it instead.
        if rank != 0:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            time.sleep(5 * (rank + 1))  # rank 1 first, so that one line at most is printed
        print("nnet2 train: interrupted", file=sys.stderr)
        sys.stderr.flush()
        os._exit(130)
    line = error_line(e)
    if line is None:
        _log.get_logger("train").error(f"rank {rank} failed: {type(e).__name__}: {e}; aborting the job", exc_info=True)
        line = f"{type(e).__name__}: {e} (traceback in the rank's log file)"
    print(f"nnet2 train: error: rank {rank} failed: {line}; aborting the job", file=sys.stderr)
    sys.stderr.flush()
    # The line is in the pipe to MPICH's proxy, but the abort travels on another socket and the proxy may act on
    # it first, killing the job before it forwards the line (CI once saw a job end with an empty stderr): give
    # it a moment. One failure pays this once.
    time.sleep(0.5)
    comm.Abort(1)
    os._exit(1)  # MPICH's MPI_Abort can return to the caller: the line above stays the only one


# ------------------------------------------------------------------------------------------------ use
@_serial
def compute(model: str, feats: str, out: str, *, apply_log: bool = False, divide_by_priors: bool = False,
            threads: int = 0) -> int:
    """The network's per-frame outputs for every utterance (`nnet2 am-compute`, Kaldi's nnet-am-compute
    with --pad-input=true): features rspecifier `feats` -> wspecifier `out` (`ark:out.ark`,
    `ark,scp:o.ark,o.scp`). divide_by_priors: posterior / prior renormalized per row (Kaldi's
    semantics); apply_log: then the log. Returns the number of utterances."""
    n = _compute.compute_outputs(model, feats, out, apply_log=apply_log, divide_by_priors=divide_by_priors, threads=threads)
    return int(n or 0)


def _reference(ref: str | None, data: str | None) -> str | None:
    if ref is None and data and os.path.exists(os.path.join(data, "text")):
        return os.path.join(data, "text")
    return ref


@_serial
def decode(graph_dir: str, source: str, out_dir: str, opts: DecodeOptions | None = None, *, data: str | None = None,
           ref: str | None = None, priors: str | None = None) -> dict:
    """Decode a set over a graph from `make_graph` and write `out_dir/hyp.txt` (`nnet2 decode`).

    source: an nnet2 .mdl or a GMM model dir (these score the features of the data dir `data`), or
    an rspecifier of per-pdf scores [T, num_pdfs] per utterance: log-likelihoods, or posteriors
    with `priors`. With a reference (`ref`, default `data/text`) also writes `out_dir/wer` and
    `out_dir/per_utt`. Returns statistics (utterances, frames, frames_per_second, and wer in %)."""
    return _decoder.decode_dir(graph_dir, _decoder.load_scores(source, data), out_dir, opts or DecodeOptions(),
                      ref_text=_reference(ref, data), priors=priors)


@_serial
def tune_decode(graph_dir: str, source: str, out_dir: str, *, data: str | None = None, ref: str | None = None,
                priors: str | None = None, acwts: Sequence[float] = (0.05, 0.075, 0.1, 0.125, 0.15, 0.2),
                penalties: Sequence[float] = (-1.0, -0.5, 0.0, 0.5, 1.0, 2.0), beam: float = 15.0) -> dict:
    """Grid-search the acoustic scale and word insertion penalty on a dev set, never the test set
    (`nnet2 tune-decode`). `source`, `data`, `ref`, `priors` as for `decode`. Writes
    `out_dir/tune.json` (the grid) and `out_dir/best.conf` (`--acwt=...`, `--word-ins-penalty=...`).
    Returns {"acwt", "word_ins_penalty", "wer", "table"}: pass the first two to `DecodeOptions`."""
    ref = _reference(ref, data)
    if ref is None:
        raise UserError("tune-decode needs --ref or --data with a text file")
    refs = _score.read_text(ref)
    scores = _decoder.load_scores(source, data)
    missing = [u for u in refs if u not in scores]
    if missing:
        raise UserError(f"utterance '{missing[0]}' of {ref} is missing from {source}")
    best = _decoder.tune(_graph.Graph(graph_dir), scores, refs, [float(a) for a in acwts], [float(p) for p in penalties], beam,
                _decoder.read_priors(priors) if priors else None)
    os.makedirs(out_dir, exist_ok=True)
    write_bytes_atomic(os.path.join(out_dir, "tune.json"), (json.dumps(best, indent=1) + "\n").encode())
    write_bytes_atomic(os.path.join(out_dir, "best.conf"),
                       f"--acwt={best['acwt']}\n--word-ins-penalty={best['word_ins_penalty']}\n".encode())
    return best


@_serial
def score(ref_text: str, hyp_text: str, mode: str = "strict", out_dir: str | None = None) -> WerResult:
    """Word error rate of Kaldi text `hyp_text` against `ref_text` (`nnet2 score`, Kaldi's compute-wer).
    mode: a missing hypothesis is an error (strict), skipped (present) or empty (all). Returns a
    `WerResult` (.wer in %, .kaldi_lines(), .interval() for its 95% bootstrap interval);
    with `out_dir` also writes `out_dir/wer` and `out_dir/per_utt`."""
    r = _score.score_texts(ref_text, hyp_text, mode)
    if out_dir:
        r.write(out_dir)
    return r


# ------------------------------------------------------------------------------------------------ Kaldi tools
# The verbs named after Kaldi binaries (and the small data-dir utilities), one function each: they run
# on rank 0 under mpiexec, as the stages do.
train_simple = _serial(_simple.train_simple)
compute_prob = _serial(_simple.compute_prob)
compute_feats_table = _serial(_tables.compute_feats_table)
compute_cmvn_stats_table = _serial(_tables.compute_cmvn_stats_table)
copy_feats = _serial(_tables.copy_feats)
copy_matrix = _serial(_tables.copy_matrix)
ali_to_pdf = _serial(_alignments.ali_to_pdf_table)
ali_to_post = _serial(_alignments.ali_to_post_table)
copy_model = _serial(_model.copy_model)
subset_scp = _serial(_datadir.subset_scp)
describe_data_dir = _serial(_datadir.describe_data_dir)
download_fsdd = _serial(_fsdd_download.fetch_fsdd)


def model_info(path: str) -> str:
    """What `nnet2 am-info` (Kaldi's nnet-am-info) prints about the model at `path`."""
    return _model.model_info(load_model(path))


@_serial
def average_models(models: Sequence[str], model_out: str, weights: Sequence[float] | None = None,
                   binary: bool = True, total: bool = False) -> str:
    """nnet-am-average: the weighted mean (weights normalized; default equal) of the models' parameters and
    nonlinearity statistics, the rest from the first model, written to `model_out` (`nnet2 am-average`);
    `total` (--sum=true): their sum instead."""
    if weights is not None and len(weights) != len(models):
        raise UserError(f"--weights has {len(weights)} values for {len(models)} models")
    if total and weights is not None:
        raise UserError("--sum and --weights cannot be combined")
    avg = _model.average_models([load_model(p) for p in models], weights, names=list(models), total=total)
    _model.save_model(avg, model_out, binary=binary)
    return model_out


@_serial
def copy_transition_model(model_in: str, tm_out: str, binary: bool = True) -> str:
    """The TransitionModel at the start of `model_in` (GMM final.mdl, nnet2 .mdl or a transition-model
    file) written alone to `tm_out`, atomically (`nnet2 copy-transition-model`)."""
    write_bytes_atomic(tm_out, _model.read_transition_model(model_in).to_bytes(binary))
    return tm_out


@_serial
def report(systems: Sequence[tuple[str, str]], out_md: str, *, ref_text: str | None = None, png: str | None = None,
           title: str = "Results", decode_subdir: str = "decode_test", extra_md: str = "") -> str:
    """The results table of trained systems (`nnet2 report`): (name, exp dir) pairs, each with its training
    history (state/*.json) and `decode_subdir`'s WER against `ref_text` (with bootstrap intervals); writes
    the Markdown `out_md` (and the learning curves `png`). Returns the table."""
    rows = _report.write_report(list(systems), ref_text, out_md, png, title, decode_subdir, extra_md)
    return _report.markdown_table(rows, title)
