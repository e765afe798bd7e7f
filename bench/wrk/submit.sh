#!/usr/bin/env bash
# Submission throughput with wrk (a C load generator, one thread, epoll) against a real `heorot server` process
# on SQLite: every request is one job acknowledged only once durable. Prints wrk's summary and the stored count.
# usage: bench/wrk/submit.sh [SECONDS=10] [CONNECTIONS=64]        (installs wrk from Debian when missing)
#        HEOROT_BENCH_POSTGRES='Host=…;Database=…' bench/wrk/submit.sh …   (the server on PostgreSQL instead)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
seconds=${1:-10}; connections=${2:-64}
command -v wrk >/dev/null || { apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }; }
"$root/heorot" --version >/dev/null
dir=$(mktemp -d); port=$((20000 + RANDOM % 20000))
storage=()
[ -n "${HEOROT_BENCH_POSTGRES:-}" ] && storage=(--postgres "$HEOROT_BENCH_POSTGRES")
dotnet "$root/.build/heorot/heorot.dll" server --data "$dir" --listen "http://127.0.0.1:$port" --operator "$(id -un)" "${storage[@]}" >"$dir/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do [ -S "$dir/heorot.sock" ] && curl -sf --unix-socket "$dir/heorot.sock" http://h/v1/health >/dev/null && break; sleep 0.1; done
token=$(curl -sf --unix-socket "$dir/heorot.sock" -H 'Content-Type: application/json' -d '{}' http://h/v1/tokens | sed 's/.*"token":"\([^"]*\)".*/\1/')
export TOKEN=$token JOB_USER=${JOB_USER:-nobody}
echo "warm-up (5 s, not counted)" >&2
wrk -t1 -c"$connections" -d5s -s "$root/bench/wrk/submit.lua" "http://127.0.0.1:$port/v1/jobs" >/dev/null
before=$(curl -sf --unix-socket "$dir/heorot.sock" "http://h/v1/health")
wrk -t1 -c"$connections" -d"${seconds}s" --latency -s "$root/bench/wrk/submit.lua" "http://127.0.0.1:$port/v1/jobs"
stored=$(sqlite3 "$dir/heorot.db" 'select count(*) from jobs' 2>/dev/null || echo "? (count them in PostgreSQL: select count(*) from jobs)")
echo "jobs stored (warm-up included): $stored"
