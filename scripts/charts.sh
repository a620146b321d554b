#!/usr/bin/env bash
# Draws PNG charts (gnuplot, 900x500) from a benchmark results directory and writes a Markdown
# snippet embedding them.
#
# Usage: scripts/charts.sh RESULTS_DIR
#   Reads RESULTS_DIR/runs.csv (as written by scripts/bench.sh), writes into RESULTS_DIR:
#     echo_throughput.png  echo_c<N>: msgs_per_s vs connections, one line per variant
#     echo_p99.png         echo_c<N>: p99_us (in ms, log y) vs connections
#     http_throughput.png  http_c<N>: requests_per_s vs connections
#     memory_per_conn.png  idle_c<N>: bytes_per_conn (in KiB) vs connections
#     alive_memory.png     alive*: bytes_per_thread (in KiB) vs threads alive (peak), native vs shim
#     charts.md            the charts made, each with one sentence saying what it shows
#   Only rows with status "ok" count; each point is the median over the runs of one
#   (workload, variant). Connection workloads are named <family>_c<N> (N may end in k or m:
#   echo_c10k); N is the x value (not the conns= the run reports), other names are ignored.
#   Alive points are the workloads whose name starts with "alive" (several sizes allowed),
#   x = median peak; alive_tlsworker (any with "tls" in its name) is left out. A chart whose
#   data is absent is skipped with a note on stderr (and an old PNG of that name is removed).
#   Needs gnuplot: installs gnuplot-nox with apt-get when missing and running as root; otherwise
#   prints a note and exits 0 without charts.
# Exit status: 0 (also when no chart could be made), 1 if runs.csv is missing, 2 on bad usage.
set -uo pipefail

note() { echo "charts: $*" >&2; }
usage() { awk 'NR > 1 { if (!/^#/) exit; sub(/^# ?/, ""); print }' "$0"; }
case ${1:-} in -h|--help) usage; exit 0 ;; esac
if [ $# -ne 1 ]; then usage >&2; exit 2; fi
DIR=$1
CSV=$DIR/runs.csv
[ -r "$CSV" ] || { note "$CSV not found"; exit 1; }

if ! command -v gnuplot >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    note "gnuplot missing: installing gnuplot-nox"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq gnuplot-nox >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq gnuplot-nox >/dev/null 2>&1; } ||
      note "apt-get install gnuplot-nox failed"
  fi
  if ! command -v gnuplot >/dev/null 2>&1; then
    note "gnuplot is not installed (as root: apt-get install gnuplot-nox); no charts made"
    exit 0
  fi
fi

TMP=$(mktemp -d) || exit 1
trap 'rm -rf "$TMP"' EXIT

# ---- data: one line "chart variant x y runs" per (chart, workload, variant) -----------------
awk -F, '
  function num(s) { return s ~ /^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$/ }
  # value of key k in the current line, or the value= of the line if its metric= is k
  function get(k) { return (k in kv) ? kv[k] : (kv["metric"] == k ? kv["value"] : "") }
  # N of a workload name ending in _c<N>, _c<N>k or _c<N>m; "" if none
  function nominal(w,   s, m) {
    if (!match(w, /_c[0-9]+[kKmM]?$/)) return ""
    s = substr(w, RSTART + 2); m = 1
    if (s ~ /[kK]$/) m = 1000; else if (s ~ /[mM]$/) m = 1000000
    return (s + 0) * m
  }
  # add CHART X Y: one run'"'"'s point for (chart, workload, variant); Y must be a positive number
  function add(chart, x, y,   g) {
    if (!num(x) || !num(y) || x + 0 <= 0 || y + 0 <= 0) return
    g = chart SUBSEP $2 SUBSEP $1
    if (!(g in cnt)) order[++ng] = g
    cnt[g]++; xs[g, cnt[g]] = x + 0; ys[g, cnt[g]] = y + 0
  }
  function median(a, g, n,   i, j, t, v) {
    for (i = 1; i <= n; i++) v[i] = a[g, i]
    for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
  }
  NR == 1 || $4 != "ok" { next }
  {
    split("", kv); n = split($10, f, " ")
    for (i = 1; i <= n; i++) { j = index(f[i], "="); if (j > 1) kv[substr(f[i], 1, j - 1)] = substr(f[i], j + 1) }
    x = nominal($1)
    if ($1 ~ /^echo_c[0-9]+[kKmM]?$/) {
      add("echo_throughput", x, get("msgs_per_s"))
      if (num(get("p99_us"))) add("echo_p99", x, get("p99_us") / 1000)
    } else if ($1 ~ /^http_c[0-9]+[kKmM]?$/) {
      add("http_throughput", x, get("requests_per_s"))
    } else if ($1 ~ /^idle_c[0-9]+[kKmM]?$/) {
      if (num(get("bytes_per_conn"))) add("memory_per_conn", x, get("bytes_per_conn") / 1024)
    } else if ($1 ~ /^alive/ && $1 !~ /tls/ && (!("bench" in kv) || kv["bench"] == "alive")) {
      if (num(get("bytes_per_thread"))) add("alive_memory", get("peak"), get("bytes_per_thread") / 1024)
    }
  }
  END {
    for (i = 1; i <= ng; i++) {
      g = order[i]; split(g, p, SUBSEP)
      printf "%s %s %.10g %.10g %d\n", p[1], p[2], median(xs, g, cnt[g]), median(ys, g, cnt[g]), cnt[g]
    }
  }' "$CSV" >"$TMP/points" || { note "cannot read $CSV"; exit 1; }

# ---- plotting ------------------------------------------------------------------------------
# Variants in a fixed order (others after, alphabetically), each with its own colour and point.
variant_rank() { case $1 in native) echo 1 ;; shim) echo 2 ;; libev) echo 3 ;; go) echo 4 ;; *) echo 9 ;; esac; }
variant_style() {      # colour, point type, width
  case $1 in
    native) echo '#1f77b4' 7 2 ;; shim) echo '#d62728' 5 3 ;; libev) echo '#2ca02c' 9 2 ;;
    go) echo '#9467bd' 13 2 ;; *) echo '#7f7f7f' 11 2 ;;
  esac
}
variant_title() {
  case $1 in
    native) echo 'native threads' ;; shim) echo 'blitzshim (LD\_PRELOAD)' ;; libev) echo 'libev (event loop)' ;;
    go) echo 'Go (goroutines)' ;; *) echo "${1//_/\\_}" ;;
  esac
}
variants_of() {        # CHART: its variants, in order
  awk -v c="$1" '$1 == c { print $2 }' "$TMP/points" | sort -u | while read -r v; do echo "$(variant_rank "$v") $v"; done |
    sort -k1,1n -k2 | awk '{ print $2 }'
}
# "100" "1k" "15k" "1M" "29.9k"
short() { awk -v x="$1" 'BEGIN { if (x >= 1e6) printf "%gM", x / 1e6; else if (x >= 1e3) printf "%.3gk", x / 1e3; else printf "%g", x }'; }
# xtics at the x values of CHART's points, leaving out any closer than a factor 1.25 to the last one
xtics_of() {
  awk -v c="$1" '$1 == c { print $3 }' "$TMP/points" | sort -g -u | awk '
    NR == 1 || $1 >= last * 1.25 { print $1; last = $1 }' | while read -r x; do printf '"%s" %s, ' "$(short "$x")" "$x"; done |
    sed 's/, $//'
}

MADE=()    # "png|sentence" of each chart made
# plot CHART TITLE XLABEL YLABEL YKIND LABELS SENTENCE
#   YKIND: rate (linear from 0, ticks in k or M), logms (log y), kib (linear from 0)
#   LABELS: 1 to print each point's value next to it
plot() {
  local chart=$1 title=$2 xlabel=$3 ylabel=$4 ykind=$5 labels=$6 sentence=$7 png=$DIR/$1.png alt=${2% (median over runs)}
  local variants v i=0 plots='' div=1 fmt='%g' ymax xmin xmax c pt lw data tcol
  variants=$(variants_of "$chart")
  if [ -z "$variants" ]; then
    note "$chart.png skipped: no usable rows for it in runs.csv"
    rm -f "$png"
    return
  fi
  read -r xmin xmax ymax < <(awk -v c="$chart" '$1 == c { if (!n++ || $3 < lo) lo = $3; if ($3 > hi) hi = $3; if ($4 > ym) ym = $4 }
    END { print lo, hi, ym }' "$TMP/points")
  if [ "$ykind" = rate ]; then
    if awk -v y="$ymax" 'BEGIN { exit !(y >= 2e6) }'; then div=1e6 fmt='%gM'; true
    elif awk -v y="$ymax" 'BEGIN { exit !(y >= 2e3) }'; then div=1e3 fmt='%gk'; true; fi
  fi
  for v in $variants; do
    data=$TMP/$chart.$v.dat
    awk -v c="$chart" -v v="$v" '$1 == c && $2 == v { print $3, $4, $5 }' "$TMP/points" | sort -g >"$data"
    read -r c pt lw <<<"$(variant_style "$v")"
    i=$((i + 1))
    plots+="${plots:+, }'$data' using 1:(\$2/$div) with linespoints lc rgb '$c' lw $lw pt $pt ps 1.4 title '$(variant_title "$v")'"
    if [ "$labels" = 1 ]; then
      # shellcheck disable=SC2016  # a gnuplot expression: $2 is gnuplot's column 2
      tcol='($2 >= 100 ? sprintf("%.0f", $2) : $2 >= 10 ? sprintf("%.1f", $2) : sprintf("%.2f", $2))'
      plots+=", '$data' using 1:(\$2/$div):$tcol with labels offset 0,0.9 font ',9' tc rgb '$c' notitle"
    fi
  done
  {
    echo "set terminal pngcairo size 900,500 enhanced font 'DejaVu Sans,11'"
    echo "set output '$png'"
    echo "set title \"$title\" font ',13'"
    echo "set xlabel \"$xlabel\""
    echo "set ylabel \"$ylabel\""
    echo "set logscale x"
    echo "set xrange [$xmin/1.5:$xmax*1.5]"
    echo "set xtics ($(xtics_of "$chart"))"
    echo "set grid xtics ytics mytics lc rgb '#dddddd'"
    echo "set key at screen 0.5, screen 0.015 center bottom horizontal reverse Left box width 1 samplen 3"
    echo "set bmargin 6"
    echo "set border 3; set tics nomirror"
    if [ "$ykind" = logms ]; then
      echo "set logscale y"
      echo "set format y '%g'"
    else
      echo "set yrange [0:*]"
      echo "set offsets 0, 0, graph 0.08, 0"
      echo "set format y '$fmt'"
    fi
    echo "plot $plots"
  } >"$TMP/$chart.gp"
  if gnuplot "$TMP/$chart.gp" 2>"$TMP/$chart.err" && [ -s "$png" ]; then
    MADE+=("$chart.png|$alt|${sentence%.}, one line per variant: ${variants//$'\n'/, }.")
    grep -v '^$' "$TMP/$chart.err" | sed "s/^/charts: $chart: gnuplot: /" >&2
  else
    note "$chart.png failed: $(head -c 300 "$TMP/$chart.err")"
    rm -f "$png"
  fi
}

plot echo_throughput "Echo server throughput vs concurrent connections (median over runs)" \
  "concurrent connections (log scale)" "messages (round trips) per second" rate 0 \
  "Echo throughput: the median number of echo round trips per second over all connections, against the number of concurrent connections (log scale)."
plot echo_p99 "Echo server p99 round-trip latency vs concurrent connections (median over runs)" \
  "concurrent connections (log scale)" "p99 round-trip latency (ms, log scale)" logms 0 \
  "Echo tail latency: the median over runs of the 99th-percentile round-trip time in milliseconds (log scale), against the number of concurrent connections (log scale)."
plot http_throughput "HTTP server throughput vs concurrent connections (median over runs)" \
  "concurrent connections (log scale)" "requests per second" rate 0 \
  "HTTP throughput: the median number of requests served per second, against the number of concurrent connections (log scale)."
plot memory_per_conn "Memory per idle connection (median over runs)" \
  "idle connections (log scale)" "memory per idle connection (KiB)" kib 1 \
  "Idle-connection cost: the median memory per idle connection in KiB (the workload's bytes_per_conn, which counts kernel memory too: stacks, page tables, socket slab) against the number of connections held open (log scale)."
plot alive_memory "Memory per blocked thread vs threads alive (median over runs)" \
  "threads alive at once (log scale)" "memory per thread (KiB)" kib 1 \
  "Thread cost: the median memory per blocked thread in KiB (alive's bytes_per_thread: process RSS plus kernel stacks, page tables and unreclaimable slab) against the number of threads alive at once (the runs' median peak, log scale)."

{
  echo "<!-- made by scripts/charts.sh from runs.csv: medians over the successful runs of each workload and variant -->"
  if [ ${#MADE[@]} = 0 ]; then
    echo "No charts: runs.csv has no rows for them."
  fi
  for m in "${MADE[@]}"; do
    echo
    IFS='|' read -r png alt sentence <<<"$m"
    echo "![$alt]($png)"
    echo
    echo "$sentence"
  done
} >"$DIR/charts.md"
note "${#MADE[@]} chart(s) in $DIR; snippet: $DIR/charts.md"
exit 0
