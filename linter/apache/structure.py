"""Parse one text with grammars/apache.lark and turn the tree into `Directive`s.

No includes, Define or macros here (expand.py does those); this is one file or one macro
expansion. Conventions (see linter/syntax.py for the shapes):

- A section `<VirtualHost *:443>` ... `</VirtualHost>` is `Directive(name="VirtualHost",
  args=["*:443"], block=[...])` with `extra["section"] = True`. Its `span` runs from `<` to the
  `>` that ends the header, inclusive; `extra["block_end"]` is the Span of the closing tag
  (absent when the section is never closed).
- The header ends at the *last* '>' on the line, as in httpd (even inside an unterminated
  quote): `<Location "/a">` gives args ["/a"]; `<VirtualHost *:80>` gives ["*:80"] with the
  arg span excluding the '>'. Words after that '>' are ignored, as httpd ignores them.
- `args` are unquoted the way ap_getword_conf does it (`\\"` and `\\\\` unescaped);
  `arg_spans[i]` includes the quotes; `extra["quoted"]` is one bool per argument, and
  `extra["unterminated_quote"] = True` marks a quote left open at the end of the line (httpd
  accepts it; a rule may want to warn).
- `name` keeps the spelling; `Directive.key` lowercases it (httpd names are case-insensitive).
- Comments (lines whose first non-blank character is '#') are not kept.
- Sections nested more than `MAX_NESTING` (100) deep are an error, reported once per text at the
  first one: that section keeps an empty block (its closing tags are still checked). expand.py
  applies the same bound to the tree after includes and macros.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from ..syntax import ConfigError, Directive, Span
from .source import Mapped

_PARSER = None
# Sections nested deeper than this keep an empty block: httpd itself has no such limit, but every
# pass over the tree (here, the model builder, the rules) walks blocks recursively, and no real
# configuration comes near it (a deep one nests 5 or 6 sections).
MAX_NESTING = 100
_UNESCAPE = {
    '"': re.compile(r'\\([\\"])'),
    "'": re.compile(r"\\([\\'])"),
    "": re.compile(r"\\(\\)"),
}


def _parser():
    """The LALR parser, built once per process (lark's cache makes later processes cheap)."""
    global _PARSER
    if _PARSER is None:
        from lark import Lark  # lazy: lark costs ~40 ms to import

        with open(_grammar_path(), encoding="utf-8") as f:
            grammar = f.read()
        _PARSER = Lark(grammar, parser="lalr", lexer="contextual",
                       propagate_positions=False, cache=True)   # tokens carry positions
    return _PARSER


def _grammar_path() -> str:
    """grammars/apache.lark: inside the package when installed from a wheel (linter/grammars/),
    beside it in a source checkout (grammars/ next to linter/)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    installed = os.path.join(package, "grammars", "apache.lark")
    if os.path.exists(installed):
        return installed
    return os.path.join(os.path.dirname(package), "grammars", "apache.lark")


@dataclass
class Parsed:
    directives: list[Directive]
    errors: list[ConfigError]
    # id(<Macro> directive) -> its raw body (cut out by macros.cut_bodies before parsing)
    macro_bodies: dict = field(default_factory=dict)


def parse(mapped: Mapped, path: str, bodies: dict) -> Parsed:
    """Directives of `mapped.text`; `bodies` maps the offset of a `<Macro` to its raw body."""
    from lark import Token
    from lark.exceptions import UnexpectedInput

    builder = _Builder(mapped, path, bodies)
    try:
        interactive = _parser().parse_interactive(mapped.text)
        depth = 0
        for token in interactive.iter_parse():
            if token.type == "SECTION_OPEN":
                depth += 1
            elif token.type == "SECTION_CLOSE" and depth:
                depth -= 1
        # Sections still open at the end: close them with empty tags; the builder reports them.
        for _ in range(depth):
            interactive.feed_token(Token("SECTION_CLOSE", ""))
            interactive.feed_token(Token("_NL", "\n"))
        tree = interactive.feed_eof()
    except UnexpectedInput as error:  # the grammar accepts everything else; be safe anyway
        position = getattr(error, "pos_in_stream", None) or 0
        span = mapped.span(position, position + 1, path)
        return Parsed([], [ConfigError("unexpected text here", span.path, span.line, span.column)])
    directives = builder.statements(tree.children)
    builder.report_unclosed()
    builder.errors.sort(key=lambda e: (e.line, e.column))
    return Parsed(directives, builder.errors, builder.macro_bodies)


def nesting_message(name: str, through: str = "") -> str:
    return (f"sections are nested more than {MAX_NESTING} deep{through}: the contents of this "
            f"<{name}> are ignored (httpd has no such limit, but no real configuration nests this "
            f"deep)")


def unquote(raw: str) -> tuple[str, bool, bool]:
    """(value, quoted, terminated) of one word, as ap_getword_conf reads it."""
    quote = raw[:1]
    if quote not in ('"', "'"):
        return (_UNESCAPE[""].sub(r"\1", raw) if "\\" in raw else raw), False, True
    body, i, terminated = raw[1:], 0, False
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body) and body[i + 1] in (quote, "\\"):
            i += 2
        elif body[i] == quote:
            terminated = True
            break
        else:
            i += 1
    return _UNESCAPE[quote].sub(r"\1", body[:i]), True, terminated


class _Builder:
    def __init__(self, mapped: Mapped, path: str, bodies: dict):
        self.mapped = mapped
        self.path = path
        self.bodies = bodies
        self.errors: list[ConfigError] = []
        self.macro_bodies: dict = {}
        # After a mismatched closing tag, "is not closed" errors are usually only its echo.
        self.nesting_broken = False
        self.too_deep_reported = False
        self.unclosed: list[Directive] = []

    def span(self, start: int, end: int) -> Span:
        return self.mapped.span(start, end, self.path)

    def error(self, message: str, span: Span) -> None:
        self.errors.append(ConfigError(message, span.path, span.line, span.column))

    def statements(self, children) -> list[Directive]:
        """The Directives of a list of lark statements, sections included.

        Iterative (an explicit stack, not recursion): the grammar accepts sections nested
        10,000 deep. Sections more than MAX_NESTING deep keep an empty block (reported once):
        every later pass over the tree recurses into blocks.
        """
        top: list[Directive] = []
        # (lark children left, where their Directives go, the section they belong to, its
        # closing tag, how many sections enclose them)
        stack = [(iter(children), top, None, None, 0)]
        while stack:
            remaining, out, owner, closer, depth = stack[-1]
            child = next(remaining, None)
            if child is None:
                stack.pop()
                if owner is not None:
                    self.closing_tag(owner, closer)
                continue
            if child.data == "directive":
                directive = self.directive(child.children)
                if directive.name:  # a line like `""`: httpd skips an empty command name
                    out.append(directive)
            elif child.data == "section":
                directive, body, section_closer = self.section(child.children)
                out.append(directive)
                if depth >= MAX_NESTING:
                    self.too_deep(directive)
                    body_out: list = []           # still read, for its closing tags; not kept
                else:
                    body_out = directive.block
                stack.append((iter(body), body_out, directive, section_closer, depth + 1))
            elif child.data == "stray_close":
                self.stray_close(child.children[0])
        return top

    def too_deep(self, directive: Directive) -> None:
        if not self.too_deep_reported:
            self.too_deep_reported = True
            self.error(nesting_message(directive.name), directive.span)

    def words(self, pieces, directive_extra: dict):
        """args, arg_spans from (raw, start, end) pieces; fills extra["quoted"]."""
        args, spans, quoted = [], [], []
        for raw, start, end in pieces:
            value, was_quoted, terminated = unquote(raw)
            args.append(value)
            spans.append(self.span(start, end))
            quoted.append(was_quoted)
            if not terminated:
                directive_extra["unterminated_quote"] = True
        directive_extra["quoted"] = quoted
        return args, spans

    def directive(self, children) -> Directive:
        name_token, arg_tokens = children[0], children[1:]
        name = unquote(name_token.value)[0]
        extra: dict = {}
        args, spans = self.words([(t.value, t.start_pos, t.end_pos) for t in arg_tokens], extra)
        end = arg_tokens[-1].end_pos if arg_tokens else name_token.end_pos
        return Directive(name, args, self.span(name_token.start_pos, end), spans, None, extra)

    def section(self, children) -> tuple:
        """(the section's Directive with an empty block, its lark body, its closing tag)."""
        opener = children[0]
        header = [c for c in children[1:] if not hasattr(c, "data")]
        trees = [c for c in children[1:] if hasattr(c, "data")]
        body, closer = trees[:-1], trees[-1].children[0]

        name = opener.value[1:]
        pieces = [(t.value, t.start_pos, t.end_pos) for t in header]
        if name.endswith(">") and not pieces:
            name, end = name[:-1], opener.end_pos
        else:
            name = name[:-1] if name.endswith(">") else name
            pieces, end = self.header_args(name, opener, pieces)
        extra: dict = {"section": True}
        args, spans = self.words(pieces, extra)
        directive = Directive(name, args, self.span(opener.start_pos, end), spans, [], extra)
        if not name:
            self.error("a section needs a name, as in <VirtualHost *:443>", directive.span)

        if name.lower() == "macro" and opener.start_pos in self.bodies:
            body_text = self.bodies[opener.start_pos]
            self.macro_bodies[id(directive)] = body_text
            extra["macro_body"] = body_text.text
        return directive, body, closer

    def header_args(self, name: str, opener, pieces):
        """The header's words up to its last '>', and where the header ends."""
        last = None
        for i, (raw, _, _) in enumerate(pieces):
            if ">" in raw:
                last = i
        if last is None:
            end = pieces[-1][2] if pieces else opener.end_pos
            self.error(f"<{name}> is missing the closing '>' of its header",
                       self.span(opener.start_pos, end))
            return pieces, end
        # httpd cuts at the last '>' of the raw line even inside quotes: the historical
        # `<Location "/.well-known/matrix/client>` (quote never closed) works in httpd.
        raw, start, _ = pieces[last]
        cut = raw.rindex(">")
        kept = pieces[:last] + ([(raw[:cut], start, start + cut)] if cut else [])
        return kept, start + cut + 1

    def closing_tag(self, directive: Directive, closer) -> None:
        if closer.value == "":  # closed by parse() at the end of the text
            if not self.nesting_broken:
                self.unclosed.append(directive)   # innermost first: reported by report_unclosed
            return
        span = self.span(closer.start_pos, closer.end_pos)
        directive.extra["block_end"] = span
        raw = closer.value[2:]
        if not raw.endswith(">"):
            self.error(f"</{raw}> is missing its closing '>'", span)
            return
        if raw[:-1].lower() != directive.name.lower():
            self.nesting_broken = True
            self.error(f"expected </{directive.name}> to close the <{directive.name}> of line "
                       f"{directive.span.line}, but found </{raw[:-1]}>", span)

    def report_unclosed(self) -> None:
        """Sections still open at the end: one error, at the outermost (the others are inside it)."""
        if not self.unclosed:
            return
        outermost, inside = self.unclosed[-1], len(self.unclosed) - 1
        more = f" (nor are the {inside} sections opened inside it)" if inside > 1 else \
            " (nor is the section opened inside it)" if inside else ""
        self.error(f"<{outermost.name}> is not closed: expected </{outermost.name}> before the end "
                   f"of the file{more}", outermost.span)

    def stray_close(self, closer) -> None:
        name = closer.value[2:].rstrip(">")
        self.error(f"</{name}> without matching <{name}> section",
                   self.span(closer.start_pos, closer.end_pos))
