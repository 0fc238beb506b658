"""safetensors files (weights, stored probabilities) checked without loading them: the tensor names and shapes
from the header alone, against the file's size, so a damaged or truncated file is refused before anything is
allocated."""

from __future__ import annotations

from pathlib import Path

from .schemas import Unreadable, is_whole, loads_strict

MAX_HEADER_BYTES = 100 << 20  # safetensors' own limit on the header


def tensor_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """The tensor names and shapes of a safetensors file, from its header alone (nothing is allocated for the
    tensors), checked against the file's size. Unreadable when the header is damaged."""
    name = Path(path).name
    try:
        with open(path, "rb") as handle:
            size_bytes = handle.read(8)
            length = int.from_bytes(size_bytes, "little") if len(size_bytes) == 8 else -1
            if not 0 < length <= MAX_HEADER_BYTES:
                raise Unreadable(f"{name} has no safetensors header")
            header_text = handle.read(length)
            total = Path(path).stat().st_size
    except OSError as exc:
        raise Unreadable(f"{name} cannot be read ({exc.strerror or type(exc).__name__})") from None
    try:
        header = loads_strict(header_text.decode("utf-8"))
    except ValueError:
        raise Unreadable(f"{name}: its safetensors header is not JSON") from None
    if not isinstance(header, dict):
        raise Unreadable(f"{name}: its safetensors header is not an object")
    shapes, end = {}, 0
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        shape = entry.get("shape") if isinstance(entry, dict) else None
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(shape, list) and all(is_whole(n) and n >= 0 for n in shape)
                and isinstance(offsets, list) and len(offsets) == 2 and all(is_whole(n) for n in offsets)):
            raise Unreadable(f"{name}: tensor '{key[:60]}' has no valid shape and offsets")
        shapes[key], end = tuple(shape), max(end, offsets[1])
    if 8 + length + end > total:
        raise Unreadable(f"{name} is truncated ({total:,} bytes, its header needs {8 + length + end:,})")
    return shapes
