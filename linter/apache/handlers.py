"""The directives that decide what answers a request, read once per server.

In the order httpd 2.4 runs them (translate_name hooks; measured on 2.4.71):

1. the virtual host's own `RewriteRule`s (when `RewriteEngine On`; the main server's are not
   inherited): a `[P]` rule proxies, `[R]` redirects, `[F]`/`[G]`/`[R=4xx]` answer;
2. a `ProxyPass` written inside the last matching `<Location>` (it wins over every `ProxyPass`
   line of the server, even over a `ProxyPass … !` exclusion);
3. `ProxyPass`/`ProxyPassMatch` lines, the main server's first, then the virtual host's: the first
   that matches wins, and `!` stops proxying;
4. mod_alias: `Redirect*` lines first, then `Alias*` (the virtual host's before the main server's);
5. the `DocumentRoot`.

After that, a `Redirect` written inside a matching `<Location>` still replaces the answer (it runs
in the fixups phase), and the access checks (`Require`) can refuse the request (403).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

from linter.model import Condition, Match, compile_regex
from linter.syntax import Directive

from .sections import segment_prefix
from .uri import alias_match
from linter.model import small_int

ALL_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE"})
REDIRECT_STATUS = {"permanent": 301, "temp": 302, "seeother": 303, "gone": 410}
# httpd reads numbers with apr_isdigit/atoi: ASCII digits only (never `²` or `٣`), as many as lead.
_ASCII_DIGITS = tuple("0123456789")


def leading_number(text: str) -> int:
    """C's atoi of an argument that starts with an ASCII digit."""
    m = re.match(r"[0-9]+", text)
    return small_int(m.group(0)) if m else 0


@dataclass
class ProxyRule:
    """`ProxyPass`/`ProxyPassMatch` (in a server or a `<Location>`), or `RewriteRule … [P]`."""

    directive: Directive
    kind: str                     # "prefix" | "regex" | "rewrite"
    pattern: str                  # the path prefix or the regex
    url: str                      # the target as written; "!" excludes
    nocanon: bool = False
    noquery: bool = False
    nocase: bool = False
    in_location: bool = False

    @property
    def excludes(self) -> bool:
        return self.url == "!"

    @property
    def match(self) -> Match:
        name = self.directive.name
        if self.kind == "prefix":
            text = f"{name} {self.pattern}" if not self.in_location else f"<Location {self.pattern}> {name}"
            return Match("prefix", self.pattern, True, text=text)
        return Match("regex", self.pattern, not self.nocase, text=f"{name} {self.pattern}")

    def matches(self, path: str) -> bool:
        if self.kind == "prefix":
            return alias_match(path, self.pattern) > 0
        rx = compile_regex(self.pattern, not self.nocase)
        return bool(rx and rx.search(path))

    @property
    def upstream(self) -> str:
        """scheme://authority of the target (the part before the path)."""
        return split_url(self.url)[0]

    @property
    def url_path(self) -> str:
        return split_url(self.url)[1]


def split_url(url: str) -> tuple:
    """("scheme://authority", "/path") of a proxy target; unix sockets keep their `unix:…|` part."""
    prefix = ""
    if url.lower().startswith("unix:") and "|" in url:
        sock, _, url = url.partition("|")
        prefix = sock + "|"
    m = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*://[^/]*)(.*)$", url)
    if not m:
        return prefix + url, ""
    return prefix + m.group(1), m.group(2)


def proxy_rule(d: Directive, location: Optional[str] = None, location_regex: bool = False) -> Optional[ProxyRule]:
    args = list(d.args)
    if location is None:
        if len(args) < 2:
            return None
        pattern, url, options = args[0], args[1], args[2:]
    else:
        if not args:
            return None
        pattern, url, options = location, args[0], args[1:]
    keys = {o.split("=", 1)[0].lower() for o in options}
    kind = "regex" if d.key == "proxypassmatch" or location_regex else "prefix"
    return ProxyRule(d, kind, pattern, url, "nocanon" in keys, "noquery" in keys,
                     in_location=location is not None)


# -- mod_rewrite ------------------------------------------------------------------------

@dataclass
class RewriteCond:
    directive: Directive
    test: str
    pattern: str
    nocase: bool = False
    or_next: bool = False


@dataclass
class RewriteRule:
    directive: Directive
    pattern: str
    substitution: str
    flags: dict = field(default_factory=dict)      # lower-cased flag name -> value or True
    conditions: list = field(default_factory=list)

    @property
    def negated(self) -> bool:
        return self.pattern.startswith("!")

    def matches(self, path: str) -> bool:
        pattern = self.pattern[1:] if self.negated else self.pattern
        rx = compile_regex(pattern, "nc" not in self.flags and "nocase" not in self.flags)
        if rx is None:
            return False
        return (rx.search(path) is None) if self.negated else (rx.search(path) is not None)

    def matches_everything(self) -> bool:
        return all(self.matches(p) for p in ("", "/", "x", "/a/b", "/_matrix/client/versions"))

    @property
    def proxies(self) -> bool:
        return "p" in self.flags or "proxy" in self.flags

    @property
    def outcome(self) -> str:
        """proxy | redirect | status | pass | internal."""
        if self.proxies:
            return "proxy"
        if "f" in self.flags or "forbidden" in self.flags or "g" in self.flags or "gone" in self.flags:
            return "status"
        code = self.redirect_code
        if code is not None:
            return "redirect" if 300 <= code < 400 and self.substitution != "-" else "status"
        if re.match(r"^[a-z][a-z0-9+.-]*://", self.substitution, re.I):
            return "redirect"            # an absolute URL redirects (302) without [R]
        if self.substitution == "-":
            return "pass"
        return "internal"

    @property
    def redirect_code(self) -> Optional[int]:
        for name in ("r", "redirect"):
            if name in self.flags:
                value = self.flags[name]
                if value is True:
                    return 302
                value = str(value).lower()
                return {"permanent": 301, "temp": 302, "seeother": 303}.get(value) or (
                    leading_number(value) if value[:1] in _ASCII_DIGITS else 302)
        return None

    @property
    def status(self) -> int:
        if "f" in self.flags or "forbidden" in self.flags:
            return 403
        if "g" in self.flags or "gone" in self.flags:
            return 410
        return self.redirect_code or 302

    @property
    def last(self) -> bool:
        return self.outcome != "pass" or any(f in self.flags for f in ("l", "last", "end"))

    def condition(self) -> Optional[Condition]:
        if not self.conditions:
            return None
        text = " && ".join(f"RewriteCond {c.test} {c.pattern}" for c in self.conditions)
        methods = _method_set(self.conditions)
        return Condition(text, methods, self.conditions[0].directive.span)


def rewrite_rules(directives: list) -> list:
    """RewriteRules of one context, each with the RewriteConds written before it."""
    rules, pending = [], []
    for d in directives:
        if d.key == "rewritecond" and len(d.args) >= 2:
            flags = _flags(d.args[2]) if len(d.args) > 2 else {}
            pending.append(RewriteCond(d, d.args[0], d.args[1], "nc" in flags or "nocase" in flags,
                                       "or" in flags or "ornext" in flags))
        elif d.key == "rewriterule" and len(d.args) >= 2:
            flags = _flags(d.args[2]) if len(d.args) > 2 else {}
            rules.append(RewriteRule(d, d.args[0], d.args[1], flags, pending))
            pending = []
    return rules


def _flags(text: str) -> dict:
    out: dict = {}
    for item in text.strip().strip("[]").split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        out[name.strip().lower()] = value.strip() if sep else True
    return out


def _method_set(conditions: list) -> Optional[frozenset]:
    """The request methods for which the conditions hold, when they only test the method."""
    if not all(c.test.upper() == "%{REQUEST_METHOD}" for c in conditions):
        return None
    result: Optional[frozenset] = None
    pending_or: Optional[frozenset] = None
    for c in conditions:
        allowed = _test_methods(c)
        if allowed is None:
            return None
        if pending_or is not None:
            allowed = allowed | pending_or
            pending_or = None
        if c.or_next:
            pending_or = allowed
            continue
        result = allowed if result is None else result & allowed
    if pending_or is not None:
        result = pending_or if result is None else result & pending_or
    return result


def _test_methods(c: RewriteCond) -> Optional[frozenset]:
    pattern, negate = c.pattern, False
    if pattern.startswith("!"):
        negate, pattern = True, pattern[1:]
    if pattern.startswith("="):
        hit = {m for m in ALL_METHODS if (m.lower() == pattern[1:].lower() if c.nocase else m == pattern[1:])}
    elif pattern[:1] in ("<", ">", "-"):
        return None
    else:
        rx = compile_regex(pattern, not c.nocase)
        if rx is None:
            return None
        hit = {m for m in ALL_METHODS if rx.search(m)}
    return frozenset(ALL_METHODS - hit if negate else hit)


def conditions_hold(rule: RewriteRule, method: str, request=None) -> Optional[bool]:
    """Whether the rule's RewriteConds hold: True/False, or None when the model cannot tell."""
    cond = rule.condition()
    if cond is None:
        return True
    if cond.methods is not None:
        return method.upper() in cond.methods
    if request is None:
        return None
    result: Optional[bool] = None
    pending_or: Optional[bool] = None
    for c in rule.conditions:
        value = _evaluate(c, request)
        if value is None:
            return None
        if pending_or is not None:
            value = value or pending_or
            pending_or = None
        if c.or_next:
            pending_or = value
            continue
        result = value if result is None else (result and value)
    if pending_or is not None:
        result = pending_or if result is None else (result and pending_or)
    return True if result is None else result


def _evaluate(c: RewriteCond, request) -> Optional[bool]:
    test = c.test
    header = re.fullmatch(r"%\{HTTP:([^}]+)\}", test)
    named = {"%{REQUEST_METHOD}": request.method, "%{HTTP_HOST}": request.header("host") or request.host,
             "%{REQUEST_URI}": request.path, "%{HTTPS}": "on" if request.scheme == "https" else "off",
             "%{REQUEST_SCHEME}": request.scheme, "%{QUERY_STRING}": request.query or "",
             "%{HTTP_ORIGIN}": request.header("origin") or ""}
    if header:
        value = request.header(header.group(1)) or ""
    elif test.upper() in {k.upper() for k in named}:
        value = next(v for k, v in named.items() if k.upper() == test.upper())
    else:
        return None
    pattern, negate = c.pattern, False
    if pattern.startswith("!"):
        negate, pattern = True, pattern[1:]
    if pattern.startswith("="):
        hit = value.lower() == pattern[1:].lower() if c.nocase else value == pattern[1:]
    elif pattern[:1] in ("<", ">", "-"):
        return None
    else:
        rx = compile_regex(pattern, not c.nocase)
        if rx is None:
            return None
        hit = rx.search(value) is not None
    return hit != negate


# -- mod_alias --------------------------------------------------------------------------

@dataclass
class AliasRule:
    """`Redirect*`/`RedirectMatch` or `Alias`/`AliasMatch`."""

    directive: Directive
    kind: str                 # "redirect" | "alias"
    pattern: str
    target: Optional[str]
    status: int = 302
    regex: bool = False

    def matches(self, path: str) -> bool:
        if self.regex:
            rx = compile_regex(self.pattern)
            return bool(rx and rx.search(path))
        if self.kind == "redirect":
            return segment_prefix(path, self.pattern.rstrip("/") or "/") or path == self.pattern
        return alias_match(path, self.pattern) > 0

    @property
    def match(self) -> Match:
        text = f"{self.directive.name} {self.pattern}"
        if self.regex:
            return Match("regex", self.pattern, True, text=text)
        return Match("prefix", self.pattern, True, text=text)


def alias_rules(directives: list) -> tuple:
    """(redirects, aliases) of one server, in order."""
    redirects, aliases = [], []
    for d in directives:
        key, args = d.key, list(d.args)
        if key in ("redirect", "redirectmatch", "redirectpermanent", "redirecttemp"):
            rule = _redirect(d, args, location=None)
            if rule is not None:
                redirects.append(rule)
        elif key in ("alias", "aliasmatch") and len(args) >= 2:
            aliases.append(AliasRule(d, "alias", args[0], args[1], regex=key == "aliasmatch"))
    return redirects, aliases


def _redirect(d: Directive, args: list, location: Optional[str]) -> Optional[AliasRule]:
    key = d.key
    status = {"redirectpermanent": 301, "redirecttemp": 302}.get(key, 302)
    if key in ("redirect", "redirectmatch") and args:
        first = args[0].lower()
        if first in REDIRECT_STATUS:
            status = REDIRECT_STATUS[first]
            args = args[1:]
        elif first[:1] in _ASCII_DIGITS:   # httpd: apr_isdigit(*arg), then atoi
            status = leading_number(first)
            args = args[1:]
    if location is not None:
        target = args[0] if args else None
        return AliasRule(d, "redirect", location, target, status)
    if not args:
        return None
    target = args[1] if len(args) > 1 else None
    return AliasRule(d, "redirect", args[0], target, status, regex=key == "redirectmatch")


def location_redirect(d: Directive, location: str) -> Optional[AliasRule]:
    """A `Redirect` written inside a `<Location>` (without its URL-path)."""
    args = list(d.args)
    if d.key not in ("redirect", "redirectpermanent", "redirecttemp"):
        return None
    # Inside <Location>, a Redirect with two arguments after the status still names a path first.
    rule = _redirect(d, args, location=location)
    if rule is not None and rule.target is not None and rule.target.startswith("/") and len(args) > 1:
        rest = [a for a in args if a.lower() not in REDIRECT_STATUS and a[:1] not in _ASCII_DIGITS]
        if len(rest) >= 2:
            rule.target = rest[1]
    return rule
