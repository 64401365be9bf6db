"""Apache's configuration sections: which ones apply to a request, and in which order they merge.

A `Server` is the main server or one `<VirtualHost>`: its own directives (with `<IfModule>`,
`<IfVersion>`, `<IfFile>` and active `<IfDefine>` sections opened up, as if the modules were
loaded) and its `<Location>`, `<Directory>`, `<Files>`, `<Proxy>` and `<If>` sections.

Matching follows core.c (httpd 2.4): a `<Location /x>` covers `/x` and `/x/…` but never
`/xfoo`; `<Location ~ re>` and `<LocationMatch re>` search the decoded path; a path with `*`,
`?` or `[` is matched whole with fnmatch. Merge order (the "How sections are merged" page):
`<Directory>`, `<Files>` (and `<Proxy>` for proxied requests), then every matching `<Location>`
and `<LocationMatch>` in the order written, those of the main server before the virtual host's.
Per-directory settings of later sections override earlier ones; lists (`Header`) concatenate.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Optional

from linter.model import Match, compile_regex
from linter.syntax import Directive

_OPEN = {"ifmodule", "ifversion", "iffile", "ifdefine", "ifsection", "ifdirective"}
_SECTIONS = {"location": "location", "locationmatch": "location", "directory": "directory",
             "directorymatch": "directory", "files": "files", "filesmatch": "files",
             "proxy": "proxy", "proxymatch": "proxy", "if": "if", "elseif": "if", "else": "if"}


@dataclass
class Section:
    kind: str                  # location | directory | files | proxy | if
    directive: Directive
    body: list                 # its own directives, sections opened up like a server's
    pattern: str = ""
    regex: bool = False
    inner: list = field(default_factory=list)   # sections nested inside (an <If> in a <Location>)

    @property
    def match(self) -> Match:
        text = f"<{self.directive.name} {' '.join(self.directive.args)}>"
        if self.regex:
            return Match("regex", self.pattern, True, text=text)
        if any(c in self.pattern for c in "*?["):
            return Match("regex", _glob_regex(self.pattern), True, text=text)
        return Match("prefix", self.pattern, True, text=text)

    def applies_to_path(self, path: str) -> bool:
        """Location semantics, for a decoded request path."""
        if self.regex:
            rx = compile_regex(self.pattern)
            return bool(rx and rx.search(path))
        if any(c in self.pattern for c in "*?["):
            return fnmatch.fnmatchcase(path, self.pattern)
        return segment_prefix(path, self.pattern)

    def applies_to_file(self, filename: str) -> bool:
        """Directory/Files semantics, for a file system path."""
        if self.kind == "files":
            base = filename.rstrip("/").rsplit("/", 1)[-1]
            if self.regex:
                rx = compile_regex(self.pattern)
                return bool(rx and rx.search(base))
            return fnmatch.fnmatchcase(base, self.pattern)
        if self.regex:
            rx = compile_regex(self.pattern)
            return bool(rx and rx.search(filename))
        pattern = self.pattern.rstrip("/") or "/"
        if any(c in pattern for c in "*?["):
            parts = pattern.count("/")
            head = "/".join(filename.split("/")[:parts + 1])
            return fnmatch.fnmatchcase(head, pattern)
        return pattern == "/" or filename == pattern or filename.startswith(pattern + "/")

    def applies_to_url(self, url: str) -> bool:
        """`<Proxy url>` semantics: a wildcard or prefix match on the upstream URL."""
        if self.regex:
            rx = compile_regex(self.pattern)
            return bool(rx and rx.search(url))
        if any(c in self.pattern for c in "*?["):
            return fnmatch.fnmatchcase(url, self.pattern) or fnmatch.fnmatchcase(url + "/", self.pattern)
        return url.startswith(self.pattern)


def segment_prefix(path: str, prefix: str) -> bool:
    if not path.startswith(prefix):
        return False
    return prefix.endswith("/") or len(path) == len(prefix) or path[len(prefix)] == "/"


def _glob_regex(pattern: str) -> str:
    return "^" + fnmatch.translate(pattern)[4:-3] + "$" if pattern else "^$"


@dataclass
class Server:
    """The main server or one virtual host."""

    directive: Optional[Directive]          # the <VirtualHost>, None for the main server
    body: list                              # plain directives, in order
    sections: list                          # Sections, in order
    parent: Optional["Server"] = None       # the main server, for a virtual host

    def last(self, name: str, inherit: bool = True) -> Optional[Directive]:
        """The last `name` directive here, else (when inherited) in the main server."""
        found = None
        for d in self.body:
            if d.key == name:
                found = d
        if found is None and inherit and self.parent is not None:
            return self.parent.last(name)
        return found

    def all(self, *names: str) -> list:
        wanted = set(names)
        return [d for d in self.body if d.key in wanted]

    def locations(self) -> list:
        own = [s for s in self.sections if s.kind == "location"]
        return (self.parent.locations() if self.parent is not None else []) + own

    def of_kind(self, kind: str) -> list:
        own = [s for s in self.sections if s.kind == kind]
        return (self.parent.of_kind(kind) if self.parent is not None else []) + own


def open_sections(directives: list, notes: Optional[list] = None) -> tuple:
    """(plain directives, Sections) of one level, `<IfModule>` & co opened up."""
    plain, sections = [], []
    for d in directives:
        key = d.key
        if d.block is None:
            plain.append(d)
            continue
        if key in _OPEN:
            if key == "ifmodule" and d.args and d.args[0].startswith("!"):
                continue       # assume the modules are loaded: a `!module` section is inactive
            if key == "ifdefine" and d.extra.get("active") is False:
                continue
            inner_plain, inner_sections = open_sections(d.block, notes)
            plain += inner_plain
            sections += inner_sections
            continue
        kind = _SECTIONS.get(key)
        if kind is None:
            plain.append(d)    # <RequireAny>, <Limit>, <Macro>…: kept whole for who reads them
            continue
        body, inner = open_sections(d.block, notes)
        sections.append(_section(kind, d, body, inner))
    return plain, sections


def _section(kind: str, d: Directive, body: list, inner: list) -> Section:
    args = list(d.args)
    regex = d.key.endswith("match")
    if args and args[0] == "~" and len(args) > 1:
        regex, args = True, args[1:]
    pattern = args[0] if args else ""
    if kind == "if":
        pattern = " ".join(d.args)
    return Section(kind, d, body, pattern, regex, inner)


def main_and_virtual_hosts(directives: list, notes: list) -> tuple:
    """(main Server, [virtual host Servers]) of a whole configuration."""
    top = _unwrap(directives)
    vhosts_raw = [d for d in top if d.key == "virtualhost" and d.block is not None]
    rest = [d for d in top if not (d.key == "virtualhost" and d.block is not None)]
    plain, sections = open_sections(rest, notes)
    main = Server(None, plain, sections)
    vhosts = []
    for v in vhosts_raw:
        body, secs = open_sections(v.block, notes)
        vhosts.append(Server(v, body, secs, parent=main))
    return main, vhosts


def _unwrap(directives: list) -> list:
    """Top-level directives with `<IfModule>` & co opened, keeping `<VirtualHost>` blocks whole."""
    out = []
    for d in directives:
        if d.block is not None and d.key in _OPEN:
            if d.key == "ifmodule" and d.args and d.args[0].startswith("!"):
                continue
            if d.key == "ifdefine" and d.extra.get("active") is False:
                continue
            out += _unwrap(d.block)
        else:
            out.append(d)
    return out


def is_on(d: Optional[Directive], default: bool = False) -> bool:
    if d is None or not d.args:
        return default
    return d.args[0].lower() in ("on", "true", "yes", "1")


def words(d: Directive) -> str:
    return f"{d.name} {' '.join(d.args)}".strip()

