#!/usr/bin/env python3
"""Writes scenarios/tapes/bench-plan-2017.csv, the benchmark workload
"plan-2017": 2,000 loans totalling exactly 10 billion yuan, four sectors of
500 loans (fintech PD 2.0%, next-generation IT 2.5%, AI 3.0%, biomedicine
4.0%), lognormal exposures (median 4,000,000 yuan, sigma 0.6) scaled to the
total and rounded to whole yuan, LGD 0.6, one bank. Run from the project
root: python3 scripts/make-bench-tape.py
"""
import csv
import math
import random

TOTAL = 10_000_000_000
rng = random.Random(2017)
sectors = [("fintech", 0.020), ("next-generation-it", 0.025), ("ai", 0.030), ("biomedicine", 0.040)]

raw = [math.exp(math.log(4_000_000) + 0.6 * rng.gauss(0.0, 1.0)) for _ in range(2000)]
scale = TOTAL / sum(raw)
exposures = [round(x * scale) for x in raw]
big = max(range(2000), key=lambda i: exposures[i])
exposures[big] += TOTAL - sum(exposures)
assert sum(exposures) == TOTAL

with open("scenarios/tapes/bench-plan-2017.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["id", "exposure", "pd", "lgd", "term_years", "sector", "bank", "first_loan", "key_list"])
    for i, e in enumerate(exposures):
        sector, pd = sectors[i // 500]
        w.writerow([f"P{i + 1:04d}", e, pd, 0.6, 1, sector, "bank", 0, 0])
print("wrote 2,000 loans, 10,000,000,000 yuan")
