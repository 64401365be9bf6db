"""Recognising Caddy v1 Caddyfiles, which are lexically Caddyfiles but mean nothing to Caddy 2.

Caddy 1 (EOL since 2020) is still all over old Matrix docs: `proxy /_matrix http://... {
transparent }`, `gzip`, `fastcgi`, `rewrite { r ... to ... }`, `header_upstream`. Caddy 2 rejects
such files, so instead of parsing them as nonsense v2 we report one clear error. Only markers
that cannot be Caddy 2 count (checked against the v2 and v1 corpus):

- a site-level directive that only Caddy 1 had (`proxy from to`, `gzip`, `fastcgi`, ...),
- a Caddy 1 proxy option anywhere (`transparent`, `websocket`, `header_upstream`, ...),
- `rewrite`/`redir` with a block, `tls self_signed`,
- a file that starts with a directive scoped to `/` (`header / {`) where Caddy 2 expects a
  site address.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

from linter.syntax import Directive, Span, Tree, walk

# Directives that exist only in Caddy 1, with what Caddy 2 uses instead; `min_args` keeps out
# Caddy 2 apps that reuse a name (caddy-l4's `proxy {` has no arguments or one upstream).
_V1_DIRECTIVES = {
    "proxy": ("reverse_proxy", 2),
    "gzip": ("encode gzip", 0),
    "fastcgi": ("php_fastcgi", 2),
    "internal": ("a matcher with handle", 1),
    "errors": ("handle_errors", 0),
    "status": ("respond", 1),
    "markdown": ("templates", 0),
    "ext": ("try_files", 1),
    "timeouts": ("the servers global option", 1),
    "limits": ("request_body", 1),
    "on": ("events", 1),
    "browse": ("file_server browse", 0),
    "expvar": ("metrics", 0),
    "pprof": ("the admin endpoint", 0),
    "mime": ("header Content-Type", 1),
    "startup": ("events", 1),
    "shutdown": ("events", 1),
}
# Caddy 1 wrote these with a base path first (`proxy /_matrix backend`); caddy-l4's `proxy
# upstream...` and a stray `internal fun` in a doc block do not count.
_PATH_FIRST = {"proxy", "fastcgi", "internal"}
_V1_PROXY_OPTIONS = {
    "transparent": "Caddy 2's reverse_proxy sends those headers by default",
    "websocket": "Caddy 2 proxies websockets without an option",
    "header_upstream": "Caddy 2 uses header_up",
    "header_downstream": "Caddy 2 uses header_down",
    "without": "Caddy 2 uses handle_path or uri strip_prefix",
    "except": "Caddy 2 uses matchers",
}
# Caddy 1 directives that rule MPL701 (caddy-v1-directive, severity error; rules/caddy.py
# V1_DIRECTIVES) reports in a file that is otherwise Caddy 2, naming the Caddy 2 replacement.
# The front end's "unrecognized directive" check (refusals.py) leaves these to the rule.
V1_LEFTOVERS = frozenset({
    "proxy", "gzip", "fastcgi", "cors", "ipfilter", "realip", "expires", "ratelimit", "jwt",
    "internal", "errors", "status", "ext", "browse", "mime", "limits", "markdown",
})


def v1_leftover(d: Directive) -> bool:
    """A Caddy 1 directive written the Caddy 1 way (`proxy /from to`, `status 403 /path`),
    which rule MPL701 reports (the same shape test as the rule's)."""
    if d.name not in V1_LEFTOVERS:
        return False
    if d.name in ("proxy", "fastcgi", "internal"):
        return bool(d.args) and d.args[0].startswith("/") \
            and len(d.args) >= (1 if d.name == "internal" else 2)
    if d.name in ("status", "ext", "mime", "limits"):
        return bool(d.args)
    return True


# Directive names Caddy 1 knew, for files that start with a directive instead of an address.
_V1_KNOWN = set(_V1_DIRECTIVES) | {"header", "root", "redir", "rewrite", "tls", "log",
                                   "basicauth", "templates", "bind", "cors", "jwt", "ipfilter"}


@dataclass
class V1Reason:
    message: str
    span: Optional[Span]

    def __str__(self) -> str:
        where = f" ({self.span})" if self.span else ""
        return self.message + where


def caddy_v1_reason(tree_or_text: Union[Tree, str]) -> Optional[str]:
    """Why this looks like a Caddy v1 Caddyfile, as a sentence with its position, or None."""
    reason = find_v1(tree_or_text)
    return str(reason) if reason else None


def find_v1(tree_or_text: Union[Tree, str]) -> Optional[V1Reason]:
    """The first Caddy v1 marker (message and span), or None."""
    if isinstance(tree_or_text, Tree):
        return _find(tree_or_text.directives)
    from linter.caddy.parse import parse_string

    tree = parse_string(tree_or_text, env={}, fragment=False)
    if tree.directives:
        return _find(tree.directives)
    return reason_in_text(tree_or_text)


def reason_in_text(text: str, path: str = "<text>") -> Optional[V1Reason]:
    """The same check on a forgiving grouping of the tokens (for text the grammar rejects);
    `path` is the file the text is from (the reason's span names it)."""
    return _find(_loose_tree(text, path))


def _find(directives: list[Directive]) -> Optional[V1Reason]:
    sites = [d for d in directives if d.name == "site"]
    for site in sites:
        for d in site.block or ():
            found = _site_level(d)
            if found:
                return found
        for d in walk(site.block or ()):   # iterative: the loose tree may be deep
            if d.name in _V1_PROXY_OPTIONS:
                return V1Reason(f"the proxy option '{d.name}' "
                                f"({_V1_PROXY_OPTIONS[d.name]})", d.span)
    # Caddy 1 doc fragments often start with a directive scoped to "/" (all paths in Caddy 1;
    # only the root page in Caddy 2), which Caddy 2 reads as two site addresses.
    first = sites[0] if sites else None
    if first is not None and len(first.args) >= 2 and (
            (first.args[0] in _V1_KNOWN and first.args[1] == "/")
            or (first.args[0] in _PATH_FIRST and first.args[1].startswith("/"))):
        return V1Reason(f"the file starts with the directive '{first.args[0]} "
                        f"{first.args[1]}' where Caddy 2 expects a site address",
                        first.arg_span(0))
    return None


def _site_level(d: Directive) -> Optional[V1Reason]:
    if d.name in _V1_DIRECTIVES:
        instead, min_args = _V1_DIRECTIVES[d.name]
        path_first = d.name in _PATH_FIRST
        if len(d.args) >= min_args and (not path_first or d.args[0].startswith("/")):
            return V1Reason(f"the '{d.name}' directive (Caddy 2 uses {instead})", d.span)
    if d.name in ("rewrite", "redir") and d.block:
        return V1Reason(f"a '{d.name}' block (Caddy 2's {d.name} takes no block)", d.span)
    if d.name == "tls" and d.args[:1] == ["self_signed"]:
        return V1Reason("'tls self_signed' (Caddy 2 uses 'tls internal')", d.span)
    return None


def _loose_tree(text: str, path: str = "<text>") -> list[Directive]:
    """Group tokens into lines and braces without ever failing: unbalanced braces are
    forgiven, and top-level lines after a brace-less first line belong to that site."""
    from linter.caddy.lex import lex, on_new_line
    from linter.syntax import ConfigError

    try:
        tokens = lex(text, path, env={})
    except ConfigError:
        return []
    root: list[Directive] = []
    stack: list[list[Directive]] = [root]
    bare_site: list[Optional[Directive]] = [None]
    line: list = []

    def flush(opens_block: bool) -> Optional[Directive]:
        if not line:
            return None
        first = line[0]
        if len(stack) == 1 and bare_site[0] is None:
            d = Directive("site", [t.text for t in line], first.span, [t.span for t in line], [])
            root.append(d)
            if not opens_block:
                bare_site[0] = d
        else:
            d = Directive(first.text, [t.text for t in line[1:]], first.span,
                          [t.span for t in line[1:]], [] if opens_block else None)
            (bare_site[0].block if len(stack) == 1 else stack[-1]).append(d)
        line.clear()
        return d

    prev = None
    for tok in tokens:
        if prev is not None and on_new_line(prev, tok) and not tok.is_open:
            flush(False)
        if tok.is_open:
            d = flush(True)
            if d is None:
                d = Directive("global" if len(stack) == 1 else "{", [], tok.span, [], [])
                stack[-1].append(d)
            stack.append(d.block)
        elif tok.is_close:
            flush(False)
            if len(stack) > 1:
                stack.pop()
        else:
            line.append(tok)
        prev = tok
    flush(False)
    return root
