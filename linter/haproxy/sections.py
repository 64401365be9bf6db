"""HAProxy's proxy sections with what they inherit from their `defaults` section.

A frontend, backend or listen section takes its settings from the `defaults` section named by
`from <name>`, or else from the last `defaults` section above it (named or not); a defaults
section can itself say `from`. What the model needs: the mode, `option forwardfor`, the
timeouts, the error files, and (named defaults only, HAProxy 2.5+) the `http-request`,
`http-response` and `http-after-response` rules, which run before the section's own.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from linter.haproxy.actions import read_payload
from linter.haproxy.conditions import AclTable
from linter.haproxy.numbers import small_int
from linter.syntax import Directive, Tree

PROXY_KINDS = ("frontend", "backend", "listen")
RULE_KEYWORDS = ("http-request", "http-response", "http-after-response")
_UNITS = {"us": 0.001, "ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


@dataclass
class Setting:
    value: object
    directive: Optional[Directive] = None      # None: HAProxy's built-in default


@dataclass
class Proxy:
    kind: str                                   # frontend | backend | listen | defaults
    name: str
    directive: Directive
    body: list
    acls: AclTable = None
    settings: dict = field(default_factory=dict)    # "mode", "forwardfor", "timeout server", ...
    errorfiles: dict = field(default_factory=dict)  # status -> Directive
    inherited_rules: list = field(default_factory=list)   # rules of a named defaults section
    _index: Optional[tuple] = field(default=None, repr=False, compare=False)

    @property
    def span(self):
        return self.directive.span

    def setting(self, name: str) -> Optional[Setting]:
        return self.settings.get(name)

    def lines(self, *names: str) -> list:
        """The section's lines with these keywords, in file order."""
        if len(names) == 1:
            return list(self._by_key().get(names[0].lower(), ()))
        wanted = {n.lower() for n in names}
        return [d for d in self.body if d.key in wanted]

    def _by_key(self) -> dict:
        # Built once: the builder asks for a section's rules once per route, and a frontend with
        # 10,000 lines and as many routes made that quadratic.
        if self._index is None or self._index[0] != len(self.body):
            index: dict = {}
            for d in self.body:
                index.setdefault(d.key, []).append(d)
            self._index = (len(self.body), index)
        return self._index[1]

    def rules(self, keyword: str) -> list:
        """The section's `keyword` rules in evaluation order, those of a named defaults first."""
        return [d for d in self.inherited_rules if d.key == keyword] + self.lines(keyword)

    @property
    def servers(self) -> list:
        return self.lines("server", "server-template")

    @property
    def has_backend(self) -> bool:
        return self.kind in ("backend", "listen")


def read(tree: Tree) -> tuple[list, dict]:
    """(frontends and listens in order, backends and listens by name)."""
    defaults_by_name: dict = {}
    last_defaults: Optional[Proxy] = None
    fronts, backs = [], {}
    for d in tree.directives:
        if not d.extra.get("section") or d.key not in PROXY_KINDS + ("defaults",):
            continue
        name = d.args[0] if d.args else ""
        parent = last_defaults
        if "from" in d.args[:-1]:
            parent = defaults_by_name.get(d.args[d.args.index("from") + 1], parent)
        proxy = Proxy(d.key, name if d.key != "defaults" or d.args[:1] != ["from"] else "", d, list(d.block or []))
        _inherit(proxy, parent)
        if d.key == "defaults":
            last_defaults = proxy
            if proxy.name:
                defaults_by_name[proxy.name] = proxy
            continue
        proxy.acls = AclTable(proxy.body)
        if d.key in ("frontend", "listen"):
            fronts.append(proxy)
        if d.key in ("backend", "listen"):
            backs[name] = proxy
    return fronts, backs


def _inherit(proxy: Proxy, parent: Optional[Proxy]) -> None:
    if parent is not None:
        proxy.settings = dict(parent.settings)
        proxy.errorfiles = dict(parent.errorfiles)
        if parent.name:
            proxy.inherited_rules = parent.inherited_rules + [d for d in parent.body if d.key in RULE_KEYWORDS]
        else:
            proxy.inherited_rules = list(parent.inherited_rules)
    for d in proxy.body:
        key, args = d.key, d.args
        if key == "mode" and args:
            proxy.settings["mode"] = Setting(args[0].lower(), d)
        elif key == "option" and args and args[0].lower() == "forwardfor":
            proxy.settings["forwardfor"] = Setting(_forwardfor(args[1:]), d)
        elif key == "timeout" and len(args) >= 2:
            ms = parse_time(args[1])
            if ms is not None:
                proxy.settings[f"timeout {args[0].lower()}"] = Setting(ms, d)
        elif key in ("errorfile", "errorloc", "errorloc302", "errorloc303") and len(args) >= 2 and small_int(args[0]) is not None:
            proxy.errorfiles[small_int(args[0])] = d
        elif key == "http-error" and len(args) >= 2 and args[0] == "status" and small_int(args[1]) is not None:
            proxy.errorfiles[small_int(args[1])] = d
        elif key == "default_backend" and args:
            proxy.settings["default_backend"] = Setting(args[0], d)


def _forwardfor(args: list) -> dict:
    out = {"header": "x-forwarded-for", "if_none": False}
    for i, a in enumerate(args):
        if a == "if-none":
            out["if_none"] = True
        elif a == "header" and i + 1 < len(args):
            out["header"] = args[i + 1].lower()
    return out


def parse_time(text: str) -> Optional[float]:
    """An HAProxy time ("50000", "30s", "1m", "500ms") in milliseconds."""
    m = re.fullmatch(r"([0-9]+)(us|ms|s|m|h|d)?", text.strip())
    value = small_int(m.group(1)) if m else None      # more digits: haproxy's timer overflows
    if value is None:
        return None
    return value * _UNITS[m.group(2) or "ms"]


def error_status(status: int, proxies: list) -> int:
    """The status HAProxy answers instead of `status`: `errorloc` turns its page into a redirect."""
    for proxy in proxies:
        d = proxy.errorfiles.get(status) if proxy is not None else None
        if d is not None:
            return {"errorloc": 302, "errorloc302": 302, "errorloc303": 303}.get(d.key, status)
    return status


def error_content_type(status: int, proxies: list, base_dir: str) -> Optional[str]:
    """The Content-Type HAProxy sends with its own `status` page: text/html for the built-in
    pages, the file's own header for an `errorfile` that can be read here (None if unreadable),
    the `content-type` of an `http-error` rule, none for an `errorloc` redirect."""
    for proxy in proxies:
        if proxy is None or status not in proxy.errorfiles:
            continue
        d = proxy.errorfiles[status]
        if d.key.startswith("errorloc"):
            return None
        if d.key == "http-error":
            return d.args[d.args.index("content-type") + 1] if "content-type" in d.args[:-1] else None
        text = read_payload(d.args[1], base_dir)
        if text is None:
            return None
        head = text.split("\n\n", 1)[0]       # read_payload makes \r\n a \n
        for line in head.splitlines()[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-type":
                return value.strip()
        return None
    return "text/html"
