"""Checkstyle XML, the classic format many CI tools and editors read (Jenkins warnings-ng,
reviewdog, SonarQube's external issues): a <file> per file with an <error> per finding,
`source` naming the rule (`matrix-proxy-lint.MPL201`). Configuration errors are errors of the
`matrix-proxy-lint.configuration-error` source."""
from __future__ import annotations

from xml.sax.saxutils import quoteattr

from linter.formats import CONFIG_ERROR_ID, TOOL_NAME, clean

CHECKSTYLE_VERSION = "4.3"


def _attr(text) -> str:
    return quoteattr(clean(str(text)))


def to_checkstyle(report) -> str:
    files: dict = {}
    for path in report.files:
        files.setdefault(path, [])
    for e in report.errors:
        files.setdefault(e.path, []).append((e.line or 0, e.column or 0, "error", e.message,
                                             f"{TOOL_NAME}.{CONFIG_ERROR_ID}"))
    for f in report.findings:
        files.setdefault(f.span.path, []).append((f.span.line, f.span.column, f.severity,
                                                  f"{f.message} ({f.rule.code} {f.rule.slug})",
                                                  f"{TOOL_NAME}.{f.rule.code}"))
    out = ['<?xml version="1.0" encoding="UTF-8"?>', f'<checkstyle version="{CHECKSTYLE_VERSION}">']
    for path, entries in files.items():
        if not entries:
            out.append(f'  <file name={_attr(path)}/>')
            continue
        out.append(f'  <file name={_attr(path)}>')
        for line, column, severity, message, source in entries:
            where = (f' line="{line}"' if line else "") + (f' column="{column}"' if line and column else "")
            out.append(f'    <error{where} severity="{severity}" message={_attr(message)} source={_attr(source)}/>')
        out.append('  </file>')
    out += ['</checkstyle>', '']
    return "\n".join(out)
