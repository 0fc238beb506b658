#!/usr/bin/env bash
# Runs the tests, installing what they need first (into .venv; only what changed). Arguments go to pytest
# (e.g. -m "not slow and not browser"). Data, WordNet and the encoder come from ../shared when it exists (offline),
# else from wherever GOEMO_DATA_DIR, NLTK_DATA and GOEMO_PRETRAINED point, else the hub.
set -euo pipefail
source "$(dirname "$0")/venv.sh"
prepare_venv test
cd "$ROOT"
if [ -d "$ROOT/../shared" ]; then
  shared=$(cd "$ROOT/../shared" && pwd)
  export GOEMO_DATA_DIR=${GOEMO_DATA_DIR:-$shared/data/goemotions}
  export NLTK_DATA=${NLTK_DATA:-$shared/nltk_data}
  export GOEMO_PRETRAINED=${GOEMO_PRETRAINED:-$shared/models/all-MiniLM-L6-v2}
  export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} HF_DATASETS_OFFLINE=${HF_DATASETS_OFFLINE:-1}
fi
export TOKENIZERS_PARALLELISM=false
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
export GOEMO_HOME=$home
status=0
"$VENV/bin/python" -m pytest "$@" || status=$?
exit "$status"
