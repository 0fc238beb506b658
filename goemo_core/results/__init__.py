"""Over runs: which runs repeat one recipe (`recipes`), choosing on validation (`choice`), pooling over seeds
(`summary`), significance (`significance`, `comparison`), tables for papers (`tables`), published rows
(`published`), the runs tables of the pages (`run_tables`), the selection a permalink keeps (`selection`), where
architectures disagree (`disagreements`), and accuracy under attack (`attack_columns` in the summary, `robustness` on
the Compare page).

May import: attacks, training, serving, evaluation, models, data, runs, settings, errors."""
