"""Optuna studies, along Optuna's own seams: `storage` (where studies live), `space` (the search-space language),
`plan` (settling a worker's settings against the study's), `study` (running a worker), `queries` (reading studies
for the pages and the CLI). Studies live in GOEMO_OPTUNA_STORAGE, so the app, optuna-dashboard and any number of
`python -m goemo_core tune` workers share them; `dashboard` serves optuna-dashboard on them.

May import: training, augment, models, data, runs, settings, errors."""

from .plan import (DEFAULT_BATCHES_PER_EPOCH, DEFAULT_EPOCHS, DEFAULT_SEED, DEFAULT_VAL_EXAMPLES, PRUNERS,
                   SMALL_LIMIT_EPOCHS, STUDY_ATTR, StudyPlan, TuneConfig, make_pruner, new_study_name, plan_study,
                   trial_config)
from .queries import (MIN_IMPORTANCE_TRIALS, best_train_config, history_frame, list_studies, load_study,
                      param_importances, resume_config, study_settings, trials_frame)
from .space import DATA_CHOICES, DataChoices, base_space, data_choices, decode, narrow_space, parse_range, suggest
from .storage import close_storages, open_storage, storage_url
from .study import run_study, study_summary

__all__ = ["DATA_CHOICES", "DEFAULT_BATCHES_PER_EPOCH", "DEFAULT_EPOCHS", "DEFAULT_SEED", "DEFAULT_VAL_EXAMPLES",
           "MIN_IMPORTANCE_TRIALS", "PRUNERS", "SMALL_LIMIT_EPOCHS", "STUDY_ATTR", "DataChoices", "StudyPlan",
           "TuneConfig", "base_space", "best_train_config", "close_storages", "data_choices", "decode",
           "history_frame", "list_studies", "load_study", "make_pruner", "narrow_space", "new_study_name",
           "open_storage", "param_importances", "parse_range", "plan_study", "resume_config", "run_study",
           "storage_url", "study_settings", "study_summary", "suggest", "trial_config", "trials_frame"]
