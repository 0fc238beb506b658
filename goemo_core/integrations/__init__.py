"""Other tools that hold runs: the MLflow mirror of a run as it trains and of finished runs (`mlflow_mirror`), and
runs gathered back from MLflow into run folders (`mlflow_pull`).

May import: runs, settings, errors."""
