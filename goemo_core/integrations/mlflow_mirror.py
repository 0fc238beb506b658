"""Runs mirrored to MLflow, opt-in: with GOEMO_MLFLOW_TRACKING_URI set (a server URL, `sqlite:///…`, a folder), a
run is mirrored as it trains (its resolved configuration as parameters, each epoch's metrics at its step, the test
metrics, tags with the host and device it trained on, and as artifacts the files that rebuild its folder with their
checksums (see runs.manifest; `runs pull` reads them back), the confusion matrix and the ONNX export), `runs push`
mirrors runs trained before, and an attack pushes its run again with the attack's figures and files. The run folder
stays the source of truth: the mirror never fails a run. Its first error is one warning in the run's log, and the
mirror stops for that run (a dead server must not stall training), so it can be pushed again later.

One MLflow run per run of ours, found by the tag `goemo.run_id`: pushing twice updates the same MLflow run, adding
only what it lacks (MLflow parameters cannot change; epochs already logged and final metrics already logged with
the same value are skipped). mlflow is imported only when a mirror is used (it is slow to import). What MLflow
prints on stdout (a server's "View run …" links) goes to stderr, so a `--json` command prints one document."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from ..errors import MissingResource
from ..runs.attack_files import attack_path, examples_path, run_attacks
from ..runs.folder import Run
from ..runs.manifest import MANIFEST, build_manifest
from ..runs.manifest import TRAVELLING_FILES
from ..settings import mask_text

URI_VARIABLE = "GOEMO_MLFLOW_TRACKING_URI"
EXPERIMENT_VARIABLE = "GOEMO_MLFLOW_EXPERIMENT"
RUN_ID_TAG = "goemo.run_id"
# MLflow's own defaults retry a failing request for minutes; a mirror gives up quickly (users may still override).
HTTP_LIMITS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
               "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0"}
PARAM_CHARS = 500  # the shortest value length MLflow stores accepted for a parameter
STATUSES = {"completed": "FINISHED", "running": "RUNNING", "failed": "FAILED", "diverged": "FAILED",
            "cancelled": "KILLED", "interrupted": "KILLED"}
METRICS_PER_REQUEST, PARAMS_PER_REQUEST = 1000, 100  # MLflow's limits for one log_batch


def tracking_uri() -> str | None:
    """The configured tracking URI, or None (no mirroring)."""
    return (os.environ.get(URI_VARIABLE) or "").strip() or None


def experiment_name(run: Run) -> str:
    return (os.environ.get(EXPERIMENT_VARIABLE) or "").strip() or f"goemotions-{run.config.get('task') or 'ekman'}"


def flatten(document: Any, prefix: str = "") -> dict[str, str]:
    """A nested config as MLflow parameters: dotted keys, values as short strings."""
    if isinstance(document, dict):
        items: dict[str, str] = {}
        for key, value in document.items():
            items.update(flatten(value, f"{prefix}{key}."))
        return items
    value = document if isinstance(document, str) else json.dumps(document, default=str)
    return {prefix.rstrip("."): value[:PARAM_CHARS]}


def run_tags(run: Run) -> dict[str, str]:
    config, label = run.config, run.label
    tags = {RUN_ID_TAG: run.run_id, "goemo.status": run.status, "arch": str(config.get("arch")),
            "seed": str(config.get("seed")), "task": str(config.get("task") or "ekman"),
            "recipe": str(config.get("recipe") or "default"), "name": label.name, "tags": ", ".join(label.tags),
            "note": label.note, "mlflow.runName": label.name or run.run_id}
    host, device = run.trained_on
    tags.update({"goemo.host": str(host or "unknown"), "goemo.device": str(device or "unknown")})
    if label.note:
        tags["mlflow.note.content"] = label.note  # MLflow's UI shows it as the run's description
    return tags


def epoch_metrics(record: dict) -> dict[str, float]:
    """The numbers of one history line (train_loss, val_accuracy, lr, seconds, …), the epoch being the step."""
    return {key: float(value) for key, value in record.items()
            if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool)}


def final_metrics(metrics: dict | None) -> dict[str, float]:
    """Test metrics (overall and per class), validation summary and cost figures, as flat MLflow metric names."""
    if not metrics:
        return {}
    numbers: dict[str, float] = {}
    for key in ("accuracy", "macro_f1", "macro_f1_std", "best_epoch"):
        if isinstance(metrics.get(key), (int, float)):
            numbers["best_epoch" if key == "best_epoch" else f"test_{key}"] = float(metrics[key])
    for name, row in (metrics.get("per_class") or {}).items():
        for measure in ("precision", "recall", "f1"):
            if isinstance(row, dict) and isinstance(row.get(measure), (int, float)):
                numbers[f"test_{measure}_{name}"] = float(row[measure])
    for key, value in (metrics.get("validation") or {}).items():
        if isinstance(value, (int, float)):
            numbers[f"best_val_{key}"] = float(value)
    cost = metrics.get("cost") or {}
    for key, value in {**cost, **{f"onnx_{k}": v for k, v in (cost.get("onnx") or {}).items()}}.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not key.startswith("onnx_onnx_"):
            numbers[f"cost_{key}"] = float(value)
    return numbers


def attack_metrics(run: Run) -> dict[str, float]:
    """The figures of the run's attacks (see goemo_core.attacks) as attack_<recipe>_<figure>."""
    return {f"attack_{recipe}_{key}": float(value) for recipe, document in run_attacks(run)[0].items()
            for key, value in document["figures"].items() if isinstance(value, (int, float))}


def confusion_csv(run: Run) -> str | None:
    """The test confusion matrix (counts; rows: true class, columns: predicted) as CSV text."""
    confusion = (run.metrics or {}).get("confusion")
    classes = run.config.get("classes") or []
    if not confusion or len(classes) != len(confusion):
        return None
    out = io.StringIO()
    out.write("true \\ predicted," + ",".join(classes) + "\n")
    for name, row in zip(classes, confusion):
        out.write(name + "," + ",".join(str(v) for v in row) + "\n")
    return out.getvalue()


def export_files(run: Run) -> list[Path]:
    """The run's ONNX export (graph, tokenizer, card) when it has a verified one."""
    onnx = ((run.metrics or {}).get("cost") or {}).get("onnx") or {}
    if not onnx.get("verified") or not onnx.get("file"):
        return []
    model = Path(str(onnx["file"]))
    if model.suffix != ".onnx":  # an ensemble's card: its members carry the graphs
        return [model] if model.is_file() else []
    return [p for p in (model, model.with_suffix(".tokenizer.json"), model.with_suffix(".json")) if p.is_file()]


def local_artifact_root(client) -> str | None:
    """Beside the database for a `sqlite:///` URI (MLflow would put artifacts under the working directory);
    None elsewhere (a server or a folder chooses its own)."""
    uri = str(client.tracking_uri)
    if not uri.startswith("sqlite:///"):
        return None
    database = Path(uri.removeprefix("sqlite:///").split("?")[0])
    return (database.parent / "mlartifacts").absolute().as_uri()


def is_folder(uri: str) -> bool:
    return "://" not in uri or uri.startswith("file:")


def _client(uri: str):
    for name, value in HTTP_LIMITS.items():
        os.environ.setdefault(name, value)
    if is_folder(uri):  # a folder was asked for: MLflow keeps its file store only on request
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow.tracking import MlflowClient  # slow import: only when a mirror is used

    return MlflowClient(tracking_uri=uri)


@contextlib.contextmanager
def stdout_to_stderr():
    """MLflow's own prints (e.g. "🏃 View run … at: http://…" when a server's run ends) go to stderr: stdout
    belongs to the command's output (one JSON document with --json)."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def one_line_reason(exc: BaseException, uri: str) -> str:
    """An exception as a short line, secrets of the URI masked (MLflow's messages can be paragraphs)."""
    return mask_text(" ".join(f"{type(exc).__name__}: {exc}".split())[:300], uri)


class MlflowMirror:
    """One run's MLflow run, written as the run progresses. `start` finds (by our run id) or creates it."""

    def __init__(self, client, run: Run, tags: dict[str, str] | None = None):
        self.client, self.run, self.extra_tags = client, run, dict(tags or {})
        self.mlflow_run_id: str | None = None
        self.logged: dict[str, dict[int, float]] = {}  # metric → {step: value} already in MLflow

    def start(self) -> "MlflowMirror":
        experiment = self._experiment_id(experiment_name(self.run))
        found = self.client.search_runs([experiment], filter_string=f"tags.`{RUN_ID_TAG}` = '{self.run.run_id}'",
                                        max_results=1)
        if found:
            self.mlflow_run_id = found[0].info.run_id
            existing = found[0].data.params
            self.logged = {key: {m.step: m.value for m in self.client.get_metric_history(self.mlflow_run_id, key)}
                           for key in found[0].data.metrics}
        else:
            self.mlflow_run_id = self.client.create_run(experiment, run_name=self.run.label.name or self.run.run_id,
                                                        start_time=self._created_ms()).info.run_id
            existing = {}
        params = {k: v for k, v in flatten(self.run.config).items() if k not in existing}
        self._log(params=params, tags={**run_tags(self.run), **self.extra_tags})
        return self

    def epoch(self, record: dict) -> None:
        step = int(record.get("epoch") or 0)
        metrics = {k: v for k, v in epoch_metrics(record).items() if step not in self.logged.get(k, {})}
        self._log_new(metrics, step)

    def finish(self) -> None:
        """History not yet logged, the final metrics MLflow lacks (or holds with another value), tags, artifacts,
        and the MLflow status of the run's."""
        self.run.refresh()
        for record in self.run.history:
            self.epoch(record)
        final = {k: v for k, v in {**final_metrics(self.run.metrics), **attack_metrics(self.run)}.items()
                 if self.logged.get(k, {}).get(0) != v}
        self._log_new(final, 0)
        self._log(tags={**run_tags(self.run), **self.extra_tags})
        self._artifacts()
        status = STATUSES.get(self.run.status, "FINISHED")
        if status != "RUNNING":
            self.client.set_terminated(self.mlflow_run_id, status=status)

    # --- helpers ---------------------------------------------------------------------------------------------
    def _experiment_id(self, name: str) -> str:
        experiment = self.client.get_experiment_by_name(name)
        if experiment is not None:
            return experiment.experiment_id
        try:
            return self.client.create_experiment(name, artifact_location=local_artifact_root(self.client))
        except Exception:  # another process created it meanwhile
            experiment = self.client.get_experiment_by_name(name)
            if experiment is None:
                raise
            return experiment.experiment_id

    def _log_new(self, metrics: dict[str, float], step: int) -> None:
        self._log(metrics=metrics, step=step)
        for key, value in metrics.items():
            self.logged.setdefault(key, {})[step] = value

    def _created_ms(self) -> int | None:
        try:
            return int((self.run.path / "config.json").stat().st_mtime * 1000)
        except OSError:
            return None

    def _log(self, metrics: dict[str, float] | None = None, params: dict[str, str] | None = None,
             tags: dict[str, str] | None = None, step: int = 0) -> None:
        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        metric_list = [Metric(k, v, now, step) for k, v in (metrics or {}).items()]
        param_list = [Param(k, v) for k, v in (params or {}).items()]
        for start in range(0, len(param_list), PARAMS_PER_REQUEST):
            self.client.log_batch(self.mlflow_run_id, params=param_list[start:start + PARAMS_PER_REQUEST])
        for start in range(0, len(metric_list), METRICS_PER_REQUEST):
            self.client.log_batch(self.mlflow_run_id, metrics=metric_list[start:start + METRICS_PER_REQUEST])
        if tags:
            self.client.log_batch(self.mlflow_run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def _artifacts(self) -> None:
        """The run's files, then (a finished run) their manifest: a manifest on the server means every file it
        lists was uploaded before it."""
        for name in TRAVELLING_FILES:
            if (self.run.path / name).is_file():
                self.client.log_artifact(self.mlflow_run_id, str(self.run.path / name))
        if self.run.status != "running":
            self.client.log_text(self.mlflow_run_id, json.dumps(build_manifest(self.run), indent=2), MANIFEST)
        confusion = confusion_csv(self.run)
        if confusion is not None:
            self.client.log_text(self.mlflow_run_id, confusion, "confusion_matrix.csv")
        for path in export_files(self.run):
            self.client.log_artifact(self.mlflow_run_id, str(path), artifact_path="onnx")
        for recipe in run_attacks(self.run)[0]:
            for path in (attack_path(self.run, recipe), examples_path(self.run, recipe)):
                self.client.log_artifact(self.mlflow_run_id, str(path), artifact_path="attacks")


class TrainingMirror:
    """What the Trainer's run calls: mirrors when a tracking URI is set, and never raises. The first failure is
    one warning in the run's log; the mirror then stays quiet for the rest of the run."""

    def __init__(self, run: Run, log: Callable[[str], None], uri: str | None = None,
                 tags: dict[str, str] | None = None):
        self.run, self.log, self.uri = run, log, uri if uri is not None else tracking_uri()
        self.mirror: MlflowMirror | None = None
        if self.uri:
            self._guard(lambda: setattr(self, "mirror", MlflowMirror(_client(self.uri), run, tags).start()))
            if self.mirror is not None:
                self.log(f"mirroring to MLflow at {mask_text(self.uri, self.uri)} "
                         f"(experiment {experiment_name(run)})")

    def epoch(self, record: dict) -> None:
        if self.mirror is not None:
            self._guard(lambda: self.mirror.epoch(record))

    def finish(self) -> None:
        if self.mirror is not None:
            self._guard(self.mirror.finish)

    def _guard(self, action: Callable[[], object]) -> None:
        try:
            with stdout_to_stderr():
                action()
        except Exception as exc:  # includes a missing mlflow package: the run goes on without its mirror
            self.mirror = None
            self.log(f"warning: MLflow mirror at {mask_text(self.uri, self.uri)} stopped for this run "
                     f"({one_line_reason(exc, self.uri)}); the run folder keeps everything, push it later with "
                     f"`python -m goemo_core runs push {self.run.run_id}`")


def mirror_again(run: Run, log: Callable[[str], None], uri: str | None = None) -> None:
    """A finished run whose folder gained files (an attack) pushed again when a tracking URI is set (idempotent);
    a failure is one warning, never an error: the run folder keeps everything."""
    uri = uri if uri is not None else tracking_uri()
    if not uri:
        return
    try:
        MlflowMirror(_client(uri), run).start().finish()
        log(f"mirrored {run.run_id} to MLflow at {mask_text(uri, uri)}")
    except Exception as exc:
        log(f"warning: MLflow at {mask_text(uri, uri)} did not take {run.run_id} ({one_line_reason(exc, uri)}); push "
            f"it later with `python -m goemo_core runs push {run.run_id}`")


def push_runs(runs: Iterable[Run], uri: str | None = None,
              log: Callable[[str], None] = lambda message: None) -> list[dict]:
    """Mirror finished runs (idempotent). Returns one row per run: our id, MLflow's run id and experiment."""
    uri = uri or tracking_uri()
    if not uri:
        raise MissingResource(f"No MLflow tracking URI: set {URI_VARIABLE} (a server URL, sqlite:///…, a folder) "
                              "or pass --tracking-uri.")
    try:
        with stdout_to_stderr():
            client = _client(uri)
    except ImportError:
        raise MissingResource("mlflow is not installed: `pip install -r requirements.txt`.") from None
    except Exception as exc:
        raise MissingResource(f"MLflow cannot use {mask_text(uri, uri)} ({one_line_reason(exc, uri)}).") from None
    rows = []
    for run in runs:
        try:
            with stdout_to_stderr():
                mirror = MlflowMirror(client, run).start()
                mirror.finish()
        except Exception as exc:
            raise MissingResource(f"MLflow at {mask_text(uri, uri)} did not take run {run.run_id} "
                                  f"({one_line_reason(exc, uri)}).") from None
        log(f"pushed {run.run_id} → MLflow run {mirror.mlflow_run_id}")
        rows.append({"run_id": run.run_id, "mlflow_run_id": mirror.mlflow_run_id,
                     "experiment": experiment_name(run), "status": run.status})
    return rows
