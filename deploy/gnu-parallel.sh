#!/usr/bin/env bash
# Runs a scenario as N shards with GNU parallel, then merges them into the
# whole run's result (bit-identical to one `riskpool run`).
#
#   deploy/gnu-parallel.sh SCENARIO N OUT.json [riskpool run options...]
#
# Shards run JOBS at a time (default: one per core), each with THREADS
# worker threads (default 1). Add hosts with PARALLEL_HOSTS="host1,host2"
# (GNU parallel's --sshlogin; riskpool and the scenario must be at the same
# paths there, and the parts directory shared or transferred). Each shard
# saves checkpoints, so running the same command again after a failure
# resumes where the shards stopped.
set -euo pipefail

if [ $# -lt 3 ]; then
    sed -n '2,13p' "$0" >&2
    exit 2
fi
scenario=$1
n=$2
out=$3
shift 3
riskpool=${RISKPOOL:-riskpool}
parts=${PARTS:-${out%.json}.parts}
mkdir -p "$parts"

hosts=()
if [ -n "${PARALLEL_HOSTS:-}" ]; then
    hosts=(--sshlogin "$PARALLEL_HOSTS")
fi
seq 1 "$n" | parallel --halt now,fail=1 --jobs "${JOBS:-100%}" "${hosts[@]}" \
    "$riskpool" run "$scenario" --shard {}/"$n" --json "$parts/part-{}.json" \
    --checkpoint "$parts/checkpoint-{}" --threads "${THREADS:-1}" --quiet "$@"
"$riskpool" merge "$parts"/part-*.json --json "$out" --quiet
echo "merged $n shards into $out"
