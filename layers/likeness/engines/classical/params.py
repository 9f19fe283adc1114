"""Reading and validating request params (pure Python, no numpy).

Every bad value raises ``EngineError(code="invalid_parameter")`` with a reason that names the
param and what is allowed, so the job's failure tells the caller what to change.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from likeness.engines.base import EngineError, EngineRequest
from likeness.engines.classical.capabilities import (
    ASPECT_RATIOS,
    MAX_OUTPUT_SIDE,
    MIN_OUTPUT_SIDE,
    OUTPUT_FORMATS,
    STYLES,
)
from likeness.engines.sizes import RESOLUTION_SIZES

__all__ = [
    "INVALID_PARAMETER",
    "with_request_fields",
    "OutputOptions",
    "invalid",
    "parse_aspect_ratio",
    "parse_choice",
    "parse_color",
    "parse_float",
    "parse_int",
    "parse_output_options",
]

INVALID_PARAMETER = "invalid_parameter"

_HEX_COLOR = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_FORMAT_ALIASES = {"jpg": "jpeg"}


def invalid(reason: str) -> EngineError:
    return EngineError(reason, code=INVALID_PARAMETER)


def _listing(values: Sequence[Any]) -> str:
    return ", ".join(str(v) for v in values)


def parse_choice(params: Mapping[str, Any], name: str, allowed: Sequence[str], default: str) -> str:
    value = params.get(name, default)
    if value is None:
        return default
    text = str(value).strip().lower() if isinstance(value, str) else None
    if text is None or text not in allowed:
        raise invalid(f"{name} must be one of {_listing(allowed)}; got {value!r}")
    return text


def parse_int(
    params: Mapping[str, Any], name: str, default: int | None, *, minimum: int, maximum: int
) -> int | None:
    value = params.get(name, default)
    if value is None:
        return None
    # bool is an int subclass; True is not a size
    whole = isinstance(value, int) and not isinstance(value, bool)
    if isinstance(value, float) and value.is_integer():
        whole, value = True, int(value)
    if not whole:
        raise invalid(f"{name} must be a whole number from {minimum} to {maximum}; got {value!r}")
    if not minimum <= value <= maximum:
        raise invalid(f"{name} must be from {minimum} to {maximum}; got {value}")
    return int(value)


def parse_float(
    params: Mapping[str, Any], name: str, default: float | None, *, minimum: float, maximum: float
) -> float | None:
    value = params.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise invalid(f"{name} must be a number from {minimum:g} to {maximum:g}; got {value!r}")
    if not minimum <= value <= maximum:
        raise invalid(f"{name} must be from {minimum:g} to {maximum:g}; got {value:g}")
    return float(value)


def parse_color(value: Any, name: str) -> tuple[int, int, int]:
    """'#RRGGBB', 'RRGGBB' or '#RGB' -> (r, g, b)."""
    match = _HEX_COLOR.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise invalid(f"{name} must be a hex colour like '#ffffff' or '#fff'; got {value!r}")
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    r, g, b = (int(digits[i : i + 2], 16) for i in (0, 2, 4))
    return r, g, b


def parse_aspect_ratio(value: Any, name: str = "aspect_ratio") -> tuple[int, int]:
    """One of ``ASPECT_RATIOS`` -> (width units, height units)."""
    text = value.strip() if isinstance(value, str) else None
    if text not in ASPECT_RATIOS:
        raise invalid(f"{name} must be one of {_listing(ASPECT_RATIOS)}; got {value!r}")
    w, h = text.split(":")
    return int(w), int(h)


@dataclass(frozen=True)
class OutputOptions:
    """The output params every image operation shares."""

    format: str = "png"  # png | jpeg | webp
    size: int | None = None  # longest side in px; None keeps the operation's natural size
    aspect_ratio: tuple[int, int] | None = None
    background: tuple[int, int, int] | None = None  # replace the background with this colour
    style: str = "natural"

    @property
    def content_type(self) -> str:
        return f"image/{self.format}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "size": self.size,
            "aspect_ratio": f"{self.aspect_ratio[0]}:{self.aspect_ratio[1]}" if self.aspect_ratio else None,
            "background": "#{:02x}{:02x}{:02x}".format(*self.background) if self.background else None,
            "style": self.style,
        }


def parse_output_options(
    params: Mapping[str, Any],
    *,
    default_size: int | None = None,
    default_aspect: str | None = None,
    max_side: int = MAX_OUTPUT_SIDE,
) -> OutputOptions:
    raw_format = params.get("format", "png")
    if isinstance(raw_format, str):
        raw_format = _FORMAT_ALIASES.get(raw_format.strip().lower(), raw_format.strip().lower())
    fmt = parse_choice({"format": raw_format}, "format", OUTPUT_FORMATS, "png")
    size = parse_int(params, "size", default_size, minimum=MIN_OUTPUT_SIDE, maximum=max_side)
    aspect_value = params.get("aspect_ratio", default_aspect)
    aspect = parse_aspect_ratio(aspect_value) if aspect_value is not None else None
    background_value = params.get("background")
    background = parse_color(background_value, "background") if background_value is not None else None
    style = parse_choice(params, "style", STYLES, "natural")
    return OutputOptions(format=fmt, size=size, aspect_ratio=aspect, background=background, style=style)


def with_request_fields(request: EngineRequest) -> dict[str, Any]:
    """The request's first-class fields as this engine's params (they win over params)."""
    params = dict(request.params)
    first_class = {
        "count": request.count if request.count != 1 else None,
        "seed": request.seed,
        "aspect_ratio": request.aspect_ratio if request.aspect_ratio != "auto" else None,
        "duration": request.duration,
        "garment_backs": dict(request.garment_backs) or None,
    }
    params.update({name: value for name, value in first_class.items() if value is not None})
    if request.resolution in RESOLUTION_SIZES and "size" not in params:
        long_side, exact = RESOLUTION_SIZES[request.resolution]
        params["size"] = long_side
        if exact is not None and "aspect_ratio" not in params:
            divisor = math.gcd(*exact)
            params["aspect_ratio"] = f"{exact[0] // divisor}:{exact[1] // divisor}"
    return params
