#!/usr/bin/env bash
# Why RBM pretraining does not help on FSDD, and settings under which it does (README, "RBM pretraining").
# Needs run.sh's stages 0-3 (features, alignments, egs). For each setting: pretrain the 4 x 512 DBN of
# run.sh (its log counts the dead units per layer), fine-tune it for a few epochs on one worker with
# conf/sigmoid.conf, and compare its validation accuracy (with 95% intervals) to random initialization.
#   egs/fsdd/local/rbm_study.sh [--epochs 3]
set -euo pipefail
cd "$(dirname "$0")/.."
. ./cmd.sh
. ./path.sh
. ../_common/log.sh

epochs=3
exp=exp
out=$exp/rbm_study
help_message="Usage: $0 [--epochs N] [--out DIR]"
. ./parse_options.sh

[ -f $exp/egs_c5/info.json ] || die "run ./run.sh --stop-stage 3 first"
mkdir -p $out
# name | pretrain-dbn options (run.sh uses: --rbm-iter 2 and nnet1's other defaults)
settings=(
  "nnet1|--rbm-iter 2"
  "momentum-period-5k|--rbm-iter 2 --momentum-step-period 5000"
  "bb-lrate-0.1|--rbm-iter 2 --rbm-lrate 0.1"
  "bb-lrate-0.02|--rbm-iter 2 --rbm-lrate 0.02"
  "period-5k-iter-6|--rbm-iter 6 --momentum-step-period 5000"
)
systems=()
for s in "${settings[@]}"; do
  name=${s%%|*}; opts=${s#*|}
  d=$out/$name
  if [ ! -f $d/dbn/4.dbn ]; then
    log "pretraining $name: $opts"
    nnet2 pretrain-dbn --nn-depth 4 --hid-dim 512 --splice 5 --seed 777 $opts \
      scp:$exp/feats/train_nodev_cmvn.scp $d/dbn
  fi
  grep -h "hidden units dead" $d/dbn/log/pretrain_dbn.log | sed 's/^.*) //' | sed "s/^/$name: /"
  [ -f $d/init.mdl ] || nnet2 dbn-to-nnet --seed 0 $d/dbn/final.feature_transform $d/dbn/4.dbn \
    $exp/mono/final.mdl $d/init.mdl
  systems+=("$name=$d/nnet")
done
d=$out/random
[ -f $d/init.mdl ] || { mkdir -p $d; nnet2 dbn-to-nnet --random-init true --nn-depth 4 --hid-dim 512 --seed 0 \
  $out/nnet1/dbn/final.feature_transform - $exp/mono/final.mdl $d/init.mdl; }
systems+=("random=$d/nnet")
for sys in "${systems[@]}"; do
  d=${sys#*=}
  [ -f $d/final.mdl ] || nnet2 train --config conf/sigmoid.conf --num-epochs $epochs --iters-per-epoch 1 \
    --threads 1 --progress false $exp/egs_c5 $(dirname $d)/init.mdl $d
done
nnet2 report --out $out/RESULTS.md --title "RBM pretraining settings vs random init ($epochs epochs, 1 worker)" \
  "${systems[@]}"
