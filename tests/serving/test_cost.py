"""What the cost figures say about how they were measured: one pass per legend entry, loads that differ, figures
whose spread exceeds their median."""

from __future__ import annotations

from goemo_core.serving.cost import loads_note, measured_load, measured_with, unsteady_figures


def cost(kind: str = "end of training", load: float = 1.0, sequence: str | None = None, runs: int = 1,
         latency: float = 2.0, spread: float = 0.5) -> dict:
    about = {"kind": kind, "at": "2026-12-06 10:00:00", "load": [load, load, load], "repeats": 3,
             **({"sequence": sequence, "runs": runs} if sequence else {})}
    return {"cpu_latency_ms": latency, "cpu_sentences_per_s": 900.0, "measurement": about,
            "inference": {"cpu": {"latency_ms": latency, "latency_ms_spread": spread, "sentences_per_s": 900.0,
                                  "sentences_per_s_spread": 10.0}}}


def test_one_measurement_pass_is_one_label_whatever_each_runs_load():
    passes = {measured_with(cost(load=load)) for load in (0.5, 3.2, 6.6)}
    assert passes == {"end of training (3 repeats, each run alone)"}
    together = {measured_with(cost("bench", load, "seq-1", 8)) for load in (1.0, 1.4)}
    assert together == {"bench cost seq-1 (8 runs together)"}
    assert measured_load(cost(load=3.25)) == 3.25 and measured_load({"cpu_latency_ms": 1.0}) is None


def test_figures_measured_under_different_loads_or_in_several_passes_say_so():
    assert loads_note([cost(load=1.0), cost(load=1.5)]) is None  # one pass, alike loads
    note = loads_note([cost(load=0.4), cost(load=6.6)])
    assert note.startswith("These CPU figures mix 1 measurement pass(es) under loads 0.4 to 6.6")
    assert "2 measurement pass(es)" in loads_note([cost(load=1.0), cost("bench", 1.0, "seq-2", 2)])
    assert loads_note([None, {}]) is None


def test_a_figure_whose_spread_exceeds_its_median_is_unsteady():
    assert unsteady_figures(cost(latency=2.0, spread=0.5)) == []
    assert unsteady_figures(cost(latency=2.0, spread=2.5)) == ["cpu_latency_ms"]
    assert unsteady_figures({"cpu_latency_ms": 2.0}) == [] and unsteady_figures(None) == []
