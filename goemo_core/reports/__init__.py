"""Reports that leave the app: one self-contained HTML file over runs (`document`), built from a part per task
(`parts`: summary over seeds, curves, per-class metrics, confusion, cost), the analysis sections a run's files add
(`sections`), the environment it was made in (`environment`), charts drawn to inline SVG (`charts`) and escaped
HTML pieces (`html`).

May import: results, training, serving, evaluation, models, data, runs, settings, errors."""

from .document import DEFAULT_TITLE, build_report, write_report

__all__ = ["DEFAULT_TITLE", "build_report", "write_report"]
