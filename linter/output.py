"""Report formats: text with code frames (for people) and JSON (a public contract for tools)."""
from __future__ import annotations

import json
from typing import Optional

from linter.detect import read_text

JSON_VERSION = 1
_LEXERS = {"nginx": "NginxConfLexer", "apache": "ApacheConfLexer", "caddy": "CaddyfileLexer"}
_SEVERITY_COLOUR = {"error": "\033[1;31m", "warning": "\033[1;33m", "info": "\033[1;36m"}
_BOLD, _DIM, _RESET = "\033[1m", "\033[2m", "\033[0m"


def to_json(report) -> str:
    doc = {
        "version": JSON_VERSION,
        "findings": [{
            "rule": r.rule.code, "name": r.rule.slug, "severity": r.severity, "message": r.message,
            "path": r.span.path, "line": r.span.line, "column": r.span.column,
            "end_line": r.span.end_line, "end_column": r.span.end_column, "server": r.server,
            "depends_on": [{"path": u.span.path, "line": u.span.line, "column": u.span.column, "what": u.what}
                           for u in r.unless],
        } for r in report.findings],
        "errors": [{"path": e.path, "line": e.line, "column": e.column, "message": e.message}
                   for e in report.errors],
        "summary": {"files": len(report.files), "findings": len(report.findings), "errors": len(report.errors)},
    }
    notes = getattr(report, "notes", None)
    if notes:
        # Present only when there is something to say, so a clean v1 document keeps its shape.
        doc["notes"] = list(notes)
    return json.dumps(doc, indent=2, ensure_ascii=False)


_GITHUB_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def _gh_escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def to_github(report) -> str:
    """GitHub Actions workflow commands: each finding becomes an annotation on the pull request."""
    lines = []
    for e in report.errors:
        where = f"file={_gh_escape(e.path, True)}" + (f",line={e.line},col={e.column or 1}" if e.line else "")
        lines.append(f"::error {where},title=matrix-proxy-lint::{_gh_escape(e.message)}")
    for r in report.findings:
        s = r.span
        lines.append(f"::{_GITHUB_LEVEL[r.severity]} file={_gh_escape(s.path, True)},line={s.line},col={s.column},"
                     f"endLine={s.end_line},endColumn={s.end_column},"
                     f"title={_gh_escape(f'{r.rule.code} {r.rule.slug}', True)}::{_gh_escape(r.message)}")
    return "\n".join(lines)


class TextWriter:
    def __init__(self, colour: bool):
        self.colour = colour
        self._lines: dict = {}

    def c(self, code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if self.colour else text

    def finding(self, r) -> str:
        sev = self.c(_SEVERITY_COLOUR[r.severity], f"[{r.severity}]")
        head = f"{self.c(_BOLD, str(r.span))}: {self.c(_BOLD, r.rule.code)} {sev} {r.message}"
        return head + self.frame(r.span, r.server)

    def error(self, e) -> str:
        where = e.path + (f":{e.line}:{e.column or 1}" if e.line else "")
        head = f"{self.c(_BOLD, where)}: {self.c(_SEVERITY_COLOUR['error'], 'error:')} {e.message}"
        if not e.line:
            return head
        from linter.syntax import Span

        return head + self.frame(Span.point(e.path, e.line, e.column or 1), None)

    def frame(self, span, server: Optional[str]) -> str:
        lines = self._source(span.path)
        if not lines or not (1 <= span.line <= len(lines)):
            return ""
        text = lines[span.line - 1].rstrip("\n").expandtabs(1)
        start = max(span.column, 1)
        end = span.end_column if span.end_line == span.line and span.end_column > start else len(text) + 1
        end = max(min(end, len(text) + 1), start + 1)
        number = str(span.line)
        gutter = " " * len(number)
        shown = self._highlight(text, server)
        caret = " " * (start - 1) + "^" * (end - start)
        return (f"\n{self.c(_DIM, gutter + ' |')}\n{self.c(_DIM, number + ' |')} {shown}\n"
                f"{self.c(_DIM, gutter + ' |')} {self.c(_SEVERITY_COLOUR['error'], caret)}")

    def _source(self, path: str) -> list:
        if path not in self._lines:
            text = read_text(path)
            self._lines[path] = text.splitlines() if text is not None else []
        return self._lines[path]

    def _highlight(self, text: str, server: Optional[str]) -> str:
        if not self.colour or server not in _LEXERS:
            return text
        # pygments costs ~30 ms to import: only pay it when colour is actually shown.
        from pygments import highlight
        from pygments.formatters import TerminalFormatter
        import pygments.lexers.configs as configs

        lexer = getattr(configs, _LEXERS[server])()
        return highlight(text, lexer, TerminalFormatter()).rstrip("\n")

    def summary(self, report) -> str:
        n = len(report.findings)
        files = len(report.files)
        parts = []
        for sev in ("error", "warning", "info"):
            k = report.count(sev)
            if k:
                parts.append(f"{k} {sev}{'s' if k != 1 and sev != 'info' else ''}")
        text = (f"Found {n} finding{'s' if n != 1 else ''} ({', '.join(parts)})" if n
                else "No findings")
        if report.errors:
            k = len(report.errors)
            text += f" and {k} configuration error{'s' if k != 1 else ''}"
        return f"{text} in {files} file{'s' if files != 1 else ''}."


def to_text(report, colour: bool, summary: bool = True) -> str:
    """Errors and findings with code frames, then (unless `summary=False`) the summary line.
    Notes are not part of it: the CLI prints them on stderr."""
    w = TextWriter(colour)
    blocks = [w.error(e) for e in report.errors] + [w.finding(r) for r in report.findings]
    return "\n\n".join(blocks + ([w.summary(report)] if summary else []))


def summary_text(report, colour: bool) -> str:
    return TextWriter(colour).summary(report)
