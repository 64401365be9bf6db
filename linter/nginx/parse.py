"""The nginx front end: configuration files -> `linter.syntax.Tree`.

    load(path, *, prefix=None, load_options=None) -> Tree   an entry file, a snippet, or an `nginx -T` dump
    parse_string(text, path="<string>", *, prefix=None, load_options=None) -> Tree
    detect_context(directives) -> "main" | "http" | "server" | "location"
    looks_like_nginx(text, path) -> bool        does this file look like nginx configuration?

Pipeline: lexer.py (tokens with exact positions) -> structure.py (one file's directives and
syntax errors) -> includes.py (includes inlined; sources.py resolves them against the prefix
or inside a dump) -> context.py (the entry's context detected, then crossplane's analyzer checks
argument counts and contexts). Directive conventions are documented in structure.py and
includes.py; the detected context is stored as `extra["context"]` on every top-level
directive. Problems in the input become `Tree.errors` (ConfigError with file:line:column),
never exceptions.

Files are read with `linter.inputs.read_config` against one `Budget` per load (from
`LoadOptions.budget()`): the entry file and every include, so the per-file and per-configuration
size limits hold for the whole configuration, an include read twice counting twice. What
cannot be read is an error at the include that named it (or the entry's only error).

`prefix` plays the role of nginx's `-p`/conf directory: relative includes resolve against it.
Default: the entry file's directory (plus its parent when that directory is `sites-enabled`,
`conf.d`, `snippets`, ...). `load_options` (`linter.syntax.LoadOptions`) adds the tree roots and
--include-path directories; its prefix, when set, wins over `prefix`. An absolute include is
mapped into the tree by its longest existing suffix (`/etc/nginx/snippets/x.conf` ->
`<prefix>/snippets/x.conf`) before this machine's own file is read; the full order, down to
shipped knowledge and `Tree.unresolved`, is in sources.py. An include found nowhere is not an
error: it is `Unresolved` (`Tree.unresolved`, and `extra["unresolved"]` on the include).
"""
from __future__ import annotations

import os
from typing import Optional

from ..inputs import Budget, read_config
from ..syntax import ConfigError, LoadOptions, Tree
from .context import check_directives, detect_context
from .dump import split_dump
from .includes import Expander
from .refusals import check_refusals
from .sniff import looks_like_nginx
from .sources import Dump, FileSystem, default_roots, normalise

__all__ = ["load", "parse_string", "detect_context", "looks_like_nginx"]


def load(path: str, *, prefix: Optional[str] = None,
         load_options: Optional[LoadOptions] = None) -> Tree:
    options = load_options or LoadOptions()
    budget = options.budget()
    try:
        text = read_config(path, budget)
    except ConfigError as error:
        return Tree("nginx", path, [], [], [error])
    return _parse(text, path, prefix, options, budget)


def parse_string(text: str, path: str = "<string>", *, prefix: Optional[str] = None,
                 load_options: Optional[LoadOptions] = None) -> Tree:
    options = load_options or LoadOptions()
    budget = options.budget()
    budget.used += len(text)   # the entry's text counts towards the configuration's size
    return _parse(text, path, prefix, options, budget)


def _parse(text: str, path: str, prefix: Optional[str], options: LoadOptions,
           budget: Budget) -> Tree:
    if options.prefix is not None:
        prefix = options.prefix
    text = normalise(text)
    sections = split_dump(text)
    if sections:
        main = sections[0].path
        source = Dump(path, sections, prefix or os.path.dirname(main))
        expander = Expander(source, virtual=True, budget=budget)
        entry = main
        context = "main"
    else:
        roots = [prefix] if prefix is not None else default_roots(path)
        filesystem = FileSystem(roots, copied_tree=prefix is not None,
                                tree_roots=[str(r) for r in options.tree_roots],
                                include_paths=[str(d) for d in options.include_paths],
                                entry=path, budget=budget)
        source = _StringFirst(filesystem, path, text)
        expander = Expander(source, budget=budget)
        entry = path
        context = None
    directives = expander.load(entry)
    if context is None:
        context = detect_context(directives)
    for directive in directives:
        directive.extra["context"] = context
    files = [path] + [f for f in expander.files if f != path]
    order = {name: i for i, name in enumerate(files)}
    # A file included from several places reports each of its problems once.
    unique = {(e.path, e.line, e.column, e.message): e
              for e in expander.errors + check_directives(directives, context)
              + check_refusals(directives, context)}

    def position(e):
        return order.get(e.path, len(order)), e.line, e.column
    errors = sorted(_at_most_per_file(sorted(unique.values(), key=position)), key=position)
    outside = [f for f in getattr(source, "outside", []) if f in files]
    return Tree("nginx", path, directives, files, errors, unresolved=list(expander.unresolved),
                outside=outside)


# nginx stops at its first error; the linter reports more, but a file of a million `;` must not
# become a million errors for the engine to sort, deduplicate and print.
MAX_ERRORS_PER_FILE = 100


def _at_most_per_file(errors: list) -> list:
    kept, counts, first_dropped = [], {}, {}
    for error in errors:
        n = counts[error.path] = counts.get(error.path, 0) + 1
        if n <= MAX_ERRORS_PER_FILE:
            kept.append(error)
        elif error.path not in first_dropped:
            first_dropped[error.path] = error
    for path, error in first_dropped.items():
        more = counts[path] - MAX_ERRORS_PER_FILE
        kept.append(ConfigError(f"{more} more error{'s' if more > 1 else ''} in this file "
                                f"(only the first {MAX_ERRORS_PER_FILE} are reported)",
                                path, error.line, error.column))
    return kept


class _StringFirst:
    """A FileSystem whose entry file's text is already in memory (parse_string)."""

    def __init__(self, filesystem: FileSystem, path: str, text: str):
        self.filesystem = filesystem
        self.path = path
        self.text = text

    def read(self, name: str) -> tuple[str, int, str]:
        if name == self.path:
            return self.text, 1, name
        return self.filesystem.read(name)

    def identity(self, name: str) -> str:
        return name if name == self.path and name.startswith("<") \
            else self.filesystem.identity(name)

    def resolve(self, pattern: str, avoid: frozenset = frozenset()):
        return self.filesystem.resolve(pattern, avoid)

    def missing(self, pattern: str) -> str:
        return self.filesystem.missing(pattern)

    @property
    def outside(self) -> list:
        return self.filesystem.outside

    def describe(self) -> str:
        return self.filesystem.describe()
