#!/usr/bin/env bash
# Runs the blitzshim integration tests.
#
#   tests/integration/run.sh BUILD_DIR [name-filter]
#
# Every program built into BUILD_DIR/tests/integration/ is run, one at a time:
#   native      without the shim: its exit status and stdout are the reference
#   shim-w2     LD_PRELOAD=BUILD_DIR/libblitzshim.so BLITZ_WORKERS=2
#   shim-w1     LD_PRELOAD=BUILD_DIR/libblitzshim.so BLITZ_WORKERS=1
#   shim-w4     LD_PRELOAD=BUILD_DIR/libblitzshim.so BLITZ_WORKERS=4 (more workers than CPUs)
#   shim-off    LD_PRELOAD=BUILD_DIR/libblitzshim.so BLITZ_DISABLE=1 (every call must be libc's)
#   shim-tlsworker  LD_PRELOAD=BUILD_DIR/libblitzshim.so BLITZ_TLS=worker (tasks share their
#               worker's TLS; programs that need per-thread TLS skip it)
#   linked-shared / linked-static
#               the <name>_linked_* variants (tests marked `// blitz-linked`),
#               without preload
# Each non-native run must match the native run's exit status and stdout.
# A native run passes when its status is the expected one (0 unless
# `// blitz-expect-exit: N`) and no stdout line starts with "FAIL".
#
# Directives in a test source's first 20 lines:
#   // blitz-args: ARGS          command-line arguments
#   // blitz-timeout: SECONDS    per-run timeout (default 120, or $BLITZ_IT_TIMEOUT)
#   // blitz-expect-exit: N      expected exit status (default 0)
#   // blitz-native-skip         do not run natively (undefined natively); the
#                                shim runs are then checked like a native run
#   // blitz-skip-config: PATTERN REASON  skip the shim configurations matching the glob
#                                PATTERN (e.g. shim-w1, shim-w[2-9]*), saying why
#                                (a known limit with an open issue; printed as SKIP);
#                                one line per pattern, several lines allowed
#   // blitz-linked, // blitz-cflags: ..., // blitz-libs: ...   (read by CMakeLists.txt)
#
# Sources named lib*.c / lib*.cpp are modules (BIN_DIR/<name>.so) that test
# programs dlopen() from the directory of their own executable; they are not run.
#
# Environment: BLITZ_IT_CONFIGS (default "native shim-w2 shim-w1 shim-w4 shim-off shim-tlsworker linked") selects
# configurations (any shim-wN runs with N workers); BLITZ_IT_TIMEOUT sets the default timeout.
# Prints `PASS name [config]` or `FAIL name [config]: reason` per run and, last,
# exactly one line `N passed, N failed`.  Exits 1 if anything failed.
set -u
unset LD_PRELOAD # never preload the shim into this script, timeout or diff

if [ $# -lt 1 ] || [ ! -d "$1" ]; then
  echo "usage: $0 BUILD_DIR [name-filter]" >&2
  exit 2
fi
BUILD=$(cd "$1" && pwd)
FILTER=${2:-}
SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN_DIR=$BUILD/tests/integration
LIB=$BUILD/libblitzshim.so
DEFAULT_TIMEOUT=${BLITZ_IT_TIMEOUT:-120}
CONFIGS=${BLITZ_IT_CONFIGS:-native shim-w2 shim-w1 shim-w4 shim-off shim-tlsworker linked}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/blitz-it.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

passed=0
failed=0
skipped=0

want_config() { case " $CONFIGS " in *" $1 "*) return 0 ;; esac; return 1; }

# directive FILE KEY: value of `// blitz-KEY: value` in the first 20 lines
directive() {
  head -n 20 "$1" | sed -n "s|^[[:space:]]*//[[:space:]]*blitz-$2:[[:space:]]*||p" | head -n 1 |
    sed 's/[[:space:]]*$//'
}
# has_flag FILE KEY: `// blitz-KEY` present in the first 20 lines
has_flag() { head -n 20 "$1" | grep -Eq "^[[:space:]]*//[[:space:]]*blitz-$2([[:space:]]|$)"; }

describe_status() {
  local rc=$1 t=$2
  if [ "$rc" -eq 124 ]; then
    echo "timeout after ${t} s"
  elif [ "$rc" -eq 137 ]; then
    echo "killed by SIGKILL (timeout after ${t} s + 5 s grace?)"
  elif [ "$rc" -gt 128 ] && [ "$rc" -lt 160 ]; then
    echo "status $rc (killed by SIG$(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128))))"
  else
    echo "status $rc"
  fi
}

# run_prog OUTBASE TIMEOUT BINARY ARGS ENV...
# runs BINARY with stdin=/dev/null, stdout/stderr to OUTBASE.{out,err}; sets $RC
run_prog() {
  local outbase=$1 t=$2 bin=$3 args=$4
  shift 4
  # The outer braces swallow bash's own "Segmentation fault" notice; the
  # program's stderr goes to OUTBASE.err.  RLIMIT_STACK is pinned to 8 MiB so
  # that NPTL's default thread stack is the same everywhere.
  {
    # shellcheck disable=SC2086  # ARGS are split on purpose
    (
      ulimit -S -s 8192 2>/dev/null
      cd "$WORK" || exit 99
      exec timeout -k 5 "$t" env -u LD_PRELOAD -u BLITZ_WORKERS -u BLITZ_DISABLE -u BLITZ_TLS "$@" "$bin" $args
    ) </dev/null >"$outbase.out" 2>"$outbase.err"
    RC=$?
  } 2>/dev/null
}

report_pass() {
  echo "PASS $1 [$2]"
  passed=$((passed + 1))
}

# report_fail NAME CONFIG REASON [OUTBASE [REFOUT]]
report_fail() {
  echo "FAIL $1 [$2]: $3"
  failed=$((failed + 1))
  if [ $# -ge 5 ] && [ -f "$5" ] && [ -f "$4.out" ] && ! cmp -s "$5" "$4.out"; then
    diff -u --label native --label "$2" "$5" "$4.out" | sed -n '3,14{s/^/    /;p}'
  elif [ $# -ge 4 ] && [ -f "$4.out" ]; then
    grep -m 5 '^FAIL' "$4.out" | sed 's/^/    /'
  fi
  if [ $# -ge 4 ] && [ -s "$4.err" ]; then
    echo "    stderr (last lines):"
    tail -n 5 "$4.err" | cut -c1-200 | sed 's/^/    | /'
  fi
}

# check_self NAME CONFIG OUTBASE EXPECTED_STATUS TIMEOUT: a run judged on its own
check_self() {
  local name=$1 cfg=$2 ob=$3 exp=$4 t=$5
  if [ "$RC" -ne "$exp" ]; then
    report_fail "$name" "$cfg" "$(describe_status "$RC" "$t"), expected $exp" "$ob"
  elif grep -q '^FAIL' "$ob.out"; then
    report_fail "$name" "$cfg" "the program reported failures" "$ob"
  else
    report_pass "$name" "$cfg"
    return 0
  fi
  return 1
}

# check_against NAME CONFIG OUTBASE REFBASE REFSTATUS TIMEOUT
check_against() {
  local name=$1 cfg=$2 ob=$3 ref=$4 refrc=$5 t=$6
  if [ "$RC" -ne "$refrc" ]; then
    report_fail "$name" "$cfg" "$(describe_status "$RC" "$t"), native $refrc" "$ob" "$ref.out"
  elif ! cmp -s "$ref.out" "$ob.out"; then
    report_fail "$name" "$cfg" "stdout differs from the native run" "$ob" "$ref.out"
  else
    report_pass "$name" "$cfg"
  fi
}

# judge CONFIG OUTBASE: a non-native run, against the native reference when
# there is a valid one, else on its own (native-skip tests, native not run or
# failed).  Uses the loop's globals name, ob, ref_ok, refrc, expect, t.
judge() {
  local cfg=$1 o=$2
  if [ "$ref_ok" -eq 1 ]; then
    check_against "$name" "$cfg" "$o" "$ob.native" "$refrc" "$t"
  else
    check_self "$name" "$cfg" "$o" "$expect" "$t"
  fi
}

if [ ! -d "$BIN_DIR" ]; then
  echo "run.sh: $BIN_DIR does not exist (build the integration_tests target first)" >&2
fi
[ -f "$LIB" ] || echo "run.sh: warning: $LIB not found; the shim runs will fail" >&2

names=()
while IFS= read -r n; do
  if [ -n "$FILTER" ] && ! [[ $n =~ $FILTER ]]; then
    continue
  fi
  names+=("$n")
done < <(for f in "$SRC_DIR"/*.c "$SRC_DIR"/*.cpp; do
  [ -e "$f" ] || continue
  f=${f##*/}
  case $f in lib*) continue ;; esac # modules for dlopen(), not programs
  echo "${f%.*}"
done | LC_ALL=C sort)

for name in "${names[@]}"; do
  src=$SRC_DIR/$name.c
  [ -f "$src" ] || src=$SRC_DIR/$name.cpp
  args=$(directive "$src" args)
  t=$(directive "$src" timeout)
  [[ $t =~ ^[0-9]+$ ]] || t=$DEFAULT_TIMEOUT
  expect=$(directive "$src" expect-exit)
  [[ $expect =~ ^[0-9]+$ ]] || expect=0
  bin=$BIN_DIR/$name
  ob=$WORK/$name

  # --- native reference ---
  ref_ok=0
  refrc=0
  native_skip=0
  has_flag "$src" native-skip && native_skip=1
  if [ $native_skip -eq 0 ] && want_config native; then
    if [ ! -x "$bin" ]; then
      report_fail "$name" native "not built ($bin missing)"
    else
      run_prog "$ob.native" "$t" "$bin" "$args"
      refrc=$RC
      check_self "$name" native "$ob.native" "$expect" "$t" && ref_ok=1
    fi
  fi

  # --- under the shim (LD_PRELOAD) ---
  # every `// blitz-skip-config:` line (a source may have several)
  skips=$(head -n 20 "$src" | sed -n 's|^[[:space:]]*//[[:space:]]*blitz-skip-config:[[:space:]]*||p')
  for cfg in $CONFIGS; do
    case $cfg in
      shim-w[0-9]*) env_extra="BLITZ_WORKERS=${cfg#shim-w}" ;;
      shim-off) env_extra="BLITZ_DISABLE=1" ;; # preloaded but disabled: every call is libc's
      shim-tlsworker) env_extra="BLITZ_TLS=worker" ;;
      *) continue ;;
    esac
    skip_cfg=
    while IFS= read -r line; do
      # shellcheck disable=SC2053 # the directive's first word is a glob pattern
      if [ -n "$line" ] && [[ $cfg == ${line%% *} ]]; then skip_cfg=$line; break; fi
    done <<<"$skips"
    if [ -n "$skip_cfg" ]; then
      echo "SKIP $name [$cfg]: ${skip_cfg#* }"
      skipped=$((skipped + 1))
    elif [ ! -x "$bin" ]; then
      report_fail "$name" "$cfg" "not built ($bin missing)"
    elif [ ! -f "$LIB" ]; then
      report_fail "$name" "$cfg" "$LIB not found"
    else
      run_prog "$ob.$cfg" "$t" "$bin" "$args" LD_PRELOAD="$LIB" "$env_extra"
      judge "$cfg" "$ob.$cfg"
    fi
  done

  # --- relinked variants, without preload ---
  if want_config linked && has_flag "$src" linked; then
    for kind in shared static; do
      lbin=$BIN_DIR/${name}_linked_$kind
      if [ ! -x "$lbin" ]; then
        report_fail "$name" "linked-$kind" "not built ($lbin missing)"
      else
        run_prog "$ob.linked-$kind" "$t" "$lbin" "$args"
        judge "linked-$kind" "$ob.linked-$kind"
      fi
    done
  fi
done

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
