"""Initialize the neural network acoustic model and its associated transition-model -- Kaldi's
`nnet-am-init` (src/nnet2bin/nnet-am-init.cc), three-argument form: the transition model is read
from the start of <transition-model-in> (a GMM final.mdl, a transition-model file, or an nnet2 .mdl),
the network from <raw-nnet-in>, and the .mdl is written with empty priors.

<raw-nnet-in> is a raw nnet2 network (text or binary, as `nnet-init` writes it) or, as an
nnet2 convenience that does `nnet-init` in the same step, an nnet-init config file (one component
per line; --srand seeds the random initialization), e.g.
  SpliceComponent input-dim=40 left-context=4 right-context=4
  FixedAffineComponent matrix=exp/nnet/lda.mat
  AffineComponentPreconditionedOnline input-dim=360 output-dim=2000 learning-rate=0.02 param-stddev=0.022 bias-stddev=0.5 rank-in=20 rank-out=80 update-period=4 max-change-per-sample=0.075
  PnormComponent input-dim=2000 output-dim=200 p=2
  NormalizeComponent dim=200
  AffineComponentPreconditionedOnline input-dim=200 output-dim=NUM_PDFS learning-rate=0.02 param-stddev=0 bias-stddev=0
  SoftmaxComponent dim=NUM_PDFS

The config may be a template (as Kaldi's scripts fill theirs with shell variables): upper-case
placeholders are replaced by NUM_PDFS (the transition model's pdfs), with --egs-dir by FEAT_DIM,
LEFT_CONTEXT, RIGHT_CONTEXT and SPLICED_DIM (= FEAT_DIM x (LEFT_CONTEXT + 1 + RIGHT_CONTEXT)) of the
egs the model will train on, and by each --var NAME=VALUE; a value A^B is A to the power B
(param-stddev=PNORM_INPUT_DIM^-0.5 is 1/sqrt(pnorm-input-dim)). See egs/fsdd/conf/pnorm_nnet.config.

e.g.:
  nnet2 am-init exp/mono/final.mdl exp/nnet/nnet.raw exp/nnet/0.mdl
  nnet2 am-init --srand=1 exp/mono/final.mdl exp/nnet/nnet.config exp/nnet/0.mdl
  nnet2 am-init --egs-dir exp/egs_c4 --var PNORM_INPUT_DIM=1000 --var PNORM_OUTPUT_DIM=100 \
      exp/mono/final.mdl conf/pnorm_nnet.config exp/dnn_pnorm/init.mdl
"""

import re

from nnet2.utils.errors import UserError
from nnet2.utils.options import parse_bool

NAME = "am-init"
KALDI = "nnet-am-init"
USAGE = "nnet2 am-init [options] <transition-model-in> <raw-nnet-in> <nnet-am-out>"
HELP = "nnet-am-init: transition model + raw nnet (or nnet-init config) -> .mdl"


def add_arguments(p):
    p.add_argument("--binary", type=parse_bool, default=True, metavar="true|false", help="Write output in binary mode")
    p.add_argument("--srand", type=int, default=0,
                   help="Seed for the random initialization when <raw-nnet-in> is an nnet-init config")
    p.add_argument("--egs-dir", default=None,
                   help="egs directory whose input fills FEAT_DIM, LEFT_CONTEXT, RIGHT_CONTEXT, SPLICED_DIM "
                        "of an nnet-init config template")
    p.add_argument("--var", action="append", default=[], metavar="NAME=VALUE",
                   help="value of an upper-case placeholder of an nnet-init config template (repeatable)")
    p.add_argument("transition_model", metavar="<transition-model-in>",
                   help="GMM final.mdl, transition model, or nnet2 .mdl to take it from")
    p.add_argument("raw_nnet", metavar="<raw-nnet-in>", help="raw nnet2 network, or an nnet-init config")
    p.add_argument("model_out", metavar="<nnet-am-out>")


def run(args) -> int:
    from nnet2 import api

    values = {}
    for a in args.var:
        name, eq, value = a.partition("=")
        if not eq or not re.fullmatch(r"[A-Z][A-Z0-9_]*", name) or not value:
            raise UserError(f"--var {a}: expected NAME=VALUE with an upper-case NAME")
        values[name] = value
    api.init_model(args.transition_model, args.raw_nnet, args.model_out, seed=args.srand, binary=args.binary,
                   egs_dir=args.egs_dir, values=values)
    return 0
