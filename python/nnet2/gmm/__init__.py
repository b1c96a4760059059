"""Monophone GMM-HMM (kaldi-hmm-gmm): flat start, Viterbi EM, Kaldi alignments."""

from nnet2.gmm.mono import (MonoOptions, MonoSystem, load_mono_model, read_alignments,
                            train_mono_and_align, write_alignments)

__all__ = ["MonoOptions", "MonoSystem", "load_mono_model", "read_alignments", "train_mono_and_align",
           "write_alignments"]
