#!/usr/bin/env bash
# Starts the app on http://127.0.0.1:8501, installing what it needs first (into .venv; only what changed).
# Arguments go to `streamlit run` (e.g. --server.port 8600); the GOEMO_* variables of the README apply.
set -euo pipefail
source "$(dirname "$0")/venv.sh"
prepare_venv app
cd "$ROOT"
# set, not defaulted: a port already taken is then an error, not a silent move to the next port
export STREAMLIT_SERVER_PORT=${STREAMLIT_SERVER_PORT:-8501}
exec "$VENV/bin/python" -m streamlit run streamlit_app.py "$@"
