#!/bin/bash
# Timing sets for BENCHMARKS.md (issue 4): two builds side by side on a VM
# whose speed drifts.
#
#     cc -O2 -o /tmp/vm-speed scripts/vm-speed.c
#     scripts/timing-sets.sh NEW_BINARY BASE_BINARY [SETS] > sets.log
#
# Each set runs plan-2017 at 10,000,000 paths on two threads in the order
# new, base, base, new (so that neither build gains from the VM's drift
# within a set), then the new build at 1,000,000 paths twice, the 100k
# portfolio at 100,000 paths twice, and plan-2017 at 100,000 paths (peak
# memory), each under `/usr/bin/time` (wall, user CPU, peak RSS), with the
# VM's speed (`vm-speed`, ns per step of a register-only loop) before and
# after. Sets are 20 seconds apart.
set -eu
new=$1
base=$2
sets=${3:-12}
speed=${VM_SPEED:-/tmp/vm-speed}
cd "$(dirname "$0")/.."
t() { /usr/bin/time -f "$1 $2 %e s %U u %M KB" "$3" run "scenarios/$4" --paths "$5" --threads 2 --quiet; }
for s in $(seq 1 "$sets"); do
  echo "=== set $s $(date +%H:%M:%S) vm-speed $($speed | awk '{print $2}')"
  { t 10M new "$new" bench-plan-2017.toml 10000000; t 10M base "$base" bench-plan-2017.toml 10000000
    t 10M base "$base" bench-plan-2017.toml 10000000; t 10M new "$new" bench-plan-2017.toml 10000000
    t 1M new "$new" bench-plan-2017.toml 1000000; t 1M new "$new" bench-plan-2017.toml 1000000
    t 100k new "$new" bench-100k.toml 100000; t 100k new "$new" bench-100k.toml 100000
    t plan100k new "$new" bench-plan-2017.toml 100000; } 2>&1
  echo "end $(date +%H:%M:%S) vm-speed $($speed | awk '{print $2}')"
  sleep 20
done
