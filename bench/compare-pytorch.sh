#!/usr/bin/env bash
# Trains the same MNIST epoch (784-256-256-10, batch norm, batch 256, Adam
# 3e-4) with PyTorch CPU and with dnitrain, one after the other in one run,
# for bprop, cdni (linear synthesizer) and dni (2×1024 synthesizer), and
# prints seconds per epoch and the ratio dnitrain/PyTorch. PyTorch runs with
# 1 thread on each CPU in turn (taskset; the first four CPUs) and with 2
# threads, and the fastest counts: the CPUs of a shared host need not be
# equally fast, and an unpinned thread would land on either; dnitrain runs
# with --threads 2.
#
# With ROUNDS > 1 the three runs of a mode are repeated ROUNDS times in
# turn, so that each ratio compares runs a minute apart at most on a shared
# machine; a row per round is printed, then the median ratio of each mode.
#
# Each round also trains dnitrain with --threads 1 and prints its epoch time
# and the speed-up of two threads over one: on a shared host whose CPUs run
# at unequal speeds for a while, that column tells which kind of stretch the
# round fell in.
#
# Set-up (Debian 12, as root): apt-get install python3-torch libopenblas0-pthread
# (taskset comes with util-linux)
# Usage: bench/compare-pytorch.sh [EPOCHS [ROUNDS]]   (default 1 and 1; the mean epoch is compared)
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-1}
rounds=${2:-1}
out=$(mktemp -d)
go build -o "$out/dnitrain" ./cmd/dnitrain
pin=() # a command prefix that confines the next PyTorch run to a CPU
py() { "${pin[@]}" env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/pytorch_mnist.py "$@"; }
mean_seconds() { /usr/bin/python3 -c '
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("%.3f %.2f" % (sum(r["seconds"] for r in rs) / len(rs), rs[-1]["test_error"]))' "$1"; }
median() { tr ' ' '\n' | sort -n | awk 'NF {a[++n] = $1} END {print (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2}'; }
# PyTorch's runs: one thread on each of the first four CPUs this script may
# run on (unpinned without taskset), then two threads.
torch_runs=()
if command -v taskset >/dev/null; then
  for cpu in $(/usr/bin/python3 -c 'import os; print(*sorted(os.sched_getaffinity(0))[:4])'); do torch_runs+=("1:$cpu"); done
else
  torch_runs+=("1:")
fi
torch_runs+=("2:")
printf "| mode | PyTorch s/epoch (threads) | PyTorch test error | dnitrain s/epoch | dnitrain test error | dnitrain / PyTorch | dnitrain 1 thread s/epoch | 2 threads over 1 |\n|---|---|---|---|---|---|---|---|\n"
declare -A ratios
for mode in bprop cdni dni; do
  for ((round = 1; round <= rounds; round++)); do
    best="" best_threads=""
    for run in "${torch_runs[@]}"; do # threads:CPU, the CPU empty for an unpinned run
      threads=${run%%:*} cpu=${run#*:} pin=() label=${run%%:*}
      if [ -n "$cpu" ]; then pin=(taskset -c "$cpu") label="1, CPU $cpu"; fi
      py --mode "$mode" --epochs "$epochs" --threads "$threads" > "$out/torch.jsonl"
      read -r secs err < <(mean_seconds "$out/torch.jsonl")
      if [ -z "$best" ] || awk "BEGIN{exit !($secs < $best)}"; then best=$secs best_err=$err best_threads=$label; fi
    done
    rm -f "$out/dni-$mode.jsonl"
    "$out/dnitrain" train --quiet --mode "$mode" --epochs "$epochs" --threads 2 --metrics "$out/dni-$mode.jsonl"
    read -r ours our_err < <(mean_seconds "$out/dni-$mode.jsonl")
    rm -f "$out/dni1-$mode.jsonl"
    "$out/dnitrain" train --quiet --mode "$mode" --epochs "$epochs" --threads 1 --metrics "$out/dni1-$mode.jsonl"
    read -r one _ < <(mean_seconds "$out/dni1-$mode.jsonl")
    ratio=$(awk "BEGIN{printf \"%.2f\", $ours / $best}")
    ratios[$mode]="${ratios[$mode]:-} $ratio"
    printf "| %s | %.2f (%s) | %s%% | %.2f | %s%% | %s | %.2f | %.2f |\n" "$mode" "$best" "$best_threads" "$best_err" "$ours" "$our_err" "$ratio" "$one" "$(awk "BEGIN{print $one / $ours}")"
  done
done
if [ "$rounds" -gt 1 ]; then
  printf "\n| mode | median dnitrain / PyTorch over %d rounds | ratios |\n|---|---|---|\n" "$rounds"
  for mode in bprop cdni dni; do
    printf "| %s | %.2f | %s |\n" "$mode" "$(echo ${ratios[$mode]} | median)" "${ratios[$mode]# }"
  done
fi
rm -rf "$out"
