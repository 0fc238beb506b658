"""Over runs: which runs repeat one recipe (`recipes`), choosing on validation (`choice`), pooling over seeds
(`summary`), significance (`significance`, `comparison`), tables for papers (`tables`), published rows
(`published`), the runs tables of the pages (`run_tables`), the selection a permalink keeps (`selection`) and where
architectures disagree (`disagreements`).

May import: training, serving, evaluation, models, data, runs, settings, errors."""
