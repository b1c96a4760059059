"""Print information about a Kaldi nnet2 acoustic model (.mdl): dimensions, components, parameter
count, priors summary -- like Kaldi's nnet-am-info.

Example:  nnet2 am-info exp/nnet/final.mdl
"""

NAME = "am-info"
KALDI = "nnet-am-info"
USAGE = "nnet2 am-info [options] <nnet-in>"
HELP = "print dims, components, parameter count and priors of a .mdl"


def add_arguments(p):
    p.add_argument("model", help="input model (Kaldi nnet2 .mdl, text or binary)")


def run(args) -> int:
    import numpy as np

    from nnet2.nnet.model import load_model

    m = load_model(args.model)
    tm = m.transition_model
    if tm is not None:
        print(f"num-pdfs {tm.num_pdfs}")
        print(f"num-transition-ids {tm.num_transition_ids}")
        print(f"num-phones {len(tm.phones)}")
    print(m.nnet.info())
    pr = np.asarray(m.priors)
    if pr.size:
        print(f"prior dimension: {pr.size}, prior sum: {pr.sum():.6g}, prior min: {pr.min():.6g}, "
              f"prior max: {pr.max():.6g}")
    else:
        print("prior dimension: 0")
    return 0
