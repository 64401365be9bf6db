"""Group one file's tokens into `Directive`s (no includes, no crossplane checks yet).

Conventions (see linter/syntax.py for the shapes):
- `span` runs from the name to the terminating `;` (inclusive); for a block up to and including
  `{`; for a `*_by_lua_block` up to its closing `}`. A directive that is missing its `;` ends at
  its last argument.
- `extra["quoted"]`: one bool per argument (True when written in quotes).
- `extra["block_end"]`: the Span of a block's closing `}` (absent when the block is never closed).
- `extra["lua_block"]`: True for `*_by_lua_block`; the Lua body is the last argument, and its
  span covers the braces.
- `extra["unterminated"]`: True when the `;` is missing (already reported as a syntax error;
  crossplane's argument checks skip such a directive).
- `if (...)`: the parentheses are stripped from the first/last argument, as crossplane does,
  and their spans shrink accordingly (an argument that was only `(` or `)` disappears). When the
  first argument does not start with `(` or the last does not end with `)`, nothing is stripped
  and `extra["if_unparenthesised"]` is the index of the offending argument (nginx: `invalid
  condition`, reported by refusals.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..syntax import Directive, Span
from .lexer import CLOSE, LUA, OPEN, QUOTED, SEMICOLON, WORD, Lexed, Token, brief

_ARGUMENT_KINDS = (WORD, QUOTED)
MAX_NESTING = 100  # real configurations stay below 10


@dataclass(frozen=True)
class SyntaxProblem:
    message: str
    line: int
    column: int


def build_directives(lexed: Lexed, path: str) -> tuple[list[Directive], list[SyntaxProblem]]:
    """The directive tree of one file and the syntax problems found on the way."""
    problems = [SyntaxProblem(e.message, e.line, e.column) for e in lexed.errors]
    tokens = lexed.tokens
    top: list[Directive] = []
    # Open blocks: (children list, the block directive or None for a nameless `{`).
    stack: list[tuple[list[Directive], Optional[Directive]]] = [(top, None)]
    index, count = 0, len(tokens)
    while index < count:
        token = tokens[index]
        kind = token.kind
        if kind == CLOSE:
            if len(stack) == 1:
                problems.append(SyntaxProblem('unexpected "}" (there is no open block to close)',
                                              token.line, token.column))
            else:
                _, opener = stack.pop()
                if opener is not None:
                    opener.extra["block_end"] = _span(path, token, token)
            index += 1
            continue
        if kind == SEMICOLON:
            problems.append(SyntaxProblem('unexpected ";" (there is no directive before it)',
                                          token.line, token.column))
            index += 1
            continue
        if kind == OPEN:
            # nginx refuses a nameless block; skip its contents so the braces stay balanced.
            problems.append(SyntaxProblem('unexpected "{" (a block needs a directive name)',
                                          token.line, token.column))
            stack.append(([], None))
            index += 1
            continue
        if kind == LUA:  # cannot happen: the lexer only reads Lua after a directive name
            index += 1
            continue

        name = token
        index += 1
        args: list[Token] = []
        while index < count and tokens[index].kind in _ARGUMENT_KINDS:
            args.append(tokens[index])
            index += 1
        terminator = tokens[index] if index < count else None
        directive = _directive(path, name, args, terminator)
        stack[-1][0].append(directive)

        if terminator is None or terminator.kind == CLOSE:
            directive.extra["unterminated"] = True
            last = args[-1] if args else name
            if terminator is None and lexed.truncated:
                pass  # the lexer already explained why the text ended early
            elif terminator is None:
                problems.append(SyntaxProblem(
                    f'unexpected end of file: directive "{brief(name.value)}" is missing its ";"',
                    last.end_line, last.end_column))
            else:
                problems.append(SyntaxProblem(
                    f'missing ";" after directive "{brief(name.value)}" (found "}}")',
                    last.end_line, last.end_column))
            continue  # a `}` is handled by the main loop; it still closes the block
        index += 1
        if terminator.kind == OPEN:
            directive.block = []
            if len(stack) > MAX_NESTING:
                # Later stages recurse over blocks; garbage like `a{a{a{...` must not crash them.
                if len(stack) == MAX_NESTING + 1:  # report the outermost one only
                    problems.append(SyntaxProblem(
                        f"blocks are nested more than {MAX_NESTING} deep; the contents of this "
                        f"one are ignored", name.line, name.column))
                stack.append(([], directive))
            else:
                stack.append((directive.block, directive))

    if len(stack) > 1 and not lexed.truncated:
        opener = next((d for _, d in reversed(stack) if d is not None), None)
        if opener is None:
            last = tokens[-1]
            problems.append(SyntaxProblem('unexpected end of file, expecting "}"',
                                          last.end_line, last.end_column))
        else:
            problems.append(SyntaxProblem(
                f'unexpected end of file: the "{brief(opener.name)}" block opened here is never '
                f'closed (missing "}}")', opener.span.line, opener.span.column))
    return top, problems


def _span(path: str, first: Token, last: Token) -> Span:
    return Span(path, first.line, first.column, last.end_line, last.end_column)


def _directive(path: str, name: Token, args: list[Token], terminator: Optional[Token]) -> Directive:
    values, spans, quoted = [], [], []
    for token in args:
        values.append(token.value)
        spans.append(Span(path, token.line, token.column, token.end_line, token.end_column))
        quoted.append(token.kind == QUOTED)
    extra: dict = {}
    if terminator is not None and terminator.kind == LUA:
        values.append(terminator.value)
        spans.append(_span(path, terminator, terminator))
        quoted.append(True)
        extra["lua_block"] = True
    if terminator is None or terminator.kind == CLOSE:
        end = args[-1] if args else name
    else:
        end = terminator
    if name.value == "if" and values:
        if not values[0].startswith("("):
            extra["if_unparenthesised"] = 0
        elif not values[-1].endswith(")"):
            extra["if_unparenthesised"] = len(values) - 1
        else:
            _strip_if_parentheses(values, spans, quoted)
    extra["quoted"] = quoted
    return Directive(name=name.value, args=values, span=_span(path, name, end),
                     arg_spans=spans, extra=extra)


def _strip_if_parentheses(values: list[str], spans: list[Span], quoted: list[bool]) -> None:
    """`if ($a = b)` -> args ['$a', '=', 'b'], the way crossplane's parser prepares them."""
    if not (values[0].startswith("(") and values[-1].endswith(")")):
        return
    first, last = spans[0], spans[-1]
    stripped_first = values[0][1:]
    if not quoted[0]:
        first = Span(first.path, first.line, first.column + 1 + (len(stripped_first)
                     - len(stripped_first.lstrip())), first.end_line, first.end_column)
    values[0] = stripped_first.lstrip()
    spans[0] = first
    last = spans[-1]  # may be the span just changed when there is one argument
    stripped_last = values[-1][:-1]
    if not quoted[-1]:
        trailing = len(stripped_last) - len(stripped_last.rstrip())
        last = Span(last.path, last.line, last.column, last.end_line,
                    last.end_column - 1 - trailing)
    values[-1] = stripped_last.rstrip()
    spans[-1] = last
    # Drop arguments that were only a parenthesis (crossplane does the same).
    if not values[-1]:
        del values[-1], spans[-1], quoted[-1]
    if values and not values[0]:
        del values[0], spans[0], quoted[0]
