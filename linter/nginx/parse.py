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

from ..syntax import ConfigError, LoadOptions, Tree
from .context import check_directives, detect_context
from .dump import split_dump
from .includes import Expander
from .sniff import looks_like_nginx
from .sources import Dump, FileSystem, default_roots, normalise, read_text

__all__ = ["load", "parse_string", "detect_context", "looks_like_nginx"]


def load(path: str, *, prefix: Optional[str] = None,
         load_options: Optional[LoadOptions] = None) -> Tree:
    try:
        text = read_text(path)
    except OSError as error:
        return Tree("nginx", path, [], [], [ConfigError(
            f"cannot read {path}: {error.strerror or error}", path)])
    return parse_string(text, path, prefix=prefix, load_options=load_options)


def parse_string(text: str, path: str = "<string>", *, prefix: Optional[str] = None,
                 load_options: Optional[LoadOptions] = None) -> Tree:
    options = load_options or LoadOptions()
    if options.prefix is not None:
        prefix = options.prefix
    text = normalise(text)
    sections = split_dump(text)
    if sections:
        main = sections[0].path
        source = Dump(path, sections, prefix or os.path.dirname(main))
        expander = Expander(source, virtual=True)
        entry = main
        context = "main"
    else:
        roots = [prefix] if prefix is not None else default_roots(path)
        filesystem = FileSystem(roots, copied_tree=prefix is not None,
                                tree_roots=[str(r) for r in options.tree_roots],
                                include_paths=[str(d) for d in options.include_paths],
                                entry=path)
        source = _StringFirst(filesystem, path, text)
        expander = Expander(source)
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
              for e in expander.errors + check_directives(directives, context)}
    errors = list(unique.values())
    errors.sort(key=lambda e: (order.get(e.path, len(order)), e.line, e.column))
    outside = [f for f in getattr(source, "outside", []) if f in files]
    return Tree("nginx", path, directives, files, errors, unresolved=list(expander.unresolved),
                outside=outside)


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
