"""Numbers as Caddy reads them (Go's strconv.Atoi): an optional sign and ASCII digits, within a
64-bit integer; anything else is no number.

Python's int() is no stand-in: it takes other scripts' digits (`٢٠٠`), `1_000` and spaces, and
refuses more than 4300 digits with a ValueError; `str.isdigit()` takes `²`, which int() refuses.
"""
from __future__ import annotations

import re
from typing import Optional

_ATOI = re.compile(r"[+-]?[0-9]{1,19}")


def atoi(text) -> Optional[int]:
    """strconv.Atoi: the value, or None where Go returns an error."""
    if not isinstance(text, str) or not _ATOI.fullmatch(text):
        return None
    value = int(text)
    return value if -(1 << 63) <= value < (1 << 63) else None
