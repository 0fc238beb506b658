"""Runs gathered from MLflow (`runs pull`): every completed run mirrored with its files (see mlflow_mirror) is rebuilt
here as an ordinary run folder. Each copy is assembled in a hidden folder, checked (sizes and SHA-256 against the
manifest, every file through its schema, the weights' header) and only then renamed into place, so a damaged
artifact is refused in one line and leaves nothing behind. Pulling again adds nothing: a run already here (same id,
same files) is skipped, and one that differs is kept as it is."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Iterator

from ..errors import InvalidConfig, MissingResource
from ..runs.atomic import write_atomic, write_json
from ..runs.manifest import MANIFEST, check_copy, differences, parse_manifest
from ..runs.schemas import Unreadable
from ..runs.store import RunStore, plausible_run_id
from ..settings import mask_text
from .mlflow_mirror import RUN_ID_TAG, URI_VARIABLE, _client, one_line_reason, tracking_uri

PAGE_SIZE = 500  # MLflow runs per search request
QUIET = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}  # a bar per file would bury the one line per run
_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`--since`: a span back from now (30m, 12h, 7d, 2w) or a date or time (2026-12-01, 2026-12-01T14:30, with an
    optional UTC offset; local time without one)."""
    match = _RELATIVE.match(text)
    if match:
        return (now or datetime.now().astimezone()) - timedelta(**{_UNITS[match[2]]: float(match[1])})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidConfig(f"--since: '{text}' is neither a span (30m, 12h, 7d, 2w) nor a date or time "
                            "(2026-12-01, 2026-12-01T14:30).") from None
    return moment if moment.tzinfo else moment.astimezone()


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """MLflow's client prints links and progress on stdout; a command's stdout carries its result only."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


class Puller:
    """One pull from one tracking server into one run store."""

    def __init__(self, uri: str, store: RunStore, log: Callable[[str], None]):
        self.uri, self.store, self.log = uri, store, log
        self.shown_uri = mask_text(uri, uri)
        for name, value in QUIET.items():
            os.environ.setdefault(name, value)
        try:
            self.client = _client(uri)
        except ImportError:
            raise MissingResource("mlflow is not installed: `pip install -r requirements.txt`.") from None
        except Exception as exc:
            raise MissingResource(f"MLflow cannot use {self.shown_uri} ({one_line_reason(exc, uri)}).") from None
        self.report: dict = {"tracking_uri": self.shown_uri, "experiments": [], "imported": [], "skipped": [],
                             "refused": []}

    def experiments(self, names: list[str] | None) -> dict[str, str]:
        """Experiment id → name: the named ones (each must exist), else every active experiment."""
        try:
            if not names:
                return {e.experiment_id: e.name for e in self.client.search_experiments()}
            found = {}
            for name in names:
                experiment = self.client.get_experiment_by_name(name)
                if experiment is None:
                    raise MissingResource(f"No MLflow experiment '{name}' at {self.shown_uri}; pull without "
                                          "--experiment to take every one.")
                found[experiment.experiment_id] = experiment.name
            return found
        except MissingResource:
            raise
        except Exception as exc:
            raise MissingResource(f"MLflow at {self.shown_uri} cannot be read ({one_line_reason(exc, self.uri)}); "
                                  f"check {URI_VARIABLE} or --tracking-uri.") from None

    def candidates(self, experiments: dict[str, str], since: datetime | None) -> Iterator:
        """The finished MLflow runs that mirror one of ours, oldest first, page by page."""
        terms = [f"tags.`{RUN_ID_TAG}` LIKE '%'", "attributes.status = 'FINISHED'"]
        if since is not None:
            terms.append(f"attributes.start_time >= {int(since.timestamp() * 1000)}")
        token = None
        while True:
            page = self.client.search_runs(list(experiments), filter_string=" and ".join(terms),
                                           max_results=PAGE_SIZE, order_by=["attributes.start_time ASC"],
                                           page_token=token)
            yield from page
            token = page.token
            if not token:
                return

    def pull(self, experiments: dict[str, str], since: datetime | None) -> dict:
        self.report["experiments"] = sorted(experiments.values())
        for mlflow_run in self.candidates(experiments, since):
            self.pull_one(mlflow_run, experiments.get(mlflow_run.info.experiment_id))
        return self.report

    def _note(self, kind: str, run_id: str, mlflow_run_id: str, reason: str = "", **extra) -> None:
        row = {"run_id": run_id, "mlflow_run_id": mlflow_run_id, **({"reason": reason} if reason else {}), **extra}
        self.report[kind].append(row)
        verb = {"imported": "pulled", "skipped": "skipped", "refused": "refused"}[kind]
        self.log(f"{verb} {run_id}" + (f": {reason}" if reason else ""))

    def pull_one(self, mlflow_run, experiment: str | None) -> None:
        mlflow_run_id = mlflow_run.info.run_id
        run_id = mlflow_run.data.tags.get(RUN_ID_TAG, "")
        if not plausible_run_id(run_id):
            return self._note("refused", run_id[:80], mlflow_run_id, "its run id cannot name a run folder")
        if mlflow_run.data.tags.get("goemo.status", "completed") != "completed":
            return self._note("skipped", run_id, mlflow_run_id, "not completed")
        staging = self.store.staging("pull")
        try:
            manifest = self._assemble(staging, mlflow_run_id, run_id, experiment)
            if manifest is not None:
                run = self.store.adopt(staging, run_id)
                host, device = run.trained_on
                self._note("imported", run_id, mlflow_run_id, experiment=experiment, host=host, device=device,
                           arch=run.config.get("arch"), seed=run.config.get("seed"),
                           bytes=sum(entry["bytes"] for entry in manifest["files"].values()))
        except MissingResource as exc:  # e.g. the same run placed by a pull running beside this one
            self._note("skipped", run_id, mlflow_run_id, str(exc))
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _assemble(self, staging: Path, mlflow_run_id: str, run_id: str, experiment: str | None) -> dict | None:
        """Download and check the run into `staging`: its manifest when it can be adopted; else None, and why not is
        noted."""
        try:
            manifest = parse_manifest(self._download(mlflow_run_id, MANIFEST, staging).read_text("utf-8"))
        except FileNotFoundError:
            self._note("skipped", run_id, mlflow_run_id, f"no {MANIFEST}: mirrored without its files; `runs push "
                                                         f"{run_id}` from the machine that has it adds them")
            return None
        except (Unreadable, UnicodeDecodeError) as exc:
            self._note("refused", run_id, mlflow_run_id, str(exc))
            return None
        if manifest["run_id"] != run_id:
            self._note("refused", run_id, mlflow_run_id, f"{MANIFEST} describes run {manifest['run_id']}")
            return None
        local = self.store.root / run_id
        if local.exists():
            same = not differences(local, manifest)
            self._note("skipped", run_id, mlflow_run_id, "already here" if same else
                       "a run with this id is here and differs from MLflow's copy; kept as it is")
            return None
        if manifest["status"] != "completed":
            self._note("skipped", run_id, mlflow_run_id, f"not completed ({manifest['status']})")
            return None
        (staging / MANIFEST).unlink()
        try:
            for name in manifest["files"]:
                self._download(mlflow_run_id, name, staging)
        except FileNotFoundError as exc:
            self._note("refused", run_id, mlflow_run_id, f"{exc.args[0]} is listed in {MANIFEST} but missing")
            return None
        write_atomic(staging / "status", manifest["status"] + "\n")
        write_json(staging / "origin.json", {"source": "mlflow", "mlflow_run_id": mlflow_run_id,
                                             "tracking_uri": self.shown_uri, "experiment": experiment,
                                             "pulled": time.strftime("%Y-%m-%d %H:%M:%S")})
        try:
            check_copy(staging, manifest)
        except Unreadable as exc:
            self._note("refused", run_id, mlflow_run_id, str(exc))
            return None
        return manifest

    def _download(self, mlflow_run_id: str, name: str, staging: Path) -> Path:
        """One artifact into `staging`; FileNotFoundError(name) when the run has no such artifact."""
        try:
            with _stdout_to_stderr():
                local = Path(self.client.download_artifacts(mlflow_run_id, name, str(staging)))
        except Exception as exc:
            text = f"{type(exc).__name__}: {exc}"
            if any(sign in text for sign in ("RESOURCE_DOES_NOT_EXIST", "No such file", "not found", "404",
                                             "does not exist")):
                raise FileNotFoundError(name) from None
            raise MissingResource(f"MLflow at {self.shown_uri} did not give {name} of run {mlflow_run_id} "
                                  f"({one_line_reason(exc, self.uri)}).") from None
        if not local.is_file():
            raise FileNotFoundError(name)
        return local


def pull_runs(uri: str | None = None, experiments: list[str] | None = None, since: datetime | None = None,
              store: RunStore | None = None, log: Callable[[str], None] = lambda message: None) -> dict:
    """Import the completed runs mirrored at `uri` (default GOEMO_MLFLOW_TRACKING_URI) into the run store: from the
    named experiments (default: every one), started at or after `since`. Returns {tracking_uri, experiments,
    imported, skipped, refused}, one row per MLflow run considered."""
    uri = uri or tracking_uri()
    if not uri:
        raise MissingResource(f"No MLflow tracking URI: set {URI_VARIABLE} (a server URL, sqlite:///…, a folder) "
                              "or pass --tracking-uri.")
    puller = Puller(uri, store or RunStore(), log)
    with _stdout_to_stderr():
        return puller.pull(puller.experiments(experiments), since)


def pull_summary(report: dict) -> str:
    """One line: what a pull did."""
    return (f"pulled {len(report['imported'])} run(s) from {report['tracking_uri']}, skipped "
            f"{len(report['skipped'])}, refused {len(report['refused'])}")
