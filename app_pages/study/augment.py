"""Augment: EDA variants of a train sentence with the changed words highlighted, the balance plan of a target,
building the balanced augmented train split in the background, and the cached splits."""

import html
import os
import time

import altair as alt
import pandas as pd
import streamlit as st

from goemo_core.augment import (DEFAULT_PCT, DEFAULT_RATIO, DEFAULT_SEED, MAX_PREVIEW_CHARS, MAX_PREVIEW_VARIANTS,
                                RECIPES, AugmentSpec, augment_text, balance_plan, balance_target, list_augmented)
from goemo_core.augment.eda import FIRST_LOAD, FIRST_LOAD_CPU_S, augmenter_loaded
from goemo_core.data.goemotions import EKMAN_CLASSES, class_counts
from goemo_core.settings import get_settings
from views.common import job_manager, load_dataset, page_setup, user_errors
from views.diff import word_diff
from views.jobs import job_list

page_setup("Augment", ":material/auto_fix_high:")
st.caption("TextAttack's Easy Data Augmentation (WordNet synonym swap, synonym insertion, random swap, random "
           "deletion) on the **train split only**; validation and test are never augmented.")

MARKDOWN_SPECIALS = "\\`*_[]#|~$:<>"


@st.cache_resource(show_spinner=False)
def train_rows(data_key: str) -> tuple[list[str], list[int]]:
    train = load_dataset()["train"]
    return list(train["text"]), list(train["label"])


def escape(word: str) -> str:
    """HTML-escape a word and neutralise markdown, so a variant shows as typed."""
    text = html.escape(word, quote=False)
    return "".join(f"&#{ord(c)};" if c in MARKDOWN_SPECIALS else c for c in text)


def diff_markup(original: str, variant: str) -> str:
    styles = {"insert": '<mark style="background-color:#fde68a">{}</mark>',
              "delete": '<del style="color:#9ca3af">{}</del>', "equal": "{}"}
    return " ".join(styles[op].format(escape(word)) for op, word in word_diff(original, variant))


def recipe_label(recipe: str) -> str:
    return f"{recipe}: {RECIPES[recipe][1]}"


def plan_chart(before: dict[str, int], after: dict[str, int], target: int) -> alt.LayerChart:
    frame = pd.DataFrame([{"class": c, "stage": stage, "examples": counts[c]}
                          for stage, counts in (("before", before), ("after", after)) for c in EKMAN_CLASSES])
    bars = alt.Chart(frame).mark_bar().encode(
        x=alt.X("class:N", sort=list(EKMAN_CLASSES), title=None),
        xOffset=alt.XOffset("stage:N", sort=["before", "after"]),
        y=alt.Y("examples:Q", title="train examples"),
        color=alt.Color("stage:N", sort=["before", "after"], legend=alt.Legend(orient="top", title=None)),
        tooltip=["class", "stage", alt.Tooltip("examples:Q", format=",")],
    )
    rule = alt.Chart(pd.DataFrame({"target": [target]})).mark_rule(strokeDash=[4, 4], color="gray").encode(
        y="target:Q", tooltip=[alt.Tooltip("target:Q", format=",")])
    return (bars + rule).properties(height=300)


def preview_section(texts: list[str], labels: list[int]) -> None:
    st.subheader("Preview")
    left, right = st.columns([3, 2])
    name = left.selectbox("Class", EKMAN_CLASSES, key="aug_class")
    class_id = EKMAN_CLASSES.index(name)
    candidates = [t for t, y in zip(texts, labels) if y == class_id][:300]
    sentence = left.selectbox(f"A train sentence of '{name}'", candidates, key="aug_sentence",
                              format_func=lambda t: t if len(t) <= 140 else t[:137] + "…")
    typed = left.text_input("…or type a sentence", key="aug_typed", max_chars=MAX_PREVIEW_CHARS)
    recipe = right.selectbox("Recipe", list(RECIPES), format_func=recipe_label, key="aug_recipe")
    pct = right.slider("Share of words changed", 0.05, 1.0, DEFAULT_PCT, 0.05, key="aug_pct")
    a, b = right.columns(2)
    n = a.number_input("Variants", 1, MAX_PREVIEW_VARIANTS, 4, key="aug_n")
    seed = b.number_input("Seed", 0, 2**31 - 1, DEFAULT_SEED, key="aug_seed")
    text = typed.strip() or sentence
    if st.button("Generate variants", type="primary", key="aug_preview", disabled=not text,
                 icon=":material/auto_fix_high:"):
        first = not augmenter_loaded()
        with user_errors(stop=False), st.spinner(loading_text() if first else "Augmenting…"):
            variants = augment_text(text, n=int(n), seed=int(seed), recipe=recipe, pct=float(pct))
            st.session_state["aug_result"] = {"text": text, "variants": variants, "recipe": recipe}
        if first and FIRST_LOAD:
            st.caption(f"Loading TextAttack and WordNet took {FIRST_LOAD['wall_s']:.0f} s ({FIRST_LOAD['cpu_s']:.0f} s "
                       "of CPU work); later previews in this server take a fraction of a second.")
    show_variants(st.session_state.get("aug_result"))


def loading_text() -> str:
    """What the first preview of a server waits for, and how long that is on this machine now."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    busy = (f"; the machine is busy (load average {load:.1f} on {os.cpu_count()} cores): expect several times that"
            if load is not None and load > (os.cpu_count() or 1) else "")
    return (f"Loading TextAttack and WordNet first (once per server): about {FIRST_LOAD_CPU_S} s of CPU work"
            f"{busy}…")


def show_variants(result: dict | None) -> None:
    if not result:
        return
    st.markdown(f"**Original:** {escape(result['text'])}", unsafe_allow_html=True)
    if not result["variants"]:
        st.warning("No variant differs from this sentence: it is too short for this recipe.")
    lines = [f"{i}. {diff_markup(result['text'], v)}" for i, v in enumerate(result["variants"], start=1)]
    st.markdown("\n".join(lines), unsafe_allow_html=True)
    st.caption(f"{recipe_label(result['recipe'])} · highlighted: inserted or replacing words · "
               "struck through: removed or replaced words")


def plan_section(labels: list[int]) -> dict:
    """The target widgets and the before/after chart; returns the target part of a build config."""
    st.subheader("Balance plan")
    mode = st.radio("Target per class", ["ratio of the largest class", "number of examples"], horizontal=True,
                    key="aug_mode")
    before = class_counts(labels)
    if mode == "number of examples":
        ratio, count = None, int(st.number_input("Examples per class", 1, 100_000,
                                                 balance_target(before, DEFAULT_RATIO), key="aug_count"))
    else:
        ratio, count = float(st.slider("Ratio of the largest class", 0.05, 1.0, DEFAULT_RATIO, 0.05,
                                       key="aug_ratio")), None
    after = balance_plan(before, ratio, count)
    target = balance_target(before, ratio, count)
    st.altair_chart(plan_chart(before, after, target), width="stretch")
    grown = [c for c in EKMAN_CLASSES if after[c] > before[c]]
    st.caption(f"Target {target:,} examples per class: {', '.join(grown) or 'no class'} grow to exactly the target, "
               f"+{sum(after.values()) - sum(before.values()):,} texts; the other classes are unchanged.")
    return {"target_ratio": ratio, "target_count": count}


def build_section(target: dict) -> None:
    st.subheader("Build the augmented train split")
    a, b, c = st.columns(3)
    recipe = a.selectbox("Recipe", list(RECIPES), format_func=recipe_label, key="aug_build_recipe")
    pct = b.slider("Share of words changed", 0.05, 1.0, DEFAULT_PCT, 0.05, key="aug_build_pct")
    seed = c.number_input("Seed", 0, 2**31 - 1, DEFAULT_SEED, key="aug_build_seed")
    config = {**target, "recipe": recipe, "pct": float(pct), "seed": int(seed)}
    with user_errors(stop=False):
        spec = AugmentSpec.from_config(config)
        built = {s["name"] for s in list_augmented()}
        if spec.name in built:
            st.success(f"`{spec.name}` is built: train with it via `train --augment {spec.name}`.")
        if st.button(f"Build {spec.name}", key="aug_build", icon=":material/play_arrow:",
                     disabled=spec.name in built or any(j.title.endswith(spec.name)
                                                        for j in job_manager().active("augment"))):
            job_manager().submit("augment", spec, title=f"Augment {spec.name}")
            st.toast(f"Building {spec.name} in the background…")
    job_list("augment", empty_text="No augmentation job yet.")


def cached_section() -> None:
    st.subheader("Cached augmented splits")
    splits = list_augmented()
    if not splits:
        st.caption(f"None yet in `{get_settings().home / 'augmented'}`.")
        return
    rows = []
    for split in splits:
        meta = split["meta"]
        target = f"{meta['target_count']:,}" if meta.get("target_count") else f"{meta.get('target_ratio')} × largest"
        rows.append({"name": split["name"], "recipe": meta.get("recipe"), "pct": meta.get("pct"),
                     "target": target, "per class": meta.get("target"), "seed": meta.get("seed"),
                     "limit": meta.get("limit"), "added": meta.get("added"),
                     **{f"{c} (after)": meta["after"].get(c) for c in EKMAN_CLASSES},
                     "seconds": meta.get("seconds"),
                     "created": time.strftime("%Y-%m-%d %H:%M", time.localtime(meta.get("created") or 0))})
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


with user_errors():
    texts, labels = train_rows(str(get_settings().data_dir))

preview_section(texts, labels)
st.divider()
target = plan_section(labels)
st.divider()
build_section(target)
st.divider()
cached_section()
