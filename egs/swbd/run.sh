#!/usr/bin/env bash
# The Su & Chen (2015) configuration on a Kaldi Switchboard system (egs/swbd/s5c):
# 11 x 40 fMLLR input frames -> 6 x 2048 sigmoid layers (RBM-pretrained) -> ~8806 pdfs, trained with
# NG-SGD, minibatch 1024, N MPI workers averaging every 10 minibatches, learning rate x N, exponential
# decay over 15 epochs; the result is a Kaldi nnet2 final.mdl for steps/nnet2/decode.sh.
#
# Run from egs/swbd (data/ and exp/ are created in the current directory):
#   ./run.sh --swbd-kaldi-dir /path/to/kaldi/egs/swbd/s5c --num-workers 8
# See README.md for what the Kaldi system must contain and how to decode.
set -euo pipefail

_recipe_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

stage=0
stop_stage=5
swbd_kaldi_dir=           # Kaldi egs/swbd/s5c with data/<train-set>, exp/tri4_ali_nodup (required)
train_set=train_nodup
ali_dir=                  # default: <swbd-kaldi-dir>/exp/tri4_ali_nodup
feats_scp=                # default: <swbd-kaldi-dir>/data-fmllr-tri4/<train-set>/feats.scp (40-dim fMLLR)
cmvn=false                # true: raw features (<swbd-kaldi-dir>/data/<train-set>/feats.scp unless
                          # --feats-scp) with per-speaker mean normalization from its cmvn.scp
data=data                 # where the imported data dir goes
dir=exp/nnet2_dbn         # egs, DBN, models, logs
num_workers=1             # MPI workers for training (cmd.sh's mpi_cmd launches them)
splice=5                  # frames of context each side (11-frame input)
nn_depth=6
hid_dim=2048
pretrain_num_utts=         # empty: RBM pretraining on every training utterance, streamed from disk through
                          # nnet1's shuffling buffer (bounded memory); N: N utterances spread over the data
random_init=false         # true: skip RBM pretraining, random hidden layers (the paper's A.4 comparison)
num_epochs=               # empty: conf/train.conf / nnet2's default (15)
num_frames_diagnostic=20000  # training-subset frames scored after every epoch (train diagnostic)
num_frames_valid=300000   # held-out frames scored after every epoch: a sample of the paper's 10% hold-out
                          # (about +-0.1% at 95% over its ~25k utterances)
train_conf=$_recipe_dir/conf/train.conf
egs_opts=                 # extra options for `nnet2 get-egs`
pretrain_opts=            # extra options for `nnet2 pretrain-dbn`
train_opts=               # extra options for `nnet2 train` (win over conf/train.conf)
seed=0

help_message="Usage: $0 --swbd-kaldi-dir <kaldi egs/swbd/s5c> [options]
Stages: 0 import+validate, 1 egs, 2 RBM pretraining, 3 DBN->DNN, 4 parallel training, 5 export."

. "$_recipe_dir/../_common/parse_options.sh"
. "$_recipe_dir/../_common/log.sh"
. "$_recipe_dir/path.sh"
. "$_recipe_dir/cmd.sh"

[ $# -eq 0 ] || die "unexpected arguments: $* (see $0 --help)"
[ -n "$swbd_kaldi_dir" ] || die "--swbd-kaldi-dir is required (your Kaldi egs/swbd/s5c directory)"
[ -d "$swbd_kaldi_dir" ] || die "--swbd-kaldi-dir $swbd_kaldi_dir: no such directory"
swbd_kaldi_dir=$(cd "$swbd_kaldi_dir" && pwd)
src_data=$swbd_kaldi_dir/data/$train_set
[ -n "$ali_dir" ] || ali_dir=$swbd_kaldi_dir/exp/tri4_ali_nodup
if [ -z "$feats_scp" ]; then
  if $cmvn; then feats_scp=$src_data/feats.scp; else feats_scp=$swbd_kaldi_dir/data-fmllr-tri4/$train_set/feats.scp; fi
fi
ali="$ali_dir/ali.*.gz"
mkdir -p "$dir/log" "$data"
dir=$(cd "$dir" && pwd)
data=$(cd "$data" && pwd)

if [ $stage -le 0 ] && [ $stop_stage -ge 0 ]; then
  log "Stage 0: import $src_data, features $feats_scp and alignments $ali_dir"
  for f in "$src_data/utt2spk" "$feats_scp" "$ali_dir/final.mdl"; do
    [ -f "$f" ] || die "$f: missing"
  done
  compgen -G "$ali" >/dev/null || die "no alignments $ali (run steps/align_fmllr.sh for $train_set first)"
  nnet2 validate-data-dir --need-cmvn "$cmvn" "$src_data"
  mkdir -p "$data/$train_set"
  for f in utt2spk spk2utt text segments wav.scp reco2file_and_channel; do
    if [ -f "$src_data/$f" ]; then cp "$src_data/$f" "$data/$train_set/$f"; fi
  done
  # Kaldi scp paths that are relative are relative to the s5c directory.
  if $cmvn; then
    mkdir -p "$dir/feats"
    (cd "$swbd_kaldi_dir" && nnet2 apply-cmvn --utt2spk="ark:$src_data/utt2spk" "scp:$src_data/cmvn.scp" \
       "scp:$feats_scp" "ark,scp:$dir/feats/feats_cmvn.ark,$data/$train_set/feats.scp")
  else
    awk -v root="$swbd_kaldi_dir" 'NF == 2 && $2 !~ /^\// { $2 = root "/" $2 } { print }' \
      "$feats_scp" > "$data/$train_set/feats.scp"
  fi
  nnet2 validate-data-dir --need-feats true "$data/$train_set"
fi

if [ $stage -le 1 ] && [ $stop_stage -ge 1 ]; then
  log "Stage 1: egs (+-$splice frames, the last 10% of the utterances held out for validation)"
  # The paper's (and nnet1's) hold-out: the last 10% of the utterances, ending at a speaker change
  # (utils/subset_data_dir_tr_cv.sh); a bounded sample of its frames is scored after every epoch.
  nnet2 get-egs --transition-model "$ali_dir/final.mdl" --left-context $splice --right-context $splice \
    --valid-split last-utts --valid-percent 10 --utt2spk "$data/$train_set/utt2spk" \
    --num-frames-valid $num_frames_valid --num-frames-diagnostic $num_frames_diagnostic --seed $seed \
    $egs_opts "scp:$data/$train_set/feats.scp" "$ali" "$dir/egs" 2>&1 | tee "$dir/log/get_egs.log"
fi

if [ $stage -le 2 ] && [ $stop_stage -ge 2 ]; then
  if $random_init; then
    log "Stage 2: random init: only the feature transform (+-$splice splice, global mean/variance)"
    depth=0
  else
    log "Stage 2: RBM pretraining, $nn_depth x $hid_dim"
    depth=$nn_depth
  fi
  mkdir -p "$dir/dbn"
  if [ -n "$pretrain_num_utts" ]; then
    nnet2 subset-scp $pretrain_num_utts "$data/$train_set/feats.scp" "$dir/dbn/feats.scp"
  else
    cp "$data/$train_set/feats.scp" "$dir/dbn/feats.scp"
  fi
  nnet2 pretrain-dbn --nn-depth $depth --hid-dim $hid_dim --splice $splice $pretrain_opts \
    "scp:$dir/dbn/feats.scp" "$dir/dbn"
fi

if [ $stage -le 3 ] && [ $stop_stage -ge 3 ]; then
  log "Stage 3: DBN -> DNN with the output layer for $ali_dir/final.mdl's pdfs"
  if $random_init; then
    nnet2 dbn-to-nnet --seed $seed --ali "$ali" --random-init true --nn-depth $nn_depth --hid-dim $hid_dim \
      "$dir/dbn/final.feature_transform" - "$ali_dir/final.mdl" "$dir/0.mdl"
  else
    nnet2 dbn-to-nnet --seed $seed --ali "$ali" "$dir/dbn/final.feature_transform" "$dir/dbn/$nn_depth.dbn" \
      "$ali_dir/final.mdl" "$dir/0.mdl"
  fi
  nnet2 am-info "$dir/0.mdl" | head -n 7
fi

if [ $stage -le 4 ] && [ $stop_stage -ge 4 ]; then
  log "Stage 4: training on $num_workers worker(s) (logs in $dir/log)"
  # --resume true: a rerun continues from the last complete iteration (a fresh run if there is none).
  mpi_cmd $num_workers -m nnet2 train --config "$train_conf" --resume true --seed $seed ${num_epochs:+--num-epochs $num_epochs} \
    $train_opts "$dir/egs" "$dir/0.mdl" "$dir"
fi

if [ $stage -le 5 ] && [ $stop_stage -ge 5 ]; then
  log "Stage 5: export $dir/final.mdl for Kaldi's steps/nnet2/decode.sh"
  [ -f "$dir/final.mdl" ] || die "$dir/final.mdl: missing (stage 4 did not finish)"
  nnet2 copy-transition-model --binary false "$ali_dir/final.mdl" "$dir/log/gmm_transition_model.txt"
  nnet2 copy-transition-model --binary false "$dir/final.mdl" "$dir/log/nnet_transition_model.txt"
  cmp -s "$dir/log/gmm_transition_model.txt" "$dir/log/nnet_transition_model.txt" ||
    die "$dir/final.mdl does not carry the TransitionModel of $ali_dir/final.mdl"
  # decode.sh rebuilds the fMLLR input from these (feat_type=lda + --transform-dir's trans.*).
  for f in final.mat splice_opts cmvn_opts; do
    if [ -f "$ali_dir/$f" ]; then cp "$ali_dir/$f" "$dir/$f"; fi
  done
  if $cmvn; then rm -f "$dir/final.mat"; echo "--norm-vars=false" > "$dir/cmvn_opts"; fi
  nnet2 am-info "$dir/final.mdl" | head -n 7
  if $cmvn; then transform_opt=""; else transform_opt="--transform-dir exp/tri4/decode_eval2000_sw1_tg "; fi
  log "Done. To decode eval2000 with Kaldi, from $swbd_kaldi_dir:"
  echo "  steps/nnet2/decode.sh --nj 30 --cmd \"\$decode_cmd\" --config conf/decode.config ${transform_opt}\\"
  echo "    exp/tri4/graph_sw1_tg data/eval2000 $dir/decode_eval2000_sw1_tg"
fi
