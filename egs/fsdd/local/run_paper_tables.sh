#!/usr/bin/env bash
# The paper's tables in miniature on FSDD (resumable: rerun to continue). Prepares data, features,
# GMM alignments, egs, the DBN and the initial models with run.sh's stages, then runs every
# experiment with local/paper_tables.py (training launched through cmd.sh's mpi_cmd) and writes
# ../../results/paper_tables.md and plots.
#   local/run_paper_tables.sh [--epochs 8] [--quick true] [--only NAME,NAME]
set -euo pipefail
cd "$(dirname "$0")/.."
. ./cmd.sh
. ./path.sh
. ../_common/log.sh

epochs=8
quick=false   # true: run.sh's quick subset and small networks (for trying the script out)
only=         # comma-separated experiment names, run in this order (local/paper_tables.py --list); empty: all
note=         # a sentence for the top of paper_tables.md (e.g. what was reduced)
out=../../results
help_message="Usage: $0 [--epochs N] [--quick true|false] [--only NAME,...] [--note TEXT] [--out DIR]"
. ../_common/parse_options.sh

exp=exp
data=data
if [ "$quick" = true ]; then exp=exp_quick; data=data_quick; fi

log "Preparing data, GMM, egs, DBN and initial models (run.sh stages 0-5)"
./run.sh --quick $quick --stop-stage 5 --models "sigmoid pnorm"
log "Running the experiments (each: train on N MPI workers, tune on dev, decode test)"
python local/paper_tables.py --epochs $epochs ${only:+--only "$only"} --note "$note" $exp/paper $exp/egs_c5 $exp/egs_c4 \
  $exp/init_sigmoid/init.mdl $exp/dbn/final.feature_transform $exp/mono/final.mdl $exp/init_pnorm/init.mdl \
  $exp/mono/graph $data/dev $data/test $out
log "Wrote $out/paper_tables.md"
