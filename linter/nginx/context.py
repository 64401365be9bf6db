"""Which context a file is written for, and crossplane's per-directive checks in that context.

crossplane's analyzer knows, for about 640 nginx directives, where each may appear and how many
arguments it takes. It assumes every file starts in the main context, which turns a snippet
(`conf.d/x.conf` holding `server {}`, a file of `location` blocks or of `proxy_set_header`
lines) into a list of bogus "not allowed here" errors. So the context of an entry file is
*detected* first: the outermost of main > http > server > location in which every known
top-level directive is allowed. Unknown directives (third-party modules, map/types entries)
are never reported: this is crossplane's non-strict mode.
"""
from __future__ import annotations

from typing import Iterable

from ..syntax import ConfigError, Directive

CONTEXTS: dict[str, tuple[str, ...]] = {
    "main": (),
    "http": ("http",),
    "server": ("http", "server"),
    "location": ("http", "location"),
}


def detect_context(directives: Iterable[Directive]) -> str:
    """"main" | "http" | "server" | "location": the outermost context that fits the top level.

    When no context fits every directive (a file mixing `server {}` and `proxy_pass`), the one
    with the fewest misplaced directives wins, the outermost on a tie.
    """
    from crossplane.analyzer import CONTEXTS as MASKS, DIRECTIVES

    names = [d.name for d in directives if d.name in DIRECTIVES]
    best, best_misplaced = "main", None
    for context, ctx in CONTEXTS.items():
        allowed = MASKS[ctx]
        misplaced = sum(1 for name in names
                        if not any(mask & allowed for mask in DIRECTIVES[name]))
        if misplaced == 0:
            return context
        if best_misplaced is None or misplaced < best_misplaced:
            best, best_misplaced = context, misplaced
    return best


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
                        strict=False, check_ctx=True, check_args=True)
            except NgxParserDirectiveError as error:
                span = directive.span
                key = (error.strerror, span.path, span.line, span.column)
                if key not in seen:
                    seen.add(key)
                    errors.append(ConfigError(error.strerror, span.path, span.line, span.column))
            if directive.block is not None:
                visit(directive.block, enter_block_ctx(stmt, ctx))

    visit(directives, CONTEXTS[context])
    return errors
