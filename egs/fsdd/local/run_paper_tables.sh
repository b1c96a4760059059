#!/usr/bin/env bash
# The paper's tables in miniature on FSDD (resumable: rerun to continue). Prepares data, features,
# GMM alignments, egs, the DBN and the initial models with run.sh's stages, then runs every
# experiment with `nnet2 paper-tables` and writes ../../results/paper_tables.md and plots.
#   egs/fsdd/local/run_paper_tables.sh [--epochs 8]
set -euo pipefail
cd "$(dirname "$0")/.."
. ./cmd.sh
. ./path.sh
. ../_common/log.sh

epochs=8
exp=exp
out=../../results
help_message="Usage: $0 [--epochs N] [--out DIR]"
. ./parse_options.sh

log "Preparing data, GMM, egs, DBN and initial models (run.sh stages 0-5)"
./run.sh --stop-stage 5 --models "sigmoid pnorm"
if [ ! -f $exp/init_sigmoid/init_random.mdl ]; then
  depth=$(ls $exp/dbn | grep -c '\.rbm$')
  hid=$(nnet2 am-info $exp/init_sigmoid/init.mdl | awk '/SigmoidComponent/ {print $NF; exit}' | sed 's/.*=//')
  nnet2 dbn-to-nnet --random-init true --nn-depth $depth --hid-dim $hid --seed 0 \
    $exp/dbn/final.feature_transform - $exp/mono/final.mdl $exp/init_sigmoid/init_random.mdl
fi
log "Running the experiments (each: train on N MPI workers, tune on dev, decode test)"
nnet2 paper-tables --epochs $epochs $exp/paper $exp/egs_c5 $exp/egs_c4 $exp/init_sigmoid/init.mdl \
  $exp/init_sigmoid/init_random.mdl $exp/init_pnorm/init.mdl $exp/mono/graph data/dev data/test $out
log "Wrote $out/paper_tables.md"
