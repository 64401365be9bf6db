"""What `nginx -t` refuses that crossplane's analyzer (context.py) does not see.

crossplane checks where a directive may appear and how many arguments it takes. nginx refuses
more at configuration time, and a configuration nginx refuses must never be reported clean. The
checks here mirror nginx's own messages (src/http/ngx_http_core_module.c, ngx_http_map_module.c,
ngx_http_geo_module.c, ngx_http_charset_filter_module.c, ngx_http_rewrite_module.c,
src/core/ngx_inet.c), each at the position of what is wrong:

- Blocks read by a custom handler (`map`, `geo`, `split_clients`, `charset_map`, `types`): their
  entries are not directives, and a `{` inside them is `unexpected "{"`; their entries' arity
  (`invalid number of the map parameters`, ...).
- `location`: an unknown modifier (`location foo bar {`); a location nested inside an exact or
  named location, a named location that is nested, a nested prefix location that is not under
  its parent's prefix (`location "/b" is outside location "/a"`).
- `if`: a condition that is not in parentheses (`invalid condition "$a"`), or is not one of
  `$var`, `$var OP value` (OP one of = != ~ ~* !~ !~*) and `-f|-d|-e|-x path` (or `!-f`, ...):
  `invalid condition "x"`, `unexpected "==" in condition`.
- `return`: a code that is not 0-999 and not a URL (`invalid return code "/x"`).
- `listen` (http): what `ngx_parse_url` refuses without asking DNS (`invalid port`, `no host`,
  `invalid host`, `invalid IPv6 address`, and `host not found` for a host name holding
  characters no host name has, such as `4²3`).

What needs nginx's run time (DNS, certificates, variables, duplicate values) is not checked.
Directives marked `unterminated` were already reported as syntax errors and are skipped, and so
is a value holding a template placeholder (`listen ${PORT};` in an envsubst template: the value
is unknown, as for an include path with one, sources.py).
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Optional

from ..syntax import ConfigError, Directive, Span
from .context import CONTEXTS
from .lexer import brief
from .sources import template_placeholder

# Block directives whose content nginx reads with a handler of their own, and where each is the
# real directive (elsewhere crossplane already reports it as misplaced).
_CUSTOM_BLOCKS = {
    "map": {("http",), ("stream",)},
    "geo": {("http",), ("stream",)},
    "split_clients": {("http",), ("stream",)},
    "charset_map": {("http",)},
    "types": {("http",), ("http", "server"), ("http", "location")},
}
# Entries that take no value, and the error for any other arity (each entry is `key value`).
_ALONE = {"map": {"hostnames", "volatile"}, "geo": {"ranges", "proxy_recursive"},
          "charset_map": set()}
_ARITY_ERROR = {"map": "invalid number of the map parameters",
                "geo": "invalid number of the geo parameters",
                "charset_map": "invalid parameters number"}

_DIGITS = re.compile(r"[0-9]+")
# Characters a host name may hold (letters, digits, '-', '.', and '_' which resolvers tolerate).
_HOST_NAME = re.compile(r"[A-Za-z0-9._-]+")


@dataclass(frozen=True)
class _Location:
    name: str
    exact: bool = False
    named: bool = False
    regex: bool = False


def check_refusals(directives: list[Directive], context: str) -> list[ConfigError]:
    errors: list[ConfigError] = []

    def error(message: str, span: Span) -> None:
        errors.append(ConfigError(message, span.path, span.line, span.column))

    def visit(block: list[Directive], ctx: tuple, parent: Optional[_Location]) -> None:
        for d in block:
            if d.extra.get("unterminated"):
                continue
            name = d.name
            if d.block is not None and name in _CUSTOM_BLOCKS and ctx in _CUSTOM_BLOCKS[name]:
                _custom_block(name, d.block, error)
                continue
            child_parent = None
            if name == "location" and d.block is not None and ctx[:1] == ("http",) and d.args:
                child_parent = _location(d, ctx, parent, error)
            elif name == "if" and d.block is not None and "if_unparenthesised" in d.extra:
                index = d.extra["if_unparenthesised"]
                if not template_placeholder(d.args[index]):
                    error(f'invalid condition "{brief(_condition_shown(d.args, index))}"',
                          d.arg_span(index))
            elif name == "if" and d.block is not None and d.args \
                    and not template_placeholder(" ".join(d.args[:2])):
                problem = _condition_problem(d.args)
                if problem:
                    error(problem[0], d.arg_span(problem[1]))
            elif name == "return" and ctx[:1] == ("http",) and 1 <= len(d.args) <= 2 \
                    and not template_placeholder(d.args[0]):
                _return(d, error)
            elif name == "listen" and ctx == ("http", "server") and d.args \
                    and not template_placeholder(d.args[0]):
                _listen(d, error)
            if d.block is not None:
                inner = ("http", "location") if name == "location" and ctx[:1] == ("http",) \
                    else ctx + (name,)
                visit(d.block, inner, child_parent)

    visit(directives, CONTEXTS[context], None)
    return errors


def _condition_shown(args: list, index: int) -> str:
    """The argument as nginx names it: it strips the `(` of the first argument before checking
    the last, so `if ($a {` is `invalid condition "$a"`."""
    arg = args[index]
    if index == 0 and len(args) == 1 and arg.startswith("(") and len(arg) > 1:
        return arg[1:]
    return arg


_OPERATORS = frozenset({"=", "!=", "~", "~*", "!~", "!~*"})


def _condition_problem(args: list) -> Optional[tuple]:
    """(message, argument index) when nginx's ngx_http_rewrite_if_condition refuses the
    condition `args` (its parentheses already stripped)."""
    first = args[0]
    if len(first) > 1 and first.startswith("$"):
        if len(args) not in (1, 3):
            return f'invalid condition "{brief(first)}"', 0
        if len(args) == 3 and args[1] not in _OPERATORS:
            return f'unexpected "{brief(args[1])}" in condition', 1
        return None
    if (len(first) == 2 and first[0] == "-") or (len(first) == 3 and first.startswith("!-")):
        if len(args) != 2 or first[-1] not in "fdex":
            return f'invalid condition "{brief(first)}"', 0
        return None
    return f'invalid condition "{brief(first)}"', 0


def _custom_block(name: str, entries: list[Directive], error) -> None:
    for entry in entries:
        if entry.block is not None or entry.extra.get("lua_block"):
            error('unexpected "{"', _brace(entry))
            continue  # nginx stops here; what the nested block holds is not read
        if entry.extra.get("unterminated"):
            continue
        count = 1 + len(entry.args)
        if name in _ARITY_ERROR:
            if count != 2 and not (count == 1 and entry.name in _ALONE[name]):
                error(_ARITY_ERROR[name], entry.span)
        elif name == "types" and entry.name == "include" and count != 2:
            error('invalid number of arguments in "include" directive', entry.span)


def _brace(d: Directive) -> Span:
    """Where the `{` of a block directive is written."""
    if d.extra.get("lua_block") and d.arg_spans:
        s = d.arg_spans[-1]
        return Span.point(s.path, s.line, s.column)
    s = d.span
    return Span.point(s.path, s.end_line, max(1, s.end_column - 1))


def _location(d: Directive, ctx: tuple, parent: Optional[_Location], error) -> Optional[_Location]:
    """nginx's ngx_http_core_location checks; the location as nginx sees it (None when refused)."""
    args = d.args
    if len(args) == 2:
        modifier, name = args
        kinds = {"=": "exact", "^~": "prefix", "~": "regex", "~*": "regex"}
        if modifier not in kinds:
            error(f'invalid location modifier "{brief(modifier)}"', d.arg_span(0))
            return None
        loc = _Location(name, exact=modifier == "=", regex=kinds[modifier] == "regex")
    elif len(args) == 1:
        name = args[0]
        if name.startswith("="):
            loc = _Location(name[1:], exact=True)
        elif name.startswith("^~"):
            loc = _Location(name[2:])
        elif name.startswith("~"):
            loc = _Location(name[2:] if name.startswith("~*") else name[1:], regex=True)
        else:
            loc = _Location(name, named=name.startswith("@"))
    else:
        return None  # crossplane reports the argument count
    if ctx == ("http", "location") and parent is not None:
        name, outer = brief(loc.name), brief(parent.name)
        if parent.exact:
            error(f'location "{name}" cannot be inside the exact location "{outer}"', d.span)
        elif parent.named:
            error(f'location "{name}" cannot be inside the named location "{outer}"', d.span)
        elif loc.named:
            error(f'named location "{name}" can be on the server level only', d.span)
        elif not loc.regex and not loc.name.startswith(parent.name):
            error(f'location "{name}" is outside location "{outer}"', d.span)
    return loc


def _return(d: Directive, error) -> None:
    code = d.args[0]
    if _DIGITS.fullmatch(code):
        if len(code) > 3 and int(code[:7]) > 999:      # int() of 5,000 digits raises
            error(f'invalid return code "{brief(code)}"', d.arg_span(0))
    elif not (len(d.args) == 1 and code.startswith(("http://", "https://", "$scheme"))):
        error(f'invalid return code "{brief(code)}"', d.arg_span(0))


def _listen(d: Directive, error) -> None:
    """The address part of `listen`, as ngx_parse_url reads it for a listening socket."""
    value = d.args[0]
    problem = _listen_problem(value)
    if problem:
        error(f'{problem} in "{brief(value)}" of the "listen" directive', d.arg_span(0))


def _listen_problem(value: str) -> Optional[str]:
    if value[:5].lower() == "unix:":
        return "no path in the unix domain socket" if len(value) == 5 else None
    if value.startswith("["):
        close = value.find("]")
        if close < 0:
            return "invalid host"
        rest = value[close + 1:]
        if rest and not rest.startswith(":"):
            return "invalid host"
        if rest and not _port_ok(rest[1:]):
            return "invalid port"
        address = value[1:close]
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            return "invalid IPv6 address"
        return "invalid IPv6 address" if "%" in address else None
    if "/" in value or "?" in value:
        return "invalid host"
    host, colon, port = value.partition(":")   # nginx takes the first colon
    if colon:
        if not _port_ok(port):
            return "invalid port"
    elif _DIGITS.fullmatch(value):
        return None if _port_ok(value) else "invalid port"
    if not host:
        return "no host"
    if host == "*":
        return None
    if not _HOST_NAME.fullmatch(host):
        return "host not found"   # no resolver knows a name with such characters
    return None


def _port_ok(text: str) -> bool:
    return bool(_DIGITS.fullmatch(text)) and len(text) <= 5 and 1 <= int(text) <= 65535
