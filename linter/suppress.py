"""Inline suppressions, for the findings a team has reviewed and accepts.

    add_header X-Debug 1;  # matrix-proxy-lint: ignore[MPL501] debug location, headers not needed
    # matrix-proxy-lint: ignore[MPL101,MPL106] the homeserver is not Synapse
    add_header Access-Control-Allow-Origin *;
    # matrix-proxy-lint: ignore-file[MPL404] body limits are set by the ingress in front

A comment on the finding's line, or alone on the line before it (several such comments in a row
all cover the line after them), silences the listed codes there; `ignore-file` silences them
anywhere in that file. Codes and a reason are required: a suppression without them, or naming
a rule that does not exist, silences nothing and is reported (MPL003), and one that silences
nothing is reported too (MPL002), as ruff's RUF100 does, so stale comments do not pile up. All
four servers use `#` comments.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from linter.detect import read_text
from linter.syntax import Span

UNUSED, INVALID = "MPL002", "MPL003"
_MARK = re.compile(r"#\s*matrix-proxy-lint:")
_PRAGMA = re.compile(r"#\s*matrix-proxy-lint:\s*(ignore|ignore-file)\[([^\]]*)\](.*)$")


@dataclass
class Pragma:
    path: str
    line: int                       # where the comment is
    column: int
    end_column: int
    target: Optional[int]           # the line it covers; None: the whole file
    codes: tuple = ()
    reason: str = ""
    problem: Optional[str] = None   # why it silences nothing (no codes, no reason, unknown code)
    used: set = field(default_factory=set)

    @property
    def span(self) -> Span:
        return Span(self.path, self.line, self.column, self.line, self.end_column)


def read(path: str) -> list:
    text = read_text(path)
    if not text or "matrix-proxy-lint:" not in text:
        return []
    lines = text.split("\n")
    out, waiting = [], []           # waiting: own-line pragmas before the line they cover
    for number, line in enumerate(lines, 1):
        mark = _MARK.search(line)
        if not mark:
            if line.strip():
                for p in waiting:
                    p.target = number
                waiting = []
            continue
        end = len(line.rstrip()) + 1
        p = Pragma(path, number, mark.start() + 1, end, number)
        m = _PRAGMA.search(line)
        if not m:
            p.problem = "write `matrix-proxy-lint: ignore[CODE] reason` (or ignore-file[CODE])"
        else:
            p.codes = tuple(c.strip() for c in m.group(2).split(",") if c.strip())
            p.reason = re.sub(r"^\s*(because\b)?\s*", "", m.group(3)).strip()
            if not p.codes:
                p.problem = "name the codes it silences: ignore[CODE,...]"
            elif not p.reason:
                p.problem = "give the reason after the codes: ignore[CODE] why this is accepted"
            if m.group(1) == "ignore-file":
                p.target = None
        out.append(p)
        if p.target is not None and not line[:mark.start()].strip():
            waiting.append(p)       # alone on its line: covers the next line that is not a comment
    return out


def apply(findings: list, files: list, known: set, ran: set) -> tuple:
    """(the findings no valid suppression covers, [(code, message, span)] about the comments in
    `files`: invalid ones, and valid ones that silenced nothing among the rules that `ran`)."""
    pragmas = {path: read(path) for path in dict.fromkeys(list(files) + [f.span.path for f in findings])}
    for items in pragmas.values():
        for p in items:
            unknown = [c for c in p.codes if c not in known]
            if p.problem is None and unknown:
                p.problem = f"no rule {', '.join(unknown)}"
    kept = []
    for f in findings:
        hit = next((p for p in pragmas[f.span.path] if p.problem is None and f.rule.code in p.codes
                    and (p.target is None or p.target == f.span.line)), None)
        if hit is None:
            kept.append(f)
        else:
            hit.used.add(f.rule.code)
    problems = []
    for path in files:
        for p in pragmas.get(path, ()):
            if p.problem is not None:
                problems.append((INVALID, f"this suppression silences nothing: {p.problem}", p.span))
                continue
            unused = [c for c in p.codes if c in ran and c not in p.used]
            if unused:
                where = "in this file" if p.target is None else f"on line {p.target}"
                problems.append((UNUSED, f"unused suppression: no {', '.join(unused)} finding {where}; "
                                         f"remove {'it' if len(unused) == len(p.codes) else ', '.join(unused)}",
                                 p.span))
    return kept, problems


def write_all(findings: list, reason: str, refuse: set) -> dict:
    """Add a suppression comment above every finding's line (codes grouped per line), keeping
    each line's indentation; {path: comments added}. Files in `refuse` are left alone."""
    by_file: dict = {}
    for f in findings:
        if f.span.path in refuse:
            continue
        by_file.setdefault(f.span.path, {}).setdefault(f.span.line, set()).add(f.rule.code)
    written = {}
    for path, lines_codes in by_file.items():
        with open(path, encoding="utf-8", errors="surrogateescape", newline="") as fh:
            lines = fh.read().split("\n")
        for number in sorted(lines_codes, reverse=True):      # bottom up: line numbers stay true
            line = lines[number - 1]
            indent = line[:len(line) - len(line.lstrip())]
            eol = "\r" if line.endswith("\r") else ""
            codes = ",".join(sorted(lines_codes[number]))
            lines.insert(number - 1, f"{indent}# matrix-proxy-lint: ignore[{codes}] {reason}{eol}")
        with open(path, "w", encoding="utf-8", errors="surrogateescape", newline="") as fh:
            fh.write("\n".join(lines))
        written[path] = len(lines_codes)
    return written
