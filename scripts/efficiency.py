#!/usr/bin/env python3
"""Parallel efficiency at two threads (BENCHMARKS.md, issue 4).

Runs the release binary on one and on two threads in alternating order
(so that both see the same drifts of a shared VM) and compares the CPU
seconds each needs for the same paths: efficiency = CPU(1 thread) /
CPU(2 threads), from the medians and from the best runs.

    cargo build --release
    scripts/efficiency.py [SCENARIO] [PATHS] [ROUNDS]

Defaults: scenarios/bench-plan-2017.toml, 2,000,000 paths, 8 rounds.
"""
import resource
import statistics
import subprocess
import sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
binary = root / "target" / "release" / "riskpool"
scenario = sys.argv[1] if len(sys.argv) > 1 else str(root / "scenarios" / "bench-plan-2017.toml")
paths = sys.argv[2] if len(sys.argv) > 2 else "2000000"
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 8

cpu = {"1": [], "2": []}
for r in range(rounds):
    for threads in ("1", "2") if r % 2 == 0 else ("2", "1"):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(
            [binary, "run", scenario, "--paths", paths, "--threads", threads, "--quiet"],
            stdout=subprocess.DEVNULL,
            check=True,
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu[threads].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)

for threads, runs in cpu.items():
    print(f"{threads} thread(s): CPU s " + " ".join(f"{x:.2f}" for x in runs)
          + f"; median {statistics.median(runs):.3f}, best {min(runs):.3f}")
print(f"efficiency: median {100 * statistics.median(cpu['1']) / statistics.median(cpu['2']):.0f}%, "
      f"best {100 * min(cpu['1']) / min(cpu['2']):.0f}%")
