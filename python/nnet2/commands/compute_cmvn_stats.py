"""Compute cepstral mean and variance normalization statistics -- Kaldi's `compute-cmvn-stats`
(src/featbin/compute-cmvn-stats.cc): if a wspecifier is given, per utterance by default, or per
speaker with --spk2utt; if a wxfilename, global stats. Stats are double 2 x (dim+1) matrices
(AccCmvnStats, src/transform/cmvn.cc).

e.g.:
  nnet2 compute-cmvn-stats --spk2utt=ark:data/train/spk2utt scp:data/train/feats.scp ark,scp:cmvn.ark,cmvn.scp
  nnet2 compute-cmvn-stats scp:data/train/feats.scp global_cmvn.stats

For a data dir (cmvn.scp written into it) use `nnet2 make-cmvn` (steps/compute_cmvn_stats.sh).
"""

from __future__ import annotations

from nnet2.utils.options import parse_bool

NAME = "compute-cmvn-stats"
KALDI = "compute-cmvn-stats"
USAGE = "nnet2 compute-cmvn-stats [options] <feats-rspecifier> (<stats-wspecifier>|<stats-wxfilename>)"
HELP = "compute-cmvn-stats: CMVN stats per utterance, per speaker (--spk2utt) or global"


def add_arguments(p):
    p.add_argument("--spk2utt", default="", help="rspecifier for speaker to utterance-list map")
    p.add_argument("--binary", type=parse_bool, default=True, metavar="true|false",
                   help="write in binary mode (applies only to global CMN/CVN)")
    p.add_argument("--weights", default="",
                   help="rspecifier for a vector of floats for each utterance, that's a per-frame weight.")
    p.add_argument("feats", metavar="<feats-rspecifier>")
    p.add_argument("stats", metavar="<stats-wspecifier>|<stats-wxfilename>")


def run(args) -> int:
    from nnet2.feat.cmvn import cmvn_stats
    from nnet2.io.table import (RandomAccessTable, TableWriter, is_wspecifier, read_table,
                                write_matrix_file)
    from nnet2.utils.errors import DataError
    from nnet2.utils.log import get_logger

    log = get_logger(NAME)
    weights = RandomAccessTable(args.weights, "vector", what="--weights") if args.weights else None

    def stats_of(utt, m, into=None):
        w = None
        if weights is not None:
            if utt not in weights:
                log.warning(f"No weights available for utterance {utt}")
                return None
            w = weights[utt]
            if len(w) != m.shape[0]:
                raise DataError(f"weights for utterance {utt} have wrong size {len(w)} vs. {m.shape[0]}")
        return cmvn_stats(m, w, into)

    if not is_wspecifier(args.stats):  # global stats to a single file
        tot, n = None, 0
        for utt, m in read_table(args.feats, "matrix", what="feature rspecifier"):
            st = stats_of(utt, m, tot)
            if st is None:
                continue
            tot = st
            n += 1
        if tot is None:
            raise DataError(f"no features in '{args.feats}'")
        write_matrix_file(args.stats, tot, binary=args.binary, double=True)
        log.info(f"Wrote global CMVN stats to {args.stats} ({n} utterances)")
        return 0
    n = 0
    with TableWriter(args.stats, "matrix", double=True, what="stats wspecifier") as out:
        if args.spk2utt:
            feats = RandomAccessTable(args.feats, "matrix", what="feature rspecifier")
            for spk, utts in read_table(args.spk2utt, "token_vector", what="--spk2utt"):
                tot = None
                for u in utts:
                    if u not in feats:
                        log.warning(f"Did not find features for utterance {u}")
                        continue
                    st = stats_of(u, feats[u], tot)
                    if st is not None:
                        tot = st
                if tot is None:
                    log.warning(f"No stats accumulated for speaker {spk}")
                else:
                    out.write(spk, tot)
                    n += 1
        else:
            for utt, m in read_table(args.feats, "matrix", what="feature rspecifier"):
                st = stats_of(utt, m)
                if st is not None:
                    out.write(utt, st)
                    n += 1
    log.info(f"Wrote CMVN stats for {n} {'speakers' if args.spk2utt else 'utterances'}")
    return 0
