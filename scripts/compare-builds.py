#!/usr/bin/env python3
"""Compares the CPU time of riskpool builds on one scenario, one thread.

    scripts/compare-builds.py OLD_BINARY NEW_BINARY [...] --rounds 10 --paths 1000000

Runs every binary once per round, reversing the order every other round so
that neither gains from going first, and prints each one's best, first
quartile and median CPU seconds (user time of the child). On a shared VM
whose speed drifts, the best of many alternating runs is the steadiest
figure; instruction counts (Callgrind) are steadier still.
"""
import argparse
import resource
import statistics
import subprocess

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("binaries", nargs="+")
parser.add_argument("--rounds", type=int, default=10)
parser.add_argument("--paths", default="1000000")
parser.add_argument("--scenario", default="scenarios/bench-plan-2017.toml")
args = parser.parse_args()

times = {b: [] for b in args.binaries}
for r in range(args.rounds):
    order = args.binaries if r % 2 == 0 else args.binaries[::-1]
    for b in order:
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
        subprocess.run(
            [b, "run", args.scenario, "--paths", args.paths, "--threads", "1", "--quiet"],
            stdout=subprocess.DEVNULL,
            check=True,
        )
        times[b].append(resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - before)
for b, v in times.items():
    v.sort()
    print(f"{b}: best {v[0]:.3f} s, q1 {v[len(v) // 4]:.3f} s, median {statistics.median(v):.3f} s")
