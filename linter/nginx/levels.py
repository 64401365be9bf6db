"""nginx's configuration levels and how each setting is inherited from one level to the next.

A `Level` is the effective configuration at http, server, location, nested location or
`if`-in-location level. `Level.derive(directives)` applies nginx's merge rules: array directives
(`add_header`, `proxy_set_header`, `proxy_hide_header`, `allow`/`deny`, `error_page`) are inherited only when the
current level defines none of them; plain values (`client_max_body_size`, `default_type`, ...) are
inherited unless redefined; handler directives (`proxy_pass`, `return`, `rewrite`) never are.

`Level.unknowns` are the unseen regions whose directives would apply at that level: an unresolved
include at this level or an enclosing one (`linter.model.Unknown`), and for a snippet linted
alone the configuration that includes it. Unlike settings they always accumulate: an unseen
`add_header` at server level could be shadowed by a location's own, but it could as well hold
anything else.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Optional

from linter.model import HeaderOp, Unknown
from linter.syntax import Directive, Span

# add_header without `always` applies only to these statuses (nginx docs, ngx_http_headers_module).
SUCCESS_STATUSES = frozenset({200, 201, 204, 206, 301, 302, 303, 304, 307, 308})
ADD_HEADER_INHERIT_SINCE = (1, 29, 3)
DEFAULT_BODY_SIZE = 1024 * 1024


@dataclass
class Level:
    headers: list = field(default_factory=list)          # HeaderOps from add_header (in order)
    more_headers: list = field(default_factory=list)     # HeaderOps from headers-more
    hide: list = field(default_factory=list)             # HeaderOps (remove) from proxy_hide_header
    header_inherit: str = "on"                           # add_header_inherit
    header_inherit_span: Optional[Span] = None
    proxy_headers: dict = field(default_factory=dict)    # proxy_set_header: lower name -> (value, span)
    proxy_header_list: list = field(default_factory=list)  # every proxy_set_header: (lower name, value, span)
    settings: dict = field(default_factory=dict)         # plain inherited values: name -> Directive
    access: list = field(default_factory=list)           # allow/deny directives
    error_pages: list = field(default_factory=list)      # error_page directives in effect
    # What this level did to inherited add_headers: (dropped HeaderOps, Span of this level's first add_header)
    dropped: list = field(default_factory=list)
    dropped_at: Optional[Span] = None
    complete: bool = True            # False when an outer level (http block) was not part of the input
    # Unseen regions that apply here (linter.model.Unknown), outermost first.
    unknowns: list = field(default_factory=list)
    # Those that could still add a proxy_set_header here: proxy_set_header is an array directive,
    # so a level that sets any replaces everything above it, unseen parts included.
    forwarding_unknowns: list = field(default_factory=list)

    def setting(self, name: str) -> Optional[Directive]:
        return self.settings.get(name)

    @property
    def response_headers(self) -> list:
        """Header operations in the order nginx applies them to a proxied response."""
        return self.hide + self.headers + self.more_headers

    def derive(self, directives: list, nginx_version=None) -> "Level":
        child = replace(self, dropped=[], dropped_at=None,
                        unknowns=list(self.unknowns) + unresolved_here(directives))
        own_add = [d for d in directives if d.key == "add_header"]
        inherit = self.header_inherit
        for d in directives:
            if d.key == "add_header_inherit" and d.args:
                if nginx_version is None or tuple(nginx_version) >= ADD_HEADER_INHERIT_SINCE:
                    inherit = d.args[0].lower()
                    child.header_inherit_span = d.span
        child.header_inherit = inherit
        if own_add or inherit == "off":
            ops = [op for op in (_add_header_op(d) for d in own_add) if op is not None]
            if inherit == "merge":
                child.headers = ops + list(self.headers)
            else:
                child.headers = ops
                # `add_header X "";` alone (or add_header_inherit off) cancels inheritance on purpose.
                deliberate = inherit == "off" or not ops
                redeclared = {op.key for op in ops}
                if not deliberate:
                    child.dropped = [op for op in self.headers if op.key not in redeclared]
                    child.dropped_at = own_add[0].span
        more = [op for d in directives for op in _more_headers_ops(d)]
        if more:
            child.more_headers = more
        hide = [d for d in directives if d.key == "proxy_hide_header"]
        if hide:
            child.hide = [HeaderOp(d.args[0], None, "remove", d.span, on_generated=False,
                                   source=_source(d)) for d in hide if d.args]
        psh = [d for d in directives if d.key == "proxy_set_header" and len(d.args) >= 2]
        if psh:
            child.proxy_headers = {d.args[0].lower(): (d.args[1], d.span) for d in psh}
            child.proxy_header_list = [(d.args[0].lower(), d.args[1], d.span) for d in psh]
        here = unresolved_here(directives)
        child.forwarding_unknowns = here if psh else list(self.forwarding_unknowns) + here
        pages = [d for d in directives if d.key == "error_page" and len(d.args) >= 2]
        if pages:
            child.error_pages = pages
        access = [d for d in directives if d.key in ("allow", "deny")]
        if access:
            child.access = access
        child.settings = dict(self.settings)
        for d in directives:
            # Without an argument nginx refuses the directive (an error already): it sets nothing.
            if d.key in _PLAIN_SETTINGS and d.args:
                child.settings[d.key] = d
        return child


def unresolved_here(directives: list) -> list:
    """Unknowns for the unresolved includes among one block's directives (includes are inlined
    as siblings, so the include directive itself is one of them)."""
    return [Unknown.from_unresolved(d.extra["unresolved"]) for d in directives
            if d.extra.get("unresolved") is not None]


_DIGITS = re.compile(r"[0-9]+")   # not str.isdigit, which accepts `²` that int() refuses

# Plain settings the model needs; each is inherited unless redefined at a lower level.
_PLAIN_SETTINGS = {
    "client_max_body_size", "default_type", "root", "proxy_http_version", "auth_basic",
    "auth_request", "proxy_intercept_errors", "merge_slashes", "modsecurity", "proxy_read_timeout",
}


def _source(d: Directive) -> str:
    return " ".join([d.name] + [_quote(a) for a in d.args])


_NEEDS_QUOTES = re.compile(r"[\s;{}]")


def _quote(arg: str) -> str:
    return f'"{arg}"' if (not arg or _NEEDS_QUOTES.search(arg)) else arg


def _add_header_op(d: Directive) -> Optional[HeaderOp]:
    if len(d.args) < 2 or d.args[1] == "":
        # nginx adds nothing for an empty value; `add_header X "";` only cancels inheritance.
        return None
    always = len(d.args) > 2 and d.args[2].lower() == "always"
    return HeaderOp(d.args[0], d.args[1], "add", d.span,
                    statuses=None if always else SUCCESS_STATUSES, source=_source(d))


def _more_headers_ops(d: Directive) -> list:
    """headers-more: `more_set_headers [-s statuses] [-t types] 'Name: value' ...` replaces the header."""
    if d.key not in ("more_set_headers", "more_clear_headers"):
        return []
    statuses = None
    ops = []
    args = list(d.args)
    source = _source(d)     # once: a directive may carry thousands of arguments
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-s", "-t") and i + 1 < len(args):
            if a == "-s":
                statuses = frozenset(int(s) for s in args[i + 1].split()
                                     if _DIGITS.fullmatch(s)) or None
            i += 2
            continue
        name, _, value = a.partition(":")
        name, value = name.strip(), value.strip()
        if d.key == "more_clear_headers":
            ops.append(HeaderOp(name, None, "remove", d.span, statuses=statuses, source=source))
        elif value:
            ops.append(HeaderOp(name, value, "set", d.span, statuses=statuses, source=source))
        else:
            ops.append(HeaderOp(name, None, "remove", d.span, statuses=statuses, source=source))
        i += 1
    return ops
