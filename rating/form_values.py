"""Numbers typed into forms or sent to the API: the usual clear message for odd values.

nan, inf, 1e309, booleans, fractions and text are refused with a message that names the field,
never with a raw Python exception (int(float("nan")) raises ValueError, int(float("inf"))
OverflowError).
"""
from __future__ import annotations

import math
import re

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def finite_number(value: object) -> float | None:
    """The value as a finite float, or None when it is not one (nan, inf, text, bool, None)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def whole_number(value: object, what: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """`value` as an int, or ValueError("<what> must be a whole number ...")."""
    number = finite_number(value)
    bounds = (f" from {minimum} to {maximum}" if minimum is not None and maximum is not None
              else f" of at least {minimum}" if minimum is not None else "")
    if number is None or number != int(number) or (minimum is not None and number < minimum) or \
            (maximum is not None and number > maximum):
        raise ValueError(f"{what} must be a whole number{bounds}, not {str(value)[:20]!r}.")
    return int(number)


def has_control_characters(text: str) -> bool:
    """True when `text` holds NUL or another control character (tab and newlines are fine)."""
    return bool(_CONTROL.search(text))
