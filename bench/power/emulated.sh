#!/usr/bin/env bash
# Emulated physical node power timings (issue 5): `heorot up --emulate 1` (one QEMU node guest, TCG here, behind a
# real ipmi_sim BMC), then R times: `heorot power on e1` until the server has the node On (its agent registered),
# and `heorot power soft e1` (ACPI power button through IPMI) until it is Off. Prints each run and the medians.
# Run as root (like scripts/demo-elastic); the first run builds the node image (scripts/guest/build.sh).
#   bench/power/emulated.sh [RUNS=5]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
runs=${1:-5}
heorot="$root/heorot"
"$heorot" --version >/dev/null
data="$(mktemp -d /tmp/heorot-bench-power.XXXXXX)"
port=$((20000 + RANDOM % 20000))
HEOROT_DATA="$data" "$heorot" up --emulate 1 --port "$port" >"$data/up.log" 2>&1 &
up=$!
trap 'kill -TERM $up 2>/dev/null || true; wait $up 2>/dev/null || true; rm -rf "$data"' EXIT
until grep -q "press Ctrl-C" "$data/up.log" 2>/dev/null; do
  kill -0 "$up" 2>/dev/null || { cat "$data/up.log"; exit 1; }
  sleep 0.5
done
export HEOROT_SERVER="unix:$data/heorot.sock"
now() { cut -d' ' -f1 /proc/uptime; }
power() { "$heorot" nodes --json | python3 -c 'import json,sys; print(next(n.get("power") or "" for n in json.load(sys.stdin) if n["name"]=="e1"))'; }
wait_for() { local want=$1 limit=$2 start; start=$(now); while [ "$(power)" != "$want" ]; do
  awk -v a="$start" -v b="$(now)" -v l="$limit" 'BEGIN{exit !(b-a>l)}' && { echo "e1 not $want after ${limit}s" >&2; exit 1; }; sleep 0.2; done; }
wait_for Off 60
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
ons=(); offs=()
for r in $(seq "$runs"); do
  t0=$(now); "$heorot" power on e1 >/dev/null 2>&1; wait_for On 300; t1=$(now)
  sleep 2
  t2=$(now); "$heorot" power soft e1 >/dev/null 2>&1; wait_for Off 120; t3=$(now)
  on=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}'); off=$(awk -v a="$t2" -v b="$t3" 'BEGIN{printf "%.1f", b-a}')
  ons+=("$on"); offs+=("$off")
  echo "run $r: power on -> agent registered (On) ${on} s; soft off -> Off ${off} s"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END{print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }
echo "median of $runs: power on -> registered $(median "${ons[@]}") s (min $(printf '%s\n' "${ons[@]}" | sort -n | head -1), max $(printf '%s\n' "${ons[@]}" | sort -n | tail -1)); soft off -> Off $(median "${offs[@]}") s"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
