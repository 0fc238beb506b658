"""What the Classify page needs beyond a Predictor: example sentences, batch input (pasted lines or an uploaded
file), and result tables (with a download that spreadsheets cannot run as formulas)."""

from __future__ import annotations

import csv
import os
from collections import Counter
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from ..data.goemotions import EKMAN_CLASSES
from ..errors import InvalidConfig
from ..runs.spreadsheet import frame_csv

if TYPE_CHECKING:
    import pandas as pd

MAX_ROWS = 20000  # texts classified at once
MAX_BYTES = 20 * 2**20  # the app's upload limit (.streamlit/config.toml maxUploadSize)
MAX_COLUMNS = 200  # a real table of texts has a few; a huge header must not reach the parser
MAX_COMMAS_PER_LINE = 10_000  # far more than any sentence holds; bounds the fields the parser builds per row
SHOWN_LINES = 10  # line numbers quoted in an error


def read_text_table(source: Any, max_rows: int = MAX_ROWS, *, max_bytes: int = MAX_BYTES,
                    max_columns: int = MAX_COLUMNS, name: str | None = None) -> pd.DataFrame:
    """Batch input from an uploaded file (a path or a file-like object) as a DataFrame with a `text` column and
    the file's other columns, or an InvalidConfig that says what is wrong (with line numbers).

    - a CSV file with a `text` column: a table; a row whose number of fields differs from the header's (say, a
      text with an unquoted comma) is refused with its line number rather than shifted into other columns;
      in a file whose only column is `text`, such a row is its whole line;
    - a .txt file, or a CSV file without a `text` column whose lines are not all alike (so not a table): one text
      per line.
    Size, rows and columns are bounded before anything is parsed into a table."""
    import pandas as pd

    if name is None:
        name = str(source) if isinstance(source, (str, os.PathLike)) else str(getattr(source, "name", "") or "")
    content = _read_bounded(source, max_bytes)
    if not content.strip():
        raise InvalidConfig("The file is empty.")
    if name.lower().endswith(".txt"):
        return pd.DataFrame({"text": _text_lines(content, max_rows)}, dtype=object)
    first = _first_row(content, max_columns)
    _check_line_widths(content)
    names = [str(c).strip().lstrip("\ufeff") for c in first]
    if "text" not in names:
        widths = _row_widths(content)
        if len(widths) == 1 and min(widths) >= 2 and sum(widths.values()) >= 2:  # alike rows: a table, no texts
            raise InvalidConfig(f"The CSV file has no 'text' column (columns found: {', '.join(names[:10])}). Name "
                                "the column of texts 'text', or upload a .txt file with one text per line.")
        return pd.DataFrame({"text": _text_lines(content, max_rows)}, dtype=object)
    return _table(content, _unique(names), max_rows)


def _read_bounded(source: Any, max_bytes: int) -> str:
    """At most max_bytes of the source as text (UTF-8; undecodable bytes replaced, a byte-order mark dropped)."""
    try:
        if isinstance(source, (str, os.PathLike)):
            with open(source, "rb") as handle:
                data = handle.read(max_bytes + 1)
        else:
            if hasattr(source, "seek"):
                source.seek(0)  # the page may read the same upload on every rerun
            data = source.read(max_bytes + 1)
    except OSError as exc:
        raise InvalidConfig(f"The file could not be read ({exc.strerror or exc}).") from None
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    if len(data) > max_bytes:
        raise InvalidConfig(f"The file is larger than {max_bytes / 2**20:.0f} MB; split it into smaller files.")
    # One line end, so every step below numbers lines alike (a CR inside a text is whitespace anyway).
    return data.decode("utf-8-sig", errors="replace").replace("\x00", " ").replace("\r\n", "\n").replace("\r", "\n")


def _lines(content: str) -> Iterator[str]:
    """The lines of `content` with their "\\n", one at a time (what the csv reader reads; no copy of the whole)."""
    start = 0
    while start < len(content):
        end = content.find("\n", start)
        end = len(content) if end < 0 else end + 1
        yield content[start:end]
        start = end


def _check_line_widths(content: str) -> None:
    """Refuse a line with so many commas that parsing it would build a huge row (a scan, no parsing)."""
    start, number = 0, 1
    while start <= len(content):
        end = content.find("\n", start)
        end = len(content) if end < 0 else end
        commas = content.count(",", start, end)
        if commas > MAX_COMMAS_PER_LINE:
            raise InvalidConfig(f"Line {number} of the CSV file has {commas:,} commas; a row of texts has far fewer "
                                f"(at most {MAX_COMMAS_PER_LINE:,} are read). Is it the right file?")
        start, number = end + 1, number + 1


def _first_row(content: str, max_columns: int) -> list[str]:
    """The header: the first line's fields, refused when there are more than max_columns (counted before the
    csv module builds them)."""
    content = content.lstrip("\n")
    commas = content.count(",", 0, content.find("\n") if "\n" in content else len(content))
    if commas >= max_columns * 4:  # far past the limit even with quoted commas: no need to parse
        raise InvalidConfig(f"The CSV file has about {commas + 1:,} columns; at most {max_columns} are read. Keep "
                            "the 'text' column and a few others.")
    try:
        first = next(csv.reader(_lines(content)), [])
    except csv.Error as exc:
        raise InvalidConfig(f"The CSV file could not be parsed: line 1: {exc}.") from None
    if len(first) > max_columns:
        raise InvalidConfig(f"The CSV file has {len(first):,} columns; at most {max_columns} are read. Keep the "
                            "'text' column and a few others.")
    return first


def _row_widths(content: str) -> Counter:
    """How many rows have each number of fields (lenient: only used to tell a table from lines of text)."""
    widths: Counter = Counter()
    try:
        for fields in csv.reader(_lines(content)):
            if fields and any(f.strip() for f in fields):
                widths[len(fields)] += 1
    except csv.Error:
        widths[0] += 1  # not even lenient CSV: lines of text
    return widths


def _text_lines(content: str, max_rows: int) -> list[str]:
    """One text per non-blank line; a line that is one quoted CSV field is unquoted."""
    texts = []
    for line in content.split("\n"):
        text = line.strip()
        if not text:
            continue
        if len(text) > 1 and text[0] == text[-1] == '"':
            try:
                fields = next(csv.reader([text], strict=True))
            except csv.Error:
                fields = []
            if len(fields) == 1:
                text = fields[0]
        texts.append(text)
    if len(texts) > max_rows:
        raise InvalidConfig(f"The file has {len(texts):,} lines of text; at most {max_rows:,} are classified at "
                            "once. Split it into smaller files.")
    return texts


def _unique(names: list[str]) -> list[str]:
    """Column names made unique ('a', 'a.1', …) and never empty, as spreadsheets export them."""
    seen: Counter = Counter()
    unique = []
    for i, name in enumerate(names):
        name = name or f"column {i + 1}"
        unique.append(name if not seen[name] else f"{name}.{seen[name]}")
        seen[name] += 1
    return unique


def _table(content: str, names: list[str], max_rows: int) -> pd.DataFrame:
    """The rows of a CSV file with a `text` column, each with as many fields as the header."""
    import pandas as pd

    reader = csv.reader(_lines(content), strict=True)
    lines = content.split("\n")  # numbered as the csv reader numbers them
    only_text = names == ["text"]
    rows, malformed, count, header_seen = [], [], 0, False
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise InvalidConfig(f"The CSV file could not be parsed: line {reader.line_num}: {exc}. Quote texts "
                                'that hold commas or quotes ("like ""this"", ok"), or upload a .txt file with one '
                                "text per line.") from None
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # a blank line
        if not header_seen:
            header_seen = True
            continue
        count += 1
        if len(fields) != len(names):
            if only_text and reader.line_num == start:
                fields = [lines[start - 1].strip()]  # a one-column file of texts: the whole line is the text
            else:
                malformed.append(start)
                continue
        if count <= max_rows:
            rows.append(fields)
    if count > max_rows:
        raise InvalidConfig(f"The CSV file has {count:,} rows; at most {max_rows:,} are classified at once. "
                            "Split it into smaller files.")
    if malformed:
        shown = ", ".join(str(n) for n in malformed[:SHOWN_LINES]) + (", …" if len(malformed) > SHOWN_LINES else "")
        raise InvalidConfig(f"The CSV file has {len(malformed):,} malformed row(s), with a number of fields "
                            f"different from the header's {len(names)}: line(s) {shown}. Quote texts that hold "
                            'commas ("like, this"), or upload a .txt file with one text per line.')
    if not rows:
        raise InvalidConfig("The CSV file has a header but no rows of texts.")
    return pd.DataFrame(rows, columns=names, dtype=object)


def pasted_lines(text: str, max_rows: int = MAX_ROWS) -> list[str]:
    """Pasted batch input: one text per non-blank line, at most max_rows of them."""
    texts = split_lines(text)
    if len(texts) > max_rows:
        raise InvalidConfig(f"{len(texts):,} lines were pasted; at most {max_rows:,} are classified at once.")
    return texts


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


def probability_frame(results_by_model: dict[str, dict], classes: Sequence[str] = EKMAN_CLASSES) -> pd.DataFrame:
    """Long format of one text's probabilities: model, class, probability (rows in class order)."""
    import pandas as pd

    rows = [{"model": model, "class": name, "probability": float(result["probabilities"][name])}
            for model, result in results_by_model.items() if result.get("probabilities")
            for name in classes]
    return pd.DataFrame(rows, columns=["model", "class", "probability"])


def results_table(results_by_model: dict[str, list[dict]], inputs: pd.DataFrame | None = None,
                  classes: Sequence[str] = EKMAN_CLASSES) -> pd.DataFrame:
    """Batch results, one row per (text, model): predicted label, its confidence, each class's probability, a note;
    for a multi-label task also `over threshold`, the labels at or over the run's thresholds. With `inputs` (the
    uploaded table, one row per text in the same order) its other columns follow the text, renamed
    'input <name>' where a result column has the same name."""
    import pandas as pd

    multi_label = any("labels" in r for results in results_by_model.values() for r in results)
    result_columns = ["model", "predicted", *(["over threshold"] if multi_label else []), "confidence", *classes,
                      "note"]
    extra = [] if inputs is None else [c for c in inputs.columns if c != "text"]
    renamed = {c: f"input {c}" if c in result_columns else c for c in extra}
    rows = []
    for model, results in results_by_model.items():
        for i, result in enumerate(results):
            probabilities = result.get("probabilities") or {}
            rows.append({"text": result["text"], **{renamed[c]: inputs[c].iat[i] for c in extra},
                         "model": model, "predicted": result.get("label"),
                         **({"over threshold": ", ".join(result.get("labels") or [])} if multi_label else {}),
                         "confidence": max(probabilities.values()) if probabilities else None,
                         **{name: probabilities.get(name) for name in classes},
                         "note": result.get("note")})
    return pd.DataFrame(rows, columns=["text", *renamed.values(), *result_columns])


def results_csv(frame: pd.DataFrame) -> str:
    """The batch results as CSV for download, spreadsheet-safe."""
    return frame_csv(frame)
