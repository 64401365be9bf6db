"""Split nginx configuration text into tokens that know their exact line and column.

crossplane's lexer only reports the line a token starts on, so this module re-implements the
tokenizer with positions. The token boundaries follow nginx's own `ngx_conf_read_token`
(src/core/ngx_conf_file.c); the token *values* follow crossplane, so `Directive.args` equal
what crossplane would give:

- whitespace is space, tab, CR and LF only (as in nginx; a no-break space is part of a word);
- a word ends at whitespace, `;` or `{`; inside a word `}`, `#` and quotes are plain characters,
  a backslash takes the next character literally, and `{` right after `$` stays in the word
  (`${VAR}`, so envsubst templates lex as nginx would);
- `"..."` / `'...'` strings may span lines; only the escaped quote is unescaped in the value
  (crossplane keeps `\\n` etc. as written);
- `#` at the start of a token runs to the end of the line (comments are not returned);
- `*_by_lua_block {...}` bodies are read as Lua (strings, comments, long brackets) and returned
  as one LUA token whose value is the text between the braces, as crossplane's Lua extension does.

Columns are 1-based character (code point) offsets; a tab counts as one column.

Time and memory stay linear in the text: no pattern repeats a group per character (Python's
`re` keeps backtracking state for each repetition of a group with alternatives, about 100 bytes
a character: a 1 MB word or quoted string took 300 MB), so words and strings are scanned in runs
of plain characters, with escapes and `${` stepped over in Python.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple, Optional

WORD = "word"
QUOTED = "quoted"
SEMICOLON = ";"
OPEN = "{"
CLOSE = "}"
LUA = "lua"  # the body of a *_by_lua_block directive; it also ends the directive


def brief(value: str, limit: int = 60) -> str:
    """`value` for an error message: a 1 MB word must not be copied into every message."""
    return value if len(value) <= limit else value[:limit - 1] + "…"


class Token(NamedTuple):  # a tuple: tens of thousands are made per large file
    kind: str
    value: str
    line: int
    column: int
    end_line: int
    end_column: int  # exclusive


@dataclass(frozen=True)
class LexError:
    message: str
    line: int
    column: int


@dataclass
class Lexed:
    tokens: list[Token]
    errors: list[LexError]
    # True when the text ended inside a quoted string or Lua block: the parser then does not
    # pile "unexpected end of file" errors on top of the one already reported.
    truncated: bool = False


# One match per step: skipped text, punctuation, the opening quote of a string, or the start of
# a word (its first run of plain characters, or a backslash or `$` that `_word_end` steps over).
# In a word a backslash escapes anything (even a newline or the end of the text), and `${` keeps
# its brace.
_NEXT = re.compile(
    r"(?P<skip>[ \t\r\n]+|#[^\n]*)"
    r"|(?P<punct>[;{}])"
    r"|(?P<quote>[\"'])"
    r"|(?P<word>[^ \t\r\n;{\\$]+|[\\$])"
)
_SPACE = re.compile(r"[ \t\r\n]+")
_COMMENT = re.compile(r"#[^\n]*")
_WORD_RUN = re.compile(r"[^ \t\r\n;{\\$]*")
_STRING_RUN = {'"': re.compile(r'[^"\\]*'), "'": re.compile(r"[^'\\]*")}
# What may follow a closing quote. nginx wants a space, `;`, `{` or `)`; we also accept `}`
# so that `return 200 "ok"}` is reported once, as a missing `;`, by the parser.
_AFTER_QUOTE_OK = frozenset(" \t\r\n;{})")

_LUA_BORING = re.compile(r"[^{}\"'\[\-]+")
_LUA_LONG_OPEN = re.compile(r"\[(=*)\[")
# Runs of plain characters in a Lua short string (which ends at its quote or an unescaped newline).
_LUA_STRING_RUN = {'"': re.compile(r'[^"\\\n]*'), "'": re.compile(r"[^'\\\n]*")}


class _Cursor:
    """Turns character offsets into (line, column), moving forward only."""

    def __init__(self, text: str, first_line: int):
        self.text = text
        self.offset = 0
        self.line = first_line
        self.line_start = 0  # offset of the first character of `self.line`

    def advance(self, to: int) -> None:
        newlines = self.text.count("\n", self.offset, to)
        if newlines:
            self.line += newlines
            self.line_start = self.text.rfind("\n", self.offset, to) + 1
        self.offset = to

    def column(self) -> int:
        return self.offset - self.line_start + 1


# nginx's NGX_CONF_BUFFER: a token or comment of this many bytes or more is "too long parameter".
_TOO_LONG = 4096
_COMMENT_IN = re.compile(r"#[^\n]*")


def _too_long(raw: str) -> bool:
    return len(raw) >= _TOO_LONG or (len(raw) * 4 >= _TOO_LONG and len(raw.encode("utf-8")) >= _TOO_LONG)


def tokenize(text: str, first_line: int = 1) -> Lexed:
    """All tokens of `text`; `first_line` numbers its first line (used for `nginx -T` sections)."""
    return _Lexer(text, first_line).run()


class _Lexer:
    def __init__(self, text: str, first_line: int):
        self.text = text
        self.cursor = _Cursor(text, first_line)
        self.tokens: list[Token] = []
        self.errors: list[LexError] = []
        self.truncated = False

    def run(self) -> Lexed:
        # The hot loop keeps the position in locals; the Lua path goes through self.cursor.
        text, cursor, append = self.text, self.cursor, self.tokens.append
        match_next = _NEXT.match
        pos, end = 0, len(text)
        line, line_start = cursor.line, 0
        at_directive_start = True
        while pos < end:
            match = match_next(text, pos)
            kind, stop = match.lastgroup, match.end()
            if kind == "skip":
                if stop - pos >= _TOO_LONG // 4:
                    self._long_comments(pos, stop, line, line_start)
                newlines = text.count("\n", pos, stop)
                if newlines:
                    line += newlines
                    line_start = text.rfind("\n", pos, stop) + 1
                pos = stop
                continue
            column = pos - line_start + 1
            if kind == "punct":
                char = text[pos]
                append(Token(char, char, line, column, line, column + 1))
                at_directive_start = True
                pos = stop
                continue
            if kind == "quote":
                quote = text[pos]
                close = _string_end(text, stop, end, quote)
                if close is None:
                    self._error(f"the quoted string starting here is never closed "
                                f"(missing {quote})", line, column)
                    self.truncated = True
                    break
                value = text[stop:close]
                if "\\" in value:
                    value = value.replace("\\" + quote, quote)
                stop = close + 1
            else:
                if stop < end and text[stop] in "\\$" or text[stop - 1] in "\\$":
                    stop = _word_end(text, pos, end)
                value = text[pos:stop]
            if stop - pos >= _TOO_LONG // 4 and _too_long(text[pos:stop]):
                # nginx reads a token into a 4 KB buffer and refuses one that does not fit.
                self._error(f'too long parameter "{text[pos:pos + 16]}..." started', line, column)
            first_line = line
            newlines = text.count("\n", pos, stop)
            if newlines:
                line += newlines
                line_start = text.rfind("\n", pos, stop) + 1
            end_column = stop - line_start + 1
            if kind == "word":
                append(Token(WORD, value, first_line, column, line, end_column))
            else:
                append(Token(QUOTED, value, first_line, column, line, end_column))
                if stop < end and text[stop] not in _AFTER_QUOTE_OK:
                    self._error(f'unexpected "{text[stop]}" right after a quoted string '
                                f"(a space is missing)", line, end_column)
            pos = stop
            if at_directive_start and value.endswith("_by_lua_block"):
                cursor.offset, cursor.line, cursor.line_start = pos, line, line_start
                self._lua_block(value)
                pos, line, line_start = cursor.offset, cursor.line, cursor.line_start
                continue  # the Lua body ends the directive; at_directive_start stays True
            at_directive_start = False
        return Lexed(self.tokens, self.errors, self.truncated)

    def _emit(self, kind: str, value: str, end: int) -> Token:
        cursor = self.cursor
        line, column = cursor.line, cursor.column()
        cursor.advance(end)
        token = Token(kind, value, line, column, cursor.line, cursor.column())
        self.tokens.append(token)
        return token

    def _long_comments(self, pos: int, stop: int, line: int, line_start: int) -> None:
        """A comment is read through the same 4 KB buffer as a token: longer ones are refused."""
        text = self.text
        for comment in _COMMENT_IN.finditer(text, pos, stop):
            if _too_long(comment.group(0)):
                at = comment.start()
                first = line + text.count("\n", pos, at)
                start = text.rfind("\n", 0, at) + 1
                self._error(f'too long parameter "{text[at:at + 16]}..." started', first, at - start + 1)

    def _error(self, message: str, line: int, column: int) -> None:
        self.errors.append(LexError(message, line, column))

    def _skip_space_and_comments(self) -> None:
        text, cursor = self.text, self.cursor
        while True:
            match = _SPACE.match(text, cursor.offset)
            if match:
                cursor.advance(match.end())
            if cursor.offset < len(text) and text[cursor.offset] == "#":
                cursor.advance(_COMMENT.match(text, cursor.offset).end())
                continue
            return

    def _lua_block(self, directive: str) -> None:
        text, cursor = self.text, self.cursor
        if directive == "set_by_lua_block":  # the only *_by_lua_block with an argument ($var)
            self._skip_space_and_comments()
            start = cursor.offset
            if start < len(text) and text[start] not in ";{}\"' \t\r\n":
                stop = _word_end(text, start, len(text))
                self._emit(WORD, text[start:stop], stop)
        self._skip_space_and_comments()
        if cursor.offset >= len(text) or text[cursor.offset] != "{":
            where = "end of file" if cursor.offset >= len(text) else f'"{text[cursor.offset]}"'
            self._error(f'expected "{{" to start the Lua block of "{brief(directive)}", found {where}',
                        cursor.line, cursor.column())
            if cursor.offset >= len(text):
                self.truncated = True
            return
        close = _lua_block_end(text, cursor.offset)
        if close is None:
            self._error(f'the Lua block of "{brief(directive)}" is never closed (missing "}}")',
                        cursor.line, cursor.column())
            self.truncated = True
            cursor.advance(len(text))
            return
        self._emit(LUA, text[cursor.offset + 1:close], close + 1)


def _word_end(text: str, pos: int, end: int) -> int:
    """End offset of the word starting at `pos`: runs of plain characters, a backslash with the
    character after it (if any), and `$` (with the `{` of `${`)."""
    run = _WORD_RUN.match
    while True:
        pos = run(text, pos).end()
        if pos >= end:
            return end
        char = text[pos]
        if char == "\\":
            pos += 2
            if pos >= end:
                return end
        elif char == "$":
            pos += 2 if text.startswith("{", pos + 1) else 1
        else:
            return pos


def _string_end(text: str, pos: int, end: int, quote: str) -> Optional[int]:
    """Offset of the quote closing a string whose text starts at `pos`; None when unclosed."""
    run = _STRING_RUN[quote].match
    while True:
        pos = run(text, pos).end()
        if pos >= end:
            return None
        if text[pos] == quote:
            return pos
        pos += 2  # a backslash and the character it escapes


def _lua_block_end(text: str, open_brace: int) -> Optional[int]:
    """Offset of the `}` matching the `{` at `open_brace`, skipping Lua strings and comments.

    A quote whose string never closes (an unescaped newline or the end comes first) is read as
    plain text. Then every later quote of the same kind up to where that scan stopped fails the
    same way (it was the escaped second half of a `\\"` pair in that scan, so a scan from it runs
    in step with it), so it is not scanned again: `"\\"\\"\\"...` on one line stays linear.
    """
    depth = 0
    pos = open_brace
    end = len(text)
    broken_until = {'"': -1, "'": -1}  # quote -> where its last unclosed string scan stopped
    while pos < end:
        boring = _LUA_BORING.match(text, pos)
        if boring:
            pos = boring.end()
            if pos >= end:
                break
        char = text[pos]
        if char == "{":
            depth += 1
            pos += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return pos
            pos += 1
        elif char in "\"'":
            if pos < broken_until[char]:
                pos += 1  # inside the reach of an unclosed string of this quote: cannot close
                continue
            stop = _lua_string_stop(text, pos + 1, end, char)
            if stop < end and text[stop] == char:
                pos = stop + 1
            else:  # a broken string: treat the quote as text
                broken_until[char] = stop
                pos += 1
        elif char == "[":
            pos = _skip_long_bracket(text, pos) or pos + 1
        elif text.startswith("--", pos):
            long_end = _skip_long_bracket(text, pos + 2) if text.startswith("[", pos + 2) else None
            if long_end is not None:
                pos = long_end
            else:
                newline = text.find("\n", pos)
                pos = end if newline < 0 else newline + 1
        else:  # a lone "-"
            pos += 1
    return None


def _lua_string_stop(text: str, pos: int, end: int, quote: str) -> int:
    """Where a Lua short string whose text starts at `pos` stops: its closing quote, or the
    unescaped newline / end of text that leaves it unclosed."""
    run = _LUA_STRING_RUN[quote].match
    while True:
        pos = run(text, pos).end()
        if pos >= end or text[pos] != "\\" or pos + 1 >= end:
            return pos
        pos += 2  # a backslash and the character it escapes (a newline too)


def _skip_long_bracket(text: str, pos: int) -> Optional[int]:
    """End offset of a Lua long bracket `[==[ ... ]==]` starting at `pos`, or None."""
    match = _LUA_LONG_OPEN.match(text, pos)
    if not match:
        return None
    closing = "]" + match.group(1) + "]"
    found = text.find(closing, match.end())
    return len(text) if found < 0 else found + len(closing)
