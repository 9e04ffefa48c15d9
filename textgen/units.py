"""The units of scores: losses are in nats per token or character (natural logarithm);
bits are nats divided by LN2. Plain numbers only, so any module can import it."""

from __future__ import annotations

import math

LN2 = math.log(2)  # nats in one bit: bits = nats / LN2
