#!/usr/bin/env bash
# Evaluate one checkpoint under the four protocol settings, 100 episodes on env seeds 0..99 each.
set -euo pipefail
CK=${1:-runs/umaze-h128-protocol/checkpoint}
M=.venv/bin/mage
for p in "--protocol pure" "--protocol pure --hold" "--protocol paper --acting own" "--protocol paper --no-hold" "--protocol paper"; do
  echo "=== $p"
  /usr/bin/time -f "wall %e s" $M evaluate --checkpoint "$CK" --local --episodes 100 --num-envs 50 --seed 0 \
    --experiment mage-protocol $p 2>&1 | grep -v "episodes:" | tail -6
done
