"""Robustness on the pages: the Compare page's section (launch attacks as a background job, accuracy under each
TextAttack recipe pooled over seeds, A against B under attack, clean accuracy against accuracy under attack, a run's
adversarial examples with the changed words highlighted) and the Classify page's "attack this sentence"."""

from __future__ import annotations

import html
from typing import Sequence

import altair as alt
import pandas as pd
import streamlit as st

from goemo_core.attacks.recipes import RECIPE_NAMES, RECIPES
from goemo_core.attacks.sample import DEFAULT_N, DEFAULT_SEED
from goemo_core.data.tasks import Task
from goemo_core.jobs.work import AttackJob
from goemo_core.results.robustness import (adversarial_examples, attack_points, attack_problems, marked_segments,
                                           robustness_difference, robustness_table)
from goemo_core.runs.folder import Run

from .common import job_manager, user_errors
from .jobs import job_list

EXAMPLES_SHOWN = 25
BEFORE, AFTER = "#fbd5d5", "#cdeccd"  # the original word (red) and the word the attack put in (green)
RECIPE_COLORS = ["#4e79a7", "#f28e2b", "#b07aa1"]  # one distinct hue per recipe, in RECIPE_NAMES order


def recipe_title(name: str) -> str:
    return RECIPES[name].title


def robustness_section(selected: Sequence[Run], names: dict[str, str], task: Task) -> None:
    """The Compare page's section on the selected runs."""
    st.subheader("Robustness under attack")
    if task.multi_label:
        st.caption("TextAttack's classification goals take one label per text: runs of a multi-label task are not "
                   "attacked.")
        return
    st.caption("TextAttack's own recipes against each run, on one seeded sample of test examples (the same texts "
               "for every run of the task). **Accuracy under attack**: examples still classified right after the "
               "attack, as a share of all; **clean**: accuracy on the sample before it. Pooled over the completed "
               "seeds of each recipe: mean ± std (n seeds attacked).")
    launcher(selected)
    job_list("attack", empty_text="No attack launched from this page yet.")
    table, sample = robustness_table(selected)
    for problem in attack_problems(selected):
        st.caption(f"Left out, unreadable: {problem}")
    if table.empty:
        st.caption("None of the selected completed runs has been attacked yet: launch an attack above, or run "
                   "`python -m goemo_core attack RUN --recipe pwws`.")
        return
    st.caption(f"Sample: the first {sample['n']:,} test examples of the permutation seeded by {sample['seed']}.")
    st.container(key="robustness-table").dataframe(
        table[["arch", "changes", "limit", "seeds", "clean", *RECIPE_NAMES]], hide_index=True, column_config={
            "clean": st.column_config.TextColumn("clean (%)", help="Accuracy on the sample, no attack"),
            "seeds": st.column_config.NumberColumn("seeds", help="Completed seeds with an attack"),
            **{name: st.column_config.TextColumn(f"under {name} (%)", help=RECIPES[name].description)
               for name in RECIPE_NAMES}})
    if len(table) >= 2:
        difference(table)
    points = attack_points(selected, names, sample)
    st.container(key="robustness-scatter").altair_chart(attack_scatter(points), width="stretch")
    st.caption("Each point is a run under one recipe; on the dashed line an attack changed nothing. Further below "
               "the line: easier to fool.")
    examples_view(selected, names, sample)


def launcher(selected: Sequence[Run]) -> None:
    completed = [run for run in selected if run.status == "completed"]
    with st.expander("Attack the selected runs"):
        recipes = st.multiselect("Recipes", RECIPE_NAMES, default=["pwws"], format_func=recipe_title,
                                 key="attack_recipes", help="  \n".join(f"**{name}**: {RECIPES[name].description}"
                                                                         for name in RECIPE_NAMES))
        left, middle, right = st.columns(3)
        n = left.number_input("Test examples", min_value=1, max_value=5427, value=DEFAULT_N, key="attack_n",
                              help="The command line's default too: attacks of one sample pool")
        seed = middle.number_input("Sample seed", value=DEFAULT_SEED, step=1, key="attack_seed",
                                   help="The same seed attacks the same texts for every run")
        fresh = right.checkbox("Attack again", key="attack_fresh",
                               help="By default a run keeps its stored attack of the same sample, and a stored "
                                    "attack on another sample is not replaced")
        pairs = len(completed) * len(recipes)
        if st.button(f"Attack {len(completed)} completed run(s)", key="attack_launch", icon=":material/bolt:",
                     disabled=not pairs):
            with user_errors(stop=False):
                job = AttackJob(tuple(run.run_id for run in completed), tuple(recipes), int(n), int(seed), fresh)
                job_manager().submit("attack", job, title=f"attack: {', '.join(recipes)} on {len(completed)} run(s)")
                st.toast(f"Launched an attack job: {pairs} attack(s) of {int(n):,} examples.")
        if len(completed) < len(selected):
            st.caption("Only completed runs are attacked.")


def difference(table: pd.DataFrame) -> None:
    labels = {i: f"{row.arch} · {row.changes}" + (f" · limit {int(row.limit):,}" if row.limit == row.limit
                                                   and row.limit is not None else "")
              for i, row in enumerate(table.itertuples())}
    st.markdown("**Is A more robust than B?** Welch's t-test over seeds (3 a side at least), A − B in points.")
    left, right = st.columns(2)
    a = left.selectbox("A", list(labels), format_func=labels.get, key="robust_a")
    b = right.selectbox("B", list(labels), index=1, format_func=labels.get, key="robust_b")
    if a == b:
        st.caption("Pick two different recipes.")
        return
    frame = robustness_difference(table.iloc[a].to_dict(), table.iloc[b].to_dict())
    st.dataframe(frame, hide_index=True, key="robustness-difference", column_config={
        "A (%)": st.column_config.NumberColumn(format="%.2f"), "B (%)": st.column_config.NumberColumn(format="%.2f"),
        "A − B (points)": st.column_config.NumberColumn(format="%+.2f")})


def attack_scatter(points: pd.DataFrame, height: int = 320) -> alt.LayerChart:
    """Accuracy under attack against clean accuracy on the sample, a point per run and recipe, with y = x."""
    low = max(0.0, float(min(points["under_attack"].min(), points["clean"].min())) - 5) if len(points) else 0.0
    high = min(100.0, float(points["clean"].max()) + 5) if len(points) else 100.0
    diagonal = pd.DataFrame({"clean": [low, high], "under_attack": [low, high]})
    line = alt.Chart(diagonal).mark_line(strokeDash=[5, 4], color="#888").encode(x="clean:Q", y="under_attack:Q")
    dots = alt.Chart(points).mark_point(size=90, filled=True, opacity=0.85).encode(
        x=alt.X("clean:Q", title="clean accuracy on the sample (%)", scale=alt.Scale(zero=False)),
        y=alt.Y("under_attack:Q", title="accuracy under attack (%)", scale=alt.Scale(zero=False)),
        color=alt.Color("recipe:N", title="attack",
                        scale=alt.Scale(domain=list(RECIPE_NAMES), range=RECIPE_COLORS)),
        shape=alt.Shape("arch:N", title="architecture"),
        tooltip=["run", "arch", "recipe", alt.Tooltip("clean:Q", format=".2f"),
                 alt.Tooltip("under_attack:Q", format=".2f"), alt.Tooltip("success_rate:Q", format=".2f"),
                 alt.Tooltip("test_accuracy:Q", format=".2f")])
    return alt.layer(line, dots).properties(height=height)


def marked_html(text: str, spans: Sequence[Sequence[int]], color: str) -> str:
    """`text` HTML-escaped, the spans' words on a coloured background."""
    return "".join(f'<span style="background:{color};border-radius:3px;padding:0 2px">{html.escape(part)}</span>'
                   if changed else html.escape(part) for part, changed in marked_segments(text, spans))


def example_html(record: dict, truth: bool = True) -> str:
    """One attacked example: the original and the perturbed text with the changed words marked, and the labels
    (with the true one unless `truth` is False: a typed sentence has none)."""
    before = record["original_probabilities"][max(range(len(record["original_probabilities"])),
                                                  key=record["original_probabilities"].__getitem__)]
    after = record["perturbed_probabilities"][max(range(len(record["perturbed_probabilities"])),
                                                  key=record["perturbed_probabilities"].__getitem__)]
    return (f'<div style="margin:0 0 0.8em 0">'
            f'<div>{marked_html(record["original"], record["original_spans"], BEFORE)} '
            f'<small>→ {html.escape(record["original_label"])} ({before:.0%})</small></div>'
            f'<div>{marked_html(record["perturbed"], record["perturbed_spans"], AFTER)} '
            f'<small>→ <b>{html.escape(record["perturbed_label"])}</b> ({after:.0%})'
            + (f' · true {html.escape(record["label"])}' if truth else "")
            + f' · {record["queries"]:,} queries · {html.escape(record["result"])}</small></div></div>')


def examples_view(selected: Sequence[Run], names: dict[str, str], sample: dict | None) -> None:
    attacked = attack_points(selected, names, sample)
    if attacked.empty:
        return
    st.markdown("**Adversarial examples of one run**")
    left, middle, right = st.columns(3)
    run_ids = list(dict.fromkeys(attacked["run_id"]))
    run_id = left.selectbox("run", run_ids, format_func=names.get, key="adversarial_run")
    recipes = list(attacked[attacked["run_id"] == run_id]["recipe"])
    recipe = middle.selectbox("attack", recipes, format_func=recipe_title, key="adversarial_recipe")
    kinds = right.segmented_control("results", ["successful", "failed", "skipped"], default="successful",
                                    selection_mode="multi", key="adversarial_kinds") or ["successful"]
    run = next(run for run in selected if run.run_id == run_id)
    with user_errors(stop=False):
        records = adversarial_examples(run, recipe, kinds)
        st.caption(f"{len(records):,} example(s); the first {min(len(records), EXAMPLES_SHOWN)} shown. Red: the "
                   "original's words the attack changed; green: what it put in their place.")
        body = "".join(example_html(record) for record in records[:EXAMPLES_SHOWN])
        if body:
            st.html(f'<div class="adversarial-examples">{body}</div>')


def attack_sentence_panel(text: str, runs: dict[str, Run], names: dict[str, str], predictors: dict) -> None:
    """Classify's "attack this sentence": one run, one recipe, against the run's own prediction."""
    with st.expander("Attack this sentence"):
        left, right = st.columns(2)
        run_id = left.selectbox("model", list(predictors), format_func=names.get, key="attack_sentence_run")
        recipe = right.selectbox("recipe", RECIPE_NAMES, format_func=recipe_title, key="attack_sentence_recipe",
                                 help="TextAttack's recipe tries to change this model's prediction")
        key = (text, run_id, recipe)
        if st.button("Attack", key="attack_sentence_button", icon=":material/bolt:"):
            from goemo_core.attacks.attack import attack_sentence

            with user_errors(stop=False), st.spinner("Attacking (TextAttack takes about ten seconds to load the "
                                                     "first time)…"):
                st.session_state["attack_sentence_result"] = (key, attack_sentence(runs[run_id], recipe, text,
                                                                                   predictor=predictors[run_id]))
        stored = st.session_state.get("attack_sentence_result")
        if stored and stored[0] == key:
            record = stored[1]
            verdict = ("changed the prediction" if record["result"] == "successful" else
                       "did not change the prediction")
            st.markdown(f"**{recipe_title(recipe)}** {verdict} in {record['seconds']:.1f} s "
                        f"({record['queries']:,} queries).")
            st.html(example_html(record, truth=False))
