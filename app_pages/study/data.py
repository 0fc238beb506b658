"""Data: class balance per split (Ekman 7 and raw 28), the 28 → 7 grouping, token lengths, a sample browser."""

import streamlit as st

from goemo_core.data import goemotions as gd
from goemo_core.data.tasks import TASK_NAMES, get_task, label_cooccurrence, task_distribution
from goemo_core.data.text import DEFAULT_MAX_LENGTH, split_token_lengths
from goemo_core.settings import get_settings
from views.charts import spec_of
from views.common import load_dataset, page_setup, user_errors
from views.data_charts import ekman_share_bars, grouping_bars, length_histogram_chart, raw_label_bars
from views.task_views import cooccurrence_heatmap, distribution_bars

page_setup("Data", ":material/bar_chart:")
LENGTH_CLIP = 80  # the histogram's last bin holds every longer text


@st.cache_data(show_spinner="Counting labels…")
def statistics(source_key: str) -> dict:
    return gd.dataset_statistics()


@st.cache_data(show_spinner="Tokenising every split…")
def token_lengths(source_key: str, pretrained: str | None):
    return split_token_lengths()


@st.cache_data(show_spinner="Counting each task's labels…")
def distribution(source_key: str, task_name: str, splits: tuple[str, ...]):
    """Shares per label of the task in each split: a pass over every example, once per data source and task."""
    data = load_dataset()
    return task_distribution({split: data[split] for split in splits}, get_task(task_name))


@st.cache_data(show_spinner="Counting label pairs…")
def cooccurrence(source_key: str, task_name: str):
    return label_cooccurrence(load_dataset()["train"], get_task(task_name))


settings = get_settings()
source_key = f"{settings.data_dir}"
with user_errors():
    dataset = load_dataset()
    stats = statistics(source_key)

st.caption(f"Source: {stats['source']}")
splits = list(gd.SPLITS)
cols = st.columns(len(splits))
for col, split in zip(cols, splits):
    s = stats["splits"][split]
    col.metric(f"{split} examples", f"{s['examples']:,}")
    col.caption(f"multi-label: **{s['multi_label_fraction']:.1%}** · imbalance (largest/smallest class): "
                f"**{s['imbalance_ratio']:.1f}×**")

view = st.segmented_control("Splits", ["side by side", *splits], default="side by side", key="split_view")
shown = splits if view in (None, "side by side") else [view]

st.subheader("Ekman classes")
ekman = gd.ekman_frame(stats)
ekman = ekman[ekman["split"].isin(shown)]
st.vega_lite_chart(spec_of(ekman_share_bars, ekman, shown), width="content")
majority = stats["splits"]["test"]["ekman"]
st.caption(f"Majority class on test: joy, {max(majority.values()) / sum(majority.values()):.1%} — the accuracy of "
           "always answering joy.")

st.subheader("Raw labels (28)")
raw = gd.raw_label_frame(stats)
raw = raw[raw["split"].isin(shown)]
st.vega_lite_chart(spec_of(raw_label_bars, raw, gd.emotions_by_frequency(stats, shown[0]), shown), width="content")

st.subheader("From 28 emotions to 7 classes")
st.markdown("Every label of an example is mapped to its Ekman group; the group that occurs most often is the "
            "example's **primary label**; a tie goes to the group listed first.")
left, right = st.columns([1, 2])
with left:
    table = (raw[raw["split"] == shown[0]][["emotion", "ekman", "count"]]
             .sort_values(["ekman", "count"], ascending=[True, False]))
    st.dataframe(table, hide_index=True, height=420, width="stretch")
with right:
    st.vega_lite_chart(spec_of(grouping_bars, raw[raw["split"] == shown[0]], shown[0]), width="stretch")

st.subheader("Labels per task")
task = get_task(st.selectbox("Task", TASK_NAMES, key="data_task",
                             format_func=lambda n: f"{n}: {get_task(n).description}",
                             help="What a model of each task learns from these examples (see the README's tasks)."))
st.vega_lite_chart(spec_of(distribution_bars, distribution(source_key, task.name, tuple(shown)), task, shown),
                   width="content")
if task.multi_label:
    st.caption("Multi-label: an example counts for every label it carries, so the shares of a split add up to more "
               "than 100 %. Below: how often two labels are given to the same example (train split).")
    st.vega_lite_chart(spec_of(cooccurrence_heatmap, cooccurrence(source_key, task.name), task), width="content")
else:
    st.caption("Single-label: each example counts once, for its primary label (the group that occurs most often "
               "among its labels; a tie goes to the group listed first).")

st.subheader("Text length in tokens")
with user_errors(stop=False):
    lengths = token_lengths(source_key, settings.pretrained)
    lengths = lengths[lengths["split"].isin(shown)]
    histogram = gd.length_histogram(lengths, clip=LENGTH_CLIP)
    st.vega_lite_chart(spec_of(length_histogram_chart, histogram, shown, DEFAULT_MAX_LENGTH, clip=LENGTH_CLIP),
                       width="content")
    over = (lengths["tokens"] > DEFAULT_MAX_LENGTH).mean()
    st.caption(f"Bars: the share of each split's texts per length, so splits of any size compare. Red line: the "
               f"{DEFAULT_MAX_LENGTH}-token input length used for training; {over:.1%} of the texts shown are longer "
               "and get truncated.")

st.subheader("Sample browser")


def next_sample() -> None:
    st.session_state["browse_seed"] = st.session_state.get("browse_seed", 0) + 1


@st.fragment
def sample_browser() -> None:
    """Its inputs and "Another sample" rerun this part alone, not the charts above."""
    c1, c2, c3, c4 = st.columns([1, 1, 2, 2])
    browse_split = c1.selectbox("Split", splits, key="browse_split")
    browse_class = c2.selectbox("Ekman class", ["(any)", *gd.EKMAN_CLASSES], key="browse_class")
    browse_raw = c3.multiselect("Raw labels (any of)", list(gd.label_names()), key="browse_raw")
    contains = c4.text_input("Text contains", key="browse_contains")
    sample, matches = gd.browse(dataset[browse_split], None if browse_class == "(any)" else browse_class,
                                browse_raw, contains, n=50, seed=st.session_state.get("browse_seed", 0))
    st.caption(f"{matches:,} matching examples; showing {len(sample)}.")
    st.button("Another sample", key="browse_shuffle", on_click=next_sample)
    st.dataframe(sample, hide_index=True, width="stretch")


sample_browser()
