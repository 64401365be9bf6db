"""`--fix` and `--diff`: mechanical fixes for findings whose remedy is one obvious edit.

A fix is a list of `Edit`s of the original text (a range replaced, or text inserted), so
comments, layout and line endings stay as they were. Fixers are looked up by (rule, server) and
work from the finding's span and the file's text; a finding whose text is not in the shape a
fixer expects gets no fix (never a guess). Edits that overlap an earlier edit are dropped, so
applying the fixes twice changes nothing more: the re-lint after `--fix` finds none of the fixed
findings. A file read from outside the checked tree is never edited.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Callable, Optional


@dataclass(frozen=True)
class Edit:
    """Replace [start, end) (1-based line and column; end exclusive) with `text`."""
    line: int
    column: int
    end_line: int
    end_column: int
    text: str
    description: str = ""


FIXERS: dict = {}


def fixer(code: str, *servers: str):
    def register(fn: Callable) -> Callable:
        for server in servers:
            FIXERS[(code, server)] = fn
        return fn
    return register


def _span_text(lines: list, span) -> Optional[str]:
    if span.end_line != span.line or not (1 <= span.line <= len(lines)):
        return None
    return lines[span.line - 1][span.column - 1:span.end_column - 1]


def _indent(line: str) -> str:
    return line[:len(line) - len(line.lstrip())]


def _eol(line: str) -> str:
    return "\r" if line.endswith("\r") else ""


def _insert_line_before(lines: list, line_no: int, text: str, description: str) -> Edit:
    line = lines[line_no - 1]
    return Edit(line_no, 1, line_no, 1, f"{_indent(line)}{text}{_eol(line)}\n", description)


def _delete_line(lines: list, line_no: int, description: str) -> Edit:
    return Edit(line_no, 1, line_no + 1, 1, "", description)


# -- nginx and Apache: CORS headers on every response ----------------------------------------

@fixer("MPL101", "nginx")
def _nginx_always(finding, lines):
    text = _span_text(lines, finding.span)
    m = re.fullmatch(r"(add_header\s+\S+\s+(?:\"[^\"]*\"|'[^']*'|[^\s;\"']+))(\s*);", text or "")
    if not m:
        return None
    at = finding.span.column + len(m.group(1))
    return [Edit(finding.span.line, at, finding.span.line, at, " always", "add `always`")]


@fixer("MPL101", "apache")
def _apache_always(finding, lines):
    text = _span_text(lines, finding.span)
    m = re.match(r"Header\s+(?=(?:set|add|append|merge|setifempty)\b)", text or "", re.I)
    if not m:
        return None
    at = finding.span.column + m.end()
    return [Edit(finding.span.line, at, finding.span.line, at, "always ", "add `always`")]


@fixer("MPL106", "nginx")
def _nginx_drop_duplicate_origin(finding, lines):
    text = _span_text(lines, finding.span)
    line = lines[finding.span.line - 1].rstrip("\r")
    if not text or not re.match(r"add_header\s+Access-Control-Allow-Origin\b", text, re.I) or line.strip() != text:
        return None     # not alone on its line: leave it to a person
    return [_delete_line(lines, finding.span.line, "drop the proxy's copy of Access-Control-Allow-Origin")]


# -- URI canonicalisation ------------------------------------------------------------------------

@fixer("MPL601", "apache")
def _apache_nocanon(finding, lines):
    text = _span_text(lines, finding.span)
    line = lines[finding.span.line - 1].rstrip("\r")
    if not text or not re.match(r"ProxyPass\s", text, re.I) or line.endswith("\\") or "nocanon" in text.lower():
        return None
    end = len(line) + 1
    return [Edit(finding.span.line, end, finding.span.line, end, " nocanon", "add `nocanon`")]


@fixer("MPL602", "apache")
def _apache_encoded_slashes(finding, lines):
    text = _span_text(lines, finding.span) or ""
    m = re.match(r"(AllowEncodedSlashes\s+)(\S+)", text, re.I)
    if m:
        start = finding.span.column + m.start(2)
        return [Edit(finding.span.line, start, finding.span.line, start + len(m.group(2)), "NoDecode",
                     "AllowEncodedSlashes NoDecode")]
    if re.match(r"<VirtualHost\b", text, re.I):
        after = finding.span.line + 1
        inner = next((l for l in lines[finding.span.line:] if l.strip()), "")
        indent = _indent(inner) if inner.strip() and not inner.lstrip().lower().startswith("</virtualhost") \
            else _indent(lines[finding.span.line - 1]) + "    "
        eol = _eol(lines[finding.span.line - 1])
        return [Edit(after, 1, after, 1, f"{indent}AllowEncodedSlashes NoDecode{eol}\n", "AllowEncodedSlashes NoDecode")]
    return None


@fixer("MPL702", "caddy")
def _caddy_handle(finding, lines):
    line = lines[finding.span.line - 1]
    m = re.match(r"(\s*)handle_path(\s)", line)
    if m:
        return [Edit(finding.span.line, m.end(1) + 1, finding.span.line, m.end(1) + 1 + len("handle_path"),
                     "handle", "handle_path -> handle (the homeserver needs the whole path)")]
    if re.fullmatch(r"\s*uri\s+strip_prefix\s+\S+\s*\r?", line):
        return [_delete_line(lines, finding.span.line, "drop `uri strip_prefix` (the homeserver needs the whole path)")]
    return None


# -- well-known content type -----------------------------------------------------------------------

@fixer("MPL304", "nginx")
def _nginx_wellknown_type(finding, lines):
    text = _span_text(lines, finding.span) or ""
    if not text.startswith("return ") or "is sent as `text/plain`" not in finding.message:
        return None     # several Content-Type headers, or not the proxy's own answer: not mechanical
    return [_insert_line_before(lines, finding.span.line, "default_type application/json;",
                                "default_type application/json")]


# -- Caddy 1 directives with a one-to-one Caddy 2 form -------------------------------------------

# (Most Caddy 1 forms are configuration errors, which --fix leaves alone: only findings are fixed.)
_CADDY_V2 = {"policy": "lb_policy", "header_upstream": "header_up", "header_downstream": "header_down"}


@fixer("MPL701", "caddy")
def _caddy_v2(finding, lines):
    text = _span_text(lines, finding.span) or ""
    m = re.match(r"([a-z_]+)\b", text)
    if not m or m.group(1) not in _CADDY_V2:
        return None
    start = finding.span.column
    return [Edit(finding.span.line, start, finding.span.line, start + len(m.group(1)), _CADDY_V2[m.group(1)],
                 f"{m.group(1)} -> {_CADDY_V2[m.group(1)]}")]


# -- planning and applying ------------------------------------------------------------------------

def plan(findings: list, refuse: set, read: Callable[[str], Optional[str]]) -> dict:
    """{path: (old text, new text, [descriptions])} for every file a fix changes. `refuse`: files
    never edited (read from outside the checked tree); `read(path)`: the file's text."""
    by_file: dict = {}
    for f in findings:
        fix = FIXERS.get((f.rule.code, f.server))
        if fix is None or f.span.path in refuse:
            continue
        by_file.setdefault(f.span.path, []).append((f, fix))
    out = {}
    for path, items in by_file.items():
        text = read(path)
        if text is None:
            continue
        lines = text.split("\n")
        edits = []
        for finding, fix in items:
            edits += fix(finding, lines) or []
        new, applied = apply(text, edits)
        if new != text:
            out[path] = (text, new, applied)
    return out


def apply(text: str, edits: list) -> tuple:
    """(the text with the edits that do not overlap an earlier one, their descriptions)."""
    lines = text.split("\n")
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)

    def offset(line: int, column: int) -> int:
        return min(starts[line - 1] + column - 1, len(text)) if line <= len(lines) else len(text)

    chosen, taken = [], []
    for e in edits:
        a, b = offset(e.line, e.column), offset(e.end_line, e.end_column)
        if any(a < y and x < b or (a == b and x <= a < y) or (x == y and a <= x < b) or (a == b == x == y)
               for x, y in taken):
            continue        # overlaps an edit already chosen (two findings, one remedy)
        taken.append((a, b))
        chosen.append((a, b, e))
    out = text
    for a, b, e in sorted(chosen, key=lambda c: (c[0], c[1]), reverse=True):
        out = out[:a] + e.text + out[b:]
    return out, [e.description for _, _, e in sorted(chosen, key=lambda c: c[0])]


def unified_diff(path: str, old: str, new: str) -> str:
    name = path.lstrip("/")
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{name}", f"b/{name}"))
