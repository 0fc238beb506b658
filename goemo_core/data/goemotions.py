"""GoEmotions: loading, the Ekman taxonomy, the primary-label rule and split statistics."""

from __future__ import annotations

import csv
import hashlib
import threading
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..errors import MissingResource
from ..settings import HUB_CONFIG, HUB_DATASET, Settings, get_settings

SPLITS = ("train", "validation", "test")
SPLIT_FILES = {"train": "train.tsv", "validation": "dev.tsv", "test": "test.tsv"}

# The 28 source labels in emotions.txt order (ids index this list).
GOEMOTIONS_LABELS = (
    "admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion", "curiosity", "desire",
    "disappointment", "disapproval", "disgust", "embarrassment", "excitement", "fear", "gratitude", "grief", "joy",
    "love", "nervousness", "optimism", "pride", "realization", "relief", "remorse", "sadness", "surprise", "neutral",
)  # fmt: skip

# Ekman's 6 basic emotions + neutral, in the class order every model and metric uses (index 0..6).
EKMAN_GROUPS: dict[str, tuple[str, ...]] = {
    "anger": ("anger", "annoyance", "disapproval"),
    "disgust": ("disgust",),
    "fear": ("fear", "nervousness"),
    "joy": ("joy", "amusement", "approval", "excitement", "gratitude", "love", "optimism", "relief", "pride",
            "admiration", "desire", "caring"),
    "sadness": ("sadness", "disappointment", "embarrassment", "grief", "remorse"),
    "surprise": ("surprise", "realization", "confusion", "curiosity"),
    "neutral": ("neutral",),
}  # fmt: skip
EKMAN_CLASSES: tuple[str, ...] = tuple(EKMAN_GROUPS)
NUM_CLASSES = len(EKMAN_CLASSES)
RAW_TO_EKMAN: dict[str, int] = {raw: i for i, group in enumerate(EKMAN_GROUPS.values()) for raw in group}


def primary_label(label_ids: Sequence[int], label_names: Sequence[str] = GOEMOTIONS_LABELS) -> int:
    """The Ekman class of an example: the group that occurs most often among its labels;
    a tie goes to the group that appears first in the label list (the lists are in ascending id order)."""
    return primary_group(label_ids, RAW_TO_EKMAN, label_names)


def primary_group(label_ids: Sequence[int], group_of: dict[str, int],
                  label_names: Sequence[str] = GOEMOTIONS_LABELS) -> int:
    """The primary-label rule over any grouping of the raw labels (`group_of`: raw name → group index)."""
    if len(label_ids) == 0:
        raise ValueError("an example needs at least one label")
    groups = [group_of[label_names[i]] for i in label_ids]
    counts = Counter(groups)
    best = max(counts.values())
    return next(g for g in groups if counts[g] == best)


def decided_by_tie(label_ids: Sequence[int], group_of: dict[str, int] = RAW_TO_EKMAN,
                   label_names: Sequence[str] = GOEMOTIONS_LABELS) -> bool:
    """Whether the primary-label rule had to break a tie: two or more groups share the highest count among the
    example's labels, and the one listed first won (['anger', 'joy'] → anger, by the order of the list alone)."""
    counts = Counter(group_of[label_names[i]] for i in label_ids)
    best = max(counts.values(), default=0)
    return sum(1 for count in counts.values() if count == best) > 1


def ekman_distribution(label_ids: Sequence[int], label_names: Sequence[str] = GOEMOTIONS_LABELS) -> list[float]:
    """The share of an example's labels in each Ekman group (sums to 1): ['anger', 'joy'] → 0.5 anger, 0.5 joy.
    A training target that keeps what the primary label drops; the task's target stays `primary_label`."""
    if len(label_ids) == 0:
        raise ValueError("an example needs at least one label")
    shares = [0.0] * NUM_CLASSES
    for i in label_ids:
        shares[RAW_TO_EKMAN[label_names[i]]] += 1.0 / len(label_ids)
    return shares


# ---------------------------------------------------------------------------------------------------------------
# Loading


_CACHE: dict[tuple, "datasets.DatasetDict"] = {}  # noqa: F821 - loaded once per process and source
_CACHE_LOCK = threading.Lock()


def load_goemotions(settings: Settings | None = None):
    """The three splits as a `datasets.DatasetDict` with columns text, labels (list of ints), id and
    label (the Ekman primary label). From `GOEMO_DATA_DIR` when set, else from the hub. Cached per process."""
    settings = settings or get_settings()
    import datasets

    datasets.disable_progress_bars()
    key = (str(settings.data_dir),) + (_folder_signature(settings.data_dir) if settings.data_dir else ())
    with _CACHE_LOCK:
        if key not in _CACHE:
            raw = _load_local(settings.data_dir) if settings.data_dir else _load_hub()
            _CACHE[key] = raw.map(
                lambda batch: {"label": [primary_label(labels) for labels in batch["labels"]]},
                batched=True,
                load_from_cache_file=False,
                desc=None,
            )
        return _CACHE[key]


def label_names(settings: Settings | None = None) -> tuple[str, ...]:
    """The 28 raw label names of the loaded data (emotions.txt order)."""
    settings = settings or get_settings()
    if settings.data_dir:
        return _read_label_names(settings.data_dir)
    return GOEMOTIONS_LABELS


def _folder_signature(folder: Path) -> tuple:
    return tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.glob("*")) if p.is_file())


def _read_label_names(folder: Path) -> tuple[str, ...]:
    path = folder / "emotions.txt"
    if not path.is_file():
        raise MissingResource(f"{path} is missing: GOEMO_DATA_DIR must hold emotions.txt (the 28 label names).")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:  # as the .tsv files: the file and the fix, not a traceback
        raise MissingResource(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}). Fix or replace the "
                              "file.") from None
    except OSError as exc:
        raise MissingResource(f"{path} cannot be read ({exc.strerror or exc}). Fix or replace the file.") from None
    names = tuple(line.strip() for line in text.splitlines() if line.strip())
    if names != GOEMOTIONS_LABELS:
        raise MissingResource(
            f"{path} does not list the 28 GoEmotions labels in their official order "
            f"(found {len(names)} names). Point GOEMO_DATA_DIR at the official GoEmotions data folder."
        )
    return names


def _load_local(folder: Path):
    import datasets

    if not folder.is_dir():
        raise MissingResource(f"GOEMO_DATA_DIR={folder} is not a folder. Set it to the folder holding "
                              "train.tsv, dev.tsv, test.tsv and emotions.txt.")
    names = _read_label_names(folder)
    splits = {}
    for split, filename in SPLIT_FILES.items():
        path = folder / filename
        if not path.is_file():
            raise MissingResource(f"{path} is missing: GOEMO_DATA_DIR must hold train.tsv, dev.tsv, test.tsv "
                                  "and emotions.txt (the official GoEmotions files).")
        splits[split] = datasets.Dataset.from_dict(_read_tsv(path, len(names)))
    return datasets.DatasetDict(splits)


def _read_tsv(path: Path, num_labels: int) -> dict[str, list]:
    """Rows are `text<TAB>comma-separated ids<TAB>comment id`, CSV-quoted where the text holds quotes. GoEmotions
    texts never hold a tab or a line break, so every row is exactly one line: a row that spans lines (a stray
    quote swallowing the rows after it), a field with a tab or a line break, or a field past the csv module's size
    limit is a damaged file, reported with its line number."""
    texts, labels, ids = [], [], []

    def damaged(line_no: int, what: str) -> MissingResource:
        return MissingResource(f"{path}, line {line_no}: {what}. Fix or replace the file.")

    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:  # -sig: a byte order mark is not text
            reader = csv.reader(handle, delimiter="\t")
            line_no = 0  # the physical line the current row starts on
            while True:
                start = reader.line_num + 1
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:  # e.g. a field larger than the field limit
                    raise damaged(reader.line_num or start, f"unreadable row ({exc})") from None
                line_no = start
                if reader.line_num != start:
                    raise damaged(line_no, f"one row runs over lines {start}-{reader.line_num} (a stray '\"' "
                                           "quoting the lines after it, or a quoted line break)")
                if len(row) != 3:
                    raise damaged(line_no, f"expected 3 tab-separated fields (text, label ids, comment id), "
                                           f"found {len(row)}")
                if any(c in field for field in row for c in "\t\r\n"):
                    raise damaged(line_no, "a field holds a tab or a line break (GoEmotions texts have none)")
                text, label_field, comment_id = row
                try:
                    row_labels = [int(x) for x in label_field.split(",")]
                except ValueError:
                    raise damaged(line_no, f"label ids '{label_field[:50]}' are not comma-separated integers") \
                        from None
                if any(not 0 <= x < num_labels for x in row_labels):
                    raise damaged(line_no, f"label ids '{label_field[:50]}' are outside 0..{num_labels - 1}")
                texts.append(text)
                labels.append(row_labels)
                ids.append(comment_id)
        physical = _count_lines(path)
        if physical != len(texts):  # e.g. a bare carriage return the csv module took for a line end
            raise MissingResource(f"{path}: {len(texts):,} rows were read from {physical:,} lines (after line "
                                  f"{line_no}, a line break inside a row?). Fix or replace the file.")
    except UnicodeDecodeError as exc:
        raise MissingResource(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}). "
                              "Fix or replace the file.") from None
    except OSError as exc:
        raise MissingResource(f"{path} cannot be read ({exc.strerror or exc}). Fix or replace the file.") from None
    if not texts:
        raise MissingResource(f"{path} holds no examples. Fix or replace the file.")
    return {"text": texts, "labels": labels, "id": ids}


def _count_lines(path: Path) -> int:
    """Lines as a text editor counts them: newline characters, plus a last line without one."""
    count, last = 0, b"\n"
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


def _load_hub():
    import datasets

    try:
        raw = datasets.load_dataset(HUB_DATASET, HUB_CONFIG)
    except Exception as exc:  # offline, hub down, gated: all end the same way for the user
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise MissingResource(
            f"Could not load GoEmotions from the Hugging Face hub ({HUB_DATASET}, {HUB_CONFIG}): {reason}. "
            "Without network access, set GOEMO_DATA_DIR to a folder with train.tsv, dev.tsv, test.tsv and "
            "emotions.txt."
        ) from None
    return datasets.DatasetDict({split: raw[split].select_columns(["text", "labels", "id"]) for split in SPLITS})


def limit_split(split, limit: int | None):
    """The first `limit` examples of a split (all of them when limit is None)."""
    if limit is None or limit >= len(split):
        return split
    return split.select(range(limit))


def evaluation_fingerprint(settings: Settings | None = None, limit: int | None = None) -> str:
    """What a run is evaluated on: the validation and test texts and primary labels (after `limit`). Runs record
    it, so an ensemble or a teacher is refused when its members saw other data than there is now."""
    data = load_goemotions(settings)
    rows = []
    for name in ("validation", "test"):
        split = limit_split(data[name], limit)
        rows += [name] + [f"{text}\t{label}" for text, label in zip(split["text"], split["label"])]
    return data_fingerprint(rows)


def data_fingerprint(texts: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------------------------
# Statistics


def class_counts(labels: Iterable[int]) -> dict[str, int]:
    counts = np.bincount(np.asarray(list(labels), dtype=np.int64), minlength=NUM_CLASSES)
    return {name: int(counts[i]) for i, name in enumerate(EKMAN_CLASSES)}


def split_statistics(split, names: Sequence[str] = GOEMOTIONS_LABELS) -> dict:
    """Counts of one split: examples, Ekman classes, raw labels, multi-label share, imbalance ratio."""
    labels = split["labels"]
    raw = Counter(i for row in labels for i in row)
    ekman = class_counts(split["label"])
    nonzero = [c for c in ekman.values() if c]
    return {
        "examples": len(split),
        "ekman": ekman,
        "raw": {name: int(raw.get(i, 0)) for i, name in enumerate(names)},
        "multi_label_fraction": float(sum(len(row) > 1 for row in labels) / max(len(labels), 1)),
        "imbalance_ratio": float(max(nonzero) / min(nonzero)) if nonzero else 0.0,
    }


def dataset_statistics(settings: Settings | None = None) -> dict:
    """The `stats` command's document: the data source and every split's statistics."""
    settings = settings or get_settings()
    data = load_goemotions(settings)
    names = label_names(settings)
    return {"source": settings.data_source, "splits": {s: split_statistics(data[s], names) for s in SPLITS}}


def raw_label_frame(stats: dict) -> "pandas.DataFrame":  # noqa: F821
    """Long table split/emotion/ekman/count from `dataset_statistics` output, for the 28-label charts."""
    import pandas as pd

    rows = [{"split": split, "emotion": emotion, "ekman": EKMAN_CLASSES[RAW_TO_EKMAN[emotion]], "count": count}
            for split, s in stats["splits"].items() for emotion, count in s["raw"].items()]
    return pd.DataFrame(rows)


def ekman_frame(stats: dict) -> "pandas.DataFrame":  # noqa: F821
    """Long table split/class/count/share (of the split's examples) from `dataset_statistics` output."""
    import pandas as pd

    rows = [{"split": split, "class": name, "count": count, "share": count / max(sum(s["ekman"].values()), 1)}
            for split, s in stats["splits"].items() for name, count in s["ekman"].items()]
    return pd.DataFrame(rows)


def emotions_by_frequency(stats: dict, split: str = "train") -> list[str]:
    """The raw label names, most frequent first in `split` (ties in label order): one row order for every facet."""
    counts = stats["splits"][split]["raw"]
    return sorted(counts, key=lambda name: -counts[name])


def length_histogram(lengths: "pandas.DataFrame", step: int = 2, clip: int = 80) -> "pandas.DataFrame":  # noqa: F821
    """Token lengths binned per split: split, start, end, examples, share (of the split's examples, so splits of
    different sizes compare). Lengths of `clip` or more fall in the last bin. A few hundred rows instead of one per
    example, so the browser is not sent every length."""
    import pandas as pd

    columns = ["split", "start", "end", "examples", "share"]
    if lengths.empty:
        return pd.DataFrame(columns=columns)
    starts = (lengths["tokens"].clip(upper=clip) // step) * step
    counts = starts.groupby(lengths["split"]).value_counts().rename("examples").reset_index()
    counts.columns = ["split", "start", "examples"]
    counts["share"] = counts["examples"] / counts.groupby("split")["examples"].transform("sum")
    counts["end"] = counts["start"] + step
    order = {split: i for i, split in enumerate(SPLITS)}
    counts = counts.sort_values(["split", "start"], key=lambda c: c.map(order) if c.name == "split" else c)
    return counts[columns].reset_index(drop=True)


def browse(split, ekman: str | None = None, raw: Sequence[str] = (), contains: str = "", n: int = 50,
           seed: int = 0, names: Sequence[str] = GOEMOTIONS_LABELS) -> tuple["pandas.DataFrame", int]:  # noqa: F821
    """(sample, number of matches): a random sample of a split's examples filtered by Ekman class,
    raw labels (any of) and a substring."""
    frame = split.to_pandas()
    keep = np.ones(len(frame), dtype=bool)
    if ekman:
        keep &= frame["label"].to_numpy() == (EKMAN_CLASSES.index(ekman) if ekman in EKMAN_CLASSES else -1)
    if raw:
        wanted = {names.index(r) for r in raw}
        keep &= np.array([bool(wanted.intersection(row)) for row in frame["labels"]])
    if contains.strip():
        keep &= frame["text"].str.contains(contains.strip(), case=False, regex=False).to_numpy()
    matches = frame[keep]
    sample = matches.sample(n=min(n, len(matches)), random_state=seed) if len(matches) else matches
    sample = sample.assign(ekman=[EKMAN_CLASSES[i] for i in sample["label"]],  # named for the sample alone
                           **{"raw labels": [", ".join(names[i] for i in row) for row in sample["labels"]]})
    return sample[["text", "ekman", "raw labels", "id"]].reset_index(drop=True), int(len(matches))
