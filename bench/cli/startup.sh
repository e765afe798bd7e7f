#!/usr/bin/env bash
# Start-up time of the `heorot` command against a local server: starts a throwaway server in a temporary
# directory, runs each verb RUNS times with every build given (interleaved, so all see the same load), and
# prints the median and minimum wall time in milliseconds. Cleans up the server and its directory.
# usage: bench/cli/startup.sh [-n RUNS] [BUILD...]
#   BUILD: a heorot.dll (run as `dotnet BUILD`) or an executable such as ./heorot; default: ./heorot.
#   The server is the first build's (./heorot's own build when the first BUILD is an executable), or
#   $HEOROT_BENCH_SERVER (a heorot.dll).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
runs=10
if [ "${1:-}" = "-n" ]; then runs=$2; shift 2; fi
builds=("$@")
[ ${#builds[@]} -gt 0 ] || builds=("$root/heorot")
run() { case "$1" in *.dll) dotnet "$@" ;; *) "$@" ;; esac; }
for b in "${builds[@]}"; do run "$b" --version >/dev/null; done   # builds ./heorot when needed
case "${builds[0]}" in *.dll) server_dll=${builds[0]} ;; *) server_dll=$root/.build/heorot/heorot.dll ;; esac
server_dll=${HEOROT_BENCH_SERVER:-$server_dll}
dir=$(mktemp -d); port=$((20000 + RANDOM % 20000))
dotnet "$server_dll" server --data "$dir" --listen "http://127.0.0.1:$port" --operator "$(id -un)" >"$dir/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 300); do [ -S "$dir/heorot.sock" ] && curl -sf --unix-socket "$dir/heorot.sock" http://h/v1/health >/dev/null && break; sleep 0.1; done
[ -S "$dir/heorot.sock" ] || { echo "the server did not start:" >&2; cat "$dir/server.log" >&2; exit 1; }
export HEOROT_SERVER="unix:$dir/heorot.sock"
verbs=("--version" "whoami" "sub --as nobody --workdir /tmp -- true" "stat")
for b in "${builds[@]}"; do for v in "${verbs[@]}"; do run "$b" $v >/dev/null; done; done   # warm the page cache
# Wall time, and CPU time (user + system, of the process and its threads): on a shared machine the CPU time
# varies less with the load than the wall time does.
times="$dir/times"
TIMEFORMAT='%3R %3U %3S'
for i in $(seq "$runs"); do
  for vi in "${!verbs[@]}"; do
    for bi in "${!builds[@]}"; do
      t=$( { time run "${builds[$bi]}" ${verbs[$vi]} >/dev/null 2>"$dir/err" || echo "failed: ${builds[$bi]} ${verbs[$vi]}: $(cat "$dir/err")" >&2; } 2>&1 )
      echo "$bi $vi $t" | awk '{ printf "%s %s %d %d\n", $1, $2, $3 * 1000, ($4 + $5) * 1000 }' >>"$times"
    done
  done
done
median() { sort -n | awk '{ a[NR] = $1 } END { m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%6d (%4d)", m, a[1] }'; }
echo "runs: $runs; load average: $(cut -d' ' -f1-3 /proc/loadavg); ms: median (minimum)"
printf '%-40s' "verb"; for bi in "${!builds[@]}"; do printf ' | %-13s %-13s' "$bi: wall" "cpu"; done; echo
for vi in "${!verbs[@]}"; do
  printf '%-40s' "${verbs[$vi]}"
  for bi in "${!builds[@]}"; do
    printf ' | %s %s' "$(awk -v b="$bi" -v v="$vi" '$1 == b && $2 == v { print $3 }' "$times" | median)" \
      "$(awk -v b="$bi" -v v="$vi" '$1 == b && $2 == v { print $4 }' "$times" | median)"
  done
  echo
done
for bi in "${!builds[@]}"; do echo "$bi: ${builds[$bi]}"; done
