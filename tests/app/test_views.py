"""Pure helpers of the views layer."""

from views.diff import word_diff


def test_word_diff_marks_changed_words():
    assert word_diff("so happy you came", "so glad you came here") == [
        ("equal", "so"), ("delete", "happy"), ("insert", "glad"), ("equal", "you"), ("equal", "came"),
        ("insert", "here")]


def test_curves_of_many_runs_share_one_clickable_legend_and_plot_distillation_apart():
    from views.charts import compare_curves, curve_groups, curves_frame, run_colors

    histories = {f"run {i}": [{"epoch": e, "train_loss": 1.0 / e, "val_loss": 1.2 / e} for e in (1, 2)]
                 for i in range(3)}
    histories["student"] = [{"epoch": 1, "train_loss": 40.0, "val_loss": 1.1}]
    groups = curve_groups({run: "gru" for run in histories})
    frame = curves_frame(histories, {run: 1 for run in histories}, groups, distilled={"student"})
    chart = compare_curves(frame, run_colors(list(groups.values()))).to_dict()

    titles = [plot["title"]["text"] for plot in chart["concat"]]
    assert titles[0] == "train loss" and titles[1].startswith("train loss with distillation") and len(titles) == 3

    def plotted(plot: dict) -> set[str]:
        return {row["run"] for row in chart["datasets"][plot["data"]["name"]]}

    assert plotted(chart["concat"][0]) == {"run 0", "run 1", "run 2"}  # the mixed loss does not squash these
    assert plotted(chart["concat"][1]) == {"student"}
    [pick] = [param for param in chart["params"] if param.get("bind") == "legend"]
    assert pick["select"]["fields"] == ["group"] and len(pick["views"]) == 1  # declared once, read by every plot
    domains = {tuple(layer["encoding"]["color"]["scale"]["domain"]) for plot in chart["concat"]
               for layer in plot["layer"]}
    assert domains == {("run 0", "run 1", "run 2", "student")}  # one scale: one legend for all plots


def test_run_colours_stay_distinct_up_to_twenty_runs_then_group_by_architecture():
    from views.charts import RUN_COLORS, curve_groups, run_colors

    twenty = {f"run {i}": ("gru", "lstm")[i % 2] for i in range(20)}
    assert len(set(run_colors(list(curve_groups(twenty).values())).values())) == 20
    assert len(set(RUN_COLORS)) == len(RUN_COLORS) >= 20
    twenty_one = {**twenty, "run 20": "rwkv"}
    assert set(curve_groups(twenty_one).values()) == {"gru", "lstm", "rwkv"}


def test_per_class_best_is_marked_only_where_runs_differ():
    import pandas as pd

    from views.tables import BEST_CELL, best_cells

    assert best_cells(pd.Series([0.0, 0.0, 0.0]), higher=True) == ["", "", ""]  # all tie: nothing is best
    assert best_cells(pd.Series([0.2, 0.5, 0.5]), higher=True) == ["", BEST_CELL, BEST_CELL]
    assert best_cells(pd.Series([0.2, 0.5]), higher=False) == [BEST_CELL, ""]


def test_ticks_get_as_many_decimals_as_they_need_to_differ():
    from views.charts import TICKS, tick_format

    def labels(low: float, high: float) -> list[str]:
        fmt = tick_format([low, high])
        step = (high - low) / (2 * TICKS)  # finer than the ticks the chart will draw
        return [format(low + i * step, fmt[1:].replace("~", "")) for i in range(2 * TICKS + 1)]

    assert tick_format([0.1520, 0.1526]) == ".5~f"
    for low, high in ((0.1520, 0.1526), (61.2, 62.9), (0.0, 1.0), (1200.0, 98000.0)):
        shown = labels(low, high)
        assert len(set(shown)) == len(shown), shown  # no two ticks read alike
    assert tick_format([0.5, 0.5]) == ".2~f" and tick_format([]) == ".1~f"


def test_the_cost_chart_spans_its_points_colours_each_run_and_has_one_legend_entry_per_pass():
    import pandas as pd

    from views.charts import cost_scatter, run_colors

    points = pd.DataFrame({
        "label": [f"run {i}" for i in range(8)], "group": [f"run {i}" for i in range(8)], "arch": ["gru"] * 8,
        "test_accuracy": [40.1, 40.3, 40.2, 40.6, 40.4, 40.5, 40.0, 40.7],
        "cpu_latency_ms": [1.0 + i for i in range(8)],
        "measurement": ["end of training (3 repeats, each run alone)"] * 6 + ["bench cost s-1 (2 runs together)"] * 2,
        "steady": [True] * 7 + [False]})
    colors = run_colors(list(points["group"]))
    spec = cost_scatter(points, points.head(2), "cpu_latency_ms", "latency", 62.43, colors,
                        by_measurement=True).to_dict()
    dots = [layer for layer in spec["layer"] if layer["mark"]["type"] == "point"]
    assert [layer["mark"]["filled"] for layer in dots] == [True, False]  # the unsteady point is hollow
    y_scale = dots[0]["encoding"]["y"]["scale"]
    assert 39.0 < y_scale["domain"][0] < 40.0 < 40.7 < y_scale["domain"][1] < 41.5  # the points' range
    assert not any(layer["mark"]["type"] in ("rule", "text") for layer in spec["layer"])  # 62.43: off the axis
    color = dots[0]["encoding"]["color"]
    assert color["field"] == "group" and color["scale"]["range"] == [colors[f"run {i}"] for i in range(8)]
    rows = [row for name, data in spec["datasets"].items() for row in data if "measurement" in row]
    assert len({row["measurement"] for row in rows}) == 2  # two passes: two legend entries, not eight loads
    near = cost_scatter(points.assign(test_accuracy=points["test_accuracy"] + 22), points.head(2), "cpu_latency_ms",
                        "latency", 62.43, colors).to_dict()
    assert any(layer["mark"]["type"] == "rule" for layer in near["layer"])  # within the points' range: drawn


def test_empty_cells_read_a_dash_and_full_columns_keep_their_type():
    import pandas as pd
    import streamlit as st

    from views.tables import MISSING, blank_missing

    frame = pd.DataFrame({"name": ["a", None], "limit": [200.0, None], "acc": [51.234, 39.8636],
                          "val": [39.8636, float("nan")], "seeds": [[1, 2], [3]]})
    config = {"val": st.column_config.NumberColumn("val acc (%)", format="%.2f", help="h"),
              "acc": st.column_config.NumberColumn("acc", format="%.2f")}
    shown, shown_config = blank_missing(frame, config)
    assert list(shown["name"]) == ["a", MISSING] and list(shown["limit"]) == ["200", MISSING]
    assert list(shown["val"]) == ["39.86", MISSING]  # formatted like its neighbours, not 39.8636
    assert shown_config["val"]["label"] == "val acc (%)" and shown_config["val"]["type_config"]["type"] == "text"
    assert shown["acc"].dtype == float and shown_config["acc"] == config["acc"]  # no gap: still a number
    assert list(shown["seeds"]) == [[1, 2], [3]]


def test_a_job_title_names_the_architecture_and_seed_once():
    from goemo_core.training.config import make_config
    from views.forms import job_title, labelled_jobs

    configs = [make_config("lstm", {"seed": seed, "device": "cpu", "limit": 500}) for seed in (211, 212)]
    jobs, errors = labelled_jobs(configs, "sweep", "", "")
    assert not errors and [job.label.name for job in jobs] == ["sweep · lstm · seed 211", "sweep · lstm · seed 212"]
    title = job_title(jobs[1].config, "sweep")
    assert title == f"sweep · BiLSTM (lstm) · {configs[1].epochs} epochs · limit 500 · seed 212 · cpu"
    assert title.count("lstm") == 1 and title.count("seed") == 1
