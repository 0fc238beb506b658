"""One training run: the resolved configuration (`config`), data, vectors and model made from it (`prepare`), the
Trainer and what a batch is trained towards (`trainer`, `objective`), teachers for distillation (`teachers`), and
the whole run written to its folder (`run`).

May import: serving, evaluation, augment, integrations, models, data, runs, settings, errors."""
