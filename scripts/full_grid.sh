#!/usr/bin/env bash
# The benchmark's full-data grid on one machine, resumable: every step reuses the completed runs it finds in
# GOEMO_HOME (bench accuracy and bench distill skip a run of the same recipe and seed), so running this again after
# an interruption trains only what is missing. Two lanes run side by side, one torch thread each:
#   recurrent: BiGRU, BiLSTM, RWKV, xLSTM (ekman, 3 seeds) and the TF-IDF baseline; the transfer set (EDA, built
#              once, shared by the student's seeds); the BiGRU on the paper's multi-label task (3 seeds); once the
#              transformer's three seeds are done, the distilled BiGRU student (3 seeds) of the one best on
#              validation (`--teacher best:transformer`)
#   transformer: the fine-tuned encoder (ekman, 3 seeds), then on the paper's multi-label task (3 seeds)
# A run cut off part-way goes on from its last finished epoch (its checkpoint), in its own folder. A lane that has
# finished its own steps joins the other's grids: a run the other lane is training is waited for, not trained twice.
# The files of a step the second lane runs end in .2 (its JSON, its log).
# Usage: GOEMO_HOME=… GOEMO_PRETRAINED=… [GOEMO_DATA_DIR=…] bash scripts/full_grid.sh [recurrent|transformer|all]
# Logs and each step's JSON go to $GOEMO_HOME/grid/. The results files are written from the runs afterwards
# (`goemo results export`).
set -euo pipefail
: "${GOEMO_HOME:?set GOEMO_HOME to the folder that holds the grid runs}"
: "${GOEMO_PRETRAINED:?set GOEMO_PRETRAINED to the encoder (e.g. a local all-MiniLM-L6-v2 folder)}"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-$ROOT/.venv/bin/python}
OUT=$GOEMO_HOME/grid
mkdir -p "$OUT"
export OMP_NUM_THREADS=${GRID_THREADS:-1} TOKENIZERS_PARALLELISM=false
TRANSFER=${GRID_TRANSFER:-2}  # EDA variants per train sentence in the student's transfer set
cd "$ROOT"
goemo() { "$PY" -m goemo_core "$@"; }
step() {  # step NAME ARGS…: one resumable command, its JSON kept, its log appended
  local name=$1
  shift
  echo "$(date -Is) start $name: $*" >>"$OUT/steps.log"
  goemo "$@" --json >"$OUT/$name.json" 2>>"$OUT/$name.log"
  echo "$(date -Is) done $name" >>"$OUT/steps.log"
}

recurrent() {
  step ekman-recurrent bench accuracy --archs gru lstm rwkv xlstm --seeds 3 --baseline
  echo "$(date -Is) start transfer set" >>"$OUT/steps.log"
  "$PY" -c 'import sys
from goemo_core.augment.transfer import transfer_variants
from goemo_core.data import load_goemotions
texts = [str(t) for t in load_goemotions()["train"]["text"]]
print(len(transfer_variants(texts, int(sys.argv[1]), 211, log=lambda m: print(m, file=sys.stderr, flush=True))))' \
    "$TRANSFER" >"$OUT/transfer.txt" 2>>"$OUT/transfer.log"
  echo "$(date -Is) done transfer set" >>"$OUT/steps.log"
  step goemotions-gru bench accuracy --task goemotions --archs gru --seeds 3
  # the teacher: the transformer's seed best on validation, once all three are done
  until "$PY" - <<'EOF'
import sys
from goemo_core.runs import RunStore
seeds = {r.config.get("seed") for r in RunStore().list() if r.status == "completed" and r.metrics
         and r.config.get("arch") == "transformer" and r.config.get("task", "ekman") == "ekman"
         and not r.config.get("limit")}
sys.exit(0 if {211, 212, 213} <= seeds else 1)
EOF
  do sleep 60; done
  step student bench distill --teacher best:transformer --arch gru --weights 0.5 --temperatures 2 \
    --transfer "$TRANSFER" --seeds 3
  transformer_grids .2
}

transformer_grids() {  # transformer_grids [SUFFIX]
  step "ekman-transformer${1:-}" bench accuracy --archs transformer --seeds 3
  step "goemotions-transformer${1:-}" bench accuracy --task goemotions --archs transformer --seeds 3
}

transformer() {
  transformer_grids
  step goemotions-gru.2 bench accuracy --task goemotions --archs gru --seeds 3
}

case "${1:-all}" in
  recurrent) recurrent ;;
  transformer) transformer ;;
  all) recurrent & transformer & wait ;;
  *) echo "usage: $0 [recurrent|transformer|all]" >&2; exit 2 ;;
esac
