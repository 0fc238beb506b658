"""Run folders: one run's files (`folder`), the store of them under $GOEMO_HOME/runs (`store`), the schema every
run file is read through (`schemas`), the manifest and checks of a run folder that travels (`manifest`), whether a
run's owner process lives (`processes`), atomic writes (`atomic`) and spreadsheet-safe CSV (`spreadsheet`). The
bottom of the library: everything above reads and writes runs here.

May import: settings, errors."""

from .folder import Run, RunLabel, best_epoch, weights_stamp
from .store import RunStore, default_selection

__all__ = ["Run", "RunLabel", "RunStore", "best_epoch", "default_selection", "weights_stamp"]
