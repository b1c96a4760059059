#!/usr/bin/env bash
# The default nnet2 recipe on the Free Spoken Digit Dataset turned into connected-digit utterances:
#   data prep -> MFCC + CMVN -> monophone GMM alignments (+ decoding graph, GMM baseline)
#   -> egs -> [RBM pretraining] -> parallel training on $nj MPI workers -> decoding -> WER report.
# Two model types: the paper's sigmoid DNN (RBM + NG-SGD) and Kaldi's p-norm DNN (NG-SGD).
#
#   ./run.sh                          # everything (about 4 minutes on 2 idle cores, as the README says)
#   ./run.sh --quick true             # the same stages on a small subset (CI; seconds)
#   ./run.sh --stage 6 --nj 4         # train with 4 workers from the existing egs (exp/dnn_*_ngd_4w_avg10)
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
pnorm_input_dim=1000   # p-norm DNN (conf/pnorm_nnet.config): units in and out of each p-norm layer
pnorm_output_dim=100
exp=exp

help_message="Usage: $0 [options]
  --stage N --stop-stage N   run only stages N..M (0 data, 1 feats, 2 GMM, 3 egs, 4 RBM, 5 init,
                             6 train, 7 decode, 8 report); finished steps are skipped (done)
  --quick true|false         small subset, small networks, few epochs (outputs in exp_quick/)
  --models 'sigmoid pnorm'   which DNNs to train
  --nj N                     MPI workers for training
  --update ngd|sgd           natural-gradient or plain SGD
  --average-every K          average the workers' parameters every K minibatches
  --fsdd-dir DIR             FSDD root holding recordings/ (default: \$FSDD_DIR, ../shared/data/fsdd,
                             else downloaded into ~/.cache/nnet2)
Each trained model goes to exp/dnn_<model>_<update>_<nj>w_avg<K> (e.g. exp/dnn_sigmoid_ngd_2w_avg10),
so a run with other workers/update/averaging trains a new model beside the old ones; rerunning the
same options resumes or skips. Other options (all listed below) keep their directory names: use
--exp DIR for a separate experiment."
. ../_common/parse_options.sh

quick_opts=()
gmm_opts=()
train_extra=()
tune_opts=()
if [ "$quick" = true ]; then
  quick_opts=(--quick true)
  gmm_opts=(--num-iters 12 --max-iter-inc 8 --tot-gauss 300 --realign-iters "1 2 3 4 6 8 10")
  nn_depth=2; hid_dim=128; rbm_iter=1; pnorm_input_dim=400; pnorm_output_dim=40
  train_extra=(--num-epochs 2 --iters-per-epoch 1)
  tune_opts=(--acwts "0.075 0.1 0.15" --penalties "0 1")
  exp=exp_quick
fi
fsdd_opts=()
[ -n "$fsdd_dir" ] && fsdd_opts=(--fsdd-dir "$fsdd_dir")
data=data
[ "$quick" = true ] && data=data_quick
mkdir -p $exp

# done_already FILE WHAT: true (and says "WHAT: skipped (done)") when FILE exists.
done_already() {
  if [ -e "$1" ]; then
    echo "$(date '+%Y-%m-%d %H:%M:%S') (run.sh) $2: skipped (done)"
    return 0
  fi
  return 1
}
# The directory of a trained DNN, named after what decides it.
dnn_dir() { echo "$exp/dnn_${1}_${update}_${nj}w_avg${average_every}"; }

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  log "Stage 0: connected-digit corpus from FSDD, Kaldi data dirs, lexicon"
  if ! done_already $data/.done "corpus $data"; then
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
    if ! done_already $data/$s/feats.scp "MFCC + CMVN stats of $data/$s"; then
      nnet2 make-mfcc --nj 2 --mfcc-config conf/mfcc.conf $data/$s $exp/make_mfcc/$s mfcc_$data
      nnet2 make-cmvn $data/$s $exp/make_mfcc/$s mfcc_$data
    fi
  done
  if ! done_already $data/dev/feats.scp "dev / train_nodev split"; then
    nnet2 subset-data-dir --every 10 $data/train $data/dev
    nnet2 subset-data-dir --every 10 --exclude true $data/train $data/train_nodev
  fi
  if ! done_already $exp/feats/train_nodev_cmvn.scp "CMVN-applied train_nodev features"; then
    mkdir -p $exp/feats
    nnet2 apply-cmvn --utt2spk=ark:$data/train_nodev/utt2spk scp:$data/train_nodev/cmvn.scp \
      scp:$data/train_nodev/feats.scp ark,scp:$exp/feats/train_nodev_cmvn.ark,$exp/feats/train_nodev_cmvn.scp
  fi
fi

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  log "Stage 2: monophone GMM-HMM (flat start, Viterbi EM), alignments, decoding graph, GMM baseline"
  done_already $exp/mono/ali.1.gz "monophone GMM and alignments" ||
    nnet2 align-mono "${gmm_opts[@]}" $data/train_nodev $data/lang $exp/mono
  done_already $exp/mono/graph/HCLG.fst "decoding graph" || nnet2 make-graph $data/lang $exp/mono $exp/mono/graph
  if ! done_already $exp/mono/decode_test/wer "GMM decoding"; then
    nnet2 tune-decode "${tune_opts[@]}" --data $data/dev $exp/mono/graph $exp/mono $exp/mono/tune_dev
    nnet2 decode $(cat $exp/mono/tune_dev/best.conf) --data $data/test $exp/mono/graph $exp/mono $exp/mono/decode_test
  fi
fi

context_of() { [ "$1" = sigmoid ] && echo 5 || echo 4; }

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  log "Stage 3: training examples (egs) with +-context, shuffled, sharded at read time"
  for m in $models; do
    c=$(context_of $m)
    done_already $exp/egs_c$c/info.json "egs with context $c" || nnet2 get-egs --transition-model $exp/mono/final.mdl \
      --cmvn scp:$data/train_nodev/cmvn.scp --utt2spk $data/train_nodev/utt2spk \
      --left-context $c --right-context $c --seed $seed \
      scp:$data/train_nodev/feats.scp "$exp/mono/ali.*.gz" $exp/egs_c$c
  done
fi

if [ $stage -le 4 ] && [ $stop_stage -ge 4 ] && [[ " $models " == *" sigmoid "* ]]; then
  log "Stage 4: RBM pretraining ($nn_depth x $hid_dim, Gaussian-Bernoulli first layer, CD-1)"
  done_already $exp/dbn/$nn_depth.dbn "RBM pretraining" || nnet2 pretrain-dbn --nn-depth $nn_depth --hid-dim $hid_dim \
    --rbm-iter $rbm_iter --splice 5 --seed 777 --num-threads $((threads * nj)) \
    scp:$exp/feats/train_nodev_cmvn.scp $exp/dbn
fi

if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  log "Stage 5: initial models"
  for m in $models; do
    mkdir -p $exp/init_$m
    done_already $exp/init_$m/init.mdl "initial $m model" && continue
    if [ $m = sigmoid ]; then
      nnet2 dbn-to-nnet --seed $seed $exp/dbn/final.feature_transform $exp/dbn/$nn_depth.dbn \
        $exp/mono/final.mdl $exp/init_$m/init.mdl
    else
      # As Kaldi's p-norm recipes (steps/nnet2/train_pnorm_fast.sh): splice -> LDA-like transform
      # (steps/nnet2/get_lda.sh, here one process) -> hidden layers.
      nnet2 get-lda --silence-phones=$(cat $data/lang/silence.csl) --left-context=4 --right-context=4 \
        $exp/mono/final.mdl scp:$exp/feats/train_nodev_cmvn.scp "ark:gunzip -c $exp/mono/ali.*.gz |" \
        $exp/init_$m/lda.mat
      # the network is conf/pnorm_nnet.config; am-init fills in the egs' input, the LDA and the sizes below
      nnet2 am-init --srand $seed --egs-dir $exp/egs_c$(context_of $m) --var LDA_MAT=$exp/init_$m/lda.mat \
        --var PNORM_INPUT_DIM=$pnorm_input_dim --var PNORM_OUTPUT_DIM=$pnorm_output_dim \
        $exp/mono/final.mdl conf/pnorm_nnet.config $exp/init_$m/init.mdl
    fi
  done
fi

if [ $stage -le 6 ] && [ $stop_stage -ge 6 ]; then
  log "Stage 6: parallel training on $nj workers (average every $average_every minibatches, $update)"
  for m in $models; do
    c=$(context_of $m)
    dir=$(dnn_dir $m)
    train_args=(--config conf/$m.conf --update $update --average-every $average_every --seed $seed
      --threads $threads "${train_extra[@]}" $exp/egs_c$c $exp/init_$m/init.mdl $dir)
    # What this run asks for (options, config, initial model): the same again -> skipped (done) or
    # resumed; anything else -> train resumes only if its checkpoints agree, else it says which field differs.
    opts="$nj workers: ${train_args[*]} | $(cat conf/$m.conf) | $(cksum < $exp/init_$m/init.mdl)"
    if [ -f $dir/final.mdl ] && [ "$(cat $dir/run_opts 2>/dev/null)" = "$opts" ]; then
      done_already $dir/final.mdl "training $dir"
      continue
    fi
    mkdir -p $dir
    echo "$opts" > $dir/run_opts
    mpi_cmd $nj -m nnet2 train --resume true "${train_args[@]}"
  done
fi

if [ $stage -le 7 ] && [ $stop_stage -ge 7 ]; then
  log "Stage 7: decoding (acoustic scale and insertion penalty tuned on dev, never on test)"
  for m in $models; do
    dir=$(dnn_dir $m)
    if [ $dir/decode_test/wer -nt $dir/final.mdl ]; then  # decoded since the model was (re)trained
      done_already $dir/decode_test/wer "decoding $dir"
      continue
    fi
    nnet2 tune-decode "${tune_opts[@]}" --data $data/dev $exp/mono/graph $dir/final.mdl $dir/tune_dev
    nnet2 decode $(cat $dir/tune_dev/best.conf) --data $data/test $exp/mono/graph $dir/final.mdl $dir/decode_test
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
  for m in $models; do d=$(dnn_dir $m); systems+=("${d#$exp/}=$d"); done
  nnet2 report --ref $data/test/text --out $exp/RESULTS.md --plot $exp/learning_curves.png \
    --title "FSDD connected digits ($( [ $quick = true ] && echo quick || echo full ))" \
    --prepend $gmm_row "${systems[@]}"
  cat $gmm_row
  log "Wrote $exp/RESULTS.md and $exp/learning_curves.png"
fi
