"""Baselines: adopt the linter on a deployment with known findings, and fail only on new ones.

    matrix-proxy-lint check --write-baseline .matrix-proxy-lint-baseline.json deploy/
    matrix-proxy-lint check --baseline .matrix-proxy-lint-baseline.json deploy/

A finding is known by its fingerprint (`linter.formats.fingerprints`, the one SARIF and GitLab
reports carry): the rule's code, the file (relative to the baseline's directory), the text the
finding points at with its whitespace normalised, the header of the block around it, and how
many findings of the same rule on the same text in that block come before it. Line numbers
are not part of it, so moving a block or adding lines above it keeps the finding known; editing
the flagged directive makes it new. A rule added in a later version has no entries, so its
findings are never hidden.
"""
from __future__ import annotations

import json
import os

from linter.syntax import ConfigError

VERSION = 1


def fingerprints(findings: list, base: str) -> list:
    """The fingerprint of each finding, in order: the one SARIF and GitLab reports carry too
    (`linter.formats.fingerprints`), with paths relative to the baseline's directory."""
    from types import SimpleNamespace

    from linter.formats import fingerprints as of_report

    return of_report(SimpleNamespace(findings=list(findings)), base)


def write(path: str, findings: list) -> int:
    base = os.path.dirname(os.path.abspath(path))
    entries = [{"fingerprint": fp, "rule": f.rule.code,
                "path": os.path.relpath(os.path.abspath(f.span.path), base).replace(os.sep, "/"),
                "line": f.span.line, "message": f.message}
               for f, fp in zip(findings, fingerprints(findings, base))]
    with open(path, "w", encoding="utf-8") as fh:
        json.dump({"version": VERSION, "findings": entries}, fh, indent=2, ensure_ascii=True)
        fh.write("\n")
    return len(entries)


def read(path: str) -> list:
    """The baseline's entries; a ConfigError at the file when it is not one."""
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except OSError as e:
        raise ConfigError(f"cannot read the baseline: {e.strerror}", path)
    except ValueError as e:
        raise ConfigError(f"not a baseline (invalid JSON: {e.msg})", path, getattr(e, "lineno", None),
                          getattr(e, "colno", None))
    if not isinstance(doc, dict) or doc.get("version") != VERSION or not isinstance(doc.get("findings"), list) \
            or not all(isinstance(e, dict) and isinstance(e.get("fingerprint"), str) for e in doc["findings"]):
        raise ConfigError(f"not a version {VERSION} baseline written by --write-baseline", path)
    return doc["findings"]


def apply(path: str, findings: list, files: list) -> tuple:
    """(the findings the baseline does not know, the entries for `files` (those linted) that no
    finding matches any more: fixed)."""
    entries = read(path)
    base = os.path.dirname(os.path.abspath(path))
    known = {}
    for e in entries:
        known[e["fingerprint"]] = e
    new, matched = [], set()
    for f, fp in zip(findings, fingerprints(findings, base)):
        if fp in known:
            matched.add(fp)
        else:
            new.append(f)
    linted = {os.path.relpath(os.path.abspath(f), base).replace(os.sep, "/") for f in files}
    fixed = [e for fp, e in known.items() if fp not in matched and e.get("path") in linted]
    return new, fixed
