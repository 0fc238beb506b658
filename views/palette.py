"""One fixed colour per Ekman class, so a class looks the same in every chart of the app."""

from __future__ import annotations

import altair as alt

# In the class order of goemo_core.data's EKMAN_CLASSES (a test holds them together): conventional hues (anger red,
# sadness blue, joy gold, …) and a grey for neutral.
EKMAN_COLORS: dict[str, str] = {
    "anger": "#d62728",
    "disgust": "#6b8e23",
    "fear": "#9467bd",
    "joy": "#f2b701",
    "sadness": "#1f77b4",
    "surprise": "#ff7f0e",
    "neutral": "#8c8c8c",
}


def ekman_scale() -> alt.Scale:
    """The colour scale of a field holding Ekman class names."""
    return alt.Scale(domain=list(EKMAN_COLORS), range=list(EKMAN_COLORS.values()))


def ekman_color(field: str = "ekman", legend: alt.Legend | None = None, title: str = "Ekman class") -> alt.Color:
    """A colour channel over `field` (Ekman class names) with the fixed palette; no legend unless one is given."""
    return alt.Color(f"{field}:N", scale=ekman_scale(), legend=legend, title=title)


def text_color(background: str) -> str:
    """Black or white, whichever reads better on `background` (#rrggbb), for labels drawn on a class's colour."""
    red, green, blue = (int(background[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"
