"""Generated documentation: the README's rule table comes from the rules themselves.

    python -m linter.docs > /tmp/table.md     # print the table
    python -m linter.docs --write README.md   # replace the table between its markers
"""
from __future__ import annotations

import sys

BEGIN, END = "<!-- rules:begin -->", "<!-- rules:end -->"


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
    if sys.argv[1:2] == ["--write"]:
        path = sys.argv[2]
        with open(path, encoding="utf-8") as f:
            text = f.read()
        with open(path, "w", encoding="utf-8") as f:
            f.write(replace_table(text))
    else:
        print(rule_table())
