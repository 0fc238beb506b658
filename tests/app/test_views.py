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
