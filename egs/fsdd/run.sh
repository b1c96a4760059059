#!/usr/bin/env bash
# The default nnet2 recipe on the Free Spoken Digit Dataset turned into connected-digit utterances:
#   data prep -> MFCC + CMVN -> monophone GMM alignments (+ decoding graph, GMM baseline)
#   -> egs -> [RBM pretraining] -> parallel training on $nj MPI workers -> decoding -> WER report.
# Two model types: the paper's sigmoid DNN (RBM + NG-SGD) and Kaldi's p-norm DNN (NG-SGD).
#
#   ./run.sh                          # everything (about 15 minutes on 2 cores)
#   ./run.sh --quick true             # the same stages on a small subset (CI; a few minutes)
#   ./run.sh --stage 6 --nj 4         # retrain with 4 workers from the existing egs
#   ./run.sh --fsdd-dir /my/fsdd      # your own copy of FSDD (holding recordings/)
set -euo pipefail
cd "$(dirname "$0")"
. ./cmd.sh
. ./path.sh
. ../_common/log.sh

stage=0
stop_stage=100
quick=false
fsdd_dir=""            # default: $FSDD_DIR, else ../shared/data/fsdd beside the repository, else download (nnet2 download-fsdd)
split=take             # take (takes 0-4 are test) or speaker (--test-speaker held out)
test_speaker=theo
models="sigmoid pnorm" # which DNNs to train
nj=2                   # MPI workers for training
threads=1              # BLAS/OpenMP threads per worker
seed=0
average_every=10
update=ngd             # ngd (online natural gradient) or sgd
nn_depth=4             # sigmoid DNN: hidden layers (all RBM-pretrained)
hid_dim=512
rbm_iter=2
pnorm_layers=3
pnorm_input_dim=1000
pnorm_output_dim=100
exp=exp

help_message="Usage: $0 [options]   (see the variables at the top of $0 for all options)
  --stage N --stop-stage N   run only stages N..M (0 data, 1 feats, 2 GMM, 3 egs, 4 RBM, 5 init,
                             6 train, 7 decode, 8 report)
  --quick true|false         small subset, small networks, few epochs
  --models 'sigmoid pnorm'   which DNNs to train
  --nj N                     MPI workers for training (default $nj)
  --fsdd-dir DIR             FSDD root holding recordings/"
. ./parse_options.sh

quick_opts=()
gmm_opts=()
train_extra=()
tune_opts=()
if [ "$quick" = true ]; then
  quick_opts=(--quick true)
  gmm_opts=(--num-iters 12 --max-iter-inc 8 --tot-gauss 300 --realign-iters "1 2 3 4 6 8 10")
  nn_depth=2; hid_dim=128; rbm_iter=1; pnorm_layers=2; pnorm_input_dim=400; pnorm_output_dim=40
  train_extra=(--num-epochs 2 --iters-per-epoch 1)
  tune_opts=(--acwts "0.075 0.1 0.15" --penalties "0 1")
  exp=exp_quick
fi
fsdd_opts=()
[ -n "$fsdd_dir" ] && fsdd_opts=(--fsdd-dir "$fsdd_dir")
data=data
[ "$quick" = true ] && data=data_quick
mkdir -p $exp

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  log "Stage 0: connected-digit corpus from FSDD, Kaldi data dirs, lexicon"
  if [ ! -f $data/.done ]; then
    nnet2 prepare-fsdd "${fsdd_opts[@]}" "${quick_opts[@]}" --seed 777 --split $split \
      --test-speaker $test_speaker $data.tmp
    rm -rf $data && mv $data.tmp/data $data && rm -rf wav_$data && mv $data.tmp/wav wav_$data && rm -rf $data.tmp
    # prepare-fsdd writes wav paths under its output dir: point them at the moved folder
    sed -i "s#$data.tmp/wav#wav_$data#g" $data/*/wav.scp
    touch $data/.done
  fi
fi

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  log "Stage 1: MFCC (conf/mfcc.conf) and per-speaker CMVN; dev = every 10th training utterance"
  for s in train test; do
    if [ ! -f $data/$s/feats.scp ]; then
      nnet2 make-mfcc --nj 2 --mfcc-config conf/mfcc.conf $data/$s $exp/make_mfcc/$s mfcc_$data
      nnet2 make-cmvn $data/$s $exp/make_mfcc/$s mfcc_$data
    fi
  done
  if [ ! -f $data/dev/feats.scp ]; then
    nnet2 subset-data-dir --every 10 $data/train $data/dev
    nnet2 subset-data-dir --every 10 --exclude true $data/train $data/train_nodev
  fi
  if [ ! -f $exp/feats/train_nodev_cmvn.scp ]; then
    mkdir -p $exp/feats
    nnet2 apply-cmvn --utt2spk=ark:$data/train_nodev/utt2spk scp:$data/train_nodev/cmvn.scp \
      scp:$data/train_nodev/feats.scp ark,scp:$exp/feats/train_nodev_cmvn.ark,$exp/feats/train_nodev_cmvn.scp
  fi
fi

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  log "Stage 2: monophone GMM-HMM (flat start, Viterbi EM), alignments, decoding graph, GMM baseline"
  [ -f $exp/mono/ali.1.gz ] || nnet2 align-mono "${gmm_opts[@]}" $data/train_nodev $data/lang $exp/mono
  [ -f $exp/mono/graph/HCLG.fst ] || nnet2 make-graph $data/lang $exp/mono $exp/mono/graph
  if [ ! -f $exp/mono/decode_test/hyp.txt ]; then
    nnet2 tune-decode "${tune_opts[@]}" --data $data/dev $exp/mono/graph $exp/mono $exp/mono/tune_dev
    nnet2 decode $(cat $exp/mono/tune_dev/best.conf) --data $data/test $exp/mono/graph $exp/mono $exp/mono/decode_test
  fi
fi

context_of() { [ "$1" = sigmoid ] && echo 5 || echo 4; }

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  log "Stage 3: training examples (egs) with +-context, shuffled, sharded at read time"
  for m in $models; do
    c=$(context_of $m)
    [ -f $exp/egs_c$c/info.json ] || nnet2 get-egs --transition-model $exp/mono/final.mdl \
      --cmvn scp:$data/train_nodev/cmvn.scp --utt2spk $data/train_nodev/utt2spk \
      --left-context $c --right-context $c --seed $seed \
      scp:$data/train_nodev/feats.scp "$exp/mono/ali.*.gz" $exp/egs_c$c
  done
fi

if [ $stage -le 4 ] && [ $stop_stage -ge 4 ] && [[ " $models " == *" sigmoid "* ]]; then
  log "Stage 4: RBM pretraining ($nn_depth x $hid_dim, Gaussian-Bernoulli first layer, CD-1)"
  [ -f $exp/dbn/$nn_depth.dbn ] || nnet2 pretrain-dbn --nn-depth $nn_depth --hid-dim $hid_dim \
    --rbm-iter $rbm_iter --splice 5 --seed 777 --num-threads $((threads * nj)) \
    scp:$exp/feats/train_nodev_cmvn.scp $exp/dbn
fi

if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  log "Stage 5: initial models"
  for m in $models; do
    mkdir -p $exp/dnn_$m
    [ -f $exp/dnn_$m/init.mdl ] && continue
    if [ $m = sigmoid ]; then
      nnet2 dbn-to-nnet --seed $seed $exp/dbn/final.feature_transform $exp/dbn/$nn_depth.dbn \
        $exp/mono/final.mdl $exp/dnn_$m/init.mdl
    else
      cfg=$exp/dnn_$m/nnet.config
      {
        echo "SpliceComponent input-dim=13 left-context=4 right-context=4"
        d=117
        for _ in $(seq $pnorm_layers); do
          echo "AffineComponent input-dim=$d output-dim=$pnorm_input_dim learning-rate=0.001 param-stddev=$(python -c "print(1/$pnorm_input_dim**0.5)") bias-stddev=0.5"
          echo "PnormComponent input-dim=$pnorm_input_dim output-dim=$pnorm_output_dim p=2"
          echo "NormalizeComponent dim=$pnorm_output_dim"
          d=$pnorm_output_dim
        done
        echo "AffineComponent input-dim=$d output-dim=NUM_PDFS learning-rate=0.001 param-stddev=0 bias-stddev=0"
        echo "SoftmaxComponent dim=NUM_PDFS"
      } > $cfg
      nnet2 am-init --srand $seed $exp/mono/final.mdl $cfg $exp/dnn_$m/init.mdl
    fi
  done
fi

if [ $stage -le 6 ] && [ $stop_stage -ge 6 ]; then
  log "Stage 6: parallel training on $nj workers (average every $average_every minibatches, $update)"
  for m in $models; do
    c=$(context_of $m)
    [ -f $exp/dnn_$m/final.mdl ] && continue
    mpi_cmd $nj -m nnet2 train --config conf/$m.conf --update $update --average-every $average_every \
      --seed $seed --threads $threads --resume true "${train_extra[@]}" \
      $exp/egs_c$c $exp/dnn_$m/init.mdl $exp/dnn_$m
  done
fi

if [ $stage -le 7 ] && [ $stop_stage -ge 7 ]; then
  log "Stage 7: decoding (acoustic scale and insertion penalty tuned on dev, never on test)"
  for m in $models; do
    [ -f $exp/dnn_$m/decode_test/hyp.txt ] && continue
    nnet2 tune-decode "${tune_opts[@]}" --data $data/dev $exp/mono/graph $exp/dnn_$m/final.mdl $exp/dnn_$m/tune_dev
    nnet2 decode $(cat $exp/dnn_$m/tune_dev/best.conf) --data $data/test $exp/mono/graph \
      $exp/dnn_$m/final.mdl $exp/dnn_$m/decode_test
  done
fi

if [ $stage -le 8 ] && [ $stop_stage -ge 8 ]; then
  log "Stage 8: results"
  gmm_row=$exp/gmm_row.md
  {
    echo ""
    echo "GMM baseline (monophone, tuned on dev): $(head -1 $exp/mono/decode_test/wer)"
  } > $gmm_row
  systems=()
  for m in $models; do systems+=("$m-$update-${nj}w=$exp/dnn_$m"); done
  nnet2 report --ref $data/test/text --out $exp/RESULTS.md --plot $exp/learning_curves.png \
    --title "FSDD connected digits ($( [ $quick = true ] && echo quick || echo full ))" \
    --prepend $gmm_row "${systems[@]}"
  cat $gmm_row
  log "Wrote $exp/RESULTS.md and $exp/learning_curves.png"
fi
