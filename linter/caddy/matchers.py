"""Caddy request matchers: how the Caddyfile writes them, and which requests they match.

A route's matchers are a list of matcher *sets* (any set may match); a set is several matchers
that must all match (Caddy's MatcherSets / MatcherSet). The Caddyfile writes them inline (`*`,
`/path`, `@name`) or defines them by name (`@name path /a /b`, `@name { ... }`, ``@name `expr` ``).

`MatcherSet.test(method, path, assume)` answers True, False, or None when the request's method
and path do not decide it (host, header, remote_ip, expression, ...). `assume` maps undecidable
matchers (by id) to a value, so a caller can explore both outcomes.

Path matching follows caddyhttp.MatchPath: case-insensitive; `*` alone matches everything;
`/x*` is a prefix, `*.ext` a suffix, `*x*` a substring, other globs are Go's path.Match (a `*`
does not cross `/`), and a pattern without `*` is an exact match. The request path is the
decoded, cleaned path with slashes merged (unless the pattern contains `//`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Optional

from linter.model import Match, compile_regex
from linter.syntax import Directive, Span

ALL_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE"})
# Matchers the method and path alone decide.
DECIDABLE = {"path", "path_regexp", "method", "not"}


@dataclass
class Matcher:
    """One matcher of a set: `kind` is Caddy's module name (path, method, header, not, ...)."""

    kind: str
    args: list = field(default_factory=list)      # path patterns, methods, raw words otherwise
    sets: list = field(default_factory=list)      # for `not`: the negated MatcherSets
    span: Optional[Span] = None
    arg_spans: list = field(default_factory=list)  # where each of `args` is written

    def arg_span(self, index: int) -> Optional[Span]:
        return self.arg_spans[index] if index < len(self.arg_spans) else self.span

    def text(self) -> str:
        if self.kind == "not":
            return "not " + " && ".join(s.text() for s in self.sets)
        return " ".join([self.kind] + [str(a) for a in self.args])


@dataclass
class MatcherSet:
    matchers: list = field(default_factory=list)
    name: str = ""                      # "@name" for named matchers, the token for inline ones
    span: Optional[Span] = None

    def text(self) -> str:
        if self.name:
            return self.name
        return " && ".join(m.text() for m in self.matchers)

    def get(self, kind: str) -> Optional[Matcher]:
        return next((m for m in self.matchers if m.kind == kind), None)

    def test(self, method: str, path: str, assume: dict, unknowns: Optional[list] = None) -> Optional[bool]:
        """All matchers of the set: False as soon as one is False, None if one is undecidable."""
        undecided = False
        for m in self.matchers:
            result = _test_one(m, method, path, assume, unknowns)
            if result is False:
                return False
            if result is None:
                undecided = True
        return None if undecided else True

    def path_patterns(self) -> list:
        m = self.get("path")
        return list(m.args) if m else []


def test_sets(sets: Optional[list], method: str, path: str, assume: dict,
              unknowns: Optional[list] = None) -> Optional[bool]:
    """A route's matcher sets: no sets match everything; otherwise any set may match."""
    if not sets:
        return True
    undecided = False
    for s in sets:
        result = s.test(method, path, assume, unknowns)
        if result is True:
            return True
        if result is None:
            undecided = True
    return None if undecided else False


def _test_one(m: Matcher, method: str, path: str, assume: dict, unknowns) -> Optional[bool]:
    if m.kind == "path":
        return any(path_matches(p, path) for p in m.args)
    if m.kind == "method":
        return method.upper() in {a.upper() for a in m.args}
    if m.kind == "path_regexp":
        pattern = m.args[-1] if m.args else ""
        rx = compile_regex(pattern)
        if rx is None:
            return _undecided(m, assume, unknowns)
        return bool(rx.search(path))
    if m.kind == "not":
        inner = [s.test(method, path, assume, unknowns) for s in m.sets]
        if any(r is True for r in inner):
            return False
        if any(r is None for r in inner):
            return None
        return True
    return _undecided(m, assume, unknowns)


def _undecided(m: Matcher, assume: dict, unknowns) -> Optional[bool]:
    if id(m) in assume:
        return assume[id(m)]
    if unknowns is not None and m not in unknowns:
        unknowns.append(m)
    return None


# ---- path patterns -----------------------------------------------------------------------

@lru_cache(maxsize=8192)
def clean_path(path: str, merge_slashes: bool = True) -> str:
    """Caddy's CleanPath: resolve dot segments, merge slashes, keep a trailing slash.
    (Cached: a chain is walked for every sample path, and each route cleans it again.)"""
    if merge_slashes:
        path = re.sub(r"/{2,}", "/", path)
    trailing = path.endswith("/") and len(path) > 1
    out: list = []
    for seg in path.split("/"):
        if seg == ".":
            continue
        if seg == "..":
            if len(out) > 1:
                out.pop()
            continue
        out.append(seg)
    cleaned = "/".join(out) or "/"
    if not cleaned.startswith("/"):
        cleaned = "/" + cleaned
    if trailing and not cleaned.endswith("/"):
        cleaned += "/"
    return cleaned


def path_matches(pattern: str, path: str) -> bool:
    pattern = pattern.lower()
    if pattern == "*":
        return True
    subject = clean_path(path.lower(), "//" not in pattern)
    stars = pattern.count("*")
    if stars == 2 and pattern.startswith("*") and pattern.endswith("*"):
        return pattern[1:-1] in subject
    if stars == 1 and pattern.startswith("*"):
        return subject.endswith(pattern[1:])
    if stars == 1 and pattern.endswith("*"):
        return subject.startswith(pattern[:-1])
    return bool(_glob(pattern).fullmatch(subject))


_glob_cache: dict = {}


def _glob(pattern: str):
    """Go's path.Match as a regex: `*` and `?` do not cross `/`; `[...]` classes; `\\` escapes."""
    rx = _glob_cache.get(pattern)
    if rx is None:
        out, i = [], 0
        while i < len(pattern):
            c = pattern[i]
            if c == "*":
                out.append("[^/]*")
            elif c == "?":
                out.append("[^/]")
            elif c == "\\" and i + 1 < len(pattern):
                i += 1
                out.append(re.escape(pattern[i]))
            elif c == "[":
                end = pattern.find("]", i + 1)
                if end < 0:
                    out.append(re.escape(c))
                else:
                    body = pattern[i + 1:end]
                    if body.startswith("^"):
                        body = "^" + body[1:]
                    out.append("[" + body.replace("\\", "\\\\") + "]")
                    i = end
            else:
                out.append(re.escape(c))
            i += 1
        try:
            rx = re.compile("".join(out))
        except re.error:
            rx = re.compile(re.escape(pattern))
        _glob_cache[pattern] = rx
    return rx


def to_match(pattern: str) -> Match:
    """A Caddy path pattern as the model's Match (what it matches, for display and rules)."""
    low = pattern.lower()
    if low == "*":
        return Match("any", text=pattern)
    stars = low.count("*")
    if stars == 0 and not re.search(r"[?\[\\]", low):
        return Match("exact", low, case_sensitive=False, text=pattern)
    if stars == 1 and low.endswith("*"):
        return Match("prefix", low[:-1], case_sensitive=False, text=pattern)
    if stars == 1 and low.startswith("*"):
        return Match("regex", re.escape(low[1:]) + "$", case_sensitive=False, text=pattern)
    if stars == 2 and low.startswith("*") and low.endswith("*"):
        return Match("regex", re.escape(low[1:-1]), case_sensitive=False, text=pattern)
    return Match("regex", "^" + _glob(low).pattern + "$", case_sensitive=False, text=pattern)


def sample_paths(pattern: str) -> list:
    """Request paths that exercise a pattern: ones it matches and near misses."""
    low = pattern.lower()
    if low == "*":
        return []
    if low.endswith("/*") and low.count("*") == 1:
        base = low[:-2]
        return [base, base + "/", base + "/x", base + "x"]
    if low.endswith("*") and low.count("*") == 1:
        base = low[:-1]
        return [base, base + "/x", base + "x"]
    if low.startswith("*") and low.count("*") == 1:
        return ["/x" + low[1:]]
    filled = re.sub(r"[*?]", "x", low)
    filled = re.sub(r"\[[^\]]*\]", "x", filled)
    return [filled if filled.startswith("/") else "/" + filled, filled.rstrip("/") + "/"]


def regex_samples(pattern: str) -> list:
    """A literal prefix of a regex, as a sample path (`^/_matrix/(a|b)` -> `/_matrix/`)."""
    m = re.match(r"\^?((?:[A-Za-z0-9_\-/.~]|\\[./\-])+)", pattern)
    if not m:
        return []
    literal = m.group(1).replace("\\", "")
    return [literal] if literal.startswith("/") else []


# ---- reading matchers from the tree --------------------------------------------------------

def parse_definition(d: Directive) -> MatcherSet:
    """A named matcher definition: `@name path /a`, `@name { ... }` or ``@name `expr` ``."""
    quoted = d.extra.get("quoted", [])
    if d.args and quoted[:1] == [True] and d.block is None:
        return MatcherSet([Matcher("expression", list(d.args), span=d.span)], d.name, d.span)
    if d.args:
        # `@name kind args { options }`: the block belongs to that one matcher
        lines = [(d.args[0], d.args[1:], d.block, d.span, d.arg_spans[1:])]
    else:
        lines = [(c.name, c.args, c.block, c.span, c.arg_spans) for c in d.block or ()]
    return MatcherSet(_merge(lines), d.name, d.span)


def _merge(lines) -> list:
    """Matchers of one set; several lines of the same kind are one matcher (Caddy concatenates)."""
    by_kind: dict = {}
    order: list = []
    for kind, args, block, span, spans in lines:
        if kind == "not":
            sets = []
            if args:
                sets.append(MatcherSet(_merge([(args[0], args[1:], block, span, spans[1:])]), span=span))
            elif block:
                sets.append(MatcherSet(_merge([(c.name, c.args, c.block, c.span, c.arg_spans)
                                               for c in block]), span=span))
            m = by_kind.get("not")
            if m is None:
                m = by_kind["not"] = Matcher("not", span=span)
                order.append("not")
            m.sets.extend(sets)
            continue
        m = by_kind.get(kind)
        if m is None:
            m = by_kind[kind] = Matcher(kind, span=span)
            order.append(kind)
        m.args.extend(args)
        m.arg_spans.extend(list(spans)[:len(args)] + [span] * (len(args) - len(spans)))
        if block:
            m.args.extend(w for c in block for w in [c.name] + list(c.args))
    return [by_kind[k] for k in order]


def inline(token: str, span: Optional[Span], definitions: dict):
    """(matcher sets, consumed) for a directive's first argument; sets None = every request.

    Returns (None, False) when the argument is not a matcher token.
    """
    if token == "*":
        return None, True
    if token.startswith("/"):
        return [MatcherSet([Matcher("path", [token], span=span, arg_spans=[span])], token, span)], True
    if token.startswith("@"):
        found = definitions.get(token)
        if found is None:
            return [MatcherSet([Matcher("undefined", [token], span=span)], token, span)], True
        return [found], True
    return None, False
