"""Turn an nnet1 RBM-pretrained DBN into an nnet2 acoustic model (.mdl), as Kaldi's
steps/nnet2/convert_nnet1_to_nnet2.sh + nnet-am-init do (`src/nnet2bin/nnet1-to-raw-nnet.cc`).

The network is: SpliceComponent (the feature transform's <Splice>, e.g. ±5) -> FixedBiasComponent
(<AddShift>, −mean) -> FixedScaleComponent (<Rescale>, 1/std) -> per DBN layer AffineComponent +
SigmoidComponent -> a new AffineComponent (num_pdfs outputs, nnet1's init) -> SoftmaxComponent. The
number of pdfs and the TransitionModel come from TRANSITION_MODEL (the GMM's final.mdl). With
--random-init true, DBN is '-' and the hidden layers (--nn-depth x --hid-dim) are randomly initialized
as nnet1 does (for the RBM-vs-random comparison). Priors start from --ali pdf counts, if given.

Examples:
  nnet2 dbn-to-nnet exp/dbn/final.feature_transform exp/dbn/6.dbn exp/tri4_ali_nodup/final.mdl exp/nnet/0.mdl
  nnet2 dbn-to-nnet --random-init true --nn-depth 6 --hid-dim 2048 exp/dbn/final.feature_transform - \\
      exp/tri4_ali_nodup/final.mdl exp/nnet_rand/0.mdl
"""

from nnet2.utils.options import parse_bool

NAME = "dbn-to-nnet"
HELP = "nnet1 feature transform + DBN -> nnet2 sigmoid DNN .mdl with a new softmax layer"


def add_arguments(p):
    p.add_argument("--seed", type=int, default=0, help="seed of the new layers' random initialization")
    p.add_argument("--random-init", type=parse_bool, default=False, metavar="true|false",
                   help="random hidden layers instead of the DBN (DBN must be '-')")
    p.add_argument("--nn-depth", type=int, default=6, help="hidden layers with --random-init true")
    p.add_argument("--hid-dim", type=int, default=2048, help="hidden units per layer with --random-init true")
    p.add_argument("--output-init", default="nnet1", choices=["nnet1", "nnet2"],
                   help="output-layer init: nnet1 (W ~ N(0, (0.1*35*sqrt(2/(H+K)))^2), b = 0) or nnet2's "
                        "convert_nnet1_to_nnet2.sh (W ~ N(0, 1/H), b ~ N(0, 1))")
    p.add_argument("--learning-rate", type=float, default=0.008,
                   help="learning rate stored in the affine components (training sets its own)")
    p.add_argument("--ali", default=None,
                   help="alignments for the initial priors (paths, globs such as 'ali.*.gz', or rspecifiers)")
    p.add_argument("--binary", type=parse_bool, default=True, metavar="true|false", help="write in binary mode")
    p.add_argument("feature_transform", help="nnet1 final.feature_transform (<Splice> <AddShift> <Rescale>)")
    p.add_argument("dbn", help="nnet1 DBN (k.dbn), or '-' with --random-init true")
    p.add_argument("transition_model", help="GMM final.mdl (or any .mdl) whose TransitionModel to use")
    p.add_argument("model_out", help="output nnet2 .mdl")


def run(args) -> int:
    from nnet2 import api

    api.dbn_to_model(args.feature_transform, None if args.dbn == "-" else args.dbn, args.transition_model,
                     args.model_out, seed=args.seed, random_init=args.random_init, nn_depth=args.nn_depth,
                     hid_dim=args.hid_dim, ali=args.ali, output_init=args.output_init,
                     learning_rate=args.learning_rate, binary=args.binary)
    return 0
