"""Check a Kaldi data directory like utils/validate_data_dir.sh: tables sorted (C order) without
duplicates, utt2spk/spk2utt consistent, text/segments/feats.scp covering exactly the utterances,
segments pointing into wav.scp, cmvn.scp covering every speaker. Prints a one-line summary; on a
problem prints one error naming the file and line and exits 1.

    nnet2 validate-data-dir --need-feats true data/train_nodup
"""

from nnet2.utils.options import parse_bool

NAME = "validate-data-dir"
HELP = "check a Kaldi data dir (utils/validate_data_dir.sh)"


def add_arguments(p):
    p.add_argument("--need-text", type=parse_bool, default=False, metavar="true|false", help="require text")
    p.add_argument("--need-feats", type=parse_bool, default=False, metavar="true|false", help="require feats.scp")
    p.add_argument("--need-wav", type=parse_bool, default=False, metavar="true|false", help="require wav.scp")
    p.add_argument("--need-cmvn", type=parse_bool, default=False, metavar="true|false", help="require cmvn.scp")
    p.add_argument("data_dir", help="data directory")


def run(args) -> int:
    from nnet2 import api

    print(api.describe_data_dir(args.data_dir, need_text=args.need_text, need_feats=args.need_feats,
                                need_wav=args.need_wav, need_cmvn=args.need_cmvn))
    return 0
