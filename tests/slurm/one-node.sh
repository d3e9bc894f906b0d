#!/usr/bin/env bash
# Starts a one-node Slurm cluster on this machine (Debian's slurm-wlm and
# munge, as root), runs deploy/slurm-array.sh as an array of 3 shards and
# deploy/slurm-merge.sh after it, and checks the merged result equals one
# whole run outside its "run" block.
#
#   tests/slurm/one-node.sh [path/to/riskpool]
#
# Exit 0: passed; 1: failed; 77: skipped (no Slurm or munge, or not root).
set -euo pipefail
cd "$(dirname "$0")/../.."
riskpool=$(realpath "${1:-target/release/riskpool}")

for tool in slurmctld slurmd sbatch munged python3; do
    if ! command -v "$tool" >/dev/null; then
        echo "SKIPPED: $tool is not installed (apt-get install slurm-wlm munge)"
        exit 77
    fi
done
if [ "$(id -u)" != 0 ]; then
    echo "SKIPPED: starting slurmctld and slurmd needs root"
    exit 77
fi

work=$(mktemp -d /tmp/riskpool-slurm.XXXXXX)
cleanup() {
    [ -f "$work/slurmd.pid" ] && kill "$(cat "$work/slurmd.pid")" 2>/dev/null || true
    [ -f "$work/slurmctld.pid" ] && kill "$(cat "$work/slurmctld.pid")" 2>/dev/null || true
}
trap cleanup EXIT

# munge: a key and a daemon.
if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null
    chown munge:munge /etc/munge/munge.key 2>/dev/null || true
    chmod 400 /etc/munge/munge.key
fi
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown -R munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge 2>/dev/null || true
pgrep -x munged >/dev/null || su -s /bin/sh munge -c munged 2>/dev/null || munged --force

host=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
mkdir -p "$work/state" "$work/spool"
cat > "$work/slurm.conf" <<CONF
ClusterName=riskpool-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$work/slurm.conf
slurmctld -c -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 1 30); do
    if sinfo -h -o %T 2>/dev/null | grep -qE 'idle|mixed'; then break; fi
    sleep 1
done
sinfo

scenario=$PWD/scenarios/guangzhou-2017.toml
out=$work/out
mkdir -p "$out"
export RISKPOOL=$riskpool
array=$(sbatch --parsable --array=1-3 --cpus-per-task=1 --chdir="$work" \
    deploy/slurm-array.sh "$scenario" "$out" --paths 20000)
sbatch --wait --dependency=afterok:"$array" --chdir="$work" \
    deploy/slurm-merge.sh "$out" "$out/merged.json" >/dev/null
"$riskpool" run "$scenario" --paths 20000 --json "$out/whole.json" --quiet
python3 - "$out/whole.json" "$out/merged.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
a.pop("run"); b.pop("run")
if a != b:
    sys.exit("FAILED: the merged Slurm run differs from the whole run")
print("PASSED: 3 Slurm array tasks merged equal the whole run")
PY
