"""Numbers as haproxy's configuration writes them: ASCII digits only, and never so many that
Python's int() refuses them (more than 4300 digits raise ValueError) or that they mean nothing.

`str.isdigit()` is no test for this: it takes `²` and `①`, which int() refuses, and int() takes
other scripts' digits (`٢٠٠`) and `1_000`, which haproxy does not.
"""
from __future__ import annotations

import re
from typing import Optional

_DIGITS = re.compile(r"[0-9]{1,18}")


def small_int(text: str) -> Optional[int]:
    """The value of `text` when it is 1 to 18 ASCII digits (anything haproxy stores in a 64-bit
    integer), else None."""
    return int(text) if isinstance(text, str) and _DIGITS.fullmatch(text) else None
