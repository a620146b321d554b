#!/bin/sh
# Build the Go peer (tests/bench/peer_go) into OUTDIR/peer_go. Called by scripts/bench.sh.
# Without a Go toolchain it says so on stderr and exits 0 without a binary (the peer is skipped).
# Build caches go under /tmp (nothing lands in the repository); no network: no dependencies.
set -eu
if [ $# -ne 1 ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
if ! command -v go >/dev/null 2>&1; then
    echo "peer_go: 'go' not found (apt-get install golang-go); not building peer_go" >&2
    exit 0
fi
mkdir -p "$1"
out=$(cd "$1" && pwd)
cd "$(dirname "$0")"
GOCACHE=${GOCACHE:-/tmp/peer_go-cache} GOPATH=${GOPATH:-/tmp/peer_go-gopath} GOFLAGS=-mod=mod \
    GOPROXY=off GO111MODULE=on CGO_ENABLED=0 go build -o "$out/peer_go" .
