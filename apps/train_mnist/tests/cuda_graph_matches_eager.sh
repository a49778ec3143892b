#!/usr/bin/env bash
# On a GPU: train_mnist with the step replayed from a CUDA graph gives the losses and accuracy of
# the same run done eagerly (same kernels, same order: equal up to the nondeterminism of a few
# cuDNN kernels), checks that the graph was used, and that the learning-rate decay recaptures it.
# Exits 77 (ctest: skipped) without a GPU.
# Usage: cuda_graph_matches_eager.sh TRAIN_MNIST_BINARY
set -euo pipefail
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Heuristic algorithm choice, so that both runs use the same cuDNN algorithms.
common=(--device cuda --limit-train 5000 --lr 0.05 --momentum 0.9 --gamma 0.7 --epochs 3 --seed 3 --quiet
        --cudnn-benchmark off)

if ! "$bin" "${common[@]}" --cuda-graph on --metrics-json "$tmp/graph.json" 2>"$tmp/err"; then
  if grep -q "no CUDA device" "$tmp/err"; then echo "no GPU: skipped"; exit 77; fi
  cat "$tmp/err"; exit 1
fi
"$bin" "${common[@]}" --cuda-graph off --metrics-json "$tmp/eager.json"

python3 - "$tmp/graph.json" "$tmp/eager.json" <<'PY'
import json, sys
graph, eager = (json.load(open(p))["epochs"] for p in sys.argv[1:3])
assert all(e["cuda_graph"] for e in graph), "the graph run did not use the graph"
assert not any(e["cuda_graph"] for e in eager), "the eager run used a graph"
for g, e in zip(graph, eager):
    print("epoch %d: train loss %.6f (graph) %.6f (eager), test accuracy %.4f / %.4f"
          % (g["epoch"], g["train_loss"], e["train_loss"], g["test_accuracy"], e["test_accuracy"]))
    assert abs(g["train_loss"] - e["train_loss"]) <= 1e-4 * abs(e["train_loss"]), "train loss differs"
    assert abs(g["test_accuracy"] - e["test_accuracy"]) <= 0.002, "test accuracy differs"
print("ok   CUDA graph replay matches eager training")
PY
