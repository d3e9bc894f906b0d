#!/usr/bin/env python3
"""Writes scenarios/tapes/guangzhou-2016-sample.csv: a made-up loan tape of
605 firms and 5.59 billion yuan, the size of Guangzhou's pool portfolio in
mid-2017 (lifeofguangzhou.com, 6 August 2017).

Only the count and the total are facts. Every loan's attributes are
ASSUMPTIONS drawn from a fixed seed, inside the mission brief's ranges; the
tape stands in for the real one, which is not public. Run from the project
root: python3 scripts/make-sample-tape.py
"""
import csv
import math
import random

FIRMS = 605
TOTAL = 5_590_000_000
rng = random.Random(2016)

sectors = {  # sector: (share of firms, annual PD)  -- ASSUMPTIONS
    "next-generation-it": (0.35, 0.025),
    "biomedicine": (0.20, 0.035),
    "advanced-manufacturing": (0.25, 0.030),
    "fintech": (0.10, 0.020),
    "new-energy": (0.10, 0.030),
}
banks = ["Bank A", "Bank B", "Bank C", "Bank D", "Bank E"]
bank_weights = [0.30, 0.25, 0.20, 0.15, 0.10]

names = list(sectors)
weights = [sectors[s][0] for s in names]
raw = [math.exp(rng.gauss(math.log(6_000_000), 0.8)) for _ in range(FIRMS)]
scale = TOTAL / sum(raw)
exposures = [max(10_000, round(x * scale / 10_000) * 10_000) for x in raw]
# Make the total exact by adjusting the largest loan.
big = max(range(FIRMS), key=lambda i: exposures[i])
exposures[big] += TOTAL - sum(exposures)

rows = []
for i in range(FIRMS):
    sector = rng.choices(names, weights)[0]
    pd = sectors[sector][1]
    rows.append({
        "id": f"GZ2016-{i + 1:04d}",
        "exposure": exposures[i],
        "pd": pd,
        "lgd": round(rng.uniform(0.5, 0.7), 2),
        "term_years": rng.choice([1, 1, 1, 2, 3]),
        "sector": sector,
        "bank": rng.choices(banks, bank_weights)[0],
        "first_loan": int(rng.random() < 0.30),
        "key_list": int(rng.random() < 0.10),
        "policy_tool": int(rng.random() < 0.05),
        "segment": sector,
    })

assert len(rows) == FIRMS and sum(r["exposure"] for r in rows) == TOTAL
with open("scenarios/tapes/guangzhou-2016-sample.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
print(f"wrote {FIRMS} loans, {TOTAL:,} yuan")
