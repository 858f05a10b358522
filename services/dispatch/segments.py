"""How many SMS segments a text takes: GSM 03.38 7-bit when every character is in the
default alphabet (extension characters count twice), otherwise UCS-2 (UTF-16 units)."""

from __future__ import annotations

import math
from typing import Literal

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("\f^{}\\[~]|€")

Encoding = Literal["gsm7", "ucs2"]


def encoding_of(text: str) -> Encoding:
    return "gsm7" if all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text) else "ucs2"


def count_segments(text: str) -> tuple[Encoding, int]:
    encoding = encoding_of(text)
    if encoding == "gsm7":
        units = sum(2 if c in GSM7_EXTENSION else 1 for c in text)
        single, multi = 160, 153
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi = 70, 67
    if units <= single:
        return encoding, 1
    return encoding, math.ceil(units / multi)
