"""Decoding the digit task: HCLG graph (kaldifst + kaldi-hmm-gmm), Viterbi beam decoding of DNN
pseudo-log-likelihoods (or GMM log-likelihoods) with kaldi-hmm-gmm's FasterDecoder, WER scoring."""

from nnet2.decode.decoder import (
                                  DecodeOptions,
                                  Decoder,
                                  DecodeResult,
                                  decode_dir,
                                  decode_set,
                                  decode_utterance,
                                  expand_to_tids,
                                  gmm_loglikes,
                                  gmm_loglikes_for_data,
                                  pseudo_loglikes,
                                  read_matrices,
                                  read_priors,
                                  tune,
)
from nnet2.decode.graph import Graph, GraphOptions, add_word_penalty, build_hclg, make_graph
from nnet2.decode.score import WerResult, compute_wer, read_text, score_texts

__all__ = ["DecodeOptions", "DecodeResult", "Decoder", "Graph", "GraphOptions", "WerResult",
           "add_word_penalty", "build_hclg", "compute_wer", "decode_dir",
           "decode_set", "decode_utterance", "expand_to_tids", "gmm_loglikes",
           "gmm_loglikes_for_data", "make_graph", "pseudo_loglikes", "read_matrices", "read_priors",
           "read_text", "score_texts", "tune"]
