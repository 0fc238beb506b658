"""Sections a report shows only where runs hold the files they read: analysis results that other commands write
into a run folder (calibration, attacks). Each file is read defensively: a missing file hides the section for that
run, a file that cannot be read or is not a JSON object is shown as "unreadable: reason", never an exception. A new
kind of analysis file is one more entry in OPTIONAL_SECTIONS."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from ..runs.folder import Run
from ..runs.schemas import Unreadable, is_number, loads_strict, read_text

MAX_FILES_PER_RUN = 50  # attacks/ holds one file per recipe: a folder with more is not ours
MAX_COLUMNS = 14  # the figures a section's table shows, in the order its first file lists them


@dataclass(frozen=True)
class Finding:
    """One analysis file of one run: `source` names it within the run (the recipe of attacks/<recipe>.json),
    `figures` are its top-level numbers and short texts (nested objects flattened one level: "after.ece"),
    `document` the whole JSON object for a chart; `problem` says why it could not be read."""

    run_id: str
    source: str
    figures: dict[str, Any]
    document: dict | None
    problem: str | None = None


@dataclass(frozen=True)
class RunFileSection:
    """A report section fed by the files `pattern` matches in each run folder (a glob, e.g. "attacks/*.json").
    `chart` draws the findings from them, the runs' labels and their colours (None: a table only)."""

    key: str
    title: str
    pattern: str
    intro: str
    chart: Callable[[Sequence[Finding], dict[str, str], dict[str, str]], Any] | None = None

    def findings(self, runs: Sequence[Run]) -> list[Finding]:
        found = []
        for run in runs:
            paths = sorted(Path(run.path).glob(self.pattern))[:MAX_FILES_PER_RUN]
            found += [read_finding(run.run_id, path, source_name(path, self.pattern)) for path in paths
                      if path.is_file()]
        return found


def source_name(path: Path, pattern: str) -> str:
    """What a table calls the file: its stem where the pattern has a wildcard (attacks/pwws.json: pwws), else its
    name."""
    return path.stem if "*" in pattern else path.name


def read_finding(run_id: str, path: Path, source: str) -> Finding:
    try:
        text = read_text(path)
        document = loads_strict(text or "")
    except Unreadable as exc:
        return Finding(run_id, source, {}, None, str(exc))
    except (ValueError, RecursionError) as exc:
        return Finding(run_id, source, {}, None, f"{path.name} is not valid JSON ({str(exc).splitlines()[0][:80]})")
    if not isinstance(document, dict):
        return Finding(run_id, source, {}, None, f"{path.name} holds no JSON object")
    return Finding(run_id, source, flat_figures(document), document)


def flat_figures(document: dict) -> dict[str, Any]:
    """The numbers, booleans and short texts of a document, nested objects one level deep ("after.ece")."""
    figures: dict[str, Any] = {}
    for key, value in document.items():
        if isinstance(value, dict):
            figures.update({f"{key}.{inner}": item for inner, item in value.items() if shown_value(item)})
        elif shown_value(value):
            figures[str(key)] = value
    return figures


def shown_value(value: Any) -> bool:
    return isinstance(value, bool) or is_number(value) or (isinstance(value, str) and len(value) <= 80)


def columns_of(findings: Sequence[Finding]) -> list[str]:
    """The figures a section's table shows: every key in the order files list them, at most MAX_COLUMNS."""
    keys: dict[str, None] = {}
    for finding in findings:
        keys.update(dict.fromkeys(finding.figures))
    return list(keys)[:MAX_COLUMNS]


def reliability_points(findings: Sequence[Finding], labels: dict[str, str]) -> list[dict]:
    """Points of a reliability diagram where a calibration file lists its bins (a list of objects with the mean
    confidence and the accuracy of each bin, under "bins" or "reliability"); nothing otherwise."""
    points = []
    for finding in findings:
        bins = (finding.document or {}).get("bins") or (finding.document or {}).get("reliability")
        if not isinstance(bins, list):
            continue
        for entry in bins:
            if not isinstance(entry, dict):
                continue
            confidence = entry.get("confidence", entry.get("mean_confidence"))
            accuracy = entry.get("accuracy")
            if is_number(confidence) and is_number(accuracy) and 0 <= confidence <= 1 and 0 <= accuracy <= 1:
                points.append({"run": labels.get(finding.run_id, finding.run_id), "confidence": float(confidence),
                               "accuracy": float(accuracy)})
    return points


def _reliability(findings: Sequence[Finding], labels: dict[str, str], colors: dict[str, str]):
    import pandas as pd

    from .charts import reliability_chart

    points = reliability_points(findings, labels)
    return reliability_chart(pd.DataFrame(points), colors) if points else None


OPTIONAL_SECTIONS = (
    RunFileSection("calibration", "Calibration", "calibration.json",
                   "How far each run's confidence can be trusted, from the run's calibration.json (test split).",
                   chart=_reliability),
    RunFileSection("robustness", "Robustness", "attacks/*.json",
                   "Accuracy under TextAttack's attack recipes, one row per run and recipe (attacks/<recipe>.json)."),
)
