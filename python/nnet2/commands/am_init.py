"""Initialize an nnet2 acoustic model from a Kaldi nnet-init style config and a transition model
(a GMM final.mdl, a transition-model file, or an nnet2 .mdl) -- like `nnet-init` + `nnet-am-init`.

Config lines (one component each, spec §3/§4.4), e.g.
  SpliceComponent input-dim=40 left-context=4 right-context=4
  FixedAffineComponent matrix=exp/nnet/lda.mat
  AffineComponentPreconditionedOnline input-dim=360 output-dim=2000 learning-rate=0.02 param-stddev=0.022 bias-stddev=0.5 rank-in=20 rank-out=80 update-period=4 max-change-per-sample=0.075
  PnormComponent input-dim=2000 output-dim=200 p=2
  NormalizeComponent dim=200
  AffineComponentPreconditionedOnline input-dim=200 output-dim=NUM_PDFS learning-rate=0.02 param-stddev=0 bias-stddev=0
  SoftmaxComponent dim=NUM_PDFS

Example:  nnet2 am-init --srand=1 nnet.config exp/mono/final.mdl exp/nnet/0.mdl
"""

from nnet2.utils.options import parse_bool

NAME = "am-init"
HELP = "initialize a .mdl from an nnet-init config and a transition model"


def add_arguments(p):
    p.add_argument("--srand", type=int, default=0, help="seed for the random initialization")
    p.add_argument("--binary", type=parse_bool, default=True, metavar="true|false", help="write in binary mode")
    p.add_argument("config", help="nnet-init config file")
    p.add_argument("transition_model", help="GMM final.mdl, transition model, or nnet2 .mdl to take it from")
    p.add_argument("model_out", help="output .mdl")


def run(args) -> int:
    from nnet2.nnet.model import init_model, save_model

    save_model(init_model(args.config, args.transition_model, seed=args.srand), args.model_out, binary=args.binary)
    return 0
