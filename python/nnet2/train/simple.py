"""Single-process training and diagnostics on Kaldi egs: `nnet-train-simple` and `nnet-compute-prob`.

`train_simple` follows src/nnet2bin/nnet-train-simple.cc and `TrainNnetSimple` (src/nnet2/train-nnet.cc):
read the model; zero the nonlinearities' statistics (--zero-stats=true); take the examples in the
rspecifier's order (no shuffling: Kaldi shuffles with nnet-shuffle-egs before the pipe), minibatches of
--minibatch-size (the last one partial); each minibatch is one forward/backward pass with each
component's own learning rate (`Nnet.train_step`, Kaldi's order of operations); after every
--minibatches-per-phase minibatches log "Training objective function (this phase) is X over W frames.",
at the end "Did backprop on W examples, average log-prob per frame is X" and the line scripts parse,
"[this line is to be parsed by a script:] log-prob-per-frame=X". NG-SGD preconditioners start afresh
(Kaldi does not store them). `--srand` seeds Kaldi's random generator, which these components do not
use; it is accepted for command-line compatibility and has no effect here either.

`compute_prob` follows src/nnet2bin/nnet-compute-prob.cc: minibatches of 1000 examples, the weighted
log-probability and weighted accuracy summed, divided by the total label weight; the average log-prob
is printed on stdout (6 significant digits, as C++'s default stream), the accuracy in the log.
"""

from __future__ import annotations

from nnet2.data.kaldi_egs import format_minibatch, iter_examples
from nnet2.nnet.model import load_model, save_model
from nnet2.nnet.nnet import StepStats
from nnet2.utils.errors import DataError, UserError
from nnet2.utils.log import get_logger

log = get_logger("nnet2")


def _g(x: float) -> str:
    """A double as C++'s `std::cout << x` prints it (precision 6)."""
    return f"{x:.6g}"


def _minibatches(rspecifier: str, size: int):
    batch = []
    for key, eg in iter_examples(rspecifier):
        batch.append((key, eg))
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def train_simple(model_in: str, egs_rspecifier: str, model_out: str, minibatch_size: int = 500,
                 minibatches_per_phase: int = 50, zero_stats: bool = True, binary: bool = True) -> dict:
    """One pass of nnet-train-simple. Returns {"examples", "weight", "objf_per_frame", "phases"}."""
    if minibatch_size < 1 or minibatches_per_phase < 1:
        raise UserError("--minibatch-size and --minibatches-per-phase must be positive")
    model = load_model(model_in)
    nnet = model.nnet
    if zero_stats:
        nnet.zero_stats()
    nnet.reset_preconditioners()
    tot, phase, in_phase, n_egs, phases = StepStats(), StepStats(), 0, 0, []
    where = f"{egs_rspecifier}: "
    for batch in _minibatches(egs_rspecifier, minibatch_size):
        X, y = format_minibatch(nnet, batch, where)
        try:
            phase.add(nnet.train_step(X, y))
        except UserError as e:
            raise DataError(f"{where}{e}") from None
        n_egs += len(batch)
        in_phase += 1
        if in_phase == minibatches_per_phase:
            log.info(f"Training objective function (this phase) is {_g(phase.objf_per_frame)} over "
                     f"{_g(phase.weight)} frames.")
            phases.append(phase.objf_per_frame)
            tot.add(phase)
            phase, in_phase = StepStats(), 0
    if in_phase:
        log.info(f"Training objective function (this phase) is {_g(phase.objf_per_frame)} over "
                 f"{_g(phase.weight)} frames.")
        phases.append(phase.objf_per_frame)
        tot.add(phase)
    if n_egs == 0:
        raise DataError(f"no examples in '{egs_rspecifier}' (nothing written)")
    log.info(f"Did backprop on {_g(tot.weight)} examples, average log-prob per frame is "
             f"{_g(tot.objf_per_frame)}")
    log.info(f"[this line is to be parsed by a script:] log-prob-per-frame={_g(tot.objf_per_frame)}")
    save_model(model, model_out, binary=binary)
    log.info(f"Finished training, processed {n_egs} training examples.  Wrote model to {model_out}")
    return {"examples": n_egs, "weight": tot.weight, "objf_per_frame": tot.objf_per_frame, "phases": phases}


def compute_prob(model_in: str, egs_rspecifier: str) -> dict:
    """nnet-compute-prob: {"examples", "weight", "logprob_per_frame", "accuracy"}."""
    nnet = load_model(model_in).nnet
    tot_like = tot_acc = tot_w = 0.0
    n = 0
    where = f"{egs_rspecifier}: "
    for batch in _minibatches(egs_rspecifier, 1000):
        X, y = format_minibatch(nnet, batch, where)
        try:
            st = nnet.evaluate(X, y)
        except UserError as e:
            raise DataError(f"{where}{e}") from None
        tot_like += st.objf
        tot_acc += st.correct
        tot_w += st.weight
        n += len(batch)
        if n % 5000 == 0:
            log.info(f"Saw {n} examples, average probability is {_g(tot_like / tot_w)} and accuracy is "
                     f"{_g(tot_acc / tot_w)} with total weight {_g(tot_w)}")
    if n == 0:
        raise DataError(f"no examples in '{egs_rspecifier}'")
    log.info(f"Saw {n} examples, average probability is {_g(tot_like / tot_w)} and accuracy is "
             f"{_g(tot_acc / tot_w)} with total weight {_g(tot_w)}")
    return {"examples": n, "weight": tot_w, "logprob_per_frame": tot_like / tot_w, "accuracy": tot_acc / tot_w}
