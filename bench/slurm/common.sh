# Shared settings for bench/slurm/*.sh (sourced, not run).
# Everything lives in one scratch directory; nothing under /etc/slurm is read or written.

SLURM_BENCH_DIR=${SLURM_BENCH_DIR:-/tmp/heorot-slurm}
export SLURM_CONF="$SLURM_BENCH_DIR/etc/slurm.conf"
MUNGE_SOCKET="$SLURM_BENCH_DIR/munge/munge.socket"
NODES=(n1 n2 n3 n4)
export LC_ALL=C

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# pid_alive PIDFILE -> prints the pid and succeeds when the file names a live process whose command
# name is the daemon the file belongs to (slurmctld, slurmd or munged), so a recycled pid is never hit.
pid_alive() {
  local f=$1 p comm want
  [[ -s $f ]] || return 1
  read -r p <"$f" || return 1
  [[ $p =~ ^[0-9]+$ ]] || return 1
  kill -0 "$p" 2>/dev/null || return 1
  case $(basename "$f") in
    slurmctld*) want=slurmctld ;; slurmd*) want=slurmd ;; munged*) want=munged ;; *) want= ;;
  esac
  read -r comm <"/proc/$p/comm" 2>/dev/null || return 1
  [[ -z $want || $comm == "$want" ]] || return 1
  printf '%s\n' "$p"
}
