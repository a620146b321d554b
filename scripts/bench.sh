#!/usr/bin/env bash
# shellcheck disable=SC2317,SC2086  # functions are called indirectly; word splitting is intended
# Benchmarks blitzshim: builds (scripts/setup.sh), runs every workload natively and under
# LD_PRELOAD=<build>/libblitzshim.so (same binary, interleaved runs, each bounded by `timeout`),
# prints one Markdown table to stdout and writes runs.csv + report.md to the output directory.
#
# Usage: scripts/bench.sh [--full] [--runs N] [--build DIR] [--out DIR]
#   --full    big sizes (create_join 1M pairs and in batches of 100, alive up to 1M under the
#             shim / up to failure but at most 31k natively)
#   --runs N  runs per variant (default 5)
#   --build   build directory (default build)
#   --out     output directory (default results/<date>)
# Exit status: 0, or 1 if the build failed (the native columns are still produced when only the
# library failed to build).
#
# Adding a workload: write tests/bench/<prog>.c (one key=value line on stdout, see bench.h),
# add it to tests/bench/CMakeLists.txt, write a bench_<name> function below (run_bench + row)
# and append it to WORKLOADS.
set -uo pipefail

CMDLINE=$(printf '%q ' "$0" "$@")
FULL=0 RUNS=5 BUILD=build OUT=results/$(date +%Y-%m-%d_%H%M%S)
while [ $# -gt 0 ]; do
  case $1 in
    --full) FULL=1 ;;
    --runs) RUNS=$2; shift ;;
    --build) BUILD=$2; shift ;;
    --out) OUT=$2; shift ;;
    -h|--help) awk 'NR > 1 && !/^# shellcheck/ { if (!/^#/) exit; sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "bench: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
BUILD=$(realpath -m "$BUILD") OUT=$(realpath -m "$OUT")
cd "$(dirname "$0")/.." || exit 1

BIN=$BUILD/tests/bench
SHIM=$BUILD/libblitzshim.so
CSV=$OUT/runs.csv
mkdir -p "$OUT/logs"
log() { echo "bench: $*" >&2; }

# ---- build --------------------------------------------------------------------------------
BUILD_FAILED=0
if ! scripts/setup.sh "$BUILD" >"$OUT/logs/build.log" 2>&1; then
  BUILD_FAILED=1
  log "build failed (see $OUT/logs/build.log); building the benchmark programs alone, shim runs will fail"
  mkdir -p "$BIN"
  for src in tests/bench/*.c; do
    gcc -std=gnu11 -O2 -pthread -Wall -o "$BIN/$(basename "$src" .c)" "$src" || { log "cannot build $src"; exit 1; }
  done
fi
[ -f "$SHIM" ] || log "$SHIM missing: shim runs will be marked failed"

# ---- running ------------------------------------------------------------------------------
echo "workload,variant,run,status,exit,secs,ok,metric,value,line" >"$CSV"

# run_bench LABEL TIMEOUT PROG ARGS...
# RUNS rounds of (native, shim) runs of $BIN/PROG ARGS; $NATIVE_ARGS / $SHIM_ARGS are appended
# for one variant only; $SHIM_ENV (VAR=value words) is set for the shim runs. One runs.csv row per run; status is ok, failed, timeout, nolib (library
# missing) or notpreloaded (the library did not get mapped).
run_bench() {
  local label=$1 limit=$2 prog=$3 i v rc status line extra ok metric value secs
  shift 3
  for ((i = 1; i <= RUNS; i++)); do
    for v in native shim; do
      local pre=() out=$OUT/logs/$label.$v.$i
      if [ "$v" = shim ]; then extra=${SHIM_ARGS:-}; pre=(LD_PRELOAD="$SHIM" ${SHIM_ENV:-}); else extra=${NATIVE_ARGS:-}; fi
      if [ "$v" = shim ] && [ ! -f "$SHIM" ]; then
        rc=- status=nolib line='' secs=0
      else
        secs=$(date +%s.%N)
        timeout -k 10 "$limit" env "${pre[@]}" "$BIN/$prog" "$@" $extra >"$out.out" 2>"$out.err"
        rc=$?
        secs=$(awk -v a="$secs" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
        line=$(grep '^bench=' "$out.out" | tail -n1 | tr -d ',"')
        if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then status=timeout
        elif [ "$rc" != 0 ] || [[ " $line " != *" ok=1 "* ]]; then status=failed
        elif [ "$v" = shim ] && [[ " $line " != *" preloaded=1 "* ]]; then status=notpreloaded
        else status=ok; fi
      fi
      ok=$(kv "$line" ok) metric=$(kv "$line" metric) value=$(kv "$line" value)
      echo "$label,$v,$i,$status,$rc,$secs,${ok:-0},$metric,$value,$line" >>"$CSV"
      log "$label $v $i/$RUNS: $status${metric:+ $metric=$value} (${secs}s)"
    done
  done
}

# kv LINE KEY: value of KEY in a key=value line
kv() { awk -v k="$2" '{ for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) print substr($i, length(k) + 2) }' <<<"$1"; }

# stats LABEL VARIANT KEY: "median min max count" of KEY over the successful runs (empty if none);
# KEY may be a key of the result line or the name given by its metric= (then value= is used).
stats() {
  awk -F, -v w="$1" -v v="$2" -v k="$3" '$1 == w && $2 == v && $4 == "ok" {
        split("", kv); n = split($10, f, " ")
        for (i = 1; i <= n; i++) { j = index(f[i], "="); kv[substr(f[i], 1, j - 1)] = substr(f[i], j + 1) }
        if (k in kv) print kv[k]; else if (kv["metric"] == k) print kv["value"] }' "$CSV" |
    sort -g | awk '{ a[NR] = $1 } END { if (NR) print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2), a[1], a[NR], NR }'
}

# verdict LABEL: "native 5/5 ok, shim 0/5 ok (nolib)"
verdict() {
  awk -F, -v w="$1" '$1 == w { n[$2]++; if ($4 == "ok") g[$2]++; else if (!(($2) in why)) why[$2] = $4 }
    END { for (j = 1; j <= 2; j++) { v = j == 1 ? "native" : "shim"
            printf "%s%s %d/%d ok%s", j == 2 ? ", " : "", v, g[v], n[v], (v in why) ? " (" why[v] ")" : "" } }' "$CSV"
}

num() {
  awk -v x="$1" 'BEGIN { a = x < 0 ? -x : x
    if (a >= 1e6) printf "%.2fM", x / 1e6; else if (a >= 1e4) printf "%.1fk", x / 1e3
    else if (x == int(x)) printf "%d", x; else printf(a >= 10 ? "%.1f" : "%.3f", x) }'
}
cell() { if [ -n "$1" ]; then set -- $1; echo "$(num "$1") ($(num "$2")–$(num "$3"))"; else echo FAILED; fi; }

TABLE="| workload | metric | native median (min–max) | shim median (min–max) | shim vs native (>1: shim better) | correctness | target |
|---|---|---|---|---|---|---|"

# row LABEL KEY BETTER GOAL TARGET_TEXT: add one table row.
#   BETTER: higher | lower (ratio = shim/native or native/shim) | ideal (KEY is already a ratio to
#   an ideal, lower is better; both are shown instead of a ratio). GOAL: awk condition on
#   r (ratio), s (shim median) and n (native median), e.g. "r >= 30"; empty for none.
row() {
  local label=$1 key=$2 better=$3 goal=$4 text=$5 ns ss n s r cmp met
  ns=$(stats "$label" native "$key") ss=$(stats "$label" shim "$key")
  n=${ns%% *} s=${ss%% *}
  if [ -z "$n" ] || [ -z "$s" ]; then r=; cmp="n/a"
  elif [ "$better" = ideal ]; then r=; cmp="wall/ideal: native $(num "$n")x, shim $(num "$s")x"
  else
    r=$(awk -v n="$n" -v s="$s" -v b="$better" 'BEGIN { d = b == "higher" ? n : s; print d ? (b == "higher" ? s : n) / d : 0 }')
    cmp="$(num "$r")x"
  fi
  if [ -z "$goal" ]; then met=
  elif [ -z "$s" ] || { [ -z "$r" ] && [ "$better" != ideal ]; }; then met=" — n/a"
  elif awk -v r="${r:-0}" -v s="$s" -v n="${n:-0}" "BEGIN { exit !($goal) }"; then met=" — met"
  else met=" — NOT met"; fi
  TABLE+=$'\n'"| $label | $key | $(cell "$ns") | $(cell "$ss") | $cmp | $(verdict "$label") | ${text:-—}$met |"
}

# ---- workloads (one function each) ----------------------------------------------------------
bench_create_join() {
  local n=$((FULL ? 1000000 : 100000)) t=$((FULL ? 600 : 60))
  run_bench create_join "$t" create_join -n "$n"
  row create_join creates_per_s higher "r >= 30" "create+join ≥30x native"
  [ "$FULL" = 1 ] || return 0        # batches only in --full: quick mode must stay under 3 minutes
  run_bench create_join_batch100 "$t" create_join -n "$n" -b 100
  row create_join_batch100 creates_per_s higher "r >= 30" "≥30x native"
}

bench_sleep_storm() {
  run_bench sleep_storm 120 sleep_storm -t 10000 -r 100 -d 1ms -s 64k
  row sleep_storm wall_over_ideal ideal "s <= 1.10" "≤1.10x ideal (within 10%)"
}

bench_alive() {
  if [ "$FULL" = 1 ]; then
    # 10 s sleeps: 1M tasks waking every second would turn this into a timer storm
    SHIM_ARGS="-n 1000000" run_bench alive 900 alive -n 31000 -p 10s
  else
    run_bench alive 120 alive -n 10000
  fi
  row alive bytes_per_thread lower "r >= 3" "memory/thread ≤1/3 native"
  row alive peak higher "" ""
  row alive creates_per_s higher "" ""
}

# The cost of a switch: sched_yield() among 100 threads (per task-TLS and worker-TLS mode).
bench_yield_switch() {
  run_bench yield_switch 120 yield_switch -t 100 -r 20000
  row yield_switch ns_per_yield lower "" ""
}

# BLITZ_TLS=worker (tasks share their worker's TLS): what per-task TLS costs, side by side.
bench_tls_worker() {
  SHIM_ENV=BLITZ_TLS=worker run_bench create_join_tlsworker 60 create_join -n 100000
  row create_join_tlsworker creates_per_s higher "" "BLITZ_TLS=worker"
  SHIM_ENV=BLITZ_TLS=worker run_bench yield_switch_tlsworker 120 yield_switch -t 100 -r 20000
  row yield_switch_tlsworker ns_per_yield lower "" "BLITZ_TLS=worker"
  SHIM_ENV=BLITZ_TLS=worker run_bench alive_tlsworker 120 alive -n 10000
  row alive_tlsworker bytes_per_thread lower "" "BLITZ_TLS=worker"
}

# Synchronization: hand-offs between two threads, and one lock shared by eight.
bench_sync() {
  run_bench cond_pingpong 120 cond_pingpong -r 20000
  row cond_pingpong round_trips_per_s higher "r >= 20" "condvar ping-pong ≥20x native"
  run_bench sem_pingpong 120 cond_pingpong -r 20000 -s
  row sem_pingpong round_trips_per_s higher "r >= 20" "semaphore ping-pong ≥20x native"
  run_bench mutex_contend 120 mutex_contend -t 8 -n 200000
  row mutex_contend locks_per_s higher "r >= 2" "contended mutex (8 threads) ≥2x native"
}

# Read-mostly rwlock: 8 threads, 10% writes. 2M operations in all (the program's default of 200k
# lasts ~10 ms natively, too short to be stable).
bench_rwlock() {
  run_bench rwlock_mix 120 rwlock_mix -t 8 -n 2000000 -w 10
  row rwlock_mix ops_per_s higher "" ""
}

# Barrier: 4 threads meet 50k times.
bench_barrier() {
  run_bench barrier_cycle 120 barrier_cycle -t 4 -r 50000
  row barrier_cycle cycles_per_s higher "" ""
}

WORKLOADS="create_join sleep_storm alive yield_switch tls_worker sync rwlock barrier"
for w in $WORKLOADS; do "bench_$w"; done

# alive_note: "alive: native stops at N threads (...)" from the native alive runs
alive_note() {
  local peaks stops
  peaks=$(stats alive native peak)
  [ -n "$peaks" ] || return 0
  stops=$(awk -F, '$1 == "alive" && $2 == "native" && $4 == "ok" { n = split($10, f, " ")
            for (i = 1; i <= n; i++) if (f[i] ~ /^stopped_by=/) print substr(f[i], 12) }' "$CSV" | sort | uniq -c |
          awk '{ printf "%s%s x%s", (NR > 1 ? ", " : ""), $2, $1 }')
  set -- $peaks
  echo "alive: native stops at $3 threads (max over ok runs; stopped by: $stops)."
}

# ---- report -------------------------------------------------------------------------------
echo "$TABLE"
{
  echo "# blitzshim benchmark $(date -Iseconds)"
  echo
  echo "$TABLE"
  echo
  echo "Runs per variant: $RUNS ($([ $FULL = 1 ] && echo full || echo quick) mode); medians over successful runs; every run is in runs.csv, logs in logs/."
  [ $BUILD_FAILED = 1 ] && echo "**Build failed** (logs/build.log): shim runs could not be made."
  [ -f "$SHIM" ] || echo "**$SHIM missing**: shim column failed."
  alive_note
  echo
  echo "## Machine"
  echo
  echo "- CPU: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
  echo "- kernel: $(uname -sr); $(ldd --version | head -n1); $(gcc --version | head -n1)"
  echo "- limits: pid_max $(cat /proc/sys/kernel/pid_max), threads-max $(cat /proc/sys/kernel/threads-max), vm.max_map_count $(cat /proc/sys/vm/max_map_count), ulimit -s $(ulimit -s), ulimit -u $(ulimit -u)"
  echo "- shim: $SHIM $([ -f "$SHIM" ] && stat -c '(%s bytes, built %y)' "$SHIM" || echo '(missing)')"
  echo "- source: $(git rev-parse --short HEAD 2>/dev/null || echo 'no commit') $(git status --porcelain 2>/dev/null | grep -q . && echo '(dirty)')"
  echo "- date: $(date -Iseconds)"
  echo "- command: \`$CMDLINE\`"
} >"$OUT/report.md"
log "report: $OUT/report.md, runs: $CSV"
exit $BUILD_FAILED
