"""nnet2: parallel DNN-HMM acoustic model training (Kaldi nnet2 / Su & Chen 2015), Kaldi-compatible."""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("nnet2")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+src"
