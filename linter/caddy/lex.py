"""The Caddyfile lexer: text -> tokens with exact positions, the way Caddy 2 splits them.

Caddy's lexer (caddyconfig/caddyfile/lexer.go) is token based, and this module follows its
rules, including the odd ones, because "what Caddy reads" is what a linter must reason about:

- tokens are separated by whitespace; `{` and `}` are structural only as whole tokens, so
  `{http.request.host}` or `{$ENV}` are ordinary words;
- a token that *starts* with `"` runs to the next unescaped `"` (only `\\"` is an escape,
  other backslashes are kept) and may span lines; a token starting with a backtick runs to
  the next backtick with no escapes at all; quotes inside a word are literal (`foo"bar"`);
- `<<MARKER` at the end of a line opens a heredoc that ends at the first later occurrence
  of MARKER; the whitespace before the closing marker is stripped from every line;
  `\\<<` keeps a literal `<<`;
- `#` starts a comment only at the start of a token;
- a backslash before a line break joins the next line onto this one (for directive
  grouping, not for positions). Caddy also joins the next line when a comment contains a
  backslash anywhere (its escape flag survives through the comment); we do the same;
- `\\r` is ignored everywhere outside quotes, a leading byte order mark is dropped.

`{$VAR}` / `{$VAR:default}` are substituted from the environment *before* lexing, exactly
like Caddy does (an unset variable without default becomes the empty string, so its value
may even split into several tokens). Positions still point into the original text: a token
made from a substitution spans the whole placeholder.

Every token records `brk`/`brk_end`, the number of line breaks that count before its start and
at its end; two tokens of the same file are on the same (logical) line when the second's `brk`
is not greater than the first's `brk_end` (Caddy's isNextOnNewLine).
"""
from __future__ import annotations

import os
import re
from bisect import bisect_right
from typing import Mapping, Optional

from linter.syntax import ConfigError, Span

_HEREDOC_MARKER = re.compile(r"^[A-Za-z0-9_-]+$")
_ENV_NAME = re.compile(r"[^\s{}$]+")
_PLAIN_RUN = re.compile(r"[^\s\\]+")
_QUOTED_BODY = re.compile(r'(?:[^"\\]|\\.)*"', re.S)
_QUOTE_ESCAPE = re.compile(r"\\(.)", re.S)


class Token:
    """One Caddyfile token. `quote` is '' (bare), '"', '`' or '<' (heredoc)."""

    __slots__ = ("text", "quote", "path", "line", "column", "end_line", "end_column",
                 "brk", "brk_end", "origin", "chain", "env", "mark")

    def __init__(self, text, quote, path, line, column, end_line, end_column, brk, brk_end,
                 origin, chain=(), env=(), mark=None):
        self.text = text
        self.quote = quote
        self.path = path
        self.line = line
        self.column = column
        self.end_line = end_line
        self.end_column = end_column
        self.brk = brk
        self.brk_end = brk_end
        # (file, snippet name or "") the token was written in: the node for import cycles.
        self.origin = origin
        # The imports that brought this token here, outermost first (tuple of ImportStep).
        self.chain = chain
        # Names of the {$ENV} placeholders substituted inside this token.
        self.env = env
        # On the `import` token of an import that could not be read (expand.py): its
        # `UnresolvedImport`. The line stays in the token stream as a leaf directive.
        self.mark = mark

    def copy(self, **changes) -> "Token":
        new = Token(self.text, self.quote, self.path, self.line, self.column, self.end_line,
                    self.end_column, self.brk, self.brk_end, self.origin, self.chain, self.env,
                    self.mark)
        for key, value in changes.items():
            setattr(new, key, value)
        return new

    @property
    def span(self) -> Span:
        return Span(self.path, self.line, self.column, self.end_line, self.end_column)

    @property
    def is_open(self) -> bool:
        return self.text == "{" and not self.quote

    @property
    def is_close(self) -> bool:
        return self.text == "}" and not self.quote

    def __repr__(self) -> str:
        return f"Token({self.text!r}, {self.path}:{self.line}:{self.column})"


def on_new_line(previous: Token, current: Token) -> bool:
    """Caddy's isNextOnNewLine: tokens from another file or import chain start a new line."""
    if previous.path != current.path or previous.chain != current.chain:
        return True
    return current.brk > previous.brk_end


class _Positions:
    """Maps offsets in the (substituted) text back to line/column of the original text."""

    def __init__(self, original: str, segments: Optional[list], bom: bool):
        self.line_starts = [0]
        find = original.find
        i = find("\n")
        while i >= 0:
            self.line_starts.append(i + 1)
            i = find("\n", i + 1)
        if bom:
            self.line_starts[0] = 1
        # segments: (new_start, new_end, orig_start, orig_end, replaced) or None (identity)
        self.segments = segments
        self.seg_starts = [s[0] for s in segments] if segments else None

    def _line_col(self, offset: int) -> tuple[int, int]:
        line = bisect_right(self.line_starts, offset)
        return line, offset - self.line_starts[line - 1] + 1

    def _orig(self, offset: int, last: bool) -> int:
        """Original offset of character `offset`; a substituted character maps to the first
        (or, with `last`, the final) character of its placeholder."""
        if self.segments is None:
            return offset
        seg = self.segments[max(0, bisect_right(self.seg_starts, offset) - 1)]
        new_start, _new_end, orig_start, orig_end, replaced = seg
        if replaced:
            return orig_end - 1 if last else orig_start
        return orig_start + (offset - new_start)

    def span(self, start: int, end: int) -> tuple[int, int, int, int]:
        """(line, column, end_line, end_column) of the substituted text [start, end)."""
        line, column = self._line_col(self._orig(start, False))
        end_line, end_column = self._line_col(self._orig(max(start, end - 1), True))
        return line, column, end_line, end_column + 1


def substitute_env(text: str, env: Mapping[str, str], keep_unset: bool = False):
    """Caddy's replaceEnvVars: `{$NAME}` / `{$NAME:default}` before lexing.

    Returns (new_text, segments or None, substitutions) where substitutions lists
    (orig_start, orig_end, name, value) in order. With `keep_unset`, a variable that is unset
    and has no default stays as written (the linter does not see the server's environment).
    """
    if "{$" not in text:
        return text, None, []
    out: list[str] = []
    segments = []
    subs = []
    new_pos = 0
    pos = 0  # in the original text
    while True:
        begin = text.find("{$", pos)
        if begin < 0:
            break
        end = text.find("}", begin + 2)
        if end < 0:
            break
        name = text[begin + 2:end]
        if not name:
            # Caddy skips "{$}" and resumes after it, leaving it in place.
            chunk = text[pos:end + 1]
            segments.append((new_pos, new_pos + len(chunk), pos, end + 1, False))
            out.append(chunk)
            new_pos += len(chunk)
            pos = end + 1
            continue
        key, has_default, default = name.partition(":")
        value = env.get(key)
        if value is None:
            # Kept as written only when it can be the name of a variable the server's
            # environment sets: `{$ {` ... `}` spanning braces and lines is gone in Caddy too.
            keep = keep_unset and _ENV_NAME.fullmatch(key) is not None
            value = default if has_default else (text[begin:end + 1] if keep else "")
        literal = text[pos:begin]
        if literal:
            segments.append((new_pos, new_pos + len(literal), pos, begin, False))
            out.append(literal)
            new_pos += len(literal)
        # Even an empty value gets a (zero-length) segment so positions stay monotonic.
        segments.append((new_pos, new_pos + len(value), begin, end + 1, True))
        out.append(value)
        new_pos += len(value)
        subs.append((begin, end + 1, key, value))
        pos = end + 1
    rest = text[pos:]
    segments.append((new_pos, new_pos + len(rest), pos, len(text), False))
    out.append(rest)
    # zero-length segments would confuse the offset lookup: keep them out of the index
    segments = [s for s in segments if s[1] > s[0]] or [(0, 0, 0, 0, False)]
    return "".join(out), segments, subs


def _finish_heredoc(body: str, marker: str, first_line: int, path: str) -> str:
    """Caddy's finalizeHeredoc: strip the closing marker's indentation from every line."""
    last_newline = body.rfind("\n")
    lines = body[:last_newline + 1].split("\n")
    padding = body[last_newline + 1:len(body) - len(marker)]
    out = []
    for number, line in enumerate(lines[:-1]):
        if line in ("", "\r"):
            out.append("")
            continue
        if not line.startswith(padding):
            shown = line.rstrip("\r\n")
            raise ConfigError(
                f"heredoc <<{marker}: line {first_line + number + 1} ({shown.strip()!r}) does not "
                f"start with the indentation of the closing marker ({padding!r})",
                path, first_line + number + 1, 1)
        out.append(line[len(padding):].replace("\r", ""))
    return "\n".join(out)


def lex(text: str, path: str, env: Optional[Mapping[str, str]] = None,
        origin: Optional[tuple] = None, keep_unset: bool = False) -> list[Token]:
    """Tokens of one Caddyfile. Raises ConfigError (with a position) for bad input.
    `keep_unset`: see substitute_env."""
    if env is None:
        env = os.environ
    bom = text.startswith("\ufeff")
    source, segments, subs = substitute_env(text, env, keep_unset)
    positions = _Positions(text, segments, bom)
    origin = origin or (path, "")
    tokens: list[Token] = []
    n = len(source)
    pos = 1 if bom else 0
    brk = 0            # line breaks that count (escaped ones do not)
    escaped = False    # a pending backslash (outside quotes)
    append = tokens.append

    identity = segments is None
    line_starts = positions.line_starts

    def make(start, end, value, quote, brk_start):
        if identity and not quote:
            # the common case, a bare word on one line: one lookup
            line = bisect_right(line_starts, start)
            column = start - line_starts[line - 1] + 1
            append(Token(value, quote, path, line, column, line, column + end - start,
                         brk_start, brk, origin))
            return
        line, column, end_line, end_column = positions.span(start, end)
        append(Token(value, quote, path, line, column, end_line, end_column, brk_start, brk,
                     origin))

    def error(message, offset):
        line, column, _, _ = positions.span(offset, offset + 1)
        return ConfigError(message, path, line, column)

    while pos < n:
        c = source[pos]
        if c == "\n":
            if escaped:
                escaped = False
            else:
                brk += 1
            pos += 1
            continue
        if c.isspace():
            pos += 1
            continue
        if c == "\\" and not escaped:
            escaped = True
            pos += 1
            continue
        if c == "#":
            end = source.find("\n", pos)
            end = n if end < 0 else end
            if "\\" in source[pos:end]:
                escaped = True  # Caddy's escape flag survives through the comment
            pos = end
            continue

        start = pos
        brk_start = brk
        if c == '"':
            body_start = pos + 1
            if escaped:
                # `\"...`: Caddy keeps the escape for the first character inside the quotes
                escaped = False
                if body_start < n and source[body_start] == '"':
                    # `\""`: the escaped quote is content, the string goes on
                    m = _QUOTED_BODY.match(source, body_start + 1)
                    if not m:
                        raise error("unterminated quoted string", start)
                    raw = '"' + m.group()[:-1]
                else:
                    m = _QUOTED_BODY.match(source, body_start)
                    if not m:
                        raise error("unterminated quoted string", start)
                    raw = "\\" + m.group()[:-1]
            else:
                m = _QUOTED_BODY.match(source, body_start)
                if not m:
                    raise error("unterminated quoted string (no closing '\"')", start)
                raw = m.group()[:-1]
            pos = m.end()
            value = _QUOTE_ESCAPE.sub(lambda e: e.group(1) if e.group(1) == '"' else e.group(0),
                                      raw)
            brk += source.count("\n", start, pos)
            make(start, pos, value, '"', brk_start)
            continue
        if c == "`":
            escaped = False
            end = source.find("`", pos + 1)
            if end < 0:
                raise error("unterminated backtick string (no closing '`')", start)
            pos = end + 1
            brk += source.count("\n", start, pos)
            make(start, pos, source[start + 1:end], "`", brk_start)
            continue

        # A bare word.
        val: list[str] = []
        heredoc_escaped = False
        last_end = pos
        if escaped:
            escaped = False
            if c == "<":
                heredoc_escaped = True
            else:
                val.append("\\")
            val.append(c)
            pos += 1
            last_end = pos
        if not heredoc_escaped and source.startswith("<<", pos) and not val:
            # Possibly a heredoc: `<<MARKER` followed by a line break.
            j = pos + 2
            while j < n and source[j] not in " \n":
                j += 1
            marker = source[pos + 2:j].replace("\r", "")
            if j < n and source[j] == "\n":
                if not marker:
                    raise error("missing heredoc marker after '<<' (for example <<END)", start)
                if marker.startswith("<"):
                    raise error("too many '<' for a heredoc; use two, for example <<END", start)
                if not _HEREDOC_MARKER.match(marker):
                    raise error(f"heredoc marker {marker!r} may only contain letters, digits, "
                                f"dashes and underscores", start)
                body_start = j + 1
                close = source.find(marker, body_start)
                if close < 0:
                    raise error(f"heredoc <<{marker} is never closed (expected a line with the "
                                f"marker {marker})", start)
                pos = close + len(marker)
                first_line = positions.span(start, start + 1)[0]
                value = _finish_heredoc(source[body_start:pos], marker, first_line, path)
                brk += source.count("\n", start, pos)
                make(start, pos, value, "<", brk_start)
                continue
            # `<<` followed by a space or the end of input: an ordinary word
            val.append(source[pos:j].replace("\r", ""))
            pos = j
            make(start, pos, "".join(val), "", brk_start)
            continue

        while pos < n:
            m = _PLAIN_RUN.match(source, pos)
            if m:
                chunk = m.group()
                if escaped:
                    escaped = False
                    if chunk[0] == "<":
                        heredoc_escaped = True
                    else:
                        val.append("\\")
                val.append(chunk)
                pos = last_end = m.end()
                continue
            ch = source[pos]
            if ch == "\\":
                if escaped:
                    # `\\`: the second backslash is kept together with the first
                    escaped = False
                    val.append("\\\\")
                    pos += 1
                    last_end = pos
                else:
                    escaped = True
                    pos += 1
                continue
            # whitespace
            if ch == "\r":
                pos += 1
                continue
            break
        make(start, last_end, "".join(val), "", brk_start)
        if pos < n:
            ch = source[pos]
            pos += 1
            if ch == "\n":
                if escaped:
                    escaped = False
                else:
                    brk += 1
            escaped = False  # Caddy's escape flag is local to one token

    if subs:
        _mark_env(tokens, subs, positions)
    return tokens


def _mark_env(tokens: list[Token], subs, positions: _Positions) -> None:
    """Record which {$VAR} placeholders went into which token (by original position)."""
    starts = positions.line_starts
    for token in tokens:
        t_start = starts[token.line - 1] + token.column - 1
        t_end = starts[token.end_line - 1] + token.end_column - 1
        names = tuple(name for s, e, name, _ in subs if s < t_end and e > t_start)
        if names:
            token.env = names


def empty_substitutions(text: str, env: Optional[Mapping[str, str]] = None):
    """(line, column, name) of every {$VAR} that became empty (unset, no default)."""
    if env is None:
        env = os.environ
    _, _, subs = substitute_env(text, env)
    if not subs:
        return []
    positions = _Positions(text, None, text.startswith("\ufeff"))
    out = []
    for start, _end, name, value in subs:
        if value == "":
            line, column = positions._line_col(start)
            out.append((line, column, name))
    return out
