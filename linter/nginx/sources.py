"""Where included files come from: the disk (with prefix mapping) or an `nginx -T` dump.

nginx resolves a relative `include` against its prefix/conf directory (`ngx_conf_full_name`),
never against the including file. A glob matching nothing is fine; a missing plain file is an
error. Both sources below implement:

    resolve(pattern) -> list of names, or None when a plain (non-glob) file is missing
    read(name)       -> (text, first_line, span_path)
    identity(name)   -> a key that is equal for the same file (cycle detection)
"""
from __future__ import annotations

import glob
import os
from typing import Optional

from .dump import Section

# When no prefix is given and the entry file sits in one of these directories, its parent is
# tried as well: `sites-enabled/matrix` including `snippets/ssl.conf` means /etc/nginx/snippets.
_CONF_SUBDIRS = frozenset({
    "sites-enabled", "sites-available", "conf.d", "snippets", "http.d", "vhosts.d", "vhost.d",
    "servers", "site-confs", "proxy-confs", "stream.d", "modules-enabled", "default.d",
})


def decode(data: bytes) -> str:
    """UTF-8 text; lines that are not valid UTF-8 are read as Latin-1 so nothing can fail."""
    try:
        return normalise(data.decode("utf-8"))
    except UnicodeDecodeError:
        pieces = []
        for line in data.splitlines(keepends=True):
            try:
                pieces.append(line.decode("utf-8"))
            except UnicodeDecodeError:
                pieces.append(line.decode("latin-1"))
        return normalise("".join(pieces))


def normalise(text: str) -> str:
    """Drop a byte-order mark and the CR of CRLF line ends (a CR elsewhere is kept)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n") if "\r" in text else text


def read_text(path: str) -> str:
    with open(path, "rb") as f:
        return decode(f.read())


def default_roots(entry: str) -> list[str]:
    directory = os.path.dirname(entry) or "."
    roots = [directory]
    if os.path.basename(os.path.abspath(directory)) in _CONF_SUBDIRS:
        roots.append(os.path.normpath(os.path.join(directory, os.pardir)))
    return roots


class FileSystem:
    def __init__(self, roots: list[str], copied_tree: bool = False):
        self.roots = roots
        # With an explicit --prefix the user audits a copy: its files win over this machine's,
        # which may have an /etc/nginx of its own (a CI runner with nginx installed).
        self.copied_tree = copied_tree

    def describe(self) -> str:
        return ", ".join(self.roots)

    def resolve(self, pattern: str) -> Optional[list[str]]:
        magic = glob.has_magic(pattern)
        for candidate in self._candidates(pattern):
            if magic:
                found = sorted(p for p in glob.glob(candidate) if os.path.isfile(p))
                if found:
                    return [os.path.normpath(p) for p in found]
            elif os.path.exists(candidate):
                return [os.path.normpath(candidate)]
        return [] if magic else None

    def _candidates(self, pattern: str):
        if not os.path.isabs(pattern):
            for root in self.roots:
                yield os.path.join(root, pattern)
            return
        if not self.copied_tree:
            yield pattern
        # An absolute path that is not on this machine (an audit of a copied /etc/nginx):
        # try its suffixes under the prefix, longest first. A suffix must keep at least one
        # literal component, or `/etc/nginx/conf.d/*.conf` would match `*.conf` in the prefix.
        parts = [p for p in pattern.split("/") if p]
        for start in range(len(parts)):
            suffix = parts[start:]
            if all(glob.has_magic(p) for p in suffix):
                break
            for root in self.roots:
                yield os.path.join(root, *suffix)
        if self.copied_tree:
            yield pattern

    def read(self, name: str) -> tuple[str, int, str]:
        return read_text(name), 1, name

    def identity(self, name: str) -> str:
        return os.path.realpath(name)


class Dump:
    """The virtual files of an `nginx -T` dump; spans point at the dump file itself."""

    def __init__(self, dump_path: str, sections: list[Section], prefix: str):
        self.dump_path = dump_path
        self.sections = {}
        for section in sections:
            self.sections.setdefault(section.path, section)  # nginx prints each file once
        self.prefix = prefix

    def describe(self) -> str:
        return f"the nginx -T dump (prefix {self.prefix})"

    def resolve(self, pattern: str) -> Optional[list[str]]:
        full = os.path.normpath(os.path.join(self.prefix, pattern))
        if not glob.has_magic(full):
            return [full] if full in self.sections else None
        # Component-wise, so `*` does not cross `/` (as with glob(3)).
        parts = full.split("/")
        matches = [name for name in self.sections
                   if _glob_parts_match(parts, name.split("/"))]
        return sorted(matches)

    def read(self, name: str) -> tuple[str, int, str]:
        section = self.sections[name]
        return section.text, section.first_line, self.dump_path

    def identity(self, name: str) -> str:
        return name


def _glob_parts_match(pattern_parts: list[str], name_parts: list[str]) -> bool:
    from fnmatch import fnmatchcase

    if len(pattern_parts) != len(name_parts):
        return False
    return all(fnmatchcase(n, p) and not (n.startswith(".") and not p.startswith("."))
               for p, n in zip(pattern_parts, name_parts))
