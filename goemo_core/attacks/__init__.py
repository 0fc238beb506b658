"""Adversarial attacks on trained runs with TextAttack's own recipes: which recipes run here and why the others are
refused (`recipes`), the seeded sample of test examples every run of a task is attacked on (`sample`), TextAttack
adapted to a run's predictor, offline and seeded per example (`adapter`), TextAttack's figures and their recomputation
from the stored examples (`figures`), and attacks of runs written to their folders (`attack`).

May import: integrations, augment, serving, evaluation, models, data, runs, settings, errors."""
