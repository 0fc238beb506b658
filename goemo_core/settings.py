"""Configuration from the environment (see the README's table). Read afresh on every call, so tests can change it."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

HUB_DATASET = "google-research-datasets/go_emotions"
HUB_CONFIG = "simplified"


@dataclass(frozen=True)
class Settings:
    home: Path
    data_dir: Path | None
    optuna_storage: str
    device: str
    pretrained: str | None
    nltk_data: str | None

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def data_source(self) -> str:
        """Human-readable description of where the data comes from."""
        if self.data_dir is not None:
            return f"local folder {self.data_dir}"
        return f"Hugging Face hub ({HUB_DATASET}, {HUB_CONFIG})"


def get_settings() -> Settings:
    home = Path(os.environ.get("GOEMO_HOME") or "artifacts").expanduser().absolute()
    data_dir = os.environ.get("GOEMO_DATA_DIR") or None
    storage = os.environ.get("GOEMO_OPTUNA_STORAGE") or f"sqlite:///{home / 'optuna.db'}"
    device = (os.environ.get("GOEMO_DEVICE") or "auto").strip().lower()
    return Settings(
        home=home,
        data_dir=Path(data_dir).expanduser().absolute() if data_dir else None,
        optuna_storage=storage,
        device=device,
        pretrained=os.environ.get("GOEMO_PRETRAINED") or None,
        nltk_data=os.environ.get("NLTK_DATA") or None,
    )


def ensure_home(settings: Settings | None = None) -> Path:
    """Create the artifacts folder, or explain why it cannot be written."""
    from .errors import MissingResource

    settings = settings or get_settings()
    try:
        settings.runs_dir.mkdir(parents=True, exist_ok=True)
        settings.cache_dir.mkdir(parents=True, exist_ok=True)
        probe = settings.home / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise MissingResource(
            f"The artifacts folder {settings.home} is not writable ({exc.strerror or exc}). "
            "Set GOEMO_HOME to a folder you can write to."
        ) from None
    return settings.home


def resolve_device(name: str | None = None) -> str:
    """'auto' → 'cuda' when a GPU is visible, else 'cpu'. Refuses 'cuda' without a GPU."""
    import torch

    from .errors import InvalidConfig

    name = (name or get_settings().device or "auto").lower()
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InvalidConfig(f"device: '{name}' was asked for but no CUDA GPU is visible; use 'cpu' or 'auto'.")
        return name
    raise InvalidConfig(f"device: unknown device '{name}' (expected auto, cpu or cuda).")


def describe_device(name: str | None = None) -> str:
    """'CPU' or the GPU's name, for the sidebar and run configs."""
    import torch

    try:
        device = resolve_device(name)
    except Exception as exc:  # the sidebar must still render
        return f"unavailable ({exc})"
    if device.startswith("cuda"):
        return f"GPU: {torch.cuda.get_device_name(torch.device(device))}"
    return "CPU"


_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<password>[^@\s]*)(?P<tail>@)")


def mask_url(url: str) -> str:
    """Hide the password of a database URL: postgresql://user:secret@host → postgresql://user:***@host."""
    return _URL_PASSWORD.sub(lambda m: f"{m['head']}***{m['tail']}", url)
