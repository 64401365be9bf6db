"""Recognise and split `nginx -T` output into the files it contains.

`nginx -T` prints every configuration file it read as

    # configuration file /etc/nginx/nginx.conf:
    <the file's text>
    <an extra newline>

(stderr may add "nginx: the configuration file ... syntax is ok" lines in front when both
streams were captured). Each section becomes a virtual file that keeps the dump's own line
numbers, so positions point into the dump a user actually has.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

_MARKER = re.compile(r"^# configuration file (.+?):[ \t\r]*$", re.MULTILINE)


@dataclass(frozen=True)
class Section:
    path: str        # the file name nginx printed, e.g. /etc/nginx/conf.d/matrix.conf
    text: str
    first_line: int  # line of the dump on which `text` starts


def split_dump(text: str) -> Optional[list[Section]]:
    """The sections of an `nginx -T` dump, or None when `text` is not one."""
    first = _MARKER.search(text)
    if first is None:
        return None
    for line in text[:first.start()].splitlines():
        if line.strip() and not line.startswith("nginx: "):
            return None  # configuration before the first marker: an ordinary file
    markers = list(_MARKER.finditer(text, first.start()))
    sections = []
    line = text.count("\n", 0, first.start()) + 1  # line number of the current marker
    for i, marker in enumerate(markers):
        body_start = marker.end() + 1  # skip the marker's newline
        body_end = markers[i + 1].start() if i + 1 < len(markers) else len(text)
        body = text[body_start:body_end] if body_start <= body_end else ""
        sections.append(Section(marker.group(1), body, line + 1))
        line += text.count("\n", marker.start(), body_end)
    return sections
