"""Copy a subset of a Kaldi data dir (like utils/subset_data_dir.sh): the first N utterances, the
utterances in a list, or every K-th utterance (C order); --exclude keeps the complement instead.
Speakers, recordings, features and CMVN entries are restricted accordingly.

Examples (a dev set of every 10th training utterance, and the rest for training):
  nnet2 subset-data-dir --every 10 data/train data/dev
  nnet2 subset-data-dir --every 10 --exclude true data/train data/train_nodev
"""

from nnet2.utils.options import parse_bool

NAME = "subset-data-dir"
HELP = "copy a subset of a data dir (first N, a list, or every K-th utterance)"


def add_arguments(p):
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--first", type=int, help="the first N utterances")
    g.add_argument("--utt-list", help="file with one utterance id per line (first field)")
    g.add_argument("--every", type=int, help="every K-th utterance, starting with the first")
    p.add_argument("--exclude", type=parse_bool, default=False, metavar="true|false",
                   help="keep the utterances NOT selected")
    p.add_argument("src", help="source data dir")
    p.add_argument("dst", help="destination data dir")


def run(args) -> int:
    from nnet2 import api

    n = api.subset_data_dir(args.src, args.dst, first=args.first, every=args.every, utt_list=args.utt_list,
                            exclude=args.exclude)
    print(f"{args.dst}: {n} utterances")
    return 0
