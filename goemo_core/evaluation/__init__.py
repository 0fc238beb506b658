"""Measuring predictions: accuracy, macro-F1, per-class metrics and confusion matrices (`metrics`), how a
multi-label run turns probabilities into labels (`thresholds`), what a run stored about its evaluation (`stored`),
how far its confidence can be trusted and temperature scaling (`calibration`), and where it is wrong (`errors`:
confident errors, slices).

May import: data, runs, settings, errors."""
