"""Report formats for CI and audits: SARIF 2.1.0, GitLab Code Quality, JUnit XML, Checkstyle XML
and a self-contained HTML audit report.

Each writer is a pure function of the engine's `Report` (as `linter.output.to_json` is) and
returns the document as a string:

    from linter.formats import FORMATS
    text = FORMATS["sarif"](report)                 # or to_sarif(report), to_gitlab(report), ...
    html = to_html(report, configs)                 # also needs the models (linter.model.Config)

What they share lives here: `rule_url` (the one place a rule's documentation URL is made),
`fingerprint` (a finding's identity that survives line moves), `clean` (text safe for any
format) and `relative_path`.

Every writer follows the rules of `linter.output`: no raw control character or bidirectional
override from a configuration reaches the document (`clean`, built on `output.printable`), and no
line of a file read from outside the checked tree (`report.outside`) is ever quoted.
"""
from __future__ import annotations

import hashlib
import os
import re
from typing import Optional

from linter.docs import rule_url  # noqa: F401  (the one place a rule's docs URL is made; re-exported)
from linter.output import printable

__all__ = ["rule_url", "fingerprint", "fingerprints", "clean", "relative_path", "FORMATS",
           "to_sarif", "to_gitlab", "to_junit", "to_checkstyle", "to_html"]

TOOL_NAME = "matrix-proxy-lint"
INFORMATION_URI = "https://github.com/matrix-proxy-lint/matrix-proxy-lint"
# The pseudo rule of a configuration that could not be read or parsed (exit code 2) in formats
# that need a rule or check name for every entry. It is not a rule code (those are MPL<digits>).
CONFIG_ERROR_ID = "configuration-error"

# Lone surrogates (a file name read with surrogateescape) and the XML non-characters: no XML
# parser accepts them and some JSON parsers refuse them. `printable` already escaped the controls.
_NOT_TEXT = re.compile("[\ud800-\udfff\ufffe\uffff]")


def clean(text: Optional[str], newlines: bool = False) -> str:
    """`text` safe for every format: controls, escape sequences and bidi overrides escaped
    (`linter.output.printable`), lone surrogates and the non-characters U+FFFE/U+FFFF too."""
    text = printable(text or "", newlines=newlines)
    return _NOT_TEXT.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def relative_path(path: str, start: Optional[str] = None) -> str:
    """`path` relative to `start` (default: the working directory) with `/` separators, as CI
    tools expect; a path outside `start` stays absolute."""
    if path in ("", "-"):
        return path
    start = os.path.abspath(start or os.getcwd())
    absolute = os.path.abspath(path)
    try:
        rel = os.path.relpath(absolute, start)
    except ValueError:          # another drive (Windows)
        return absolute.replace(os.sep, "/")
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return absolute.replace(os.sep, "/")
    return rel.replace(os.sep, "/")


# -- fingerprints --------------------------------------------------------------------------------
#
# A finding's fingerprint identifies it across runs while the configuration is edited around it
# (SARIF partialFingerprints, GitLab's fingerprint, baselines). It is the SHA-256 (first 32 hex
# digits) of, joined by NUL:
#
#   1. the rule's code ("MPL201");
#   2. the file, relative to the working directory (or `base`), with `/` separators;
#   3. the text the finding points at, whitespace runs made one space and trimmed (the whole
#      line when the span is empty; up to the end of its first line when it spans lines);
#   4. the context: the header of the innermost block enclosing the span, normalised the same
#      way ("location /_matrix", "<VirtualHost *:443>", "backend matrix", "matrix.example.com");
#      empty at the top level or when the file cannot be read;
#   5. the occurrence: 1 for the first finding of the report with the same 1-4, 2 for the next
#      (in file order), so two identical directives in one block stay two findings.
#
# Line and column numbers and the message are not part of it: adding or moving lines above the
# finding, or a message reworded in a new version, keeps the fingerprint; editing the flagged
# text, moving it to another block or renaming the block's header makes it a new finding. The
# blocks are found from the text (braces for nginx and Caddy, <Section> tags for Apache, section
# keywords for HAProxy), so the fingerprint needs only the report and the files. Files read from
# outside the checked tree are hashed, never quoted.

_HAPROXY_SECTIONS = re.compile(r"^(global|defaults|frontend|backend|listen|peers|resolvers|userlist|mailers|"
                               r"program|http-errors|ring|cache|crt-store|traces|log-forward|fcgi-app)\b", re.I)


def fingerprints(report, base: Optional[str] = None) -> list:
    """The fingerprint of each of `report.findings`, in order (see above)."""
    lines: dict = {}
    keyed = []
    for f in report.findings:
        path = f.span.path
        if path not in lines:
            lines[path] = _lines(path)
        text, context = _text_and_context(lines[path], f.span, f.server)
        keyed.append((f.rule.code, relative_path(path, base), text, context))
    order = sorted(range(len(keyed)), key=lambda i: (report.findings[i].span.path, report.findings[i].span.line,
                                                     report.findings[i].span.column, keyed[i]))
    seen: dict = {}
    out: list = [""] * len(keyed)
    for i in order:
        key = keyed[i]
        seen[key] = seen.get(key, 0) + 1
        raw = "\0".join([*key, str(seen[key])]).encode("utf-8", "surrogateescape")
        out[i] = hashlib.sha256(raw).hexdigest()[:32]
    return out


def fingerprint(finding, report, base: Optional[str] = None) -> str:
    """One finding's fingerprint (it must be one of `report.findings`). For many findings call
    `fingerprints(report)` once: the occurrence count needs the whole report."""
    for f, fp in zip(report.findings, fingerprints(report, base)):
        if f is finding:
            return fp
    raise ValueError("the finding is not in the report")


def config_error_fingerprint(error, base: Optional[str] = None) -> str:
    raw = "\0".join([CONFIG_ERROR_ID, relative_path(error.path, base), str(error.line or 0), error.message])
    return hashlib.sha256(raw.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def _lines(path: str) -> list:
    from linter.inputs import Budget, read_config
    from linter.syntax import ConfigError

    try:
        # "\n" only, as the front ends count lines (see linter.output.TextWriter._source).
        return read_config(path, Budget()).split("\n")
    except (ConfigError, OSError, ValueError):
        return []


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _text_and_context(lines: list, span, server: str) -> tuple:
    if not (1 <= span.line <= len(lines)):
        return "", ""
    line = lines[span.line - 1]
    start = max(span.column, 1)
    end = span.end_column if span.end_line == span.line and span.end_column > start else len(line) + 1
    text = _normal(line[start - 1:end - 1]) or _normal(line)
    if server == "haproxy" and _HAPROXY_SECTIONS.match(_strip_comment(line).strip()):
        return text, ""         # a section header: HAProxy's sections do not nest
    before = lines[:span.line - 1] + [line[:start - 1]]
    return text, _context(before, server)


def _strip_comment(line: str) -> str:
    """The line without a `#` comment (quotes respected, roughly: enough to count braces)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
            elif ch == "\\":
                continue
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t;{}"):
            return line[:i]
    return line


def _context(before: list, server: str) -> str:
    """The header of the innermost block open at the end of `before` (the lines up to the span)."""
    if server in ("nginx", "caddy"):
        depth = 0
        for index in range(len(before) - 1, -1, -1):
            code = _strip_comment(before[index])
            for pos in range(len(code) - 1, -1, -1):
                if code[pos] == "}":
                    depth += 1
                elif code[pos] == "{":
                    if depth == 0:
                        header = _normal(code[:pos])
                        if not header and index > 0:       # `{` alone on its line
                            header = _normal(_strip_comment(before[index - 1]))
                        return header.rsplit(";", 1)[-1].rsplit("}", 1)[-1].strip()
                    depth -= 1
        return ""
    if server == "apache":
        closed: list = []
        for index in range(len(before) - 1, -1, -1):
            code = _strip_comment(before[index]).strip()
            m = re.match(r"^</\s*([\w:.-]+)\s*>", code)
            if m:
                closed.append(m.group(1).lower())
                continue
            m = re.match(r"^<\s*([\w:.-]+)([^>]*)>", code)
            if m:
                if closed and closed[-1] == m.group(1).lower():
                    closed.pop()
                elif not closed:
                    return _normal(f"<{m.group(1)}{m.group(2)}>")
        return ""
    if server == "haproxy":
        for index in range(len(before) - 1, -1, -1):
            code = _strip_comment(before[index])
            if _HAPROXY_SECTIONS.match(code.strip()):
                return _normal(code)
        return ""
    return ""


# -- severities ------------------------------------------------------------------------------------

SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def _formats() -> dict:
    from linter.formats.checkstyle import to_checkstyle
    from linter.formats.gitlab import to_gitlab
    from linter.formats.junit import to_junit
    from linter.formats.sarif import to_sarif

    return {"sarif": to_sarif, "gitlab": to_gitlab, "junit": to_junit, "checkstyle": to_checkstyle}


def __getattr__(name: str):
    # Lazy: `import linter.formats` for rule_url or fingerprint does not import every writer.
    if name == "FORMATS":
        return _formats()
    if name in ("to_sarif", "to_gitlab", "to_junit", "to_checkstyle"):
        return _formats()[name[3:]]
    if name == "to_html":
        from linter.formats.html import to_html

        return to_html
    raise AttributeError(name)
