"""Other tools that hold runs: the MLflow mirror of a run as it trains and of finished runs (`mlflow_mirror`).

May import: runs, settings, errors."""
