"""Benchmarks: the input pipeline (`pipeline`), every architecture's accuracy over seeds (`accuracy`, trained by
`pool`, or as a `grid` of cells on a shared Optuna storage that workers anywhere train), the TF-IDF floor
(`baseline`), inference cost measured again (`cost`) and distillation sweeps (`distill_sweep`).

May import: tune, results, training, serving, evaluation, models, data, runs, settings, errors."""
