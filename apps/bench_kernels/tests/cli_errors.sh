#!/usr/bin/env bash
# bench_kernels' error paths: a bad flag gives one clear line on stderr and exit 2 (before any
# measuring), never a crash, a hang, an OOM kill or a silent success.
# Usage: cli_errors.sh BENCH_KERNELS_BINARY parse|json|json-write|memory|sizes
#   parse       flag and size errors (--list runs only: fast)
#   json        the --json output checked before measuring; a write error (disk full) reported
#   json-write  the --json file written atomically, also with a name that is not UTF-8
#   sizes       the size column is the size measured; one shape is measured once
#   memory      sizes too large for any machine refused before allocating, 2^N like its literal
# (one run that measures the ceilings, about 2 s on the CPU, per section at most)
set -u
bin=$1
section=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
# quote TEXT: TEXT as an extended regular expression that matches it literally ("2^31" -> "2\^31").
quote() { printf '%s' "$1" | sed 's/[]^$.*+?(){}|[\\]/\\&/g'; }

# run ARGS...: runs the binary (killed after 30 s: a hang fails) into $tmp/out, $tmp/err, $code.
run() {
  timeout 30 "$bin" "$@" >"$tmp/out" 2>"$tmp/err"
  code=$?
}

# expect_error NAME CODE PATTERN ARGS...: exit CODE, stderr one line matching PATTERN.
expect_error() {
  local name=$1 want=$2 pattern=$3
  shift 3
  run "$@"
  local lines
  lines=$(grep -c . "$tmp/err")
  if [ "$code" -ne "$want" ] || [ "$lines" -ne 1 ] || ! grep -qE -- "$pattern" "$tmp/err" ||
     [ "$(wc -c <"$tmp/err")" -gt 200 ]; then
    fail "$name: exit $code (want $want), stderr ($lines lines):"; cat "$tmp/err"
  else
    echo "ok   $name: exit $code: $(cat "$tmp/err")"
  fi
}

# expect_usage NAME PATTERN ARGS...: exit 2, one line "bench_kernels: ... (see --help)", nothing measured.
expect_usage() {
  local name=$1 pattern=$2
  shift 2
  expect_error "$name" 2 "^bench_kernels: .*$pattern" "$@"
  if grep -q "ceiling" "$tmp/out"; then fail "$name: measured before refusing"; fi
}

case $section in
parse)
  expect_usage unknown-flag "not expected: --bogus" --device cpu --bogus
  expect_usage repeats-zero "--repeats: '0' is not a whole number from 1 to 1000000" --device cpu --repeats 0 --list
  expect_usage repeats-text "--repeats: .*'abc'" --device cpu --repeats abc --list
  expect_usage warmup-negative "--warmup: .*'-1'" --device cpu --warmup -1 --list
  expect_usage max-sets-zero "--max-sets: .*'0'" --device cpu --max-sets 0 --list
  expect_usage threads-negative "--threads: '-1' is not a whole number from 1 to 1024" --device cpu --threads -1 --list
  expect_usage threads-huge "--threads: .*'100000'" --device cpu --threads 100000 --list
  expect_usage check-limit-negative "--check-limit: .*'-1'" --device cpu --check-limit -1 --list
  # $EMBER_NUM_THREADS is read strictly and capped (not an abort when the threads cannot start).
  for value in abc -1 2x 0 1025 99999999 99999999999999999999; do
    EMBER_NUM_THREADS=$value expect_error "env-threads-$value" 1 \
      "^bench_kernels: error: EMBER_NUM_THREADS.*$(quote "$value").*1\.\.1024" --device cpu --filter binary_add \
      --sizes 64
  done
  expect_usage bad-device "--device" --device tpu --list
  expect_usage filter-nomatch-list "--filter: 'nomatch' matches no kernel on cpu" --device cpu --filter nomatch --list
  expect_usage filter-nomatch-run "--filter: 'nomatch' matches no kernel on cpu" --device cpu --filter nomatch
  expect_usage filter-one-of-two "--filter: 'nomatch'" --device cpu --filter add nomatch --list
  # BASE^EXP is checked like the literal it stands for: no wrap, no negative, no hang, no OOM.
  for size in 2^64 2^99 2^63 2^62 2^41 2199023255552 9223372036854775808 2^99999999999999999999; do
    expect_usage "sizes-$size" "--sizes: '$(quote "$size")' is too large: at most 2\\^40" --device cpu --filter binary_add \
      --sizes "$size" --list
  done
  for size in 2^-1 -4 0 0^3 abc 2^ 1e6 +5; do
    expect_usage "sizes-$size" "--sizes: '.*' is not a size" --device cpu --filter binary_add --sizes "$size" --list
  done
  for size in 2^31 2147483648 2^21; do
    expect_usage "gemm-sizes-$size" "--gemm-sizes: '$(quote "$size")' is too large: at most 2\\^20" --device cpu \
      --filter gemm_openblas --gemm-sizes "$size" --list
  done
  # The segfault of the tester's command line: now refused at once.
  expect_usage gemm-2^31-run "--gemm-sizes: '2\\^31' is too large" --device cpu --filter gemm_openblas \
    --gemm-sizes 2^31 --repeats 1 --warmup 0
  # What is accepted: 2^N lists exactly what its literal does.
  run --device cpu --filter binary_add --sizes 2^20 3^4 --gemm-sizes 2^10 --list
  cp "$tmp/out" "$tmp/power"
  run --device cpu --filter binary_add --sizes 1048576 81 --gemm-sizes 1024 --list
  if [ "$code" -ne 0 ] || ! cmp -s "$tmp/out" "$tmp/power" || ! grep -q "binary_add  \[1048576\]" "$tmp/out" ||
     ! grep -q "binary_add  \[81\]" "$tmp/out"; then
    fail "power-equals-literal: exit $code"; cat "$tmp/power" "$tmp/out" "$tmp/err"
  else
    echo "ok   power-equals-literal"
  fi
  run --device cpu --filter binary_add --sizes 2^40 --threads 2 --check-limit 0 --list
  if [ "$code" -ne 0 ] || ! grep -q "binary_add  \[1099511627776\]" "$tmp/out"; then
    fail "largest-size-lists: exit $code"; cat "$tmp/err"
  else
    echo "ok   largest-size-lists"
  fi
  ;;
json)
  expect_usage json-missing-folder "--json: folder '$tmp/nowhere' does not exist" --device cpu --filter binary_add \
    --sizes 64 --repeats 1 --warmup 0 --json "$tmp/nowhere/x.json"
  expect_usage json-directory "--json: '$tmp' is a folder" --device cpu --filter binary_add --sizes 64 --list \
    --json "$tmp"
  # A device that takes no data: the write error is reported (once prefixed), exit 1.
  expect_error json-dev-full 1 "^bench_kernels: error: --json: writing /dev/full failed: No space left on device$" \
    --device cpu --filter binary_add --sizes 64 --repeats 1 --warmup 0 --json /dev/full
  ;;
json-write)
  # A regular file: replaced whole, through a temporary file that does not stay behind.
  echo "old" >"$tmp/out.json"
  run --device cpu --filter binary_add --sizes 64 --repeats 1 --warmup 0 --json "$tmp/out.json"
  if [ "$code" -ne 0 ] || ! grep -q '"kernel": "binary_add"' "$tmp/out.json" || grep -q "^old" "$tmp/out.json" ||
     [ "$(ls -A "$tmp" | grep -c tmp)" -ne 0 ]; then
    fail "json-written: exit $code"; cat "$tmp/err"; ls -A "$tmp"
  else
    echo "ok   json-written"
  fi
  # argv is in the JSON's command line: bytes that are not UTF-8 (a file name) become U+FFFD instead
  # of an exception that loses every result.
  odd="$tmp/$(printf 'odd_\xff').json"
  run --device cpu --filter binary_add --sizes 64 --repeats 1 --warmup 0 --json "$odd"
  if [ "$code" -ne 0 ] || ! python3 -c 'import json, sys; d = json.load(open(sys.argv[1], encoding="utf-8"))
assert "\ufffd" in d["command"] and d["results"][0]["kernel"] == "binary_add", d' "$odd"; then
    fail "json-not-utf8: exit $code"; cat "$tmp/err"; ls -A "$tmp"
  else
    echo "ok   json-not-utf8"
  fi
  ;;
sizes)
  # The size column is what was measured, and sizes that give one shape are measured once:
  # --sizes 3 is one row of 10 classes, 16 parameters of 1 element, one 32x32 plane; 4096 and 65536
  # are two workloads of 16 parameters each (the shape label alone does not tell them apart).
  run --device cpu --filter cross_entropy_fwd_c10 sgd_update max_pool2d_relu_fwd --sizes 3 7 4096 65536 \
    --repeats 1 --warmup 0 --json "$tmp/sizes.json"
  if [ "$code" -ne 0 ] || ! python3 - "$tmp/sizes.json" <<'PY'
import json, sys
rows = [(r["kernel"], r["shape"], r["size"]) for r in json.load(open(sys.argv[1]))["results"]]
assert len(rows) == len(set(rows)), rows
assert len([r for r in rows if r[:2] == ("sgd_update", "16 params")]) == 3, rows
assert ("cross_entropy_fwd_c10", "[1, 10]", 10) in rows, rows
assert ("sgd_update", "16 params", 16) in rows, rows
assert ("max_pool2d_relu_fwd", "[1, 1, 32, 32]", 1024) in rows, rows
assert len([r for r in rows if r[:2] == ("cross_entropy_fwd_c10", "[1, 10]")]) == 1, rows
PY
  then
    fail "sizes-measured-once: exit $code"; cat "$tmp/out" "$tmp/err"
  else
    echo "ok   sizes-measured-once"
  fi
  ;;
memory)
  # 2^39 floats (2 TiB per operand) fit no machine: refused before allocating; the case is an
  # ERROR row and the exit is 1, not an OOM kill. 2^39 and its literal are one shape: one row.
  run --device cpu --filter binary_add --sizes 2^39 549755813888 --repeats 1 --warmup 0
  if [ "$code" -ne 1 ] || [ "$(grep -c "binary_add \[549755813888\]: ERROR: out of memory: needs about" "$tmp/out")" -ne 1 ] ||
     [ "$(grep -c "binary_add .*2^39 .*ERROR" "$tmp/out")" -ne 1 ]; then
    fail "too-large: exit $code"; cat "$tmp/out" "$tmp/err"
  else
    echo "ok   too-large: $(grep -m1 'out of memory' "$tmp/out")"
  fi
  ;;
*)
  echo "unknown section '$section'"
  exit 2
  ;;
esac
[ "$failures" -eq 0 ] || { echo "$failures failures"; exit 1; }
