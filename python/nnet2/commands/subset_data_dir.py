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
    from nnet2.data.datadir import subset_data_dir, validate_data_dir
    from nnet2.utils.errors import UserError

    utts = validate_data_dir(args.src, need_wav=False).utts
    if args.first is not None:
        sel = utts[: args.first]
    elif args.every is not None:
        if args.every < 1:
            raise UserError("--every must be >= 1")
        sel = utts[:: args.every]
    else:
        try:
            with open(args.utt_list) as f:
                sel = [ln.split()[0] for ln in f if ln.strip()]
        except OSError as e:
            raise UserError(f"cannot read --utt-list {args.utt_list}: {e.strerror}") from None
    if args.exclude:
        s = set(sel)
        sel = [u for u in utts if u not in s]
    if not sel:
        raise UserError(f"the subset of {args.src} is empty")
    d = subset_data_dir(args.src, args.dst, utt_list=sel)
    print(f"{args.dst}: {len(d.utts)} utterances")
    return 0
