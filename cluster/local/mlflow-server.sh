#!/usr/bin/env bash
# An MLflow tracking server for sweeps whose trials run on several nodes (a sqlite file cannot serve them).
#
#   bash cluster/local/mlflow-server.sh start [--port N] [--host H] [--backend-store-uri URI | --db FILE]
#                                             [--artifacts DIR_OR_URI] [--state-dir DIR] [-- MLFLOW_ARGS...]
#   bash cluster/local/mlflow-server.sh status|stop [--state-dir DIR]
#
# Lean settings (1 worker, no job execution, no telemetry), bound to 127.0.0.1 unless --host says otherwise.
# Artifacts are served by the server (--serve-artifacts): clients upload and download through HTTP, so no node
# needs a path to the artifact folder. Defaults: state dir <project>/runs/mlflow-server holding mlflow.db,
# artifacts/, server.pid (its process group), server.log and server.env (URL=...). The server runs in its own
# process group (setsid) so stop ends exactly this server and its workers.
#
# Knobs (env): MAGE_MLFLOW_PORT (5000) MAGE_MLFLOW_HOST (127.0.0.1) MAGE_MLFLOW_STATE_DIR
#   MAGE_MLFLOW_BACKEND (sqlite:///<state>/mlflow.db) MAGE_MLFLOW_ARTIFACTS (<state>/artifacts)
#   MAGE_MLFLOW_WAIT_S (60: how long start waits for /health) PYTHON (.venv/bin/python, else python3).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
usage() { sed -n '4,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

ACTION="${1:-}"
[[ -n "$ACTION" ]] || usage
shift
PORT="${MAGE_MLFLOW_PORT:-5000}"
HOST="${MAGE_MLFLOW_HOST:-127.0.0.1}"
STATE_DIR="${MAGE_MLFLOW_STATE_DIR:-$ROOT/runs/mlflow-server}"
BACKEND="${MAGE_MLFLOW_BACKEND:-}"
ARTIFACTS="${MAGE_MLFLOW_ARTIFACTS:-}"
EXTRA=()
while (($#)); do
  case "$1" in
    --port) PORT="$2"; shift 2 ;;
    --host) HOST="$2"; shift 2 ;;
    --state-dir) STATE_DIR="$2"; shift 2 ;;
    --backend-store-uri) BACKEND="$2"; shift 2 ;;
    --db) BACKEND="sqlite:///$(realpath -m "$2")"; shift 2 ;;
    --artifacts) ARTIFACTS="$2"; shift 2 ;;
    --) shift; EXTRA=("$@"); break ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done
STATE_DIR="$(realpath -m "$STATE_DIR")"
BACKEND="${BACKEND:-sqlite:///$STATE_DIR/mlflow.db}"
ARTIFACTS="${ARTIFACTS:-$STATE_DIR/artifacts}"
[[ "$ARTIFACTS" == *://* ]] || ARTIFACTS="$(realpath -m "$ARTIFACTS")"
PID_FILE="$STATE_DIR/server.pid"
LOG_FILE="$STATE_DIR/server.log"
ENV_FILE="$STATE_DIR/server.env"
PYTHON="${PYTHON:-}"
if [[ -z "$PYTHON" ]]; then
  if [[ -x "$ROOT/.venv/bin/python" ]]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi

# Members of the group that are not zombies, and that are ours (a recycled id runs something else; -ww: full
# command lines even when COLUMNS is set).
alive() {
  local g="$1"
  ps -eo pgid=,stat= | awk -v g="$g" '$1 == g && $2 !~ /^Z/ {f = 1} END {exit !f}'
}
ours() {
  local backend
  backend="$(sed -n 's/^BACKEND=//p' "$ENV_FILE" 2>/dev/null)"
  [[ -n "$backend" ]] && ps -ww -eo pgid=,args= | awk -v g="$1" '$1 == g' | grep -F -- "$backend" | grep -qF mlflow
}
running_pgid() {
  [[ -f "$PID_FILE" ]] || return 1
  local g
  g="$(cat "$PID_FILE")"
  [[ -n "$g" ]] && alive "$g" && ours "$g" && echo "$g"
}
url() { sed -n 's/^URL=//p' "$ENV_FILE" 2>/dev/null; }

case "$ACTION" in
  status)
    if g="$(running_pgid)"; then
      echo "MLflow server running (process group $g): $(url)"
      exit 0
    fi
    echo "No MLflow server from this script running (state dir $STATE_DIR)."
    exit 3
    ;;
  stop)
    if ! g="$(running_pgid)"; then
      old="$(cat "$PID_FILE" 2>/dev/null || true)"
      if [[ -n "$old" ]] && alive "$old"; then  # a recycled group id, or not recognisably ours: keep the files
        echo "Process group $old (from $PID_FILE) does not look like this server; not touching it." >&2
        exit 1
      fi
      echo "No MLflow server from this script running (state dir $STATE_DIR); nothing to stop."
      rm -f "$PID_FILE" "$ENV_FILE"
      exit 0
    fi
    kill -TERM -- "-$g" 2>/dev/null || true
    for _ in $(seq 1 20); do alive "$g" || break; sleep 0.5; done
    if alive "$g"; then kill -KILL -- "-$g" 2>/dev/null || true; sleep 0.5; fi
    rm -f "$PID_FILE" "$ENV_FILE"
    echo "Stopped MLflow server (process group $g)."
    exit 0
    ;;
  start) ;;
  *) usage ;;
esac

if g="$(running_pgid)"; then
  echo "An MLflow server from this script is already running (process group $g, $(url)); stop it first." >&2
  exit 1
fi
mkdir -p "$STATE_DIR"
[[ "$ARTIFACTS" == *://* ]] || mkdir -p "$ARTIFACTS"
if ! "$PYTHON" - "$HOST" "$PORT" <<'EOF'; then
import socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind((sys.argv[1], int(sys.argv[2])))
except OSError as e:
    sys.exit(f"cannot listen on {sys.argv[1]}:{sys.argv[2]} ({e.strerror}): pass --port N")
EOF
  exit 1
fi

export MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false MLFLOW_DISABLE_TELEMETRY=true
# setsid: a fresh process group (its id is the leader's pid) that stop can signal as a whole.
setsid bash -c 'echo $$ >"$0"; exec "$@"' "$PID_FILE" \
  "$PYTHON" -m mlflow server \
  --backend-store-uri "$BACKEND" \
  --serve-artifacts --artifacts-destination "$ARTIFACTS" \
  --host "$HOST" --port "$PORT" --workers 1 \
  "${EXTRA[@]}" >"$LOG_FILE" 2>&1 </dev/null &
for _ in $(seq 1 20); do [[ -s "$PID_FILE" ]] && break; sleep 0.1; done
PGID="$(cat "$PID_FILE")"
URL="http://$HOST:$PORT"
[[ "$HOST" == *:* ]] && URL="http://[$HOST]:$PORT"
cat >"$ENV_FILE" <<EOF
URL=$URL
BACKEND=$BACKEND
ARTIFACTS=$ARTIFACTS
LOG=$LOG_FILE
EOF

WAIT_S="${MAGE_MLFLOW_WAIT_S:-60}"
for _ in $(seq 1 $((WAIT_S * 4))); do
  if curl -fsS --max-time 2 "$URL/health" >/dev/null 2>&1; then ready=1; break; fi
  alive "$PGID" || break
  sleep 0.25
done
if [[ -z "${ready:-}" ]]; then
  echo "MLflow server did not answer $URL/health within ${WAIT_S} s; its log ($LOG_FILE):" >&2
  tail -n 30 "$LOG_FILE" >&2
  kill -TERM -- "-$PGID" 2>/dev/null || true
  rm -f "$PID_FILE" "$ENV_FILE"
  exit 1
fi

STOP_ARGS=""
[[ "$STATE_DIR" == "$ROOT/runs/mlflow-server" ]] || STOP_ARGS=" --state-dir $STATE_DIR"
cat <<EOF
MLflow server up (process group $PGID): $URL
  backend store: $BACKEND
  artifacts:     $ARTIFACTS (served by the server)
  log:           $LOG_FILE
Log a sweep to it from every node:
  MLFLOW_TRACKING_URI=$URL python sweeps/hierarchy_depth.py --smoke
Stop it with: bash cluster/local/mlflow-server.sh stop$STOP_ARGS
EOF
