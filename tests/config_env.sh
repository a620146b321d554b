#!/usr/bin/env bash
# BLITZ_* validation: each invalid value stops the program before main with status 2 and a
# message naming the variable, the value and the range; valid values run the program.
# Usage: tests/config_env.sh BUILD_DIR. Prints PASS/FAIL lines and "N passed, N failed".
set -u
LIB=$(cd "$1" && pwd)/libblitzshim.so
prog=$(command -v true)
passed=0 failed=0
expect() { # want_rc var=value pattern
  local want=$1 assign=$2 pat=$3 out rc
  out=$(env "$assign" LD_PRELOAD="$LIB" "$prog" 2>&1); rc=$?
  if [ "$rc" -eq "$want" ] && { [ -z "$pat" ] || grep -q -- "$pat" <<<"$out"; }; then
    passed=$((passed + 1)); echo "PASS config $assign"
  else
    failed=$((failed + 1)); echo "FAIL config $assign: status $rc, output: $out"
  fi
}
for v in BLITZ_WORKERS=0 BLITZ_WORKERS=257 BLITZ_WORKERS=two BLITZ_WORKERS=4k; do
  expect 2 "$v" "${v%%=*}=${v#*=} is invalid: expected a whole number from 1 to 256"
done
for v in BLITZ_STACK_SIZE=1000 BLITZ_STACK_SIZE=2G BLITZ_STACK_SIZE=12x BLITZ_STACK_SIZE=-1; do
  expect 2 "$v" "${v%%=*}=${v#*=} is invalid: expected a size in bytes from 16384"
done
expect 2 BLITZ_DISABLE=yes "BLITZ_DISABLE=yes is invalid: expected 0 or 1"
expect 2 BLITZ_STATS=2 "BLITZ_STATS=2 is invalid: expected 0 or 1"
expect 2 BLITZ_IO=yes "BLITZ_IO=yes is invalid: expected 0 or 1"
expect 2 BLITZ_TIMER_SPIN_US=100001 "expected a whole number of microseconds from 0 to 100000"
expect 2 BLITZ_TLS=shared "BLITZ_TLS=shared is invalid: expected task (each thread its own TLS, the default) or worker"
for v in BLITZ_WORKERS=1 BLITZ_WORKERS=256 BLITZ_STACK_SIZE=64K BLITZ_STACK_SIZE=1G \
         BLITZ_DISABLE=1 BLITZ_TIMER_SPIN_US=0 BLITZ_TLS=task BLITZ_TLS=worker BLITZ_IO=0 BLITZ_IO=1; do
  expect 0 "$v" ""
done
expect 0 BLITZ_STATS=1 "blitzshim stats: workers="
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
