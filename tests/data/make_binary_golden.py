"""Builds the binary golden files tiny_pnorm.mdl.bin and tiny_sigmoid.mdl.bin with `struct` only.

Deliberately independent of nnet2.io: every byte is spelled out here from Kaldi's binary rules
(see README.md), with the same decimal values as the hand-written text goldens. Run from any
directory: `python tests/data/make_binary_golden.py`.
"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def tok(s):            # WriteToken: text + ' ' (both modes)
    return s.encode() + b" "


def i32(i):            # WriteBasicType<int32>: size byte 4, little-endian value
    return b"\x04" + struct.pack("<i", i)


def f32(x):            # WriteBasicType<float>: size byte 4, float32
    return b"\x04" + struct.pack("<f", float(x))


def f64(x):            # WriteBasicType<double>: size byte 8, float64
    return b"\x08" + struct.pack("<d", float(x))


def boolean(b):        # WriteBasicType<bool>: 'T'/'F', no space in binary
    return b"T" if b else b"F"


def fvec(v):           # Vector<float>::Write: "FV " int32 dim, raw float32
    return b"FV " + i32(len(v)) + b"".join(struct.pack("<f", float(x)) for x in v)



def fmat(rows):        # Matrix<float>::Write: "FM " int32 rows, int32 cols, row-major float32
    nc = len(rows[0]) if rows else 0
    return (b"FM " + i32(len(rows)) + i32(nc)
            + b"".join(struct.pack("<f", float(x)) for r in rows for x in r))


def ivec(v):           # WriteIntegerVector<int32>: byte 4, raw int32 count, raw int32 data
    return b"\x04" + struct.pack("<i", len(v)) + b"".join(struct.pack("<i", x) for x in v)


def transition_model():
    out = tok("<TransitionModel>") + tok("<Topology>")
    out += ivec([1, 2, 3])            # phones_
    out += ivec([-1, 0, 1, 1])        # phone2idx_
    out += i32(2)                     # number of entries (HMM topology: no -1 marker)
    # entry 0: 2 states
    out += i32(2)
    out += i32(0) + i32(2) + i32(0) + f32(0.5) + i32(1) + f32(0.5)
    out += i32(-1) + i32(0)
    # entry 1: 3 states
    out += i32(3)
    out += i32(0) + i32(2) + i32(0) + f32(0.75) + i32(1) + f32(0.25)
    out += i32(1) + i32(2) + i32(1) + f32(0.75) + i32(2) + f32(0.25)
    out += i32(-1) + i32(0)
    out += tok("</Topology>")
    triples = [(1, 0, 0), (2, 0, 1), (2, 1, 2), (3, 0, 3), (3, 1, 4)]
    out += tok("<Triples>") + i32(len(triples))
    for t in triples:
        out += b"".join(i32(x) for x in t)
    out += tok("</Triples>") + tok("<LogProbs>")
    out += fvec(["0", "-0.6931472", "-0.6931472"] + ["-0.2876821", "-1.386294"] * 4)
    out += tok("</LogProbs>") + tok("</TransitionModel>")
    return out


def nonlinear(name, dim, vs, ds, count):
    # value_sum_/deriv_sum_ are CuVector<double>, but CuVector<Real>::Write copies into a
    # Vector<BaseFloat> before writing (src/cudamatrix/cu-vector.cc): "FV" in binary. count_ is a
    # plain double (size byte 8).
    return (tok(f"<{name}>") + tok("<Dim>") + i32(dim) + tok("<ValueSum>") + fvec(vs)
            + tok("<DerivSum>") + fvec(ds) + tok("<Count>") + f64(count) + tok(f"</{name}>"))


def online(lr, W, b):
    return (tok("<AffineComponentPreconditionedOnline>") + tok("<LearningRate>") + f32(lr)
            + tok("<LinearParams>") + fmat(W) + tok("<BiasParams>") + fvec(b)
            + tok("<RankIn>") + i32(20) + tok("<RankOut>") + i32(80)
            + tok("<UpdatePeriod>") + i32(4) + tok("<NumSamplesHistory>") + f32(2000)
            + tok("<Alpha>") + f32(4) + tok("<MaxChangePerSample>") + f32("0.075")
            + tok("</AffineComponentPreconditionedOnline>"))


def pnorm_model():
    comps = [
        tok("<SpliceComponent>") + tok("<InputDim>") + i32(2) + tok("<Context>") + ivec([-1, 0, 1])
        + tok("<ConstComponentDim>") + i32(0) + tok("</SpliceComponent>"),
        tok("<FixedAffineComponent>") + tok("<LinearParams>")
        + fmat([[1 if i == j else 0 for j in range(6)] for i in range(6)])
        + tok("<BiasParams>") + fvec(["-0.5", "0.25", "0", "1e-05", "-3.402823e+38", "4"])
        + tok("</FixedAffineComponent>"),
        online("0.00214", [["0.1", "-0.2", "0.3", "-0.4", "0.5", "-0.6"],
                           ["1.234568", "-1.234568e-07", "12345.67", "-0.001", "2.5e+10", "7"],
                           ["0"] * 6, ["-1", "1", "-1", "1", "-1", "1"]],
               ["0.01", "-0.02", "0.03", "-0.04"]),
        tok("<PnormComponent>") + tok("<InputDim>") + i32(4) + tok("<OutputDim>") + i32(2)
        + tok("<P>") + f32(2) + tok("</PnormComponent>"),
        nonlinear("NormalizeComponent", 2, [], [], 0),
        online("0.001", [["0.5", "-0.5"], ["0.25", "0.75"], ["-1.5", "2"],
                         ["3.141593", "-2.718282"], ["0.3333333", "0.6666667"]],
               ["0", "0.1", "0.2", "0.3", "0.4"]),
        nonlinear("SoftmaxComponent", 5, ["10.5", "20.25", "30", "40", "0.125"], [], 128),
    ]
    return comps, ["0.1", "0.2", "0.3", "0.25", "0.15"]


def sigmoid_model():
    comps = [
        tok("<AffineComponent>") + tok("<LearningRate>") + f32("0.008") + tok("<LinearParams>")
        + fmat([["0.5", "-1"], ["2", "0.125"], ["-0.0625", "1e-05"]])
        + tok("<BiasParams>") + fvec(["0.1", "-0.1", "0"]) + tok("<IsGradient>") + boolean(False)
        + tok("</AffineComponent>"),
        nonlinear("SigmoidComponent", 3, ["1.5", "2.5", "0.5"], ["0.75", "0.5", "0.25"], 4),
        tok("<FixedScaleComponent>") + tok("<Scales>") + fvec([1, 2, 0.5])
        + tok("</FixedScaleComponent>"),
        tok("<FixedBiasComponent>") + tok("<Bias>") + fvec([-1, 0, 1]) + tok("</FixedBiasComponent>"),
        tok("<AffineComponentPreconditioned>") + tok("<LearningRate>") + f32("0.001")
        + tok("<LinearParams>") + fmat([[1, 2, 3], [4, 5, 6], [7, 8, 9], [-1, -2, -3],
                                        ["0.1", "0.2", "0.3"]])
        + tok("<BiasParams>") + fvec([0] * 5) + tok("<Alpha>") + f32("0.1")
        + tok("<MaxChange>") + f32(10) + tok("</AffineComponentPreconditioned>"),
        nonlinear("SoftmaxComponent", 5, [], [], 0),
        tok("<SumGroupComponent>") + tok("<Sizes>") + ivec([1] * 5) + tok("</SumGroupComponent>"),
    ]
    return comps, []


def mdl(comps, priors):
    return (b"\0B" + transition_model() + tok("<Nnet>") + tok("<NumComponents>") + i32(len(comps))
            + tok("<Components>") + b"".join(comps) + tok("</Components>") + tok("</Nnet>")
            + fvec(priors))


if __name__ == "__main__":
    for name, (comps, priors) in (("tiny_pnorm", pnorm_model()), ("tiny_sigmoid", sigmoid_model())):
        with open(os.path.join(HERE, name + ".mdl.bin"), "wb") as f:
            f.write(mdl(comps, priors))
