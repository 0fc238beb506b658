"""Configuration from the environment (see the README's table). Read afresh on every call, so tests can change it."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, quote_plus

if TYPE_CHECKING:
    import sqlalchemy.engine

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


def ensure_folder(folder: Path) -> Path:
    """Create `folder` and its parents. A file where one of them should be a folder (a GOEMO_HOME entry replaced by
    mistake) is a one-line MissingResource naming it, never a traceback; nothing is removed to make room."""
    from .errors import MissingResource

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocking = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), folder)
        raise MissingResource(f"{blocking} is a file where a folder is expected; move or delete it (or set "
                              "GOEMO_HOME to another folder).") from None
    except OSError as exc:
        raise MissingResource(f"Cannot create the folder {folder} ({exc.strerror or exc}). Set GOEMO_HOME to a "
                              "folder you can write to.") from None
    return folder


def ensure_home(settings: Settings | None = None) -> Path:
    """Create the artifacts folder, or explain why it cannot be written."""
    from .errors import MissingResource

    settings = settings or get_settings()
    ensure_folder(settings.runs_dir)
    ensure_folder(settings.cache_dir)
    try:
        probe = settings.home / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise MissingResource(
            f"The artifacts folder {settings.home} is not writable ({exc.strerror or exc}). "
            "Set GOEMO_HOME to a folder you can write to."
        ) from None
    return settings.home


def effective_device(name: str | None = None) -> str:
    """The device a run really uses: 'auto' (or nothing) follows GOEMO_DEVICE, and where that is 'auto' too, a visible
    GPU ('cuda') else 'cpu'. Refuses 'cuda' without a GPU and unknown names. The one place 'auto' is decided."""
    import torch

    from .errors import InvalidConfig

    name = str(name or "auto").strip().lower()
    if name == "auto":
        name = get_settings().device or "auto"
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return "cpu"
    if name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
        if not torch.cuda.is_available():
            raise InvalidConfig(f"device: '{name}' was asked for but no CUDA GPU is visible; use 'cpu' or 'auto'.")
        if ":" in name and int(name[5:]) >= torch.cuda.device_count():
            raise InvalidConfig(f"device: '{name}' does not exist (this machine has {torch.cuda.device_count()} "
                                "GPU(s)).")
        return name
    raise InvalidConfig(f"device: unknown device '{name}' (expected auto, cpu, cuda or cuda:N).")


def describe_device(name: str | None = None) -> str:
    """'CPU' or the GPU's name, for the sidebar and run configs."""
    import torch

    try:
        device = effective_device(name)
    except Exception as exc:  # the sidebar must still render
        return f"unavailable ({exc})"
    if device.startswith("cuda"):
        return f"GPU: {torch.cuda.get_device_name(torch.device(device))}"
    return "CPU"


MASK = "***"
# query parameters whose value is a secret: password, passwd, pwd, sslpassword, secret, token, api_key, …
_SECRET_NAME = re.compile(r"password|passwd|pwd|secret|token|key", re.IGNORECASE)
# scheme://user:PASSWORD@: the password runs to the last @ of the word, since a raw @ or : inside it is common and
# hiding too much beats showing part of a password
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/\s]*:)(?P<secret>\S*)(?P<tail>@)")
_QUERY_SECRET = re.compile(r"(?P<head>[?&;][^=&;?#\s]*(?:password|passwd|pwd|secret|token|key)[^=&;?#\s]*=)"
                           r"(?P<secret>[^&;#\s]*)", re.IGNORECASE)
# libpq key=value connection strings (`host=h password=pw`), which drivers may quote in error texts
_CONNINFO_SECRET = re.compile(r"(?P<head>(?<![\w?&;])\w*?(?:password|passwd|pwd)\s*=\s*)"
                              r"(?P<secret>'(?:[^'\\]|\\.)*'|[^\s'&;]+)", re.IGNORECASE)
_MIN_REPLACED = 3  # shorter secrets are only masked inside URLs: replacing them everywhere would garble any text


def parse_url(url: str) -> "sqlalchemy.engine.URL | None":
    """SQLAlchemy's reading of a URL, or None where it fails or misplaces a raw @ of the password into the host or
    database (postgresql://u:p@ss@host/db reads as password 'p', host 'ss@host')."""
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
    except Exception:
        return None
    if (parsed.username is not None or parsed.password is not None) and any(
            "@" in (part or "") for part in (parsed.host, parsed.database)):
        return None
    return parsed


def _query_string(query) -> str:
    pairs = []
    for key, values in query.items():
        for value in (values if isinstance(values, tuple) else (values,)):
            shown = MASK if _SECRET_NAME.search(key) else quote_plus(value)
            pairs.append(f"{quote_plus(key)}={shown}")
    return "&".join(pairs)


def mask_url(url: str) -> str:
    """A storage URL fit to show: its password and secret query parameters (password=, token=, …) replaced by ***.
    postgresql://user:secret@host/db → postgresql://user:***@host/db; strings SQLAlchemy cannot read are masked by
    pattern."""
    parsed = parse_url(url)
    if parsed is None:
        return mask_text(url)
    if parsed.password is None and not any(_SECRET_NAME.search(key) for key in parsed.query):
        return url  # nothing secret: shown as written
    masked = parsed.set(query={}).render_as_string(hide_password=True)
    return f"{masked}?{_query_string(parsed.query)}" if parsed.query else masked


def url_secrets(url: str) -> set[str]:
    """The secret values in a URL, as written and decoded: its password and secret query parameters."""
    from urllib.parse import unquote, unquote_plus

    found: set[str] = set()
    parsed = parse_url(url)
    if parsed is not None:
        found.add(parsed.password or "")
        for key, values in parsed.query.items():
            if _SECRET_NAME.search(key):
                found |= set(values if isinstance(values, tuple) else (values,))
        found |= {quote_plus(s) for s in found} | {quote(s, safe="") for s in found}
    else:  # by pattern, query first (a raw @ in a query secret would end the password there)
        found |= {m["secret"] for m in _QUERY_SECRET.finditer(url)}
        found |= {m["secret"] for m in _URL_PASSWORD.finditer(_sub_mask(_QUERY_SECRET, url))}
        found |= {unquote(s) for s in found} | {unquote_plus(s) for s in found}
        # a parser's error may quote a piece on its own ("invalid literal for int(): 'pw@host'")
        found |= {piece for s in found for piece in re.split(r"[@:/?#&;]", s)}
    return {s for s in found if s and s != MASK}


def _sub_mask(pattern: re.Pattern, text: str) -> str:
    return pattern.sub(lambda m: m["head"] + MASK + (m.groupdict().get("tail") or ""), text)


def mask_text(text: str, url: str | None = None) -> str:
    """Any text (a log line, a driver's error) with the secrets of `url` and of every URL or connection string in
    it replaced by ***."""
    if url:
        text = text.replace(url, mask_url(url))
        for secret in sorted(url_secrets(url), key=len, reverse=True):
            if len(secret) >= _MIN_REPLACED:
                text = text.replace(secret, MASK)
    for pattern in (_QUERY_SECRET, _URL_PASSWORD, _CONNINFO_SECRET):  # a query secret may hold a raw @
        text = _sub_mask(pattern, text)
    return text
