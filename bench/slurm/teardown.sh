#!/bin/bash
# Stop the private cluster started by setup.sh: scontrol shutdown, then the daemons named by its pid
# files (slurmctld, slurmd n1-n4, munged), SIGKILL after a grace period. Safe to run any number of
# times; touches only processes whose pids setup.sh's daemons wrote under $SLURM_BENCH_DIR.
#
#   bench/slurm/teardown.sh [--keep-munge]
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$HERE/common.sh"
KEEP_MUNGE=
[[ ${1:-} == --keep-munge ]] && KEEP_MUNGE=1
D=$SLURM_BENCH_DIR

# stop_pidfile NAME PIDFILE: SIGTERM, wait up to 10 s, then SIGKILL.
stop_pidfile() {
  local name=$1 f=$2 p
  p=$(pid_alive "$f") || { rm -f "$f"; return 0; }
  kill -TERM "$p" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$p" 2>/dev/null; then
    log "$name (pid $p) ignored SIGTERM; sending SIGKILL"
    kill -KILL "$p" 2>/dev/null || true
    sleep 0.2
  fi
  rm -f "$f"
}

if [[ -f $SLURM_CONF ]] && pid_alive "$D/run/slurmctld.pid" >/dev/null; then
  # Cancel first so that no job steps outlive their slurmd, then ask for an orderly shutdown.
  timeout 20 scancel --quiet --user=root 2>/dev/null || true
  timeout 20 scontrol shutdown 2>/dev/null || log "scontrol shutdown failed; stopping by pid"
  for _ in $(seq 150); do
    alive=
    for f in "$D/run/slurmctld.pid" "$D"/run/slurmd-*.pid; do
      pid_alive "$f" >/dev/null && alive=1
    done
    [[ -z $alive ]] && break
    sleep 0.1
  done
fi
for f in "$D"/run/slurmd-*.pid; do
  [[ -e $f ]] && stop_pidfile "slurmd $(basename "$f" .pid)" "$f"
done
stop_pidfile slurmctld "$D/run/slurmctld.pid"

# Job steps whose slurmd was killed: slurmstepd processes that carry this cluster's SLURM_CONF.
for p in $(pgrep -x slurmstepd || true); do
  if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "SLURM_CONF=$SLURM_CONF"; then
    log "killing leftover slurmstepd $p"
    kill -KILL "$p" 2>/dev/null || true
  fi
done

if [[ -z $KEEP_MUNGE ]]; then stop_pidfile munged "$D/munge/munged.pid"; fi
log "stopped (scratch dir $D kept; rm -rf it to start from an empty state)"
