#!/usr/bin/env bash
# train_mnist --profile N: the kernel table of N eager steps on stdout and in the metrics JSON, with
# every kernel of the Net's step in it, N steps' worth of calls, and training otherwise unchanged.
# Usage: profile.sh TRAIN_MNIST_BINARY [--device cuda]
set -euo pipefail
bin=$1
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
common=(--limit-train 1000 --epochs 1 --seed 5 --quiet "$@")
"$bin" "${common[@]}" --profile 4 --metrics-json "$tmp/profiled.json" >"$tmp/out"
"$bin" "${common[@]}" --metrics-json "$tmp/plain.json" >/dev/null
grep -q "^profile: kernel time per training step, mean of 4 eager steps" "$tmp/out"
python3 - "$tmp/profiled.json" "$tmp/plain.json" <<'PY'
import json, sys
profiled, plain = (json.load(open(p)) for p in sys.argv[1:3])
kernels = {k["kernel"]: k for k in profiled["profile"]["kernels"]}
assert profiled["profile"]["steps"] == 4
for name in ("conv2d_forward", "conv2d_backward_filter", "gemm", "max_pool2d_backward_with_bias", "sgd_update"):
    assert name in kernels, name + " missing from the profile"
# A step reads its batch as a slice of the epoch's gathered batches: no gather of its own.
assert "index_select" not in kernels, kernels["index_select"]
# Two convolutions forward, two filter gradients, three GEMMs, two GEMMs with a bias epilogue and
# one with the bias gradient (fc2's weight gradient, its bias gradient summed in the same call: no sum) per step.
assert kernels["conv2d_forward"]["calls_per_step"] == 2, kernels["conv2d_forward"]
assert kernels["conv2d_backward_filter"]["calls_per_step"] == 2
assert kernels["gemm"]["calls_per_step"] == 3 and kernels["gemm_bias"]["calls_per_step"] == 2
assert kernels["gemm_bias_grad"]["calls_per_step"] == 1 and "sum_dim" not in kernels, kernels
assert all(k["us_per_step"] > 0 for k in kernels.values())
# Profiling times the step; it does not change what it computes.
a, b = profiled["epochs"][0], plain["epochs"][0]
assert a["train_loss"] == b["train_loss"] and a["test_accuracy"] == b["test_accuracy"], (a, b)
print("ok   --profile: %d kernels, %.0f us per step" % (len(kernels), sum(k["us_per_step"] for k in kernels.values())))
PY
