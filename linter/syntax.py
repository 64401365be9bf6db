"""The syntax tree every front end produces: directives with exact file/line/column positions.

All four front ends (nginx, Apache httpd, Caddyfile, HAProxy) return the same shapes, so the
code frame printer, server-specific rules and the model builders share one vocabulary:

- `Span`: where something is written. Lines and columns are 1-based; `end_column` is exclusive
  (one past the last character), as in ruff's JSON output.
- `Directive`: one directive, with its name, unquoted arguments, positions, and for block
  directives (`server {`, `<VirtualHost>`, `frontend fe`, a Caddy site block) its children.
- `Tree`: one parsed configuration (an entry file with everything it includes).
- `ConfigError`: a problem in the input (unreadable file, syntax error) with its position.
- `Unresolved`: an include/import/macro whose content the front end could not see (not found, or
  outside what it may read). It is not an error: the tree keeps the directive with
  `extra["unresolved"]` set, the model turns it into an `Unknown`, and rules stop asserting
  absences it could supply. `extra["known"]` marks an include answered from shipped knowledge
  (`linter.known`): its directives follow it with spans pointing at the include itself.
- `LoadOptions`: what every front end's `load(path, options)` needs to find included files.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Optional


@dataclass(frozen=True)
class Span:
    path: str
    line: int
    column: int
    end_line: int
    end_column: int

    @classmethod
    def point(cls, path: str, line: int, column: int = 1) -> "Span":
        return cls(path, line, column, line, column + 1)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


@dataclass
class Directive:
    """One directive as written.

    `name` is the directive name as written (`add_header`, `ProxyPass`, `reverse_proxy`,
    `http-request`); front ends for case-insensitive servers keep the spelling and rules compare
    with `key`. `args` are the unquoted argument values; `arg_spans[i]` is where `args[i]` is
    written (quotes included). `span` covers the directive from its name to its terminator
    (`;`, end of line, or for a block the header up to and including `{`/`>`). `block` is None
    for a simple directive and a list (possibly empty) for a block.
    """

    name: str
    args: list[str]
    span: Span
    arg_spans: list[Span] = field(default_factory=list)
    block: Optional[list["Directive"]] = None
    # Free-form facts a front end wants to keep (e.g. "quoted": [bool], "section": "frontend").
    extra: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.name.lower()

    def arg_span(self, index: int) -> Span:
        """Where argument `index` is written, falling back to the directive itself."""
        if 0 <= index < len(self.arg_spans):
            return self.arg_spans[index]
        return self.span

    def children(self, *names: str) -> Iterator["Directive"]:
        """Direct children whose `key` is one of `names` (all children when none given)."""
        wanted = {n.lower() for n in names}
        for child in self.block or ():
            if not wanted or child.key in wanted:
                yield child


def walk(directives: list[Directive]) -> Iterator[Directive]:
    """Every directive, depth first, in source order; without recursion (a broken file's loose
    tree may be nested arbitrarily deep)."""
    stack = [iter(directives)]
    while stack:
        d = next(stack[-1], None)
        if d is None:
            stack.pop()
            continue
        yield d
        if d.block:
            stack.append(iter(d.block))


@dataclass
class ConfigError(Exception):
    """A problem with the input itself: it is reported with its position and exit code 2."""

    message: str
    path: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        where = self.path
        if self.line:
            where += f":{self.line}:{self.column or 1}"
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class Unresolved:
    """An include the front end could not read: what it contributes is unknown, not absent.

    `span` is the including directive; `target` the path/name as written; `reason` in words
    ("not found (looked in conf/, /etc/nginx)", "a macro defined in a file not given").
    """

    span: Span
    target: str
    reason: str
    kind: str = "include"        # "include" | "import" | "macro"


@dataclass(frozen=True)
class LoadOptions:
    """Where a front end may look for the files a configuration includes.

    Resolution order for an include: the checked tree (`prefix`, else the entry file's own roots;
    an absolute path is first mapped into the tree by its longest existing suffix), then this
    machine's own path (recorded in `Tree.outside`: the engine says it read outside the tree), then
    each `include_paths` directory, then shipped knowledge (`linter.known`). What none of them has
    is `Unresolved`.
    """

    prefix: Optional[str] = None
    include_paths: tuple = ()
    # Directories the user handed us (a checked directory, the repository root): absolute
    # includes are mapped into these before this machine's own files are read.
    tree_roots: tuple = ()
    strict_includes: bool = False
    # Limits for `linter.inputs.read_config` (one file; one entry with everything it includes).
    max_file_bytes: int = 4 * 1024 * 1024      # linter.inputs.MAX_FILE_BYTES
    max_total_bytes: int = 8 * 1024 * 1024     # linter.inputs.MAX_TOTAL_BYTES

    def budget(self):
        from linter.inputs import Budget

        return Budget(self.max_file_bytes, self.max_total_bytes)


@dataclass
class Tree:
    """One parsed configuration: the entry file and everything it pulled in."""

    server: str                   # "nginx" | "apache" | "caddy" | "haproxy"
    root: str                     # the entry file
    directives: list[Directive]
    files: list[str]              # every file read, entry first
    errors: list[ConfigError] = field(default_factory=list)
    unresolved: list[Unresolved] = field(default_factory=list)
    # Files read from this machine outside the checked tree (absolute includes): never shown
    # in code frames, and the engine says once that they were read.
    outside: list[str] = field(default_factory=list)
