"""The rule API.

A rule is a generator function decorated with `@rule`; a rule family is a module in `rules/`
holding several of them. The function receives a `Config` (the syntax tree and the proxy model
of one configuration) and yields `Finding`s:

    from linter.rule import rule, Finding

    @rule("MPL101", "cors-header-without-always", "warning")
    def check(config):
        '''## What it does
        ...
        ## Why is this bad?
        ...
        ## Example
        ```nginx
        ...
        ```
        ## Use instead
        ```nginx
        ...
        ```
        '''
        for site in config.sites:
            ...
            yield Finding("message", span)

`servers` limits a rule to some front ends (a tree rule); without it the rule runs on the model
for every server. Third-party packages expose rule modules through the entry point group
`matrix_proxy_lint.rules` (`name = "package.module"`); every `Rule` in the module is loaded.
"""
from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

from linter.syntax import Span

SEVERITIES = ("error", "warning", "info")
ENTRY_POINT_GROUP = "matrix_proxy_lint.rules"
_CODE = re.compile(r"^[A-Z]{2,5}[0-9]{3,4}$")
_SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass
class Finding:
    message: str
    span: Span
    # A rule may lower (never raise) its severity for one finding, e.g. when a fact is uncertain.
    severity: Optional[str] = None
    # Unseen regions (`linter.model.Unknown`) that could supply what the finding says is absent.
    # Non-empty: the engine reports the finding as depending on them, at severity info.
    unless: tuple = ()


@dataclass(frozen=True)
class Rule:
    code: str
    slug: str
    severity: str
    check: Callable = field(compare=False, repr=False)
    servers: Optional[frozenset] = None
    module: str = ""
    # Cross-server codes this server-specific rule reports more precisely, with the scope in which
    # its finding replaces theirs ("line": the same line, "file": anywhere in the same file).
    supersedes: tuple = ()

    @property
    def docs(self) -> str:
        import inspect

        return inspect.cleandoc(self.check.__doc__ or "")

    @property
    def summary(self) -> str:
        """First sentence of the "What it does" section."""
        text = section(self.docs, "What it does")
        first = text.split("\n\n")[0].replace("\n", " ").strip()
        return first

    def applies_to(self, server: str) -> bool:
        return self.servers is None or server in self.servers

    def run(self, config) -> Iterable[Finding]:
        return self.check(config) or ()


def rule(code: str, slug: str, severity: str, *, servers: Optional[Iterable[str]] = None,
         supersedes: Optional[dict] = None):
    if not _CODE.match(code):
        raise ValueError(f"rule code {code!r} must look like MPL101")
    if not _SLUG.match(slug):
        raise ValueError(f"rule slug {slug!r} must be kebab-case")
    if severity not in SEVERITIES:
        raise ValueError(f"rule severity {severity!r} must be one of {SEVERITIES}")

    def wrap(fn: Callable) -> Rule:
        return Rule(code, slug, severity, fn, frozenset(servers) if servers else None, fn.__module__,
                    tuple(sorted((supersedes or {}).items())))

    return wrap


def section(docs: str, title: str) -> str:
    """The body of a `## title` section of a rule's docs."""
    m = re.search(rf"^## {re.escape(title)}\s*$(.*?)(?=^## |\Z)", docs, re.M | re.S)
    return m.group(1).strip() if m else ""


def examples(docs: str, title: str) -> list[tuple[str, str]]:
    """(language, code) of the fenced blocks in a section."""
    return re.findall(r"```(\w+)\n(.*?)```", section(docs, title), re.S)


def rules_in(module) -> list[Rule]:
    return [v for v in vars(module).values() if isinstance(v, Rule)]


def load_rules(plugins: bool = True) -> list[Rule]:
    """Built-in rules, then entry-point plugins; sorted by code. Duplicate codes are an error."""
    import linter.rules as builtin

    found: list[Rule] = []
    for info in pkgutil.iter_modules(builtin.__path__):
        found += rules_in(importlib.import_module(f"linter.rules.{info.name}"))
    if plugins:
        from importlib.metadata import entry_points

        for ep in _entry_points(entry_points()):
            found += rules_in(ep.load())
    by_code: dict[str, Rule] = {}
    for r in found:
        other = by_code.get(r.code)
        if other is not None and other is not r:
            raise ValueError(f"rule code {r.code} is defined twice ({other.module}, {r.module})")
        by_code[r.code] = r
    return sorted(by_code.values(), key=lambda r: r.code)


def _entry_points(eps):
    if hasattr(eps, "select"):
        return eps.select(group=ENTRY_POINT_GROUP)
    return eps.get(ENTRY_POINT_GROUP, [])  # Python 3.9
