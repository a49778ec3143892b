#!/usr/bin/env bash
# train_mnist's error paths: each bad input gives one clear line on stderr and a non-zero exit.
# Usage: cli_errors.sh TRAIN_MNIST_BINARY
set -u
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

# expect_error NAME PATTERN ARGS...: non-zero exit, stderr one line matching PATTERN, no crash.
expect_error() {
  local name=$1 pattern=$2
  shift 2
  "$bin" "$@" >"$tmp/out" 2>"$tmp/err"
  local code=$?
  local lines
  lines=$(grep -c . "$tmp/err")
  if [ "$code" -eq 0 ] || [ "$code" -ge 128 ] || [ "$lines" -ne 1 ] || ! grep -qE "$pattern" "$tmp/err"; then
    echo "FAIL $name: exit $code, stderr ($lines lines):"; cat "$tmp/err"
    failures=$((failures + 1))
  else
    echo "ok   $name: exit $code: $(cat "$tmp/err")"
  fi
}

expect_error unknown-flag "bogus" --bogus
expect_error bad-value "epochs" --epochs 0
expect_error not-a-number "lr" --lr abc
expect_error bad-optimizer "optimizer" --optimizer rmsprop
expect_error bad-device "device" --device tpu
expect_error bad-graph-mode "cuda-graph" --cuda-graph sometimes
expect_error graph-on-cpu "cuda-graph on: it needs a CUDA device" --cuda-graph on --device cpu --limit-train 200 --epochs 1
expect_error profile-too-long "profile 10 needs 13 steps in an epoch .* has 2" --profile 10 --limit-train 200 --epochs 1
expect_error profile-negative "profile" --profile -1
expect_error missing-dir "not a directory" --data-dir "$tmp/nowhere"
mkdir -p "$tmp/empty"
expect_error empty-dir "train-images" --data-dir "$tmp/empty"
# A truncated gzip image file next to good label files.
mkdir -p "$tmp/truncated"
src=$(dirname "$0")/../../../data/mnist
cp "$src"/*.gz "$tmp/truncated/"
head -c 100000 "$src/train-images-idx3-ubyte.gz" >"$tmp/truncated/train-images-idx3-ubyte.gz"
expect_error truncated "train-images-idx3-ubyte" --data-dir "$tmp/truncated" --epochs 1
# Wrong magic: a label file where an image file belongs.
mkdir -p "$tmp/magic"
cp "$src"/*.gz "$tmp/magic/"
cp "$src/train-labels-idx1-ubyte.gz" "$tmp/magic/train-images-idx3-ubyte.gz"
expect_error wrong-magic "magic" --data-dir "$tmp/magic" --epochs 1
expect_error missing-checkpoint "nope.safetensors" --resume "$tmp/nope.safetensors" --limit-train 200 --epochs 1
# Outputs into a folder that does not exist: refused before any training.
for flag in --metrics-json --save-model; do
  expect_error "missing-folder$flag" "${flag#--}: folder '$tmp/nowhere' does not exist" "$flag" "$tmp/nowhere/out" \
    --limit-train 200 --epochs 1
  if grep -q "^epoch" "$tmp/out"; then echo "FAIL missing-folder$flag: trained first"; failures=$((failures + 1)); fi
done
# Outputs that are a folder, or an unnamed data folder: refused before any training.
expect_error output-is-folder "save-model: '$tmp' is a folder" --save-model "$tmp" --limit-train 200 --epochs 1
expect_error output-names-folder "names a folder" --metrics-json "$tmp/sub/" --limit-train 200 --epochs 1
expect_error empty-data-dir "data-dir: the folder name is empty" --data-dir "" --epochs 1
# Numbers CLI11 alone would wrap, clamp or let through as NaN.
expect_error negative-seed "seed: '-1' is not a whole number" --seed -1
expect_error huge-seed "seed: '18446744073709551616'" --seed 18446744073709551616
expect_error nan-gamma "gamma: 'nan' is not a number in \[0, 1\]" --gamma nan
expect_error nan-momentum "momentum: 'nan'" --momentum nan
# --dist-timeout becomes an int64 count of milliseconds: bounded to [1 ms, 7 days].
expect_error huge-dist-timeout "dist-timeout: '1e300' is not a number in \[0.001, 604800\]" --dist-timeout 1e300
expect_error tiny-dist-timeout "dist-timeout: '1e-9' is not a number in \[0.001, 604800\]" --dist-timeout 1e-9
expect_error zero-dist-timeout "dist-timeout: '0'" --dist-timeout 0
# An empty --resume is not "no resume".
expect_error empty-resume "resume: the checkpoint path is empty" --resume "" --limit-train 200 --epochs 1
# $EMBER_NUM_THREADS is read strictly (a typo is an error, not all cores) and capped: 99999999 once
# aborted with "terminate called without an active exception".
for value in abc -1 2x 0 1025 99999999; do
  EMBER_NUM_THREADS=$value expect_error "env-threads-$value" "EMBER_NUM_THREADS.*1\.\.1024" --device cpu \
    --limit-train 200 --epochs 1
done
# Threads that cannot start (their stacks do not fit in the address space left): one line, exit 1,
# once an abort. Not under a sanitizer, whose shadow memory needs far more address space.
if ldd "$bin" 2>/dev/null | grep -qE 'lib(a|t|ub)san'; then
  echo "skip threads-cannot-start: sanitizer build"
else
  (ulimit -v 1500000; ulimit -s 65536; EMBER_NUM_THREADS=1024 exec "$bin" --device cpu --limit-train 200 --epochs 1) \
    >"$tmp/out" 2>"$tmp/err"
  code=$?
  if [ "$code" -ne 1 ] || [ "$(grep -c . "$tmp/err")" -ne 1 ] ||
     ! grep -q "cannot start 1024 CPU threads (thread [0-9]* failed" "$tmp/err"; then
    echo "FAIL threads-cannot-start: exit $code"; cat "$tmp/err"; failures=$((failures + 1))
  else
    echo "ok   threads-cannot-start: $(cat "$tmp/err")"
  fi
fi
# Distributed launches that cannot work: WORLD_SIZE without RANK; ranks started with other settings
# (rank 1 fails before any collective, naming the flag; rank 0 then fails on the closed connection).
WORLD_SIZE=2 expect_error world-size-without-rank "WORLD_SIZE=2 is set but RANK is not" --limit-train 200 --epochs 1
port=$((29000 + RANDOM % 1000))
RANK=0 WORLD_SIZE=2 MASTER_PORT=$port "$bin" --device cpu --limit-train 400 --epochs 1 --quiet --dist-timeout 60 \
  >/dev/null 2>"$tmp/rank0.err" &
rank0=$!
RANK=1 WORLD_SIZE=2 MASTER_PORT=$port expect_error settings-differ \
  "rank 1 was started with --limit-train 200 but rank 0 with --limit-train 400" \
  --device cpu --limit-train 200 --epochs 1 --quiet --dist-timeout 60
wait $rank0
code=$?
if [ "$code" -eq 0 ] || [ "$code" -ge 128 ]; then
  echo "FAIL settings-differ (rank 0): exit $code"; cat "$tmp/rank0.err"; failures=$((failures + 1))
fi
# SIGTERM (or Ctrl-C: a script's background job ignores SIGINT) while waiting for the other ranks
# stops the process at once, not at the 60 s timeout.
RANK=0 WORLD_SIZE=2 MASTER_PORT=$((port + 1)) "$bin" --device cpu --limit-train 200 --epochs 1 --dist-timeout 60 \
  >/dev/null 2>&1 &
waiting=$!
sleep 1
start=$SECONDS
kill -TERM $waiting
wait $waiting
if [ $((SECONDS - start)) -gt 5 ]; then
  echo "FAIL interrupt-rendezvous: took $((SECONDS - start)) s"; failures=$((failures + 1))
else
  echo "ok   interrupt-rendezvous"
fi
echo "garbage" >"$tmp/bad.safetensors"
expect_error corrupt-checkpoint "bad.safetensors" --resume "$tmp/bad.safetensors" --limit-train 200 --epochs 1
# A checkpoint whose train_mnist metadata is not a whole number (1e99 once read as 1).
"$bin" --device cpu --limit-train 200 --epochs 1 --quiet --save-model "$tmp/good.safetensors" >/dev/null 2>&1
python3 - "$tmp/good.safetensors" "$tmp/rng.safetensors" <<'PY'
import json, struct, sys
data = open(sys.argv[1], 'rb').read()
(n,) = struct.unpack('<Q', data[:8])
header = json.loads(data[8:8 + n])
header['__metadata__']['train_mnist.default_rng_seed'] = '1e99'
text = json.dumps(header).encode()
text += b' ' * (-len(text) % 8)
open(sys.argv[2], 'wb').write(struct.pack('<Q', len(text)) + text + data[8 + n:])
PY
# Two outputs in one file (the metrics JSON would overwrite the checkpoint), also through a link;
# --save-model equal to --resume continues in place.
expect_error save-is-metrics "save-model and --metrics-json name the same file" --save-model "$tmp/same.out" \
  --metrics-json "$tmp/./same.out" --limit-train 200 --epochs 1
ln -s good.safetensors "$tmp/good.link"
expect_error resume-is-metrics "resume and --metrics-json name the same file" --resume "$tmp/good.safetensors" \
  --metrics-json "$tmp/good.link" --limit-train 200 --epochs 2
if ! "$bin" --device cpu --limit-train 200 --epochs 2 --quiet --resume "$tmp/good.safetensors" \
     --save-model "$tmp/good.link" >/dev/null 2>"$tmp/err"; then
  echo "FAIL resume-in-place"; cat "$tmp/err"; failures=$((failures + 1))
else
  echo "ok   resume-in-place"
fi
expect_error bad-rng-metadata "metadata 'train_mnist.default_rng_seed' must be a whole number.*'1e99'" \
  --resume "$tmp/rng.safetensors" --device cpu --limit-train 200 --epochs 2

"$bin" --help >"$tmp/help" 2>&1 && grep -q -- "--batch-size" "$tmp/help" && echo "ok   help" || { echo "FAIL help"; failures=$((failures + 1)); }
[ "$failures" -eq 0 ] || { echo "$failures failures"; exit 1; }
