"""The units of scores: losses are in nats per token or character (natural logarithm);
bits are nats divided by LN2. Plain numbers only, so any module can import it."""

from __future__ import annotations

import math

LN2 = math.log(2)  # nats in one bit: bits = nats / LN2


def plain_number(value: float) -> str:
    """A number as a setting shows it, without an exponent: whole numbers with thousands
    separators (4,096; 2,147,483,647), others in up to six significant digits (0.95,
    0.000001)."""
    if float(value).is_integer():
        return f"{int(value):,}"
    digits = f"{value:,.6g}"
    if "e" not in digits:
        return digits
    return f"{float(digits):.{max(0, -math.floor(math.log10(abs(float(digits)))) + 5)}f}".rstrip("0").rstrip(".")
