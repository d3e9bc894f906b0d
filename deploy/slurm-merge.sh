#!/usr/bin/env bash
# Merges the shards an array job of deploy/slurm-array.sh wrote.
#
#   sbatch --dependency=afterok:ARRAY_JOB_ID deploy/slurm-merge.sh OUTDIR RESULT.json
#SBATCH --job-name=riskpool-merge
#SBATCH --cpus-per-task=1
#SBATCH --time=00:30:00
#SBATCH --output=riskpool-merge-%j.out
set -euo pipefail
outdir=$1
out=$2
exec "${RISKPOOL:-riskpool}" merge "$outdir"/part-*.json --json "$out" --quiet
