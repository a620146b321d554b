#!/usr/bin/env bash
# A third-party thread-per-connection server under the shim: Debian's microsocks (a SOCKS5
# proxy nobody on the team wrote) relays HTTP downloads from a local server.
#
#   tests/microsocks.sh BUILD_DIR
#
# For each configuration (native, then LD_PRELOAD=BUILD_DIR/libblitzshim.so with
# BLITZ_WORKERS=2 and 1), microsocks listens on 127.0.0.1 at a free port, and
# curl --socks5 fetches files of 1 KB, 100 KB and 5 MB (random content) from a local
# HTTP server (python3 -m http.server on 127.0.0.1, or, without python3, a tiny
# fork-per-connection server compiled here) through it: 200 requests, 50 at a time;
# every body must match its file's sha256.  Then microsocks must still be running.
# Prints PASS/FAIL per configuration and "N passed, N failed"; exits 1 on any failure,
# 77 (SKIP) when microsocks is missing and cannot be installed (not root).
#
# Environment: MICROSOCKS_CONFIGS (default "native shim-w2 shim-w1"),
# MICROSOCKS_REQUESTS (200), MICROSOCKS_PARALLEL (50), MICROSOCKS_HTTP (auto, python or c).
# Only loopback addresses are used; every process started here is killed by PID on exit,
# and everything runs under timeouts.
set -u
unset LD_PRELOAD # the shim goes into microsocks only

if [ $# -lt 1 ] || [ ! -d "$1" ]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
BUILD=$(cd "$1" && pwd)
LIB=$BUILD/libblitzshim.so
CONFIGS=${MICROSOCKS_CONFIGS:-native shim-w2 shim-w1}
REQUESTS=${MICROSOCKS_REQUESTS:-200}
PARALLEL=${MICROSOCKS_PARALLEL:-50}
HTTP_KIND=${MICROSOCKS_HTTP:-auto}

# --- microsocks and curl ---------------------------------------------------------------------
if ! command -v microsocks >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing microsocks" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y microsocks >/dev/null 2>&1 ||
      { apt-get update >/dev/null 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y microsocks >/dev/null 2>&1; }
  fi
  if ! command -v microsocks >/dev/null 2>&1; then
    echo "SKIP microsocks: not installed (apt-get install microsocks needs root)"
    exit 77
  fi
fi
for tool in curl sha256sum timeout xargs head; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "SKIP microsocks: $tool not found"
    exit 77
  fi
done
MICROSOCKS=$(command -v microsocks)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/blitz-microsocks.XXXXXX")
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    kill "$p" 2>/dev/null
  done
  for p in "${PIDS[@]}"; do
    wait "$p" 2>/dev/null
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# stop_pid PID: kill one process started here and reap it
stop_pid() {
  kill "$1" 2>/dev/null
  wait "$1" 2>/dev/null
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" != "$1" ] && keep+=("$p"); done
  PIDS=("${keep[@]}")
}

# can_connect PORT: a TCP connection to 127.0.0.1:PORT succeeds
can_connect() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# --- the files ---------------------------------------------------------------------------------
mkdir -p "$WORK/www" "$WORK/out"
head -c 1024 /dev/urandom >"$WORK/www/f1k.bin"
head -c 102400 /dev/urandom >"$WORK/www/f100k.bin"
head -c 5242880 /dev/urandom >"$WORK/www/f5m.bin"
FILES=(f1k.bin f100k.bin f5m.bin)
for f in "${FILES[@]}"; do
  sha256sum <"$WORK/www/$f" | cut -d' ' -f1 >"$WORK/$f.sha256"
done

# --- the HTTP server ---------------------------------------------------------------------------
build_c_server() {
  cat >"$WORK/httpd.c" <<'EOF'
/* tiny static file server: 127.0.0.1, port 0 (printed), fork per connection, GET only */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
static void put(int c, const char *s, size_t n) {
  while (n > 0) { ssize_t w = write(c, s, n); if (w <= 0) return; s += w; n -= (size_t)w; }
}
static void serve(int c) {
  char req[8192], path[256];
  size_t len = 0;
  while (len < sizeof req - 1 && !strstr(req, "\r\n\r\n")) {
    ssize_t n = read(c, req + len, sizeof req - 1 - len);
    if (n <= 0) return;
    len += (size_t)n;
    req[len] = 0;
  }
  char name[128];
  if (sscanf(req, "GET /%127[A-Za-z0-9._-] HTTP", name) != 1 || name[0] == '.') {
    put(c, "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 63);
    return;
  }
  snprintf(path, sizeof path, "%s", name);
  int f = open(path, O_RDONLY);
  struct stat st;
  if (f < 0 || fstat(f, &st) != 0) {
    put(c, "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 63);
    return;
  }
  char head[256];
  int h = snprintf(head, sizeof head, "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n"
                   "Content-Length: %lld\r\nConnection: close\r\n\r\n", (long long)st.st_size);
  put(c, head, (size_t)h);
  char buf[65536];
  ssize_t n;
  while ((n = read(f, buf, sizeof buf)) > 0) put(c, buf, (size_t)n);
  close(f);
}
int main(void) {
  signal(SIGCHLD, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  socklen_t al = sizeof a;
  if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 128) || getsockname(l, (struct sockaddr *)&a, &al))
    return 1;
  printf("port %d\n", ntohs(a.sin_port));
  fflush(stdout);
  for (;;) {
    int c = accept(l, NULL, NULL);
    if (c < 0) continue;
    pid_t p = fork();
    if (p == 0) { close(l); serve(c); shutdown(c, SHUT_WR); close(c); _exit(0); }
    close(c);
  }
}
EOF
  local cc
  cc=$(command -v cc || command -v gcc) || return 1
  "$cc" -O2 -o "$WORK/httpd" "$WORK/httpd.c" 2>"$WORK/httpd-build.log"
}

if [ "$HTTP_KIND" = auto ]; then
  if command -v python3 >/dev/null 2>&1 && python3 -c 'import http.server' 2>/dev/null; then
    HTTP_KIND=python
  else
    HTTP_KIND=c
  fi
fi
: >"$WORK/httpd.out"
if [ "$HTTP_KIND" = python ]; then
  (cd "$WORK/www" && exec timeout 900 python3 -u -m http.server --bind 127.0.0.1 0) \
    >"$WORK/httpd.out" 2>"$WORK/httpd.err" &
  HTTP_PID=$!
else
  if ! build_c_server; then
    echo "FAIL microsocks: could not build the fallback HTTP server"
    cat "$WORK/httpd-build.log" 2>/dev/null | head -5
    echo "0 passed, 1 failed"
    exit 1
  fi
  (cd "$WORK/www" && exec timeout 900 "$WORK/httpd") >"$WORK/httpd.out" 2>"$WORK/httpd.err" &
  HTTP_PID=$!
fi
PIDS+=("$HTTP_PID")
HTTP_PORT=
for _ in $(seq 100); do
  HTTP_PORT=$(grep -Eo 'port [0-9]+' "$WORK/httpd.out" | head -n 1 | cut -d' ' -f2)
  [ -n "$HTTP_PORT" ] && break
  kill -0 "$HTTP_PID" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$HTTP_PORT" ] || ! can_connect "$HTTP_PORT"; then
  echo "FAIL microsocks: the $HTTP_KIND HTTP server did not start"
  head -n 5 "$WORK/httpd.err" 2>/dev/null
  echo "0 passed, 1 failed"
  exit 1
fi
# the server itself serves the files right
for f in "${FILES[@]}"; do
  got=$(curl -sS --fail --max-time 30 --noproxy '*' "http://127.0.0.1:$HTTP_PORT/$f" | sha256sum | cut -d' ' -f1)
  if [ "$got" != "$(cat "$WORK/$f.sha256")" ]; then
    echo "FAIL microsocks: the $HTTP_KIND HTTP server served $f wrong, without the proxy"
    echo "0 passed, 1 failed"
    exit 1
  fi
done
echo "http server ($HTTP_KIND) on 127.0.0.1:$HTTP_PORT" >&2

# --- microsocks --------------------------------------------------------------------------------
# start_proxy CONFIG: starts microsocks at a free port; sets PROXY_PID, PROXY_PORT
start_proxy() {
  local cfg=$1 env_extra=() try port
  case $cfg in
    native) ;;
    shim-w[0-9]*) env_extra=(LD_PRELOAD="$LIB" BLITZ_WORKERS="${cfg#shim-w}") ;;
    *) return 1 ;;
  esac
  for try in $(seq 20); do
    # below the ephemeral range (32768-60999), where outgoing connections get their ports
    port=$((20000 + (RANDOM % 12000)))
    can_connect "$port" && continue
    timeout 600 env "${env_extra[@]}" "$MICROSOCKS" -i 127.0.0.1 -p "$port" -b 127.0.0.1 \
      >"$WORK/microsocks.$cfg.log" 2>&1 &
    PROXY_PID=$!
    PIDS+=("$PROXY_PID")
    for _ in $(seq 50); do
      if ! kill -0 "$PROXY_PID" 2>/dev/null; then
        break
      fi
      if can_connect "$port"; then
        PROXY_PORT=$port
        return 0
      fi
      sleep 0.1
    done
    stop_pid "$PROXY_PID" # died (port taken) or never listened: next port
  done
  return 1
}

# run_requests CONFIG: REQUESTS downloads, PARALLEL at a time; prints the count of good ones
run_requests() {
  local cfg=$1 i
  for ((i = 0; i < REQUESTS; i++)); do
    echo "$i ${FILES[$((i % 3))]}"
  done >"$WORK/requests"
  # each request: download through the proxy, compare the sha256, print ok/bad
  W=$WORK PP=$PROXY_PORT HP=$HTTP_PORT timeout 300 xargs -P "$PARALLEL" -n 2 sh -c '
    out="$W/out/$0"
    if curl -sS --fail --max-time 60 --socks5 "127.0.0.1:$PP" -o "$out" "http://127.0.0.1:$HP/$1" 2>"$out.err"; then
      got=$(sha256sum <"$out" | cut -d" " -f1)
      if [ "$got" = "$(cat "$W/$1.sha256")" ]; then echo "ok $0"; else echo "bad $0 $1 checksum"; fi
    else
      echo "bad $0 $1 curl: $(head -c 200 "$out.err")"
    fi
    rm -f "$out" "$out.err"
  ' <"$WORK/requests" >"$WORK/results.$cfg" 2>&1
  grep -c '^ok ' "$WORK/results.$cfg"
}

passed=0
failed=0
for cfg in $CONFIGS; do
  case $cfg in
    shim-w*)
      if [ ! -f "$LIB" ]; then
        echo "FAIL microsocks [$cfg]: $LIB not found"
        failed=$((failed + 1))
        continue
      fi
      ;;
  esac
  if ! start_proxy "$cfg"; then
    echo "FAIL microsocks [$cfg]: microsocks did not start listening"
    tail -n 5 "$WORK/microsocks.$cfg.log" 2>/dev/null | sed 's/^/    | /'
    failed=$((failed + 1))
    continue
  fi
  t0=$(date +%s.%N)
  good=$(run_requests "$cfg")
  t1=$(date +%s.%N)
  alive=1
  kill -0 "$PROXY_PID" 2>/dev/null || alive=0
  stop_pid "$PROXY_PID"
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  if [ "$good" = "$REQUESTS" ] && [ "$alive" -eq 1 ]; then
    echo "PASS microsocks [$cfg]: $REQUESTS downloads through the proxy, $PARALLEL at a time, all intact (${secs} s)"
    passed=$((passed + 1))
  else
    reason="$good of $REQUESTS downloads intact"
    [ "$alive" -eq 0 ] && reason="$reason; microsocks died"
    echo "FAIL microsocks [$cfg]: $reason (${secs} s)"
    grep -v '^ok ' "$WORK/results.$cfg" | head -n 5 | sed 's/^/    /'
    tail -n 5 "$WORK/microsocks.$cfg.log" 2>/dev/null | sed 's/^/    | /'
    failed=$((failed + 1))
  fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
