#!/usr/bin/env bash
# shellcheck disable=SC2317,SC2086  # functions are called indirectly; word splitting is intended
# Benchmarks blitzshim: builds (scripts/setup.sh), runs every workload natively and under
# LD_PRELOAD=<build>/libblitzshim.so (same binary, interleaved runs, each bounded by `timeout`),
# prints one Markdown table to stdout and writes runs.csv + report.md to the output directory.
#
# Network workloads (echo ping-pong with our own verifying epoll client, HTTP/1.1 keep-alive
# under wrk) also run two peers with the same client in the same run: an event loop on libev
# and a goroutine-per-connection Go server. Charts (gnuplot) and the machine go into the report.
#
# Usage: scripts/bench.sh [--full] [--runs N] [--build DIR] [--out DIR] [--only "W..."]
#   (quick)   under 3 minutes on 2 cores: smaller sizes, echo at 1,000 connections, HTTP at 100,
#             idle memory at 1,000
#   --full    big sizes (create_join 300k pairs and in batches of 100, alive up to 1M under the
#             shim / up to failure but at most 31k natively, sleep storm 10k x 100, echo at
#             100/1k/10k/15k, HTTP at 100/1k/10k, idle memory at 1k/10k/15k); under 20 minutes
#   --runs N  runs per variant (default 5)
#   --build   build directory (default build)
#   --out     output directory (default results/<date>)
#   --only    run only these workloads (names of the bench_* functions, e.g. "sync echo")
# Exit status: 0, or 1 if the build failed (the native columns are still produced when only the
# library failed to build).
#
# Adding a workload: write tests/bench/<prog>.c (one key=value line on stdout, see bench.h),
# add it to tests/bench/CMakeLists.txt, write a bench_<name> function below (run_bench + row)
# and append it to WORKLOADS.
set -uo pipefail

CMDLINE=$(printf '%q ' "$0" "$@")
FULL=0 RUNS=5 BUILD=build OUT=results/$(date +%Y-%m-%d_%H%M%S) ONLY=
while [ $# -gt 0 ]; do
  case $1 in
    --full) FULL=1 ;;
    --runs) RUNS=$2; shift ;;
    --build) BUILD=$2; shift ;;
    --out) OUT=$2; shift ;;
    --only) ONLY=$2; shift ;;
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
if ! BLITZ_EXTRA_PKGS="wrk golang-go gnuplot-nox ${BLITZ_EXTRA_PKGS:-}" scripts/setup.sh "$BUILD" >"$OUT/logs/build.log" 2>&1; then
  BUILD_FAILED=1
  log "build failed (see $OUT/logs/build.log); building the benchmark programs alone, shim runs will fail"
  mkdir -p "$BIN"
  for src in tests/bench/*.c; do
    gcc -std=gnu11 -O2 -pthread -Wall -o "$BIN/$(basename "$src" .c)" "$src" || { log "cannot build $src"; exit 1; }
  done
fi
[ -f "$SHIM" ] || log "$SHIM missing: shim runs will be marked failed"
# The Go peer (network workloads and the sleep storm); go build is incremental, so this is
# cheap and never leaves a binary older than its sources.
PEER_GO=$BIN/peer_go
tests/bench/peer_go/build.sh "$BIN" >"$OUT/logs/peer_go_build.log" 2>&1 || rm -f "$PEER_GO"

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
      [ -n "${SETTLE:-}" ] && settle
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

# settle: waits (at most 15 s) until the kernel's memory counters stop falling. The memory
# workloads read system-wide counters, and the kernel frees a finished run's page tables and
# slabs for seconds after it exits (a million threads: gigabytes).
settle() {
  local a b
  a=$(awk '/^(PageTables|SUnreclaim|KernelStack):/ { s += $2 } END { print s }' /proc/meminfo)
  for _ in $(seq 30); do
    sleep 0.5
    b=$(awk '/^(PageTables|SUnreclaim|KernelStack):/ { s += $2 } END { print s }' /proc/meminfo)
    awk -v a="$a" -v b="$b" 'BEGIN { exit !(a - b < 2048) }' && return 0 # < 2 MiB freed in 0.5 s
    a=$b
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

# verdict LABEL: "native 5/5 ok, shim 0/5 ok (nolib)[, libev 5/5 ok, go 5/5 ok]"
verdict() {
  awk -F, -v w="$1" '$1 == w { n[$2]++; if ($4 == "ok") g[$2]++; else if (!(($2) in why)) why[$2] = $4 }
    END { split("native shim libev go", vs, " ")
          for (j = 1; j <= 4; j++) { v = vs[j]; if (j > 2 && !(v in n)) continue
            printf "%s%s %d/%d ok%s", (j > 1 ? ", " : ""), v, g[v], n[v], ((v in why) ? " (" why[v] ")" : "") } }' "$CSV"
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
  local n=$((FULL ? 300000 : 30000)) t=$((FULL ? 600 : 60))
  run_bench create_join "$t" create_join -n "$n"
  row create_join creates_per_s higher "r >= 30" "create+join ≥30x native"
  [ "$FULL" = 1 ] || return 0        # batches only in --full: quick mode must stay under 3 minutes
  run_bench create_join_batch100 "$t" create_join -n "$n" -b 100
  row create_join_batch100 creates_per_s higher "r >= 30" "≥30x native"
}

bench_sleep_storm() {
  local r=$((FULL ? 100 : 30)) i rc line status go=""
  run_bench sleep_storm 120 sleep_storm -t 10000 -r "$r" -d 1ms -s 64k
  # The same storm as goroutines (Go's M:N runtime on the same cores): what the target asks
  # of an M:N scheduler is measured, not assumed.
  if [ -x "$PEER_GO" ]; then
    for ((i = 1; i <= RUNS; i++)); do
      timeout -k 10 120 "$PEER_GO" -m storm -t 10000 -r "$r" -d 1ms >"$OUT/logs/sleep_storm.go.$i.out" 2>&1
      rc=$? line=$(grep '^bench=' "$OUT/logs/sleep_storm.go.$i.out" | tail -n1)
      status=ok; { [ "$rc" != 0 ] || [[ " $line " != *" ok=1 "* ]]; } && status=failed
      echo "sleep_storm,go,$i,$status,$rc,0,$(kv "$line" ok),$(kv "$line" metric),$(kv "$line" value),$line" >>"$CSV"
      log "sleep_storm go $i/$RUNS: $status wall_over_ideal=$(kv "$line" value)"
    done
    go=$(stats sleep_storm go wall_over_ideal); go=${go%% *}
    [ -n "$go" ] && go="; Go peer $(num "$go")x ideal"
  fi
  row sleep_storm wall_over_ideal ideal "s <= 1.10" "≤1.10x ideal (within 10%)$go"
}

bench_alive() {
  if [ "$FULL" = 1 ]; then
    # 10 s sleeps: 1M tasks waking every second would turn this into a timer storm
    SETTLE=1 SHIM_ARGS="-n 1000000" run_bench alive 900 alive -n 31000 -p 10s
  else
    SETTLE=1 run_bench alive 120 alive -n 10000
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
  SETTLE=1 SHIM_ENV=BLITZ_TLS=worker run_bench alive_tlsworker 120 alive -n 10000
  row alive_tlsworker bytes_per_thread lower "" "BLITZ_TLS=worker"
}

# Synchronization: hand-offs between two threads, and one lock shared by eight.
bench_sync() {
  run_bench cond_pingpong 120 cond_pingpong -r 20000
  row cond_pingpong round_trips_per_s higher "r >= 20" "condvar ping-pong ≥20x native"
  run_bench sem_pingpong 120 cond_pingpong -r 20000 -s
  row sem_pingpong round_trips_per_s higher "r >= 20" "semaphore ping-pong ≥20x native"
  run_bench mutex_contend 120 mutex_contend -t 8 -n 1000000
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

# Pipe ping-pong: two threads hand a byte back and forth over two pipes.
bench_pipe() {
  run_bench pipe_pingpong 120 pipe_pingpong -r 20000
  row pipe_pingpong round_trips_per_s higher "" ""
}

# ---- network workloads: a server (native, shim, or a peer) and our own client ----------------
# Peers: the same protocol served by an event loop written on libev (one loop per core) and by
# a goroutine-per-connection Go program; the Go one is built here if Debian's golang-go is there.
NET_VARIANTS="native shim"
[ -x "$BIN/peer_libev" ] && NET_VARIANTS+=" libev"
[ -x "$PEER_GO" ] && NET_VARIANTS+=" go"

# server_cmd VARIANT MODE: the command line of the server under test (MODE echo | http)
server_cmd() {
  local prog=echo_server
  [ "$2" = http ] && prog=http_server
  case $1 in
    native) echo "$BIN/$prog" ;;
    shim) echo "env LD_PRELOAD=$SHIM ${SHIM_ENV:-} $BIN/$prog" ;;
    libev) echo "$BIN/peer_libev -m $2" ;;
    go) echo "$PEER_GO -m $2" ;;
  esac
}

# wrk_line OUTPUT CONNS: wrk's report as one key=value line (ok=1 when every response was a 200
# and no socket failed other than by the resets wrk itself makes when it stops)
wrk_line() {
  awk -v c="$2" '
    /Requests\/sec:/ { rps = $2 }
    /^ +99%/ { p = $2; if (p ~ /us$/) v = p + 0; else if (p ~ /ms$/) v = p * 1000; else if (p ~ /s$/) v = p * 1e6; p99 = v }
    /^ +50%/ { p = $2; if (p ~ /us$/) v = p + 0; else if (p ~ /ms$/) v = p * 1000; else if (p ~ /s$/) v = p * 1e6; p50 = v }
    /Socket errors:/ { gsub(/,/, ""); for (i = 1; i <= NF; i++) { if ($i == "connect") ce = $(i + 1); if ($i == "timeout") to = $(i + 1) } }
    /Non-2xx/ { bad = $NF }
    END { ok = (rps > 0 && ce + 0 == 0 && to + 0 == 0 && bad + 0 == 0)
          printf "bench=wrk ok=%d metric=requests_per_s value=%s conns=%s p50_us=%s p99_us=%s connect_errors=%d timeouts=%d non2xx=%d\n",
                 ok, rps + 0, c, p50 + 0, p99 + 0, ce, to, bad }' <<<"$1"
}

# run_net LABEL MODE CONNS SECS: RUNS rounds over NET_VARIANTS of (start the server, drive it
# with echo_client or wrk for SECS seconds, stop it). The run's line is the client's, with the
# server's own verdict (server_ok) and, for the shim, preloaded= from the server.
run_net() {
  local label=$1 mode=$2 conns=$3 secs=$4 i v rc status line sline out pf sp secs0 cline
  for ((i = 1; i <= RUNS; i++)); do
    for v in $NET_VARIANTS; do
      out=$OUT/logs/$label.$v.$i pf=$OUT/logs/$label.$v.$i.port
      rm -f "$pf"
      if [ "$v" = shim ] && [ ! -f "$SHIM" ]; then
        echo "$label,$v,$i,nolib,-,0,0,,," >>"$CSV"; continue
      fi
      secs0=$(date +%s.%N)
      # shellcheck disable=SC2046
      timeout -k 5 $((secs + 90)) $(server_cmd "$v" "$mode") -f "$pf" -T $((secs + 60)) >"$out.srv" 2>"$out.srv.err" &
      sp=$!
      for _ in $(seq 200); do [ -f "$pf" ] && break; sleep 0.05; done
      if [ ! -f "$pf" ]; then
        kill "$sp" 2>/dev/null; wait "$sp" 2>/dev/null
        echo "$label,$v,$i,failed,-,0,0,,,server did not start" >>"$CSV"; log "$label $v $i/$RUNS: server did not start"; continue
      fi
      if [ "$mode" = echo ]; then
        timeout -k 5 $((secs + 60)) "$BIN/echo_client" -f "$pf" -c "$conns" -d "$secs" -W 0.5 >"$out.out" 2>"$out.err"
        rc=$?
        cline=$(grep '^bench=' "$out.out" | tail -n1 | tr -d ',"')
      else
        timeout -k 5 $((secs + 60)) wrk -t2 -c"$conns" -d"${secs}s" --latency "http://127.0.0.1:$(cat "$pf")/" >"$out.out" 2>"$out.err"
        rc=$?
        cline=$(wrk_line "$(cat "$out.out")" "$conns")
      fi
      kill -TERM "$sp" 2>/dev/null; wait "$sp" 2>/dev/null
      sline=$(grep '^bench=' "$out.srv" | tail -n1)
      line="$cline server_ok=$(kv "$sline" ok)"
      [ "$v" = shim ] && line+=" preloaded=$(kv "$sline" preloaded)"
      secs0=$(awk -v a="$secs0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
      # The peers and the native server report no preloaded=1; a server killed by SIGTERM
      # before it printed counts as ok when the client verified everything.
      if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then status=timeout
      elif [ "$rc" != 0 ] || [[ " $cline " != *" ok=1 "* ]] || [[ " $line " == *" server_ok=0 "* ]]; then status=failed
      elif [ "$v" = shim ] && [[ " $line " != *" preloaded=1 "* ]]; then status=notpreloaded
      else status=ok; fi
      echo "$label,$v,$i,$status,$rc,$secs0,$(kv "$cline" ok),$(kv "$cline" metric),$(kv "$cline" value),$line" >>"$CSV"
      log "$label $v $i/$RUNS: $status $(kv "$cline" metric)=$(kv "$cline" value) p99_us=$(kv "$cline" p99_us) (${secs0}s)"
    done
  done
}

# peers LABEL KEY: the shim's median as a fraction of each peer's, for the network table
PEER_TABLE="| workload | native | shim | libev | go | shim/native | shim/libev | shim/go | p99 ms native / shim / libev / go |
|---|---|---|---|---|---|---|---|---|"
peer_row() {
  local label=$1 key=$2 v m cells="" ratios="" p99s="" sm
  sm=$(stats "$label" shim "$key"); sm=${sm%% *}
  for v in native shim libev go; do
    m=$(stats "$label" "$v" "$key"); m=${m%% *}
    cells+="| $([ -n "$m" ] && num "$m" || echo —) "
    if [ "$v" != shim ]; then
      if [ -n "$m" ] && [ -n "$sm" ] && awk -v m="$m" 'BEGIN { exit !(m > 0) }'; then
        ratios+="| $(num "$(awk -v s="$sm" -v m="$m" 'BEGIN { print s / m }')") "
      else ratios+="| — "; fi
    fi
    m=$(stats "$label" "$v" p99_us); m=${m%% *}
    p99s+="$([ -n "$p99s" ] && echo " / ")$([ -n "$m" ] && num "$(awk -v x="$m" 'BEGIN { print x / 1000 }')" || echo —)"
  done
  PEER_TABLE+=$'\n'"| $label $cells$ratios| $p99s |"
}

# Echo ping-pong: every connection sends 64 bytes and waits for them (echo_client verifies
# every byte and records each round trip).
bench_echo() {
  local c secs=$((FULL ? 2 : 1)) sizes="1000"
  [ "$FULL" = 1 ] && sizes="100 1000 10000 15000"
  for c in $sizes; do
    run_net "echo_c$c" echo "$c" "$secs"
    row "echo_c$c" msgs_per_s higher "r >= 1.5" "echo ≥1.5x native msgs/s"
    row "echo_c$c" p99_us lower "r >= 1" "p99 no worse"
    peer_row "echo_c$c" msgs_per_s
  done
}

# HTTP/1.1 keep-alive under wrk (2 threads).
bench_http() {
  local c secs=$((FULL ? 2 : 1)) sizes="100"
  [ "$FULL" = 1 ] && sizes="100 1000 10000"
  if ! command -v wrk >/dev/null; then log "wrk missing: HTTP workloads skipped"; return 0; fi
  for c in $sizes; do
    run_net "http_c$c" http "$c" "$secs"
    row "http_c$c" requests_per_s higher "r >= 1.5" "HTTP ≥1.5x native"
    peer_row "http_c$c" requests_per_s
  done
}

# Memory per idle connection: RSS plus kernel stack, page tables and slab (both ends' sockets).
bench_idle() {
  local c sizes="1000"
  [ "$FULL" = 1 ] && sizes="1000 10000 15000"
  for c in $sizes; do
    SETTLE=1 run_bench "idle_c$c" 120 idle_conns -c "$c"
    row "idle_c$c" bytes_per_conn lower "r >= 3" "memory/idle connection ≤1/3 native"
  done
}

if [ "$FULL" = 1 ]; then
  WORKLOADS="create_join sleep_storm alive yield_switch tls_worker sync rwlock barrier pipe echo http idle"
else
  WORKLOADS="create_join sleep_storm alive yield_switch sync rwlock barrier pipe echo http idle"
fi
if [ -n "$ONLY" ]; then
  for w in $ONLY; do
    declare -F "bench_$w" >/dev/null || { log "--only: no workload '$w' (known: $WORKLOADS tls_worker)"; exit 2; }
  done
  WORKLOADS=$ONLY
fi
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
echo
echo "Network workloads against the peers (medians; shim/X > 1: the shim is faster):"
echo "$PEER_TABLE"
scripts/charts.sh "$OUT" >"$OUT/logs/charts.log" 2>&1 || log "charts failed (logs/charts.log)"
{
  echo "# blitzshim benchmark $(date -Iseconds)"
  echo
  echo "$TABLE"
  echo
  echo "## Network workloads against the peers"
  echo
  echo "Same client, same run: our echo_client (every byte verified) or wrk; the peers are an event loop"
  echo "on libev (one loop per core) and a goroutine-per-connection Go server (Debian's golang-go)."
  echo
  echo "$PEER_TABLE"
  echo
  [ -f "$OUT/charts.md" ] && { echo "## Charts"; echo; cat "$OUT/charts.md"; echo; }
  echo "Runs per variant: $RUNS ($([ $FULL = 1 ] && echo full || echo quick) mode); medians over successful runs; every run is in runs.csv, logs in logs/."
  [ $BUILD_FAILED = 1 ] && echo "**Build failed** (logs/build.log): shim runs could not be made."
  [ -f "$SHIM" ] || echo "**$SHIM missing**: shim column failed."
  alive_note
  echo
  echo "## Machine"
  echo
  scripts/machine.sh
  echo "- limits: pid_max $(cat /proc/sys/kernel/pid_max), threads-max $(cat /proc/sys/kernel/threads-max), vm.max_map_count $(cat /proc/sys/vm/max_map_count), ulimit -s $(ulimit -s), ulimit -u $(ulimit -u)"
  echo "- shim: $SHIM $([ -f "$SHIM" ] && stat -c '(%s bytes, built %y)' "$SHIM" || echo '(missing)')"
  echo "- source: $(git rev-parse --short HEAD 2>/dev/null || echo 'no commit') $(git status --porcelain 2>/dev/null | grep -q . && echo '(dirty)')"
  echo "- date: $(date -Iseconds)"
  echo "- command: \`$CMDLINE\`"
} >"$OUT/report.md"
log "report: $OUT/report.md, runs: $CSV"
exit $BUILD_FAILED
