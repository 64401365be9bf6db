"""Snippets and `import`: token splicing, done the way Caddy's parser does it.

Caddy expands imports while it parses (caddyconfig/caddyfile/parse.go, doImport): the
`import pattern [args...] [{ block }]` line is replaced by the tokens of the snippet or files,
and parsing continues *on the imported tokens*, so imported files may define snippets, import
further, or hold whole site blocks. This module walks the token list the same way, only as far
as needed to know where snippet definitions and `import` lines are, and hands a flat token list
(snippet definitions removed, imports spliced in) to the grammar.

- A snippet is a top-level block whose only key is `(name)`; it must be defined before use.
- `import` is recognised as the first token of a line (anywhere but inside a snippet body).
  A snippet name wins over a file; otherwise the pattern is a file or a glob (one `*` or `?`
  at most). Where a file is looked for, first hit wins (see `_find`):
  1. the checked tree: a relative pattern against the directory of the file the `import` is
     written in (Caddy's rule); an absolute one mapped into the tree's roots (`prefix`, else the
     `tree_roots` and the entry file's directory) by its longest suffix that exists there
     (`/etc/caddy/snippets/x` -> `<root>/snippets/x`);
  2. this machine's own file system, for an absolute pattern, only without `prefix`: the file
     is read and listed in `outside` (it is not part of the checked tree);
  3. each `include_paths` directory, by the longest suffix of the pattern that exists there;
  4. shipped knowledge (`linter.known`): no standard Caddy snippet files exist, so nothing.
  For a glob, "exists" means its directory exists: a glob whose directory is found but that
  matches nothing imports nothing (Caddy only warns).
- An import found nowhere (a file, a glob whose directory is nowhere, a name that is neither a
  snippet defined before it nor a file) is not an error: it is an `Unresolved` (kind "import")
  in `unresolved`, and its line (`import pattern args...`, without a `{ }` block) stays in the
  token stream with `Token.mark` set on its `import` token, so the tree keeps a leaf `import`
  directive there (parse.py). Cycles, unreadable files and directories stay ConfigErrors.
- Arguments: `{args[N]}` / `{args.N}` inside a token are replaced, a token that is exactly
  `{args[a:b]}` (either bound optional) becomes several tokens; `{block}` is replaced by the
  tokens of the block after the import line, `{blocks.NAME}` by the tokens of its sub-block
  NAME. Imported snippet *definitions* are copied without substitution, like Caddy.
- Imported tokens keep the position where they were written and get an ImportStep (the
  import line's span) appended to their `chain`; `{block}` tokens keep their own.
- Import cycles are errors (we follow the actual chain of imports, not Caddy's global graph;
  a file is known by its real path, so a symlink loop is a cycle too).
- Files are read by the caller's `read` (parse.py: `linter.inputs.read_config`); a file it
  refuses (`UnreadableFile`: not a regular file, a system file, too big, binary, UTF-16) is an
  error at the import's pattern that names the file.
- Bounds, so that no input runs without end: imports nested at most MAX_IMPORT_DEPTH deep, at
  most MAX_IMPORTS import lines read and MAX_TOKENS tokens brought in by imports in all (snippets
  that import each other twice per level grow exponentially). The walk keeps the tokens still
  to read as a stack, so each import costs what it brings in, not the size of the file.
"""
from __future__ import annotations

import glob as globmod
import os
import re
from dataclasses import dataclass
from typing import Callable, Optional

from linter.syntax import ConfigError, Span, Unresolved
from linter.caddy.lex import Token, on_new_line

# A runaway snippet that imports itself twice per level would otherwise grow exponentially.
MAX_TOKENS = 300_000
# Imports of imports of ...: real Caddyfiles go a few levels deep.
MAX_IMPORT_DEPTH = 100
# `import` lines read in all (snippets importing each other several times multiply them).
MAX_IMPORTS = 20_000

_ARGS_INDEX = re.compile(r"args\[(.+)]")
_ARGS_DOTTED = re.compile(r"args\.(.+)")


@dataclass(frozen=True)
class ImportStep:
    span: Span      # the `import ...` line
    origin: tuple   # (file, snippet name or "") the import line was written in


@dataclass(frozen=True)
class UnresolvedImport:
    """`Token.mark` of the `import` token of an import line that could not be read."""

    unresolved: Unresolved
    top: bool       # written at the top level, outside any block (could add whole sites)


class UnreadableFile(Exception):
    """Raised by the `read` callback when a file cannot be read (`linter.inputs.read_config`
    refused it: missing, not a regular file, a system file, too big, binary, UTF-16); the
    expander turns it into a ConfigError at the `import` that named the file."""

    def __init__(self, error: ConfigError):
        super().__init__(str(error))
        self.error = error


def _unreadable_message(pattern: str, error: ConfigError) -> str:
    message = error.message
    if error.line:      # a position inside the file (a NUL byte): name it in the message
        message = f"{error.path}:{error.line}: {message}"
    elif error.path not in message:
        message = f"{error.path}: {message}"
    return f"cannot import {pattern}: {message}"


def is_snippet_key(text: str) -> bool:
    return len(text) >= 2 and text[0] == "(" and text[-1] == ")"


class Expander:
    def __init__(self, read: Callable[[str, tuple], list[Token]], prefix: Optional[str],
                 errors: list[ConfigError], *, entry: Optional[str] = None,
                 tree_roots: tuple = (), include_paths: tuple = ()):
        self.read = read            # read(abs_path, origin) -> tokens (raises ConfigError)
        self.prefix = prefix
        self.errors = errors
        self.snippets: dict[str, list[Token]] = {}
        self.files: list[str] = []
        self.outside: list[str] = []          # files read from this machine, outside the tree
        self.unresolved: list[Unresolved] = []
        # The checked tree's roots, best first: (directory, given by the user as a copy of the
        # server's configuration). Only such a copy may answer an absolute import by its
        # file name alone; an implicit root needs at least one directory of the path too.
        roots: list = []
        if prefix:
            roots.append((os.path.abspath(prefix), True))
        roots += [(os.path.abspath(r), False) for r in tree_roots]
        if entry and entry != "<string>":
            roots.append((os.path.dirname(os.path.abspath(entry)), False))
        self.roots = list({r: (r, explicit) for r, explicit in reversed(roots)}.values())[::-1]
        self.include_paths = [os.path.abspath(p) for p in include_paths]
        self.produced = 0       # tokens all imports have brought in so far (see MAX_TOKENS)
        self.imports = 0        # import lines read so far (see MAX_IMPORTS)
        self._found: dict = {}  # what _find answered, by its arguments

    # ---- the walk ---------------------------------------------------------------------
    def run(self, tokens: list[Token]) -> list[Token]:
        # The tokens still to read, last first: an import pops its line and pushes what it
        # imports, so each token is handled once however many imports there are (splicing
        # into one list made a small file of nested snippet imports take minutes).
        pending = tokens[::-1]
        out: list[Token] = []
        depth = 0
        header: list[Token] = []     # keys of the top-level block being read
        bare = False                 # a top-level block without braces: the rest is its body
        prev: Optional[Token] = None     # the token read before this one
        while pending:
            tok = pending[-1]
            new_line = prev is None or on_new_line(prev, tok)
            if tok.text == "import" and new_line and tok.mark is None:
                out.extend(self._import(pending, depth, top=depth == 0 and not bare and not header))
                # Snippets that import each other twice per level grow exponentially even while
                # the tokens left to read stay few: count all the work, not only what is left.
                self.imports += 1
                if len(pending) + len(out) > MAX_TOKENS or self.produced > MAX_TOKENS:
                    raise ConfigError("imports expand to too many tokens (a snippet importing "
                                      "itself over and over?)", tok.path, tok.line, tok.column)
                if self.imports > MAX_IMPORTS:
                    raise ConfigError(f"more than {MAX_IMPORTS} imports in all (snippets "
                                      f"importing each other over and over?)", tok.path,
                                      tok.line, tok.column)
                continue
            if depth == 0 and not bare and not header and is_snippet_key(tok.text) \
                    and not tok.quote and len(pending) > 1 and pending[-2].is_open:
                prev = self._define_snippet(pending)
                continue
            pending.pop()
            out.append(tok)
            if tok.is_open:
                depth += 1
                header = []
            elif tok.is_close:
                depth = max(0, depth - 1)
            elif depth == 0 and not bare:
                header.append(tok)
                nxt = pending[-1] if pending else None
                if nxt is not None and on_new_line(tok, nxt) and not tok.text.endswith(",") \
                        and not nxt.is_open:  # `site\n{` still opens the site's block
                    bare = True
            prev = tok
        return out

    def _define_snippet(self, pending: list[Token]) -> Token:
        """Take the snippet definition off `pending`; returns its closing '}'."""
        key = pending.pop()
        name = key.text[1:-1]
        opener = pending[-1]
        body, close = _take_block(pending)
        if close is None:
            raise ConfigError(f"snippet ({name}) is never closed: its '{{' has no matching '}}'",
                              opener.path, opener.line, opener.column)
        if name in self.snippets:
            self.errors.append(ConfigError(f"snippet ({name}) is defined twice",
                                           key.path, key.line, key.column))
        else:
            origin = (key.path, name)
            self.snippets[name] = [t.copy(origin=origin) for t in body]
        return close

    @staticmethod
    def _block(toks: list[Token], open_index: int):
        """Tokens strictly inside the block opened at open_index, and the index of its '}'."""
        depth = 0
        for j in range(open_index, len(toks)):
            t = toks[j]
            if t.is_open:
                depth += 1
            elif t.is_close:
                depth -= 1
                if depth == 0:
                    return toks[open_index + 1:j], j
        return toks[open_index + 1:], None

    # ---- one import line ---------------------------------------------------------------
    def _import(self, pending: list[Token], depth: int, top: bool = False) -> list[Token]:
        """Take the import line (and its block) off `pending` and push what it imports; returns
        the tokens to keep as they are: the line of an import that could not be read."""
        imp = pending.pop()

        def same_line(previous: Token) -> bool:
            return bool(pending) and not on_new_line(previous, pending[-1])

        if not same_line(imp) or pending[-1].is_open:
            self.errors.append(ConfigError("import needs a file name or a snippet name",
                                           imp.path, imp.line, imp.column))
            return []
        pattern_tok = pending.pop()
        line_tokens = [pattern_tok]       # the pattern and the arguments
        while same_line(line_tokens[-1]) and not pending[-1].is_open:
            line_tokens.append(pending.pop())
        args = [t.text for t in line_tokens[1:]]
        block: list[Token] = []
        last = line_tokens[-1]
        if same_line(last) and pending[-1].is_open:
            opener = pending[-1]
            block, close = _take_block(pending)
            if close is None:
                raise ConfigError("the block after this import is never closed",
                                  opener.path, opener.line, opener.column)
            last = opener
        span = imp.span
        if last.path == imp.path:
            span = Span(imp.path, imp.line, imp.column, last.end_line, last.end_column)
        if len(imp.chain) >= MAX_IMPORT_DEPTH:
            self.errors.append(ConfigError(f"imports nested more than {MAX_IMPORT_DEPTH} deep",
                                           imp.path, imp.line, imp.column))
            return []

        # Each import counts, also one that brings nothing: `import x` lines multiplied by
        # snippets must not run unbounded either.
        self.produced += 1 + len(line_tokens)
        try:
            imported, missing = self._resolve(pattern_tok, imp)
            if missing is not None:
                unresolved = Unresolved(span, pattern_tok.text, missing, "import")
                if unresolved not in self.unresolved:     # a snippet imported twice
                    self.unresolved.append(unresolved)
                return [imp.copy(mark=UnresolvedImport(unresolved, top))] + line_tokens
            copies = self._substitute(imported, imp, span, args, block, depth)
        except ConfigError as err:
            self.errors.append(err)
            copies = []
        self.produced += len(copies)
        pending.extend(reversed(copies))
        return []

    def _resolve(self, pattern_tok: Token, imp: Token):
        """(tokens, None), or ([], why) when the import is found nowhere."""
        pattern = pattern_tok.text
        if pattern == "":
            raise ConfigError("import needs a non-empty file name", pattern_tok.path,
                              pattern_tok.line, pattern_tok.column)
        ancestry = {imp.origin} | {step.origin for step in imp.chain}
        where = (pattern_tok.path, pattern_tok.line, pattern_tok.column)
        if pattern in self.snippets:
            tokens = self.snippets[pattern]
            if tokens and tokens[0].origin in ancestry:
                raise ConfigError(f"import cycle: snippet ({pattern}) ends up importing itself",
                                  *where)
            return tokens, None
        if pattern.count("*") > 1 or pattern.count("?") > 1 or (
                "[" in pattern and "]" in pattern):
            raise ConfigError(f"import pattern {pattern!r} may use only one wildcard (* or ?)",
                              *where)
        importer = os.path.abspath(imp.path)
        key = (pattern, importer, importer in self.outside)
        if key not in self._found:
            self._found[key] = self._find(pattern, imp.path)
        matches, outside, looked = self._found[key]
        if matches is None:
            return [], _reason(pattern, looked)
        out: list[Token] = []
        for path in matches:
            path = os.path.abspath(path)
            if os.path.isdir(path):
                raise ConfigError(f"cannot import {pattern}: {path} is a directory", *where)
            # A file is known by its real path, so a symlink (or a symlinked directory that
            # loops back) cannot hide a cycle behind an ever longer name.
            origin = (os.path.realpath(path), "")
            if origin in ancestry:
                raise ConfigError(f"import cycle: {path} ends up importing itself", *where)
            if outside and path not in self.outside:
                self.outside.append(path)
            new = path not in self.files
            if new:
                self.files.append(path)
            try:
                tokens = self.read(path, origin)
            except UnreadableFile as problem:
                if new:
                    self.files.remove(path)     # not read after all
                raise ConfigError(_unreadable_message(pattern, problem.error), *where) from None
            out.extend(tokens)
        return out, None

    def _find(self, pattern: str, importing_file: str):
        """(matching files or None when found nowhere, read from outside the tree, where looked).

        The candidates, best first, are (directory, pattern relative to it, outside) triples;
        see the module docstring for the order.
        """
        parts = [p for p in pattern.split("/") if p]
        candidates = []
        looked = []
        importer = os.path.abspath(importing_file)
        if not os.path.isabs(pattern):
            base = os.path.dirname(importer)
            candidates.append((base, pattern, importer in self.outside))
            looked.append(base)
        else:
            for k in range(len(parts)):
                for root, explicit in self.roots:
                    if explicit or k <= len(parts) - 2:
                        candidates.append((root, "/".join(parts[k:]), False))
            looked += [root for root, _ in self.roots]
            if not self.prefix:
                inside = any(_under(pattern, root) for root, _ in self.roots)
                candidates.append(("/", "/".join(parts), not inside))
                looked.append("this machine")
        for k in range(len(parts)):
            for folder in self.include_paths:
                if parts[k] != "..":
                    candidates.append((folder, "/".join(parts[k:]), False))
        looked += self.include_paths
        for n, (folder, rest, outside) in enumerate(candidates):
            matches = _matches(folder, rest)
            if matches is None:
                continue
            if not matches and n and "/" not in rest:
                # A glob mapped to a root by its file name alone: the root proves nothing
                # about the pattern's directory, only a matching file does.
                continue
            return matches, outside, looked
        return None, False, looked

    def _substitute(self, imported: list[Token], imp: Token, span: Span, args: list[str],
                    block: list[Token], nesting: int) -> list[Token]:
        """Caddy's loop over imported tokens: chain, {block}, {blocks.x}, {args...}."""
        mapping = _block_mapping(block, imp) if block else {}
        chain = imp.chain + (ImportStep(span, imp.origin),)
        out: list[Token] = []
        maybe_snippet = maybe_snippet_id = False
        index = 0
        prev = None
        for n, token in enumerate(imported):
            if not maybe_snippet and nesting == 0:
                index = 0 if n == 0 or on_new_line(prev, token) else index + 1
                if index == 0 and len(token.text) >= 3 and is_snippet_key(token.text):
                    maybe_snippet_id = True
            prev = token
            if token.is_open:
                nesting += 1
                if index == 1 and maybe_snippet_id and nesting == 1:
                    maybe_snippet, maybe_snippet_id = True, False
            elif token.is_close:
                nesting -= 1
                if nesting == 0 and maybe_snippet:
                    maybe_snippet = False
            text = token.text
            if text == "{block}" or (text.startswith("{blocks.") and text.endswith("}")):
                if maybe_snippet:
                    out.append(token.copy(chain=chain))
                elif text == "{block}":
                    out.extend(block)
                else:
                    out.extend(mapping.get(text[len("{blocks."):-1], ()))
                continue
            if maybe_snippet:
                out.append(token.copy(chain=chain))
                continue
            variadic = _variadic(text, len(args))
            if variadic is not None:
                for arg in args[variadic[0]:variadic[1]]:
                    out.append(token.copy(text=arg, chain=chain))
            else:
                out.append(token.copy(text=_replace_args(text, args), chain=chain))
        return out


def _take_block(pending: list[Token]):
    """Pop the block that starts with the '{' at the end of `pending` (the next token):
    (the tokens strictly inside, its closing '}' or None when the tokens run out first)."""
    pending.pop()
    inner: list[Token] = []
    depth = 1
    while pending:
        t = pending.pop()
        if t.is_open:
            depth += 1
        elif t.is_close:
            depth -= 1
            if depth == 0:
                return inner, t
        inner.append(t)
    return inner, None


def _matches(folder: str, rest: str) -> Optional[list[str]]:
    """The files `rest` names under `folder`; None when it is not there at all (for a glob:
    when the directory its wildcard is in does not exist)."""
    full = os.path.join(folder, rest)
    if not any(c in rest for c in "*?"):
        return [full] if os.path.exists(full) else None
    fixed = []
    for part in rest.split("/"):
        if any(c in part for c in "*?"):
            break
        fixed.append(part)
    if not os.path.isdir(os.path.join(folder, *fixed)):
        return None
    matches = sorted(globmod.glob(os.path.join(globmod.escape(folder), rest), include_hidden=True))
    if os.path.basename(full).startswith("*"):
        # Caddy skips dotfiles when the last path segment starts with a wildcard
        matches = [m for m in matches if not os.path.basename(m).startswith(".")]
    return matches


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _reason(pattern: str, looked: list) -> str:
    places = list(dict.fromkeys(looked))
    shown = ", ".join(places[:4]) + (f" and {len(places) - 4} more" if len(places) > 4 else "")
    where = f" (looked in {shown})" if shown else ""
    if "/" not in pattern and not any(c in pattern for c in "*?"):
        return f"no snippet ({pattern}) defined before it, and not found as a file{where}"
    return f"not found{where}"


def _block_mapping(block: list[Token], imp: Token) -> dict[str, list[Token]]:
    """`import x { name args { ... } }` -> {"name": args + inner tokens} for {blocks.name}."""
    mapping: dict[str, list[Token]] = {}
    k = 0
    while k < len(block):
        key = block[k]
        if key.is_open:
            raise ConfigError("anonymous blocks are not supported inside an import block; "
                              "give the block a name", key.path, key.line, key.column)
        k += 1
        value: list[Token] = []
        while k < len(block) and not on_new_line(block[k - 1], block[k]) and not block[k].is_open:
            value.append(block[k])
            k += 1
        if k < len(block) and block[k].is_open and not on_new_line(block[k - 1], block[k]):
            inner, close = Expander._block(block, k)
            value.extend(inner)
            k = len(block) if close is None else close + 1
        mapping[key.text] = value
    return mapping


def _variadic(text: str, count: int):
    """(start, end) when `text` is exactly `{args[a:b]}` with valid bounds, else None."""
    if not (text.startswith("{args[") and text.endswith("]}")):
        return None
    inner = text[len("{args["):-2]
    start, colon, end = inner.partition(":")
    if not inner or not colon or "}" in start or "{" in end:
        return None
    try:
        lo = int(start) if start else 0
        hi = int(end) if end else count
    except ValueError:
        return None
    if lo < 0 or lo > hi or hi > count:
        return None
    return lo, hi


def _arg_value(key: str, args: list[str]):
    for pattern in (_ARGS_DOTTED, _ARGS_INDEX):
        m = pattern.fullmatch(key)
        if m:
            if ":" in m.group(1) and pattern is _ARGS_INDEX:
                return None
            try:
                index = int(m.group(1))
            except ValueError:
                return None
            return args[index] if 0 <= index < len(args) else None
    return None


def _replace_args(text: str, args: list[str]) -> str:
    """Caddy's Replacer.ReplaceKnown restricted to {args[N]} / {args.N}.

    Like Caddy, it also drops the backslash of an escaped brace (`\\{`, `\\}`).
    """
    if "{" not in text and "}" not in text:
        return text
    out = []
    last = 0
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if i > 0 and text[i - 1] == "\\" and c in "{}":
            out.append(text[last:i - 1])
            last = i
            i += 1
            continue
        if c != "{":
            i += 1
            continue
        end = text.find("}", i)
        if end < 0:
            i += 1
            continue
        while 0 < end < n - 1 and text[end - 1] == "\\":
            nxt = text.find("}", end + 1)
            if nxt < 0:
                end = -1
                break
            end = nxt
        if end < 0:
            i += 1
            continue
        value = _arg_value(text[i + 1:end], args)
        if value is None:
            i += 1
            continue
        out.append(text[last:i])
        out.append(value)
        i = end + 1
        last = i
    out.append(text[last:])
    return "".join(out)
