"""Form pieces of the Train page: one input per hyperparameter (typed from its default), the recipe and data
options, and turning the widget values into validated TrainConfigs (or into grid cells for workers)."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import streamlit as st

from goemo_core.augment import list_augmented
from goemo_core.bench.grid import Cell, grid_cells
from goemo_core.errors import InvalidConfig
from goemo_core.jobs.work import TrainJob
from goemo_core.models import architectures
from goemo_core.models.registry import resolve_params
from goemo_core.runs.folder import RunLabel
from goemo_core.training.config import (FIELDS, MONITORS, OPTIMIZERS, PRECISIONS, PRETRAINED_VECTORS, SCHEDULERS,
                                        USE_ENV, TrainConfig, check_value, make_config)
from goemo_core.training.teachers import check_teachers

NEEDS_ENCODER = {name for name, spec in architectures().items() if spec.needs_pretrained}
BASE = TrainConfig()
CHOICES = {"optimizer": OPTIMIZERS, "scheduler": SCHEDULERS, "monitor": MONITORS,
           "pretrained_vectors": PRETRAINED_VECTORS, "precision": PRECISIONS}
RECIPE_FIELDS = ("epochs", "batch_size", "lr", "optimizer", "scheduler", "weight_decay", "patience", "monitor",
                 "label_smoothing", "ema_decay", "class_weights", "class_weight_power", "adversarial",
                 "soft_labels", "pretrained_vectors", "grad_clip", "max_length", "length_buckets", "precision",
                 "distill_weight", "distill_temperature")
RECIPE_HELP = {
    "length_buckets": "Batches of texts of similar length: narrower padded batches, faster on a GPU.",
    "precision": "auto: bf16 autocast on a GPU, fp32 on a CPU. On a CPU that computes in bf16 natively "
                 "(AVX512-BF16 or AMX) the BiGRU's recipe starts at bf16.",
    "distill_weight": "With teachers (Data and run): the teachers' share of the loss, α in "
                      "(1 − α)·(usual loss) + α·T²·KL(teacher ‖ student).",
    "distill_temperature": "With teachers: T, how much both distributions are softened before they are compared.",
    "patience": "Early stopping: epochs without improvement of the monitored metric before training stops.",
    "grad_clip": "Maximum gradient norm; 0 turns clipping off.",
    "class_weights": "Weight the loss by inverse class frequency (helps the rare classes: disgust, fear).",
    "class_weight_power": "With class weights: weights ** power (1 = full inverse frequency, 0.5 = milder).",
    "max_length": "Tokens read per text (longer texts are truncated).",
    "ema_decay": "Validate and keep an exponential moving average of the weights (e.g. 0.999); 0 turns it off.",
    "adversarial": "Adversarial training: also learn from each text's embeddings moved against the model by this "
                   "fraction of their norm (e.g. 0.05); 0 turns it off. About doubles the time per epoch.",
    "pretrained_vectors": "With a pretrained encoder: its input embeddings, or static vectors distilled from its "
                          "outputs for each token (computed once per encoder, about 30 s on a CPU).",
    "soft_labels": "Weight of all of an example's annotated emotions in the training target (0 = only the primary "
                   "label). Test metrics always use the primary label.",
}


def _step(default: float) -> float:
    return 0.01 if default == 0 else 10 ** (math.floor(math.log10(abs(default))) - 1)


def value_input(name: str, default: Any, key: str, help: str | None = None,
                choices: tuple[str, ...] | None = None, preset: bool = False) -> Any:
    """A widget typed by the default value. No min/max: validation names the parameter of a bad value. `preset`:
    the value was put in the session state under `key` (the widget shows it; no default is given beside it)."""
    if choices or name in CHOICES:
        options = list(choices or CHOICES[name])
        return st.selectbox(name, options, index=0 if preset else options.index(default), key=key, help=help)
    if isinstance(default, bool):
        return st.checkbox(name, value=False if preset else default, key=key, help=help)
    if isinstance(default, int):
        return st.number_input(name, value="min" if preset else default, step=1, key=key, help=help)
    if isinstance(default, float):
        return st.number_input(name, value="min" if preset else default, step=_step(default), format="%g", key=key,
                               help=help)
    return st.text_input(name, value="" if preset else str(default), key=key, help=help)


def model_params(arch: str) -> dict[str, Any]:
    """The architecture's hyperparameters, two columns of inputs keyed `p-<arch>-<name>`."""
    spec = architectures()[arch]
    st.caption(spec.description)
    if spec.recipe:
        st.caption("Own recipe (used for settings left at their default below): "
                   + ", ".join(f"{k} {v}" for k, v in spec.recipe.items()))
    columns, values = st.columns(2), {}
    for i, (name, default) in enumerate(spec.defaults.items()):
        with columns[i % 2]:
            values[name] = value_input(name, default, key=f"p-{arch}-{name}", choices=spec.choices.get(name))
    return values


def resolved_recipe(arch: str, device: str, task: str = "ekman") -> dict[str, Any]:
    """What `arch` trains with on `device` for `task` when nothing is changed: the make_config a launch runs, so the
    form shows what will be trained (an architecture that cannot resolve here shows its registry recipe)."""
    try:
        return make_config(arch, {"device": device, "task": task}).to_dict()
    except InvalidConfig:
        return {**BASE.to_dict(), **architectures()[arch].recipe}


def recipe_defaults(archs: list[str], device: str = "auto", task: str = "ekman") -> dict[str, Any]:
    """What each recipe input starts at: the chosen architectures' resolved recipe on `device` where they agree,
    else the base value (left untouched, each architecture keeps its own)."""
    recipes = [resolved_recipe(arch, device, task) for arch in archs] or [BASE.to_dict()]
    return {name: recipes[0][name] if all(r[name] == recipes[0][name] for r in recipes) else getattr(BASE, name)
            for name in RECIPE_FIELDS}


def differing_note(archs: list[str], device: str = "auto", task: str = "ekman") -> str:
    """Which settings differ between the chosen architectures (each keeps its own unless the input is changed)."""
    recipes = {arch: resolved_recipe(arch, device, task) for arch in archs}
    differing = [name for name in RECIPE_FIELDS if len({repr(r[name]) for r in recipes.values()}) > 1]
    if not differing:
        return ""
    return "Left untouched, these keep each architecture's own value: " + "; ".join(
        f"{name} ({', '.join(f'{arch} {r[name]}' for arch, r in recipes.items())})" for name in differing) + "."


def recipe_inputs(defaults: dict[str, Any], device: str = "auto", task: str = "ekman") -> dict[str, Any]:
    """The training recipe shared by the chosen architectures, keyed `r-<field>`. Another device, task or choice of
    architectures has another recipe: the inputs start again from its defaults when they change (a widget keeps
    its value otherwise, and a stale value would be sent as a change)."""
    starts_at = (device, task, repr(sorted(defaults.items())))
    restart = st.session_state.get("recipe_starts_at") != starts_at
    if restart:
        # Set, not deleted: a keyed widget stays the same widget whatever its default, and the browser keeps showing
        # (and sends back) its old value unless the script sets a new one.
        for name in RECIPE_FIELDS:
            st.session_state[f"r-{name}"] = defaults[name]
        st.session_state["recipe_starts_at"] = starts_at
    columns, values = st.columns(4), {}
    for i, name in enumerate(RECIPE_FIELDS):
        with columns[i % 4]:
            values[name] = value_input(name, defaults[name], key=f"r-{name}", help=RECIPE_HELP.get(name),
                                       preset=restart)
    return values


def changed_recipe(values: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """Only the recipe values the user changed: the rest stays with each architecture's own recipe."""
    return {k: v for k, v in values.items() if v != defaults[k]}


def augmented_splits() -> list[str]:
    """Names of the cached augmented train splits."""
    return [entry["name"] for entry in list_augmented()]


LIMIT_RULE = "0 = all"  # what the limit field's label says, and so what its error says


def limit_option(value: int) -> int | None:
    """The limit field's value as a config value: 0 is all examples (None); a negative value is refused in the
    field's own words."""
    if value < 0:
        raise InvalidConfig(f"limit: {value} must be ≥ 0 ({LIMIT_RULE}).")
    return int(value) or None


def value_errors(arch: str, values: dict[str, Any], params: dict[str, Any]) -> list[str]:
    """Every bad value among a launch's settings and hyperparameters, each checked alone, so all are reported at
    once (a config stops at its first)."""
    errors = []
    for key, value in values.items():
        try:
            if key == "limit" and isinstance(value, int) and value < 0:
                limit_option(value)
            elif key in FIELDS:
                check_value(key, value)
        except InvalidConfig as exc:
            errors.append(str(exc))
    for key, value in params.items():
        try:
            resolve_params(architectures()[arch], {key: value})
        except InvalidConfig as exc:
            errors.append(str(exc))
    return errors


def build_configs(archs: list[str], params: dict[str, dict], recipe: dict[str, Any], options: dict[str, Any],
                  recipe_shown: dict[str, Any], repeats: int = 1) -> tuple[list[TrainConfig], list[str]]:
    """Validated TrainConfigs, `repeats` per architecture (seeds seed, seed+1, …), or the errors (each naming its
    parameter)."""
    configs, errors = [], []
    for arch in archs:
        title = architectures()[arch].title
        if arch in NEEDS_ENCODER and options.get("pretrained") != USE_ENV:
            errors.append(f"{title}: pretrained: needs a pretrained encoder (set GOEMO_PRETRAINED and turn "
                          "'pretrained embeddings' on).")
            continue
        changed = changed_recipe(recipe, recipe_shown)
        bad = value_errors(arch, {**changed, **options}, params.get(arch, {}))
        if bad:
            errors += [f"{title}: {error}" for error in bad]
            continue
        try:
            config = make_config(arch, {**changed, **options, "params": params.get(arch, {})})
            check_teachers(config)  # so is a teacher that is missing, unfinished or trained on other data
        except InvalidConfig as exc:
            errors.append(f"{title}: {exc}")
            continue
        configs += [replace(config, seed=config.seed + k) for k in range(repeats)]
    return configs, errors


def cells_for_workers(archs: list[str], params: dict[str, dict], recipe: dict[str, Any], options: dict[str, Any],
                      recipe_shown: dict[str, Any], repeats: int = 1) -> tuple[list[Cell], list[str]]:
    """The launch as grid cells for `goemo worker`s: validated as `build_configs` validates a launch here, then each
    architecture's settings that differ from its defaults (recipe, data options, hyperparameters) as the cells'
    overrides, one cell per seed. The device and its recipe are left to each worker."""
    configs, errors = build_configs(archs, params, recipe, options, recipe_shown)
    cells = []
    for config in configs:
        default = make_config(config.arch, {"task": config.task, "device": config.device}).to_dict()
        chosen = config.to_dict()
        own = {"arch", "params", "seed", "task", "device", "recipe"}  # the cell's, or each worker's
        overrides = {key: value for key, value in chosen.items() if key not in own and value != default[key]}
        overrides.update({key: value for key, value in config.params.items() if default["params"].get(key) != value})
        try:
            cells += grid_cells([config.arch], range(config.seed, config.seed + repeats), config.task, overrides)
        except InvalidConfig as exc:
            errors.append(f"{architectures()[config.arch].title}: {exc}")
    return cells, errors


def labelled_jobs(configs: list[TrainConfig], name: str, tags: str,
                  note: str) -> tuple[list[TrainJob], list[str]]:
    """One TrainJob per config with the user's name, tags and note; several jobs get their architecture and seed
    added to the name, so each run stays recognisable."""
    jobs = []
    for config in configs:
        suffix = f" · {config.arch} · seed {config.seed}" if len(configs) > 1 and name.strip() else ""
        try:
            jobs.append(TrainJob(config, RunLabel.clean(name.strip()[:80 - len(suffix)] + suffix, tags, note)))
        except InvalidConfig as exc:
            return [], [str(exc)]
    return jobs, []


def job_title(config: TrainConfig, name: str = "") -> str:
    """A job card's title: the name the user gave (without the architecture and seed that labelled_jobs adds to
    each run's name: the title names them once), the architecture, epochs, data, seed and device."""
    spec = architectures()[config.arch]
    limit = f"limit {config.limit:,}" if config.limit else "full data"
    named = f"{name.strip()} · " if name.strip() else ""
    return (f"{named}{spec.title} ({config.arch}) · {config.epochs} epochs · {limit} · seed {config.seed} · "
            f"{config.device}")
