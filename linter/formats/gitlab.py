"""GitLab Code Quality: the JSON array GitLab reads from a `codequality` report artifact.

Each entry has `description`, `check_name`, `fingerprint` (`linter.formats.fingerprint`),
`severity` (GitLab's info, minor, major, critical, blocker) and `location.path` (relative to the
working directory, which in CI is the repository) with `location.lines.begin`. A configuration
error is a critical entry of the `configuration-error` check.
"""
from __future__ import annotations

import json

from linter.formats import CONFIG_ERROR_ID, clean, config_error_fingerprint, fingerprints, relative_path, rule_url

# Our severities on GitLab's scale: a rule's error is a defect in what is written (major); a
# configuration the server itself would refuse is critical.
GITLAB_SEVERITY = {"error": "major", "warning": "minor", "info": "info"}


def to_gitlab(report) -> str:
    entries = []
    for e in report.errors:
        entries.append({
            "type": "issue",
            "description": clean(f"configuration error: {e.message}"),
            "check_name": CONFIG_ERROR_ID,
            "fingerprint": config_error_fingerprint(e),
            "severity": "critical",
            "categories": ["Bug Risk"],
            "location": {"path": clean(relative_path(e.path)), "lines": {"begin": e.line or 1}},
        })
    for f, fp in zip(report.findings, fingerprints(report)):
        entry = {
            "type": "issue",
            "description": clean(f"{f.rule.code} {f.message}"),
            "check_name": f"{f.rule.code} {f.rule.slug}",
            "fingerprint": fp,
            "severity": GITLAB_SEVERITY[f.severity],
            "categories": ["Bug Risk"],
            "location": {"path": clean(relative_path(f.span.path)),
                         "lines": {"begin": f.span.line, "end": max(f.span.end_line, f.span.line)}},
        }
        url = rule_url(f.rule)
        if url:
            entry["content"] = {"body": f"[{f.rule.code} `{f.rule.slug}`]({url})"}
        entries.append(entry)
    return json.dumps(entries, indent=2, ensure_ascii=True)
