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


# One match per step: skipped text, punctuation, a quoted string, an unclosed quote, or a word.
# A backslash escapes anything (even a newline or the end of the text); `${` keeps its brace.
_NEXT = re.compile(
    r"(?P<skip>(?:[ \t\r\n]|#[^\n]*)+)"
    r"|(?P<punct>[;{}])"
    r'|"(?P<double>(?:\\[\s\S]|[^"\\])*)"'
    r"|'(?P<single>(?:\\[\s\S]|[^'\\])*)'"
    r"|(?P<unclosed>[\"'])"
    r"|(?P<word>(?:\\[\s\S]?|\$\{|[^ \t\r\n;{\\])+)"
)
_SPACE = re.compile(r"[ \t\r\n]+")
_COMMENT = re.compile(r"#[^\n]*")
_WORD = re.compile(r"(?:\\[\s\S]?|\$\{|[^ \t\r\n;{\\])+")
# What may follow a closing quote. nginx wants a space, `;`, `{` or `)`; we also accept `}`
# so that `return 200 "ok"}` is reported once, as a missing `;`, by the parser.
_AFTER_QUOTE_OK = frozenset(" \t\r\n;{})")

_LUA_BORING = re.compile(r"[^{}\"'\[\-]+")
_LUA_LONG_OPEN = re.compile(r"\[(=*)\[")
_LUA_SHORT_STRING = {
    '"': re.compile(r'"(?:\\[\s\S]|[^"\\\n])*"'),
    "'": re.compile(r"'(?:\\[\s\S]|[^'\\\n])*'"),
}


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
            if kind == "unclosed":
                self._error(f"the quoted string starting here is never closed "
                            f"(missing {text[pos]})", line, column)
                self.truncated = True
                break
            first_line = line
            newlines = text.count("\n", pos, stop)
            if newlines:
                line += newlines
                line_start = text.rfind("\n", pos, stop) + 1
            end_column = stop - line_start + 1
            value = match.group(kind)
            if kind == "word":
                append(Token(WORD, value, first_line, column, line, end_column))
            else:
                quote = text[pos]
                if "\\" in value:
                    value = value.replace("\\" + quote, quote)
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
            match = _WORD.match(text, cursor.offset) if cursor.offset < len(text) else None
            if match and text[cursor.offset] not in ";{}\"'":
                self._emit(WORD, match.group(), match.end())
        self._skip_space_and_comments()
        if cursor.offset >= len(text) or text[cursor.offset] != "{":
            where = "end of file" if cursor.offset >= len(text) else f'"{text[cursor.offset]}"'
            self._error(f'expected "{{" to start the Lua block of "{directive}", found {where}',
                        cursor.line, cursor.column())
            if cursor.offset >= len(text):
                self.truncated = True
            return
        close = _lua_block_end(text, cursor.offset)
        if close is None:
            self._error(f'the Lua block of "{directive}" is never closed (missing "}}")',
                        cursor.line, cursor.column())
            self.truncated = True
            cursor.advance(len(text))
            return
        self._emit(LUA, text[cursor.offset + 1:close], close + 1)


def _lua_block_end(text: str, open_brace: int) -> Optional[int]:
    """Offset of the `}` matching the `{` at `open_brace`, skipping Lua strings and comments."""
    depth = 0
    pos = open_brace
    end = len(text)
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
            match = _LUA_SHORT_STRING[char].match(text, pos)
            pos = match.end() if match else pos + 1  # a broken string: treat the quote as text
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


def _skip_long_bracket(text: str, pos: int) -> Optional[int]:
    """End offset of a Lua long bracket `[==[ ... ]==]` starting at `pos`, or None."""
    match = _LUA_LONG_OPEN.match(text, pos)
    if not match:
        return None
    closing = "]" + match.group(1) + "]"
    found = text.find(closing, match.end())
    return len(text) if found < 0 else found + len(closing)
