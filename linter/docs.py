"""Generated documentation: the README's rule table comes from the rules themselves.

    python -m linter.docs > /tmp/table.md     # print the table
    python -m linter.docs --write README.md   # replace the table between its markers
    python -m linter.docs --write-pages docs/rules   # one page per rule, linked from every report
"""
from __future__ import annotations

import sys

BEGIN, END = "<!-- rules:begin -->", "<!-- rules:end -->"
# Where each built-in rule's page lives: docs/rules/<CODE>.md in the repository, written from the
# rule's own docs (`python -m linter.docs --write-pages docs/rules`; a test keeps them current).
DOCS_BASE = "https://github.com/matrix-proxy-lint/matrix-proxy-lint/blob/main/docs/rules"


def rule_url(rule) -> str:
    """The documentation page of a rule: ours for built-ins, the plugin's own `url` attribute
    (a module-level RULES_URL, with {code} and {slug}) for third-party rules when it has one."""
    if rule.module.startswith("linter.rules."):
        return f"{DOCS_BASE}/{rule.code}.md"
    import sys

    template = getattr(sys.modules.get(rule.module), "RULES_URL", None)
    return template.format(code=rule.code, slug=rule.slug) if template else ""


def rule_page(rule) -> str:
    servers = ", ".join(sorted(rule.servers)) if rule.servers else "all servers"
    return f"# {rule.code} `{rule.slug}`\n\nSeverity: {rule.severity} · Applies to: {servers}\n\n{rule.docs}\n"


def write_pages(directory: str) -> list:
    """Write docs/rules/<CODE>.md for every built-in rule; the paths written."""
    import os

    from linter.rule import load_rules

    os.makedirs(directory, exist_ok=True)
    written = []
    for r in load_rules(plugins=False):
        path = os.path.join(directory, f"{r.code}.md")
        with open(path, "w", encoding="utf-8") as f:
            f.write(rule_page(r))
        written.append(path)
    return written


def rule_table() -> str:
    from linter.rule import load_rules

    rows = ["| Code | Name | Severity | Servers | What it does |", "|---|---|---|---|---|"]
    for r in load_rules(plugins=False):
        servers = ", ".join(sorted(r.servers)) if r.servers else "all"
        rows.append(f"| {r.code} | `{r.slug}` | {r.severity} | {servers} | {r.summary} |")
    return "\n".join(rows)


def replace_table(text: str) -> str:
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{rule_table()}\n{END}{tail}"


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write-pages"]:
        write_pages(sys.argv[2])
    elif sys.argv[1:2] == ["--write"]:
        path = sys.argv[2]
        with open(path, encoding="utf-8") as f:
            text = f.read()
        with open(path, "w", encoding="utf-8") as f:
            f.write(replace_table(text))
    else:
        print(rule_table())
