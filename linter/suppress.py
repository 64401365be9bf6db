"""Inline suppressions, for the findings a team has reviewed and accepts.

    add_header X-Debug 1;  # matrix-proxy-lint: ignore[MPL501] debug location, headers not needed
    # matrix-proxy-lint: ignore[MPL101,MPL106] the homeserver is not Synapse
    add_header Access-Control-Allow-Origin *;
    # matrix-proxy-lint: ignore-file[MPL404] body limits are set by the ingress in front

A comment on the finding's line, or alone on the line before it, silences the listed codes there;
`ignore-file` silences them anywhere in that file. Codes are required (no blanket ignore), so a new
kind of problem is never hidden by an old comment. Works for all four servers: they all use `#`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from linter.detect import read_text

_PRAGMA = re.compile(r"#\s*matrix-proxy-lint:\s*(ignore|ignore-file)\[([A-Z0-9, ]+)\]")


@dataclass
class Suppressions:
    by_line: dict = field(default_factory=dict)    # line -> set of codes
    file_wide: set = field(default_factory=set)

    def covers(self, code: str, line: int) -> bool:
        return code in self.file_wide or code in self.by_line.get(line, ())


def read(path: str) -> Suppressions:
    out = Suppressions()
    text = read_text(path)
    if not text or "matrix-proxy-lint:" not in text:
        return out
    for number, line in enumerate(text.splitlines(), 1):
        m = _PRAGMA.search(line)
        if not m:
            continue
        codes = {c.strip() for c in m.group(2).split(",") if c.strip()}
        if m.group(1) == "ignore-file":
            out.file_wide |= codes
            continue
        own_line = not line[:m.start()].strip()
        target = number + 1 if own_line else number
        out.by_line.setdefault(target, set()).update(codes)
    return out


def apply(findings: list) -> list:
    """The findings no suppression comment covers."""
    cache: dict = {}
    kept = []
    for f in findings:
        if f.span.path not in cache:
            cache[f.span.path] = read(f.span.path)
        if not cache[f.span.path].covers(f.rule.code, f.span.line):
            kept.append(f)
    return kept
