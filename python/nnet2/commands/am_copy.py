"""Copy a (nnet2) neural net and its associated transition model, possibly changing the binary
mode -- Kaldi's `nnet-am-copy` (src/nnet2bin/nnet-am-copy.cc), same arguments and option names.

The model is copied at the file-format level: every component type we read is written back
unchanged (a copy without options is byte-identical to its input in the same mode). Options apply
in Kaldi's order: --learning-rate-factor, --learning-rate, --learning-rates, --scales, --truncate,
--remove-preconditioning, --stats-from.

e.g.:
  nnet2 am-copy --binary=false 1.mdl text.mdl
  nnet2 am-copy --learning-rate=0.001 0.mdl 0_lr.mdl
  nnet2 am-copy --remove-preconditioning=true final.mdl - | nnet2 am-info -
"""

from __future__ import annotations

from nnet2.utils.options import parse_bool

NAME = "am-copy"
KALDI = "nnet-am-copy"
USAGE = "nnet2 am-copy [options] <nnet-in> <nnet-out>"
HELP = "nnet-am-copy: copy a .mdl (text <-> binary, learning rates, remove preconditioning)"

UPDATABLE = ("AffineComponent", "AffineComponentPreconditioned", "AffineComponentPreconditionedOnline")


def add_arguments(p):
    p.add_argument("--binary", type=parse_bool, default=True, metavar="true|false", help="Write output in binary mode")
    p.add_argument("--learning-rate-factor", type=float, default=1.0,
                   help="Before copying, multiply all the learning rates in the model by this factor.")
    p.add_argument("--learning-rate", type=float, default=-1.0,
                   help="If supplied (>= 0), all the learning rates of updatable layers are set to this value.")
    p.add_argument("--learning-rates", default="",
                   help="Colon-separated list of learning rates, one per updatable layer.")
    p.add_argument("--scales", default="",
                   help="Colon-separated list of scaling factors, one per updatable layer (scales the parameters).")
    p.add_argument("--truncate", type=int, default=-1,
                   help="If set, truncate the network to this many components (priors are dropped if the "
                        "output dimension changes).")
    p.add_argument("--remove-preconditioning", type=parse_bool, default=False, metavar="true|false",
                   help="Replace AffineComponentPreconditioned(Online) with AffineComponent.")
    p.add_argument("--stats-from", default="",
                   help="Copy the statistics of every NonlinearComponent from this model.")
    p.add_argument("nnet_in", metavar="<nnet-in>", help="input model (file, '-' or 'cmd |')")
    p.add_argument("nnet_out", metavar="<nnet-out>", help="output model (file, '-' or '| cmd')")


def _floats(s: str, what: str, n: int) -> list[float]:
    from nnet2.utils.errors import UserError

    try:
        v = [float(x) for x in s.split(":")]
    except ValueError:
        v = []
    if len(v) != n:
        raise UserError(f"Expected {what} option to be a colon-separated string with {n} elements, "
                        f"instead got \"{s}\"")
    return v


def _read(rx: str):
    from nnet2.io.nnet_format import read_mdl
    from nnet2.io.table import read_input_bytes

    data = read_input_bytes(rx, what="model")
    m = read_mdl(data, name=rx)
    return m


def run(args) -> int:
    import numpy as np

    from nnet2.io.nnet_format import NONLINEAR_TYPES, component_dims, mdl_to_bytes
    from nnet2.io.table import write_output_bytes
    from nnet2.utils.errors import UserError
    from nnet2.utils.log import get_logger

    m = _read(args.nnet_in)
    comps = [(t, dict(f)) for t, f in m.components]
    upd = [i for i, (t, _) in enumerate(comps) if t in UPDATABLE]
    f32 = lambda x: float(np.float32(x))  # noqa: E731
    if args.learning_rate_factor != 1.0:
        for i in upd:
            comps[i][1]["learning_rate"] = f32(comps[i][1]["learning_rate"] * args.learning_rate_factor)
    if args.learning_rate >= 0:
        for i in upd:
            comps[i][1]["learning_rate"] = f32(args.learning_rate)
    if args.learning_rates:
        for i, lr in zip(upd, _floats(args.learning_rates, "--learning-rates", len(upd))):
            comps[i][1]["learning_rate"] = f32(lr)
    if args.scales:
        for i, sc in zip(upd, _floats(args.scales, "--scales", len(upd))):
            f = comps[i][1]
            f["linear_params"] = (np.asarray(f["linear_params"], np.float32) * np.float32(sc)).astype(np.float32)
            f["bias_params"] = (np.asarray(f["bias_params"], np.float32) * np.float32(sc)).astype(np.float32)
    priors = m.priors
    if args.truncate >= 0:
        if not 0 < args.truncate <= len(comps):
            raise UserError(f"--truncate={args.truncate}: the network has {len(comps)} components")
        comps = comps[:args.truncate]
        if component_dims(*comps[-1])[1] != len(priors):
            priors = np.zeros(0, np.float32)
    if args.remove_preconditioning:
        for i, (t, f) in enumerate(comps):
            if t in ("AffineComponentPreconditioned", "AffineComponentPreconditionedOnline"):
                comps[i] = ("AffineComponent", {"learning_rate": f["learning_rate"],
                                                "linear_params": f["linear_params"],
                                                "bias_params": f["bias_params"], "is_gradient": False})
    if args.stats_from:
        other = _read(args.stats_from).components
        if len(other) != len(comps):
            raise UserError(f"--stats-from={args.stats_from}: {len(other)} components, this model has {len(comps)}")
        for i, (t, f) in enumerate(comps):
            if t in NONLINEAR_TYPES:
                ot, of = other[i]
                if ot != t or of["dim"] != f["dim"]:
                    raise UserError(f"--stats-from={args.stats_from}: component {i} is {ot}, not {t}")
                for k in ("value_sum", "deriv_sum", "count"):
                    f[k] = of[k]
    m.components, m.priors = comps, priors
    write_output_bytes(args.nnet_out, mdl_to_bytes(m, args.binary), what="output model")
    get_logger("am-copy").info(f"Copied neural net from {args.nnet_in} to {args.nnet_out}")
    return 0
