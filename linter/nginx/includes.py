"""Inline `include`d files into the directive tree, the way nginx reads them.

Convention: the `include` directive stays in the tree as a simple directive (block None) with
`extra["includes"]` = the files it pulled in (possibly empty), and the included directives
follow it *inline*, as its siblings, in file order. So `walk()` sees every directive exactly
once per inclusion, and each keeps its own file in its spans. The top-level directives of an
included file carry `extra["included_from"]` = the Span of the `include` that pulled them in.
Directives from an `nginx -T` section carry `extra["virtual_path"]` = the file name nginx printed.

A file included twice is inlined twice (nginx does the same), as fresh Directive objects.
"""
from __future__ import annotations

from ..syntax import ConfigError, Directive, walk
from .lexer import tokenize
from .structure import build_directives

_MAX_DEPTH = 64


class Expander:
    def __init__(self, source, *, virtual: bool = False):
        self.source = source
        self.virtual = virtual  # names are `nginx -T` sections, not files on disk
        self.errors: list[ConfigError] = []
        self.files: list[str] = []
        self._parsed: dict[str, object] = {}  # name -> directives, or why unreadable

    def load(self, name: str) -> list[Directive]:
        """The directives of the entry file `name`, includes expanded."""
        parsed = self._parse(name)
        if isinstance(parsed, str):
            self.errors.append(ConfigError(parsed, name))
            return []
        return self._expand(parsed, [(self.source.identity(name), name)])

    def _parse(self, name: str):
        """The directives of one file (cached), or a message saying why it cannot be read."""
        if name in self._parsed:
            return self._parsed[name]
        try:
            text, first_line, span_path = self.source.read(name)
        except OSError as error:
            message = f"cannot read {name}: {error.strerror or error}"
            self._parsed[name] = message
            return message
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

    def _expand(self, directives: list[Directive], chain: list[tuple[str, str]]) -> list[Directive]:
        """Copies of `directives` with includes inlined; `chain` = the files being included
        (identity, name), outermost first."""
        out: list[Directive] = []
        for original in directives:
            directive = _copy(original)
            if original.block is not None:
                directive.block = self._expand(original.block, chain)
            out.append(directive)
            if directive.name == "include" and directive.block is None and len(directive.args) == 1:
                out.extend(self._include(directive, chain))
        return out

    def _include(self, include: Directive, chain: list[tuple[str, str]]) -> list[Directive]:
        pattern = include.args[0]
        span = include.span
        names = self.source.resolve(pattern)
        include.extra["includes"] = names or []
        if names is None:
            hint = " (the path contains an unexpanded ${...} template variable)" \
                if "${" in pattern else f" (looked in {self.source.describe()})"
            self.errors.append(ConfigError(f'included file "{pattern}" not found{hint}',
                                           span.path, span.line, span.column))
            return []
        pulled: list[Directive] = []
        for name in names:
            identity = self.source.identity(name)
            if any(identity == seen for seen, _ in chain):
                names_in_cycle = " -> ".join([n for _, n in chain] + [name])
                self.errors.append(ConfigError(f"include cycle: {names_in_cycle}",
                                               span.path, span.line, span.column))
                continue
            if len(chain) >= _MAX_DEPTH:
                self.errors.append(ConfigError(f"includes nested more than {_MAX_DEPTH} deep",
                                               span.path, span.line, span.column))
                continue
            parsed = self._parse(name)
            if isinstance(parsed, str):
                self.errors.append(ConfigError(parsed, span.path, span.line, span.column))
                continue
            for directive in self._expand(parsed, chain + [(identity, name)]):
                directive.extra.setdefault("included_from", span)
                pulled.append(directive)
        return pulled


def _copy(directive: Directive) -> Directive:
    return Directive(name=directive.name, args=directive.args, span=directive.span,
                     arg_spans=directive.arg_spans, block=None if directive.block is None else [],
                     extra=dict(directive.extra))
