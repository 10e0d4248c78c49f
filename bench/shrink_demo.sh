#!/bin/bash
# The shrink demonstration of docs/replay.md: for each of three seeded bugs, the first failing
# 30 s run (seeds 1..3), then `splitbrain shrink` of it with a budget of 16 runs, 3 tries each.
# Takes 15 to 20 minutes on 2 busy cores. Run from the repository root.
cd "$(dirname "$0")/.."
for spec in "suites/lamport.yaml volatile-clock" "suites/lock.yaml no-fencing" "suites/smoke.yaml stale-read"; do
  set -- $spec
  for seed in 1 2 3; do
    out=$(splitbrain run $1 --bug $2 --seed $seed --time-limit 30 2>&1)
    dir=$(echo "$out" | grep -o 'results: results/[^ ]*' | head -1 | cut -d' ' -f2)
    valid=$(python3 -c "import json;print(json.load(open('$dir/results.json'))['valid'])" 2>/dev/null)
    echo "$2 seed $seed -> $dir valid=$valid"
    if [ "$valid" = "False" ]; then
      echo "== shrink $dir"
      ( time splitbrain shrink $dir --runs 16 --minutes 25 --tries 3 ) 2>&1
      break
    fi
  done
done
