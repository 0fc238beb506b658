"""Measuring predictions: accuracy, macro-F1, per-class metrics and confusion matrices (`metrics`), and how a
multi-label run turns probabilities into labels (`thresholds`).

May import: data, runs, settings, errors."""
