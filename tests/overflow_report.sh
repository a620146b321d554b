#!/usr/bin/env bash
# A task that overflows its stack is reported on stderr (thread number and stack size) before
# the SIGSEGV ends the process. Usage: tests/overflow_report.sh BUILD_DIR.
set -u
B=$(cd "$1" && pwd)
err=$(LD_PRELOAD="$B/libblitzshim.so" "$B/tests/integration/stack_overflow" 2>&1 >/dev/null)
rc=$?
if [ "$rc" -eq 139 ] && grep -q "blitzshim: stack overflow in thread [0-9]* (stack size 262144 bytes" <<<"$err"; then
  echo "PASS overflow report"; echo "1 passed, 0 failed"; exit 0
fi
echo "FAIL overflow report: status $rc, stderr: $err"; echo "0 passed, 1 failed"; exit 1
