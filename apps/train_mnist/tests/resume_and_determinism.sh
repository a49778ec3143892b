#!/usr/bin/env bash
# On the CPU: (1) two runs with one seed write bit-identical weights; (2) resuming from the
# checkpoint of epoch 1 and training epoch 2 gives the same final weights as an uninterrupted
# 2-epoch run; (3) a small run learns (loss drops, accuracy far above chance).
# Usage: resume_and_determinism.sh TRAIN_MNIST_BINARY
set -euo pipefail
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
common=(--device cpu --limit-train 3000 --batch-size 100 --lr 0.05 --momentum 0.9 --seed 7 --quiet)

"$bin" "${common[@]}" --epochs 2 --save-model "$tmp/full.safetensors" --metrics-json "$tmp/full.json"
"$bin" "${common[@]}" --epochs 2 --save-model "$tmp/again.safetensors"
cmp "$tmp/full.safetensors" "$tmp/again.safetensors" && echo "ok   same seed, identical weights"

"$bin" "${common[@]}" --epochs 1 --save-model "$tmp/epoch1.safetensors"
"$bin" "${common[@]}" --epochs 2 --resume "$tmp/epoch1.safetensors" --save-model "$tmp/resumed.safetensors"
cmp "$tmp/full.safetensors" "$tmp/resumed.safetensors" && echo "ok   resume equals uninterrupted"

python3 - "$tmp/full.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["epochs"]
first, last = m[0], m[-1]
print("epochs:", [(e["epoch"], round(e["train_loss"], 4), round(e["test_accuracy"], 4)) for e in m])
assert last["train_loss"] < first["train_loss"], "training loss did not drop"
assert last["test_accuracy"] > 0.75, "test accuracy %.3f is not far above chance" % last["test_accuracy"]
print("ok   learns: loss %.3f -> %.3f, test accuracy %.2f%%" % (first["train_loss"], last["train_loss"], 100 * last["test_accuracy"]))
PY
