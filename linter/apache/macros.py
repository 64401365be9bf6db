"""mod_macro: cut `<Macro>` bodies out before parsing, substitute arguments at `Use`.

mod_macro works on lines, not on directives: a body is stored as raw lines when `<Macro>` is
read, and `Use` substitutes the arguments into those lines as plain text and feeds them back
to the config reader. So a body is never parsed where it is defined (it may contain
`<$section $dir>` or arguments inside quoted strings); it is parsed after substitution, once
per `Use`. Substitution follows mod_macro's `substitute_macro_args`: left to right, the
earliest occurrence of any parameter name wins and on a tie the longest name; a replaced value
is never rescanned; a parameter whose name starts with '@' is replaced by its value in double
quotes (with `"` and `\\` escaped).

Known difference: httpd lets a macro open a section that a later line or macro closes (it
only warns about "bad nesting"); here every expansion must be balanced on its own, and an
unbalanced one is reported as an error.
"""
from __future__ import annotations

from typing import Optional

from .source import Mapped

_BLANKS = " \t\v\f\r"
_OPENERS = ("<macro", "<macro>")
_CLOSER = "</macro>"


def _lines(text: str) -> list[int]:
    """Start offsets of every line (plus the end of the text)."""
    starts = [0]
    at = text.find("\n")
    while at != -1:
        starts.append(at + 1)
        at = text.find("\n", at + 1)
    if starts[-1] != len(text):
        starts.append(len(text))
    return starts


def _first_word(text: str, start: int, end: int) -> tuple[int, str]:
    i = start
    while i < end and text[i] in _BLANKS:
        i += 1
    j = i
    while j < end and text[j] not in _BLANKS and text[j] != "\n":
        j += 1
    return i, text[i:j].lower()


def cut_bodies(mapped: Mapped, path: str):
    """(text to parse, {offset of '<' of each `<Macro` in it: raw body}, [(message, Span)]).

    The `<Macro ...>` and `</Macro>` lines stay, so the grammar sees an empty section at the
    right place; the lines between them are removed and returned as the body. Nested
    `<Macro>`s inside a body are counted, so they stay part of the outer body.
    """
    text = mapped.text
    if "<macro" not in text.lower():
        return mapped, {}, []
    starts = _lines(text)
    pieces, bodies, problems = [], {}, []
    run_start, removed, i = 0, 0, 0
    while i < len(starts) - 1:
        at, word = _first_word(text, starts[i], starts[i + 1])
        if word not in _OPENERS:
            i += 1
            continue
        depth, j = 1, i + 1
        while j < len(starts) - 1:
            _, inner = _first_word(text, starts[j], starts[j + 1])
            if inner == _CLOSER:
                depth -= 1
                if depth == 0:
                    break
            elif inner in _OPENERS:
                depth += 1
            j += 1
        if j >= len(starts) - 1:
            problems.append(("<Macro> is not closed: expected </Macro> before the end of the "
                             "file", mapped.span(at, at + len(word), path)))
            # httpd reads everything after an unclosed <Macro> as its body: nothing is config.
            pieces.append(mapped.slice(run_start, starts[i]))
            run_start = None
            break
        body_start, body_end = starts[i + 1], starts[j]
        pieces.append(mapped.slice(run_start, body_start))
        bodies[at - removed] = mapped.slice(body_start, body_end)
        removed += body_end - body_start
        run_start = body_end
        i = j + 1
    if run_start is not None:
        pieces.append(mapped.slice(run_start, len(text)))
    return Mapped.join(pieces), bodies, problems


def check_definition(args: list[str]) -> tuple[str, list[str], Optional[str]]:
    """(name, parameters, problem) of `<Macro name $a $b>` (args already unquoted)."""
    name = args[0] if args else ""
    if not name:
        return name, [], "<Macro> needs a macro name, as in <Macro VHost $host>"
    params = list(args[1:])
    while params and params[0].startswith("/"):  # /IgnoreEmptyArgs, /IgnoreBadNesting flags
        params.pop(0)
    for i, param in enumerate(params):
        if not param:
            return name, params, f"macro '{name}': parameter #{i + 1} has an empty name"
        if param in params[:i]:
            return name, params, (f"macro '{name}': parameter '{param}' is declared twice "
                                  f"(#{params.index(param) + 1} and #{i + 1})")
    return name, params, None


def substitute(body: Mapped, params: list[str], values: list[str]) -> Mapped:
    """The body with every parameter replaced by its value, line by line, as mod_macro does.

    A replaced value maps, as a whole, onto the parameter name it replaced, so tokens built
    from it point into the macro body.
    """
    replacements = [_quoted(v) if p.startswith("@") else v for p, v in zip(params, values)]
    text = body.text
    pieces, pos = [], 0
    while params:
        found, which = -1, -1
        for k, param in enumerate(params):
            at = text.find(param, pos)
            if at != -1 and (found == -1 or at < found
                             or (at == found and len(param) > len(params[which]))):
                found, which = at, k
        if found == -1:
            break
        # mod_macro substitutes within one line; a name cannot span lines, so searching the
        # whole body from `pos` finds the same occurrences in the same order.
        end = found + len(params[which])
        origin, o_start = body.locate(found)
        _, o_end = body.locate_end(end)
        pieces.append(body.slice(pos, found))
        pieces.append(Mapped.synthetic(replacements[which], origin, o_start, o_end))
        pos = end
    pieces.append(body.slice(pos, len(text)))
    return Mapped.join(pieces)


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
