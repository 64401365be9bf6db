"""HAProxy ACL conditions as expressions the model can evaluate, with three-valued logic.

A condition (`if matrix-host matrix-path || METH_OPTIONS`, `unless { ssl_fc }`) is an OR of
AND-groups of ACL terms (see acl.py); a named ACL is the OR of every `acl` line with that name in
its section. `condition_expr` turns one into `Any`/`All`/`Not` nodes over `Term`s, and
`evaluate(expr, ctx)` answers True, False, or None when the answer depends on something the model
does not know (the client address, a cookie, a variable...).

What a `Term` can decide (everything else is kind "unknown" and evaluates to None):

- "path":   `path`, `path_beg`, `path_end`, `path_sub`, `path_dir`, `path_dom`, `path_reg`,
            `url_beg`, `url_dir` and `-m str|beg|end|sub|dir|dom|reg`, with `-i`.
- "method": `method ...`, the predefined `METH_*` ACLs.
- "host":   `hdr(host)`, `req.hdr(host)`, `hdr_dom(host)`, `hdr_beg/end/sub/reg(host)`, with the
            `lower`, `field(1,:)` and `host_only` converters.
- "tls":    `ssl_fc`.  "port": `dst_port`.  "status": `status` (responses).
- "sni":    `ssl_fc_sni`, `req.ssl_sni`, `req_ssl_sni` (the TLS server name the client sent):
            decided only for a whole request (`routing.select_request`: clients send the
            host they connect to), unknown otherwise.
- "const":  `TRUE`, `FALSE`, `always_true`, `always_false`, `HTTP`, `HTTP_URL_SLASH`.

The host of a `Context` may be `OTHER_HOST`: a host that none of the config's host ACLs names
(exact, suffix, prefix and domain matches are then false; a regex is unknown).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Optional

from linter.haproxy.numbers import small_int
from linter.model import compile_regex

ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE")
OTHER_HOST = "\x00other"          # a Host header no ACL of the config names

_PATH_FETCHES = {"path": "str", "path_beg": "beg", "path_end": "end", "path_sub": "sub",
                 "path_dir": "dir", "path_dom": "dom", "path_reg": "reg", "path_len": "len",
                 "url_beg": "beg", "url_dir": "dir"}
_HOST_FETCHES = {"hdr": "str", "req.hdr": "str", "req.fhdr": "str", "hdr_str": "str", "hdr_beg": "beg",
                 "hdr_end": "end", "hdr_sub": "sub", "hdr_dom": "dom", "hdr_reg": "reg", "hdr_dir": "dir"}
_HOST_CONVERTERS = {"lower", "field(1,:)", "host_only"}
_METHOD_ACLS = {"METH_CONNECT": ("CONNECT",), "METH_DELETE": ("DELETE",), "METH_GET": ("GET", "HEAD"),
                "METH_HEAD": ("HEAD",), "METH_OPTIONS": ("OPTIONS",), "METH_POST": ("POST",),
                "METH_PUT": ("PUT",), "METH_TRACE": ("TRACE",)}
_CONST_ACLS = {"TRUE": True, "FALSE": False, "HTTP": True, "HTTP_URL_SLASH": True,
               "always_true": True, "always_false": False}
_FLAGS_WITH_VALUE = {"-f", "-m", "-M", "-u"}
# Fetches that read the request line or headers: HAProxy 2.6 warns that an ACL on them "will never
# match" in http-response / http-after-response rules (checked). The method stays available.
_REQUEST_FETCH_PREFIXES = ("path", "url", "base", "hdr", "req.", "cook", "query", "urlp", "http_auth",
                           "capture.req.uri", "capture.req.ver", "capture.req.method")
_AVAILABLE_IN_RESPONSES = {"req.ver", "req.len", "req_len"}


@dataclass
class Context:
    """What is known about one request (None: unknown)."""

    method: Optional[str] = None
    path: Optional[str] = None
    host: Optional[str] = None
    tls: Optional[bool] = None
    port: Optional[int] = None
    status: Optional[int] = None
    sni: Optional[str] = None      # the TLS server name the client sent ("" for none)
    # "response" inside http-response / http-after-response rules: the request's path and
    # headers are gone there, and HAProxy 2.6 counts an ACL on them as not matching.
    phase: str = "request"


@dataclass(eq=False)
class Term:
    """One ACL test: `kind` says what it looks at, `how` how it matches `patterns`."""

    kind: str                      # path | method | host | tls | port | status | const | unknown
    how: str = "str"               # str beg end sub dir dom reg bool int found len
    patterns: tuple = ()
    nocase: bool = False
    text: str = ""                 # as written, for messages
    value: Optional[bool] = None   # for kind "const"
    name: str = ""                 # the named ACL it comes from ("" for anonymous ones)
    criterion: str = ""            # the fetch as written ("path_beg", "hdr(host)")
    flags: str = ""                # its flags as written ("-i -m beg")
    request_only: bool = False     # needs the request line or headers (never matches in responses)
    var: str = ""                  # for `var(txn.x)` terms: the variable's name

    def evaluate(self, ctx: Context) -> Optional[bool]:
        if self.request_only and ctx.phase == "response":
            return False
        if self.kind == "const":
            return self.value
        if self.kind == "unknown":
            return None
        if self.kind == "path":
            return None if ctx.path is None else self._match_string(ctx.path)
        if self.kind == "method":
            if ctx.method is None:
                return None
            method = ctx.method.upper() if self.nocase else ctx.method
            return any(method == (p.upper() if self.nocase else p) for p in self.patterns)
        if self.kind == "host":
            if ctx.host is None:
                return None
            if ctx.host == OTHER_HOST:
                return None if self.how in ("reg", "found", "len") else False
            return self._match_string(ctx.host.lower(), host=True)
        if self.kind == "tls":
            return ctx.tls
        if self.kind == "sni":
            return None if ctx.sni is None else self._match_string(ctx.sni.lower(), host=True)
        if self.kind == "port":
            return None if ctx.port is None else _int_match(ctx.port, self.patterns)
        if self.kind == "status":
            return None if ctx.status is None else _int_match(ctx.status, self.patterns)
        return None

    def _match_string(self, value: str, host: bool = False) -> Optional[bool]:
        if self.how == "found":
            return bool(value)
        if self.how not in ("str", "beg", "end", "sub", "dir", "dom", "reg"):
            return None
        for pattern in self.patterns:
            rx = compile_regex(pattern_regex(self.how, pattern), not (self.nocase or host))
            if rx is None:
                return None
            if rx.search(value):
                return True
        return False

    def with_pattern(self, pattern: str) -> "Term":
        return replace(self, patterns=(pattern,))


def _int_match(value: int, patterns: tuple) -> Optional[bool]:
    ops = {"eq": lambda a, b: a == b, "ge": lambda a, b: a >= b, "gt": lambda a, b: a > b,
           "le": lambda a, b: a <= b, "lt": lambda a, b: a < b}
    i = 0
    items = list(patterns)
    while i < len(items):
        p = items[i]
        if p in ops and i + 1 < len(items) and small_int(items[i + 1]) is not None:
            if ops[p](value, small_int(items[i + 1])):
                return True
            i += 2
            continue
        low, sep, high = p.partition(":")
        lo, hi = small_int(low), small_int(high)
        if (low and lo is None) or (high and hi is None):
            return None
        if not sep:
            hi = lo
        if (lo is None or value >= lo) and (hi is None or value <= hi):
            return True
        i += 1
    return False


@lru_cache(maxsize=8192)
def pattern_regex(how: str, pattern: str) -> str:
    """A Python regex (for `search`) equivalent to matching `pattern` the way `how` says.
    (Cached: every rule's patterns are tried for every sample request.)"""
    esc = re.escape(pattern)
    if how == "str":
        return f"^{esc}$"
    if how == "beg":
        return f"^{esc}"
    if how == "end":
        return f"{esc}$"
    if how == "sub":
        return esc
    if how == "dir":
        return f"(?:^|/){re.escape(pattern.strip('/'))}(?:/|$)"
    if how == "dom":
        return f"(?:^|[/?.:]){re.escape(pattern.strip('/?.:'))}(?:[/?.:]|$)"
    return re.sub(r"\(\?<([A-Za-z_]\w*)>", r"(?P<\1>", pattern)     # reg (PCRE named groups)


# -- expressions -----------------------------------------------------------------------------

@dataclass(eq=False)
class All:
    items: list = field(default_factory=list)


@dataclass(eq=False)
class Any:
    items: list = field(default_factory=list)


@dataclass(eq=False)
class Not:
    item: object = None


TRUE = Term("const", value=True, text="TRUE")


def evaluate(expr, ctx: Context) -> Optional[bool]:
    """Kleene's three-valued logic: False beats None in an AND, True beats None in an OR."""
    if isinstance(expr, Term):
        return expr.evaluate(ctx)
    if isinstance(expr, Not):
        value = evaluate(expr.item, ctx)
        return None if value is None else not value
    if isinstance(expr, All):
        unknown = False
        for item in expr.items:
            value = evaluate(item, ctx)
            if value is False:
                return False
            unknown |= value is None
        return None if unknown else True
    if isinstance(expr, Any):
        unknown = False
        for item in expr.items:
            value = evaluate(item, ctx)
            if value is True:
                return True
            unknown |= value is None
        return None if unknown else False
    raise TypeError(expr)


def terms(expr) -> list:
    """Every Term in an expression."""
    if isinstance(expr, Term):
        return [expr]
    if isinstance(expr, Not):
        return terms(expr.item)
    return [t for item in expr.items for t in terms(item)]


def kinds(expr) -> set:
    return {t.kind for t in terms(expr)}


# -- from the parse layer -------------------------------------------------------------------

class AclTable:
    """The named ACLs of one proxy section: name -> the Terms of its `acl` lines, in order."""

    def __init__(self, directives=()):
        self.acls: dict = {}
        for d in directives:
            if d.key == "acl" and len(d.args) >= 2:
                term = parse_acl(d.args[1:], name=d.args[0])
                self.acls.setdefault(d.args[0], []).append(term)

    def resolve(self, name: str):
        if name in self.acls:
            found = self.acls[name]
            return found[0] if len(found) == 1 else Any(list(found))
        if name in _METHOD_ACLS:
            return Term("method", patterns=_METHOD_ACLS[name], text=name, name=name)
        if name in _CONST_ACLS:
            return Term("const", value=_CONST_ACLS[name], text=name, name=name)
        # haproxy reads an undeclared name as a sample fetch used as a boolean (`if ssl_fc`).
        return parse_acl([name], name=name)


def parse_acl(words, name: str = "") -> Term:
    """`<criterion> [flags] [patterns...]` (an `acl` line after its name, or `{ ... }`)."""
    words = list(words)
    text = " ".join(words)
    if not words:
        return Term("unknown", text=text, name=name)
    criterion, rest = words[0], words[1:]
    how, nocase, from_file = None, False, False
    i = 0
    while i < len(rest) and rest[i].startswith("-") and len(rest[i]) > 1:
        flag = rest[i]
        if flag == "--":
            i += 1
            break
        if flag == "-i":
            nocase = True
        elif flag == "-m" and i + 1 < len(rest):
            how = rest[i + 1]
        elif flag == "-f":
            from_file = True
        if flag in _FLAGS_WITH_VALUE:
            i += 1
        i += 1
    patterns = tuple(rest[i:])
    flag_text = " ".join(rest[:i])
    fetch, _, converters = criterion.partition(",")
    base, _, arg = fetch.partition("(")
    arg = arg.rstrip(")")
    base_lower = base.lower()
    convs = [c for c in _split_converters(converters)]
    request_only = base_lower.startswith(_REQUEST_FETCH_PREFIXES) and base_lower not in _AVAILABLE_IN_RESPONSES
    unknown = Term("unknown", text=text, name=name, request_only=request_only, criterion=criterion,
                   flags=flag_text, var=arg if base_lower == "var" else "")
    if from_file:
        return unknown
    if base_lower in _PATH_FETCHES and not arg:
        if any(c not in ("lower", "url_dec") for c in convs):
            return unknown
        nocase = nocase or "lower" in convs and all(p == p.lower() for p in patterns)
        how = how or _PATH_FETCHES[base_lower]
        if how == "len" or not patterns and how != "found":
            return unknown
        return Term("path", how, patterns, nocase, text, name=name, criterion=criterion, flags=flag_text,
                    request_only=True)
    if base_lower in _HOST_FETCHES and arg.lower() == "host":
        if any(c not in _HOST_CONVERTERS for c in convs):
            return unknown
        how = how or _HOST_FETCHES[base_lower]
        patterns = tuple(p.lower() for p in patterns)
        if not patterns and how != "found":
            return unknown
        return Term("host", how, patterns, True, text, name=name, criterion=criterion, flags=flag_text,
                    request_only=True)
    if base_lower == "method" and not convs:
        if not patterns:
            return unknown
        return Term("method", how or "str", patterns, nocase, text, name=name, criterion=criterion, flags=flag_text)
    if base_lower in ("ssl_fc_sni", "req.ssl_sni", "req_ssl_sni") and not arg and \
            all(c == "lower" for c in convs) and patterns and (how or "str") in ("str", "beg", "end", "dom", "sub"):
        return Term("sni", how or "str", tuple(p.lower() for p in patterns), True, text, name=name,
                    criterion=criterion, flags=flag_text, request_only=request_only)
    if base_lower == "ssl_fc" and not convs and not patterns:
        return Term("tls", "bool", (), False, text, name=name)
    if base_lower in ("dst_port", "status") and not convs and patterns:
        return Term("port" if base_lower == "dst_port" else "status", "int", patterns, False, text, name=name)
    if base_lower in ("always_true", "always_false") and not patterns:
        return Term("const", value=base_lower == "always_true", text=text, name=name)
    return unknown


def _split_converters(text: str) -> list:
    """`lower,field(1,:)` -> ["lower", "field(1,:)"] (commas inside parentheses stay)."""
    out, depth, current = [], 0, ""
    for c in text:
        if c == "," and not depth:
            out.append(current)
            current = ""
            continue
        depth += c == "("
        depth -= c == ")" and depth > 0
        current += c
    if current:
        out.append(current)
    return [c.strip() for c in out if c.strip()]


def condition_expr(condition, acls: AclTable, variables: Optional[dict] = None):
    """The parse layer's `acl.Condition` (or None) -> an expression; no condition is TRUE.

    `variables` (from `collect_variables`) lets a `var(txn.x)` test stand for what set it."""
    if condition is None:
        return TRUE
    groups = []
    for group in condition:
        items = []
        for term in group:
            acl = term.acl
            expr = parse_acl(acl) if isinstance(acl, tuple) else acls.resolve(acl)
            expr = substitute(expr, variables) if variables else expr
            items.append(Not(expr) if term.negated else expr)
        groups.append(items[0] if len(items) == 1 else All(items))
    expr = groups[0] if len(groups) == 1 else Any(groups)
    return Not(expr) if condition.keyword == "unless" else expr


def disjuncts(condition, acls: AclTable, variables: Optional[dict] = None) -> list:
    """The AND-groups of a condition, each a list of (negated, expression) conjuncts.

    `unless` conditions are returned as one group holding the negated whole."""
    if condition is None:
        return [[]]
    if condition.keyword == "unless":
        return [[(True, condition_expr(replace_keyword(condition), acls, variables))]]
    out = []
    for group in condition:
        conj = []
        for term in group:
            acl = term.acl
            expr = parse_acl(acl) if isinstance(acl, tuple) else acls.resolve(acl)
            expr = substitute(expr, variables) if variables else expr
            conj.append((term.negated, expr))
        out.append(conj)
    return out


class _IfView(list):
    keyword = "if"


def replace_keyword(condition) -> list:
    """The same groups read as `if` (to negate an `unless` once)."""
    return _IfView(condition)


def condition_text(directive) -> str:
    cond = directive.extra.get("condition")
    if cond is None:
        return ""
    return " ".join(directive.args[cond.index:])


# -- transaction variables ------------------------------------------------------------------------

_TRUE_VALUES = {"bool(true)", "bool(1)", "int(1)"}


def collect_variables(lines) -> dict:
    """`http-request set-var(txn.NAME) <expr> [if cond]` lines -> NAME: (expr, condition or None).

    `lines` are (Directive, AclTable) pairs; a variable set by several lines maps to None."""
    out: dict = {}
    for d, acls in lines:
        if d.key != "http-request" or len(d.args) < 2:
            continue
        m = re.fullmatch(r"set-var\((txn\.[\w.]+)\)", d.args[0])
        if not m:
            continue
        cond = d.extra.get("condition")
        value = (d.args[1], None if cond is None else condition_expr(cond, acls))
        out[m.group(1)] = None if m.group(1) in out else value
    return out


def substitute(expr, variables: dict):
    """Replace `var(txn.x)` tests by what set the variable, where that is known."""
    if isinstance(expr, Term):
        return _variable_term(expr, variables) if expr.var else expr
    if isinstance(expr, Not):
        return Not(substitute(expr.item, variables))
    return type(expr)([substitute(i, variables) for i in expr.items])


def _variable_term(term: Term, variables: dict):
    entry = variables.get(term.var)
    if entry is None:
        return term
    source, cond = entry
    cond = _evaluated_earlier(cond) if cond is not None else None
    words = term.text.split()[1:]
    flags = term.flags.split() if term.flags else []
    patterns = words[len(flags):] if words[:len(flags)] == flags else []
    method = flags[flags.index("-m") + 1] if "-m" in flags and flags.index("-m") + 1 < len(flags) else None
    if method in ("bool", "found") and not patterns:
        # Set from a constant, the variable exists exactly when its rule ran; set from a fetch
        # (`req.hdr(x)`), only when the request had it: that the model does not know.
        constant = re.match(r"(bool|int|str)\(", source.lower())
        if method == "found" and constant or source.lower() in _TRUE_VALUES:
            return cond if cond is not None else TRUE
        return term
    if not patterns:
        return term
    replaced = parse_acl([source] + flags + patterns, name=term.name)
    if replaced.kind == "unknown":
        return term
    replaced = replace(replaced, request_only=False, text=term.text)
    return All([cond, replaced]) if cond is not None else replaced


def _evaluated_earlier(expr):
    """The same test, marked as decided when the request came in (so it holds in responses too)."""
    if isinstance(expr, Term):
        return replace(expr, request_only=False) if expr.request_only else expr
    if isinstance(expr, Not):
        return Not(_evaluated_earlier(expr.item))
    return type(expr)([_evaluated_earlier(i) for i in expr.items])
