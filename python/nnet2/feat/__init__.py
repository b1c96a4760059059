"""Features: MFCC/fbank (kaldi-native-fbank, Kaldi options), CMVN, deltas, data-dir extraction."""

from nnet2.feat.cmvn import apply_cmvn, cmvn_stats
from nnet2.feat.features import FbankOptions, MfccOptions, add_deltas, compute_fbank, compute_mfcc
from nnet2.feat.make_feats import compute_cmvn_stats, load_cmvn_feats, make_feats

__all__ = ["apply_cmvn", "cmvn_stats", "FbankOptions", "MfccOptions", "add_deltas", "compute_fbank",
           "compute_mfcc", "compute_cmvn_stats", "load_cmvn_feats", "make_feats"]
