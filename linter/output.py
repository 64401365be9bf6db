"""Report formats: text with code frames (for people) and JSON (a public contract for tools)."""
from __future__ import annotations

import json
import re
from typing import Optional

JSON_VERSION = 1
_LEXERS = {"nginx": "NginxConfLexer", "apache": "ApacheConfLexer", "caddy": "CaddyfileLexer"}
_SEVERITY_COLOUR = {"error": "\033[1;31m", "warning": "\033[1;33m", "info": "\033[1;36m"}
_BOLD, _DIM, _RESET = "\033[1m", "\033[2m", "\033[0m"
# A code frame shows at most this many characters of a long line, around the span.
FRAME_WIDTH = 160

# What a configuration must never send to the reader's terminal: escape sequences (CSI, OSC and
# the rest), C0/C1 controls, DEL, and the bidirectional overrides that make text read otherwise
# than it is (Trojan Source). They are shown escaped, so the reader still sees they are there.
_ESCAPE_SEQUENCE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-_])")
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str, newlines: bool = False) -> str:
    """`text` safe to print: every control character and bidi override shown as an escape."""
    text = _ESCAPE_SEQUENCE.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), text)
    if not newlines:
        text = text.replace("\n", "\\n")
    return _UNSAFE.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), text)


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
    doc["notes"] = list(getattr(report, "notes", ()))
    doc["internal_errors"] = [{"path": e.path, "stage": e.stage, "message": e.summary}
                              for e in getattr(report, "internal", ())]
    # ASCII only: a parser reads the same strings, and no byte of a hostile config (a bidi
    # override, a C1 control) reaches a terminal that shows the document.
    return json.dumps(doc, indent=2, ensure_ascii=True)


_GITHUB_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def _gh_escape(text: str, prop: bool = False) -> str:
    text = printable(text, newlines=True)
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


# GitHub shows at most this many annotations of each level (error, warning, notice) per step.
GITHUB_ANNOTATIONS_PER_LEVEL = 10


def github_hidden(report) -> int:
    """How many of the annotations `to_github` writes GitHub will not show."""
    levels = ["error"] * len(report.errors) + [_GITHUB_LEVEL[r.severity] for r in report.findings]
    return sum(max(0, levels.count(level) - GITHUB_ANNOTATIONS_PER_LEVEL) for level in set(levels))


def github_summary(report) -> str:
    """Markdown for $GITHUB_STEP_SUMMARY: findings per rule, with each rule's page."""
    from linter.docs import rule_url

    lines = ["## matrix-proxy-lint", ""]
    if not report.findings and not report.errors:
        return "\n".join(lines + [f"No findings in {len(report.files)} file{'s' if len(report.files) != 1 else ''}.", ""])
    if report.errors:
        lines += [f"**{len(report.errors)} configuration error{'s' if len(report.errors) != 1 else ''}**", ""]
    counts: dict = {}
    for r in report.findings:
        counts.setdefault(r.rule, {}).setdefault(r.severity, 0)
        counts[r.rule][r.severity] += 1
    lines += ["| Rule | Name | Findings |", "|---|---|---|"]
    for rule, by in sorted(counts.items(), key=lambda item: (-sum(item[1].values()), item[0].code)):
        url = rule_url(rule)
        code = f"[{rule.code}]({url})" if url else rule.code
        detail = ", ".join(f"{n} {sev}" for sev, n in sorted(by.items()))
        lines.append(f"| {code} | `{rule.slug}` | {sum(by.values())} ({detail}) |")
    hidden = github_hidden(report)
    if hidden:
        lines += ["", f"GitHub shows at most {GITHUB_ANNOTATIONS_PER_LEVEL} annotations of each level per step: "
                      f"{hidden} of this run's are not shown on the pull request (upload `--format sarif` to "
                      f"code scanning to see them all)."]
    return "\n".join(lines + [""])


class TextWriter:
    def __init__(self, colour: bool, framed: Optional[set] = None):
        self.colour = colour
        self._lines: dict = {}
        # The files whose lines may be shown (the checked tree); None: any file named.
        self.framed = framed

    def c(self, code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if self.colour else text

    def finding(self, r) -> str:
        sev = self.c(_SEVERITY_COLOUR[r.severity], f"[{r.severity}]")
        head = f"{self.c(_BOLD, printable(str(r.span)))}: {self.c(_BOLD, r.rule.code)} {sev} {printable(r.message)}"
        return head + self.frame(r.span, r.server)

    def error(self, e) -> str:
        where = printable(e.path) + (f":{e.line}:{e.column or 1}" if e.line else "")
        head = f"{self.c(_BOLD, where)}: {self.c(_SEVERITY_COLOUR['error'], 'error:')} {printable(e.message)}"
        if not e.line:
            return head
        from linter.syntax import Span

        return head + self.frame(Span.point(e.path, e.line, e.column or 1), None)

    def frame(self, span, server: Optional[str]) -> str:
        if self.framed is not None and span.path not in self.framed:
            return ""           # never an excerpt of a file outside the checked tree
        lines = self._source(span.path)
        if not lines or not (1 <= span.line <= len(lines)):
            return ""
        line = lines[span.line - 1]
        start = min(max(span.column, 1), len(line) + 1)   # a column past the end points at the end
        end = span.end_column if span.end_line == span.line and span.end_column > start else len(line) + 1
        end = max(min(end, len(line) + 1), start + 1)
        # Cut first, so a finding on a 1 MB line copies 160 characters, not the line. A tab
        # becomes one space (expandtabs(1)): columns stay as the front end counted them.
        text, start, end = _window(line, start, end)
        text = text.rstrip("\r\n").expandtabs(1)
        if _UNSAFE.search(text) or "\x1b" in text:
            server = None       # shown escaped, so columns no longer line up with the highlighter's
            text = printable(text)
        number = str(span.line)
        gutter = " " * len(number)
        shown = self._highlight(text, server)
        caret = " " * (start - 1) + "^" * (end - start)
        return (f"\n{self.c(_DIM, gutter + ' |')}\n{self.c(_DIM, number + ' |')} {shown}\n"
                f"{self.c(_DIM, gutter + ' |')} {self.c(_SEVERITY_COLOUR['error'], caret)}")

    def _source(self, path: str) -> list:
        if path not in self._lines:
            from linter.inputs import Budget, read_config
            from linter.syntax import ConfigError

            try:
                # "\n" only, as every front end counts lines: splitlines() would also break at
                # \r, \f or U+2028 and put the span's column on the wrong line.
                self._lines[path] = read_config(path, Budget()).split("\n")
            except ConfigError:
                self._lines[path] = []
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


def _window(text: str, start: int, end: int) -> tuple:
    """A long line cut to FRAME_WIDTH characters around the span [start, end) (1-based)."""
    if len(text) <= FRAME_WIDTH:
        return text, start, end
    left = max(0, min(start - 1 - FRAME_WIDTH // 4, len(text) - FRAME_WIDTH))
    right = left + FRAME_WIDTH
    cut = ("…" if left else "") + text[left:right] + ("…" if right < len(text) else "")
    shift = left - (1 if left else 0)
    return cut, start - shift, min(end - shift, len(cut) + 1)


def framed_files(report) -> set:
    """The files a report may quote: those it linted, less those read from outside the tree."""
    return set(report.files) - set(getattr(report, "outside", ()))


def to_text(report, colour: bool, summary: bool = True, findings: bool = True) -> str:
    """Errors and (unless `findings=False`) findings with code frames, then (unless
    `summary=False`) the summary line. Notes are not part of it: the CLI prints them on stderr."""
    w = TextWriter(colour, framed_files(report))
    blocks = [w.error(e) for e in report.errors] + ([w.finding(r) for r in report.findings] if findings else [])
    return "\n\n".join(blocks + ([w.summary(report)] if summary else []))


def statistics_text(report) -> str:
    """One line per rule: how many findings, code, slug, severity; most frequent first."""
    counts: dict = {}
    for r in report.findings:
        key = (r.rule.code, r.rule.slug)
        counts.setdefault(key, {}).setdefault(r.severity, 0)
        counts[key][r.severity] += 1
    rows = sorted(counts.items(), key=lambda item: (-sum(item[1].values()), item[0][0]))
    width = max(len(str(sum(c.values()))) for _, c in rows)
    return "\n".join(f"{sum(c.values()):>{width}}  {code}  {slug}  "
                     f"({', '.join(f'{n} {sev}' for sev, n in sorted(c.items()))})"
                     for (code, slug), c in rows)


def summary_text(report, colour: bool) -> str:
    return TextWriter(colour).summary(report)
