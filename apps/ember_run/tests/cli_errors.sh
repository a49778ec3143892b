#!/usr/bin/env bash
# ember-run's flag errors: one clear line on stderr and exit 2, no worker started.
# Usage: cli_errors.sh EMBER_RUN_BINARY
set -u
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL $*"; failures=$((failures + 1)); }

# expect_usage NAME PATTERN ARGS...: exit 2, stderr one line "ember-run: ... (see --help)" matching
# PATTERN, and the worker (which would print "ran") never started.
expect_usage() {
  local name=$1 pattern=$2
  shift 2
  timeout 30 "$bin" "$@" >"$tmp/out" 2>"$tmp/err"
  local code=$? lines
  lines=$(grep -c . "$tmp/err")
  if [ "$code" -ne 2 ] || [ "$lines" -ne 1 ] || ! grep -qE -- "^ember-run: .*$pattern" "$tmp/err" ||
     grep -q "ran" "$tmp/out"; then
    fail "$name: exit $code, stderr ($lines lines):"; cat "$tmp/err"
  else
    echo "ok   $name: exit $code: $(cat "$tmp/err")"
  fi
}

expect_usage unknown-flag "unknown option '--bogus'" --bogus
expect_usage unknown-flag-before-command "unknown option '--bogus'" --nproc-per-node 1 --bogus -- echo ran
expect_usage unknown-flag-no-command "unknown option '--bogus'" --nproc-per-node 1 --bogus
expect_usage unknown-flag-with-value "unknown option '--bogus'" --nproc-per-node=1 --bogus=3 -- echo ran
expect_usage missing-nproc "--nproc-per-node is required" -- echo ran
expect_usage missing-command "no PROGRAM to run" --nproc-per-node 1
expect_usage bad-nproc "--nproc-per-node" --nproc-per-node 0 -- echo ran
for grace in -1 nan inf 1e99 3601 abc; do
  expect_usage "grace-$grace" "--grace: '$grace' is not a number in \[0, 3600\]" --nproc-per-node 1 \
    --grace "$grace" -- echo ran
done
expect_usage empty-master-addr "--master-addr: the address is empty" --nproc-per-node 1 --master-addr '' -- echo ran
expect_usage node-rank-negative "--node-rank" --nproc-per-node 1 --node-rank -1 -- echo ran
expect_usage node-rank-too-big "--node-rank 2 must be below --nnodes 2" --nproc-per-node 1 --nnodes 2 --node-rank 2 \
  -- echo ran

# What stays accepted: a fractional grace, and the worker's own flags after PROGRAM or "--".
for args in "--grace 0.5 -- echo ran --bogus" "--grace 0 echo ran -x"; do
  # shellcheck disable=SC2086
  timeout 30 "$bin" --nproc-per-node 1 $args >"$tmp/out" 2>"$tmp/err"
  code=$?
  if [ "$code" -ne 0 ] || ! grep -q "^\[rank 0\] ran" "$tmp/out"; then
    fail "accepted '$args': exit $code"; cat "$tmp/out" "$tmp/err"
  else
    echo "ok   accepted '$args'"
  fi
done
"$bin" --help >"$tmp/help" 2>&1 && grep -q -- "--grace" "$tmp/help" && echo "ok   help" || fail "help"
[ "$failures" -eq 0 ] || { echo "$failures failures"; exit 1; }
