"""Make training examples (egs) from features and alignments (like Kaldi's steps/nnet2/get_egs.sh).

Each example is one frame with its ±context window (edge frames repeated) and its pdf-id label. The egs
directory stores the un-spliced frames per archive plus an example index; examples are spliced when read.
A held-out validation subset, a training-diagnostic subset and a combination subset are written too.
The egs work with any number of training workers: shards are assigned when they are read.

Examples:
  nnet2 get-egs --transition-model exp/tri1/final.mdl --cmvn scp:data/train/cmvn.scp \\
      --utt2spk data/train/utt2spk scp:data/train/feats.scp 'exp/tri1_ali/ali.*.gz' exp/nnet/egs
  nnet2 get-egs --ali-is-pdf true --num-pdfs 120 data/train/feats.scp ark,t:pdf_ali.txt exp/nnet/egs
"""

from __future__ import annotations

NAME = "get-egs"
HELP = "make shuffled, shardable training examples from features and alignments"


def add_arguments(parser) -> None:
    from nnet2.data.egs import EgsOptions
    from nnet2.utils.options import add_options, parse_bool

    parser.add_argument("feats", help="features rspecifier or path (scp:feats.scp, ark:..., feats.scp)")
    parser.add_argument("alignments", nargs="+",
                        help="alignment archive(s): paths, globs ('ali.*.gz') or rspecifiers "
                             "('ark:gunzip -c ali.1.gz |')")
    parser.add_argument("egs_dir", help="output egs directory (replaced atomically)")
    parser.add_argument("--transition-model", default=None,
                        help="Kaldi model or transition-model file mapping transition-ids to pdf-ids")
    parser.add_argument("--ali-is-pdf", type=parse_bool, default=False, metavar="true|false",
                        help="the alignments already hold pdf-ids (ali-to-pdf output)")
    parser.add_argument("--num-pdfs", type=int, default=None,
                        help="number of pdfs (taken from --transition-model if given)")
    parser.add_argument("--cmvn", default=None, help="per-speaker CMVN stats rspecifier (scp:cmvn.scp)")
    parser.add_argument("--utt2spk", default=None, help="utt2spk: speakers for --cmvn (without it, stats are per utterance) and for --valid-split")
    parser.add_argument("--utt2uniq", default=None,
                        help="utt2uniq: utterances with the same uniq-id are held out together")
    add_options(parser, EgsOptions)


def run(args) -> int:
    from nnet2 import api
    from nnet2.utils.options import from_args

    api.get_egs(args.feats, args.alignments, args.egs_dir, transition_model=args.transition_model,
                ali_is_pdf=args.ali_is_pdf, num_pdfs=args.num_pdfs, cmvn=args.cmvn, utt2spk=args.utt2spk,
                utt2uniq=args.utt2uniq, opts=from_args(api.EgsOptions, args))
    return 0
