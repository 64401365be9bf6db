"""Which context a file is written for, and crossplane's per-directive checks in that context.

crossplane's analyzer knows, for about 640 nginx directives, where each may appear and how many
arguments it takes. It assumes every file starts in the main context, which turns a snippet
(`conf.d/x.conf` holding `server {}`, a file of `location` blocks or of `proxy_set_header`
lines) into a list of bogus "not allowed here" errors. So the context of an entry file is
*detected* first: the outermost of main > http > server > location in which every known
directive of the whole tree is allowed (the whole tree, because `if (...) { add_header ...; }`
fits a location but not a server). Unknown directives (third-party modules, map/types entries)
are never reported: this is crossplane's non-strict mode.

`include` is allowed everywhere (nginx: NGX_ANY_CONF, which covers `if` blocks too); crossplane's
table leaves out `if`, so only its argument count is checked here.
"""
from __future__ import annotations

import re
from typing import Iterable

from ..syntax import ConfigError, Directive
from .lexer import brief

CONTEXTS: dict[str, tuple[str, ...]] = {
    "main": (),
    "http": ("http",),
    "server": ("http", "server"),
    "location": ("http", "location"),
}

# Where common directives unknown to crossplane 0.5.8 may appear (newer nginx, headers-more,
# lua). Used to detect a snippet's context only: their arguments are not checked.
# The bits are crossplane.analyzer's NGX_HTTP_*_CONF (not imported: crossplane loads lazily).
_HTTP, _SRV, _LOC = 0x02000000, 0x04000000, 0x08000000
_SIF, _LIF = 0x20000000, 0x40000000
_EVERYWHERE_IN_HTTP = _HTTP | _SRV | _LOC | _LIF
_EXTRA_PLACES = {
    **dict.fromkeys(["more_set_headers", "more_clear_headers", "more_set_input_headers",
                     "more_clear_input_headers"], _EVERYWHERE_IN_HTTP),
    **dict.fromkeys([f"{phase}_by_lua{form}" for phase in (
        "access", "rewrite", "header_filter", "body_filter", "log")
        for form in ("", "_block", "_file")], _EVERYWHERE_IN_HTTP),
    **dict.fromkeys([f"content_by_lua{form}" for form in ("", "_block", "_file")], _LOC | _LIF),
    **dict.fromkeys([f"set_by_lua{form}" for form in ("", "_block", "_file")],
                    _SRV | _SIF | _LOC | _LIF),
    **dict.fromkeys(["init_by_lua_block", "init_worker_by_lua_block", "lua_shared_dict",
                     "lua_package_path"], _HTTP),
    **dict.fromkeys(["http2", "http3", "quic_retry", "ssl_reject_handshake"], _HTTP | _SRV),
    **dict.fromkeys(["keepalive_time", "add_header_inherit"], _HTTP | _SRV | _LOC),
}


def detect_context(directives: Iterable[Directive]) -> str:
    """"main" | "http" | "server" | "location": the outermost context that fits the tree.

    When no context fits every directive (a file mixing `server {}` and `proxy_pass`), the one
    with the fewest misplaced directives at the top level wins, then the one with the fewest
    misplaced directives in all, the outermost on a tie. (The top level first: the content of a
    misplaced block is not checked, so `server { location / { if () { if () {} } } }` has one
    misplaced directive in "main", the server, and one in "http", the inner `if`.)
    """
    directives = list(directives)
    best, best_misplaced = "main", None
    for context, ctx in CONTEXTS.items():
        misplaced = (_count_misplaced(directives, ctx, nested=False),
                     _count_misplaced(directives, ctx))
        if misplaced[1] == 0:
            return context
        if best_misplaced is None or misplaced < best_misplaced:
            best, best_misplaced = context, misplaced
    return best


def _count_misplaced(block: list[Directive], ctx: tuple[str, ...], nested: bool = True) -> int:
    from crossplane.analyzer import CONTEXTS as MASKS, DIRECTIVES, enter_block_ctx

    allowed = MASKS.get(ctx)
    if allowed is None:  # inside map/types/upstream-like blocks crossplane does not model
        return 0
    misplaced = 0
    for directive in block:
        if directive.name == "include":
            continue  # allowed in every context (see the module docstring)
        masks = DIRECTIVES.get(directive.name)
        if masks is None:
            extra = _EXTRA_PLACES.get(directive.name)
            masks = [extra] if extra else ()
        if masks and not any(mask & allowed for mask in masks):
            misplaced += 1
        if directive.block and nested:
            misplaced += _count_misplaced(
                directive.block, enter_block_ctx({"directive": directive.name}, ctx))
    return misplaced


_QUOTED = re.compile(r'"([^"]{61,})"')


def check_directives(directives: list[Directive], context: str) -> list[ConfigError]:
    """crossplane's context and argument-count checks for a whole (include-expanded) tree."""
    from crossplane.analyzer import analyze, enter_block_ctx
    from crossplane.errors import NgxParserDirectiveError

    errors: list[ConfigError] = []
    seen: set[tuple] = set()  # a file included twice must not report its errors twice

    def visit(block: list[Directive], ctx: tuple[str, ...]) -> None:
        for directive in block:
            if directive.extra.get("lua_block") or directive.extra.get("unterminated"):
                continue  # no analyzer entry / already reported as a syntax error
            stmt = {"directive": directive.name, "line": directive.span.line,
                    "args": directive.args}
            term = "{" if directive.block is not None else ";"
            try:
                analyze(fname=directive.span.path, stmt=stmt, term=term, ctx=ctx,
                        strict=False, check_ctx=directive.name != "include", check_args=True)
            except (NgxParserDirectiveError, ValueError, TypeError) as error:
                span = directive.span
                if isinstance(error, NgxParserDirectiveError):
                    # `invalid value "<a 1 MB argument>" in "gzip" directive`: quote it briefly.
                    message = _QUOTED.sub(lambda m: f'"{brief(m.group(1))}"', error.strerror)
                else:
                    # crossplane formats its message with `%` over the value itself, so a value
                    # holding `%0` breaks the formatting: the value is what it could not take.
                    message = f'invalid value in "{directive.name}" directive'

                key = (message, span.path, span.line, span.column)
                if key not in seen:
                    seen.add(key)
                    errors.append(ConfigError(message, span.path, span.line, span.column))
            if directive.block is not None:
                visit(directive.block, enter_block_ctx(stmt, ctx))

    visit(directives, CONTEXTS[context])
    return errors
