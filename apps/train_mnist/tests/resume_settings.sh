#!/usr/bin/env bash
# --resume continues the checkpoint's optimizer, PyTorch-style: its kind, hyperparameters and lr
# schedule (initial lr, gamma), with no flags repeated; an optimizer flag given that differs is
# refused (one line, exit 2) rather than half applied; the banner and the metrics JSON show the
# values in use.
# Usage: resume_settings.sh TRAIN_MNIST_BINARY
set -u
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
common=(--device cpu --limit-train 1000 --seed 3)
flags=(--lr 0.05 --momentum 0.9 --gamma 0.5)

"$bin" "${common[@]}" "${flags[@]}" --quiet --epochs 1 --save-model "$tmp/epoch1.safetensors" >/dev/null || fail "epoch 1"
"$bin" "${common[@]}" "${flags[@]}" --quiet --epochs 2 --save-model "$tmp/full.safetensors" >/dev/null || fail "full run"

# No optimizer flags: the checkpoint's lr 0.05, momentum 0.9 and gamma 0.5 (the defaults would be
# 0.01, 0 and 1), so the resumed run ends where the uninterrupted one does.
"$bin" "${common[@]}" --epochs 2 --resume "$tmp/epoch1.safetensors" --save-model "$tmp/resumed.safetensors" \
  --metrics-json "$tmp/resumed.json" >"$tmp/out" 2>"$tmp/err"
code=$?
if [ "$code" -ne 0 ] || ! cmp -s "$tmp/full.safetensors" "$tmp/resumed.safetensors"; then
  fail "resume-continues-checkpoint: exit $code, weights differ from the uninterrupted run"; cat "$tmp/err"
elif ! grep -q "sgd lr 0.05 momentum 0.9," "$tmp/out"; then
  fail "resume-banner: the banner does not show the checkpoint's settings"; head -3 "$tmp/out"
elif ! python3 -c 'import json, sys; o = json.load(open(sys.argv[1]))["options"]
assert (o["lr"], o["momentum"], o["optimizer"]) == (0.05, 0.9, "sgd"), o' "$tmp/resumed.json"; then
  fail "resume-metrics: the metrics JSON does not show the checkpoint's settings"
else
  echo "ok   resume-continues-checkpoint (weights, banner, metrics)"
fi

# The same values given again are fine.
"$bin" "${common[@]}" "${flags[@]}" --quiet --epochs 2 --resume "$tmp/epoch1.safetensors" --optimizer sgd \
  --save-model "$tmp/again.safetensors" >/dev/null 2>"$tmp/err" && cmp -s "$tmp/full.safetensors" "$tmp/again.safetensors" &&
  echo "ok   resume-same-flags" || { fail "resume-same-flags"; cat "$tmp/err"; }

# expect_refused NAME PATTERN ARGS...: exit 2, one line on stderr matching PATTERN, nothing trained.
expect_refused() {
  local name=$1 pattern=$2
  shift 2
  "$bin" "${common[@]}" --epochs 2 --resume "$tmp/epoch1.safetensors" "$@" >"$tmp/out" 2>"$tmp/err"
  local code=$? lines
  lines=$(grep -c . "$tmp/err")
  if [ "$code" -ne 2 ] || [ "$lines" -ne 1 ] || ! grep -qE -- "$pattern" "$tmp/err" || grep -q "^epoch" "$tmp/out"; then
    fail "$name: exit $code, stderr ($lines lines):"; cat "$tmp/err"
  else
    echo "ok   $name: $(cat "$tmp/err")"
  fi
}
continues="a resumed run continues the checkpoint's optimizer settings"
expect_refused refuse-momentum "^train_mnist: --momentum 0 differs from the checkpoint's 0.9 .*: $continues" --momentum 0
expect_refused refuse-lr "^train_mnist: --lr 0.5 differs from the checkpoint's 0.05 .*: $continues" --lr 0.5
expect_refused refuse-optimizer "^train_mnist: --optimizer adam differs from the checkpoint's sgd .*: $continues" \
  --optimizer adam
expect_refused refuse-gamma "^train_mnist: --gamma 1 differs from the checkpoint's 0.5 .*: $continues" --gamma 1

[ "$failures" -eq 0 ] || { echo "$failures failures"; exit 1; }
