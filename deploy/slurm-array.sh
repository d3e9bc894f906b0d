#!/usr/bin/env bash
# One shard of a riskpool run per Slurm array task.
#
#   sbatch --array=1-N deploy/slurm-array.sh SCENARIO OUTDIR [riskpool run options...]
#   # when every task has finished (or chain it: sbatch --dependency=afterok:JOBID ...):
#   sbatch deploy/slurm-merge.sh OUTDIR RESULT.json
#
# OUTDIR must be on a file system every node sees. Task I writes
# OUTDIR/part-I.json and keeps checkpoints in OUTDIR/checkpoint-I, so a
# requeued or resubmitted task resumes instead of starting over.
#SBATCH --job-name=riskpool
#SBATCH --cpus-per-task=4
#SBATCH --time=04:00:00
#SBATCH --requeue
#SBATCH --output=riskpool-%A_%a.out
set -euo pipefail

scenario=$1
outdir=$2
shift 2
riskpool=${RISKPOOL:-riskpool}
# Shards are numbered from 1; the array may start anywhere.
i=$((SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN + 1))
n=${SLURM_ARRAY_TASK_COUNT}
mkdir -p "$outdir"
exec "$riskpool" run "$scenario" --shard "$i/$n" --json "$outdir/part-$i.json" \
    --checkpoint "$outdir/checkpoint-$i" --threads "${SLURM_CPUS_PER_TASK:-1}" --quiet "$@"
