#!/usr/bin/env bash
# Evidence still owed by issues 14 and 15 (docs/RESULTS.md §12): prepared, resumable, one queue per call.
# Same protocol as issue 13's tables (1,000 Fashion-MNIST images + 1,000 validation, --epochs auto, small_cnn_half,
# 3 seeds), so every row can be read beside docs/results/aaa-n1000's RandAugment / TrivialAugment.  Usage:
#   bash experiments/next_tables.sh search   ROOT   # issue 14: run the five searches (cost recorded in search.json)
#   bash experiments/next_tables.sh searched ROOT   # issue 14: replay every found policy vs RA / TA / AA (3 seeds)
#   bash experiments/next_tables.sh searchedhalf ROOT # issue 13: the replay's half-budget probe (100 epochs)
#   bash experiments/next_tables.sh aa20     ROOT   # issue 14: AutoAugment search resumed to 20 updates, its policy added
#                                                   #   to copies of both replays (compare --resume adds strategies)
#   bash experiments/next_tables.sh model    ROOT   # issue 15: style and GAN augmentation vs standard / TA
#   bash experiments/next_tables.sh distill  ROOT   # issue 15: data distillation vs supervised at 1 % and 10 % labels
#   bash experiments/next_tables.sh patchstyle ROOT # issue 15: style augmentation on the zigzag (spurious local pattern) task
set -euo pipefail
queue=$1; root=${2:-runs}
data=(--dataset fashion-mnist --subset 1000 --val 1000 --model small_cnn_half --channels-last true --threads 1)
common=("${data[@]}" --test-subset 5000 --epochs auto --adv-images 1000 --seeds 3 --jobs 1 --quiet)
run() {  # out, then compare arguments
  local out=$1; shift
  if [ -f "$out/summary.json" ]; then echo "done: $out"; return; fi
  if [ -d "$out" ]; then augkit compare "${common[@]}" "$@" --out "$out" --resume
  else augkit compare "${common[@]}" "$@" --out "$out"; fi
}
search() {  # name, out, then search arguments (a rerun skips finished trials)
  local name=$1 out=$2; shift 2
  augkit search "$name" "${data[@]}" --out "$out" --backend local --quiet "$@"
}
s=$root/search
case $queue in
  search)
    search fast-autoaugment "$s/faa" --epochs 60 --options folds=5,candidates=200
    search randaugment-grid "$s/ra-grid" --epochs 60 --options 'n=1;2;3,m=3;6;9'
    search pba "$s/pba" --epochs 60 --options population=8,interval=3
    search tanda "$s/tanda" --options generator=lstm,iterations=2000
    search autoaugment "$s/aa" --epochs 30 --options iterations=6,batch=8  # 20 iterations = 80 min here: cut
    augkit search if-da "${data[@]}" --out "$s/ifda" --quiet --epochs 200 ;;  # stages 0-3 only, for the cost the IF-DA paper compares with AA's
  aa20)  # the 6-update search continued to 20 updates (the controller state and 48 children are reused)
    [ -d "$s/aa20" ] || cp -a "$s/aa" "$s/aa20"
    search autoaugment "$s/aa20" --epochs 30 --options iterations=20,batch=8
    strategies="randaugment,trivialaugment,autoaugment,policy:file=$s/faa/policy.json,policy:file=$s/ra-grid/policy.json,pba:file=$s/pba/schedule.json,length=60,tanda:file=$s/tanda/tanda.pt,policy:file=$s/aa/policy.json"
    for pair in "searched-n1000:8:auto" "searched-n1000-half:4:100"; do
      IFS=: read -r name every epochs <<< "$pair"
      [ -d "$root/$name-aa20" ] || cp -a "$root/$name" "$root/$name-aa20"
      augkit compare "${common[@]}" --eval-every "$every" --epochs "$epochs" --budget-check off --resume \
        --strategies "$strategies,policy:file=$s/aa20/policy.json" --out "$root/$name-aa20"
    done ;;
  searched)
    run "$root/searched-n1000" --eval-every 8 --budget-check off --strategies \
      "randaugment,trivialaugment,autoaugment,policy:file=$s/faa/policy.json,policy:file=$s/ra-grid/policy.json,pba:file=$s/pba/schedule.json,length=60,tanda:file=$s/tanda/tanda.pt,policy:file=$s/aa/policy.json" ;;
  searchedhalf)  # attach as searched-n1000/budget-half (the replay ran with --budget-check off for time)
    run "$root/searched-n1000-half" --eval-every 4 --epochs 100 --budget-check off --strategies \
      "randaugment,trivialaugment,autoaugment,policy:file=$s/faa/policy.json,policy:file=$s/ra-grid/policy.json,pba:file=$s/pba/schedule.json,length=60,tanda:file=$s/tanda/tanda.pt,policy:file=$s/aa/policy.json" ;;
  model)
    run "$root/model-n1000" --eval-every 8 --strategies "standard,trivialaugment,style,gan" ;;
  distill)
    for n in 600 6000; do  # 1 % and 10 % of the 60,000 training labels; the rest is the unlabeled pool
      run "$root/distill-n$n" --subset "$n" --eval-every 0 --strategies "standard,distill"
    done ;;
  patchstyle)  # ERM/GDRO/CLAMP as in §12, plus style (no other augmentation under it) and TrivialAugment
    out="$root/patch-style"
    resume=(); [ -d "$out" ] && resume=(--resume)
    augkit patch --methods "none,gdro,clamp,style:base=none,trivialaugment" --out "$out" --seeds 3 --threads 1 \
      --channels-last true --quiet "${resume[@]}" ;;
  *) echo "queue must be search, searched, searchedhalf, aa20, model, distill or patchstyle" >&2; exit 2 ;;
esac
