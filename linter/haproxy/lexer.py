"""One HAProxy configuration line -> words, the way haproxy's `parse_line()` splits it.

HAProxy has no statement terminator and no line continuation: every line is one statement,
split into words at unquoted blanks. The rules (haproxy `src/tools.c`, `parse_line`):

- `#` outside quotes starts a comment, even in the middle of a word (`a#b` is the word `a`).
- `'...'` is fully literal. `"..."` allows backslash escapes and environment variables.
  Quotes may sit inside a word (`a"b c"d` is the one word `ab cd`); `""` is an empty word.
- Backslash (outside single quotes): `\\ `, `\\\\`, `\\#`, `\\'`, `\\"` give the character,
  `\\t \\n \\r` and `\\xHH` give control characters, `\\$` gives `$` inside double quotes;
  any other pair (`\\.`, `\\1` in a regex) is kept as written.
- `$NAME`, `${NAME}`, `${NAME-default}` and `${NAME[*]}` (split into several words) are
  expanded inside double quotes only; `$.LINE`, `$.FILE`, `$.SECTION` are haproxy's own.
  Unquoted `${...}` (VTest macros in the reg-tests) is plain text.
- A carriage return ends the line; leading blanks are skipped.

Where haproxy would substitute an unset variable by nothing, we keep the reference opaque,
exactly as written (`"${FOO}"` -> `${FOO}`), and flag the word `opaque`: a linter does not know
the deployment's environment. A variable that is set (in the `env` mapping given) is
substituted; `${NAME-default}` falls back to its default.

Problems (unmatched quote, bad variable syntax, bad `\\x`) raise `LineError` with the 1-based
column haproxy points at; haproxy then ignores the whole line, and so do we.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Optional

BLANKS = " \t\v\f"                      # C isspace() minus the line ends
_NAME_START = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_.")
_NAME_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_HEX = set("0123456789abcdefABCDEF")
_ESCAPES = {" ": " ", "\\": "\\", "t": "\t", "n": "\n", "r": "\r", "#": "#", "'": "'", '"': '"'}
_PSEUDO_VARIABLES = (".LINE", ".FILE", ".SECTION")
# runs of characters with no special meaning: outside quotes, in "...", in '...'
_PLAIN = re.compile(r"[^ \t\v\f\r\n#\"'\\]+")
_PLAIN_DQUOTED = re.compile(r"[^\r\n\"\\$]+")
_PLAIN_SQUOTED = re.compile(r"[^\r\n']+")


@dataclass
class Word:
    value: str              # unquoted, unescaped, variables substituted
    column: int             # 1-based column of its first character as written (a quote included)
    end_column: int         # exclusive
    quoted: bool = False    # some part of it was written in quotes
    opaque: bool = False    # it holds an unset environment variable, kept as written
    # column of each character of `value`, kept only for words with `%` (sample expressions)
    char_columns: Optional[list] = None


class LineError(Exception):
    def __init__(self, message: str, column: int):
        super().__init__(message)
        self.message = message
        self.column = column


Lookup = Callable[[str], Optional[str]]


def split_line(text: str, lookup: Lookup, opaque_marker: Optional[str] = None,
               facts: Optional[dict] = None) -> list[Word]:
    """The words of one line (without its line feed).

    `lookup(name)` returns an environment variable's value or None when unset (it also answers
    `.LINE`, `.FILE`, `.SECTION`). With `opaque_marker`, an unset variable becomes that marker
    instead of its written form (the `.if` evaluator uses it to know what it cannot decide).
    `facts`, when given, receives "default_brace": the column of the '{' of the first
    `${NAME-default}` (None without one), and "output_length": (at least, at most) the bytes
    haproxy's parse_line() writes for the line (the words, a NUL after each run of blanks and
    one at the end), where an unset variable may hold anything from nothing to MAX_ENV_VALUE.
    """
    splitter = _Splitter(text, lookup, opaque_marker)
    words = splitter.run()
    if facts is not None:
        least = sum(len(w.value) for w in words) + splitter.separators + 1 - splitter.unset_chars
        facts["default_brace"] = splitter.default_brace
        facts["output_length"] = (least, least + splitter.unset * MAX_ENV_VALUE)
    return words


# Linux's MAX_ARG_STRLEN: no environment string (NAME=value) is longer.
MAX_ENV_VALUE = 128 * 1024


class _Splitter:
    def __init__(self, text: str, lookup: Lookup, opaque_marker: Optional[str]):
        self.text = text
        self.lookup = lookup
        self.opaque_marker = opaque_marker
        self.words: list[Word] = []
        self.chars: list[str] = []
        self.columns: list[int] = []
        self.start = -1             # index where the current word starts, -1 between words
        self.has_content = False    # the current word exists even if empty (`""`)
        self.quoted = False
        self.opaque = False
        self.empty_quote = False    # inside quotes that have produced nothing yet
        self.default_brace: Optional[int] = None    # see split_line's `facts`
        self.separators = 0         # runs of blanks after the start of the line
        self.unset = 0              # unset variables kept as written ...
        self.unset_chars = 0        # ... and the characters they stand for in the words

    # -- building words ------------------------------------------------------------------
    def emit(self, char: str, index: int) -> None:
        if self.start < 0:
            self.start = index
        self.chars.append(char)
        self.columns.append(index + 1)
        self.has_content = True
        self.empty_quote = False

    def emit_run(self, run: str, index: int) -> None:
        if self.start < 0:
            self.start = index
        self.chars.append(run)
        self.columns.extend(range(index + 1, index + 1 + len(run)))
        self.has_content = True
        self.empty_quote = False

    def end_word(self, end_index: int) -> None:
        if self.start >= 0 and self.has_content:
            value = "".join(self.chars)
            self.words.append(Word(
                value, self.start + 1, end_index + 1, self.quoted, self.opaque,
                self.columns if "%" in value else None))
        self.chars, self.columns = [], []
        self.start, self.has_content, self.quoted, self.opaque = -1, False, False, False

    # -- the scan --------------------------------------------------------------------------
    def run(self) -> list[Word]:
        text, n = self.text, len(self.text)
        i = 0
        while i < n and (text[i] in BLANKS or text[i] == "\r"):
            i += 1
        self.start = -1
        squote = dquote = False
        quote_at = -1
        while i < n:
            plain = (_PLAIN_SQUOTED if squote else _PLAIN_DQUOTED if dquote else _PLAIN).match(
                text, i)
            if plain:
                self.emit_run(plain.group(), i)
                i = plain.end()
                continue
            c = text[i]
            if c == "\r" or c == "\n":
                break
            if c == "#" and not squote and not dquote:
                break
            if c == '"' and not squote:
                if self.start < 0:
                    self.start = i
                self.quoted = True
                if dquote:
                    if self.empty_quote:
                        self.has_content = True
                    dquote = False
                else:
                    dquote, quote_at, self.empty_quote = True, i, True
                i += 1
            elif c == "'" and not dquote:
                if self.start < 0:
                    self.start = i
                self.quoted = True
                if squote:
                    if self.empty_quote:
                        self.has_content = True
                    squote = False
                else:
                    squote, quote_at, self.empty_quote = True, i, True
                i += 1
            elif c == "\\" and not squote:
                i = self.escape(i, dquote)
            elif c in BLANKS and not squote and not dquote:
                self.end_word(i)
                self.separators += 1
                while i < n and text[i] in BLANKS:
                    i += 1
            elif c == "$" and dquote:
                if self.start < 0:
                    self.start = i
                i = self.variable(i)
            else:
                self.emit(c, i)
                i += 1
        if squote or dquote:
            kind = "single" if squote else "double"
            raise LineError(f"unmatched {kind} quote: the string is never closed", quote_at + 1)
        self.end_word(i)
        return self.words

    def escape(self, i: int, dquote: bool) -> int:
        text = self.text
        following = text[i + 1] if i + 1 < len(text) else ""
        if following in _ESCAPES:
            self.emit(_ESCAPES[following], i)
            return i + 2
        if following == "$" and dquote:
            self.emit("$", i)
            return i + 2
        if following == "x":
            digits = text[i + 2:i + 4]
            if len(digits) != 2 or not set(digits) <= _HEX:
                raise LineError("invalid escape: '\\x' must be followed by two hexadecimal digits",
                                i + 1)
            self.emit(chr(int(digits, 16)), i)
            return i + 4
        self.emit("\\", i)      # not an escape sequence: the backslash stays
        return i + 1

    def variable(self, dollar: int) -> int:
        """`$NAME` / `${...}` inside double quotes; returns the index after it."""
        text, n = self.text, len(self.text)
        j = dollar + 1
        brace = j < n and text[j] == "{"
        if brace:
            j += 1
        if j >= n or text[j] not in _NAME_START:
            raise LineError("'$' inside double quotes must start an environment variable name "
                            "(write \\$ for a literal dollar sign)", j + 1)
        name_start = j
        if text[j] == ".":
            j += 1
        while j < n and text[j] in _NAME_CHARS:
            j += 1
        name = text[name_start:j]
        if name.startswith(".") and name not in _PSEUDO_VARIABLES:
            raise LineError(f"unknown internal variable '{name}' (haproxy knows "
                            f"{', '.join(_PSEUDO_VARIABLES)})", name_start + 1)
        expand = False
        default = None
        if brace:
            if text.startswith("[", j):
                if not text.startswith("[*]", j):
                    raise LineError("invalid word expansion: expected '[*]'", j + 1)
                expand, j = True, j + 3
            if text.startswith("-", j):
                close = text.find("}", j)
                if close < 0:
                    raise LineError("missing '}' after the environment variable name", dollar + 2)
                default, j = text[j + 1:close], close + 1
                if self.default_brace is None:
                    self.default_brace = dollar + 2
            elif text.startswith("}", j):
                j += 1
            else:
                raise LineError("missing '}' after the environment variable name", dollar + 2)
        value = self.lookup(name)
        if value is None:
            value = default
        if expand:
            self.empty_quote = False    # an expanded empty list makes no word, quotes or not
        if value is None:
            self.opaque = True
            written = text[dollar:j]
            self.unset += 1
            self.unset_chars += len(self.opaque_marker or written)
            for offset, char in enumerate(self.opaque_marker or written):
                self.emit(char, dollar + min(offset, len(written) - 1))
        elif expand:
            for char in value:
                if char in BLANKS or char in "\r\n":
                    self.end_word(j)
                else:
                    self.emit(char, dollar)
        else:
            for char in value:
                self.emit(char, dollar)
        return j
