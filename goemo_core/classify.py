"""What the Classify page needs beyond a Predictor: example sentences, batch input (pasted lines or an uploaded
file), and result tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .data import EKMAN_CLASSES
from .errors import InvalidConfig

if TYPE_CHECKING:
    import pandas as pd


def read_text_table(source, max_rows: int = 20000):
    """A pandas DataFrame with a `text` column from an uploaded CSV (path or file-like), or a clear error."""
    import pandas as pd

    try:
        frame = pd.read_csv(source, dtype=str, keep_default_na=False, encoding_errors="replace")
    except pd.errors.EmptyDataError:
        raise InvalidConfig("The CSV file is empty.") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidConfig(f"The CSV file could not be parsed: {str(exc).splitlines()[0][:200]}") from None
    if "text" not in frame.columns:
        cols = ", ".join(map(str, frame.columns[:10])) or "none"
        raise InvalidConfig(f"The CSV file has no 'text' column (columns found: {cols}).")
    if len(frame) > max_rows:
        raise InvalidConfig(f"The CSV file has {len(frame):,} rows; at most {max_rows:,} are classified at once. "
                            "Split it into smaller files.")
    return frame



# One sentence per class plus awkward inputs, for one-click tries on the Classify page.
EXAMPLE_SENTENCES = (
    "This is the best day of my life, thank you all so much!",
    "I can't believe they cancelled the show again. Ridiculous.",
    "I'm really scared about the exam tomorrow.",
    "My dog passed away this morning and I miss him already.",
    "Wait, what? I had no idea that was even possible!",
    "That is honestly disgusting, who would eat that?",
    "The meeting is moved to 3pm on Thursday.",
    "😂😂😂 🔥🔥",
    "Je suis tellement content de te voir !",
)


def split_lines(text: str) -> list[str]:
    """Pasted batch input: one text per non-blank line."""
    return [line.strip() for line in str(text or "").splitlines() if line.strip()]


def probability_frame(results_by_model: dict[str, dict]) -> pd.DataFrame:
    """Long format of one text's probabilities: model, class, probability (rows in class order)."""
    import pandas as pd

    rows = [{"model": model, "class": name, "probability": float(result["probabilities"][name])}
            for model, result in results_by_model.items() if result.get("probabilities")
            for name in EKMAN_CLASSES]
    return pd.DataFrame(rows, columns=["model", "class", "probability"])


def results_table(results_by_model: dict[str, list[dict]]) -> pd.DataFrame:
    """Batch results, one row per (text, model): predicted label, its confidence, the 7 probabilities, a note."""
    import pandas as pd

    rows = []
    for model, results in results_by_model.items():
        for result in results:
            probabilities = result.get("probabilities") or {}
            rows.append({"text": result["text"], "model": model, "predicted": result.get("label"),
                         "confidence": max(probabilities.values()) if probabilities else None,
                         **{name: probabilities.get(name) for name in EKMAN_CLASSES},
                         "note": result.get("note")})
    return pd.DataFrame(rows, columns=["text", "model", "predicted", "confidence", *EKMAN_CLASSES, "note"])
