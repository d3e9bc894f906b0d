#!/bin/bash
# Measures the overhead of sharding (docs/scaling.md): N = 1, 2, 8 shards
# run one after another, merged, against one whole run. Needs a release
# build (cargo build --release) and bc.
root=$(cd "$(dirname "$0")/.." && pwd)
B=$root/target/release/riskpool
cd "$(mktemp -d)"
for S in bench-plan-2017 guangzhou-2017; do
  P=4000000; [ $S = guangzhou-2017 ] && P=1000000
  SC=$root/scenarios/$S.toml
  t0=$(date +%s.%N); $B run $SC --paths $P --threads 2 --quiet --json ow.json; t1=$(date +%s.%N)
  echo "$S whole $P paths: $(echo "$t1 - $t0" | bc) s"
  for N in 1 2 8; do
    rm -f op-*.json
    t0=$(date +%s.%N)
    for i in $(seq 1 $N); do $B run $SC --paths $P --threads 2 --quiet --shard $i/$N --json op-$i.json; done
    t1=$(date +%s.%N)
    $B merge op-*.json --json om.json --quiet
    t2=$(date +%s.%N)
    same=$(cmp <(python3 -c "import json;d=json.load(open('ow.json'));d.pop('run');print(json.dumps(d))") <(python3 -c "import json;d=json.load(open('om.json'));d.pop('run');print(json.dumps(d))") && echo identical || echo DIFFERENT)
    size=$(du -cb op-*.json | tail -1 | cut -f1)
    echo "$S N=$N shards: $(echo "$t1 - $t0" | bc) s, merge $(echo "$t2 - $t1" | bc) s, shard files $size bytes, $same"
  done
done
