"""Output sizes by name, shared by every surface and engine (light: no numpy)."""

from __future__ import annotations

# resolution -> (long side in px, exact (width, height) or None)
RESOLUTION_SIZES: dict[str, tuple[int, tuple[int, int] | None]] = {
    "720p": (1280, None),
    "1K": (1024, None),
    "768X1024": (1024, (768, 1024)),
    "1024X1280": (1280, (1024, 1280)),
    "2K": (2048, None),
    "4K": (4096, None),
}


def ratio_of(aspect_ratio: str | None) -> float | None:
    """width / height of "W:H"; None for "auto" or nothing."""
    if not aspect_ratio or aspect_ratio == "auto":
        return None
    width, _, height = aspect_ratio.partition(":")
    return int(width) / int(height)


def output_size(
    resolution: str | None, aspect_ratio: str | None, *, default_long_side: int = 1024
) -> tuple[int, int]:
    """The (width, height) a resolution and aspect ratio ask for (square when no ratio is given)."""
    long_side, exact = RESOLUTION_SIZES.get(resolution or "", (default_long_side, None))
    if exact is not None and ratio_of(aspect_ratio) is None:
        return exact
    ratio = ratio_of(aspect_ratio) or 1.0
    if ratio >= 1:
        return long_side, max(1, round(long_side / ratio))
    return max(1, round(long_side * ratio)), long_side
