"""The HAProxy front end: configuration files -> `linter.syntax.Tree`.

    load(paths, *, prefix=None, env=None, version=None) -> Tree
        one file, or several `-f` arguments in order; a directory stands for its `*.cfg` files
        in lexical order, as haproxy loads them; relative paths resolve against `prefix`
    parse_string(text, path="<string>", *, env=None, version=None) -> Tree
    looks_like_haproxy(text, path) -> bool

Pipeline: lexer.py splits each line into words (quoting, escapes, environment variables);
the loop below applies `.if` blocks (conditionals.py), `[scope]` lines and the `.notice`-style
messages, and turns the surviving lines into tokens; grammars/haproxy.lark gives them their
structure (sections, statements, ACL conditions); `_Builder` makes the Directives.

Tree conventions
----------------
- Each section -> `Directive(name=<section keyword>, args=[name, "from", x, ...],
  block=[its lines], extra={"section": True})`. A section is started by its keyword, in any
  column, and runs until the next section keyword (haproxy decides sections by keyword, never
  by indentation). `SECTION_KEYWORDS` lists the ones haproxy 3.x knows; a keyword it does not
  list (a future section) is read as an ordinary line of the section before it, without error.
- Each other line -> `Directive(name=first word, args=the other words)`. Multi-word keywords
  stay split: `http-request set-header X v` has name "http-request" and args[0] "set-header";
  `no option httplog` has name "no". `args` are unquoted and unescaped.
- `extra["quoted"]`: one bool per arg (was any part of it written in quotes).
- `extra["opaque"]`: only when some arg holds an unset environment variable (kept as written,
  see below): one bool per arg.
- `extra["condition"]`: on lines of proxy sections (defaults, frontend, backend, listen) and
  `spoe-message` that carry `if`/`unless` (except `acl` lines): an `acl.Condition`, i.e. a
  list of OR-terms, each a list of `(negated, acl)` where acl is an ACL name or, for `{ ... }`,
  the tuple of its words. The condition's words also stay in `args`.
- `extra["samples"]`: the `%[...]` sample expressions of the args (`samples.Sample`).
- `extra["if"]`: when the line sits in `.if` blocks we could not decide, the conditions
  (outermost first, as `.if` expressions) under which it applies. Decided blocks leave no trace:
  a false branch is dropped as haproxy drops it. See conditionals.py for what is decided.
- `extra["scope"]`: on sections after a `[name]` scope line (SPOE configuration files).
- `.notice` / `.warning` / `.alert` / `.diag` lines -> `Directive(name=".notice", args=[msg])`
  inside the current section, or at the top level before the first section.
- Environment variables in double quotes are substituted from `env` (default: os.environ),
  `${VAR-default}` gives its default when VAR is unset, and an unset variable without default
  stays as written (`${VAR}`), so do VTest macros written outside quotes.

Errors (`Tree.errors`, file:line:column, plain words) are what haproxy itself refuses while
reading lines: unmatched quotes, bad variable syntax, bad `\\x` escapes, more than 64 words,
NUL characters, a last line without line feed, lines before the first section, `.if` /
`.elif` / `.else` / `.endif` mismatches and unparsable `.if` conditions (nested deeper than
haproxy's recursion budget too), more than 99 `.if` blocks inside each other (haproxy stops
reading the file there, and so do we), unknown `.directives`, a missing `}` in a condition,
empty words (`""`, which haproxy >= 3.3 rejects because it ends the argument list), and a
`${NAME-default}` in a line longer than all before it (see `_File.outline_overflow`). A line
with an error is skipped, as haproxy skips it. Of what haproxy checks later (unknown keywords,
argument counts, ACL names) only the arguments of the rules the model reads are checked
(refusals.py).

Files are read with `linter.inputs.read_config` against one `Budget` per load (from
`LoadOptions.budget()`): only regular files, nothing under /proc, /sys or /dev, bounded sizes,
no binary or UTF-16 text (haproxy: "Stray NUL character").
"""
from __future__ import annotations

import gc
import os
from typing import Mapping, Optional, Union

from ..inputs import read_config
from ..syntax import ConfigError, Directive, LoadOptions, Span, Tree
from .acl import AclTerm, Condition
from . import refusals
from .conditionals import MARKER, Blocks, IfSyntaxError, evaluate
from .lexer import LineError, Word, split_line
from .samples import Sample, find_samples

__all__ = ["load", "parse_string", "looks_like_haproxy", "SECTION_KEYWORDS"]

# The section keywords haproxy registers (REGISTER_CONFIG_SECTION / cfg_register_section).
SECTION_KEYWORDS = frozenset({
    "global", "defaults", "frontend", "backend", "listen", "userlist", "peers", "resolvers",
    "mailers", "cache", "program", "ring", "http-errors", "crt-store", "log-forward",
    "log-profile", "traces", "fcgi-app", "acme", "healthcheck", "namespace_list",
    "spoe-agent", "spoe-group", "spoe-message",
})
PROXY_SECTIONS = frozenset({"defaults", "frontend", "backend", "listen"})
_CONDITION_SECTIONS = PROXY_SECTIONS | {"spoe-message"}
_MESSAGES = frozenset({".notice", ".warning", ".alert", ".diag"})
_MAX_WORDS = 64                 # haproxy's MAX_LINE_ARGS
_SCOPE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-_:")


def parse_string(text: str, path: str = "<string>", *, env: Optional[Mapping[str, str]] = None,
                 version: Optional[str] = None, load_options=None) -> Tree:
    """`load_options` given: read a fragment as the linter does (see `load`)."""
    directives, errors = _parse_file(text, path, os.environ if env is None else env, version,
                                     fragments=load_options is not None)
    return Tree("haproxy", path, directives, [path], errors)


def load(paths: Union[str, list], *, prefix: Optional[str] = None,
         env: Optional[Mapping[str, str]] = None, version: Optional[str] = None, load_options=None) -> Tree:
    """`load_options` (linter.syntax.LoadOptions) is given by the engine, linting files as users
    hand them over: then lines before the first section of a file that is not `haproxy.cfg` and
    has no `global` section are a fragment, the body of a section we do not see (see
    `fragment_kind`), instead of an error. HAProxy has no include directive: nothing else in
    LoadOptions applies (`prefix=` keeps its meaning: the directory relative paths are in)."""
    if isinstance(paths, str):
        paths = [paths]
    env = os.environ if env is None else env
    files, errors = _expand_paths(paths, prefix)
    tree = Tree("haproxy", files[0] if files else (paths[0] if paths else ""), [], [], errors)
    budget = (load_options or LoadOptions()).budget()
    for path in files:
        try:
            text = read_config(path, budget)
        except ConfigError as error:    # missing, not a regular file, too big, binary, UTF-16
            tree.errors.append(error)
            continue
        directives, file_errors = _parse_file(text, path, env, version, fragments=load_options is not None)
        tree.directives.extend(directives)
        tree.files.append(path)
        tree.errors.extend(file_errors)
    return tree


def _expand_paths(paths: list, prefix: Optional[str]) -> tuple[list, list]:
    """haproxy's -f arguments -> files: a directory gives its regular, non-hidden `*.cfg`."""
    files, errors = [], []
    for path in paths:
        if prefix and not os.path.isabs(path):
            path = os.path.join(prefix, path)
        if not os.path.isdir(path):
            files.append(path)
            continue
        try:
            names = sorted(os.listdir(path), key=os.fsencode)    # alphasort in the C locale
        except OSError as error:
            errors.append(ConfigError(f"cannot read {path}: {error.strerror or error}", path))
            continue
        found = [os.path.join(path, name) for name in names
                 if _loaded_from_directory(name) and os.path.isfile(os.path.join(path, name))]
        if not found:
            errors.append(ConfigError(f"no configuration file (*.cfg) in directory {path}", path))
        files.extend(found)
    return files, errors


def _loaded_from_directory(name: str) -> bool:
    """haproxy takes `x.cfg` but neither `.x.cfg` nor `x.cfg.bak` (nor `x.cfg.cfg`)."""
    return not name.startswith(".") and name.find(".cfg") == len(name) - 4 and len(name) > 4


def looks_like_haproxy(text: str, path: str) -> bool:
    """A `haproxy*.cfg` name, or section lines (`frontend web`, `global`, `peers p`, ...) that
    outnumber the lines ending in `{` or `;` or starting with `<` of nginx, Caddy or Apache."""
    name = os.path.basename(path).lower()
    if name.startswith("haproxy") and name.endswith(".cfg"):
        return True
    sections = others = 0
    for line in text.split("\n")[:400]:
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.endswith(("{", ";")) or line == "}" or line.startswith("<"):
            others += 1
            continue
        words = line.split()
        if _is_section_header(words):
            sections += 1
    return sections > 0 and others <= sections


# Keywords of proxy sections (frontend, backend, listen, defaults) that a fragment may start
# with; which of them only a frontend or only a backend has decides the fragment's section.
_PROXY_KEYWORDS = frozenset("""
    acl bind mode option no timeout use_backend default_backend http-request http-response
    http-after-response tcp-request tcp-response redirect server server-template default-server
    balance hash-type cookie http-check tcp-check capture stats errorfile errorfiles errorloc
    errorloc302 errorloc303 http-error log log-format log-tag maxconn monitor-uri monitor
    compression filter unique-id-format unique-id-header http-reuse retries retry-on fullconn
    description disabled enabled id force-persist ignore-persist persist stick stick-table
    use-server rate-limit source dispatch declare http-send-name-header email-alert backlog
    external-check load-server-state-from-file server-state-file-name use-fcgi-app
""".split())
_FRONTEND_ONLY = frozenset({"bind", "use_backend", "default_backend", "monitor-uri", "monitor",
                            "capture", "backlog"})
_BACKEND_ONLY = frozenset({"server", "server-template", "default-server", "balance", "hash-type",
                           "cookie", "http-check", "tcp-check", "use-server", "fullconn",
                           "http-reuse", "dispatch"})


def fragment_kind(text: str, path: str) -> Optional[str]:
    """The section a file's leading lines belong to when the file is a fragment, else None.

    A piece of a configuration (a documentation excerpt, a file assembled into haproxy.cfg by a
    template) may start with the lines of a section whose header it does not show: `acl ...`,
    `use_backend ...`. HAProxy refuses that in a file of its own ("out of section"), but what it
    is part of is unseen, not absent. It is read as such only in a file that is not
    `haproxy.cfg`, has no `global` section (so it is not a whole configuration) and whose leading
    lines all start with proxy keywords. Their section is a frontend, a backend when only backend
    keywords occur, a listen section when both kinds do."""
    if os.path.basename(path) == "haproxy.cfg":
        return None
    firsts, started = [], False
    for raw in text.split("\n"):
        words = raw.split("#", 1)[0].split()
        if not words or words[0].startswith((".", "[")):
            continue
        if words[0] == "global":
            return None
        if words[0] in SECTION_KEYWORDS:
            started = True
        elif not started:
            firsts.append(words[0])
    if not firsts or not all(w in _PROXY_KEYWORDS for w in firsts):
        return None
    front = any(w in _FRONTEND_ONLY for w in firsts)
    back = any(w in _BACKEND_ONLY for w in firsts)
    return "listen" if front and back else "backend" if back else "frontend"


def _is_section_header(words: list[str]) -> bool:
    """`keyword [name] [from defaults-name]`"""
    rest = words[1:]
    if len(rest) >= 2 and rest[-2] == "from":
        rest = rest[:-2]
    return words[0] in SECTION_KEYWORDS and len(rest) <= 1


# -- one file ---------------------------------------------------------------------------------

class _File:
    """Reads one file's lines into tokens; collects errors and the facts of every line."""

    def __init__(self, path: str, env: Mapping[str, str], version: Optional[str],
                 fragments: bool = False):
        self.path, self.env, self.version = path, env, version
        self.fragments = fragments
        self.fragment_kind: Optional[str] = None    # see fragment_kind()
        self.synthetic: set = set()                 # indexes of words no one wrote (a fragment's header)
        self.errors: list[ConfigError] = []
        self.words: list[tuple[int, Word]] = []    # (line, word); a token's start_pos indexes it
        self.tokens: list = []
        self.line_facts: dict[int, dict] = {}      # line -> {"if": [...], "scope": name}
        self.blocks = Blocks()
        self.section_kind: Optional[str] = None
        self.section_name: Optional[str] = None
        self.scope: Optional[str] = None
        self.line_number = 0
        self.aborted = False                        # a fatal error: the rest is not read
        self.outline_size = 0                       # haproxy's output line buffer (see below)

    def error(self, message: str, line: int, column: int = 1) -> None:
        self.errors.append(ConfigError(message, self.path, line, column))

    def lookup(self, name: str) -> Optional[str]:
        if name == ".LINE":
            return str(self.line_number)
        if name == ".FILE":
            return self.path
        if name == ".SECTION":
            return self.section_name
        return self.env.get(name)

    def read(self, text: str) -> None:
        if self.fragments:
            self.fragment_kind = fragment_kind(text, self.path)
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
        elif text:
            self.error("the last line has no line feed at its end (haproxy refuses such a file "
                       "as possibly truncated)", len(lines), len(lines[-1]) + 1)
        for number, line in enumerate(lines, start=1):
            self.line_number = number
            self.read_line(line, number)
            if self.aborted:
                return      # haproxy stops reading the file at a fatal error
        for line, column in self.blocks.unclosed():
            self.error("this '.if' block is never closed with '.endif'", line, column)

    def read_line(self, line: str, number: int) -> None:
        if "\x00" in line:
            self.error("NUL character in the line", number, line.index("\x00") + 1)
            return
        stripped = line.lstrip(" \t\v\f\r")
        if stripped.startswith("["):
            self.read_scope(stripped, number, len(line) - len(stripped) + 1)
            return
        facts: dict = {}
        try:
            words = split_line(line, self.lookup, facts=facts)
        except LineError as problem:
            self.error(problem.message, number, problem.column)
            return
        if self.outline_overflow(facts, number):
            return
        if len(words) > _MAX_WORDS:
            self.error(f"too many words on one line (haproxy reads at most {_MAX_WORDS})",
                       number, words[_MAX_WORDS].column)
            return
        if not words:
            return
        first = words[0].value
        if first in (".if", ".elif", ".else", ".endif"):
            self.read_block_line(first, words, line, number)
            return
        if not self.blocks.active:
            return
        if first.startswith("."):
            self.read_dot_line(first, words, number)
            return
        for word in words:
            if word.value == "" and not word.opaque:
                self.error("empty argument: haproxy ends the line at an empty word and ignores "
                           "what follows (haproxy 3.3 and later reject it)", number, word.column)
                return
        if first in SECTION_KEYWORDS:
            self.section_kind = first
            self.section_name = words[1].value if len(words) > 1 else first
            self.add_line(number, words, "SECTION")
        else:
            if self.section_kind is None and self.fragment_kind:
                self.open_fragment(number, words[0].column)
            self.add_line(number, words, "WORD")

    def open_fragment(self, number: int, column: int) -> None:
        """The section header of a fragment, which the file does not show (a zero-width word)."""
        self.section_kind, self.section_name = self.fragment_kind, ""
        self.synthetic.add(len(self.words))
        self.add_line(number, [Word(self.fragment_kind, column, column)], "SECTION")

    def outline_overflow(self, facts: dict, number: int) -> bool:
        """haproxy's readcfgfile() parses a line into a buffer that starts empty and grows to
        the longest line so far (rounded up to 1 kB); a longer line is parsed twice, and the
        first pass has cut the '}' of every `${NAME-default}` (parse_line writes a NUL there):
        the second pass fails with "unmatched brace in environment variable name" (haproxy 2.6
        to 3.2 at least; so does a file whose first line has such a default). `outline_size`
        is the most that buffer can hold (unset variables may be long in the server's
        environment: the line lengths are ranges). True when the line is refused."""
        least, most = facts["output_length"]
        certainly_longer = least > self.outline_size
        self.outline_size = max(self.outline_size, (most + 1023) & -1024)
        if not certainly_longer or facts.get("default_brace") is None:
            return False
        self.error("haproxy refuses this line (\"unmatched brace in environment variable name\"): "
                   "it is longer than every line before it, so haproxy reads it twice, and the "
                   "first time cuts the '}' of this ${NAME-default}; shorten the default value, "
                   "or set the variable and drop the default", number, facts["default_brace"])
        return True

    def read_scope(self, stripped: str, number: int, column: int) -> None:
        """`[name]` lines (SPOE files) name the scope of the sections that follow."""
        close = stripped.find("]")
        name = stripped[1:close] if close > 0 else ""
        rest = stripped[close + 1:].lstrip(" \t\v\f\r") if close > 0 else ""
        if not name:
            self.error("empty scope name in '[...]'", number, column)
        elif not set(name) <= _SCOPE_CHARS:
            bad = next(c for c in name if c not in _SCOPE_CHARS)
            self.error(f"character '{bad}' is not allowed in a scope name", number, column)
        elif rest and not rest.startswith("#"):
            self.error("nothing but a comment may follow a '[scope]' declaration", number,
                       column + len(stripped) - len(rest))
        else:
            self.scope = name

    def read_block_line(self, keyword: str, words: list[Word], line: str, number: int) -> None:
        column = words[0].column
        if keyword in (".if", ".elif"):
            decide = lambda: self.decide(words, line, number)   # noqa: E731 (called lazily)
            if keyword == ".if":
                problem = self.blocks.open(number, column, decide)
                if problem:
                    self.error(problem, number, column)
                    self.aborted = True
                return
            problem = self.blocks.alternative(".elif", decide)
        else:
            if len(words) > 1:
                self.error(f"unexpected argument '{words[1].value}' after '{keyword}'",
                           number, words[1].column)
            problem = (self.blocks.alternative(".else") if keyword == ".else"
                       else self.blocks.close())
        if problem:
            self.error(problem, number, column)

    def decide(self, words: list[Word], line: str, number: int) -> tuple[Optional[bool], str]:
        """Evaluate the condition of a `.if`/`.elif` line: (True/False/None, its text)."""
        text = " ".join(w.value for w in words[1:])
        marked = split_line(line, self.lookup, MARKER) if any(w.opaque for w in words) else words
        try:
            return evaluate(" ".join(w.value for w in marked[1:]), self.lookup,
                            self.version), text
        except IfSyntaxError as problem:
            self.error(f"{problem.message} after '{words[0].value}'", number,
                       _column_at(words[1:], problem.offset))
            return None, text

    def read_dot_line(self, first: str, words: list[Word], number: int) -> None:
        if first not in _MESSAGES:
            self.error(f"unknown directive '{first}' (haproxy knows .if, .elif, .else, .endif, "
                       ".notice, .warning, .alert and .diag)", number, words[0].column)
        elif len(words) > 2:
            self.error(f"unexpected argument '{words[2].value}' after '{first}': quote the "
                       "message if it contains spaces", number, words[2].column)
        else:
            self.add_line(number, words, "MESSAGE")

    def add_line(self, number: int, words: list[Word], first_type: str) -> None:
        facts = {}
        if self.blocks.guards:
            facts["if"] = self.blocks.guards
        if self.scope and first_type == "SECTION":
            facts["scope"] = self.scope
        if facts:
            self.line_facts[number] = facts
        base = len(self.words)
        self.words.extend((number, w) for w in words)
        types = [first_type] + ["WORD"] * (len(words) - 1)
        unclosed_brace = False
        if (first_type == "WORD" and self.section_kind in _CONDITION_SECTIONS
                and words[0].value != "acl"):
            unclosed_brace = self.mark_condition(words, types, number)
        from .grammar import token
        for i, (word, kind) in enumerate(zip(words, types)):
            if isinstance(kind, tuple):         # a condition word split into several tokens
                for sub_kind, value in kind:
                    self.tokens.append(token(sub_kind, value, base + i, number, word.column,
                                             word.end_column))
            else:
                self.tokens.append(token(kind, word.value, base + i, number, word.column,
                                         word.end_column))
        last, end = base + len(words) - 1, words[-1].end_column
        if unclosed_brace:                      # already reported; close it to go on
            self.tokens.append(token("RBRACE", "}", last, number, end, end))
        self.tokens.append(token("_NL", "\n", last, number, end, end))

    def mark_condition(self, words: list[Word], types: list, number: int) -> bool:
        """Token types for the words after the first `if`/`unless` (see acl.py).

        Returns True when an anonymous ACL is left open at the end of the line (reported)."""
        start = next((i for i, w in enumerate(words) if i and w.value in ("if", "unless")), None)
        if start is None:
            return False
        types[start] = "COND"
        brace_at = None
        for i in range(start + 1, len(words)):
            value = words[i].value
            if brace_at is not None:            # inside { ... }: words up to the first "}"
                if value == "}":
                    types[i], brace_at = "RBRACE", None
                continue
            rest = value.lstrip("!")
            parts = [("NOT", "!")] * (len(value) - len(rest))
            if rest.lower() == "or" or rest == "||":
                parts.append(("OR", rest))
            elif rest == "{":
                parts.append(("LBRACE", rest))
                brace_at = i
            elif rest:
                parts.append(("WORD", rest))
            types[i] = tuple(parts)
        if brace_at is not None:
            self.error("missing closing '}' in the condition", number, words[brace_at].column)
            return True
        return False


def _column_at(words: list[Word], offset: int) -> int:
    """The column of character `offset` of the words joined by single spaces."""
    for word in words:
        if offset <= len(word.value):
            exact = word.end_column - word.column == len(word.value)
            return word.column + (offset if exact else 0)
        offset -= len(word.value) + 1
    return words[-1].end_column if words else 1


# -- tokens -> tree -> directives --------------------------------------------------------------

def _parse_file(text: str, path: str, env: Mapping[str, str], version: Optional[str],
                fragments: bool = False) -> tuple[list[Directive], list[ConfigError]]:
    # Parsing allocates many small objects that all stay alive; the cyclic garbage collector
    # would walk them again and again (about 40 % of the time on large files) for nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        reader = _File(path, env, version, fragments)
        reader.read(text)
        directives = _structure(reader)
        reader.errors += refusals.check(directives)
    finally:
        if collecting:
            gc.enable()
    reader.errors.sort(key=lambda e: (e.line, e.column))
    return directives, reader.errors


def _structure(reader: _File) -> list[Directive]:
    if not reader.tokens:
        return []
    from lark.exceptions import UnexpectedInput

    from .grammar import parser
    try:
        tree = parser().parse(reader.tokens)
    except UnexpectedInput as problem:      # would be a bug in the token stream, not the input
        reader.error("could not make sense of this line", getattr(problem, "line", 0) or 0,
                     getattr(problem, "column", 1) or 1)
        return []
    return _Builder(reader).build(tree)


class _Builder:
    def __init__(self, reader: _File):
        self.reader = reader
        self.path = reader.path

    def word(self, token):
        return self.reader.words[token.start_pos]

    def span(self, first, last) -> Span:
        line, start = self.word(first)
        end_line, end = self.word(last)
        return Span(self.path, line, start.column, end_line, end.end_column)

    def build(self, tree) -> list[Directive]:
        out: list[Directive] = []
        orphans = []
        for node in tree.children:
            if node.data == "orphan":
                orphans.append(node)
            elif node.data == "message":
                out.append(self.line(node.children, None))
            else:
                out.append(self.section(node))
        if orphans:
            line, word = self.word(orphans[0].children[0])
            more = f" (and {len(orphans) - 1} more lines)" if len(orphans) > 1 else ""
            self.reader.error(
                f"'{word.value}' is outside any section{more}: a configuration starts with a "
                "section keyword such as global, defaults, frontend, backend or listen",
                line, word.column)
        return out

    def section(self, node) -> Directive:
        header = [c for c in node.children if not hasattr(c, "data")]
        directive = self.line(header, None)
        directive.extra["section"] = True
        if header[0].start_pos in self.reader.synthetic:
            # a fragment: the lines of a section whose header is not in the file
            directive.span = Span.point(self.path, directive.span.line, directive.span.column)
            directive.extra["fragment"] = True
        directive.block = [self.line(child.children, child)
                           for child in node.children if hasattr(child, "data")]
        return directive

    def line(self, children, node) -> Directive:
        tokens = [c for c in children if not hasattr(c, "data")]
        condition = next((c for c in children if hasattr(c, "data")), None)
        cond_tokens = list(condition.scan_values(lambda v: True)) if condition else []
        last = cond_tokens[-1] if cond_tokens else tokens[-1]
        line, first = self.word(tokens[0])
        indexes = range(tokens[0].start_pos + 1, last.start_pos + 1)
        arg_words = [self.reader.words[i][1] for i in indexes]
        directive = Directive(
            name=first.value, args=[w.value for w in arg_words],
            span=self.span(tokens[0], last),
            arg_spans=[Span(self.path, line, w.column, line, w.end_column) for w in arg_words],
        )
        directive.extra["quoted"] = [w.quoted for w in arg_words]
        if any(w.opaque for w in arg_words):
            directive.extra["opaque"] = [w.opaque for w in arg_words]
        directive.extra.update(self.reader.line_facts.get(line, {}))
        if condition is not None:
            directive.extra["condition"] = self.condition(condition, tokens[0].start_pos, last)
        samples = [Sample(index, expression, Span(self.path, line, w.char_columns[start],
                                                  line, w.char_columns[end - 1] + 1))
                   for index, w in enumerate(arg_words) if w.char_columns
                   for start, end, expression in find_samples(w.value)]
        if samples:
            directive.extra["samples"] = samples
        return directive

    def condition(self, node, first_index: int, last) -> Condition:
        keyword = node.children[0]
        groups = []
        for group in node.children[1:]:
            if not hasattr(group, "data"):
                continue                        # an OR token
            terms, negated = [], False
            for item in group.children:
                if not hasattr(item, "data"):
                    if item.type == "NOT":
                        negated = not negated
                        continue
                    terms.append(AclTerm(negated, str(item), self.span(item, item)))
                else:
                    inner = item.children
                    words = tuple(str(t) for t in inner[1:-1])
                    terms.append(AclTerm(negated, words, self.span(inner[0], inner[-1])))
                negated = False
            if terms:
                groups.append(terms)
        return Condition(groups, str(keyword), keyword.start_pos - first_index - 1,
                         self.span(keyword, last))
