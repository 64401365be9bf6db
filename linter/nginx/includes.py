"""Inline `include`d files into the directive tree, the way nginx reads them.

Convention: the `include` directive stays in the tree as a simple directive (block None) with
`extra["includes"]` = the files it pulled in (possibly empty), and the included directives
follow it *inline*, as its siblings, in file order. So `walk()` sees every directive exactly
once per inclusion, and each keeps its own file in its spans. The top-level directives of an
included file carry `extra["included_from"]` = the Span of the `include` that pulled them in.
Directives from an `nginx -T` section carry `extra["virtual_path"]` = the file name nginx printed.

A file included twice is inlined twice (nginx does the same), as fresh Directive objects.

An include nothing answers (sources.py has the order: the tree, this machine, --include-path)
is asked of shipped knowledge (`linter.known`), then recorded as unknown:
- known: the known text is parsed with the same lexer, every span (and argument span, and
  `block_end`) is rewritten to the include's own span, so findings and code frames point at the
  include line, never into package data. The include gets `extra["known"]` = what answered it
  ("/etc/nginx/proxy_params as shipped by Debian ..."), each pulled directive (at any depth)
  `extra["known_source"]` = the same. Known files are not in `files`. Includes inside known
  text resolve like any other (a real `fastcgi.conf` in the tree wins).
- unresolved: `Unresolved(include.span, pattern, reason)` goes to `unresolved` and to the
  include's `extra["unresolved"]`; nothing follows the include. Not an error: what it holds is
  unknown, not absent. A glob matching nothing stays silent, as in nginx.
Cycles, nesting deeper than 64 and files that exist but cannot be read (a directory, permission
denied, a FIFO, a binary or oversize file: `linter.inputs.read_config`) stay errors at the
include, with the file's name (and the line, for a NUL byte) in the message.

Bounds, so that hostile input cannot exhaust the stack or memory:
- Blocks are nested at most `structure.MAX_NESTING` deep in the *expanded* tree: a file that is
  100 blocks deep, included inside 100 blocks of another, would otherwise make every recursive
  pass (this one, `walk`, the analyzer, the model builder) recurse 200 deep, or 6,400 deep
  through 64 nested includes. Deeper blocks are kept empty and reported once, like structure.py
  does within one file.
- Every inclusion of a file counts towards the configuration's size budget (`Budget.max_total`),
  not only its first read: two files each including the next twice, 40 deep, would otherwise
  expand 2^40 times (nginx itself never finishes reading such a configuration).
"""
from __future__ import annotations

import glob
from typing import Optional

from .. import known as knowledge
from ..inputs import Budget, at_include
from ..syntax import ConfigError, Directive, Span, Unresolved, walk
from .lexer import tokenize
from .sources import normalise
from .structure import MAX_NESTING, build_directives

_MAX_DEPTH = 64
_MAX_PATH_PARTS = 128


class Expander:
    def __init__(self, source, *, virtual: bool = False, budget: Optional[Budget] = None):
        self.source = source
        self.virtual = virtual  # names are `nginx -T` sections, not files on disk
        self.budget = budget if budget is not None else Budget()
        self.errors: list[ConfigError] = []
        self.files: list[str] = []
        self.unresolved: list[Unresolved] = []
        self._parsed: dict[str, object] = {}  # name -> directives, or why unreadable
        self._sizes: dict[str, int] = {}      # name -> length of its text (re-inclusions cost it)
        self._too_deep = False                # the expanded-tree nesting error is reported once
        self._over_budget = False             # so is the first re-inclusion over the budget

    def load(self, name: str) -> list[Directive]:
        """The directives of the entry file `name`, includes expanded."""
        parsed = self._parse(name)
        if isinstance(parsed, str):
            self.errors.append(ConfigError(parsed, name))
            return []
        return self._expand(parsed, [(self.source.identity(name), name)], 0)

    def _parse(self, name: str):
        """The directives of one file (cached), or a message saying why it cannot be read."""
        if name in self._parsed:
            return self._parsed[name]
        try:
            text, first_line, span_path = self.source.read(name)
        except ConfigError as error:
            message = at_include(error)
            self._parsed[name] = message
            return message
        self._sizes[name] = len(text)
        if span_path not in self.files:
            self.files.append(span_path)
        directives, problems = build_directives(tokenize(text, first_line), span_path)
        for problem in problems:
            self.errors.append(ConfigError(problem.message, span_path, problem.line, problem.column))
        if self.virtual:
            for directive in walk(directives):
                directive.extra["virtual_path"] = name
        self._parsed[name] = directives
        return directives

    def _expand(self, directives: list[Directive], chain: list[tuple[str, str]],
                depth: int) -> list[Directive]:
        """Copies of `directives` with includes inlined; `chain` = the files being included
        (identity, name), outermost first; `depth` = how many blocks enclose `directives` in the
        expanded tree."""
        out: list[Directive] = []
        for original in directives:
            directive = _copy(original)
            if original.block is not None:
                if depth < MAX_NESTING:
                    directive.block = self._expand(original.block, chain, depth + 1)
                elif original.block:
                    self._nested_too_deep(directive)
            out.append(directive)
            if directive.name == "include" and directive.block is None and len(directive.args) == 1:
                out.extend(self._include(directive, chain, depth))
        return out

    def _nested_too_deep(self, directive: Directive) -> None:
        if not self._too_deep:
            self._too_deep = True
            span = directive.span
            self.errors.append(ConfigError(
                f"blocks are nested more than {MAX_NESTING} deep (counting the blocks around the "
                f"includes that lead here); the contents of this one are ignored",
                span.path, span.line, span.column))

    def _include(self, include: Directive, chain: list[tuple[str, str]], depth: int) -> list[Directive]:
        pattern = include.args[0]
        span = include.span
        if pattern.count("/") > _MAX_PATH_PARTS:
            # glob() recurses per path component; no real include path is this deep.
            self.errors.append(ConfigError(f"include path has more than {_MAX_PATH_PARTS} components",
                                           span.path, span.line, span.column))
            return []
        names = self.source.resolve(pattern, frozenset(identity for identity, _ in chain))
        include.extra["includes"] = names or []
        if names is None:
            found = knowledge.find("nginx", pattern) if not glob.has_magic(pattern) else None
            if found is not None:
                return self._known(include, found, chain, depth)
            unresolved = Unresolved(span, pattern, self.source.missing(pattern))
            include.extra["unresolved"] = unresolved
            if unresolved not in self.unresolved:  # a snippet included twice: one note
                self.unresolved.append(unresolved)
            return []
        pulled: list[Directive] = []
        for name in names:
            identity = self.source.identity(name)
            if not self._may_enter(identity, name, span, chain):
                continue
            again = name in self._parsed
            parsed = self._parse(name)
            if isinstance(parsed, str):
                self.errors.append(ConfigError(parsed, span.path, span.line, span.column))
                continue
            if again and not self._charge(name, span):
                continue
            for directive in self._expand(parsed, chain + [(identity, name)], depth):
                directive.extra.setdefault("included_from", span)
                pulled.append(directive)
        return pulled

    def _charge(self, name: str, span: Span) -> bool:
        """Count one more inclusion of an already-read file against the configuration budget."""
        size, budget = self._sizes.get(name, 0), self.budget
        if self._over_budget or budget.used + size > budget.max_total:
            if not self._over_budget:
                self._over_budget = True
                limit = f"{budget.max_total / (1024 * 1024):.1f} MiB"
                self.errors.append(ConfigError(
                    f"including {name} once more would take this configuration over {limit} "
                    f"(--max-total-size); from here on, files already read are not included again",
                    span.path, span.line, span.column))
            return False
        budget.used += size
        return True

    def _may_enter(self, identity: str, name: str, span: Span, chain: list[tuple[str, str]]) -> bool:
        if any(identity == seen for seen, _ in chain):
            names_in_cycle = " -> ".join([n for _, n in chain] + [name])
            self.errors.append(ConfigError(f"include cycle: {names_in_cycle}",
                                           span.path, span.line, span.column))
            return False
        if len(chain) >= _MAX_DEPTH:
            self.errors.append(ConfigError(f"includes nested more than {_MAX_DEPTH} deep",
                                           span.path, span.line, span.column))
            return False
        return True

    def _known(self, include: Directive, found, chain: list[tuple[str, str]],
               depth: int) -> list[Directive]:
        """The directives of a known include, every position moved onto the include itself."""
        describe = found.describe()
        include.extra["known"] = describe
        identity = "known:" + found.file
        if not self._may_enter(identity, found.file, include.span, chain):
            return []
        directives, _ = build_directives(tokenize(normalise(found.text)), include.span.path)
        for directive in walk(directives):
            directive.span = include.span
            directive.arg_spans = [include.span] * len(directive.arg_spans)
            if "block_end" in directive.extra:
                directive.extra["block_end"] = include.span
            directive.extra["known_source"] = describe
            if self.virtual and "virtual_path" in include.extra:
                directive.extra["virtual_path"] = include.extra["virtual_path"]
        pulled = []
        for directive in self._expand(directives, chain + [(identity, found.file)], depth):
            directive.extra.setdefault("included_from", include.span)
            pulled.append(directive)
        return pulled


def _copy(directive: Directive) -> Directive:
    return Directive(name=directive.name, args=directive.args, span=directive.span,
                     arg_spans=directive.arg_spans, block=None if directive.block is None else [],
                     extra=dict(directive.extra))
