"""Apply cepstral mean and (optionally) variance normalization -- Kaldi's `apply-cmvn`
(src/featbin/apply-cmvn.cc, ApplyCmvn in src/transform/cmvn.cc). Per utterance by default, or per
speaker if --utt2spk is given; the stats may also be a single (global) stats file.

e.g.:
  nnet2 apply-cmvn --utt2spk=ark:data/train/utt2spk scp:data/train/cmvn.scp scp:data/train/feats.scp ark:-
  nnet2 apply-cmvn --norm-vars=true global_cmvn.stats scp:feats.scp ark,scp:cmvn_feats.ark,cmvn_feats.scp
"""

from __future__ import annotations

from nnet2.utils.options import parse_bool

NAME = "apply-cmvn"
KALDI = "apply-cmvn"
USAGE = ("nnet2 apply-cmvn [options] (<cmvn-stats-rspecifier>|<cmvn-stats-rxfilename>) "
         "<feats-rspecifier> <feats-wspecifier>")
HELP = "apply-cmvn: apply CMVN stats (per utterance, per speaker, or global) to features"


def add_arguments(p):
    p.add_argument("--utt2spk", default="",
                   help="rspecifier for utterance to speaker map (e.g. ark:data/train/utt2spk)")
    p.add_argument("--norm-vars", type=parse_bool, default=False, metavar="true|false",
                   help="If true, normalize variances.")
    p.add_argument("--norm-means", type=parse_bool, default=True, metavar="true|false",
                   help="You can set this to false to turn off mean normalization.  Note, the same can "
                        "be achieved by using 'fake' CMVN stats; setting the option to false is more "
                        "efficient.")
    p.add_argument("--reverse", type=parse_bool, default=False, metavar="true|false",
                   help="If true, apply CMVN in a reverse sense, so as to transform the normalized "
                        "features back (not supported here)")
    p.add_argument("cmvn", metavar="<cmvn-stats-rspecifier>|<cmvn-stats-rxfilename>")
    p.add_argument("feats", metavar="<feats-rspecifier>")
    p.add_argument("out", metavar="<feats-wspecifier>")


def run(args) -> int:
    import os

    from nnet2.feat.cmvn import apply_cmvn
    from nnet2.io.table import (RandomAccessTable, TableWriter, is_rspecifier, read_matrix_file,
                                read_table)
    from nnet2.utils.errors import UserError
    from nnet2.utils.log import get_logger

    log = get_logger(NAME)
    if args.reverse:
        raise UserError("--reverse=true is not supported")
    if args.norm_vars and not args.norm_means:
        raise UserError("You cannot normalize the variance but not the mean.")
    utt2spk = None
    if args.utt2spk:
        # Kaldi takes an rspecifier; a plain utt2spk path is read as its text archive.
        spec = args.utt2spk if is_rspecifier(args.utt2spk) else "ark:" + args.utt2spk
        if not is_rspecifier(args.utt2spk) and not os.path.exists(args.utt2spk):
            raise UserError(f"--utt2spk: '{args.utt2spk}' is neither an rspecifier nor a file")
        utt2spk = dict(read_table(spec, "token", what="--utt2spk"))
    if is_rspecifier(args.cmvn):
        table, glob = RandomAccessTable(args.cmvn, "matrix", what="cmvn rspecifier"), None
    else:
        table, glob = None, read_matrix_file(args.cmvn, what="CMVN stats")
    n_ok = n_err = 0
    with TableWriter(args.out, "matrix", what="feature wspecifier") as out:
        for utt, feats in read_table(args.feats, "matrix", what="feature rspecifier"):
            if args.norm_means:
                if table is not None:
                    key = utt
                    if utt2spk is not None:
                        if utt not in utt2spk:
                            log.warning(f"No speaker for utterance {utt} in --utt2spk; skipping")
                            n_err += 1
                            continue
                        key = utt2spk[utt]
                    if key not in table:
                        log.warning(f"No normalization statistics available for key {key}, producing "
                                    f"no output for this utterance")
                        n_err += 1
                        continue
                    stats = table[key]
                else:
                    stats = glob
                feats = apply_cmvn(feats, stats, args.norm_vars, name=f"utterance '{utt}'")
            out.write(utt, feats)
            n_ok += 1
    log.info(f"Applied cepstral mean{' and variance' if args.norm_vars else ''} normalization to "
             f"{n_ok} utterances, errors on {n_err}")
    return 0 if n_ok else 1
