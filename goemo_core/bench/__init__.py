"""Benchmarks: the input pipeline (`pipeline`), every architecture's accuracy over seeds (`accuracy`, trained by
`pool`), the TF-IDF floor (`baseline`), inference cost measured again (`cost`) and distillation sweeps
(`distill_sweep`).

May import: results, training, serving, evaluation, models, data, runs, settings, errors."""
