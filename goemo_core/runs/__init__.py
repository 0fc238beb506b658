"""Run folders: one run's files (`folder`), the store of them under $GOEMO_HOME/runs (`store`), the schema every
run file is read through (`schemas`) and its reference for the documentation (`reference`), a run's attack files
(`attack_files`), parsed files kept while unchanged (`filecache`), the manifest and checks of a run folder that
travels (`manifest`), safetensors headers checked without loading (`tensor_files`), whether a run's owner process
lives (`processes`), atomic writes (`atomic`) and spreadsheet-safe CSV (`spreadsheet`). The bottom of the library:
everything above reads and writes runs here.

May import: settings, errors."""

from .folder import Run, RunLabel, best_epoch, weights_stamp
from .store import RunStore

__all__ = ["Run", "RunLabel", "RunStore", "best_epoch", "weights_stamp"]
