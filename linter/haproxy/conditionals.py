"""HAProxy's `.if` / `.elif` / `.else` / `.endif` blocks, evaluated as far as we can.

haproxy joins the words after `.if` with single spaces and parses the result
(`src/cfgcond.c`):

    expr  := and ( "||" and )*
    and   := term ( "&&" term )*
    term  := "!"* ( number | "(" expr ")" | predicate [ "(" arg, ... ")" ] )

We evaluate with three values, True / False / None (cannot tell statically):

- numbers (C `strtol`, so `0x10` and `010` too): non-zero is true;
- `defined(VAR)`: is VAR in the environment mapping the caller gave (by default os.environ)
  -- the same answer haproxy would give on this machine;
- `streq`, `strneq`, `strstr`: decided unless an argument holds an unset variable;
- `version_atleast`, `version_before`: decided only when the caller names the HAProxy version
  the configuration is meant for (`version="2.8"`), unknown otherwise;
- `feature`, `enabled`, `openssl_*`, `ssllib_name_startswith`, `awslc_*`, `fips_mode`: they
  depend on the haproxy build, so always unknown.

A branch that is certainly false is dropped, as haproxy drops it; a branch that is certainly
taken is kept as if unconditional; a branch that depends on something unknown is kept and the
condition under which it applies is recorded (see `Blocks.guards`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Optional

MARKER = "\x00"     # stands for an unset environment variable in the text (see lexer.py)

_BUILD_PREDICATES = {
    "feature": 1, "enabled": 1, "openssl_version_atleast": 1, "openssl_version_before": 1,
    "ssllib_name_startswith": 1, "awslc_api_atleast": 1, "awslc_api_before": 1, "fips_mode": 0,
}
_PREDICATES = {"defined": 1, "streq": 2, "strneq": 2, "strstr": 2,
               "version_atleast": 1, "version_before": 1, **_BUILD_PREDICATES}
_NUMBER = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
_VERSION = re.compile(r"([0-9]{1,9})(?:\.([0-9]{1,9}))?(?:\.([0-9]{1,9}))?(?:\.([0-9]{1,9}))?"
                      r"(?:-(dev|pre|rc)([0-9]{0,9}))?(?:-.*?([0-9]{1,9}))?$")


class IfSyntaxError(Exception):
    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.message = message
        self.offset = offset        # index in the joined condition text


def evaluate(text: str, lookup: Callable[[str], Optional[str]],
             version: Optional[str] = None) -> Optional[bool]:
    """The value of a `.if` condition: True, False, or None when it cannot be told here.

    `text` is the joined words after `.if`, with MARKER where an unset variable was written.
    Raises IfSyntaxError when haproxy could not parse it either.
    """
    if not text.strip(" \t"):
        return False        # haproxy: an empty condition is false
    try:
        parser = _Parser(text, lookup, version)
        value = parser.expression()
        parser.blanks()
        if parser.pos < len(text):
            raise IfSyntaxError(f"unexpected '{text[parser.pos]}' after the condition", parser.pos)
        return value
    except IfSyntaxError:
        if MARKER in text:
            return None     # the unset variable may well have made it parse: cannot tell
        raise


# haproxy's MAX_CFG_RECURSION: the budget of cfg_parse_cond_expr / _and / _term, which call each
# other and spend one unit per call; `((((1))))` spends three per parenthesis, so about 340
# parentheses are the most haproxy reads ("unparsable conditional sub-expression").
MAX_CFG_RECURSION = 1024


class _Frame:
    """One `( ... )` being read (the whole condition is the outermost one)."""

    __slots__ = ("depth", "negate", "start", "ors", "ands")

    def __init__(self, depth: int, negate: bool, start: int):
        self.depth = depth          # haproxy's maxdepth for cfg_parse_cond_expr here
        self.negate = negate        # the `!`s before the '(' that opened it
        self.start = start          # where its '(' is
        self.ors: list = []         # values of the finished `&&` groups
        self.ands: list = []        # values of the terms of the current `&&` group


class _Parser:
    """haproxy's recursive descent over `expr := and ("||" expr)?`, `and := term ("&&" and)?`,
    `term := "!"* (number | "(" expr ")" | predicate)`, read with an explicit stack (a line of
    parentheses must not exhaust Python's) and haproxy's recursion budget."""

    def __init__(self, text: str, lookup, version: Optional[str]):
        self.text, self.pos = text, 0
        self.lookup, self.version = lookup, version

    def blanks(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def expression(self) -> Optional[bool]:
        text = self.text
        stack: list[_Frame] = []
        frame = _Frame(MAX_CFG_RECURSION, False, 0)
        while True:
            # the next term: haproxy's budget left for it (see the class docstring)
            expr_depth = frame.depth - len(frame.ors)
            and_depth = expr_depth - 1 - len(frame.ands)
            if min(expr_depth, and_depth, and_depth - 1) <= 0:
                raise IfSyntaxError("the condition is nested too deeply (haproxy: unparsable "
                                    "conditional sub-expression)", self.pos)
            self.blanks()
            negate = False
            while text.startswith("!", self.pos):
                negate = not negate
                self.pos += 1
                self.blanks()
            if text.startswith("(", self.pos):
                stack.append(frame)
                frame = _Frame(and_depth - 2, negate, self.pos)
                self.pos += 1
                continue
            value = self._operand()
            while True:
                frame.ands.append((not value) if (negate and value is not None) else value)
                if self._operator("&&"):
                    break                           # the next term of this `&&` group
                frame.ors.append(_all(frame.ands))
                frame.ands = []
                if self._operator("||"):
                    break                           # the next `&&` group
                value = _any(frame.ors)
                if not stack:
                    return value
                self.blanks()
                if not text.startswith(")", self.pos):
                    raise IfSyntaxError("missing ')' in the condition", self.pos)
                self.pos += 1
                negate = frame.negate
                frame = stack.pop()

    def _operator(self, op: str) -> bool:
        self.blanks()
        if self.text.startswith(op, self.pos):
            self.pos += len(op)
            self.blanks()
            return True
        return False

    def _operand(self) -> Optional[bool]:
        """A number or a predicate with its arguments (not a parenthesis)."""
        text, start = self.text, self.pos
        number = _NUMBER.match(text, start)
        if number:
            self.pos = number.end()
            # strtol: any digit but 0 makes it non-zero (int() would refuse 5,000 digits)
            digits = number.group().lstrip("+-")
            digits = digits[2:] if digits[:2] in ("0x", "0X") else digits
            return digits.strip("0") != ""
        end = start
        while end < len(text) and text[end] not in " (\t":
            end += 1
        name = text[start:end]
        if name not in _PREDICATES:
            what = f"unknown predicate '{name}'" if name else "missing condition"
            raise IfSyntaxError(f"{what} in the condition", start)
        self.pos = end
        args = self._arguments(name)
        return self._predicate(name, args)

    def _arguments(self, name: str) -> list[str]:
        """`(a,b)` after a predicate, with haproxy's argument quoting (src/arg.c)."""
        text = self.text
        wanted = _PREDICATES[name]
        if not text.startswith("(", self.pos):
            if wanted:
                raise IfSyntaxError(f"'{name}' needs {wanted} argument(s) in parentheses", self.pos)
            return []
        i = self.pos + 1
        args, current, squote, dquote = [], [], False, False
        while True:
            if i >= len(text):
                raise IfSyntaxError(f"missing ')' after the arguments of '{name}'", self.pos)
            c = text[i]
            if c == '"' and not squote:
                dquote = not dquote
            elif c == "'" and not dquote:
                squote = not squote
            elif c == "\\" and not squote and i + 1 < len(text):
                i += 1
                current.append({"r": "\r", "n": "\n", "t": "\t"}.get(text[i], text[i])
                               if text[i] in "\\ \"'rnt" else "\\" + text[i])
            elif not squote and not dquote and c in ",)":
                args.append("".join(current))
                current = []
                if c == ")":
                    break
            else:
                current.append(c)
            i += 1
        self.pos = i + 1
        if len(args) != max(wanted, 1) or (wanted == 0 and args != [""]):
            raise IfSyntaxError(f"'{name}' takes {wanted} argument(s), not {len(args)}",
                                self.pos - 1)
        return args

    def _predicate(self, name: str, args: list[str]) -> Optional[bool]:
        if name in _BUILD_PREDICATES or any(MARKER in a for a in args):
            return None
        if name == "defined":
            return self.lookup(args[0]) is not None
        if name == "streq":
            return args[0] == args[1]
        if name == "strneq":
            return args[0] != args[1]
        if name == "strstr":
            return args[1] in args[0]
        if self.version is None:
            return None
        target, current = version_key(args[0]), version_key(self.version)
        if target is None or current is None:
            return None
        return current >= target if name == "version_atleast" else current < target


def version_key(version: str) -> Optional[tuple]:
    """haproxy's split_version(): `2.4-dev18` < `2.4-rc1` < `2.4` == `2.4.0`."""
    match = _VERSION.match(version.strip())
    if not match:
        return None
    a, b, c, d, tag, tag_number, commit = match.groups()
    rank = {"dev": 1, "pre": 2, "rc": 2, None: 3}[tag]
    return (int(a), int(b or 0), int(c or 0), int(d or 0), rank, int(tag_number or 0),
            int(commit or 0))


def _all(values: list) -> Optional[bool]:
    return False if False in values else None if None in values else True


def _any(values: list) -> Optional[bool]:
    return True if True in values else None if None in values else False


# -- the block structure ------------------------------------------------------------------------

@dataclass
class _Level:
    line: int                       # where its `.if` is
    column: int
    dropped_by_parent: bool         # inside a branch that is certainly not taken
    guard: object = True            # current branch: True, False or the condition text
    own: Optional[str] = None       # the current branch's condition when undecided
    earlier: list = field(default_factory=list)     # undecided conditions of earlier branches
    taken: bool = False             # a branch so far is certainly taken: the rest cannot be
    seen_else: bool = False


# haproxy's MAXNESTEDCONDS: the 100th `.if` inside others is "too many nested '.if', max is
# 100." (cfgparse.c counts the level before comparing), and haproxy stops reading the file.
MAX_NESTED_IF = 100


class Blocks:
    """The stack of open `.if` blocks of one file.

    `active` tells whether the current line is read at all; `guards` lists, outermost first,
    the conditions (as `.if` expressions: `feature(QUIC)`, `!(feature(QUIC)) && defined(X)`)
    under which it applies when they could not be decided.
    """

    def __init__(self):
        self.levels: list[_Level] = []

    @property
    def active(self) -> bool:
        return all(level.guard is not False and not level.dropped_by_parent
                   for level in self.levels)

    @property
    def guards(self) -> list[str]:
        return [level.guard for level in self.levels if isinstance(level.guard, str)]

    def open(self, line: int, column: int, evaluate_condition) -> Optional[str]:
        """`.if`: `evaluate_condition()` gives (value, text); it is only called when needed.
        Returns an error message when haproxy refuses the `.if` (and stops reading the file)."""
        if len(self.levels) + 1 >= MAX_NESTED_IF:
            return (f"too many nested '.if' (haproxy: \"max is {MAX_NESTED_IF}\", so at most "
                    f"{MAX_NESTED_IF - 1} levels); haproxy stops reading the file here")
        level = _Level(line, column, dropped_by_parent=not self.active)
        self.levels.append(level)
        if level.dropped_by_parent:
            level.guard = False
            return None
        value, text = evaluate_condition()
        self._enter(level, value, text)
        return None

    def alternative(self, keyword: str, evaluate_condition=None) -> Optional[str]:
        """`.elif` (with a condition) or `.else`; returns an error message or None."""
        if not self.levels:
            return f"'{keyword}' without a matching '.if'"
        level = self.levels[-1]
        if level.seen_else:
            return f"'{keyword}' after '.else' is not allowed"
        if evaluate_condition is None:
            level.seen_else = True
        if level.dropped_by_parent or level.taken:
            level.guard, level.own = False, None
            return None
        if level.own is not None:
            level.earlier.append(level.own)
        value, text = evaluate_condition() if evaluate_condition else (True, "")
        self._enter(level, value, text)
        return None

    def _enter(self, level: _Level, value: Optional[bool], text: str) -> None:
        level.own = text if value is None else None
        if value is False:
            level.guard = False
            return
        # this branch applies when every undecided earlier branch did not
        parts = [f"!({c})" for c in level.earlier]
        if value is None:
            parts.append(f"({text})" if parts else text)
        level.guard = " && ".join(parts) if parts else True
        if value is True:
            level.taken = True      # so no later branch can apply

    def close(self) -> Optional[str]:
        if not self.levels:
            return "'.endif' without a matching '.if'"
        self.levels.pop()
        return None

    def unclosed(self) -> list[tuple[int, int]]:
        """Where the `.if` blocks still open at the end of the file start."""
        return [(level.line, level.column) for level in self.levels]
