#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite:
#   1. the runtime's unit tests (Criterion),
#   2. the same unit tests under AddressSanitizer and ThreadSanitizer builds,
#   3. the integration tests: plain pthread programs run natively and under the shim,
#   4. a real program from Debian (microsocks) relaying downloads natively and under the shim.
# Prints one closing line "N passed, N failed" and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=$(nproc)
BLITZ_EXTRA_PKGS="g++ libssl-dev microsocks curl python3 ${BLITZ_EXTRA_PKGS:-}" scripts/setup.sh build || exit 1

passed=0 failed=0
count() { # name status
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "PASS $1"; else failed=$((failed + 1)); echo "FAIL $1"; fi
}

echo "== unit tests"
./build/tests/unit/unit_tests --jobs "$JOBS"
count unit "$?"

echo "== unit tests under AddressSanitizer"
if cmake -S . -B build-asan -DBLITZ_SANITIZE=address -DCMAKE_BUILD_TYPE=Debug >/dev/null &&
   cmake --build build-asan --target unit_tests -j"$JOBS" >build-asan.log 2>&1; then
  LSAN_OPTIONS=suppressions=$ROOT/tests/unit/lsan.supp ASAN_OPTIONS=detect_leaks=1 \
    ./build-asan/tests/unit/unit_tests --jobs "$JOBS"
  count unit-asan "$?"
else
  count unit-asan-build 1
fi

echo "== unit tests under ThreadSanitizer"
if cmake -S . -B build-tsan -DBLITZ_SANITIZE=thread -DCMAKE_BUILD_TYPE=Debug >/dev/null &&
   cmake --build build-tsan --target unit_tests -j"$JOBS" >build-tsan.log 2>&1; then
  TSAN_OPTIONS=halt_on_error=1 ./build-tsan/tests/unit/unit_tests
  count unit-tsan "$?"
else
  count unit-tsan-build 1
fi

echo "== configuration (BLITZ_* validation)"
tests/config_env.sh build
count config "$?"

echo "== stack overflow report"
tests/overflow_report.sh build
count overflow-report "$?"

echo "== integration tests (native vs LD_PRELOAD vs linked)"
out=$(mktemp)
tests/integration/run.sh build 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
ip=$(grep -Eo '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -1)
rm -f "$out"
if [ -n "$ip" ]; then
  passed=$((passed + ${ip%% passed*}))
  f=${ip#*passed, }; failed=$((failed + ${f%% failed*}))
fi
[ "$rc" -ne 0 ] && [ -z "$ip" ] && failed=$((failed + 1))

echo "== microsocks (Debian's thread-per-connection SOCKS5 proxy) natively and under the shim"
tests/microsocks.sh build
count microsocks "$?"

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
