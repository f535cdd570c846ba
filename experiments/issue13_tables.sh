#!/usr/bin/env bash
# Issue 13, tables 2 and 3 (docs/RESULTS.md §10, §11): two queues, one run and one thread each.
# Resumable: rerunning the script continues each table with --resume.  Usage:
#   bash experiments/issue13_tables.sh spa   ROOT   # table 2: SPA Table-1 protocol, flip then translation
#   bash experiments/issue13_tables.sh aaa   ROOT   # table 3: Adversarial AutoAugment ablation + RA/TA
set -euo pipefail
queue=$1; root=${2:-runs}
common=(--dataset fashion-mnist --val 1000 --test-subset 5000 --model small_cnn_half --channels-last true
        --epochs auto --adv-images 1000 --seeds 3 --jobs 1 --threads 1 --quiet)
run() {  # out, then compare arguments
  local out=$1; shift
  if [ -f "$out/summary.json" ]; then echo "done: $out"; return; fi
  if [ -d "$out" ]; then augkit compare "${common[@]}" "$@" --out "$out" --resume
  else augkit compare "${common[@]}" "$@" --out "$out"; fi
}
# evaluations: about 25 per run whatever the size (auto epochs: 2000, 400, 200, 40 at n = 100 .. 5000)
declare -A every=([100]=80 [500]=16 [1000]=8 [5000]=2)
case $queue in
  spa)
    for aug in flip translation; do
      for n in 100 500 1000 5000; do
        run "$root/spa-$aug-n$n" --subset "$n" --eval-every "${every[$n]}" \
          --strategies "none,spa:lambda=0.1,aug=$aug,spa:lambda=0,aug=$aug"
      done
    done ;;
  aaa)
    a=adversarial-autoaugment:m=4
    run "$root/aaa-n1000" --subset 1000 --eval-every 8 \
      --strategies "$a,mode=baseline,$a,mode=fixed,$a,mode=random,$a,mode=adversarial,randaugment,trivialaugment" ;;
  *) echo "queue must be spa or aaa" >&2; exit 2 ;;
esac
