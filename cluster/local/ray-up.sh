#!/usr/bin/env bash
# Start a local Ray head on 127.0.0.1 with the dashboard / Jobs API, for `ray job submit`.
#
# Ray 2.60 specifics (shared/spec/deps.md §8, platform.md §4):
#   - token auth: RAY_AUTH_MODE=token + RAY_AUTH_TOKEN_PATH=<project file> for `ray start` AND `ray job submit`;
#     the token file is generated here when missing (never ~/.ray, which other tools may own);
#   - RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 keeps every listener on 127.0.0.1;
#   - a custom --temp-dir keeps a stale ray_current_cluster after stop: we delete it before starting.
# The head runs in its own process group (setsid) so ray-down.sh stops exactly this head, never `ray stop`.
#
# Knobs (env): MAGE_RAY_PORT (6379) MAGE_RAY_DASHBOARD_PORT (8265) MAGE_RAY_CLIENT_PORT (10001)
#   MAGE_RAY_NUM_CPUS (auto) MAGE_RAY_STATE_DIR (<project>/.ray) MAGE_RAY_TEMP_DIR (short path; sockets < 108 chars)
#   RAY_BIN (.venv/bin/ray, else ray on PATH) MAGE_RAY_READY_TIMEOUT_S (180: how long the dashboard may take to
#   come up; Ray's own 60 s fails `ray start` on a loaded 2-core box). Extra arguments are passed on to `ray start`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
export RAY_AUTH_MODE="${RAY_AUTH_MODE:-token}"
export RAY_AUTH_TOKEN_PATH="${RAY_AUTH_TOKEN_PATH:-$ROOT/.ray/auth_token}"
export RAY_USAGE_STATS_ENABLED=0
# Jobs inherit the head's environment: point them at this checkout's data dir and MLflow store, not at the
# throw-away copy of the working dir that `--working-dir .` unpacks under the temp dir.
export MAGE_HOME="${MAGE_HOME:-$ROOT}"
READY_TIMEOUT_S="${MAGE_RAY_READY_TIMEOUT_S:-180}"
# `ray start` gives up when the dashboard has not registered within this many seconds (Ray's default: 60).
export RAY_DASHBOARD_STARTUP_TIMEOUT_S="${RAY_DASHBOARD_STARTUP_TIMEOUT_S:-$READY_TIMEOUT_S}"

PORT="${MAGE_RAY_PORT:-6379}"
DASH_PORT="${MAGE_RAY_DASHBOARD_PORT:-8265}"
CLIENT_PORT="${MAGE_RAY_CLIENT_PORT:-10001}"
STATE_DIR="${MAGE_RAY_STATE_DIR:-$ROOT/.ray}"
STATE="$STATE_DIR/head.env"
# A job's entrypoint (`python sweeps/...`) resolves `python` on the head's PATH: make it the project venv's.
if [[ -x "$ROOT/.venv/bin/python" ]]; then export PATH="$ROOT/.venv/bin:$PATH"; fi
RAY_BIN="${RAY_BIN:-ray}"

# Unix socket paths (<temp>/session_<date>_<id>/sockets/plasma_store) must stay under 108 bytes.
TEMP_DIR="${MAGE_RAY_TEMP_DIR:-$ROOT/.ray/tmp}"
if (( ${#TEMP_DIR} > 44 )); then
  TEMP_DIR="/tmp/ray-mage-$(id -u)-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)"
fi

mkdir -p "$STATE_DIR" "$(dirname "$RAY_AUTH_TOKEN_PATH")"
# Ray makes its session dirs in the temp dir world-writable (0777, no sticky bit): the temp dir itself must be
# ours and private (0700), so other users cannot reach or plant anything in them (a /tmp fallback path could
# have been created by someone else, or be a symlink).
(umask 077 && mkdir -p "$TEMP_DIR")
if [[ -L "$TEMP_DIR" || ! -d "$TEMP_DIR" || ! -O "$TEMP_DIR" ]]; then
  echo "error: Ray temp dir $TEMP_DIR is a symlink or not a directory owned by you; remove it or set" \
    "MAGE_RAY_TEMP_DIR" >&2
  exit 1
fi
chmod 0700 "$TEMP_DIR"

if [[ -f "$STATE" ]]; then
  old_pgid="$(sed -n 's/^HEAD_PGID=//p' "$STATE")"
  if [[ -n "$old_pgid" ]] && ps -eo pgid=,stat= | awk -v g="$old_pgid" '$1 == g && $2 !~ /^Z/ {f = 1} END {exit !f}'; then
    echo "A head started by ray-up.sh is already running (process group $old_pgid, see $STATE);" \
      "run ray-down.sh first." >&2
    exit 1
  fi
  rm -f "$STATE"
fi

if [[ "$RAY_AUTH_MODE" == "token" && ! -s "$RAY_AUTH_TOKEN_PATH" ]]; then
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$RAY_AUTH_TOKEN_PATH")
  echo "Generated a Ray auth token in $RAY_AUTH_TOKEN_PATH"
fi

rm -f "$TEMP_DIR/ray_current_cluster"  # stale address from an earlier head in this temp dir

num_cpus_args=()
[[ -n "${MAGE_RAY_NUM_CPUS:-}" ]] && num_cpus_args=(--num-cpus "$MAGE_RAY_NUM_CPUS")

PGID_FILE="$STATE_DIR/head.pgid"
# setsid: a fresh process group whose id (the shell's pid) ray-down.sh can signal as a whole.
setsid --wait bash -c 'echo $$ >"$0"; exec "$@"' "$PGID_FILE" \
  "$RAY_BIN" start --head \
  --node-ip-address 127.0.0.1 --port "$PORT" \
  --dashboard-host 127.0.0.1 --dashboard-port "$DASH_PORT" --include-dashboard true \
  --ray-client-server-port "$CLIENT_PORT" \
  --temp-dir "$TEMP_DIR" --disable-usage-stats \
  "${num_cpus_args[@]}" "$@" >"$STATE_DIR/ray-start.log" 2>&1 \
  || { cat "$STATE_DIR/ray-start.log" >&2; echo "ray start failed" >&2; exit 1; }
HEAD_PGID="$(cat "$PGID_FILE")"
rm -f "$PGID_FILE"

DASHBOARD_URL="http://127.0.0.1:$DASH_PORT"
cat >"$STATE" <<EOF
HEAD_PGID=$HEAD_PGID
TEMP_DIR=$TEMP_DIR
GCS_ADDRESS=127.0.0.1:$PORT
DASHBOARD_URL=$DASHBOARD_URL
RAY_AUTH_TOKEN_PATH=$RAY_AUTH_TOKEN_PATH
EOF

# The Jobs API comes up a little after `ray start` returns; wait for it so a submit right after works.
auth_header=()
[[ "$RAY_AUTH_MODE" == "token" ]] && auth_header=(-H "Authorization: Bearer $(cat "$RAY_AUTH_TOKEN_PATH")")
deadline=$((SECONDS + READY_TIMEOUT_S))
while (( SECONDS < deadline )); do
  if curl -fsS "${auth_header[@]}" "$DASHBOARD_URL/api/version" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.5
done
if [[ -z "${ready:-}" ]]; then
  echo "Ray head started but $DASHBOARD_URL/api/version did not answer within ${READY_TIMEOUT_S} s; logs in" \
    "$TEMP_DIR/session_latest/logs. On a busy machine raise MAGE_RAY_READY_TIMEOUT_S; stop the head with" \
    "ray-down.sh." >&2
  exit 1
fi

cat <<EOF
Ray head up (process group $HEAD_PGID, temp dir $TEMP_DIR)
  GCS address:  127.0.0.1:$PORT
  dashboard:    $DASHBOARD_URL
Submit a sweep (the token variables are needed by the client too):
  RAY_AUTH_MODE=$RAY_AUTH_MODE RAY_AUTH_TOKEN_PATH=$RAY_AUTH_TOKEN_PATH \\
    $RAY_BIN job submit --address $DASHBOARD_URL --working-dir $ROOT -- python sweeps/hierarchy_depth.py --smoke
Stop it with: bash cluster/local/ray-down.sh   (or make ray-down)
EOF
