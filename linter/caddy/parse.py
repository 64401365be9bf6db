"""The Caddyfile (Caddy 2) front end: file -> `Tree` of `Directive`s with exact positions.

Pipeline: `lex.py` splits the text into tokens exactly like Caddy's lexer (with `{$ENV}`
substituted first, as Caddy does); `expand.py` removes snippet definitions and splices
`import`s in; a small LALR grammar (`grammars/caddyfile.lark`) groups the tokens into blocks and
directives; this module turns that into the shared tree and checks what Caddy's own
parser/adapter would reject about the structure (not the meaning of directives).

Tree conventions:

- global options block (a block without address, only first in the file) ->
  `Directive(name="global", args=[], block=[...], extra={"kind": "global"})`; its span is the
  `{` line.
- site block -> `Directive(name="site", args=[addresses...], arg_spans=[...], block=[...],
  extra={"kind": "site", "braces": bool})`. Addresses are as written, minus the separating
  commas (`a.example, b.example:8448 {` -> `["a.example", "b.example:8448"]`). A file's only
  site may be written without braces (`braces: False`); its block then runs to end of file.
- named route `&(name) { ... }` -> `Directive(name="named_route", args=["name"], block=[...],
  extra={"kind": "named_route"})`.
- every directive inside -> `Directive(name=first token, args=other tokens, block=None or [...])`.
  Named matcher definitions are directives whose name starts with `@` (`@api path /api/*`,
  or `@api { ... }` with the matchers as children); inline matchers (`/path*`, `*`, `@name`)
  are ordinary args. `extra["quoted"]` = [bool per arg] (double quotes, backticks or heredoc).
  Placeholders (`{env.X}`, `{http.request.host}`, ...) stay as text; `{$X}` is already
  substituted and `extra["env"]` lists the variable names used in the directive's line.
- snippets are expanded where they are imported and their definitions are not in the tree.
  Directives that came through `import` keep the spans where they are written (the snippet or
  the imported file) and carry `extra["import"]` = the Span of the `import` line that brought
  them in directly, `extra["import_chain"]` = all import lines, outermost first.
- `*.caddy-d.Caddyfile` files (or `fragment=True`) are directive fragments, the body of a
  site block: they are parsed with the grammar's `fragment` start and wrapped in a site
  Directive with no address and `extra={"kind": "site", "braces": False, "fragment": True}`.
  When the engine lints a file (`load_options` given), so is a file other than `Caddyfile`
  whose top-level lines all start with a directive or a matcher (`directives_only`): a snippet
  meant to be imported into a site block. `caddy adapt` would read its first line as a site
  address; we read it as what it is for, and the model marks what includes it as unknown.
- An `import` found nowhere (see expand.py for where we look) is not an error: it is an
  `Unresolved` in `Tree.unresolved` and stays in the tree as a leaf directive `import` (its
  pattern and arguments as args, without the `{ }` block it may have) with
  `extra["unresolved"]`, where it is written: inside a block, or at the top level between the
  site blocks. Files read from this machine outside the checked tree are in `Tree.outside`.
- When the engine lints a file, a `{$VAR}` that is unset here keeps its placeholder as written
  (the server's environment is not ours), instead of becoming empty as in Caddy.
- Caddy accepts a top-level block whose final `}` is missing when the file ends with the `}`
  of a nested block (that brace then closes both); we accept it too and mark the block with
  `extra["missing_brace"] = True`. Not in a site without braces (Caddy: "unexpected EOF").
- Caddy v1 files are reported with one ConfigError "Caddy v1 syntax: ..." (see v1.py); their
  directives are still in the tree, lexically, but must not be read as Caddy 2.

Files (the Caddyfile and every import) are read with `linter.inputs.read_config` against one
`Budget` per load (`LoadOptions.budget()`): only regular files, nothing under /proc, /sys or
/dev, bounded sizes, no binary or UTF-16 text. An import that cannot be read is an error at the
import (file:line:column of its pattern), naming the file and why.

Errors are `ConfigError`s in `Tree.errors` with file, line and column. After a lexical or
structural error (unterminated quote or heredoc, unbalanced braces, blocks nested more than
MAX_NESTING deep, imports that expand without end ...) the tree has no directives, like Caddy,
which stops there. Other errors (an import cycle, a bad site address, a snippet defined twice)
are reported and the rest of the file is still parsed. What `caddy adapt` refuses in a tree
whose syntax is fine (unknown directives and global options, two sites with one address) is
checked by refusals.py.
Public functions: load, parse_string, looks_like_caddy (detect.py), caddy_v1_reason (v1.py).
"""
from __future__ import annotations

import os
from typing import Mapping, Optional

from linter.inputs import read_config
from linter.syntax import ConfigError, Directive, LoadOptions, Span, Tree
from linter.caddy.lex import Token, empty_substitutions, lex, on_new_line
from linter.caddy.expand import Expander, UnreadableFile
from linter.caddy.address import address_problem
from linter.caddy.refusals import STANDARD_DIRECTIVES, check as refusals
from linter.caddy.v1 import caddy_v1_reason, find_v1, reason_in_text  # noqa: F401
from linter.caddy.detect import looks_like_caddy  # noqa: F401  (public API)

FRAGMENT_SUFFIX = ".caddy-d.Caddyfile"
MAX_NESTING = 100       # blocks in blocks (a site block is the first level)

_parser = None


def _lark():
    """The LALR parser, built once per process (lark is imported only here)."""
    global _parser
    if _parser is None:
        from lark import Lark

        from linter.caddy._larklexer import GivenTokens
        import linter.grammars

        path = os.path.join(os.path.dirname(linter.grammars.__file__), "caddyfile.lark")
        _parser = Lark.open(path, parser="lalr", lexer=GivenTokens, start=["start", "fragment"],
                            cache=True, maybe_placeholders=False)
    return _parser


# ---- public API --------------------------------------------------------------------------

def load(path: str, *, prefix: Optional[str] = None, env: Optional[Mapping[str, str]] = None,
         fragment: Optional[bool] = None, load_options: Optional[LoadOptions] = None) -> Tree:
    """Parse the Caddyfile at `path` with everything it imports.

    `prefix`: for offline audits, a copy of /etc/caddy (or of a whole root file system):
    absolute import paths are looked for under it by their longest suffix that exists there,
    and never on this machine. `load_options` (linter.syntax.LoadOptions): where imports are
    looked for (its `prefix` wins over `prefix=`; `tree_roots`, `include_paths`), see expand.py.
    `env`: the environment used for `{$VAR}` (default: os.environ). `fragment`: parse as a site
    body (True), or as a whole Caddyfile (False). By default (None) a `*.caddy-d.Caddyfile` is a
    fragment; and when `load_options` is given (the engine linting files as a user hands them
    over), so is a file other than `Caddyfile` that holds only directives (`directives_only`):
    a snippet meant to be imported into a site block. Without `load_options` such a file is
    read the way `caddy adapt` reads it, as a whole Caddyfile (where its first line is a site
    address, and an error).
    """
    budget = (load_options or LoadOptions()).budget()
    try:
        text = read_config(path, budget)
    except ConfigError as err:
        return Tree("caddy", path, [], [path], [err])
    return _parse(text, path, prefix=prefix, env=env, fragment=fragment, load_options=load_options,
                  budget=budget)


def parse_string(text: str, path: str = "<string>", *, prefix: Optional[str] = None,
                 env: Optional[Mapping[str, str]] = None,
                 fragment: Optional[bool] = None,
                 load_options: Optional[LoadOptions] = None) -> Tree:
    """Parse Caddyfile text; relative imports resolve against the directory of `path`.

    Without a `path`, the text is a whole Caddyfile (no directives-only detection)."""
    budget = (load_options or LoadOptions()).budget()
    budget.used += len(text)    # the entry's text counts towards the configuration's size
    return _parse(text, path, prefix=prefix, env=env, fragment=fragment, load_options=load_options,
                  budget=budget)


def directives_only(tokens: list[Token]) -> bool:
    """Whether the (expanded) tokens hold only directives: every line at the top level starts
    with a standard directive or a matcher definition (`@name`), never with a site address, a
    snippet/named route or a global options block. Unreadable imports do not count either way.

    Such a file is a snippet meant to be imported into a site block (Caddy itself reads its
    first line as a site address and refuses it when given the file alone)."""
    depth, seen, prev = 0, False, None
    for tok in tokens:
        first = prev is None or on_new_line(prev, tok)
        prev = tok
        if tok.is_open:
            if depth == 0 and first:
                return False            # a global options block
            depth += 1
        elif tok.is_close:
            depth = max(0, depth - 1)
        elif depth == 0 and first and tok.mark is None:
            if tok.quote or not (tok.text in STANDARD_DIRECTIVES
                                 or (tok.text.startswith("@") and len(tok.text) > 1)):
                return False
            seen = True
    return seen


def _may_be_snippet(path: str) -> bool:
    """A file that could be a snippet: not the entry `Caddyfile`, not text without a name."""
    return path != "<string>" and os.path.basename(path) != "Caddyfile"


# ---- the pipeline ------------------------------------------------------------------------

def _parse(text, path, *, prefix, env, fragment, load_options=None, budget=None) -> Tree:
    if env is None:
        env = os.environ
    options = load_options or LoadOptions()
    if budget is None:
        budget = options.budget()
    prefix = options.prefix or prefix
    given = fragment
    if fragment is None:
        fragment = path.endswith(FRAGMENT_SUFFIX)
    errors: list[ConfigError] = []
    files = [path]

    # Linting files as handed over (load_options given), the server's environment is not ours:
    # a {$VAR} unset here keeps its placeholder as written instead of becoming empty.
    open_world = load_options is not None

    def read(file_path: str, origin: tuple) -> list[Token]:
        try:
            text = read_config(file_path, budget)
        except ConfigError as err:
            raise UnreadableFile(err) from None   # the expander says which import named it
        return lex(text, file_path, env, origin, keep_unset=open_world)

    expander = Expander(read, prefix, errors, entry=path, tree_roots=tuple(options.tree_roots),
                        include_paths=tuple(options.include_paths))
    directives: list[Directive] = []
    tokens: list[Token] = []
    try:
        tokens = lex(text, path, env, (os.path.realpath(path), ""), keep_unset=open_world)
        tokens = expander.run(tokens)
        if not tokens and not text and not fragment:
            # Caddy itself refuses a zero-byte Caddyfile (its lexer fails with "EOF")
            raise ConfigError("the Caddyfile is empty", path)
    except ConfigError as err:
        errors.append(err)
        tokens = None
    files += [f for f in expander.files if f != os.path.abspath(path) and f not in files]

    detected = False
    if tokens is not None:
        directives, found = _structure(tokens, path, text, env, fragment)
        if given is None and open_world and not fragment and _may_be_snippet(path) \
                and directives_only(tokens) and not _v1(directives, text, path, files):
            detected = fragment = True
            directives, found = _structure(tokens, path, text, env, True)
        errors += found

    if directives:
        known = {(e.path, e.line, e.column) for e in errors}
        errors += [e for e in refusals(directives, expander.outside)
                   if (e.path, e.line, e.column) not in known]    # said already, in other words

    reason = None
    if not fragment or detected:
        reason = _v1(directives, text, path, files)
    if reason:
        message, span = reason.message, reason.span
        errors = [ConfigError(f"Caddy v1 syntax: {message}, not understood by Caddy 2",
                              span.path if span else path,
                              span.line if span else 0, span.column if span else 0)]
    return Tree("caddy", path, directives, files, errors, unresolved=list(expander.unresolved),
                outside=list(expander.outside))


def _v1(directives, text, path, files):
    return find_v1(Tree("caddy", path, directives, files, [])) if directives \
        else reason_in_text(text, path)


def _structure(tokens: list[Token], path, text, env, fragment: bool):
    """(directives, errors) of the expanded tokens; no directives after a structural error.

    Outside a fragment, the lines of unreadable imports written at the top level are taken out
    of the grammar's way (it knows only blocks there) and come back as leaf `import` directives
    between the blocks they were written between."""
    errors: list[ConfigError] = []
    top: list = []
    if not fragment:
        tokens, top = _take_top_imports(tokens)
    try:
        stream, missing_brace = _lark_tokens(tokens)
        directives = _Builder(tokens, path, text, env, errors).build(stream, fragment, top)
        last = next((d for d in reversed(directives) if not d.extra.get("unresolved")), None)
        if missing_brace and last is not None:
            last.extra["missing_brace"] = True
    except ConfigError as err:
        errors.append(err)
        directives = []
    except _SyntaxError as err:
        errors.append(err.error)
        directives = []
    return directives, errors


def _take_top_imports(tokens: list[Token]):
    """(the tokens without the top-level unresolved import lines, [(index of the next token
    in the result, the import line's tokens)])."""
    if not any(t.mark is not None and t.mark.top for t in tokens):
        return tokens, []
    kept, top = [], []
    line = None
    for tok in tokens:
        if line is not None and not on_new_line(line[-1], tok):
            line.append(tok)
            continue
        line = None
        if tok.mark is not None and tok.mark.top:
            line = [tok]
            top.append((len(kept), line))
            continue
        kept.append(tok)
    return kept, top


class _SyntaxError(Exception):
    def __init__(self, error: ConfigError):
        self.error = error


def _lark_tokens(tokens: list[Token]):
    """Caddy tokens -> the grammar's terminals (see grammars/caddyfile.lark for the rules)."""
    from lark import Token as LarkToken

    out = []
    depth = 0
    header_words = 0     # address tokens of the top-level block being read
    bare = False         # saw a top-level block without braces
    prev: Optional[Token] = None
    for index, tok in enumerate(tokens):
        if prev is not None and on_new_line(prev, tok):
            in_header = depth == 0 and not bare and header_words
            if in_header and prev.text.endswith(","):
                pass  # `a.example,` + newline: the address list goes on
            else:
                out.append(LarkToken("_NL", "", index, tok.line, tok.column))
                if in_header and not tok.is_open:
                    bare = True
        if tok.is_close:
            if depth == 1 and not bare and prev is not None and not prev.is_open \
                    and not on_new_line(prev, tok):
                # parse.go directive(): at the site level a '}' after a directive's words is
                # "Unexpected '}' because no matching opening brace"
                raise ConfigError("the '}' that closes a site block (or the global options) "
                                  "must be on a line of its own", tok.path, tok.line, tok.column)
            # `{ }` on one line is allowed for a top-level block only (Caddy: "Unexpected next
            # token after '{' on same line"); leaving out the _NL makes the grammar say so.
            empty_inner = out and out[-1].type == "LBRACE" and (depth >= 2 or bare)
            if out and out[-1].type != "_NL" and not empty_inner:
                out.append(LarkToken("_NL", "", index, tok.line, tok.column))
            out.append(LarkToken("_RBRACE", "}", index, tok.line, tok.column))
            depth -= 1
            if depth == 0:
                header_words = 0
        elif tok.is_open:
            out.append(LarkToken("LBRACE", "{", index, tok.line, tok.column))
            depth += 1
            if depth > MAX_NESTING:
                # Later stages walk blocks recursively; garbage like `a {` x 10,000 must not
                # crash them. Real Caddyfiles stay below 10 levels.
                raise ConfigError(f"blocks are nested more than {MAX_NESTING} deep; the linter "
                                  f"does not read this Caddyfile", tok.path, tok.line, tok.column)
        else:
            last = out[-1] if out else None
            if last is not None and last.type == "WORDS":
                last.end_pos = index + 1  # one more word on the same line
            else:
                out.append(LarkToken("WORDS", tok.text, index, tok.line, tok.column,
                                     end_pos=index + 1))
            if depth == 0:
                header_words += 1
        prev = tok
    missing_brace = False
    if out and out[-1].type != "_NL":
        last = tokens[-1]
        out.append(LarkToken("_NL", "", len(tokens), last.end_line, last.end_column))
    if depth == 1 and not bare and tokens and tokens[-1].is_close:
        # Caddy lets the last nested block's '}' also close the top-level block when the
        # final '}' is missing (parse.go: closeCurlyBrace looks at the current token). Not a
        # site without braces: there the open block is a directive's ("unexpected EOF").
        last = tokens[-1]
        out.append(LarkToken("_RBRACE", "}", len(tokens) - 1, last.line, last.column))
        out.append(LarkToken("_NL", "", len(tokens), last.end_line, last.end_column))
        missing_brace = True
    return out, missing_brace


class _Builder:
    def __init__(self, tokens: list[Token], path: str, text: str, env, errors):
        self.tokens = tokens
        self.path = path
        self.text = text
        self.env = env
        self.errors = errors

    # ---- grammar errors -> plain words ---------------------------------------------------
    def _syntax_error(self, err, stream) -> ConfigError:
        from lark.exceptions import UnexpectedToken

        if not isinstance(err, UnexpectedToken) or err.token.type == "$END":
            return self._brace_glued_to_address(len(self.tokens)) or self._unclosed()
        bad = err.token
        pos = next((i for i, t in enumerate(stream) if t is bad), -1)
        before = stream[pos - 1].type if pos > 0 else None
        index = bad.start_pos
        glued = self._brace_glued_to_address(index)
        if glued is not None:
            return glued
        where = self.tokens[min(index, len(self.tokens) - 1)]
        line, column = where.line, where.column
        if bad.type == "_RBRACE" and before == "LBRACE":
            message = ("unexpected '}' right after '{' on the same line: a block's content "
                       "(and its '}') start on the next line")
        elif bad.type == "_RBRACE":
            message = "unexpected '}': there is no open '{' for it to close"
        elif bad.type == "LBRACE" and before == "_NL":
            message = ("'{' must be at the end of the line that opens the block, not on a "
                       "line of its own")
        elif bad.type == "LBRACE":
            message = "'{' must be the last thing on its line"
        elif before == "LBRACE":
            message = (f"unexpected {bad.value!r} after '{{' on the same line: a block's "
                       f"content starts on the next line")
        elif bad.type == "WORDS" and before == "_RBRACE":
            message = f"unexpected {bad.value!r} after '}}' on the same line"
        elif bad.type == "_NL":
            message = "unexpected line break"
        else:
            message = f"unexpected {bad.value!r}"
        return ConfigError(message, where.path, line, column)

    def _brace_glued_to_address(self, before: int) -> Optional[ConfigError]:
        """`example.com{` is one word, so the block looks unopened; say what Caddy says."""
        depth = 0
        for tok in self.tokens[:before + 1]:
            if tok.is_open:
                depth += 1
            elif tok.is_close:
                depth -= 1
            elif depth == 0 and not tok.quote and len(tok.text) > 1 and tok.text.endswith("{"):
                return ConfigError(f"site address {tok.text!r} ends with '{{': put a space "
                                   f"before the brace", tok.path, tok.line, tok.column)
        return None

    def _unclosed(self) -> ConfigError:
        stack = []
        for tok in self.tokens:
            if tok.is_open:
                stack.append(tok)
            elif tok.is_close and stack:
                stack.pop()
        if stack:
            tok = stack[-1]
            return ConfigError("'{' is never closed (a '}' is missing)", tok.path, tok.line,
                               tok.column)
        last = self.tokens[-1] if self.tokens else None
        return ConfigError("unexpected end of file", self.path,
                           last.end_line if last else 1, last.end_column if last else 1)

    # ---- tree ----------------------------------------------------------------------------
    def build(self, stream, fragment: bool, top=()) -> list[Directive]:
        """`top`: [(token index, tokens)] of unreadable imports at the top level, taken out of
        the stream (see _take_top_imports): leaf directives between the blocks."""
        from lark.exceptions import UnexpectedInput

        pending = [(index, self._leaf(words)) for index, words in top]
        if not stream:
            return [self._fragment_site([])] if fragment else [d for _, d in pending]
        try:
            tree = _lark().parse(stream, start="fragment" if fragment else "start")
        except UnexpectedInput as err:
            raise _SyntaxError(self._syntax_error(err, stream))
        if fragment:
            return [self._fragment_site(self._body(tree.children[0]))]
        out: list[Directive] = []
        named_routes: dict[str, Token] = {}
        for number, node in enumerate(tree.children):
            first = node.children[0]
            start = getattr(first, "start_pos", None)
            if start is None:                       # a header node: its WORDS token
                start = first.children[0].start_pos
            while pending and pending[0][0] <= start:
                out.append(pending.pop(0)[1])
            if node.data == "bare_site":
                header, body = node.children
                out.append(self._site(self._words(header), None, self._body(body), False))
                continue
            children = node.children
            has_header = getattr(children[0], "data", None) == "header"
            header = self._words(children[0]) if has_header else []
            brace = next(c for c in children if getattr(c, "type", None) == "LBRACE")
            body = self._body(children[-1])
            if not header:
                out.append(self._global(number, brace, body))
            elif len(header) == 1 and header[0].text.startswith("&(") \
                    and header[0].text.endswith(")"):
                name = header[0].text[2:-1]
                if name in named_routes:
                    self._error(f"named route &({name}) is defined twice", header[0])
                named_routes[name] = header[0]
                out.append(Directive("named_route", [name], self._header_span(header, brace),
                                     [header[0].span], body, {"kind": "named_route"}))
            else:
                out.append(self._site(header, brace, body, True))
        out += [d for _, d in pending]
        return out

    def _words(self, node) -> list[Token]:
        words = node.children[0]
        return self.tokens[words.start_pos:words.end_pos]

    def _error(self, message: str, tok: Token) -> None:
        self.errors.append(ConfigError(message, tok.path, tok.line, tok.column))

    def _lbrace(self, lark_token) -> Token:
        return self.tokens[lark_token.start_pos]

    def _header_span(self, words: list[Token], lbrace) -> Span:
        first = words[0] if words else self._lbrace(lbrace)
        last = self._lbrace(lbrace) if lbrace is not None else words[-1]
        if last.path != first.path or last.chain != first.chain:
            last = first
        return Span(first.path, first.line, first.column, last.end_line, last.end_column)

    def _global(self, number: int, lbrace, body) -> Directive:
        brace = self._lbrace(lbrace)
        empty = [s for s in empty_substitutions(self.text, self.env) if s[0] == brace.line
                 and s[1] < brace.column] if brace.path == self.path else []
        extra = {"kind": "global"}
        if empty:
            names = ", ".join("{$%s}" % name for _, _, name in empty)
            self._error(f"this site's address is empty because {names} is not set in the "
                        f"environment; Caddy would read the block as global options", brace)
            extra["misplaced"] = True           # what it holds is not meant as global options
        elif number:
            self._error("a block without a site address is the global options block, which "
                        "must come first in the file", brace)
            extra["misplaced"] = True
        return Directive("global", [], self._header_span([], lbrace), [], body, extra)

    def _site(self, header: list[Token], lbrace, body, braces: bool) -> Directive:
        addresses, spans = [], []
        expecting_another = False
        for tok in header:
            value = tok.text
            if value.startswith("@"):
                self._error(f"request matchers such as {value} may only be defined inside a "
                            f"site block", tok)
                continue
            if value.endswith("{") and not tok.quote:
                self._error(f"site address {value!r} ends with '{{': put a space before the "
                            f"brace", tok)
                continue
            expecting_another = value.endswith(",")
            value = value[:-1] if expecting_another else value
            if "," in value:
                self._error(f"site address {value!r} contains a comma: put a space after the "
                            f"comma to separate site addresses", tok)
                continue
            if not value:
                continue
            if value in STANDARD_DIRECTIVES:
                self._error(f"{value!r} is written where a site address belongs, but it is a "
                            f"directive; directives must be inside a site block", tok)
            else:
                problem = address_problem(value)
                if problem:
                    self._error(problem, tok)
            addresses.append(value)
            spans.append(tok.span)
        if expecting_another and lbrace is not None:
            self._error("another site address was expected after the trailing comma",
                        self._lbrace(lbrace))
        if not braces:
            self._check_bare_body(body)
        extra = {"kind": "site", "braces": braces}
        env = sorted({name for tok in header for name in tok.env})
        if env:
            extra["env"] = env
        return Directive("site", addresses, self._header_span(header, lbrace), spans, body,
                         extra)

    def _check_bare_body(self, body: list[Directive]) -> None:
        """Caddy's hint: in a site without braces, an address-like directive is a 2nd site."""
        for d in body:
            name = d.name
            if ("." in name or name.startswith(":") or "://" in name or name == "localhost") \
                    and not name.startswith(("@", "(", "{")):
                self.errors.append(ConfigError(
                    f"{name!r} looks like a second site address: when a Caddyfile has more "
                    f"than one site, every site needs braces around its directives",
                    d.span.path, d.span.line, d.span.column))
                return

    def _leaf(self, words: list[Token]) -> Directive:
        """A one-line directive from its tokens (the line of an unreadable import)."""
        return self._make(words[0], words[1:], None, None)

    def _fragment_site(self, body: list[Directive]) -> Directive:
        return Directive("site", [], Span.point(self.path, 1, 1), [], body,
                         {"kind": "site", "braces": False, "fragment": True})

    def _body(self, node) -> list[Directive]:
        return [self._directive(child) for child in node.children]

    def _directive(self, node) -> Directive:
        children = node.children
        words = []
        lbrace = None
        block = None
        for child in children:
            kind = getattr(child, "type", None)
            if kind == "WORDS":
                words = self.tokens[child.start_pos:child.end_pos]
            elif kind == "LBRACE":
                lbrace = child
            else:
                block = self._body(child)
        return self._make(words[0], words[1:], lbrace, block, words)

    def _make(self, name: Token, args: list[Token], lbrace, block, words=None) -> Directive:
        words = words or [name] + args
        if args and args[-1].text == "{}" and not args[-1].quote and lbrace is None:
            self._error("unexpected '{}' at the end of the line: to open an empty block, put "
                        "'{' and '}' on separate lines", args[-1])
        extra: dict = {"quoted": [bool(t.quote) for t in args]}
        if args and args[-1].text == "<<" and not args[-1].quote and lbrace is None:
            self._error("'<<' at the end of a line starts no heredoc: write the marker right "
                        "after it, for example <<END", args[-1])
            extra["heredoc_missed"] = True      # the lines after it are its body, not directives
        if name.chain:
            extra["import"] = name.chain[-1].span
            extra["import_chain"] = [step.span for step in name.chain]
        if name.mark is not None:
            extra["unresolved"] = name.mark.unresolved
        env = sorted({n for t in words for n in t.env})
        if env:
            extra["env"] = env
        return Directive(name.text, [t.text for t in args], self._header_span(words, lbrace),
                         [t.span for t in args], block, extra)
