"""CSV for people: every CSV a user downloads or a command prints goes through here, so that no cell can start a
formula when a spreadsheet opens it (CSV injection). Files the library reads back itself (a run's
test_predictions.csv) keep their texts exactly and are not written through here."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any, Iterable, Sequence

if TYPE_CHECKING:
    import pandas as pd

# A cell starting with one of these is run as a formula by spreadsheet programs.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Text that would start a formula gets a leading single quote, which spreadsheets show as text; numbers and
    other values are left alone."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells and column names cannot start a formula. Numeric columns are left alone."""
    import pandas as pd

    copy = frame.copy()
    for column in copy.columns:
        if not pd.api.types.is_numeric_dtype(copy[column]):
            copy[column] = copy[column].map(safe_cell)
    copy.columns = [safe_cell(str(c)) for c in copy.columns]
    return copy


def frame_csv(frame: pd.DataFrame) -> str:
    """A table as spreadsheet-safe CSV text."""
    return spreadsheet_safe(frame).to_csv(index=False)


def rows_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Rows as spreadsheet-safe CSV text, header first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([safe_cell(str(h)) for h in header])
    writer.writerows([[safe_cell(cell) for cell in row] for row in rows])
    return buffer.getvalue()
