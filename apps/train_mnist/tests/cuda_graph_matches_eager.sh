#!/usr/bin/env bash
# On a GPU: train_mnist with the step replayed from a CUDA graph gives the losses and accuracy of
# the same run done eagerly (same kernels, same order: equal up to the nondeterminism of a few
# cuDNN kernels), checks that the graph was used, and that the learning-rate decay recaptures it;
# for SGD with momentum, Adam and Adadelta (made capturable for the graph), and with the weight
# gradients on a second stream (--concurrent-wgrad on).
# Exits 77 (ctest: skipped) without a GPU.
# Usage: cuda_graph_matches_eager.sh TRAIN_MNIST_BINARY
set -euo pipefail
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Heuristic algorithm choice, so that both runs use the same cuDNN algorithms.
base=(--device cuda --gamma 0.7 --seed 3 --quiet --cudnn-benchmark off)

# compare NAME ARGS...: the run with --cuda-graph on against the same run with --cuda-graph off.
compare() {
  local name=$1
  shift
  if ! "$bin" "${base[@]}" "$@" --cuda-graph on --metrics-json "$tmp/graph.json" 2>"$tmp/err"; then
    if grep -q "no CUDA device" "$tmp/err"; then echo "no GPU: skipped"; exit 77; fi
    cat "$tmp/err"; exit 1
  fi
  "$bin" "${base[@]}" "$@" --cuda-graph off --metrics-json "$tmp/eager.json"

  python3 - "$tmp/graph.json" "$tmp/eager.json" "$name" <<'PY'
import json, sys
graph, eager = (json.load(open(p))["epochs"] for p in sys.argv[1:3])
name = sys.argv[3]
assert all(e["cuda_graph"] for e in graph), name + ": the graph run did not use the graph"
assert not any(e["cuda_graph"] for e in eager), name + ": the eager run used a graph"
for g, e in zip(graph, eager):
    print("%s epoch %d: train loss %.6f (graph) %.6f (eager), test accuracy %.4f / %.4f"
          % (name, g["epoch"], g["train_loss"], e["train_loss"], g["test_accuracy"], e["test_accuracy"]))
    assert abs(g["train_loss"] - e["train_loss"]) <= 1e-4 * abs(e["train_loss"]), name + ": train loss differs"
    assert abs(g["test_accuracy"] - e["test_accuracy"]) <= 0.002, name + ": test accuracy differs"
print("ok   %s: CUDA graph replay matches eager training" % name)
PY
}

# 50 steps an epoch: 3 eager, then four 10-step replays and the tail's seven 1-step replays (the
# default --cuda-graph-steps 10); --gamma 0.7 recaptures both graphs after every epoch.
compare sgd --limit-train 5000 --lr 0.05 --momentum 0.9 --epochs 3
# Capturable Adam: the replays must advance its device step count (the bias corrections 1 - beta^t).
compare adam --optimizer adam --limit-train 2000 --lr 0.001 --epochs 2
# Capturable Adadelta: its device step count advances under the replays too.
compare adadelta --optimizer adadelta --limit-train 2000 --lr 1.0 --epochs 2
# Weight gradients on a second stream: forked and joined inside the graph, concurrent when eager.
compare concurrent_wgrad --concurrent-wgrad on --limit-train 3000 --lr 0.05 --momentum 0.9 --epochs 2
