#!/usr/bin/env bash
# Issue 13, tables 2 and 3 (docs/RESULTS.md §10, §11): two queues, one run and one thread each.
# Resumable: rerunning the script continues each table with --resume.  Usage:
#   bash experiments/issue13_tables.sh spa   ROOT   # table 2: SPA Table-1 protocol, flip then translation
#   bash experiments/issue13_tables.sh aaa   ROOT   # table 3: Adversarial AutoAugment ablation + RA/TA
#   bash experiments/issue13_tables.sh t1    ROOT   # table 1 at n = 6,000 (the 10 % subset)
#   bash experiments/issue13_tables.sh mix   ROOT   # table 4a: the mixup seed's methods, ECE and FGSM
#   bash experiments/issue13_tables.sh unc   ROOT   # table 6: uncertainty-based sampling vs RandAugment
#   bash experiments/issue13_tables.sh patch ROOT   # issue 15: ERM vs GDRO vs CLAMP on the zigzag benchmark
#   bash experiments/issue13_tables.sh t1x2  ROOT   # table 1 at n = 6,000 with twice the auto budget (68 epochs)
#   bash experiments/issue13_tables.sh ifda  ROOT   # table 5: IF-DA at 1 % of the labels, as written and two variants
#   bash experiments/issue13_tables.sh mix2  ROOT   # table 4b: the rest of the mixing family on top of standard
#   bash experiments/issue13_tables.sh unc400 ROOT  # table 6 at twice the auto budget (probe: attach unc-n1000)
#   bash experiments/issue13_tables.sh ifdahalf ROOT # table 5's half-budget probe (167 epochs; attach as budget-half)
#   bash experiments/issue13_tables.sh mix2x2 ROOT  # table 4b's flagged rows at twice the budget (probe: mix2-n1000)
# Queue order used in session 5: "spa; unc" on one queue and "t1; patch; t1x2; mix" on the other.
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
  t1)
    run "$root/t1-n6000" --subset 6000 --eval-every 2 \
      --strategies "none,standard,randaugment,trivialaugment,autoaugment" ;;
  t1x2)  # does a longer budget change table 1's ranking at n = 6,000? (auto gives 34 epochs there)
    run "$root/t1-n6000-x2" --subset 6000 --eval-every 4 --epochs 68 \
      --strategies "none,randaugment,trivialaugment" ;;
  mix)
    run "$root/mix-n1000" --subset 1000 --eval-every 8 \
      --strategies "none,label-smoothing:eps=0.1,mixup:alpha=1,cutmix:alpha=1,manifold-mixup:alpha=2" ;;
  ifda)  # 600 images = 1 % of the labels; stages 0-3 use the 1,000-image validation split as hyper-validation;
        # no half-budget probe (session 8 ran it without, for time)
    run "$root/ifda-n600" --subset 600 --eval-every 0 --budget-check off \
      --strategies "none,standard,if-da,if-da:trust=100,if-da:pretrain=identity,trust=100" ;;
  ifdahalf)  # the probe table 5 ran without: half of auto's 334 epochs, same everything else
    run "$root/ifda-n600-half" --subset 600 --eval-every 0 --epochs 167 --budget-check off \
      --strategies "none,standard,if-da,if-da:trust=100,if-da:pretrain=identity,trust=100" ;;
  mix2)  # standard is the reference (every mixer runs on top of it); Co-Mixup's full solver is 10x a step (section 6)
    run "$root/mix2-n1000" --subset 1000 --eval-every 8 \
      --strategies "standard,saliencymix,puzzlemix,comixup-simplified,augmix,samplepairing,ricap,mosaic" ;;
  mix2x2)  # section 17b's guard and probe flagged AugMix and Mosaic (and Co-Mixup, left out for time): 400 epochs
    run "$root/mix2-n1000-x2" --subset 1000 --eval-every 16 --epochs 400 --budget-check off \
      --strategies "standard,augmix,mosaic" ;;
  unc400)  # section 11b did not converge at 200 epochs; its table is this one's half-budget probe
    run "$root/unc-n1000-x2" --subset 1000 --eval-every 16 --epochs 400 --budget-check off \
      --strategies "none,randaugment,uncertainty:l=4,c=1" ;;
  unc)
    run "$root/unc-n1000" --subset 1000 --eval-every 8 \
      --strategies "none,randaugment,uncertainty:l=4,c=1" ;;
  patch)
    out="$root/patch-zigzag"
    resume=(); [ -d "$out" ] && resume=(--resume)  # finished runs are kept, the report rewritten
    augkit patch --out "$out" --seeds 3 --threads 1 --channels-last true --quiet "${resume[@]}" ;;
  *) echo "queue must be spa, aaa, t1, t1x2, mix, mix2, ifda, ifdahalf, mix2x2, unc, unc400 or patch" >&2; exit 2 ;;
esac
