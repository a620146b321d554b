#!/usr/bin/env bash
# Prints a Markdown block (a bulleted list, no heading) describing this machine, for benchmark
# reports: date (UTC), CPU model, cores, memory, kernel, glibc, gcc and Debian versions.
# Usage: scripts/machine.sh   (reads /proc, lscpu, uname, getconf, dpkg-query, gcc; changes nothing)
# Anything that cannot be found is printed as "unknown". Exit status: 0.
set -uo pipefail

or_unknown() { if [ -n "$1" ]; then echo "$1"; else echo unknown; fi; }
lscpu_field() { LC_ALL=C lscpu 2>/dev/null | awk -F: -v k="$1" '$1 == k { sub(/^[ \t]+/, "", $2); print $2; exit }'; }

cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)
[ -n "$cpu" ] || cpu=$(lscpu_field "Model name")
hyp=$(lscpu_field "Hypervisor vendor")
[ -n "$hyp" ] && cpu+=" (virtual machine: $hyp)"

online=$(nproc --all 2>/dev/null) usable=$(nproc 2>/dev/null)
sockets=$(lscpu_field "Socket(s)") cps=$(lscpu_field "Core(s) per socket") tpc=$(lscpu_field "Thread(s) per core")
cores="$(or_unknown "$online") logical CPUs"
[ -n "$usable" ] && [ "$usable" != "$online" ] && cores+=" ($usable usable by this process)"
[ -n "$sockets" ] && [ -n "$cps" ] && [ -n "$tpc" ] &&
  cores+="; $sockets socket(s) × $cps core(s) × $tpc thread(s) per core"

mem=$(awk '/^MemTotal:/ { t = $2 } /^SwapTotal:/ { s = $2 }
  END { if (t) printf "%.1f GiB RAM, %.1f GiB swap", t / 1048576, s / 1048576 }' /proc/meminfo 2>/dev/null)

glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null)
pkg=$(dpkg-query -W -f='${Version}' libc6 2>/dev/null)
[ -n "$glibc" ] && [ -n "$pkg" ] && glibc+=" (Debian package libc6 $pkg)"

gccv=$(gcc --version 2>/dev/null | head -n1)

debian=$(cat /etc/debian_version 2>/dev/null)
name=$(sed -n 's/^PRETTY_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/os-release 2>/dev/null)
if [ -n "$name" ]; then debian="${debian:+$debian }($name)"; fi

echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "- CPU: $(or_unknown "$cpu")"
echo "- cores: $cores"
echo "- memory: $(or_unknown "$mem")"
echo "- kernel: $(or_unknown "$(uname -srm 2>/dev/null)")"
echo "- glibc: $(or_unknown "$glibc")"
echo "- gcc: $(or_unknown "$gccv")"
echo "- Debian: $(or_unknown "$debian")"
