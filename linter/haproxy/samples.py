"""`%[...]` sample expressions inside log-format style arguments.

`http-request set-header X-Real-IP %[src]`, `"%[req.hdr(host),lower]"`, `%{+Q}[ssl_fc]`:
after `%[` (or `%{flags}[`) haproxy parses a fetch with its `(arguments)` and a chain of
`,converter(arguments)`, and the expression must then end with `]`. A `]` inside the
parentheses (`regsub(^/[a-z]+,)`) does not end it; `%%` is a literal percent sign.
"""
from __future__ import annotations

from typing import NamedTuple

from ..syntax import Span


class Sample(NamedTuple):
    arg: int            # index in Directive.args of the argument holding it
    expression: str     # the text between the brackets: "req.hdr(host),lower"
    span: Span          # from `%` to `]`


def find_samples(value: str) -> list[tuple[int, int, str]]:
    """(start, end, expression) of every complete `%[...]` in `value`; end is exclusive."""
    found = []
    i, n = 0, len(value)
    while i < n:
        if value[i] != "%":
            i += 1
            continue
        if value.startswith("%%", i):
            i += 2
            continue
        open_at = i + 1
        if value.startswith("{", open_at):
            close = value.find("}", open_at)
            if close < 0:
                break
            open_at = close + 1
        if not value.startswith("[", open_at):
            i += 1
            continue
        end = _expression_end(value, open_at + 1)
        if end < 0:
            i = open_at + 1
            continue
        found.append((i, end + 1, value[open_at + 1:end]))
        i = end + 1
    return found


def _expression_end(value: str, start: int) -> int:
    """Index of the `]` closing an expression that starts at `start`, or -1."""
    depth = 0
    quote = ""
    i = start
    while i < len(value):
        c = value[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif depth and c in "'\"":
            quote = c
        elif depth and c == "\\":
            i += 1
        elif c == "(":
            depth += 1
        elif c == ")" and depth:
            depth -= 1
        elif c == "]" and not depth:
            return i
        i += 1
    return -1
