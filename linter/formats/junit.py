"""JUnit XML: one testsuite, one testcase per file linted; each finding a <failure> of its file's
testcase, each configuration error an <error>. A clean file is a passing testcase, so a CI
dashboard counts the files checked. Internal errors (linter bugs) are <error>s too."""
from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from linter.formats import CONFIG_ERROR_ID, TOOL_NAME, clean, relative_path, rule_url


def _attr(text) -> str:
    return quoteattr(clean(str(text)))


def to_junit(report) -> str:
    files: dict = {}
    for path in report.files:
        files.setdefault(path, ([], []))
    for e in report.errors:
        files.setdefault(e.path, ([], []))[1].append(
            ("configuration error", CONFIG_ERROR_ID, f"{e.path}:{e.line}:{e.column or 1}: {e.message}"
             if e.line else f"{e.path}: {e.message}"))
    for e in getattr(report, "internal", ()):
        files.setdefault(e.path, ([], []))[1].append(
            ("internal error", "internal-error", f"{e.path}: while {e.stage}: {e.summary}"))
    for f in report.findings:
        s = f.span
        url = rule_url(f.rule)
        body = f"{s.path}:{s.line}:{s.column}: {f.rule.code} [{f.severity}] {f.message}" + (f"\n{url}" if url else "")
        files.setdefault(s.path, ([], []))[0].append((f"{f.rule.code} {f.rule.slug}: {f.message}",
                                                      f"{f.rule.code} {f.severity}", body))
    failing = sum(1 for failures, errors in files.values() if failures and not errors)
    erring = sum(1 for _, errors in files.values() if errors)
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<testsuites name={_attr(TOOL_NAME)} tests="{len(files)}" failures="{failing}" errors="{erring}">',
           f'  <testsuite name={_attr(TOOL_NAME)} tests="{len(files)}" failures="{failing}" errors="{erring}" '
           f'skipped="0">']
    for path, (failures, errors) in files.items():
        name = relative_path(path)
        if not failures and not errors:
            out.append(f'    <testcase name={_attr(name)} classname={_attr(TOOL_NAME)} file={_attr(name)}/>')
            continue
        out.append(f'    <testcase name={_attr(name)} classname={_attr(TOOL_NAME)} file={_attr(name)}>')
        for message, kind, body in errors:
            out.append(f'      <error message={_attr(message)} type={_attr(kind)}>{escape(clean(body, True))}</error>')
        for message, kind, body in failures:
            out.append(f'      <failure message={_attr(message)} type={_attr(kind)}>{escape(clean(body, True))}'
                       f'</failure>')
        out.append('    </testcase>')
    out += ['  </testsuite>', '</testsuites>', '']
    return "\n".join(out)
