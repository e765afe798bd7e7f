#!/bin/bash
# Slurm side of the side-by-side benchmark: submission rate, end-to-end throughput, start latency on an
# idle cluster, and squeue latency with many jobs queued, on the private 4 x 4-CPU cluster of setup.sh.
# Prints one JSON object on stdout (and to --out FILE); a human summary goes to stderr.
#
#   bench/slurm/bench.sh [--jobs 1000] [--queued 10000] [--queued-mode array|serial]
#                        [--latency-runs 10] [--squeue-runs 10] [--out FILE] [--teardown]
#
# Times are taken from the wall clock ($EPOCHREALTIME, microseconds) and checked against the monotonic
# /proc/uptime (10 ms resolution); where the two disagree by more than 50 ms (the wall clock of these
# machines has been seen to jump) the monotonic figure is used and "clock_jumps" counts it.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$HERE/common.sh"

JOBS=1000 QUEUED=10000 QMODE=array LAT_RUNS=10 SQ_RUNS=10 OUT= TEARDOWN=
usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit "${1:-2}"; }
while (($#)); do
  case $1 in
    --jobs) JOBS=${2:?}; shift 2 ;;
    --queued) QUEUED=${2:?}; shift 2 ;;
    --queued-mode) QMODE=${2:?}; shift 2 ;;
    --latency-runs) LAT_RUNS=${2:?}; shift 2 ;;
    --squeue-runs) SQ_RUNS=${2:?}; shift 2 ;;
    --out) OUT=${2:?}; shift 2 ;;
    --teardown) TEARDOWN=1; shift ;;
    -h|--help) usage 0 ;;
    *) log "unknown argument: $1"; usage ;;
  esac
done
for pair in "$JOBS --jobs" "$QUEUED --queued" "$LAT_RUNS --latency-runs" "$SQ_RUNS --squeue-runs"; do
  [[ ${pair% *} =~ ^[1-9][0-9]*$ ]] || die "${pair#* } must be a positive integer (got '${pair% *}')"
done
[[ $QMODE == array || $QMODE == serial ]] || die "--queued-mode must be array or serial"
((QUEUED <= 100000)) || die "--queued is at most 100000 (MaxArraySize; MaxJobCount is 200000)"

# ---- setup ---------------------------------------------------------------------------------------
"$HERE/setup.sh"
D=$SLURM_BENCH_DIR
W="$D/work"; mkdir -p "$W"; cd "$W"
QUEUED_JOBS=()
# Counters written from command substitutions (subshells) go through files.
JUMPS_FILE="$W/clock_jumps" RETRIES_FILE="$W/sbatch_retries"
: >"$JUMPS_FILE"; : >"$RETRIES_FILE"

cleanup() {
  if ((${#QUEUED_JOBS[@]})); then
    log "cancelling the held jobs left by an interrupted run"
    timeout 60 scancel --quiet --user=root 2>/dev/null || true
  fi
  if [[ -n $TEARDOWN ]]; then "$HERE/teardown.sh" || true; fi
}
trap cleanup EXIT

# ---- clock and statistics helpers ----------------------------------------------------------------
# now -> "wall uptime"; no fork (builtins only), so it costs microseconds.
now() { local up _r; read -r up _r </proc/uptime; printf '%s %s\n' "$EPOCHREALTIME" "$up"; }
# elapsed "T0" "T1" -> seconds between two `now` readings (wall, or uptime when the wall clock jumped).
elapsed() {
  local r
  r=$(awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " ");
        w = y[1] - x[1]; m = y[2] - x[2]; d = w - m; if (d < 0) d = -d;
        if (d > 0.05) printf "%.6f J\n", m; else printf "%.6f\n", w }')
  if [[ $r == *" J" ]]; then
    echo J >>"$JUMPS_FILE"; log "wall clock and uptime disagree; using uptime for this interval"
    r=${r% J}
  fi
  printf '%s\n' "$r"
}
# stats < numbers -> JSON members median_s, min_s, max_s
stats() {
  sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) { printf "\"median_s\": null, \"min_s\": null, \"max_s\": null"; exit }
    med = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
    printf "\"median_s\": %.4f, \"min_s\": %.4f, \"max_s\": %.4f", med, v[1], v[NR] }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "null"; else printf "%.4f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
json_list() { paste -sd, - | sed 's/^/[/; s/$/]/'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", (b > 0) ? a / b : 0 }'; }

# queue_len: lines of `squeue -h`; a failing squeue is retried, never read as an empty queue.
queue_len() {
  local out i
  for i in 1 2 3; do
    if out=$(timeout 30 squeue -h); then
      if [[ -z $out ]]; then echo 0; else wc -l <<<"$out"; fi
      return 0
    fi
    log "squeue failed (try $i)"; sleep 1
  done
  die "squeue failed 3 times"
}
# wait_empty SECONDS: until squeue shows nothing, polling every 0.2 s
wait_empty() {
  local limit=$1 t0=$SECONDS
  while (($(queue_len) > 0)); do
    ((SECONDS - t0 < limit)) || die "queue not empty after ${limit}s: $(timeout 10 squeue -h | head -5)"
    sleep 0.2
  done
}
# wait_purged SECONDS: until slurmctld holds no job record at all, finished ones included (it keeps them
# MinJobAge seconds, and squeue's RPC packs them all), so that squeue is timed on the queue alone.
wait_purged() {
  local limit=$1 t0=$SECONDS n
  while :; do
    n=$(timeout 30 squeue -h -t all | wc -l) || die "squeue -t all failed"
    ((n == 0)) && return 0
    ((SECONDS - t0 < limit)) || die "$n job records still held after ${limit}s"
    sleep 1
  done
}
# sbatch with up to 5 tries (transient "Socket timed out" errors); counts the retries.
submit() {
  local i
  for i in 1 2 3 4 5; do
    if timeout 60 sbatch "$@"; then return 0; fi
    echo R >>"$RETRIES_FILE"; log "sbatch failed (try $i)"; sleep 0.5
  done
  die "sbatch failed 5 times: sbatch $*"
}

# ---- machine -------------------------------------------------------------------------------------
NPROC=$(nproc)
CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
KERNEL=$(uname -r)
SLURM_VERSION=$(sinfo --version | awk '{ print $2 }')
CPUS_PER_NODE=$(timeout 10 sinfo -h -N -o '%c' | head -1)
NNODES=$(timeout 10 sinfo -h -N -o '%N' | sort -u | wc -l)
SCHED_PARAMS=$(timeout 10 scontrol show config | awk -F' = ' '/^SchedulerParameters / { print $2 }')
[[ $SCHED_PARAMS == "(null)" ]] && SCHED_PARAMS=
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
log "machine: nproc=$NPROC cpu='$CPU' load=$LOAD_START; slurm $SLURM_VERSION, $NNODES nodes x $CPUS_PER_NODE CPUs," \
    "SchedulerParameters='$SCHED_PARAMS'"

if (($(queue_len) > 0)); then
  log "queue not empty at start; cancelling what is there"
  timeout 60 scancel --quiet --user=root || true
  wait_empty 120
fi

# ---- 0. squeue on an empty queue (baseline) ------------------------------------------------------
log "waiting for finished job records to be purged"
wait_purged 180
SQ_IDLE=()
for ((i = 0; i < SQ_RUNS; i++)); do
  t0=$(now); timeout 30 squeue -h | wc -l >/dev/null; t1=$(now)
  SQ_IDLE+=("$(elapsed "$t0" "$t1")")
done

# ---- 1 and 2. submission rate and end-to-end throughput ------------------------------------------
timeout 30 sdiag -r >/dev/null || log "sdiag -r failed; completion counts will include earlier jobs"
log "submitting $JOBS jobs serially (sbatch -Q --wrap true -o /dev/null)"
T_START=$(now)
for ((i = 0; i < JOBS; i++)); do
  submit -Q --wrap true -o /dev/null
done
T_SUBMITTED=$(now)
SUB_S=$(elapsed "$T_START" "$T_SUBMITTED")
SUB_RATE=$(div "$JOBS" "$SUB_S")
log "submitted in ${SUB_S}s ($SUB_RATE jobs/s); waiting for the queue to drain"
LIMIT=$((600 + JOBS))
POLLS=0
while :; do
  n=$(queue_len); POLLS=$((POLLS + 1))
  ((n == 0)) && break
  t=$(now)
  awk -v a="$T_START" -v b="$t" -v l="$LIMIT" 'BEGIN { split(a, x, " "); split(b, y, " "); exit !(y[2] - x[2] > l) }' \
    && die "$n jobs still queued after ${LIMIT}s"
  sleep 0.2
done
T_DONE=$(now)
E2E_S=$(elapsed "$T_START" "$T_DONE")
E2E_RATE=$(div "$JOBS" "$E2E_S")
SDIAG=$(timeout 30 sdiag 2>/dev/null || true)
COMPLETED=$(awk -F: '/^Jobs completed:/ { gsub(/ /, "", $2); print $2 }' <<<"$SDIAG")
FAILED=$(awk -F: '/^Jobs failed:/ { gsub(/ /, "", $2); print $2 }' <<<"$SDIAG")
log "all $JOBS completed ${E2E_S}s after the first submission ($E2E_RATE jobs/s; sdiag: completed=$COMPLETED failed=$FAILED)"

# ---- 3. start latency on an idle cluster ---------------------------------------------------------
# The job's first instruction reads /proc/uptime (a shell builtin) and then the wall clock; the latency is
# that reading minus the reading taken just before sbatch was called.
log "start latency: $LAT_RUNS jobs one at a time"
LAT=() SBATCH_CALL=()
for ((i = 0; i < LAT_RUNS; i++)); do
  f="$W/lat.$i"; rm -f "$f" "$f.tmp"
  t0=$(now)
  jid=$(submit --parsable -o /dev/null -e /dev/null \
        --wrap "read u r </proc/uptime; d=\$(date +%s.%N); echo \"\$d \$u\" >$f.tmp && mv $f.tmp $f")
  t1=$(now)
  SBATCH_CALL+=("$(elapsed "$t0" "$t1")")
  t_lim=$((SECONDS + 60))
  until [[ -s $f ]]; do
    ((SECONDS < t_lim)) || die "job $jid wrote no start timestamp within 60s (squeue: $(squeue -h -j "$jid" 2>&1))"
    sleep 0.01
  done
  LAT+=("$(elapsed "$t0" "$(cat "$f")")")
  wait_empty 60
  sleep 0.5 # let the node go back to idle before the next one
done
log "start latency median $(printf '%s\n' "${LAT[@]}" | median)s"

# ---- 4. squeue with many jobs queued -------------------------------------------------------------
log "waiting for finished job records to be purged"
wait_purged 180
log "queueing $QUEUED held jobs ($QMODE)"
t0=$(now)
if [[ $QMODE == array ]]; then
  jid=$(submit --parsable -H --array=0-$((QUEUED - 1)) -o /dev/null --wrap true)
  QUEUED_JOBS=("$jid"); ONE="${jid}_$((QUEUED / 2))"
else
  for ((i = 0; i < QUEUED; i++)); do
    QUEUED_JOBS+=("$(submit --parsable -H -o /dev/null --wrap true)")
  done
  ONE=${QUEUED_JOBS[$((QUEUED / 2))]}
fi
t1=$(now)
QSUB_S=$(elapsed "$t0" "$t1")
LINES=$(timeout 60 squeue -h | wc -l)
LINES_R=$(timeout 60 squeue -h -r | wc -l)
((LINES_R == QUEUED)) || die "expected $QUEUED queued jobs, squeue -r shows $LINES_R"
SQ_ALL=() SQ_R=() SQ_ONE=()
for ((i = 0; i < SQ_RUNS; i++)); do
  t0=$(now); timeout 60 squeue -h | wc -l >/dev/null; t1=$(now); SQ_ALL+=("$(elapsed "$t0" "$t1")")
  t0=$(now); timeout 60 squeue -h -r | wc -l >/dev/null; t1=$(now); SQ_R+=("$(elapsed "$t0" "$t1")")
  t0=$(now); timeout 60 squeue -h -j "$ONE" >/dev/null; t1=$(now); SQ_ONE+=("$(elapsed "$t0" "$t1")")
done
log "squeue with $QUEUED queued: all $(printf '%s\n' "${SQ_ALL[@]}" | median)s ($LINES lines)," \
    "-r $(printf '%s\n' "${SQ_R[@]}" | median)s ($LINES_R lines), -j $ONE $(printf '%s\n' "${SQ_ONE[@]}" | median)s"
t0=$(now)
if [[ $QMODE == array ]]; then
  timeout 120 scancel "${QUEUED_JOBS[0]}"
else
  printf '%s\n' "${QUEUED_JOBS[@]}" | xargs -n 2000 timeout 120 scancel
fi
wait_empty 300
t1=$(now)
CANCEL_S=$(elapsed "$t0" "$t1")
QUEUED_JOBS=()

# ---- report --------------------------------------------------------------------------------------
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
CLOCK_JUMPS=$(wc -l <"$JUMPS_FILE") RETRIES=$(wc -l <"$RETRIES_FILE")
JSON=$(cat <<EOF
{
  "system": "slurm",
  "date": "$DATE",
  "machine": {"nproc": $NPROC, "cpu": "$CPU", "kernel": "$KERNEL", "loadavg_start": "$LOAD_START", "loadavg_end": "$LOAD_END"},
  "slurm": {"version": "$SLURM_VERSION", "nodes": $NNODES, "cpus_per_node": $CPUS_PER_NODE, "slots": $((NNODES * CPUS_PER_NODE)),
            "select": "select/cons_tres", "scheduler": "sched/backfill", "scheduler_parameters": "$SCHED_PARAMS", "accounting": "none", "auth": "munge"},
  "submission": {"jobs": $JOBS, "command": "sbatch -Q --wrap true -o /dev/null", "seconds": $SUB_S, "jobs_per_s": $SUB_RATE, "sbatch_retries": $RETRIES},
  "end_to_end": {"jobs": $JOBS, "seconds": $E2E_S, "jobs_per_s": $E2E_RATE, "poll": "squeue -h | wc -l every 0.2 s", "polls": $POLLS,
                 "sdiag_completed": ${COMPLETED:-null}, "sdiag_failed": ${FAILED:-null}},
  "start_latency": {"runs": $LAT_RUNS, $(printf '%s\n' "${LAT[@]}" | stats), "samples_s": $(printf '%s\n' "${LAT[@]}" | json_list),
                    "sbatch_call_median_s": $(printf '%s\n' "${SBATCH_CALL[@]}" | median)},
  "squeue_empty": {"runs": $SQ_RUNS, $(printf '%s\n' "${SQ_IDLE[@]}" | stats)},
  "squeue_queued": {"queued": $QUEUED, "mode": "$QMODE", "queue_seconds": $QSUB_S, "cancel_seconds": $CANCEL_S, "runs": $SQ_RUNS,
                    "all": {"command": "squeue -h | wc -l", "lines": $LINES, $(printf '%s\n' "${SQ_ALL[@]}" | stats)},
                    "all_expanded": {"command": "squeue -h -r | wc -l", "lines": $LINES_R, $(printf '%s\n' "${SQ_R[@]}" | stats)},
                    "one_job": {"command": "squeue -h -j $ONE", $(printf '%s\n' "${SQ_ONE[@]}" | stats)}},
  "clock_jumps": $CLOCK_JUMPS
}
EOF
)
[[ -n $OUT ]] && printf '%s\n' "$JSON" >"$OUT"
{
  echo "== Slurm $SLURM_VERSION, $NNODES x $CPUS_PER_NODE CPUs on nproc=$NPROC, load $LOAD_START -> $LOAD_END"
  echo "submission:    $JOBS jobs in ${SUB_S}s = $SUB_RATE jobs/s (retries $RETRIES)"
  echo "end-to-end:    $JOBS jobs in ${E2E_S}s = $E2E_RATE jobs/s (sdiag completed $COMPLETED, failed $FAILED)"
  echo "start latency: median $(printf '%s\n' "${LAT[@]}" | median)s over $LAT_RUNS ($(printf '%s\n' "${LAT[@]}" | stats))"
  echo "squeue empty:  median $(printf '%s\n' "${SQ_IDLE[@]}" | median)s"
  echo "squeue $QUEUED queued ($QMODE): all $(printf '%s\n' "${SQ_ALL[@]}" | median)s, -r $(printf '%s\n' "${SQ_R[@]}" | median)s, one job $(printf '%s\n' "${SQ_ONE[@]}" | median)s"
} >&2
printf '%s\n' "$JSON"
