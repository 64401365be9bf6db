"""SARIF 2.1.0 (OASIS Static Analysis Results Interchange Format), for GitHub code scanning and
other SARIF viewers.

One run: `tool.driver` describes matrix-proxy-lint and every rule that ran (short and full
description, the rule's docs as `help.markdown`, `helpUri`, default level); each finding is a
result with its location (a URI relative to the working directory, 1-based columns counted in
Unicode code points, `endColumn` exclusive as in SARIF) and `partialFingerprints`
(`linter.formats.fingerprint`). A configuration error is an error-level result of the
`configuration-error` pseudo rule; an internal error is a tool execution notification and makes
`executionSuccessful` false; notes are notifications of level note.
"""
from __future__ import annotations

import json
from typing import Optional
from urllib.parse import quote

import linter
from linter.formats import (CONFIG_ERROR_ID, INFORMATION_URI, SARIF_LEVEL, TOOL_NAME, clean,
                            config_error_fingerprint, fingerprints, relative_path, rule_url)

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
# The key of our fingerprint in partialFingerprints: "<name>/v<version>" as SARIF §3.27.17 suggests.
FINGERPRINT_KEY = "matrixProxyLint/v1"


def artifact_uri(path: str) -> str:
    """A URI reference for `path`: relative to the working directory when inside it, else a
    file: URI. Characters a URI cannot hold are percent-encoded."""
    rel = relative_path(path)
    if rel.startswith("/"):
        return "file://" + quote(rel, safe="/:@!$&'()*+,;=-._~", errors="surrogateescape")
    if len(rel) > 1 and rel[1] == ":":         # a Windows drive
        return "file:///" + quote(rel, safe="/:@!$&'()*+,;=-._~", errors="surrogateescape")
    return quote(rel, safe="/@!$&'()*+,;=-._~", errors="surrogateescape") or "."


def _rules(report, extra: Optional[list]) -> list:
    """Every rule that ran: `extra` when given, else the report's `rules` (the engine's), else
    every loaded rule; plus those of the findings (a plugin rule, MPL002/MPL003)."""
    rules = extra if extra is not None else (getattr(report, "rules", None) or None)
    if rules is None:
        from linter.rule import load_rules

        try:
            rules = load_rules()
        except Exception:           # a broken plugin must not cost the report
            rules = load_rules(plugins=False)
    by_code = {r.code: r for r in rules}
    for f in report.findings:
        by_code.setdefault(f.rule.code, f.rule)
    return sorted(by_code.values(), key=lambda r: r.code)


def _descriptor(rule) -> dict:
    docs = rule.docs
    summary = rule.summary or rule.slug
    d = {
        "id": rule.code,
        "name": rule.slug,
        "shortDescription": {"text": clean(summary)},
        "fullDescription": {"text": clean(summary)},
        "help": {"text": clean(docs or summary, newlines=True), "markdown": clean(docs or summary, newlines=True)},
        "defaultConfiguration": {"level": SARIF_LEVEL[rule.severity]},
        "properties": {"tags": sorted(rule.servers) if rule.servers else ["nginx", "apache", "caddy", "haproxy"]},
    }
    url = rule_url(rule)
    if url:
        d["helpUri"] = url
    return d


def _region(line, column, end_line=None, end_column=None) -> Optional[dict]:
    if not isinstance(line, int) or line < 1:
        return None
    region = {"startLine": line}
    if isinstance(column, int) and column >= 1:
        region["startColumn"] = column
    if isinstance(end_line, int) and end_line >= line:
        region["endLine"] = end_line
        if isinstance(end_column, int) and end_column >= 1 and (end_line > line or end_column >= region.get(
                "startColumn", 1)):
            region["endColumn"] = end_column
    return region


def _location(path: str, region: Optional[dict]) -> dict:
    physical: dict = {"artifactLocation": {"uri": artifact_uri(path)}}
    if region:
        physical["region"] = region
    return {"physicalLocation": physical}


def to_sarif_doc(report, rules: Optional[list] = None) -> dict:
    """The SARIF log as a dict (`to_sarif` writes it)."""
    descriptors = _rules(report, rules)
    index = {r.code: i for i, r in enumerate(descriptors)}
    driver_rules = [_descriptor(r) for r in descriptors]
    results = []
    if report.errors:
        index[CONFIG_ERROR_ID] = len(driver_rules)
        driver_rules.append({
            "id": CONFIG_ERROR_ID, "name": CONFIG_ERROR_ID,
            "shortDescription": {"text": "The configuration cannot be read or parsed."},
            "fullDescription": {"text": "The file is unreadable or not a valid configuration for its server: the "
                                        "linter cannot check it (exit code 2)."},
            "help": {"text": "Fix the error the message names; the server itself would refuse this configuration.",
                     "markdown": "Fix the error the message names; the server itself would refuse this "
                                 "configuration."},
            "defaultConfiguration": {"level": "error"},
        })
        for e in report.errors:
            results.append({
                "ruleId": CONFIG_ERROR_ID, "ruleIndex": index[CONFIG_ERROR_ID], "level": "error",
                "message": {"text": clean(e.message)},
                "locations": [_location(e.path, _region(e.line, e.column or 1 if e.line else None))],
                "partialFingerprints": {FINGERPRINT_KEY: config_error_fingerprint(e)},
            })
    for f, fp in zip(report.findings, fingerprints(report)):
        s = f.span
        result = {
            "ruleId": f.rule.code, "ruleIndex": index[f.rule.code], "level": SARIF_LEVEL[f.severity],
            "message": {"text": clean(f.message)},
            "locations": [_location(s.path, _region(s.line, s.column, s.end_line, s.end_column))],
            "partialFingerprints": {FINGERPRINT_KEY: fp},
            "properties": {"server": f.server},
        }
        related = []
        for i, u in enumerate(f.unless):
            loc = _location(u.span.path, _region(u.span.line, u.span.column))
            loc["id"] = i
            loc["message"] = {"text": clean(f"depends on what is not seen: {u.what}")}
            related.append(loc)
        if related:
            result["relatedLocations"] = related
            result["properties"]["depends_on"] = [clean(u.what) for u in f.unless]
        results.append(result)
    notifications = [{"level": "error", "message": {"text": clean(f"internal error: {e.path}: while {e.stage}: "
                                                                  f"{e.summary}")},
                      "locations": [_location(e.path, None)]}
                     for e in getattr(report, "internal", ())]
    notifications += [{"level": "note", "message": {"text": clean(n)}} for n in getattr(report, "notes", ())]
    invocation: dict = {"executionSuccessful": not getattr(report, "internal", ())}
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": {"name": TOOL_NAME, "version": linter.__version__,
                                "semanticVersion": linter.__version__,
                                "informationUri": INFORMATION_URI, "rules": driver_rules}},
            "invocations": [invocation],
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }


def to_sarif(report, rules: Optional[list] = None) -> str:
    """The report as a SARIF 2.1.0 log. `rules`: the rules that ran (default: the report's
    `rules`, else every loaded rule)."""
    return json.dumps(to_sarif_doc(report, rules), indent=2, ensure_ascii=True)
