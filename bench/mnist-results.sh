#!/usr/bin/env bash
# Reproduces the README's MNIST results table: 3 weight layers
# (784-256-256-10, batch norm, ReLU), batch 256, Adam 3e-4, seed 1.
#   bprop           10 epochs
#   cdni, linear synthesizer           30 epochs
#   dni, 2×1024 synthesizer            EPOCHS_DNI epochs (default 10)
# Writes one --metrics file per run into OUT (default runs/results) and
# prints the table. Runs are sequential; expect a few minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-runs/results}
mkdir -p "$out"
go build -o "$out/dnitrain" ./cmd/dnitrain
run() {
  local name=$1; shift
  rm -f "$out/$name.jsonl"
  "$out/dnitrain" train --quiet --metrics "$out/$name.jsonl" --checkpoint "$out/$name.safetensors" "$@"
}
run bprop --mode bprop --epochs "${EPOCHS_BPROP:-10}"
run cdni --mode cdni --sg-hidden 0 --epochs "${EPOCHS_CDNI:-30}"
run dni --mode dni --sg-hidden 2 --sg-width 1024 --epochs "${EPOCHS_DNI:-10}"
go run ./bench/table "$out"/bprop.jsonl "$out"/cdni.jsonl "$out"/dni.jsonl
