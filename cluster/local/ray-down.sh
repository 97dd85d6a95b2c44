#!/usr/bin/env bash
# Stop the head that ray-up.sh started, and only that one: its process group from the state file.
# Never `ray stop`, which kills every Ray process of the user on the machine (other people's heads too).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE_DIR="${MAGE_RAY_STATE_DIR:-$ROOT/.ray}"
STATE="$STATE_DIR/head.env"
GRACE_S="${MAGE_RAY_STOP_GRACE_S:-8}"

if [[ ! -f "$STATE" ]]; then
  echo "No head started by ray-up.sh ($STATE missing); nothing to stop."
  exit 0
fi
# shellcheck disable=SC1090
source "$STATE"

# Members of the group that are not zombies (an exited daemon may wait for a reaper that never comes).
alive() { ps -eo pgid=,stat= | awk -v g="$HEAD_PGID" '$1 == g && $2 !~ /^Z/ {found = 1} END {exit !found}'; }

if [[ -n "${HEAD_PGID:-}" ]] && alive; then
  # Guard against a recycled group id: some member must belong to our temp dir.
  members="$(ps -eo pgid=,args= | awk -v g="$HEAD_PGID" '$1 == g')"
  if [[ "$members" != *"$TEMP_DIR"* ]]; then
    echo "Process group $HEAD_PGID does not look like our head (no $TEMP_DIR); not touching it." >&2
    rm -f "$STATE"
    exit 1
  fi
  kill -TERM -- "-$HEAD_PGID" 2>/dev/null || true
  # gcs_server can linger after SIGTERM (as with `ray stop`, escalate after a grace period).
  for _ in $(seq 1 $((GRACE_S * 2))); do alive || break; sleep 0.5; done
  if alive; then kill -KILL -- "-$HEAD_PGID" 2>/dev/null || true; sleep 0.5; fi
  echo "Stopped Ray head (process group $HEAD_PGID, $DASHBOARD_URL)."
else
  echo "Head (process group ${HEAD_PGID:-?}) was not running."
fi
rm -f "$TEMP_DIR/ray_current_cluster" "$STATE"
