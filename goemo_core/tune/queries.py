"""Reading studies for the Tune page and the CLI: the list, one study's trials and history, parameter importances,
and the training config of its best trial."""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

from ..errors import InvalidConfig
from ..settings import mask_url
from ..training.config import TrainConfig, make_config
from .plan import BUDGET_KEYS, GRID_ATTR, TuneConfig, stored_settings
from .space import data_choices, decode
from .storage import open_storage, storage_url
from .study import best_of

if TYPE_CHECKING:
    import optuna
    import pandas as pd

MIN_IMPORTANCE_TRIALS = 3
RELIABLE_IMPORTANCE_TRIALS = 10  # below this many completed trials, importances mostly reflect the sampler's luck
TRIAL_COLUMNS = ["number", "state", "value", "val_macro_f1", "best_epoch", "duration_s", "worker", "error"]
# decimals kept when the trials table is shown: accuracy (%) to 0.01, macro-F1 to 0.001, durations to 0.1 s
TRIAL_DECIMALS = {"value": 2, "val_macro_f1": 3, "duration_s": 1}
PARAM_DIGITS = 4  # significant digits of float parameters (learning rates span decades)


def load_study(name: str, storage: str | None = None) -> optuna.Study:
    import optuna

    try:
        return optuna.load_study(study_name=name, storage=open_storage(storage))
    except KeyError:
        raise InvalidConfig(f"study: no study '{name}' in {mask_url(storage_url(storage))}.") from None


def list_studies(storage: str | None = None) -> list[dict]:
    """Every study in the storage, newest first: name, arch, direction, n_trials, best value, created, kind (tune, or
    grid: a benchmark grid's cells), study_id."""
    import optuna

    rows = []
    for summary in optuna.get_all_study_summaries(open_storage(storage), include_best_trial=True):
        best = summary.best_trial
        rows.append({
            "study": summary.study_name,
            "arch": _listed_arch(summary.user_attrs, summary.study_name),
            "direction": ", ".join(d.name.lower() for d in summary.directions),
            "n_trials": summary.n_trials,
            "best_value": best.value if best is not None else None,
            "created": summary.datetime_start,
            "kind": "grid" if GRID_ATTR in summary.user_attrs else "tune",
            "study_id": getattr(summary, "_study_id", None),
        })
    return sorted(rows, key=lambda r: (r["created"] is not None, r["created"] or 0), reverse=True)


def _listed_arch(user_attrs: dict, name: str) -> str:
    """The architecture a listing shows: the stored settings', else the name's prefix (a damaged attribute is
    reported when the study is opened, not by the listing)."""
    try:
        return stored_settings(user_attrs, name).get("arch") or name.split("-")[0]
    except InvalidConfig:
        return name.split("-")[0]


def trials_frame(name: str, storage: str | None = None) -> pd.DataFrame:
    """One row per trial: number, state, value, macro-F1, best epoch, duration (s), worker, then the parameters."""
    import pandas as pd

    rows = []
    for trial in load_study(name, storage).get_trials(deepcopy=False):
        duration = trial.duration.total_seconds() if trial.duration is not None else None
        rows.append({"number": trial.number, "state": trial.state.name.lower(), "value": trial.value,
                     "val_macro_f1": trial.user_attrs.get("val_macro_f1"),
                     "best_epoch": trial.user_attrs.get("best_epoch"), "duration_s": duration,
                     "worker": trial.user_attrs.get("worker"), "error": trial.user_attrs.get("error"),
                     **trial.params})
    frame = pd.DataFrame(rows)
    return frame.reindex(columns=[*TRIAL_COLUMNS, *[c for c in frame.columns if c not in TRIAL_COLUMNS]])


def rounded_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials table for reading: metrics and durations to TRIAL_DECIMALS, float parameters to PARAM_DIGITS
    significant digits; whole-number columns (a best epoch, an int parameter next to a missing value) as integers."""
    import pandas as pd
    from pandas.api.types import is_float_dtype

    frame = trials.copy()
    for column, decimals in TRIAL_DECIMALS.items():
        if column in frame:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").round(decimals)
    for column in frame.columns:
        values = frame[column]
        if column in TRIAL_DECIMALS or not is_float_dtype(values):
            continue
        present = values.dropna()
        if len(present) and present.mod(1).eq(0).all():
            frame[column] = values.astype("Int64")
        elif column not in TRIAL_COLUMNS:
            frame[column] = values.map(_significant)
    return frame


def _significant(value: float, digits: int = PARAM_DIGITS) -> float:
    if not math.isfinite(value) or value == 0:
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def history_frame(trials: pd.DataFrame) -> pd.DataFrame:
    """Finished trials with a value, plus the best value so far (completed trials only), for the history chart."""
    import pandas as pd

    if trials.empty:
        return pd.DataFrame(columns=["number", "state", "value", "best_so_far"])
    done = trials[trials["value"].notna()][["number", "state", "value"]].sort_values("number").copy()
    complete = done["value"].where(done["state"] == "complete")
    done["best_so_far"] = complete.cummax().ffill()
    return done.reset_index(drop=True)


def param_importances(name: str, storage: str | None = None) -> dict[str, float]:
    """fANOVA-style importances (Optuna's default evaluator) of the completed trials; {} while there are too few
    completed trials or too little variation to say anything."""
    import optuna

    study = load_study(name, storage)
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(complete) < MIN_IMPORTANCE_TRIALS or not any(t.params for t in complete):
        return {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            importances = optuna.importance.get_param_importances(study)
        except (ValueError, RuntimeError, ZeroDivisionError):
            return {}
    if any("too small" in str(w.message) or "will be equal" in str(w.message) for w in caught):
        return {}
    return {k: float(v) for k, v in importances.items()}


def study_settings(name: str, storage: str | None = None) -> dict:
    """The settings the study was created with (arch, budget, search space, fixed values)."""
    study = load_study(name, storage)
    settings = stored_settings(study.user_attrs, name)
    settings.setdefault("arch", name.split("-")[0])
    return settings


def resume_config(name: str, n_trials: int = 10, storage: str | None = None) -> TuneConfig:
    """A tune job config that continues a study with the settings it was created with."""
    settings = study_settings(name, storage)
    return TuneConfig(arch=settings["arch"], n_trials=n_trials, study=name, storage=storage)


def best_train_config(name: str, storage: str | None = None, keep_limit: bool = False) -> TrainConfig:
    """The best trial as a full training run ('Train best'): its values and the study's fixed settings, with the
    registry recipe's epochs and no per-trial caps (batches per epoch, validation examples). The study's data limit
    is kept only when asked."""
    study = load_study(name, storage)
    settings = study_settings(name, storage)
    best_value, params = best_of(study)
    if best_value is None:
        raise InvalidConfig(f"study: '{name}' has no completed trial yet.")
    fixed = {k: v for k, v in (settings.get("fixed") or {}).items() if k not in BUDGET_KEYS}
    overrides = decode({**fixed, **params}, data_choices())
    if keep_limit and settings.get("limit"):
        overrides["limit"] = settings["limit"]
    return make_config(settings["arch"], overrides)
