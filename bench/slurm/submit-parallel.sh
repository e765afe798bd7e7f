#!/bin/bash
# Slurm's submission rate with the same concurrency as Heorot's submission benchmark: N held jobs
# (sbatch -H -Q --wrap true, so none runs and competes for the cores) from P concurrent sbatch processes,
# on the private cluster of setup.sh. Prints "P jobs/s" lines; the jobs are cancelled afterwards.
#   bench/slurm/submit-parallel.sh [N=2000] [P...=1 8 64]
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
source "$HERE/common.sh"
N=${1:-2000}; shift || true
PARALLEL=("${@:-1 8 64}")
"$HERE/setup.sh"
source "$SLURM_BENCH_DIR/env.sh"
for P in ${PARALLEL[*]}; do
  scancel --state=PENDING -u "$(id -un)" 2>/dev/null || true
  start=$(cut -d' ' -f1 /proc/uptime)
  seq "$N" | xargs -P "$P" -I{} sbatch -H -Q --wrap true -o /dev/null
  end=$(cut -d' ' -f1 /proc/uptime)
  queued=$(squeue -h -t PD | wc -l)
  awk -v n="$N" -v p="$P" -v a="$start" -v b="$end" -v q="$queued" 'BEGIN { printf "parallel=%d jobs=%d seconds=%.2f jobs_per_s=%.1f queued=%d\n", p, n, b - a, n / (b - a), q }'
done
scancel --state=PENDING -u "$(id -un)" 2>/dev/null || true
